//! `COPY … FREEZE`, decided from the TOC: which tables' data may be loaded frozen, the COPY
//! statement that asks for it, and which loads a serial restore wraps in a transaction of
//! their own so that it may.
//!
//! Rows loaded frozen into a table that the same transaction created or emptied need no
//! hint-bit writes on their first read and no freezing vacuum later, and from PostgreSQL 14
//! on their pages are marked all-visible as they are written: the database is ready to serve
//! as it is restored. The server refuses `FREEZE` for a partitioned or a foreign table, and
//! for a table the loading (sub)transaction neither created nor truncated — an error
//! pg_restore would never have. So it is asked only where none of that can happen: a plain
//! table (its TABLE entry a `CREATE TABLE` without `PARTITION BY`), emptied by `TRUNCATE` in
//! the very transaction of its COPY, which has pg_dump's own shape.

use std::collections::{HashMap, HashSet};

use bstr::ByteSlice;
use pgsurge_archive::{DumpId, Toc, TocEntry};

use crate::options::RestoreOptions;
use crate::plan::loads_via_partition_root;
use crate::select::Selection;

/// Archive bytes of table data below which a table's load is not put after a `TRUNCATE` of
/// its own: the TRUNCATE (a new file, the old one unlinked at commit) costs a few
/// milliseconds, more than a small table saves — 2000 tables of 200 rows loaded 3–4 times
/// slower wrapped on a server with fsync on, while a 500 MB table loaded as fast and its
/// first read wrote no hint bits instead of rewriting all of it.
pub const WRAP_MIN_BYTES: u64 = 1 << 20;

/// Whether the data of `table` (a TABLE entry) may be loaded with `FREEZE` after a
/// `TRUNCATE` in the same transaction: a plain table, never a partitioned one. Anything
/// unexpected answers no.
pub fn may_freeze(table: &TocEntry) -> bool {
    if !table.desc_is("TABLE") {
        return false;
    }
    let Some(defn) = table.defn.as_deref() else { return false };
    let defn = defn.as_bytes();
    let plain = defn.starts_with(b"CREATE TABLE ") || defn.starts_with(b"CREATE UNLOGGED TABLE ");
    plain && !defn.contains_str("PARTITION BY")
}

/// pg_dump's COPY statement (`COPY s.t (a, b) FROM stdin;`) asking for `FREEZE`; `None` for
/// a statement of any other shape.
pub fn frozen_copy(copy: &[u8]) -> Option<Vec<u8>> {
    let body = copy.trim_end().strip_suffix(b";")?;
    if !body.starts_with(b"COPY ") || !body.ends_with(b" FROM stdin") {
        return None;
    }
    Some([body, b" WITH (FREEZE);\n"].concat())
}

/// The TABLE DATA entries a serial restore loads as `BEGIN; TRUNCATE TABLE ONLY …; COPY …
/// FREEZE; COMMIT` when it has created their table without an error: those of at least
/// [`WRAP_MIN_BYTES`] whose table may be frozen.
///
/// A serial restore truncates a table only where emptying it cannot differ from
/// pg_restore's result, which loads it without: in the archive's own order (a `-L` list can
/// put foreign keys or triggers before the data), with nothing loaded through a partition
/// root (whose rows can land in another partition before that one's own data), and
/// outside `-1` and `--transaction-size`, whose transaction the wrapping would end.
pub fn serial_wraps(toc: &Toc, sel: &Selection, opts: &RestoreOptions, sizes: &HashMap<DumpId, u64>) -> HashSet<DumpId> {
    let allowed = !opts.no_freeze && opts.use_list.is_none() && !opts.single_transaction && opts.transaction_size.is_none();
    if !allowed {
        return HashSet::new();
    }
    let data: Vec<&TocEntry> = sel.in_order().filter(|(_, es)| es.wanted.data).filter_map(|(i, _)| toc.entries.get(i)).filter(|te| te.desc_is("TABLE DATA")).collect();
    if data.iter().any(|te| loads_via_partition_root(te)) {
        return HashSet::new();
    }
    data.into_iter()
        .filter(|te| sizes.get(&te.dump_id).is_some_and(|&n| n >= WRAP_MIN_BYTES))
        .filter(|te| te.dependencies.first().and_then(|&t| toc.get(t)).is_some_and(may_freeze))
        .filter(|te| te.copy_stmt.as_deref().is_some_and(|c| frozen_copy(c.as_bytes()).is_some()))
        .map(|te| te.dump_id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_archive::Section;

    fn table(defn: &str) -> TocEntry {
        TocEntry { defn: Some(defn.into()), ..TocEntry::new(DumpId(1), "TABLE", "t", Section::PreData, vec![]) }
    }

    #[test]
    fn only_plain_tables_freeze() {
        assert!(may_freeze(&table("CREATE TABLE public.t (\n    a integer\n);\n")));
        assert!(may_freeze(&table("CREATE UNLOGGED TABLE public.t (\n    a integer\n);\n")));
        assert!(may_freeze(&table("CREATE TABLE public.p1 PARTITION OF public.p\nFOR VALUES FROM (1) TO (10);\n")), "a leaf partition");
        assert!(!may_freeze(&table("CREATE TABLE public.p (\n    a integer\n)\nPARTITION BY RANGE (a);\n")));
        assert!(!may_freeze(&table("CREATE TABLE public.p1 PARTITION OF public.p\nFOR VALUES IN (1)\nPARTITION BY LIST (a);\n")), "a partitioned partition");
        let foreign = TocEntry { defn: Some("CREATE FOREIGN TABLE public.f (\n    a integer\n)\nSERVER s;\n".into()), ..TocEntry::new(DumpId(1), "FOREIGN TABLE", "f", Section::PreData, vec![]) };
        assert!(!may_freeze(&foreign));
        assert!(!may_freeze(&TocEntry::new(DumpId(1), "TABLE", "t", Section::PreData, vec![])), "no definition");
        assert!(!may_freeze(&table("-- something else\n")));
    }

    #[test]
    fn the_copy_statement_asks_for_freeze() {
        assert_eq!(frozen_copy(b"COPY public.t (a, b) FROM stdin;\n").as_deref(), Some(b"COPY public.t (a, b) FROM stdin WITH (FREEZE);\n".as_slice()));
        assert_eq!(frozen_copy(b"COPY \"we\"\"ird\".t FROM stdin;\n").as_deref(), Some(b"COPY \"we\"\"ird\".t FROM stdin WITH (FREEZE);\n".as_slice()));
        assert_eq!(frozen_copy(b"COPY public.t (a) FROM stdin WITH (FORMAT text);\n"), None);
        assert_eq!(frozen_copy(b"INSERT INTO t VALUES (1);\n"), None);
        assert_eq!(frozen_copy(b""), None);
    }

    /// A serial restore wraps the large loads of plain tables, and none where truncating could
    /// differ from pg_restore's result or end its transaction.
    #[test]
    fn serial_restores_wrap_large_plain_tables_only() {
        use crate::select::decide;
        use pgsurge_archive::DataLocation;
        let data = |id: i32, table: i32, tag: &str| TocEntry {
            had_dumper: true,
            namespace: Some("public".into()),
            copy_stmt: Some(format!("COPY public.{tag} (a) FROM stdin;\n").into()),
            data: DataLocation::Block { offset: None },
            ..TocEntry::new(DumpId(id), "TABLE DATA", tag, Section::Data, vec![DumpId(table)])
        };
        let toc = Toc::from_entries(vec![
            TocEntry { dump_id: DumpId(1), ..table("CREATE TABLE public.t (\n    a integer\n);\n") },
            TocEntry { dump_id: DumpId(2), ..table("CREATE TABLE public.small (\n    a integer\n);\n") },
            data(3, 1, "t"),
            data(4, 2, "small"),
        ]);
        let sizes: HashMap<DumpId, u64> = [(DumpId(3), WRAP_MIN_BYTES), (DumpId(4), WRAP_MIN_BYTES - 1)].into_iter().collect();
        let wraps = |opts: RestoreOptions| serial_wraps(&toc, &decide(&toc.entries, &opts, None), &opts, &sizes);
        assert_eq!(wraps(RestoreOptions::default()), [DumpId(3)].into_iter().collect());
        assert!(wraps(RestoreOptions { no_freeze: true, ..RestoreOptions::default() }).is_empty());
        assert!(wraps(RestoreOptions { single_transaction: true, ..RestoreOptions::default() }).is_empty());
        assert!(wraps(RestoreOptions { transaction_size: Some(100), ..RestoreOptions::default() }).is_empty());
        assert!(serial_wraps(&toc, &decide(&toc.entries, &RestoreOptions::default(), None), &RestoreOptions::default(), &HashMap::new()).is_empty(), "sizes unknown: pg_restore's way");
        let mut via_root = toc.clone();
        via_root.entries[3].copy_stmt = Some("COPY public.root (a) FROM stdin;\n".into());
        assert!(serial_wraps(&via_root, &decide(&via_root.entries, &RestoreOptions::default(), None), &RestoreOptions::default(), &sizes).is_empty(), "rows loaded through a partition root");
    }
}
