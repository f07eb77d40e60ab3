//! One entry as `_printTocEntry` prints it: the session settings it needs, its `--` comment
//! header, its definition, its ownership — and the per-large-object forms of BLOB METADATA
//! and large-object ACLs (`IssueCommandPerBlob`, `IssueACLPerBlob`).

use bstr::{BStr, ByteSlice};
use pgsurge_archive::{DataLocation, Format, TocEntry};

use super::{RenderError, Renderer};
use crate::c_number::catalog_oid;
use crate::options::RestoreOptions;
use crate::sanitize::sanitize;
use crate::sql;

impl Renderer<'_> {
    /// `_printTocEntry`: session settings the entry needs, its comment header, its
    /// definition, its ownership.
    pub(super) fn print_entry(&mut self, te: &TocEntry, prefix: &str) -> Result<(), RenderError> {
        let desc = te.desc.as_bytes();
        let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
        self.become_owner(te)?;
        self.select_schema(te.namespace.as_deref().map(|n| n.as_bytes()))?;
        self.select_tablespace(te.tablespace.as_deref().map(|t| t.as_bytes()))?;
        // A partitioned table's AM is set after its definition, with ALTER TABLE.
        if te.relkind != b'p' {
            self.select_table_am(te.tableam.as_deref().map(|t| t.as_bytes()))?;
        }

        self.comment_header(te, prefix)?;

        if self.opts.no_owner && desc == b"SCHEMA" && !defn.starts_with(b"--") {
            // Drops the AUTHORIZATION clause old pg_dump versions put in CREATE SCHEMA.
            let stmt = [b"CREATE SCHEMA ", sql::quote_ident(&te.tag).as_ref(), b";\n\n\n"].concat();
            self.cmd(&stmt)?;
        } else if desc == b"BLOB METADATA" {
            self.per_blob(te, b"SELECT pg_catalog.lo_create('", b"')")?;
        } else if desc == b"ACL" && te.tag.starts_with(b"LARGE OBJECTS") {
            self.acl_per_blob(te)?;
        } else if !defn.is_empty() {
            // One command with its blank lines, as pg_restore sends it: a failure shows them.
            let sql = [defn, b"\n\n"].concat();
            if let Some(later) = self.validate_later.and_then(|m| m.get(&te.dump_id)) {
                self.target.foreign_key(&sql, later)?;
            } else if let Some(first) = self.index_first.and_then(|m| m.get(&te.dump_id)) {
                self.target.unique_index_first(&sql, first)?;
            } else {
                self.cmd(&sql)?;
            }
            // A multi-statement definition counts as several actions in --transaction-size
            // mode; pg_restore counts semicolons, except in function bodies.
            if self.txn_size > 0 && desc != b"FUNCTION" && desc != b"PROCEDURE" {
                let semicolons = defn.iter().filter(|&&b| b == b';').count();
                if semicolons > 1 {
                    self.txn_count += u32::try_from(semicolons - 1).unwrap_or(u32::MAX);
                }
            }
        }

        let owner = te.owner.as_deref().map(|o| o.as_bytes()).unwrap_or_default();
        let has_drop = te.drop_stmt.as_deref().is_some_and(|d| !d.is_empty());
        // The public schema's placeholder gets ALTER OWNER even under
        // --use-set-session-authorization, since nothing else would set its owner.
        let owner_by_alter = !self.opts.use_set_session_authorization || (desc == b"SCHEMA" && defn.starts_with(b"--"));
        if !self.opts.no_owner && owner_by_alter && !owner.is_empty() && has_drop {
            if desc == b"BLOB METADATA" {
                let end = [b" OWNER TO ", sql::quote_ident(owner).as_ref()].concat();
                self.per_blob(te, b"ALTER LARGE OBJECT ", &end)?;
            } else if let Some(object) = object_description(te)? {
                let stmt = [b"ALTER ", object.as_slice(), b" OWNER TO ", sql::quote_ident(owner).as_ref(), b";\n\n"].concat();
                self.cmd(&stmt)?;
            }
        }

        if te.relkind == b'p' && !self.opts.no_table_access_method {
            if let Some(am) = &te.tableam {
                let stmt = [
                    b"ALTER TABLE ",
                    sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice(),
                    b" SET ACCESS METHOD ",
                    sql::quote_ident(am).as_ref(),
                    b";\n\n",
                ]
                .concat();
                self.target.setting(&stmt, "could not alter table access method")?;
            }
        }

        // ACL text may contain SET SESSION AUTHORIZATION.
        if matches!(desc, b"ACL" | b"ACL LANGUAGE" | b"DEFAULT ACL") {
            self.session.user = None;
        }
        Ok(())
    }

    /// The `--` block naming an entry (script output only).
    fn comment_header(&mut self, te: &TocEntry, prefix: &str) -> Result<(), RenderError> {
        let location = if !self.opts.verbose {
            None
        } else {
            match self.archive.format() {
                Format::Custom => {
                    let pos = match te.data {
                        // pg_restore remembers positions found by scanning only when it can
                        // seek; reading a pipe it never learns any.
                        DataLocation::Block { offset: None } if !self.archive.is_seekable() => 0,
                        _ => self.archive.data_pos(te),
                    };
                    Some(DataComment::Pos(pos))
                }
                Format::Directory | Format::Tar => match &te.data {
                    DataLocation::File(name) => Some(DataComment::File(name.as_bstr())),
                    _ => None,
                },
            }
        };
        let s = entry_comment(te, prefix, self.opts, location);
        self.w(&s)
    }

    /// `IssueCommandPerBlob`: `begin<oid>end;` for each OID line of a BLOB METADATA
    /// definition, each counting as one action in `--transaction-size` mode, then a blank line.
    pub(super) fn per_blob(&mut self, te: &TocEntry, begin: &[u8], end: &[u8]) -> Result<(), RenderError> {
        let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
        let defn = defn.find_byte(0).map_or(defn, |i| &defn[..i]);
        // Only complete lines count; text after the last newline is ignored.
        for line in defn.split_inclusive(|&b| b == b'\n').filter(|l| l.ends_with(b"\n")) {
            let oid = &line[..line.len() - 1];
            let stmt = [begin, oid, end, b";\n"].concat();
            self.target.batched_command(&stmt)?;
            self.count_action()?;
        }
        self.w(b"\n")
    }

    /// `IssueACLPerBlob`: a `LARGE OBJECTS a..b` ACL holds its GRANT/REVOKE commands once,
    /// for the group's first object; each command is split around `LARGE OBJECT <oid>`
    /// (ignoring double-quoted role names) and re-issued for every OID of the group's BLOB
    /// METADATA entry (the ACL's first dependency).
    fn acl_per_blob(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        let meta_id = te.dependencies.first().copied().unwrap_or_default();
        let toc = self.toc;
        let meta = toc.get(meta_id).ok_or(RenderError::MissingBlobMetadata(meta_id))?;
        let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
        let defn = defn.find_byte(0).map_or(defn, |i| &defn[..i]);
        for (first, second) in split_lo_acl(defn) {
            // pg_restore passes a NULL second half to printf when a command has no
            // "LARGE OBJECT" in it, which glibc prints as "(null)".
            self.per_blob(meta, first, second.unwrap_or(b"(null)"))?;
        }
        Ok(())
    }
}

/// Where an entry's data is, as a verbose script's comment says.
enum DataComment<'t> {
    /// A custom archive's data offset.
    Pos(u64),
    /// A directory or tar archive's data file.
    File(&'t BStr),
}

/// `_printTocEntry`'s comment block: the entry's name, type, schema, owner and tablespace,
/// and under `-v` its id, dependencies and where its data is. Every archive string in it
/// has its line breaks blanked, so nothing an archive says can end the comment and become
/// part of the script. pg_restore 18 does this itself for the names (`sanitize_line`), the
/// same byte for byte; it prints the type and the data file name as they are, which for any
/// archive pg_dump wrote is the same text.
fn entry_comment(te: &TocEntry, prefix: &str, opts: &RestoreOptions, location: Option<DataComment<'_>>) -> Vec<u8> {
    let mut s: Vec<u8> = b"--\n".to_vec();
    if opts.verbose {
        s.extend_from_slice(format!("-- TOC entry {} (class {} OID {})\n", te.dump_id, catalog_oid(&te.table_oid), catalog_oid(&te.oid)).as_bytes());
        if !te.dependencies.is_empty() {
            s.extend_from_slice(b"-- Dependencies:");
            for d in &te.dependencies {
                s.extend_from_slice(format!(" {d}").as_bytes());
            }
            s.push(b'\n');
        }
    }
    let owner = if opts.no_owner { None } else { te.owner.as_ref().map(|o| o.as_bstr()) };
    s.extend_from_slice(b"-- ");
    s.extend_from_slice(prefix.as_bytes());
    s.extend_from_slice(b"Name: ");
    s.extend_from_slice(&sanitize(Some(te.tag.as_bstr()), false));
    s.extend_from_slice(b"; Type: ");
    s.extend_from_slice(&sanitize(Some(te.desc.as_bstr()), false));
    s.extend_from_slice(b"; Schema: ");
    s.extend_from_slice(&sanitize(te.namespace.as_ref().map(|n| n.as_bstr()), true));
    s.extend_from_slice(b"; Owner: ");
    s.extend_from_slice(&sanitize(owner, true));
    if let Some(ts) = te.tablespace.as_ref().map(|t| t.as_bstr()).filter(|t| !t.is_empty()) {
        if !opts.no_tablespaces {
            s.extend_from_slice(b"; Tablespace: ");
            s.extend_from_slice(&sanitize(Some(ts), false));
        }
    }
    s.push(b'\n');
    match location {
        Some(DataComment::Pos(pos)) => s.extend_from_slice(format!("-- Data Pos: {pos}\n").as_bytes()),
        Some(DataComment::File(name)) => {
            s.extend_from_slice(b"-- File: ");
            s.extend_from_slice(&sanitize(Some(name), false));
            s.push(b'\n');
        }
        None => {}
    }
    s.extend_from_slice(b"--\n\n");
    s
}

/// Splits a `LARGE OBJECTS` ACL definition into (first half, second half) per command: the
/// first half runs to just after `LARGE OBJECT ` and the second starts after the OID's digits
/// (the byte right after `LARGE OBJECT ` is consumed even if it is not a digit, as in
/// pg_restore); commands end at `;` and the whitespace after it is skipped. Double-quoted
/// text is never searched. `None` stands for a command without `LARGE OBJECT `.
fn split_lo_acl(defn: &[u8]) -> Vec<(&[u8], Option<&[u8]>)> {
    const MARK: &[u8] = b"LARGE OBJECT ";
    let mut commands = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    let mut first: &[u8] = b"";
    let mut second_start: Option<usize> = None;
    let mut i = 0;
    while i < defn.len() {
        if defn[i] == b'"' {
            in_quotes = !in_quotes;
        }
        if in_quotes {
            i += 1;
            continue;
        }
        if defn[i..].starts_with(MARK) {
            i += MARK.len();
            first = &defn[start..i];
            i += 1;
            while i < defn.len() && defn[i].is_ascii_digit() {
                i += 1;
            }
            second_start = Some(i);
        } else if defn[i] == b';' {
            let second = second_start.map(|s| &defn[s.min(i)..i]);
            let first_half = if second_start.is_some() { first } else { &defn[start..i] };
            commands.push((first_half, second));
            i += 1;
            while i < defn.len() && matches!(defn[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
                i += 1;
            }
            start = i;
            second_start = None;
        } else {
            i += 1;
        }
    }
    commands
}

/// `_getObjectDescription`: what follows `ALTER ` in the entry's `OWNER TO` statement;
/// `None` for types without owners of their own.
fn object_description(te: &TocEntry) -> Result<Option<Vec<u8>>, RenderError> {
    let desc = te.desc.as_bytes();
    match desc {
        b"COLLATION" | b"CONVERSION" | b"DOMAIN" | b"FOREIGN TABLE" | b"MATERIALIZED VIEW" | b"SEQUENCE" | b"STATISTICS" | b"TABLE" | b"TEXT SEARCH DICTIONARY"
        | b"TEXT SEARCH CONFIGURATION" | b"TYPE" | b"VIEW" | b"DATABASE" | b"PROCEDURAL LANGUAGE" | b"SCHEMA" | b"EVENT TRIGGER" | b"FOREIGN DATA WRAPPER" | b"SERVER"
        | b"PUBLICATION" | b"SUBSCRIPTION" => {
            let mut s = desc.to_vec();
            s.push(b' ');
            s.extend_from_slice(&sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag));
            Ok(Some(s))
        }
        // Large objects are named by number, never quoted.
        b"BLOB" => Ok(Some([b"LARGE OBJECT ", te.tag.as_bytes()].concat())),
        // These need their argument lists, which only the drop statement spells out.
        b"AGGREGATE" | b"FUNCTION" | b"OPERATOR" | b"OPERATOR CLASS" | b"OPERATOR FAMILY" | b"PROCEDURE" => {
            let drop = te.drop_stmt.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
            let drop = drop.find_byte(0).map_or(drop, |i| &drop[..i]);
            let mut s = drop.get(5..).unwrap_or_default();
            while let Some((&last, head)) = s.split_last() {
                if last == b'\n' || last == b';' {
                    s = head;
                } else {
                    break;
                }
            }
            Ok(Some(s.to_vec()))
        }
        b"CAST" | b"CHECK CONSTRAINT" | b"CONSTRAINT" | b"DATABASE PROPERTIES" | b"DEFAULT" | b"FK CONSTRAINT" | b"INDEX" | b"RULE" | b"TRIGGER" | b"ROW SECURITY" | b"POLICY"
        | b"USER MAPPING" => Ok(None),
        _ => Err(RenderError::UnknownOwnerType(te.desc.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::test_entry as entry;
    use pgsurge_archive::DumpId;

    #[test]
    fn owner_descriptions() {
        let mut te = entry("TABLE", "DROP TABLE public.x;\n");
        te.namespace = Some("MixedCase".into());
        te.tag = "Order Items".into();
        assert_eq!(object_description(&te).unwrap().unwrap(), b"TABLE \"MixedCase\".\"Order Items\"");
        let te = entry("FUNCTION", "DROP FUNCTION public.f(x integer);\n");
        assert_eq!(object_description(&te).unwrap().unwrap(), b"FUNCTION public.f(x integer)");
        let mut te = entry("BLOB", "SELECT pg_catalog.lo_unlink('16500');\n");
        te.tag = "16500".into();
        assert_eq!(object_description(&te).unwrap().unwrap(), b"LARGE OBJECT 16500");
        assert!(object_description(&entry("INDEX", "DROP INDEX public.i;\n")).unwrap().is_none());
        let err = object_description(&entry("FROBNICATOR", "DROP x;\n")).unwrap_err();
        assert_eq!(err.to_string(), "don't know how to set owner for object type \"FROBNICATOR\"");
    }

    #[test]
    fn large_object_acl_splitting() {
        let defn = b"REVOKE ALL ON LARGE OBJECT 100005 FROM alice;\nGRANT SELECT ON LARGE OBJECT 100005 TO \"bob; LARGE OBJECT 1\";\n";
        let parts = split_lo_acl(defn);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], (&b"REVOKE ALL ON LARGE OBJECT "[..], Some(&b" FROM alice"[..])));
        assert_eq!(parts[1], (&b"GRANT SELECT ON LARGE OBJECT "[..], Some(&b" TO \"bob; LARGE OBJECT 1\""[..])));
        let parts = split_lo_acl(b"SET SESSION AUTHORIZATION alice;\n");
        assert_eq!(parts, vec![(&b"SET SESSION AUTHORIZATION alice"[..], None)]);
    }

    /// No archive string ends a comment line: a data file name, a type, a name, a schema, an
    /// owner or a tablespace with CR or LF in it has them blanked, and every line of the
    /// block stays a comment. Plain names come out as pg_restore 18 prints them.
    #[test]
    fn entry_comments_never_break_out() {
        let mut te = entry("TABLE DATA", "");
        te.dump_id = DumpId(2780);
        te.dependencies = vec![DumpId(227)];
        te.tablespace = Some("fast".into());
        let opts = RestoreOptions { verbose: true, ..RestoreOptions::default() };
        let plain = entry_comment(&te, "Data for ", &opts, Some(DataComment::File(BStr::new("2780.dat"))));
        assert_eq!(
            plain.as_bstr(),
            "--\n-- TOC entry 2780 (class 0 OID 0)\n-- Dependencies: 227\n-- Data for Name: x; Type: TABLE DATA; Schema: public; Owner: postgres; Tablespace: fast\n-- File: 2780.dat\n--\n\n"
        );
        te.tag = "x\nDROP TABLE t;".into();
        te.desc = "TABLE\rDATA".into();
        te.namespace = Some("pub\nlic".into());
        te.owner = Some("post\r\ngres".into());
        te.tablespace = Some("f\nast".into());
        let evil = entry_comment(&te, "Data for ", &opts, Some(DataComment::File(BStr::new("a\nb\r\\! rm -rf /\n"))));
        let text = evil.to_str().unwrap();
        assert!(!text.contains('\r'));
        let body = text.strip_suffix("\n\n").unwrap();
        assert!(body.lines().all(|l| l.starts_with("--")), "{text}");
        assert!(text.contains("-- File: a b \\! rm -rf / \n"), "{text}");
        assert!(text.contains("Name: x DROP TABLE t;; Type: TABLE DATA; Schema: pub lic; Owner: post  gres; Tablespace: f ast\n"), "{text}");
        let terse = entry_comment(&te, "", &RestoreOptions::default(), None);
        assert!(terse.starts_with(b"--\n-- Name: x DROP") && terse.ends_with(b"Tablespace: f ast\n--\n\n"), "{}", terse.as_bstr());
    }
}
