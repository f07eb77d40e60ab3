//! One connection to the server: opening it with the settings pg_restore starts every
//! connection with (and telling a refusal for want of a free slot from other failures),
//! the server's notices (shown under `-v`), running statements one at a
//! time or batched (a round trip for many), and giving way to a new connection — to the same
//! database when this one cannot be trusted, or to `--create`'s database. A statement the
//! server refuses is handed to the failure policy (`failure`), which says whether the
//! restore goes on.
//!
//! A connection is synchronous: it blocks on a current-thread tokio runtime for each
//! exchange, so its callers and the archive readers stay plain synchronous code, and
//! parallelism comes from one connection per worker thread.

use std::sync::{Arc, Mutex};

use bstr::ByteSlice;
use pgsurge_plan::options::RestoreOptions;
use tokio::runtime::Runtime;
use tokio_postgres::{Client, Statement};

use super::encoding::Encoding;
use super::failure::{described, lost_connection, Failures, SessionError};
use super::server_error::{notice_message, server_message, server_message_in};
use super::{ConnectFailure, Connector, EngineEvent};

/// The settings a session starts with, for a server of this `server_version_num` (what
/// pg_restore's `_doSetFixedOutputState` sends). The renderer words them, as a script shows
/// them; they are handed in so that the connection needs no renderer.
pub(super) type Settings<'e> = Box<dyn Fn(u32) -> Vec<Vec<u8>> + 'e>;

/// Batched commands in flight at once: a round trip per batch, and memory bounded.
const BATCH_COMMANDS: usize = 256;

/// Notice text a connection holds until it can print it (`-v`). A command runs to its end
/// before its notices are shown, and one command can raise any number of them (a loop of
/// RAISE NOTICE in a function the archive defines, a trigger firing for every row loaded):
/// past this much, further ones are only counted.
const NOTICE_QUEUE_BYTES: usize = 16 << 20;

/// The server's notices not yet shown.
#[derive(Debug, Default)]
struct NoticeQueue {
    notices: Vec<String>,
    bytes: usize,
    /// Notices not kept: the queue was full.
    dropped: u64,
}

impl NoticeQueue {
    fn add(&mut self, notice: String) {
        match self.bytes.checked_add(notice.len()).filter(|&b| b <= NOTICE_QUEUE_BYTES) {
            Some(bytes) => {
                self.bytes = bytes;
                self.notices.push(notice);
            }
            None => self.dropped = self.dropped.saturating_add(1),
        }
    }
}

/// The server's reason when it refused a connection for lack of a free slot (SQLSTATE
/// 53300: `max_connections` reached, or only reserved slots left), as libpq words it;
/// `None` for any other failure. A parallel restore can do without such a connection.
pub(super) fn refused_for_lack_of_slots(e: &ConnectFailure) -> Option<String> {
    let e = e.downcast_ref::<pgsurge_connect::ConnectError>()?;
    if !e.too_many_connections() {
        return None;
    }
    e.server_reason().map(str::to_owned)
}

pub(super) struct Connection<'e> {
    rt: &'e Runtime,
    client: Client,
    connector: &'e dyn Connector,
    events: &'e (dyn Fn(EngineEvent) + Sync),
    settings: Settings<'e>,
    /// How archive text becomes the UTF-8 the connection speaks.
    encoding: Encoding,
    /// `server_version_num` of the server.
    pub server_version: u32,
    /// The database `--create` moved the connection to, for replacements and later
    /// connections.
    pub dbname: Option<String>,
    /// What failed so far, and what the next failure does.
    pub failures: Failures,
    /// The connection was replaced since the caller last asked.
    lost: bool,
    /// Batched one-per-object commands not yet sent.
    batch: Vec<String>,
    /// Statements prepared on this client; a new client has none.
    prepared: Vec<(&'static str, Statement)>,
    /// The server's notices, shown under `-v` as pg_restore shows them.
    notices: Arc<Mutex<NoticeQueue>>,
    /// `-v`: notices are queued at all.
    verbose: bool,
    notice_handler: pgsurge_connect::NoticeHandler,
    /// A plain script's session: set up with nothing of pg_restore's (no `search_path`, no
    /// settings), since the script sets what it needs, as under psql.
    bare: bool,
}

impl<'e> Connection<'e> {
    /// Connects to `dbname`, or the database the user named; [`Connection::setup`] is next.
    pub fn open(
        rt: &'e Runtime,
        connector: &'e dyn Connector,
        dbname: Option<&str>,
        opts: &RestoreOptions,
        encoding: Encoding,
        settings: Settings<'e>,
        events: &'e (dyn Fn(EngineEvent) + Sync),
    ) -> Result<Connection<'e>, ConnectFailure> {
        let verbose = opts.verbose;
        let notices = Arc::new(Mutex::new(NoticeQueue::default()));
        let queue = notices.clone();
        let notice_handler: pgsurge_connect::NoticeHandler = Arc::new(move |n: &tokio_postgres::error::DbError| {
            if verbose {
                queue.lock().unwrap_or_else(|e| e.into_inner()).add(notice_message(n));
            }
        });
        let client = rt.block_on(connector.connect(dbname, notice_handler.clone()))?;
        Ok(Connection {
            rt,
            client,
            connector,
            events,
            settings,
            encoding,
            server_version: 0,
            dbname: dbname.map(str::to_owned),
            failures: Failures::new(opts),
            lost: false,
            batch: Vec::new(),
            prepared: Vec::new(),
            notices,
            verbose,
            notice_handler,
            bare: false,
        })
    }

    /// Learns the server's version and applies the session settings.
    pub fn setup(&mut self) -> Result<(), SessionError> {
        let version = self.rt.block_on(self.client.simple_query("SHOW server_version_num")).map_err(lost_connection)?;
        self.server_version = version
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
                _ => None,
            })
            .unwrap_or(0);
        if self.bare {
            return Ok(());
        }
        // As pg_restore does on every connection: nothing resolves through a schema an
        // archive's owner could have planted objects in.
        self.command(b"SELECT pg_catalog.set_config('search_path', '', false);")?;
        for setting in (self.settings)(self.server_version) {
            // The connection speaks UTF-8; text in another encoding is converted before it
            // is sent, and COPY data says its encoding.
            if setting.starts_with(b"SET client_encoding") {
                continue;
            }
            self.command(&setting)?;
        }
        Ok(())
    }

    pub fn rt(&self) -> &'e Runtime {
        self.rt
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn encoding(&self) -> &Encoding {
        &self.encoding
    }

    /// The text that follows is in `encoding` (a script's `SET client_encoding`).
    pub fn set_encoding(&mut self, encoding: Encoding) {
        self.encoding = encoding;
    }

    /// This connection runs a plain script: see `bare`.
    pub fn script_session(&mut self) {
        self.bare = true;
    }

    pub fn emit(&self, event: EngineEvent) {
        (self.events)(event);
    }

    /// Prints the notices received so far (`-v` only; nothing is queued otherwise).
    pub fn show_notices(&self) {
        // Asked after every command: without -v the queue stays empty, so not even its lock
        // is taken.
        if !self.verbose {
            return;
        }
        let queue = std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()));
        for notice in queue.notices {
            self.emit(EngineEvent::Info(notice));
        }
        if queue.dropped > 0 {
            self.emit(EngineEvent::Info(format!("{} more notices from the server not shown: over {} MB of them came during one command", queue.dropped, NOTICE_QUEUE_BYTES >> 20)));
        }
    }

    /// Reports one failure to the failure policy; `cause` is the server's error, when it was
    /// the server that refused.
    pub fn failed(&mut self, message: String, cause: Option<&tokio_postgres::Error>) -> Result<(), SessionError> {
        let (message, cause, sqlstate) = described(message, cause);
        self.failed_with(message, cause, sqlstate)
    }

    /// Reports a failure whose server error is already taken apart.
    pub fn failed_with(&mut self, message: String, cause: String, sqlstate: Option<String>) -> Result<(), SessionError> {
        self.show_notices();
        self.failures.record(message, cause, sqlstate, self.events)
    }

    /// A command as pg_restore sends it: one simple Query, after any batched commands.
    pub fn command(&mut self, sql: &[u8]) -> Result<(), SessionError> {
        self.flush_batch()?;
        // Transaction control has its own wording in pg_restore's messages.
        let trimmed = sql.trim();
        if trimmed == b"BEGIN;" {
            return self.execute(sql, "could not start database transaction");
        }
        if trimmed == b"COMMIT;" {
            return self.execute(sql, "could not commit database transaction");
        }
        if trimmed.starts_with(b"SET SESSION AUTHORIZATION") {
            // Always fatal in pg_restore: everything after would run as the wrong user.
            let text = self.encoding.decode(sql).map_err(SessionError::Fatal)?.into_owned();
            return match self.rt.block_on(self.client.batch_execute(&text)) {
                Ok(()) => Ok(()),
                Err(e) => Err(SessionError::Fatal(format!("could not set session user: {}", server_message(&e)))),
            };
        }
        self.execute(sql, "could not execute query")
    }

    /// A session setting, reported as `failure: <server error>` without the command.
    pub fn setting(&mut self, sql: &[u8], failure: &str) -> Result<(), SessionError> {
        self.flush_batch()?;
        self.run(sql, failure, false)
    }

    /// Holds a one-per-object command to send with others ([`Connection::flush_batch`]); the
    /// caller has asked the failure policy whether commands may be batched.
    pub fn batch(&mut self, sql: &[u8]) -> Result<(), SessionError> {
        match self.encoding.decode(sql) {
            Ok(text) => self.batch.push(text.into_owned()),
            Err(e) => return self.failed(format!("could not execute query: {e}\nCommand was: {}", sql.as_bstr()), None),
        }
        if self.batch.len() >= BATCH_COMMANDS {
            self.flush_batch()?;
        }
        Ok(())
    }

    /// Sends the batched commands together and reads their results in order: one round
    /// trip for the lot instead of one each. Failures are reported and counted one by one.
    pub fn flush_batch(&mut self) -> Result<(), SessionError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let texts = std::mem::take(&mut self.batch);
        let results = self.send_all(&texts);
        for (text, result) in texts.iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(e) if e.as_db_error().is_some() => self.failed(format!("could not execute query: {}\nCommand was: {text}", server_message_in(&e, text)), Some(&e))?,
                Err(e) => return Err(lost_connection(e)),
            }
        }
        Ok(())
    }

    /// Sends `texts` as one simple Query each, all before reading any result (one round trip),
    /// and reads every result; `true` when all succeeded. The server runs each after the one
    /// before it whatever that one's outcome, so a caller that needs them to stand or fall
    /// together puts them in one transaction. Failures are not reported: the caller decides.
    pub fn pipeline(&mut self, texts: &[std::borrow::Cow<'_, str>]) -> Result<bool, SessionError> {
        let results = self.send_all(texts);
        let mut ok = true;
        for result in results {
            match result {
                Ok(()) => {}
                Err(e) if e.as_db_error().is_some() => ok = false,
                Err(e) => return Err(lost_connection(e)),
            }
        }
        Ok(ok)
    }

    /// Sends each of `texts` as one simple Query, all before reading any result, and returns
    /// their results in order.
    fn send_all<T: AsRef<str>>(&self, texts: &[T]) -> Vec<Result<(), tokio_postgres::Error>> {
        let client = &self.client;
        self.rt.block_on(futures_util::future::join_all(texts.iter().map(|t| client.batch_execute(t.as_ref()))))
    }

    /// Forgets the notices received so far unshown: they came from commands whose work was
    /// rolled back, and are heard again when the commands run again.
    pub fn discard_notices(&self) {
        if self.verbose {
            *self.notices.lock().unwrap_or_else(|e| e.into_inner()) = NoticeQueue::default();
        }
    }

    pub fn execute(&mut self, sql: &[u8], what: &str) -> Result<(), SessionError> {
        self.run(sql, what, true)
    }

    /// Runs `sql` as one simple Query; a refusal is reported as `what: <server error>`,
    /// followed by `Command was: <sql>` when `show_command`.
    fn run(&mut self, sql: &[u8], what: &str, show_command: bool) -> Result<(), SessionError> {
        let command = |text: &dyn std::fmt::Display| if show_command { format!("\nCommand was: {text}") } else { String::new() };
        let text = match self.encoding.decode(sql) {
            Ok(t) => t,
            Err(e) => return self.failed(format!("{what}: {e}{}", command(&sql.as_bstr())), None),
        };
        if text.trim().is_empty() {
            return Ok(());
        }
        match self.rt.block_on(self.client.batch_execute(&text)) {
            Ok(()) => {
                // As they come, as pg_restore prints them: the queue holds one command's.
                self.show_notices();
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => self.failed(format!("{what}: {}{}", server_message_in(&e, &text), command(&text)), Some(&e)),
            Err(e) => Err(lost_connection(e)),
        }
    }

    /// `sql` prepared on this client, once per client.
    pub fn prepared(&mut self, sql: &'static str) -> Result<Statement, SessionError> {
        if let Some((_, stmt)) = self.prepared.iter().find(|(s, _)| *s == sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.rt.block_on(self.client.prepare(sql)).map_err(lost_connection)?;
        self.prepared.push((sql, stmt.clone()));
        Ok(stmt)
    }

    /// A new connection to the same database in place of this one, set up afresh; the
    /// caller learns through [`Connection::take_lost`] that the session's settings are gone.
    pub fn replace(&mut self) -> Result<(), SessionError> {
        let client = self.rt.block_on(self.connector.connect(self.dbname.as_deref(), self.notice_handler.clone())).map_err(SessionError::Connect)?;
        self.client = client;
        self.prepared.clear();
        self.lost = true;
        let mark = self.failures.mark();
        let setup = self.setup();
        self.failures.forgive_since(mark);
        setup
    }

    /// Moves to database `dbname` (`--create`'s `\connect`): a new connection there, set up
    /// as the first was.
    pub fn move_to(&mut self, dbname: &[u8]) -> Result<(), SessionError> {
        let name = self.encoding.decode(dbname).map_err(SessionError::Fatal)?.into_owned();
        self.move_to_database(name)
    }

    /// Moves to the database named `name` (a script's `\connect`).
    pub fn move_to_database(&mut self, name: String) -> Result<(), SessionError> {
        self.follow_to_database(name.clone())?;
        self.emit(EngineEvent::Reconnected(name));
        Ok(())
    }

    /// As [`Connection::move_to_database`], for a connection that follows another there
    /// (a parallel script restore's workers): the move is not announced again.
    pub fn follow_to_database(&mut self, name: String) -> Result<(), SessionError> {
        let client = self.rt.block_on(self.connector.connect(Some(&name), self.notice_handler.clone())).map_err(SessionError::Connect)?;
        self.client = client;
        self.prepared.clear();
        self.dbname = Some(name);
        self.setup()
    }

    /// Whether the connection was replaced since the last call.
    pub fn take_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// Tables, views, sequences and foreign tables outside the system schemas; `None` when
    /// the question itself failed.
    pub fn user_relations(&mut self) -> Option<u64> {
        const SQL: &str = "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";
        let rows = self.rt.block_on(self.client.simple_query(SQL)).ok()?;
        rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood of notices during one command is kept up to the limit, then counted.
    #[test]
    fn notice_queue_is_bounded() {
        let mut q = NoticeQueue::default();
        let notice = "NOTICE:  x".repeat(100);
        let fits = NOTICE_QUEUE_BYTES / notice.len();
        for _ in 0..fits + 5 {
            q.add(notice.clone());
        }
        assert_eq!(q.notices.len(), fits);
        assert!(q.bytes <= NOTICE_QUEUE_BYTES);
        assert_eq!(q.dropped, 5);
    }
}
