//! Any bytes as a `-L` list file and as a `--filter` file must parse to `Ok` or `Err` —
//! never a panic — and a list may only name dump ids the archive has, each once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_archive::DumpId;
use pgsurge_plan::{filter, list_file};

fuzz_target!(|data: &[u8]| {
    let max = DumpId(5000);
    if let Ok(ids) = list_file::parse_list(data, max, |id| id.0 % 7 != 3, &mut |_| {}) {
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            assert!(id > DumpId(0) && id <= max && id.0 % 7 != 3, "listed an id the archive lacks: {id}");
            assert!(seen.insert(id), "listed {id} twice");
        }
    }
    let _ = filter::parse_filter(data, "fuzz");
});
