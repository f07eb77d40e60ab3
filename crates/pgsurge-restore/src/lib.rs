//! Turns a pg_dump archive into what pg_restore would produce: the selection of entries
//! (`select`), the `-l` listing (`listing`) and the SQL script (`render`), byte for byte as
//! pg_restore 18. The parallel restore engine (connections, scheduler, COPY) builds on these.
//!
//! # Layout
//!
//! `RestoreOptions` (`options`) → `Selection` (`select`: which parts of which entries, in
//! which order) → `listing` or `render` (text) → the caller's writer. SQL that pgsurge
//! composes itself is quoted through `sql`.

pub mod options;

pub use options::{FilterRule, RestoreOptions, SectionChoice};
pub mod listing;
pub mod select;
pub mod filter;
