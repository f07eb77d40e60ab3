//! `ScriptReader` over arbitrary bytes: a plain SQL script is hostile, and reading it must
//! neither panic nor hold more than its bounds — one statement (here a small limit, so the
//! fuzzer reaches it) and one chunk of rows — whatever quotes, comments, meta-commands or
//! COPY blocks it leaves open. Each statement is also placed by `scope` (what a parallel
//! restore runs it beside), which must not panic, and the offset a COPY's rows start at must
//! hold them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_script::{Item, ScriptReader, COPY_CHUNK};

fuzz_target!(|data: &[u8]| {
    let mut reader = ScriptReader::with_limit(data, 4096);
    let mut items = 0usize;
    let mut rows_at: Option<usize> = None;
    while let Ok(Some(item)) = reader.next_item() {
        match item {
            Item::Statement { text, copy, .. } => {
                assert!(text.len() <= 4096);
                let _ = pgsurge_script::scope::scope(&text);
                rows_at = copy.map(|_| reader.offset() as usize);
            }
            Item::CopyData(rows) => {
                assert!(!rows.is_empty() && rows.len() <= 2 * COPY_CHUNK);
                if let Some(at) = rows_at {
                    assert_eq!(data.get(at..at + rows.len()), Some(&rows[..]), "rows not where the offset says");
                    rows_at = Some(at + rows.len());
                }
            }
            Item::CopyEnd { .. } => rows_at = None,
            Item::Meta { .. } | Item::Comment { .. } => {}
        }
        items += 1;
        // Every item consumes input, so a script gives at most about one item per byte.
        assert!(items <= data.len() + 2, "more items than bytes");
    }
    // The listing reads comments too.
    let _ = pgsurge_script::listing::list(ScriptReader::with_limit(data, 4096).with_comments());
});
