//! `pgsurge completions SHELL` and `pgsurge man [COMMAND | --dir DIR]`: the command line
//! described to a shell and to man(1), generated from the definitions clap parses with, so
//! they cannot drift from what pgsurge accepts. Only under the name `pgsurge`: `pg_restore`
//! has neither.

use std::io::{self, Write};
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::Man;

use super::{io_reason, ExitStatus};
use crate::cli::Cli;
use crate::messages::{is_broken_pipe, Program};

pub fn completions(shell: Shell, prog: &Program) -> ExitStatus {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pgsurge", &mut script);
    write_stdout(&script, prog)
}

/// pgsurge(1) or pgsurge-COMMAND(1) on stdout; with `dir`, every page as packagers install
/// them, pgsurge.1 and a pgsurge-COMMAND.1 per command (the way git and cargo split theirs).
pub fn man(command: Option<&str>, dir: Option<&Path>, prog: &Program) -> ExitStatus {
    let pages = pages();
    if let Some(dir) = dir {
        let written = std::fs::create_dir_all(dir).and_then(|()| pages.iter().try_for_each(|page| page.generate_to(dir).map(drop)));
        return match written {
            Ok(()) => ExitStatus::Success,
            Err(e) => {
                prog.error(format_args!("could not write the manual pages to \"{}\": {}", dir.display(), io_reason(&e)));
                ExitStatus::Failure
            }
        };
    }
    let wanted = command.map_or_else(|| "pgsurge.1".to_owned(), |c| format!("pgsurge-{c}.1"));
    let Some(page) = pages.iter().find(|p| p.get_filename() == wanted) else {
        let names: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_owned()).collect();
        prog.error(format_args!("no manual page for \"{}\"; the commands are {}", command.unwrap_or_default(), names.join(", ")));
        return ExitStatus::Usage;
    };
    let mut text = Vec::new();
    if let Err(e) = page.render(&mut text) {
        prog.error(format_args!("could not render the manual page: {}", io_reason(&e)));
        return ExitStatus::Failure;
    }
    write_stdout(&text, prog)
}

/// pgsurge(1) and one page per command, each titled with pgsurge's version (clap_mangen would
/// give a command's page its own, unset, version).
fn pages() -> Vec<Man> {
    let mut cmd = Cli::command();
    cmd.build();
    let source = format!("pgsurge {}", env!("CARGO_PKG_VERSION"));
    let mut pages: Vec<Man> = cmd.get_subcommands().map(|sub| Man::new(sub.clone()).source(source.clone())).collect();
    pages.insert(0, Man::new(cmd).source(source));
    pages
}

fn write_stdout(bytes: &[u8], prog: &Program) -> ExitStatus {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => ExitStatus::Success,
        Err(e) if is_broken_pipe(&e) => ExitStatus::Success,
        Err(e) => {
            prog.error(format_args!("could not write to standard output: {}", io_reason(&e)));
            ExitStatus::Failure
        }
    }
}
