//! One worker of a parallel restore: its own connection and archive reader; it takes items
//! from the scheduler until none are left — a table's data (after a TRUNCATE when this run
//! created the table, for WAL-skipping and `COPY … FREEZE`), its indexes and constraints,
//! ANALYZEs, ACLs — or helps load a table another worker is loading. Items whose commands
//! may wait are held in the session's commit group and committed many at once; the
//! scheduler hears of each item only once it has committed. A worker the server refuses for
//! want of a connection slot steps aside.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use pgsurge_archive::{Archive, DumpId};
use pgsurge_plan::freeze::WRAP_MIN_BYTES;
use pgsurge_plan::plan;
use pgsurge_plan::render::{RenderError, Renderer, Target};

use crate::analyze;
use crate::connection::refused_for_lack_of_slots;
use crate::failure::item_errors;
use crate::progress::Progress;
use crate::totals::Totals;
use crate::shared::{next_job, poisoned, Job, Shared, Tables};
use crate::target::Session;
use crate::{log_sinks, runtime, EngineError, EngineEvent, Run};

/// One worker: its own connection and archive reader; takes items until none are left.
pub(crate) fn work(worker: usize, mut archive: Archive, run: Run<'_>, shared: &Shared, tables: &Tables<'_>) -> Result<Totals, EngineError> {
    let Run { toc, sel, opts, connector, events } = run;
    // Items given to the session and not yet committed, by their entry's dump id: the TOC
    // position, and whether the table's data loaded. Each is done once committed.
    let open: RefCell<HashMap<DumpId, (usize, bool)>> = RefCell::new(HashMap::new());
    let errors = Cell::new(0);
    let done_failed = Cell::new(None);
    let done = |id: DumpId, _dropped: bool, failures: u64| {
        let Some((index, loaded)) = open.borrow_mut().remove(&id) else { return };
        errors.set(errors.get() + item_errors(failures));
        if let Err(e) = item_done(shared, id, index, loaded && failures == 0) {
            done_failed.set(Some(e));
            shared.abort();
        }
    };
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
    session.on_commit(&done);
    let (mut warn, mut info) = log_sinks(opts, events);
    session.set_board(shared);
    while let Some(job) = next_job(shared, tables, session.held_until())? {
        let index = match job {
            Job::Run(index) => index,
            Job::Commit => {
                session.commit_held()?;
                continue;
            }
            Job::Analyze(batch) => {
                // A table whose data failed is not analyzed; its ANALYZE is done all the same.
                let analyze: Vec<usize> = {
                    let st = shared.scheduler.lock().map_err(|_| poisoned())?;
                    batch.iter().copied().filter(|&i| toc.entries.get(i).is_some_and(|te| st.loaded.contains(&te.dump_id))).collect()
                };
                if !analyze.is_empty() {
                    analyze::analyze(&mut session, worker + 1, toc, opts.verbose, &analyze)?;
                }
                let mut st = shared.scheduler.lock().map_err(|_| poisoned())?;
                for i in batch {
                    st.scheduler.complete_analysis(i);
                }
                drop(st);
                shared.wake.notify_all();
                continue;
            }
            Job::Help(split) => {
                let te = toc.get(split.dump_id);
                if opts.verbose {
                    if let Some(te) = te {
                        events(EngineEvent::Info(format!("connection {} helps load table \"{}\"", worker + 1, te.tag)));
                    }
                }
                let label = te.map(|te| Progress::describe(te).1).unwrap_or_default();
                session.help(&split, label)?;
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
        // Done once committed: when it ends, with the items after it, or, if a group fills
        // meanwhile, while it is being restored.
        open.borrow_mut().insert(te.dump_id, (index, false));
        let mut loaded;
        loop {
            let mut renderer = Renderer::new(&mut archive, toc, sel, opts, &mut session, &mut warn, &mut info).for_worker().with_failed_tables(failed).validating_later(&tables.plan.validate_later).building_index_first(&tables.plan.index_first);
            restore_item(&mut renderer, te, index, wrap_now)?;
            loaded = renderer.loaded_tables().contains(&te.dump_id);
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
        if let Some(spool) = &tables.spool {
            spool.done(te.dump_id);
        }
        if let Some(entry) = open.borrow_mut().get_mut(&te.dump_id) {
            // Its data was sent, so not yet announced: that waits for the entry's end.
            entry.1 = loaded;
        }
        if let Some(failures) = session.end_worker_item(te.dump_id).map_err(RenderError::from)? {
            // Committed now; if no entry was restored, nothing announced it: done all the
            // same (a second time it is nothing).
            done(te.dump_id, false, failures);
        }
        if let Some(e) = done_failed.take() {
            return Err(e);
        }
    }
    if !shared.aborted() {
        session.commit_held()?;
    }
    if let Some(e) = done_failed.take() {
        return Err(e);
    }
    Ok(Totals::of(&session, errors.get()))
}

/// The item at TOC position `index` has committed (successfully or not: pg_restore releases
/// dependents either way); `loaded`: its table's data went in without an error, so an
/// ANALYZE may analyze it.
fn item_done(shared: &Shared, id: DumpId, index: usize, loaded: bool) -> Result<(), EngineError> {
    let mut st = shared.scheduler.lock().map_err(|_| poisoned())?;
    if loaded {
        st.loaded.insert(id);
    }
    st.scheduler.complete(index);
    drop(st);
    shared.wake.notify_all();
    Ok(())
}

pub(crate) fn restore_item(renderer: &mut Renderer<'_>, te: &pgsurge_archive::TocEntry, index: usize, wrap: bool) -> Result<(), RenderError> {
    if !wrap {
        return renderer.restore_at(index);
    }
    renderer.truncate_and_restore(te, index)
}
