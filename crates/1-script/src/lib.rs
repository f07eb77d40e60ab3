//! pgsurge's reader of plain SQL scripts — what `pg_dump -Fp` and `pg_dumpall` write, plain or
//! compressed by the caller — split into the statements, `COPY` rows and meta-commands a
//! restore runs, as psql reads them. Synchronous, with no database: a source, like
//! `pgsurge-archive`.
//!
//! A script is hostile until read: no meta-command is ever executed (those pg_dump writes are
//! given to the caller as [`Meta`], every other one stops the reading with an error naming
//! its line), the rows of a `COPY … FROM stdin` are always read as rows up to their `\.` —
//! never as statements, even if the `COPY` itself fails — and what is held at once is
//! bounded: one statement, one chunk of rows.
//!
//! The boundary is the client: SQL in a script is the script's to run, on the server, as
//! psql would run it; nothing in it may act on the machine pgsurge runs on. Where psql
//! follows what the server reports (`standard_conforming_strings`, the client encoding),
//! this reader follows the statements pg_dump writes to set them, and stops at any other
//! statement that names them; a setting changed inside a transaction that is then rolled
//! back is taken as changed.

mod error;
mod lexer;
pub mod listing;
mod meta;
pub mod open;
mod reader;
pub mod scope;
mod statement;
pub mod verify;

pub use error::{ErrorKind, ScriptError};
pub use meta::Meta;
pub use reader::{Item, ScriptReader, COPY_CHUNK, MAX_STATEMENT};
pub use statement::{copy_source, copy_target, setting, CopySource, Setting};
