//! Data blocks of custom-format archives (pg_backup_custom.c): finding a block by
//! offset or by scanning, and reading its chunk list as one raw stream.
//!
//! Works the same over a mapped file (seek to known offsets, remember what scanning finds)
//! and over a one-pass stream (scan forward only, as pg_restore must on a pipe).
//!
//! The readers of one archive (a restore's workers) share one [`BlockMap`]: a block is
//! scanned for once, whoever asks first, and a spooled pipe's bytes are given back only
//! where no scan can still pass through them.
//!
//! The walk over the whole data area that `verify` makes (`walk`) lives beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::spool::Spool;
use crate::ids::{DumpId, Oid};

mod walk;
use walk::describe;
pub(crate) use walk::{Area, Stretch};

/// `BLK_DATA` in pg_backup_archiver.h: a table's data, one compressed stream.
pub const BLK_DATA: u8 = 1;
/// `BLK_BLOBS`: large objects, each its own stream, ended by OID 0.
pub const BLK_BLOBS: u8 = 3;

/// How often a reader tells the others how far into its block it has got: often enough that
/// a spool over budget gets bytes back steadily, rarely enough to cost nothing.
const REPORT_STEP: u64 = 1 << 20;

/// How many chunk lengths looking for where blocks resume after damage may read in all: a
/// few seconds' work at most, however the damaged bytes happen to look like block framing.
const RESYNC_BUDGET: u64 = 1 << 24;

/// Where reading stands inside the current block, kept outside any reader so that a reader
/// dropped half-way leaves enough to skip the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No block is open: the input sits at a block header (or the end).
    Between,
    /// Inside a chunk list with `left` bytes of the current chunk unread.
    Chunks { kind: u8, left: u64 },
    /// A BLK_BLOBS block between two large objects: next comes an OID.
    BlobGap,
}

/// One data block's place, as far as it is known.
#[derive(Debug, Clone, Copy)]
struct Block {
    id: DumpId,
    /// Just past its terminator, once a reader has been there.
    end: Option<u64>,
}

/// What the readers of one archive know of its data area.
#[derive(Debug)]
struct BlockMap {
    /// Dump id → offset of its block header.
    starts: HashMap<DumpId, u64>,
    /// Header offset → the block there.
    blocks: BTreeMap<u64, Block>,
    /// Every block before this offset is in `blocks` with its end; a scan resumes here.
    frontier: u64,
    /// A reader is scanning forward from `frontier`; the others wait for what it finds
    /// instead of reading the same bytes, and nobody but it moves the frontier.
    scanning: bool,
    /// Inside the block at `frontier`: the furthest chunk boundary any reader has reached,
    /// and how reading goes on there. A scan resumes here, so the bytes before it may go.
    inner: Option<(u64, Phase)>,
    /// While a scan runs: the point its reader has passed (it reads nothing before it).
    scan_at: u64,
    /// Every block's place came from the TOC: no scan ever needs a block's body.
    complete: bool,
    release: Option<Release>,
}

/// A spooled pipe's bytes given back as the restore goes (see [`BlockMap::settle`]).
#[derive(Debug)]
struct Release {
    spool: Arc<Spool>,
    /// Blocks that will be read; the others go as soon as their place is known.
    wanted: HashSet<DumpId>,
    /// Wanted blocks read for good, still waiting for the frontier to pass them.
    done: HashSet<DumpId>,
    /// Wanted blocks the frontier has passed, still waiting to be done: (start, end).
    passed: HashMap<DumpId, (u64, u64)>,
}

impl BlockMap {
    /// Records a block header found at `pos` (the first finding stands).
    fn found(&mut self, id: DumpId, pos: u64) {
        self.starts.entry(id).or_insert(pos);
        self.blocks.entry(pos).or_insert(Block { id, end: None });
    }

    /// Records where the block at `start` ends.
    fn ended(&mut self, start: u64, end: u64) {
        if let Some(block) = self.blocks.get_mut(&start) {
            block.end = Some(end);
        }
    }

    /// Moves the frontier over every block whose end is known, giving back what no reader
    /// will ask for again. `scanner` is true for the reader that holds the scan; the others
    /// leave the frontier to it, since it may be reading the bytes just past.
    fn settle(&mut self, scanner: bool) {
        if self.scanning && !scanner {
            return;
        }
        while let Some(&Block { id, end: Some(end) }) = self.blocks.get(&self.frontier) {
            let start = self.frontier;
            self.frontier = end;
            self.inner = None;
            if let Some(release) = &mut self.release {
                if !release.wanted.contains(&id) || release.done.remove(&id) {
                    release.spool.release(start, end);
                } else {
                    release.passed.insert(id, (start, end));
                }
            }
        }
    }

    /// How far into the block at `start` bytes may go while its reader is still at
    /// `consumed`: no scan may still need them.
    fn prefix_limit(&self, start: u64, consumed: u64) -> u64 {
        let ended = self.blocks.get(&start).is_some_and(|b| b.end.is_some());
        if self.complete || ended {
            return consumed;
        }
        if self.frontier != start {
            return start;
        }
        let mut limit = consumed.min(self.inner.map_or(start, |(pos, _)| pos));
        if self.scanning {
            limit = limit.min(self.scan_at);
        }
        limit
    }

    /// A reader is finished with `id`'s block: give it back once the frontier is past it.
    fn done(&mut self, id: DumpId) {
        let Some(release) = &mut self.release else { return };
        if !release.wanted.contains(&id) {
            return;
        }
        match release.passed.remove(&id) {
            Some((start, end)) => release.spool.release(start, end),
            None => {
                release.done.insert(id);
            }
        }
    }
}

/// The block map and the signal that a scan has ended, shared by an archive's readers.
#[derive(Debug)]
pub(crate) struct SharedBlocks {
    map: Mutex<BlockMap>,
    scan_ended: Condvar,
}

impl SharedBlocks {
    /// The map for a data area starting at `data_start`, with the TOC's block offsets
    /// (`None` where pg_dump could not write one, as on a pipe).
    fn new(data_start: u64, offsets: &[(DumpId, Option<u64>)]) -> Self {
        let mut map = BlockMap {
            starts: HashMap::new(),
            blocks: BTreeMap::new(),
            frontier: data_start,
            scanning: false,
            inner: None,
            scan_at: data_start,
            complete: false,
            release: None,
        };
        for &(id, offset) in offsets {
            if let Some(pos) = offset {
                map.found(id, pos);
            }
        }
        // Every block placed: each ends where the next begins (the last where it is read to).
        if !offsets.is_empty() && offsets.iter().all(|(_, o)| o.is_some()) {
            let starts: Vec<u64> = map.blocks.keys().copied().collect();
            for pair in starts.windows(2) {
                map.ended(pair[0], pair[1]);
            }
            map.frontier = starts[0].max(data_start);
            map.complete = true;
        }
        SharedBlocks { map: Mutex::new(map), scan_ended: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, BlockMap> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts giving back `spool`'s bytes: what precedes the data area now, each block not in
    /// `wanted` once its place is known, each wanted one once it is [`done`](Self::done) and
    /// no scan can still pass through it.
    pub fn release_into(&self, spool: Arc<Spool>, wanted: HashSet<DumpId>, data_start: u64) {
        let mut map = self.lock();
        spool.release(0, data_start);
        map.release = Some(Release { spool, wanted, done: HashSet::new(), passed: HashMap::new() });
        map.settle(false);
    }

    /// Entry `id`'s block will not be read again.
    pub fn done(&self, id: DumpId) {
        self.lock().done(id);
    }
}

/// Hands the scan back when dropped: the others may scan, or take what it found.
struct ScanEnd(Arc<SharedBlocks>);

impl Drop for ScanEnd {
    fn drop(&mut self) {
        let mut map = self.0.lock();
        map.scanning = false;
        map.settle(false);
        drop(map);
        self.0.scan_ended.notify_all();
    }
}

/// The data area of a custom archive.
pub(crate) struct CustomData {
    pub input: Input,
    pub phase: Phase,
    /// What this archive's readers have learned of block positions.
    shared: Arc<SharedBlocks>,
    /// Where the data area begins (just past the TOC).
    data_start: u64,
    /// Header offset of the block being read, to record its end on reaching it.
    current: Option<u64>,
    /// This reader holds the scan (see [`BlockMap::scanning`]).
    scanner: bool,
    /// Where this reader last told the others how far it had got.
    reported: u64,
    /// Stream input: ids of blocks already passed, to explain an out-of-order request.
    passed: HashSet<DumpId>,
    /// Stream input: every block header read, `(offset, id)` in file order, until `lost` —
    /// what [`walk_stream`](Self::walk_stream) accounts for, the bytes being gone.
    headers: Vec<(u64, i64)>,
    /// Stream input: where the last block header was (to be) read.
    header_at: u64,
    /// Stream input: reading failed in the block (or header) at this offset, so where the
    /// next block starts is unknown from here on: `(offset, whether not even its type byte
    /// was a block type, the error)`.
    lost: Option<(u64, bool, String)>,
}

impl CustomData {
    /// Where `id`'s block header is, if known (from the TOC or by scanning).
    pub fn position(&self, id: DumpId) -> Option<u64> {
        self.shared.lock().starts.get(&id).copied()
    }

    /// Positions the input at the body of `id`'s block and returns the block type.
    pub fn open_block(&mut self, id: DumpId, offset: Option<u64>) -> Result<u8> {
        if !self.input.is_seekable() {
            let opened = self.open_block_ahead(id);
            return self.noted(opened);
        }
        self.phase = Phase::Between;
        self.current = None;
        let known = offset.or_else(|| self.position(id));
        let Some(pos) = known else { return self.scan(Some(id)) };
        self.input.seek(pos)?;
        let (kind, found) = self.read_block_header()?.ok_or_else(|| Error::new(ErrorKind::BlockNotFound(id)).at(pos))?;
        if found != i64::from(id) {
            return Err(Error::new(ErrorKind::BlockIdMismatch { found, expected: id }).at(pos));
        }
        self.current = Some(pos);
        self.reported = pos;
        self.enter(kind)
    }

    /// The data area that starts where `input` stands, with the TOC's block offsets.
    pub fn new(input: Input, offsets: &[(DumpId, Option<u64>)]) -> Self {
        let data_start = input.pos();
        let shared = Arc::new(SharedBlocks::new(data_start, offsets));
        CustomData {
            input,
            phase: Phase::Between,
            shared,
            data_start,
            current: None,
            scanner: false,
            reported: 0,
            passed: HashSet::new(),
            headers: Vec::new(),
            header_at: data_start,
            lost: None,
        }
    }

    /// An independent reader over the same mapped or spooled bytes, sharing what this one's
    /// family learns.
    pub fn fork(&self) -> Option<CustomData> {
        // A spool still filling has no end yet: its forks read as far as it grows.
        let end = self.input.end().unwrap_or(u64::MAX);
        let input = self.input.fork(0, end)?;
        Some(CustomData {
            input,
            phase: Phase::Between,
            shared: Arc::clone(&self.shared),
            data_start: self.data_start,
            current: None,
            scanner: false,
            reported: 0,
            passed: HashSet::new(),
            headers: Vec::new(),
            header_at: self.data_start,
            lost: None,
        })
    }

    /// Starts giving a spool's bytes back as blocks are read (see
    /// [`SharedBlocks::release_into`]); the handle reports blocks done.
    pub fn release_into(&self, spool: Arc<Spool>, wanted: HashSet<DumpId>) -> Arc<SharedBlocks> {
        self.shared.release_into(spool, wanted, self.data_start);
        Arc::clone(&self.shared)
    }

    /// Scans every remaining block header (mapped input), recording positions.
    pub fn scan_all(&mut self) {
        let _ = self.scan(None);
        self.phase = Phase::Between;
    }

    /// Scans forward from the shared frontier until `target`'s block header (then enters
    /// it), or to the end of the data area when `target` is `None`. One reader scans at a
    /// time; another that wanted a block waits and takes the scan's findings.
    fn scan(&mut self, target: Option<DumpId>) -> Result<u8> {
        let from = {
            let mut map = self.shared.lock();
            loop {
                if let Some(pos) = target.and_then(|id| map.starts.get(&id).copied()) {
                    drop(map);
                    return self.open_block(target.unwrap_or_default(), Some(pos));
                }
                if !map.scanning {
                    break;
                }
                map = self.shared.scan_ended.wait(map).unwrap_or_else(|e| e.into_inner());
            }
            map.scanning = true;
            map.scan_at = map.inner.map_or(map.frontier, |(pos, _)| pos);
            (map.frontier, map.inner)
        };
        self.scanner = true;
        // Ends the scan however scan_from returns, so no reader waits for it forever.
        let _scan = ScanEnd(Arc::clone(&self.shared));
        let result = self.scan_from(from, target);
        self.scanner = false;
        result
    }

    /// The scan itself, from the block header at `from`, or from inside that block where
    /// `resume` says (the offset, the phase there).
    fn scan_from(&mut self, (from, resume): (u64, Option<(u64, Phase)>), target: Option<DumpId>) -> Result<u8> {
        self.phase = Phase::Between;
        if let Some((pos, phase)) = resume {
            // Go on through the frontier block from the furthest point anyone reached.
            self.input.seek(pos)?;
            self.current = Some(from);
            self.reported = pos;
            self.phase = phase;
            self.finish_block()?;
            self.scanned_past(from);
        } else {
            self.input.seek(from)?;
        }
        loop {
            let pos = self.input.pos();
            let Some((kind, found)) = self.read_block_header()? else {
                return Err(Error::new(ErrorKind::BlockNotFound(target.unwrap_or_default())).at(pos));
            };
            let found_id = DumpId::try_from(found).unwrap_or_default();
            let known_end = {
                let mut map = self.shared.lock();
                map.found(found_id, pos);
                map.blocks.get(&pos).and_then(|b| b.end)
            };
            if Some(found_id) == target {
                self.current = Some(pos);
                self.reported = pos;
                return self.enter(kind);
            }
            match known_end {
                // Read to its end by another reader: its bytes may be gone already.
                Some(end) => self.input.seek(end)?,
                None => {
                    self.current = Some(pos);
                    self.reported = pos;
                    self.phase = Phase::Chunks { kind, left: 0 };
                    self.enter(kind)?;
                    self.finish_block()?;
                }
            }
            self.scanned_past(pos);
        }
    }

    /// The scan has passed the block at `start`: the input stands at its end.
    fn scanned_past(&self, start: u64) {
        let mut map = self.shared.lock();
        map.ended(start, self.input.pos());
        map.settle(true);
    }

    /// One-pass input: reads forward to `id`'s block, skipping the ones before it.
    fn open_block_ahead(&mut self, id: DumpId) -> Result<u8> {
        self.finish_block()?;
        loop {
            let pos = self.input.pos();
            let Some((kind, found)) = self.read_block_header()? else {
                return Err(Error::new(ErrorKind::BlockNotFoundStream(id)).at(pos));
            };
            let found_id = DumpId::try_from(found).unwrap_or_default();
            self.shared.lock().found(found_id, pos);
            if found_id == id {
                return self.enter(kind);
            }
            self.passed.insert(found_id);
            self.phase = Phase::Chunks { kind, left: 0 };
            self.enter(kind)?;
            self.finish_block()?;
        }
    }

    /// True if the block of `id` was skipped already on a one-pass input.
    #[cfg(test)]
    pub fn was_passed(&self, id: DumpId) -> bool {
        self.passed.contains(&id)
    }

    fn enter(&mut self, kind: u8) -> Result<u8> {
        self.phase = match kind {
            BLK_DATA => Phase::Chunks { kind, left: 0 },
            _ => Phase::BlobGap,
        };
        Ok(kind)
    }

    /// This reader has found the chunk boundary `next` (reading goes on there in `phase`)
    /// and read everything before its own position: it tells the others, so that a scan
    /// resumes from the furthest point, and — when the spool is over its budget — gives back
    /// what it has read of its block and no scan can need any more.
    fn report(&mut self, next: u64, phase: Phase) {
        let Some(start) = self.current else { return };
        self.reported = next;
        let consumed = self.input.pos();
        let mut map = self.shared.lock();
        if map.frontier == start && map.inner.is_none_or(|(pos, _)| next > pos) {
            map.inner = Some((next, phase));
        }
        if self.scanner {
            map.scan_at = map.scan_at.max(next);
            return;
        }
        let limit = map.prefix_limit(start, consumed);
        if let Some(release) = &map.release {
            if limit > start && release.wanted.contains(&map.blocks.get(&start).map_or(DumpId(0), |b| b.id)) && release.spool.over_budget() {
                release.spool.release(start, limit);
            }
        }
    }

    /// The open block's terminator has been read: its end is now known to every reader.
    fn block_ended(&mut self) {
        if let Some(start) = self.current.take() {
            let mut map = self.shared.lock();
            map.ended(start, self.input.pos());
            map.settle(false);
        }
    }

    /// Reads a block header: `None` at the end of the input.
    fn read_block_header(&mut self) -> Result<Option<(u8, i64)>> {
        let pos = self.input.pos();
        self.header_at = pos;
        let Some(kind) = self.input.read_byte_or_eof()? else { return Ok(None) };
        if kind != BLK_DATA && kind != BLK_BLOBS {
            return Err(Error::new(ErrorKind::BadBlockType(kind)).at(pos));
        }
        let id = self.input.read_int()?;
        if !self.input.is_seekable() && self.lost.is_none() {
            self.headers.push((pos, id));
        }
        Ok(Some((kind, id)))
    }

    /// Passes `result` on; on a one-pass input, a failure means the block framing cannot be
    /// followed past the block being read, which [`walk_stream`](Self::walk_stream) reports.
    fn noted<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            if !self.input.is_seekable() && self.lost.is_none() {
                let (at_header, cause) = describe(e, self.header_at);
                self.lost = Some((self.header_at, at_header, cause));
            }
        }
        result
    }

    /// Skips whatever remains of the open block.
    pub fn finish_block(&mut self) -> Result<()> {
        let finished = self.finish_block_inner();
        self.noted(finished)
    }

    fn finish_block_inner(&mut self) -> Result<()> {
        loop {
            match self.phase {
                Phase::Between => return Ok(()),
                Phase::Chunks { kind, left } => {
                    if left > 0 {
                        self.input.skip(left)?;
                        self.phase = Phase::Chunks { kind, left: 0 };
                    }
                    // At the terminator next_chunk moves the phase on; otherwise the loop
                    // skips the chunk it started.
                    self.next_chunk()?;
                }
                Phase::BlobGap => {
                    if self.next_blob()?.is_none() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// In a chunk list, reads the next chunk length. `Some(len)` starts a chunk; `None` means
    /// the terminator was read and the phase has moved on.
    fn next_chunk(&mut self) -> Result<Option<u64>> {
        let Phase::Chunks { kind, .. } = self.phase else { return Ok(None) };
        let pos = self.input.pos();
        let len = self.input.read_int()?;
        if len < 0 {
            return Err(Error::new(ErrorKind::BadChunkLength(len)).at(pos));
        }
        if len == 0 {
            self.phase = if kind == BLK_DATA { Phase::Between } else { Phase::BlobGap };
            if kind == BLK_DATA {
                self.block_ended();
            }
            return Ok(None);
        }
        let len = len as u64;
        if let Some(left) = self.input.remaining() {
            if len > left {
                return Err(Error::new(ErrorKind::Truncated { wanted: len, available: left }).at(pos));
            }
        }
        self.phase = Phase::Chunks { kind, left: len };
        let next = self.input.pos().saturating_add(len);
        if next.saturating_sub(self.reported) >= REPORT_STEP {
            self.report(next, Phase::Chunks { kind, left: 0 });
        }
        Ok(Some(len))
    }

    /// In a BLK_BLOBS block, reads the next large object's OID and enters its chunk list;
    /// `None` after the OID-0 terminator.
    pub fn next_blob(&mut self) -> Result<Option<Oid>> {
        if self.phase != Phase::BlobGap {
            return Ok(None);
        }
        let read = self.input.read_int();
        let oid = self.noted(read)?;
        if oid == 0 {
            self.phase = Phase::Between;
            self.block_ended();
            return Ok(None);
        }
        // OIDs ≥ 2³¹ were written through a signed int (§2).
        let oid = oid as i32 as u32;
        self.phase = Phase::Chunks { kind: BLK_BLOBS, left: 0 };
        if self.input.pos().saturating_sub(self.reported) >= REPORT_STEP {
            self.report(self.input.pos(), self.phase);
        }
        Ok(Some(Oid(oid)))
    }

    /// Reads raw (still compressed) bytes of the current chunk list; 0 at its terminator.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> Result<usize> {
        let read = self.read_raw_inner(buf);
        self.noted(read)
    }

    fn read_raw_inner(&mut self, buf: &mut [u8]) -> Result<usize> {
        loop {
            match self.phase {
                Phase::Chunks { kind, left } if left > 0 => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let pos = self.input.pos();
                    let n = self.input.read_some(&mut buf[..want])?;
                    if n == 0 {
                        return Err(Error::new(ErrorKind::Truncated { wanted: left, available: 0 }).at(pos));
                    }
                    self.phase = Phase::Chunks { kind, left: left - n as u64 };
                    return Ok(n);
                }
                Phase::Chunks { .. } => {
                    if self.next_chunk()?.is_none() {
                        return Ok(0);
                    }
                }
                _ => return Ok(0),
            }
        }
    }
}

/// `Read` over the raw bytes of the current chunk list.
pub(crate) struct RawChunks<'a> {
    pub data: &'a mut CustomData,
}

impl Read for RawChunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.data.read_raw(buf).map_err(Error::into_io)
    }
}

#[cfg(test)]
pub(crate) mod tests;
