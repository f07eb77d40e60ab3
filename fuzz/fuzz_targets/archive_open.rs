//! Any input must end in `Ok` or `Err` — never a panic, never an allocation the input does
//! not pay for — through both the random-access and the one-pass reader, and every error
//! offset must lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_archive::Archive;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let check = |e: &pgsurge_archive::Error| {
        if let Some(offset) = e.location().offset {
            assert!(offset <= len, "error offset {offset} beyond input length {len}: {e}");
        }
    };
    if let Ok(mut archive) = Archive::open_bytes(data.to_vec(), None) {
        for e in pgsurge_archive::verify::verify(&mut archive, 1).entries {
            if let Some(err) = &e.error {
                check(err);
            }
        }
    } else if let Err(e) = Archive::open_bytes(data.to_vec(), None) {
        check(&e);
    }
    if let Ok(mut archive) = Archive::open_stream(Box::new(std::io::Cursor::new(data.to_vec())), None) {
        for e in pgsurge_archive::verify::verify(&mut archive, 1).entries {
            if let Some(err) = &e.error {
                check(err);
            }
        }
    }
});
