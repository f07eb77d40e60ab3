//! The stages of a restore that are not archive entries, each a module of its own:
//! `preflight` (what the selected entries need — roles, extensions, tablespaces, room —
//! against what the server has, before anything changes), `marker` (the session any
//! process can see while a restore into a database runs, and `status`, which reads it),
//! `migrations` (the app's own migrations run on the restored database, and the schema
//! revision before and after), and `swap` (a restore into a shadow database swapped in by
//! rename, the safety copies it leaves, and rollback).
//!
//! Everything here talks to the server through `tokio-postgres` clients the caller's
//! connection parameters open; nothing here reads an archive's data.

pub mod db;
pub mod marker;
pub mod migrations;
pub mod status;
pub mod swap;

pub mod preflight;
