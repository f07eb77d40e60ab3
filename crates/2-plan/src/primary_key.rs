//! Primary keys and unique constraints of large tables built as a unique index first, then
//! made the constraint: which a parallel restore builds that way, and the statements that do
//! it.
//!
//! pg_dump adds such a constraint with one `ALTER TABLE ONLY … ADD CONSTRAINT … PRIMARY KEY
//! (…)`, which builds its index under `ACCESS EXCLUSIVE`: no other index of the table can
//! build meanwhile, so a table's primary key and its other indexes build one after another.
//! `CREATE UNIQUE INDEX` takes only `SHARE`, like `CREATE INDEX`, so they all build side by
//! side; `ADD CONSTRAINT … USING INDEX` then takes a moment's exclusive lock to make the
//! index the constraint's. The catalog ends the same: a constraint and an index of the same
//! name, columns, `INCLUDE` columns and storage parameters, in the tablespace
//! `default_tablespace` names for both. Should either statement fail, the index is dropped
//! again and pg_dump's own statement runs, to fail as pg_restore's does (see the engine's
//! `Target::unique_index_first`).

use std::collections::HashMap;

use bstr::ByteSlice;
use pgsurge_archive::{DumpId, Toc};

use crate::add_constraint::{of_large_tables, AddConstraint};
use crate::options::RestoreOptions;
use crate::select::Selection;
use crate::sql::leading_identifier;

/// Archive bytes of the table's data below which its constraint is added as pg_dump wrote
/// it: a small table's index builds in a moment, and two statements more would cost more
/// than building beside the others saves.
pub const FIRST_MIN_BYTES: u64 = 1 << 20;

/// A unique index built first, then made a constraint, and dropped if either fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFirst {
    pub build: Vec<u8>,
    pub attach: Vec<u8>,
    pub drop: Vec<u8>,
}

/// The statements for a CONSTRAINT entry's definition, if it has exactly pg_dump's shape for
/// a primary key or unique constraint of a plain table, not deferrable (`ALTER TABLE ONLY
/// <schema>.<table> ADD CONSTRAINT <name> PRIMARY KEY|UNIQUE (<columns>) [INCLUDE (…)] [WITH
/// (…)];`, see [`AddConstraint`]). Anything else — `NULLS NOT DISTINCT`, `WITHOUT OVERLAPS`,
/// a check or exclusion constraint — `None`, and the statement runs as written.
pub fn index_first(defn: &[u8]) -> Option<IndexFirst> {
    let c = AddConstraint::parse(defn)?;
    // The index goes in the table's schema, and is dropped by that name.
    let (schema, after_schema) = leading_identifier(c.table)?;
    if !after_schema.starts_with(b".") {
        return None;
    }
    let (kind, spec) = if let Some(spec) = c.body.strip_prefix(b"PRIMARY KEY ") {
        (b"PRIMARY KEY".as_slice(), spec)
    } else {
        (b"UNIQUE".as_slice(), c.body.strip_prefix(b"UNIQUE ")?)
    };
    if !spec.starts_with(b"(") || ["DEFERRABLE", "WITHOUT OVERLAPS", "USING INDEX", "NULLS"].iter().any(|w| spec.contains_str(w)) {
        return None;
    }
    let end: &[u8] = b";\n";
    Some(IndexFirst {
        build: [b"CREATE UNIQUE INDEX ", c.name, b" ON ", c.table, b" USING btree ", spec, end].concat(),
        attach: c.add(&[kind, b" USING INDEX ", c.name]),
        drop: [b"DROP INDEX IF EXISTS ", schema, b".", c.name, end].concat(),
    })
}

/// The CONSTRAINT entries a parallel restore builds as a unique index first: those of a
/// table with at least [`FIRST_MIN_BYTES`] of data in the archive, in pg_dump's shape (see
/// [`index_first`]). Only with `--index-first`, and never in `-1` or `--transaction-size`
/// mode.
pub fn built_first(toc: &Toc, sel: &Selection, opts: &RestoreOptions, sizes: &HashMap<DumpId, u64>) -> HashMap<DumpId, IndexFirst> {
    if !opts.index_first || opts.single_transaction || opts.transaction_size.is_some() {
        return HashMap::new();
    }
    of_large_tables(toc, sel, sizes, "CONSTRAINT", FIRST_MIN_BYTES, index_first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{entry, item};
    use crate::plan::Plan;
    use crate::select::decide;
    use pgsurge_archive::{Section, TocEntry};

    /// A large table's primary key built as a unique index first (`--index-first`) takes no
    /// lock that keeps the table's index builds apart; as pg_dump wrote it (a small table's,
    /// or by default), its exclusive lock does.
    #[test]
    fn keys_built_first_take_no_exclusive_lock() {
        let pkey = |id: i32, table: i32| TocEntry {
            defn: Some("ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n".into()),
            ..entry(id, "CONSTRAINT", Section::PostData, &[table])
        };
        let toc = Toc::from_entries(vec![
            TocEntry { defn: Some("CREATE TABLE public.t (\n    id integer NOT NULL\n);\n".into()), ..entry(1, "TABLE", Section::PreData, &[]) },
            entry(2, "TABLE DATA", Section::Data, &[1]),
            entry(3, "INDEX", Section::PostData, &[1]),
            pkey(4, 1),
        ]);
        let sizes = |n: u64| -> HashMap<DumpId, u64> { [(DumpId(2), n)].into_iter().collect() };
        let opts = RestoreOptions { index_first: true, ..RestoreOptions::default() };
        let sel = decide(&toc.entries, &opts, None);
        let plan = Plan::parallel(&toc, &sel, &opts, &sizes(FIRST_MIN_BYTES), false);
        assert_eq!(plan.index_first.keys().copied().collect::<Vec<_>>(), vec![DumpId(4)]);
        assert!(item(&plan, 3).lock_deps.is_empty() && item(&plan, 2).lock_deps.is_empty(), "the key and the index build side by side");
        assert!(plan.waits_for(item(&plan, 3), DumpId(2)), "it still waits for the table's data");
        let small = Plan::parallel(&toc, &sel, &opts, &sizes(FIRST_MIN_BYTES - 1), false);
        assert!(small.index_first.is_empty());
        assert_eq!(item(&small, 3).lock_deps, vec![DumpId(2)]);
        let off = RestoreOptions::default();
        let written = Plan::parallel(&toc, &decide(&toc.entries, &off, None), &off, &sizes(FIRST_MIN_BYTES), false);
        assert!(written.index_first.is_empty());
        assert_eq!(item(&written, 3).lock_deps, vec![DumpId(2)]);
    }

    fn first(defn: &str) -> Option<[String; 3]> {
        let f = index_first(defn.as_bytes())?;
        Some([f.build, f.attach, f.drop].map(|s| String::from_utf8(s).unwrap()))
    }

    #[test]
    fn pg_dumps_keys_become_an_index_then_a_constraint() {
        let [build, attach, drop] = first("ALTER TABLE ONLY public.big\n    ADD CONSTRAINT big_pkey PRIMARY KEY (id);\n").unwrap();
        assert_eq!(build, "CREATE UNIQUE INDEX big_pkey ON public.big USING btree (id);\n");
        assert_eq!(attach, "ALTER TABLE ONLY public.big\n    ADD CONSTRAINT big_pkey PRIMARY KEY USING INDEX big_pkey;\n");
        assert_eq!(drop, "DROP INDEX IF EXISTS public.big_pkey;\n");

        let [build, attach, drop] = first("ALTER TABLE ONLY \"My S\".\"T.x\"\n    ADD CONSTRAINT \"u \"\"1\"\"\" UNIQUE (a, \"B\") INCLUDE (c) WITH (fillfactor='70');\n").unwrap();
        assert_eq!(build, "CREATE UNIQUE INDEX \"u \"\"1\"\"\" ON \"My S\".\"T.x\" USING btree (a, \"B\") INCLUDE (c) WITH (fillfactor='70');\n");
        assert_eq!(attach, "ALTER TABLE ONLY \"My S\".\"T.x\"\n    ADD CONSTRAINT \"u \"\"1\"\"\" UNIQUE USING INDEX \"u \"\"1\"\"\";\n");
        assert_eq!(drop, "DROP INDEX IF EXISTS \"My S\".\"u \"\"1\"\"\";\n");
    }

    #[test]
    fn anything_else_runs_as_written() {
        for defn in [
            "ALTER TABLE public.m\n    ADD CONSTRAINT m_pkey PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id) DEFERRABLE INITIALLY DEFERRED;\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_u UNIQUE NULLS NOT DISTINCT (a);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id, during WITHOUT OVERLAPS);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_x EXCLUDE USING gist (c WITH &&);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_c CHECK ((a > 0));\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id); DROP TABLE x;\n",
            "ALTER TABLE ONLY t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id)",
            "",
        ] {
            assert_eq!(first(defn), None, "{defn}");
        }
    }
}
