//! The restore engine: `pgsurge restore -d`. Runs what `pgsurge-plan` decides (its selection
//! and its renderer's statements) against a live server, over connections that
//! `pgsurge-connect` opens: serially (one connection, pg_restore's three passes) or in
//! parallel, as pg_restore's parallel mode does: the leader restores pre-data on its connection, in order,
//! while worker threads — one connection each — take items from the [`schedule::Scheduler`]
//! (a table's data once the schema entries naming it are in, largest first; each table's
//! indexes and constraints as soon as its data is in; ACLs after), and the leader finishes
//! whatever is left.
//!
//! Workers never print: everything the user should see travels as [`EngineEvent`]s to the
//! caller's reporter.
//!
//! Here: the engine's public face ([`restore`], [`restore_script`], its events, outcome and
//! errors). The kinds of restore: a plain SQL `script`, `serial`, and `parallel` with its `leader` and `worker`s, which share
//! `shared` (the scheduler behind its lock, the roster of connections) and report `totals`;
//! `preflight` checks the target first; `analyze` runs the ANALYZE stage. A connection's
//! work, by job: `target` (the renderer's target, handing each call on), `connection`,
//! `group` (schema entries committed many at once; which statements may wait in one is
//! `pgsurge_plan::groupable`), `copy` and `split`, `inserts`, `large_objects`, `encoding`,
//! `progress`, `failure`, `server_error`.

mod analyze;
mod connection;
mod copy;
mod encoding;
mod failure;
mod group;
mod inserts;
mod large_objects;
mod leader;
mod parallel;
mod preflight;
mod progress;
pub mod schedule;
mod script;
mod serial;
mod server_error;
mod shared;
mod split;
mod target;
mod totals;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgsurge_archive::{Archive, DumpId, Toc};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::render::RenderError;
use pgsurge_plan::select::Selection;

pub use failure::Stopped;
pub use script::{restore_script, ScriptFile, ScriptStop};
pub use server_error::server_message;

/// Why a connection could not be opened, in words a user can act on.
pub type ConnectFailure = Box<dyn std::error::Error + Send + Sync>;

/// Opens connections to the target server. `dbname` is `None` for the database the user
/// named, or the database `--create` made. The implementation spawns the connection's
/// driver task on the current tokio runtime, which hands the server's notices to `notices`.
pub trait Connector: Sync {
    fn connect<'a>(&'a self, dbname: Option<&'a str>, notices: pgsurge_connect::NoticeHandler) -> Pin<Box<dyn Future<Output = Result<tokio_postgres::Client, ConnectFailure>> + Send + 'a>>;
}

/// What the engine tells its reporter.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A `-v` progress line (pg_restore's `pg_log_info`).
    Info(String),
    Warning(String),
    /// A failed statement, counted (pg_restore's `pg_log_error` … `Command was:`).
    Error(Failure),
    /// What the restore will do: entries to restore, data entries and their archive bytes
    /// (in total, and per entry where the archive says).
    Plan { items: usize, data_items: usize, data_bytes: u64, sizes: Arc<HashMap<DumpId, u64>> },
    /// The target database already has relations of its own (and neither `--clean` nor
    /// `--create` was given).
    TargetNotEmpty { relations: u64 },
    /// The archive was dumped from a newer server major than the target: its SQL may use
    /// what the target lacks.
    ServerOlderThanArchive { archive_major: u32, server_major: u32 },
    /// `--create` moved the restore to a new database.
    Reconnected(String),
    /// A stage began.
    Stage(Stage),
    /// A worker started / finished a TOC entry.
    ItemStarted { worker: usize, dump_id: DumpId, label: String },
    /// Table data sent so far by the entry in progress on `worker` (during a COPY): COPY
    /// text, its rows (lines), and the archive bytes it came from.
    Progress { worker: usize, bytes: u64, rows: u64, archive_bytes: u64 },
    ItemFinished(ItemRecord),
    /// An idle worker's part of another connection's table data load ended (see
    /// [`PartRecord`]).
    PartFinished(PartRecord),
}

/// A failed statement: pg_restore's message, and what to group it by.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The full message (`could not execute query: ERROR:  … \nCommand was: …`).
    pub message: String,
    /// The server's own message (`role "app" does not exist`), or the first line.
    pub cause: String,
    pub sqlstate: Option<String>,
    pub dump_id: Option<DumpId>,
}

/// One TOC entry's restore, for the timeline.
#[derive(Debug, Clone)]
pub struct ItemRecord {
    pub worker: usize,
    pub dump_id: DumpId,
    /// A `--clean` drop, not the entry's restore.
    pub dropped: bool,
    pub desc: String,
    pub label: String,
    pub started: Instant,
    pub elapsed: Duration,
    pub rows: u64,
    pub bytes: u64,
    /// Failures of its statements. For an ANALYZE (`desc` "ANALYZE", `dump_id` its table's)
    /// 1 when it failed: a warning, never in the restore's error count.
    pub errors: u64,
    /// Connections that loaded its data (more than one when idle workers helped).
    pub connections: usize,
}

/// An idle worker's part of a table whose data another connection is loading: its share of
/// the rows, on its own connection, for the timeline. Not an entry: the owner's
/// [`ItemRecord`] counts the table once, with every part's rows.
#[derive(Debug, Clone)]
pub struct PartRecord {
    pub worker: usize,
    pub dump_id: DumpId,
    pub label: String,
    pub started: Instant,
    pub elapsed: Duration,
    /// Rows this part loaded (0 when it failed or the load was abandoned).
    pub rows: u64,
    /// COPY text it sent.
    pub bytes: u64,
}

/// The stages a restore reports: a parallel one's schema, data and post-data (its
/// ANALYZEs among them), and finish; a serial one is one stage from start to end, then its
/// ANALYZEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    PreData,
    Parallel,
    Finish,
    Serial,
    Analyze,
}

/// The end of a restore that ran to completion (with or without counted errors).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Errors ignored on restore, counted as pg_restore counts them.
    pub errors: u64,
    pub large_objects: u64,
    pub jobs: usize,
    pub rows: u64,
    pub data_bytes: u64,
    pub stage_times: Vec<(Stage, Duration)>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Connect(ConnectFailure),
    /// Setting up a session failed.
    #[error("{0}")]
    Session(String),
    /// A restore that stops at the first error met one; it was reported already.
    #[error("restore stopped at the first error")]
    Stopped,
    #[error(transparent)]
    Render(RenderError),
    /// The archive cannot be read by several workers at once.
    #[error("{0}")]
    NotParallel(String),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl From<RenderError> for EngineError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Target(t) if t.is::<Stopped>() => EngineError::Stopped,
            other => EngineError::Render(other),
        }
    }
}

/// The renderer's warning and `-v` progress callbacks, as engine events.
fn log_sinks<'a>(opts: &'a RestoreOptions, events: &'a (dyn Fn(EngineEvent) + Sync)) -> (impl FnMut(String) + 'a, impl FnMut(String) + 'a) {
    let warn = move |w: String| events(EngineEvent::Warning(w));
    let info = move |m: String| {
        if opts.verbose {
            events(EngineEvent::Info(m))
        }
    };
    (warn, info)
}

fn runtime() -> Result<tokio::runtime::Runtime, EngineError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(EngineError::Runtime)
}

/// Restores `sel` from `archive` with `jobs` connections (1 = serial, as pg_restore without
/// `-j`).
pub fn restore(
    archive: &mut Archive,
    sel: &Selection,
    opts: &RestoreOptions,
    jobs: usize,
    connector: &dyn Connector,
    events: &(dyn Fn(EngineEvent) + Sync),
) -> Result<Outcome, EngineError> {
    let toc = archive.toc().clone();
    let archive_major = archive.header().server_version.as_ref().and_then(|v| preflight::major_of(v));
    let parallel_run = jobs > 1 && !opts.single_transaction;
    if parallel_run {
        // Workers find blocks by offset; a custom archive written to a pipe learns them by
        // one scan over the block headers (a spool still filling is not scanned ahead).
        archive.locate_blocks();
    }
    let sizes = archive.data_sizes();
    let data: Vec<DumpId> = sel.data_ids(&toc);
    events(EngineEvent::Plan {
        items: sel.entries().iter().filter(|e| e.wanted.any()).count(),
        data_items: data.iter().filter(|id| toc.get(**id).is_some_and(|te| te.desc_is("TABLE DATA"))).count(),
        data_bytes: data.iter().filter_map(|id| sizes.get(id)).sum(),
        sizes: Arc::new(data.iter().filter_map(|id| Some((*id, *sizes.get(id)?))).collect()),
    });
    if !parallel_run {
        // One pass in order: a spool would only hold the reader back.
        if let Some(spool) = archive.spool() {
            spool.set_budget(None);
        }
        return serial::serial(archive, Run { toc: &toc, sel, opts, connector, events }, archive_major);
    }
    parallel::parallel(archive, Run { toc: &toc, sel, opts, connector, events }, jobs, archive_major, sizes)
}

/// What every connection of one restore shares: the TOC, the selection, the options, how to
/// connect and where events go.
#[derive(Clone, Copy)]
struct Run<'a> {
    toc: &'a Toc,
    sel: &'a Selection,
    opts: &'a RestoreOptions,
    connector: &'a dyn Connector,
    events: &'a (dyn Fn(EngineEvent) + Sync),
}

/// Connections as libpq would open them (conninfo, `PG*` environment, `~/.pgpass`, TLS).
impl Connector for pgsurge_connect::ConnParams {
    fn connect<'a>(&'a self, dbname: Option<&'a str>, notices: pgsurge_connect::NoticeHandler) -> Pin<Box<dyn Future<Output = Result<tokio_postgres::Client, ConnectFailure>> + Send + 'a>> {
        Box::pin(async move {
            let params = match dbname {
                Some(name) => self.with_dbname(name),
                None => self.clone(),
            };
            // The driver task runs on detached; the client's next call reports its end.
            let (client, _driver) = params.connect_with_notices(notices).await.map_err(|e| -> ConnectFailure { Box::new(e) })?;
            Ok(client)
        })
    }
}
