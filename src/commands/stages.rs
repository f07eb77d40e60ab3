//! The stages of `pgsurge restore -d` around the engine's run, for every kind of input:
//! before it, the restore marker (`--exclusive`) and, with `--swap`, the shadow database the
//! engine restores into; while it runs, the marker told each stage; after it, the
//! migrations stage (`--then`, `--migrations`), the swap (`--swap`) and the safety copies
//! pruned (`--keep-safety-copies`). The engine itself knows none of this: it is given
//! where to connect, and its events pass through here on their way to the reporter.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use pgsurge_connect::ConnParams;
use pgsurge_plan::RestoreOptions;
use pgsurge_restore::{EngineEvent, EngineError, Outcome, Stage};
use pgsurge_stages::marker::{Marker, Shown};
use pgsurge_stages::swap::{self, Shadow, SwapOptions};

use crate::cli::RestoreArgs;
use crate::messages::Program;

/// The migration revision a bundle's manifest names, for the migrations stage to show
/// beside the database's own: set once by the bundle's reading, before the restore, in a
/// process that restores one input.
static MANIFEST_REVISION: OnceLock<String> = OnceLock::new();

/// Remembers the revision a bundle's manifest names (see [`MANIFEST_REVISION`]).
pub fn remember_manifest_revision(revision: &str) {
    let _ = MANIFEST_REVISION.set(revision.to_owned());
}

/// Default wait for sessions to leave the database being swapped out.
const DEFAULT_SWAP_TIMEOUT: Duration = Duration::from_secs(30);

/// What `--swap` was asked to do.
struct SwapChoice {
    options: SwapOptions,
    keep_failed: bool,
    keep_copies: Option<usize>,
}

/// The engine's connections, opened as `ConnParams` opens them, but for the first one: when
/// the server refuses it for want of a slot (SQLSTATE 53300), it is tried again for a few
/// seconds, since the sessions of the checks and of a marker that gave way may have ended
/// a moment ago without the server having let their slots go yet.
pub struct Patient<'a> {
    params: &'a ConnParams,
    first: std::sync::atomic::AtomicBool,
}

/// How long the first connection waits for slots our own sessions held.
const FIRST_CONNECTION_PATIENCE: Duration = Duration::from_secs(3);

impl pgsurge_restore::Connector for Patient<'_> {
    fn connect<'b>(&'b self, dbname: Option<&'b str>, notices: pgsurge_connect::NoticeHandler) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<tokio_postgres::Client, pgsurge_restore::ConnectFailure>> + Send + 'b>> {
        Box::pin(async move {
            let first = self.first.swap(false, std::sync::atomic::Ordering::SeqCst);
            let deadline = std::time::Instant::now() + FIRST_CONNECTION_PATIENCE;
            loop {
                let result = pgsurge_restore::Connector::connect(self.params, dbname, notices.clone()).await;
                let no_slot = result.as_ref().err().and_then(|e| e.downcast_ref::<pgsurge_connect::ConnectError>()).is_some_and(|e| e.too_many_connections());
                if !(first && no_slot && std::time::Instant::now() < deadline) {
                    return result;
                }
                // Nothing else runs on the engine's runtime before its first connection.
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }
}

/// How far the engine is, as the marker shows it.
#[derive(Default)]
struct Progress {
    stage: Option<Stage>,
    shown: &'static str,
    items: usize,
    done: usize,
    data_items: usize,
    data_done: usize,
}

/// One restore's stages around the engine.
pub struct Around<'a> {
    args: &'a RestoreArgs,
    /// Where the user's `-d` points: the database the app uses.
    target: ConnParams,
    /// Where the engine restores: the target, or the shadow under `--swap`.
    restore_to: ConnParams,
    marker: Mutex<Option<Marker>>,
    progress: Mutex<Progress>,
    swap: Option<SwapChoice>,
    shadow: Option<Shadow>,
}

/// Why the stages cannot start: said already.
pub struct NotStarted;

/// The stages' checks of the command line, before anything is opened: `Err` is the line
/// to print.
pub fn check_options(args: &RestoreArgs, into_database: bool) -> Result<(), String> {
    let asked = [(args.swap, "--swap"), (args.exclusive, "--exclusive"), (!args.then.is_empty(), "--then"), (args.migrations.is_some(), "--migrations"), (args.force, "--force")];
    if let (false, Some((_, option))) = (into_database, asked.iter().find(|(given, _)| *given)) {
        return Err(format!("{option} applies only when restoring into a database (-d)"));
    }
    if args.swap && args.create {
        return Err("--swap restores into a new database it makes itself beside the one -d names; leave out --create (-C)".into());
    }
    if !args.swap {
        for (given, option) in [(args.terminate, "--terminate"), (args.keep_failed, "--keep-failed"), (args.swap_timeout.is_some(), "--swap-timeout"), (args.keep_safety_copies.is_some(), "--keep-safety-copies")] {
            if given {
                return Err(format!("{option} applies only with --swap"));
            }
        }
    }
    swap_timeout(args.swap_timeout.as_deref())?;
    keep_copies(args.keep_safety_copies.as_deref())?;
    Ok(())
}

/// `--swap-timeout SECONDS`.
pub fn swap_timeout(value: Option<&str>) -> Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_SWAP_TIMEOUT),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("invalid value \"{v}\" for option --swap-timeout: seconds, 0 to 86400")),
        },
    }
}

fn keep_copies(value: Option<&str>) -> Result<Option<usize>, String> {
    match value {
        None => Ok(None),
        Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| format!("invalid value \"{v}\" for option --keep-safety-copies: a number of copies, 0 or more")),
    }
}

impl<'a> Around<'a> {
    /// Starts the stages before the engine: the marker on the target (`marker_on`: the
    /// database, or `None` for one `--create` has yet to make), and under `--swap` the
    /// shadow database. `marker` is false where no marker goes (the `pg_restore` name, a
    /// cluster script that connects to databases of its own).
    ///
    /// `database_properties` writes the archive's own database-level properties for a
    /// database name (see `pgsurge_plan::database_props`): the shadow gets the live
    /// database's, then those, which win where both say.
    pub fn begin(args: &'a RestoreArgs, target: &ConnParams, marker_on: Option<&str>, marker: bool, database_properties: &dyn Fn(&str) -> Vec<String>, prog: &Program) -> Result<Around<'a>, NotStarted> {
        let fail = |message: String| {
            prog.error(message);
            NotStarted
        };
        let swap = if args.swap {
            let timeout = swap_timeout(args.swap_timeout.as_deref()).map_err(fail)?;
            let keep_copies = keep_copies(args.keep_safety_copies.as_deref()).map_err(fail)?;
            Some(SwapChoice { options: SwapOptions { terminate: args.terminate, timeout }, keep_failed: args.keep_failed, keep_copies })
        } else {
            None
        };
        // A --migrations folder pgsurge would refuse is refused before anything changes.
        if let Some(dir) = &args.migrations {
            if let Err(e) = pgsurge_stages::migrations::sql_dir::read_sql_dir(std::path::Path::new(dir)) {
                return Err(fail(format!("--migrations {dir}: {e}")));
            }
        }
        let marker = if marker {
            let first = Shown { stage: "starting".into(), percent: None };
            match Marker::start(target, marker_on, args.exclusive, first) {
                Ok(m) => Some(m),
                Err(e @ pgsurge_stages::marker::MarkerError::AlreadyRunning { .. }) => return Err(fail(e.to_string())),
                Err(e @ pgsurge_stages::marker::MarkerError::NoRoom(..)) if !args.exclusive => {
                    if !args.quiet {
                        prog.info(format_args!("{e}: restoring without the marker other processes could see"));
                    }
                    None
                }
                // Nothing there to mark: a --swap restore into a name not used yet.
                Err(e) if e.no_database() && args.swap => None,
                Err(e) if args.exclusive => return Err(fail(e.to_string())),
                // The marker is for others to see; the restore does not depend on it.
                Err(e) => {
                    prog.warning(format_args!("{e}; restoring without the marker other processes could see"));
                    None
                }
            }
        } else {
            None
        };
        let mut around = Around { args, target: target.clone(), restore_to: target.clone(), marker: Mutex::new(marker), progress: Mutex::new(Progress::default()), swap, shadow: None };
        if around.swap.is_some() {
            around.show("shadow", None);
            match swap::create_shadow(target, SystemTime::now()) {
                Ok(shadow) => {
                    if !args.quiet {
                        let note = if shadow.live_existed { format!(", configured as \"{}\" is", target.dbname) } else { String::new() };
                        prog.info(format_args!("restoring into the new database \"{}\"{note}; \"{}\" stays as it is until the swap", shadow.name, target.dbname));
                    }
                    let statements = database_properties(&shadow.name);
                    match swap::apply_properties(target, &statements) {
                        Ok(failed) => {
                            for (statement, why) in failed {
                                prog.warning(format_args!("the archive's database property could not be given to the new database: {why}; statement: {statement}"));
                            }
                        }
                        Err(e) => prog.warning(format_args!("the archive's database properties could not be given to the new database: {e}")),
                    }
                    around.restore_to = target.with_dbname(&shadow.name);
                    around.shadow = Some(shadow);
                }
                Err(e) => return Err(fail(format!("could not make the database to restore into beside \"{}\": {e}", target.dbname))),
            }
        }
        Ok(around)
    }

    /// The options the engine runs with, when the stages change them: `--clean` has
    /// nothing to drop in a shadow database just made, and its DROPs would fail there.
    pub fn engine_options(&self, opts: &RestoreOptions, prog: &Program) -> Option<RestoreOptions> {
        if self.shadow.is_none() || !opts.clean {
            return None;
        }
        if !self.args.quiet {
            prog.info("--clean: the new database has nothing to drop, so nothing is dropped");
        }
        Some(RestoreOptions { clean: false, if_exists: false, ..opts.clone() })
    }

    /// Where the engine connects.
    pub fn connector(&self) -> Patient<'_> {
        Patient { params: &self.restore_to, first: std::sync::atomic::AtomicBool::new(true) }
    }

    /// Follows the engine's events: the marker shows the stage and how many entries are
    /// done, and moves to the database `--create` made. The engine's parallel stage loads
    /// the tables and builds their indexes and constraints as each is ready: it shows as
    /// "data" until every table is in, then "post-data"; large objects show as theirs.
    pub fn observe(&self, event: &EngineEvent) {
        let Ok(mut p) = self.progress.lock() else { return };
        match event {
            EngineEvent::Plan { items, data_items, .. } => {
                p.items = *items;
                p.data_items = *data_items;
            }
            EngineEvent::Stage(stage) => {
                p.stage = Some(*stage);
                p.shown = match stage {
                    Stage::PreData => "schema",
                    Stage::Parallel if p.data_done >= p.data_items => "post-data",
                    Stage::Parallel => "data",
                    Stage::Finish => "post-data",
                    Stage::Serial => "schema",
                    Stage::Analyze => "analyze",
                };
            }
            EngineEvent::ItemStarted { label, .. } if label.starts_with("LARGE OBJECT") || label.starts_with("BLOB") => p.shown = "large objects",
            // One connection in archive order: the schema, then the data, then the rest.
            EngineEvent::ItemStarted { label, .. } if p.stage == Some(Stage::Serial) && label.starts_with("TABLE DATA") => p.shown = "data",
            EngineEvent::ItemFinished(item) => {
                p.done += 1;
                if item.desc == "TABLE DATA" {
                    p.data_done += 1;
                }
                match p.stage {
                    Some(Stage::Parallel) => p.shown = if p.data_done >= p.data_items { "post-data" } else { "data" },
                    Some(Stage::Serial) if p.data_items > 0 && p.data_done >= p.data_items => p.shown = "post-data",
                    _ => {}
                }
            }
            EngineEvent::Reconnected(name) => {
                if let Some(marker) = self.marker.lock().ok().as_ref().and_then(|m| m.as_ref()) {
                    marker.move_to(name);
                }
                return;
            }
            _ => return,
        }
        let percent = (p.items > 0).then(|| u8::try_from(p.done.saturating_mul(100) / p.items).unwrap_or(100).min(100));
        let stage = p.shown;
        drop(p);
        self.show(stage, percent);
    }

    fn show(&self, stage: &str, percent: Option<u8>) {
        if let Ok(mut guard) = self.marker.lock() {
            if let Some(marker) = guard.as_mut() {
                marker.show(Shown { stage: stage.to_owned(), percent });
            }
        }
    }

    /// The stages after the engine: the migrations and the swap when the restore went
    /// through without an error, the shadow dropped when it did not. Returns whether they
    /// went through (a failure is said already); what they did goes to `set_key`, the
    /// report's top-level keys.
    pub fn finish(self, result: &Result<Outcome, EngineError>, set_key: &mut dyn FnMut(&str, serde_json::Value), prog: &Program) -> bool {
        let restored = matches!(result, Ok(outcome) if outcome.errors == 0);
        let mut ok = true;
        if restored && (!self.args.then.is_empty() || self.args.migrations.is_some()) {
            self.show("migrations", None);
            let stage = super::migrations::run_stage_reported(&self.args.then, self.args.migrations.as_deref(), &self.restore_to, MANIFEST_REVISION.get().map(String::as_str), prog, self.args.quiet);
            // In the report even when it failed: the command's output says why.
            set_key("migrations", stage.report);
            if let Some(message) = stage.error {
                prog.error(message);
                ok = false;
            }
        }
        let Some(choice) = &self.swap else {
            self.take_down();
            return ok;
        };
        let Some(shadow) = &self.shadow else {
            self.take_down();
            return ok;
        };
        if !(restored && ok) {
            self.take_down();
            let why = if restored { "the migrations failed" } else { "the restore did not go through" };
            if choice.keep_failed {
                prog.error(format_args!("{why}: not swapped in; \"{}\" is untouched, and the new database is kept as \"{}\" (--keep-failed)", self.target.dbname, shadow.name));
            } else {
                let dropped = swap::drop_database(&self.target, &shadow.name);
                match dropped {
                    Ok(()) => prog.error(format_args!("{why}: not swapped in; \"{}\" is untouched, and the new database \"{}\" was dropped (--keep-failed keeps it)", self.target.dbname, shadow.name)),
                    Err(e) => prog.error(format_args!("{why}: not swapped in; \"{}\" is untouched; the new database \"{}\" could not be dropped: {e}", self.target.dbname, shadow.name)),
                }
            }
            return false;
        }
        self.show("swap", None);
        let mut marker = self.marker.lock().ok().and_then(|mut m| m.take());
        let swapped = swap::swap_in(&self.target, &shadow.name, &choice.options, &mut || {
            if let Some(m) = marker.take() {
                m.finish();
            }
        });
        drop(marker);
        match swapped {
            Ok(outcome) => {
                if !self.args.quiet {
                    let kept = outcome.safety_copy.as_deref().map(|s| format!("; the database it replaced is kept as \"{s}\" (`pgsurge rollback -d {}` swaps it back)", self.target.dbname)).unwrap_or_default();
                    let ended = if outcome.terminated > 0 { format!(", {} session(s) ended", outcome.terminated) } else { String::new() };
                    prog.info(format_args!("swapped in: \"{}\" now holds the restore, unavailable for {} ms{ended}{kept}", self.target.dbname, outcome.unavailable_ms));
                }
                set_key("swap", serde_json::to_value(&outcome).unwrap_or_default());
                if let Some(keep) = choice.keep_copies {
                    match swap::prune(&self.target, keep) {
                        Ok(swap::Pruned { dropped, failed }) => {
                            if !dropped.is_empty() && !self.args.quiet {
                                prog.info(format_args!("dropped {} older safety cop{} (--keep-safety-copies {keep}): {}", dropped.len(), if dropped.len() == 1 { "y" } else { "ies" }, dropped.join(", ")));
                            }
                            for (name, why) in failed {
                                prog.warning(format_args!("could not drop the older safety copy \"{name}\": {why}"));
                            }
                        }
                        Err(e) => prog.warning(format_args!("could not prune the safety copies: {e}")),
                    }
                }
                true
            }
            Err(e) => {
                prog.error(format_args!("the swap failed: {e}"));
                if choice.keep_failed {
                    prog.hint(format_args!("\"{}\" is untouched; the restored database is kept as \"{}\"", self.target.dbname, shadow.name));
                } else if swap::drop_database(&self.target, &shadow.name).is_ok() {
                    prog.hint(format_args!("\"{}\" is untouched; the restored database \"{}\" was dropped (--keep-failed keeps it)", self.target.dbname, shadow.name));
                }
                false
            }
        }
    }

    fn take_down(&self) {
        if let Some(marker) = self.marker.lock().ok().and_then(|mut m| m.take()) {
            marker.finish();
        }
    }
}
