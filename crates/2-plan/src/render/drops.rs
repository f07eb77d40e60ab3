//! `--clean`: the drop statements, in reverse restore order, before anything is created, with
//! `--if-exists` rewriting each into its `IF EXISTS` form (pg_backup_archiver.c
//! `RestoreArchive`).

use bstr::ByteSlice;
use pgsurge_archive::TocEntry;

use super::{Action, RenderError, Renderer};
use crate::c_number::catalog_oid;

impl Renderer<'_> {
    /// The `--clean` phase: drop statements in reverse restore order (only the database itself
    /// under `--create`, since the script is still connected elsewhere).
    pub(super) fn drops(&mut self) -> Result<(), RenderError> {
        let toc = self.toc;
        for &i in self.sel.order().iter().rev() {
            let Some(te) = toc.entries.get(i) else { continue };
            let is_db = te.desc_is("DATABASE") || te.desc_is("DATABASE PROPERTIES");
            if self.opts.create && !is_db {
                continue;
            }
            let wanted = self.sel.get(i);
            let Some(drop) = &te.drop_stmt else { continue };
            if !(wanted.schema || wanted.data) {
                continue;
            }
            self.info(format!("dropping {} {}", te.desc, te.tag));
            self.target.entry(te, Action::Drop);
            // DROP DATABASE cannot run inside a transaction block.
            if self.txn_size > 0 && is_db {
                self.cmd(b"COMMIT;\n")?;
            }
            self.become_owner(te)?;
            self.select_schema(te.namespace.as_deref().map(|n| n.as_bytes()))?;
            if te.desc_is("BLOB METADATA") {
                if self.opts.if_exists {
                    self.per_blob(te, b"SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '", b"'")?;
                } else {
                    self.per_blob(te, b"SELECT pg_catalog.lo_unlink('", b"')")?;
                }
            } else if !drop.is_empty() {
                if !self.opts.if_exists || drop.starts_with(b"--") {
                    self.cmd(drop)?;
                } else if te.desc_is("BLOB") {
                    let oid = catalog_oid(&te.oid);
                    self.cmd(format!("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '{oid}';\n").as_bytes())?;
                } else {
                    let stmt = insert_if_exists(te, drop, self.warn);
                    self.cmd(&stmt)?;
                }
            }
            self.target.flush()?;
            if self.txn_size > 0 {
                if is_db {
                    self.cmd(b"BEGIN;\n")?;
                    self.txn_count = 0;
                } else {
                    self.txn_count += 1;
                    if self.txn_count >= self.txn_size {
                        self.cmd(b"COMMIT;\n")?;
                        self.cmd(b"BEGIN;\n")?;
                        self.txn_count = 0;
                    }
                }
            }
        }
        // The drops may have removed the schema the search_path pointed at.
        self.session.schema = None;
        Ok(())
    }
}

/// `--if-exists` for one drop statement (`RestoreArchive`): `ALTER TABLE` becomes `ALTER TABLE
/// IF EXISTS`, and ` IF EXISTS` goes after the first `DROP <desc>` (`DROP CONSTRAINT` for
/// constraints) — except for column defaults, database properties and view-rule
/// placeholders, which have no such form. When the spot cannot be found the statement is
/// kept, with a warning.
fn insert_if_exists(te: &TocEntry, drop: &[u8], warn: &mut dyn FnMut(String)) -> Vec<u8> {
    let original = drop;
    let mut out = Vec::with_capacity(drop.len() + 20);
    let mut rest = drop.find_byte(0).map_or(drop, |i| &drop[..i]);
    if rest.starts_with(b"ALTER TABLE") {
        out.extend_from_slice(b"ALTER TABLE IF EXISTS");
        rest = &rest[b"ALTER TABLE".len()..];
    }
    let desc = te.desc.as_bytes();
    if desc == b"DEFAULT" || desc == b"DATABASE PROPERTIES" || rest.starts_with(b"CREATE OR REPLACE VIEW") {
        out.extend_from_slice(rest);
        return out;
    }
    let mut mark: Vec<u8> = if matches!(desc, b"CONSTRAINT" | b"CHECK CONSTRAINT" | b"FK CONSTRAINT") { b"DROP CONSTRAINT".to_vec() } else { [b"DROP ", desc].concat() };
    // pg_restore builds the search string in a 40-byte buffer.
    mark.truncate(39);
    match rest.find(&mark) {
        Some(pos) => {
            out.extend_from_slice(&rest[..pos]);
            out.extend_from_slice(&mark);
            out.extend_from_slice(b" IF EXISTS");
            out.extend_from_slice(&rest[pos + mark.len()..]);
        }
        None => {
            warn(format!("could not find where to insert IF EXISTS in statement \"{}\"", original.as_bstr()));
            out.extend_from_slice(rest);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::test_entry as entry;

    fn if_exists(desc: &str, drop: &str) -> (String, Vec<String>) {
        let mut warnings = Vec::new();
        let out = insert_if_exists(&entry(desc, drop), drop.as_bytes(), &mut |w| warnings.push(w));
        (String::from_utf8(out).unwrap(), warnings)
    }

    #[test]
    fn if_exists_rewriting() {
        assert_eq!(if_exists("CONSTRAINT", "ALTER TABLE ONLY public.child DROP CONSTRAINT child_pkey;\n").0, "ALTER TABLE IF EXISTS ONLY public.child DROP CONSTRAINT IF EXISTS child_pkey;\n");
        assert_eq!(if_exists("TRIGGER", "DROP TRIGGER trg ON public.p;\n").0, "DROP TRIGGER IF EXISTS trg ON public.p;\n");
        assert_eq!(if_exists("DEFAULT", "ALTER TABLE public.child ALTER COLUMN id DROP DEFAULT;\n").0, "ALTER TABLE IF EXISTS public.child ALTER COLUMN id DROP DEFAULT;\n");
        assert_eq!(if_exists("DATABASE", "DROP DATABASE src2;\n").0, "DROP DATABASE IF EXISTS src2;\n");
        assert_eq!(if_exists("RULE", "CREATE OR REPLACE VIEW public.v AS SELECT 1;\n").0, "CREATE OR REPLACE VIEW public.v AS SELECT 1;\n");
        let (out, warnings) = if_exists("SHELL TYPE", "DROP TYPE public.s;\n");
        assert_eq!(out, "DROP TYPE public.s;\n");
        assert_eq!(warnings, vec!["could not find where to insert IF EXISTS in statement \"DROP TYPE public.s;\n\""]);
    }
}
