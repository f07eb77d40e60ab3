//! A plain SQL script restored (`pgsurge restore backup.sql -d …`): its statements run in
//! order on one connection, as `psql -f` runs them; each `COPY … FROM stdin` streams its rows
//! from the script; `\connect` moves to the database it names. Failures are reported with
//! the script's line and counted as pg_restore counts them: the restore goes on, unless
//! `-e`, `\set ON_ERROR_STOP on` or `-1` stops it at the first.
//!
//! With `-j N` and the script's text in a file, the reading connection hands table data,
//! indexes, constraints and foreign keys to N worker connections (`pool`, `worker`) as it
//! meets them, and goes on reading: a COPY's rows are loaded by a worker straight from the
//! file, by their offset. Whatever else the script says runs on the reading connection once
//! everything before it is done, so the database is the one the script run in order leaves.
//!
//! The connection speaks UTF-8: a script's `SET client_encoding` is not sent but changes how
//! the statements after it are converted, and a COPY names the encoding of its rows, as for
//! archives. Unlike pg_restore, nothing is set before the script runs: a script sets what it
//! needs, as under psql.

mod pool;
mod worker;

use std::collections::HashSet;
use std::fs::File;
use std::io::BufRead;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use pgsurge_archive::{DumpId, Section, TocEntry};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_script::scope::{created_table, scope, Scope, TableName};
use pgsurge_script::{Item, Meta, ScriptReader, Setting};

use self::pool::{Abort, Context, Job, Pool, Work};

use crate::connection::Connection;
use crate::copy::TableCopy;
use crate::group::Group;
use crate::encoding::Encoding;
use crate::failure::{lost_connection, SessionError};
use crate::progress::Progress;
use crate::{runtime, Connector, EngineError, EngineEvent, Outcome, Stage};

/// Session settings kept to make again on a replaced connection: pg_dump writes about a
/// dozen after each `\connect`.
const MAX_SESSION_SETTINGS: usize = 256;

/// Tables created by the script that are remembered for handing their rows to workers; past
/// this, the rows of tables created later load on the reading connection.
const MAX_CREATED: usize = 1 << 20;

/// Whether `sql` sets something for the rest of the session: `SET` (not `SET LOCAL`, not
/// the transaction's) or a `set_config(…, false)` call, as pg_dump writes them.
fn is_session_setting(sql: &[u8]) -> bool {
    let sql = String::from_utf8_lossy(sql);
    let head: Vec<String> = sql.split_whitespace().take(2).map(str::to_ascii_uppercase).collect();
    match head.first().map(String::as_str) {
        Some("SET") => !matches!(head.get(1).map(String::as_str), Some("LOCAL" | "TRANSACTION" | "CONSTRAINTS")),
        Some("SELECT") => sql.contains("set_config(") && sql.contains("false)"),
        _ => false,
    }
}

/// What a session setting sets, so a later value replaces it: the parameter's name
/// (`search_path`, `session authorization`, `role`), or the whole text when it cannot be told.
fn setting_key(sql: &[u8]) -> String {
    let sql = String::from_utf8_lossy(sql).to_ascii_lowercase();
    if let Some(at) = sql.find("set_config('") {
        let rest = &sql[at + "set_config('".len()..];
        if let Some(end) = rest.find('\'') {
            return rest[..end].to_owned();
        }
    }
    let mut words = sql.split(|c: char| c.is_whitespace() || c == '=' || c == ';').filter(|w| !w.is_empty()).skip(1);
    match words.next() {
        Some("session") => match words.next() {
            Some("authorization") => "session authorization".to_owned(),
            Some(name) => name.to_owned(),
            None => sql,
        },
        Some(name) => name.to_owned(),
        None => sql,
    }
}

/// Whether `sql` opens (`Some(true)`) or ends (`Some(false)`) a transaction of the script's
/// own, as its first word says (`BEGIN`, `START TRANSACTION`; `COMMIT`, `END`, `ROLLBACK`
/// but not `ROLLBACK TO`, `ABORT`).
fn transaction_control(sql: &[u8]) -> Option<bool> {
    let sql = String::from_utf8_lossy(sql);
    let mut words = sql.split(|c: char| c.is_whitespace() || c == ';').filter(|w| !w.is_empty()).map(str::to_ascii_uppercase);
    let first = words.next()?;
    let rest: Vec<String> = words.take(4).collect();
    // `COMMIT AND CHAIN` starts the next transaction at once: still open.
    let chained = rest.windows(2).any(|w| w[0] == "AND" && w[1] == "CHAIN");
    match first.as_str() {
        "BEGIN" | "START" => Some(true),
        "COMMIT" | "END" | "ABORT" => Some(chained),
        "ROLLBACK" => (rest.first().map(String::as_str) != Some("TO")).then_some(chained),
        _ => None,
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

/// A script restored over several connections: its text, uncompressed, in a file the
/// workers read its rows from, and how many workers.
#[derive(Debug, Clone, Copy)]
pub struct ScriptFile<'a> {
    pub path: &'a Path,
    pub jobs: usize,
}

/// Restores the script `reader` reads (named `label` in messages) over one connection, or
/// with `parallel` over one reading connection and that many workers.
pub fn restore_script<R: BufRead>(
    mut reader: ScriptReader<R>,
    label: &str,
    opts: &RestoreOptions,
    connector: &dyn Connector,
    events: &(dyn Fn(EngineEvent) + Sync),
    parallel: Option<ScriptFile<'_>>,
) -> Result<Outcome, EngineError> {
    let rt = runtime()?;
    let started = Instant::now();
    let parallel = parallel.filter(|p| p.jobs > 1 && !opts.single_transaction);
    let stage = if parallel.is_some() { Stage::Parallel } else { Stage::Serial };
    events(EngineEvent::Stage(stage));
    let mut conn = Connection::open(&rt, connector, None, opts, Encoding::for_archive(b"UTF8"), Box::new(|_| Vec::new()), events).map_err(EngineError::Connect)?;
    conn.script_session();
    conn.failures.prefix_lines();
    let group = (!opts.single_transaction && !opts.no_group_commit).then(Group::new);
    // Declared before the run that borrows it.
    let pool = parallel.map(|file| Pool::new(file.jobs));
    let mut run = ScriptRun {
        conn,
        progress: Progress::new(events),
        copy: TableCopy::new(),
        label,
        in_copy: false,
        session: Vec::new(),
        group,
        in_transaction: false,
        std_strings: true,
        pool: None,
        context: Arc::new(Context { encoding: b"UTF8".to_vec(), stop_at_first: opts.exit_on_error || opts.single_transaction, ..Context::default() }),
        pending: None,
        file: None,
        offset: 0,
        created: HashSet::new(),
    };
    let (result, workers) = match (parallel, &pool) {
        (Some(file), Some(pool)) => {
            let setup = worker::Setup { connector, opts, events, label, path: file.path };
            std::thread::scope(|scope| {
                let handles: Vec<_> = (1..=file.jobs)
                    .map(|i| {
                        let setup = &setup;
                        scope.spawn(move || worker::work(i, pool, setup))
                    })
                    .collect();
                let live = pool.wait_started();
                if live > 0 {
                    match File::open(file.path) {
                        Ok(f) => {
                            run.pool = Some(pool);
                            run.file = Some(f);
                        }
                        Err(e) => events(EngineEvent::Warning(format!("restoring the script over one connection: could not open \"{}\": {e}", file.path.display()))),
                    }
                }
                let result = run.all(&mut reader, opts);
                // Workers end once the queue is empty, or at once when the restore stops.
                match &result {
                    Ok(()) => pool.close(),
                    Err(_) => pool.abort(Abort::Failed(String::new())),
                }
                let totals: Vec<_> = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
                (result, totals)
            })
        }
        _ => (run.all(&mut reader, opts), Vec::new()),
    };
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
    let mut outcome = Outcome { errors: conn.failures.errors(), large_objects: 0, jobs: workers.len().max(1), rows: progress.rows, data_bytes: progress.data_bytes, stage_times: vec![(stage, started.elapsed())] };
    for w in &workers {
        outcome.errors += w.errors;
        outcome.rows += w.rows;
        outcome.data_bytes += w.data_bytes;
    }
    Ok(outcome)
}

/// A script's statement as the reporter sees an entry: its kind and its name as written (a
/// script names no schema apart).
pub(crate) fn entry(id: DumpId, desc: &str, tag: &str, section: Section) -> TocEntry {
    let mut te = TocEntry::new(id, desc, tag, section, Vec::new());
    te.namespace = None;
    te
}

enum Stop {
    Session(SessionError),
    Script(ScriptStop),
}

impl From<Abort> for Stop {
    fn from(abort: Abort) -> Stop {
        match abort {
            Abort::Stopped => Stop::Session(SessionError::Stopped(crate::Stopped)),
            Abort::Failed(why) => Stop::Session(SessionError::Fatal(why)),
        }
    }
}

impl From<SessionError> for Stop {
    fn from(e: SessionError) -> Stop {
        Stop::Session(e)
    }
}

struct ScriptRun<'e, 'l, 'p> {
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
    session: Vec<Vec<u8>>,
    /// Statements held to be committed many at once, as an archive's schema entries are
    /// (see `group`); `None` under `-1` and `--no-group-commit`.
    group: Option<Group>,
    /// The script opened a transaction of its own (`BEGIN` … `COMMIT`): what runs inside it
    /// is not grouped.
    in_transaction: bool,
    /// `standard_conforming_strings` as the script set it, for telling what may be grouped.
    std_strings: bool,
    /// The workers' queue, in a parallel restore.
    pool: Option<&'p Pool>,
    /// Where the script stands for a worker: made anew whenever it changes.
    context: Arc<Context>,
    /// A COPY whose rows are being read past, to be handed to a worker with their place.
    pending: Option<PendingCopy>,
    /// The script file, to check a COPY's rows are where the reader says they are.
    file: Option<File>,
    /// The reader's offset after the last statement it gave.
    offset: u64,
    /// Tables the script created in the database it is in: only their rows go to workers.
    created: HashSet<TableName>,
}

/// A COPY for a worker, while the reader finds where its rows end.
struct PendingCopy {
    statement: Vec<u8>,
    line: u64,
    table: TableName,
    start: u64,
    len: u64,
}

impl ScriptRun<'_, '_, '_> {
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
            self.offset = reader.offset();
            match item {
                Item::Statement { text, line, copy, .. } => self.statement(&text, line, copy.is_some_and(|c| c == pgsurge_script::CopySource::Stdin))?,
                Item::CopyData(rows) if self.pending.is_some() => self.pending_rows(&rows)?,
                Item::CopyEnd { .. } if self.pending.is_some() => self.hand_over_copy()?,
                Item::CopyData(rows) => {
                    if self.in_copy {
                        self.copy_rows(&rows)?;
                    }
                }
                Item::CopyEnd { .. } => {
                    if std::mem::take(&mut self.in_copy) {
                        self.copy.end(&mut self.conn, &mut self.progress)?;
                        self.entry_done();
                    }
                }
                Item::Meta { meta, line } => self.meta(meta, line, opts)?,
                Item::Comment { .. } => {}
            }
        }
        self.wait_for_workers()?;
        self.commit_group()?;
        if opts.single_transaction {
            self.conn.execute(b"COMMIT", "could not commit database transaction")?;
        }
        Ok(())
    }

    /// Waits until the workers have run everything handed to them.
    fn wait_for_workers(&mut self) -> Result<(), Stop> {
        match self.pool {
            Some(pool) => Ok(pool.wait_idle()?),
            None => Ok(()),
        }
    }

    /// Queues work for a worker, after committing what the reading connection holds: the
    /// worker must see it.
    fn hand_over(&mut self, line: u64, work: Work, tables: Vec<TableName>, (shared, foreign_key): (bool, bool)) -> Result<(), Stop> {
        self.commit_group()?;
        let Some(pool) = self.pool else { return Ok(()) };
        pool.push(Job { line, work, tables, shared, foreign_key, context: Arc::clone(&self.context) })?;
        Ok(())
    }

    /// Rows of a COPY for a worker: the first piece is checked to be in the file where the
    /// reader's offset says; if it is not, the COPY is loaded here, as in a serial restore.
    fn pending_rows(&mut self, rows: &[u8]) -> Result<(), Stop> {
        let Some(pending) = self.pending.as_mut() else { return Ok(()) };
        if pending.len == 0 {
            let mut found = vec![0u8; rows.len()];
            let matches = self.file.as_ref().is_some_and(|f| f.read_exact_at(&mut found, pending.start).is_ok() && found == rows);
            if !matches {
                let pending = self.pending.take().map(|p| (p.statement, p.line));
                if let Some((statement, line)) = pending {
                    self.wait_for_workers()?;
                    self.copy_here(&statement, line)?;
                    if self.in_copy {
                        self.copy_rows(rows)?;
                    }
                }
                return Ok(());
            }
        }
        pending.len += rows.len() as u64;
        Ok(())
    }

    /// The rows of the pending COPY ended: a worker loads them.
    fn hand_over_copy(&mut self) -> Result<(), Stop> {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let table = String::from_utf8_lossy(&pgsurge_script::copy_target(&p.statement).0.into_bytes()).into_owned();
        self.hand_over(p.line, Work::Copy { statement: p.statement, table, start: p.start, len: p.len }, vec![p.table], (false, false))
    }

    /// Sends rows of the COPY in progress on the reading connection.
    fn copy_rows(&mut self, rows: &[u8]) -> Result<(), Stop> {
        self.progress.data_bytes += rows.len() as u64;
        self.progress.copy_lines += memchr::memchr_iter(b'\n', rows).count() as u64;
        self.copy.data(&mut self.conn, &self.progress, rows)?;
        Ok(())
    }

    /// A new context for the workers, as `change` makes it from the current one.
    fn change_context(&mut self, change: impl FnOnce(&mut Context)) {
        if self.pool.is_some() {
            let mut next = (*self.context).clone();
            change(&mut next);
            self.context = Arc::new(next);
        }
    }

    fn statement(&mut self, text: &[u8], line: u64, copy_in: bool) -> Result<(), Stop> {
        match pgsurge_script::setting(text) {
            Some(Setting::ClientEncoding(name)) => {
                // The connection stays UTF-8; the script's text and rows are converted from
                // this encoding (see the module's note).
                self.conn.set_encoding(Encoding::for_archive(name.as_bytes()));
                self.change_context(|c| c.encoding = name.into_bytes());
                return Ok(());
            }
            Some(Setting::StandardConformingStrings(on)) => self.std_strings = on,
            _ => {}
        }
        if let Some(table) = created_table(text).filter(|_| self.pool.is_some() && self.created.len() < MAX_CREATED) {
            self.created.insert(table);
        }
        if self.pool.is_some() && !self.in_transaction {
            match scope(text) {
                Scope::Load(table) if copy_in && self.created.contains(&table) => {
                    // Its rows are read past here and loaded by a worker from the file.
                    self.commit_group()?;
                    self.pending = Some(PendingCopy { statement: text.to_vec(), line, table, start: self.offset, len: 0 });
                    return Ok(());
                }
                Scope::Index(table) => return self.hand_over(line, Work::Statement { text: text.to_vec(), desc: "INDEX" }, vec![table], (true, false)),
                Scope::Table(table) => return self.hand_over(line, Work::Statement { text: text.to_vec(), desc: "CONSTRAINT" }, vec![table], (false, false)),
                Scope::ForeignKey(tables) => return self.hand_over(line, Work::Statement { text: text.to_vec(), desc: "FK CONSTRAINT" }, tables, (false, true)),
                // Beside anything: a sequence's value, a setting of this connection's session.
                Scope::Sequence => {}
                _ if is_session_setting(text) => {}
                _ => self.wait_for_workers()?,
            }
        }
        if copy_in {
            return self.copy_here(text, line);
        }
        let te = self.entry(text, line, false);
        let label = format!("{}:{line}", self.label);
        if is_session_setting(text) {
            // The last value of each setting is what counts: pg_dump sets the tablespace and
            // the role again before many objects.
            let key = setting_key(text);
            self.session.retain(|s| setting_key(s) != key);
            if self.session.len() < MAX_SESSION_SETTINGS {
                self.session.push(text.to_vec());
                let settings = self.session.clone();
                self.change_context(|c| c.settings = settings);
            } else if self.pool.is_some() {
                // A session the workers could not be given: what follows runs here.
                self.wait_for_workers()?;
                self.pool = None;
            }
        }
        let transaction = transaction_control(text);
        let group = self.group.as_mut().filter(|_| !self.in_transaction && transaction.is_none());
        match group {
            Some(group) if group.takes_entries() => {
                group.hold_entry(&te, false, label);
                if !group.hold_command(&self.conn, text, None, self.std_strings) {
                    // Not one that may wait in a group: what is held commits, and it runs
                    // alone, as the entry in progress.
                    self.commit_group()?;
                    self.conn.command(text)?;
                    self.entry_done();
                    return Ok(());
                }
                group.end_entry();
                if group.full() {
                    self.commit_group()?;
                }
            }
            _ => {
                if let Some(group) = self.group.as_mut() {
                    group.entry_alone();
                }
                self.commit_group()?;
                self.conn.failures.begin_entry(te.dump_id, label);
                self.progress.begin(&te, false, self.conn.failures.errors());
                self.conn.command(text)?;
                self.entry_done();
            }
        }
        if let Some(open) = transaction {
            self.in_transaction = open;
        }
        Ok(())
    }

    /// Starts a COPY on the reading connection; its rows follow.
    fn copy_here(&mut self, text: &[u8], line: u64) -> Result<(), Stop> {
        let te = self.entry(text, line, true);
        let label = format!("{}:{line}", self.label);
        // Its rows go in after everything before it has committed.
        self.commit_group()?;
        self.conn.failures.begin_entry(te.dump_id, label);
        self.progress.begin(&te, false, self.conn.failures.errors());
        let before = self.conn.failures.errors();
        self.copy.start(&mut self.conn, &self.progress, text, &te, None)?;
        if self.conn.take_lost() {
            self.restore_session()?;
        }
        // A COPY the server refused has no rows to take: they are skipped, never run.
        self.in_copy = self.conn.failures.errors() == before;
        if !self.in_copy {
            self.entry_done();
        }
        Ok(())
    }

    /// The statement in progress on the connection is done.
    fn entry_done(&mut self) {
        let errors = self.conn.failures.errors();
        self.progress.finish(errors);
        self.conn.failures.end_entry();
    }

    /// Commits the statements held, if any: the one commit point of a script's restore.
    fn commit_group(&mut self) -> Result<(), SessionError> {
        let Some(group) = self.group.as_mut().filter(|g| !g.is_empty()) else { return Ok(()) };
        group.commit(&mut self.conn, &mut self.progress, &mut |_, _, _| {})
    }

    /// Makes the script's session settings again on a replaced connection.
    fn restore_session(&mut self) -> Result<(), Stop> {
        for text in &self.session {
            let Ok(sql) = self.conn.encoding().decode(text) else { continue };
            match self.conn.rt().block_on(self.conn.client().batch_execute(&sql)) {
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
            return entry(id, "TABLE DATA", &table, Section::Data);
        }
        entry(id, "SQL", &format!("line {line}"), Section::PreData)
    }

    fn meta(&mut self, meta: Meta, line: u64, opts: &RestoreOptions) -> Result<(), Stop> {
        match meta {
            Meta::Connect { dbname, .. } => {
                if opts.single_transaction {
                    return Err(Stop::Script(ScriptStop::ConnectInTransaction { label: self.label.to_owned(), line }));
                }
                self.wait_for_workers()?;
                self.commit_group()?;
                self.conn.move_to_database(dbname.clone())?;
                self.in_transaction = false;
                // A new session: the script sets what it needs again, as pg_dump's do.
                self.session.clear();
                self.created.clear();
                self.change_context(|c| {
                    c.database = Some(dbname);
                    c.generation += 1;
                    c.settings.clear();
                });
                // The workers follow at once: a database one is left in could not be
                // dropped by what the script runs next (`pg_dumpall --clean`).
                if let Some(pool) = self.pool {
                    pool.move_all(Arc::clone(&self.context))?;
                }
            }
            Meta::OnErrorStop(on) => {
                let stop = on || opts.exit_on_error || opts.single_transaction;
                self.conn.failures.set_stop_at_first(stop);
                self.change_context(|c| c.stop_at_first = stop);
            }
            // Read and checked by the reader; nothing to do on the server.
            Meta::Restrict { .. } | Meta::Unrestrict { .. } | Meta::Encoding(_) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_value_of_a_setting_replaces_the_earlier() {
        assert_eq!(setting_key(b"SET default_tablespace = '';"), "default_tablespace");
        assert_eq!(setting_key(b"SET default_tablespace TO fixture_ts;"), "default_tablespace");
        assert_eq!(setting_key(b"SET SESSION AUTHORIZATION 'alice';"), "session authorization");
        assert_eq!(setting_key(b"SET SESSION search_path = x;"), "search_path");
        assert_eq!(setting_key(b"SELECT pg_catalog.set_config('search_path', '', false);"), "search_path");
        assert_eq!(setting_key(b"SET ROLE bob;"), "role");
    }

    #[test]
    fn a_chained_commit_leaves_a_transaction_open() {
        assert_eq!(transaction_control(b"BEGIN;"), Some(true));
        assert_eq!(transaction_control(b"COMMIT;"), Some(false));
        assert_eq!(transaction_control(b"COMMIT AND CHAIN;"), Some(true));
        assert_eq!(transaction_control(b"COMMIT AND NO CHAIN;"), Some(false));
        assert_eq!(transaction_control(b"ROLLBACK AND CHAIN;"), Some(true));
        assert_eq!(transaction_control(b"ROLLBACK TO SAVEPOINT a;"), None);
    }
}
