//! `ConnectError`: why a connection could not be made, in terms a user can act on, and the
//! mapping from `tokio_postgres::Error` into it. No variant ever holds a password.

use std::path::PathBuf;

use tokio_postgres::error::{DbError, SqlState};

/// A failure to resolve connection parameters or to open a connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A `-d` connection string, an option value or an environment variable is malformed.
    /// The message keeps libpq's wording.
    #[error("{message}")]
    BadConnInfo { message: String },

    /// A libpq feature that pgsurge does not implement (for example `service`).
    #[error("{message}")]
    Unsupported { message: String },

    /// Nothing answered at `target` (connection refused, no such socket, no route, DNS).
    #[error("connection to {target} failed: {reason}")]
    Unreachable { target: String, reason: String },

    /// The server refused the login (SQLSTATE 28P01 bad password, 28000 no `pg_hba.conf`
    /// entry or similar). `message` is the server's own text.
    #[error("connection to {target} failed: {message} (SQLSTATE {code})")]
    Auth {
        target: String,
        user: String,
        code: String,
        message: String,
        /// Set when the password came from a password file, so the hint can name it, as
        /// libpq does.
        passfile: Option<PathBuf>,
    },

    /// The server answered but the database does not exist (SQLSTATE 3D000).
    #[error("connection to {target} failed: database \"{dbname}\" does not exist")]
    NoSuchDatabase { target: String, dbname: String },

    /// The server asked for a password and none could be found or asked for.
    #[error("connection to {target} failed: password required for user \"{user}\" but none was supplied")]
    PasswordRequired {
        target: String,
        user: String,
        can_prompt: bool,
    },

    /// Reading the password from the terminal failed.
    #[error("could not read the password from the terminal")]
    Prompt(#[source] std::io::Error),

    /// TLS could not be set up: a certificate file, the handshake or verification failed.
    #[error("{message}")]
    Tls { message: String },

    /// sslmode verify-ca or verify-full without a root certificate file.
    #[error("root certificate file \"{}\" does not exist", path.display())]
    MissingRootCert { path: PathBuf },

    /// `connect_timeout` passed before the server accepted the connection.
    #[error("connection to {target} timed out after {seconds} s")]
    Timeout { target: String, seconds: u64 },

    /// The server answered the login with an error other than the ones above: no
    /// connection slot left (SQLSTATE 53300), starting up or shutting down (57P03), the
    /// database not accepting connections (55000), … `message` is the server's text laid out
    /// as libpq lays it out (`FATAL:  sorry, too many clients already`), so the line reads
    /// as pg_restore's.
    #[error("connection to {target} failed: {message}")]
    Server {
        target: String,
        sqlstate: SqlState,
        message: String,
    },

    /// Any other failure (a protocol or I/O error once the server had answered, say).
    /// `reason` is the whole chain of causes, which tokio-postgres's own text leaves out.
    #[error("connection to {target} failed: {reason}")]
    Other {
        target: String,
        reason: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl ConnectError {
    /// The SQLSTATE the server sent, if this failure came from the server.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            ConnectError::Auth { code, .. } => Some(code),
            ConnectError::NoSuchDatabase { .. } => Some(SqlState::INVALID_CATALOG_NAME.code()),
            ConnectError::Server { sqlstate, .. } => Some(sqlstate.code()),
            ConnectError::Other { source, .. } => source.code().map(SqlState::code),
            _ => None,
        }
    }

    /// Whether the server refused because it has no connection slot left for us: SQLSTATE
    /// 53300, both for `sorry, too many clients already` and for `remaining connection
    /// slots are reserved for …`. A parallel restore can go on with the connections it has.
    pub fn too_many_connections(&self) -> bool {
        matches!(self, ConnectError::Server { sqlstate, .. } if *sqlstate == SqlState::TOO_MANY_CONNECTIONS)
    }

    /// The server's own words for a refusal it sent (`FATAL:  sorry, too many clients
    /// already`), without the target; `None` when the server sent none.
    pub fn server_reason(&self) -> Option<&str> {
        match self {
            ConnectError::Server { message, .. } => Some(message),
            _ => None,
        }
    }

    /// What the user can do about it, when we know; printed after the error as `hint:`.
    pub fn hint(&self) -> Option<String> {
        match self {
            ConnectError::Unreachable { target, .. } if target.starts_with("server on socket") => {
                Some("is the server running locally and accepting connections on that socket?".into())
            }
            ConnectError::Unreachable { .. } => {
                Some("is the server running on that host and accepting TCP/IP connections?".into())
            }
            ConnectError::Auth { passfile: Some(path), .. } => {
                Some(format!("the password was read from `{}`", path.display()))
            }
            ConnectError::Auth { code, .. } if code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION.code() => {
                Some("check the server's `pg_hba.conf` for an entry matching this host, user and database".into())
            }
            ConnectError::PasswordRequired { can_prompt: false, .. } => Some(
                "give it with PGPASSWORD or a password file (~/.pgpass), or drop -w to be asked on the terminal".into(),
            ),
            ConnectError::PasswordRequired { can_prompt: true, .. } => {
                Some("give it with PGPASSWORD or a password file (~/.pgpass)".into())
            }
            ConnectError::Server { .. } if self.too_many_connections() => Some(
                "the server allows no more connections here (its max_connections, or a CONNECTION LIMIT of the role or database): wait for other sessions to end, or raise the limit".into(),
            ),
            ConnectError::MissingRootCert { .. } => Some(
                "provide the file, use the system's trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification".into(),
            ),
            _ => None,
        }
    }

    /// Whether the next host in the list should be tried after this failure. libpq moves
    /// on when a host cannot be reached or TLS fails, but stops once a server has answered
    /// with an error (its docs: "if authentication fails, the remaining hosts are not
    /// tried").
    pub(crate) fn try_next_host(&self) -> bool {
        match self {
            ConnectError::Unreachable { .. }
            | ConnectError::Tls { .. }
            | ConnectError::Timeout { .. } => true,
            ConnectError::Other { source, .. } => source.as_db_error().is_none(),
            _ => false,
        }
    }
}

/// What went wrong with one attempt, before it is turned into a `ConnectError` (which needs
/// the target and user the caller knows).
pub(crate) enum Failure {
    /// The server asked for a password and the config had none.
    NeedsPassword,
    Refused(String),
    Tls(String),
    Server(tokio_postgres::Error),
    Other(tokio_postgres::Error),
}

/// Sorts a `tokio_postgres::Error` from `Config::connect`.
///
/// tokio-postgres exposes no error kind publicly, only its `Display` text per kind, so
/// this is the one place that reads it: "invalid configuration" caused by "password
/// missing" is the server asking for a password we did not give, "error connecting to
/// server" is a socket-level failure and "error performing TLS handshake" a TLS one.
/// Everything else is kept whole.
pub(crate) fn classify(err: tokio_postgres::Error) -> Failure {
    if err.as_db_error().is_some() {
        return Failure::Server(err);
    }
    let kind = err.to_string();
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    match (kind.as_str(), cause) {
        ("invalid configuration", Some(c)) if c == "password missing" => Failure::NeedsPassword,
        ("error connecting to server", Some(c)) => Failure::Refused(strip_os_error(&c)),
        ("error performing TLS handshake", Some(c)) => Failure::Tls(c),
        _ => Failure::Other(err),
    }
}

/// A server's error as libpq lays it out in `PQerrorMessage`: severity, two spaces, the
/// message, then DETAIL and HINT lines (`FATAL:  sorry, too many clients already`).
pub(crate) fn server_text(db: &DbError) -> String {
    let mut s = format!("{}:  {}", db.severity(), db.message());
    if let Some(detail) = db.detail() {
        s.push_str(&format!("\nDETAIL:  {detail}"));
    }
    if let Some(hint) = db.hint() {
        s.push_str(&format!("\nHINT:  {hint}"));
    }
    s
}

/// An error and all its causes on one line (`error communicating with the server: Broken
/// pipe`): tokio-postgres's own text names only the kind of failure.
pub(crate) fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&strip_os_error(&inner.to_string()));
        source = inner.source();
    }
    s
}

/// `Connection refused (os error 111)` → `Connection refused`, as libpq prints it.
fn strip_os_error(s: &str) -> String {
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_suffix_is_dropped() {
        assert_eq!(
            strip_os_error("Connection refused (os error 111)"),
            "Connection refused"
        );
        assert_eq!(strip_os_error("weird"), "weird");
    }

    #[test]
    fn hints_and_sqlstates() {
        let e = ConnectError::Unreachable {
            target: "server on socket \"/tmp/.s.PGSQL.5432\"".into(),
            reason: "No such file or directory".into(),
        };
        assert_eq!(
            e.to_string(),
            "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: No such file or directory"
        );
        assert!(e.hint().is_some_and(|h| h.contains("running locally")));
        assert!(e.try_next_host());
        let e = ConnectError::Auth {
            target: "server at \"db\", port 5432".into(),
            user: "u".into(),
            code: "28P01".into(),
            message: "password authentication failed for user \"u\"".into(),
            passfile: None,
        };
        assert_eq!(e.sqlstate(), Some("28P01"));
        assert!(!e.try_next_host());
        let e = ConnectError::NoSuchDatabase {
            target: "x".into(),
            dbname: "d".into(),
        };
        assert_eq!(e.sqlstate(), Some("3D000"));
    }

    /// A refusal for lack of slots reads as libpq's line, and is told apart from others.
    #[test]
    fn too_many_connections_is_named_and_recognised() {
        let e = ConnectError::Server {
            target: "server on socket \"/tmp/.s.PGSQL.5432\"".into(),
            sqlstate: SqlState::TOO_MANY_CONNECTIONS,
            message: "FATAL:  sorry, too many clients already".into(),
        };
        assert_eq!(
            e.to_string(),
            "connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  sorry, too many clients already"
        );
        assert!(e.too_many_connections());
        assert_eq!(e.sqlstate(), Some("53300"));
        assert_eq!(e.server_reason(), Some("FATAL:  sorry, too many clients already"));
        assert!(e.hint().is_some_and(|h| h.contains("max_connections") && h.contains("CONNECTION LIMIT")));
        assert!(!e.try_next_host());
        let e = ConnectError::Server {
            target: "x".into(),
            sqlstate: SqlState::CANNOT_CONNECT_NOW,
            message: "FATAL:  the database system is starting up".into(),
        };
        assert!(!e.too_many_connections());
        assert!(e.hint().is_none());
    }

    #[test]
    fn causes_are_spelled_out() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error communicating with the server")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::from_raw_os_error(104));
        assert_eq!(
            with_causes(&e),
            "error communicating with the server: Connection reset by peer"
        );
    }
}
