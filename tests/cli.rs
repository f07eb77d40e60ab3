//! Errors and edge cases of the command line: clear messages, exit status 1, nothing on
//! stdout, as a script calling pg_restore expects.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{pg_restore_alias, pgsurge, run, testdata, LIBPQ_VARS};

/// Every command of `pgsurge`, as `pgsurge --help` lists them.
const COMMANDS: [&str; 11] = ["restore", "list", "sql", "check", "status", "rollback", "snapshots", "verify", "report", "completions", "man"];

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
    let helps: [(std::path::PathBuf, &[&str]); 10] = [
        (pg_restore_alias(), &["--help"]),
        (pgsurge(), &["--help"]),
        (pgsurge(), &["-h"]),
        (pgsurge(), &["restore", "--help"]),
        (pgsurge(), &["list", "--help"]),
        (pgsurge(), &["sql", "--help"]),
        (pgsurge(), &["verify", "--help"]),
        (pgsurge(), &["report", "--help"]),
        (pgsurge(), &["completions", "--help"]),
        (pgsurge(), &["man", "--help"]),
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

#[test]
fn each_command_help_names_itself() {
    let top = run(&pgsurge(), &s(&["--help"]), None).stdout_text();
    for command in COMMANDS {
        assert!(top.lines().any(|l| l.trim_start().starts_with(&format!("{command} "))), "`pgsurge --help` lacks {command}:\n{top}");
        let out = run(&pgsurge(), &s(&[command, "--help"]), None);
        assert_eq!(out.status, 0, "{command}: {}", out.stderr_text());
        let help = out.stdout_text();
        assert!(help.contains(&format!("Usage: pgsurge {command} ")), "{command}:\n{help}");
        assert!(!COMMANDS.iter().any(|other| *other != command && help.contains(&format!("Usage: pgsurge {other}"))), "{command}:\n{help}");
    }
    // pg_restore's short help option too.
    assert!(run(&pgsurge(), &s(&["list", "-?"]), None).stdout_text().contains("Usage: pgsurge list "));
    let help = run(&pg_restore_alias(), &s(&["--help"]), None).stdout_text();
    assert!(help.contains("Usage: pg_restore [OPTIONS]") && !help.contains("pgsurge restore"), "{help}");
}

#[test]
fn completions_cover_every_command_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&pgsurge(), &s(&["completions", shell]), None);
        assert_eq!(out.status, 0, "{shell}: {}", out.stderr_text());
        assert!(out.stderr.is_empty(), "{shell}: {}", out.stderr_text());
        let script = out.stdout_text();
        for command in COMMANDS {
            assert!(script.contains(command), "{shell} completion lacks {command}");
        }
        assert!(script.contains("single-transaction") && script.contains("no-owner"), "{shell} completion lacks restore's options");
    }
    let out = run(&pgsurge(), &s(&["completions", "tcsh"]), None);
    assert_eq!(out.status, 2, "an unknown shell is a usage error");
    assert!(out.stdout.is_empty() && out.stderr_text().contains("tcsh"), "{}", out.stderr_text());

    // The bash script really completes: the commands after `pgsurge`, an option of `list`.
    if !Path::new("/bin/bash").exists() {
        return;
    }
    let complete = |words: &str, cword: usize| {
        let script = format!(
            "source <(\"$PGSURGE\" completions bash) && COMP_WORDS=({words}) && COMP_CWORD={cword} && _pgsurge pgsurge \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\" && echo \"${{COMPREPLY[*]}}\""
        );
        let out = Command::new("/bin/bash").args(["-c", &script]).env("PGSURGE", pgsurge()).output().expect("running bash");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let commands = complete("pgsurge ''", 1);
    for command in COMMANDS {
        assert!(commands.split_whitespace().any(|w| w == command), "bash completes {commands:?}");
    }
    assert_eq!(complete("pgsurge list --no-ow", 2).trim(), "--no-owner");
}

/// groff's verdict on a manual page (`-ww`: every warning), or `None` without groff.
fn groff_complaints(page: &[u8]) -> Option<String> {
    let mut child = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().ok()?;
    let mut stdin = child.stdin.take().expect("stdin");
    let page = page.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &page));
    let out = child.wait_with_output().expect("groff");
    let _ = writer.join();
    let mut complaints = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        complaints.push_str(&format!("groff exited with {}", out.status));
    }
    Some(complaints)
}

/// A page is roff a man(7) reader takes: `.TH` first (after clap_mangen's string
/// definitions), NAME and SYNOPSIS, every line a request, a comment or text; and groff,
/// where installed, warns of nothing.
fn assert_valid_man_page(name: &str, page: &[u8]) {
    let text = String::from_utf8_lossy(page);
    let first = text.lines().find(|l| !l.starts_with(".ie") && !l.starts_with(".el")).unwrap_or_default();
    assert!(first.starts_with(&format!(".TH {name} 1 ")), "{name}: {first}");
    assert!(text.contains(".SH NAME\n") && text.contains(".SH SYNOPSIS\n") && text.contains(".SH DESCRIPTION\n"), "{name}:\n{text}");
    for line in text.lines().filter(|l| l.starts_with('.')) {
        let request = line[1..].split_whitespace().next().unwrap_or_default();
        assert!(["TH", "SH", "SS", "TP", "PP", "P", "LP", "IP", "RS", "RE", "br", "ie", "el", "B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "sp", "nf", "fi", "in", "\\\""].contains(&request), "{name}: unknown request in {line:?}");
    }
    match groff_complaints(page) {
        Some(complaints) => assert!(complaints.is_empty(), "{name}: groff warns:\n{complaints}"),
        None => eprintln!("groff not found: {name} checked without it"),
    }
}

#[test]
fn man_pages_are_roff_naming_every_command() {
    let out = run(&pgsurge(), &s(&["man"]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert_valid_man_page("pgsurge", &out.stdout);
    let page = out.stdout_text();
    for command in COMMANDS {
        assert!(page.contains(&format!("pgsurge\\-{command}(1)")), "pgsurge(1) does not name {command}:\n{page}");
        let out = run(&pgsurge(), &s(&["man", command]), None);
        assert_eq!(out.status, 0, "{command}: {}", out.stderr_text());
        assert_valid_man_page(&format!("pgsurge-{command}"), &out.stdout);
    }
    let restore = run(&pgsurge(), &s(&["man", "restore"]), None).stdout_text();
    assert!(restore.contains("\\-\\-single\\-transaction") && restore.contains(".SH \"CONNECTION OPTIONS\""), "{restore}");
    assert!(restore.contains(".TH pgsurge-restore 1  \"pgsurge "), "titled with pgsurge's version: {restore}");

    let out = run(&pgsurge(), &s(&["man", "nosuch"]), None);
    assert_eq!(out.status, 2);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr_text().lines().count(), 1, "{}", out.stderr_text());

    // --dir: one page per command, as installed under man1/.
    let dir = tempfile::tempdir().expect("temp dir");
    let man1 = dir.path().join("share/man/man1");
    let out = run(&pgsurge(), &s(&["man", "--dir", man1.to_str().expect("UTF-8 path")]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(out.stdout.is_empty());
    let mut files: Vec<String> = std::fs::read_dir(&man1).expect("man1").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("pgsurge-{c}.1")).chain(["pgsurge.1".to_owned()]).collect();
    want.sort();
    assert_eq!(files, want);
    for file in files {
        let page = std::fs::read(man1.join(&file)).expect("page");
        assert_valid_man_page(file.trim_end_matches(".1"), &page);
    }
    let blocked = dir.path().join("file");
    std::fs::write(&blocked, "").expect("write");
    let out = run(&pgsurge(), &s(&["man", "--dir", blocked.join("man1").to_str().expect("UTF-8 path")]), None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().starts_with("pgsurge: error: could not write the manual pages to "), "{}", out.stderr_text());
    assert_eq!(out.stderr_text().lines().count(), 1, "{}", out.stderr_text());
}

/// Under the name `pg_restore` there is no `completions` or `man`: they are file names, and
/// what pg_restore 18 says about them is said word for word.
#[test]
fn pg_restore_name_has_no_completions_or_man() {
    let real = crate::cluster::pg_bindir(18).map(|dir| dir.join("pg_restore"));
    for args in [&["completions", "bash"][..], &["man"], &["man", "restore"], &["-l", "completions"]] {
        let out = run(&pg_restore_alias(), &s(args), None);
        assert_eq!(out.status, 1, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        if let Some(real) = &real {
            let want = run(real, &s(args), None);
            assert_eq!(out.stderr_text(), want.stderr_text(), "{args:?}");
        } else {
            assert!(out.stderr_text().starts_with("pg_restore: error: "), "{args:?}: {}", out.stderr_text());
        }
    }
}

/// Usage errors under the name `pg_restore`, with or without pg_restore's "Try" hint as
/// pg_restore 18 gives it.
#[test]
fn usage_errors_match_pg_restore_word_for_word() {
    let Some(real) = crate::cluster::pg_bindir(18).map(|dir| dir.join("pg_restore")) else { return };
    let cases: [&[&str]; 5] = [&[], &["-d", "x", "-f", "y", "z"], &["-d", "x", "--restrict-key=a", "z"], &["--section=foo"], &["a", "b"]];
    for args in cases {
        let (got, want) = (run(&pg_restore_alias(), &s(args), None), run(&real, &s(args), None));
        assert_eq!((got.status, got.stderr_text()), (want.status, want.stderr_text()), "{args:?}");
    }
}

/// A missing file, a directory that is no archive and a psql script read the same from every
/// command, the input named once; pg_restore's words where it has them.
#[test]
fn open_errors_read_the_same_in_every_command() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty_dir = dir.path().display().to_string();
    let sql = testdata().join("dumps/pg18/src.sql").display().to_string();
    let missing = "/nonexistent/x.dump";
    let commands: [&[&str]; 4] = [&["list"], &["sql"], &["verify"], &["restore", "-d", "postgres"]];
    for command in commands {
        let with = |path: &str| {
            let mut args = s(command);
            args.push(path.to_owned());
            let out = run(&pgsurge(), &args, None);
            assert_eq!(out.status, 1, "{command:?} {path}");
            assert!(out.stdout.is_empty(), "{command:?} {path}");
            out.stderr_text()
        };
        assert_eq!(with(missing), format!("pgsurge: error: could not open input file \"{missing}\": No such file or directory\n"), "{command:?}");
        assert_eq!(
            with(&empty_dir),
            format!("pgsurge: error: directory \"{empty_dir}\" does not appear to be a valid archive (\"toc.dat\" does not exist)\n"),
            "{command:?}"
        );
        // verify checks a script, list lists one and restore -d restores one (tests/verify.rs,
        // tests/script.rs); sql does not take one.
        if command != ["sql"] {
            let mut args = s(command);
            args.push(sql.clone());
            let out = run(&pgsurge(), &args, None);
            assert!(!out.stderr_text().contains("appears to be a text format dump"), "{command:?}: {}", out.stderr_text());
        } else {
            assert_eq!(
                with(&sql),
                format!("pgsurge: error: input file \"{sql}\" appears to be a text format dump (a psql script), not an archive\npgsurge: hint: restore it with psql, e.g. `psql -f {sql}`\n"),
                "{command:?}"
            );
        }
    }
    // `verify --json` says the same in its document.
    let out = run(&pgsurge(), &s(&["verify", "--json", missing]), None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["error"], format!("could not open input file \"{missing}\": No such file or directory"));
    // pg_restore's own line, under its name.
    let out = run(&pg_restore_alias(), &s(&["-l", missing]), None);
    assert_eq!(out.stderr_text(), format!("pg_restore: error: could not open input file \"{missing}\": No such file or directory\n"));
}

/// A loopback port that accepts connections and never answers: a client connecting to it
/// waits, and the test sees whether (and when) it tried.
fn silent_server() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    (listener, port)
}

/// `program args` started with a clean libpq environment, stdout and stderr to pipes.
fn spawn(program: &Path, args: &[String]) -> std::process::Child {
    let mut cmd = Command::new(program);
    cmd.args(args).env("TZ", "UTC").env("PGCONNECT_TIMEOUT", "60").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in LIBPQ_VARS.iter().filter(|v| **v != "PGCONNECT_TIMEOUT") {
        cmd.env_remove(var);
    }
    cmd.spawn().expect("starting pgsurge")
}

/// A report that cannot be written fails the command before it connects: one line, status 1,
/// no connection made, so nothing restored.
#[test]
fn unwritable_report_fails_before_the_restore() {
    let (listener, port) = silent_server();
    let sample = testdata().join("sample.dump").display().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("no/such/dir/report.json").display().to_string();
    let args = s(&["restore", "-h", "127.0.0.1", "-p", &port.to_string(), "-d", "db", "--report", &report, &sample]);
    let out = run(&pgsurge(), &args, None);
    assert_eq!(out.status, 1);
    assert!(out.stdout.is_empty());
    assert_eq!(out.stderr_text(), format!("pgsurge: error: could not open report file \"{report}\": No such file or directory\n"));
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("pgsurge connected although the report could not be written: {other:?}"),
    }
    // A directory is no report file either.
    let args = s(&["restore", "-h", "127.0.0.1", "-p", &port.to_string(), "-d", "db", "--report", &dir.path().display().to_string(), &sample]);
    let out = run(&pgsurge(), &args, None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().starts_with("pgsurge: error: could not open report file"), "{}", out.stderr_text());
    assert!(matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "connected");

    // Failing before the restore for another reason (no archive) leaves no report behind, and
    // an existing file as it was.
    let fresh = dir.path().join("fresh.json");
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, "earlier report").expect("write");
    for path in [&fresh, &kept] {
        let args = s(&["restore", "-h", "127.0.0.1", "-p", &port.to_string(), "-d", "db", "--report", &path.display().to_string(), "/nonexistent/x.dump"]);
        let out = run(&pgsurge(), &args, None);
        assert_eq!(out.status, 1);
        assert!(out.stderr_text().contains("could not open input file"), "{}", out.stderr_text());
    }
    assert!(!fresh.exists(), "an empty report was left behind");
    assert_eq!(std::fs::read_to_string(&kept).expect("read"), "earlier report");
}

/// A password in `-d` is gone from /proc/PID/cmdline (what `ps` shows every user) while the
/// restore runs: read while pgsurge waits for a server that never answers.
#[test]
fn password_in_dbname_is_hidden_from_other_users() {
    let sample = testdata().join("sample.dump").display().to_string();
    let (listener, port) = silent_server();
    let secret = "s3cr3t-Pw";
    let cases: Vec<(std::path::PathBuf, Vec<String>, String)> = vec![
        (pgsurge(), s(&["restore", "-d", &format!("postgresql://app:{secret}@127.0.0.1:{port}/db"), &sample]), format!("postgresql://app:{}@127.0.0.1:{port}/db", "x".repeat(secret.len()))),
        (
            pgsurge(),
            s(&["restore", &format!("--dbname=host=127.0.0.1 port={port} password='{secret} x' user=app dbname=db"), "-j", "2", &sample]),
            format!("--dbname=host=127.0.0.1 port={port} password='{}' user=app dbname=db", "x".repeat(secret.len() + 2)),
        ),
        (pgsurge(), s(&["restore", &format!("-dpostgresql://127.0.0.1:{port}/db?user=app&password={secret}"), &sample]), format!("-dpostgresql://127.0.0.1:{port}/db?user=app&password={}", "x".repeat(secret.len()))),
        (pg_restore_alias(), s(&["--dbn", &format!("password={secret} host=127.0.0.1 port={port} dbname=db user=app"), &sample]), format!("password={} host=127.0.0.1", "x".repeat(secret.len()))),
    ];
    for (program, args, masked) in cases {
        let mut child = spawn(&program, &args);
        let deadline = Instant::now() + Duration::from_secs(60);
        // pgsurge connects only after parsing its arguments, so once it knocks they are masked.
        let _connection = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("accept: {e}"),
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("{args:?}: pgsurge ended ({status}) before connecting: {err}");
            }
            assert!(Instant::now() < deadline, "{args:?}: pgsurge did not connect within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).expect("reading /proc/PID/cmdline");
        let _ = child.kill();
        let _ = child.wait();
        let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(!shown.contains(secret), "{args:?}: the password shows in /proc/PID/cmdline: {shown}");
        assert!(shown.contains(&masked), "{args:?}: want {masked:?} in {shown:?}");
        assert!(shown.ends_with(&format!("{sample} ")), "the other arguments stay: {shown}");
    }
}
