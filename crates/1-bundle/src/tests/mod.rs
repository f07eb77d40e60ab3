//! Tests of whole bundles, built in memory with the zip and tar crates' writers (hostile
//! ones with raw header bytes where the writers refuse): reading them (`reading`) and
//! extracting them (`extracting`). The unit tests of each part sit in its own file.

mod build;
mod extracting;
mod reading;
