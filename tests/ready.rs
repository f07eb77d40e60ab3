//! Ready to serve: what `pgsurge restore` adds to pg_restore's database — rows loaded frozen
//! (`COPY … FREEZE`) and planner statistics (the ANALYZE stage) — leaves that database as
//! pg_restore leaves it, is off under the `pg_restore` name (ANALYZE) or with `--no-freeze`
//! and `--no-analyze`, gives way to the statistics an archive carries, and reports a failed
//! ANALYZE as a warning that is not one of the errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

use crate::cluster::Cluster;
use crate::harness::testdata;
use crate::restore_matrix::{restore, Tool};

fn fresh_db(cluster: &Cluster, stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!("r{}_{stem}", N.fetch_add(1, Ordering::Relaxed));
    cluster.createdb(&name);
    name
}

/// The tables of the archive `archive` builds, each large enough (over 1 MB of archive
/// data: the dump is uncompressed) to load frozen but `small`.
const FROZEN: [&str; 5] = ["big", "meas_2024", "meas_2025", "parent", "kid"];

/// An uncompressed custom archive of a database with a table (indexed, referenced by a
/// foreign key), a partitioned table with two large partitions, an inheritance parent and
/// child, a small table, and `extra` SQL.
fn archive(cluster: &Cluster, dir: &Path, extra: &str) -> PathBuf {
    let src = fresh_db(cluster, "ready_src");
    cluster.psql(
        &src,
        &format!(
            "CREATE TABLE big (id int PRIMARY KEY, v text);
             INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
             CREATE INDEX big_v ON big (v);
             CREATE TABLE small (id int PRIMARY KEY, big_id int REFERENCES big);
             INSERT INTO small SELECT g, g FROM generate_series(1, 100) g;
             CREATE TABLE meas (id int, at date, v text) PARTITION BY RANGE (at);
             CREATE TABLE meas_2024 PARTITION OF meas FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             CREATE TABLE meas_2025 PARTITION OF meas FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
             INSERT INTO meas SELECT g, date '2024-01-01' + (g % 700), md5(g::text) FROM generate_series(1, 60000) g;
             CREATE INDEX ON meas (at);
             CREATE TABLE parent (id int, v text);
             CREATE TABLE kid (extra int) INHERITS (parent);
             INSERT INTO parent SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
             INSERT INTO kid SELECT g, md5(g::text), g FROM generate_series(1, 30000) g;
             {extra}"
        ),
    );
    let dump = dir.join(format!("{src}.dump"));
    let out = cluster.run("pg_dump", &["-Fc".to_owned(), "-Z0".to_owned(), "-f".to_owned(), dump.display().to_string(), src.clone()], None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);
    dump
}

/// Per table of schema public (relkind r): whether ANALYZE ran on it, and how many of its
/// rows are frozen out of how many (pageinspect reads the tuples' own flags).
fn ready_state(cluster: &Cluster, db: &str) -> Vec<(String, bool, u64)> {
    cluster.psql(db, "CREATE EXTENSION IF NOT EXISTS pageinspect");
    // t_infomask 0x0300: HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID, which together mean frozen.
    let out = cluster.psql(
        db,
        "SELECT c.relname, s.last_analyze IS NOT NULL AND c.reltuples >= 0,
                (SELECT count(*) FILTER (WHERE (t_infomask & 768) = 768)
                 FROM generate_series(0, pg_relation_size(c.oid) / 8192 - 1) p, heap_page_items(get_raw_page(c.oid::regclass::text, p::int)))
         FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
    );
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Some((f.first()?.to_string(), *f.get(1)? == "t", f.get(2)?.parse().ok()?))
        })
        .collect()
}

/// Rows of a table.
fn rows(cluster: &Cluster, db: &str, table: &str) -> u64 {
    cluster.psql(db, &format!("SELECT count(*) FROM ONLY public.{table}")).trim().parse().unwrap_or(0)
}

fn report(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("report")).expect("JSON report")
}

/// The report's items of one kind.
fn items<'a>(json: &'a Value, desc: &str) -> Vec<&'a Value> {
    json["items"].as_array().expect("items").iter().filter(|i| i["desc"] == desc).collect()
}

/// With FREEZE and ANALYZE (the defaults), serially and in parallel, from a file and a pipe:
/// pg_restore's database, every large table's rows frozen, every table loaded analyzed —
/// each ANALYZE after its table's data and indexes — and nothing more counted.
#[test]
fn frozen_and_analyzed_as_pg_restores_database() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = archive(cluster, dir.path(), "");
    let ref_db = fresh_db(cluster, "ready_ref");
    assert_eq!(restore(Tool::PgRestore18, cluster, &ref_db, &dump, &["-j", "3"], false).status, 0);
    let want = cluster.fingerprint(&ref_db);
    for (jobs, stdin) in [("1", false), ("3", false), ("2", true)] {
        let db = fresh_db(cluster, "ready");
        let path = dir.path().join(format!("report-{jobs}-{stdin}.json"));
        let out = restore(Tool::Pgsurge, cluster, &db, &dump, &["-j", jobs, "--report", path.to_str().unwrap_or_default()], stdin);
        assert_eq!(out.status, 0, "-j {jobs}: {}", out.stderr_text());
        let got = cluster.fingerprint(&db);
        assert!(want == got, "-j {jobs} stdin {stdin}: {}", want.diff(&got));
        let err = out.stderr_text();
        assert!(err.contains("planner statistics: 6 tables analyzed\n"), "-j {jobs}: {err}");
        let state = ready_state(cluster, &db);
        assert_eq!(state.len(), 6, "{state:?}");
        for (table, analyzed, frozen) in &state {
            assert!(analyzed, "-j {jobs} stdin {stdin}: {table} has no statistics");
            // From a pipe the sizes are unknown, and a worker truncates as pg_restore's do.
            if FROZEN.contains(&table.as_str()) {
                assert_eq!(*frozen, rows(cluster, &db, table), "-j {jobs} stdin {stdin}: {table}'s rows frozen");
            }
        }
        assert!(cluster.psql(&db, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'big'").trim() != "0");
        let json = report(&path);
        assert_eq!(json["totals"]["analyzed"], 6);
        assert_eq!(json["totals"]["analyze_failed"], 0);
        assert_eq!(json["totals"]["errors"], 0);
        let analyzes = items(&json, "ANALYZE");
        assert_eq!(analyzes.len(), 6);
        assert!(analyzes.iter().all(|a| a["action"] == "analyze" && a["outcome"] == "ok"), "{analyzes:?}");
        if jobs == "1" {
            assert!(json["stages"].as_array().is_some_and(|s| s.iter().any(|s| s["stage"] == "analyze")), "{}", json["stages"]);
        }
        // Each after its table's data and, for big, its indexes.
        let end = |desc: &str, name: &str| items(&json, desc).iter().find(|i| i["name"] == name).and_then(|i| i["end"].as_f64()).unwrap_or(f64::MAX);
        for a in analyzes {
            let name = a["name"].as_str().unwrap_or_default().trim_start_matches("ANALYZE ");
            let start = a["start"].as_f64().unwrap_or_default();
            assert!(start >= end("TABLE DATA", &format!("TABLE DATA {name}")), "-j {jobs}: {a} before its data");
            if name == "public.big" {
                assert!(start >= end("INDEX", "INDEX public.big_v") && start >= end("CONSTRAINT", "CONSTRAINT public.big big_pkey"), "-j {jobs}: {a} before big's indexes");
            }
        }
        cluster.dropdb(&db);
    }
    cluster.dropdb(&ref_db);
}

/// `--no-freeze` and `--no-analyze` turn each off; under the `pg_restore` name ANALYZE is
/// off unless `--analyze` asks for it, while rows still load frozen.
#[test]
fn each_can_be_turned_off_and_pg_restores_name_does_not_analyze() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = archive(cluster, dir.path(), "");
    let cases: &[(Tool, &[&str], bool, bool)] = &[
        (Tool::Pgsurge, &["-j", "1", "--no-freeze"], false, true),
        (Tool::Pgsurge, &["-j", "3", "--no-freeze"], false, true),
        (Tool::Pgsurge, &["-j", "3", "--no-analyze"], true, false),
        (Tool::Pgsurge, &["-j", "1", "--no-analyze", "--analyze"], true, true),
        (Tool::PgRestoreAlias, &[], true, false),
        (Tool::PgRestoreAlias, &["-j", "2"], true, false),
        (Tool::PgRestoreAlias, &["--analyze"], true, true),
    ];
    for &(tool, args, frozen, analyzed) in cases {
        let db = fresh_db(cluster, "ready_off");
        let out = restore(tool, cluster, &db, &dump, args, false);
        assert_eq!(out.status, 0, "{tool:?} {args:?}: {}", out.stderr_text());
        for (table, got_analyzed, got_frozen) in ready_state(cluster, &db) {
            assert_eq!(got_analyzed, analyzed, "{tool:?} {args:?}: {table} analyzed");
            if FROZEN.contains(&table.as_str()) {
                let all = rows(cluster, &db, &table);
                assert_eq!(got_frozen == all, frozen, "{tool:?} {args:?}: {table} has {got_frozen} of {all} rows frozen");
            }
        }
        if tool == Tool::PgRestoreAlias {
            assert!(!out.stderr_text().contains("planner statistics"), "pg_restore prints no summary: {}", out.stderr_text());
        }
        cluster.dropdb(&db);
    }
}

/// Statistics in the archive (pg_dump 18 `--statistics`) are restored instead of an ANALYZE;
/// left out (`--no-statistics`), ANALYZE gives them.
#[test]
fn archive_statistics_are_restored_instead_of_analyze() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dump = testdata().join("dumps/pg18/src.custom.stats.dump");
    let dir = tempfile::tempdir().expect("temp dir");
    for (args, analyzes) in [(&["-j", "2"][..], false), (&["-j", "1"][..], false), (&["-j", "2", "--no-statistics"][..], true)] {
        let db = fresh_db(cluster, "ready_stats");
        let path = dir.path().join("report.json");
        let mut all = args.to_vec();
        all.extend(["--report", path.to_str().unwrap_or_default()]);
        let out = restore(Tool::Pgsurge, cluster, &db, &dump, &all, false);
        let json = report(&path);
        assert_eq!(!items(&json, "ANALYZE").is_empty(), analyzes, "{args:?}: {}", out.stderr_text());
        let analyzed = cluster.psql(&db, "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL");
        assert_eq!(analyzed.trim() != "0", analyzes, "{args:?}");
        if !analyzes {
            assert_ne!(cluster.psql(&db, "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'events'").trim(), "0", "the archive's statistics");
        }
        cluster.dropdb(&db);
    }
}

/// An ANALYZE the server refuses (an expression statistics object dividing by zero is only
/// computed by ANALYZE) is a warning: named, reported with outcome "warning", not among the
/// errors — the exit status stays pg_restore's — and the other tables are analyzed still,
/// also those that shared its transaction.
#[test]
fn a_failed_analyze_is_a_warning() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = archive(cluster, dir.path(), "CREATE TABLE bad (a int); INSERT INTO bad SELECT generate_series(1, 10); CREATE STATISTICS bad_s ON (1 / (a - 5)) FROM bad;");
    let ref_db = fresh_db(cluster, "ready_bad_ref");
    assert_eq!(restore(Tool::PgRestore18, cluster, &ref_db, &dump, &[], false).status, 0);
    let want = cluster.fingerprint(&ref_db);
    for jobs in ["1", "2"] {
        let db = fresh_db(cluster, "ready_bad");
        let path = dir.path().join("report.json");
        let out = restore(Tool::Pgsurge, cluster, &db, &dump, &["-j", jobs, "--report", path.to_str().unwrap_or_default()], false);
        let err = out.stderr_text();
        assert_eq!(out.status, 0, "-j {jobs}: {err}");
        assert!(err.contains("warning: could not analyze table \"public.bad\", which is left without planner statistics"), "{err}");
        assert!(err.contains("ERROR:  division by zero"), "{err}");
        assert!(err.contains(" 0 errors\n"), "{err}");
        assert!(err.contains("planner statistics: 6 tables analyzed, 1 not (ANALYZE failed: a warning, not counted among the errors)"), "{err}");
        let got = cluster.fingerprint(&db);
        assert!(want == got, "-j {jobs}: {}", want.diff(&got));
        let json = report(&path);
        assert_eq!((json["totals"]["analyzed"].as_u64(), json["totals"]["analyze_failed"].as_u64(), json["totals"]["errors"].as_u64()), (Some(6), Some(1), Some(0)));
        let bad = items(&json, "ANALYZE").into_iter().find(|i| i["name"] == "ANALYZE public.bad").cloned().expect("bad's ANALYZE");
        assert_eq!(bad["outcome"], "warning");
        let state = ready_state(cluster, &db);
        assert!(state.iter().all(|(t, analyzed, _)| *analyzed == (t != "bad")), "-j {jobs}: {state:?}");
        cluster.dropdb(&db);
    }
    cluster.dropdb(&ref_db);
}
