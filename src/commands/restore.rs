//! `pgsurge restore` / `list` / `sql` and the binary named `pg_restore`: check the options,
//! tell what the input is — an archive, a plain SQL script, a bundle — and hand it on
//! (`archive`, `script`, `bundle`).

use std::io::{self, Write};
use std::sync::Arc;

use pgsurge_archive::{Archive, ErrorKind, Source};

use super::{archive, bundle, database, script, stages};
use super::{print_restore_help, report_open_error, wants_help_or_version, ExitStatus, RestoreCommand};
use crate::cli::RestoreArgs;
use crate::messages::Program;
use crate::options::{self, Mode};

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
        RestoreCommand::Check => {
            if args.dbname.is_none() {
                prog.error("`pgsurge check` checks against a server: give it -d DBNAME, as the restore would have");
                return ExitStatus::Failure;
            }
            for (given, option) in [(args.list, "-l/--list"), (args.file.is_some(), "-f/--file")] {
                if given {
                    prog.error(format_args!("`pgsurge check` takes the restore's options; {option} is not one"));
                    return ExitStatus::Failure;
                }
            }
        }
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
    plan.check_only = command == RestoreCommand::Check;
    args.check_only = plan.check_only;
    if let Err(message) = stages::check_options(&args, matches!(plan.mode, Mode::Database(_))) {
        prog.error(message);
        return ExitStatus::Failure;
    }

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
    let Some(extracted) = bundle::extract_files_from(&args, false, prog) else { return ExitStatus::Failure };
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

    archive::restore(&args, &plan, archive, &source, report, prog)
}


/// Whether standard input is a regular file (`< file`), which can be read at any offset.
fn stdin_is_file() -> bool {
    // SAFETY: fstat on fd 0 with a zeroed, properly sized stat buffer.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(0, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFREG
    }
}
