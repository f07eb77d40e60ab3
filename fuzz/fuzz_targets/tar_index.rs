//! Any input read as a tar archive — indexed from memory and walked once as a stream — must
//! end in `Ok` or `Err`, never a panic, a hang or an allocation the input does not pay for
//! (member sizes, base-256 fields and member names are the attacker's), and every error
//! offset must lie within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_archive::{Archive, Error, Format};

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let check = |e: &Error| {
        if let (Some(offset), None) = (e.location().offset, &e.location().file) {
            assert!(offset <= len, "error offset {offset} beyond input length {len}: {e}");
        }
    };
    let opened = [
        Archive::open_bytes(data.to_vec(), Some(Format::Tar)),
        Archive::open_stream(Box::new(std::io::Cursor::new(data.to_vec())), Some(Format::Tar)),
    ];
    for archive in opened {
        match archive {
            Ok(mut archive) => {
                for entry in pgsurge_archive::verify::verify(&mut archive, 1).entries {
                    if let Some(e) = &entry.error {
                        check(e);
                    }
                }
            }
            Err(e) => check(&e),
        }
    }
});
