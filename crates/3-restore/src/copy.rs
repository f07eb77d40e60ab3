//! Table data through `COPY … FROM STDIN`: the COPY statement told the archive's encoding,
//! rows gathered into large CopyData messages, a refusal reported once and the rest of the
//! data dropped, as pg_restore does. And a large table's load shared with idle workers
//! (`split` holds what the parts share): the owner's side — its own part, rows cut and
//! handed to whichever connection is free, all parts committed or none — and a helper's
//! part.

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::Arc;

use bstr::ByteSlice;
use bytes::Bytes;
use futures_util::{Sink, SinkExt};
use pgsurge_archive::TocEntry;
use tokio_postgres::CopyInSink;

use super::connection::Connection;
use super::failure::{lost_connection, SessionError};
use super::progress::Progress;
use super::server_error::{server_message, server_message_in};
use super::split::{Cut, PartError, RowCutter, SplitBoard, SplitCopy};

/// Bytes of COPY data gathered before they are sent: fewer, larger CopyData messages.
const COPY_SEND: usize = 256 * 1024;

/// A connection's table data: where it goes, and whether its next table is shared.
pub(super) struct TableCopy<'e> {
    load: Load,
    /// Where this worker offers a table to idle workers; `None` outside the parallel phase.
    board: Option<&'e dyn SplitBoard>,
    /// Load the next table data with help from idle workers, invited once it has produced
    /// this many bytes of COPY text.
    pub split_next: Option<u64>,
    /// The last split load failed and rolled back: the entry must be loaded again.
    split_failed: bool,
    /// Why the last split load failed, if a part said.
    split_error: Option<PartError>,
}

/// Where the table data being loaded goes.
enum Load {
    None,
    /// Into a running COPY.
    Plain { sink: Pin<Box<CopyInSink<Bytes>>>, pending: Vec<u8>, table: String },
    /// The server refused the COPY: its data is discarded, as pg_restore does.
    Discard,
    /// Into this connection's COPY and those of idle workers that join.
    Split(SplitLoad),
}

/// The owner's side of a table loaded by several connections.
struct SplitLoad {
    split: Arc<SplitCopy>,
    /// Chunks for helpers; dropped when the last row has been handed out.
    to_helpers: Option<tokio::sync::mpsc::Sender<Bytes>>,
    /// The owner's own COPY; `None` once it failed.
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    cutter: RowCutter,
    /// The session's data bytes when the load began, restored if it is loaded again.
    bytes_before: u64,
    /// COPY text read so far, and how much before idle workers are invited.
    fed: u64,
    post_after: u64,
    posted: bool,
}

/// Who takes the next chunk of a split load.
enum Taker<P> {
    /// A helper's queue had room (`None`: every helper is gone).
    Helper(Option<P>),
    /// The owner's own COPY was ready.
    Own(Result<(), tokio_postgres::Error>),
}

impl Drop for SplitLoad {
    fn drop(&mut self) {
        // Decided already, or the owner is bailing out: either way no helper may wait on.
        self.split.abandon();
    }
}

impl<'e> TableCopy<'e> {
    pub fn new() -> TableCopy<'e> {
        TableCopy { load: Load::None, board: None, split_next: None, split_failed: false, split_error: None }
    }

    /// Offers tables to idle workers through `board` (the parallel phase).
    pub fn set_board(&mut self, board: &'e dyn SplitBoard) {
        self.board = Some(board);
    }

    /// Whether the last table data was a split load that rolled back and must be loaded
    /// again (on this connection alone); asking forgets it.
    pub fn take_split_failed(&mut self) -> bool {
        std::mem::take(&mut self.split_failed)
    }

    /// Table data begins with `copy`: shared with idle workers when `split` (taken from
    /// [`TableCopy::split_next`]) says so and there is a board to offer it on.
    pub fn start(&mut self, conn: &mut Connection<'_>, progress: &Progress<'_>, copy: &[u8], te: &TocEntry, split: Option<u64>) -> Result<(), SessionError> {
        match (split, self.board) {
            (Some(post_after), Some(board)) => self.split_start(conn, progress, copy, te, post_after, board),
            _ => self.copy_start(conn, copy, te),
        }
    }

    fn copy_start(&mut self, conn: &mut Connection<'_>, copy: &[u8], te: &TocEntry) -> Result<(), SessionError> {
        let stmt = conn.encoding().copy_statement(copy);
        let text = match conn.encoding().decode(&stmt) {
            Ok(t) => t.into_owned(),
            Err(e) => {
                self.load = Load::Discard;
                return conn.failed(format!("could not execute query: {e}\nCommand was: {}", copy.as_bstr()), None);
            }
        };
        match conn.rt().block_on(conn.client().copy_in::<_, Bytes>(text.as_str())) {
            Ok(sink) => {
                self.load = Load::Plain { sink: Box::pin(sink), pending: Vec::with_capacity(COPY_SEND), table: te.tag.to_string() };
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                self.load = Load::Discard;
                let reported = conn.failed(format!("could not execute query: {}\nCommand was: {text}", server_message_in(&e, &text)), Some(&e));
                // tokio-postgres 0.7 leaves the connection one ReadyForQuery out of step when
                // a COPY fails before the server enters copy mode (its own Sync, then the
                // CopyFail+Sync it sends when the sink is dropped, each get one). Nothing on
                // that connection can be trusted afterwards: replace it.
                conn.replace()?;
                reported
            }
            Err(e) => Err(lost_connection(e)),
        }
    }

    /// Takes a piece of table data, cut wherever decompression cut it.
    pub fn data(&mut self, conn: &mut Connection<'_>, progress: &Progress<'_>, bytes: &[u8]) -> Result<(), SessionError> {
        match &mut self.load {
            Load::Plain { pending, .. } => {
                pending.extend_from_slice(bytes);
                if pending.len() >= COPY_SEND {
                    self.flush(conn, progress)?;
                }
                Ok(())
            }
            Load::Split(load) => {
                load.fed += bytes.len() as u64;
                if !load.posted && load.fed >= load.post_after {
                    load.posted = true;
                    if let Some(board) = self.board {
                        board.post(&load.split);
                    }
                }
                for cut in load.cutter.push(bytes) {
                    match cut {
                        Cut::Rows(chunk) => self.split_send(conn, progress, chunk, false)?,
                        Cut::Own(piece) => self.split_send(conn, progress, piece, true)?,
                    }
                }
                Ok(())
            }
            Load::None | Load::Discard => Ok(()),
        }
    }

    /// The table data ends: the COPY finishes (and a split load commits or rolls back).
    pub fn end(&mut self, conn: &mut Connection<'_>, progress: &mut Progress<'_>) -> Result<(), SessionError> {
        self.flush(conn, progress)?;
        if let Load::Split(load) = &mut self.load {
            if let Some(rest) = load.cutter.finish() {
                self.split_send(conn, progress, rest, false)?;
            }
        }
        match std::mem::replace(&mut self.load, Load::None) {
            Load::Split(load) => self.split_end(conn, progress, load),
            Load::Plain { mut sink, table, .. } => match conn.rt().block_on(sink.as_mut().finish()) {
                Ok(rows) => {
                    progress.rows += rows;
                    Ok(())
                }
                Err(e) if e.as_db_error().is_some() => conn.failed(format!("COPY failed for table \"{table}\": {}", server_message(&e)), Some(&e)),
                Err(e) => Err(lost_connection(e)),
            },
            Load::None | Load::Discard => Ok(()),
        }
    }

    /// Sends what a COPY has gathered; a refused COPY reports once and drops the rest.
    fn flush(&mut self, conn: &mut Connection<'_>, progress: &Progress<'_>) -> Result<(), SessionError> {
        let Load::Plain { sink, pending, table } = &mut self.load else { return Ok(()) };
        if pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(pending, Vec::with_capacity(COPY_SEND)));
        match conn.rt().block_on(sink.send(chunk)) {
            Ok(()) => {
                conn.show_notices();
                progress.sent();
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                let message = format!("COPY failed for table \"{table}\": {}", server_message(&e));
                self.load = Load::Discard;
                conn.failed(message, Some(&e))
            }
            Err(e) => Err(lost_connection(e)),
        }
    }

    /// Starts a table's load as the owner of a split: its own part in a transaction, the
    /// table posted for idle workers. Anything that goes wrong here is left for the plain
    /// load that follows to report.
    fn split_start(&mut self, conn: &mut Connection<'_>, progress: &Progress<'_>, copy: &[u8], te: &TocEntry, post_after: u64, board: &'e dyn SplitBoard) -> Result<(), SessionError> {
        let stmt = conn.encoding().copy_statement(copy);
        let Ok(text) = conn.encoding().decode(&stmt).map(Cow::into_owned) else { return self.copy_start(conn, copy, te) };
        conn.rt().block_on(conn.client().batch_execute("BEGIN")).map_err(lost_connection)?;
        match conn.rt().block_on(conn.client().copy_in::<_, Bytes>(text.as_str())) {
            Ok(sink) => {
                let (split, tx) = SplitCopy::new(te.dump_id, text, 2);
                let posted = post_after == 0;
                if posted {
                    board.post(&split);
                }
                self.load = Load::Split(SplitLoad { split, to_helpers: Some(tx), sink: Some(Box::pin(sink)), cutter: RowCutter::default(), bytes_before: progress.data_bytes, fed: 0, post_after, posted });
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                // Loaded again on its own, which reports the error as pg_restore would; the
                // failed COPY leaves this connection unusable (see copy_start).
                self.load = Load::Discard;
                self.split_failed = true;
                conn.replace()
            }
            Err(e) => Err(lost_connection(e)),
        }
    }

    /// Hands a chunk of rows to the first connection free to take it: this one's COPY, or
    /// a helper's; `own_only` for a piece of a row whose start this COPY took. After any
    /// part failed, the rest of the data is only read.
    fn split_send(&mut self, conn: &mut Connection<'_>, progress: &Progress<'_>, chunk: Bytes, own_only: bool) -> Result<(), SessionError> {
        let Load::Split(load) = &mut self.load else { return Ok(()) };
        if load.split.failed() {
            return Ok(());
        }
        let Some(sink) = load.sink.as_mut() else { return Ok(()) };
        let helpers = load.split.helping() > 0 && !own_only;
        let result = match (&load.to_helpers, helpers) {
            (Some(tx), true) => conn.rt().block_on(async {
                let taker = tokio::select! {
                    permit = tx.reserve() => Taker::Helper(permit.ok()),
                    ready = futures_util::future::poll_fn(|cx| sink.as_mut().poll_ready(cx)) => Taker::Own(ready),
                };
                match taker {
                    Taker::Helper(Some(permit)) => {
                        permit.send(chunk);
                        Ok(())
                    }
                    Taker::Helper(None) => sink.send(chunk).await,
                    Taker::Own(Ok(())) => sink.as_mut().start_send(chunk),
                    Taker::Own(Err(e)) => Err(e),
                }
            }),
            _ => conn.rt().block_on(sink.send(chunk)),
        };
        match result {
            Ok(()) => {
                conn.show_notices();
                progress.sent();
                Ok(())
            }
            Err(e) if e.as_db_error().is_some() => {
                load.sink = None;
                load.split.record_error(part_error(&e));
                load.split.fail();
                Ok(())
            }
            Err(e) => Err(lost_connection(e)),
        }
    }

    /// The owner's end of a split load, once every row is handed out: waits for the helpers'
    /// parts, and commits all or rolls all back.
    fn split_end(&mut self, conn: &mut Connection<'_>, progress: &mut Progress<'_>, mut load: SplitLoad) -> Result<(), SessionError> {
        // No more chunks: helpers finish what is queued, then their COPY.
        drop(load.to_helpers.take());
        if let Some(board) = self.board {
            board.withdraw(&load.split);
        }
        let mut own_rows = None;
        if let Some(mut sink) = load.sink.take() {
            // Chunks queued when the last helper had already left are the owner's to send.
            let mut sent = Ok(());
            while let Some(chunk) = load.split.leftover() {
                sent = conn.rt().block_on(sink.send(chunk));
                if sent.is_err() {
                    break;
                }
            }
            let finished = match sent {
                Ok(()) if !load.split.failed() => conn.rt().block_on(sink.as_mut().finish()),
                Ok(()) => Ok(0),
                Err(e) => Err(e),
            };
            match finished {
                Ok(rows) => own_rows = Some(rows),
                Err(e) if e.as_db_error().is_some() => load.split.record_error(part_error(&e)),
                Err(e) => return Err(lost_connection(e)),
            }
        }
        let decision = load.split.close(own_rows.is_some());
        if decision.commit {
            progress.rows += own_rows.unwrap_or(0) + decision.helper_rows;
            progress.loaded_over(1 + decision.helpers);
            return conn.execute(b"COMMIT", "could not commit database transaction");
        }
        conn.rt().block_on(conn.client().batch_execute("ROLLBACK")).map_err(lost_connection)?;
        progress.data_bytes = load.bytes_before;
        self.split_failed = true;
        self.split_error = load.split.first_error();
        Ok(())
    }

    /// A split load failed and its data cannot be read again for a load on one connection
    /// (a pipe's spool gave its first bytes back): its first part's failure is the table's.
    pub fn split_failure_stands(&mut self, conn: &mut Connection<'_>, table: &str) -> Result<(), SessionError> {
        let error = self.split_error.take();
        let (detail, cause, sqlstate) = match error {
            Some(e) => (e.message, e.cause, e.sqlstate),
            None => ("the load over several connections failed".to_owned(), "the load over several connections failed".to_owned(), None),
        };
        let message = format!(
            "COPY failed for table \"{table}\": {detail}\n(loaded in parts over several connections, so a line number counts within one part; the table was not loaded again on one connection because the temporary copy of standard input had already given back its first bytes — raise PGSURGE_SPOOL_LIMIT to keep them)"
        );
        conn.failed_with(message, cause, sqlstate)
    }

    /// An idle worker's part of another worker's table: a COPY of the chunks it is handed,
    /// in a transaction that commits or rolls back with the others. Its failures are not
    /// reported: the owner loads the table again alone, and that load reports them. The
    /// caller has sent everything it held back.
    pub fn help(conn: &mut Connection<'_>, split: &SplitCopy) -> Result<PartLoad, SessionError> {
        if let Err(e) = conn.rt().block_on(conn.client().batch_execute("BEGIN")) {
            split.part_done(None);
            return Err(lost_connection(e));
        }
        let mut sink = match conn.rt().block_on(conn.client().copy_in::<_, Bytes>(split.copy.as_str())) {
            Ok(sink) => Box::pin(sink),
            Err(e) => {
                if e.as_db_error().is_some() {
                    split.record_error(part_error(&e));
                }
                split.part_done(None);
                if e.as_db_error().is_none() {
                    return Err(lost_connection(e));
                }
                // As in copy_start: the connection is out of step after a refused COPY.
                conn.replace()?;
                return Ok(PartLoad::default());
            }
        };
        let mut bytes = 0;
        let loaded = conn.rt().block_on(async {
            while let Some(chunk) = split.next_chunk().await {
                if split.failed() {
                    // Drain, so the owner is never kept waiting on a full queue.
                    continue;
                }
                bytes += chunk.len() as u64;
                sink.send(chunk).await?;
            }
            if split.failed() {
                return Ok(None);
            }
            sink.as_mut().finish().await.map(Some)
        });
        let rows = match loaded {
            Ok(rows) => rows,
            Err(e) if e.as_db_error().is_some() => {
                split.record_error(part_error(&e));
                None
            }
            Err(e) => {
                split.part_done(None);
                return Err(lost_connection(e));
            }
        };
        drop(sink);
        split.part_done(rows);
        let committed = split.verdict();
        let end = if committed { "COMMIT" } else { "ROLLBACK" };
        conn.rt().block_on(conn.client().batch_execute(end)).map_err(lost_connection)?;
        Ok(PartLoad { rows: rows.filter(|_| committed).unwrap_or(0), bytes })
    }
}

/// What a helper's part loaded: rows that committed (0 when the load as a whole did not)
/// and the COPY text it sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct PartLoad {
    pub rows: u64,
    pub bytes: u64,
}

/// A split part's server error, kept for the owner to report.
fn part_error(e: &tokio_postgres::Error) -> PartError {
    let db = e.as_db_error();
    PartError {
        message: server_message(e),
        cause: db.map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        sqlstate: db.map(|d| d.code().code().to_owned()),
    }
}
