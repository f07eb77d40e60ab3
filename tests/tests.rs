//! The one integration-test binary: runs the real `pgsurge` binary (and the same binary under
//! the name `pg_restore`) against the fixture archives in `testdata/`.

// Test code: a panic (unwrap) is the failure report, and stderr is where a test explains it.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod bundle;
mod cli;
mod cluster;
mod golden;
mod group_commit;
mod harness;
mod hostile;
mod limits;
mod marker;
mod migrations;
mod preflight;
mod ready;
mod restore;
mod restore_matrix;
mod script;
mod script_shapes;
mod swap;
mod timeline;
mod weaker_locks;
mod verify;
