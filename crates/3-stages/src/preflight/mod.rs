//! Preflight: what a restore needs (`pgsurge_plan::needs`, read from the archive or script
//! without a server) checked against what the server has, before anything changes — the
//! server's version, roles, extensions, tablespaces, the target database's state, the
//! encoding and locale `--create` asks for, and room on disk where that can be read. Every
//! problem is found in one pass and reported with its fix; nothing here writes to the
//! server.
//!
//! The checks live beside what they check: `objects` (roles, extensions, tablespaces),
//! `database` (the target database, and `--create`'s encoding and locale), `disk` (free
//! space of a local server's data directory); `packages` names what provides an extension.
//! Whether problems stop the restore is the caller's decision (`--force` goes on).

mod database;
mod disk;
mod objects;
mod packages;

use pgsurge_connect::{ConnParams, ConnectError};
use pgsurge_plan::needs::Needs;
use serde::Serialize;
use tokio_postgres::Client;

use crate::db::{self, DbError};

/// What the restore is about to do to which database.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The database the restore ends up in: `-d`'s, or with `create` the one it creates
    /// (the archive's name).
    pub dbname: String,
    /// `--create`: the restore creates `dbname`, connecting first to the connection
    /// parameters' own database.
    pub create: bool,
    /// `--clean`: the restore drops what it restores first (with `create`, the database).
    pub clean: bool,
    /// `--swap`: the restore goes into a new database beside `dbname`, swapped in at the end.
    pub swap: bool,
    /// The major version of the PostgreSQL the archive was dumped from, if known.
    pub archive_major: Option<u32>,
}

/// One problem or warning: what it is about, what is wrong, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name for scripts and the JSON report: `missing-role`, `missing-extension`,
    /// `missing-tablespace`, `database-exists`, `database-missing`, `database-in-use`,
    /// `database-not-empty`, `server-older`, `connection-failed`, `encoding`, `locale`,
    /// `locale-provider`, `disk-space`, `missing-extension-version`.
    pub code: &'static str,
    /// The role, extension, tablespace or database it is about.
    pub subject: String,
    pub message: String,
    /// What to do about it: a statement to run, an option, a package to install.
    pub fix: String,
}

/// Everything preflight found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// What would make the restore fail.
    pub problems: Vec<Finding>,
    /// What the user should know; the restore goes on.
    pub warnings: Vec<Finding>,
    /// Ways around several problems at once (`--no-owner --no-privileges` for every
    /// missing role), after each problem's own fix.
    pub alternatives: Vec<String>,
    pub facts: Facts,
}

impl Findings {
    /// True when nothing would make the restore fail.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, code: &'static str, subject: impl Into<String>, message: String, fix: String) {
        self.problems.push(Finding { code, subject: subject.into(), message, fix });
    }

    fn warning(&mut self, code: &'static str, subject: impl Into<String>, message: String, fix: String) {
        self.warnings.push(Finding { code, subject: subject.into(), message, fix });
    }
}

/// What preflight learned of the server, for the summary and the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// `server_version` as the server reports it (`18.1 (Debian 18.1-1.pgdg13+1)`);
    /// empty when it could not be reached.
    pub server_version: String,
    pub server_major: Option<u32>,
    pub archive_major: Option<u32>,
    /// The database the checks ran in: the target, or `postgres`/`template1` when the
    /// target does not exist.
    pub checked_in: String,
    pub target: Option<TargetState>,
    pub roles_checked: usize,
    pub extensions: Vec<ExtensionFact>,
    pub tablespaces_checked: usize,
    /// Archive bytes of the data the restore loads (compressed).
    pub data_bytes: Option<u64>,
    /// The server's data directory, and the bytes free on its file system, when the server
    /// runs on this machine and both could be read.
    pub data_directory: Option<String>,
    pub free_bytes: Option<u64>,
}

/// The target database as it is now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetState {
    pub database: String,
    pub exists: bool,
    /// Tables, views, sequences… outside the system schemas; known only when the checks ran
    /// connected to it.
    pub relations: Option<u64>,
    pub size_bytes: Option<u64>,
    /// Other sessions connected to it, and their `application_name`s.
    pub sessions: u64,
    pub applications: Vec<String>,
    pub encoding: Option<String>,
}

/// An extension the restore creates, as the server offers it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExtensionFact {
    pub name: String,
    pub available: bool,
    pub default_version: Option<String>,
    pub installed_version: Option<String>,
}

/// Why preflight could not finish. A server that cannot be reached is a [`Finding`]
/// (`connection-failed`), not an error: it is the first thing a restore would fail on.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// A catalog query failed; the server's own words follow.
    #[error("checking {what} on the server failed: {}", db::describe(.error))]
    Query { what: &'static str, error: tokio_postgres::Error },
    #[error("could not read {what} from the server's answer")]
    Row {
        what: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl PreflightError {
    fn query(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PreflightError {
        move |error| PreflightError::Query { what, error }
    }

    fn row(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PreflightError {
        move |source| PreflightError::Row { what, source }
    }
}

/// Checks `needs` against the server `params` reach, for a restore into `target`.
/// Blocking: runs on a runtime of its own.
pub fn check(params: &ConnParams, needs: &Needs, target: &Target) -> Result<Findings, PreflightError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(PreflightError::Runtime)?;
    rt.block_on(check_on(params, needs, target))
}

/// [`check`], on the caller's runtime.
pub async fn check_on(params: &ConnParams, needs: &Needs, target: &Target) -> Result<Findings, PreflightError> {
    let mut f = Findings::default();
    f.facts.archive_major = target.archive_major;
    f.facts.data_bytes = needs.data_bytes;
    let Some((client, in_target)) = connect(params, target, &mut f).await else { return Ok(f) };

    let num: String = simple_value(&client, "SHOW server_version_num", "the server version").await?.unwrap_or_default();
    let major = num.trim().parse::<u32>().ok().map(|n| n / 10_000);
    f.facts.server_version = simple_value(&client, "SHOW server_version", "the server version").await?.unwrap_or_default();
    f.facts.server_major = major;
    if let (Some(archive), Some(server)) = (target.archive_major, major) {
        if archive > server {
            f.warning(
                "server-older",
                format!("PostgreSQL {server}"),
                format!("the archive was dumped from PostgreSQL {archive}, the server runs {server}: what {archive} has and {server} lacks will fail to restore"),
                format!("restore into a PostgreSQL {archive} (or newer) server"),
            );
        }
    }

    objects::roles(&client, needs, &mut f).await?;
    objects::extensions(&client, needs, target, in_target, major.unwrap_or(0), &mut f).await?;
    objects::tablespaces(&client, needs, &mut f).await?;
    database::target(&client, needs, target, in_target, &mut f).await?;
    if target.create {
        if let Some(wanted) = &needs.database {
            database::create_options(&client, wanted, major.unwrap_or(0), &mut f).await?;
        }
    }
    disk::free_space(&client, params, needs, &mut f).await;
    Ok(f)
}

/// Opens the connection the checks run on: to the target database when it exists, else to
/// the maintenance database. Returns whether it is the target; `None` (after recording a
/// `connection-failed` problem) when the server cannot be reached at all.
async fn connect(params: &ConnParams, target: &Target, f: &mut Findings) -> Option<(Client, bool)> {
    if target.create && params.dbname != target.dbname {
        // `--create` first connects to the database the connection options name, to create
        // the new one from there.
        match db::connect_to(params, &params.dbname).await {
            Ok(_) => {}
            Err(DbError::Connect(ConnectError::NoSuchDatabase { dbname, .. })) => f.problem(
                "database-missing",
                dbname.clone(),
                format!("database \"{dbname}\" does not exist: --create connects to it to create \"{}\"", target.dbname),
                "name an existing database with -d (postgres, say)".into(),
            ),
            Err(e) => {
                failed(&e, f);
                return None;
            }
        }
    }
    match db::connect_to(params, &target.dbname).await {
        Ok(client) => {
            f.facts.checked_in = target.dbname.clone();
            return Some((client, true));
        }
        Err(DbError::Connect(ConnectError::NoSuchDatabase { .. })) => {}
        Err(e) => {
            failed(&e, f);
            return None;
        }
    }
    // The target does not exist (yet): `database::target` says whether that is a problem.
    for name in ["postgres", "template1"] {
        match db::connect_to(params, name).await {
            Ok(client) => {
                f.facts.checked_in = name.to_owned();
                return Some((client, false));
            }
            Err(DbError::Connect(ConnectError::NoSuchDatabase { .. })) => {}
            Err(e) => {
                failed(&e, f);
                return None;
            }
        }
    }
    f.problem(
        "connection-failed",
        target.dbname.clone(),
        format!("neither database \"{}\" nor postgres nor template1 exists on the server", target.dbname),
        "name an existing database with -d".into(),
    );
    None
}

fn failed(e: &DbError, f: &mut Findings) {
    let hint = match e {
        DbError::Connect(c) => c.hint(),
        _ => None,
    };
    f.problem("connection-failed", "server", e.to_string(), hint.unwrap_or_else(|| "check the connection options (-d, -h, -p, -U) and that the server is running".into()));
}

/// The one value a one-row `SHOW` or `SELECT` returns.
async fn simple_value(client: &Client, sql: &str, what: &'static str) -> Result<Option<String>, PreflightError> {
    let rows = client.simple_query(sql).await.map_err(PreflightError::query(what))?;
    Ok(rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
        _ => None,
    }))
}

/// A name as PostgreSQL's messages quote it (`role "x"`), for text, not SQL.
fn named(kind: &str, name: &str) -> String {
    format!("{kind} \"{name}\"")
}

/// `name` as an SQL identifier, for statements a fix suggests.
fn ident(name: &str) -> String {
    db::ident(name)
}

/// A byte count for people: `512 B`, `26.9 kB`, `1.2 GB` (powers of 1000, as the summary).
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
