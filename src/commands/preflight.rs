//! Preflight as the user sees it: runs the stage (`pgsurge_stages::preflight`) and prints
//! every problem with its fix, the warnings, and a line of what the server is — for
//! `pgsurge check` and the start of `pgsurge restore -d`. Whether problems stop the restore
//! is the caller's to decide.

use super::ExitStatus;
use crate::cli::RestoreArgs;
use std::io::BufRead;

use pgsurge_connect::ConnParams;
use pgsurge_plan::needs::{self, Needs, ScriptPart};
use pgsurge_script::{Item, ScriptError, ScriptReader};
use pgsurge_stages::preflight::{self, Findings, Target, TargetState};

use crate::messages::{human_bytes, Program};

/// What preflight concluded.
#[derive(Debug)]
pub struct Verdict {
    /// Problems found: each would make the restore fail.
    pub problems: usize,
    /// The findings, for the report's `preflight` key.
    pub json: serde_json::Value,
    /// The server could not be reached: the one problem there is to say.
    pub unreachable: bool,
}

/// Checks `needs` against the server for a restore into `target`, printing what it found;
/// `quiet` leaves out the line of facts. `Err` is a line to print when the checks could not
/// run at all (a server that cannot be reached is a problem found, not an error).
pub fn check(connector: &ConnParams, target: &Target, needs: &Needs, prog: &Program, quiet: bool, restoring: bool) -> Result<Verdict, String> {
    let mut findings = preflight::check(connector, needs, target).map_err(|e| error_chain(&e))?;
    if restoring {
        // The restore says these itself as it starts (`server is older than the archive`,
        // `target database is not empty`); once is enough.
        findings.warnings.retain(|w| !matches!(w.code, "server-older" | "database-not-empty"));
    }
    print(&findings, prog, quiet);
    let json = serde_json::to_value(&findings).map_err(|e| format!("could not record the preflight findings: {e}"))?;
    let unreachable = findings.problems.iter().any(|p| p.code == "connection-failed");
    Ok(Verdict { problems: findings.problems.len(), json, unreachable })
}

/// The preflight stage of `pgsurge restore -d` and `pgsurge check`: checks `needs` for a
/// restore into `target` and says what it found. `Ok` with the report's `preflight` value
/// when the restore may go on; `Err` with the exit status when it stops here — `check`
/// always does (1 when it found problems), `restore` when problems were found and
/// `--force` was not given.
pub fn stage(args: &RestoreArgs, connector: &ConnParams, target: &Target, needs: &Needs, prog: &Program) -> Result<serde_json::Value, ExitStatus> {
    let verdict = match check(connector, target, needs, prog, args.quiet && !args.check_only, !args.check_only) {
        Ok(v) => v,
        Err(message) => {
            prog.error(format_args!("the checks before the restore could not run: {message}"));
            return Err(ExitStatus::Failure);
        }
    };
    // A server that cannot be reached was said as the restore would say it; nothing more.
    if verdict.unreachable {
        return Err(ExitStatus::Failure);
    }
    if args.check_only {
        return Err(if verdict.problems > 0 { ExitStatus::Failure } else { ExitStatus::Success });
    }
    if verdict.problems > 0 {
        if args.force {
            prog.warning(format_args!("restoring anyway (--force), with {} problem{} found first", verdict.problems, if verdict.problems == 1 { "" } else { "s" }));
        } else {
            prog.error(format_args!("stopped before changing anything: {} problem{} would make the restore fail; fix {}, or restore anyway with --force", verdict.problems, if verdict.problems == 1 { "" } else { "s" }, if verdict.problems == 1 { "it" } else { "them" }));
            return Err(ExitStatus::Failure);
        }
    }
    Ok(verdict.json)
}

/// What restoring a plain SQL script needs: reads it to its end (statements and COPY rows,
/// as psql would split them; nothing runs), so the caller needs a fresh reader for the
/// restore itself.
pub fn script_needs<R: BufRead>(mut reader: ScriptReader<R>) -> Result<Needs, ScriptError> {
    let parts = std::iter::from_fn(move || loop {
        match reader.next_item() {
            Err(e) => return Some(Err(e)),
            Ok(None) => return None,
            Ok(Some(Item::Statement { text, line, .. })) => return Some(Ok(ScriptPart::Statement { text, line })),
            Ok(Some(Item::CopyData(rows))) => return Some(Ok(ScriptPart::CopyData(rows.len() as u64))),
            Ok(Some(_)) => {}
        }
    });
    needs::of_script(parts)
}

fn print(findings: &Findings, prog: &Program, quiet: bool) {
    for p in &findings.problems {
        prog.error(&p.message);
        if !p.fix.is_empty() {
            prog.hint(&p.fix);
        }
    }
    for alternative in &findings.alternatives {
        prog.hint(alternative);
    }
    for w in &findings.warnings {
        prog.warning(&w.message);
        if !w.fix.is_empty() {
            prog.hint(&w.fix);
        }
    }
    if !quiet && !findings.facts.server_version.is_empty() {
        prog.info(facts_line(findings));
    }
}

/// `preflight: PostgreSQL 18.1; database "app": exists, empty, no other sessions, 7.6 MB;
/// 3 roles, 1 extension, 1 tablespace checked; 4.1 GB free on the server for 12.0 MB of
/// data: nothing stands in the way` (or `: 2 problems, 1 warning`).
fn facts_line(findings: &Findings) -> String {
    let facts = &findings.facts;
    let mut parts = vec![format!("PostgreSQL {}", facts.server_version)];
    if let Some(t) = &facts.target {
        parts.push(target_state(t));
    }
    let count = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    parts.push(format!(
        "{}, {}, {} checked",
        count(facts.roles_checked, "role", "roles"),
        count(facts.extensions.len(), "extension", "extensions"),
        count(facts.tablespaces_checked, "tablespace", "tablespaces")
    ));
    if let (Some(free), Some(data)) = (facts.free_bytes, facts.data_bytes) {
        parts.push(format!("{} free on the server for {} of data", human_bytes(free), human_bytes(data)));
    }
    let verdict = match (findings.problems.len(), findings.warnings.len()) {
        (0, 0) => "nothing stands in the way".to_owned(),
        (p, w) => format!("{p} problem{}, {w} warning{}", if p == 1 { "" } else { "s" }, if w == 1 { "" } else { "s" }),
    };
    format!("preflight: {}: {verdict}", parts.join("; "))
}

fn target_state(t: &TargetState) -> String {
    if !t.exists {
        return format!("database \"{}\": does not exist", t.database);
    }
    let mut s = format!("database \"{}\": exists", t.database);
    match t.relations {
        Some(0) => s.push_str(", empty"),
        Some(n) => s.push_str(&format!(", {n} relation{}", if n == 1 { "" } else { "s" })),
        None => {}
    }
    match t.sessions {
        0 => s.push_str(", no other sessions"),
        n => s.push_str(&format!(", {n} other session{} ({})", if n == 1 { "" } else { "s" }, t.applications.join(", "))),
    }
    if let Some(size) = t.size_bytes {
        s.push_str(&format!(", {}", human_bytes(size)));
    }
    s
}

/// An error and its causes on one line, as the binary prints errors (`{:#}`).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_stages::preflight::Facts;

    #[test]
    fn the_facts_fit_on_one_line() {
        let findings = Findings {
            facts: Facts {
                server_version: "18.1".into(),
                target: Some(TargetState { database: "app".into(), exists: true, relations: Some(0), size_bytes: Some(7_600_000), ..TargetState::default() }),
                roles_checked: 3,
                tablespaces_checked: 1,
                ..Facts::default()
            },
            ..Findings::default()
        };
        assert_eq!(
            facts_line(&findings),
            "preflight: PostgreSQL 18.1; database \"app\": exists, empty, no other sessions, 7.6 MB; 3 roles, 0 extensions, 1 tablespace checked: nothing stands in the way"
        );
    }

    #[test]
    fn a_script_is_read_for_its_needs() {
        let sql = "CREATE ROLE made;\nALTER TABLE t OWNER TO made;\nALTER TABLE t OWNER TO app;\nCOPY t (a) FROM stdin;\n1\n2\n\\.\n";
        let needs = script_needs(ScriptReader::new(sql.as_bytes())).unwrap();
        assert_eq!(needs.roles.keys().collect::<Vec<_>>(), ["app"]);
        assert_eq!(needs.data_bytes, Some(4));
    }
}
