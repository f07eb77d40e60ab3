//! The `pgsurge` binary: parse the command line, run the command, map the outcome to an exit
//! status. Started under the name `pg_restore`, it takes pg_restore's command line directly.

mod argv;
mod cli;
mod commands;
mod messages;
mod options;
mod report;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let status = if invoked_as == "pg_restore" { commands::pg_restore_main(argv) } else { commands::pgsurge_main(argv) };
    ExitCode::from(status.code())
}
