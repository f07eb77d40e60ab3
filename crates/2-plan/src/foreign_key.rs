//! Foreign keys of large tables added `NOT VALID` and then validated: which a restore adds
//! that way, and the three statements that do it.
//!
//! pg_dump adds a foreign key with one `ALTER TABLE ONLY … ADD CONSTRAINT … FOREIGN KEY`,
//! which validates every row while holding `SHARE ROW EXCLUSIVE` on both tables: the
//! validations of several large tables referencing the same table queue one behind the other.
//! Added `NOT VALID` (a moment's lock, no scan), the key is then checked by `VALIDATE
//! CONSTRAINT`, which takes `SHARE UPDATE EXCLUSIVE` on the referencing table and only `ROW
//! SHARE` on the referenced one, so such validations run side by side. The catalog ends the
//! same: a validated constraint with the same name and definition. Should the rows not
//! satisfy the key, the constraint is dropped again and pg_dump's own statement runs, to fail
//! as pg_restore's does (see the engine's `Target::foreign_key`).

use std::collections::HashMap;

use bstr::ByteSlice;
use pgsurge_archive::{DumpId, Toc};

use crate::add_constraint::{of_large_tables, AddConstraint};
use crate::options::RestoreOptions;
use crate::select::Selection;
use crate::sql;

/// Archive bytes of the referencing table's data below which its foreign key is added as
/// pg_dump wrote it: a small table's validation is over in a moment, and two statements
/// more (each its own commit) would cost more than the lock saves.
pub const LATER_MIN_BYTES: u64 = 1 << 20;

/// A foreign key added `NOT VALID`, validated, and dropped again if the rows fail it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaterValidation {
    /// The table the key belongs to, as pg_dump wrote its name.
    pub table: Vec<u8>,
    pub add: Vec<u8>,
    pub validate: Vec<u8>,
    pub drop: Vec<u8>,
}

/// The statements for a FK CONSTRAINT entry's definition, if it has exactly pg_dump's shape
/// for a foreign key of a plain table that is to be validated (`ALTER TABLE ONLY <table>
/// ADD CONSTRAINT <name> FOREIGN KEY (…) …;`, see [`AddConstraint`], neither `NOT VALID` nor
/// `NOT ENFORCED`). Anything else: `None`, and the statement runs as written.
pub fn later_validation(defn: &[u8]) -> Option<LaterValidation> {
    let c = AddConstraint::parse(defn)?;
    if !c.body.starts_with(b"FOREIGN KEY (") || c.body.contains_str("NOT VALID") || c.body.contains_str("NOT ENFORCED") {
        return None;
    }
    Some(LaterValidation {
        table: c.table.to_vec(),
        add: c.add(&[c.body, b" NOT VALID"]),
        validate: c.alter(&[b" VALIDATE CONSTRAINT ", c.name]),
        drop: c.alter(&[b" DROP CONSTRAINT ", c.name]),
    })
}

/// The FK CONSTRAINT entries a restore adds `NOT VALID` and then validates: those of a plain
/// table with at least [`LATER_MIN_BYTES`] of data in the archive, in pg_dump's shape (see
/// [`later_validation`]). None under `--no-validate-later`, nor in `-1` or
/// `--transaction-size` mode, whose transactions would hold the first statement's locks
/// until the end anyway.
pub fn validated_later(toc: &Toc, sel: &Selection, opts: &RestoreOptions, sizes: &HashMap<DumpId, u64>) -> HashMap<DumpId, LaterValidation> {
    if opts.no_validate_later || opts.single_transaction || opts.transaction_size.is_some() {
        return HashMap::new();
    }
    of_large_tables(toc, sel, sizes, "FK CONSTRAINT", LATER_MIN_BYTES, later_validation)
}

/// Whether `dep`, a dependency of a FK CONSTRAINT entry validated `later` (a TABLE, or a
/// TABLE DATA standing for its table), is the table the key belongs to rather than the one it
/// references: the one a later validation locks against other work, where pg_dump's
/// statement also locks the referenced table.
pub fn own_table(toc: &Toc, later: &LaterValidation, dep: DumpId) -> bool {
    let table = toc.get(dep).and_then(|d| if d.desc_is("TABLE DATA") { d.dependencies.first().and_then(|&t| toc.get(t)) } else { Some(d) });
    table.is_some_and(|t| t.desc_is("TABLE") && sql::qualified_name(t.namespace.as_deref().map(|n| n.as_bytes()), &t.tag) == later.table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{entry, item};
    use crate::plan::Plan;
    use crate::select::decide;
    use pgsurge_archive::{Section, TocEntry};

    /// A large table's foreign key validated later locks only its own table, so that keys
    /// referencing one table are scheduled side by side; as pg_dump wrote it, both tables.
    #[test]
    fn keys_validated_later_lock_only_their_own_table() {
        let table = |id: i32, tag: &str| TocEntry {
            namespace: Some("public".into()),
            defn: Some(format!("CREATE TABLE public.{tag} (\n    id integer\n);\n").into()),
            ..TocEntry::new(DumpId(id), "TABLE", tag, Section::PreData, vec![])
        };
        let fk = TocEntry {
            defn: Some("ALTER TABLE ONLY public.a\n    ADD CONSTRAINT a_fk FOREIGN KEY (id) REFERENCES public.p(id);\n".into()),
            ..entry(5, "FK CONSTRAINT", Section::PostData, &[1, 2])
        };
        let toc = Toc::from_entries(vec![table(1, "a"), table(2, "p"), entry(3, "TABLE DATA", Section::Data, &[1]), entry(4, "TABLE DATA", Section::Data, &[2]), fk]);
        let sizes: HashMap<DumpId, u64> = [(DumpId(3), LATER_MIN_BYTES), (DumpId(4), 10)].into_iter().collect();
        let opts = RestoreOptions::default();
        let plan = Plan::parallel(&toc, &decide(&toc.entries, &opts, None), &opts, &sizes, false);
        assert_eq!(plan.validate_later.keys().copied().collect::<Vec<_>>(), vec![DumpId(5)]);
        assert_eq!(item(&plan, 4).lock_deps, vec![DumpId(3)], "a's data, not p's");
        assert!(plan.waits_for(item(&plan, 4), DumpId(4)), "it still waits for p's data");
        let off = RestoreOptions { no_validate_later: true, ..RestoreOptions::default() };
        let written = Plan::parallel(&toc, &decide(&toc.entries, &off, None), &off, &sizes, false);
        assert_eq!(item(&written, 4).lock_deps, vec![DumpId(3), DumpId(4)]);
    }

    fn later(defn: &str) -> Option<(String, String, String)> {
        let l = later_validation(defn.as_bytes())?;
        Some((String::from_utf8(l.add).unwrap(), String::from_utf8(l.validate).unwrap(), String::from_utf8(l.drop).unwrap()))
    }

    #[test]
    fn pg_dumps_foreign_keys_become_three_statements() {
        let (add, validate, drop) = later("ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id) ON DELETE CASCADE;\n").unwrap();
        assert_eq!(add, "ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.parent(id) ON DELETE CASCADE NOT VALID;\n");
        assert_eq!(validate, "ALTER TABLE ONLY public.child VALIDATE CONSTRAINT child_parent_id_fkey;\n");
        assert_eq!(drop, "ALTER TABLE ONLY public.child DROP CONSTRAINT child_parent_id_fkey;\n");

        // Quoted names, quotes inside them, and deferrability are kept as written.
        let (add, validate, _) = later("ALTER TABLE ONLY \"My S\".\"T. x\"\n    ADD CONSTRAINT \"fk \"\"1\"\" ;\" FOREIGN KEY (a) REFERENCES \"My S\".p(id) DEFERRABLE INITIALLY DEFERRED;\n").unwrap();
        assert_eq!(add, "ALTER TABLE ONLY \"My S\".\"T. x\"\n    ADD CONSTRAINT \"fk \"\"1\"\" ;\" FOREIGN KEY (a) REFERENCES \"My S\".p(id) DEFERRABLE INITIALLY DEFERRED NOT VALID;\n");
        assert_eq!(validate, "ALTER TABLE ONLY \"My S\".\"T. x\" VALIDATE CONSTRAINT \"fk \"\"1\"\" ;\";\n");
    }

    /// The keys of tables with 1 MB of data or more, in pg_dump's shape, and none where the
    /// options say so.
    #[test]
    fn large_tables_keys_only() {
        use crate::select::decide;
        use pgsurge_archive::DataLocation;
        let table = |id: i32, tag: &str| TocEntry { defn: Some(format!("CREATE TABLE public.{tag} (\n    a integer\n);\n").into()), ..TocEntry::new(DumpId(id), "TABLE", tag, Section::PreData, vec![]) };
        let data = |id: i32, table: i32| TocEntry { had_dumper: true, data: DataLocation::Block { offset: None }, ..TocEntry::new(DumpId(id), "TABLE DATA", "t", Section::Data, vec![DumpId(table)]) };
        let fk = |id: i32, table: i32, tag: &str, tail: &str| TocEntry {
            defn: Some(format!("ALTER TABLE ONLY public.{tag}\n    ADD CONSTRAINT {tag}_fk FOREIGN KEY (a) REFERENCES public.p(a){tail};\n").into()),
            ..TocEntry::new(DumpId(id), "FK CONSTRAINT", tag, Section::PostData, vec![DumpId(table), DumpId(9)])
        };
        let toc = Toc::from_entries(vec![table(1, "big"), table(2, "small"), table(3, "old"), data(4, 1), data(5, 2), data(6, 3), fk(7, 1, "big", ""), fk(8, 2, "small", ""), fk(10, 3, "old", " NOT VALID")]);
        let sizes: HashMap<DumpId, u64> = [(DumpId(4), LATER_MIN_BYTES), (DumpId(5), LATER_MIN_BYTES - 1), (DumpId(6), LATER_MIN_BYTES)].into_iter().collect();
        let later = |opts: RestoreOptions| validated_later(&toc, &decide(&toc.entries, &opts, None), &opts, &sizes);
        assert_eq!(later(RestoreOptions::default()).keys().copied().collect::<Vec<_>>(), vec![DumpId(7)]);
        assert!(later(RestoreOptions { no_validate_later: true, ..RestoreOptions::default() }).is_empty());
        assert!(later(RestoreOptions { single_transaction: true, ..RestoreOptions::default() }).is_empty());
        assert!(later(RestoreOptions { transaction_size: Some(10), ..RestoreOptions::default() }).is_empty());
        assert!(validated_later(&toc, &decide(&toc.entries, &RestoreOptions::default(), None), &RestoreOptions::default(), &HashMap::new()).is_empty(), "sizes unknown");
    }

    #[test]
    fn anything_else_runs_as_written() {
        for defn in [
            // A partitioned table's (no ONLY), already not valid, not enforced (PostgreSQL 18).
            "ALTER TABLE public.m\n    ADD CONSTRAINT m_fk FOREIGN KEY (a) REFERENCES public.p(id);\n",
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES public.p(id) NOT VALID;\n",
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES public.p(id) NOT ENFORCED;\n",
            // Not a foreign key, two statements, no end, an unterminated name, nothing at all.
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_pkey PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES public.p(id); DROP TABLE x;\n",
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES public.p(id)",
            "ALTER TABLE ONLY public.c\n    ADD CONSTRAINT \"c_fk FOREIGN KEY (a) REFERENCES public.p(id);\n",
            "ALTER TABLE ONLY \n    ADD CONSTRAINT c_fk FOREIGN KEY (a) REFERENCES public.p(id);\n",
            "",
        ] {
            assert_eq!(later(defn), None, "{defn}");
        }
    }
}
