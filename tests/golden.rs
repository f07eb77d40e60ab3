//! Byte-for-byte comparison with pg_restore 18: every case in `testdata/golden/cases.tsv`
//! (written by `tools/regen-testdata.sh` from the real pg_restore) is run through
//! `pg_restore` (the alias), `pgsurge restore`, and the friendly `list` / `sql` commands.

use std::path::PathBuf;

use crate::harness::{diff, pg_restore_alias, pgsurge, run, testdata};

struct Case {
    id: String,
    archive: PathBuf,
    args: Vec<String>,
    stdin: bool,
    stdout: Vec<u8>,
    status: i32,
}

fn cases() -> Vec<Case> {
    let dir = testdata().join("golden");
    let manifest = std::fs::read_to_string(dir.join("cases.tsv")).unwrap_or_else(|e| panic!("{}: {e}; run tools/regen-testdata.sh", dir.display()));
    let mut out = Vec::new();
    for line in manifest.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut fields = line.split('\t');
        let id = fields.next().unwrap().to_owned();
        let archive = testdata().join(fields.next().unwrap());
        let mut stdin = false;
        let mut args = Vec::new();
        for f in fields {
            match f {
                "{archive}" => args.push(archive.to_string_lossy().into_owned()),
                "{stdin}" => stdin = true,
                other => args.push(other.replace("{testdata}", &testdata().to_string_lossy())),
            }
        }
        let stdout = crate::harness::read_golden(&dir, &format!("{id}.stdout"));
        let status = std::fs::read_to_string(dir.join(format!("{id}.status"))).map(|s| s.trim().parse().unwrap_or(-1)).unwrap_or(-1);
        out.push(Case { id, archive, args, stdin, stdout, status });
    }
    assert!(out.len() > 100, "only {} golden cases found", out.len());
    out
}

/// The friendly command equivalent to a pg_restore argument list, if there is one.
fn friendly(args: &[String]) -> Option<Vec<String>> {
    if args.iter().any(|a| a == "-l") {
        let mut v = vec!["list".to_owned()];
        v.extend(args.iter().filter(|a| *a != "-l").cloned());
        return Some(v);
    }
    let pos = args.windows(2).position(|w| w[0] == "-f" && w[1] == "-")?;
    let mut v = vec!["sql".to_owned()];
    v.extend(args[..pos].iter().cloned());
    v.extend(args[pos + 2..].iter().cloned());
    Some(v)
}

/// Listings (`-l`) and every case pg_restore refuses or fails on before writing a script.
fn is_listing_or_refusal(case: &Case) -> bool {
    case.args.iter().any(|a| a == "-l") || (case.status != 0 && case.stdout.is_empty())
}

#[test]
fn listings_and_refusals_match_pg_restore_18() {
    run_cases(cases().into_iter().filter(is_listing_or_refusal).collect());
}

#[test]
fn scripts_match_pg_restore_18() {
    run_cases(cases().into_iter().filter(|c| !is_listing_or_refusal(c)).collect());
}

fn run_cases(all: Vec<Case>) {
    assert!(!all.is_empty());
    let mut failures = Vec::new();
    for case in &all {
        let stdin = case.stdin.then_some(case.archive.as_path());
        let mut variants: Vec<(String, PathBuf, Vec<String>)> = vec![("pg_restore".into(), pg_restore_alias(), case.args.clone())];
        // A plain SQL script listed is pgsurge's own (tests/script.rs), where pg_restore
        // refuses it; under the pg_restore name it is refused as pg_restore refuses it.
        let listed_script = case.archive.extension().is_some_and(|e| e == "sql") && case.args.iter().any(|a| a == "-l");
        if !listed_script {
            variants.push(("pgsurge restore".into(), pgsurge(), [vec!["restore".to_owned()], case.args.clone()].concat()));
            if let Some(f) = friendly(&case.args) {
                variants.push((format!("pgsurge {}", f[0]), pgsurge(), f));
            }
        }
        for (how, program, args) in variants {
            let got = run(&program, &args, stdin);
            let mut problems = Vec::new();
            if got.status != case.status {
                problems.push(format!("exit status {} (pg_restore: {})", got.status, case.status));
            }
            if let Some(d) = diff(&normalize(&case.stdout), &normalize(&got.stdout)) {
                problems.push(d);
            }
            if case.status != 0 && got.stderr.is_empty() {
                problems.push("failed without a message on stderr".into());
            }
            if !problems.is_empty() {
                failures.push(format!("case {} via `{how}` {:?}:\n{}\nstderr: {}", case.id, args, problems.join("\n"), got.stderr_text()));
            }
        }
    }
    if !failures.is_empty() {
        let shown: Vec<_> = failures.iter().take(15).collect();
        panic!("{} of {} golden runs differ from pg_restore 18:\n\n{}", failures.len(), all.len(), shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n\n"));
    }
}

/// Blanks the one line of a `-v` script that cannot match: the time the script was finished.
fn normalize(out: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(out.len());
    for line in out.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"-- Completed on ") {
            v.extend_from_slice(b"-- Completed on <now>\n");
        } else {
            v.extend_from_slice(line);
        }
    }
    v
}
