//! Real PostgreSQL servers for whole-restore tests: starts a throwaway cluster of one major
//! version, runs its client programs, and takes a [`Fingerprint`] of a database — everything
//! two restores of one archive must agree on. Which restores to compare is `restore`'s
//! business; where the binaries are is `tools/pg-env.sh`'s (`PGSURGE_PG<major>_BINDIR`).
//!
//! A cluster lives in a fresh directory under `/tmp` (short, because the Unix socket lives
//! there too): `data/`, `ts/` (the fixture tablespace), `server.log`, the socket. The server
//! runs as the OS user `postgres` when the tests run as root (it refuses root), and as the
//! current user otherwise.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::harness::{run_env, run_input, Outcome};

/// Settings appended to `postgresql.conf`. Durability is pointless for a cluster that lives a
/// minute; autovacuum would only compete for the CPU; parallel restores (`-j`, several tests
/// at once) need connections, and `-1` / `--transaction-size` restores of many objects need
/// locks. No TCP: the socket lives in the cluster's own directory.
const SERVER_SETTINGS: &str = "
listen_addresses = ''
fsync = off
full_page_writes = off
synchronous_commit = off
autovacuum = off
max_connections = 100
max_locks_per_transaction = 512
shared_buffers = 32MB
max_wal_size = 1GB
";

/// Where a major's binaries are: `PGSURGE_PG<major>_BINDIR`, else the place
/// `tools/install-postgres.sh` puts them (the defaults of `tools/pg-env.sh`), so that a plain
/// `cargo test` finds them too. `None` if that directory has no `postgres`.
pub fn pg_bindir(major: u32) -> Option<PathBuf> {
    let dir = match std::env::var_os(format!("PGSURGE_PG{major}_BINDIR")) {
        Some(dir) => PathBuf::from(dir),
        None if major == 15 => PathBuf::from("/usr/lib/postgresql/15/bin"),
        None => PathBuf::from(format!("/opt/pgsurge/pg/{major}/bin")),
    };
    dir.join("postgres").is_file().then_some(dir)
}

/// `pg_bindir`, or `None` after saying on stderr why the test does nothing. With
/// `PGSURGE_REQUIRE_PG` set (`tools/test.sh` sets it, having installed every major) a missing
/// major fails the test instead: there a skip would be a test passing silently.
pub fn pg_bindir_or_skip(major: u32) -> Option<PathBuf> {
    let dir = pg_bindir(major);
    if dir.is_none() {
        let msg = format!(
            "PostgreSQL {major} binaries not found: set PGSURGE_PG{major}_BINDIR (see tools/pg-env.sh) or run tools/install-postgres.sh"
        );
        if std::env::var_os("PGSURGE_REQUIRE_PG").is_some() {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    dir
}

/// A running server of one major version, with the fixtures' global objects (roles `alice`
/// and `bob`, tablespace `fixture_ts`) created. Dropping it stops the server and removes its
/// directory.
pub struct Cluster {
    major: u32,
    bindir: PathBuf,
    /// The cluster's directory: `data/`, `ts/`, `server.log` and the socket. Removed by the
    /// watchdog, never by anyone else.
    dir: PathBuf,
    port: u16,
    /// Stops the server and removes `dir` once its stdin closes: when the cluster is dropped
    /// or, for a [`Cluster::shared`] one, when the test process ends however it ends. `None`
    /// only during `drop`.
    watchdog: Mutex<Option<Watchdog>>,
    /// Held while a restore with `--create` makes the archive's database under its own name;
    /// see [`Cluster::create_lock`].
    create_lock: Mutex<()>,
}

/// A shell in its own process group that waits for EOF on its stdin, then stops the server
/// (`pg_ctl stop -m immediate`) and removes the cluster directory.
///
/// Why this and not `Drop` alone: the shared clusters are statics, and Rust never drops
/// statics; `libc::atexit` does not run on a panic under `panic = "abort"`, a signal, or
/// `SIGKILL`; and a postmaster only notices a removed lock file on its next check, up to a
/// minute later. The kernel, though, closes our end of the pipe whenever this process goes
/// away, for any reason, so the watchdog runs in every case. It sits in its own process group
/// so that Ctrl-C in the terminal (SIGINT to the foreground group) kills the tests but not it;
/// pg_ctl likewise puts the postmaster in a session of its own. Our end of the pipe is
/// close-on-exec (std makes every pipe so), so no other child keeps it open. The one gap — the
/// process dies while `pg_ctl start` is still running, and the stop comes too early — is
/// covered by the postmaster itself: it shuts down when it finds its `postmaster.pid` gone with
/// the directory. At a normal exit an `atexit` handler (`stop_shared_clusters`) closes the
/// pipes itself and waits for the watchdogs, so `cargo test` returns with everything gone.
struct Watchdog {
    child: Child,
    /// Closing this (dropping it) is the signal.
    stdin: ChildStdin,
}

const WATCHDOG_SCRIPT: &str = r#"
cat >/dev/null
if [ -n "$3" ]; then
    runuser -u postgres -- "$2/pg_ctl" -D "$1/data" -m immediate -w -t 60 stop
else
    "$2/pg_ctl" -D "$1/data" -m immediate -w -t 60 stop
fi >/dev/null 2>&1
rm -rf -- "$1"
"#;

impl Cluster {
    /// Starts a cluster of `major`; panics if its binaries are missing or it cannot start.
    pub fn start(major: u32) -> Cluster {
        Cluster::start_with(major, "")
    }

    /// Starts a cluster of `major` whose `postgresql.conf` also has `settings` (lines of
    /// `name = value`, after and so over the usual ones): a server with limits of its own,
    /// for one test.
    pub fn start_with(major: u32, settings: &str) -> Cluster {
        let bindir = pg_bindir(major).unwrap_or_else(|| {
            panic!("PostgreSQL {major} binaries not found: set PGSURGE_PG{major}_BINDIR (see tools/pg-env.sh)")
        });
        Cluster::start_in(major, bindir, settings)
    }

    /// Starts a cluster of `major`, or returns `None` after [`pg_bindir_or_skip`]'s message.
    pub fn try_start(major: u32) -> Option<Cluster> {
        pg_bindir_or_skip(major)?;
        Some(Cluster::start(major))
    }

    /// The one cluster of `major` in this test process, started on first use; `None` (after a
    /// message) if that major's binaries are absent. Never dropped: its watchdog stops it when
    /// the process exits (waited for at a normal exit). Tests sharing it must use databases of
    /// their own.
    pub fn shared(major: u32) -> Option<&'static Cluster> {
        // The map lock is held only to find the major's cell, so that clusters of different
        // majors start in parallel.
        let cell: &'static SharedCell = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(major)
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
        static AT_EXIT: std::sync::Once = std::sync::Once::new();
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn`; atexit has no other preconditions.
            unsafe { libc::atexit(stop_shared_clusters) };
        });
        cell.get_or_init(|| Cluster::try_start(major)).as_ref()
    }

    fn start_in(major: u32, bindir: PathBuf, settings: &str) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix(&format!("pgsurge-pg{major}-"))
            .tempdir_in("/tmp")
            .expect("creating a cluster directory in /tmp")
            .keep();
        let as_root = is_root();
        if as_root {
            // The server's data, socket and tablespace directories must belong to its user.
            let out = Command::new("chown").arg("postgres:").arg(&dir).output().expect("running chown");
            assert!(out.status.success(), "chown postgres: {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
        }
        let watchdog = Watchdog::spawn(&dir, &bindir, as_root);
        let mut cluster =
            Cluster { major, bindir, dir, port: 0, watchdog: Mutex::new(Some(watchdog)), create_lock: Mutex::new(()) };
        // From here on a panic drops `cluster`, and the watchdog cleans up.
        cluster.initdb(settings);
        cluster.port = cluster.launch();
        cluster.create_globals();
        cluster
    }

    fn initdb(&self, settings: &str) {
        let ts = self.dir.join("ts");
        let out = self.server_command("mkdir").arg(&ts).output().expect("running mkdir");
        assert!(out.status.success(), "mkdir {}: {}", ts.display(), String::from_utf8_lossy(&out.stderr));
        // UTF8 and C as in tools/regen-testdata.sh: the fixtures' names and data are UTF-8, and
        // C keeps sort order (and pg_dump's output) independent of the machine's locales.
        let out = self
            .server_command(self.bindir.join("initdb"))
            .args(["--no-sync", "-U", "postgres", "-A", "trust", "--encoding=UTF8", "--locale=C", "-D"])
            .arg(self.dir.join("data"))
            .output()
            .expect("running initdb");
        assert!(out.status.success(), "initdb (PostgreSQL {}) failed:\n{}", self.major, String::from_utf8_lossy(&out.stderr));
        let conf = self.dir.join("data/postgresql.conf");
        let mut file = std::fs::OpenOptions::new().append(true).open(&conf).expect("opening postgresql.conf");
        writeln!(file, "{SERVER_SETTINGS}{settings}\nunix_socket_directories = '{}'", self.dir.display()).expect("writing postgresql.conf");
    }

    /// Starts the server on a port and returns it. With `listen_addresses = ''` the port only
    /// names the socket file in our own directory, so it cannot really collide; still it is
    /// taken from the kernel (bind to port 0) so that each cluster has a distinct one, and a
    /// start that fails on an address in use is retried with another.
    fn launch(&self) -> u16 {
        let log = self.dir.join("server.log");
        for _attempt in 0..3 {
            let port = free_port();
            let out = self
                .server_command(self.bindir.join("pg_ctl"))
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "120", "-o", &format!("-p {port}"), "start"])
                .stdout(Stdio::null())
                .output()
                .expect("running pg_ctl");
            if out.status.success() {
                return port;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if !(text.contains("could not bind") || text.contains("already in use")) {
                panic!(
                    "PostgreSQL {} did not start:\n{}\nlast lines of {}:\n{}",
                    self.major,
                    String::from_utf8_lossy(&out.stderr),
                    log.display(),
                    tail(&text, 20)
                );
            }
        }
        panic!("PostgreSQL {} did not start: three ports were in use", self.major);
    }

    fn create_globals(&self) {
        let globals = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fixture/globals.sql");
        let mut args = self.conn_args("postgres");
        args.extend(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-v"].map(String::from));
        args.push(format!("tsdir={}", self.dir.join("ts").display()));
        args.extend(["-f".to_owned(), globals.display().to_string()]);
        let out = self.run("psql", &args, None);
        assert!(out.status == 0, "{}: {}", globals.display(), out.stderr_text());
    }

    /// `program` (a path, or a name on PATH) run as the server's OS user, from the cluster
    /// directory: runuser keeps the caller's working directory, which `postgres` may not be
    /// allowed to read, and initdb and pg_ctl complain about that.
    fn server_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir).env("LC_ALL", "C").env("TZ", "UTC").stdin(Stdio::null());
        cmd
    }

    pub fn major(&self) -> u32 {
        self.major
    }

    /// The directory of this major's programs (`pg_dump`, `psql`, `pg_restore`, ...).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The socket directory (the cluster's own directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server has logged so far (with `log_statement` set, the statements it ran).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Connection options for `db` in the form pg_restore, pg_dump and psql take:
    /// `-h <socket dir> -p <port> -U postgres -d <db>`.
    pub fn conn_args(&self, db: &str) -> Vec<String> {
        vec![
            "-h".into(),
            self.dir.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            "postgres".into(),
            "-d".into(),
            db.into(),
        ]
    }

    /// The same as environment variables (PGHOST, PGPORT, PGUSER), for programs that take
    /// the database name alone.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PGHOST".into(), self.dir.display().to_string()),
            ("PGPORT".into(), self.port.to_string()),
            ("PGUSER".into(), "postgres".into()),
        ]
    }

    /// Runs this major's `program` (e.g. `"pg_dump"`) with `args` and [`Cluster::env`].
    pub fn run(&self, program: &str, args: &[String], stdin: Option<&Path>) -> Outcome {
        run_env(&self.bindir.join(program), args, &self.env(), stdin)
    }

    /// Creates an empty database `name` from template0, as pg_restore's documentation
    /// advises for a restore target.
    pub fn createdb(&self, name: &str) {
        let out = self.run("createdb", &["-T".into(), "template0".into(), name.into()], None);
        assert!(out.status == 0, "createdb {name}: {}", out.stderr_text());
    }

    /// Drops database `name` if it exists, ending any sessions still connected to it. Its
    /// subscriptions are dropped first (they block DROP DATABASE), detached from their
    /// replication slots, which never existed for the fixtures' `connect = false` ones.
    pub fn dropdb(&self, name: &str) {
        let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{}'", name.replace('\'', "''"));
        if self.psql("postgres", &exists).trim() == "0" {
            return;
        }
        self.psql(name, DROP_SUBSCRIPTIONS_SQL);
        let out = self.run("dropdb", &["--if-exists".into(), "--force".into(), name.into()], None);
        assert!(out.status == 0, "dropdb {name}: {}", out.stderr_text());
    }

    /// Runs `sql` (any psql input, meta-commands included) in `db` and returns the output:
    /// unaligned, tuples only, `|` between fields, one line per row. Panics on the first
    /// error (ON_ERROR_STOP).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let mut args = self.conn_args(db);
        args.extend(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"].map(String::from));
        let mut env = self.env();
        // psql would derive SQL_ASCII from the C locale; the names in the fixtures are UTF-8.
        env.push(("PGCLIENTENCODING".into(), "UTF8".into()));
        let out = run_input(&self.bindir.join("psql"), &args, &env, Some(sql.as_bytes().to_vec()));
        assert!(out.status == 0, "psql -d {db} failed: {}\nsql:\n{sql}", out.stderr_text());
        out.stdout_text()
    }

    /// Serialises restores with `--create` on this cluster: they create (and the tests drop)
    /// the database under the name the archive gives it, so two at once would collide.
    pub fn create_lock(&self) -> MutexGuard<'_, ()> {
        self.create_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What two restores of one archive must agree on; see [`Fingerprint`].
    pub fn fingerprint(&self, db: &str) -> Fingerprint {
        let mut args = self.conn_args(db);
        args.push("--schema-only".into());
        let dump = self.run("pg_dump", &args, None);
        assert!(dump.status == 0, "pg_dump --schema-only -d {db}: {}", dump.stderr_text());
        Fingerprint {
            schema: normalize_dump(&dump.stdout_text()),
            tables: self.psql(db, TABLES_SQL).lines().map(TableRows::parse).collect(),
            sequences: self.psql(db, SEQUENCES_SQL).lines().map(String::from).collect(),
            large_objects: self.psql(db, LARGE_OBJECTS_SQL).lines().map(String::from).collect(),
            database: self.psql(db, DATABASE_SQL).trim_end().to_owned(),
        }
    }
}

type SharedCell = OnceLock<Option<Cluster>>;

/// The clusters [`Cluster::shared`] started, by major.
static SHARED: Mutex<BTreeMap<u32, &'static SharedCell>> = Mutex::new(BTreeMap::new());

/// Run at a normal exit of the test process: stops the shared clusters and waits until they
/// are gone, all at once, so that `cargo test` returns with nothing left running. Any other
/// way of ending leaves the same work to the watchdogs, without the wait.
extern "C" fn stop_shared_clusters() {
    // try_lock: at exit no test runs any more, and blocking here would hang the process.
    let Ok(shared) = SHARED.try_lock() else { return };
    let watchdogs: Vec<Watchdog> = shared
        .values()
        .filter_map(|cell| cell.get()?.as_ref()?.watchdog.try_lock().ok()?.take())
        .collect();
    let children: Vec<Child> = watchdogs.into_iter().map(|Watchdog { child, stdin }| {
        drop(stdin);
        child
    }).collect();
    for mut child in children {
        let _ = child.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let watchdog = self.watchdog.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(Watchdog { mut child, stdin }) = watchdog {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

impl Watchdog {
    fn spawn(dir: &Path, bindir: &Path, as_root: bool) -> Watchdog {
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "pgsurge-cluster-watchdog"])
            .arg(dir)
            .arg(bindir)
            .arg(if as_root { "runuser" } else { "" })
            .current_dir("/")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the cluster watchdog (sh)");
        let stdin = child.stdin.take().expect("piped stdin");
        Watchdog { child, stdin }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a TCP port to learn a free one");
    listener.local_addr().expect("local address of a bound socket").port()
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Removes what differs between two dumps of equal databases: the `\restrict` /
/// `\unrestrict` lines (a random key per run) and the server and pg_dump version comments.
fn normalize_dump(dump: &str) -> String {
    dump.lines()
        .filter(|line| {
            !(line.starts_with("\\restrict ")
                || line.starts_with("\\unrestrict ")
                || line.starts_with("-- Dumped from database version")
                || line.starts_with("-- Dumped by pg_dump version"))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

const DROP_SUBSCRIPTIONS_SQL: &str = r#"
SELECT format('ALTER SUBSCRIPTION %I DISABLE', s.subname),
       format('ALTER SUBSCRIPTION %I SET (slot_name = NONE)', s.subname),
       format('DROP SUBSCRIPTION %I', s.subname)
FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid
WHERE d.datname = current_database()
\gexec
"#;

/// One line per table or materialized view (`ONLY`: an inheritance parent counts its own
/// rows; a partitioned parent has none, its partitions are tables of their own): name, row
/// count, and an order-independent hash of the rows' text. `ROW(r.*)` rather than a bare `r`,
/// which would mean the column if the table has one named `r`. A materialized view restored
/// without its data cannot be read: it says so instead.
const TABLES_SQL: &str = r#"
SELECT CASE WHEN c.relkind = 'm' AND NOT c.relispopulated
            THEN format('SELECT %L, NULL, %L', format('%I.%I', n.nspname, c.relname), 'not populated')
            ELSE format('SELECT %L, count(*), coalesce(md5(string_agg(md5(ROW(r.*)::text), %L ORDER BY md5(ROW(r.*)::text))), %L) FROM ONLY %I.%I r',
                        format('%I.%I', n.nspname, c.relname), '', '', n.nspname, c.relname)
       END
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
\gexec
"#;

/// `name|last_value|is_called` per sequence (identity ones too): what `SEQUENCE SET` restores
/// and a schema-only dump leaves out.
const SEQUENCES_SQL: &str = r#"
SELECT format('SELECT %L, last_value, is_called FROM %I.%I', format('%I.%I', n.nspname, c.relname), n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
\gexec
"#;

/// `oid|owner|bytes|md5|acl|comment` per large object. `pg_dump --schema-only` leaves large
/// objects out entirely, metadata included (checked with pg_dump 14 and 18: no `lo_create`,
/// no `LARGE OBJECT` line), so owner, ACL and comment are read here. Comments are JSON so
/// each object is one line.
const LARGE_OBJECTS_SQL: &str = r#"
SELECT l.oid, pg_get_userbyid(l.lomowner), length(lo_get(l.oid)), md5(lo_get(l.oid)), l.lomacl,
       to_json(obj_description(l.oid, 'pg_largeobject'))
FROM pg_largeobject_metadata l
ORDER BY l.oid
"#;

/// What a schema-only dump without `--create` does not show but `pg_restore --create` sets:
/// the database's own properties (not its name, which differs between the two restores).
const DATABASE_SQL: &str = r#"
SELECT pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, d.datconnlimit, d.datallowconn,
       d.datistemplate, pg_get_userbyid(d.datdba), t.spcname, d.datacl,
       to_json(shobj_description(d.oid, 'pg_database')),
       (SELECT array_agg(format('%s:%s', s.setrole::regrole, s.setconfig) ORDER BY s.setrole)
        FROM pg_db_role_setting s WHERE s.setdatabase = d.oid)
FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
WHERE d.datname = current_database()
"#;

/// Everything that must be equal after two restores of one archive with the same options:
///
/// 1. `schema`: `pg_dump --schema-only` of the database by the cluster's own pg_dump, minus
///    the lines that change from run to run (see `normalize_dump`);
/// 2. `tables`: row count and row hash of every table and materialized view outside the
///    system schemas;
/// 3. `large_objects`: oid, owner, size, md5 of the contents, ACL, comment (none of which
///    the schema dump shows);
/// 4. `sequences`: last_value and is_called (data, so not in the schema dump);
/// 5. `database`: encoding, locale, owner, tablespace, ACL, comment and settings of the
///    database itself, which only `--create` restores.
///
/// Statistics (`pg_dump --statistics`) are not compared.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub schema: String,
    pub tables: Vec<TableRows>,
    pub sequences: Vec<String>,
    pub large_objects: Vec<String>,
    pub database: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRows {
    /// Schema-qualified, quoted as SQL (`"MixedCase"."Order Items"`).
    pub name: String,
    /// `None` for a materialized view that was never populated.
    pub rows: Option<u64>,
    /// md5 over the sorted md5s of the rows' text, or `not populated`.
    pub hash: String,
}

impl TableRows {
    fn parse(line: &str) -> TableRows {
        // From the right: a quoted name may itself contain `|`.
        let mut fields = line.rsplitn(3, '|');
        let hash = fields.next().unwrap_or_default().to_owned();
        let rows = fields.next().and_then(|n| n.parse().ok());
        let name = fields.next().unwrap_or_default().to_owned();
        TableRows { name, rows, hash }
    }
}

impl Fingerprint {
    /// Total rows over all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().filter_map(|t| t.rows).sum()
    }

    pub fn table(&self, name: &str) -> Option<&TableRows> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The differences between `self` (left) and `other` (right), part by part, readable:
    /// the first differing lines of the schema dump with some context, the tables whose rows
    /// differ, the large objects, sequences and database properties that differ.
    /// `"no difference"` if they are equal.
    pub fn diff(&self, other: &Fingerprint) -> String {
        let mut parts = Vec::new();
        if self.schema != other.schema {
            parts.push(format!("schema dump: {}", first_difference(&self.schema, &other.schema)));
        }
        if self.tables != other.tables {
            let mut names: Vec<&str> = self.tables.iter().chain(&other.tables).map(|t| t.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            let show = |t: Option<&TableRows>| match t {
                None => "absent".to_owned(),
                Some(TableRows { rows: Some(n), hash, .. }) => format!("{n} rows, {hash}"),
                Some(TableRows { rows: None, hash, .. }) => hash.clone(),
            };
            let lines: Vec<String> = names
                .into_iter()
                .filter(|name| self.table(name) != other.table(name))
                .map(|name| format!("  {name}: left {}; right {}", show(self.table(name)), show(other.table(name))))
                .collect();
            parts.push(format!("table rows:\n{}", lines.join("\n")));
        }
        for (what, left, right) in [
            ("large objects", &self.large_objects, &other.large_objects),
            ("sequences", &self.sequences, &other.sequences),
        ] {
            if left != right {
                let only = |a: &Vec<String>, b: &Vec<String>| {
                    a.iter().filter(|l| !b.contains(l)).map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
                };
                parts.push(format!("{what}:\n  only left:\n{}\n  only right:\n{}", only(left, right), only(right, left)));
            }
        }
        if self.database != other.database {
            parts.push(format!("database properties:\n  left:  {}\n  right: {}", self.database, other.database));
        }
        if parts.is_empty() {
            "no difference".to_owned()
        } else {
            parts.join("\n")
        }
    }
}

/// The first line where `left` and `right` differ, with three lines before and five after.
fn first_difference(left: &str, right: &str) -> String {
    let (l, r): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
    let at = l.iter().zip(&r).position(|(a, b)| a != b).unwrap_or(l.len().min(r.len()));
    let excerpt = |lines: &[&str]| {
        let from = at.saturating_sub(3);
        let to = (at + 6).min(lines.len());
        (from..to).map(|i| format!("  {}{:>5} {}", if i == at { '>' } else { ' ' }, i + 1, lines[i])).collect::<Vec<_>>().join("\n")
    };
    format!(
        "first difference at line {} ({} lines left, {} right)\n--- left:\n{}\n--- right:\n{}",
        at + 1,
        l.len(),
        r.len(),
        excerpt(&l),
        excerpt(&r)
    )
}

impl fmt::Debug for Fingerprint {
    /// A summary: the parts are long; [`Fingerprint::diff`] shows what differs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fingerprint")
            .field("schema", &format_args!("{} lines", self.schema.lines().count()))
            .field("tables", &self.tables.len())
            .field("rows", &self.rows())
            .field("sequences", &self.sequences.len())
            .field("large_objects", &self.large_objects.len())
            .field("database", &self.database)
            .finish()
    }
}
