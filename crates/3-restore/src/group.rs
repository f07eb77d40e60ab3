//! Commit groups: schema entries held back and sent many at once, in one transaction and one
//! round trip, instead of pg_restore's one Query and one commit (a WAL flush) per command.
//!
//! Each entry's commands are held (`groupable` says which may be) until the group is full,
//! old, or something needs what it holds to be in the database: table data, large objects,
//! a command that may not be held, a question about an entry's outcome, the end. Then
//! [`Group::commit`] sends `BEGIN`, every held command and `COMMIT` together, pipelined.
//!
//! The result is pg_restore's, failures included. If any command fails, the server aborts
//! the transaction, `COMMIT` rolls it back, nothing of the group remains — and the group is
//! replayed one command at a time in autocommit, as pg_restore runs it, so each failure is
//! reported, counted and attributed to its entry exactly as pg_restore's would be, and `-e`
//! stops at the first one. Replay only ever runs after a rollback, so no command takes effect
//! twice (`setval`, the one non-transactional thing pg_dump writes, sets the same value
//! again). After a failure a few entries run alone, then groups grow again from one entry,
//! so a restore where every entry fails (into a database that already has the objects) pays
//! for few rollbacks.
//!
//! A parallel worker's group holds its items: an item of a thousand large objects' metadata
//! is one commit instead of two thousand, and a run of small indexes and constraints one
//! commit instead of one each. The scheduler counts a held item as running (so nothing that
//! conflicts with its locks starts) and hears it is done only once it has committed; a
//! worker commits before it waits for work.
//!
//! [`Group::commit`] is the one place held entries become committed: whoever must know
//! (the scheduler, a resume journal) hears of each entry there, and only there, once its
//! transaction has committed.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use pgsurge_archive::{DumpId, TocEntry};

use super::connection::Connection;
use super::failure::SessionError;
use super::progress::Progress;

/// Entries a group holds at most. A group holds the locks of everything it creates until it
/// commits; a server short of lock slots makes the group fail, and it is replayed.
const MAX_ENTRIES: usize = 256;
/// Commands a group holds at most (an entry of large-object metadata has one per object).
const MAX_COMMANDS: usize = 2048;
/// Bytes of command text a group holds at most.
const MAX_BYTES: usize = 4 << 20;
/// How long a group waits for more entries at most: in a parallel restore, workers wait for
/// the tables in it.
const MAX_AGE: Duration = Duration::from_millis(100);
/// Entries run alone after a group failed, before groups start again.
const ALONE_AFTER_FAILURE: usize = 8;

/// A command held in a group, as the renderer gave it (in the archive's encoding).
enum Held {
    /// [`Connection::command`]: pg_restore's wording on failure, with the command.
    Command(Vec<u8>),
    /// [`Connection::setting`]: reported as `failure: <server error>`.
    Setting(Vec<u8>, String),
}

/// An entry whose commands are held.
struct HeldEntry {
    dump_id: DumpId,
    dropped: bool,
    desc: String,
    label: String,
    /// The "from TOC entry" line its failures carry.
    line: String,
    started: Instant,
    /// When the renderer finished it; `None` while it still gives commands.
    ended: Option<Instant>,
    commands: Vec<Held>,
}

/// A connection's commit group.
pub(crate) struct Group {
    entries: Vec<HeldEntry>,
    commands: usize,
    bytes: usize,
    /// Entries a group may hold now: all of [`MAX_ENTRIES`], or fewer while growing back
    /// after a failure.
    limit: usize,
    /// Entries still to run alone after a failure.
    alone: usize,
}

impl Group {
    pub fn new() -> Group {
        Group { entries: Vec::new(), commands: 0, bytes: 0, limit: MAX_ENTRIES, alone: 0 }
    }

    /// Whether the next entry is to be held (else it runs alone, as pg_restore runs it).
    pub fn takes_entries(&self) -> bool {
        self.alone == 0
    }

    /// An entry runs alone instead.
    pub fn entry_alone(&mut self) {
        self.alone = self.alone.saturating_sub(1);
    }

    /// Whether `dump_id` is the entry being held, for the same action.
    pub fn is_current(&self, dump_id: DumpId, dropped: bool) -> bool {
        self.entries.last().is_some_and(|e| e.ended.is_none() && e.dump_id == dump_id && e.dropped == dropped)
    }

    /// Whether the last entry held is `dump_id`'s (given in full or not).
    pub fn last_is(&self, dump_id: DumpId) -> bool {
        self.entries.last().is_some_and(|e| e.dump_id == dump_id)
    }

    /// Whether the renderer is giving commands for a held entry.
    pub fn holding(&self) -> bool {
        self.entries.last().is_some_and(|e| e.ended.is_none())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Holds `te` from now on; the entry before it, if held, is finished.
    pub fn hold_entry(&mut self, te: &TocEntry, dropped: bool, line: String) {
        self.end_entry();
        let (desc, label) = Progress::describe(te);
        self.entries.push(HeldEntry { dump_id: te.dump_id, dropped, desc, label, line, started: Instant::now(), ended: None, commands: Vec::new() });
    }

    /// The held entry is finished.
    pub fn end_entry(&mut self) {
        if let Some(e) = self.entries.last_mut().filter(|e| e.ended.is_none()) {
            e.ended = Some(Instant::now());
        }
    }

    /// Holds a command of the current entry, if it may wait in a group (else the group must
    /// be committed before it runs, and `false` says so).
    pub fn hold_command(&mut self, conn: &Connection<'_>, sql: &[u8], setting: Option<&str>, std_strings: bool) -> bool {
        let Some(entry) = self.entries.last_mut().filter(|e| e.ended.is_none()) else { return false };
        let holdable = match conn.encoding().decode(sql) {
            Ok(text) => pgsurge_plan::groupable::may_hold(&text, std_strings),
            // Run alone: the failure is reported as pg_restore words it.
            Err(_) => false,
        };
        if !holdable {
            return false;
        }
        self.commands += 1;
        self.bytes = self.bytes.saturating_add(sql.len());
        entry.commands.push(match setting {
            Some(failure) => Held::Setting(sql.to_vec(), failure.to_owned()),
            None => Held::Command(sql.to_vec()),
        });
        true
    }

    /// When the group is due to be committed at the latest; `None` when it holds nothing.
    pub fn due(&self) -> Option<Instant> {
        self.entries.first().map(|e| e.started + MAX_AGE)
    }

    /// Whether the group should be committed now, at the end of an entry.
    pub fn full(&self) -> bool {
        let old = self.due().is_some_and(|due| Instant::now() >= due);
        self.entries.len() >= self.limit || self.commands >= MAX_COMMANDS || self.bytes >= MAX_BYTES || old
    }

    /// The commit point. Sends the held entries in one transaction; if it commits, each entry
    /// is reported done, and `committed` hears of it (its dump id, whether it was a drop, and
    /// its failures: none). If anything failed, the group was rolled back and is replayed
    /// command by command (each then commits on its own, and `committed` hears of each entry,
    /// with its failures, once it has run). An entry the renderer is still giving commands
    /// for is left in progress on the connection, its commands from now on run alone.
    pub fn commit(&mut self, conn: &mut Connection<'_>, progress: &mut Progress<'_>, committed: &mut dyn FnMut(DumpId, bool, u64)) -> Result<(), SessionError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.entries);
        self.commands = 0;
        self.bytes = 0;
        if send(conn, &entries)? {
            conn.show_notices();
            self.limit = (self.limit * 2).min(MAX_ENTRIES);
            let last = entries.len() - 1;
            for (n, e) in entries.into_iter().enumerate() {
                let (id, dropped, ended) = (e.dump_id, e.dropped, e.ended);
                progress.begin_as(id, dropped, e.desc, e.label, e.started, conn.failures.errors());
                match ended {
                    Some(at) => {
                        // The round trip that committed them all shows on the last.
                        progress.finish_at(conn.failures.errors(), if n == last { Instant::now() } else { at });
                        committed(id, dropped, 0);
                    }
                    None => conn.failures.begin_entry(id, e.line),
                }
            }
            return Ok(());
        }
        // Whatever the server said about commands that never took effect is not shown.
        conn.discard_notices();
        self.limit = 1;
        self.alone = ALONE_AFTER_FAILURE;
        for e in entries {
            let (id, dropped, ended) = (e.dump_id, e.dropped, e.ended);
            progress.begin_as(id, dropped, e.desc, e.label, Instant::now(), conn.failures.errors());
            conn.failures.begin_entry(id, e.line);
            for command in e.commands {
                match command {
                    Held::Command(sql) => conn.command(&sql)?,
                    Held::Setting(sql, failure) => conn.setting(&sql, &failure)?,
                }
            }
            if ended.is_some() {
                conn.show_notices();
                let failures = conn.failures.entry_errors();
                conn.failures.end_entry();
                progress.finish(conn.failures.errors());
                committed(id, dropped, failures);
            }
        }
        Ok(())
    }
}

/// Sends `BEGIN`, the entries' commands and `COMMIT` in one round trip; `true` when every one
/// succeeded (and so the transaction committed).
fn send(conn: &mut Connection<'_>, entries: &[HeldEntry]) -> Result<bool, SessionError> {
    if entries.iter().all(|e| e.commands.is_empty()) {
        return Ok(true);
    }
    let mut texts: Vec<Cow<'_, str>> = vec![Cow::Borrowed("BEGIN")];
    for command in entries.iter().flat_map(|e| &e.commands) {
        let sql = match command {
            Held::Command(sql) | Held::Setting(sql, _) => sql,
        };
        // Decoded once already when held.
        match conn.encoding().decode(sql) {
            Ok(text) => texts.push(text),
            Err(_) => return Ok(false),
        }
    }
    texts.push(Cow::Borrowed("COMMIT"));
    conn.pipeline(&texts)
}
