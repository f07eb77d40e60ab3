//! What pg_restore 18 would do with an archive, decided without a server: which entries, in
//! which order, and the SQL for each — byte for byte. `pgsurge list` and `pgsurge sql` need
//! nothing else; the restore engine (`pgsurge-restore`) runs what this crate decides.
//!
//! # Layout
//!
//! `RestoreOptions` (`options`, with `--filter` rules read by `filter`) → [`select::select`]
//! (applies a `-L` list read by `list_file`, then decides per entry which parts are wanted
//! and in which pass: a [`select::Selection`]) → [`listing::write_listing`] (the `-l`
//! listing) or [`render::Renderer`] (the statements of each entry, handed to a
//! [`render::Target`]: a script writer here, a live connection in the engine). A parallel
//! restore also gets a [`plan::Plan`]: the items, what each waits for, locks and weighs,
//! built once for the engine's scheduler, with what makes the restored database ready to
//! serve: which loads may use `COPY … FREEZE` (`freeze`) and which tables the ANALYZE stage
//! analyzes (`analyze`); which foreign keys are added `NOT VALID` and validated after
//! (`foreign_key`), and which primary keys and unique constraints are built as a unique
//! index first (`primary_key`), both taking pg_dump's statements apart in `add_constraint`. SQL that pgsurge composes itself is quoted
//! through `sql`; archive names and times are printed through `sanitize` and `local_time`.
//! `groupable` says which commands a restore may commit many at once.

mod add_constraint;
pub mod analyze;
pub mod c_number;
pub mod filter;
pub mod foreign_key;
pub mod groupable;
pub mod freeze;
pub mod database_props;
pub mod list_file;
pub mod listing;
mod local_time;
pub mod needs;
pub mod options;
pub mod plan;
pub mod primary_key;
pub mod render;
mod sanitize;
pub mod select;
pub mod sql;

pub use options::{FilterRule, RestoreOptions, SectionChoice};
