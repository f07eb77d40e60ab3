//! Opens a connection from resolved `ConnParams`: tries each host in order as libpq does,
//! finds the password (given, password file, terminal), picks the TLS mode per attempt and
//! spawns the task that drives the connection.
//!
//! Each host gets its own one-host `tokio_postgres::Config`, so that the password file can
//! be consulted per host and the failure of each host be reported with its own target.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use tokio::task::JoinHandle;
use tokio_postgres::error::{DbError, SqlState};
use tokio_postgres::{AsyncMessage, Client, Connection};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{classify, server_text, with_causes, Failure};
use super::pgpass;
use super::tls;
use super::{
    ConnParams, ConnectError, HostSpec, Password, PasswordPolicy, SessionAttrs, SslMode, Target,
};

/// Receives the server's NOTICE and WARNING messages for one connection.
pub type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// Where the password of an attempt came from; decides the hint on failure.
#[derive(Clone)]
struct Credential {
    password: Option<Password>,
    passfile: Option<std::path::PathBuf>,
}

impl ConnParams {
    /// Connects to the first host of the list that accepts us, and spawns the task that
    /// drives the connection with `tokio::spawn` on the current runtime. The task ends when
    /// the `Client` is dropped or the connection fails; server notices are logged with
    /// `tracing` at info level (pg_restore shows them with `-v` only).
    ///
    /// With `connect_timeout` set, the runtime must have its time driver enabled.
    /// Not cancel-safe in one respect: dropping the future while the password prompt is
    /// open leaves the prompt's blocking thread waiting for a line.
    pub async fn connect(&self) -> Result<(Client, JoinHandle<()>), ConnectError> {
        let log: NoticeHandler = Arc::new(|notice: &DbError| {
            tracing::info!(target: "pgsurge::server", "{}: {}", notice.severity(), notice.message());
        });
        self.connect_with_notices(log).await
    }

    /// Like [`ConnParams::connect`], handing each server notice to `on_notice`.
    pub async fn connect_with_notices(
        &self,
        on_notice: NoticeHandler,
    ) -> Result<(Client, JoinHandle<()>), ConnectError> {
        let connector = tls::connector(self)?;
        let mut given = self.password.clone();
        if given.is_none() {
            given = self.prompted.lock().await.clone();
        }
        if given.is_none() && self.password_policy == PasswordPolicy::Always {
            given = Some(self.prompt().await?);
        }
        let mut last = None;
        for host in &self.hosts {
            match self.connect_host(host, &connector, given.clone()).await {
                Ok((client, connection)) => {
                    let task = tokio::spawn(drive(connection, on_notice));
                    return Ok((client, task));
                }
                Err(e) if e.try_next_host() => {
                    tracing::debug!("{e}; trying the next host");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ConnectError::BadConnInfo {
            message: "no host to connect to".to_string(),
        }))
    }

    /// One host: the password file when no password is known, then at most one retry
    /// after asking on the terminal.
    async fn connect_host(
        &self,
        host: &HostSpec,
        connector: &MakeRustlsConnect,
        given: Option<Password>,
    ) -> Result<(Client, Connection<tokio_postgres::Socket, TlsStream>), ConnectError> {
        let cred = match given {
            Some(p) => Credential {
                password: Some(p),
                passfile: None,
            },
            None => self.passfile_credential(host),
        };
        match self.connect_modes(host, connector, &cred).await {
            Err(ConnectError::PasswordRequired { .. })
                if self.password_policy == PasswordPolicy::IfAsked && terminal_available() =>
            {
                let password = self.prompt().await?;
                let cred = Credential {
                    password: Some(password),
                    passfile: None,
                };
                self.connect_modes(host, connector, &cred).await
            }
            other => other,
        }
    }

    fn passfile_credential(&self, host: &HostSpec) -> Credential {
        let Some(path) = &self.passfile else {
            return Credential {
                password: None,
                passfile: None,
            };
        };
        // libpq matches the host name, or the address when only `hostaddr` was given.
        let host_name = host.host_display();
        let key = pgpass::Key {
            host: &host_name,
            port: host.port,
            dbname: &self.dbname,
            user: &self.user,
        };
        let found = pgpass::lookup(path, key);
        if let Some(w) = found.warning {
            tracing::warn!("{w}");
        }
        let passfile = found.password.as_ref().map(|_| path.clone());
        Credential {
            password: found.password,
            passfile,
        }
    }

    /// Applies sslmode: TLS is never used on Unix sockets (the server does not offer it
    /// there); `allow` tries without TLS and, if the server turns that down, with TLS.
    async fn connect_modes(
        &self,
        host: &HostSpec,
        connector: &MakeRustlsConnect,
        cred: &Credential,
    ) -> Result<(Client, Connection<tokio_postgres::Socket, TlsStream>), ConnectError> {
        use tokio_postgres::config::SslMode as Wire;
        let unix = !matches!(host.target, Target::Tcp { .. });
        let mode = match self.sslmode {
            _ if unix => Wire::Disable,
            SslMode::Disable | SslMode::Allow => Wire::Disable,
            SslMode::Prefer => Wire::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Wire::Require,
        };
        let first = self.connect_once(host, connector, cred, mode).await;
        match first {
            Err(ConnectError::Auth { .. } | ConnectError::Server { .. } | ConnectError::Other { .. })
                if self.sslmode == SslMode::Allow && !unix =>
            {
                self.connect_once(host, connector, cred, Wire::Require)
                    .await
            }
            other => other,
        }
    }

    async fn connect_once(
        &self,
        host: &HostSpec,
        connector: &MakeRustlsConnect,
        cred: &Credential,
        mode: tokio_postgres::config::SslMode,
    ) -> Result<(Client, Connection<tokio_postgres::Socket, TlsStream>), ConnectError> {
        let target = host.describe();
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .dbname(&self.dbname)
            .port(host.port)
            .ssl_mode(mode);
        match &host.target {
            Target::Unix(dir) => {
                config.host_path(dir);
            }
            Target::Tcp { name, addr } => {
                // The name is what TLS verifies; with only `hostaddr`, the address is the name.
                match addr {
                    Some(a) if name.is_empty() => config.host(a.to_string()),
                    _ => config.host(name),
                };
                if let Some(a) = addr {
                    config.hostaddr(*a);
                }
            }
            Target::Abstract(name) => {
                return Err(ConnectError::Unsupported {
                    message: format!(
                        "abstract Unix sockets are not supported by pgsurge (host \"{name}\")"
                    ),
                })
            }
        }
        if let Some(p) = &cred.password {
            config.password(p.expose());
        }
        if let Some(a) = &self.application_name {
            config.application_name(a);
        }
        if let Some(o) = &self.options {
            config.options(o);
        }
        config.target_session_attrs(match self.target_session_attrs {
            SessionAttrs::Any => tokio_postgres::config::TargetSessionAttrs::Any,
            SessionAttrs::ReadWrite => tokio_postgres::config::TargetSessionAttrs::ReadWrite,
            SessionAttrs::ReadOnly => tokio_postgres::config::TargetSessionAttrs::ReadOnly,
        });
        match self.channel_binding.as_deref() {
            Some("disable") => {
                config.channel_binding(tokio_postgres::config::ChannelBinding::Disable);
            }
            Some("require") => {
                config.channel_binding(tokio_postgres::config::ChannelBinding::Require);
            }
            _ => {}
        }

        let attempt = config.connect(connector.clone());
        let result = match self.connect_timeout {
            // libpq's timeout covers the whole attempt on one host, not only the TCP
            // handshake as tokio-postgres's own `connect_timeout` does.
            Some(limit) => match tokio::time::timeout(limit, attempt).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ConnectError::Timeout {
                        target,
                        seconds: limit.as_secs(),
                    })
                }
            },
            None => attempt.await,
        };
        result.map_err(|e| self.explain(e, target, cred))
    }

    fn explain(
        &self,
        err: tokio_postgres::Error,
        target: String,
        cred: &Credential,
    ) -> ConnectError {
        match classify(err) {
            Failure::NeedsPassword => ConnectError::PasswordRequired {
                target,
                user: self.user.clone(),
                can_prompt: self.password_policy != PasswordPolicy::Never,
            },
            Failure::Refused(reason) => ConnectError::Unreachable { target, reason },
            Failure::Tls(message) => ConnectError::Tls {
                message: format!("TLS connection to {target} failed: {message}"),
            },
            Failure::Server(source) => {
                let code = source.code().cloned();
                let db = source.as_db_error();
                match (code, db) {
                    (Some(c), Some(db))
                        if c == SqlState::INVALID_PASSWORD
                            || c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
                    {
                        ConnectError::Auth {
                            target,
                            user: self.user.clone(),
                            code: c.code().to_string(),
                            message: db.message().to_string(),
                            passfile: cred.passfile.clone(),
                        }
                    }
                    (Some(c), Some(_)) if c == SqlState::INVALID_CATALOG_NAME => {
                        ConnectError::NoSuchDatabase {
                            target,
                            dbname: self.dbname.clone(),
                        }
                    }
                    (Some(sqlstate), Some(db)) => ConnectError::Server {
                        target,
                        sqlstate,
                        message: server_text(db),
                    },
                    _ => ConnectError::Other {
                        target,
                        reason: with_causes(&source),
                        source,
                    },
                }
            }
            Failure::Other(source) => ConnectError::Other {
                target,
                reason: with_causes(&source),
                source,
            },
        }
    }

    /// Asks for the password on the terminal, once for all clones of these parameters.
    /// The lock is held while the user types, so concurrent callers wait and reuse it.
    async fn prompt(&self) -> Result<Password, ConnectError> {
        let mut slot = self.prompted.lock().await;
        if let Some(p) = slot.as_ref() {
            return Ok(p.clone());
        }
        // rpassword reads from and writes to /dev/tty, not stdin, which may carry the
        // archive; it blocks, hence the blocking thread.
        let typed = tokio::task::spawn_blocking(|| rpassword::prompt_password("Password: "))
            .await
            .map_err(|e| ConnectError::Prompt(std::io::Error::other(e)))?
            .map_err(ConnectError::Prompt)?;
        let password = Password::new(typed);
        *slot = Some(password.clone());
        Ok(password)
    }
}

/// The TLS stream type the rustls adapter produces (its own type is not exported by name).
type TlsStream =
    <MakeRustlsConnect as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream;

/// Whether there is a terminal to ask on, as libpq's `simple_prompt` needs.
fn terminal_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Drives `connection` until it closes, handing notices to `on_notice`. A connection error
/// also surfaces on the `Client`'s next call, which is where the worker reports it; here it
/// is only logged.
async fn drive(
    mut connection: Connection<tokio_postgres::Socket, TlsStream>,
    on_notice: NoticeHandler,
) {
    let result = poll_fn(|cx| loop {
        match connection.poll_message(cx) {
            Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => on_notice(&notice),
            // LISTEN/NOTIFY is never used by a restore.
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    if let Err(e) = result {
        tracing::debug!("connection ended with an error: {e}");
    }
}
