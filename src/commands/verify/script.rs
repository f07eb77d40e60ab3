//! `pgsurge verify` of a plain SQL script (`backup.sql`, `.sql.gz`, `.sql.zst`): what it holds
//! — statements, each `COPY` block's table, rows and bytes — and where it is damaged, by line.

use std::io::{self, Write};
use std::path::Path;

use pgsurge_script::open::{self, Compression};
use pgsurge_script::verify::{self, Report};
use serde_json::json;

use crate::commands::ExitStatus;
use crate::messages::{human_bytes, Program};

/// Verifies `path` as a script if it is one — a script pg_dump or pg_dumpall wrote, plain or
/// compressed, or a file named `*.sql` (`.gz`, `.zst`) — and returns the exit status; `None`
/// when it is not a script, for the caller to report what it is not.
pub fn run(path: &Path, as_json: bool, prog: &Program) -> Option<ExitStatus> {
    let (reader, compression) = open::open_script(path).ok()??;
    let report = verify::verify(reader);
    for block in &report.blocks {
        if let Some(e) = &block.error {
            prog.error(format_args!("COPY {}: {e}", block.table));
        }
    }
    for damage in &report.damage {
        prog.error(damage);
    }
    let written = if as_json { print_json(path, compression, &report) } else { print_table(compression, &report) };
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            prog.error(format_args!("could not write report: {e}"));
            return Some(ExitStatus::Failure);
        }
    }
    Some(if report.is_sound() { ExitStatus::Success } else { ExitStatus::Failure })
}

fn writer_name(report: &Report) -> &'static str {
    report.written_by.unwrap_or("an unknown tool")
}

fn verdict(report: &Report) -> String {
    let damaged = report.blocks.iter().filter(|b| b.error.is_some()).count();
    let mut parts = Vec::new();
    if damaged > 0 {
        parts.push(format!("{damaged} damaged COPY block{}", if damaged == 1 { "" } else { "s" }));
    }
    if !report.damage.is_empty() {
        parts.push(format!("{} problem{}", report.damage.len(), if report.damage.len() == 1 { "" } else { "s" }));
    }
    if parts.is_empty() {
        "script is sound".to_owned()
    } else {
        parts.join(", ")
    }
}

fn print_table(compression: Compression, report: &Report) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "script: plain SQL written by {}, compression {}, {} lines, {} statements", writer_name(report), compression.name(), report.lines, report.statements)?;
    writeln!(out, "{:>8}  {:>12}  {:>14}  {:<7}  table", "line", "rows", "bytes", "status")?;
    for b in &report.blocks {
        let status = if b.error.is_some() { "DAMAGED" } else { "ok" };
        writeln!(out, "{:>8}  {:>12}  {:>14}  {:<7}  {}", b.line, b.rows, b.bytes, status, b.table)?;
    }
    let rows: u64 = report.blocks.iter().map(|b| b.rows).sum();
    let bytes: u64 = report.blocks.iter().map(|b| b.bytes).sum();
    writeln!(out, "total: {} COPY blocks, {rows} rows, {bytes} ({}); {}", report.blocks.len(), human_bytes(bytes), verdict(report))
}

fn print_json(path: &Path, compression: Compression, report: &Report) -> io::Result<()> {
    let blocks: Vec<_> = report.blocks.iter().map(|b| json!({"line": b.line, "table": b.table, "rows": b.rows, "bytes": b.bytes, "error": b.error})).collect();
    let doc = json!({
        "archive": path.display().to_string(),
        "format": "plain",
        "compression": compression.name(),
        "written_by": report.written_by,
        "lines": report.lines,
        "statements": report.statements,
        "copy_blocks": blocks,
        "damage": report.damage,
        "totals": {
            "copy_blocks": report.blocks.len(),
            "rows": report.blocks.iter().map(|b| b.rows).sum::<u64>(),
            "bytes": report.blocks.iter().map(|b| b.bytes).sum::<u64>(),
            "damaged_blocks": report.blocks.iter().filter(|b| b.error.is_some()).count(),
            "problems": report.damage.len(),
        },
        "sound": report.is_sound(),
    });
    writeln!(io::stdout().lock(), "{doc:#}")
}
