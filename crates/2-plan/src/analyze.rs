//! The ANALYZE stage's decisions, made without a server: which tables get planner
//! statistics from an `ANALYZE` once their data (and, in a parallel restore, their indexes
//! and constraints) are in, and the statement. pg_restore runs no ANALYZE: a database it
//! restored has no statistics until autovacuum or an operator gets to it, unless the archive
//! carries them (pg_dump 18 `--statistics`), which are then restored instead.

use bstr::ByteSlice;
use pgsurge_archive::{Toc, TocEntry};

use crate::options::RestoreOptions;
use crate::select::Selection;
use crate::sql;

/// TOC positions, in restore order, of the TABLE DATA entries whose table the ANALYZE stage
/// analyzes (under `--analyze`): the data of a table (not a foreign table) that is restored,
/// unless statistics of that table are restored from the archive too. Whether the data then
/// loads without an error is for the engine to see.
pub fn targets(toc: &Toc, sel: &Selection, opts: &RestoreOptions) -> Vec<usize> {
    if !opts.analyze {
        return Vec::new();
    }
    // Statistics entries name their relation by schema and name, as the relation's own
    // entries do; a table and an index cannot share a name in one schema.
    let with_stats: Vec<&TocEntry> = sel.in_order().filter(|(_, es)| es.wanted.stats).filter_map(|(i, _)| toc.entries.get(i)).filter(|te| te.desc_is("STATISTICS DATA")).collect();
    sel.in_order()
        .filter(|(_, es)| es.wanted.data)
        .filter(|&(i, _)| {
            let Some(te) = toc.entries.get(i).filter(|te| te.desc_is("TABLE DATA")) else { return false };
            let plain_table = te.dependencies.first().and_then(|&t| toc.get(t)).is_some_and(|t| t.desc_is("TABLE"));
            plain_table && !with_stats.iter().any(|s| s.namespace == te.namespace && s.tag == te.tag)
        })
        .map(|(i, _)| i)
        .collect()
}

/// `ANALYZE schema.table;` for a TABLE DATA entry's table.
pub fn statement(te: &TocEntry) -> Vec<u8> {
    [b"ANALYZE ".as_slice(), &sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag), b";"].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::decide;
    use pgsurge_archive::{DataLocation, DumpId, Section};

    fn entry(id: i32, desc: &str, tag: &str, section: Section, deps: &[i32]) -> TocEntry {
        let data = desc == "TABLE DATA";
        TocEntry {
            had_dumper: data,
            namespace: Some("public".into()),
            defn: (!data).then(|| format!("-- {desc}\n").into()),
            copy_stmt: data.then(|| format!("COPY public.{tag} (a) FROM stdin;\n").into()),
            data: if data { DataLocation::Block { offset: None } } else { DataLocation::None },
            ..TocEntry::new(DumpId(id), desc, tag, section, deps.iter().map(|&d| DumpId(d)).collect())
        }
    }

    fn toc() -> Toc {
        Toc::from_entries(vec![
            entry(1, "TABLE", "t", Section::PreData, &[]),
            entry(2, "TABLE", "With Stats", Section::PreData, &[]),
            entry(3, "FOREIGN TABLE", "f", Section::PreData, &[]),
            entry(4, "TABLE DATA", "t", Section::Data, &[1]),
            entry(5, "TABLE DATA", "With Stats", Section::Data, &[2]),
            entry(6, "TABLE DATA", "f", Section::Data, &[3]),
            entry(7, "STATISTICS DATA", "With Stats", Section::Data, &[2]),
        ])
    }

    #[test]
    fn tables_with_data_and_no_statistics_are_analyzed() {
        let toc = toc();
        let on = RestoreOptions { analyze: true, ..RestoreOptions::default() };
        assert_eq!(targets(&toc, &decide(&toc.entries, &on, None), &on), vec![3], "not the foreign table, nor the one whose statistics are restored");
        let no_stats = RestoreOptions { no_statistics: true, ..on.clone() };
        assert_eq!(targets(&toc, &decide(&toc.entries, &no_stats, None), &no_stats), vec![3, 4], "statistics left out: ANALYZE instead");
        let schema_only = RestoreOptions { schema_only: true, ..on.clone() };
        assert!(targets(&toc, &decide(&toc.entries, &schema_only, None), &schema_only).is_empty());
        let off = RestoreOptions::default();
        assert!(targets(&toc, &decide(&toc.entries, &off, None), &off).is_empty());
    }

    #[test]
    fn the_statement_quotes_its_names() {
        let toc = toc();
        assert_eq!(statement(&toc.entries[3]), b"ANALYZE public.t;".to_vec());
        assert_eq!(statement(&toc.entries[4]), b"ANALYZE public.\"With Stats\";".to_vec());
    }
}
