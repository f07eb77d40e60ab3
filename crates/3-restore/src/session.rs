//! One connection to the server as a render [`Target`]: commands become simple Queries, table
//! data goes through `COPY … FROM STDIN`, large objects through `lo_open`/`lowrite`, and
//! `--create`'s `\connect` becomes a new connection. Failed statements are reported and
//! counted as pg_restore counts them (RESTORE_SEMANTICS.md §10); what ends a restore comes
//! back as an error.
//!
//! A session is synchronous to the renderer: it owns a current-thread tokio runtime and
//! blocks on each exchange. Parallelism comes from one session per worker thread, so the
//! renderer and the archive readers stay plain synchronous code.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bstr::{BStr, ByteSlice};
use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use pgsurge_archive::{DumpId, Oid, Toc, TocEntry};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, CopyInSink, Statement};

use super::server_error::{notice_message, server_message, server_message_in};
use super::split::{Cut, PartError, RowCutter, SplitBoard, SplitCopy};
use super::{Connector, EngineEvent, Failure, ItemRecord, Stopped};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::render::{session_settings, RenderError, Target};

/// Bytes of COPY data gathered before they are sent: fewer, larger CopyData messages.
const COPY_SEND: usize = 256 * 1024;

/// Where table data is going.
enum DataState {
    None,
    /// Into a running COPY; `failed` once the server has refused it (the rest is dropped).
    Copy { sink: Pin<Box<CopyInSink<Bytes>>>, pending: Vec<u8>, table: String },
    /// The COPY statement failed: its data is discarded, as pg_restore does.
    Discard,
    /// SQL statements (`--inserts` dumps), split at top-level semicolons; `what` names the
    /// entry in errors.
    Sql { splitter: SqlSplitter, what: String },
    /// Into this connection's COPY and those of idle workers that join (see `split`).
    Split(SplitLoad),
}

/// The owner's side of a table loaded by several connections.
struct SplitLoad {
    split: Arc<SplitCopy>,
    /// Chunks for helpers; dropped when the last row has been handed out.
    to_helpers: Option<tokio::sync::mpsc::Sender<Bytes>>,
    /// The owner's own COPY; `None` once it failed.
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    cutter: RowCutter,
    /// The session's data bytes when the load began, restored if it is loaded again.
    bytes_before: u64,
    /// COPY text read so far, and how much before idle workers are invited.
    fed: u64,
    post_after: u64,
    posted: bool,
}

/// Who takes the next chunk of a split load.
enum Taker<P> {
    /// A helper's queue had room (`None`: every helper is gone).
    Helper(Option<P>),
    /// The owner's own COPY was ready.
    Own(Result<(), tokio_postgres::Error>),
}

impl Drop for SplitLoad {
    fn drop(&mut self) {
        // Decided already, or the owner is bailing out: either way no helper may wait on.
        self.split.abandon();
    }
}

pub struct Session<'e> {
    rt: &'e Runtime,
    client: Client,
    connector: &'e dyn Connector,
    events: &'e (dyn Fn(EngineEvent) + Sync),
    opts: &'e RestoreOptions,
    toc: &'e Toc,
    /// `server_version_num` of the server.
    pub server_version: u32,
    /// Statement errors so far (each counts once).
    pub errors: u64,
    /// Errors in the current entry.
    entry_errors: u64,
    /// The current entry's "from TOC entry" line, printed before its first error under `-v`.
    entry_line: Option<String>,
    entry_line_shown: bool,
    /// Stop at the first error (`-e`, `-1`, `--transaction-size`).
    exit_on_error: bool,
    /// How archive text becomes the UTF-8 the connection speaks.
    encoding: Encoding,
    data: DataState,
    /// The large object being written, and how far.
    lo: Option<LargeObjectWrite>,
    /// Pieces of large objects not yet sent, (oid, offset, bytes).
    lo_writes: Vec<(u32, i64, Bytes)>,
    lo_pending_bytes: usize,
    lo_put: Option<Statement>,
    /// Batched one-per-object commands not yet sent.
    batch: Vec<String>,
    /// Which worker this session is (0: the leader), for reports.
    pub worker: usize,
    /// The entry being restored, for its finish event.
    current: Option<Current>,
    /// Large objects restored.
    pub large_objects: u64,
    /// The connection was replaced since the renderer last asked.
    session_lost: bool,
    /// The database `--create` moved the session to, for later connections.
    pub dbname: Option<String>,
    /// Rows and bytes sent through COPY, for the summary.
    pub rows: u64,
    pub data_bytes: u64,
    /// Archive bytes read of the table data being loaded, for progress.
    archive_read: u64,
    /// Where this worker offers a table to idle workers; `None` outside the parallel phase.
    board: Option<&'e dyn SplitBoard>,
    /// Load the next table data with help from idle workers, invited once it has produced
    /// this many bytes of COPY text.
    pub split_next: Option<u64>,
    /// The last split load failed and rolled back: the entry must be loaded again.
    split_failed: bool,
    /// Why the last split load failed, if a part said.
    split_error: Option<PartError>,
    /// The server's notices, shown under `-v` as pg_restore shows them.
    notices: Arc<Mutex<NoticeQueue>>,
    notice_handler: pgsurge_connect::NoticeHandler,
}

/// Notice text a session holds until it can print it (`-v`). A command runs to its end
/// before its notices are shown, and one command can raise any number of them (a loop of
/// RAISE NOTICE in a function the archive defines, a trigger firing for every row loaded):
/// past this much, further ones are only counted.
const NOTICE_QUEUE_BYTES: usize = 16 << 20;

/// The server's notices not yet shown.
#[derive(Debug, Default)]
struct NoticeQueue {
    notices: Vec<String>,
    bytes: usize,
    /// Notices not kept: the queue was full.
    dropped: u64,
}

impl NoticeQueue {
    fn add(&mut self, notice: String) {
        match self.bytes.checked_add(notice.len()).filter(|&b| b <= NOTICE_QUEUE_BYTES) {
            Some(bytes) => {
                self.bytes = bytes;
                self.notices.push(notice);
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }
}

/// The entry a session is working on.
struct Current {
    dump_id: DumpId,
    desc: String,
    label: String,
    started: Instant,
    rows: u64,
    bytes: u64,
    errors: u64,
    /// Connections that loaded its data.
    connections: usize,
}

struct LargeObjectWrite {
    oid: Oid,
    offset: i64,
}

/// Batched commands and large-object pieces in flight at once: a round trip per batch, and
/// memory bounded by these.
const BATCH_COMMANDS: usize = 256;
const LO_BATCH_PIECES: usize = 256;
const LO_BATCH_BYTES: usize = 4 * 1024 * 1024;

impl<'e> Session<'e> {
    /// Reports the entry in progress as finished (the next one starts, or the work ends).
    pub fn finish_entry(&mut self) {
        self.show_notices();
        if let Some(c) = self.current.take() {
            self.emit(EngineEvent::ItemFinished(ItemRecord {
                worker: self.worker,
                dump_id: c.dump_id,
                desc: c.desc,
                label: c.label,
                started: c.started,
                elapsed: c.started.elapsed(),
                rows: self.rows - c.rows,
                bytes: self.data_bytes - c.bytes,
                errors: self.errors.saturating_sub(c.errors),
                connections: c.connections,
            }));
        }
    }

    /// Connects (to `dbname`, or the database the user named) and applies the session
    /// settings pg_restore starts every connection with.
    pub fn connect(
        rt: &'e Runtime,
        connector: &'e dyn Connector,
        dbname: Option<&str>,
        opts: &'e RestoreOptions,
        toc: &'e Toc,
        events: &'e (dyn Fn(EngineEvent) + Sync),
    ) -> Result<Session<'e>, super::EngineError> {
        let notices = Arc::new(Mutex::new(NoticeQueue::default()));
        let queue = notices.clone();
        let verbose = opts.verbose;
        let notice_handler: pgsurge_connect::NoticeHandler = Arc::new(move |n: &tokio_postgres::error::DbError| {
            if verbose {
                queue.lock().unwrap_or_else(|e| e.into_inner()).add(notice_message(n));
            }
        });
        let client = rt.block_on(connector.connect(dbname, notice_handler.clone())).map_err(super::EngineError::Connect)?;
        let exit_on_error = opts.exit_on_error || opts.single_transaction || opts.transaction_size.is_some();
        let mut session = Session {
            rt,
            client,
            connector,
            events,
            opts,
            toc,
            server_version: 0,
            errors: 0,
            entry_errors: 0,
            entry_line: None,
            entry_line_shown: false,
            exit_on_error,
            encoding: Encoding::for_archive(&toc.encoding),
            data: DataState::None,
            lo: None,
            lo_writes: Vec::new(),
            lo_pending_bytes: 0,
            lo_put: None,
            batch: Vec::new(),
            session_lost: false,
            worker: 0,
            current: None,
            large_objects: 0,
            dbname: dbname.map(str::to_owned),
            rows: 0,
            data_bytes: 0,
            archive_read: 0,
            board: None,
            split_next: None,
            split_failed: false,
            split_error: None,
            notices,
            notice_handler,
        };
        session.setup().map_err(|e| match e {
            RenderError::Target(t) => super::EngineError::Session(t.to_string()),
            other => super::EngineError::Session(other.to_string()),
        })?;
        Ok(session)
    }

    fn setup(&mut self) -> Result<(), RenderError> {
        let version = self.rt.block_on(self.client.simple_query("SHOW server_version_num")).map_err(fatal)?;
        self.server_version = version
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
                _ => None,
            })
            .unwrap_or(0);
        // As pg_restore does on every connection: nothing resolves through a schema an
        // archive's owner could have planted objects in.
        self.command(b"SELECT pg_catalog.set_config('search_path', '', false);")?;
        for setting in session_settings(self.opts, self.toc, Some(self.server_version)) {
            // The connection speaks UTF-8 (tokio-postgres requires it); text in another
            // encoding is converted before it is sent, and COPY data says its encoding.
            if setting.starts_with(b"SET client_encoding") {
                continue;
            }
            self.command(&setting)?;
        }
        Ok(())
    }

    /// Tables, views, sequences and foreign tables outside the system schemas; `None` when
    /// the question itself failed.
    pub fn user_relations(&mut self) -> Option<u64> {
        const SQL: &str = "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";
        let rows = self.rt.block_on(self.client.simple_query(SQL)).ok()?;
        rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
    }

    /// Prints the notices received so far (`-v` only; nothing is queued otherwise).
    pub(super) fn show_notices(&self) {
        let queue = std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()));
        for notice in queue.notices {
            self.emit(EngineEvent::Info(notice));
        }
        if queue.dropped > 0 {
            self.emit(EngineEvent::Info(format!("{} more notices from the server not shown: over {} MB of them came during one command", queue.dropped, NOTICE_QUEUE_BYTES >> 20)));
        }
    }

    pub(super) fn emit(&self, event: EngineEvent) {
        (self.events)(event);
    }

    /// Reports one failed statement and counts it; stops the restore where the options say so.
    /// `cause` is the server's error, when it was the server that refused.
    fn failed(&mut self, message: String, cause: Option<&tokio_postgres::Error>) -> Result<(), RenderError> {
        // As pg_log_error: one trailing newline (a command's own) is not printed.
        let message = message.strip_suffix('\n').map(str::to_owned).unwrap_or(message);
        let db = cause.and_then(|e| e.as_db_error());
        let cause = db.map_or_else(|| message.lines().next().unwrap_or_default().to_owned(), |d| d.message().to_owned());
        self.failed_with(message, cause, db.map(|d| d.code().code().to_owned()))
    }

    /// Reports a failure whose server error is already taken apart.
    fn failed_with(&mut self, message: String, cause: String, sqlstate: Option<String>) -> Result<(), RenderError> {
        self.show_notices();
        if self.opts.verbose && !self.entry_line_shown {
            if let Some(line) = &self.entry_line {
                self.emit(EngineEvent::Info("while PROCESSING TOC:".into()));
                self.emit(EngineEvent::Info(line.clone()));
            }
            self.entry_line_shown = true;
        }
        let failure = Failure { cause, sqlstate, dump_id: self.current.as_ref().map(|c| c.dump_id), message };
        self.emit(EngineEvent::Error(failure));
        self.errors += 1;
        self.entry_errors += 1;
        if self.exit_on_error {
            return Err(RenderError::Target(Box::new(Stopped)));
        }
        Ok(())
    }

    fn execute(&mut self, sql: &[u8], what: &str) -> Result<(), RenderError> {
        self.run(sql, what, true)
    }

    /// Runs `sql` as one simple Query; a refusal is reported as `what: <server error>`,
    /// followed by `Command was: <sql>` when `show_command`.
    fn run(&mut self, sql: &[u8], what: &str, show_command: bool) -> Result<(), RenderError> {
        let command = |text: &dyn std::fmt::Display| if show_command { format!("\nCommand was: {text}") } else { String::new() };
        let text = match self.encoding.decode(sql) {
            Ok(t) => t,
            Err(e) => return self.failed(format!("{what}: {e}{}", command(&sql.as_bstr())), None),
        };
        if text.trim().is_empty() {
            return Ok(());
        }
        match self.rt.block_on(self.client.batch_execute(&text)) {
            Ok(()) => {
                // As they come, as pg_restore prints them: the queue holds one command's.
                self.show_notices();
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => self.failed(format!("{what}: {}{}", server_message_in(&e, &text), command(&text)), Some(&e)),
            Err(e) => Err(fatal(e)),
        }
    }

    fn copy_start(&mut self, copy: &[u8], te: &TocEntry) -> Result<(), RenderError> {
        let stmt = self.encoding.copy_statement(copy);
        let text = match self.encoding.decode(&stmt) {
            Ok(t) => t.into_owned(),
            Err(e) => {
                self.data = DataState::Discard;
                return self.failed(format!("could not execute query: {e}\nCommand was: {}", copy.as_bstr()), None);
            }
        };
        match self.rt.block_on(self.client.copy_in::<_, Bytes>(text.as_str())) {
            Ok(sink) => {
                self.data = DataState::Copy { sink: Box::pin(sink), pending: Vec::with_capacity(COPY_SEND), table: te.tag.to_string() };
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                self.data = DataState::Discard;
                let reported = self.failed(format!("could not execute query: {}\nCommand was: {text}", server_message_in(&e, &text)), Some(&e));
                // tokio-postgres 0.7 leaves the connection one ReadyForQuery out of step when
                // a COPY fails before the server enters copy mode (its own Sync, then the
                // CopyFail+Sync it sends when the sink is dropped, each get one). Nothing on
                // that connection can be trusted afterwards: replace it.
                self.replace_connection()?;
                reported
            }
            Err(e) => Err(fatal(e)),
        }
    }

    /// A new connection to the same database in place of the current one, set up afresh.
    /// The renderer learns through [`Target::session_lost`] that its idea of the session's
    /// settings is gone.
    fn replace_connection(&mut self) -> Result<(), RenderError> {
        let client = self.rt.block_on(self.connector.connect(self.dbname.as_deref(), self.notice_handler.clone())).map_err(RenderError::Target)?;
        self.client = client;
        self.lo_put = None;
        self.session_lost = true;
        let (errors, entry_errors) = (self.errors, self.entry_errors);
        let setup = self.setup();
        // The new connection's own settings are not the entry's errors.
        self.errors = errors;
        self.entry_errors = entry_errors;
        setup
    }

    /// Sends what a COPY has gathered; a refused COPY reports once and drops the rest.
    fn copy_flush(&mut self) -> Result<(), RenderError> {
        let DataState::Copy { sink, pending, table } = &mut self.data else { return Ok(()) };
        if pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(pending, Vec::with_capacity(COPY_SEND)));
        match self.rt.block_on(sink.send(chunk)) {
            Ok(()) => {
                self.show_notices();
                if let Some(c) = &self.current {
                    self.emit(EngineEvent::Progress { worker: self.worker, bytes: self.data_bytes - c.bytes, archive_bytes: self.archive_read });
                }
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                let message = format!("COPY failed for table \"{table}\": {}", server_message(&e));
                self.data = DataState::Discard;
                self.failed(message, Some(&e))
            }
            Err(e) => Err(fatal(e)),
        }
    }

    /// Sends the batched commands together and reads their results in order: one round
    /// trip for the lot instead of one each. Failures are reported and counted one by one.
    fn flush_batch(&mut self) -> Result<(), RenderError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let texts = std::mem::take(&mut self.batch);
        let results = {
            let client = &self.client;
            self.rt.block_on(futures_util::future::join_all(texts.iter().map(|t| client.batch_execute(t))))
        };
        for (text, result) in texts.iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(e) if e.as_db_error().is_some() => self.failed(format!("could not execute query: {}\nCommand was: {text}", server_message_in(&e, text)), Some(&e))?,
                Err(e) => return Err(fatal(e)),
            }
        }
        Ok(())
    }

    /// Writes the gathered large-object pieces with `lo_put`, all in flight at once. A
    /// refused write ends the restore, as pg_restore's failed `lo_open` does: the object's
    /// contents would be lost.
    fn flush_lo(&mut self) -> Result<(), RenderError> {
        if self.lo_writes.is_empty() {
            return Ok(());
        }
        if self.lo_put.is_none() {
            let stmt = self.rt.block_on(self.client.prepare("SELECT pg_catalog.lo_put($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.bytea)")).map_err(fatal)?;
            self.lo_put = Some(stmt);
        }
        let writes = std::mem::take(&mut self.lo_writes);
        self.lo_pending_bytes = 0;
        let Some(stmt) = &self.lo_put else { return Ok(()) };
        let results = {
            let client = &self.client;
            self.rt.block_on(futures_util::future::join_all(writes.iter().map(|(oid, offset, bytes)| async move {
                let piece: &[u8] = bytes;
                client.execute(stmt, &[oid, offset, &piece]).await
            })))
        };
        for ((oid, _, _), result) in writes.iter().zip(results) {
            if let Err(e) = result {
                return Err(RenderError::Target(format!("could not write large object {oid}: {}", server_message(&e)).into()));
            }
        }
        Ok(())
    }

    /// Offers tables to idle workers through `board` (the parallel phase).
    pub fn set_board(&mut self, board: &'e dyn SplitBoard) {
        self.board = Some(board);
    }

    /// Whether the last table data was a split load that rolled back and must be loaded
    /// again (on this connection alone); asking forgets it.
    pub fn take_split_failed(&mut self) -> bool {
        std::mem::take(&mut self.split_failed)
    }

    /// Starts a table's load as the owner of a split: its own part in a transaction, the
    /// table posted for idle workers. Anything that goes wrong here is left for the plain
    /// load that follows to report.
    fn split_start(&mut self, copy: &[u8], te: &TocEntry, post_after: u64, board: &'e dyn SplitBoard) -> Result<(), RenderError> {
        let stmt = self.encoding.copy_statement(copy);
        let Ok(text) = self.encoding.decode(&stmt).map(Cow::into_owned) else { return self.copy_start(copy, te) };
        self.rt.block_on(self.client.batch_execute("BEGIN")).map_err(fatal)?;
        match self.rt.block_on(self.client.copy_in::<_, Bytes>(text.as_str())) {
            Ok(sink) => {
                let (split, tx) = SplitCopy::new(te.dump_id, text, 2);
                let posted = post_after == 0;
                if posted {
                    board.post(&split);
                }
                self.data = DataState::Split(SplitLoad { split, to_helpers: Some(tx), sink: Some(Box::pin(sink)), cutter: RowCutter::default(), bytes_before: self.data_bytes, fed: 0, post_after, posted });
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                // Loaded again on its own, which reports the error as pg_restore would; the
                // failed COPY leaves this connection unusable (see copy_start).
                self.data = DataState::Discard;
                self.split_failed = true;
                self.replace_connection()
            }
            Err(e) => Err(fatal(e)),
        }
    }

    /// Hands a chunk of rows to the first connection free to take it: this one's COPY, or
    /// a helper's; `own_only` for a piece of a row whose start this COPY took. After any
    /// part failed, the rest of the data is only read.
    fn split_send(&mut self, chunk: Bytes, own_only: bool) -> Result<(), RenderError> {
        let DataState::Split(load) = &mut self.data else { return Ok(()) };
        if load.split.failed() {
            return Ok(());
        }
        let Some(sink) = load.sink.as_mut() else { return Ok(()) };
        let helpers = load.split.helping() > 0 && !own_only;
        let result = match (&load.to_helpers, helpers) {
            (Some(tx), true) => self.rt.block_on(async {
                let taker = tokio::select! {
                    permit = tx.reserve() => Taker::Helper(permit.ok()),
                    ready = futures_util::future::poll_fn(|cx| sink.as_mut().poll_ready(cx)) => Taker::Own(ready),
                };
                match taker {
                    Taker::Helper(Some(permit)) => {
                        permit.send(chunk);
                        Ok(())
                    }
                    Taker::Helper(None) => sink.send(chunk).await,
                    Taker::Own(Ok(())) => sink.as_mut().start_send(chunk),
                    Taker::Own(Err(e)) => Err(e),
                }
            }),
            _ => self.rt.block_on(sink.send(chunk)),
        };
        match result {
            Ok(()) => {
                self.show_notices();
                if let Some(c) = &self.current {
                    self.emit(EngineEvent::Progress { worker: self.worker, bytes: self.data_bytes - c.bytes, archive_bytes: self.archive_read });
                }
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                load.sink = None;
                load.split.record_error(part_error(&e));
                load.split.fail();
                Ok(())
            }
            Err(e) => Err(fatal(e)),
        }
    }

    /// The owner's end of a split load, once every row is handed out: waits for the helpers'
    /// parts, and commits all or rolls all back.
    fn split_end(&mut self, mut load: SplitLoad) -> Result<(), RenderError> {
        // No more chunks: helpers finish what is queued, then their COPY.
        drop(load.to_helpers.take());
        if let Some(board) = self.board {
            board.withdraw(&load.split);
        }
        let mut own_rows = None;
        if let Some(mut sink) = load.sink.take() {
            // Chunks queued when the last helper had already left are the owner's to send.
            let mut sent = Ok(());
            while let Some(chunk) = load.split.leftover() {
                sent = self.rt.block_on(sink.send(chunk));
                if sent.is_err() {
                    break;
                }
            }
            let finished = match sent {
                Ok(()) if !load.split.failed() => self.rt.block_on(sink.as_mut().finish()),
                Ok(()) => Ok(0),
                Err(e) => Err(e),
            };
            match finished {
                Ok(rows) => own_rows = Some(rows),
                Err(e) if e.as_db_error().is_some() => load.split.record_error(part_error(&e)),
                Err(e) => return Err(fatal(e)),
            }
        }
        let decision = load.split.close(own_rows.is_some());
        if decision.commit {
            self.rows += own_rows.unwrap_or(0) + decision.helper_rows;
            if let Some(c) = &mut self.current {
                c.connections = 1 + decision.helpers;
            }
            return self.execute(b"COMMIT", "could not commit database transaction");
        }
        self.rt.block_on(self.client.batch_execute("ROLLBACK")).map_err(fatal)?;
        self.data_bytes = load.bytes_before;
        self.split_failed = true;
        self.split_error = load.split.first_error();
        Ok(())
    }

    /// A split load failed and its data cannot be read again for a load on one connection
    /// (a pipe's spool gave its first bytes back): its first part's failure is the table's.
    pub fn split_failure_stands(&mut self, table: &str) -> Result<(), RenderError> {
        let error = self.split_error.take();
        let (detail, cause, sqlstate) = match error {
            Some(e) => (e.message, e.cause, e.sqlstate),
            None => ("the load over several connections failed".to_owned(), "the load over several connections failed".to_owned(), None),
        };
        let message = format!(
            "COPY failed for table \"{table}\": {detail}\n(loaded in parts over several connections, so a line number counts within one part; the table was not loaded again on one connection because the temporary copy of standard input had already given back its first bytes — raise PGSURGE_SPOOL_LIMIT to keep them)"
        );
        self.failed_with(message, cause, sqlstate)
    }

    /// An idle worker's part of another worker's table: a COPY of the chunks it is handed,
    /// in a transaction that commits or rolls back with the others. Its failures are not
    /// reported: the owner loads the table again alone, and that load reports them.
    pub fn help(&mut self, split: &SplitCopy) -> Result<(), RenderError> {
        self.flush_all()?;
        if let Err(e) = self.rt.block_on(self.client.batch_execute("BEGIN")) {
            split.part_done(None);
            return Err(fatal(e));
        }
        let mut sink = match self.rt.block_on(self.client.copy_in::<_, Bytes>(split.copy.as_str())) {
            Ok(sink) => Box::pin(sink),
            Err(e) => {
                if e.as_db_error().is_some() {
                    split.record_error(part_error(&e));
                }
                split.part_done(None);
                if e.as_db_error().is_none() {
                    return Err(fatal(e));
                }
                // As in copy_start: the connection is out of step after a refused COPY.
                return self.replace_connection();
            }
        };
        let loaded = self.rt.block_on(async {
            while let Some(chunk) = split.next_chunk().await {
                if split.failed() {
                    // Drain, so the owner is never kept waiting on a full queue.
                    continue;
                }
                sink.send(chunk).await?;
            }
            if split.failed() {
                return Ok(None);
            }
            sink.as_mut().finish().await.map(Some)
        });
        let rows = match loaded {
            Ok(rows) => rows,
            Err(e) if e.as_db_error().is_some() => {
                split.record_error(part_error(&e));
                None
            }
            Err(e) => {
                split.part_done(None);
                return Err(fatal(e));
            }
        };
        drop(sink);
        split.part_done(rows);
        let end = if split.verdict() { "COMMIT" } else { "ROLLBACK" };
        self.rt.block_on(self.client.batch_execute(end)).map_err(fatal)
    }

    /// Everything held back goes out before anything else is sent.
    fn flush_all(&mut self) -> Result<(), RenderError> {
        self.flush_batch()?;
        self.flush_lo()
    }
}

impl Target for Session<'_> {
    fn text(&mut self, _text: &[u8]) -> Result<(), RenderError> {
        Ok(())
    }

    fn command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        self.flush_all()?;
        // Transaction control has its own wording in pg_restore's messages.
        let trimmed = sql.trim();
        if trimmed == b"BEGIN;" {
            return self.execute(sql, "could not start database transaction");
        }
        if trimmed == b"COMMIT;" {
            return self.execute(sql, "could not commit database transaction");
        }
        if trimmed.starts_with(b"SET SESSION AUTHORIZATION") {
            // Always fatal in pg_restore: everything after would run as the wrong user.
            let text = self.encoding.decode(sql).map_err(|e| RenderError::Target(e.into()))?.into_owned();
            return match self.rt.block_on(self.client.batch_execute(&text)) {
                Ok(()) => Ok(()),
                Err(e) => Err(RenderError::Target(format!("could not set session user: {}", server_message(&e)).into())),
            };
        }
        self.execute(sql, "could not execute query")
    }

    fn setting(&mut self, sql: &[u8], failure: &str) -> Result<(), RenderError> {
        self.flush_all()?;
        self.run(sql, failure, false)
    }

    fn batched_command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        // Stopping at the first error means not sending what follows it.
        if self.exit_on_error {
            return self.command(sql);
        }
        self.flush_lo()?;
        match self.encoding.decode(sql) {
            Ok(text) => self.batch.push(text.into_owned()),
            Err(e) => return self.failed(format!("could not execute query: {e}\nCommand was: {}", sql.as_bstr()), None),
        }
        if self.batch.len() >= BATCH_COMMANDS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RenderError> {
        self.flush_all()
    }

    fn preamble(&mut self, _sql: &[u8]) -> Result<(), RenderError> {
        Ok(())
    }

    fn connect(&mut self, dbname: &[u8], _script: &[u8]) -> Result<(), RenderError> {
        self.flush_all()?;
        let name = self.encoding.decode(dbname).map_err(|e| RenderError::Target(e.into()))?.into_owned();
        let client = self.rt.block_on(self.connector.connect(Some(&name), self.notice_handler.clone())).map_err(RenderError::Target)?;
        self.client = client;
        self.lo_put = None;
        self.dbname = Some(name.clone());
        self.emit(EngineEvent::Reconnected(name));
        self.setup()
    }

    fn entry(&mut self, te: &TocEntry) {
        if self.current.as_ref().is_some_and(|c| c.dump_id == te.dump_id) {
            // The same entry again (a worker's TRUNCATE wrapping): one item.
            return;
        }
        self.finish_entry();
        let label = match &te.namespace {
            Some(ns) if !ns.is_empty() => format!("{} {}.{}", te.desc, ns, te.tag),
            _ => format!("{} {}", te.desc, te.tag),
        };
        self.emit(EngineEvent::ItemStarted { worker: self.worker, dump_id: te.dump_id, label: label.clone() });
        self.current = Some(Current { dump_id: te.dump_id, desc: te.desc.to_string(), label, started: Instant::now(), rows: self.rows, bytes: self.data_bytes, errors: self.errors, connections: 1 });
        self.entry_errors = 0;
        self.entry_line_shown = false;
        self.entry_line = Some(format!(
            "from TOC entry {}; {} {} {} {} {}",
            te.dump_id,
            te.table_oid,
            te.oid,
            te.desc,
            te.tag,
            te.owner.as_ref().map(|o| o.to_string()).unwrap_or_default()
        ));
    }

    fn entry_succeeded(&self) -> bool {
        self.entry_errors == 0
    }

    fn session_lost(&mut self) -> bool {
        std::mem::take(&mut self.session_lost)
    }

    fn data_start(&mut self, te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError> {
        self.flush_all()?;
        self.archive_read = 0;
        let split = self.split_next.take();
        match (copy, split, self.board) {
            (Some(copy), Some(post_after), Some(board)) => self.split_start(copy, te, post_after, board),
            (Some(copy), ..) => self.copy_start(copy, te),
            (None, ..) => {
                let what = if te.desc_is("TABLE DATA") {
                    format!("table \"{}.{}\"", te.namespace.as_deref().map_or(BStr::new("(null)"), |n| n.as_bstr()), te.tag)
                } else {
                    format!("TOC entry {} ({} {})", te.dump_id, te.desc, te.tag)
                };
                self.data = DataState::Sql { splitter: SqlSplitter::new(self.toc.std_strings), what };
                Ok(())
            }
        }
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        self.data_bytes += bytes.len() as u64;
        match &mut self.data {
            DataState::Copy { pending, .. } => {
                pending.extend_from_slice(bytes);
                if pending.len() >= COPY_SEND {
                    self.copy_flush()?;
                }
                Ok(())
            }
            DataState::Split(load) => {
                load.fed += bytes.len() as u64;
                if !load.posted && load.fed >= load.post_after {
                    load.posted = true;
                    if let Some(board) = self.board {
                        board.post(&load.split);
                    }
                }
                for cut in load.cutter.push(bytes) {
                    match cut {
                        Cut::Rows(chunk) => self.split_send(chunk, false)?,
                        Cut::Own(piece) => self.split_send(piece, true)?,
                    }
                }
                Ok(())
            }
            DataState::Sql { splitter, what } => {
                let statements = splitter.push(bytes);
                let too_long = splitter.too_long().map(|start| StatementTooLong { what: what.clone(), start });
                for stmt in statements {
                    self.execute(&stmt, "could not execute query")?;
                }
                match too_long {
                    Some(e) => {
                        self.data = DataState::Discard;
                        self.failed(e.to_string(), None)
                    }
                    None => Ok(()),
                }
            }
            DataState::None | DataState::Discard => Ok(()),
        }
    }

    fn data_read(&mut self, archive_bytes: u64) {
        self.archive_read = archive_bytes;
    }

    fn data_end(&mut self) -> Result<(), RenderError> {
        self.copy_flush()?;
        if let DataState::Split(load) = &mut self.data {
            if let Some(rest) = load.cutter.finish() {
                self.split_send(rest, false)?;
            }
        }
        match std::mem::replace(&mut self.data, DataState::None) {
            DataState::Split(load) => self.split_end(load),
            DataState::Copy { mut sink, table, .. } => match self.rt.block_on(sink.as_mut().finish()) {
                Ok(rows) => {
                    self.rows += rows;
                    Ok(())
                }
                Err(e) if e.as_db_error().is_some() => self.failed(format!("COPY failed for table \"{table}\": {}", server_message(&e)), Some(&e)),
                Err(e) => Err(fatal(e)),
            },
            DataState::Sql { mut splitter, .. } => {
                if let Some(rest) = splitter.finish() {
                    self.execute(&rest, "could not execute query")?;
                }
                Ok(())
            }
            DataState::None | DataState::Discard => Ok(()),
        }
    }

    fn lo_start(&mut self, oid: Oid, create: bool, unlink_first: bool) -> Result<(), RenderError> {
        self.flush_batch()?;
        if create {
            self.flush_lo()?;
            if unlink_first {
                self.command(format!("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '{oid}';\n").as_bytes())?;
            }
            let created = self.rt.block_on(self.client.query_one("SELECT pg_catalog.lo_create($1::pg_catalog.oid)", &[&oid.0]));
            if let Err(e) = created {
                return Err(RenderError::Target(format!("could not create large object {oid}: {}", server_message(&e)).into()));
            }
        }
        self.large_objects += 1;
        self.lo = Some(LargeObjectWrite { oid, offset: 0 });
        Ok(())
    }

    fn lo_data(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        let Some(lo) = &mut self.lo else { return Ok(()) };
        self.data_bytes += bytes.len() as u64;
        self.lo_writes.push((lo.oid.0, lo.offset, Bytes::copy_from_slice(bytes)));
        lo.offset += bytes.len() as i64;
        self.lo_pending_bytes += bytes.len();
        if self.lo_writes.len() >= LO_BATCH_PIECES || self.lo_pending_bytes >= LO_BATCH_BYTES {
            self.flush_lo()?;
        }
        Ok(())
    }

    fn lo_end(&mut self) -> Result<(), RenderError> {
        self.lo = None;
        Ok(())
    }
}

/// An error that ends the restore: the connection is gone or the protocol broke.
/// A split part's server error, kept for the owner to report.
fn part_error(e: &tokio_postgres::Error) -> PartError {
    let db = e.as_db_error();
    PartError {
        message: server_message(e),
        cause: db.map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        sqlstate: db.map(|d| d.code().code().to_owned()),
    }
}

fn fatal(e: tokio_postgres::Error) -> RenderError {
    RenderError::Target(format!("lost the connection to the server: {}", server_message(&e)).into())
}

/// The archive's text encoding, and how to turn its bytes into what the connection (always
/// UTF-8) sends.
#[derive(Debug, Clone)]
enum Encoding {
    /// UTF8, and SQL_ASCII (bytes taken as they are; they must be valid UTF-8 to be sent).
    Utf8 { name: String },
    /// LATIN1: each byte is the code point of the same number.
    Latin1,
    Other { name: String, encoding: &'static encoding_rs::Encoding },
    /// An encoding this build cannot convert; its text is sent if it happens to be UTF-8.
    Unknown { name: String },
}

impl Encoding {
    fn for_archive(name: &[u8]) -> Encoding {
        let upper = name.to_str_lossy().to_ascii_uppercase().replace(['-', '_'], "");
        let label = match upper.as_str() {
            "UTF8" | "UNICODE" | "" => return Encoding::Utf8 { name: "UTF8".into() },
            "SQLASCII" => return Encoding::Utf8 { name: "SQL_ASCII".into() },
            "LATIN1" | "ISO88591" => return Encoding::Latin1,
            "LATIN2" | "ISO88592" => "iso-8859-2",
            "LATIN3" | "ISO88593" => "iso-8859-3",
            "LATIN4" | "ISO88594" => "iso-8859-4",
            "ISO88595" => "iso-8859-5",
            "ISO88596" => "iso-8859-6",
            "ISO88597" => "iso-8859-7",
            "ISO88598" => "iso-8859-8",
            "LATIN6" | "ISO885910" => "iso-8859-10",
            "LATIN7" | "ISO885913" => "iso-8859-13",
            "LATIN8" | "ISO885914" => "iso-8859-14",
            "LATIN9" | "ISO885915" => "iso-8859-15",
            "LATIN10" | "ISO885916" => "iso-8859-16",
            "WIN1250" => "windows-1250",
            "WIN1251" => "windows-1251",
            "WIN1252" => "windows-1252",
            "WIN1253" => "windows-1253",
            "WIN1254" => "windows-1254",
            "WIN1255" => "windows-1255",
            "WIN1256" => "windows-1256",
            "WIN1257" => "windows-1257",
            "WIN1258" => "windows-1258",
            "WIN866" => "ibm866",
            "WIN874" => "windows-874",
            "KOI8R" => "koi8-r",
            "KOI8U" => "koi8-u",
            "EUCJP" => "euc-jp",
            "EUCKR" => "euc-kr",
            "SJIS" => "shift_jis",
            "BIG5" => "big5",
            "GBK" => "gbk",
            "GB18030" => "gb18030",
            _ => return Encoding::Unknown { name: name.to_str_lossy().into_owned() },
        };
        match encoding_rs::Encoding::for_label(label.as_bytes()) {
            Some(encoding) => Encoding::Other { name: name.to_str_lossy().into_owned(), encoding },
            None => Encoding::Unknown { name: name.to_str_lossy().into_owned() },
        }
    }

    fn name(&self) -> &str {
        match self {
            Encoding::Utf8 { name } | Encoding::Other { name, .. } | Encoding::Unknown { name } => name,
            Encoding::Latin1 => "LATIN1",
        }
    }

    fn decode<'b>(&self, bytes: &'b [u8]) -> Result<Cow<'b, str>, String> {
        match self {
            Encoding::Utf8 { .. } | Encoding::Unknown { .. } => {
                std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| format!("text is not valid UTF-8 (archive encoding {}): {e}", self.name()))
            }
            Encoding::Latin1 => match std::str::from_utf8(bytes) {
                Ok(s) if s.is_ascii() => Ok(Cow::Borrowed(s)),
                _ => Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())),
            },
            Encoding::Other { encoding, .. } => {
                let (text, _, had_errors) = encoding.decode(bytes);
                if had_errors {
                    return Err(format!("text is not valid {}", self.name()));
                }
                Ok(text)
            }
        }
    }

    /// The COPY statement, told the data's encoding when it is not UTF-8, so the server
    /// converts the rows and the client never has to.
    fn copy_statement(&self, copy: &[u8]) -> Vec<u8> {
        if matches!(self, Encoding::Utf8 { name } if name == "UTF8") {
            return copy.to_vec();
        }
        let trimmed = copy.trim_end();
        let Some(body) = trimmed.strip_suffix(b";") else { return copy.to_vec() };
        if !body.to_ascii_lowercase().ends_with(b"from stdin") {
            return copy.to_vec();
        }
        [body, format!(" WITH (ENCODING '{}');\n", self.name()).as_bytes()].concat()
    }
}

/// The longest statement `--inserts` data may hold. No server takes a longer one: a Query
/// message is refused past PostgreSQL's MaxAllocSize (1 GB), so this is as long as the
/// longest row pg_dump could have written as an INSERT. Longer means the quote or statement
/// never ends (a damaged archive) and holding it would only cost memory.
const MAX_STATEMENT: usize = 1 << 30;

/// A statement in SQL data longer than [`MAX_STATEMENT`]: the rest of the entry's data is
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not execute query: a statement in the data of {what}, from byte {start} of its data, runs past {MAX_STATEMENT} bytes, more than a server accepts (an unclosed quote?); the rest of its data is skipped")]
pub struct StatementTooLong {
    /// The entry: `table "schema.name"`, or the TOC entry.
    pub what: String,
    /// Where the statement starts in the entry's data.
    pub start: u64,
}

/// Splits SQL data (`--inserts` dumps) into statements at semicolons outside quotes, as
/// pg_restore's `ExecuteSimpleCommands` does; holds at most one unfinished statement, of at
/// most [`MAX_STATEMENT`] bytes.
#[derive(Debug)]
pub struct SqlSplitter {
    std_strings: bool,
    buf: Vec<u8>,
    quote: Option<u8>,
    backslash: bool,
    /// Bytes taken so far, and where the statement in `buf` started.
    taken: u64,
    start: u64,
    limit: usize,
    /// Where the statement that ran past `limit` started; nothing is taken after it.
    overflow: Option<u64>,
}

impl SqlSplitter {
    pub fn new(std_strings: bool) -> Self {
        Self::with_limit(std_strings, MAX_STATEMENT)
    }

    fn with_limit(std_strings: bool, limit: usize) -> Self {
        SqlSplitter { std_strings, buf: Vec::new(), quote: None, backslash: false, taken: 0, start: 0, limit, overflow: None }
    }

    /// Takes more bytes; returns the statements they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        if self.overflow.is_some() {
            return done;
        }
        for (i, &b) in bytes.iter().enumerate() {
            if self.buf.is_empty() && self.quote.is_none() {
                if b.is_ascii_whitespace() {
                    continue;
                }
                self.start = self.taken.saturating_add(i as u64);
            }
            if self.buf.len() >= self.limit {
                self.overflow = Some(self.start);
                self.buf = Vec::new();
                break;
            }
            self.buf.push(b);
            match self.quote {
                Some(q) => {
                    if self.backslash {
                        self.backslash = false;
                    } else if b == b'\\' && q == b'\'' && !self.std_strings {
                        self.backslash = true;
                    } else if b == q {
                        self.quote = None;
                    }
                }
                None => match b {
                    b'\'' | b'"' => self.quote = Some(b),
                    b';' => done.push(std::mem::take(&mut self.buf)),
                    _ => {}
                },
            }
        }
        self.taken = self.taken.saturating_add(bytes.len() as u64);
        done
    }

    /// Where a statement that ran past the limit started in the data, once one has.
    pub fn too_long(&self) -> Option<u64> {
        self.overflow
    }

    /// What is left after the last semicolon, if anything but whitespace.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.trim().is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_split_outside_quotes() {
        let mut s = SqlSplitter::new(true);
        let mut got = s.push(b"INSERT INTO t VALUES (1, 'a;b');\nINSERT INTO \"x;y\" VALUES (2, 'it''s');\nINSE");
        got.extend(s.push(b"RT INTO t VALUES (3, '');\n\n"));
        assert_eq!(got, vec![b"INSERT INTO t VALUES (1, 'a;b');".to_vec(), b"INSERT INTO \"x;y\" VALUES (2, 'it''s');".to_vec(), b"INSERT INTO t VALUES (3, '');".to_vec()]);
        assert_eq!(s.finish(), None);
    }

    /// An unclosed quote is not held past the limit: the statements before it still come
    /// out, then the error says where the runaway statement started, and nothing more is
    /// taken or left over.
    #[test]
    fn a_statement_is_held_up_to_the_limit() {
        let mut s = SqlSplitter::with_limit(true, 64);
        let mut got = s.push(b"INSERT INTO t VALUES (1);\n  INSERT INTO t VALUES ('never closed");
        assert_eq!(s.too_long(), None);
        got.extend(s.push(&[b'x'; 100]));
        assert_eq!(got, vec![b"INSERT INTO t VALUES (1);".to_vec()]);
        assert_eq!(s.too_long(), Some(28));
        assert!(s.push(b"'); INSERT INTO t VALUES (2);").is_empty(), "nothing after the runaway statement");
        assert_eq!(s.finish(), None);
        let e = StatementTooLong { what: "table \"public.t\"".into(), start: 28 };
        assert_eq!(
            e.to_string(),
            "could not execute query: a statement in the data of table \"public.t\", from byte 28 of its data, runs past 1073741824 bytes, more than a server accepts (an unclosed quote?); the rest of its data is skipped"
        );
        // A statement of exactly the limit is still whole.
        let mut s = SqlSplitter::with_limit(true, 10);
        assert_eq!(s.push(b"SELECT 12;SELECT 123;"), vec![b"SELECT 12;".to_vec()]);
        assert_eq!(s.too_long(), Some(10));
    }

    #[test]
    fn backslash_escapes_only_without_standard_strings() {
        let mut s = SqlSplitter::new(false);
        assert_eq!(s.push(b"INSERT INTO t VALUES ('a\\';b');").len(), 1);
        let mut s = SqlSplitter::new(true);
        assert_eq!(s.push(b"INSERT INTO t VALUES ('a\\';b');").len(), 1);
        assert!(s.finish().is_some(), "with standard strings the quote closes at \\' and the first ; splits");
    }

    /// A flood of notices during one command is kept up to the limit, then counted.
    #[test]
    fn notice_queue_is_bounded() {
        let mut q = NoticeQueue::default();
        let notice = "NOTICE:  x".repeat(100);
        let fits = NOTICE_QUEUE_BYTES / notice.len();
        for _ in 0..fits + 5 {
            q.add(notice.clone());
        }
        assert_eq!(q.notices.len(), fits);
        assert!(q.bytes <= NOTICE_QUEUE_BYTES);
        assert_eq!(q.dropped, 5);
    }

    #[test]
    fn encodings_convert_to_utf8() {
        let latin1 = Encoding::for_archive(b"LATIN1");
        assert_eq!(latin1.decode(b"caf\xe9").unwrap(), "café");
        assert_eq!(latin1.copy_statement(b"COPY public.t (a) FROM stdin;\n"), b"COPY public.t (a) FROM stdin WITH (ENCODING 'LATIN1');\n".to_vec());
        let utf8 = Encoding::for_archive(b"UTF8");
        assert_eq!(utf8.copy_statement(b"COPY t FROM stdin;\n"), b"COPY t FROM stdin;\n".to_vec());
        assert!(utf8.decode(b"\xff").is_err());
        let sjis = Encoding::for_archive(b"SJIS");
        assert_eq!(sjis.decode(b"\x82\xa0").unwrap(), "あ");
    }
}
