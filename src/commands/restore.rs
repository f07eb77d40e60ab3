//! `pgsurge restore` / `list` / `sql` and the binary named `pg_restore`: check the options,
//! open the archive, select entries, then list them, write the script, or restore.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use pgsurge_archive::{Archive, ErrorKind, Format, Source};
use pgsurge_plan::{listing, render, select};

use super::{bundle, database, script};
use super::{io_reason, print_restore_help, report_open_error, wants_help_or_version, ExitStatus, RestoreCommand};
use crate::cli::RestoreArgs;
use crate::messages::{describe_location, is_broken_pipe, Program};
use crate::options::{self, Mode, Output};

pub fn run(mut args: RestoreArgs, command: RestoreCommand, prog: &Program) -> ExitStatus {
    if wants_help_or_version(&args) {
        if args.help {
            print_restore_help(prog, command);
        } else {
            let _ = writeln!(io::stdout().lock(), "pg_restore (PostgreSQL) 18.6 (pgsurge {})", env!("CARGO_PKG_VERSION"));
        }
        return ExitStatus::Success;
    }
    match command {
        RestoreCommand::Restore => {}
        RestoreCommand::List => args.list = true,
        RestoreCommand::Sql => {
            if args.dbname.is_some() {
                prog.error("`pgsurge sql` writes a script and takes no -d/--dbname");
                prog.hint("to restore into a database, use `pgsurge restore -d DBNAME`");
                return ExitStatus::Failure;
            }
            if args.file.is_none() {
                args.file = Some("-".to_owned());
            }
        }
    }
    let mut plan = match options::check(&args) {
        Ok(plan) => plan,
        Err(e) => {
            prog.error(&e.message);
            if e.hint {
                prog.try_help();
            }
            return ExitStatus::Failure;
        }
    };
    plan.options.analyze = options::analyze(&args, prog.name == "pg_restore");

    let mut report = match (&plan.mode, &args.report) {
        (Mode::Database(_), Some(path)) => match database::open_report(path) {
            Ok(report) => Some(report),
            Err(message) => {
                prog.error(message);
                return ExitStatus::Failure;
            }
        },
        _ => None,
    };

    let source = match &plan.archive {
        Some(path) => Source::Path(path.into()),
        None => Source::Stdin,
    };
    // A bundle (a zip or tar holding a dump and the app's files); under the pg_restore name,
    // refused as pg_restore refuses what is no archive.
    if let (Source::Path(path), None, false) = (&source, plan.format, prog.name == "pg_restore") {
        if path.is_file() && matches!(pgsurge_bundle::probe(path), Ok(pgsurge_bundle::Probe::Bundle(_))) {
            return bundle::run(&args, &plan, path, report, prog);
        }
    }
    // Files from a bundle of their own (`--files-from storage.tar.gz --files-to DIR`) are
    // extracted first: a bundle refused is refused before anything reaches the server.
    if let Err(message) = bundle::check_files_options(&args, &plan.mode, false) {
        prog.error(message);
        return ExitStatus::Failure;
    }
    let Some(extracted) = bundle::extract_files_from(&args, prog) else { return ExitStatus::Failure };
    if let (Some(report), false) = (report.as_mut(), extracted.is_empty()) {
        report.set_bundle(serde_json::json!({ "files_from": extracted }));
    }
    // A plain SQL script on standard input (`psql`'s habit: `pgsurge restore -d db <
    // backup.sql`), told from its first bytes, which stay buffered for the archive reader
    // should it be an archive after all; under the pg_restore name it is refused as
    // pg_restore refuses it.
    let peeked = matches!((&plan.mode, &source), (Mode::Database(_), Source::Stdin)) && plan.format.is_none() && prog.name != "pg_restore";
    if peeked && script::stdin_is_script() {
        if let Mode::Database(dbname) = &plan.mode {
            return script::run_stdin(&args, dbname, &plan.options, report, prog);
        }
    }
    // A parallel restore needs random access: a pipe is copied to a temporary file as it
    // arrives, and read from there while it fills (pg_restore refuses -j from standard input).
    let spooled = match (&plan.mode, &source) {
        (Mode::Database(_), Source::Stdin) if database::jobs(&plan.options, prog) > 1 && !stdin_is_file() => match database::spool_stdin(prog, plan.options.spool_budget) {
            Ok(spooled) => {
                // The engine gives back what it has read by the same budget.
                plan.options.spool_budget = spooled.budget;
                Some(spooled)
            }
            Err(message) => {
                prog.error(message);
                return ExitStatus::Failure;
            }
        },
        _ => None,
    };
    let opened = match &spooled {
        Some(sp) => Archive::open_spooled(Arc::clone(&sp.spool), sp.file.path(), plan.format),
        // The peek left the first bytes in the standard-input buffer: a pipe is read
        // through it (a regular file is mapped whole, whatever has been read).
        None if peeked && !stdin_is_file() => Archive::open_stream(Box::new(io::stdin()), plan.format),
        None => Archive::open(&source, plan.format),
    };
    let archive = match opened {
        Ok(a) => a,
        Err(e) => {
            // A plain SQL script, restored as psql would run it; under the pg_restore name,
            // refused as pg_restore refuses it.
            let no_archive = plan.format.is_none() && matches!(e.kind(), ErrorKind::TextDump | ErrorKind::NotAnArchive | ErrorKind::NotAnArchiveTooShort);
            if let (true, Source::Path(path), false) = (no_archive, &source, prog.name == "pg_restore") {
                if let Ok(Some((reader, compression))) = pgsurge_script::open::open_script(path) {
                    let source = script::Source { path: path.clone(), given: path.display().to_string() };
                    match &plan.mode {
                        Mode::Database(dbname) => return script::run(&args, dbname, &plan.options, &source, reader, report, prog),
                        Mode::List(output) => return script::list(&source, reader, compression, output, prog),
                        Mode::Script(_) => {}
                    }
                }
            }
            report_open_error(prog, &source, &e);
            return ExitStatus::Failure;
        }
    };

    restore_archive(&args, &plan, archive, &source, report, prog)
}

/// Lists, writes the script of, or restores an opened archive: what `run` does once the
/// input is known to be one (a file, standard input, a dump inside a bundle).
pub fn restore_archive(args: &RestoreArgs, plan: &options::Plan, mut archive: Archive, source: &Source, report: Option<database::ReportFile>, prog: &Program) -> ExitStatus {
    // pg_restore reads a tar archive strictly forward, files included, so a script whose
    // data is asked for out of archive order fails the same way from a file as from a pipe;
    // the script must be the same, so a tar file is read as a stream here.
    if matches!(plan.mode, Mode::Script(_)) && archive.format() == Format::Tar && archive.is_seekable() {
        if let Source::Path(path) = source {
            let reopened = File::open(path)
                .map_err(|e| pgsurge_archive::Error::from(ErrorKind::Open { path: path.clone(), source: e }))
                .and_then(|f| Archive::open_stream(Box::new(f), Some(Format::Tar)));
            match reopened {
                Ok(a) => archive = a,
                Err(e) => {
                    report_open_error(prog, source, &e);
                    return ExitStatus::Failure;
                }
            }
        }
    }
    let mut warn = |w: String| prog.warning(w);
    let selection = match select::select(&archive, &plan.options, &mut warn) {
        Ok(s) => s,
        Err(e) => {
            prog.error(e);
            return ExitStatus::Failure;
        }
    };

    let (output, script) = match &plan.mode {
        Mode::List(o) => (o, false),
        Mode::Script(o) => (o, true),
        Mode::Database(dbname) => return database::run(args, dbname, plan, &mut archive, &selection, report, prog),
    };
    let mut out: Box<dyn Write> = match output {
        Output::Stdout => Box::new(BufWriter::with_capacity(256 * 1024, io::stdout().lock())),
        Output::File(path) => match File::create(path) {
            Ok(f) => Box::new(BufWriter::with_capacity(256 * 1024, f)),
            Err(e) => {
                prog.error(format_args!("could not open output file \"{path}\": {}", io_reason(&e)));
                return ExitStatus::Failure;
            }
        },
    };

    let result = if script {
        write_script(&mut archive, &selection, &plan.options, &mut out, prog)
    } else {
        listing::write_listing(&archive, &selection, &plan.options, &mut out).map_err(Failure::Io)
    };
    let flushed = out.flush().map_err(Failure::Io);
    match result.and(flushed) {
        Err(Failure::Io(e)) if is_broken_pipe(&e) => return ExitStatus::Success,
        Err(Failure::Io(e)) => {
            prog.error(format_args!("could not write to output file: {}", io_reason(&e)));
            return ExitStatus::Failure;
        }
        Err(Failure::Reported) => return ExitStatus::Failure,
        Ok(()) => {}
    }
    // --strict-names is checked after the listing is printed, as pg_restore does.
    if let Some(e) = selection.strict_names_error() {
        prog.error(e);
        return ExitStatus::Failure;
    }
    ExitStatus::Success
}

/// Why writing the listing or script stopped: an output error still to report, or a failure
/// already reported.
enum Failure {
    Io(io::Error),
    Reported,
}

fn write_script(archive: &mut Archive, selection: &select::Selection, options: &pgsurge_plan::options::RestoreOptions, out: &mut dyn Write, prog: &Program) -> Result<(), Failure> {
    let verbose = options.verbose;
    let result = render::write_script_logged(archive, selection, options, out, &mut |w| prog.warning(w), &mut |m| {
        if verbose {
            prog.info(m)
        }
    });
    match result {
        Ok(()) => Ok(()),
        Err(render::RenderError::Io(e)) => Err(Failure::Io(e)),
        Err(e) => {
            prog.error(&e);
            if let Some(location) = e.archive_error().and_then(|a| describe_location(a.location())) {
                prog.hint(format_args!("this happened at {location}; `pgsurge verify` checks the whole archive"));
            }
            Err(Failure::Reported)
        }
    }
}

/// Whether standard input is a regular file (`< file`), which can be read at any offset.
fn stdin_is_file() -> bool {
    // SAFETY: fstat on fd 0 with a zeroed, properly sized stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}
