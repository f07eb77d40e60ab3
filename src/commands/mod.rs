//! The commands: `restore` (pg_restore's command line; also the binary named `pg_restore`),
//! `list`, `sql`, `verify`, `report` (a restore's report drawn), and `completions` and `man`
//! that describe them. Each returns an `ExitStatus`; only `main` exits.

mod bundle;
mod archive;
pub mod database;
mod describe;
mod migrations;
mod preflight;
mod report;
mod restore;
mod safety;
mod script;
mod stages;
mod verify;

use std::ffi::OsString;
use std::io;

use clap::error::ErrorKind as ClapErrorKind;
use clap::{CommandFactory, Parser};
use pgsurge_archive::{ErrorKind, Source};

use crate::cli::{Cli, Command, PgRestoreCli, RestoreArgs};
use crate::messages::Program;

/// How the process ends. pg_restore's convention: 0 success, 1 for any error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// Errors during the run, or bad options for the pg_restore-compatible commands.
    Failure,
    /// A usage error in pgsurge's own commands (clap's convention).
    Usage,
    /// `status` could not ask the server: neither "idle" (0) nor "running" (1).
    Unknown,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage | ExitStatus::Unknown => 2,
        }
    }
}

/// Which pg_restore-style command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreCommand {
    Restore,
    List,
    Sql,
    /// `pgsurge check`: a restore's checks against the server, nothing restored.
    Check,
}

/// `pg_restore [OPTION]... [FILE]`.
pub fn pg_restore_main(argv: Vec<OsString>) -> ExitStatus {
    let prog = Program::PG_RESTORE;
    match PgRestoreCli::try_parse_from(&argv) {
        Ok(cli) => {
            hide_secrets(&argv, &cli.args);
            restore::run(cli.args, RestoreCommand::Restore, &prog)
        }
        Err(e) => clap_failure(e, &prog, PgRestoreCli::command()),
    }
}

/// `pgsurge COMMAND ...`.
pub fn pgsurge_main(argv: Vec<OsString>) -> ExitStatus {
    let subcommand = argv.get(1).and_then(|s| s.to_str()).unwrap_or("");
    let prog = Program::pgsurge(match subcommand {
        "list" => "list",
        "sql" => "sql",
        "verify" => "verify",
        "check" => "check",
        "status" => "status",
        "snapshots" => "snapshots",
        "rollback" => "rollback",
        "report" => "report",
        "completions" => "completions",
        "man" => "man",
        _ => "restore",
    });
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            return match subcommand {
                "restore" | "list" | "sql" | "check" => clap_failure(e, &prog, Cli::command()),
                _ => {
                    let usage = !matches!(e.kind(), ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion);
                    let _ = e.print();
                    if usage {
                        ExitStatus::Usage
                    } else {
                        ExitStatus::Success
                    }
                }
            };
        }
    };
    if let Command::Restore(args) | Command::List(args) | Command::Sql(args) | Command::Check(args) = &cli.command {
        hide_secrets(&argv, args);
    }
    match cli.command {
        Command::Restore(args) => restore::run(args, RestoreCommand::Restore, &prog),
        Command::List(args) => restore::run(args, RestoreCommand::List, &prog),
        Command::Sql(args) => restore::run(args, RestoreCommand::Sql, &prog),
        Command::Check(args) => restore::run(args, RestoreCommand::Check, &prog),
        Command::Status(args) => safety::status(&args, &prog),
        Command::Snapshots(args) => safety::snapshots(&args, &prog),
        Command::Rollback(args) => safety::rollback(&args, &prog),
        Command::Verify(args) => verify::run(args, &prog),
        Command::Report(args) => report::run(&args, &prog),
        Command::Completions(args) => describe::completions(args.shell, &prog),
        Command::Man(args) => describe::man(args.command.as_deref(), args.dir.as_deref(), &prog),
    }
}

/// Overwrites the secrets of `-d`'s connection string in the process's argument memory, which
/// every user can read (`ps`, /proc/PID/cmdline) for as long as the restore runs. `argv` is
/// the copy parsed, and stays intact.
fn hide_secrets(argv: &[OsString], args: &RestoreArgs) {
    if let Some(dbname) = &args.dbname {
        let spans = pgsurge_connect::conninfo::secret_spans(dbname);
        if !spans.is_empty() {
            crate::argv::mask_value(argv, dbname.as_bytes(), &spans);
        }
    }
}

/// A command-line error in pg_restore's style: one error line, the "Try --help" hint, exit 1.
fn clap_failure(e: clap::Error, prog: &Program, _cmd: clap::Command) -> ExitStatus {
    if matches!(e.kind(), ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitStatus::Success;
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_owned();
    prog.error(first);
    prog.try_help();
    ExitStatus::Failure
}

/// Prints the help of the pg_restore-compatible options, under the name of the command that
/// was run (`pg_restore`, `pgsurge restore`, `pgsurge list`, `pgsurge sql`).
pub fn print_restore_help(prog: &Program, command: RestoreCommand) {
    let cmd = PgRestoreCli::command();
    let cmd = if prog.name == "pg_restore" {
        cmd.about("pg_restore (pgsurge) restores a PostgreSQL database from an archive created by pg_dump.")
    } else {
        let (name, about) = match command {
            RestoreCommand::Restore => ("pgsurge restore", crate::cli::RESTORE_ABOUT),
            RestoreCommand::List => ("pgsurge list", crate::cli::LIST_ABOUT),
            RestoreCommand::Sql => ("pgsurge sql", crate::cli::SQL_ABOUT),
            RestoreCommand::Check => ("pgsurge check", crate::cli::CHECK_ABOUT),
        };
        cmd.name(name).bin_name(name).about(about)
    };
    let _ = cmd.after_help(crate::cli::RESTORE_AFTER_HELP).print_help();
}

/// The OS's reason text without Rust's "(os error N)" suffix, as C tools print `strerror`.
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Why an archive could not be opened, worded the same by every command: pg_restore's words
/// where it has them, the input named once. Returns the error line and a hint.
pub fn open_error(source: &Source, e: &pgsurge_archive::Error) -> (String, Option<String>) {
    match e.kind() {
        ErrorKind::Open { source: io, .. } => (format!("could not open input file \"{source}\": {}", io_reason(io)), None),
        ErrorKind::NotADirectoryArchive(_) => (format!("directory \"{source}\" does not appear to be a valid archive (\"toc.dat\" does not exist)"), None),
        ErrorKind::TextDump => match source {
            Source::Path(path) => (
                format!("input file \"{source}\" appears to be a text format dump (a psql script), not an archive"),
                Some(format!("restore it with psql, e.g. `psql -f {}`", path.display())),
            ),
            Source::Stdin => ("standard input appears to be a text format dump (a psql script), not an archive".to_owned(), Some("restore it with psql, e.g. `psql -f FILE`".to_owned())),
        },
        _ => (format!("{source}: {e}"), None),
    }
}

/// Prints [`open_error`].
pub fn report_open_error(prog: &Program, source: &Source, e: &pgsurge_archive::Error) {
    let (message, hint) = open_error(source, e);
    prog.error(message);
    if let Some(hint) = hint {
        prog.hint(hint);
    }
}

/// Whether the raw args asked only for help or version.
pub fn wants_help_or_version(args: &RestoreArgs) -> bool {
    args.help || args.version
}
