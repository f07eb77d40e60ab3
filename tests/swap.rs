//! `pgsurge restore --swap` on a real server: the archive restored into a new database beside
//! the live one and swapped in by rename while other clients keep querying the live one —
//! each query sees the old data or the new, never an empty or half-restored database; the
//! live database's settings, comment and privileges carried over; a restore that fails
//! before the swap leaving the live database untouched and the new one dropped (or kept
//! with `--keep-failed`); sessions that stay, waited for or ended; `rollback` bringing the
//! old data back exactly; `snapshots` and `--keep-safety-copies`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, Outcome};

/// A database `NAME` whose table `t` holds `old` rows of 'old', and a custom archive of the
/// same database holding `new` rows of 'new' (with an index and a primary key).
fn live_and_dump(cluster: &Cluster, dir: &Path, stem: &str, new: u32, old: u32) -> (String, PathBuf) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let db = format!("sw{}_{stem}", N.fetch_add(1, Ordering::Relaxed));
    cluster.dropdb(&db);
    cluster.createdb(&db);
    cluster.psql(&db, &format!("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX ON t (v); INSERT INTO t SELECT g, 'new' FROM generate_series(1, {new}) g;"));
    let dump = dir.join(format!("{db}.dump"));
    let mut args = cluster.conn_args(&db);
    args.extend(["-Fc".into(), "-f".into(), dump.display().to_string()]);
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.psql(&db, &format!("TRUNCATE t; INSERT INTO t SELECT g, 'old' FROM generate_series(1, {old}) g;"));
    (db, dump)
}

fn pgsurge_in(cluster: &Cluster, command: &str, db: &str, extra: &[&str]) -> Outcome {
    let mut args = vec![command.to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    run_env(&pgsurge(), &args, &[("LC_ALL".to_owned(), "C".to_owned())], None)
}

/// The databases whose name starts with `prefix`, sorted.
fn databases(cluster: &Cluster, prefix: &str) -> Vec<String> {
    let sql = format!("SELECT datname FROM pg_database WHERE starts_with(datname, '{}') ORDER BY 1", prefix.replace('\'', "''"));
    cluster.psql("postgres", &sql).lines().map(str::to_owned).collect()
}

/// Drops `db` and every database named after it (its shadows and safety copies).
fn drop_all(cluster: &Cluster, db: &str) {
    for name in databases(cluster, db) {
        cluster.dropdb(&name);
    }
}

/// `count|min(v)` of table `t`.
fn contents(cluster: &Cluster, db: &str) -> String {
    cluster.psql(db, "SELECT count(*) || '|' || coalesce(min(v), '') FROM t").trim().to_owned()
}

/// A shell loop querying `t` in `db` over a new connection each time, as clients of a
/// pooled app reconnecting do, until `stop` exists; one line per attempt in `log`.
fn query_loop(cluster: &Cluster, db: &str, stop: &Path, log: &Path) -> Child {
    let psql = cluster.bindir().join("psql");
    let script = format!(
        "while [ ! -e '{stop}' ]; do '{psql}' -XAt -d '{db}' -c \"SELECT 'rows ' || count(*) || ' ' || coalesce(min(v), '-') FROM t\" 2>&1 | tr '\\n' ' '; echo; done > '{log}'",
        stop = stop.display(),
        psql = psql.display(),
        log = log.display()
    );
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).stdin(Stdio::null());
    for (k, v) in cluster.env() {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

#[test]
fn swap_while_clients_query_sees_old_or_new_never_half() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (db, dump) = live_and_dump(cluster, dir.path(), "loop", 200_000, 1_000);
    let (stop, log) = (dir.path().join("stop"), dir.path().join("log"));
    let mut looping = query_loop(cluster, &db, &stop, &log);
    // A session that stays connected, as a pool's does: --terminate ends it at the swap.
    let pooled = Command::new(cluster.bindir().join("psql"))
        .args(["-XAt", "-d", &db, "-c", "SELECT pg_sleep(600)"])
        .envs(cluster.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));

    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--terminate", "-j", "2", &dump.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let said = out.stderr_text();
    assert!(said.contains("swapped in") && said.contains("unavailable for"), "{said}");
    // Clients keep querying a little after the swap, and then stop.
    std::thread::sleep(std::time::Duration::from_millis(500));
    std::fs::write(&stop, b"").unwrap();
    looping.wait().unwrap();
    let pooled_end = pooled.wait_with_output().unwrap();
    assert!(!pooled_end.status.success(), "the pooled session should have been ended");

    let text = std::fs::read_to_string(&log).unwrap();
    let (mut old, mut new, mut refused) = (0, 0, 0);
    for line in text.lines() {
        let line = line.trim();
        if line == "rows 1000 old" {
            old += 1;
        } else if line == "rows 200000 new" {
            new += 1;
        } else if line.contains("FATAL") || line.contains("terminat") || line.contains("server closed the connection") {
            // The instant of the swap: connections are refused, never let into a database
            // being filled.
            refused += 1;
        } else {
            panic!("a client saw neither the old data nor the new: {line:?}\nwhole log:\n{text}\nrestore said:\n{said}");
        }
    }
    assert!(old > 0 && new > 0, "old {old}, new {new}, refused {refused}:\n{text}");
    assert_eq!(contents(cluster, &db), "200000|new");
    let copies = databases(cluster, &format!("{db}_before_"));
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_eq!(contents(cluster, &copies[0]), "1000|old");
    assert!(databases(cluster, &format!("{db}_restoring_")).is_empty());
    // The report of the unavailable window is in the JSON report too: see `swap_reports_and_rolls_back`.
    drop_all(cluster, &db);
}

/// Gives `db` database-level properties a swap must carry over: settings (a list one among
/// them), a per-role setting, a comment, privileges.
fn set_properties(cluster: &Cluster, db: &str) {
    let quoted = format!("\"{db}\"");
    cluster.psql(
        "postgres",
        &format!(
            "ALTER DATABASE {quoted} SET work_mem = '7MB'; ALTER DATABASE {quoted} SET search_path = \"$user\", public, extra; ALTER DATABASE {quoted} SET app.tenant = 'acme'; COMMENT ON DATABASE {quoted} IS 'the shop''s database'; \
             DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'swap_reader') THEN CREATE ROLE swap_reader; END IF; END $$; REVOKE ALL ON DATABASE {quoted} FROM PUBLIC; GRANT CONNECT ON DATABASE {quoted} TO swap_reader; ALTER ROLE swap_reader IN DATABASE {quoted} SET statement_timeout = '5s';"
        ),
    );
}

/// `db`'s database-level properties, for comparison.
fn properties(cluster: &Cluster, name: &str) -> String {
    cluster.psql(
        "postgres",
        &format!(
            "SELECT coalesce(array_agg(r.rolname || ':' || array_to_string(s.setconfig, ',') ORDER BY r.rolname || ':' || array_to_string(s.setconfig, ',')), '{{}}') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = '{name}';
             SELECT coalesce(array_agg(s.setconfig), '{{}}') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{name}' AND s.setrole = 0;
             SELECT shobj_description(oid, 'pg_database'), datacl::text, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit FROM pg_database WHERE datname = '{name}';"
        ),
    )
}

#[test]
fn swap_on_every_major_carries_the_database_properties() {
    for major in [14, 15, 16, 17] {
        let Some(cluster) = Cluster::shared(major) else { continue };
        let dir = tempfile::tempdir().unwrap();
        let (db, dump) = live_and_dump(cluster, dir.path(), &format!("pg{major}"), 300, 20);
        set_properties(cluster, &db);
        cluster.psql("postgres", &format!("ALTER DATABASE \"{db}\" CONNECTION LIMIT 50"));
        let before = properties(cluster, &db);
        let out = pgsurge_in(cluster, "restore", &db, &["--swap", "-j", "2", &dump.display().to_string()]);
        assert_eq!(out.status, 0, "{major}: {}", out.stderr_text());
        assert_eq!(contents(cluster, &db), "300|new", "{major}");
        assert_eq!(properties(cluster, &db), before, "{major}: the new database's properties differ from the live one's");
        drop_all(cluster, &db);
    }
}

#[test]
fn swap_reports_and_rolls_back() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (db, dump) = live_and_dump(cluster, dir.path(), "rollback", 500, 300);
    set_properties(cluster, &db);
    let before = properties(cluster, &db);
    let report = dir.path().join("report.json");
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--report", &report.display().to_string(), &dump.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert_eq!(contents(cluster, &db), "500|new");
    assert_eq!(properties(cluster, &db), before, "the new database's properties differ from the live one's");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let swap = &json["swap"];
    assert_eq!(swap["database"], db.as_str(), "{json}");
    assert!(swap["unavailable_ms"].as_u64().is_some(), "{swap}");
    let copy = swap["safety_copy"].as_str().unwrap().to_owned();
    assert!(copy.starts_with(&format!("{db}_before_")), "{copy}");

    // snapshots lists it; rollback brings the old data back, keeping the replaced one.
    let listed = pgsurge_in(cluster, "snapshots", &db, &["--json"]);
    assert_eq!(listed.status, 0, "{}", listed.stderr_text());
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["name"], copy.as_str(), "{listed}");
    let old_fingerprint = cluster.fingerprint(&copy);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a new second: a new safety copy name
    let back = pgsurge_in(cluster, "rollback", &db, &[]);
    assert_eq!(back.status, 0, "{}", back.stderr_text());
    assert_eq!(contents(cluster, &db), "300|old");
    let now = cluster.fingerprint(&db);
    assert!(now == old_fingerprint, "rolled back database differs from the safety copy it was:\n{}", now.diff(&old_fingerprint));
    let copies = databases(cluster, &format!("{db}_before_"));
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert_ne!(copies[0], copy);
    assert_eq!(contents(cluster, &copies[0]), "500|new");

    // Two more swaps, keeping one copy: the older ones go.
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", &dump.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--keep-safety-copies", "1", &dump.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("older safety cop"), "{}", out.stderr_text());
    assert_eq!(databases(cluster, &format!("{db}_before_")).len(), 1);
    drop_all(cluster, &db);
    cluster.psql("postgres", "DROP ROLE IF EXISTS swap_reader");
}

#[test]
fn a_restore_that_fails_before_the_swap_leaves_the_live_database_untouched() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (db, dump) = live_and_dump(cluster, dir.path(), "failing", 100, 40);
    // A role the archive needs and the server lacks: the table's owner.
    cluster.psql("postgres", "DROP ROLE IF EXISTS swap_gone; CREATE ROLE swap_gone");
    cluster.psql(&db, "CREATE TABLE owned (x int); ALTER TABLE owned OWNER TO swap_gone;");
    let owned_dump = dir.path().join("owned.dump");
    let mut args = cluster.conn_args(&db);
    args.extend(["-Fc".into(), "-f".into(), owned_dump.display().to_string()]);
    assert_eq!(cluster.run("pg_dump", &args, None).status, 0);
    cluster.psql(&db, "DROP TABLE owned");
    cluster.psql("postgres", "DROP ROLE swap_gone");

    // The restore's errors (here a missing role, with --force past the checks) prevent the swap.
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--force", &owned_dump.display().to_string()]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("not swapped in"), "{}", out.stderr_text());
    assert_eq!(contents(cluster, &db), "40|old");
    assert!(databases(cluster, &format!("{db}_restoring_")).is_empty(), "the new database should be dropped");
    assert!(databases(cluster, &format!("{db}_before_")).is_empty());

    // --keep-failed keeps it.
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--force", "--keep-failed", &owned_dump.display().to_string()]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert_eq!(databases(cluster, &format!("{db}_restoring_")).len(), 1);
    assert_eq!(contents(cluster, &db), "40|old");

    // A session that stays on the live database without --terminate: the swap waits for it,
    // then gives up, the live database untouched and open.
    let mut stays = Command::new(cluster.bindir().join("psql"))
        .args(["-XAt", "-d", &db, "-c", "SELECT pg_sleep(600)"])
        .envs(cluster.env())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", "--swap-timeout", "1", &dump.display().to_string()]);
    let _ = stays.kill();
    let _ = stays.wait();
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("still connected"), "{}", out.stderr_text());
    assert_eq!(contents(cluster, &db), "40|old");
    assert_eq!(cluster.psql("postgres", &format!("SELECT datallowconn FROM pg_database WHERE datname = '{db}'")).trim(), "t");
    drop_all(cluster, &db);
}

#[test]
fn swap_options_are_checked_before_anything() {
    let Some(cluster) = Cluster::shared(18) else { return };
    for (args, said) in [
        (vec!["--swap", "--create"], "leave out --create"),
        (vec!["--terminate"], "--terminate applies only with --swap"),
        (vec!["--swap", "--swap-timeout", "soon"], "invalid value \"soon\" for option --swap-timeout"),
        (vec!["--swap", "--keep-safety-copies", "-1"], "--keep-safety-copies"),
    ] {
        let mut all = args.clone();
        all.push("nothing.dump");
        let out = pgsurge_in(cluster, "restore", "postgres", &all);
        assert_eq!(out.status, 1, "{args:?}: {}", out.stderr_text());
        assert!(out.stderr_text().contains(said), "{args:?}: {}", out.stderr_text());
    }
    let out = run_env(&pgsurge(), &["restore".into(), "--swap".into(), "-l".into(), "x.dump".into()], &[], None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().contains("--swap applies only when restoring into a database"), "{}", out.stderr_text());
    let out = pgsurge_in(cluster, "rollback", "sw_never_swapped", &[]);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().contains("no safety copy"), "{}", out.stderr_text());
}

#[test]
fn the_archives_database_properties_win_over_the_live_ones() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    static N: AtomicUsize = AtomicUsize::new(0);
    let src = format!("swprops{}_src", N.fetch_add(1, Ordering::Relaxed));
    cluster.dropdb(&src);
    cluster.createdb(&src);
    cluster.psql(&src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'new');");
    cluster.psql("postgres", &format!("ALTER DATABASE \"{src}\" SET work_mem = '9MB'; COMMENT ON DATABASE \"{src}\" IS 'from the archive';"));
    let dump = dir.path().join("props.dump");
    let mut args = cluster.conn_args(&src);
    args.extend(["-Fc".into(), "-f".into(), dump.display().to_string()]);
    assert_eq!(cluster.run("pg_dump", &args, None).status, 0);
    cluster.dropdb(&src);

    let (db, _) = live_and_dump(cluster, dir.path(), "props", 1, 1);
    cluster.psql("postgres", &format!("ALTER DATABASE \"{db}\" SET work_mem = '7MB'; ALTER DATABASE \"{db}\" SET statement_timeout = '3s'; COMMENT ON DATABASE \"{db}\" IS 'the live one';"));
    let out = pgsurge_in(cluster, "restore", &db, &["--swap", &dump.display().to_string()]);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let settings = cluster.psql("postgres", &format!("SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{db}' AND s.setrole = 0"));
    assert!(settings.contains("work_mem=9MB") && settings.contains("statement_timeout=3s") && !settings.contains("7MB"), "{settings}");
    let comment = cluster.psql("postgres", &format!("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db}'"));
    assert_eq!(comment.trim(), "from the archive");
    drop_all(cluster, &db);
}
