//! The commands: `restore` (pg_restore's command line; also the binary named `pg_restore`),
//! `list`, `sql` and `verify`. Each returns an `ExitStatus`; only `main` exits.

pub mod database;
mod restore;
mod verify;

use std::ffi::OsString;

use clap::error::ErrorKind as ClapErrorKind;
use clap::{CommandFactory, Parser};

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
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
        }
    }
}

/// Which pg_restore-style command is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreCommand {
    Restore,
    List,
    Sql,
}

/// `pg_restore [OPTION]... [FILE]`.
pub fn pg_restore_main(argv: Vec<OsString>) -> ExitStatus {
    let prog = Program::PG_RESTORE;
    match PgRestoreCli::try_parse_from(&argv) {
        Ok(cli) => restore::run(cli.args, RestoreCommand::Restore, &prog),
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
        _ => "restore",
    });
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            return match subcommand {
                "restore" | "list" | "sql" => clap_failure(e, &prog, Cli::command()),
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
    match cli.command {
        Command::Restore(args) => restore::run(args, RestoreCommand::Restore, &prog),
        Command::List(args) => restore::run(args, RestoreCommand::List, &prog),
        Command::Sql(args) => restore::run(args, RestoreCommand::Sql, &prog),
        Command::Verify(args) => verify::run(args, &prog),
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

/// Prints the help of the pg_restore-compatible options.
pub fn print_restore_help(prog: &Program) {
    let mut cmd = PgRestoreCli::command();
    let cmd = if prog.name == "pg_restore" {
        cmd.about("pg_restore (pgsurge) restores a PostgreSQL database from an archive created by pg_dump.")
    } else {
        cmd = cmd.name("pgsurge restore").bin_name("pgsurge restore");
        cmd.about("Restores a PostgreSQL database from an archive created by pg_dump, taking pg_restore's options.")
    };
    let mut cmd = cmd.after_help(
        "The options -I, -n, -N, -P, -t, -T, and --section can be combined and specified\nmultiple times to select multiple objects.\n\nIf no input file name is supplied, then standard input is used.",
    );
    let _ = cmd.print_help();
}

/// Whether the raw args asked only for help or version.
pub fn wants_help_or_version(args: &RestoreArgs) -> bool {
    args.help || args.version
}
