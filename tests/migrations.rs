//! The migrations stage against real servers: a real Alembic app (`tests/apps/alembic`, in
//! the venv `tools/install-python.sh` makes) dumped at its second revision and migrated to
//! head by `--then` after the restore; a failing command failing the restore; `--migrations
//! DIR` applying files in order, rolling back the one that fails and refusing psql
//! meta-commands before anything; the environment a command gets; and the schema revision
//! read from each tool's table.

use std::path::{Path, PathBuf};

use pgsurge_connect::{ConnParams, ConnectRequest, PasswordPolicy};
use pgsurge_stages::migrations;

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, Outcome};
use crate::restore::fresh_db;

/// Where `tools/install-python.sh` puts the venv, by the same rules: `PGSURGE_VENV`, else
/// `/opt/pgsurge/venv` for root, else `${XDG_CACHE_HOME:-~/.cache}/pgsurge/venv`.
fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PGSURGE_VENV").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if cluster_runs_as_root() {
        return PathBuf::from("/opt/pgsurge/venv");
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    cache.join("pgsurge/venv")
}

fn cluster_runs_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The venv's `bin/`, or `None` after saying why the test does nothing; under
/// `PGSURGE_REQUIRE_PG` (`tools/test.sh`, which installs the venv) a missing venv fails.
fn venv_bin_or_skip() -> Option<PathBuf> {
    let bin = venv_dir().join("bin");
    if bin.join("alembic").is_file() {
        return Some(bin);
    }
    let msg = format!("no alembic in {}: run tools/install-python.sh (or set PGSURGE_VENV)", bin.display());
    if std::env::var_os("PGSURGE_REQUIRE_PG").is_some() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

fn alembic_ini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/alembic/alembic.ini")
}

/// `DATABASE_URL` for `db` on `cluster`, in the socket form pgsurge hands a command.
fn database_url(cluster: &Cluster, db: &str) -> String {
    format!("postgresql://postgres@/{db}?host={}&port={}", cluster.socket_dir().display(), cluster.port())
}

/// The environment the app's commands run in: the venv first on PATH, and no `__pycache__`
/// written into the source tree.
fn app_env(bin: &Path) -> Vec<(String, String)> {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    vec![
        ("PATH".to_owned(), path),
        ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
        ("LC_ALL".to_owned(), "C".to_owned()),
    ]
}

/// `alembic upgrade TARGET` on `db`, as a developer runs it.
fn alembic_upgrade(cluster: &Cluster, bin: &Path, db: &str, target: &str) {
    let mut env = app_env(bin);
    env.push(("DATABASE_URL".to_owned(), database_url(cluster, db)));
    let args = ["-c".to_owned(), alembic_ini().display().to_string(), "upgrade".to_owned(), target.to_owned()];
    let out = run_env(&bin.join("alembic"), &args, &env, None);
    assert!(out.status == 0, "alembic upgrade {target}: {}", out.stderr_text());
}

/// `pg_dump -Fc` of `db` into `dir`.
fn dump(cluster: &Cluster, db: &str, dir: &Path) -> PathBuf {
    let file = dir.join(format!("{db}.dump"));
    let mut args = cluster.conn_args(db);
    args.extend(["-Fc".to_owned(), "-f".to_owned(), file.display().to_string()]);
    let out = cluster.run("pg_dump", &args, None);
    assert!(out.status == 0, "pg_dump {db}: {}", out.stderr_text());
    file
}

/// A dump of a database with one small table, for the tests where the restore is not the
/// point.
fn small_dump(cluster: &Cluster, dir: &Path) -> PathBuf {
    let db = fresh_db(cluster, "mig_small");
    cluster.psql(&db, "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two');");
    let file = dump(cluster, &db, dir);
    cluster.dropdb(&db);
    file
}

/// `pgsurge restore` of `archive` into `db` with `extra` options, in `env`.
fn restore(cluster: &Cluster, db: &str, archive: &Path, extra: &[&str], env: &[(String, String)]) -> Outcome {
    let mut args = vec!["restore".to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(archive.display().to_string());
    run_env(&pgsurge(), &args, env, None)
}

fn plain_env() -> Vec<(String, String)> {
    vec![("LC_ALL".to_owned(), "C".to_owned())]
}

fn read_report(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The proof of issue 17's "a real app's migrations": the app at its second revision is
/// dumped, restored, and migrated to head by `--then`; the restored database has what the
/// third migration makes (its index, its column filled from the data), and the summary and
/// the report show the revision before and after.
#[test]
fn an_alembic_app_dumped_at_an_old_revision_is_migrated_to_head_after_the_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let Some(bin) = venv_bin_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = fresh_db(cluster, "alembic_src");
    alembic_upgrade(cluster, &bin, &src, "0002_status");
    assert_eq!(cluster.psql(&src, "SELECT version_num FROM alembic_version").trim(), "0002_status");
    let archive = dump(cluster, &src, dir.path());

    let db = fresh_db(cluster, "alembic_new");
    let report = dir.path().join("report.json");
    let then = format!("alembic -c '{}' upgrade head", alembic_ini().display());
    let out = restore(cluster, &db, &archive, &["--then", &then, "--report", report.to_str().unwrap()], &app_env(&bin));
    let stderr = out.stderr_text();
    assert_eq!(out.status, 0, "{stderr}");

    // The third migration ran on the restored database, over the restored rows.
    assert_eq!(cluster.psql(&db, "SELECT version_num FROM alembic_version").trim(), "0003_index");
    assert_eq!(
        cluster.psql(&db, "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix\\_%' ORDER BY 1"),
        "ix_customers_email_domain\nix_orders_status\n"
    );
    assert_eq!(
        cluster.psql(&db, "SELECT id, email_domain FROM customers ORDER BY id"),
        "1|example.org\n2|example.com\n3|example.net\n"
    );
    assert_eq!(cluster.psql(&db, "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1"), "free|2\npaid|3\n");

    // Its output was streamed under the command's name, and the summary names both revisions.
    assert!(stderr.contains("  alembic| INFO  [alembic.runtime.migration] Running upgrade 0002_status -> 0003_index"), "{stderr}");
    assert!(!stderr.contains("Running upgrade 0001_tables -> 0002_status"), "only the third migration should run:\n{stderr}");
    assert!(stderr.contains("schema revision: alembic 0002_status → 0003_index"), "{stderr}");

    let doc = read_report(&report);
    let stage = &doc["migrations"];
    assert_eq!(stage["revision_before"][0]["tool"], "alembic", "{stage}");
    assert_eq!(stage["revision_before"][0]["value"], "0002_status", "{stage}");
    assert_eq!(stage["revision_after"][0]["value"], "0003_index", "{stage}");
    assert_eq!(stage["revision_after"][0]["table"], "public.alembic_version", "{stage}");
    let command = &stage["commands"][0];
    assert_eq!(command["command"], then.as_str(), "{stage}");
    assert_eq!(command["ok"], true, "{stage}");
    assert_eq!(command["exit"]["code"], 0, "{stage}");
    assert!(command["seconds"].as_f64().is_some(), "{stage}");
    assert!(command["stderr"]["text"].as_str().unwrap().contains("Running upgrade 0002_status -> 0003_index"), "{stage}");
    assert_eq!(command["stderr"]["dropped_bytes"], 0, "{stage}");
    cluster.dropdb(&db);
    cluster.dropdb(&src);
}

/// The same app restored with `--swap`: the live database keeps its old revision until the
/// migrated shadow is swapped in, and then has head.
#[test]
fn an_alembic_app_restored_with_swap_is_migrated_before_the_swap() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let Some(bin) = venv_bin_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let src = fresh_db(cluster, "alembic_swap_src");
    alembic_upgrade(cluster, &bin, &src, "0002_status");
    let archive = dump(cluster, &src, dir.path());
    // The live database: the app at its first revision, with rows of its own.
    let live = fresh_db(cluster, "alembic_live");
    alembic_upgrade(cluster, &bin, &live, "0001_tables");

    let then = format!("alembic -c '{}' upgrade head", alembic_ini().display());
    let out = restore(cluster, &live, &archive, &["--swap", "--then", &then], &app_env(&bin));
    let stderr = out.stderr_text();
    assert_eq!(out.status, 0, "{stderr}");
    assert_eq!(cluster.psql(&live, "SELECT version_num FROM alembic_version").trim(), "0003_index");
    assert_eq!(cluster.psql(&live, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_orders_status'").trim(), "1");
    assert!(stderr.contains("schema revision: alembic 0002_status → 0003_index"), "{stderr}");

    // A failing command under --swap leaves the live database as it was.
    let out = restore(cluster, &live, &archive, &["--swap", "--then", "exit 7"], &app_env(&bin));
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert_eq!(cluster.psql(&live, "SELECT version_num FROM alembic_version").trim(), "0003_index");
    for name in cluster.psql("postgres", &format!("SELECT datname FROM pg_database WHERE datname LIKE '{live}%'")).lines() {
        cluster.dropdb(name);
    }
    cluster.dropdb(&src);
}

/// A command that fails fails the restore, naming the command and its exit status; the
/// report keeps what it printed.
#[test]
fn a_failing_command_fails_the_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = small_dump(cluster, dir.path());
    let db = fresh_db(cluster, "mig_fail");
    let report = dir.path().join("report.json");
    let out = restore(
        cluster,
        &db,
        &archive,
        &["--then", "echo about to fail >&2; exit 3", "--then", "echo never > /dev/null", "--report", report.to_str().unwrap()],
        &plain_env(),
    );
    let stderr = out.stderr_text();
    assert_eq!(out.status, 1, "{stderr}");
    assert!(stderr.contains("  echo| about to fail"), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("pgsurge: error:") && l.contains("exit 3")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains("failed with exit status 3"), "{error}");
    // The data was restored; only the stage failed.
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM items").trim(), "2");
    let doc = read_report(&report);
    let stage = &doc["migrations"];
    assert_eq!(stage["error"], error.trim_start_matches("pgsurge: error: "), "{stage}");
    assert_eq!(stage["commands"][0]["exit"]["code"], 3, "{stage}");
    assert_eq!(stage["commands"][0]["ok"], false, "{stage}");
    assert_eq!(stage["commands"][0]["stderr"]["text"], "about to fail\n", "{stage}");
    assert_eq!(stage["not_run"][0], "echo never > /dev/null", "{stage}");
    cluster.dropdb(&db);
}

fn write_files(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// `--migrations DIR`: files applied in name order, each in its own transaction; the one
/// the server refuses is rolled back (those before it stay) and named with its line; a
/// psql meta-command refuses the directory before any file is applied.
#[test]
fn sql_migrations_apply_in_order_and_stop_at_the_first_failure() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = small_dump(cluster, dir.path());

    // Two files, the second needing the first: both applied, in name order (bytewise:
    // "10" after "09").
    let ok = dir.path().join("ok");
    write_files(
        &ok,
        &[
            ("09_add_price.sql", "ALTER TABLE items ADD COLUMN price int;\nUPDATE items SET price = id * 100;\n"),
            ("10_not_null.sql", "UPDATE items SET price = price + 1;\nALTER TABLE items ALTER price SET NOT NULL;"),
            ("README.txt", "\\i not a migration"),
        ],
    );
    let db = fresh_db(cluster, "mig_sql_ok");
    let report = dir.path().join("ok.json");
    let out = restore(cluster, &db, &archive, &["--migrations", ok.to_str().unwrap(), "--report", report.to_str().unwrap()], &plain_env());
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert_eq!(cluster.psql(&db, "SELECT id, price FROM items ORDER BY id"), "1|101\n2|201\n");
    let doc = read_report(&report);
    let applied: Vec<&str> = doc["migrations"]["sql_dir"]["applied"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(applied, ["09_add_price.sql", "10_not_null.sql"]);
    cluster.dropdb(&db);

    // The second file fails on its third line: the first stays, the second is rolled back.
    let bad = dir.path().join("bad");
    write_files(
        &bad,
        &[
            ("001_first.sql", "CREATE TABLE first_ok (a int);\n"),
            ("002_second.sql", "CREATE TABLE second_half (a int);\nINSERT INTO second_half VALUES (1);\nSELECT no_such_column\n  FROM second_half;\n"),
        ],
    );
    let db = fresh_db(cluster, "mig_sql_bad");
    let out = restore(cluster, &db, &archive, &["--migrations", bad.to_str().unwrap()], &plain_env());
    let stderr = out.stderr_text();
    assert_eq!(out.status, 1, "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("pgsurge: error:") && l.contains("002_second.sql")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("no_such_column") && error.contains("42703"), "{error}");
    assert_eq!(cluster.psql(&db, "SELECT to_regclass('first_ok') IS NOT NULL, to_regclass('second_half') IS NULL"), "t|t\n");
    cluster.dropdb(&db);

    // A meta-command in the second file: refused, naming the file and line; the first file
    // was not applied either.
    let meta = dir.path().join("meta");
    write_files(&meta, &[("001_first.sql", "CREATE TABLE first_ok (a int);\n"), ("002_meta.sql", "SELECT 1;\n\\i x\n")]);
    let db = fresh_db(cluster, "mig_sql_meta");
    let out = restore(cluster, &db, &archive, &["--migrations", meta.to_str().unwrap()], &plain_env());
    let stderr = out.stderr_text();
    assert_eq!(out.status, 1, "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("pgsurge: error:") && l.contains("002_meta.sql")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(error.contains("line 2") && error.contains("\\i"), "{error}");
    assert_eq!(cluster.psql(&db, "SELECT to_regclass('first_ok') IS NULL"), "t\n");
    cluster.dropdb(&db);
}

/// A command gets the restored database in `PGDATABASE`, `DATABASE_URL` and the rest
/// (psql with no options connects there), and a password only through `PGPASSWORD` and a
/// 0600 password file that is gone afterwards: not on its command line, not in the URL.
#[test]
fn a_command_sees_the_restored_database_and_no_password_on_its_command_line() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = small_dump(cluster, dir.path());
    let db = fresh_db(cluster, "mig_env");
    let out_dir = dir.path().display().to_string();
    let then = format!(
        "env > {out_dir}/env.txt; tr '\\0' ' ' < /proc/$$/cmdline > {out_dir}/cmdline.txt; \
         stat -c %a \"$PGPASSFILE\" > {out_dir}/mode.txt; cat \"$PGPASSFILE\" > {out_dir}/passfile.txt; \
         '{}' -X -At -c 'SELECT current_database(), count(*) FROM items' > {out_dir}/psql.txt",
        cluster.bindir().join("psql").display()
    );
    let mut args = vec!["restore".to_owned(), "-h".to_owned(), cluster.socket_dir().display().to_string()];
    args.extend(["-p".to_owned(), cluster.port().to_string(), "-U".to_owned(), "postgres".to_owned()]);
    // The trust-authenticated server ignores the password; the command must still get it.
    args.extend(["-d".to_owned(), format!("dbname={db} password=s3cr:et")]);
    args.extend(["--then".to_owned(), then, archive.display().to_string()]);
    let out = run_env(&pgsurge(), &args, &plain_env(), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());

    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let env = read("env.txt");
    let var = |name: &str| {
        env.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("no {name} in:\n{env}")).to_owned()
    };
    assert_eq!(var("PGDATABASE"), db);
    assert_eq!(var("PGHOST"), cluster.socket_dir().display().to_string());
    assert_eq!(var("PGPORT"), cluster.port().to_string());
    assert_eq!(var("PGUSER"), "postgres");
    assert_eq!(var("DATABASE_URL"), database_url(cluster, &db));
    assert_eq!(var("PGPASSWORD"), "s3cr:et");
    assert_eq!(read("psql.txt"), format!("{db}|2\n"));
    assert_eq!(read("mode.txt"), "600\n");
    assert_eq!(read("passfile.txt"), "*:*:*:postgres:s3cr\\:et\n");
    assert!(!Path::new(&var("PGPASSFILE")).exists(), "the password file should be removed");
    let cmdline = read("cmdline.txt");
    assert!(cmdline.starts_with("sh -c "), "{cmdline}");
    assert!(!cmdline.contains("s3cr"), "the password is on the command line: {cmdline}");
    cluster.dropdb(&db);
}

/// Connection parameters for `db` on `cluster`, as the restore would resolve them.
fn params(cluster: &Cluster, db: &str) -> ConnParams {
    let req = ConnectRequest {
        dbname: Some(db.to_owned()),
        host: Some(cluster.socket_dir().display().to_string()),
        port: Some(cluster.port().to_string()),
        user: Some("postgres".to_owned()),
        password: PasswordPolicy::Never,
        fallback_application_name: "pgsurge-tests".to_owned(),
    };
    ConnParams::resolve(&req, &|_| None).unwrap()
}

/// The revision of every tool's table, each in the shape the tool makes it, some in a
/// schema of their own; tables that only share a name are skipped.
#[test]
fn each_migration_tool_s_revision_is_read_from_its_table() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "mig_revisions");
    assert_eq!(migrations::read_revision(&params(cluster, &db)).unwrap(), []);
    cluster.psql(
        &db,
        r#"
        CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('ae1027a6acf');
        CREATE TABLE django_migrations (id bigserial PRIMARY KEY, app varchar(255), name varchar(255), applied timestamptz);
        INSERT INTO django_migrations (app, name, applied) VALUES ('auth', '0001_initial', now()), ('shop', '0007_price', now());
        CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200),
            type varchar(20), script varchar(1000), success boolean);
        INSERT INTO flyway_schema_history VALUES (1, '1', 'init', 'SQL', 'V1__init.sql', true),
            (2, '1.1', 'add index', 'SQL', 'V1_1__add_index.sql', true), (3, '2', 'broken', 'SQL', 'V2__broken.sql', false),
            (4, NULL, 'views', 'SQL', 'R__views.sql', true);
        CREATE SCHEMA "Rails";
        CREATE TABLE "Rails".schema_migrations (version varchar PRIMARY KEY);
        CREATE TABLE "Rails".ar_internal_metadata (key varchar PRIMARY KEY, value varchar);
        INSERT INTO "Rails".schema_migrations VALUES ('20240101000000'), ('20240315120000');
        CREATE SCHEMA gm;
        CREATE TABLE gm.schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);
        INSERT INTO gm.schema_migrations VALUES (5, true);
        CREATE TABLE knex_migrations (id serial PRIMARY KEY, name varchar(255), batch int, migration_time timestamptz);
        INSERT INTO knex_migrations (name, batch) VALUES ('20240101_init.js', 1), ('20240202_users.js', 2);
        CREATE TABLE "__EFMigrationsHistory" ("MigrationId" varchar(150) PRIMARY KEY, "ProductVersion" varchar(32));
        INSERT INTO "__EFMigrationsHistory" VALUES ('20240101000000_Init', '8.0.0'), ('20240301000000_AddUsers', '8.0.0');
        CREATE TABLE databasechangelog (id varchar(255), author varchar(255), filename varchar(255),
            dateexecuted timestamp, orderexecuted int);
        INSERT INTO databasechangelog VALUES ('1', 'ann', 'db/changelog.xml', now(), 1), ('2', 'bob', 'db/changelog.xml', now(), 2);
        CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint, is_applied boolean, tstamp timestamp);
        INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (3, false);
        CREATE SCHEMA empty;
        CREATE TABLE empty.alembic_version (version_num varchar(32));
        CREATE TABLE migrations (id serial, name text, run_on timestamp);
        CREATE SCHEMA other;
        CREATE TABLE other.schema_migrations (id int, applied text);
        "#,
    );
    let got: Vec<(String, String, String)> = migrations::read_revision(&params(cluster, &db))
        .unwrap()
        .into_iter()
        .map(|r| (r.tool, r.table, r.value))
        .collect();
    let want = [
        ("rails", "\"Rails\".schema_migrations", "20240315120000 (2 applied)"),
        ("alembic", "empty.alembic_version", "(none)"),
        ("golang-migrate", "gm.schema_migrations", "5 (dirty)"),
        ("entity-framework", "public.\"__EFMigrationsHistory\"", "20240301000000_AddUsers (2 applied)"),
        ("alembic", "public.alembic_version", "ae1027a6acf"),
        ("liquibase", "public.databasechangelog", "db/changelog.xml::2::bob (2 applied)"),
        ("django", "public.django_migrations", "shop.0007_price (2 applied)"),
        ("flyway", "public.flyway_schema_history", "1.1 (add index)"),
        ("goose", "public.goose_db_version", "2"),
        ("knex", "public.knex_migrations", "20240202_users.js (2 applied)"),
    ];
    let want: Vec<(String, String, String)> = want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(got, want);
    cluster.dropdb(&db);
}

/// The SQL directory through the library: `COPY … FROM stdin` (which only psql can feed) is
/// refused before anything runs, with or without its rows; a server's notices come back
/// with their file, a refused file names its line and SQLSTATE, and a file that commits on
/// its own is run as written.
#[test]
fn sql_files_report_notices_positions_and_refuse_copy_from_stdin() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_db(cluster, "mig_sql_lib");
    write_files(
        dir.path(),
        &[
            ("1_notice.sql", "CREATE TABLE t (a int);\nDO $$ BEGIN RAISE NOTICE 'hello from %', 'a migration'; END $$;\n"),
            ("2_copy.sql", "INSERT INTO t VALUES (1);\nCOPY t FROM stdin;\n2\n\\.\n"),
        ],
    );
    let mut seen = Vec::new();
    let err = migrations::apply_sql_dir(dir.path(), &params(cluster, &db), &mut |f| seen.push(f.file.clone())).unwrap_err();
    // The COPY is refused (before the `\.` ending its rows, a meta-command too is reached),
    // and nothing has run.
    assert!(matches!(&err, migrations::MigrationError::CopyStdio { line: 2, .. }), "{err}");
    assert!(seen.is_empty());

    // Without the rows, the COPY itself is refused, also before anything runs.
    std::fs::write(dir.path().join("2_copy.sql"), "INSERT INTO t VALUES (1);\nCOPY t FROM stdin;\n").unwrap();
    let err = migrations::apply_sql_dir(dir.path(), &params(cluster, &db), &mut |f| seen.push(f.file.clone())).unwrap_err();
    assert!(matches!(&err, migrations::MigrationError::CopyStdio { line: 2, .. }), "{err}");
    assert!(seen.is_empty());

    // A file the server refuses: the one before it stays, with its notices; it is rolled back.
    std::fs::write(dir.path().join("2_copy.sql"), "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('x');\n").unwrap();
    let err = migrations::apply_sql_dir(dir.path(), &params(cluster, &db), &mut |f| seen.push(f.file.clone())).unwrap_err();
    let migrations::MigrationError::Apply { failure } = &err else { panic!("{err}") };
    assert_eq!(failure.applied.len(), 1);
    assert_eq!(failure.applied[0].notices, ["NOTICE:  hello from a migration"]);
    assert!(failure.path.ends_with("2_copy.sql"), "{err}");
    assert_eq!((failure.line, failure.sqlstate.as_deref()), (Some(2), Some("22P02")), "{err}");
    assert_eq!(seen, ["1_notice.sql"]);
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM t"), "0\n");

    std::fs::write(dir.path().join("2_copy.sql"), "INSERT INTO t VALUES (1);\nCOMMIT;\nINSERT INTO t VALUES (2);\n").unwrap();
    std::fs::write(dir.path().join("1_notice.sql"), "SELECT 1;\n").unwrap();
    let run = migrations::apply_sql_dir(dir.path(), &params(cluster, &db), &mut |_| {}).unwrap();
    assert_eq!(run.applied.len(), 2);
    assert!(run.applied[1].notices.iter().any(|n| n.contains("no transaction in progress")), "{:?}", run.applied[1].notices);
    assert_eq!(cluster.psql(&db, "SELECT string_agg(a::text, ',' ORDER BY a) FROM t"), "1,2\n");

    let empty = tempfile::tempdir().unwrap();
    let run = migrations::apply_sql_dir(empty.path(), &params(cluster, &db), &mut |_| {}).unwrap();
    assert!(run.applied.is_empty());
    cluster.dropdb(&db);
}
