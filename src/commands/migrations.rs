//! The migrations stage as `pgsurge restore` runs and shows it (`--migrations DIR`, `--then
//! CMD`): the schema revision read before, DIR's SQL files applied, each command run with
//! its output streamed under a prefix, the revision read after, and one summary line; the
//! whole as the report's `migrations` value. The work itself is
//! `pgsurge_stages::migrations`'.

use std::io::Write;

use pgsurge_connect::ConnParams;
use pgsurge_stages::migrations::{self, CommandRun, MigrationError, Revision, Stream};
use serde_json::{json, Value};

use crate::messages::Program;

/// How many of a failed command's last lines are shown when its output was not streamed.
const LAST_LINES_SHOWN: usize = 10;

/// What the stage did, and the one-line error that fails the restore if it failed.
pub struct StageOutcome {
    /// The report's `migrations` value, whether or not the stage succeeded.
    pub report: Value,
    pub error: Option<String>,
}

/// The stage, in this order: the revision before; DIR's `*.sql` files; each `--then`
/// command in the order given; the revision after. Plain SQL files first because they are
/// the schema's own migrations, and commands after them may expect the schema they make
/// (a tool's migrations, a data fix, a check). The first failure stops the stage: what
/// follows it is not run (the report lists it under `not_run`), but the revision after is
/// still read, to show where the database was left.
///
/// Unless `quiet`, each output line goes to stderr as `  alembic| …` (the command's first
/// word) and `  sql| …`, as it comes, and the summary line ends the stage; when `quiet`,
/// only a failed command's last lines are shown, so that its failure has a reason.
pub fn run_stage_reported(
    then: &[String],
    migrations_dir: Option<&str>,
    params: &ConnParams,
    manifest_revision: Option<&str>,
    prog: &Program,
    quiet: bool,
) -> StageOutcome {
    let before = read_revision(params, "before", prog);
    let mut error: Option<String> = None;

    let sql_dir = migrations_dir.map(|dir| {
        let (report, failed) = apply_dir(dir, params, prog, quiet);
        error = failed;
        report
    });

    let mut commands = Vec::with_capacity(then.len());
    let mut not_run = Vec::new();
    for command in then {
        if error.is_some() {
            not_run.push(command.clone());
            continue;
        }
        let (report, failed) = run_one(command, params, prog, quiet);
        commands.push(report);
        error = failed;
    }

    let after = read_revision(params, "after", prog);
    if !quiet {
        prog.info(format_args!(
            "schema revision: {}",
            summary(before.as_deref(), after.as_deref(), manifest_revision)
        ));
    }
    StageOutcome {
        report: json!({
            "revision_before": before,
            "revision_after": after,
            "manifest_revision": manifest_revision,
            "sql_dir": sql_dir,
            "commands": commands,
            "not_run": not_run,
            "error": error,
        }),
        error,
    }
}

/// The revision, or `None` after a warning: not knowing it is no reason to fail a restore.
fn read_revision(params: &ConnParams, when: &str, prog: &Program) -> Option<Vec<Revision>> {
    match migrations::read_revision(params) {
        Ok(revisions) => Some(revisions),
        Err(e) => {
            prog.warning(format_args!("could not read the schema revision {when} the migrations: {}", chain(&e)));
            None
        }
    }
}

/// `--migrations DIR`: the report's `sql_dir` value, and the error if it failed.
fn apply_dir(dir: &str, params: &ConnParams, prog: &Program, quiet: bool) -> (Value, Option<String>) {
    let mut on_file = |file: &migrations::AppliedFile| {
        if quiet {
            return;
        }
        output_line("sql", &format!("applied {} ({:.2} s)", file.file, file.duration.as_secs_f64()));
        for notice in &file.notices {
            output_line("sql", notice);
        }
    };
    match migrations::apply_sql_dir(std::path::Path::new(dir), params, &mut on_file) {
        Ok(run) => {
            if run.applied.is_empty() && !quiet {
                prog.info(format_args!("migrations directory `{dir}` has no *.sql files; nothing applied"));
            }
            (json!({ "dir": dir, "applied": run.applied, "failed": null }), None)
        }
        Err(MigrationError::Apply { failure }) => {
            let mut message = format!("migration {failure}");
            if let Some(detail) = &failure.detail {
                message.push_str(&format!("; DETAIL: {detail}"));
            }
            if let Some(hint) = &failure.hint {
                message.push_str(&format!("; HINT: {hint}"));
            }
            let report = json!({
                "dir": dir,
                "applied": failure.applied,
                "failed": {
                    "file": failure.path.display().to_string(),
                    "line": failure.line,
                    "message": failure.message,
                    "sqlstate": failure.sqlstate,
                    "detail": failure.detail,
                    "hint": failure.hint,
                },
            });
            (report, Some(message))
        }
        // Refused before anything was applied (a meta-command, a file that is not UTF-8, …)
        // or no connection at all.
        Err(e) => {
            let message = format!("migrations: {}", chain(&e));
            (json!({ "dir": dir, "applied": [], "failed": { "message": message } }), Some(message))
        }
    }
}

/// One `--then` command: its report entry, and the error if it failed.
fn run_one(command: &str, params: &ConnParams, prog: &Program, quiet: bool) -> (Value, Option<String>) {
    let label = label_of(command);
    if !quiet {
        prog.info(format_args!("running `{command}` on database \"{}\"", params.dbname));
    }
    let mut on_line = |_: Stream, line: &str| {
        if !quiet {
            output_line(&label, line);
        }
    };
    match migrations::run_command(command, params, &mut on_line) {
        Ok(run) => {
            if !quiet {
                prog.info(format_args!("`{command}` succeeded in {:.1} s", run.duration.as_secs_f64()));
            }
            (command_report(&run), None)
        }
        Err(MigrationError::CommandFailed { run }) => {
            if quiet {
                let skip = run.last_lines.len().saturating_sub(LAST_LINES_SHOWN);
                for line in run.last_lines.iter().skip(skip) {
                    output_line(&label, line);
                }
            }
            let message = format!("migration command `{command}` {}", run.exit);
            (command_report(&run), Some(message))
        }
        Err(e) => {
            let message = format!("migration command: {}", chain(&e));
            (json!({ "command": command, "exit": null, "error": message }), Some(message))
        }
    }
}

fn command_report(run: &CommandRun) -> Value {
    let mut value = json!(run);
    if let Some(map) = value.as_object_mut() {
        map.insert("ok".to_owned(), Value::Bool(run.exit.success()));
    }
    value
}

/// `  alembic| line`, on stderr.
fn output_line(label: &str, line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "  {label}| {line}");
}

/// The name a command's output lines are shown under: its program's base name, past
/// variable assignments and `env`/`exec` (`FOO=1 exec bin/alembic upgrade` → `alembic`).
fn label_of(command: &str) -> String {
    let program = command
        .split_whitespace()
        .find(|word| !word.contains('=') && !matches!(*word, "env" | "exec" | "command" | "nice" | "time"))
        .unwrap_or("then");
    let program = program.trim_matches(|c| c == '\'' || c == '"');
    let base = program.rsplit('/').next().unwrap_or(program);
    let label: String = base.chars().take(16).collect();
    if label.is_empty() {
        "then".to_owned()
    } else {
        label
    }
}

/// `alembic 0002_status → 0003_index`, for each tool's table seen before or after; the
/// manifest's revision added when the database did not have it before the stage.
fn summary(before: Option<&[Revision]>, after: Option<&[Revision]>, manifest: Option<&str>) -> String {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for r in after.unwrap_or_default().iter().chain(before.unwrap_or_default()) {
        if !keys.contains(&(r.tool.as_str(), r.table.as_str())) {
            keys.push((r.tool.as_str(), r.table.as_str()));
        }
    }
    fn value<'a>(side: Option<&'a [Revision]>, key: (&str, &str)) -> Option<&'a str> {
        side.and_then(|rs| rs.iter().find(|r| (r.tool.as_str(), r.table.as_str()) == key))
            .map(|r| r.value.as_str())
    }
    let unknown = |side: Option<&[Revision]>| if side.is_none() { "(unknown)" } else { "(no table)" };
    let mut parts = Vec::with_capacity(keys.len());
    for &(tool, table) in &keys {
        let name = if keys.iter().filter(|(t, _)| *t == tool).count() > 1 {
            format!("{tool} ({table})")
        } else {
            tool.to_owned()
        };
        let b = value(before, (tool, table));
        let a = value(after, (tool, table));
        parts.push(match (b, a) {
            (Some(b), Some(a)) if a == b => format!("{name} {a} (unchanged)"),
            (b, a) => format!("{name} {} → {}", b.unwrap_or(unknown(before)), a.unwrap_or(unknown(after))),
        });
    }
    let mut line = if parts.is_empty() {
        match (before, after) {
            (None, None) => "unknown (could not be read)".to_owned(),
            _ => "none recorded (no alembic_version, django_migrations, flyway_schema_history, schema_migrations or other migration tool's table)".to_owned(),
        }
    } else {
        parts.join("; ")
    };
    // The manifest names the revision the dump was taken at, so it should be what the
    // restored database had before the stage; it is said only when it is not.
    if let Some(m) = manifest {
        let matches = before
            .or(after)
            .unwrap_or_default()
            .iter()
            .any(|r| r.value == m || r.value.starts_with(&format!("{m} ")));
        if !matches {
            line.push_str(&format!("; the bundle's manifest says {m}"));
        }
    }
    line
}

/// An error with its sources, `: `-separated, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(tool: &str, table: &str, value: &str) -> Revision {
        Revision { tool: tool.into(), table: table.into(), value: value.into() }
    }

    #[test]
    fn the_summary_shows_before_and_after() {
        let before = [rev("alembic", "public.alembic_version", "0002_status")];
        let after = [rev("alembic", "public.alembic_version", "0003_index")];
        assert_eq!(summary(Some(&before), Some(&after), None), "alembic 0002_status → 0003_index");
        assert_eq!(summary(Some(&after), Some(&after), Some("0003_index")), "alembic 0003_index (unchanged)");
        assert_eq!(summary(Some(&before), Some(&after), Some("0002_status")), "alembic 0002_status → 0003_index");
        assert_eq!(
            summary(Some(&before), Some(&after), Some("0001_tables")),
            "alembic 0002_status → 0003_index; the bundle's manifest says 0001_tables"
        );
        assert_eq!(summary(Some(&[]), Some(&after), None), "alembic (no table) → 0003_index");
        assert_eq!(summary(None, Some(&after), None), "alembic (unknown) → 0003_index");
        assert!(summary(Some(&[]), Some(&[]), None).starts_with("none recorded"));
        let two = [rev("alembic", "a.alembic_version", "1"), rev("alembic", "b.alembic_version", "2")];
        assert_eq!(
            summary(Some(&two), Some(&two), None),
            "alembic (a.alembic_version) 1 (unchanged); alembic (b.alembic_version) 2 (unchanged)"
        );
    }

    #[test]
    fn output_is_labelled_by_the_program() {
        assert_eq!(label_of("alembic -c x/alembic.ini upgrade head"), "alembic");
        assert_eq!(label_of("FLASK_APP=app /venv/bin/flask db upgrade"), "flask");
        assert_eq!(label_of("exec python manage.py migrate"), "python");
        assert_eq!(label_of("  "), "then");
    }
}
