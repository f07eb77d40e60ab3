//! What a plain SQL script needs of the server (`pgsurge_plan::needs::of_script`), read from
//! arbitrary statements: its tokenizer of quotes, dollar quotes and nested comments must
//! neither panic nor loop on text left open, and what it finds must come from the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgsurge_plan::needs::{of_script, ScriptPart};

fuzz_target!(|data: &[u8]| {
    // Statements split at `;` as a crude stand-in for the reader: the tokenizer sees any
    // bytes whatever, which is what matters here.
    let parts = data.split(|&b| b == b';').enumerate().map(|(i, text)| Ok::<_, ()>(ScriptPart::Statement { text: text.to_vec(), line: i as u64 + 1 }));
    let Ok(needs) = of_script(parts) else { return };
    for role in needs.roles.keys() {
        assert!(role.len() <= data.len() + 1, "a role name longer than the input");
    }
    for extension in needs.extensions.keys() {
        assert!(extension.len() <= data.len() + 1);
    }
});
