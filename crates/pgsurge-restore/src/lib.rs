//! Turns a pg_dump archive into what pg_restore 18 would produce: the selection of entries
//! (`select`), the `-l` listing (`listing`) and the SQL script (`render`), byte for byte. The
//! parallel restore engine (connections, scheduler, COPY) will build on these.
//!
//! # Layout
//!
//! `RestoreOptions` (`options`, with `--filter` rules read by `filter`) → [`select::select`]
//! (applies a `-L` list read by `list_file`, then decides per entry which parts are wanted
//! and in which pass: a [`select::Selection`]) → [`listing::write_listing`] or
//! [`render::write_script`] (text) → the caller's writer. SQL that pgsurge composes itself
//! is quoted through `sql`.
//!
//! `connect` turns pg_restore's connection options and the `PG*` environment into
//! `tokio_postgres::Client`s, as libpq would (`ConnectRequest` → `ConnParams` → `connect`).

pub mod connect;
pub mod engine;
pub mod filter;
pub mod list_file;
pub mod listing;
pub mod options;
pub mod render;
pub mod select;
pub mod sql;

pub use options::{FilterRule, RestoreOptions, SectionChoice};
