//! `ScriptReader` over arbitrary bytes: a plain SQL script is hostile, and reading it must
//! neither panic nor hold more than its bounds — one statement (here a small limit, so the
//! fuzzer reaches it) and one chunk of rows — whatever quotes, comments, meta-commands or
//! COPY blocks it leaves open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_script::{Item, ScriptReader, COPY_CHUNK};

fuzz_target!(|data: &[u8]| {
    let mut reader = ScriptReader::with_limit(data, 4096);
    let mut items = 0usize;
    while let Ok(Some(item)) = reader.next_item() {
        match item {
            Item::Statement { text, .. } => assert!(text.len() <= 4096),
            Item::CopyData(rows) => assert!(!rows.is_empty() && rows.len() <= 2 * COPY_CHUNK),
            Item::CopyEnd { .. } | Item::Meta { .. } | Item::Comment { .. } => {}
        }
        items += 1;
        // Every item consumes input, so a script gives at most about one item per byte.
        assert!(items <= data.len() + 2, "more items than bytes");
    }
    // The listing reads comments too.
    let _ = pgsurge_script::listing::list(ScriptReader::with_limit(data, 4096).with_comments());
});
