//! The one integration-test binary: runs the real `pgsurge` binary (and the same binary under
//! the name `pg_restore`) against the fixture archives in `testdata/`.

mod cli;
mod golden;
mod harness;
mod verify;
mod cluster;
mod restore;
