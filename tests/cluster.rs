//! Real PostgreSQL servers for the restore tests: one throwaway cluster per major, started on
//! first use by the unprivileged `postgres` OS user (the server refuses to run as root, and
//! tests run as root in CI) in a temporary directory, on a free port, with its socket in that
//! directory; and the means to compare two restored databases.
//!
//! Clusters live as long as the test process. Statics are never dropped, so each started
//! cluster is recorded and an `atexit` handler stops them all when the test binary exits
//! (libtest exits through `exit`, also after failed tests).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::harness::testdata;

pub struct Cluster {
    pub major: u32,
    bindir: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
}

/// Data directories of started clusters, for the exit handler.
static STARTED: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

extern "C" fn stop_all() {
    let Ok(started) = STARTED.lock() else { return };
    for (bindir, dir) in started.iter() {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bindir.join("pg_ctl"))
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(dir);
    }
}

pub fn bindir(major: u32) -> PathBuf {
    let var = format!("PGSURGE_PG{major}_BINDIR");
    match std::env::var_os(&var) {
        Some(v) => PathBuf::from(v),
        None if major == 15 => PathBuf::from("/usr/lib/postgresql/15/bin"),
        None => PathBuf::from(format!("/opt/pgsurge/pg/{major}/bin")),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free TCP port")
}

impl Cluster {
    /// The cluster of `major`, started on first use; `None` (with a note on stderr) when that
    /// major's binaries are not installed.
    pub fn shared(major: u32) -> Option<&'static Cluster> {
        static CLUSTERS: OnceLock<Mutex<Vec<&'static Cluster>>> = OnceLock::new();
        let all = CLUSTERS.get_or_init(|| Mutex::new(Vec::new()));
        let mut all = all.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = all.iter().find(|c| c.major == major) {
            return Some(c);
        }
        let bindir = bindir(major);
        if !bindir.join("postgres").exists() {
            eprintln!("PostgreSQL {major} is not installed at {} (run tools/install-postgres.sh); skipping", bindir.display());
            return None;
        }
        let cluster: &'static Cluster = Box::leak(Box::new(Cluster::start(major, bindir)));
        all.push(cluster);
        Some(cluster)
    }

    fn start(major: u32, bindir: PathBuf) -> Cluster {
        static HANDLER: OnceLock<()> = OnceLock::new();
        HANDLER.get_or_init(|| {
            // SAFETY: registering a plain extern "C" function with no captured state.
            unsafe {
                libc::atexit(stop_all);
            }
        });
        let dir = std::env::temp_dir().join(format!("pgsurge-test-pg{major}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ts")).expect("temp dir");
        let status = Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().expect("chown");
        assert!(status.success(), "chown {} failed", dir.display());
        let as_postgres = |program: &str| {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(bindir.join(program));
            c
        };
        let out = as_postgres("initdb")
            .args(["--no-sync", "-U", "postgres", "-A", "trust", "--encoding=UTF8", "--locale=C", "-D"])
            .arg(dir.join("data"))
            .output()
            .expect("initdb");
        assert!(out.status.success(), "initdb {major}: {}", String::from_utf8_lossy(&out.stderr));
        STARTED.lock().unwrap_or_else(|e| e.into_inner()).push((bindir.clone(), dir.clone()));
        let mut port = free_port();
        for attempt in 0.. {
            let opts = format!(
                "-k {} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=60 -c max_locks_per_transaction=256",
                dir.display()
            );
            let out = as_postgres("pg_ctl").arg("-D").arg(dir.join("data")).args(["-w", "-l"]).arg(dir.join("log")).args(["-o", &opts, "start"]).output().expect("pg_ctl");
            if out.status.success() {
                break;
            }
            assert!(attempt < 3, "could not start PostgreSQL {major}: {}", std::fs::read_to_string(dir.join("log")).unwrap_or_default());
            port = free_port();
        }
        let cluster = Cluster { major, bindir, dir, port };
        let globals = testdata().join("../tools/fixture/globals.sql");
        let out = Command::new(cluster.bindir.join("psql"))
            .args(cluster.conn_args("postgres"))
            .args(["-q", "-X", "-v", &format!("tsdir={}", cluster.dir.join("ts").display()), "-f"])
            .arg(globals)
            .output()
            .expect("psql");
        assert!(out.status.success(), "globals.sql on {major}: {}", String::from_utf8_lossy(&out.stderr));
        cluster
    }

    pub fn bin(&self, program: &str) -> PathBuf {
        self.bindir.join(program)
    }

    /// `-h <socket dir> -p <port> -U postgres -d <db>`, as pg_restore and pgsurge take them.
    pub fn conn_args(&self, db: &str) -> Vec<String> {
        vec!["-h".into(), self.dir.display().to_string(), "-p".into(), self.port.to_string(), "-U".into(), "postgres".into(), "-d".into(), db.into()]
    }

    /// Runs SQL in `db`, stopping at the first error; tuples only, unaligned.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin("psql")).args(self.conn_args(db)).args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().expect("psql");
        assert!(out.status.success(), "psql {sql:?} in {db}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new empty database with a name no other test uses.
    pub fn fresh_db(&self, hint: &str) -> String {
        static N: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut n = N.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            *n
        };
        let name: String = format!("t{n}_{hint}").chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(60).collect();
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        name
    }

    /// What two restores must agree on: the schema as this major's pg_dump prints it, and
    /// the data (table rows, large objects, sequence values) as the multiset of lines of its
    /// data-only dump, so row order does not matter.
    pub fn fingerprint(&self, db: &str) -> Fingerprint {
        let dump = |extra: &[&str]| {
            let out = Command::new(self.bin("pg_dump")).args(self.conn_args(db)).args(extra).output().expect("pg_dump");
            assert!(out.status.success(), "pg_dump {db}: {}", String::from_utf8_lossy(&out.stderr));
            // \restrict carries a random key; the rest is the database's own.
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")).map(|l| format!("{l}\n")).collect::<String>()
        };
        let schema = dump(&["--schema-only"]);
        let data = dump(&["--data-only"]);
        let mut lines: Vec<&str> = data.lines().filter(|l| !l.starts_with("--") && !l.is_empty()).collect();
        let rows = lines.len();
        lines.sort_unstable();
        let mut h = DefaultHasher::new();
        lines.hash(&mut h);
        Fingerprint { schema, data_lines: rows, data_hash: h.finish() }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub schema: String,
    pub data_lines: usize,
    pub data_hash: u64,
}

impl Fingerprint {
    /// Where `self` and `other` differ, readably; empty when they are equal.
    pub fn diff(&self, other: &Fingerprint) -> String {
        let mut out = String::new();
        if self.schema != other.schema {
            let (a, b): (Vec<&str>, Vec<&str>) = (self.schema.lines().collect(), other.schema.lines().collect());
            let at = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
            let from = at.saturating_sub(3);
            out.push_str(&format!(
                "schema differs at line {} ({} vs {} lines):\n--- expected:\n{}\n--- actual:\n{}\n",
                at + 1,
                a.len(),
                b.len(),
                a[from..(at + 8).min(a.len())].join("\n"),
                b[from..(at + 8).min(b.len())].join("\n")
            ));
        }
        if (self.data_lines, self.data_hash) != (other.data_lines, other.data_hash) {
            out.push_str(&format!("data differs: {} lines (hash {:x}) vs {} lines (hash {:x})\n", self.data_lines, self.data_hash, other.data_lines, other.data_hash));
        }
        out
    }
}

pub fn path_arg(p: &Path) -> String {
    p.display().to_string()
}
