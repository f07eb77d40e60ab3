//! A plain SQL script restored (`pgsurge restore backup.sql -d …`): its statements run in
//! order on one connection, as `psql -f` runs them; each `COPY … FROM stdin` streams its rows
//! from the script; `\connect` moves to the database it names. Failures are reported with
//! the script's line and counted as pg_restore counts them: the restore goes on, unless
//! `-e`, `\set ON_ERROR_STOP on` or `-1` stops it at the first.
//!
//! The connection speaks UTF-8: a script's `SET client_encoding` is not sent but changes how
//! the statements after it are converted, and a COPY names the encoding of its rows, as for
//! archives. Unlike pg_restore, nothing is set before the script runs: a script sets what it
//! needs, as under psql.

use std::io::BufRead;
use std::time::Instant;

use pgsurge_archive::{DumpId, Section, TocEntry};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_script::{Item, Meta, ScriptReader, Setting};

use crate::connection::Connection;
use crate::copy::TableCopy;
use crate::encoding::Encoding;
use crate::failure::{lost_connection, SessionError};
use crate::progress::Progress;
use crate::server_error::server_message_in;
use crate::{runtime, Connector, EngineError, EngineEvent, Outcome, Stage};

/// Session settings kept to make again on a replaced connection: pg_dump writes about a
/// dozen after each `\connect`.
const MAX_SESSION_SETTINGS: usize = 256;

/// Whether `sql` sets something for the rest of the session: `SET` (not `SET LOCAL`, not
/// the transaction's) or a `set_config(…, false)` call, as pg_dump writes them.
fn is_session_setting(sql: &str) -> bool {
    let head: Vec<String> = sql.split_whitespace().take(2).map(str::to_ascii_uppercase).collect();
    match head.first().map(String::as_str) {
        Some("SET") => !matches!(head.get(1).map(String::as_str), Some("LOCAL" | "TRANSACTION" | "CONSTRAINTS")),
        Some("SELECT") => sql.contains("set_config(") && sql.contains("false)"),
        _ => false,
    }
}

/// Why a script could not be restored to its end, besides the failures it counts.
#[derive(Debug, thiserror::Error)]
pub enum ScriptStop {
    /// The script cannot be read on (a refused meta-command, damage), at its line.
    #[error("{label}:{}: {}", source.line, source.kind)]
    Read { label: String, source: pgsurge_script::ScriptError },
    /// `\connect` under `--single-transaction`, whose transaction cannot follow it.
    #[error("{label}:{line}: \\connect cannot be followed inside --single-transaction")]
    ConnectInTransaction { label: String, line: u64 },
}

/// Restores the script `reader` reads (named `label` in messages) over one connection.
pub fn restore_script<R: BufRead>(
    mut reader: ScriptReader<R>,
    label: &str,
    opts: &RestoreOptions,
    connector: &dyn Connector,
    events: &(dyn Fn(EngineEvent) + Sync),
) -> Result<Outcome, EngineError> {
    let rt = runtime()?;
    let started = Instant::now();
    events(EngineEvent::Stage(Stage::Serial));
    let mut conn = Connection::open(&rt, connector, None, opts, Encoding::for_archive(b"UTF8"), Box::new(|_| Vec::new()), events).map_err(EngineError::Connect)?;
    conn.script_session();
    let mut run = ScriptRun { conn, progress: Progress::new(events), copy: TableCopy::new(), label, in_copy: false, session: Vec::new() };
    let result = run.all(&mut reader, opts);
    let ScriptRun { conn, progress, .. } = run;
    match result {
        Ok(()) => {}
        Err(Stop::Session(SessionError::Stopped(_))) => return Err(EngineError::Stopped),
        Err(Stop::Session(e)) => return Err(EngineError::Session(e.to_string())),
        Err(Stop::Script(e)) => {
            events(EngineEvent::Warning(e.to_string()));
            return Err(EngineError::Session(format!("the script was not restored past this point: {e}")));
        }
    }
    Ok(Outcome { errors: conn.failures.errors(), large_objects: 0, jobs: 1, rows: progress.rows, data_bytes: progress.data_bytes, stage_times: vec![(Stage::Serial, started.elapsed())] })
}

enum Stop {
    Session(SessionError),
    Script(ScriptStop),
}

impl From<SessionError> for Stop {
    fn from(e: SessionError) -> Stop {
        Stop::Session(e)
    }
}

struct ScriptRun<'e, 'l> {
    conn: Connection<'e>,
    progress: Progress<'e>,
    copy: TableCopy<'e>,
    label: &'l str,
    /// A COPY's rows are being loaded (its statement was accepted); else its rows, if any,
    /// are skipped.
    in_copy: bool,
    /// The session settings the script made so far on this connection (`SET …`,
    /// `set_config(…)`), made again on a connection that replaces it (a refused COPY leaves
    /// tokio-postgres's connection unusable), so what follows runs as it would have.
    session: Vec<String>,
}

impl ScriptRun<'_, '_> {
    fn all<R: BufRead>(&mut self, reader: &mut ScriptReader<R>, opts: &RestoreOptions) -> Result<(), Stop> {
        if opts.single_transaction {
            self.conn.execute(b"BEGIN", "could not start database transaction")?;
        }
        loop {
            let item = match reader.next_item() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(source) => return Err(Stop::Script(ScriptStop::Read { label: self.label.to_owned(), source })),
            };
            match item {
                Item::Statement { text, line, copy, .. } => self.statement(&text, line, copy.is_some_and(|c| c == pgsurge_script::CopySource::Stdin))?,
                Item::CopyData(rows) => {
                    if self.in_copy {
                        self.progress.data_bytes += rows.len() as u64;
                        self.progress.copy_lines += memchr::memchr_iter(b'\n', &rows).count() as u64;
                        self.copy.data(&mut self.conn, &self.progress, &rows)?;
                    }
                }
                Item::CopyEnd { .. } => {
                    if std::mem::take(&mut self.in_copy) {
                        self.copy.end(&mut self.conn, &mut self.progress)?;
                        let errors = self.conn.failures.errors();
                        self.progress.finish(errors);
                        self.conn.failures.end_entry();
                    }
                }
                Item::Meta { meta, line } => self.meta(meta, line, opts)?,
            }
        }
        if opts.single_transaction {
            self.conn.execute(b"COMMIT", "could not commit database transaction")?;
        }
        Ok(())
    }

    fn statement(&mut self, text: &[u8], line: u64, copy_in: bool) -> Result<(), Stop> {
        if let Some(Setting::ClientEncoding(name)) = pgsurge_script::setting(text) {
            // The connection stays UTF-8; the script's text and rows are converted from
            // this encoding (see the module's note).
            self.conn.set_encoding(Encoding::for_archive(name.as_bytes()));
            return Ok(());
        }
        let te = self.entry(text, line, copy_in);
        self.conn.failures.begin_entry(te.dump_id, format!("{}:{line}", self.label));
        // Every failure of this statement, its COPY's included, names its line.
        self.conn.failures.set_prefix(Some(format!("{}:{line}: ", self.label)));
        if copy_in {
            self.progress.begin(&te, false, self.conn.failures.errors());
            let before = self.conn.failures.errors();
            self.copy.start(&mut self.conn, &self.progress, text, &te, None)?;
            if self.conn.take_lost() {
                self.restore_session()?;
            }
            // A COPY the server refused has no rows to take: they are skipped, never run.
            self.in_copy = self.conn.failures.errors() == before;
            if !self.in_copy {
                let errors = self.conn.failures.errors();
                self.progress.finish(errors);
                self.conn.failures.end_entry();
            }
            return Ok(());
        }
        let sql = match self.conn.encoding().decode(text) {
            Ok(sql) => sql.into_owned(),
            Err(e) => {
                self.conn.failed(e, None)?;
                return Ok(());
            }
        };
        match self.conn.rt().block_on(self.conn.client().batch_execute(&sql)) {
            Ok(()) => {
                self.conn.show_notices();
                if is_session_setting(&sql) && self.session.len() < MAX_SESSION_SETTINGS {
                    self.session.push(sql);
                }
            }
            Err(e) if e.as_db_error().is_some() => {
                self.conn.show_notices();
                let message = server_message_in(&e, &sql);
                self.conn.failed(message, Some(&e))?;
            }
            Err(e) => return Err(lost_connection(e).into()),
        }
        self.conn.failures.end_entry();
        Ok(())
    }

    /// Makes the script's session settings again on a replaced connection.
    fn restore_session(&mut self) -> Result<(), Stop> {
        for sql in &self.session {
            match self.conn.rt().block_on(self.conn.client().batch_execute(sql)) {
                Ok(()) => {}
                // It succeeded before; if it fails now, what follows runs as psql's would
                // after the same failure.
                Err(e) if e.as_db_error().is_some() => {}
                Err(e) => return Err(lost_connection(e).into()),
            }
        }
        Ok(())
    }

    /// The entry a statement stands for, for progress and failures: its line is its id.
    fn entry(&self, text: &[u8], line: u64, copy_in: bool) -> TocEntry {
        let id = DumpId(i32::try_from(line).unwrap_or(i32::MAX));
        if copy_in {
            let (table, _) = pgsurge_script::copy_target(text);
            return TocEntry::new(id, "TABLE DATA", &table, Section::Data, Vec::new());
        }
        TocEntry::new(id, "SQL", &format!("line {line}"), Section::PreData, Vec::new())
    }

    fn meta(&mut self, meta: Meta, line: u64, opts: &RestoreOptions) -> Result<(), Stop> {
        match meta {
            Meta::Connect { dbname, .. } => {
                if opts.single_transaction {
                    return Err(Stop::Script(ScriptStop::ConnectInTransaction { label: self.label.to_owned(), line }));
                }
                self.conn.move_to_database(dbname)?;
                // A new session: the script sets what it needs again, as pg_dump's do.
                self.session.clear();
            }
            Meta::OnErrorStop(on) => self.conn.failures.set_stop_at_first(on || opts.exit_on_error || opts.single_transaction),
            // Read and checked by the reader; nothing to do on the server.
            Meta::Restrict { .. } | Meta::Unrestrict { .. } | Meta::Encoding(_) => {}
        }
        Ok(())
    }
}
