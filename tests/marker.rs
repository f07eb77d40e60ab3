//! The restore marker on a real server: visible to another role's connection, through the
//! one query README gives app authors and through `pgsurge status`, during every stage of a
//! restore (plain, `--clean`, `--swap`); gone after a normal end; not "in progress" after
//! the restoring process is killed with `kill -9`; and `--exclusive` refusing a second
//! restore into the same database.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env};

/// The health-check query of README, word for word.
const MARKER_QUERY: &str = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgsurge restore%');";

fn new_db(cluster: &Cluster, stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let db = format!("mk{}_{stem}", N.fetch_add(1, Ordering::Relaxed));
    cluster.dropdb(&db);
    cluster.createdb(&db);
    db
}

/// A custom archive whose every stage takes a second or more: many tables (schema), rows
/// checked by a slow function (data), an index over a slow function (post-data).
fn slow_archive(cluster: &Cluster, dir: &Path) -> (PathBuf, String) {
    let src = new_db(cluster, "slow_src");
    cluster.psql(
        &src,
        "CREATE FUNCTION slow(i int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.pg_sleep(0.002) IS NOT NULL $$;
         CREATE TABLE checked (id int CHECK (public.slow(id)));
         INSERT INTO checked SELECT generate_series(1, 600);
         CREATE INDEX slow_index ON checked ((public.slow(id)));
         DO $$ BEGIN FOR i IN 1..600 LOOP EXECUTE format('CREATE TABLE many_%s (id int PRIMARY KEY, note text)', i); END LOOP; END $$;",
    );
    let dump = dir.join("slow.dump");
    let mut args = cluster.conn_args(&src);
    args.extend(["-Fc".into(), "-f".into(), dump.display().to_string()]);
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    cluster.dropdb(&src);
    (dump, src)
}

/// A role with no privileges beyond connecting, as an app's own role would be.
fn observer_role(cluster: &Cluster) -> &'static str {
    cluster.psql("postgres", "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'marker_watcher') THEN CREATE ROLE marker_watcher LOGIN; END IF; END $$;");
    "marker_watcher"
}

/// Polls, until `stop`, the marker of `db` as another role sees it (README's query) and as
/// `pgsurge status` prints it; returns the stages `status` showed and how many times the
/// query said true.
fn watch(cluster: &Cluster, db: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(BTreeSet<String>, usize)> {
    let (psql, env, role, db) = (cluster.bindir().join("psql"), cluster.env(), observer_role(cluster).to_owned(), db.to_owned());
    let status_args = {
        let mut a = vec!["status".to_owned()];
        a.extend(cluster.conn_args(&db));
        a
    };
    std::thread::spawn(move || {
        let (mut stages, mut seen) = (BTreeSet::new(), 0);
        while !stop.load(Ordering::Relaxed) {
            let out = Command::new(&psql).args(["-XAt", "-U", &role, "-d", &db, "-c", MARKER_QUERY]).envs(env.iter().filter(|(k, _)| k != "PGUSER").cloned()).output().unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "t" {
                seen += 1;
            }
            let out = run_env(&pgsurge(), &status_args, &[], None);
            let text = out.stdout_text();
            if let Some(rest) = text.split("restore running, stage ").nth(1) {
                assert_eq!(out.status, 1, "status exits 1 while a restore runs: {text}");
                let stage: String = rest.chars().take_while(|c| *c != ' ' && *c != ',').collect();
                stages.insert(stage);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (stages, seen)
    })
}

fn restore(cluster: &Cluster, db: &str, extra: &[&str], dump: &Path) -> crate::harness::Outcome {
    let mut args = vec!["restore".to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(dump.display().to_string());
    run_env(&pgsurge(), &args, &[], None)
}

fn idle(cluster: &Cluster, db: &str) -> bool {
    let mut args = vec!["status".to_owned()];
    args.extend(cluster.conn_args(db));
    let out = run_env(&pgsurge(), &args, &[], None);
    out.status == 0 && out.stdout_text().contains("no restore running")
}

#[test]
fn the_marker_is_seen_during_every_stage_and_gone_after() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (dump, dumped) = slow_archive(cluster, dir.path());
    for (stem, extra) in [("plain", vec!["-j", "2"]), ("clean", vec!["-j", "2", "--clean", "--if-exists"]), ("swap", vec!["-j", "2", "--swap"]), ("create", vec!["-j", "2", "--create"])] {
        // --create makes the archive's database, connected to another.
        let (db, connect_to) = if stem == "create" { (dumped.clone(), "postgres".to_owned()) } else { let db = new_db(cluster, stem); (db.clone(), db) };
        if stem == "clean" {
            // Something for --clean to drop first.
            let out = restore(cluster, &db, &["-j", "2"], &dump);
            assert_eq!(out.status, 0, "{}", out.stderr_text());
        }
        assert!(idle(cluster, &db));
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = watch(cluster, &db, Arc::clone(&stop));
        let out = restore(cluster, &connect_to, &extra, &dump);
        stop.store(true, Ordering::Relaxed);
        let (stages, seen) = watcher.join().unwrap();
        assert_eq!(out.status, 0, "{stem}: {}", out.stderr_text());
        assert!(seen > 0, "{stem}: another role's query never saw the marker");
        for stage in ["schema", "data", "post-data"] {
            assert!(stages.contains(stage), "{stem}: stage {stage} never seen; seen {stages:?}");
        }
        if stem == "swap" {
            assert!(stages.contains("shadow") || stages.contains("swap") || stages.contains("starting") || stages.len() >= 3, "{stages:?}");
        }
        assert!(idle(cluster, &db), "{stem}: the marker outlived the restore");
        for name in cluster.psql("postgres", &format!("SELECT datname FROM pg_database WHERE starts_with(datname, '{db}')")).lines() {
            cluster.dropdb(name);
        }
    }
}

#[test]
fn a_killed_restore_leaves_no_marker_and_exclusive_refuses_a_second() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (dump, _) = slow_archive(cluster, dir.path());
    let db = new_db(cluster, "killed");
    let mut args = vec!["restore".to_owned()];
    args.extend(cluster.conn_args(&db));
    args.extend(["--exclusive".to_owned(), dump.display().to_string()]);
    let mut child = Command::new(pgsurge()).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while idle(cluster, &db) {
        assert!(started.elapsed() < Duration::from_secs(20), "the marker never showed");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second restore with --exclusive is refused, naming the running one; nothing changes.
    let second = restore(cluster, &db, &["--exclusive"], &dump);
    assert_eq!(second.status, 1, "{}", second.stderr_text());
    assert!(second.stderr_text().contains("already running"), "{}", second.stderr_text());

    // kill -9: the marker goes with the process's connection.
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = Instant::now();
    while !idle(cluster, &db) {
        assert!(killed.elapsed() < Duration::from_secs(10), "the marker still says in progress after kill -9");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.dropdb(&db);
}
