//! Every shape of plain script pg_dump writes (`--inserts`, `--column-inserts`, `-c
//! --if-exists`, `-O -x`, `-C`), and those of pg_dump 14–17 into servers of the same version,
//! restored by pgsurge on one connection and in parallel: the database `psql -f` leaves, and
//! the same statements failing.

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, Outcome};
use crate::restore::fresh_db;

/// A database with what a restore must get right: keys between tables, an index, a view, a
/// sequence's value, text that needs quoting, a large object, a table large enough to be
/// shared between workers.
const SOURCE: &str = "
    CREATE TABLE customer (id serial PRIMARY KEY, name text NOT NULL, note text);
    INSERT INTO customer (name, note) SELECT 'c' || g, CASE WHEN g % 7 = 0 THEN E'tab\\there; ''quoted'' \\\\ back' END FROM generate_series(1, 2000) g;
    CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customer, amount numeric(10,2), at date);
    INSERT INTO orders SELECT g, 1 + g % 2000, g / 100.0, date '2026-01-01' + g % 300 FROM generate_series(1, 120000) g;
    CREATE INDEX orders_customer ON orders (customer_id);
    CREATE INDEX orders_at ON orders (at);
    CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 1000;
    SELECT setval('customer_id_seq', 5000);
    SELECT lo_from_bytea(0, 'large object bytes');
";

fn psql_f(cluster: &Cluster, db: &str, script: &std::path::Path) -> Outcome {
    let mut args = cluster.conn_args(db);
    args.extend(["-X", "-q", "-f"].map(String::from));
    args.push(script.display().to_string());
    cluster.run("psql", &args, None)
}

fn pgsurge_restore(cluster: &Cluster, db: &str, script: &std::path::Path, jobs: &str) -> Outcome {
    let mut args = vec!["restore".to_owned(), "-j".to_owned(), jobs.to_owned()];
    args.extend(cluster.conn_args(db));
    args.push(script.display().to_string());
    run_env(&pgsurge(), &args, &[("LC_ALL".to_owned(), "C".to_owned())], None)
}

/// How many statements failed (psql's `ERROR:` lines, pgsurge's counted errors).
fn psql_errors(out: &Outcome) -> usize {
    out.stderr_text().lines().filter(|l| l.contains(": ERROR:")).count()
}

fn pgsurge_errors(out: &Outcome) -> usize {
    out.stderr_text().lines().filter(|l| l.starts_with("pgsurge: error: ") && l.contains("ERROR:")).count()
}

/// Dumps `src` with `flags` and restores the script with psql and with pgsurge at -j 1 and
/// -j 3, each into a fresh database (or, for `-C`, the one the script creates), comparing.
fn compare(cluster: &Cluster, src: &str, flags: &[&str], dir: &std::path::Path) {
    let script = dir.join(format!("dump{}.sql", flags.join("").replace(['-', ' '], "_")));
    let mut args = cluster.conn_args(src);
    args.extend(flags.iter().map(|f| f.to_string()));
    args.extend(["-f".to_owned(), script.display().to_string()]);
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "{flags:?}: {}", out.stderr_text());
    let creates = flags.contains(&"-C");
    if creates {
        // The script creates the database it came from: the source moves aside.
        cluster.psql("postgres", &format!("ALTER DATABASE {src} RENAME TO {src}_moved"));
    }
    let target = |stem: &str| if creates { "postgres".to_owned() } else { fresh_db(cluster, stem) };
    let want_db = target("shape_psql");
    let want = psql_f(cluster, &want_db, &script);
    let want_print = cluster.fingerprint(if creates { src } else { &want_db });
    for jobs in ["1", "3"] {
        if creates {
            cluster.dropdb(src);
        }
        let db = target("shape_got");
        let got = pgsurge_restore(cluster, &db, &script, jobs);
        assert_eq!(pgsurge_errors(&got), psql_errors(&want), "{flags:?} -j {jobs}: {}\npsql: {}", got.stderr_text(), want.stderr_text());
        let print = cluster.fingerprint(if creates { src } else { &db });
        assert!(print == want_print, "{flags:?} -j {jobs}: {}", want_print.diff(&print));
        if !creates {
            cluster.dropdb(&db);
        }
    }
    if creates {
        cluster.dropdb(src);
        cluster.psql("postgres", &format!("ALTER DATABASE {src}_moved RENAME TO {src}"));
    } else {
        cluster.dropdb(&want_db);
    }
}

#[test]
fn every_plain_shape_of_pg_dump_restores_as_psql_runs_it() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = "shapes_src";
    cluster.psql("postgres", &format!("DROP DATABASE IF EXISTS {src}"));
    cluster.createdb(src);
    cluster.psql(src, SOURCE);
    for flags in [&[][..], &["--inserts"], &["--column-inserts", "--rows-per-insert=50"], &["-c", "--if-exists"], &["-O", "-x"], &["-C"]] {
        compare(cluster, src, flags, dir.path());
    }
    cluster.dropdb(src);
}

/// pg_dump 14–17's scripts into servers of their own version.
#[test]
fn older_pg_dumps_scripts_restore_into_their_servers() {
    for version in [14, 15, 16, 17] {
        let Some(cluster) = Cluster::shared(version) else { continue };
        let dir = tempfile::tempdir().unwrap();
        let src = "versions_src";
        cluster.psql("postgres", &format!("DROP DATABASE IF EXISTS {src}"));
        cluster.createdb(src);
        cluster.psql(src, SOURCE);
        compare(cluster, src, &[], dir.path());
        cluster.dropdb(src);
    }
}
