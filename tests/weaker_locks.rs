//! Constraints of large tables added in two steps whose locks let other work on the same
//! tables run beside them: foreign keys added `NOT VALID` and then validated
//! (`--no-validate-later` adds them as pg_dump wrote them), primary keys and unique
//! constraints built as a unique index first (`--index-first`). The database and the
//! errors are pg_restore's, whether the steps succeed or not.

use std::path::{Path, PathBuf};

use crate::cluster::{pg_bindir_or_skip, Cluster, Fingerprint};
use crate::harness::Outcome;
use crate::restore::fresh_db;
use crate::restore_matrix::{restore, Tool};

/// Sorted error lines, their commands and the count of errors ignored.
fn failures(stderr: &str) -> Vec<String> {
    let mut lines: Vec<String> = stderr.lines().filter(|l| l.contains("error: ") || l.starts_with("Command was:") || l.contains("errors ignored on restore")).map(|l| l.replace("pg_restore: ", "")).collect();
    lines.sort();
    lines
}

/// Restores `path` as `pg_restore` (pgsurge) with `args` into `db` and requires pg_restore's
/// outcome `want` there: exit status, errors with their commands and count, and database
/// (`want_fp`). Returns what the server logged meanwhile.
fn restore_as(cluster: &Cluster, db: &str, path: &Path, args: &[&str], want: &Outcome, want_fp: &Fingerprint) -> String {
    let logged = cluster.server_log().len();
    let got = restore(Tool::PgRestoreAlias, cluster, db, path, args, false);
    let how = format!("PostgreSQL {} {args:?}", cluster.major());
    assert_eq!(got.status, want.status, "{how}: {}", got.stderr_text());
    assert_eq!(failures(&got.stderr_text()), failures(&want.stderr_text()), "{how}\n--- pg_restore:\n{}\n--- pgsurge:\n{}", want.stderr_text(), got.stderr_text());
    let fp = cluster.fingerprint(db);
    assert!(&fp == want_fp, "{how}: {}", want_fp.diff(&fp));
    cluster.server_log().split_off(logged)
}

/// An uncompressed custom archive: two tables of over 1 MB of data each referencing `p` (one
/// key with a name that needs quoting, deferrable), and a small one; without `p`'s rows if
/// `broken`, so that no key holds.
fn archive(cluster: &Cluster, dir: &Path, broken: bool) -> PathBuf {
    let src = fresh_db(cluster, "later_src");
    cluster.psql(
        &src,
        "CREATE TABLE p (id int PRIMARY KEY);
         INSERT INTO p SELECT generate_series(1, 10);
         CREATE TABLE a (id int PRIMARY KEY, p_id int REFERENCES p, v text);
         INSERT INTO a SELECT g, g % 10 + 1, md5(g::text) FROM generate_series(1, 40000) g;
         CREATE TABLE b (id int, p_id int, v text, CONSTRAINT \"b fk \"\"x\"\"\" FOREIGN KEY (p_id) REFERENCES p DEFERRABLE INITIALLY DEFERRED);
         INSERT INTO b SELECT g, g % 10 + 1, md5(g::text) FROM generate_series(1, 40000) g;
         CREATE TABLE s (id int, p_id int REFERENCES p);
         INSERT INTO s VALUES (1, 1), (2, 2);",
    );
    let dump = dir.join(format!("{src}.dump"));
    let mut args = vec!["-Fc".to_owned(), "-Z0".to_owned(), "-f".to_owned(), dump.display().to_string()];
    if broken {
        args.push("--exclude-table-data=p".to_owned());
    }
    args.push(src.clone());
    let out = cluster.run("pg_dump", &args, None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);
    dump
}

/// In parallel, the large tables' keys are added `NOT VALID` and validated (the server's log
/// shows `VALIDATE CONSTRAINT`), the small table's as written; with `--no-validate-later`
/// all as written. Either way the database, the errors and their count are pg_restore 18's:
/// with the rows satisfying the keys, and with no row of the referenced table, where every
/// key fails and none is left behind.
#[test]
fn large_tables_keys_are_validated_after_and_end_as_pg_restores() {
    if pg_bindir_or_skip(18).is_none() {
        return;
    }
    let cluster = Cluster::start_with(18, "log_statement = 'ddl'");
    let dir = tempfile::tempdir().unwrap();
    for broken in [false, true] {
        let path = archive(&cluster, dir.path(), broken);
        let ref_db = fresh_db(&cluster, "later_ref");
        let want = restore(Tool::PgRestore18, &cluster, &ref_db, &path, &["-j", "2"], false);
        let want_fp = cluster.fingerprint(&ref_db);
        let violations = failures(&want.stderr_text()).iter().filter(|l| l.contains("violates foreign key constraint")).count();
        assert_eq!(violations, if broken { 3 } else { 0 }, "{}", want.stderr_text());
        for extra in [&[][..], &["--no-validate-later"][..]] {
            let db = fresh_db(&cluster, "later_got");
            let args: Vec<&str> = ["-j", "2"].iter().chain(extra).copied().collect();
            let log = restore_as(&cluster, &db, &path, &args, &want, &want_fp);
            let later = extra.is_empty();
            assert_eq!(log.contains("ALTER TABLE ONLY public.a VALIDATE CONSTRAINT a_p_id_fkey;"), later, "{args:?}: a's key\n{log}");
            assert_eq!(log.contains("ALTER TABLE ONLY public.b VALIDATE CONSTRAINT \"b fk \"\"x\"\"\";"), later, "{args:?}: b's key\n{log}");
            assert!(!log.contains("VALIDATE CONSTRAINT s_p_id_fkey"), "the small table's key is added as written\n{log}");
            let valid = cluster.psql(&db, "SELECT string_agg(conname || ' ' || convalidated, ', ' ORDER BY conname) FROM pg_constraint WHERE contype = 'f'");
            let want_valid = if broken { "" } else { "a_p_id_fkey true, b fk \"x\" true, s_p_id_fkey true" };
            assert_eq!(valid.trim(), want_valid, "{args:?}");
            cluster.dropdb(&db);
        }
        cluster.dropdb(&ref_db);
    }
}

/// An uncompressed custom archive of a table of over 1 MB of data with a primary key, a
/// unique constraint with included columns and a storage parameter, and an index, in a schema
/// whose name needs quoting; and a small table with a primary key.
fn keyed_archive(cluster: &Cluster, dir: &Path) -> PathBuf {
    let src = fresh_db(cluster, "first_src");
    cluster.psql(
        &src,
        "CREATE SCHEMA \"S x\";
         CREATE TABLE \"S x\".big (id int PRIMARY KEY, v text, w text, CONSTRAINT \"big v\" UNIQUE (v) INCLUDE (w) WITH (fillfactor = 70));
         INSERT INTO \"S x\".big SELECT g, md5(g::text), md5((-g)::text) FROM generate_series(1, 30000) g;
         CREATE INDEX big_w ON \"S x\".big (w);
         CREATE TABLE \"S x\".small (id int PRIMARY KEY);
         INSERT INTO \"S x\".small VALUES (1), (2);",
    );
    let dump = dir.join(format!("{src}.dump"));
    let out = cluster.run("pg_dump", &["-Fc".to_owned(), "-Z0".to_owned(), "-f".to_owned(), dump.display().to_string(), src.clone()], None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(&src);
    dump
}

/// In parallel with `--index-first`, the large table's primary key and unique constraint are
/// built as unique indexes first (the server's log shows `CREATE UNIQUE INDEX`), the small table's as
/// written; without `--index-first` all as written. Either way the database is pg_restore
/// 18's (the schema dump equal: names, columns, included columns, storage parameters), on
/// the oldest server and the newest; and where the index's name is taken, the error, its
/// command and the count are pg_restore's.
#[test]
fn large_tables_keys_are_built_as_unique_indexes_first_and_end_as_pg_restores() {
    for major in [14, 18] {
        if pg_bindir_or_skip(major).is_none() {
            continue;
        }
        let cluster = Cluster::start_with(major, "log_statement = 'ddl'");
        let dir = tempfile::tempdir().unwrap();
        let path = keyed_archive(&cluster, dir.path());
        for taken in [false, true] {
            let setup = "CREATE SCHEMA \"S x\"; CREATE TABLE \"S x\".holder (x int); CREATE INDEX big_pkey ON \"S x\".holder (x)";
            let ref_db = fresh_db(&cluster, "first_ref");
            if taken {
                cluster.psql(&ref_db, setup);
            }
            // pg_restore 18's preamble fails on servers before 17 (`SET transaction_timeout`, a
            // counted error pgsurge does not copy): there pgsurge adding the keys as written,
            // which the restore matrix holds to pg_restore's database, is the reference.
            let want = match major {
                17.. => restore(Tool::PgRestore18, &cluster, &ref_db, &path, &["-j", "2"], false),
                _ => restore(Tool::PgRestoreAlias, &cluster, &ref_db, &path, &["-j", "2"], false),
            };
            let want_fp = cluster.fingerprint(&ref_db);
            assert_eq!(failures(&want.stderr_text()).iter().any(|l| l.contains("relation \"big_pkey\" already exists")), taken, "{}", want.stderr_text());
            for extra in [&["--index-first"][..], &[][..]] {
                let db = fresh_db(&cluster, "first_got");
                if taken {
                    cluster.psql(&db, setup);
                }
                let args: Vec<&str> = ["-j", "2"].iter().chain(extra).copied().collect();
                let log = restore_as(&cluster, &db, &path, &args, &want, &want_fp);
                let first = !extra.is_empty();
                assert_eq!(log.contains("CREATE UNIQUE INDEX \"big v\" ON \"S x\".big USING btree (v) INCLUDE (w) WITH (fillfactor='70');"), first, "{major} {args:?}: the unique constraint\n{log}");
                assert_eq!(log.contains("CREATE UNIQUE INDEX big_pkey ON \"S x\".big USING btree (id);"), first, "{major} {args:?}: the primary key\n{log}");
                assert!(!log.contains("CREATE UNIQUE INDEX small_pkey"), "the small table's key is added as written\n{log}");
                cluster.dropdb(&db);
            }
            cluster.dropdb(&ref_db);
        }
    }
}
