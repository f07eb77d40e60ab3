//! How the stages reach the server: a current-thread runtime for one blocking call, a
//! connection to a named database, and the maintenance database (`postgres`, else
//! `template1`, as `createdb` chooses) from which databases are created, renamed and
//! dropped — a database cannot be renamed by a session connected to it.

use pgsurge_connect::{ConnParams, ConnectError};
use tokio_postgres::Client;

/// Why a stage could not talk to the server.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Connect(#[from] ConnectError),
    #[error("{}", describe(.0))]
    Query(#[from] tokio_postgres::Error),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}

impl DbError {
    /// The SQLSTATE of a failed statement, if the server gave one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query(e) => e.code().map(|c| c.code()),
            DbError::Connect(e) => e.sqlstate(),
            DbError::Runtime(_) => None,
        }
    }
}

/// The server's own words (`ERROR:  database "x" is being accessed by other users`) rather
/// than tokio-postgres's "db error".
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
}

/// Runs `f` to completion on a runtime of its own: the stages are called from the CLI's
/// plain threads, one blocking step at a time.
pub fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, DbError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DbError::Runtime)?;
    Ok(rt.block_on(f))
}

/// A connection to database `name` on the server `params` names.
pub async fn connect_to(params: &ConnParams, name: &str) -> Result<Client, DbError> {
    let (client, _driver) = params.with_dbname(name).connect().await?;
    Ok(client)
}

/// A connection to the maintenance database: `postgres`, or `template1` where there is no
/// `postgres`.
pub async fn connect_maintenance(params: &ConnParams) -> Result<Client, DbError> {
    match connect_to(params, "postgres").await {
        Err(DbError::Connect(ConnectError::NoSuchDatabase { .. })) => connect_to(params, "template1").await,
        other => other,
    }
}

/// Whether database `name` exists.
pub async fn database_exists(client: &Client, name: &str) -> Result<bool, DbError> {
    Ok(client.query_opt("SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", &[&name]).await?.is_some())
}

/// `name` as an SQL identifier, quoted as pg_dump quotes it.
pub fn ident(name: &str) -> String {
    String::from_utf8_lossy(&pgsurge_plan::sql::quote_ident(name.as_bytes())).into_owned()
}

/// `value` as an SQL string literal that reads the same whatever the session's
/// `standard_conforming_strings`: with a backslash in it, an `E'…'` literal with the
/// backslashes doubled.
pub fn literal(value: &str) -> String {
    let quoted = String::from_utf8_lossy(&pgsurge_plan::sql::string_literal(value.as_bytes(), false)).into_owned();
    if value.contains('\\') {
        format!("E{quoted}")
    } else {
        quoted
    }
}
