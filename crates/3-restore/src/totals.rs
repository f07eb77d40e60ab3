//! What one connection of a restore did — errors as the outcome counts them, large objects,
//! rows, bytes — and how the restore's outcome adds them up.

use crate::target::Session;
use crate::Outcome;

/// What one connection did, for the outcome.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    /// Errors as the outcome counts them (for workers: with pg_restore's extra count per
    /// failed item).
    pub(crate) errors: u64,
    pub(crate) large_objects: u64,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

impl Totals {
    pub(crate) fn of(session: &Session<'_>, errors: u64) -> Totals {
        Totals { errors, large_objects: session.large_objects(), rows: session.rows(), bytes: session.data_bytes() }
    }
}

impl Outcome {
    pub(crate) fn absorb(&mut self, t: &Totals) {
        self.errors += t.errors;
        self.large_objects += t.large_objects;
        self.rows += t.rows;
        self.data_bytes += t.bytes;
    }
}
