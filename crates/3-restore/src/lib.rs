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

mod connection;
mod copy;
mod encoding;
mod failure;
mod inserts;
mod large_objects;
mod progress;
pub mod schedule;
mod server_error;
mod split;
mod target;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use connection::refused_for_lack_of_slots;

use pgsurge_archive::{Archive, DataRelease, DumpId, Toc};

use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::render::{RenderError, Renderer};
use pgsurge_plan::plan::{self, Plan};
use pgsurge_plan::select::Selection;
use schedule::{Next, Scheduler};
pub use failure::Stopped;
pub use server_error::server_message;
use split::{SplitBoard, SplitCopy};
use target::Session;

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
    pub errors: u64,
    /// Connections that loaded its data (more than one when idle workers helped).
    pub connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    PreData,
    Parallel,
    Finish,
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
    let archive_major = archive.header().server_version.as_ref().and_then(|v| major_of(v));
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
        return serial(archive, Run { toc: &toc, sel, opts, connector, events }, archive_major);
    }
    parallel(archive, Run { toc: &toc, sel, opts, connector, events }, jobs, archive_major, sizes)
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

fn serial(archive: &mut Archive, run: Run<'_>, archive_major: Option<u32>) -> Result<Outcome, EngineError> {
    let Run { toc, sel, opts, connector, events } = run;
    let rt = runtime()?;
    let started = Instant::now();
    events(EngineEvent::Stage(Stage::PreData));
    let mut session = Session::connect(&rt, connector, None, opts, toc, events)?;
    preflight(&mut session, sel, opts, archive_major);
    let (mut warn, mut info) = log_sinks(opts, events);
    let result = Renderer::new(archive, toc, sel, opts, &mut session, &mut warn, &mut info).run();
    session.finish_entry();
    result?;
    Ok(Outcome {
        errors: session.errors(),
        large_objects: session.large_objects(),
        jobs: 1,
        rows: session.rows(),
        data_bytes: session.data_bytes(),
        stage_times: vec![(Stage::PreData, started.elapsed())],
    })
}

/// State shared by the workers of the parallel phase.
struct Shared {
    scheduler: Mutex<SchedulerState>,
    wake: Condvar,
    roster: Mutex<Roster>,
}

/// How the workers' connections went. A server may have fewer free slots than `-j` asks
/// for; the workers it refuses for that reason step aside, and the others share the work.
#[derive(Debug)]
struct Roster {
    /// Workers whose connection attempt has not ended yet.
    pending: usize,
    connected: usize,
    refused: usize,
    /// The server's words for the first refusal.
    reason: Option<String>,
}

impl Roster {
    fn new(workers: usize) -> Roster {
        Roster { pending: workers, connected: 0, refused: 0, reason: None }
    }

    /// One worker's attempt ended: connected (`None`), or refused for lack of a slot with
    /// the server's `reason`. Once the last attempt has ended, the one warning to give, if
    /// any was refused.
    fn attempt_ended(&mut self, refused: Option<String>) -> Option<String> {
        self.pending = self.pending.saturating_sub(1);
        match refused {
            None => self.connected += 1,
            Some(reason) => {
                self.refused += 1;
                self.reason.get_or_insert(reason);
            }
        }
        if self.pending > 0 || self.refused == 0 {
            return None;
        }
        let asked = self.connected + self.refused;
        let reason = self.reason.as_deref().unwrap_or("no free connection slot");
        Some(format!(
            "continuing with {} of {asked} jobs: the server refused {} connection{} ({reason})",
            self.jobs(),
            self.refused,
            if self.refused == 1 { "" } else { "s" },
        ))
    }

    /// Connections that restore in the parallel phase; with none, the leader restores it all
    /// after the schema (see `Scheduler::leftovers`), one job.
    fn jobs(&self) -> usize {
        self.connected.max(1)
    }
}

struct SchedulerState {
    scheduler: Scheduler,
    /// A worker hit a fatal error: everyone stops taking work.
    abort: bool,
    /// Tables being loaded that idle workers may help with.
    splits: Vec<Arc<SplitCopy>>,
    /// TABLE dump id → created in this run without error (the leader's schema entries).
    created: HashMap<DumpId, bool>,
    /// The database workers connect to, once settled: `Some(None)` for the one the user
    /// named, `Some(Some(name))` for the one `--create` made.
    database: Option<Option<String>>,
}

impl Shared {
    /// Everyone stops taking work.
    fn abort(&self) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.abort = true;
        }
        self.wake.notify_all();
    }

    fn aborted(&self) -> bool {
        self.scheduler.lock().map_or(true, |st| st.abort)
    }

    fn publish_database(&self, name: Option<String>) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.database = Some(name);
        }
        self.wake.notify_all();
    }

    /// The database to connect to, once the leader has settled it; `None` if the restore
    /// stopped first.
    fn database(&self) -> Result<Option<Option<String>>, EngineError> {
        let mut st = self.scheduler.lock().map_err(|_| poisoned())?;
        loop {
            if st.abort {
                return Ok(None);
            }
            if let Some(db) = &st.database {
                return Ok(Some(db.clone()));
            }
            st = self.wake.wait(st).map_err(|_| poisoned())?;
        }
    }

    /// The leader finished (and committed) a schema entry; `created` says how a TABLE fared.
    fn schema_done(&self, index: usize, id: DumpId, created: Option<bool>) -> Result<(), EngineError> {
        let mut st = self.scheduler.lock().map_err(|_| poisoned())?;
        if let Some(ok) = created {
            st.created.insert(id, ok);
        }
        st.scheduler.complete(index);
        drop(st);
        self.wake.notify_all();
        Ok(())
    }
}

impl SplitBoard for Shared {
    fn post(&self, split: &Arc<SplitCopy>) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.splits.push(split.clone());
        }
        self.wake.notify_all();
    }

    fn withdraw(&self, split: &Arc<SplitCopy>) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.splits.retain(|s| !Arc::ptr_eq(s, split));
        }
    }
}

/// What a free worker does next.
enum Job {
    /// Restore the TOC entry at this index.
    Run(usize),
    /// Load a part of a table another worker is loading.
    Help(Arc<SplitCopy>),
}

fn parallel(archive: &mut Archive, run: Run<'_>, jobs: usize, archive_major: Option<u32>, data_bytes: HashMap<DumpId, u64>) -> Result<Outcome, EngineError> {
    let Run { toc, sel, opts, events, .. } = run;
    if !archive.is_seekable() {
        return Err(EngineError::NotParallel("a parallel restore needs an archive it can read at any offset; restore this one with -j 1".into()));
    }
    let plan = Arc::new(Plan::parallel(toc, sel, opts, &data_bytes, archive.is_spooled()));
    let schema: Vec<usize> = plan.items.iter().filter(|it| it.leader).map(|it| it.index).collect();
    let mut outcome = Outcome { jobs, ..Outcome::default() };
    let mut readers = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        readers.push(archive.try_clone_reader().ok_or_else(|| EngineError::NotParallel("this archive cannot be read by several workers at once".into()))?);
    }
    let shared = Shared {
        scheduler: Mutex::new(SchedulerState {
            scheduler: Scheduler::new(Arc::clone(&plan)),
            abort: false,
            splits: Vec::new(),
            created: HashMap::new(),
            database: None,
        }),
        wake: Condvar::new(),
        roster: Mutex::new(Roster::new(jobs)),
    };
    let tables = Tables { plan: &plan, sizes: &data_bytes, spool: limit_spool(archive, toc, sel, opts) };

    // The leader creates the schema on its connection while the workers, one connection
    // each, take table data and post-data from the scheduler as their tables come into being.
    let started = Instant::now();
    events(EngineEvent::Stage(Stage::PreData));
    let (schema_result, schema_time, results) = std::thread::scope(|scope| {
        let handles: Vec<_> = readers
            .into_iter()
            .enumerate()
            .map(|(worker, reader)| {
                let (shared, tables) = (&shared, &tables);
                scope.spawn(move || {
                    let r = work(worker, reader, run, shared, tables);
                    if r.is_err() {
                        shared.abort();
                    }
                    r
                })
            })
            .collect();
        let schema_result = lead(archive, run, &shared, &schema, archive_major);
        let schema_time = started.elapsed();
        match &schema_result {
            Ok(_) => events(EngineEvent::Stage(Stage::Parallel)),
            Err(_) => shared.abort(),
        }
        let results: Vec<Result<Totals, EngineError>> = handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(EngineError::Session("a worker thread panicked".into())))).collect();
        (schema_result, schema_time, results)
    });
    let mut first_error = None;
    for r in std::iter::once(schema_result).chain(results) {
        match r {
            Ok(t) => outcome.absorb(&t),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let roster = shared.roster.into_inner().map_err(|_| poisoned())?;
    if roster.refused > 0 {
        outcome.jobs = roster.jobs();
    }
    outcome.stage_times.push((Stage::PreData, schema_time));
    outcome.stage_times.push((Stage::Parallel, started.elapsed().saturating_sub(schema_time)));

    // Last, the leader reconnects and restores whatever never became ready.
    let phase3 = Instant::now();
    events(EngineEvent::Stage(Stage::Finish));
    let state = shared.scheduler.into_inner().map_err(|_| poisoned())?;
    let dbname = state.database.flatten();
    let leftovers = state.scheduler.leftovers();
    {
        let rt = runtime()?;
        let mut leader = reconnect_leader(&rt, run, dbname.as_deref())?;
        let (mut warn, mut info) = log_sinks(opts, events);
        let mut renderer = Renderer::new(archive, toc, sel, opts, &mut leader, &mut warn, &mut info)
            // Each leftover commits on its own: a batch opened here would have no open()
            // BEGIN before it and no close() COMMIT after it.
            .for_worker();
        for index in leftovers {
            if let Some(te) = toc.entries.get(index).filter(|_| opts.verbose) {
                events(EngineEvent::Info(format!("processing missed item {} {} {}", te.dump_id, te.desc, te.tag)));
            }
            renderer.restore_at(index)?;
            if let (Some(spool), Some(te)) = (&tables.spool, toc.entries.get(index)) {
                spool.done(te.dump_id);
            }
        }
        drop(renderer);
        leader.finish_entry();
        outcome.absorb(&Totals::of(&leader, leader.errors()));
    }
    outcome.stage_times.push((Stage::Finish, phase3.elapsed()));
    Ok(outcome)
}

/// Tries for a free slot after the parallel phase this long, at most.
const RECONNECT_TRIES: u32 = 50;
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// The leader's connection for the last stage. The workers have just closed theirs, but the
/// server frees a slot only once the session's process has exited: when the workers had
/// every slot the server allows, the first attempts can still be refused for lack of one, so
/// those are tried again for a moment. Any other failure ends the restore.
fn reconnect_leader<'e>(rt: &'e tokio::runtime::Runtime, run: Run<'e>, dbname: Option<&str>) -> Result<Session<'e>, EngineError> {
    let Run { toc, opts, connector, events, .. } = run;
    let mut tries = 1;
    loop {
        match Session::connect(rt, connector, dbname, opts, toc, events) {
            Err(EngineError::Connect(e)) if tries < RECONNECT_TRIES && refused_for_lack_of_slots(&e).is_some() => {
                tries += 1;
                std::thread::sleep(RECONNECT_PAUSE);
            }
            other => return other,
        }
    }
}

fn poisoned() -> EngineError {
    EngineError::Session("scheduler lock poisoned".into())
}

/// The leader's part: the start of the restore (preflight, `--clean`'s drops) and the schema
/// entries in restore order, each reported done to the scheduler once committed. Workers connect
/// once the database they are to work in is settled: at once, or under `--create` after the
/// new database and its properties.
fn lead(archive: &mut Archive, run: Run<'_>, shared: &Shared, schema: &[usize], archive_major: Option<u32>) -> Result<Totals, EngineError> {
    let Run { toc, sel, opts, connector, events } = run;
    let rt = runtime()?;
    // `--create` moves the leader to the new database; the workers follow it there.
    let moved_to: Mutex<Option<String>> = Mutex::new(None);
    let watch = |e: EngineEvent| {
        if let EngineEvent::Reconnected(name) = &e {
            if let Ok(mut m) = moved_to.lock() {
                *m = Some(name.clone());
            }
        }
        events(e)
    };
    let mut leader = Session::connect(&rt, connector, None, opts, toc, &watch)?;
    preflight(&mut leader, sel, opts, archive_major);
    let (mut warn, mut info) = log_sinks(opts, events);
    let mut renderer = Renderer::new(archive, toc, sel, opts, &mut leader, &mut warn, &mut info);
    renderer.open()?;
    // Under --transaction-size nothing is visible to the workers before the last COMMIT.
    let batched = opts.transaction_size.is_some();
    let mut held = Vec::new();
    // Workers must see the database's own settings (DATABASE PROPERTIES), as pg_restore's,
    // which connect after the whole schema.
    let settled_at = schema.iter().rposition(|&i| toc.entries.get(i).is_some_and(|te| te.desc_is("DATABASE") || te.desc_is("DATABASE PROPERTIES"))).map_or(0, |p| p + 1);
    let mut published = false;
    let publish = |shared: &Shared| shared.publish_database(moved_to.lock().ok().and_then(|m| m.clone()));
    for (n, &index) in schema.iter().enumerate() {
        let Some(te) = toc.entries.get(index) else { continue };
        if !published && n >= settled_at {
            publish(shared);
            published = true;
        }
        if shared.aborted() {
            break;
        }
        renderer.restore_at(index)?;
        let created = (te.desc_is("TABLE") && sel.entry(index).is_some_and(|e| e.wanted.schema)).then(|| renderer.target_succeeded());
        if batched {
            held.push((index, te.dump_id, created));
        } else {
            shared.schema_done(index, te.dump_id, created)?;
        }
    }
    // Stopped by a worker: an open --transaction-size batch is left to roll back with the
    // connection, as pg_restore's would.
    let stopped = shared.aborted();
    if !stopped {
        renderer.commit_batch()?;
    }
    drop(renderer);
    if !published {
        publish(shared);
    }
    if !stopped {
        for (index, id, created) in held {
            shared.schema_done(index, id, created)?;
        }
    }
    leader.finish_entry();
    Ok(Totals::of(&leader, leader.errors()))
}

/// Archive bytes of table data below which a worker loads a table created in this run
/// without the TRUNCATE that pg_restore puts first.
const WRAP_MIN_BYTES: u64 = 1 << 20;

/// Checks what the target holds before anything is restored: a schema restore into a
/// database with relations of its own will collide with them.
fn preflight(session: &mut Session<'_>, sel: &Selection, opts: &RestoreOptions, archive_major: Option<u32>) {
    let server_major = session.server_version() / 10_000;
    if let Some(archive_major) = archive_major.filter(|&a| server_major >= 10 && a > server_major) {
        session.emit(EngineEvent::ServerOlderThanArchive { archive_major, server_major });
    }
    if opts.clean || opts.create || !sel.restores_schema() {
        return;
    }
    if let Some(relations) = session.user_relations() {
        if relations > 0 {
            session.emit(EngineEvent::TargetNotEmpty { relations });
        }
    }
}

/// The major version in a version string such as `18.1 (Debian 18.1-1)` or `9.6.24`
/// (9.6 → 9, which is older than anything a target here runs).
fn major_of(version: &[u8]) -> Option<u32> {
    let digits: Vec<u8> = version.iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// What the workers know of the tables' data.
struct Tables<'a> {
    /// What each item is (whether idle workers may help load it).
    plan: &'a Plan,
    /// Archive bytes of each entry's data, where known.
    sizes: &'a HashMap<DumpId, u64>,
    /// A pipe's temporary copy, whose finished entries' bytes are given back.
    spool: Option<DataRelease>,
}

/// Keeps a pipe's temporary copy to about `spool_budget` bytes: the archive gives back each
/// block once its entry is done (and at once those not restored).
fn limit_spool(archive: &Archive, toc: &Toc, sel: &Selection, opts: &RestoreOptions) -> Option<DataRelease> {
    let Some(budget) = opts.spool_budget else {
        if let Some(spool) = archive.spool() {
            spool.set_budget(None);
        }
        return None;
    };
    archive.release_as_read(sel.data_ids(toc).into_iter().collect(), budget)
}

/// What one connection did, for the outcome.
#[derive(Debug, Default)]
struct Totals {
    /// Errors as the outcome counts them (for workers: with pg_restore's extra count per
    /// failed item).
    errors: u64,
    large_objects: u64,
    rows: u64,
    bytes: u64,
}

impl Totals {
    fn of(session: &Session<'_>, errors: u64) -> Totals {
        Totals { errors, large_objects: session.large_objects(), rows: session.rows(), bytes: session.data_bytes() }
    }
}

impl Outcome {
    fn absorb(&mut self, t: &Totals) {
        self.errors += t.errors;
        self.large_objects += t.large_objects;
        self.rows += t.rows;
        self.data_bytes += t.bytes;
    }
}

/// The next job for a worker, waiting while nothing can start; `None` when the parallel
/// phase is over (or another worker failed). A worker with nothing of its own to start
/// helps load a table another is loading.
fn next_job(shared: &Shared) -> Result<Option<Job>, EngineError> {
    let mut st = shared.scheduler.lock().map_err(|_| poisoned())?;
    loop {
        if st.abort {
            return Ok(None);
        }
        match st.scheduler.next_item() {
            Next::Run(i) => return Ok(Some(Job::Run(i))),
            Next::Done => return Ok(None),
            Next::Wait => {
                st.splits.retain(|s| s.is_open());
                if let Some(split) = st.splits.iter().find(|s| s.join()) {
                    return Ok(Some(Job::Help(split.clone())));
                }
                st = shared.wake.wait(st).map_err(|_| poisoned())?;
            }
        }
    }
}

/// One worker: its own connection and archive reader; takes items until none are left.
fn work(worker: usize, mut archive: Archive, run: Run<'_>, shared: &Shared, tables: &Tables<'_>) -> Result<Totals, EngineError> {
    let Run { toc, sel, opts, connector, events } = run;
    let Some(dbname) = shared.database()? else { return Ok(Totals::default()) };
    let rt = runtime()?;
    let connected = Session::connect(&rt, connector, dbname.as_deref(), opts, toc, events);
    let refused = match &connected {
        Err(EngineError::Connect(e)) => refused_for_lack_of_slots(e),
        _ => None,
    };
    let stepping_aside = refused.is_some();
    // Any other failure ends the restore; it is not counted as an attempt, so no warning
    // about slots follows it.
    if connected.is_ok() || stepping_aside {
        let warning = shared.roster.lock().map_err(|_| poisoned())?.attempt_ended(refused);
        if let Some(w) = warning {
            events(EngineEvent::Warning(w));
        }
    }
    if stepping_aside {
        return Ok(Totals::default());
    }
    let mut session = connected?;
    session.become_worker(worker + 1);
    let mut errors = 0;
    let (mut warn, mut info) = log_sinks(opts, events);
    session.set_board(shared);
    while let Some(job) = next_job(shared)? {
        let index = match job {
            Job::Run(index) => index,
            Job::Help(split) => {
                if opts.verbose {
                    if let Some(te) = toc.get(split.dump_id) {
                        events(EngineEvent::Info(format!("connection {} helps load table \"{}\"", worker + 1, te.tag)));
                    }
                }
                session.help(&split)?;
                continue;
            }
        };
        let Some(te) = toc.entries.get(index) else { continue };
        let table_data = te.desc_is("TABLE DATA") && sel.entry(index).is_some_and(|e| e.wanted.data) && !plan::loads_via_partition_root(te);
        let table = te.dependencies.first();
        // Data of a table this run created goes in right after a TRUNCATE in the same
        // transaction, so the server can skip WAL for it (wal_level=minimal), as pg_restore
        // does — but only for tables worth it: for a small table the TRUNCATE (a new file, the
        // old one unlinked at commit) costs more than it saves. Unknown sizes (a pipe) keep
        // pg_restore's way.
        let created = match table {
            Some(t) => shared.scheduler.lock().map_err(|_| poisoned())?.created.get(t).copied(),
            None => None,
        };
        let big_enough = tables.sizes.get(&te.dump_id).is_none_or(|&n| n >= WRAP_MIN_BYTES);
        let wrap = table_data && created == Some(true) && big_enough;
        let failed = table.copied().filter(|_| opts.no_data_for_failed_tables && created == Some(false));
        // A large table is offered to idle workers instead (its parts cannot wait on a
        // TRUNCATE's lock); should the split load fail, it is loaded again the plain way.
        let split = tables.plan.by_index.get(&index).and_then(|&i| tables.plan.items.get(i)).and_then(|it| it.split_after);
        session.offer_split(split);
        let mut wrap_now = wrap && split.is_none();
        loop {
            let mut renderer = Renderer::new(&mut archive, toc, sel, opts, &mut session, &mut warn, &mut info).for_worker().with_failed_tables(failed);
            restore_item(&mut renderer, te, index, wrap_now)?;
            drop(renderer);
            // The data never reached a COPY (skipped): the offer lapses with the item.
            session.offer_split(None);
            if !session.take_split_failed() {
                break;
            }
            if !archive.data_intact(te.dump_id) {
                session.split_failure_stands(&te.tag.to_string())?;
                break;
            }
            if opts.verbose {
                events(EngineEvent::Info(format!("loading table \"{}\" again on one connection", te.tag)));
            }
            wrap_now = wrap;
        }
        // As pg_restore counts a worker's item (see failure::Failures::item_errors).
        errors += session.finish_worker_item();
        if let Some(spool) = &tables.spool {
            spool.done(te.dump_id);
        }
        shared.scheduler.lock().map_err(|_| poisoned())?.scheduler.complete(index);
        shared.wake.notify_all();
    }
    Ok(Totals::of(&session, errors))
}

fn restore_item(renderer: &mut Renderer<'_>, te: &pgsurge_archive::TocEntry, index: usize, wrap: bool) -> Result<(), RenderError> {
    if !wrap {
        return renderer.restore_at(index);
    }
    renderer.truncate_and_restore(te, index)
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

#[cfg(test)]
mod tests {
    use super::Roster;

    /// One warning, from the last attempt to end, with the jobs that go on and the first
    /// reason; none when every worker connected.
    #[test]
    fn refused_workers_are_told_once() {
        let mut r = Roster::new(4);
        assert_eq!(r.attempt_ended(Some("FATAL:  sorry, too many clients already".into())), None);
        assert_eq!(r.attempt_ended(None), None);
        assert_eq!(r.attempt_ended(Some("FATAL:  other".into())), None);
        let w = r.attempt_ended(None).expect("the last attempt gives the warning");
        assert_eq!(w, "continuing with 2 of 4 jobs: the server refused 2 connections (FATAL:  sorry, too many clients already)");
        assert_eq!(r.jobs(), 2);

        let mut r = Roster::new(2);
        assert_eq!(r.attempt_ended(None), None);
        assert_eq!(r.attempt_ended(None), None);

        // No worker at all: the leader restores everything, one job.
        let mut r = Roster::new(1);
        let w = r.attempt_ended(Some("FATAL:  too many connections for role \"x\"".into())).expect("warning");
        assert!(w.starts_with("continuing with 1 of 1 jobs: the server refused 1 connection ("), "{w}");
    }
}
