//! `pgsurge restore -d` beyond the option matrix of `restore_matrix`: every archive format,
//! compression and source (file, pipe, pipe-written custom archive, tar, LATIN1), options the
//! matrix leaves out, each older server with archives its own pg_dump wrote, and the error
//! paths a user meets first (no server, no database).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cluster::{pg_bindir_or_skip, Cluster};
use crate::harness::{pgsurge, run, testdata};
use crate::restore_matrix::{restore, Tool};

pub(crate) fn archive(rel: &str) -> PathBuf {
    testdata().join("dumps").join(rel)
}

pub(crate) fn fresh_db(cluster: &Cluster, stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("x{}_{stem}", N.fetch_add(1, Ordering::Relaxed));
    cluster.createdb(&name);
    name
}

/// Restores `rel` with pg_restore 18 and with `tool`, each into a new database of `cluster`
/// with `args`; describes what differs (exit status, fingerprint). pg_restore refuses `-j`
/// from standard input and for tar archives (pgsurge does both), so its serial restore is
/// the reference there.
fn compare(cluster: &Cluster, rel: &str, tool: Tool, args: &[&str], stdin: bool) -> Option<String> {
    let path = archive(rel);
    let ref_args: Vec<&str> = if stdin || rel.ends_with(".tar") { without_jobs(args) } else { args.to_vec() };
    let (ref_db, db) = (fresh_db(cluster, "ref"), fresh_db(cluster, "got"));
    let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, &ref_args, stdin);
    let got = restore(tool, cluster, &db, &path, args, stdin);
    let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
    cluster.dropdb(&ref_db);
    cluster.dropdb(&db);
    let mut problems = Vec::new();
    if got.status != want.status {
        problems.push(format!("exit status {} (pg_restore 18: {})\n--- pg_restore stderr:\n{}--- stderr:\n{}", got.status, want.status, want.stderr_text(), got.stderr_text()));
    }
    if a != b {
        problems.push(format!("{}\n--- stderr:\n{}", a.diff(&b), got.stderr_text()));
    }
    (!problems.is_empty()).then(|| format!("{rel} via {tool:?} {args:?}{}:\n{}", if stdin { " from stdin" } else { "" }, problems.join("\n")))
}

fn without_jobs<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "-j" {
            it.next();
        } else {
            out.push(*a);
        }
    }
    out
}

fn check(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} restore(s) differ from pg_restore 18:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn every_format_and_source_restores_like_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let cases: &[(&str, &[&str], bool)] = &[
        ("pg18/src.custom.gzip.dump", &["-j", "4"], true),
        ("pg18/src.custom.pipe.dump", &["-j", "3"], false),
        ("pg18/src.custom.pipe.dump", &["-j", "1"], true),
        ("pg18/src.custom.zstd.dump", &["-j", "2"], false),
        ("pg17/src.custom.lz4.dump", &["-j", "2"], false),
        ("pg16/src.dir.zstd", &["-j", "3"], false),
        ("pg15/src.dir.gzip", &[], false),
        ("pg14/src.custom.none.dump", &["-j", "2"], false),
        ("pg18/src.tar", &["-j", "2"], false),
        ("pg18/src.tar", &[], true),
        ("pg18/latin1.custom.dump", &[], false),
        ("pg18/big.custom.gzip.dump", &["-j", "2"], false),
        ("pg14/big.dir.gzip", &["-j", "2"], false),
    ];
    let failures = cases.iter().filter_map(|(rel, args, stdin)| compare(cluster, rel, Tool::Pgsurge, args, *stdin)).collect();
    check(failures);
}

#[test]
fn more_options_match_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let rel = "pg18/src.custom.gzip.dump";
    let sets: &[&[&str]] = &[
        &["-n", "MixedCase"],
        &["--no-comments", "--no-publications", "--no-subscriptions", "-j", "2"],
        // Objects owned by roles without CREATE rights fail here, and which dependents then
        // fail depends on timing in any parallel restore: compare serial with serial.
        &["--use-set-session-authorization", "-j", "1"],
        &["-e"],
        &["--no-data-for-failed-tables", "-j", "2"],
        &["-I", "types_lower", "-j", "2"],
    ];
    let mut failures: Vec<String> = sets.iter().filter_map(|args| compare(cluster, rel, Tool::Pgsurge, args, false)).collect();
    // pg_restore's own command line through the alias.
    failures.extend(compare(cluster, rel, Tool::PgRestoreAlias, &["-j", "2", "--no-owner"], false));
    check(failures);
}

/// `-L`: a list that leaves entries out and moves the table data last, newest table first
/// (after the triggers, so a serial restore fires them and a parallel one, which loads a
/// table before its post-data, does not). Serial and parallel restores each match
/// pg_restore's, and the archive's own order never changes under the reader.
#[test]
fn list_file_order_and_omissions_match_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let rel = "pg18/src.custom.gzip.dump";
    let listing = run(&pgsurge(), &["list".to_string(), archive(rel).display().to_string()], None);
    assert_eq!(listing.status, 0, "{}", listing.stderr_text());
    let lines: Vec<String> = listing.stdout_text().lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()).map(str::to_string).collect();
    let is_data = |l: &str| l.contains(" TABLE DATA ");
    let mut list: Vec<String> = lines.iter().filter(|l| !is_data(l) && !l.contains(" COMMENT ")).cloned().collect();
    let data: Vec<&String> = lines.iter().filter(|l| is_data(l)).collect();
    assert!(data.len() > 2 && list.len() < lines.len() - data.len(), "the archive has table data and comments to move and leave out");
    list.extend(data.into_iter().rev().cloned());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("order.list");
    std::fs::write(&path, list.join("\n") + "\n").expect("write list");
    let path = path.display().to_string();
    let failures: Vec<String> = [&["-L", path.as_str(), "-j", "1"][..], &["-L", path.as_str(), "-j", "2"][..]]
        .iter()
        .filter_map(|args| compare(cluster, rel, Tool::Pgsurge, args, false))
        .collect();
    check(failures);
}

/// Servers 14–17, each given archives its own pg_dump wrote (and pg_dump 18's into 17).
/// pg_restore 18 itself counts an error on pre-17 servers (`SET transaction_timeout`);
/// pgsurge sends only what the server has, so it must finish without any.
#[test]
fn older_servers_with_their_own_archives() {
    let mut failures = Vec::new();
    for (major, rel) in [(14, "pg14/src.custom.gzip.dump"), (15, "pg15/src.dir.gzip"), (16, "pg16/src.custom.zstd.dump"), (17, "pg17/src.custom.lz4.dump"), (17, "pg18/src.custom.gzip.dump")] {
        if pg_bindir_or_skip(major).is_none() {
            continue;
        }
        let Some(cluster) = Cluster::shared(major) else { continue };
        let path = archive(rel);
        let (ref_db, db) = (fresh_db(cluster, "ref"), fresh_db(cluster, "got"));
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, &[], false);
        let got = restore(Tool::Pgsurge, cluster, &db, &path, &["-j", "2"], false);
        if got.status != 0 {
            failures.push(format!("server {major}, {rel}: pgsurge exit {}: {}", got.status, got.stderr_text()));
            continue;
        }
        let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
        if a != b {
            failures.push(format!("server {major}, {rel}: {}\npg_restore said: {}", a.diff(&b), want.stderr_text()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unreachable_server_is_one_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(1);
    let args: Vec<String> =
        ["restore", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", "x"].iter().map(|s| s.to_string()).chain([archive("pg18/src.custom.gzip.dump").display().to_string()]).collect();
    let out = run(&pgsurge(), &args, None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.starts_with("pgsurge: error: connection to server at \"127.0.0.1\""), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn missing_database_suggests_create() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let out = restore(Tool::Pgsurge, cluster, "no_such_db", &archive("pg18/src.custom.gzip.dump"), &[], false);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    assert!(err.contains("database \"no_such_db\" does not exist"), "{err}");
    assert!(err.contains("--create"), "{err}");
}

#[test]
fn report_file_holds_the_timeline() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "report");
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    // An earlier, longer file is replaced whole.
    std::fs::write(&report, " ".repeat(1 << 20) + "garbage").expect("write");
    let out = restore(Tool::Pgsurge, cluster, &db, &archive("pg18/src.custom.gzip.dump"), &["-j", "2", "--report", report.to_str().unwrap_or_default()], false);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("valid JSON");
    assert_eq!(json["completed"], true);
    assert_eq!(json["totals"]["large_objects"], 6);
    let items = json["items"].as_array().expect("items");
    let data: Vec<_> = items.iter().filter(|i| i["desc"] == "TABLE DATA").collect();
    assert!(data.len() >= 10, "{} TABLE DATA items", data.len());
    assert!(items.iter().all(|i| i["end"].as_f64() >= i["start"].as_f64()));
    assert!(data.iter().any(|i| i["connection"].as_u64() != Some(0)), "data ran on workers");
    assert_eq!(json["totals"]["rows"].as_u64(), Some(data.iter().filter_map(|i| i["rows"].as_u64()).sum::<u64>()));
    // Each stage says when it began, one after the other, within the restore's wall time.
    let stages = json["stages"].as_array().expect("stages");
    let starts: Vec<f64> = stages.iter().map(|s| s["start"].as_f64().expect("a stage's start")).collect();
    assert_eq!(stages.iter().map(|s| s["stage"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["schema", "data+post", "finish"]);
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    let wall = json["wall_seconds"].as_f64().expect("wall");
    assert!(stages.iter().all(|s| s["start"].as_f64().unwrap_or(-1.0) >= 0.0 && s["start"].as_f64().unwrap_or(0.0) + s["seconds"].as_f64().unwrap_or(0.0) <= wall), "{stages:?} in {wall} s");
    // Not a terminal, and quick: no progress lines, only the summary.
    assert!(out.stderr_text().contains("pgsurge: restored in"), "{}", out.stderr_text());
    cluster.dropdb(&db);
}

/// A report that cannot be written at the end (a full disk: /dev/full) fails the command
/// although the restore itself went well, which the summary says in the singular where it
/// counts one (sample.dump has one large object and one index).
#[test]
fn report_lost_at_the_end_fails_the_command() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "fullreport");
    let out = restore(Tool::Pgsurge, cluster, &db, &testdata().join("sample.dump"), &["--report", "/dev/full"], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("pgsurge: error: could not write report file \"/dev/full\": No space left on device\n"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.customers").trim(), "1000", "the restore itself went through");
    assert!(err.contains(" of table data, 1 large object, 1 index, 4 constraints, 0 errors\n"), "{err}");
    cluster.dropdb(&db);
}

/// The summary and the report count only what was created or loaded: a first restore, a
/// `--clean --if-exists` one over it (its drops are not restored objects), and one more
/// without `--clean` (everything collides; what failed is said apart). sample.dump has two
/// tables, one index, four constraints and a large object.
#[test]
fn summary_and_report_count_only_what_was_restored() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "truthful");
    let sample = testdata().join("sample.dump");
    let dir = tempfile::tempdir().expect("temp dir");
    let report = dir.path().join("report.json");
    let report_arg = report.display().to_string();
    let read_report = || -> serde_json::Value { serde_json::from_slice(&std::fs::read(&report).expect("report written")).expect("valid JSON") };

    // Serially: one stage, named so, then the ANALYZE stage.
    let out = restore(Tool::Pgsurge, cluster, &db, &sample, &["-j", "1", "--report", &report_arg], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 0, "{err}");
    assert!(err.contains(" with 1 connection (serial "), "{err}");
    assert!(err.contains("pgsurge: 2 tables, "), "{err}");
    assert!(err.contains(", 1 large object, 1 index, 4 constraints, 0 errors\n"), "{err}");
    assert!(!err.contains("not restored") && !err.contains("dropped"), "{err}");
    let first = read_report();
    let totals = &first["totals"];
    assert_eq!((totals["tables"].as_u64(), totals["indexes"].as_u64(), totals["constraints"].as_u64(), totals["dropped"].as_u64()), (Some(2), Some(1), Some(4), Some(0)), "{totals}");
    let table_bytes = totals["table_data_bytes"].as_u64().expect("table_data_bytes");
    let lo_bytes = totals["large_object_bytes"].as_u64().expect("large_object_bytes");
    assert!(table_bytes > 0 && lo_bytes > 0, "{totals}");
    let item_bytes = |json: &serde_json::Value, desc: &str| -> u64 { json["items"].as_array().expect("items").iter().filter(|i| i["desc"] == desc).filter_map(|i| i["bytes"].as_u64()).sum() };
    assert_eq!(table_bytes, item_bytes(&first, "TABLE DATA"), "table data bytes are the table data items' bytes, large objects apart");
    assert_eq!(lo_bytes, item_bytes(&first, "BLOBS"));
    // The report says what, from where, into where, when and how.
    assert_eq!(first["pgsurge_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(first["archive"]["path"], sample.display().to_string());
    assert_eq!(first["archive"]["format"], "custom");
    assert_eq!(first["archive"]["bytes"].as_u64(), std::fs::metadata(&sample).ok().map(|m| m.len()));
    assert!(first["archive"]["archive_version"].as_str().is_some_and(|v| v.starts_with("1.")), "{}", first["archive"]);
    assert!(first["archive"]["dumped_by"].as_str().is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())), "{}", first["archive"]);
    assert_eq!(first["target"]["database"], db.as_str());
    assert!(first["target"]["port"].as_u64().is_some() && first["target"]["host"].as_str().is_some());
    assert!(first["options"].as_array().is_some_and(|o| o.iter().any(|a| a == "--report")), "{}", first["options"]);
    for at in ["started_at", "ended_at"] {
        assert!(first[at].as_str().is_some_and(|t| humantime::parse_rfc3339(t).is_ok()), "{at}: {}", first[at]);
    }
    assert!(first["definitions"]["table_data_bytes"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(first["stages"].as_array().map(|s| s.iter().map(|s| s["stage"].clone()).collect::<Vec<_>>()), Some(vec![serde_json::json!("serial"), serde_json::json!("analyze")]));

    let out = restore(Tool::Pgsurge, cluster, &db, &sample, &["--clean", "--if-exists", "--report", &report_arg], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 0, "{err}");
    assert!(err.contains(", 1 large object, 1 index, 4 constraints, 0 errors\n"), "drops counted as restored objects:\n{err}");
    assert!(err.contains(" existing objects first (--clean)\n"), "{err}");
    let clean = read_report();
    assert_eq!((clean["totals"]["indexes"].as_u64(), clean["totals"]["constraints"].as_u64()), (Some(1), Some(4)), "{}", clean["totals"]);
    let drops = clean["items"].as_array().expect("items").iter().filter(|i| i["action"] == "drop").count() as u64;
    assert!(drops >= 7, "{drops} drop items");
    assert_eq!(clean["totals"]["dropped"].as_u64(), Some(drops));

    // Everything collides now: nothing is created or loaded, and the summary says so.
    let out = restore(Tool::Pgsurge, cluster, &db, &sample, &["--report", &report_arg], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("pgsurge: 0 tables, 0 rows, 0 B of table data, "), "{err}");
    assert!(err.contains(" 0 indexes, 0 constraints, "), "{err}");
    assert!(err.contains("not restored: the data of 2 tables, 1 index, 4 constraints and "), "{err}");
    let collided = read_report();
    let t = &collided["totals"];
    assert_eq!((t["tables"].as_u64(), t["table_data_bytes"].as_u64(), t["indexes"].as_u64(), t["constraints"].as_u64()), (Some(0), Some(0), Some(0), Some(0)), "{t}");
    assert_eq!((t["not_restored"]["tables"].as_u64(), t["not_restored"]["indexes"].as_u64(), t["not_restored"]["constraints"].as_u64()), (Some(2), Some(1), Some(4)), "{t}");
    cluster.dropdb(&db);
}

/// The hint for a missing role suggests only the options the user did not give: an archive
/// granting to a role and naming it in a policy (which neither -O nor -x skips), restored
/// after the role is gone.
#[test]
fn hints_suggest_only_options_not_given() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let src = fresh_db(cluster, "hintsrc");
    cluster.psql(
        &src,
        "CREATE ROLE hint_gone; CREATE TABLE t (x int); GRANT SELECT ON t TO hint_gone; \
         ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON t TO hint_gone USING (true)",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("roles.dump");
    let mut args = cluster.conn_args(&src);
    args.extend(["-Fc".to_owned(), "-f".to_owned(), dump.display().to_string()]);
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    cluster.dropdb(&src);
    cluster.psql("postgres", "DROP ROLE hint_gone");

    let hint_after = |args: &[&str]| {
        let db = fresh_db(cluster, "hint");
        // Past the checks that would stop it first (tests/preflight.rs): the hint here is
        // the one of the errors' summary.
        let forced: Vec<&str> = ["--force"].iter().chain(args).copied().collect();
        let out = restore(Tool::Pgsurge, cluster, &db, &dump, &forced, false);
        cluster.dropdb(&db);
        let err = out.stderr_text();
        assert_eq!(out.status, 1, "{args:?}: {err}");
        let hint = err.lines().find(|l| l.contains("create the missing roles first")).unwrap_or_else(|| panic!("{args:?}: no hint in {err}"));
        hint.to_owned()
    };
    let tail = "create the missing roles first (pg_dumpall --globals-only has them)";
    assert!(hint_after(&[]).ends_with(&format!("{tail}, or restore with --no-owner --no-privileges")));
    assert!(hint_after(&["-O"]).ends_with(&format!("{tail}, or restore with --no-privileges")));
    assert!(hint_after(&["--no-owner", "-x"]).ends_with(tail));
}

/// With `-e`, a schema error stops the workers too (they load tables while the schema is
/// created): one error, status 1, no connection left behind, no hang.
#[test]
fn exit_on_error_in_the_schema_stops_every_connection() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "stop");
    cluster.psql(&db, "CREATE TABLE public.events (x int)");
    let out = restore(Tool::Pgsurge, cluster, &db, &archive("pg18/src.custom.gzip.dump"), &["-e", "-j", "4"], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert_eq!(err.matches("pgsurge: error:").count(), 1, "{err}");
    assert!(err.contains("relation \"events\" already exists"), "{err}");
    assert!(err.contains("stopped after"), "{err}");
    // A backend goes a moment after its client: wait for that, not for ever.
    let gone = (0..50).any(|_| {
        let left = cluster.psql("postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"));
        left.trim() == "0" || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    assert!(gone, "connections left open");
    cluster.dropdb(&db);
}

/// An archive cut inside a large object's data: the restore stops with the entry and byte
/// offset, and says what had been restored before.
#[test]
fn damage_found_mid_restore_names_entry_and_offset() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let whole = std::fs::read(archive("pg18/big.custom.gzip.dump")).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let cut = dir.path().join("cut.dump");
    std::fs::write(&cut, &whole[..whole.len() * 45 / 100]).expect("write");
    for (args, stdin) in [(&["-j", "2"][..], false), (&["-j", "1"][..], true)] {
        let db = fresh_db(cluster, "cut");
        let out = restore(Tool::Pgsurge, cluster, &db, &cut, args, stdin);
        let err = out.stderr_text();
        assert_eq!(out.status, 1, "{err}");
        assert!(err.contains("pgsurge: error: unexpected end of archive"), "{err}");
        assert!(err.contains("damaged or incomplete at entry ") && err.contains(", byte "), "{err}");
        assert!(err.contains("stopped after"), "{err}");
        cluster.dropdb(&db);
    }
}

/// libpq's ways of giving a password, against a role the server asks a password of
/// (scram-sha-256 on the socket): PGPASSWORD, a password file, a URI; a wrong one and `-w`
/// without one fail with one clear line.
#[test]
fn passwords_come_the_libpq_ways() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let hba = cluster.psql("postgres", "SHOW hba_file").trim().to_owned();
    let rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
    if !rules.contains("pw_user") {
        cluster.psql("postgres", "SET password_encryption = 'scram-sha-256'; CREATE ROLE pw_user LOGIN PASSWORD 'se:kret'");
        std::fs::write(&hba, format!("local all pw_user scram-sha-256\n{rules}")).expect("write pg_hba.conf");
        cluster.psql("postgres", "SELECT pg_reload_conf()");
    }
    let sample = testdata().join("sample.dump");
    let sock = cluster.socket_dir().display().to_string();
    let port = cluster.port().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let passfile = dir.path().join("pgpass");
    // A ':' in the password is escaped in the file.
    std::fs::write(&passfile, "*:*:*:pw_user:se\\:kret\n").expect("pgpass");
    std::fs::set_permissions(&passfile, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let run_as = |conn: Vec<String>, env: &[(&str, &str)]| {
        let mut args = vec!["restore".to_owned(), "-O".to_owned(), "-x".to_owned(), "-q".to_owned()];
        args.extend(conn);
        args.push(sample.display().to_string());
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::harness::run_env(&pgsurge(), &args, &env, None)
    };
    let flags = |db: &str| vec!["-h".to_owned(), sock.clone(), "-p".to_owned(), port.clone(), "-U".to_owned(), "pw_user".to_owned(), "-d".to_owned(), db.to_owned()];
    let new_db = |stem: &str| {
        let db = fresh_db(cluster, stem);
        cluster.psql("postgres", &format!("ALTER DATABASE {db} OWNER TO pw_user"));
        db
    };
    let restored = |db: &str| cluster.psql(db, "SELECT count(*) FROM public.customers").trim() == "1000";

    let db = new_db("pgpassword");
    let out = run_as(flags(&db), &[("PGPASSWORD", "se:kret")]);
    assert_eq!(out.status, 0, "PGPASSWORD: {}", out.stderr_text());
    assert!(restored(&db));

    let db = new_db("passfile");
    let passfile_str = passfile.display().to_string();
    let out = run_as(flags(&db), &[("PGPASSFILE", passfile_str.as_str())]);
    assert_eq!(out.status, 0, "PGPASSFILE: {}", out.stderr_text());
    assert!(restored(&db));

    let db = new_db("uri");
    let uri = format!("postgresql://pw_user:se%3Akret@/{db}?host={}&port={port}", sock.replace('/', "%2F"));
    let out = run_as(vec!["-d".to_owned(), uri], &[]);
    assert_eq!(out.status, 0, "URI: {}", out.stderr_text());
    assert!(restored(&db));

    let db = new_db("wrong");
    let out = run_as(flags(&db), &[("PGPASSWORD", "nope")]);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("password authentication failed for user \"pw_user\""), "{err}");
    assert!(!err.contains("nope"), "the password must not be printed: {err}");
    assert_eq!(err.lines().filter(|l| l.contains("error:")).count(), 1, "{err}");

    let mut no_password = flags(&db);
    no_password.push("-w".to_owned());
    let out = run_as(no_password, &[]);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("password"), "{err}");
}

/// pg_dump 18's archive into a PostgreSQL 14 server: pgsurge says up front why statements
/// will fail (the subscription's `streaming = parallel` here), and still restores the rest.
#[test]
fn newer_archive_into_older_server_is_announced() {
    if pg_bindir_or_skip(14).is_none() {
        return;
    }
    let Some(cluster) = Cluster::shared(14) else { return };
    let db = fresh_db(cluster, "newer");
    let out = restore(Tool::Pgsurge, cluster, &db, &archive("pg18/src.custom.gzip.dump"), &["-j", "2"], false);
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("the archive was dumped from PostgreSQL 18 and the server runs 14"), "{err}");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.parent").trim(), "20", "{err}");
    cluster.dropdb(&db);
}

/// A table far larger than the rest is loaded by several connections at once (idle workers
/// join its COPY), leaving the database pg_restore leaves; when a row fails, every part rolls
/// back and the table is loaded again on one connection, so the error, its line number and
/// the table's contents are pg_restore's.
#[test]
fn large_table_loads_over_several_connections() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let src = fresh_db(cluster, "split_src");
    // About 20 MB of COPY text: over the size from which a table is shared (8 MB of archive
    // bytes, uncompressed here).
    cluster.psql(
        &src,
        "CREATE TABLE big (id int PRIMARY KEY, k int, note text);
         INSERT INTO big SELECT g, g % 1000, md5(g::text) || ' ' || repeat('x', g % 40) FROM generate_series(1, 300000) g;
         CREATE INDEX big_k ON big (k);
         CREATE TABLE small (id int PRIMARY KEY);
         INSERT INTO small SELECT generate_series(1, 10);",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("split.dump");
    let mut args = vec!["-Fc".to_owned(), "-Z0".to_owned(), "-f".to_owned(), dump.display().to_string()];
    args.push(src.clone());
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);

    // Whole database, from the file and from a pipe: the same as pg_restore's, with help.
    for stdin in [false, true] {
        let (ref_db, db) = (fresh_db(cluster, "split_ref"), fresh_db(cluster, "split_got"));
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &dump, &["-j", "3"][..if stdin { 0 } else { 2 }], stdin);
        assert_eq!(want.status, 0, "{}", want.stderr_text());
        let report = dir.path().join("report.json");
        let got = restore(Tool::Pgsurge, cluster, &db, &dump, &["-j", "3", "--report", report.to_str().unwrap_or_default()], stdin);
        assert_eq!(got.status, 0, "{}", got.stderr_text());
        let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
        assert!(a == b, "stdin {stdin}: {}", a.diff(&b));
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
        let items = json["items"].as_array().expect("items");
        let big = items.iter().find(|i| i["desc"] == "TABLE DATA" && i["name"].as_str().is_some_and(|n| n.ends_with(".big"))).expect("big's data in the report");
        assert!(big["connections"].as_u64() >= Some(2), "stdin {stdin}: big was loaded by {} connection(s)", big["connections"]);
        assert_eq!(big["rows"].as_u64(), Some(300_000));
        // Each helper's part is in the report on its own connection, for the timeline, and
        // counted nowhere else: the table's rows are the owner's item's.
        let parts: Vec<&serde_json::Value> = items.iter().filter(|i| i["action"] == "part").collect();
        assert!(!parts.is_empty(), "stdin {stdin}: no helper's part in the report");
        for part in &parts {
            assert_eq!(part["dump_id"], big["dump_id"], "{part}");
            assert_ne!(part["connection"], big["connection"], "{part}");
            assert!(part["start"].as_f64() >= big["start"].as_f64(), "a part starts after its table's load: {part} {big}");
        }
        let part_rows: u64 = parts.iter().filter_map(|p| p["rows"].as_u64()).sum();
        assert!(part_rows < 300_000, "stdin {stdin}: parts hold {part_rows} rows");
        assert_eq!(json["totals"]["rows"].as_u64(), Some(300_010), "stdin {stdin}: parts are not counted again");
        assert_eq!(json["totals"]["tables"].as_u64(), Some(2));
        cluster.dropdb(&ref_db);
        cluster.dropdb(&db);
    }

    // Data only, into tables one of whose rows a CHECK constraint refuses.
    let mut stderr = Vec::new();
    for tool in [Tool::PgRestore18, Tool::Pgsurge] {
        let db = fresh_db(cluster, "split_fail");
        assert_eq!(restore(tool, cluster, &db, &dump, &["-s"], false).status, 0);
        cluster.psql(&db, "ALTER TABLE public.big ADD CONSTRAINT not_250000 CHECK (id <> 250000)");
        let out = restore(tool, cluster, &db, &dump, &["-a", "-j", "3"], false);
        assert_eq!(out.status, 1, "{tool:?}: {}", out.stderr_text());
        assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.big").trim(), "0", "{tool:?}: the failed table stays empty");
        assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.small").trim(), "10");
        let err = out.stderr_text();
        let failure: Vec<String> = err.lines().filter(|l| l.contains("COPY failed") || l.starts_with("DETAIL") || l.starts_with("CONTEXT")).map(|l| l.replacen("pg_restore: ", "", 1).replacen("pgsurge: ", "", 1)).collect();
        assert!(!failure.is_empty(), "{tool:?}: {err}");
        stderr.push(failure);
        cluster.dropdb(&db);
    }
    assert_eq!(stderr[0], stderr[1], "the error reads as pg_restore's");

    // The same from a pipe under a spool budget far below the table: its first bytes are
    // given back while it loads, so the failed split is not retried on one connection; its
    // part's error stands, said to be one.
    let db = fresh_db(cluster, "split_spool");
    assert_eq!(restore(Tool::Pgsurge, cluster, &db, &dump, &["-s"], false).status, 0);
    cluster.psql(&db, "ALTER TABLE public.big ADD CONSTRAINT not_250000 CHECK (id <> 250000)");
    let mut args = vec!["restore".to_owned(), "-v".to_owned(), "-a".to_owned(), "-j".to_owned(), "3".to_owned()];
    args.extend(cluster.conn_args(&db));
    let mut env = vec![("LC_ALL".to_owned(), "C".to_owned()), ("PGSURGE_SPOOL_LIMIT".to_owned(), "1M".to_owned())];
    env.extend(cluster.env());
    let out = crate::harness::run_env(&pgsurge(), &args, &env, Some(&dump));
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("COPY failed for table \"big\": ERROR:  new row for relation \"big\" violates check constraint \"not_250000\""), "{err}");
    assert!(err.contains("raise PGSURGE_SPOOL_LIMIT"), "{err}");
    assert!(err.contains("helps load table \"big\""), "{err}");
    assert!(!err.contains("loading table \"big\" again"), "{err}");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.big").trim(), "0", "the failed table stays empty");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.small").trim(), "10");
    cluster.dropdb(&db);
}

/// Under the `pg_restore` name, a serial restore's error output is pg_restore 18's line for
/// line (messages, `Command was:` with its blank lines, `could not set …` for session
/// settings), apart from the `transaction_timeout` setting, which pgsurge does not send to
/// servers older than 17 — one error fewer.
#[test]
fn error_output_reads_as_pg_restores() {
    if pg_bindir_or_skip(14).is_none() {
        return;
    }
    let Some(cluster) = Cluster::shared(14) else { return };
    let path = archive("pg18/src.custom.gzip.dump");
    let (ref_db, db) = (fresh_db(cluster, "errs_ref"), fresh_db(cluster, "errs_got"));
    let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, &[], false);
    let got = restore(Tool::PgRestoreAlias, cluster, &db, &path, &[], false);
    assert_eq!((want.status, got.status), (1, 1));
    let want_text = want.stderr_text();
    let mut want_lines: Vec<&str> = want_text.lines().collect();
    let timeout = want_lines.iter().position(|l| l.contains("\"transaction_timeout\"")).expect("pg_restore 18 sets transaction_timeout");
    want_lines.drain(timeout..timeout + 2);
    let count = |lines: &[&str]| lines.last().and_then(|l| l.strip_prefix("pg_restore: warning: errors ignored on restore: ")).and_then(|n| n.parse::<u32>().ok());
    let want_count = count(&want_lines).expect("an error count");
    let got_text = got.stderr_text();
    let got_lines: Vec<&str> = got_text.lines().collect();
    assert_eq!(count(&got_lines), Some(want_count - 1), "{got_text}");
    let n = want_lines.len() - 1;
    assert!(want_lines[..n] == got_lines[..got_lines.len() - 1], "{}", crate::harness::diff(want_lines[..n].join("\n").as_bytes(), got_lines[..got_lines.len() - 1].join("\n").as_bytes()).unwrap_or_default());
    cluster.dropdb(&ref_db);
    cluster.dropdb(&db);
}

/// Under `-v` the server's notices and warnings are printed as pg_restore prints them (its
/// notice processor logs them at info level; the archive's `client_min_messages = warning`
/// leaves the warnings): the fixture's publication and subscription draw two, with a hint.
#[test]
fn server_warnings_show_under_verbose() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let path = archive("pg18/src.custom.gzip.dump");
    let mut seen = Vec::new();
    for tool in [Tool::PgRestore18, Tool::PgRestoreAlias] {
        let db = fresh_db(cluster, "notices");
        let out = restore(tool, cluster, &db, &path, &["-v", "-O", "-x"], false);
        let text = out.stderr_text();
        let mut warnings = Vec::new();
        let mut in_warning = false;
        for line in text.lines() {
            if line.starts_with("pg_restore: WARNING:") {
                in_warning = true;
            } else if !(in_warning && (line.starts_with("HINT:") || line.starts_with("DETAIL:"))) {
                in_warning = false;
            }
            if in_warning {
                warnings.push(line.to_owned());
            }
        }
        seen.push(warnings);
        cluster.dropdb(&db);
    }
    assert!(seen[0].iter().any(|l| l.contains("wal_level")), "pg_restore printed no warnings: {:?}", seen[0]);
    assert_eq!(seen[0], seen[1]);
}

/// A pipe restored in parallel under a tiny spool budget: the temporary copy waits while the
/// restore gives back the blocks it is done with, and the database is still pg_restore's —
/// also for an archive pg_dump wrote into a pipe, whose blocks are found by scanning.
#[test]
fn pipe_restore_under_a_small_spool_budget() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let mut args = vec!["restore".to_owned(), "-j".to_owned(), "3".to_owned()];
    for name in ["pg18/big.custom.gzip.dump", "pg18/src.custom.pipe.dump"] {
        let path = archive(name);
        let (ref_db, db) = (fresh_db(cluster, "budget_ref"), fresh_db(cluster, "budget_got"));
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, &[], true);
        args.truncate(3);
        args.extend(cluster.conn_args(&db));
        let mut env = vec![("LC_ALL".to_owned(), "C".to_owned()), ("PGSURGE_SPOOL_LIMIT".to_owned(), "8k".to_owned())];
        env.extend(cluster.env());
        let got = crate::harness::run_env(&pgsurge(), &args, &env, Some(&path));
        assert_eq!(got.status, want.status, "{name}: {}", got.stderr_text());
        assert!(got.stderr_text().contains("the temporary copy of standard input took at most"), "{}", got.stderr_text());
        let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
        assert!(a == b, "{name}: {}", a.diff(&b));
        cluster.dropdb(&ref_db);
        cluster.dropdb(&db);
    }
    let path = archive("pg18/big.custom.gzip.dump");
    let bad = crate::harness::run_env(&pgsurge(), &args, &[("PGSURGE_SPOOL_LIMIT".to_owned(), "lots".to_owned())], Some(&path));
    assert_eq!(bad.status, 1, "{}", bad.stderr_text());
    assert!(bad.stderr_text().contains("invalid PGSURGE_SPOOL_LIMIT"), "{}", bad.stderr_text());
}

/// A row longer than a split load holds whole (16 MB) goes to the owner's own COPY as it
/// arrives, the rows after it are shared again, and the table loads as pg_restore loads it.
#[test]
fn split_load_streams_an_overlong_row_to_its_owner() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let src = fresh_db(cluster, "longrow_src");
    cluster.psql(
        &src,
        "CREATE TABLE wide (id int PRIMARY KEY, note text);
         INSERT INTO wide SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
         INSERT INTO wide VALUES (0, repeat('y', 20000000));
         INSERT INTO wide SELECT g, md5(g::text) FROM generate_series(200001, 400000) g;",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("longrow.dump");
    let mut args = vec!["-Fc".to_owned(), "-Z0".to_owned(), "-f".to_owned(), dump.display().to_string()];
    args.push(src.clone());
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);

    let (ref_db, db) = (fresh_db(cluster, "longrow_ref"), fresh_db(cluster, "longrow_got"));
    let want = restore(Tool::PgRestore18, cluster, &ref_db, &dump, &["-j", "3"], false);
    assert_eq!(want.status, 0, "{}", want.stderr_text());
    let report = dir.path().join("report.json");
    let got = restore(Tool::Pgsurge, cluster, &db, &dump, &["-j", "3", "--report", report.to_str().unwrap_or_default()], false);
    assert_eq!(got.status, 0, "{}", got.stderr_text());
    let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
    assert!(a == b, "{}", a.diff(&b));
    assert_eq!(cluster.psql(&db, "SELECT length(note) FROM public.wide WHERE id = 0").trim(), "20000000");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON");
    let items = json["items"].as_array().expect("items");
    let wide = items.iter().find(|i| i["desc"] == "TABLE DATA" && i["name"].as_str().is_some_and(|n| n.ends_with(".wide"))).expect("wide's data in the report");
    assert!(wide["connections"].as_u64() >= Some(2), "wide was loaded by {} connection(s)", wide["connections"]);
    assert_eq!(wide["rows"].as_u64(), Some(400_001));
    cluster.dropdb(&ref_db);
    cluster.dropdb(&db);
}

/// An archive dumped with `--inserts` holds its rows as SQL statements, which pgsurge splits
/// and sends one by one (quotes, semicolons and line breaks inside values included): the
/// database is pg_restore's.
#[test]
fn inserts_dump_restores_like_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let src = fresh_db(cluster, "inserts_src");
    cluster.psql(
        &src,
        "CREATE TABLE notes (id int PRIMARY KEY, body text);
         INSERT INTO notes SELECT g, 'it''s; a \"note\"' || E'\\n' || g FROM generate_series(1, 500) g;",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("inserts.dump");
    let mut args = vec!["-Fc".to_owned(), "--inserts".to_owned(), "-f".to_owned(), dump.display().to_string()];
    args.push(src.clone());
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);
    for jobs in [&[][..], &["-j", "2"][..]] {
        let (ref_db, db) = (fresh_db(cluster, "inserts_ref"), fresh_db(cluster, "inserts_got"));
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &dump, jobs, false);
        assert_eq!(want.status, 0, "{}", want.stderr_text());
        let got = restore(Tool::Pgsurge, cluster, &db, &dump, jobs, false);
        assert_eq!(got.status, 0, "{}", got.stderr_text());
        let (a, b) = (cluster.fingerprint(&ref_db), cluster.fingerprint(&db));
        assert!(a == b, "{jobs:?}: {}", a.diff(&b));
        assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.notes WHERE body LIKE 'it''s; a \"note\"%'").trim(), "500");
        cluster.dropdb(&ref_db);
        cluster.dropdb(&db);
    }
}
