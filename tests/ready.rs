//! Ready to serve: rows loaded frozen (`COPY … FREEZE`) leave pg_restore's database, and
//! `--no-freeze` turns it off.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cluster::Cluster;
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

/// Per table of schema public (relkind r): how many of its rows are frozen (pageinspect
/// reads the tuples' own flags).
fn ready_state(cluster: &Cluster, db: &str) -> Vec<(String, u64)> {
    cluster.psql(db, "CREATE EXTENSION IF NOT EXISTS pageinspect");
    // t_infomask 0x0300: HEAP_XMIN_COMMITTED | HEAP_XMIN_INVALID, which together mean frozen.
    let out = cluster.psql(
        db,
        "SELECT c.relname,
                (SELECT count(*) FILTER (WHERE (t_infomask & 768) = 768)
                 FROM generate_series(0, pg_relation_size(c.oid) / 8192 - 1) p, heap_page_items(get_raw_page(c.oid::regclass::text, p::int)))
         FROM pg_class c
         WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
    );
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Some((f.first()?.to_string(), f.get(1)?.parse().ok()?))
        })
        .collect()
}

/// Rows of a table.
fn rows(cluster: &Cluster, db: &str, table: &str) -> u64 {
    cluster.psql(db, &format!("SELECT count(*) FROM ONLY public.{table}")).trim().parse().unwrap_or(0)
}

/// With FREEZE (the default), serially and in parallel, from a file and a pipe: pg_restore's
/// database, every large table's rows frozen.
#[test]
fn frozen_as_pg_restores_database() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = archive(cluster, dir.path(), "");
    let ref_db = fresh_db(cluster, "ready_ref");
    assert_eq!(restore(Tool::PgRestore18, cluster, &ref_db, &dump, &["-j", "3"], false).status, 0);
    let want = cluster.fingerprint(&ref_db);
    for (jobs, stdin) in [("1", false), ("3", false), ("2", true)] {
        let db = fresh_db(cluster, "ready");
        let out = restore(Tool::Pgsurge, cluster, &db, &dump, &["-j", jobs], stdin);
        assert_eq!(out.status, 0, "-j {jobs}: {}", out.stderr_text());
        let got = cluster.fingerprint(&db);
        assert!(want == got, "-j {jobs} stdin {stdin}: {}", want.diff(&got));
        let state = ready_state(cluster, &db);
        assert_eq!(state.len(), 6, "{state:?}");
        for (table, frozen) in &state {
            // From a pipe the sizes are unknown, and a worker truncates as pg_restore's do.
            if FROZEN.contains(&table.as_str()) {
                assert_eq!(*frozen, rows(cluster, &db, table), "-j {jobs} stdin {stdin}: {table}'s rows frozen");
            }
        }
        cluster.dropdb(&db);
    }
    cluster.dropdb(&ref_db);
}

/// `--no-freeze` turns it off; under the `pg_restore` name rows load frozen too.
#[test]
fn no_freeze_turns_it_off() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = archive(cluster, dir.path(), "");
    let cases: &[(Tool, &[&str], bool)] = &[
        (Tool::Pgsurge, &["-j", "1", "--no-freeze"], false),
        (Tool::Pgsurge, &["-j", "3", "--no-freeze"], false),
        (Tool::PgRestoreAlias, &[], true),
        (Tool::PgRestoreAlias, &["-j", "2"], true),
    ];
    for &(tool, args, frozen) in cases {
        let db = fresh_db(cluster, "ready_off");
        let out = restore(tool, cluster, &db, &dump, args, false);
        assert_eq!(out.status, 0, "{tool:?} {args:?}: {}", out.stderr_text());
        for (table, got_frozen) in ready_state(cluster, &db) {
            if FROZEN.contains(&table.as_str()) {
                let all = rows(cluster, &db, &table);
                assert_eq!(got_frozen == all, frozen, "{tool:?} {args:?}: {table} has {got_frozen} of {all} rows frozen");
            }
        }
        cluster.dropdb(&db);
    }
}
