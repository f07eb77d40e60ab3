//! Everything the binary prints besides data: errors, warnings and hints on stderr, each
//! prefixed with the program name the user ran (`pgsurge` or `pg_restore`).
//!
//! stdout carries only data (a listing, a script, a report); a closed stdout pipe is not an
//! error worth reporting.

use std::io::Write;

/// The name messages are prefixed with, and how to ask for help.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: &'static str,
    /// The command that prints help, for the "Try … --help" hint.
    pub help_command: &'static str,
}

impl Program {
    pub const PG_RESTORE: Program = Program { name: "pg_restore", help_command: "pg_restore --help" };

    pub fn pgsurge(subcommand: &'static str) -> Program {
        let help_command = match subcommand {
            "list" => "pgsurge list --help",
            "sql" => "pgsurge sql --help",
            "verify" => "pgsurge verify --help",
            "report" => "pgsurge report --help",
            _ => "pgsurge restore --help",
        };
        Program { name: "pgsurge", help_command }
    }

    pub fn error(&self, message: impl std::fmt::Display) {
        self.line("error", message);
    }

    pub fn warning(&self, message: impl std::fmt::Display) {
        self.line("warning", message);
    }

    pub fn hint(&self, message: impl std::fmt::Display) {
        self.line("hint", message);
    }

    /// A progress line under `-v`, printed as pg_restore prints them: no level word.
    pub fn info(&self, message: impl std::fmt::Display) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}: {}", self.name, message);
    }

    pub fn try_help(&self) {
        self.hint(format_args!("Try \"{}\" for more information.", self.help_command));
    }

    fn line(&self, level: &str, message: impl std::fmt::Display) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}: {}: {}", self.name, level, message);
    }
}

/// True for the error a write to a closed pipe gives (`pgsurge list x | head`).
pub fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// A byte count for people: `512 B`, `26.9 kB`, `1.2 GB` (powers of 1000).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// "entry 12 (TABLE DATA public.t), file `3456.dat.gz`, byte 789", or `None` when the error
/// carries no location.
pub fn describe_location(location: &pgsurge_archive::Location) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(entry) = &location.entry {
        parts.push(entry.to_string());
    }
    if let Some(file) = &location.file {
        parts.push(format!("file `{}`", file.display()));
    }
    if let Some(offset) = location.offset {
        parts.push(format!("byte {offset}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}
