//! `ConnectError`: why a connection could not be made, in terms a user can act on, and the
//! mapping from `tokio_postgres::Error` into it. No variant ever holds a password.

use std::path::PathBuf;

use tokio_postgres::error::SqlState;

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

    /// Any other failure, including server errors other than the ones above.
    #[error("connection to {target} failed")]
    Other {
        target: String,
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
            ConnectError::Other { source, .. } => source.code().map(SqlState::code),
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
}
