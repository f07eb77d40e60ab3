//! pg_dump's `ALTER TABLE ONLY <table> ADD CONSTRAINT <name> <definition>;` taken apart, and
//! the constraint entries of large tables: what `foreign_key` and `primary_key` rewrite into
//! two steps with weaker locks.

use std::collections::HashMap;

use bstr::ByteSlice;
use pgsurge_archive::{DumpId, Toc, TocEntry};

use crate::select::Selection;
use crate::sql::leading_identifier;

const HEAD: &[u8] = b"ALTER TABLE ONLY ";
const ADD: &[u8] = b"\n    ADD CONSTRAINT ";

/// One `ADD CONSTRAINT` statement as pg_dump writes it for a table that is not partitioned (a
/// partitioned table's has no `ONLY`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddConstraint<'a> {
    /// The table, qualified and quoted as pg_dump wrote it.
    pub table: &'a [u8],
    /// The constraint's name, quoted as pg_dump wrote it.
    pub name: &'a [u8],
    /// What follows the name, without the closing `;`: one statement, no `;` in it.
    pub body: &'a [u8],
}

impl<'a> AddConstraint<'a> {
    /// `defn` taken apart, if it has exactly that shape and ends there.
    pub fn parse(defn: &'a [u8]) -> Option<AddConstraint<'a>> {
        let rest = defn.strip_prefix(HEAD)?;
        let at = rest.windows(ADD.len()).position(|w| w == ADD)?;
        let table = &rest[..at];
        if table.is_empty() || table.contains(&b'\n') || table.contains(&b';') {
            return None;
        }
        let (name, def) = leading_identifier(&rest[at + ADD.len()..])?;
        let body = def.strip_prefix(b" ")?.strip_suffix(b";\n")?;
        if body.contains(&b';') {
            return None;
        }
        Some(AddConstraint { table, name, body })
    }

    /// `ALTER TABLE ONLY <table>` followed by `tail`, ended as pg_dump ends its statements.
    pub fn alter(&self, tail: &[&[u8]]) -> Vec<u8> {
        [&[HEAD, self.table][..], tail, &[b";\n".as_slice()][..]].concat().concat()
    }

    /// The same `ADD CONSTRAINT` with another body.
    pub fn add(&self, body: &[&[u8]]) -> Vec<u8> {
        self.alter(&[&[ADD, self.name, b" ".as_slice()][..], body].concat())
    }
}

/// The wanted `desc` entries (CONSTRAINT, FK CONSTRAINT) of a table with at least
/// `min_bytes` of data in the archive (`sizes`; unknown sizes count as small) whose
/// definitions `rewrite` accepts, with what it makes of each.
pub(crate) fn of_large_tables<T>(toc: &Toc, sel: &Selection, sizes: &HashMap<DumpId, u64>, desc: &str, min_bytes: u64, rewrite: impl Fn(&[u8]) -> Option<T>) -> HashMap<DumpId, T> {
    let data_size: HashMap<DumpId, u64> = toc
        .entries
        .iter()
        .filter(|te| te.desc_is("TABLE DATA"))
        .filter_map(|te| Some((*te.dependencies.first()?, sizes.get(&te.dump_id).copied()?)))
        .collect();
    let large_table = |te: &TocEntry| te.dependencies.iter().any(|d| toc.get(*d).is_some_and(|t| t.desc_is("TABLE")) && data_size.get(d).is_some_and(|&n| n >= min_bytes));
    sel.in_order()
        .filter(|(_, es)| es.wanted.schema)
        .filter_map(|(i, _)| toc.entries.get(i))
        .filter(|te| te.desc_is(desc) && large_table(te))
        .filter_map(|te| Some((te.dump_id, rewrite(te.defn.as_deref()?.as_bytes())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dumps_statement_taken_apart_and_put_together() {
        let c = AddConstraint::parse(b"ALTER TABLE ONLY \"S. x\".t\n    ADD CONSTRAINT \"c \"\"1\"\"\" PRIMARY KEY (id);\n").unwrap();
        assert_eq!((c.table, c.name, c.body), (b"\"S. x\".t".as_slice(), b"\"c \"\"1\"\"\"".as_slice(), b"PRIMARY KEY (id)".as_slice()));
        assert_eq!(c.add(&[b"UNIQUE (a)"]), b"ALTER TABLE ONLY \"S. x\".t\n    ADD CONSTRAINT \"c \"\"1\"\"\" UNIQUE (a);\n");
        assert_eq!(c.alter(&[b" DROP CONSTRAINT ", c.name]), b"ALTER TABLE ONLY \"S. x\".t DROP CONSTRAINT \"c \"\"1\"\"\";\n");
        for defn in [
            "ALTER TABLE public.m\n    ADD CONSTRAINT c PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT c PRIMARY KEY (id); DROP TABLE x;\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT c PRIMARY KEY (id)",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT \"c PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY \n    ADD CONSTRAINT c PRIMARY KEY (id);\n",
            "ALTER TABLE ONLY public.t;\n    ADD CONSTRAINT c PRIMARY KEY (id);\n",
            "",
        ] {
            assert!(AddConstraint::parse(defn.as_bytes()).is_none(), "{defn}");
        }
    }
}
