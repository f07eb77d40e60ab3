//! One worker connection of a parallel script restore: it takes jobs from the pool — a
//! `COPY` whose rows it reads from the script file itself, an index, a constraint — and runs
//! each in the database, session and encoding the script had reached where the job stands.
//! A large table's rows are shared with idle workers, as an archive's are (`split`); should
//! that load fail, the table is loaded again alone, from the file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use pgsurge_archive::{DumpId, Section, TocEntry};
use pgsurge_plan::options::RestoreOptions;

use super::pool::{Abort, Board, Context, Job, Pool, Task, Work};
use crate::connection::{refused_for_lack_of_slots, Connection};
use crate::copy::TableCopy;
use crate::encoding::Encoding;
use crate::failure::{lost_connection, SessionError};
use crate::progress::Progress;
use crate::{runtime, Connector, EngineEvent, PartRecord};

/// Rows are read from the script file in pieces of this size.
const READ_PIECE: usize = 256 * 1024;


/// What a worker did, for the restore's outcome.
#[derive(Debug, Default)]
pub(crate) struct WorkerTotals {
    pub errors: u64,
    pub rows: u64,
    pub data_bytes: u64,
}

/// What every worker shares.
pub(crate) struct Setup<'a> {
    pub connector: &'a dyn Connector,
    pub opts: &'a RestoreOptions,
    pub events: &'a (dyn Fn(EngineEvent) + Sync),
    /// The script's name in messages.
    pub label: &'a str,
    /// The script's text, uncompressed, which the jobs' row offsets point into.
    pub path: &'a Path,
}

/// Worker `index` (1, 2, …; 0 is the reader's connection): connects, then runs jobs until
/// the pool has none left.
pub(crate) fn work(index: usize, pool: &Pool, setup: &Setup<'_>) -> WorkerTotals {
    // A panic anywhere below ends the restore instead of leaving the reader waiting.
    let _guard = PanicGuard(pool);
    let Ok(rt) = runtime() else {
        pool.started(false);
        return WorkerTotals::default();
    };
    let file = match File::open(setup.path) {
        Ok(f) => f,
        Err(e) => {
            pool.started(false);
            pool.abort(Abort::Failed(format!("could not open \"{}\": {e}", setup.path.display())));
            return WorkerTotals::default();
        }
    };
    let mut conn = match Connection::open(&rt, setup.connector, None, setup.opts, Encoding::for_archive(b"UTF8"), Box::new(|_| Vec::new()), setup.events) {
        Ok(conn) => conn,
        Err(e) => {
            pool.started(false);
            // Short of a connection slot, the restore does with fewer workers; any other
            // failure ends it.
            match refused_for_lack_of_slots(&e) {
                Some(reason) => (setup.events)(EngineEvent::Warning(format!("restoring the script with one connection less: {reason}"))),
                None => pool.abort(Abort::Failed(e.to_string())),
            }
            return WorkerTotals::default();
        }
    };
    conn.script_session();
    conn.failures.prefix_lines();
    pool.started(true);
    let board = pool.board();
    let mut copy = TableCopy::new();
    copy.set_board(&board);
    let mut worker = Worker { conn, progress: Progress::new(setup.events), copy, file, label: setup.label, applied: Arc::new(Context::default()), board: &board, no_split: setup.opts.no_split_tables };
    worker.progress.worker = index;
    let mut moves_seen = 0;
    while let Some(task) = pool.take(&mut moves_seen) {
        let result = match task {
            Task::Run(seq, job) => {
                let result = worker.run(&job);
                pool.done(seq);
                result
            }
            Task::Help(split, context, label) => {
                let result = worker.help(&split, &context, label);
                pool.helped();
                result
            }
            Task::Move(context) => {
                let result = worker.enter(&context);
                if result.is_ok() {
                    pool.moved();
                }
                result
            }
        };
        match result {
            Ok(()) => {}
            Err(SessionError::Stopped(_)) => pool.abort(Abort::Stopped),
            Err(e) => pool.abort(Abort::Failed(e.to_string())),
        }
    }
    pool.left();
    WorkerTotals { errors: worker.conn.failures.errors(), rows: worker.progress.rows, data_bytes: worker.progress.data_bytes }
}

/// Ends the restore if the worker's thread panics.
struct PanicGuard<'p>(&'p Pool);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort(Abort::Failed("a worker of the parallel script restore panicked".into()));
        }
    }
}

struct Worker<'e, 'l> {
    conn: Connection<'e>,
    progress: Progress<'e>,
    copy: TableCopy<'e>,
    file: File,
    label: &'l str,
    /// The context the connection is in.
    applied: Arc<Context>,
    board: &'e Board<'e>,
    /// `--no-split-tables`.
    no_split: bool,
}

impl Worker<'_, '_> {
    fn run(&mut self, job: &Job) -> Result<(), SessionError> {
        self.enter(&job.context)?;
        let id = DumpId(i32::try_from(job.line).unwrap_or(i32::MAX));
        let line = format!("{}:{}", self.label, job.line);
        match &job.work {
            Work::Copy { statement, table, start, len } => {
                let te = super::entry(id, "TABLE DATA", table, Section::Data);
                self.conn.failures.begin_entry(id, line);
                self.progress.begin(&te, false, self.conn.failures.errors());
                self.board.running(&job.context, &Progress::describe(&te).1);
                // From the size an archive's table data is shared at, unless asked not to.
                let split = (*len >= pgsurge_plan::plan::SPLIT_MIN_BYTES && !self.no_split).then_some(0);
                self.load(statement, &te, (*start, *len), split, &job.context)?;
                // A load shared with others that failed is loaded again alone, which reports
                // why as a load on one connection would.
                if self.copy.take_split_failed() {
                    self.load(statement, &te, (*start, *len), None, &job.context)?;
                }
            }
            Work::Statement { text, desc } => {
                let on = job.tables.first().map(|t| format!("{t} ")).unwrap_or_default();
                let te = super::entry(id, desc, &format!("{on}(line {})", job.line), Section::PostData);
                self.conn.failures.begin_entry(id, line);
                self.progress.begin(&te, false, self.conn.failures.errors());
                self.conn.command(text)?;
            }
        }
        self.progress.finish(self.conn.failures.errors());
        self.conn.failures.end_entry();
        Ok(())
    }

    /// Loads the rows at `start..start + len` of the script file with `statement`, shared
    /// with idle workers when `split` says so.
    fn load(&mut self, statement: &[u8], te: &TocEntry, (start, len): (u64, u64), split: Option<u64>, context: &Arc<Context>) -> Result<(), SessionError> {
        let before = self.conn.failures.errors();
        self.copy.start(&mut self.conn, &self.progress, statement, te, split)?;
        if self.conn.take_lost() {
            // A new connection: its session is made again before the next job.
            self.applied = Arc::new(Context { database: self.applied.database.clone(), generation: self.applied.generation, ..Context::default() });
            self.enter(context)?;
        }
        // A COPY the server refused has no rows to take: they are never read.
        if self.conn.failures.errors() == before {
            self.rows(start, len)?;
            self.copy.end(&mut self.conn, &mut self.progress)?;
        }
        Ok(())
    }

    /// A part of a table another worker is loading, in that load's context.
    fn help(&mut self, split: &crate::split::SplitCopy, context: &Arc<Context>, label: String) -> Result<(), SessionError> {
        if let Err(e) = self.enter(context) {
            // Joined, so the owner waits for this part: it failed.
            split.part_done(None);
            return Err(e);
        }
        let started = Instant::now();
        let part = TableCopy::help(&mut self.conn, split)?;
        self.conn.emit(EngineEvent::PartFinished(PartRecord { worker: self.progress.worker, dump_id: split.dump_id, label, started, elapsed: started.elapsed(), rows: part.rows, bytes: part.bytes }));
        Ok(())
    }

    /// Streams the rows at `start..start + len` of the script file into the COPY.
    fn rows(&mut self, start: u64, len: u64) -> Result<(), SessionError> {
        let mut buf = vec![0u8; READ_PIECE];
        let mut at = start;
        let end = start.saturating_add(len);
        while at < end {
            let want = usize::try_from(end - at).map_or(READ_PIECE, |n| n.min(READ_PIECE));
            let n = match self.file.read_at(&mut buf[..want], at) {
                Ok(0) => return Err(SessionError::Fatal(format!("{}: the script ended before the rows at byte {at}; was it changed during the restore?", self.label))),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SessionError::Fatal(format!("could not read {}: {e}", self.label))),
            };
            let piece = &buf[..n];
            self.progress.data_bytes += n as u64;
            self.progress.copy_lines += memchr::memchr_iter(b'\n', piece).count() as u64;
            self.copy.data(&mut self.conn, &self.progress, piece)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Puts the connection in `context`: the database, then the session settings, the
    /// encoding and the failure policy.
    fn enter(&mut self, context: &Arc<Context>) -> Result<(), SessionError> {
        if self.conn.take_lost() {
            // Replaced (a refused COPY, a helper's included): its session is made again.
            self.applied = Arc::new(Context { database: self.applied.database.clone(), generation: self.applied.generation, ..Context::default() });
        }
        if Arc::ptr_eq(&self.applied, context) {
            return Ok(());
        }
        let moved = context.generation != self.applied.generation;
        if moved {
            match &context.database {
                Some(name) => self.conn.follow_to_database(name.clone())?,
                None => self.conn.replace()?,
            }
        }
        if moved || context.settings != self.applied.settings {
            for text in &context.settings {
                let Ok(sql) = self.conn.encoding().decode(text) else { continue };
                match self.conn.rt().block_on(self.conn.client().batch_execute(&sql)) {
                    Ok(()) => {}
                    // The reader's connection ran it without failing, or reported why.
                    Err(e) if e.as_db_error().is_some() => {}
                    Err(e) => return Err(lost_connection(e)),
                }
            }
        }
        self.conn.set_encoding(Encoding::for_archive(&context.encoding));
        self.conn.failures.set_stop_at_first(context.stop_at_first);
        self.applied = Arc::clone(context);
        Ok(())
    }
}
