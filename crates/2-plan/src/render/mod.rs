//! The SQL script pg_restore 18 writes with `-f` (pg_backup_archiver.c `RestoreArchive`, `_printTocEntry`): preamble,
//! `--clean` drops, the three restore passes with each entry's comment header, definition,
//! ownership and data, transaction batching, `\connect` for `--create`, and the footer —
//! byte for byte, from `RestoreArchive`, `restore_toc_entry`, `_printTocEntry` and their
//! helpers in pg_backup_archiver.c and pg_backup_db.c.
//!
//! Which entries and parts to print is `select`'s decision; quoting of the SQL composed here
//! is `sql`'s. This module drives a restore — its start and end, the passes, each entry's
//! parts (`restore_toc_entry`), `--transaction-size` batches, and for the engine alone a
//! table's data after a `TRUNCATE` in its own transaction (`COPY … FREEZE` where `freeze`
//! allows it), with which tables it created and loaded; the parts live beside it:
//! `session` (what the session is set to), `entry` (one entry's header, definition and
//! ownership), `data` (table data and large objects), `drops` (`--clean`), and `target`
//! (where the statements go: a script, or the engine's connection).

mod data;
mod drops;
mod entry;
mod session;
mod target;

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use bstr::{BStr, BString, ByteSlice};
use pgsurge_archive::{Archive, DumpId, Toc, TocEntry};

use crate::foreign_key::LaterValidation;
use crate::freeze;
use crate::local_time::{creation_time, format_time, now};
use crate::sanitize::sanitize;
use crate::options::RestoreOptions;
use crate::primary_key::IndexFirst;
use crate::select::{Pass, SelectError, Selection, Wanted};
use crate::sql::{self, NewlineInDbName};

pub use session::session_settings;
use session::Session;
pub use target::{Action, ScriptTarget, Target, INV_WRITE, LOBBUFSIZE};

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
            created: HashSet::new(),
            wrap_tables: HashSet::new(),
            wrap: HashSet::new(),
            wrapping: false,
            freeze_copy: false,
            validate_later: None,
            index_first: None,
            loaded: Vec::new(),
        }
    }

    /// Tables (TABLE dump ids) whose creation failed earlier, on another connection: under
    /// `--no-data-for-failed-tables` their data is skipped.
    pub fn with_failed_tables(mut self, failed: impl IntoIterator<Item = DumpId>) -> Self {
        self.failed_tables.extend(failed);
        self
    }

    /// Whether the target saw the last entry through without an error.
    pub fn target_succeeded(&mut self) -> Result<bool, RenderError> {
        self.target.entry_succeeded()
    }

    /// A table's data in one transaction after emptying the table, as pg_restore's parallel
    /// workers load tables created in the same run: a server at `wal_level=minimal` can
    /// then skip writing the rows to WAL, and the rows go in frozen where the table allows
    /// (see `freeze`; not under `--no-freeze`).
    pub fn truncate_and_restore(&mut self, te: &TocEntry, index: usize) -> Result<(), RenderError> {
        let wanted = self.sel.entry(index).map(|es| es.wanted).unwrap_or_default();
        self.wrapped(te, wanted)
    }

    /// TABLE DATA entries that a serial run ([`Renderer::run`]) loads as
    /// [`Renderer::truncate_and_restore`] does when it has created their table itself (see
    /// `freeze::serial_wraps`). The engine's alone: a script never wraps.
    pub fn wrapping(mut self, data: HashSet<DumpId>) -> Self {
        let toc = self.toc;
        self.wrap_tables = data.iter().filter_map(|&id| toc.get(id)).filter_map(|te| te.dependencies.first().copied()).collect();
        self.wrap = data;
        self
    }

    /// FK CONSTRAINT entries whose foreign keys the target may add `NOT VALID` and validate
    /// after, with the statements that do it (`Plan::validate_later`).
    pub fn validating_later(mut self, entries: &'a HashMap<DumpId, LaterValidation>) -> Self {
        self.validate_later = Some(entries);
        self
    }

    /// CONSTRAINT entries whose keys the target may build as a unique index first, with the
    /// statements that do it (`Plan::index_first`).
    pub fn building_index_first(mut self, entries: &'a HashMap<DumpId, IndexFirst>) -> Self {
        self.index_first = Some(entries);
        self
    }

    /// The TABLE DATA entries whose data this renderer sent without a failure, in the order
    /// loaded: the tables the ANALYZE stage may analyze.
    pub fn loaded_tables(&self) -> &[DumpId] {
        &self.loaded
    }

    /// A renderer for one parallel worker: every item commits on its own, so
    /// `--transaction-size` batching is the leader's alone.
    pub fn for_worker(mut self) -> Self {
        self.txn_size = 0;
        self
    }
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
    /// TABLE entries this renderer created without an error.
    created: HashSet<DumpId>,
    /// TABLE DATA entries to load after a TRUNCATE when their table is in `created`.
    wrap: HashSet<DumpId>,
    /// The tables of `wrap`: only their outcome is asked for, since a target may have to
    /// send what it holds back to answer (a restore's commit group).
    wrap_tables: HashSet<DumpId>,
    /// Inside [`Renderer::wrapped`]: the entry is not wrapped again.
    wrapping: bool,
    /// The next COPY asks for `FREEZE` (its table was just truncated in its transaction).
    freeze_copy: bool,
    /// FK CONSTRAINT entries given to the target as foreign keys to validate later (see
    /// `foreign_key`). The engine's alone: a script shows pg_dump's statements.
    validate_later: Option<&'a HashMap<DumpId, LaterValidation>>,
    /// CONSTRAINT entries given to the target as unique indexes to build first (see
    /// `primary_key`). The engine's alone, as `validate_later`.
    index_first: Option<&'a HashMap<DumpId, IndexFirst>>,
    /// TABLE DATA entries whose data went out without a failure.
    loaded: Vec<DumpId>,
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

    /// What the target holds back takes effect now (see [`Target::commit_held`]).
    pub fn commit_held(&mut self) -> Result<(), RenderError> {
        self.target.commit_held()
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

impl Renderer<'_> {

    /// `restore_toc_entry`.
    fn restore_entry(&mut self, te: &TocEntry, wanted: Wanted) -> Result<(), RenderError> {
        let table_created = te.dependencies.first().is_some_and(|t| self.created.contains(t));
        if wanted.data && !self.wrapping && table_created && self.wrap.contains(&te.dump_id) {
            return self.wrapped(te, wanted);
        }
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
        let mut loaded = false;
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
            if te.desc_is("TABLE") && self.opts.no_data_for_failed_tables && !self.target.entry_succeeded()? {
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
                    let frozen = copy.filter(|_| self.freeze_copy).and_then(freeze::frozen_copy);
                    self.stream_data(te, frozen.as_deref().or(copy))?;
                    self.enable_triggers(te)?;
                    loaded = te.desc_is("TABLE DATA");
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
        // Known only once everything the entry sent has been answered.
        // Asked only where it matters: a target may have to send what it holds back to answer
        // (a restore's commit group).
        let created = wanted.schema && self.wrap_tables.contains(&te.dump_id);
        if (created || loaded) && self.target.entry_succeeded()? {
            if created {
                self.created.insert(te.dump_id);
            }
            if loaded {
                self.loaded.push(te.dump_id);
            }
        }
        self.count_action()
    }

    /// The entry's data in a transaction that first empties its table: `BEGIN; TRUNCATE
    /// TABLE ONLY …; COPY … [FREEZE]; COMMIT`. Only for a table this run created, which
    /// nothing but this data fills.
    fn wrapped(&mut self, te: &TocEntry, wanted: Wanted) -> Result<(), RenderError> {
        self.target.entry(te, Action::Restore);
        self.cmd(b"BEGIN;\n")?;
        let truncate = [b"TRUNCATE TABLE ONLY ", sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice(), b";\n"].concat();
        self.cmd(&truncate)?;
        let toc = self.toc;
        self.freeze_copy = !self.opts.no_freeze && te.dependencies.first().and_then(|&t| toc.get(t)).is_some_and(freeze::may_freeze);
        self.wrapping = true;
        let restored = self.restore_entry(te, wanted);
        self.wrapping = false;
        self.freeze_copy = false;
        restored?;
        self.cmd(b"COMMIT;\n")?;
        if !self.target.entry_succeeded()? {
            // The data went out, and its transaction did not commit.
            self.loaded.retain(|&id| id != te.dump_id);
        }
        Ok(())
    }

    /// One more action in `--transaction-size` mode (`txnCount`): the batch commits and a new
    /// one begins once it holds that many.
    fn count_action(&mut self) -> Result<(), RenderError> {
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

}

#[cfg(test)]
fn test_entry(desc: &str, drop: &str) -> TocEntry {
    TocEntry { drop_stmt: Some(drop.into()), ..TocEntry::new(DumpId(1), desc, "x", pgsurge_archive::Section::PreData, vec![]) }
}
