//! A serial restore, pg_restore's without `-j`: one connection, the renderer's three passes
//! in order (a large table this run created loaded after a TRUNCATE, so that it loads
//! frozen), then the ANALYZE stage.

use std::collections::HashSet;
use std::time::Instant;

use pgsurge_archive::{Archive, DumpId};
use pgsurge_plan::freeze;
use pgsurge_plan::render::{RenderError, Renderer};

use crate::analyze::{analyze, BATCH_TABLES};
use crate::preflight::preflight;
use crate::target::Session;
use crate::{log_sinks, runtime, EngineError, EngineEvent, Outcome, Run, Stage};

pub(crate) fn serial(archive: &mut Archive, run: Run<'_>, archive_major: Option<u32>) -> Result<Outcome, EngineError> {
    let Run { toc, sel, opts, connector, events } = run;
    let rt = runtime()?;
    let started = Instant::now();
    events(EngineEvent::Stage(Stage::Serial));
    let mut session = Session::connect(&rt, connector, None, opts, toc, events)?;
    preflight(&mut session, sel, opts, archive_major);
    let (mut warn, mut info) = log_sinks(opts, events);
    let wraps = freeze::serial_wraps(toc, sel, opts, &archive.data_sizes());
    let mut renderer = Renderer::new(archive, toc, sel, opts, &mut session, &mut warn, &mut info).wrapping(wraps);
    let result = renderer.run();
    let loaded: HashSet<DumpId> = renderer.loaded_tables().iter().copied().collect();
    drop(renderer);
    // What the renderer got to before an error still goes in, as pg_restore's would have.
    let finished = session.finish().map_err(RenderError::from);
    result?;
    finished?;
    let mut stage_times = vec![(Stage::Serial, started.elapsed())];
    let analyses: Vec<usize> = pgsurge_plan::analyze::targets(toc, sel, opts).into_iter().filter(|&i| toc.entries.get(i).is_some_and(|te| loaded.contains(&te.dump_id))).collect();
    if !analyses.is_empty() {
        let analyzing = Instant::now();
        events(EngineEvent::Stage(Stage::Analyze));
        for batch in analyses.chunks(BATCH_TABLES) {
            analyze(&mut session, 0, toc, opts.verbose, batch)?;
        }
        stage_times.push((Stage::Analyze, analyzing.elapsed()));
    }
    Ok(Outcome {
        errors: session.errors(),
        large_objects: session.large_objects(),
        jobs: 1,
        rows: session.rows(),
        data_bytes: session.data_bytes(),
        stage_times,
    })
}
