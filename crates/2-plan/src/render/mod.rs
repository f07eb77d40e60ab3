//! The SQL script pg_restore 18 writes with `-f` (pg_backup_archiver.c `RestoreArchive`, `_printTocEntry`): preamble,
//! `--clean` drops, the three restore passes with each entry's comment header, definition,
//! ownership and data, transaction batching, `\connect` for `--create`, and the footer —
//! byte for byte, from `RestoreArchive`, `restore_toc_entry`, `_printTocEntry` and their
//! helpers in pg_backup_archiver.c and pg_backup_db.c.
//!
//! Which entries and parts to print is `select`'s decision; quoting of the SQL composed here
//! is `sql`'s. Table data and large objects are streamed from the archive through fixed
//! buffers, never held whole.

mod target;

use std::collections::HashSet;
use std::io::{self, Write};

use bstr::{BStr, BString, ByteSlice};
use pgsurge_archive::{Archive, DataLocation, DumpId, Format, Toc, TocEntry, K_VERS_1_12};

use crate::c_number::catalog_oid;
use crate::local_time::{creation_time, format_time, now};
use crate::sanitize::sanitize;
use crate::options::RestoreOptions;
use crate::select::{Pass, SelectError, Selection, Wanted};
use crate::sql::{self, NewlineInDbName};

pub use target::{Action, ScriptTarget, Target, INV_WRITE, LOBBUFSIZE};

/// Read buffer for streaming table data to the output.
const COPY_BUFFER: usize = 64 * 1024;

/// Why a script could not be written completely. What was written before the failure stays
/// written, as with pg_restore. Messages are pg_restore's text after `pg_restore: error: `
/// where pg_restore has one.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Reading the archive failed (e.g. data requested out of order from a one-pass input).
    /// Displays what went wrong, as pg_restore words it; where (entry, file, byte offset) is
    /// in the error itself, see [`RenderError::archive_error`]. Boxed: archive errors carry
    /// their location and are much larger than the rest.
    #[error("{}", .0.kind())]
    Archive(Box<pgsurge_archive::Error>),
    #[error("could not write to output file: {}", os_reason(.0))]
    Io(#[from] io::Error),
    /// An entry with an owner and a drop statement whose type pg_restore cannot describe in
    /// `ALTER … OWNER TO`.
    #[error("don't know how to set owner for object type \"{}\"", .0.as_bstr())]
    UnknownOwnerType(BString),
    /// A `LARGE OBJECTS` ACL whose BLOB METADATA entry (its first dependency) is missing.
    #[error("could not find entry for ID {0}")]
    MissingBlobMetadata(DumpId),
    #[error(transparent)]
    NewlineInDbName(#[from] NewlineInDbName),
    /// `--strict-names` failed; nothing is written in that case.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The target failed in a way that ends the restore (a lost connection, a failed
    /// `SET SESSION AUTHORIZATION`, …); already reported in the target's own words.
    #[error("{0}")]
    Target(Box<dyn std::error::Error + Send + Sync>),
}

impl RenderError {
    /// The archive error behind an `Archive` failure, with its location, for callers that
    /// report more than pg_restore's one line.
    pub fn archive_error(&self) -> Option<&pgsurge_archive::Error> {
        match self {
            RenderError::Archive(e) => Some(e),
            _ => None,
        }
    }
}

impl From<pgsurge_archive::Error> for RenderError {
    fn from(e: pgsurge_archive::Error) -> Self {
        RenderError::Archive(Box::new(e))
    }
}

/// The OS's reason text without Rust's " (os error N)" suffix, as C prints `%m`.
fn os_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Writes the script for `sel` to `out`. `warn` receives pg_restore's warnings (without the
/// `pg_restore: warning: ` prefix).
pub fn write_script(archive: &mut Archive, sel: &Selection, opts: &RestoreOptions, out: &mut dyn Write, warn: &mut dyn FnMut(String)) -> Result<(), RenderError> {
    write_script_logged(archive, sel, opts, out, warn, &mut |_| {})
}

/// [`write_script`], also passing the progress messages pg_restore prints under `-v`
/// (`creating TABLE "public.t"`, …, without the `pg_restore: ` prefix) to `info`.
pub fn write_script_logged(
    archive: &mut Archive,
    sel: &Selection,
    opts: &RestoreOptions,
    out: &mut dyn Write,
    warn: &mut dyn FnMut(String),
    info: &mut dyn FnMut(String),
) -> Result<(), RenderError> {
    if let Some(e) = sel.strict_names_error() {
        return Err(e.clone().into());
    }
    // The TOC is small (it is all metadata); a copy lets entries be read while the archive
    // is borrowed mutably for their data.
    let toc = archive.toc().clone();
    // A one-pass tar stream must know which members are still to come, to fail on an
    // out-of-order request the way pg_restore does.
    archive.expect_data(sel.data_ids(&toc));
    let mut target = ScriptTarget::new(out, toc.std_strings);
    Renderer::new(archive, &toc, sel, opts, &mut target, warn, info).run()
}

impl<'a> Renderer<'a> {
    /// A renderer of `sel` from `archive` (whose TOC `toc` is, or a copy of it) into
    /// `target`. `warn` receives pg_restore's warnings and `info` its `-v` progress lines,
    /// both without the program prefix.
    pub fn new(
        archive: &'a mut Archive,
        toc: &'a Toc,
        sel: &'a Selection,
        opts: &'a RestoreOptions,
        target: &'a mut dyn Target,
        warn: &'a mut dyn FnMut(String),
        info: &'a mut dyn FnMut(String),
    ) -> Self {
        Renderer {
            target,
            archive,
            toc,
            sel,
            opts,
            warn,
            info,
            session: Session::default(),
            txn_count: 0,
            txn_size: opts.transaction_size.unwrap_or(0),
            std_strings: toc.std_strings,
            failed_tables: HashSet::new(),
        }
    }

    /// Tables (TABLE dump ids) whose creation failed earlier, on another connection: under
    /// `--no-data-for-failed-tables` their data is skipped.
    pub fn with_failed_tables(mut self, failed: impl IntoIterator<Item = DumpId>) -> Self {
        self.failed_tables.extend(failed);
        self
    }

    /// Whether the target saw the last entry through without an error.
    pub fn target_succeeded(&self) -> bool {
        self.target.entry_succeeded()
    }

    /// A table's data in one transaction after emptying the table, as pg_restore's parallel
    /// workers load tables created in the same run: a server at `wal_level=minimal` can
    /// then skip writing the rows to WAL.
    pub fn truncate_and_restore(&mut self, te: &TocEntry, index: usize) -> Result<(), RenderError> {
        self.target.entry(te, Action::Restore);
        self.cmd(b"BEGIN;\n")?;
        let truncate = [b"TRUNCATE TABLE ONLY ", sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice(), b";\n"].concat();
        self.cmd(&truncate)?;
        self.restore_at(index)?;
        self.cmd(b"COMMIT;\n")
    }

    /// A renderer for one parallel worker: every item commits on its own, so
    /// `--transaction-size` batching is the leader's alone.
    pub fn for_worker(mut self) -> Self {
        self.txn_size = 0;
        self
    }
}

/// What the script's imaginary session has been told to be (pg_restore's `currUser`,
/// `currSchema`, `currTablespace`, `currTableAm`); `None` is unknown, so the next entry that
/// needs a value sets it. A `\connect` forgets everything.
#[derive(Debug, Default)]
struct Session {
    user: Option<BString>,
    schema: Option<BString>,
    tablespace: Option<BString>,
    table_am: Option<BString>,
}

pub struct Renderer<'a> {
    target: &'a mut dyn Target,
    archive: &'a mut Archive,
    toc: &'a Toc,
    sel: &'a Selection,
    opts: &'a RestoreOptions,
    warn: &'a mut dyn FnMut(String),
    info: &'a mut dyn FnMut(String),
    session: Session,
    /// Actions since the last `COMMIT` in `--transaction-size` mode (`txnCount`).
    txn_count: u32,
    /// `--transaction-size`, 0 when not given.
    txn_size: u32,
    /// The archive's standard_conforming_strings, which decides literal spelling.
    std_strings: bool,
    /// TABLE entries that failed under `--no-data-for-failed-tables`.
    failed_tables: HashSet<DumpId>,
}

impl Renderer<'_> {
    /// Script-only text.
    fn w(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        self.target.text(bytes)
    }

    /// A command, one Query for a server.
    fn cmd(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        self.target.command(sql)
    }

    fn info(&mut self, message: String) {
        (self.info)(message);
    }

    fn restrict_key(&self) -> Option<&[u8]> {
        Some(self.opts.restrict_key.as_bytes()).filter(|k| !k.is_empty())
    }

    /// `RestoreArchive` serially: [`Renderer::open`], the three passes, [`Renderer::close`].
    pub fn run(&mut self) -> Result<(), RenderError> {
        self.open()?;
        let (toc, sel) = (self.toc, self.sel);
        for pass in [Pass::Main, Pass::Acl, Pass::PostAcl] {
            for (index, es) in sel.in_order() {
                if es.wanted.any() && es.pass == pass {
                    self.restore_entry(&toc.entries[index], es.wanted)?;
                }
            }
        }
        self.close()
    }

    /// The start of a restore: header, session settings, `-1`'s `BEGIN`, `--clean` drops.
    pub fn open(&mut self) -> Result<(), RenderError> {
        if self.sel.implied_no_schema() {
            self.info("implied no-schema restore".into());
        }
        self.w(b"--\n-- PostgreSQL database dump\n--\n\n")?;
        if let Some(key) = self.restrict_key() {
            let line = [b"\\restrict ", key, b"\n\n"].concat();
            self.w(&line)?;
        }
        let header = self.archive.header().clone();
        // Version strings come from the archive: a line break in one must not end the
        // comment (pg_restore prints them as they are; pg_dump never writes one).
        if let Some(v) = &header.server_version {
            self.w(&[b"-- Dumped from database version ".as_slice(), &sanitize(Some(v.as_bstr()), false), b"\n"].concat())?;
        }
        if let Some(v) = &header.dump_version {
            self.w(&[b"-- Dumped by pg_dump version ".as_slice(), &sanitize(Some(v.as_bstr()), false), b"\n"].concat())?;
        }
        self.w(b"\n")?;
        if self.opts.verbose {
            self.timestamp("Started on", creation_time(&header.created))?;
        }
        if self.opts.single_transaction {
            self.cmd(b"BEGIN;\n")?;
            self.w(b"\n")?;
        }
        self.fixed_state()?;

        if self.opts.clean {
            self.drops()?;
        }
        Ok(())
    }

    /// Restores the entry at `index` of the TOC, whatever parts of it are wanted.
    pub fn restore_at(&mut self, index: usize) -> Result<(), RenderError> {
        let toc = self.toc;
        let (Some(te), Some(es)) = (toc.entries.get(index), self.sel.entry(index)) else { return Ok(()) };
        if es.wanted.any() {
            self.restore_entry(te, es.wanted)?;
        }
        Ok(())
    }

    /// Commits an open `--transaction-size` batch (before a parallel phase hands over).
    pub fn commit_batch(&mut self) -> Result<(), RenderError> {
        if self.txn_size > 0 {
            self.cmd(b"COMMIT;\n")?;
            self.w(b"\n")?;
            self.txn_size = 0;
        }
        Ok(())
    }

    /// The session's settings are unknown again (a new connection).
    pub fn forget_session(&mut self) {
        self.session = Session::default();
    }

    /// The end of a restore: the final `COMMIT` of `-1` / `--transaction-size`, the footer.
    pub fn close(&mut self) -> Result<(), RenderError> {
        if self.opts.single_transaction || self.txn_size > 0 {
            self.cmd(b"COMMIT;\n")?;
            self.w(b"\n")?;
        }
        if self.opts.verbose {
            self.timestamp("Completed on", now())?;
        }
        self.w(b"--\n-- PostgreSQL database dump complete\n--\n\n")?;
        if let Some(key) = self.restrict_key() {
            let line = [b"\\unrestrict ", key, b"\n\n"].concat();
            self.w(&line)?;
        }
        Ok(())
    }

    /// `dumpTimestamp`: nothing at all when the time cannot be formatted.
    fn timestamp(&mut self, what: &str, when: libc::time_t) -> Result<(), RenderError> {
        let text = format_time(when);
        if text == "[unknown]" {
            return Ok(());
        }
        self.w(format!("-- {what} {text}\n\n").as_bytes())
    }

    /// `_doSetFixedOutputState`: the session settings every connection starts with.
    fn fixed_state(&mut self) -> Result<(), RenderError> {
        let s = session_settings(self.opts, self.toc, None).concat();
        self.target.preamble(&s)?;
        if self.txn_size > 0 {
            self.cmd(b"\nBEGIN;\n")?;
            self.txn_count = 0;
        }
        self.w(b"\n")
    }
}

/// The session settings pg_restore starts every session with (`_doSetFixedOutputState`), one
/// command each. `server_version` (`server_version_num`) is the server's when known:
/// `transaction_timeout` exists only from 17 on, and an older server would fail on it.
pub fn session_settings(opts: &RestoreOptions, toc: &Toc, server_version: Option<u32>) -> Vec<Vec<u8>> {
    let std_strings = toc.std_strings;
    let mut v: Vec<Vec<u8>> = vec![b"SET statement_timeout = 0;\n".to_vec(), b"SET lock_timeout = 0;\n".to_vec(), b"SET idle_in_transaction_session_timeout = 0;\n".to_vec()];
    if server_version.is_none_or(|v| v >= 170_000) {
        v.push(b"SET transaction_timeout = 0;\n".to_vec());
    }
    v.push([b"SET client_encoding = '", canonical_encoding(&toc.encoding), b"';\n"].concat());
    v.push(if std_strings { b"SET standard_conforming_strings = on;\n".to_vec() } else { b"SET standard_conforming_strings = off;\n".to_vec() });
    if let Some(role) = &opts.role {
        v.push([b"SET ROLE ", sql::quote_ident(role).as_ref(), b";\n"].concat());
    }
    if let Some(path) = &toc.search_path {
        v.push(path.to_vec());
    }
    v.push(b"SET check_function_bodies = false;\n".to_vec());
    v.push(b"SET xmloption = content;\n".to_vec());
    v.push(b"SET client_min_messages = warning;\n".to_vec());
    if !std_strings {
        v.push(b"SET escape_string_warning = off;\n".to_vec());
    }
    v.push(if opts.enable_row_security { b"SET row_security = on;\n".to_vec() } else { b"SET row_security = off;\n".to_vec() });
    v
}

impl Renderer<'_> {
    /// The `--clean` phase: drop statements in reverse restore order (only the database itself
    /// under `--create`, since the script is still connected elsewhere).
    fn drops(&mut self) -> Result<(), RenderError> {
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

    /// `restore_toc_entry`.
    fn restore_entry(&mut self, te: &TocEntry, wanted: Wanted) -> Result<(), RenderError> {
        self.target.entry(te, Action::Restore);
        if te.desc_is("WARNING") {
            let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
            let copy = te.copy_stmt.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
            let text = if self.sel.restores_schema() && !defn.is_empty() { defn } else { copy };
            if !text.is_empty() {
                let text = text.strip_suffix(b"\n").unwrap_or(text);
                (self.warn)(format!("warning from original dump file: {}", text.as_bstr()));
            }
        }
        let mut defn_dumped = false;
        if wanted.schema {
            let is_db = te.desc_is("DATABASE") || te.desc_is("DATABASE PROPERTIES");
            // CREATE/ALTER DATABASE cannot run inside a transaction block.
            if is_db && self.txn_size > 0 {
                self.cmd(b"COMMIT;\n")?;
                self.w(b"\n")?;
            }
            match &te.namespace {
                Some(ns) => self.info(format!("creating {} \"{}.{}\"", te.desc, ns, te.tag)),
                None => self.info(format!("creating {} \"{}\"", te.desc, te.tag)),
            }
            self.print_entry(te, "")?;
            defn_dumped = true;
            if te.desc_is("TABLE") && self.opts.no_data_for_failed_tables && !self.target.entry_succeeded() {
                self.info(format!("table \"{}\" could not be created, will not restore its data", te.tag));
                self.failed_tables.insert(te.dump_id);
            }
            if is_db {
                self.info(format!("connecting to new database \"{}\"", te.tag));
                self.reconnect(&te.tag)?;
            }
        }
        let table_failed = te.desc_is("TABLE DATA") && te.dependencies.first().is_some_and(|t| self.failed_tables.contains(t));
        if wanted.data && !table_failed {
            if te.had_dumper {
                self.print_entry(te, "Data for ")?;
                if te.desc_is("BLOBS") || te.desc_is("BLOB COMMENTS") {
                    self.info(format!("processing {}", te.desc));
                    self.select_schema(Some(b"pg_catalog"))?;
                    if te.desc_is("BLOBS") {
                        self.large_objects(te)?;
                    } else {
                        self.stream_data(te, None)?;
                    }
                } else {
                    self.disable_triggers(te)?;
                    self.become_owner(te)?;
                    self.select_schema(te.namespace.as_deref().map(|n| n.as_bytes()))?;
                    self.info(format!("processing data for table \"{}.{}\"", te.namespace.as_deref().map_or(BStr::new("(null)"), |n| n.as_bstr()), te.tag));
                    let copy = te.copy_stmt.as_deref().filter(|c| !c.is_empty()).map(|c| c.as_bytes());
                    self.stream_data(te, copy)?;
                    self.enable_triggers(te)?;
                }
            } else if !defn_dumped {
                self.info(format!("executing {} {}", te.desc, te.tag));
                self.print_entry(te, "")?;
            }
        }
        if wanted.stats {
            self.print_entry(te, "Statistics for ")?;
        }
        self.target.flush()?;
        if self.txn_size > 0 {
            self.txn_count += 1;
            if self.txn_count >= self.txn_size {
                self.cmd(b"COMMIT;\n")?;
                self.cmd(b"BEGIN;\n")?;
                self.w(b"\n")?;
                self.txn_count = 0;
            }
        }
        Ok(())
    }

    /// `_printTocEntry`: session settings the entry needs, its comment header, its
    /// definition, its ownership.
    fn print_entry(&mut self, te: &TocEntry, prefix: &str) -> Result<(), RenderError> {
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
            self.cmd(&[defn, b"\n\n"].concat())?;
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
    fn per_blob(&mut self, te: &TocEntry, begin: &[u8], end: &[u8]) -> Result<(), RenderError> {
        let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
        let defn = defn.find_byte(0).map_or(defn, |i| &defn[..i]);
        // Only complete lines count; text after the last newline is ignored.
        for line in defn.split_inclusive(|&b| b == b'\n').filter(|l| l.ends_with(b"\n")) {
            let oid = &line[..line.len() - 1];
            let stmt = [begin, oid, end, b";\n"].concat();
            self.target.batched_command(&stmt)?;
            if self.txn_size > 0 {
                self.txn_count += 1;
                if self.txn_count >= self.txn_size {
                    self.cmd(b"COMMIT;\n")?;
                    self.cmd(b"BEGIN;\n")?;
                    self.w(b"\n")?;
                    self.txn_count = 0;
                }
            }
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

    /// `_reconnectToDB` in script mode: leave restricted mode for the `\connect`, then start
    /// the new session's preamble.
    fn reconnect(&mut self, dbname: &[u8]) -> Result<(), RenderError> {
        let connect = sql::psql_connect(dbname)?;
        let mut script = Vec::new();
        let key = self.restrict_key().map(<[u8]>::to_vec);
        if let Some(key) = &key {
            script.extend_from_slice(&[b"\\unrestrict ", key.as_slice(), b"\n"].concat());
        }
        script.extend_from_slice(&connect);
        if let Some(key) = &key {
            script.extend_from_slice(&[b"\\restrict ", key.as_slice(), b"\n\n"].concat());
        }
        self.target.connect(dbname, &script)?;
        self.session = Session::default();
        self.fixed_state()?;
        Ok(())
    }

    /// `_becomeUser`: `SET SESSION AUTHORIZATION` when the session is someone else (an empty
    /// or missing user means the connection's own, `DEFAULT`).
    fn become_user(&mut self, user: Option<&[u8]>) -> Result<(), RenderError> {
        let user = user.unwrap_or_default();
        if self.session.user.as_deref().is_some_and(|u| u.as_bytes() == user) {
            return Ok(());
        }
        let mut stmt = b"SET SESSION AUTHORIZATION ".to_vec();
        if user.is_empty() {
            stmt.extend_from_slice(b"DEFAULT");
        } else {
            stmt.extend_from_slice(&sql::string_literal(user, self.std_strings));
        }
        stmt.extend_from_slice(b";\n\n");
        self.cmd(&stmt)?;
        self.session.user = Some(user.into());
        Ok(())
    }

    /// `_becomeOwner`: only under `--use-set-session-authorization` (and not `-O`).
    fn become_owner(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        if self.opts.no_owner || !self.opts.use_set_session_authorization {
            return Ok(());
        }
        self.become_user(te.owner.as_deref().map(|o| o.as_bytes()))
    }

    /// `_selectOutputSchema`: only archives without a SEARCHPATH entry (pg_dump before 2018)
    /// switch `search_path` per object.
    fn select_schema(&mut self, schema: Option<&[u8]>) -> Result<(), RenderError> {
        if self.toc.search_path.is_some() {
            return Ok(());
        }
        let Some(schema) = schema.filter(|s| !s.is_empty()) else { return Ok(()) };
        if self.session.schema.as_deref().is_some_and(|s| s.as_bytes() == schema) {
            return Ok(());
        }
        let mut stmt = b"SET search_path = ".to_vec();
        stmt.extend_from_slice(&sql::quote_ident(schema));
        if schema != b"pg_catalog" {
            stmt.extend_from_slice(b", pg_catalog");
        }
        stmt.extend_from_slice(b";\n\n");
        self.target.setting(&stmt, &format!("could not set \"search_path\" to \"{}\"", schema.as_bstr()))?;
        self.session.schema = Some(schema.into());
        Ok(())
    }

    /// `_selectTablespace`: `""` means the database default.
    fn select_tablespace(&mut self, tablespace: Option<&[u8]>) -> Result<(), RenderError> {
        if self.opts.no_tablespaces {
            return Ok(());
        }
        let Some(want) = tablespace else { return Ok(()) };
        if self.session.tablespace.as_deref().is_some_and(|t| t.as_bytes() == want) {
            return Ok(());
        }
        let stmt = if want.is_empty() {
            b"SET default_tablespace = '';\n\n".to_vec()
        } else {
            [b"SET default_tablespace = ", sql::quote_ident(want).as_ref(), b";\n\n"].concat()
        };
        self.target.setting(&stmt, &format!("could not set \"default_tablespace\" to {}", sql::quote_ident(want).as_bstr()))?;
        self.session.tablespace = Some(want.into());
        Ok(())
    }

    /// `_selectTableAccessMethod`.
    fn select_table_am(&mut self, am: Option<&[u8]>) -> Result<(), RenderError> {
        if self.opts.no_table_access_method {
            return Ok(());
        }
        let Some(want) = am else { return Ok(()) };
        if self.session.table_am.as_deref().is_some_and(|t| t.as_bytes() == want) {
            return Ok(());
        }
        let stmt = [b"SET default_table_access_method = ", sql::quote_ident(want).as_ref(), b";\n\n"].concat();
        self.target.setting(&stmt, "could not set \"default_table_access_method\"")?;
        self.session.table_am = Some(want.into());
        Ok(())
    }

    /// `_disableTriggersIfNecessary`: only in a data-only restore with `--disable-triggers`,
    /// as the `-S` superuser (or the session's own user).
    fn disable_triggers(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        self.toggle_triggers(te, "disabling", b" DISABLE TRIGGER ALL;\n\n")
    }

    fn enable_triggers(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        self.toggle_triggers(te, "enabling", b" ENABLE TRIGGER ALL;\n\n")
    }

    fn toggle_triggers(&mut self, te: &TocEntry, verb: &str, action: &[u8]) -> Result<(), RenderError> {
        if self.sel.restores_schema() || !self.opts.disable_triggers {
            return Ok(());
        }
        self.info(format!("{verb} triggers for {}", te.tag));
        let superuser = self.opts.superuser.clone();
        self.become_user(superuser.as_deref().map(|s| s.as_bytes()))?;
        let stmt = [b"ALTER TABLE ", sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice(), action].concat();
        self.cmd(&stmt)
    }

    /// Streams an entry's decompressed data to the target unchanged (COPY rows with their
    /// `\\.` terminator, or SQL), after its COPY statement when it has one.
    fn stream_data(&mut self, te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError> {
        if !te.has_data() {
            // Nothing to feed a COPY with: a script still shows the statement.
            if let Some(copy) = copy {
                self.w(copy)?;
            }
            return Ok(());
        }
        // The statement goes out before the data is looked for, as pg_restore does: a one-pass
        // input that has already passed the data fails after the script shows the COPY.
        self.target.data_start(te, copy)?;
        let mut reader = self.archive.table_data(te.dump_id)?;
        let mut buf = vec![0u8; COPY_BUFFER];
        loop {
            let n = reader.read_data(&mut buf)?;
            if n == 0 {
                break;
            }
            self.target.data(&buf[..n])?;
            if let Some(read) = reader.archive_read() {
                self.target.data_read(read);
            }
        }
        self.target.data_end()?;
        if self.target.session_lost() {
            self.session = Session::default();
        }
        Ok(())
    }

    /// A BLOBS entry's large objects (pg_backup_archiver.c `StartRestoreLO`), in a transaction of their own
    /// unless the whole restore is one (`-1`, `--transaction-size`).
    fn large_objects(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        if !te.has_data() {
            return Ok(());
        }
        let own_transaction = !(self.opts.single_transaction || self.txn_size > 0);
        let old_style = self.archive.header().version < K_VERS_1_12;
        // The tar reader announces the transaction before it looks for the first member;
        // the others find their data first.
        let tar = self.archive.format() == Format::Tar;
        if tar && own_transaction {
            self.cmd(b"BEGIN;\n")?;
            self.w(b"\n")?;
        }
        let mut los = self.archive.large_objects(te.dump_id)?;
        if !tar && own_transaction {
            self.target.command(b"BEGIN;\n")?;
            self.target.text(b"\n")?;
        }
        let mut count = 0usize;
        let mut read_buf = vec![0u8; LOBBUFSIZE];
        while let Some(mut lo) = los.next_object()? {
            count += 1;
            (self.info)(format!("restoring large object with OID {}", lo.oid));
            self.target.lo_start(lo.oid, old_style, self.opts.clean)?;
            loop {
                let n = lo.data.read_data(&mut read_buf)?;
                if n == 0 {
                    break;
                }
                self.target.lo_data(&read_buf[..n])?;
            }
            self.target.lo_end()?;
        }
        drop(los);
        if own_transaction {
            self.cmd(b"COMMIT;\n")?;
            self.w(b"\n")?;
        }
        let noun = if count == 1 { "large object" } else { "large objects" };
        self.info(format!("restored {count} {noun}"));
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

/// `pg_encoding_to_char(pg_char_to_encoding(name))`: the server's spelling of an encoding
/// name, matched ignoring case and punctuation as PostgreSQL does; unknown names as given.
fn canonical_encoding(name: &[u8]) -> &[u8] {
    const NAMES: &[&str] = &[
        "SQL_ASCII", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "UTF8", "MULE_INTERNAL", "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7",
        "LATIN8", "LATIN9", "LATIN10", "WIN1256", "WIN1258", "WIN866", "WIN874", "KOI8R", "WIN1251", "WIN1252", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8",
        "WIN1250", "WIN1253", "WIN1254", "WIN1255", "WIN1257", "KOI8U", "SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "SHIFT_JIS_2004",
    ];
    let clean = |s: &[u8]| -> Vec<u8> { s.iter().filter(|b| b.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect() };
    let wanted = clean(name);
    NAMES.iter().find(|n| clean(n.as_bytes()) == wanted).map_or(name, |n| n.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pgsurge_archive::Section;

    fn entry(desc: &str, drop: &str) -> TocEntry {
        TocEntry { drop_stmt: Some(drop.into()), ..TocEntry::new(DumpId(1), desc, "x", Section::PreData, vec![]) }
    }

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

    #[test]
    fn encodings() {
        assert_eq!(canonical_encoding(b"UTF8"), b"UTF8");
        assert_eq!(canonical_encoding(b"utf-8"), b"UTF8");
        assert_eq!(canonical_encoding(b"latin1"), b"LATIN1");
        assert_eq!(canonical_encoding(b"iso_8859_5"), b"ISO_8859_5");
        assert_eq!(canonical_encoding(b"nonsense"), b"nonsense");
    }
}
