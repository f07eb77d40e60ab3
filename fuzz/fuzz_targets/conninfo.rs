//! Any string as a `-d` connection string or URI must parse to `Ok` or `Err` — never a
//! panic — and the password spans found for masking must lie inside it, on character
//! boundaries, without overlapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_connect::conninfo;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = conninfo::parse(s);
    let _ = conninfo::is_connection_string(s);
    let mut end = 0;
    for span in conninfo::secret_spans(s) {
        assert!(span.start >= end && span.start <= span.end && span.end <= s.len(), "span {span:?} in {} bytes", s.len());
        assert!(s.is_char_boundary(span.start) && s.is_char_boundary(span.end));
        end = span.end;
    }
});
