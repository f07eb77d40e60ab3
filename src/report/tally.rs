//! What a restore created, loaded, dropped and failed to restore, counted from its finished
//! items: the figures the summary and the report share.

use pgsurge_restore::ItemRecord;

use super::plural;

/// What a restore created or loaded, counted from its finished items: an entry counts when
/// its restore finished without an error, and a `--clean` drop never counts as restored.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) tables: usize,
    pub(super) table_bytes: u64,
    pub(super) lo_bytes: u64,
    pub(super) indexes: usize,
    pub(super) constraints: usize,
    pub(super) dropped: usize,
    pub(super) failed_tables: usize,
    pub(super) failed_indexes: usize,
    pub(super) failed_constraints: usize,
    pub(super) failed_other: usize,
    /// Tables the ANALYZE stage analyzed, and those it failed to (warnings, not errors).
    pub(super) analyzed: usize,
    pub(super) analyze_failed: usize,
}

impl Tally {
    pub(super) fn of(timeline: &[ItemRecord]) -> Tally {
        let mut t = Tally::default();
        for item in timeline {
            if item.dropped {
                t.dropped += 1;
                continue;
            }
            let ok = item.errors == 0;
            match item.desc.as_str() {
                "TABLE DATA" if ok => {
                    t.tables += 1;
                    t.table_bytes += item.bytes;
                }
                "TABLE DATA" => t.failed_tables += 1,
                "INDEX" if ok => t.indexes += 1,
                "INDEX" => t.failed_indexes += 1,
                "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" if ok => t.constraints += 1,
                "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" => t.failed_constraints += 1,
                "ANALYZE" if ok => t.analyzed += 1,
                "ANALYZE" => t.analyze_failed += 1,
                _ if ok => t.lo_bytes += item.bytes,
                _ => t.failed_other += 1,
            }
        }
        t
    }

    /// `not restored: the data of 15 tables, 1 index, 4 constraints and 21 other entries`,
    /// when anything failed.
    pub(super) fn not_restored_line(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.failed_tables > 0 {
            parts.push(format!("the data of {} {}", self.failed_tables, plural(self.failed_tables as u64, "table", "tables")));
        }
        if self.failed_indexes > 0 {
            parts.push(format!("{} {}", self.failed_indexes, plural(self.failed_indexes as u64, "index", "indexes")));
        }
        if self.failed_constraints > 0 {
            parts.push(format!("{} {}", self.failed_constraints, plural(self.failed_constraints as u64, "constraint", "constraints")));
        }
        if self.failed_other > 0 {
            parts.push(format!("{} other {}", self.failed_other, plural(self.failed_other as u64, "entry", "entries")));
        }
        let last = parts.pop()?;
        Some(if parts.is_empty() { format!("not restored: {last}") } else { format!("not restored: {} and {last}", parts.join(", ")) })
    }

    /// `planner statistics: 17 tables analyzed, 1 not (a warning, not counted among the
    /// errors)`, when the ANALYZE stage ran.
    pub(super) fn analyzed_line(&self) -> Option<String> {
        if self.analyzed + self.analyze_failed == 0 {
            return None;
        }
        let mut line = format!("planner statistics: {} {} analyzed", self.analyzed, plural(self.analyzed as u64, "table", "tables"));
        if self.analyze_failed > 0 {
            line.push_str(&format!(", {} not (ANALYZE failed: {}, not counted among the errors)", self.analyze_failed, plural(self.analyze_failed as u64, "a warning", "warnings")));
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_archive::DumpId;
    use std::time::{Duration, Instant};

    fn item(desc: &str, dropped: bool, errors: u64, bytes: u64) -> ItemRecord {
        ItemRecord { worker: 0, dump_id: DumpId(1), dropped, desc: desc.into(), label: String::new(), started: Instant::now(), elapsed: Duration::ZERO, rows: 0, bytes, errors, connections: 1 }
    }

    #[test]
    fn tally_counts_only_what_was_restored() {
        let timeline = [
            item("INDEX", true, 0, 0),
            item("CONSTRAINT", true, 0, 0),
            item("TABLE DATA", false, 0, 700),
            item("TABLE DATA", false, 1, 300),
            item("BLOBS", false, 0, 50),
            item("INDEX", false, 0, 0),
            item("INDEX", false, 2, 0),
            item("FK CONSTRAINT", false, 1, 0),
            item("CHECK CONSTRAINT", false, 0, 0),
            item("VIEW", false, 1, 0),
            item("ANALYZE", false, 0, 0),
            item("ANALYZE", false, 1, 0),
            item("ANALYZE", false, 0, 0),
        ];
        let t = Tally::of(&timeline);
        let want = Tally { tables: 1, table_bytes: 700, lo_bytes: 50, indexes: 1, constraints: 1, dropped: 2, failed_tables: 1, failed_indexes: 1, failed_constraints: 1, failed_other: 1, analyzed: 2, analyze_failed: 1 };
        assert_eq!(t, want);
        assert_eq!(t.not_restored_line().as_deref(), Some("not restored: the data of 1 table, 1 index, 1 constraint and 1 other entry"));
        assert_eq!(Tally::of(&timeline[..3]).not_restored_line(), None);
        let only_index = Tally { failed_indexes: 3, ..Tally::default() };
        assert_eq!(only_index.not_restored_line().as_deref(), Some("not restored: 3 indexes"));
        assert_eq!(t.analyzed_line().as_deref(), Some("planner statistics: 2 tables analyzed, 1 not (ANALYZE failed: a warning, not counted among the errors)"));
        assert_eq!(Tally::of(&timeline[..3]).analyzed_line(), None, "no ANALYZE stage");
        assert_eq!(Tally { analyzed: 1, ..Tally::default() }.analyzed_line().as_deref(), Some("planner statistics: 1 table analyzed"));
    }
}
