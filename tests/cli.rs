//! Errors and edge cases of the command line: clear messages, exit status 1, nothing on
//! stdout, as a script calling pg_restore expects.

use crate::harness::{pg_restore_alias, pgsurge, run, testdata};

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[test]
fn missing_file_is_one_clear_line() {
    let out = run(&pgsurge(), &s(&["list", "/nonexistent/x.dump"]), None);
    assert_eq!(out.status, 1);
    assert!(out.stdout.is_empty());
    let err = out.stderr_text();
    assert!(err.contains("could not open input file \"/nonexistent/x.dump\": No such file or directory"), "{err}");
}

#[test]
fn plain_sql_dump_is_named_as_a_psql_script() {
    let sql = testdata().join("dumps/pg18/src.sql");
    let out = run(&pgsurge(), &s(&["sql", sql.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.contains("text format dump") && err.contains("psql"), "{err}");
}

#[test]
fn garbage_and_short_files_are_not_archives() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in [
        ("short", &b"PG"[..], "too short"),
        ("garbage", &[b'x'; 600][..], "does not appear to be a valid archive"),
        ("empty", &b""[..], "too short"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = run(&pgsurge(), &s(&["list", p.to_str().unwrap()]), None);
        assert_eq!(out.status, 1, "{name}");
        assert!(out.stderr_text().contains(expect), "{name}: {}", out.stderr_text());
    }
}

#[test]
fn unsupported_version_names_found_and_supported() {
    let src = std::fs::read(testdata().join("dumps/pg18/src.custom.none.dump")).unwrap();
    let mut bytes = src.clone();
    bytes[6] = 17; // minor version byte: 1.17
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("future.dump");
    std::fs::write(&p, &bytes).unwrap();
    let out = run(&pgsurge(), &s(&["list", p.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.contains("unsupported archive version 1.17.0") && err.contains("1.12 to 1.16"), "{err}");
}

#[test]
fn database_restore_without_a_server_is_one_clear_error() {
    let a = testdata().join("sample.dump");
    let dir = tempfile::tempdir().unwrap();
    let out = run(&pg_restore_alias(), &s(&["-h", dir.path().to_str().unwrap(), "-p", "1", "-d", "postgres", a.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.starts_with("pg_restore: error: connection to server"), "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("error:")).count(), 1, "{err}");
}

#[test]
fn version_and_help_under_both_names() {
    let out = run(&pg_restore_alias(), &s(&["--version"]), None);
    assert_eq!(out.status, 0);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pg_restore (PostgreSQL) 18"));
    let out = run(&pg_restore_alias(), &s(&["--help"]), None);
    assert_eq!(out.status, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--single-transaction"));
    let out = run(&pgsurge(), &s(&["restore", "--help"]), None);
    assert_eq!(out.status, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--use-list"));
}

#[test]
fn every_help_fits_postgresql_line_limit() {
    // PostgreSQL's TAP suite fails a tool whose --help has a line over 95 bytes.
    let helps: [(std::path::PathBuf, &[&str]); 6] = [
        (pg_restore_alias(), &["--help"]),
        (pgsurge(), &["--help"]),
        (pgsurge(), &["restore", "--help"]),
        (pgsurge(), &["list", "--help"]),
        (pgsurge(), &["sql", "--help"]),
        (pgsurge(), &["verify", "--help"]),
    ];
    for (program, args) in helps {
        let out = run(&program, &s(args), None);
        assert_eq!(out.status, 0, "{args:?}");
        assert!(out.stderr.is_empty(), "{args:?}: {}", out.stderr_text());
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.lines().count() > 5, "{args:?}: {text}");
        let long: Vec<&str> = text.lines().filter(|l| l.len() > 95).collect();
        assert!(long.is_empty(), "{args:?}: lines over 95 bytes:\n{}", long.join("\n"));
    }
}

#[test]
fn option_value_may_start_with_a_dash() {
    // getopt gives an option the next argument whatever it is: -1 here is no
    // --single-transaction but a job count, refused by its range (pg_restore 18's message).
    for args in [&["-j", "-1", "x.dump"][..], &["--jobs", "-1"], &["-j-1"], &["--jobs=-1"]] {
        let out = run(&pg_restore_alias(), &s(args), None);
        assert_eq!(out.status, 1, "{args:?}");
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr_text(), "pg_restore: error: -j/--jobs must be in range 1..2147483647\n", "{args:?}");
    }
    // A value that looks like another option is still the value: schema "-l", nothing listed.
    let a = testdata().join("dumps/pg18/src.custom.none.dump");
    let out = run(&pg_restore_alias(), &s(&["-f", "-", "-n", "-l", a.to_str().unwrap()]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let script = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(script.contains("PostgreSQL database dump") && !script.contains("CREATE TABLE"), "{script}");
}

#[test]
fn unknown_option_fails_like_pg_restore() {
    let out = run(&pg_restore_alias(), &s(&["--bogus", "x"]), None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.contains("pg_restore: error:") && err.contains("Try \"pg_restore --help\""), "{err}");
}

#[test]
fn closed_stdout_pipe_is_not_an_error() {
    use std::process::{Command, Stdio};
    let a = testdata().join("dumps/pg18/src.custom.gzip.dump");
    let mut child = Command::new(pgsurge()).args(["list", "-v", a.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
