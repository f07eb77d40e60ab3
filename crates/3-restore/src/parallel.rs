//! A parallel restore's three stages: the leader creates the schema while workers, one
//! connection each, take table data and post-data from the scheduler as their tables come
//! into being (`leader`, `worker`), each table's ANALYZE among them; then the leader
//! reconnects and restores (and analyzes) what never became ready. Here the stages are
//! started, joined and timed, and their totals summed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pgsurge_archive::{Archive, DataRelease, DumpId, Toc};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::plan::Plan;
use pgsurge_plan::render::{RenderError, Renderer};
use pgsurge_plan::select::Selection;

use crate::analyze::{analyze, BATCH_TABLES};
use crate::connection::refused_for_lack_of_slots;
use crate::leader::lead;
use crate::schedule::Scheduler;
use crate::shared::{poisoned, Roster, SchedulerState, Shared, Tables};
use crate::target::Session;
use crate::worker::work;
use crate::totals::Totals;
use crate::{log_sinks, runtime, EngineError, EngineEvent, Outcome, Run, Stage};

pub(crate) fn parallel(archive: &mut Archive, run: Run<'_>, jobs: usize, archive_major: Option<u32>, data_bytes: HashMap<DumpId, u64>) -> Result<Outcome, EngineError> {
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
            loaded: HashSet::new(),
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
    let analyses = state.scheduler.leftover_analyses();
    let mut loaded = state.loaded;
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
        loaded.extend(renderer.loaded_tables().iter().copied());
        drop(renderer);
        leader.finish().map_err(RenderError::from)?;
        // Those of the loaded tables, in batches as the workers take them.
        let analyses: Vec<usize> = analyses.into_iter().filter(|&i| toc.entries.get(i).is_some_and(|te| loaded.contains(&te.dump_id))).collect();
        for batch in analyses.chunks(BATCH_TABLES) {
            analyze(&mut leader, 0, toc, opts.verbose, batch)?;
        }
        outcome.absorb(&Totals::of(&leader, leader.errors()));
    }
    outcome.stage_times.push((Stage::Finish, phase3.elapsed()));
    Ok(outcome)
}

/// Tries for a free slot after the parallel phase this long, at most.
pub(crate) const RECONNECT_TRIES: u32 = 50;

pub(crate) const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// The leader's connection for the last stage. The workers have just closed theirs, but the
/// server frees a slot only once the session's process has exited: when the workers had
/// every slot the server allows, the first attempts can still be refused for lack of one, so
/// those are tried again for a moment. Any other failure ends the restore.
pub(crate) fn reconnect_leader<'e>(rt: &'e tokio::runtime::Runtime, run: Run<'e>, dbname: Option<&str>) -> Result<Session<'e>, EngineError> {
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

/// Keeps a pipe's temporary copy to about `spool_budget` bytes: the archive gives back each
/// block once its entry is done (and at once those not restored).
pub(crate) fn limit_spool(archive: &Archive, toc: &Toc, sel: &Selection, opts: &RestoreOptions) -> Option<DataRelease> {
    let Some(budget) = opts.spool_budget else {
        if let Some(spool) = archive.spool() {
            spool.set_budget(None);
        }
        return None;
    };
    archive.release_as_read(sel.data_ids(toc).into_iter().collect(), budget)
}

