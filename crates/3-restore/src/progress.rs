//! What the reporter hears of a session's work: that an entry started, how much of its table
//! data has been sent, and its record once finished (time, rows, bytes, errors, connections);
//! and the session's totals for the restore's outcome.

use std::time::Instant;

use pgsurge_archive::{DumpId, TocEntry};

use super::{EngineEvent, ItemRecord};

pub(super) struct Progress<'e> {
    events: &'e (dyn Fn(EngineEvent) + Sync),
    /// Which worker this session is (0: the leader).
    pub worker: usize,
    /// Rows and bytes sent as data (COPY text, SQL data, large objects), for the summary.
    pub rows: u64,
    pub data_bytes: u64,
    /// COPY text lines handed on so far: each is one row, so progress can show rows while
    /// a table streams (the server's count arrives only when its COPY ends).
    pub copy_lines: u64,
    /// Archive bytes read of the table data being loaded.
    archive_read: u64,
    /// The entry being restored, for its finish event.
    current: Option<Current>,
}

/// The entry a session is working on, and the totals when it began.
struct Current {
    dump_id: DumpId,
    /// A `--clean` drop rather than the entry's restore.
    dropped: bool,
    desc: String,
    label: String,
    started: Instant,
    rows: u64,
    bytes: u64,
    copy_lines: u64,
    errors: u64,
    /// Connections that loaded its data.
    connections: usize,
}

impl<'e> Progress<'e> {
    pub fn new(events: &'e (dyn Fn(EngineEvent) + Sync)) -> Progress<'e> {
        Progress { events, worker: 0, rows: 0, data_bytes: 0, copy_lines: 0, archive_read: 0, current: None }
    }

    /// Whether `dump_id` is the entry in progress, for the same action (a worker's TRUNCATE
    /// wrapping starts it twice: one item; a `--clean` drop and the entry's restore are two).
    pub fn is_current(&self, dump_id: DumpId, dropped: bool) -> bool {
        self.current.as_ref().is_some_and(|c| c.dump_id == dump_id && c.dropped == dropped)
    }

    /// What the reporter calls `te`: its kind, and its kind with its name.
    pub fn describe(te: &TocEntry) -> (String, String) {
        let label = match &te.namespace {
            Some(ns) if !ns.is_empty() => format!("{} {}.{}", te.desc, ns, te.tag),
            _ => format!("{} {}", te.desc, te.tag),
        };
        (te.desc.to_string(), label)
    }

    /// Reports `te` started; `errors` is the session's count so far.
    pub fn begin(&mut self, te: &TocEntry, dropped: bool, errors: u64) {
        let (desc, label) = Self::describe(te);
        self.begin_as(te.dump_id, dropped, desc, label, Instant::now(), errors);
    }

    /// Reports an entry started at `started` (an entry held in a commit group begins when the
    /// renderer gave it, and is reported when the group is sent).
    pub fn begin_as(&mut self, dump_id: DumpId, dropped: bool, desc: String, label: String, started: Instant, errors: u64) {
        (self.events)(EngineEvent::ItemStarted { worker: self.worker, dump_id, label: label.clone() });
        self.current = Some(Current { dump_id, dropped, desc, label, started, rows: self.rows, bytes: self.data_bytes, copy_lines: self.copy_lines, errors, connections: 1 });
    }

    /// Reports the entry in progress finished, if there is one; `errors` is the session's
    /// count now. Returns which entry it was, and whether it was a drop.
    pub fn finish(&mut self, errors: u64) -> Option<(DumpId, bool)> {
        self.finish_at(errors, Instant::now())
    }

    /// As [`Progress::finish`], for an entry that ended at `ended`.
    pub fn finish_at(&mut self, errors: u64, ended: Instant) -> Option<(DumpId, bool)> {
        let c = self.current.take()?;
        (self.events)(EngineEvent::ItemFinished(ItemRecord {
            worker: self.worker,
            dump_id: c.dump_id,
            dropped: c.dropped,
            desc: c.desc,
            label: c.label,
            started: c.started,
            elapsed: ended.saturating_duration_since(c.started),
            rows: self.rows - c.rows,
            bytes: self.data_bytes - c.bytes,
            errors: errors.saturating_sub(c.errors),
            connections: c.connections,
        }));
        Some((c.dump_id, c.dropped))
    }

    /// How many archive bytes of the entry's table data have been read.
    pub fn read(&mut self, archive_bytes: u64) {
        self.archive_read = archive_bytes;
    }

    /// Reports the table data sent so far by the entry in progress.
    pub fn sent(&self) {
        if let Some(c) = &self.current {
            (self.events)(EngineEvent::Progress { worker: self.worker, bytes: self.data_bytes - c.bytes, rows: self.copy_lines - c.copy_lines, archive_bytes: self.archive_read });
        }
    }

    /// The entry's data was loaded over `n` connections.
    pub fn loaded_over(&mut self, n: usize) {
        if let Some(c) = &mut self.current {
            c.connections = n;
        }
    }
}
