//! Data blocks of custom-format archives (ARCHIVE_FORMAT.md §5, §6): finding a block by
//! offset or by scanning, and reading its chunk list as one raw stream.
//!
//! Works the same over a mapped file (seek to known offsets, remember what scanning finds)
//! and over a one-pass stream (scan forward only, as pg_restore must on a pipe).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;
use crate::toc::DumpId;

/// `BLK_DATA` in pg_backup_archiver.h: a table's data, one compressed stream.
pub const BLK_DATA: u8 = 1;
/// `BLK_BLOBS`: large objects, each its own stream, ended by OID 0.
pub const BLK_BLOBS: u8 = 3;

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

/// The data area of a custom archive.
pub(crate) struct CustomData {
    pub input: Input,
    pub phase: Phase,
    /// Block positions learned while scanning (dump id → offset of its block header).
    found: HashMap<DumpId, u64>,
    /// Mapped input: how far scanning has gone; blocks before it are all in `found`.
    scanned_to: u64,
    /// Stream input: ids of blocks already passed, to explain an out-of-order request.
    passed: HashSet<DumpId>,
}

impl CustomData {
    pub fn new(input: Input) -> Self {
        let scanned_to = input.pos();
        CustomData { input, phase: Phase::Between, found: HashMap::new(), scanned_to, passed: HashSet::new() }
    }

    /// An independent reader over the same mapped bytes, knowing what this one has learned.
    pub fn fork(&self) -> Option<CustomData> {
        // A spool still filling has no end yet: its forks read as far as it grows.
        let end = self.input.end().unwrap_or(u64::MAX);
        let input = self.input.fork(0, end)?;
        Some(CustomData { input, phase: Phase::Between, found: self.found.clone(), scanned_to: self.scanned_to, passed: HashSet::new() })
    }

    /// Scans every remaining block header (mapped input), recording positions.
    pub fn scan_all(&mut self) {
        if self.input.seek(self.scanned_to).is_err() {
            return;
        }
        self.phase = Phase::Between;
        while let Ok(Some((id, _))) = self.next_block() {
            let _ = id;
            if self.finish_block().is_err() {
                break;
            }
            self.scanned_to = self.input.pos();
        }
        self.phase = Phase::Between;
    }

    /// Block positions discovered so far by scanning.
    pub fn found_positions(&self) -> &HashMap<DumpId, u64> {
        &self.found
    }

    /// Positions the input at the body of `id`'s block and returns the block type.
    pub fn open_block(&mut self, id: DumpId, offset: Option<u64>) -> Result<u8> {
        if self.input.is_seekable() {
            self.phase = Phase::Between;
            let known = offset.or_else(|| self.found.get(&id).copied());
            if let Some(pos) = known {
                self.input.seek(pos)?;
                let (kind, found) = self.read_block_header()?.ok_or_else(|| Error::new(ErrorKind::BlockNotFound(id)).at(pos))?;
                if found != i64::from(id) {
                    return Err(Error::new(ErrorKind::BlockIdMismatch { found, expected: id }).at(pos));
                }
                self.phase = Phase::Chunks { kind, left: 0 };
                return self.enter(kind);
            }
            let resume = self.scanned_to;
            self.input.seek(resume)?;
        } else {
            self.finish_block()?;
        }
        loop {
            let pos = self.input.pos();
            let Some((kind, found)) = self.read_block_header()? else {
                return Err(if self.input.is_seekable() {
                    Error::new(ErrorKind::BlockNotFound(id))
                } else {
                    Error::new(ErrorKind::BlockNotFoundStream(id))
                }
                .at(pos));
            };
            let found_id = i32::try_from(found).unwrap_or(0);
            self.found.entry(found_id).or_insert(pos);
            if found_id == id {
                return self.enter(kind);
            }
            self.passed.insert(found_id);
            self.phase = Phase::Chunks { kind, left: 0 };
            self.enter(kind)?;
            self.finish_block()?;
            if self.input.is_seekable() {
                self.scanned_to = self.scanned_to.max(self.input.pos());
            }
        }
    }

    /// Visits the next block in file order (one-pass reading): its dump id and type, or `None`
    /// at the end of the data area.
    pub fn next_block(&mut self) -> Result<Option<(DumpId, u8)>> {
        self.finish_block()?;
        let pos = self.input.pos();
        let Some((kind, found)) = self.read_block_header()? else { return Ok(None) };
        let id = i32::try_from(found).ok().filter(|id| *id > 0).ok_or_else(|| Error::new(ErrorKind::BadDumpId(found)).at(pos))?;
        self.found.entry(id).or_insert(pos);
        self.enter(kind)?;
        Ok(Some((id, kind)))
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

    /// Reads a block header: `None` at the end of the input.
    fn read_block_header(&mut self) -> Result<Option<(u8, i64)>> {
        let pos = self.input.pos();
        let Some(kind) = self.input.read_byte_or_eof()? else { return Ok(None) };
        if kind != BLK_DATA && kind != BLK_BLOBS {
            return Err(Error::new(ErrorKind::BadBlockType(kind)).at(pos));
        }
        let id = self.input.read_int()?;
        Ok(Some((kind, id)))
    }

    /// Skips whatever remains of the open block.
    pub fn finish_block(&mut self) -> Result<()> {
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
            return Ok(None);
        }
        let len = len as u64;
        if let Some(left) = self.input.remaining() {
            if len > left {
                return Err(Error::new(ErrorKind::Truncated { wanted: len, available: left }).at(pos));
            }
        }
        self.phase = Phase::Chunks { kind, left: len };
        Ok(Some(len))
    }

    /// In a BLK_BLOBS block, reads the next large object's OID and enters its chunk list;
    /// `None` after the OID-0 terminator.
    pub fn next_blob(&mut self) -> Result<Option<u32>> {
        if self.phase != Phase::BlobGap {
            return Ok(None);
        }
        let oid = self.input.read_int()?;
        if oid == 0 {
            self.phase = Phase::Between;
            return Ok(None);
        }
        // OIDs ≥ 2³¹ were written through a signed int (§2).
        let oid = oid as i32 as u32;
        self.phase = Phase::Chunks { kind: BLK_BLOBS, left: 0 };
        Ok(Some(oid))
    }

    /// Reads raw (still compressed) bytes of the current chunk list; 0 at its terminator.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> Result<usize> {
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
mod tests {
    use super::*;

    fn int(v: i32) -> Vec<u8> {
        let mut out = vec![u8::from(v < 0)];
        out.extend_from_slice(&v.unsigned_abs().to_le_bytes());
        out
    }

    fn block(kind: u8, id: i32, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend(int(id));
        for c in chunks {
            out.extend(int(c.len() as i32));
            out.extend_from_slice(c);
        }
        out.extend(int(0));
        out
    }

    fn stream(bytes: Vec<u8>) -> CustomData {
        CustomData::new(Input::stream(Box::new(io::Cursor::new(bytes)), 0))
    }

    #[test]
    fn scans_past_other_blocks_and_refuses_going_back() {
        let mut bytes = block(BLK_DATA, 7, &[b"a\n", b"\\.\n\n\n"]);
        bytes.extend(block(BLK_DATA, 9, &[b"b\n"]));
        let mut data = stream(bytes);
        assert_eq!(data.open_block(9, None).unwrap(), BLK_DATA);
        let mut out = Vec::new();
        RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"b\n");
        assert!(data.was_passed(7));
        let err = data.open_block(7, None).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BlockNotFoundStream(7)), "{err}");
    }

    #[test]
    fn blobs_block_yields_each_object() {
        let mut bytes = vec![BLK_BLOBS];
        bytes.extend(int(5));
        for (oid, body) in [(16500, &b"x"[..]), (-1294967296, &b""[..])] {
            bytes.extend(int(oid));
            if !body.is_empty() {
                bytes.extend(int(body.len() as i32));
                bytes.extend_from_slice(body);
            }
            bytes.extend(int(0));
        }
        bytes.extend(int(0));
        let mut data = stream(bytes);
        assert_eq!(data.open_block(5, None).unwrap(), BLK_BLOBS);
        assert_eq!(data.next_blob().unwrap(), Some(16500));
        let mut out = Vec::new();
        RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"x");
        assert_eq!(data.next_blob().unwrap(), Some(3_000_000_000));
        out.clear();
        RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(data.next_blob().unwrap(), None);
    }

    #[test]
    fn abandoned_block_is_skipped_before_the_next() {
        let mut bytes = block(BLK_DATA, 1, &[b"0123456789"]);
        bytes.extend(block(BLK_DATA, 2, &[b"z"]));
        let mut data = stream(bytes);
        data.open_block(1, None).unwrap();
        let mut two = [0u8; 2];
        data.read_raw(&mut two).unwrap();
        data.open_block(2, None).unwrap();
        let mut out = Vec::new();
        RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"z");
    }
}
