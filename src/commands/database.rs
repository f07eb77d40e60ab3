//! `pgsurge restore -d` / `pg_restore -d`: connect, run the engine, print what it reports,
//! and end with pg_restore's error count and exit status (plus, under the name `pgsurge`, a
//! summary of where the time went).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Instant;

use pgsurge_archive::{Archive, Spool, SpoolBudget};
use pgsurge_connect::{ConnParams, ConnectError, ConnectRequest, PasswordPolicy};
use pgsurge_restore::{self as engine, EngineError, Outcome};
use pgsurge_plan::select::Selection;
use pgsurge_plan::RestoreOptions;

use super::stages::Around;
use super::ExitStatus;
use crate::cli::RestoreArgs;
use crate::messages::Program;
use crate::options::Plan;
use crate::messages::human_bytes;
use crate::report::{ArchiveMeta, ReportMeta, Reporter, TargetMeta};

/// `--report FILE`, opened before the restore starts: a path that cannot be written fails
/// the command before anything is restored, not after. Until the report is written, an
/// existing file keeps its content, and a file created for it goes again if the command
/// fails before the restore (a damaged archive, say).
pub struct ReportFile {
    path: String,
    file: File,
    created: bool,
    written: bool,
    /// Keys the restore's own report lacks, added at its top level: what a bundle held
    /// besides the dump (`bundle`), what the stages around the restore did (`migrations`,
    /// `swap`).
    extra: Vec<(String, serde_json::Value)>,
}

impl ReportFile {
    /// Adds the bundle the dump came from to the report.
    pub fn set_bundle(&mut self, bundle: serde_json::Value) {
        self.set_key("bundle", bundle);
    }

    /// Adds (or replaces) the top-level key `key`.
    pub fn set_key(&mut self, key: &str, value: serde_json::Value) {
        self.extra.retain(|(k, _)| k != key);
        self.extra.push((key.to_owned(), value));
    }
}

/// Opens (creating if need be) the report file now; the error is the one line to print.
pub fn open_report(path: &str) -> Result<ReportFile, String> {
    let opened = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new().write(true).open(path).map(|file| (file, false)),
        Err(e) => Err(e),
    };
    match opened {
        Ok((file, created)) => Ok(ReportFile { path: path.to_owned(), file, created, written: false, extra: Vec::new() }),
        Err(e) => Err(format!("could not open report file \"{path}\": {}", super::io_reason(&e))),
    }
}

impl ReportFile {
    /// Replaces the file's content with `text`.
    fn write(&mut self, text: &str) -> io::Result<()> {
        self.written = true;
        // Only a regular file can be emptied first; /dev/stdout or a pipe is written as is.
        if self.file.metadata()?.is_file() {
            self.file.set_len(0)?;
        }
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The report's header, taken before the restore starts: the archive, the target (never a
/// password), the command line with its secrets masked, and the start time.
fn report_meta(args: &RestoreArgs, plan: &Plan, archive: &Archive, connector: &ConnParams, jobs: usize) -> ReportMeta {
    let header = archive.header();
    let text = |v: &Option<bstr::BString>| v.as_ref().map(|v| v.to_string());
    let source = ArchiveMeta {
        bytes: plan.archive.as_deref().and_then(|p| size_on_disk(std::path::Path::new(p))),
        path: plan.archive.clone().unwrap_or_else(|| "-".to_owned()),
        format: match archive.format() {
            pgsurge_archive::Format::Custom => "custom",
            pgsurge_archive::Format::Directory => "directory",
            pgsurge_archive::Format::Tar => "tar",
        },
        version: header.version.to_string(),
        dumped_by: text(&header.dump_version),
        dumped_from: text(&header.server_version),
        database: text(&header.dbname),
    };
    report_meta_for(args, source, connector, jobs)
}

/// The report's header for a restore of `source` (an archive, or a plain script).
pub fn report_meta_for(args: &RestoreArgs, source: ArchiveMeta, connector: &ConnParams, jobs: usize) -> ReportMeta {
    let first = connector.hosts.first();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let options = match &args.dbname {
        Some(dbname) => crate::argv::masked_copy(&argv, dbname.as_bytes(), &pgsurge_connect::conninfo::secret_spans(dbname)),
        None => crate::argv::masked_copy(&argv, b"", &[]),
    };
    ReportMeta {
        archive: source,
        target: TargetMeta {
            host: first.map(|h| h.host_display()).unwrap_or_default(),
            port: first.map_or(5432, |h| h.port),
            database: connector.dbname.clone(),
            user: connector.user.clone(),
        },
        options,
        jobs,
        started_at: std::time::SystemTime::now(),
    }
}

/// A file's size, or the total of a directory's files (a directory archive); `None` when
/// it cannot be read.
pub fn size_on_disk(path: &std::path::Path) -> Option<u64> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return Some(meta.len());
    }
    let mut total = 0u64;
    for entry in std::fs::read_dir(path).ok()? {
        let meta = entry.ok()?.metadata().ok()?;
        if meta.is_file() {
            total = total.checked_add(meta.len())?;
        }
    }
    Some(total)
}

/// The connection parameters of `-d`, the other connection options and the environment, as
/// libpq resolves them; `None` when they are wrong (said already).
pub fn connection(args: &RestoreArgs, dbname: &str, prog: &Program) -> Option<ConnParams> {
    resolve_connection(Some(dbname.to_owned()), args.host.clone(), args.port.clone(), args.username.clone(), (args.no_password, args.password), prog)
}

/// Connection parameters from `-d`, `-h`, `-p`, `-U` and `-w`/`-W` (`prompt`), the
/// environment and libpq's defaults, as every command that connects resolves them; `None`
/// when they are wrong (said already).
pub fn resolve_connection(dbname: Option<String>, host: Option<String>, port: Option<String>, user: Option<String>, (never, always): (bool, bool), prog: &Program) -> Option<ConnParams> {
    let request = ConnectRequest {
        dbname,
        host,
        port,
        user,
        password: if never {
            PasswordPolicy::Never
        } else if always {
            PasswordPolicy::Always
        } else {
            PasswordPolicy::IfAsked
        },
        fallback_application_name: "pgsurge".into(),
    };
    match ConnParams::resolve(&request, &|key| std::env::var(key).ok()) {
        Ok(params) => Some(params),
        Err(e) => {
            report_connect_error(prog, &e);
            None
        }
    }
}

/// Writes the report, if one was asked for; `false` when it could not be written (said
/// already): that fails the command, however the restore went.
pub fn write_report(report: Option<ReportFile>, text: impl FnOnce() -> String, prog: &Program) -> bool {
    let Some(mut report) = report else { return true };
    let mut text = text();
    let extra = std::mem::take(&mut report.extra);
    if !extra.is_empty() {
        if let Ok(serde_json::Value::Object(mut doc)) = serde_json::from_str::<serde_json::Value>(&text) {
            for (key, value) in extra {
                doc.insert(key, value);
            }
            text = serde_json::to_string_pretty(&doc).unwrap_or(text) + "\n";
        }
    }
    match report.write(&text) {
        Ok(()) => true,
        Err(e) => {
            prog.error(format_args!("could not write report file \"{}\": {}", report.path, super::io_reason(&e)));
            false
        }
    }
}

pub fn run(args: &RestoreArgs, dbname: &str, plan: &Plan, archive: &mut Archive, selection: &Selection, report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let Some(connector) = connection(args, dbname, prog) else { return ExitStatus::Failure };
    let opts = &plan.options;
    let pg_restore = prog.name == "pg_restore";
    let jobs = jobs(opts, prog);
    let jobs = if jobs > 1 && !archive.is_seekable() {
        if !pg_restore || opts.jobs.is_some() {
            prog.warning("the archive is read in one pass (standard input or a pipe); restoring with one connection — parallel restore from a one-pass input is not available yet");
        }
        1
    } else {
        jobs
    };

    let mut preflight = None;
    if !pg_restore {
        let needs = pgsurge_plan::needs::of_archive(archive, selection, opts);
        let header = archive.header();
        let target = pgsurge_stages::preflight::Target {
            // --create restores into the archive's database, made from -d's.
            dbname: match (&needs.database, opts.create) {
                (Some(db), true) => db.name.clone(),
                _ => connector.dbname.clone(),
            },
            create: opts.create,
            clean: opts.clean,
            swap: args.swap,
            archive_major: header.server_version.as_ref().and_then(|v| std::str::from_utf8(v).ok()?.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()),
        };
        match super::preflight::stage(args, &connector, &target, &needs, prog) {
            Ok(json) => preflight = Some(json),
            Err(status) => return status,
        }
    }
    // The marker goes on the database restored into: the one --create makes, once made.
    let marker_on = (!opts.create).then_some(connector.dbname.as_str());
    let toc = archive.toc();
    let properties = |name: &str| pgsurge_plan::database_props::database_properties(toc, opts, name.as_bytes()).into_iter().map(|s| String::from_utf8_lossy(&s).into_owned()).collect();
    let Ok(around) = Around::begin(args, &connector, marker_on, !pg_restore, &properties, prog) else { return ExitStatus::Failure };
    let swapped;
    let opts = match around.engine_options(opts, prog) {
        Some(changed) => {
            swapped = changed;
            &swapped
        }
        None => opts,
    };
    let meta = report.is_some().then(|| report_meta(args, plan, archive, &connector, jobs));
    let reporter = Reporter::new(prog, args.quiet, opts);
    if opts.verbose {
        prog.info("connecting to database for restore");
    }
    let result = engine::restore(archive, selection, opts, jobs, &around.connector(), &|e| {
        around.observe(&e);
        reporter.event(e)
    });
    if let Some(spool) = archive.spool().filter(|_| !pg_restore && !args.quiet) {
        prog.info(format_args!("the temporary copy of standard input took at most {} on disk", human_bytes(spool.peak())));
    }
    finish(around, result, report, preflight, &reporter, meta, prog)
}

/// The end of a restore into a database, an archive's or a script's: the stages after the
/// engine (migrations, swap), the report with what the stages did, the summary and the
/// exit status — 1 when the restore or a stage after it failed.
#[allow(clippy::too_many_arguments)]
pub fn finish(around: Around<'_>, result: Result<Outcome, EngineError>, mut report: Option<ReportFile>, preflight: Option<serde_json::Value>, reporter: &Reporter, meta: Option<ReportMeta>, prog: &Program) -> ExitStatus {
    if let (Some(report), Some(json)) = (report.as_mut(), preflight) {
        report.set_key("preflight", json);
    }
    let stages_ok = around.finish(&result, &mut |key, value| {
        if let Some(report) = report.as_mut() {
            report.set_key(key, value);
        }
    }, prog);
    // A report asked for and not written fails the command, however the restore went.
    let report_written = write_report(report, || meta.as_ref().map(|meta| reporter.json(result.as_ref().ok(), meta)).unwrap_or_default(), prog);
    let status = exit_status(result, reporter, report_written, prog);
    if stages_ok {
        status
    } else {
        ExitStatus::Failure
    }
}

/// The summary of a restore that ended with `result` (an archive's or a script's), and the
/// exit status: 1 for counted errors, a stop, a failure, or a report not written.
pub fn exit_status(result: Result<Outcome, EngineError>, reporter: &Reporter, report_written: bool, prog: &Program) -> ExitStatus {
    match result {
        Ok(outcome) => {
            reporter.summary(&outcome);
            if outcome.errors > 0 {
                prog.warning(format_args!("errors ignored on restore: {}", outcome.errors));
                return ExitStatus::Failure;
            }
            if report_written {
                ExitStatus::Success
            } else {
                ExitStatus::Failure
            }
        }
        Err(EngineError::Stopped) => {
            reporter.stopped_summary();
            ExitStatus::Failure
        }
        Err(EngineError::Connect(e)) => {
            match e.downcast_ref::<ConnectError>() {
                Some(e) => report_connect_error(prog, e),
                None => prog.error(format_args!("connection to server failed: {e}")),
            }
            ExitStatus::Failure
        }
        Err(EngineError::Render(e)) => {
            prog.error(&e);
            // When copying standard input failed, that was said already; the archive may be fine.
            let source_failed = e.archive_error().is_some_and(|a| matches!(a.kind(), pgsurge_archive::ErrorKind::Io(io) if io.get_ref().is_some_and(|r| r.is::<pgsurge_archive::SourceFailed>())));
            if let Some(at) = e.archive_error().filter(|_| !source_failed).and_then(|a| crate::messages::describe_location(a.location())) {
                prog.hint(format_args!("the archive is damaged or incomplete at {at}; `pgsurge verify` checks all of it"));
            }
            reporter.stopped_summary();
            ExitStatus::Failure
        }
        Err(e) => {
            prog.error(&e);
            reporter.stopped_summary();
            ExitStatus::Failure
        }
    }
}

pub fn report_connect_error(prog: &Program, e: &ConnectError) {
    prog.error(e);
    if let ConnectError::NoSuchDatabase { .. } = e {
        prog.hint("create the database first, or restore with --create (-C) while connected to an existing database such as postgres");
    } else if let Some(hint) = e.hint() {
        prog.hint(hint);
    }
}

/// How many connections to restore with: `-j`, else pg_restore's one under its own name (or
/// with `-1`), else as many as the machine has cores, 2 to 8.
pub fn jobs(opts: &RestoreOptions, prog: &Program) -> usize {
    match opts.jobs {
        Some(j) => j as usize,
        None if prog.name == "pg_restore" || opts.single_transaction => 1,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8),
    }
}

/// Standard input being copied to a temporary file by a thread of its own, and read from
/// that file while it fills.
pub struct SpooledStdin {
    pub file: tempfile::NamedTempFile,
    pub spool: Arc<Spool>,
    /// What the copy may hold: `limit`, or less when the directory has less room.
    pub budget: Option<u64>,
}

/// Where temporary copies go (of standard input, a decompressed script, a dump out of a
/// bundle): `PGSURGE_SPOOL_DIR`, else `TMPDIR`, else /var/tmp.
pub fn spool_dir() -> std::path::PathBuf {
    std::env::var_os("PGSURGE_SPOOL_DIR").or_else(|| std::env::var_os("TMPDIR")).map_or_else(|| std::path::PathBuf::from("/var/tmp"), std::path::PathBuf::from)
}

/// Starts copying standard input to a temporary file (in `PGSURGE_SPOOL_DIR`, else `TMPDIR`,
/// else /var/tmp), removed when the returned handle is dropped. The copy runs as fast as the
/// pipe delivers, whatever the restore is doing, within `limit` (`PGSURGE_SPOOL_LIMIT`) or
/// the room the directory has, whichever is smaller.
pub fn spool_stdin(prog: &Program, limit: Option<u64>) -> Result<SpooledStdin, String> {
    spool_input(prog, limit, Box::new(std::io::stdin()), "standard input")
}

/// As [`spool_stdin`], for any one-pass input (`what` names it: a dump inside a bundle).
pub fn spool_input(prog: &Program, limit: Option<u64>, mut input: Box<dyn std::io::Read + Send>, what: &str) -> Result<SpooledStdin, String> {
    let dir = spool_dir();
    let advice = "set PGSURGE_SPOOL_DIR to a directory with room for the archive, or restore with -j 1 (one pass, no temporary file)";
    let file = tempfile::Builder::new().prefix("pgsurge-input-").tempfile_in(&dir).map_err(|e| format!("could not create a temporary file in \"{}\": {e}; {advice}", dir.display()))?;
    // A file system that cannot say leaves the limit alone; the copy then fails as it
    // would have, with the advice above.
    let chosen = SpoolBudget::choose(limit, pgsurge_archive::free_space(&dir).ok());
    let budget = chosen.bytes;
    let reader = file.reopen().map_err(|e| format!("could not reopen \"{}\": {e}", file.path().display()))?;
    let mut writer = file.as_file().try_clone().map_err(|e| format!("could not write \"{}\": {e}", file.path().display()))?;
    let spool = Arc::new(Spool::new(reader));
    // From the start: the restore releases what it is done with once it knows where the
    // data blocks lie, and clears the budget if it cannot.
    spool.set_budget(budget);
    let filler = Arc::clone(&spool);
    let path = file.path().display().to_string();
    let quiet = prog.name == "pg_restore";
    let prog_name = prog.clone();
    if !quiet {
        prog.info(format_args!("copying {what} to {path} as it arrives, to restore it in parallel"));
        if let (Some(free), Some(bytes)) = (chosen.free_space, budget) {
            let limit = limit.map_or_else(|| "PGSURGE_SPOOL_LIMIT sets none".to_owned(), |l| format!("below PGSURGE_SPOOL_LIMIT, {}", human_bytes(l)));
            prog.info(format_args!("keeping the copy within {}: the free space in {} ({}) less a margin, {limit}", human_bytes(bytes), dir.display(), human_bytes(free)));
        }
    }
    let what = what.to_owned();
    std::thread::spawn(move || {
        let started = Instant::now();
        match filler.fill(&mut input, &mut writer) {
            Ok(n) if !quiet => prog_name.info(format_args!("{what} ended after {} in {:.1} s", human_bytes(n), started.elapsed().as_secs_f64())),
            Ok(_) => {}
            Err(e) => prog_name.error(format_args!("could not copy {what} to \"{path}\": {e}; {advice}")),
        }
    });
    Ok(SpooledStdin { file, spool, budget })
}

