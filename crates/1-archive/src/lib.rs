//! Reads pg_dump archives — custom (`-Fc`), directory (`-Fd`) and tar (`-Ft`), archive
//! versions 1.12 to 1.16 (pg_dump 9.0 to 18), uncompressed or gzip, lz4, zstd — exactly as
//! pg_restore reads them. Synchronous, no database: the restore engine builds on it.
//!
//! # Layout
//!
//! * [`Archive::open`] detects the format (`archive`), parses the [`Header`] (`header`) and
//!   the [`Toc`] of [`TocEntry`]s (`toc`), all through one byte cursor (`input`).
//! * Data is read per entry: [`Archive::table_data`] gives a [`DataReader`] of decompressed
//!   bytes (`compress`), [`Archive::large_objects`] the large objects of a BLOBS entry one by
//!   one. Where those bytes live is the business of `custom` (data blocks), `directory`
//!   (files) and `tar` (members).
//! * [`verify`] walks every data stream and checks its contents; `layout` accounts for every
//!   other byte ([`Archive::account`]: blocks, files or members no entry claims, bytes after
//!   the end).
//!
//! Every failure is an [`Error`] naming the entry and byte offset; no input, however
//! corrupt, makes the reader panic or allocate more than the input holds.

mod archive;
pub mod compress;
mod custom;
mod detect;
mod directory;
mod error;
mod header;
mod ids;
mod input;
mod layout;
pub mod spool;
mod tar;
mod toc;
pub mod verify;

pub use archive::{Archive, DataReader, DataRelease, LargeObject, LargeObjects, Source};
pub use error::{EntryLabel, Error, ErrorKind, Location, Result};
pub use layout::Layout;
pub use header::{ArchiveVersion, Compression, CreationTime, Format, Header, K_VERS_1_12, K_VERS_1_14, K_VERS_1_15, K_VERS_1_16};
pub use spool::{free_space, SourceFailed, Spool, SpoolBudget};
pub use ids::{DumpId, Oid};
pub use toc::{DataLocation, Section, Toc, TocEntry};
