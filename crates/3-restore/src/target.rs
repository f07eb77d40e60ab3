//! A worker's [`Session`] — its connection, table data, large objects and report — and the
//! adapter that makes it the renderer's [`Target`]. The renderer only turns an entry into
//! statements; this is the one place the engine hears from it, and where the engine's
//! errors become the renderer's. Each call is handed to the part whose job it is:
//! `connection` (commands, settings, `--create`'s move), `copy` (COPY data, split loads),
//! `inserts` (SQL data), `large_objects`, `group` (schema entries committed many at once),
//! `progress` (what the reporter hears), and `failure` (what a failure does).

use std::borrow::Cow;
use std::time::Instant;

use pgsurge_archive::{DumpId, Oid, Toc, TocEntry};
use pgsurge_plan::foreign_key::LaterValidation;
use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::primary_key::IndexFirst;
use pgsurge_plan::render::{session_settings, Action, RenderError, Target};
use tokio::runtime::Runtime;

use super::connection::Connection;
use super::copy::TableCopy;
use super::encoding::Encoding;
use super::failure::SessionError;
use super::group::Group;
use super::inserts::InsertData;
use super::large_objects::LargeObjects;
use super::progress::Progress;
use super::split::{SplitBoard, SplitCopy};
use super::{Connector, EngineError, EngineEvent, PartRecord};

/// One connection's work on a restore: the leader's, or a parallel worker's.
pub struct Session<'e> {
    conn: Connection<'e>,
    copy: TableCopy<'e>,
    /// The entry's SQL data (`--inserts` dumps), while it is being run.
    inserts: Option<InsertData>,
    lo: LargeObjects,
    progress: Progress<'e>,
    /// The archive's standard_conforming_strings, for cutting SQL data into statements.
    std_strings: bool,
    /// Schema entries held to be committed many at once (a parallel worker's: its items);
    /// `None` when each command commits on its own (`--no-group-commit`) or the
    /// renderer runs the transactions (`-1`, `--transaction-size`).
    group: Option<Group>,
    /// Hears of each entry once it is committed: its dump id, whether it was a `--clean`
    /// drop, and its failures (none: it succeeded).
    on_commit: Option<&'e dyn Fn(DumpId, bool, u64)>,
}

impl From<SessionError> for RenderError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Stopped(s) => RenderError::Target(Box::new(s)),
            SessionError::Fatal(message) => RenderError::Target(message.into()),
            SessionError::Connect(e) => RenderError::Target(e),
        }
    }
}

impl<'e> Session<'e> {
    /// Connects (to `dbname`, or the database the user named) and applies the session
    /// settings pg_restore starts every connection with.
    pub fn connect(
        rt: &'e Runtime,
        connector: &'e dyn Connector,
        dbname: Option<&str>,
        opts: &'e RestoreOptions,
        toc: &'e Toc,
        events: &'e (dyn Fn(EngineEvent) + Sync),
    ) -> Result<Session<'e>, EngineError> {
        let settings = Box::new(move |version| session_settings(opts, toc, Some(version)));
        let mut conn = Connection::open(rt, connector, dbname, opts, Encoding::for_archive(&toc.encoding), settings, events).map_err(EngineError::Connect)?;
        conn.setup().map_err(|e| EngineError::Session(e.to_string()))?;
        let grouped = !(opts.no_group_commit || opts.single_transaction || opts.transaction_size.is_some());
        Ok(Session {
            conn,
            copy: TableCopy::new(),
            inserts: None,
            lo: LargeObjects::default(),
            progress: Progress::new(events),
            std_strings: toc.std_strings,
            group: grouped.then(Group::new),
            on_commit: None,
        })
    }

    /// This session is worker `n` of the parallel phase (0: the leader), for reports. The
    /// failures of its connection's settings do not count, as with pg_restore's workers.
    pub fn become_worker(&mut self, n: usize) {
        self.progress.worker = n;
        self.conn.failures.forgive_all();
    }

    /// `on_commit` hears of every entry once it is committed (see the field).
    pub fn on_commit(&mut self, on_commit: &'e dyn Fn(DumpId, bool, u64)) {
        self.on_commit = Some(on_commit);
    }

    /// Ends what is in progress: the held entries are committed, and the entry in progress is
    /// reported finished. Before the work ends, and before anyone may count on what was sent.
    pub fn finish(&mut self) -> Result<(), SessionError> {
        let committed = self.commit_group();
        // An entry the restore stopped at is reported, but nobody may count on it.
        self.finish_entry(committed.is_ok());
        committed
    }

    /// Reports the entry in progress as finished (the next one starts, or the work ends);
    /// `on_commit` hears of it if `announce`. Returns its failures (none if no entry was in
    /// progress).
    fn finish_entry(&mut self, announce: bool) -> u64 {
        self.conn.show_notices();
        let failures = self.conn.failures.entry_errors();
        self.conn.failures.end_entry();
        if let (Some((id, dropped)), Some(on_commit)) = (self.progress.finish(self.conn.failures.errors()), self.on_commit.filter(|_| announce)) {
            on_commit(id, dropped, failures);
        }
        failures
    }

    /// A parallel worker's item, `dump_id`'s entry, has been given: `None` if it stays held
    /// in the group, to be committed with the items after it (`on_commit` hears of it then);
    /// else it is committed and finished now, and the answer is its entry's failures. Either
    /// way the scheduler may hand out what waits for the item only once it has committed.
    pub fn end_worker_item(&mut self, dump_id: DumpId) -> Result<Option<u64>, SessionError> {
        if let Some(group) = self.group.as_mut().filter(|g| g.last_is(dump_id)) {
            group.end_entry();
            if group.full() {
                self.commit_group()?;
            }
            return Ok(None);
        }
        self.commit_group()?;
        Ok(Some(self.finish_entry(true)))
    }

    /// When the entries held are due to be committed at the latest; `None` when none are.
    pub fn held_until(&self) -> Option<std::time::Instant> {
        self.group.as_ref().and_then(Group::due)
    }

    /// Commits the held entries, if any (see `group`).
    fn commit_group(&mut self) -> Result<(), SessionError> {
        let Some(group) = self.group.as_mut().filter(|g| !g.is_empty()) else { return Ok(()) };
        let on_commit = self.on_commit;
        let mut committed = |id, dropped, failures| {
            if let Some(f) = on_commit {
                f(id, dropped, failures);
            }
        };
        group.commit(&mut self.conn, &mut self.progress, &mut committed)
    }

    /// Holds `sql` in the group if an entry is being held and the command may wait there;
    /// `false` when it must run now.
    fn hold(&mut self, sql: &[u8], setting: Option<&str>) -> bool {
        match self.group.as_mut() {
            Some(group) if group.holding() => group.hold_command(&self.conn, sql, setting, self.std_strings),
            _ => false,
        }
    }

    /// Failures counted so far.
    pub fn errors(&self) -> u64 {
        self.conn.failures.errors()
    }

    pub fn large_objects(&self) -> u64 {
        self.lo.count
    }

    /// Rows and bytes of data sent, for the summary.
    pub fn rows(&self) -> u64 {
        self.progress.rows
    }

    pub fn data_bytes(&self) -> u64 {
        self.progress.data_bytes
    }

    /// `server_version_num` of the server.
    pub fn server_version(&self) -> u32 {
        self.conn.server_version
    }

    /// Tables, views, sequences and foreign tables outside the system schemas; `None` when
    /// the question itself failed.
    pub fn user_relations(&mut self) -> Option<u64> {
        self.conn.user_relations()
    }

    pub fn emit(&self, event: EngineEvent) {
        self.conn.emit(event);
    }

    /// Offers tables to idle workers through `board` (the parallel phase).
    pub fn set_board(&mut self, board: &'e dyn SplitBoard) {
        self.copy.set_board(board);
    }

    /// Loads the next table data with help from idle workers, invited once it has produced
    /// `post_after` bytes of COPY text; `None` for one connection.
    pub fn offer_split(&mut self, post_after: Option<u64>) {
        self.copy.split_next = post_after;
    }

    /// Whether the last table data was a split load that rolled back and must be loaded
    /// again (on this connection alone); asking forgets it.
    pub fn take_split_failed(&mut self) -> bool {
        self.copy.take_split_failed()
    }

    /// A split load failed and cannot be loaded again: its first part's failure is the
    /// table's.
    pub fn split_failure_stands(&mut self, table: &str) -> Result<(), RenderError> {
        Ok(self.copy.split_failure_stands(&mut self.conn, table)?)
    }

    /// Loads a part of a table another worker is loading.
    /// Loads a part of `split`, the data of the table `label` names, and reports the part
    /// for the timeline.
    pub fn help(&mut self, split: &SplitCopy, label: String) -> Result<(), RenderError> {
        self.flush_all()?;
        let started = Instant::now();
        let part = TableCopy::help(&mut self.conn, split)?;
        self.conn.emit(EngineEvent::PartFinished(PartRecord {
            worker: self.progress.worker,
            dump_id: split.dump_id,
            label,
            started,
            elapsed: started.elapsed(),
            rows: part.rows,
            bytes: part.bytes,
        }));
        Ok(())
    }

    /// The connection itself, everything held back sent first: for statements that belong
    /// to no entry and whose failures are no entry's (the ANALYZE stage).
    pub(crate) fn connection(&mut self) -> Result<&mut Connection<'e>, SessionError> {
        self.flush_all()?;
        Ok(&mut self.conn)
    }

    /// Runs `steps` in place of pg_dump's `sql`, alone and each committed on its own, so that
    /// the first step's locks are let go before the second (see `foreign_key` and
    /// `primary_key`). Neither step's failure is reported: if either fails, `undo` takes back
    /// what the first did, and `sql` itself runs — failing, or not, as pg_restore's would,
    /// with its error and its command.
    fn instead_of(&mut self, sql: &[u8], steps: [&[u8]; 2], undo: &[u8]) -> Result<(), RenderError> {
        self.flush_all()?;
        let decoded: Option<Vec<String>> = [steps[0], steps[1], undo].into_iter().map(|t| self.conn.encoding().decode(t).ok().map(|c| c.into_owned())).collect();
        if let Some([first, then, undo]) = decoded.as_deref() {
            if self.conn.pipeline(&[Cow::Borrowed(first.as_str())])? {
                if self.conn.pipeline(&[Cow::Borrowed(then.as_str())])? {
                    self.conn.show_notices();
                    return Ok(());
                }
                self.conn.pipeline(&[Cow::Borrowed(undo.as_str())])?;
            }
            self.conn.discard_notices();
        }
        Ok(self.conn.command(sql)?)
    }

    /// Everything held back goes out before anything else is sent.
    fn flush_all(&mut self) -> Result<(), SessionError> {
        self.commit_group()?;
        self.conn.flush_batch()?;
        self.lo.flush(&mut self.conn)
    }
}

impl Target for Session<'_> {
    fn text(&mut self, _text: &[u8]) -> Result<(), RenderError> {
        Ok(())
    }

    fn command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        if self.hold(sql, None) {
            return Ok(());
        }
        self.flush_all()?;
        Ok(self.conn.command(sql)?)
    }

    fn setting(&mut self, sql: &[u8], failure: &str) -> Result<(), RenderError> {
        if self.hold(sql, Some(failure)) {
            return Ok(());
        }
        self.flush_all()?;
        Ok(self.conn.setting(sql, failure)?)
    }

    fn foreign_key(&mut self, sql: &[u8], later: &LaterValidation) -> Result<(), RenderError> {
        self.instead_of(sql, [&later.add, &later.validate], &later.drop)
    }

    fn unique_index_first(&mut self, sql: &[u8], first: &IndexFirst) -> Result<(), RenderError> {
        self.instead_of(sql, [&first.build, &first.attach], &first.drop)
    }

    fn batched_command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        if self.hold(sql, None) {
            return Ok(());
        }
        if !self.conn.failures.may_batch() {
            return self.command(sql);
        }
        self.lo.flush(&mut self.conn)?;
        Ok(self.conn.batch(sql)?)
    }

    fn flush(&mut self) -> Result<(), RenderError> {
        match self.group.as_mut() {
            // The entry stays held; the group goes once it is full.
            Some(group) if group.holding() => {
                group.end_entry();
                if group.full() {
                    self.commit_group()?;
                }
                Ok(())
            }
            _ => Ok(self.flush_all()?),
        }
    }

    fn commit_held(&mut self) -> Result<(), RenderError> {
        Ok(self.commit_group()?)
    }

    fn preamble(&mut self, _sql: &[u8]) -> Result<(), RenderError> {
        Ok(())
    }

    fn connect(&mut self, dbname: &[u8], _script: &[u8]) -> Result<(), RenderError> {
        self.flush_all()?;
        Ok(self.conn.move_to(dbname)?)
    }

    fn entry(&mut self, te: &TocEntry, action: Action) {
        let dropped = action == Action::Drop;
        if self.progress.is_current(te.dump_id, dropped) || self.group.as_ref().is_some_and(|g| g.is_current(te.dump_id, dropped)) {
            // The same entry again (a worker's TRUNCATE wrapping): one item.
            return;
        }
        self.finish_entry(true);
        let owner = te.owner.as_ref().map(|o| o.to_string()).unwrap_or_default();
        let line = format!("from TOC entry {}; {} {} {} {} {}", te.dump_id, te.table_oid, te.oid, te.desc, te.tag, owner);
        if let Some(group) = self.group.as_mut() {
            if group.takes_entries() {
                group.hold_entry(te, dropped, line);
                return;
            }
            group.entry_alone();
        }
        self.progress.begin(te, dropped, self.conn.failures.errors());
        self.conn.failures.begin_entry(te.dump_id, line);
    }

    fn entry_succeeded(&mut self) -> Result<bool, RenderError> {
        // Known once its commands have run.
        self.commit_group()?;
        Ok(self.conn.failures.entry_succeeded())
    }

    fn session_lost(&mut self) -> bool {
        self.conn.take_lost()
    }

    fn data_start(&mut self, te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError> {
        self.flush_all()?;
        self.progress.read(0);
        self.inserts = None;
        let split = self.copy.split_next.take();
        match copy {
            Some(copy) => Ok(self.copy.start(&mut self.conn, &self.progress, copy, te, split)?),
            None => {
                self.inserts = Some(InsertData::new(te, self.std_strings));
                Ok(())
            }
        }
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        self.progress.data_bytes += bytes.len() as u64;
        let done = match &mut self.inserts {
            Some(inserts) => inserts.data(&mut self.conn, bytes),
            None => {
                // COPY text escapes newlines inside values, so every newline ends a row.
                // memchr counts them with SIMD: a byte loop here was a tenth of the client's CPU.
                self.progress.copy_lines += memchr::memchr_iter(b'\n', bytes).count() as u64;
                self.copy.data(&mut self.conn, &self.progress, bytes)
            }
        };
        Ok(done?)
    }

    fn data_read(&mut self, archive_bytes: u64) {
        self.progress.read(archive_bytes);
    }

    fn data_end(&mut self) -> Result<(), RenderError> {
        let done = match self.inserts.take() {
            Some(inserts) => inserts.end(&mut self.conn),
            None => self.copy.end(&mut self.conn, &mut self.progress),
        };
        Ok(done?)
    }

    fn lo_start(&mut self, oid: Oid, create: bool, unlink_first: bool) -> Result<(), RenderError> {
        Ok(self.lo.start(&mut self.conn, oid, create, unlink_first)?)
    }

    fn lo_data(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        Ok(self.lo.data(&mut self.conn, &mut self.progress, bytes)?)
    }

    fn lo_end(&mut self) -> Result<(), RenderError> {
        self.lo.end();
        Ok(())
    }
}
