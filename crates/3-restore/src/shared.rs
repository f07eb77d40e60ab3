//! What the connections of a parallel restore share: the scheduler behind one lock (with
//! what the leader's schema entries left behind — which tables this run created, the
//! database to connect to — and the tables idle workers may help load), the roster of
//! worker connections the server granted, and how a free worker is handed its next job.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use pgsurge_archive::{DataRelease, DumpId};
use pgsurge_plan::plan::Plan;

use crate::analyze::{BATCH_BYTES, BATCH_TABLES};
use crate::schedule::{Next, Scheduler};
use crate::split::{SplitBoard, SplitCopy};
use crate::EngineError;

/// State shared by the workers of the parallel phase.
pub(crate) struct Shared {
    pub(crate) scheduler: Mutex<SchedulerState>,
    pub(crate) wake: Condvar,
    pub(crate) roster: Mutex<Roster>,
}

/// How the workers' connections went. A server may have fewer free slots than `-j` asks
/// for; the workers it refuses for that reason step aside, and the others share the work.
#[derive(Debug)]
pub(crate) struct Roster {
    /// Workers whose connection attempt has not ended yet.
    pub(crate) pending: usize,
    pub(crate) connected: usize,
    pub(crate) refused: usize,
    /// The server's words for the first refusal.
    pub(crate) reason: Option<String>,
}

impl Roster {
    pub(crate) fn new(workers: usize) -> Roster {
        Roster { pending: workers, connected: 0, refused: 0, reason: None }
    }

    /// One worker's attempt ended: connected (`None`), or refused for lack of a slot with
    /// the server's `reason`. Once the last attempt has ended, the one warning to give, if
    /// any was refused.
    pub(crate) fn attempt_ended(&mut self, refused: Option<String>) -> Option<String> {
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
    pub(crate) fn jobs(&self) -> usize {
        self.connected.max(1)
    }
}

pub(crate) struct SchedulerState {
    pub(crate) scheduler: Scheduler,
    /// A worker hit a fatal error: everyone stops taking work.
    pub(crate) abort: bool,
    /// Tables being loaded that idle workers may help with.
    pub(crate) splits: Vec<Arc<SplitCopy>>,
    /// TABLE dump id → created in this run without error (the leader's schema entries).
    pub(crate) created: HashMap<DumpId, bool>,
    /// TABLE DATA entries loaded without an error: the tables an ANALYZE may analyze.
    pub(crate) loaded: HashSet<DumpId>,
    /// The database workers connect to, once settled: `Some(None)` for the one the user
    /// named, `Some(Some(name))` for the one `--create` made.
    pub(crate) database: Option<Option<String>>,
}

impl Shared {
    /// Everyone stops taking work.
    pub(crate) fn abort(&self) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.abort = true;
        }
        self.wake.notify_all();
    }

    pub(crate) fn aborted(&self) -> bool {
        self.scheduler.lock().map_or(true, |st| st.abort)
    }

    pub(crate) fn publish_database(&self, name: Option<String>) {
        if let Ok(mut st) = self.scheduler.lock() {
            st.database = Some(name);
        }
        self.wake.notify_all();
    }

    /// The database to connect to, once the leader has settled it; `None` if the restore
    /// stopped first.
    pub(crate) fn database(&self) -> Result<Option<Option<String>>, EngineError> {
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
    pub(crate) fn schema_done(&self, index: usize, id: DumpId, created: Option<bool>) -> Result<(), EngineError> {
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
pub(crate) enum Job {
    /// Restore the TOC entry at this index.
    Run(usize),
    /// Load a part of a table another worker is loading.
    Help(Arc<SplitCopy>),
    /// ANALYZE the tables whose data are the TOC entries at these indexes, in one batch.
    Analyze(Vec<usize>),
    /// Nothing can start now: commit the items held, which others may be waiting for.
    Commit,
}

/// The next job for a worker, waiting while nothing can start; `None` when the parallel
/// phase is over (or another worker failed). A worker with nothing of its own to start
/// helps load a table another is loading. One holding items it has not committed is told to
/// commit them at once if ready items are kept back by locks (its own items' among them);
/// otherwise it waits for more only until they are due (`held_until`): while the leader is
/// still creating tables, work comes a table at a time, and a commit per item is what
/// grouping saves.
pub(crate) fn next_job(shared: &Shared, tables: &Tables<'_>, held_until: Option<Instant>) -> Result<Option<Job>, EngineError> {
    let mut st = shared.scheduler.lock().map_err(|_| poisoned())?;
    loop {
        if st.abort {
            return Ok(None);
        }
        match st.scheduler.next_item() {
            Next::Run(i) => return Ok(Some(Job::Run(i))),
            Next::Analyze(i) => return Ok(Some(Job::Analyze(analysis_batch(&mut st.scheduler, i, tables)))),
            Next::Done => return Ok(None),
            Next::Wait => {
                st.splits.retain(|s| s.is_open());
                if let Some(split) = st.splits.iter().find(|s| s.join()) {
                    return Ok(Some(Job::Help(split.clone())));
                }
                let kept_back = st.scheduler.has_ready();
                st = match held_until.map(|due| due.saturating_duration_since(Instant::now())) {
                    Some(left) if left.is_zero() || kept_back => return Ok(Some(Job::Commit)),
                    Some(left) => shared.wake.wait_timeout(st, left).map_err(|_| poisoned())?.0,
                    None => shared.wake.wait(st).map_err(|_| poisoned())?,
                };
            }
        }
    }
}

/// The ANALYZE handed out as `first` and whatever others may join it in one transaction:
/// several small tables share a commit, while a large table (whose ANALYZE reads more) is
/// left to a batch of its own, so idle workers can take the others.
fn analysis_batch(scheduler: &mut Scheduler, first: usize, tables: &Tables<'_>) -> Vec<usize> {
    let bytes = |index: usize| tables.plan.items.get(tables.plan.analyze_by_index.get(&index).copied().unwrap_or(usize::MAX)).and_then(|it| tables.sizes.get(&it.dump_id)).copied().unwrap_or(0);
    let mut batch = vec![first];
    let mut total = bytes(first);
    while batch.len() < BATCH_TABLES {
        let Some(next) = scheduler.next_analysis(|i| total.saturating_add(bytes(i)) <= BATCH_BYTES) else { break };
        total += bytes(next);
        batch.push(next);
    }
    batch
}

pub(crate) fn poisoned() -> EngineError {
    EngineError::Session("scheduler lock poisoned".into())
}

/// What the workers know of the tables' data.
pub(crate) struct Tables<'a> {
    /// What each item is (whether idle workers may help load it).
    pub(crate) plan: &'a Plan,
    /// Archive bytes of each entry's data, where known.
    pub(crate) sizes: &'a HashMap<DumpId, u64>,
    /// A pipe's temporary copy, whose finished entries' bytes are given back.
    pub(crate) spool: Option<DataRelease>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_archive::{DataLocation, Section, Toc, TocEntry};
    use pgsurge_plan::options::RestoreOptions;

    /// ANALYZEs come after everything else that is ready; small tables share a batch, a large
    /// one has its own.
    #[test]
    fn analyzes_come_last_and_batch_small_tables() {
        let entry = |id: i32, desc: &str, deps: &[i32]| TocEntry {
            had_dumper: desc == "TABLE DATA",
            defn: Some(format!("-- {desc}\n").into()),
            data: if desc == "TABLE DATA" { DataLocation::Block { offset: None } } else { DataLocation::None },
            ..TocEntry::new(DumpId(id), desc, "t", Section::PreData, deps.iter().map(|&d| DumpId(d)).collect())
        };
        let mut entries = Vec::new();
        for t in 0..4 {
            entries.push(entry(1 + t, "TABLE", &[]));
            entries.push(TocEntry { section: Section::Data, ..entry(11 + t, "TABLE DATA", &[1 + t]) });
        }
        entries.push(TocEntry { section: Section::PostData, ..entry(20, "INDEX", &[4]) });
        let toc = Toc::from_entries(entries);
        let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
        // The first table's data is large; the others' small.
        let sizes: HashMap<DumpId, u64> = [(DumpId(11), BATCH_BYTES), (DumpId(12), 10), (DumpId(13), 10), (DumpId(14), 10)].into_iter().collect();
        let data: Vec<usize> = (0..4).map(|t| 1 + 2 * t).collect();
        let pending: Vec<usize> = (0..toc.entries.len()).filter(|i| i % 2 == 1 || *i == 8).collect();
        let plan = Arc::new(Plan::build_with_analyze(&toc, &sel, &pending, &[], &sizes, &data));
        let tables = Tables { plan: &plan, sizes: &sizes, spool: None };
        let mut s = Scheduler::new(Arc::clone(&plan));
        for _ in 0..4 {
            let Next::Run(i) = s.next_item() else { panic!("table data first") };
            s.complete(i);
        }
        assert_eq!(s.next_item(), Next::Run(8), "the index before any ANALYZE");
        let Next::Analyze(first) = s.next_item() else { panic!("an ANALYZE") };
        assert_eq!(analysis_batch(&mut s, first, &tables), vec![1], "the large table alone");
        let Next::Analyze(next) = s.next_item() else { panic!("an ANALYZE") };
        assert_eq!(analysis_batch(&mut s, next, &tables), vec![3, 5], "the small ones together, not the one whose index runs");
        assert_eq!(s.next_item(), Next::Wait);
        s.complete(8);
        assert_eq!(s.next_item(), Next::Analyze(7));
        for i in [1, 3, 5, 7] {
            s.complete_analysis(i);
        }
        assert_eq!(s.next_item(), Next::Done);
    }

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
