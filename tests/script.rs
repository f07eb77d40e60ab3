//! `pgsurge restore SCRIPT -d …` against `psql -f` on a real server: the same database, the
//! same errors counted, from a plain and a gzip'd script; `-e` and `-1` stop where psql with
//! ON_ERROR_STOP stops; a refused meta-command stops the restore before anything runs.

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, testdata, Outcome};
use crate::restore::fresh_db;

/// `psql -f script` into `db`, as a user restores a plain dump, with `extra` options.
fn psql_f(cluster: &Cluster, db: &str, script: &std::path::Path, extra: &[&str]) -> Outcome {
    let mut args = cluster.conn_args(db);
    args.extend(["-X", "-q", "-f"].map(String::from));
    args.push(script.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    cluster.run("psql", &args, None)
}

fn pgsurge_restore(cluster: &Cluster, db: &str, script: &std::path::Path, extra: &[&str]) -> Outcome {
    let mut args = vec!["restore".to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(script.display().to_string());
    run_env(&pgsurge(), &args, &[("LC_ALL".to_owned(), "C".to_owned())], None)
}

/// The line of the script an error line names (`…FILE:LINE: …`).
fn line_of(error: &str) -> Option<String> {
    error.split(':').find(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())).map(str::to_owned)
}

/// The lines of the statements psql reported failing (`psql:FILE:LINE: ERROR:`).
fn psql_error_lines(out: &Outcome) -> Vec<String> {
    out.stderr_text().lines().filter(|l| l.contains(": ERROR:")).filter_map(line_of).collect()
}

/// The lines of the statements pgsurge reported failing.
fn pgsurge_error_lines(out: &Outcome) -> Vec<String> {
    out.stderr_text().lines().filter(|l| l.starts_with("pgsurge: error: ") && l.contains("ERROR:")).filter_map(line_of).collect()
}

#[test]
fn a_plain_dump_restores_as_psql_runs_it() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let sql = testdata().join("dumps/pg18/src.sql");
    // The fixture names roles and a tablespace this cluster may lack: both tools meet the
    // same errors and go on.
    let want_db = fresh_db(cluster, "script_psql");
    let want = psql_f(cluster, &want_db, &sql, &[]);
    assert_eq!(want.status, 0, "{}", want.stderr_text());
    let gz = dir.path().join("backup.sql.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(&sql).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    // Over one connection, and with workers loading its tables and building its indexes and
    // keys (from the gzip'd script's text decompressed to a temporary file).
    for (script, jobs) in [(&sql, "1"), (&sql, "4"), (&gz, "3")] {
        let db = fresh_db(cluster, "script_got");
        let got = pgsurge_restore(cluster, &db, script, &["-j", jobs, "-v"]);
        let mut errors = psql_error_lines(&want);
        assert_eq!(got.status, if errors.is_empty() { 0 } else { 1 }, "{}", got.stderr_text());
        let mut got_errors = pgsurge_error_lines(&got);
        // Workers report in the order they finish.
        errors.sort();
        got_errors.sort();
        assert_eq!(got_errors, errors, "{} -j {jobs}: the same statements fail", script.display());
        if jobs != "1" {
            assert!(got.stderr_text().contains(&format!("with {jobs} connections")), "{}", got.stderr_text());
        }
        if !errors.is_empty() {
            assert!(got.stderr_text().contains(&format!("errors ignored on restore: {}", errors.len())), "{}", got.stderr_text());
        }
        let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
        assert!(a == b, "{}: {}", script.display(), a.diff(&b));
        cluster.dropdb(&db);
    }
    cluster.dropdb(&want_db);
}

#[test]
fn exit_on_error_and_single_transaction_stop_where_psql_stops() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("failing.sql");
    std::fs::write(
        &script,
        "CREATE TABLE a (x int);\nCOPY a (x) FROM stdin;\n1\n2\n\\.\nCREATE TABLE a (x int);\nCOPY missing (x) FROM stdin;\n3\nDROP TABLE a;\n\\.\nCREATE TABLE b (y text);\nINSERT INTO b VALUES ('after');\n",
    )
    .unwrap();
    // Going on: the failed COPY's rows are skipped, never run (DROP TABLE a stays a row).
    let (want_db, db) = (fresh_db(cluster, "stop_psql"), fresh_db(cluster, "stop_got"));
    let want = psql_f(cluster, &want_db, &script, &[]);
    let got = pgsurge_restore(cluster, &db, &script, &[]);
    assert_eq!(got.status, 1);
    assert_eq!(pgsurge_error_lines(&got), ["6", "7"], "{}", got.stderr_text());
    assert_eq!(psql_error_lines(&want), ["6", "7"], "{}", want.stderr_text());
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM a").trim(), "2");
    let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
    assert!(a == b, "{}", a.diff(&b));
    // -e: stops at line 6, as psql with ON_ERROR_STOP.
    for (flags, psql_flags) in [(&["-e"][..], &["-v", "ON_ERROR_STOP=1"][..]), (&["-1"][..], &["-1", "-v", "ON_ERROR_STOP=1"][..])] {
        let (want_db, db) = (fresh_db(cluster, "stop_psql"), fresh_db(cluster, "stop_got"));
        let want = psql_f(cluster, &want_db, &script, psql_flags);
        assert_ne!(want.status, 0);
        let got = pgsurge_restore(cluster, &db, &script, flags);
        assert_eq!(got.status, 1, "{flags:?}");
        assert_eq!(pgsurge_error_lines(&got), ["6"], "{flags:?}: {}", got.stderr_text());
        let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
        assert!(a == b, "{flags:?}: {}", a.diff(&b));
        cluster.dropdb(&want_db);
        cluster.dropdb(&db);
    }
}

#[test]
fn a_refused_meta_command_stops_the_restore_before_it_starts() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let script = dir.path().join("hostile.sql");
    std::fs::write(&script, format!("CREATE TABLE first (a int);\n\\! touch {}\nCREATE TABLE second (a int);\n", marker.display())).unwrap();
    let db = fresh_db(cluster, "hostile_script");
    let got = pgsurge_restore(cluster, &db, &script, &[]);
    assert_eq!(got.status, 1);
    assert!(got.stderr_text().contains(&format!("{}:2: psql meta-command \\! is not allowed", script.display())), "{}", got.stderr_text());
    assert!(!marker.exists(), "the shell command ran");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM pg_class WHERE relname IN ('first', 'second')").trim(), "0", "nothing may run before the refusal");
    // Under the pg_restore name a script is refused as pg_restore refuses it.
    let mut args = cluster.conn_args(&db);
    args.push(script.display().to_string());
    let out = run_env(&crate::harness::pg_restore_alias(), &args, &[], None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().starts_with("pg_restore: error: "), "{}", out.stderr_text());
    cluster.dropdb(&db);
}

/// Scripts cut short or tampered with are refused before anything is sent, naming the line:
/// a backup cut short is not restored as if it were whole.
#[test]
fn damaged_and_hostile_scripts_are_refused_before_anything_runs() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read_to_string(testdata().join("dumps/pg18/src.sql")).unwrap();
    let copy_at = whole.find("\nCOPY ").unwrap() + 1;
    let rows_at = copy_at + whole[copy_at..].find('\n').unwrap() + 1;
    let key = whole.lines().find_map(|l| l.strip_prefix("\\restrict ")).unwrap().to_owned();
    let cases: Vec<(&str, String, &str)> = vec![
        ("inside the rows of a COPY", whole[..rows_at + 3].to_owned(), "ends inside the rows of this COPY"),
        ("inside a statement", whole[..copy_at + 10].to_owned(), "ends inside a statement"),
        ("between statements", whole[..copy_at].to_owned(), "closing comment"),
        ("inside a dollar quote", format!("{}CREATE FUNCTION public.f() RETURNS int AS $body$ SELECT 1;\n", &whole[..copy_at]), "ends inside a statement"),
        ("with a wrong \\unrestrict key", whole.replace(&format!("\\unrestrict {key}"), "\\unrestrict wrong"), "unrestrict"),
        ("with a meta-command inside \\restrict", whole.replacen("\nCOPY ", "\n\\o /tmp/pgsurge-out\nCOPY ", 1), "\\o"),
    ];
    for (how, text, said) in cases {
        let script = dir.path().join("damaged.sql");
        std::fs::write(&script, text).unwrap();
        let db = fresh_db(cluster, "damaged_script");
        let got = pgsurge_restore(cluster, &db, &script, &[]);
        assert_eq!(got.status, 1, "{how}: {}", got.stderr_text());
        let err = got.stderr_text();
        assert!(err.lines().any(|l| l.starts_with("pgsurge: error: ") && l.contains(said)), "{how}: {err}");
        assert_eq!(cluster.psql(&db, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").trim(), "0", "{how}: nothing may run");
        cluster.dropdb(&db);
    }
}

/// A script in LATIN1 (pg_restore's of the LATIN1 fixture: its `SET client_encoding =
/// 'LATIN1'` and non-ASCII names and rows) into a LATIN1 database: the same as psql's.
#[test]
fn a_latin1_script_restores_as_psql_runs_it() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("latin1.sql");
    let archive = testdata().join("dumps/pg18/latin1.custom.dump");
    let out = cluster.run("pg_restore", &["-f".into(), script.display().to_string(), archive.display().to_string()], None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(std::fs::read(&script).unwrap().windows(6).any(|w| w == b"t\xe9l\xe9\" "), "the script is LATIN1");
    let mut dbs = Vec::new();
    for stem in ["latin1_psql", "latin1_got"] {
        let name = format!("{stem}_{}", std::process::id());
        cluster.dropdb(&name);
        let out = cluster.run("createdb", &["-E".into(), "LATIN1".into(), "--locale=C".into(), "-T".into(), "template0".into(), name.clone()], None);
        assert_eq!(out.status, 0, "{}", out.stderr_text());
        dbs.push(name);
    }
    let want = psql_f(cluster, &dbs[0], &script, &["-v", "ON_ERROR_STOP=1"]);
    assert_eq!(want.status, 0, "{}", want.stderr_text());
    let got = pgsurge_restore(cluster, &dbs[1], &script, &["-e"]);
    assert_eq!(got.status, 0, "{}", got.stderr_text());
    let (a, b) = (cluster.fingerprint(&dbs[0]), cluster.fingerprint(&dbs[1]));
    assert!(a == b, "{}", a.diff(&b));
    for db in &dbs {
        cluster.dropdb(db);
    }
}

/// A script on standard input, as `psql` is fed one: redirected from a file, and gzip'd
/// through a pipe. An archive through a pipe still restores as one after the peek.
#[test]
fn a_script_on_standard_input_restores_as_from_the_file() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let sql = testdata().join("dumps/pg18/src.sql");
    let want_db = fresh_db(cluster, "stdin_want");
    let want = pgsurge_restore(cluster, &want_db, &sql, &[]);
    // Whether the fixture's roles exist depends on what ran on this cluster before.
    assert!(want.status <= 1, "{}", want.stderr_text());
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(&sql).unwrap()).unwrap();
    let gz = enc.finish().unwrap();
    let archive = std::fs::read(testdata().join("dumps/pg18/src.custom.gzip.dump")).unwrap();
    // Over one connection, and in parallel from the copy of standard input.
    for (how, bytes, jobs) in [("redirected", None, "1"), ("gzip'd through a pipe", Some(gz.clone()), "1"), ("gzip'd through a pipe, in parallel", Some(gz), "3"), ("an archive through a pipe", Some(archive), "1")] {
        let db = fresh_db(cluster, "stdin_got");
        let mut args = vec!["restore".to_owned(), "-j".to_owned(), jobs.to_owned()];
        args.extend(cluster.conn_args(&db));
        let env = [("LC_ALL".to_owned(), "C".to_owned())];
        let got = match bytes {
            None => run_env(&pgsurge(), &args, &env, Some(&sql)),
            Some(bytes) => crate::harness::run_input(&pgsurge(), &args, &env, Some(bytes)),
        };
        if how.starts_with("an archive") {
            assert!(!got.stderr_text().contains("copying the script"), "{how}: {}", got.stderr_text());
        } else {
            assert_eq!(got.status, want.status, "{how}: {}", got.stderr_text());
            let (mut got_lines, mut want_lines) = (pgsurge_error_lines(&got), pgsurge_error_lines(&want));
            got_lines.sort();
            want_lines.sort();
            assert_eq!(got_lines, want_lines, "{how}");
        }
        let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
        assert!(a == b, "{how}: {}", a.diff(&b));
        cluster.dropdb(&db);
    }
    cluster.dropdb(&want_db);
}

/// A whole cluster's script (`pg_dumpall`: roles, two databases, `\connect` between them)
/// restored into a server where none of it exists: the same roles and databases as `psql -f`
/// leaves, on a private cluster (it creates roles and databases).
#[test]
fn a_pg_dumpall_script_restores_as_psql_runs_it() {
    if crate::cluster::pg_bindir_or_skip(18).is_none() {
        return;
    }
    let cluster = Cluster::start(18);
    let dir = tempfile::tempdir().unwrap();
    let setup = "CREATE ROLE app_owner LOGIN; CREATE ROLE app_reader;
                 CREATE DATABASE shop OWNER app_owner; CREATE DATABASE \"blog db\";";
    cluster.psql("postgres", setup);
    cluster.psql("shop", "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 500) g;
                          ALTER TABLE items OWNER TO app_owner; GRANT SELECT ON items TO app_reader;");
    cluster.psql("blog db", "CREATE TABLE posts (id serial PRIMARY KEY, body text); INSERT INTO posts (body) VALUES ('a;b'), (E'multi\\nline'), ('$$');");
    let script = dir.path().join("cluster.sql");
    let out = cluster.run("pg_dumpall", &["-f".into(), script.display().to_string()], None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let teardown = "DROP DATABASE shop; DROP DATABASE \"blog db\"; DROP ROLE app_owner; DROP ROLE app_reader;";
    let state = |cluster: &Cluster| {
        let roles = cluster.psql("postgres", "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'app_%' ORDER BY 1");
        (roles, cluster.fingerprint("shop"), cluster.fingerprint("blog db"))
    };
    cluster.psql("postgres", teardown);
    let want = psql_f(&cluster, "postgres", &script, &[]);
    let want_state = state(&cluster);
    cluster.psql("postgres", teardown);
    // Its databases' tables and keys loaded by workers that follow each \connect.
    let got = pgsurge_restore(&cluster, "postgres", &script, &["-j", "3"]);
    // The script creates the role it runs as (postgres), which exists: one error each.
    assert_eq!(pgsurge_error_lines(&got), psql_error_lines(&want), "{}", got.stderr_text());
    let got_state = state(&cluster);
    assert_eq!(got_state.0, want_state.0);
    assert!(got_state.1 == want_state.1, "shop: {}", want_state.1.diff(&got_state.1));
    assert!(got_state.2 == want_state.2, "blog db: {}", want_state.2.diff(&got_state.2));
    assert_eq!(cluster.psql("blog db", "SELECT count(*) FROM posts").trim(), "3");

    // pg_dumpall --clean drops each database before making it again, the one connected to
    // first among them (after `\connect template1`): workers left there would stop it.
    let clean = dir.path().join("cluster-clean.sql");
    let out = cluster.run("pg_dumpall", &["--clean".into(), "-f".into(), clean.display().to_string()], None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let want = psql_f(&cluster, "postgres", &clean, &[]);
    let want_state = state(&cluster);
    let got = pgsurge_restore(&cluster, "postgres", &clean, &["-j", "3"]);
    let (mut got_lines, mut want_lines) = (pgsurge_error_lines(&got), psql_error_lines(&want));
    got_lines.sort();
    want_lines.sort();
    assert_eq!(got_lines, want_lines, "{}\npsql: {}", got.stderr_text(), want.stderr_text());
    let got_state = state(&cluster);
    assert_eq!(got_state.0, want_state.0);
    assert!(got_state.1 == want_state.1, "shop: {}", want_state.1.diff(&got_state.1));
    assert!(got_state.2 == want_state.2, "blog db: {}", want_state.2.diff(&got_state.2));
}

/// `--report` for a script: the same JSON report as for an archive, its source a plain
/// script with the versions its opening comments name.
#[test]
fn a_script_restore_writes_its_report() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let db = fresh_db(cluster, "script_report");
    let sql = testdata().join("dumps/pg18/src.sql");
    let got = pgsurge_restore(cluster, &db, &sql, &["--report", report.to_str().unwrap()]);
    assert!(got.status <= 1, "{}", got.stderr_text());
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(doc["archive"]["format"], "plain");
    assert_eq!(doc["archive"]["dumped_by"], "18.6");
    assert_eq!(doc["totals"]["rows"].as_u64(), Some(491), "{doc}");
    assert_eq!(doc["totals"]["tables"].as_u64(), Some(17));
    let items = doc["items"].as_array().unwrap();
    assert!(items.iter().any(|i| i["desc"] == "TABLE DATA" && i["name"].as_str().is_some_and(|n| n.contains("Order Items"))), "{doc}");
    cluster.dropdb(&db);
}

/// A table of a script over the size an archive's is shared at: idle workers load parts of
/// it beside the one that owns it (each part in the report, on its own connection), its
/// indexes are built side by side after it, and the database is psql's.
#[test]
fn a_large_table_of_a_script_is_loaded_by_several_workers() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = fresh_db(cluster, "script_big_src");
    cluster.psql(
        &src,
        "CREATE TABLE big (id int PRIMARY KEY, k int, note text);
         INSERT INTO big SELECT g, g % 1000, repeat('x', 60) || g FROM generate_series(1, 160000) g;
         CREATE INDEX big_k ON big (k); CREATE INDEX big_note ON big (note);
         CREATE TABLE small (id int PRIMARY KEY, big_id int REFERENCES big); INSERT INTO small SELECT g, g FROM generate_series(1, 100) g;",
    );
    let script = dir.path().join("big.sql");
    let out = cluster.run("pg_dump", &[cluster.conn_args(&src), vec!["-f".into(), script.display().to_string()]].concat(), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let want_db = fresh_db(cluster, "script_big_psql");
    assert_eq!(psql_f(cluster, &want_db, &script, &["-v", "ON_ERROR_STOP=1"]).status, 0);
    let db = fresh_db(cluster, "script_big_got");
    let report = dir.path().join("report.json");
    let got = pgsurge_restore(cluster, &db, &script, &["-j", "3", "--report", report.to_str().unwrap()]);
    assert_eq!(got.status, 0, "{}", got.stderr_text());
    let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
    assert!(a == b, "{}", a.diff(&b));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let items = doc["items"].as_array().unwrap();
    let owner = items.iter().find(|i| i["desc"] == "TABLE DATA" && i["name"].as_str().is_some_and(|n| n.contains("big")) && i["action"] != "part").unwrap_or_else(|| panic!("{doc}"));
    let parts: Vec<_> = items.iter().filter(|i| i["action"] == "part").collect();
    assert!(!parts.is_empty(), "no part loaded by an idle worker: {doc}");
    assert!(parts.iter().all(|p| p["connection"] != owner["connection"]), "{doc}");
    assert_eq!(doc["totals"]["rows"].as_u64(), Some(160_100), "{doc}");
    for d in [&src, &want_db, &db] {
        cluster.dropdb(d);
    }
}

/// `pgsurge list backup.sql` names the objects pg_restore -l lists for the same database's
/// archive (the script has no entry for what pg_dump writes no comment for, such as
/// ENCODING); under the pg_restore name a script is refused.
#[test]
fn a_script_lists_what_its_archive_lists() {
    let sql = testdata().join("dumps/pg18/src.sql");
    let archive = testdata().join("dumps/pg18/src.custom.gzip.dump");
    let listed = run_env(&pgsurge(), &["list".to_owned(), sql.display().to_string()], &[], None);
    assert_eq!(listed.status, 0, "{}", listed.stderr_text());
    let archive_listed = run_env(&pgsurge(), &["list".to_owned(), archive.display().to_string()], &[], None);
    let archive_lines: Vec<String> = archive_listed.stdout_text().lines().filter(|l| !l.starts_with(';')).map(str::to_owned).collect();
    let objects: Vec<String> = listed.stdout_text().lines().filter(|l| !l.starts_with(';')).map(|l| l.split_once("; ").map(|(_, rest)| rest.to_owned()).unwrap_or_default()).collect();
    assert!(objects.len() > 100, "{}", listed.stdout_text());
    // The script is in restore order (its ACLs last), the listing in TOC order: each object
    // of the script is one of the listing's, each listing line taken once.
    let mut unused: Vec<&String> = archive_lines.iter().collect();
    for object in &objects {
        let at = unused.iter().position(|l| l.ends_with(&format!(" {object}"))).unwrap_or_else(|| panic!("{object} is not in the archive's listing (or twice in the script)"));
        unused.remove(at);
    }
    let out = run_env(&crate::harness::pg_restore_alias(), &["-l".to_owned(), sql.display().to_string()], &[], None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().contains("appears to be a text format dump"), "{}", out.stderr_text());
}
