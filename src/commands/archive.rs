//! An opened archive — from a file, standard input, or a dump inside a bundle — listed
//! (`-l`), written out as a script (`-f`), or restored into a database (`-d`): what every
//! command does once its input is known to be an archive.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use pgsurge_archive::{Archive, ErrorKind, Format, Source};
use pgsurge_plan::{listing, render, select};

use super::database;
use super::{io_reason, report_open_error, ExitStatus};
use crate::cli::RestoreArgs;
use crate::messages::{describe_location, is_broken_pipe, Program};
use crate::options::{self, Mode, Output};

/// Lists, writes the script of, or restores an opened archive: what `run` does once the
/// input is known to be one (a file, standard input, a dump inside a bundle).
pub fn restore(args: &RestoreArgs, plan: &options::Plan, mut archive: Archive, source: &Source, report: Option<database::ReportFile>, prog: &Program) -> ExitStatus {
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
