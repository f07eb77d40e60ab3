//! One worker connection of a parallel script restore: it takes jobs from the pool — a
//! `COPY` whose rows it reads from the script file itself, an index, a constraint — and runs
//! each in the database, session and encoding the script had reached where the job stands.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use pgsurge_archive::{DumpId, Section, TocEntry};
use pgsurge_plan::options::RestoreOptions;

use super::pool::{Abort, Context, Job, Pool, Work};
use crate::connection::{refused_for_lack_of_slots, Connection};
use crate::copy::TableCopy;
use crate::encoding::Encoding;
use crate::failure::{lost_connection, SessionError};
use crate::progress::Progress;
use crate::{runtime, Connector, EngineEvent};

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
    let mut worker = Worker { conn, progress: Progress::new(setup.events), copy: TableCopy::new(), file, label: setup.label, applied: Arc::new(Context::default()) };
    worker.progress.worker = index;
    while let Some((seq, job)) = pool.take() {
        let result = worker.run(&job);
        pool.done(seq);
        match result {
            Ok(()) => {}
            Err(SessionError::Stopped(_)) => pool.abort(Abort::Stopped),
            Err(e) => pool.abort(Abort::Failed(e.to_string())),
        }
    }
    pool.left();
    WorkerTotals { errors: worker.conn.failures.errors(), rows: worker.progress.rows, data_bytes: worker.progress.data_bytes }
}

struct Worker<'e, 'l> {
    conn: Connection<'e>,
    progress: Progress<'e>,
    copy: TableCopy<'e>,
    file: File,
    label: &'l str,
    /// The context the connection is in.
    applied: Arc<Context>,
}

impl Worker<'_, '_> {
    fn run(&mut self, job: &Job) -> Result<(), SessionError> {
        self.enter(&job.context)?;
        let id = DumpId(i32::try_from(job.line).unwrap_or(i32::MAX));
        let line = format!("{}:{}", self.label, job.line);
        match &job.work {
            Work::Copy { statement, table, start, len } => {
                let te = TocEntry::new(id, "TABLE DATA", table, Section::Data, Vec::new());
                self.conn.failures.begin_entry(id, line);
                self.progress.begin(&te, false, self.conn.failures.errors());
                let before = self.conn.failures.errors();
                self.copy.start(&mut self.conn, &self.progress, statement, &te, None)?;
                if self.conn.take_lost() {
                    // A new connection: its session is made again before the next job.
                    self.applied = Arc::new(Context { database: self.applied.database.clone(), generation: self.applied.generation, ..Context::default() });
                }
                // A COPY the server refused has no rows to take: they are never read.
                if self.conn.failures.errors() == before {
                    self.rows(*start, *len)?;
                    self.copy.end(&mut self.conn, &mut self.progress)?;
                }
            }
            Work::Statement { text } => {
                let te = TocEntry::new(id, "SQL", &format!("line {}", job.line), Section::PostData, Vec::new());
                self.conn.failures.begin_entry(id, line);
                self.progress.begin(&te, false, self.conn.failures.errors());
                self.conn.command(text)?;
            }
        }
        self.progress.finish(self.conn.failures.errors());
        self.conn.failures.end_entry();
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
