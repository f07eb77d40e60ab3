//! The one integration-test binary: runs the real `pgsurge` binary (and the same binary under
//! the name `pg_restore`) against the fixture archives in `testdata/`.

mod cli;
mod cluster;
mod golden;
mod harness;
mod hostile;
mod restore;
mod restore_matrix;
mod verify;
