//! The leader of a parallel restore: the start of the restore (preflight, `--clean`'s
//! drops) and the schema entries in restore order on one connection, each reported done to
//! the scheduler once committed, so a table's data can start while the rest of the schema
//! is still being created.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Mutex;

use pgsurge_archive::{Archive, DumpId};
use pgsurge_plan::render::{RenderError, Renderer};

use crate::totals::Totals;
use crate::preflight::preflight;
use crate::shared::Shared;
use crate::target::Session;
use crate::{log_sinks, runtime, EngineError, EngineEvent, Run};

/// The leader's part: the start of the restore (preflight, `--clean`'s drops) and the schema
/// entries in restore order, each reported done to the scheduler once committed. Workers connect
/// once the database they are to work in is settled: at once, or under `--create` after the
/// new database and its properties.
pub(crate) fn lead(archive: &mut Archive, run: Run<'_>, shared: &Shared, schema: &[usize], archive_major: Option<u32>) -> Result<Totals, EngineError> {
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
    // Each schema entry is announced to the scheduler once committed — with its outcome, for
    // a table — so workers only ever meet committed objects. Under --transaction-size nothing
    // is committed before the last COMMIT, and all are announced then.
    let batched = opts.transaction_size.is_some();
    let positions: HashMap<DumpId, usize> = schema.iter().filter_map(|&i| toc.entries.get(i).map(|te| (te.dump_id, i))).collect();
    let announce_failed = Cell::new(None);
    let announce = |id: DumpId, dropped: bool, failures: u64| {
        let ok = failures == 0;
        let Some(&index) = positions.get(&id).filter(|_| !dropped) else { return };
        let table = toc.entries.get(index).is_some_and(|te| te.desc_is("TABLE")) && sel.entry(index).is_some_and(|e| e.wanted.schema);
        if let Err(e) = shared.schema_done(index, id, table.then_some(ok)) {
            announce_failed.set(Some(e));
            shared.abort();
        }
    };
    let mut leader = Session::connect(&rt, connector, None, opts, toc, &watch)?;
    if !batched {
        leader.on_commit(&announce);
    }
    preflight(&mut leader, sel, opts, archive_major);
    let (mut warn, mut info) = log_sinks(opts, events);
    let mut renderer = Renderer::new(archive, toc, sel, opts, &mut leader, &mut warn, &mut info);
    renderer.open()?;
    let mut held = Vec::new();
    // Workers must see the database's own settings (DATABASE PROPERTIES), as pg_restore's,
    // which connect after the whole schema.
    let settled_at = schema.iter().rposition(|&i| toc.entries.get(i).is_some_and(|te| te.desc_is("DATABASE") || te.desc_is("DATABASE PROPERTIES"))).map_or(0, |p| p + 1);
    let mut published = false;
    let publish = |shared: &Shared| shared.publish_database(moved_to.lock().ok().and_then(|m| m.clone()));
    for (n, &index) in schema.iter().enumerate() {
        let Some(te) = toc.entries.get(index) else { continue };
        if !published && n >= settled_at {
            // Workers start now: `--clean`'s drops and the database's settings must be in.
            renderer.commit_held()?;
            publish(shared);
            published = true;
        }
        if shared.aborted() {
            break;
        }
        renderer.restore_at(index)?;
        if !batched && !sel.entry(index).is_some_and(|e| e.wanted.any()) {
            // Nothing to run (ENCODING and the like): no commit to wait for.
            shared.schema_done(index, te.dump_id, None)?;
        }
        if batched {
            let created = if te.desc_is("TABLE") && sel.entry(index).is_some_and(|e| e.wanted.schema) { Some(renderer.target_succeeded()?) } else { None };
            held.push((index, te.dump_id, created));
        }
    }
    // Stopped by a worker: an open --transaction-size batch is left to roll back with the
    // connection, as pg_restore's would.
    let stopped = shared.aborted();
    if !stopped {
        renderer.commit_batch()?;
    }
    drop(renderer);
    if !stopped {
        leader.finish().map_err(RenderError::from)?;
    }
    if let Some(e) = announce_failed.take() {
        return Err(e);
    }
    if !published {
        publish(shared);
    }
    if !stopped {
        for (index, id, created) in held {
            shared.schema_done(index, id, created)?;
        }
    }
    Ok(Totals::of(&leader, leader.errors()))
}
