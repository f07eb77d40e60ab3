//! The swap itself. A database can be renamed only while no session is connected to it,
//! and an app with a connection pool reconnects within milliseconds, so renaming while
//! clients come back is a race the rename loses. Here new connections are held off first
//! (`ALLOW_CONNECTIONS false`: they are refused for that instant, and a pool retries), the
//! sessions still there leave or are ended, and both renames commit in one transaction, so
//! that at every moment the name belongs to the old database or the new one, never to
//! neither. The time from holding connections off to the commit is what the swap reports
//! as unavailable.

use std::time::{Duration, Instant, SystemTime};

use pgsurge_connect::ConnParams;
use tokio_postgres::Client;

use super::{copies, SwapError};
use crate::db::{self, ident, DbError};

/// How the swap treats sessions connected to the database it replaces.
#[derive(Debug, Clone)]
pub struct SwapOptions {
    /// End them (`pg_terminate_backend`) rather than wait for them to leave.
    pub terminate: bool,
    /// How long to wait for them to leave.
    pub timeout: Duration,
}

/// What the swap did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwapOutcome {
    pub database: String,
    /// The safety copy the replaced database became, if one was there.
    pub safety_copy: Option<String>,
    /// From holding new connections off to the renames' commit.
    pub unavailable_ms: u64,
    /// Sessions ended by `--terminate`.
    pub terminated: usize,
    /// Time spent waiting for sessions to leave before holding connections off.
    pub waited_ms: u64,
}

/// SQLSTATE 55006: the database is being accessed by other users.
const OBJECT_IN_USE: &str = "55006";

pub(super) async fn swap(params: &ConnParams, incoming: &str, options: &SwapOptions, before_lock: &mut dyn FnMut()) -> Result<SwapOutcome, SwapError> {
    let client = db::connect_maintenance(params).await?;
    let target = params.dbname.as_str();
    // Nobody should be on the incoming database (the restore's connections are closed); a
    // stray session there would fail the rename, so it is ended whatever the options say.
    terminate_all(&client, incoming).await?;
    wait_until_empty(&client, incoming, Duration::from_secs(5)).await?;

    if !db::database_exists(&client, target).await? {
        before_lock();
        let started = Instant::now();
        client.batch_execute(&format!("ALTER DATABASE {} RENAME TO {}", ident(incoming), ident(target))).await.map_err(|e| rename_error(incoming, target, &e))?;
        return Ok(SwapOutcome { database: target.to_owned(), safety_copy: None, unavailable_ms: millis(started.elapsed()), terminated: 0, waited_ms: 0 });
    }
    let prepared: i64 = client.query_one("SELECT count(*) FROM pg_catalog.pg_prepared_xacts WHERE database = $1", &[&target]).await.map_err(DbError::Query)?.get(0);
    if prepared > 0 {
        return Err(SwapError::PreparedTransactions { database: target.to_owned(), count: prepared });
    }
    let safety = copies::new_name(&client, target, SystemTime::now()).await?;

    // Without --terminate, wait for the sessions to leave while the app may still connect:
    // holding connections off for the whole wait would make the app unavailable for it.
    let waiting = Instant::now();
    if !options.terminate {
        let deadline = waiting + options.timeout;
        loop {
            let sessions = sessions_on(&client, target).await?;
            // The caller's marker is one of them until `before_lock`.
            if sessions.iter().all(|s| s.marker) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(stayed(target, &sessions, options.timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let waited = waiting.elapsed();

    before_lock();
    let started = Instant::now();
    set_allow_connections(&client, target, false).await?;
    let result = swap_held(&client, target, incoming, &safety, options).await;
    match result {
        Ok(terminated) => {
            let unavailable = started.elapsed();
            // The safety copy can be looked at, and rolled back to.
            set_allow_connections(&client, &safety, true).await?;
            Ok(SwapOutcome { database: target.to_owned(), safety_copy: Some(safety), unavailable_ms: millis(unavailable), terminated, waited_ms: millis(waited) })
        }
        Err(e) => {
            // The live database stays as it was, open again.
            let _ = set_allow_connections(&client, target, true).await;
            Err(e)
        }
    }
}

/// With new connections held off: the sessions left are ended or waited for, then both
/// renames commit together. Returns how many sessions were ended.
async fn swap_held(client: &Client, target: &str, incoming: &str, safety: &str, options: &SwapOptions) -> Result<usize, SwapError> {
    let terminated = if options.terminate { terminate_all(client, target).await? } else { 0 };
    wait_until_empty(client, target, if options.terminate { Duration::from_secs(10) } else { options.timeout }).await?;
    // A session that got in as connections were being held off can still be there for a
    // moment: retried until the deadline, with no new client able to come in meanwhile.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let renamed = client
            .batch_execute(&format!("BEGIN; ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} RENAME TO {}; COMMIT", ident(target), ident(safety), ident(incoming), ident(target)))
            .await;
        match renamed {
            Ok(()) => return Ok(terminated),
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                if e.code().map(|c| c.code()) != Some(OBJECT_IN_USE) || Instant::now() >= deadline {
                    return Err(rename_error(target, safety, &e));
                }
                if options.terminate {
                    terminate_all(client, target).await?;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

async fn set_allow_connections(client: &Client, name: &str, allow: bool) -> Result<(), DbError> {
    client.batch_execute(&format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}", ident(name))).await?;
    Ok(())
}

/// A session connected to a database, as the swap needs to know it.
struct Session {
    pid: i32,
    application: String,
    marker: bool,
}

async fn sessions_on(client: &Client, name: &str) -> Result<Vec<Session>, DbError> {
    let rows = client
        .query("SELECT pid, coalesce(application_name, '') FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()", &[&name])
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let application: String = r.get(1);
            Session { pid: r.get(0), marker: application.starts_with(crate::marker::APPLICATION_PREFIX), application }
        })
        .collect())
}

/// Ends every session on `name`; returns how many were asked to end.
async fn terminate_all(client: &Client, name: &str) -> Result<usize, DbError> {
    let rows = client
        .query("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()", &[&name])
        .await?;
    Ok(rows.len())
}

async fn wait_until_empty(client: &Client, name: &str, timeout: Duration) -> Result<(), SwapError> {
    let deadline = Instant::now() + timeout;
    loop {
        let sessions = sessions_on(client, name).await?;
        if sessions.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(stayed(name, &sessions, timeout));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stayed(database: &str, sessions: &[Session], waited: Duration) -> SwapError {
    let mut names: Vec<String> = sessions.iter().filter(|s| !s.marker).map(|s| if s.application.is_empty() { format!("pid {}", s.pid) } else { format!("{} (pid {})", s.application, s.pid) }).collect();
    names.truncate(5);
    SwapError::SessionsStayed { database: database.to_owned(), count: sessions.iter().filter(|s| !s.marker).count(), who: names.join(", "), waited }
}

fn rename_error(from: &str, to: &str, e: &tokio_postgres::Error) -> SwapError {
    SwapError::Rename { from: from.to_owned(), to: to.to_owned(), reason: db::describe(e) }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
