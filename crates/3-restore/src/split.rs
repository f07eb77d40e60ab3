//! One table's COPY spread over several connections, so that a huge table does not leave
//! the other connections idle once everything else is loaded.
//!
//! The worker that owns the table reads its data as usual, cuts it into chunks at row ends
//! ([`RowCutter`]) and hands each chunk to whichever connection can take it first: its own
//! COPY, or the COPY of an idle worker that joined ([`SplitCopy::join`]). Every part runs in
//! a transaction of its own and none commits before all have loaded, so the table's rows
//! appear together or not at all. When any part fails, all roll back and the owner loads the
//! table again on its connection alone — the error then reads exactly as pg_restore's.
//!
//! The rows end up in the table in a different physical order (chunk by chunk, by
//! connection) than a single COPY would leave them; the set of rows is the same.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bstr::ByteSlice;
use bytes::Bytes;
use pgsurge_archive::DumpId;
use tokio::sync::mpsc;

/// Size of the chunks handed out: large enough that a connection sends whole runs of rows,
/// small enough that all parts end within moments of each other.
const CHUNK: usize = 1 << 20;

/// Where a worker posts the table it is splitting, for idle workers to find.
pub(super) trait SplitBoard: Sync {
    fn post(&self, split: &Arc<SplitCopy>);
    fn withdraw(&self, split: &Arc<SplitCopy>);
}

/// A table being loaded by several connections.
pub(super) struct SplitCopy {
    pub dump_id: DumpId,
    /// The COPY statement each part sends, as the owner sent it.
    pub copy: String,
    chunks: tokio::sync::Mutex<mpsc::Receiver<Bytes>>,
    state: Mutex<PartState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct PartState {
    /// Helpers may still join: the owner has rows left to hand out.
    open: bool,
    /// Helpers that joined and have not yet reported how their part went.
    running: usize,
    /// Helpers that joined in all.
    joined: usize,
    /// A part failed: nothing more is sent, and all roll back.
    failed: bool,
    /// Rows the helpers loaded.
    rows: u64,
    /// Commit (`true`) or roll back, once the owner has decided.
    verdict: Option<bool>,
    /// The first part's failure as the server told it.
    error: Option<PartError>,
}

/// Why a part failed, kept for when the table cannot be loaded again on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartError {
    /// The server's message as pg_restore prints it (`ERROR:  …` with its CONTEXT).
    pub message: String,
    /// The server's own words (`invalid input syntax …`).
    pub cause: String,
    pub sqlstate: Option<String>,
}

/// What the owner learns when it closes a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decision {
    pub commit: bool,
    /// Rows the helpers loaded (the owner knows its own).
    pub helper_rows: u64,
    pub helpers: usize,
}

impl SplitCopy {
    /// A split of table data `dump_id` loaded with `copy`; the sender is the owner's, with
    /// room for `queue` chunks waiting for a helper.
    pub fn new(dump_id: DumpId, copy: String, queue: usize) -> (Arc<SplitCopy>, mpsc::Sender<Bytes>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let split = SplitCopy {
            dump_id,
            copy,
            chunks: tokio::sync::Mutex::new(rx),
            state: Mutex::new(PartState { open: true, ..PartState::default() }),
            changed: Condvar::new(),
        };
        (Arc::new(split), tx)
    }

    fn state(&self) -> MutexGuard<'_, PartState> {
        // A panicking part has already failed the split; its state is still sound.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a part's failure, unless an earlier one was kept.
    pub fn record_error(&self, error: PartError) {
        self.state().error.get_or_insert(error);
    }

    /// The first failure any part kept.
    pub fn first_error(&self) -> Option<PartError> {
        self.state().error.clone()
    }

    /// An idle worker asks to load a part; `false` once the owner has handed everything out
    /// (or a part failed).
    pub fn join(&self) -> bool {
        let mut st = self.state();
        if !st.open || st.failed {
            return false;
        }
        st.running += 1;
        st.joined += 1;
        true
    }

    pub fn is_open(&self) -> bool {
        let st = self.state();
        st.open && !st.failed
    }

    /// Helpers loading a part now.
    pub fn helping(&self) -> usize {
        self.state().running
    }

    pub fn failed(&self) -> bool {
        self.state().failed
    }

    /// Marks the split failed: the owner stops handing out rows.
    pub fn fail(&self) {
        self.state().failed = true;
        self.changed.notify_all();
    }

    /// A helper's next chunk; `None` when the owner has handed out the last one.
    pub async fn next_chunk(&self) -> Option<Bytes> {
        self.chunks.lock().await.recv().await
    }

    /// A chunk no helper took before the owner closed the split.
    pub fn leftover(&self) -> Option<Bytes> {
        self.chunks.try_lock().ok()?.try_recv().ok()
    }

    /// A helper's part is loaded (`Some(rows)`) or failed (`None`); its transaction stays
    /// open until [`SplitCopy::verdict`].
    pub fn part_done(&self, rows: Option<u64>) {
        let mut st = self.state();
        st.running = st.running.saturating_sub(1);
        match rows {
            Some(rows) => st.rows += rows,
            None => st.failed = true,
        }
        drop(st);
        self.changed.notify_all();
    }

    /// Waits for the owner's decision: commit or roll back.
    pub fn verdict(&self) -> bool {
        let mut st = self.state();
        loop {
            if let Some(v) = st.verdict {
                return v;
            }
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The owner has handed out every row: no one joins any more. Waits for the helpers'
    /// parts, then decides for all (`own_ok`: the owner's part loaded).
    pub fn close(&self, own_ok: bool) -> Decision {
        let mut st = self.state();
        st.open = false;
        while st.running > 0 {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        let commit = own_ok && !st.failed;
        st.verdict = Some(commit);
        let decision = Decision { commit, helper_rows: st.rows, helpers: st.joined };
        drop(st);
        self.changed.notify_all();
        decision
    }

    /// The owner gave up (its connection broke): every part rolls back.
    pub fn abandon(&self) {
        let mut st = self.state();
        st.open = false;
        st.failed = true;
        if st.verdict.is_none() {
            st.verdict = Some(false);
        }
        drop(st);
        self.changed.notify_all();
    }
}

/// A row held whole before it is handed out. Rows up to this size go to whichever part is
/// free; the rest of a longer one (a large text or bytea value: PostgreSQL takes rows up to
/// 1 GB) goes to the owner's own COPY as it arrives, where the start of it went. So a split
/// load holds at most this much of a table whatever its rows are — also when the data never
/// has a newline at all — and a table of huge rows still loads (on the owner's connection).
/// Large against [`CHUNK`], so rows of a few megabytes are still spread over the parts.
const LONG_ROW: usize = 16 << 20;

/// Where a piece of a split table's COPY text may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cut {
    /// Whole rows: any part may load them.
    Rows(Bytes),
    /// Part of a row longer than [`LONG_ROW`]: only the owner's COPY, which took its start.
    Own(Bytes),
}

/// Cuts a table's COPY text into chunks of whole rows. In COPY's text format every raw
/// newline ends a row (newlines inside values are escaped), and no server encoding uses the
/// newline byte inside a character, so a cut after a newline never splits a row. The
/// end-of-data line `\.` and anything after it are dropped: each part ends its own COPY.
#[derive(Debug, Default)]
pub(super) struct RowCutter {
    /// Text from a row start on, not handed out yet.
    pending: Vec<u8>,
    /// How much of `pending`, from its start, is known to hold no newline: each byte is
    /// searched once, however long a row takes to end.
    searched: usize,
    /// The start of the current row went to the owner's COPY: the rest of it follows there.
    in_long_row: bool,
    /// The `\.` line was seen.
    ended: bool,
}

impl RowCutter {
    /// Takes more of the data; returns what can be handed out: chunks of whole rows once
    /// enough has gathered, and the pieces of an overlong row for the owner.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Cut> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        if self.in_long_row {
            let Some(end) = bytes.find_byte(b'\n') else {
                if !bytes.is_empty() {
                    out.push(Cut::Own(Bytes::copy_from_slice(bytes)));
                }
                return out;
            };
            out.push(Cut::Own(Bytes::copy_from_slice(&bytes[..=end])));
            bytes = &bytes[end + 1..];
            self.in_long_row = false;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() < CHUNK {
            return out;
        }
        let unsearched = self.pending.get(self.searched..).unwrap_or_default();
        match unsearched.rfind_byte(b'\n') {
            Some(at) => {
                let cut = self.searched + at + 1;
                let rest = self.pending.split_off(cut);
                let mut chunk = std::mem::replace(&mut self.pending, rest);
                // What is left started after the last newline.
                self.searched = self.pending.len();
                if let Some(end) = end_marker(&chunk) {
                    chunk.truncate(end);
                    self.ended = true;
                    self.pending.clear();
                }
                out.push(Cut::Rows(Bytes::from(chunk)));
            }
            None if self.pending.len() >= LONG_ROW => {
                // One unfinished row, too long to hold: its start goes to the owner now.
                out.push(Cut::Own(Bytes::from(std::mem::take(&mut self.pending))));
                self.searched = 0;
                self.in_long_row = true;
            }
            None => self.searched = self.pending.len(),
        }
        out
    }

    /// What is left at the end of the data: the last rows (the very last one may lack its
    /// newline), for any part.
    pub fn finish(&mut self) -> Option<Bytes> {
        let mut rest = std::mem::take(&mut self.pending);
        if self.ended {
            return None;
        }
        self.ended = true;
        if let Some(end) = end_marker(&rest) {
            rest.truncate(end);
        }
        (!rest.is_empty()).then(|| Bytes::from(rest))
    }
}

/// Where the line `\.` starts in rows that begin at a line start.
fn end_marker(rows: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = rows[from..].find(b"\\.") {
        let at = from + i;
        let line_start = at == 0 || rows[at - 1] == b'\n';
        let after = &rows[at + 2..];
        let line_end = after.is_empty() || after.starts_with(b"\n") || after.starts_with(b"\r\n");
        if line_start && line_end {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut_all(data: &[u8], piece: usize) -> Vec<Bytes> {
        cuts(data, piece)
            .into_iter()
            .map(|c| match c {
                Cut::Rows(b) => b,
                Cut::Own(b) => panic!("{} bytes for the owner alone: no row here is that long", b.len()),
            })
            .collect()
    }

    /// Every cut of `data` pushed `piece` bytes at a time, the end included; checks on the
    /// way that the cutter never holds more than a long row and a piece.
    fn cuts(data: &[u8], piece: usize) -> Vec<Cut> {
        let mut cutter = RowCutter::default();
        let mut out = Vec::new();
        for p in data.chunks(piece) {
            out.extend(cutter.push(p));
            assert!(cutter.pending.len() < LONG_ROW + piece, "holding {} bytes", cutter.pending.len());
        }
        out.extend(cutter.finish().map(Cut::Rows));
        out
    }

    fn rows(n: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..n {
            data.extend_from_slice(format!("{i}\tvalue with an escaped \\n newline {i}\n").as_bytes());
        }
        data
    }

    #[test]
    fn chunks_hold_whole_rows_and_drop_the_end_marker() {
        let rows_only = rows(200_000);
        let data = [rows_only.as_slice(), b"\\.\n\n\n"].concat();
        for piece in [7, 64 * 1024, 3 << 20] {
            let chunks = cut_all(&data, piece);
            assert!(chunks.len() > 1, "piece {piece}: {} chunks", chunks.len());
            assert!(chunks.iter().all(|c| c.ends_with(b"\n")), "piece {piece}: a chunk ends mid-row");
            let joined = chunks.concat();
            assert!(joined == rows_only, "piece {piece}: {} bytes out of {}", joined.len(), rows_only.len());
        }
        // Byte by byte, on a short table: the end marker split across pushes.
        let short = rows(100);
        let chunks = cut_all(&[short.as_slice(), b"\\.\n\n"].concat(), 1);
        assert!(chunks.concat() == short);
    }

    /// A row longer than LONG_ROW (or data with no newline at all) is not held: its pieces
    /// go to the owner as they come, up to and including the row's newline, and whole-row
    /// chunks for any part resume after it.
    #[test]
    fn overlong_rows_stream_to_the_owner() {
        let short = rows(50_000);
        let long_row: Vec<u8> = [vec![b'x'; 3 * LONG_ROW + 12_345], b"\n".to_vec()].concat();
        let data = [short.as_slice(), &long_row, &short, b"\\.\n"].concat();
        for piece in [64 * 1024, 1_000_003] {
            let cuts = cuts(&data, piece);
            let mut stream = Vec::new();
            let mut own = Vec::new();
            for cut in &cuts {
                match cut {
                    Cut::Rows(b) => {
                        assert!(own.is_empty() || own.ends_with(b"\n"), "piece {piece}: rows handed out inside the long row");
                        assert!(b.ends_with(b"\n"), "piece {piece}: a chunk ends mid-row");
                        stream.extend_from_slice(b);
                    }
                    Cut::Own(b) => {
                        own.extend_from_slice(b);
                        stream.extend_from_slice(b);
                    }
                }
            }
            assert!(stream == [short.as_slice(), &long_row, &short].concat(), "piece {piece}: the data changed");
            assert!(own == long_row, "piece {piece}: {} bytes for the owner", own.len());
        }
        // No newline at all: nothing held past LONG_ROW, everything to the owner.
        let cuts = cuts(&vec![b'y'; 2 * LONG_ROW + 7], 64 * 1024);
        let total: usize = cuts.iter().map(|c| match c {
            Cut::Own(b) | Cut::Rows(b) => b.len(),
        }).sum();
        assert_eq!(total, 2 * LONG_ROW + 7);
        assert!(matches!(cuts.first(), Some(Cut::Own(_))));
    }

    #[test]
    fn end_marker_only_as_a_whole_line() {
        assert_eq!(end_marker(b"a\\.b\n\\.\n"), Some(5));
        assert_eq!(end_marker(b"\\.\n"), Some(0));
        assert_eq!(end_marker(b"x\t\\.\n"), None);
        assert_eq!(end_marker(b"1\n\\."), Some(2));
        assert_eq!(end_marker(b"1\n\\.\r\n"), Some(2));
        assert_eq!(end_marker(b"1\n\\.x\n"), None);
    }

    #[test]
    fn data_without_end_marker_or_final_newline() {
        let chunks = cut_all(b"1\n2\n3", 2);
        assert_eq!(chunks.concat(), b"1\n2\n3");
    }

    #[test]
    fn parts_commit_together_or_not_at_all() {
        let (split, tx) = SplitCopy::new(DumpId(7), "COPY t FROM stdin;".into(), 2);
        assert!(split.join());
        assert!(split.join());
        split.part_done(Some(10));
        let helper = {
            let split = split.clone();
            std::thread::spawn(move || {
                split.part_done(Some(5));
                split.verdict()
            })
        };
        drop(tx);
        let d = split.close(true);
        assert_eq!(d, Decision { commit: true, helper_rows: 15, helpers: 2 });
        assert!(helper.join().unwrap_or(false));
        assert!(!split.join(), "closed splits take no helpers");

        let (split, _tx) = SplitCopy::new(DumpId(8), String::new(), 1);
        assert!(split.join());
        split.part_done(None);
        assert!(!split.close(true).commit);
        assert!(!split.verdict());

        let (split, _tx) = SplitCopy::new(DumpId(9), String::new(), 1);
        split.abandon();
        assert!(!split.verdict());
        assert!(!split.join());
    }
}
