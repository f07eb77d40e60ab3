//! The library against pg_restore 18's own output: every case of
//! `testdata/golden/cases.tsv` whose arguments this test can turn into `RestoreOptions` by
//! itself is run through `select` + `listing`/`render` and compared byte for byte (stdout,
//! and stderr's errors and warnings). Option checking, exit codes of refusals and the real
//! command line are the binary's business, tested in the root package's `tests/`; cases
//! that only the CLI can judge are counted as skipped here.

// Test code: a panic (unwrap) is the failure report, and stderr is where a test explains it.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::fs::File;
use std::path::{Path, PathBuf};

use bstr::ByteSlice;
use pgsurge_archive::{Archive, Format, Source};

use pgsurge_plan::options::{FilterRule, RestoreOptions, SectionChoice};
use pgsurge_plan::{filter, listing, render, select};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

struct Case {
    id: String,
    archive: PathBuf,
    args: Vec<String>,
    stdin: bool,
}

/// Where the cases are: `testdata/golden`, or another directory of the same layout named by
/// `PGSURGE_GOLDEN_DIR` (for scratch comparisons; archive paths in its manifest may be
/// absolute).
fn golden_dir() -> PathBuf {
    std::env::var_os("PGSURGE_GOLDEN_DIR").map_or_else(|| testdata().join("golden"), PathBuf::from)
}

fn cases() -> Vec<Case> {
    let dir = golden_dir();
    let Ok(manifest) = std::fs::read_to_string(dir.join("cases.tsv")) else { return Vec::new() };
    let td = testdata().to_string_lossy().into_owned();
    manifest
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let id = fields.next()?.to_owned();
            let archive = testdata().join(fields.next()?);
            let mut stdin = false;
            let mut args = Vec::new();
            for f in fields {
                match f {
                    "{archive}" => {}
                    "{stdin}" => stdin = true,
                    other => args.push(other.replace("{testdata}", &td)),
                }
            }
            Some(Case { id, archive, args, stdin })
        })
        .collect()
}

enum Mode {
    List,
    Script,
}

/// The subset of pg_restore's command line the goldens use; `Err` for cases only the CLI can
/// judge (connections, formats, bad values, conflicting options).
fn parse(args: &[String]) -> Result<(RestoreOptions, Mode), String> {
    let mut o = RestoreOptions::default();
    let mut mode = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        match flag {
            "-f" => {
                if value()? != "-" {
                    return Err("-f to a file".into());
                }
                mode.get_or_insert(Mode::Script);
            }
            "-l" => mode = Some(Mode::List),
            "-a" => o.data_only = true,
            "-s" => o.schema_only = true,
            "-c" => o.clean = true,
            "-C" => o.create = true,
            "-O" => o.no_owner = true,
            "-x" | "--no-acl" | "--no-privileges" => o.no_acl = true,
            "-1" => o.single_transaction = true,
            "-v" => o.verbose = true,
            "-n" => o.schemas.push(value()?.into()),
            "-N" => o.exclude_schemas.push(value()?.into()),
            "-t" => o.tables.push(value()?.into()),
            "-T" => o.triggers.push(value()?.into()),
            "-P" => o.functions.push(value()?.into()),
            "-I" => o.indexes.push(value()?.into()),
            "-S" => o.superuser = Some(value()?.into()),
            "-L" => o.use_list = Some(value()?.into()),
            "--filter" => {
                let f = value()?;
                let rules: Vec<FilterRule> = filter::parse_filter_file(&f).map_err(|e| format!("FILTER:{e}"))?;
                o.filters.extend(rules);
            }
            "--section" => o.sections.push(match inline.as_deref() {
                Some("pre-data") => SectionChoice::PreData,
                Some("data") => SectionChoice::Data,
                Some("post-data") => SectionChoice::PostData,
                _ => return Err("bad section".into()),
            }),
            "--if-exists" => o.if_exists = true,
            "--no-comments" => o.no_comments = true,
            "--no-data" => o.no_data = true,
            "--no-schema" => o.no_schema = true,
            "--no-statistics" => o.no_statistics = true,
            "--statistics" => o.statistics = true,
            "--statistics-only" => o.statistics_only = true,
            "--no-policies" => o.no_policies = true,
            "--no-publications" => o.no_publications = true,
            "--no-subscriptions" => o.no_subscriptions = true,
            "--no-security-labels" => o.no_security_labels = true,
            "--no-tablespaces" => o.no_tablespaces = true,
            "--no-table-access-method" => o.no_table_access_method = true,
            "--enable-row-security" => o.enable_row_security = true,
            "--strict-names" => o.strict_names = true,
            "--disable-triggers" => o.disable_triggers = true,
            "--use-set-session-authorization" => o.use_set_session_authorization = true,
            "--role" => o.role = inline.map(Into::into),
            "--transaction-size" => {
                let n: u32 = inline.as_deref().and_then(|v| v.parse().ok()).filter(|n| *n > 0).ok_or("bad transaction size")?;
                o.transaction_size = Some(n);
            }
            "--restrict-key" => {
                let k = inline.unwrap_or_default();
                if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err("bad key".into());
                }
                o.restrict_key = k.into();
            }
            // Scripts are always written serially; only the value is checked.
            "-j" => {
                let n: u32 = value()?.parse().map_err(|_| "bad -j")?;
                if n == 0 {
                    return Err("bad -j".into());
                }
                o.jobs = Some(n);
            }
            other => return Err(format!("option {other} is the CLI's")),
        }
    }
    // The conflicts pg_restore rejects before reading anything (pg_restore.c `main`).
    let conflicts = [
        o.schema_only && o.data_only,
        o.schema_only && o.statistics_only,
        o.data_only && o.statistics_only,
        o.data_only && o.no_data,
        o.schema_only && o.no_schema,
        o.statistics_only && o.no_statistics,
        o.statistics && o.no_statistics,
        o.data_only && o.statistics,
        o.schema_only && o.statistics,
        o.clean && o.data_only,
        o.single_transaction && o.transaction_size.is_some(),
        o.create && o.single_transaction,
        o.single_transaction && o.jobs.is_some_and(|j| j > 1),
        o.if_exists && !o.clean,
    ];
    if conflicts.iter().any(|&c| c) {
        return Err("conflicting options".into());
    }
    if o.restrict_key.is_empty() {
        return Err("no restrict key".into());
    }
    Ok((o, mode.ok_or("neither -l nor -f")?))
}

/// Runs one case the way pg_restore would print it: (stdout, stderr, status).
fn run(case: &Case, opts: &RestoreOptions, mode: &Mode) -> (Vec<u8>, String, i32) {
    let mut stdout = Vec::new();
    let mut stderr = String::new();
    // pg_restore reads tar archives strictly forward, files included, so a script that asks
    // for tar data out of order fails; the archive crate does that only when reading a
    // stream, so tar files are read as one (the CLI must do the same for -f and -l).
    let is_tar = case.archive.extension().is_some_and(|e| e == "tar");
    let opened = if case.stdin || is_tar {
        let format = if is_tar { Some(Format::Tar) } else { None };
        File::open(&case.archive).map_err(|e| e.to_string()).and_then(|f| Archive::open_stream(Box::new(f), format).map_err(|e| e.kind().to_string()))
    } else {
        Archive::open(&Source::Path(case.archive.clone()), None).map_err(|e| e.kind().to_string())
    };
    let mut archive = match opened {
        Ok(a) => a,
        // Opening (format detection, header errors) is reported by the CLI in its own words.
        Err(e) => return (stdout, format!("OPEN: {e}\n"), 1),
    };
    let mut warnings = Vec::new();
    let sel = select::select(&archive, opts, &mut |w| warnings.push(w));
    for w in &warnings {
        stderr.push_str(&format!("pg_restore: warning: {w}\n"));
    }
    let sel = match sel {
        Ok(s) => s,
        Err(e) => return (stdout, stderr + &format!("pg_restore: error: {e}\n"), 1),
    };
    match mode {
        Mode::List => {
            listing::write_listing(&archive, &sel, opts, &mut stdout).expect("writing to a Vec");
            if let Some(e) = sel.strict_names_error() {
                stderr.push_str(&format!("pg_restore: error: {e}\n"));
                return (stdout, stderr, 1);
            }
            (stdout, stderr, 0)
        }
        Mode::Script => {
            let mut messages = Vec::new();
            let mut info = Vec::new();
            let result = render::write_script_logged(&mut archive, &sel, opts, &mut stdout, &mut |w| messages.push(format!("pg_restore: warning: {w}\n")), &mut |m| {
                info.push(format!("pg_restore: {m}\n"))
            });
            let _ = info;
            stderr.extend(messages);
            match result {
                Ok(()) => (stdout, stderr, 0),
                Err(e) => (stdout, stderr + &format!("pg_restore: error: {e}\n"), 1),
            }
        }
    }
}

/// A golden file, stored as is or gzipped (`NAME.gz`); empty when neither exists.
fn read_golden(dir: &Path, name: &str) -> Vec<u8> {
    if let Ok(bytes) = std::fs::read(dir.join(name)) {
        return bytes;
    }
    let Ok(file) = File::open(dir.join(format!("{name}.gz"))) else { return Vec::new() };
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut out).expect("a readable gzipped golden file");
    out
}

/// Blanks the run-time timestamp of verbose scripts, the one thing that cannot match.
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

/// Keeps the stderr lines this library is responsible for (errors and warnings, not the
/// `-v` progress lines, which the CLI prints).
fn errors_and_warnings(stderr: &str) -> String {
    stderr.lines().filter(|l| l.starts_with("pg_restore: error: ") || l.starts_with("pg_restore: warning: ")).map(|l| format!("{l}\n")).collect()
}

fn first_difference(want: &[u8], got: &[u8]) -> String {
    let at = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(want.len().min(got.len()));
    let line = want[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let ctx = |s: &[u8]| {
        let start = s[..at.min(s.len())].rfind_byte(b'\n').map_or(0, |i| i + 1);
        let end = (at + 200).min(s.len());
        s[start..end].to_str_lossy().into_owned()
    };
    format!("first difference at byte {at} (line {line}; lengths {} vs {}):\n--- pg_restore:\n{}\n--- pgsurge:\n{}", want.len(), got.len(), ctx(want), ctx(got))
}

#[test]
fn library_output_matches_pg_restore_18() {
    let all = cases();
    if all.is_empty() {
        eprintln!("no goldens in testdata/golden; run tools/regen-testdata.sh");
        return;
    }
    let dir = golden_dir();
    let td = testdata().to_string_lossy().into_owned();
    let only = std::env::var("GOLDEN_CASE").ok();
    let (mut passed, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for case in all.iter().filter(|c| only.as_deref().is_none_or(|o| c.id.contains(o))) {
        let want_out = read_golden(&dir, &format!("{}.stdout", case.id));
        let want_err = std::fs::read_to_string(dir.join(format!("{}.stderr", case.id))).unwrap_or_default().replace("{testdata}", &td);
        let want_status: i32 = std::fs::read_to_string(dir.join(format!("{}.status", case.id))).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(-1);
        let (opts, mode) = match parse(&case.args) {
            Ok(p) => p,
            Err(e) if e.starts_with("FILTER:") => {
                let got_err = format!("pg_restore: error: {}\n", &e["FILTER:".len()..]);
                if want_status == 1 && want_out.is_empty() && errors_and_warnings(&want_err) == got_err {
                    passed += 1;
                } else {
                    failures.push(format!("{}: filter error {got_err:?}, pg_restore said {want_err:?} (status {want_status})", case.id));
                }
                continue;
            }
            Err(e) => {
                skipped.push(format!("{} ({e})", case.id));
                continue;
            }
        };
        let (out, err, status) = run(case, &opts, &mode);
        if err.starts_with("OPEN: ") && status == want_status && out == want_out {
            skipped.push(format!("{} (open error, worded by the CLI)", case.id));
            continue;
        }
        let mut problems = Vec::new();
        if status != want_status {
            problems.push(format!("status {status}, pg_restore {want_status}"));
        }
        let (want_n, got_n) = (normalize(&want_out), normalize(&out));
        if want_n != got_n {
            problems.push(first_difference(&want_n, &got_n));
        }
        let want_e = errors_and_warnings(&want_err);
        let got_e = errors_and_warnings(&err);
        if want_e != got_e {
            problems.push(format!("stderr differs:\n--- pg_restore:\n{want_e}--- pgsurge:\n{got_e}"));
        }
        if problems.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("{} {:?}:\n{}", case.id, case.args, problems.join("\n")));
        }
    }
    eprintln!("golden cases: {passed} match, {} differ, {} skipped (CLI-only)", failures.len(), skipped.len());
    for s in &skipped {
        eprintln!("  skipped {s}");
    }
    if !failures.is_empty() {
        panic!("{} cases differ from pg_restore 18:\n\n{}", failures.len(), failures.iter().take(12).cloned().collect::<Vec<_>>().join("\n\n"));
    }
}
