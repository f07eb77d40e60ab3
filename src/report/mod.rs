//! What a restore shows while it runs and leaves behind: the progress display (a bar on a
//! terminal, a line every few seconds otherwise, nothing with `-q`), pg_restore's error
//! lines, the closing summary with errors grouped by cause and a hint for each, and the JSON
//! report of `--report FILE`. The engine's events are its only input; it is the one place
//! that prints while workers run. What the figures count is `tally`'s; how errors are
//! grouped and hinted, `failures`'; the report drawn as a picture afterwards, `timeline`'s.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pgsurge_archive::DumpId;
use pgsurge_plan::RestoreOptions;
use pgsurge_restore::{EngineEvent, Failure, ItemRecord, Outcome, PartRecord, Stage};
use serde_json::json;

mod failures;
mod tally;
pub mod timeline;

use crate::messages::{human_bytes, Program};
use failures::{group_failures, Given};
use tally::Tally;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live bar on a terminal.
    Bar,
    /// A plain line every few seconds (logs, CI, pipes).
    Lines,
    /// Nothing but errors, warnings and `-v` lines (`-q`, or the `pg_restore` name).
    Quiet,
}

const LINE_EVERY: Duration = Duration::from_secs(5);
const BAR_MESSAGE_EVERY: Duration = Duration::from_millis(100);
/// Error groups shown in the summary; the JSON report has them all.
const MAX_GROUPS: usize = 10;

pub struct Reporter<'p> {
    prog: &'p Program,
    display: Display,
    /// `-v`: a line as each entry ends, besides pg_restore's own as it starts.
    verbose: bool,
    /// What the user already chose, which a hint must not suggest again.
    given: Given,
    started: Instant,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stage: Option<Stage>,
    /// When each stage began, from the reporter's start: the report's only record of where
    /// one stage ends and the next begins (the outcome has their lengths alone).
    stage_starts: Vec<(Stage, Duration)>,
    items_total: usize,
    items_done: usize,
    data_items: usize,
    data_done: usize,
    rows: u64,
    bytes: u64,
    in_flight: BTreeMap<usize, String>,
    /// Bytes sent so far by the entries in flight, by connection.
    in_flight_bytes: BTreeMap<usize, u64>,
    /// Rows (COPY lines) sent so far by the entries in flight, by connection.
    in_flight_rows: BTreeMap<usize, u64>,
    failures: Vec<Failure>,
    timeline: Vec<ItemRecord>,
    /// Idle workers' parts of other connections' table loads: drawn, never counted.
    parts: Vec<PartRecord>,
    last_line: Option<Instant>,
    data: DataProgress,
    /// The database `--create` moved the restore to.
    moved_to: Option<String>,
}

impl State {
    /// The progress line after `elapsed`: rows and bytes count what the entries in flight
    /// have sent so far, so they move while one big table streams.
    fn progress_message(&self, elapsed: Duration) -> String {
        let elapsed = elapsed.as_secs_f64().max(0.001);
        let bytes = self.bytes + self.in_flight_bytes.values().sum::<u64>();
        let rows = self.rows + self.in_flight_rows.values().sum::<u64>();
        let rate = bytes as f64 / elapsed;
        let flight: Vec<&str> = self.in_flight.values().map(String::as_str).take(4).collect();
        // Post-data after the last table is not in it: the estimate is for the data alone.
        let eta = self.data.seconds_left().map(|s| format!(" · data done in ~{s:.0} s")).unwrap_or_default();
        format!(
            "tables {}/{} · {} rows · {} ({}/s){eta}{}",
            self.data_done,
            self.data_items,
            rows,
            human_bytes(bytes),
            human_bytes(rate as u64),
            if flight.is_empty() { String::new() } else { format!(" · now: {}", flight.join(", ")) }
        )
    }
}

/// How far the table data is, in archive bytes — the one measure whose total is known before
/// the restore starts.
#[derive(Default)]
struct DataProgress {
    /// Archive bytes of each data entry, where the archive says.
    sizes: Arc<HashMap<DumpId, u64>>,
    total: u64,
    /// Archive bytes of finished entries.
    done: u64,
    /// Entry in flight per connection, and the archive bytes it has read.
    in_flight: BTreeMap<usize, (DumpId, u64)>,
    /// When the first data entry started.
    since: Option<Instant>,
}

impl DataProgress {
    /// Archive bytes loaded so far, counting entries in flight.
    fn loaded(&self) -> u64 {
        let partial: u64 = self.in_flight.values().filter_map(|(id, read)| Some((*read).min(*self.sizes.get(id)?))).sum();
        self.done + partial
    }

    /// Seconds of table data left at the rate so far; `None` where no honest guess exists
    /// (sizes unknown, as from a pipe written without offsets, or too early to tell).
    fn seconds_left(&self) -> Option<f64> {
        let loaded = self.loaded();
        let elapsed = self.since?.elapsed().as_secs_f64();
        if self.total == 0 || loaded == 0 || loaded >= self.total || elapsed < 1.0 {
            return None;
        }
        Some((self.total - loaded) as f64 * elapsed / loaded as f64)
    }
}

impl<'p> Reporter<'p> {
    pub fn new(prog: &'p Program, quiet: bool, opts: &RestoreOptions) -> Reporter<'p> {
        let display = if quiet || prog.name == "pg_restore" {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bar
        } else {
            Display::Lines
        };
        let bar = (display == Display::Bar).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
            let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} entries · {elapsed} elapsed · {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        // pg_restore's own name keeps pg_restore's -v output.
        let verbose = opts.verbose && prog.name != "pg_restore";
        let given = Given { no_owner: opts.no_owner, no_privileges: opts.no_acl, clean: opts.clean, if_exists: opts.if_exists };
        Reporter { prog, display, verbose, given, started: Instant::now(), bar, state: Mutex::new(State::default()) }
    }

    /// Takes one engine event.
    pub fn event(&self, event: EngineEvent) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            EngineEvent::Info(m) => self.print(|| self.prog.info(&m)),
            EngineEvent::Warning(m) => self.print(|| self.prog.warning(&m)),
            EngineEvent::Error(f) => {
                self.print(|| self.prog.error(&f.message));
                st.failures.push(f);
            }
            EngineEvent::Plan { items, data_items, data_bytes, sizes } => {
                st.items_total = items;
                st.data_items = data_items;
                st.data.total = data_bytes;
                st.data.sizes = sizes;
                if let Some(bar) = &self.bar {
                    bar.set_length(items as u64);
                }
            }
            EngineEvent::Stage(stage) => {
                st.stage = Some(stage);
                st.stage_starts.push((stage, self.started.elapsed()));
                if let Some(bar) = &self.bar {
                    bar.set_prefix(stage_name(stage));
                }
            }
            EngineEvent::ServerOlderThanArchive { archive_major, server_major } => {
                if self.display != Display::Quiet {
                    self.print(|| {
                        self.prog.warning(format_args!("the archive was dumped from PostgreSQL {archive_major} and the server runs {server_major}: statements using what {server_major} lacks will fail"));
                        self.prog.hint(format_args!("restore into a server of version {archive_major} or later, or dump again with the pg_dump of the target's version"));
                    });
                }
            }
            EngineEvent::TargetNotEmpty { relations } => {
                if self.display != Display::Quiet {
                    self.print(|| {
                        self.prog.warning(format_args!("the target database already holds {relations} tables, views or sequences; objects of the same name will collide"));
                        self.prog.hint("to replace them, restore with --clean --if-exists; to keep them, restore into an empty database");
                    });
                }
            }
            EngineEvent::Reconnected(db) => {
                st.moved_to = Some(db.clone());
                if self.display != Display::Quiet {
                    self.print(|| self.prog.info(format_args!("continuing in the new database \"{db}\"")));
                }
            }
            EngineEvent::ItemStarted { worker, label, dump_id } => {
                st.in_flight.insert(worker, label);
                if st.data.sizes.contains_key(&dump_id) {
                    st.data.in_flight.insert(worker, (dump_id, 0));
                    st.data.since.get_or_insert_with(Instant::now);
                }
            }
            EngineEvent::Progress { worker, bytes, rows, archive_bytes } => {
                st.in_flight_bytes.insert(worker, bytes);
                st.in_flight_rows.insert(worker, rows);
                if let Some((_, read)) = st.data.in_flight.get_mut(&worker) {
                    *read = archive_bytes;
                }
            }
            EngineEvent::ItemFinished(item) => {
                if self.verbose {
                    let rows = if item.desc == "TABLE DATA" { format!(", {} rows", item.rows) } else { String::new() };
                    let outcome = if item.errors == 0 { String::new() } else { format!(", {} errors", item.errors) };
                    let helped = match item.connections {
                        0 | 1 => String::new(),
                        n => format!(" (and {} more)", n - 1),
                    };
                    self.print(|| self.prog.info(format_args!("finished {} in {:.2} s on connection {}{helped}{rows}{outcome}", item.label, item.elapsed.as_secs_f64(), item.worker)));
                }
                st.in_flight.remove(&item.worker);
                st.in_flight_bytes.remove(&item.worker);
                st.in_flight_rows.remove(&item.worker);
                st.data.in_flight.remove(&item.worker);
                if let Some(&size) = st.data.sizes.get(&item.dump_id) {
                    st.data.done += size;
                }
                // An ANALYZE is no entry of the archive: the entries' count stays the archive's.
                if item.desc != "ANALYZE" {
                    st.items_done += 1;
                }
                if item.desc == "TABLE DATA" {
                    st.data_done += 1;
                }
                st.rows += item.rows;
                st.bytes += item.bytes;
                st.timeline.push(item);
            }
            EngineEvent::PartFinished(part) => {
                if self.verbose {
                    self.print(|| self.prog.info(format_args!("finished a part of {} in {:.2} s on connection {}, {} rows", part.label, part.elapsed.as_secs_f64(), part.worker, part.rows)));
                }
                st.parts.push(part);
            }
        }
        self.show_progress(&mut st);
    }

    /// Prints a message without tearing the bar.
    fn print(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Redraws the progress, composing its line only when it will be shown: a restore of
    /// many small entries sends tens of thousands of events, and formatting a line for each
    /// cost more client CPU than anything else the reporter does.
    fn show_progress(&self, st: &mut State) {
        match self.display {
            Display::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(st.items_done as u64);
                    // The bar draws a few times a second; a newer message than that is never seen.
                    if st.last_line.is_none_or(|t| t.elapsed() >= BAR_MESSAGE_EVERY) {
                        st.last_line = Some(Instant::now());
                        bar.set_message(st.progress_message(self.started.elapsed()));
                    }
                }
            }
            Display::Lines => {
                // The first line after a few seconds: a quick restore prints only its summary.
                let due = st.last_line.map_or(self.started.elapsed() >= LINE_EVERY, |t| t.elapsed() >= LINE_EVERY);
                if due && st.items_done > 0 {
                    st.last_line = Some(Instant::now());
                    let stage = st.stage.map_or("starting", stage_name);
                    let msg = st.progress_message(self.started.elapsed());
                    self.prog.info(format_args!("{stage}: {}/{} entries, {msg}", st.items_done, st.items_total));
                }
            }
            Display::Quiet => {}
        }
    }

    /// The closing summary (not under `-q` or the `pg_restore` name).
    pub fn summary(&self, outcome: &Outcome) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.display == Display::Quiet {
            return;
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let stages: Vec<String> = outcome.stage_times.iter().map(|(s, d)| format!("{} {:.1} s", stage_name(*s), d.as_secs_f64())).collect();
        let tally = Tally::of(&st.timeline);
        self.prog.info(format_args!(
            "restored in {:.1} s with {} connection{} ({})",
            self.started.elapsed().as_secs_f64(),
            outcome.jobs,
            if outcome.jobs == 1 { "" } else { "s" },
            stages.join(", ")
        ));
        if tally.dropped > 0 {
            self.prog.info(format_args!("dropped {} existing {} first (--clean)", tally.dropped, plural(tally.dropped as u64, "object", "objects")));
        }
        self.prog.info(totals_line(&Totals {
            tables: tally.tables,
            rows: outcome.rows,
            data_bytes: tally.table_bytes,
            large_objects: outcome.large_objects,
            indexes: tally.indexes,
            constraints: tally.constraints,
            errors: outcome.errors,
        }));
        if let Some(line) = tally.not_restored_line() {
            self.prog.info(line);
        }
        if let Some(line) = tally.analyzed_line() {
            self.prog.info(line);
        }
        let groups = group_failures(&st.failures, self.given);
        let mut hinted: Vec<&str> = Vec::new();
        for group in groups.iter().take(MAX_GROUPS) {
            self.prog.info(format_args!("  {} × {}", group.count, group.cause));
            if let Some(hint) = group.hint.as_deref().filter(|h| !hinted.contains(h)) {
                self.prog.hint(format_args!("  {hint}"));
                hinted.push(hint);
            }
        }
        if groups.len() > MAX_GROUPS {
            let rest: usize = groups[MAX_GROUPS..].iter().map(|g| g.count).sum();
            let kinds = groups.len() - MAX_GROUPS;
            self.prog.info(format_args!(
                "  … and {rest} more {} of {kinds} other {} (all of them in --report FILE)",
                plural(rest as u64, "error", "errors"),
                plural(kinds as u64, "kind", "kinds")
            ));
        }
    }

    /// After a restore stopped early: what had already been restored (and committed) when
    /// it stopped, so nobody has to guess what the database now holds.
    pub fn stopped_summary(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.timeline.is_empty() {
            return;
        }
        let tables = Tally::of(&st.timeline).tables;
        self.prog.info(format_args!(
            "stopped after {:.1} s: {} of {} entries had been restored ({tables} {} data, {} {}); they stay in the database unless -1 or --transaction-size rolled the last batch back",
            self.started.elapsed().as_secs_f64(),
            st.items_done,
            st.items_total,
            plural(tables as u64, "table's", "tables'"),
            st.rows,
            plural(st.rows, "row", "rows")
        ));
    }

    /// The JSON report of `--report FILE`: what was restored from where into where, when and
    /// how, each figure defined once (`definitions`), every item and every error cause.
    pub fn json(&self, outcome: Option<&Outcome>, meta: &ReportMeta) -> String {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let tally = Tally::of(&st.timeline);
        let items: Vec<_> = st
            .timeline
            .iter()
            .map(|i| {
                let start = i.started.saturating_duration_since(self.started).as_secs_f64();
                json!({
                    "dump_id": i.dump_id.0,
                    "action": match (i.dropped, i.desc.as_str()) {
                        (true, _) => "drop",
                        (false, "ANALYZE") => "analyze",
                        (false, _) => "restore",
                    },
                    "desc": i.desc,
                    "name": i.label,
                    "connection": i.worker,
                    "connections": i.connections,
                    "start": start,
                    "end": start + i.elapsed.as_secs_f64(),
                    "rows": i.rows,
                    "bytes": i.bytes,
                    // A failed ANALYZE is a warning (see the definitions).
                    "outcome": match (i.errors, i.desc.as_str()) {
                        (0, _) => "ok",
                        (_, "ANALYZE") => "warning",
                        _ => "error",
                    },
                    "errors": i.errors,
                })
            })
            .chain(st.parts.iter().map(|p| {
                let start = p.started.saturating_duration_since(self.started).as_secs_f64();
                json!({
                    "dump_id": p.dump_id.0,
                    "action": "part",
                    "desc": "TABLE DATA",
                    "name": p.label,
                    "connection": p.worker,
                    "connections": 1,
                    "start": start,
                    "end": start + p.elapsed.as_secs_f64(),
                    "rows": p.rows,
                    "bytes": p.bytes,
                    "outcome": "ok",
                    "errors": 0,
                })
            }))
            .collect();
        let errors: Vec<_> = group_failures(&st.failures, self.given).into_iter().map(|g| json!({"cause": g.cause, "sqlstate": g.sqlstate, "count": g.count, "hint": g.hint})).collect();
        let database = st.moved_to.clone().unwrap_or_else(|| meta.target.database.clone());
        let ended = SystemTime::now();
        let report = json!({
            "pgsurge_version": env!("CARGO_PKG_VERSION"),
            "archive": {
                "path": meta.archive.path,
                "format": meta.archive.format,
                "bytes": meta.archive.bytes,
                "archive_version": meta.archive.version,
                "dumped_by": meta.archive.dumped_by,
                "dumped_from": meta.archive.dumped_from,
                "database": meta.archive.database,
            },
            "target": {
                "host": meta.target.host,
                "port": meta.target.port,
                "database": database,
                "user": meta.target.user,
            },
            "options": meta.options,
            "jobs": meta.jobs,
            "started_at": humantime::format_rfc3339_millis(meta.started_at).to_string(),
            "ended_at": humantime::format_rfc3339_millis(ended).to_string(),
            "completed": outcome.is_some(),
            "wall_seconds": self.started.elapsed().as_secs_f64(),
            "stages": outcome.map(|o| {
                o.stage_times
                    .iter()
                    .map(|(s, d)| {
                        let start = st.stage_starts.iter().find(|(t, _)| t == s).map(|(_, at)| at.as_secs_f64());
                        json!({"stage": stage_name(*s), "start": start, "seconds": d.as_secs_f64()})
                    })
                    .collect::<Vec<_>>()
            }),
            "totals": {
                "tables": tally.tables,
                "rows": outcome.map_or(st.rows, |o| o.rows),
                "table_data_bytes": tally.table_bytes,
                "large_objects": outcome.map(|o| o.large_objects),
                "large_object_bytes": tally.lo_bytes,
                "indexes": tally.indexes,
                "constraints": tally.constraints,
                "dropped": tally.dropped,
                "errors": outcome.map_or(st.failures.len() as u64, |o| o.errors),
                "not_restored": {
                    "tables": tally.failed_tables,
                    "indexes": tally.failed_indexes,
                    "constraints": tally.failed_constraints,
                    "other": tally.failed_other,
                },
                "analyzed": tally.analyzed,
                "analyze_failed": tally.analyze_failed,
            },
            "definitions": DEFINITIONS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "errors": errors,
            "items": items,
        });
        // A `Value` with string keys always serializes.
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    }
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::PreData => "schema",
        Stage::Parallel => "data+post",
        Stage::Finish => "finish",
        // All of it, in pg_restore's order on one connection.
        Stage::Serial => "serial",
        Stage::Analyze => "analyze",
    }
}

/// What each figure of the report's `totals` counts, written into the report itself.
const DEFINITIONS: &[(&str, &str)] = &[
    ("tables", "tables whose data was loaded without an error"),
    ("rows", "rows the server reported loaded (COPY counts, or rows inserted under --inserts)"),
    ("table_data_bytes", "bytes of table data sent (COPY text or INSERT statements) for the tables counted in tables; the figure the summary calls table data and verify calls bytes"),
    ("large_objects", "large objects whose contents were written"),
    ("large_object_bytes", "bytes written into large objects, counted apart from table data"),
    ("indexes", "indexes created without an error"),
    ("constraints", "constraints (primary keys, unique, check, foreign keys) added without an error"),
    ("dropped", "objects dropped first under --clean; never counted as restored"),
    ("errors", "statements that failed, counted as pg_restore counts them"),
    ("not_restored", "entries whose restore failed, by kind: tables (their data), indexes, constraints, other"),
    ("analyzed", "tables given planner statistics by an ANALYZE after their data and indexes were in (pgsurge's ANALYZE stage: items whose desc is ANALYZE); none for tables whose statistics the archive brings"),
    ("analyze_failed", "tables whose ANALYZE failed: warnings (outcome \"warning\"), not counted in errors, since pg_restore runs no ANALYZE"),
];

/// Where a restore came from and went, and how it was asked for: the report's header.
pub struct ReportMeta {
    pub archive: ArchiveMeta,
    pub target: TargetMeta,
    /// The command line after the program name, passwords masked.
    pub options: Vec<String>,
    pub jobs: usize,
    pub started_at: SystemTime,
}

pub struct ArchiveMeta {
    /// The path given, or `-` for standard input.
    pub path: String,
    /// `custom`, `directory` or `tar`.
    pub format: &'static str,
    /// Its size on disk (a directory's: its files'); unknown for standard input.
    pub bytes: Option<u64>,
    /// The archive format version, as `pg_restore -l` prints it (`1.16-0`).
    pub version: String,
    pub dumped_by: Option<String>,
    pub dumped_from: Option<String>,
    /// The database pg_dump dumped.
    pub database: Option<String>,
}

/// The server and database restored into; never a password.
pub struct TargetMeta {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
}

/// The summary's counts.
struct Totals {
    tables: usize,
    rows: u64,
    data_bytes: u64,
    large_objects: u64,
    indexes: usize,
    constraints: usize,
    errors: u64,
}

/// "1 table, 2 rows, …": each count with its noun in the number it needs.
fn totals_line(t: &Totals) -> String {
    format!(
        "{} {}, {} {}, {} of table data, {} {}, {} {}, {} {}, {} {}",
        t.tables,
        plural(t.tables as u64, "table", "tables"),
        t.rows,
        plural(t.rows, "row", "rows"),
        human_bytes(t.data_bytes),
        t.large_objects,
        plural(t.large_objects, "large object", "large objects"),
        t.indexes,
        plural(t.indexes as u64, "index", "indexes"),
        t.constraints,
        plural(t.constraints as u64, "constraint", "constraints"),
        t.errors,
        plural(t.errors, "error", "errors"),
    )
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_say_one_thing_in_the_singular() {
        let one = Totals { tables: 1, rows: 1, data_bytes: 5, large_objects: 1, indexes: 1, constraints: 1, errors: 1 };
        assert_eq!(totals_line(&one), "1 table, 1 row, 5 B of table data, 1 large object, 1 index, 1 constraint, 1 error");
        let many = Totals { tables: 2, rows: 0, data_bytes: 0, large_objects: 6, indexes: 3, constraints: 0, errors: 0 };
        assert_eq!(totals_line(&many), "2 tables, 0 rows, 0 B of table data, 6 large objects, 3 indexes, 0 constraints, 0 errors");
    }

    /// The data estimate counts what entries in flight have read of the archive, never past
    /// an entry's own size, and says nothing it cannot know.
    #[test]
    fn data_left_comes_from_archive_bytes() {
        let sizes: HashMap<DumpId, u64> = [(DumpId(1), 100), (DumpId(2), 1000)].into_iter().collect();
        let mut p = DataProgress { sizes: Arc::new(sizes), total: 1100, ..DataProgress::default() };
        p.in_flight.insert(1, (DumpId(2), 500));
        p.done = 100;
        assert_eq!(p.loaded(), 600);
        p.in_flight.insert(1, (DumpId(2), 4000));
        assert_eq!(p.loaded(), 1100, "never past the entry's size");
        assert_eq!(p.seconds_left(), None, "too early to tell");
        p.since = Some(Instant::now() - Duration::from_secs(10));
        assert_eq!(p.seconds_left(), None, "nothing left");
        p.in_flight.insert(1, (DumpId(2), 100));
        let left = p.seconds_left().unwrap_or_default();
        assert!((left - 10.0 * 900.0 / 200.0).abs() < 0.5, "900 bytes left at 20 bytes/s: {left}");
        p.total = 0;
        assert_eq!(p.seconds_left(), None, "unknown total");
    }

    /// Rows and bytes move while a table streams; once it ends, its item's figures replace
    /// the in-flight ones (counted once).
    #[test]
    fn progress_counts_what_is_in_flight() {
        let mut st = State { data_items: 1, rows: 10, bytes: 100, ..State::default() };
        st.in_flight.insert(1, "TABLE DATA public.big".into());
        st.in_flight_rows.insert(1, 5000);
        st.in_flight_bytes.insert(1, 4000);
        let msg = st.progress_message(Duration::from_secs(1));
        assert!(msg.starts_with("tables 0/1 · 5010 rows · 4.1 kB ("), "{msg}");
        assert!(msg.ends_with(" · now: TABLE DATA public.big"), "{msg}");
    }
}
