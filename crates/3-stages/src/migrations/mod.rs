//! The migrations stage: after post-data, the app's own migrations run on the restored
//! database, and the schema revision is read before and after.
//!
//! Three parts, each usable alone and each synchronous (a current-thread runtime is built
//! inside where the database is needed, as the restore engine does):
//!
//! - [`command`]: `--then CMD`, a shell command run with libpq's environment (`PGHOST`,
//!   `PGDATABASE`, …, `DATABASE_URL`) pointing at the restored database, its output streamed
//!   line by line and a bounded tail of it kept.
//! - [`sql_dir`]: `--migrations DIR`, a directory of `*.sql` files applied in name order,
//!   each in a transaction of its own.
//! - [`revision`]: the revision the common migration tools record in their own tables
//!   (`alembic_version`, `django_migrations`, `flyway_schema_history`, …).
//!
//! In which order the parts run, and how their results are shown, is the caller's choice.

pub mod command;
pub mod revision;
pub mod sql_dir;

use std::path::PathBuf;

pub use command::{run_command, CommandRun, Exit, KeptOutput, Stream};
pub use revision::{read_revision, Revision};
pub use sql_dir::{apply_sql_dir, AppliedFile, SqlDirRun};

/// What went wrong in the migrations stage.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),

    #[error("could not connect to {target}")]
    Connect {
        target: String,
        /// Boxed: it is by far the largest variant, and every call returns this type.
        #[source]
        source: Box<pgsurge_connect::ConnectError>,
    },

    #[error("could not read the schema revision from {table}")]
    Revision {
        table: String,
        #[source]
        source: tokio_postgres::Error,
    },

    #[error("could not write a temporary password file for the command")]
    Passfile(#[source] std::io::Error),

    #[error("could not start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// The command ran and failed; `run` holds its exit, duration and kept output.
    #[error("`{}` {}", .run.command, .run.exit)]
    CommandFailed { run: Box<CommandRun> },

    #[error("could not read the migrations directory `{}`", .dir.display())]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not read `{}`", .path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A `*.sql` entry that is not a regular file inside the directory.
    #[error("`{}` is {what}; only regular files inside the directory are applied", .path.display())]
    NotAFile { path: PathBuf, what: &'static str },

    #[error("`{}` is not valid UTF-8 (line {line})", .path.display())]
    NotUtf8 { path: PathBuf, line: usize },

    /// psql would run `\i`, `\set`, … itself; the server cannot, so the file is refused
    /// rather than half applied.
    #[error("`{}` line {line}: psql meta-command `{command}` cannot be applied over a server connection", .path.display())]
    MetaCommand {
        path: PathBuf,
        line: usize,
        command: String,
    },

    /// Rows that psql would send or receive for the file, which a server connection alone
    /// cannot.
    #[error("`{}` line {line}: `COPY … {direction}` needs psql to carry its rows; write them as INSERT statements, or COPY from a file on the server", .path.display())]
    CopyStdio {
        path: PathBuf,
        line: usize,
        direction: &'static str,
    },

    /// The server refused a file; it was rolled back, and the files before it stay applied.
    #[error("{}", .failure)]
    Apply { failure: Box<sql_dir::FileFailure> },
}

impl MigrationError {
    /// The SQLSTATE of a refused migration file, for callers that decide by it.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            MigrationError::Apply { failure } => failure.sqlstate.as_deref(),
            _ => None,
        }
    }
}

/// A duration in the report: seconds, to the millisecond.
fn seconds<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

fn runtime() -> Result<tokio::runtime::Runtime, MigrationError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MigrationError::Runtime)
}

/// Opens one connection; its driver task runs on the current runtime until the client is
/// dropped. `on_notice` hears the server's notices (a migration's `RAISE NOTICE`, warnings).
async fn connect(
    params: &pgsurge_connect::ConnParams,
    on_notice: pgsurge_connect::NoticeHandler,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), MigrationError> {
    params
        .connect_with_notices(on_notice)
        .await
        .map_err(|source| MigrationError::Connect {
            target: params.display_target(),
            source: Box::new(source),
        })
}
