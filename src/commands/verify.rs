//! `pgsurge verify`: is this backup intact? Reads everything, restores nothing, prints per
//! entry what it holds and where it is damaged, then what else the archive holds that no
//! entry claims (damage, or a warning for files pg_restore ignores); `--json` for scripts.
//! A plain SQL script (`script`) is checked instead when that is what the file is.

use std::io::{self, Write};

use pgsurge_archive::verify::{self, DataKind, Report};
use pgsurge_archive::{Archive, Error, ErrorKind, Format, Source};
use serde_json::json;

use super::ExitStatus;

mod script;
use crate::cli::VerifyArgs;
use crate::messages::{human_bytes, Program};

pub fn run(args: VerifyArgs, prog: &Program) -> ExitStatus {
    let format = match args.format.as_deref() {
        None => None,
        Some(f) => match f.chars().next() {
            Some('c' | 'C') => Some(Format::Custom),
            Some('d' | 'D') => Some(Format::Directory),
            Some('t' | 'T') => Some(Format::Tar),
            _ => {
                prog.error(format_args!("unrecognized archive format \"{f}\"; please specify \"c\", \"d\", or \"t\""));
                return ExitStatus::Usage;
            }
        },
    };
    let source = match args.archive.as_deref() {
        None | Some("-") => Source::Stdin,
        Some(p) => Source::Path(p.into()),
    };
    let mut archive = match Archive::open(&source, format) {
        Ok(a) => a,
        Err(e) => {
            // No archive: a plain SQL script, if that is what the file is.
            let no_archive = format.is_none() && matches!(e.kind(), ErrorKind::TextDump | ErrorKind::NotAnArchive | ErrorKind::NotAnArchiveTooShort);
            if let (true, Source::Path(path)) = (no_archive, &source) {
                if let Some(status) = script::run(path, args.json, prog) {
                    return status;
                }
            }
            if args.json {
                let (error, hint) = super::open_error(&source, &e);
                let doc = json!({ "archive": source.to_string(), "sound": false, "error": error, "hint": hint });
                let _ = writeln!(io::stdout().lock(), "{doc}");
            }
            super::report_open_error(prog, &source, &e);
            return ExitStatus::Failure;
        }
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let report = verify::verify(&mut archive, jobs);

    for entry in report.entries.iter().filter_map(|e| e.error.as_ref()) {
        prog.error(entry);
    }
    for damage in &report.layout.damage {
        prog.error(damage);
    }
    for warning in &report.layout.warnings {
        prog.warning(warning);
    }
    let written = if args.json { print_json(&source, &archive, &report) } else { print_table(&archive, &report) };
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            prog.error(format_args!("could not write report: {e}"));
            return ExitStatus::Failure;
        }
    }
    if report.is_sound() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

struct Totals {
    tables: u64,
    rows: u64,
    table_bytes: u64,
    large_objects: u64,
    lo_bytes: u64,
    errors: u64,
}

fn totals(report: &Report) -> Totals {
    let mut t = Totals { tables: 0, rows: 0, table_bytes: 0, large_objects: 0, lo_bytes: 0, errors: 0 };
    for e in &report.entries {
        match e.kind {
            DataKind::LargeObjects => {
                t.large_objects += e.objects;
                t.lo_bytes += e.bytes;
            }
            _ => {
                t.tables += 1;
                t.rows += e.rows;
                t.table_bytes += e.bytes;
            }
        }
        if e.error.is_some() {
            t.errors += 1;
        }
    }
    t
}

fn kind_name(kind: DataKind) -> &'static str {
    match kind {
        DataKind::Copy => "copy",
        DataKind::Inserts => "inserts",
        DataKind::LargeObjects => "large_objects",
    }
}

/// A layout finding as JSON: where it is, as far as it says, and its one-line message.
fn finding_json(e: &Error) -> serde_json::Value {
    let at = e.location();
    json!({
        "offset": at.offset,
        "dump_id": at.entry.as_ref().map(|l| l.dump_id.0),
        "file": at.file.as_ref().map(|f| f.display().to_string()),
        "message": e.to_string(),
    })
}

/// The total line's verdict.
fn verdict(t: &Totals, report: &Report) -> String {
    let problems = report.layout.damage.len();
    let mut parts = Vec::new();
    if t.errors > 0 {
        parts.push(format!("{} damaged entries", t.errors));
    }
    if problems > 0 {
        parts.push(format!("{problems} layout problem{}", if problems == 1 { "" } else { "s" }));
    }
    if parts.is_empty() {
        "archive is sound".to_owned()
    } else {
        parts.join(", ")
    }
}

/// What the archive holds besides its entries' data, in one line.
fn layout_line(archive: &Archive, report: &Report) -> Option<String> {
    let l = &report.layout;
    if let Some(why) = l.not_checked {
        return Some(format!("layout: not checked: {why}"));
    }
    let mut line = match (archive.format(), l.data_start, l.end) {
        (Format::Custom, Some(start), Some(end)) => format!("layout: data area bytes {start}..{end}, {} data blocks", l.parts),
        (Format::Tar, _, Some(end)) => format!("layout: {} tar members in {end} bytes", l.parts),
        (Format::Directory, _, _) => format!("layout: {} files", l.parts),
        _ => return None,
    };
    if let Some(copy) = l.toc_copy {
        line.push_str(&format!(", then a copy of the TOC from byte {copy} (pg_dump 16+ writing to redirected stdout)"));
    }
    if !l.warnings.is_empty() {
        line.push_str(&format!(", {} not named by the TOC", l.warnings.len()));
    }
    Some(line)
}

fn print_json(source: &Source, archive: &Archive, report: &Report) -> io::Result<()> {
    let header = archive.header();
    let entries: Vec<_> = report
        .entries
        .iter()
        .map(|e| {
            json!({
                "dump_id": e.entry.dump_id.0,
                "desc": e.entry.desc,
                "schema": e.entry.namespace,
                "name": e.entry.tag,
                "kind": kind_name(e.kind),
                "rows": if e.kind == DataKind::LargeObjects { None } else { Some(e.rows) },
                "large_objects": if e.kind == DataKind::LargeObjects { Some(e.objects) } else { None },
                "bytes": e.bytes,
                "ok": e.error.is_none(),
                "error": e.error.as_ref().map(ToString::to_string),
            })
        })
        .collect();
    let t = totals(report);
    let l = &report.layout;
    let doc = json!({
        "archive": source.to_string(),
        "format": archive.format().listing_name().to_lowercase(),
        "version": header.version.to_string(),
        "compression": header.compression.name(),
        "dbname": header.dbname.as_ref().map(|d| d.to_string()),
        "dumped_by": header.dump_version.as_ref().map(|d| d.to_string()),
        "toc_entries": archive.toc().entries.len(),
        "entries": entries,
        "layout": {
            "data_start": l.data_start,
            "end": l.end,
            "parts": l.parts,
            "toc_copy": l.toc_copy,
            "damage": l.damage.iter().map(finding_json).collect::<Vec<_>>(),
            "warnings": l.warnings.iter().map(finding_json).collect::<Vec<_>>(),
            "not_checked": l.not_checked,
        },
        "total": {
            "tables": t.tables,
            "rows": t.rows,
            "bytes": t.table_bytes,
            "large_objects": t.large_objects,
            "large_object_bytes": t.lo_bytes,
            "errors": t.errors,
            "layout_problems": l.damage.len(),
        },
        "sound": report.is_sound(),
    });
    let mut out = io::stdout().lock();
    writeln!(out, "{doc:#}")
}


fn print_table(archive: &Archive, report: &Report) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let h = archive.header();
    writeln!(
        out,
        "archive: {} format, version {}, compression {}, {} TOC entries",
        archive.format().listing_name().to_lowercase(),
        h.version,
        h.compression.name(),
        archive.toc().entries.len()
    )?;
    writeln!(out, "{:>8}  {:<10}  {:>12}  {:>14}  {:<6}  name", "dump id", "type", "rows", "bytes", "status")?;
    for e in &report.entries {
        let count = match e.kind {
            DataKind::LargeObjects => format!("{} LOs", e.objects),
            _ => e.rows.to_string(),
        };
        let name = match &e.entry.namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}.{}", e.entry.tag),
            _ => e.entry.tag.clone(),
        };
        let status = if e.error.is_some() { "DAMAGED" } else { "ok" };
        writeln!(out, "{:>8}  {:<10}  {:>12}  {:>14}  {:<6}  {}", e.entry.dump_id, e.entry.desc, count, e.bytes, status, name)?;
    }
    if let Some(line) = layout_line(archive, report) {
        writeln!(out, "{line}")?;
    }
    let t = totals(report);
    writeln!(
        out,
        "total: {} tables, {} rows, {} ({}); {} large objects, {} ({}); {}",
        t.tables,
        t.rows,
        t.table_bytes,
        human_bytes(t.table_bytes),
        t.large_objects,
        t.lo_bytes,
        human_bytes(t.lo_bytes),
        verdict(&t, report)
    )
}
