//! A minimal [`Connector`]: host, port, user and database from the command line and the `PG*`
//! environment, no TLS, no password file. It serves until the libpq-compatible connection
//! module (conninfo strings, URIs, `~/.pgpass`, `sslmode`) replaces it.

use std::future::Future;
use std::pin::Pin;

use super::{ConnectFailure, Connector};

#[derive(Debug, Clone, Default)]
pub struct PlainConnector {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub password: Option<String>,
}

impl PlainConnector {
    fn config(&self, dbname: Option<&str>) -> tokio_postgres::Config {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut c = tokio_postgres::Config::new();
        let host = self.host.clone().or_else(|| env("PGHOST")).unwrap_or_else(|| {
            ["/var/run/postgresql", "/tmp"].into_iter().find(|d| std::path::Path::new(d).exists()).unwrap_or("localhost").to_owned()
        });
        c.host(&host);
        c.port(self.port.or_else(|| env("PGPORT").and_then(|p| p.parse().ok())).unwrap_or(5432));
        let user = self.user.clone().or_else(|| env("PGUSER")).unwrap_or_else(|| std::env::var("USER").unwrap_or_else(|_| "postgres".into()));
        c.user(&user);
        let db = dbname.map(str::to_owned).or_else(|| self.dbname.clone()).or_else(|| env("PGDATABASE")).unwrap_or(user);
        c.dbname(&db);
        if let Some(pw) = self.password.clone().or_else(|| env("PGPASSWORD")) {
            c.password(pw);
        }
        c.application_name(env("PGAPPNAME").unwrap_or_else(|| "pgsurge".into()));
        c
    }
}

impl Connector for PlainConnector {
    fn connect<'a>(&'a self, dbname: Option<&'a str>) -> Pin<Box<dyn Future<Output = Result<tokio_postgres::Client, ConnectFailure>> + Send + 'a>> {
        let config = self.config(dbname);
        Box::pin(async move {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| -> ConnectFailure { super::server_message(&e).into() })?;
            tokio::spawn(async move {
                // The driver ends when the client is dropped or the server goes away; the
                // client's next request reports the latter.
                let _ = connection.await;
            });
            Ok(client)
        })
    }
}
