//! `groupable::may_hold` on arbitrary command text: an archive's definitions are hostile, and
//! the lexer that finds where their statements start must neither panic nor read past them,
//! whatever quotes, dollar quotes or comments they leave open.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pgsurge_plan::groupable::may_hold(text, true);
        let _ = pgsurge_plan::groupable::may_hold(text, false);
    }
});
