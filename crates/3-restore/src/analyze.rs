//! The ANALYZE stage: planner statistics for each table whose data the restore loaded, so
//! that a database pgsurge calls restored is ready to serve — pg_restore leaves that to
//! autovacuum or the operator. Which tables is `pgsurge-plan`'s decision (its `analyze`);
//! here they are analyzed on a session, in a parallel restore as items of the plan, in a
//! serial one after everything else.
//!
//! Several tables share one transaction: each ANALYZE committed on its own costs a WAL
//! flush, and 3000 small tables took 3.0–3.7 s analyzed one commit each on a server with
//! fsync and synchronous_commit on, 0.8–0.9 s in transactions of 100. A large table is
//! batched with nothing else (see `shared`), so idle connections take the others.
//!
//! A failed ANALYZE is a warning and never one of the restore's errors: pg_restore runs
//! none, and the error count is pg_restore's. The table is reported as left without
//! statistics. When one fails inside a batch, the batch rolls back and the others are
//! analyzed again, each on its own.

use std::time::{Duration, Instant};

use pgsurge_archive::{DumpId, Toc, TocEntry};
use pgsurge_plan::analyze::statement;
use pgsurge_plan::render::RenderError;

use crate::connection::Connection;
use crate::failure::{lost_connection, SessionError};
use crate::server_error::server_message;
use crate::target::Session;
use crate::{EngineError, EngineEvent, ItemRecord};

/// Tables analyzed in one transaction at most.
pub(crate) const BATCH_TABLES: usize = 100;

/// Archive bytes of table data one batch analyzes at most (the first table of a batch goes
/// in whatever its size): an ANALYZE reads up to 30 000 pages of its table.
pub(crate) const BATCH_BYTES: u64 = 16 << 20;

/// Analyzes, on `session` (connection `worker` in reports), the tables whose TABLE DATA
/// entries are at the TOC positions `data`: in one transaction when there are several.
pub(crate) fn analyze(session: &mut Session<'_>, worker: usize, toc: &Toc, verbose: bool, data: &[usize]) -> Result<(), EngineError> {
    session.finish().map_err(engine_error)?;
    let conn = session.connection().map_err(engine_error)?;
    let tables: Vec<&TocEntry> = data.iter().filter_map(|&i| toc.entries.get(i)).collect();
    let mut one_by_one = tables.clone();
    if tables.len() > 1 {
        match batch(conn, worker, verbose, &tables).map_err(engine_error)? {
            Batch::Committed => return Ok(()),
            Batch::Failed(failed) => one_by_one.retain(|te| te.dump_id != failed),
            Batch::NotCommitted => {}
        }
    }
    for te in one_by_one {
        let outcome = analyze_one(conn, worker, verbose, te).map_err(engine_error)?;
        finished(conn, worker, te, outcome);
    }
    Ok(())
}

/// How a batch went.
enum Batch {
    /// Every table analyzed and reported.
    Committed,
    /// The ANALYZE of this TABLE DATA entry's table failed (reported) and the batch rolled
    /// back: the others are to be analyzed again.
    Failed(DumpId),
    /// The commit failed, which has never been seen: each is to be analyzed again on its
    /// own, which reports what fails.
    NotCommitted,
}

/// Analyzes `tables` in one transaction, and reports them once it has committed.
fn batch(conn: &mut Connection<'_>, worker: usize, verbose: bool, tables: &[&TocEntry]) -> Result<Batch, SessionError> {
    transaction(conn, "BEGIN")?;
    let mut done = Vec::with_capacity(tables.len());
    for te in tables {
        match analyze_one(conn, worker, verbose, te)? {
            Ok(span) => done.push(span),
            Err(why) => {
                transaction(conn, "ROLLBACK")?;
                finished(conn, worker, te, Err(why));
                return Ok(Batch::Failed(te.dump_id));
            }
        }
    }
    if let Err(e) = conn.rt().block_on(conn.client().batch_execute("COMMIT")) {
        if e.as_db_error().is_none() {
            return Err(lost_connection(e));
        }
        return Ok(Batch::NotCommitted);
    }
    for (te, span) in tables.iter().zip(done) {
        finished(conn, worker, te, Ok(span));
    }
    Ok(Batch::Committed)
}

/// `BEGIN` or `ROLLBACK` of a batch; the server refuses neither on a sound connection.
fn transaction(conn: &mut Connection<'_>, sql: &str) -> Result<(), SessionError> {
    conn.rt().block_on(conn.client().batch_execute(sql)).map_err(lost_connection)
}

/// When an ANALYZE started, and how long it took.
type Span = (Instant, Duration);

/// One table's `ANALYZE`: when it ran, or why the server refused it (in its words).
fn analyze_one(conn: &mut Connection<'_>, worker: usize, verbose: bool, te: &TocEntry) -> Result<Result<Span, String>, SessionError> {
    if verbose {
        conn.emit(EngineEvent::Info(format!("analyzing table \"{}\"", name(te))));
    }
    conn.emit(EngineEvent::ItemStarted { worker, dump_id: table_id(te), label: format!("ANALYZE {}", name(te)) });
    let text = match conn.encoding().decode(&statement(te)) {
        Ok(text) => text.into_owned(),
        Err(e) => return Ok(Err(e)),
    };
    let started = Instant::now();
    match conn.rt().block_on(conn.client().batch_execute(&text)) {
        Ok(()) => {
            conn.show_notices();
            Ok(Ok((started, started.elapsed())))
        }
        Err(e) if e.as_db_error().is_some() => Ok(Err(server_message(&e))),
        Err(e) => Err(lost_connection(e)),
    }
}

/// Reports one table's ANALYZE as done, or failed (with the server's words).
fn finished(conn: &Connection<'_>, worker: usize, te: &TocEntry, outcome: Result<Span, String>) {
    let (started, elapsed) = match &outcome {
        Ok(span) => *span,
        Err(why) => {
            conn.emit(EngineEvent::Warning(format!(
                "could not analyze table \"{}\", which is left without planner statistics (a warning, not counted among the errors: pg_restore runs no ANALYZE): {why}",
                name(te)
            )));
            (Instant::now(), Duration::ZERO)
        }
    };
    conn.emit(EngineEvent::ItemFinished(ItemRecord {
        worker,
        dump_id: table_id(te),
        dropped: false,
        desc: "ANALYZE".into(),
        label: format!("ANALYZE {}", name(te)),
        started,
        elapsed,
        rows: 0,
        bytes: 0,
        errors: u64::from(outcome.is_err()),
        connections: 1,
    }));
}

/// `schema.table`, as messages and the timeline name it.
fn name(te: &TocEntry) -> String {
    match &te.namespace {
        Some(ns) if !ns.is_empty() => format!("{}.{}", ns, te.tag),
        _ => te.tag.to_string(),
    }
}

/// The table a TABLE DATA entry loads, by which the report knows its ANALYZE (its data's own
/// dump id would count its bytes twice in the progress).
fn table_id(te: &TocEntry) -> DumpId {
    te.dependencies.first().copied().unwrap_or(te.dump_id)
}

fn engine_error(e: SessionError) -> EngineError {
    EngineError::from(RenderError::from(e))
}
