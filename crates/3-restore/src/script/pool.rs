//! The queue between a parallel script restore's reader and its worker connections: what may
//! start while what came before it in the script is still running, by the tables each piece
//! of work is on (see `pgsurge_script::scope`), and the restore's end when a worker fails.
//!
//! A job waits for every job before it in the script that shares a table with it, running or
//! queued — but indexes of one table are built side by side, as their lock lets them; a
//! foreign key waits for every job before it but other foreign keys. Everything else may
//! pass: the script's order between two tables' data and indexes is no part of the database
//! it leaves. A worker with nothing it may start helps load a large table another worker is
//! loading (the engine's split loads, posted here).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use pgsurge_script::scope::TableName;

use crate::split::{SplitBoard, SplitCopy};

/// Jobs queued at most; the reader waits beyond it, so a script of a million indexes is not
/// held in memory at once.
const MAX_QUEUED: usize = 4096;

/// What a worker's connection must be in before it runs a job: the database, session settings
/// and text encoding the script had reached there, and whether a failure stops the restore.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// The database `\connect` moved to; `None` for the one the user named.
    pub database: Option<String>,
    /// Changed by every `\connect`, so a worker moves even to a database of the same name.
    pub generation: u64,
    /// The script's session settings so far (see the reader's `session`).
    pub settings: Vec<Vec<u8>>,
    /// The client encoding the script's text is in.
    pub encoding: Vec<u8>,
    pub stop_at_first: bool,
}

/// A piece of the script for a worker.
#[derive(Debug)]
pub(crate) enum Work {
    /// A `COPY … FROM stdin` whose rows are the script file's bytes `start..start + len`.
    Copy { statement: Vec<u8>, table: String, start: u64, len: u64 },
    /// A statement, and what kind of entry the reporter is to call it.
    Statement { text: Vec<u8>, desc: &'static str },
}

#[derive(Debug)]
pub(crate) struct Job {
    /// The script line it starts on.
    pub line: u64,
    pub work: Work,
    pub tables: Vec<TableName>,
    /// Runs beside other such jobs on the same tables (indexes).
    pub shared: bool,
    pub foreign_key: bool,
    pub context: Arc<Context>,
}

/// What a worker is given.
pub(crate) enum Task {
    /// The job, by its place in the script.
    Run(u64, Job),
    /// A part of a table another worker is loading, in that load's context, with its label.
    Help(Arc<SplitCopy>, Arc<Context>, String),
    /// Move to the database the script moved to (`\connect`), now: a database a worker is
    /// left in could not be dropped (`pg_dumpall --clean`).
    Move(Arc<Context>),
}

/// Why the restore ends early, as a worker found it.
#[derive(Debug, Clone)]
pub(crate) enum Abort {
    /// A failure met `-e` or `ON_ERROR_STOP`, and was reported.
    Stopped,
    /// A failure nothing lets the restore go on from, worded for the user.
    Failed(String),
}

/// A job queued or running: its place in the script, and what it waits on.
struct Placed {
    seq: u64,
    tables: Vec<TableName>,
    shared: bool,
    foreign_key: bool,
}

impl Placed {
    /// Whether `later` must wait for this one, which comes before it in the script.
    fn holds_back(&self, later: &Placed) -> bool {
        (later.foreign_key && !self.foreign_key) || self.conflicts(later)
    }

    /// Whether the two work on a table in common, in ways that cannot run side by side.
    fn conflicts(&self, other: &Placed) -> bool {
        !(self.shared && other.shared) && self.tables.iter().any(|t| other.tables.contains(t))
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(Placed, Job)>,
    running: Vec<Placed>,
    next_seq: u64,
    /// Workers whose connection is open and who take jobs; `starting` still connecting.
    live: usize,
    starting: usize,
    closed: bool,
    abort: Option<Abort>,
    /// Tables being loaded by several connections, for idle workers to join.
    splits: Vec<(Arc<SplitCopy>, Arc<Context>, String)>,
    /// Parts of such loads being loaded: a load is done when its parts have committed.
    helping: usize,
    /// The database every worker is to move to, numbered, and how many have.
    move_to: Option<(u64, Arc<Context>)>,
    moved: usize,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    changed: Condvar,
}

impl Pool {
    pub fn new(workers: usize) -> Pool {
        Pool { state: Mutex::new(State { starting: workers, ..State::default() }), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// A worker's connection attempt ended: it takes jobs (`live`) or it does not.
    pub fn started(&self, live: bool) {
        let mut state = self.lock();
        state.starting -= 1;
        state.live += usize::from(live);
        self.changed.notify_all();
    }

    /// How many workers take jobs, once every one has tried to connect.
    pub fn wait_started(&self) -> usize {
        let mut state = self.lock();
        while state.starting > 0 && state.abort.is_none() {
            state = self.wait(state);
        }
        state.live
    }

    /// Queues `job`, waiting while the queue is full.
    pub fn push(&self, job: Job) -> Result<(), Abort> {
        let mut state = self.lock();
        loop {
            if let Some(abort) = &state.abort {
                return Err(abort.clone());
            }
            if state.live == 0 {
                return Err(Abort::Failed("no worker connection is left to restore the script with".into()));
            }
            if state.queue.len() < MAX_QUEUED {
                break;
            }
            state = self.wait(state);
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.queue.push_back((Placed { seq, tables: job.tables.clone(), shared: job.shared, foreign_key: job.foreign_key }, job));
        self.changed.notify_all();
        Ok(())
    }

    /// Waits until every job queued has run: what follows needs all of them.
    pub fn wait_idle(&self) -> Result<(), Abort> {
        let mut state = self.lock();
        loop {
            if let Some(abort) = &state.abort {
                return Err(abort.clone());
            }
            if state.queue.is_empty() && state.running.is_empty() && state.helping == 0 {
                return Ok(());
            }
            state = self.wait(state);
        }
    }

    /// The first job that may start now, or else a part of a table being loaded, waiting
    /// for one; `None` once the pool is closed and empty, or the restore ends.
    pub fn take(&self, moves_seen: &mut u64) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if state.abort.is_some() {
                return None;
            }
            if let Some((n, context)) = state.move_to.as_ref().filter(|(n, _)| *n != *moves_seen) {
                *moves_seen = *n;
                return Some(Task::Move(Arc::clone(context)));
            }
            if let Some(i) = ready(&state) {
                let (placed, job) = state.queue.remove(i)?;
                let seq = placed.seq;
                state.running.push(placed);
                return Some(Task::Run(seq, job));
            }
            state.splits.retain(|(s, _, _)| s.is_open());
            if let Some((split, context, label)) = state.splits.iter().find(|(s, _, _)| s.join()) {
                let task = Task::Help(Arc::clone(split), Arc::clone(context), label.clone());
                state.helping += 1;
                return Some(task);
            }
            if state.closed && state.queue.is_empty() && state.running.is_empty() {
                return None;
            }
            state = self.wait(state);
        }
    }

    /// A worker's board, on which the loads it splits are posted with `context`.
    pub fn board(&self) -> Board<'_> {
        Board { pool: self, context: Mutex::new((Arc::new(Context::default()), String::new())) }
    }

    /// The job `seq` has run.
    pub fn done(&self, seq: u64) {
        let mut state = self.lock();
        state.running.retain(|p| p.seq != seq);
        self.changed.notify_all();
    }

    /// A part of a shared load has been loaded (and committed or rolled back).
    pub fn helped(&self) {
        let mut state = self.lock();
        state.helping = state.helping.saturating_sub(1);
        self.changed.notify_all();
    }

    /// Moves every worker to `context`'s database, waiting until each has: the reader has
    /// moved there, and nothing is queued.
    pub fn move_all(&self, context: Arc<Context>) -> Result<(), Abort> {
        let mut state = self.lock();
        let n = state.move_to.as_ref().map_or(1, |(n, _)| n + 1);
        state.move_to = Some((n, context));
        state.moved = 0;
        self.changed.notify_all();
        loop {
            if let Some(abort) = &state.abort {
                return Err(abort.clone());
            }
            if state.moved >= state.live {
                return Ok(());
            }
            state = self.wait(state);
        }
    }

    /// A worker has moved where [`Pool::move_all`] asked.
    pub fn moved(&self) {
        let mut state = self.lock();
        state.moved += 1;
        self.changed.notify_all();
    }

    /// A worker stopped taking jobs (its connection is gone, or the restore ends).
    pub fn left(&self) {
        let mut state = self.lock();
        state.live = state.live.saturating_sub(1);
        self.changed.notify_all();
    }

    /// No more jobs will come: workers end once the queue is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Ends the restore: no job starts after this; the first reason stands.
    pub fn abort(&self, why: Abort) {
        let mut state = self.lock();
        state.abort.get_or_insert(why);
        state.closed = true;
        self.changed.notify_all();
    }
}

/// Where one worker posts the tables it loads with help: the pool, and the context and label
/// of the job it is running, which helpers take on.
pub(crate) struct Board<'p> {
    pool: &'p Pool,
    context: Mutex<(Arc<Context>, String)>,
}

impl Board<'_> {
    /// The job the worker runs next is in `context`, labelled `label`.
    pub fn running(&self, context: &Arc<Context>, label: &str) {
        *self.context.lock().unwrap_or_else(|e| e.into_inner()) = (Arc::clone(context), label.to_owned());
    }
}

impl SplitBoard for Board<'_> {
    fn post(&self, split: &Arc<SplitCopy>) {
        let (context, label) = self.context.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut state = self.pool.lock();
        state.splits.push((Arc::clone(split), context, label));
        self.pool.changed.notify_all();
    }

    fn withdraw(&self, split: &Arc<SplitCopy>) {
        self.pool.lock().splits.retain(|(s, _, _)| !Arc::ptr_eq(s, split));
    }
}

/// The first queued job nothing before it holds back, in one pass over the queue: the tables
/// of the jobs passed so far, and whether one of them is not a foreign key, are what the
/// next one must not need.
fn ready(state: &State) -> Option<usize> {
    // Tables of the jobs passed, and whether all of those on each were shared ones.
    let mut passed: HashMap<&TableName, bool> = HashMap::new();
    let mut passed_other = false;
    for (i, (job, _)) in state.queue.iter().enumerate() {
        let waits_for_passed = (job.foreign_key && passed_other) || job.tables.iter().any(|t| passed.get(t).is_some_and(|&shared| !(shared && job.shared)));
        let waits_for_running = state.running.iter().any(|r| (r.seq < job.seq && r.holds_back(job)) || r.conflicts(job));
        if !waits_for_passed && !waits_for_running {
            return Some(i);
        }
        for t in &job.tables {
            let shared = passed.entry(t).or_insert(true);
            *shared &= job.shared;
        }
        passed_other |= !job.foreign_key;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str) -> TableName {
        TableName { schema: "public".into(), name: name.into() }
    }

    fn job(line: u64, tables: &[&str], foreign_key: bool) -> Job {
        Job { line, work: Work::Statement { text: Vec::new(), desc: "SQL" }, tables: tables.iter().map(|t| table(t)).collect(), shared: false, foreign_key, context: Arc::new(Context::default()) }
    }

    fn index(line: u64, on: &str) -> Job {
        Job { shared: true, ..job(line, &[on], false) }
    }

    fn pool_with(jobs: Vec<Job>) -> Pool {
        let pool = Pool::new(1);
        pool.started(true);
        for j in jobs {
            pool.push(j).unwrap_or_else(|_| panic!("pushed"));
        }
        pool
    }

    /// Lines of the jobs a worker can take now, taking each.
    fn startable(pool: &Pool) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        loop {
            let mut state = pool.lock();
            let Some(i) = ready(&state) else { break };
            let Some((placed, job)) = state.queue.remove(i) else { break };
            out.push((placed.seq, job.line));
            state.running.push(placed);
        }
        out
    }

    #[test]
    fn jobs_on_other_tables_pass_and_jobs_on_the_same_table_wait() {
        // The data of a and b, an index on a, a primary key on c, a second index on a.
        let pool = pool_with(vec![job(1, &["a"], false), job(2, &["b"], false), job(3, &["a"], false), job(4, &["c"], false), job(5, &["a"], false)]);
        let lines = |v: Vec<(u64, u64)>| v.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(lines(startable(&pool)), [1, 2, 4]);
        pool.done(0);
        assert_eq!(lines(startable(&pool)), [3]);
        pool.done(2);
        assert_eq!(lines(startable(&pool)), [5]);
    }

    #[test]
    fn a_foreign_key_waits_for_everything_before_it_but_foreign_keys() {
        let pool = pool_with(vec![job(1, &["a"], false), job(2, &["x", "y"], true), job(3, &["z", "w"], true), job(4, &["b"], false)]);
        let lines = |v: Vec<(u64, u64)>| v.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        // The index on b passes both keys; the keys wait for a's job, started first.
        assert_eq!(lines(startable(&pool)), [1, 4]);
        pool.done(0);
        assert_eq!(lines(startable(&pool)), [2, 3]);
    }

    #[test]
    fn indexes_of_one_table_are_built_side_by_side_after_its_data() {
        // a's data, two indexes on a, a's primary key, a third index on a.
        let pool = pool_with(vec![job(1, &["a"], false), index(2, "a"), index(3, "a"), job(4, &["a"], false), index(5, "a")]);
        let lines = |v: Vec<(u64, u64)>| v.into_iter().map(|(_, l)| l).collect::<Vec<_>>();
        assert_eq!(lines(startable(&pool)), [1]);
        pool.done(0);
        assert_eq!(lines(startable(&pool)), [2, 3]);
        pool.done(1);
        pool.done(2);
        assert_eq!(lines(startable(&pool)), [4]);
        pool.done(3);
        assert_eq!(lines(startable(&pool)), [5]);
    }

    #[test]
    fn an_abort_stops_every_wait() {
        let pool = pool_with(vec![job(1, &["a"], false)]);
        pool.abort(Abort::Failed("gone".into()));
        assert!(pool.take(&mut 0).is_none());
        assert!(matches!(pool.wait_idle(), Err(Abort::Failed(m)) if m == "gone"));
        assert!(pool.push(job(2, &["b"], false)).is_err());
    }

    #[test]
    fn workers_end_when_the_pool_is_closed_and_empty() {
        let pool = Arc::new(pool_with(vec![job(1, &["a"], false)]));
        pool.close();
        let taken = std::thread::scope(|s| {
            let worker = s.spawn(|| {
                let mut n = 0;
                while let Some(Task::Run(seq, _)) = pool.take(&mut 0) {
                    n += 1;
                    pool.done(seq);
                }
                n
            });
            worker.join().unwrap_or(0)
        });
        assert_eq!(taken, 1);
        assert!(pool.wait_idle().is_ok());
    }
}
