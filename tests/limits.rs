//! The limits of the machine a restore runs on, met for real: a server with fewer connection
//! slots than `-j` asks for (a cluster of its own, started with a small `max_connections`),
//! and a spool directory with less room than the piped archive (a small tmpfs, where the
//! tests may mount one).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cluster::{pg_bindir_or_skip, Cluster};
use crate::harness::{pgsurge, run_env};

/// Tables in the connection test's archive, and rows in each.
const TABLES: usize = 8;
const ROWS: usize = 20_000;

/// Writes a custom archive of `TABLES` tables (rows, a primary key, an index each) dumped
/// from a database of `cluster`, into `dir`.
fn tables_archive(cluster: &Cluster, dir: &Path) -> PathBuf {
    cluster.createdb("limits_src");
    let mut sql = String::new();
    for t in 1..=TABLES {
        sql.push_str(&format!(
            "CREATE TABLE t{t} (id int PRIMARY KEY, note text);
             INSERT INTO t{t} SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;
             CREATE INDEX t{t}_note ON t{t} (note);\n"
        ));
    }
    cluster.psql("limits_src", &sql);
    let dump = dir.join("tables.dump");
    let out = cluster.run("pg_dump", &["-Fc".into(), "-f".into(), dump.display().to_string(), "limits_src".into()], None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    dump
}

/// `-j` beyond what the server allows: the workers it refuses (SQLSTATE 53300) step aside,
/// one warning says how many jobs go on and why, and the restore completes with exit status
/// 0. As a superuser, who may take every slot (`sorry, too many clients already`); as an
/// ordinary role, who may not take the reserved ones (`remaining connection slots are
/// reserved …`); as a role allowed one connection, so that no worker connects and the
/// leader restores everything. A refused first connection ends the restore, naming why.
#[test]
fn more_jobs_than_the_server_allows_connections() {
    if pg_bindir_or_skip(18).is_none() {
        return;
    }
    // 20 slots, 14 of them for superusers only: an ordinary role gets 6, and the refusals
    // (7 at most at once) never use up the server's process slots, so each is told the
    // reserved-slots reason, never the other.
    let cluster = Cluster::start_with(18, "max_connections = 20\nsuperuser_reserved_connections = 14\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = tables_archive(&cluster, dir.path());
    cluster.psql("postgres", "CREATE ROLE restorer LOGIN; CREATE ROLE single LOGIN CONNECTION LIMIT 1; CREATE ROLE nobody LOGIN CONNECTION LIMIT 0");
    let restore = |user: &str, jobs: &str, db: &str| {
        let out = cluster.run("createdb", &["-T".into(), "template0".into(), "-O".into(), user.into(), db.into()], None);
        assert_eq!(out.status, 0, "createdb: {}", out.stderr_text());
        let mut args: Vec<String> = ["restore", "-j", jobs, "--no-owner", "--no-privileges"].map(String::from).to_vec();
        args.extend(cluster.conn_args(db));
        if let Some(u) = args.iter().position(|a| a == "-U") {
            args[u + 1] = user.to_owned();
        }
        args.push(dump.display().to_string());
        let mut env = vec![("LC_ALL".to_owned(), "C".to_owned())];
        env.extend(cluster.env());
        run_env(&pgsurge(), &args, &env, None)
    };

    // The user, -j, the most connections the server allows that user (the leader's
    // included: it may have closed its own before the last worker tries), the reason.
    let cases = [
        ("postgres", "30", 20, "FATAL:  sorry, too many clients already"),
        ("restorer", "12", 6, "FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute"),
        ("single", "4", 1, "FATAL:  too many connections for role \"single\""),
    ];
    for (user, jobs, slots, reason) in cases {
        let db = format!("limits_{user}");
        let out = restore(user, jobs, &db);
        let err = out.stderr_text();
        assert_eq!(out.status, 0, "{user}: {err}");
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("continuing with")).collect();
        assert_eq!(warnings.len(), 1, "{user}: one warning about the refused connections:\n{err}");
        assert!(warnings[0].contains("warning:"), "{user}: {err}");
        let going_on: usize = warnings[0]
            .split("continuing with ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{user}: the warning says how many jobs go on:\n{err}"));
        assert!(warnings[0].contains(&format!("continuing with {going_on} of {jobs} jobs")), "{user}: {err}");
        assert!((1..=slots).contains(&going_on), "{user}: {going_on} jobs, the server allows {slots} connections:\n{err}");
        assert!(warnings[0].contains(reason), "{user}: the warning names the server's reason:\n{err}");
        assert!(!err.contains("error:"), "{user}: {err}");
        let plural = if going_on == 1 { "" } else { "s" };
        assert!(err.contains(&format!(" with {going_on} connection{plural} (")), "{user}: the usual summary, with the jobs that restored:\n{err}");
        for t in 1..=TABLES {
            assert_eq!(cluster.psql(&db, &format!("SELECT count(*) FROM public.t{t}")).trim(), ROWS.to_string(), "{user}: rows of t{t}");
        }
        let indexes = cluster.psql(&db, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'");
        assert_eq!(indexes.trim(), (2 * TABLES).to_string(), "{user}: every index and primary key");
    }

    let out = restore("nobody", "4", "limits_nobody");
    let err = out.stderr_text();
    assert_eq!(out.status, 1, "{err}");
    assert!(err.contains("error: connection to server on socket"), "{err}");
    assert!(err.contains("failed: FATAL:  too many connections for role \"nobody\""), "the server's reason:\n{err}");
    assert!(!err.contains("continuing with"), "{err}");
}

/// A file system of `size` mounted at a fresh directory for one test, unmounted (and the
/// directory removed) when dropped; `None`, after saying why, where mounting is not allowed
/// (a non-root user, a container without the capability).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::Builder::new().prefix("pgsurge-tmpfs-").tempdir_in("/tmp").expect("temp dir");
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=1777"), "tmpfs"]).arg(dir.path()).output();
        let why = match out {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => format!("running mount: {e}"),
        };
        eprintln!("skipped: cannot mount a tmpfs here: {why}");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).output();
    }
}

/// A pipe restored with `-j` through a spool directory with less room than the archive (a
/// 16 MiB tmpfs, an archive of about 40 MB): the budget comes from the free space, the
/// restore says so once at the start, and succeeds — where it stopped with "No space left on
/// device" while the default 2 GB limit stood.
#[test]
fn spool_budget_follows_the_free_space() {
    let Some(tmpfs) = Tmpfs::mount("16m") else { return };
    let Some(cluster) = Cluster::shared(18) else { return };
    let src = "spool_free_src";
    cluster.dropdb(src);
    cluster.createdb(src);
    cluster.psql(
        src,
        "CREATE TABLE big (id int PRIMARY KEY, note text);
         INSERT INTO big SELECT g, md5(g::text) || md5((g + 1)::text) FROM generate_series(1, 500000) g;
         CREATE TABLE small (id int PRIMARY KEY);
         INSERT INTO small SELECT generate_series(1, 100);",
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("big.dump");
    let out = cluster.run("pg_dump", &["-Fc".into(), "-Z0".into(), "-f".into(), dump.display().to_string(), src.into()], None);
    assert_eq!(out.status, 0, "pg_dump: {}", out.stderr_text());
    cluster.dropdb(src);
    let size = std::fs::metadata(&dump).expect("dump").len();
    assert!(size > 32 << 20, "the archive ({size} bytes) is over twice the tmpfs");

    let db = "spool_free_got";
    cluster.dropdb(db);
    cluster.createdb(db);
    let mut args: Vec<String> = ["restore", "-j", "3"].map(String::from).to_vec();
    args.extend(cluster.conn_args(db));
    let mut env = vec![("LC_ALL".to_owned(), "C".to_owned()), ("PGSURGE_SPOOL_DIR".to_owned(), tmpfs.path().display().to_string())];
    env.extend(cluster.env());
    // Through a pipe (the harness writes the file into the child's stdin).
    let out = run_env(&pgsurge(), &args, &env, Some(&dump));
    let err = out.stderr_text();
    assert_eq!(out.status, 0, "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.contains("keeping the copy within")).collect();
    assert_eq!(said.len(), 1, "one line says the free space sets the budget:\n{err}");
    assert!(said[0].contains(&tmpfs.path().display().to_string()) && said[0].contains("below PGSURGE_SPOOL_LIMIT"), "{err}");
    assert!(!err.contains("No space left"), "{err}");
    assert_eq!(cluster.psql(db, "SELECT count(*) FROM public.big").trim(), "500000");
    assert_eq!(cluster.psql(db, "SELECT count(*) FROM public.small").trim(), "100");
    cluster.dropdb(db);
}
