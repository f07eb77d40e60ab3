//! `pgsurge status`: whether a restore into a database is running, read from the markers
//! (`marker`) connected to it — by any role, without waiting on anything.

use pgsurge_connect::{ConnParams, ConnectError};
use tokio_postgres::Client;

use crate::db::{self, DbError};
use crate::marker::{self, Reading, APPLICATION_PREFIX};

/// One running restore, as its marker shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Running {
    /// The marker session's server process.
    pub pid: i32,
    #[serde(flatten)]
    pub reading: Reading,
}

impl Running {
    /// `stage data 41%, since 2026-12-03T19:01:37Z (server process 1234)`.
    pub fn describe(&self) -> String {
        let percent = self.reading.percent.map(|p| format!(" {p}%")).unwrap_or_default();
        let since = self.reading.since.as_deref().map(|s| format!(", since {s}")).unwrap_or_default();
        format!("stage {}{percent}{since} (server process {})", self.reading.stage, self.pid)
    }
}

/// What `status` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub database: String,
    /// Whether the database exists (a `--create` restore may not have made it yet).
    pub exists: bool,
    pub running: Vec<Running>,
}

/// Reads the markers on `database`, connected to it (or to the maintenance database when it
/// does not exist).
pub fn read(params: &ConnParams) -> Result<Status, DbError> {
    db::block_on(async {
        let database = params.dbname.clone();
        let (client, exists) = match db::connect_to(params, &database).await {
            Ok(client) => (client, true),
            Err(DbError::Connect(ConnectError::NoSuchDatabase { .. })) => (db::connect_maintenance(params).await?, false),
            Err(e) => return Err(e),
        };
        let mut status = read_on(&client, &database).await?;
        status.exists = exists;
        Ok(status)
    })?
}

/// Reads the markers on `database` over a session already open (to any database).
pub async fn read_on(client: &Client, database: &str) -> Result<Status, DbError> {
    let pattern = format!("{APPLICATION_PREFIX}%");
    let rows = client
        .query(
            "SELECT pid, application_name FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_catalog.pg_backend_pid() ORDER BY pid",
            &[&database, &pattern],
        )
        .await?;
    let running = rows
        .iter()
        .filter_map(|row| {
            let name: Option<String> = row.get(1);
            Some(Running { pid: row.get(0), reading: marker::parse_application_name(&name?)? })
        })
        .collect();
    Ok(Status { database: database.to_owned(), exists: true, running })
}
