//! The failure policy, in one place: what a failed statement does to the restore and to its
//! entry. Every part of a session reports its failures here and acts on the answer; none
//! decides on its own.
//!
//! As pg_restore (pg_backup_archiver.c `warn_or_exit_horribly`):
//! - a statement the server refuses is reported and counted once, and the restore goes on;
//!   the entry it belongs to has failed (`--no-data-for-failed-tables` asks that);
//! - `-e`, `-1` and `--transaction-size` stop at the first such failure ([`Stopped`]);
//!   commands are then never sent ahead of an earlier one's result;
//! - a parallel worker's failed item counts once more besides its statements, and the
//!   failures of a worker connection's own settings are printed but not counted;
//! - some failures end the restore whatever the options ([`SessionError::Fatal`]): the
//!   connection is lost, `SET SESSION AUTHORIZATION` is refused (everything after would run
//!   as the wrong user), a large object cannot be created or written (its contents would be
//!   lost).
//!
//! pgsurge adds one case pg_restore never meets: a connection it replaces (a refused COPY
//! leaves tokio-postgres out of step) reports the failures of its setup without counting
//! them, since they are not the entry's.

use pgsurge_archive::DumpId;
use pgsurge_plan::options::RestoreOptions;

use super::server_error::server_message;
use super::{ConnectFailure, EngineEvent, Failure};

/// The restore stops: a failure met `-e`, `-1` or `--transaction-size`, and was reported.
#[derive(Debug, thiserror::Error)]
#[error("restore stopped at the first error")]
pub struct Stopped;

/// Why a session's work cannot go on. Counted failures that let the restore go on are not
/// errors here: they were reported, and the caller carries on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    /// A failure was reported and the options stop at the first.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// A failure no option lets the restore go on from, worded for the user.
    #[error("{0}")]
    Fatal(String),
    /// A new connection (a replacement, or `--create`'s database) could not be opened.
    #[error("{0}")]
    Connect(ConnectFailure),
}

/// The failure that ends the restore when the server connection breaks.
pub(crate) fn lost_connection(e: tokio_postgres::Error) -> SessionError {
    SessionError::Fatal(format!("lost the connection to the server: {}", server_message(&e)))
}

/// A failure as reported: pg_restore's message, the cause to group it by, its SQLSTATE. A
/// trailing newline (a command's own) is not printed, as pg_log_error does not; the cause is
/// the server's own words when the server refused, else the message's first line.
pub(crate) fn described(message: String, cause: Option<&tokio_postgres::Error>) -> (String, String, Option<String>) {
    let message = message.strip_suffix('\n').map(str::to_owned).unwrap_or(message);
    let db = cause.and_then(|e| e.as_db_error());
    let cause = db.map_or_else(|| message.lines().next().unwrap_or_default().to_owned(), |d| d.message().to_owned());
    (message, cause, db.map(|d| d.code().code().to_owned()))
}

/// One connection's failures: what it counted, and what the options make of the next one.
#[derive(Debug)]
pub(crate) struct Failures {
    /// Stop at the first failure (`-e`; `-1` and `--transaction-size` imply it, since a
    /// transaction the server has aborted takes nothing more).
    stop_at_first: bool,
    verbose: bool,
    /// Failures counted so far (each once).
    errors: u64,
    /// Failures of the current entry, whatever was counted.
    entry_errors: u64,
    /// The entry failures belong to; `None` between entries.
    entry: Option<DumpId>,
    /// The current entry's "from TOC entry" line, printed before its first failure under
    /// `-v`.
    entry_line: Option<String>,
    entry_line_shown: bool,
    /// A plain script's failures start with their entry's line (`backup.sql:12`), as psql's
    /// do, instead of pg_restore's "from TOC entry" line under `-v`.
    line_prefix: bool,
}

/// What had been counted at some point, for [`Failures::forgive_since`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    errors: u64,
    entry_errors: u64,
}

impl Failures {
    pub fn new(opts: &RestoreOptions) -> Failures {
        Failures {
            stop_at_first: opts.exit_on_error || opts.single_transaction || opts.transaction_size.is_some(),
            verbose: opts.verbose,
            errors: 0,
            entry_errors: 0,
            entry: None,
            entry_line: None,
            entry_line_shown: false,
            line_prefix: false,
        }
    }

    /// Reports one failure and counts it; `Err` when the restore stops here. `emit` is the
    /// session's reporter, which has shown the server's notices up to this point.
    pub fn record(&mut self, message: String, cause: String, sqlstate: Option<String>, emit: &dyn Fn(EngineEvent)) -> Result<(), SessionError> {
        if self.verbose && !self.entry_line_shown && !self.line_prefix {
            if let Some(line) = &self.entry_line {
                emit(EngineEvent::Info("while PROCESSING TOC:".into()));
                emit(EngineEvent::Info(line.clone()));
            }
            self.entry_line_shown = true;
        }
        let message = match (&self.entry_line, self.line_prefix) {
            (Some(line), true) => format!("{line}: {message}"),
            _ => message,
        };
        emit(EngineEvent::Error(Failure { cause, sqlstate, dump_id: self.entry, message }));
        self.errors += 1;
        self.entry_errors += 1;
        if self.stop_at_first {
            return Err(Stopped.into());
        }
        Ok(())
    }

    /// Failures name their entry's line (see `line_prefix`).
    pub fn prefix_lines(&mut self) {
        self.line_prefix = true;
    }

    /// Whether the restore stops at the next failure (a script's `\set ON_ERROR_STOP`).
    pub fn set_stop_at_first(&mut self, stop: bool) {
        self.stop_at_first = stop;
    }

    /// Whether commands may be sent before the results of those before them: not when the
    /// restore stops at the first failure, since what follows it must not run.
    pub fn may_batch(&self) -> bool {
        !self.stop_at_first
    }

    /// An entry begins; its failures are its own, and carry its dump id.
    pub fn begin_entry(&mut self, dump_id: DumpId, line: String) {
        self.entry = Some(dump_id);
        self.entry_errors = 0;
        self.entry_line_shown = false;
        self.entry_line = Some(line);
    }

    /// The entry is done: later failures (a setup between entries) belong to none. Its line
    /// stays, as pg_restore's does until the next entry.
    pub fn end_entry(&mut self) {
        self.entry = None;
    }

    /// Whether the current entry went through without a failure: its outcome, which decides
    /// e.g. whether a table counts as created.
    pub fn entry_succeeded(&self) -> bool {
        self.entry_errors == 0
    }

    /// Failures of the entry in progress (none between entries).
    pub fn entry_errors(&self) -> u64 {
        if self.entry.is_some() {
            self.entry_errors
        } else {
            0
        }
    }

    /// Failures counted so far.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    pub fn mark(&self) -> Mark {
        Mark { errors: self.errors, entry_errors: self.entry_errors }
    }

    /// The failures since `mark` were reported but do not count: a replacement connection's
    /// own settings are not the entry's doing.
    pub fn forgive_since(&mut self, mark: Mark) {
        self.errors = mark.errors;
        self.entry_errors = mark.entry_errors;
    }

    /// Nothing counted so far counts: a parallel worker's connection settings, whose failures
    /// pg_restore's workers print but do not count.
    pub fn forgive_all(&mut self) {
        self.errors = 0;
    }
}

/// What a parallel worker's item adds to the restore's count, from its entry's failures: those
/// and, if there were any, one more, because pg_restore's leader counts a failed item once
/// besides its statements' errors.
pub(crate) fn item_errors(entry_errors: u64) -> u64 {
    if entry_errors > 0 {
        entry_errors + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> RestoreOptions {
        RestoreOptions::default()
    }

    fn record(f: &mut Failures) -> Result<(), SessionError> {
        f.record("could not execute query: ERROR:  x".into(), "x".into(), None, &|_| {})
    }

    #[test]
    fn counted_failures_go_on_unless_the_options_stop() {
        let mut f = Failures::new(&opts());
        assert!(record(&mut f).is_ok());
        assert_eq!(f.errors(), 1);
        assert!(f.may_batch());
        for stop in [
            RestoreOptions { exit_on_error: true, ..opts() },
            RestoreOptions { single_transaction: true, ..opts() },
            RestoreOptions { transaction_size: Some(10), ..opts() },
        ] {
            let mut f = Failures::new(&stop);
            assert!(matches!(record(&mut f), Err(SessionError::Stopped(_))));
            assert_eq!(f.errors(), 1, "the failure that stops is counted");
            assert!(!f.may_batch());
        }
    }

    #[test]
    fn an_entry_fails_with_its_first_failure_and_forgiven_ones_stay_uncounted() {
        let mut f = Failures::new(&opts());
        f.begin_entry(DumpId(7), "from TOC entry 7".into());
        assert!(f.entry_succeeded());
        let mark = f.mark();
        let _ = record(&mut f);
        f.forgive_since(mark);
        assert!(f.entry_succeeded() && f.errors() == 0);
        let _ = record(&mut f);
        assert!(!f.entry_succeeded());
        assert_eq!(item_errors(f.entry_errors()), 2, "the failure and the item");
        f.end_entry();
        assert_eq!(f.entry_errors(), 0, "between entries");
        assert_eq!(item_errors(f.entry_errors()), 0);
    }

    #[test]
    fn a_failure_carries_its_entry_and_the_entry_line_once() {
        let mut f = Failures::new(&RestoreOptions { verbose: true, ..opts() });
        f.begin_entry(DumpId(3), "from TOC entry 3; 0 0 TABLE t app".into());
        let events = std::cell::RefCell::new(Vec::new());
        let emit = |e: EngineEvent| events.borrow_mut().push(e);
        for _ in 0..2 {
            let _ = f.record("m".into(), "c".into(), Some("42P01".into()), &emit);
        }
        f.end_entry();
        let _ = f.record("m".into(), "c".into(), None, &emit);
        let events = events.into_inner();
        let infos = events.iter().filter(|e| matches!(e, EngineEvent::Info(_))).count();
        let ids: Vec<_> = events.iter().filter_map(|e| if let EngineEvent::Error(f) = e { Some(f.dump_id) } else { None }).collect();
        assert_eq!(infos, 2);
        assert_eq!(ids, vec![Some(DumpId(3)), Some(DumpId(3)), None]);
    }
}
