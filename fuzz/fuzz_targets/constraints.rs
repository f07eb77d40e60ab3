//! `foreign_key::later_validation` and `primary_key::index_first` on arbitrary definition
//! text: an archive's constraint definitions are hostile. Neither may panic, and what they
//! make of one must keep the definition's own text: every statement starts with its table's
//! `ALTER TABLE ONLY <table>` (or names that table), and the foreign key's first statement
//! is the definition itself with ` NOT VALID` before its end.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let add = b"\n    ADD CONSTRAINT ";
    let head = b"ALTER TABLE ONLY ";
    if let Some(later) = pgsurge_plan::foreign_key::later_validation(data) {
        let body = &data[..data.len() - 2];
        assert_eq!(later.add, [body, b" NOT VALID;\n"].concat());
        let table_end = data.windows(add.len()).position(|w| w == add).unwrap();
        for stmt in [&later.validate, &later.drop] {
            assert!(stmt.starts_with(&data[..table_end]) && stmt.ends_with(b";\n"));
        }
    }
    if let Some(first) = pgsurge_plan::primary_key::index_first(data) {
        let table_end = data.windows(add.len()).position(|w| w == add).unwrap();
        let table = &data[head.len()..table_end];
        assert!(first.attach.starts_with(&data[..table_end]) && first.attach.ends_with(b";\n"));
        assert!(first.build.starts_with(b"CREATE UNIQUE INDEX ") && first.build.windows(table.len() + 4).any(|w| w == [b" ON ", table].concat()));
        assert!(first.drop.starts_with(b"DROP INDEX IF EXISTS ") && first.drop.ends_with(b";\n"));
    }
});
