//! The one cursor through which all archive bytes are read (pg_backup_archiver.c `ReadInt`, `ReadStr`, `ReadOffset`).
//!
//! `Input` is a window of a memory-mapped file (random access, the length known), a
//! forward-only stream (standard input, a pipe), or a spool that a pipe is still filling
//! (random access; reads wait for their bytes). It tracks the absolute byte offset for error
//! messages and decodes pg_dump's primitives: sign-magnitude `Int`s, `String`s that keep NULL
//! apart from "", and data `Offset`s. Nothing else in the crate touches raw archive bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use bstr::BString;
use memmap2::Mmap;

use crate::error::{Error, ErrorKind, Result};
use crate::spool::Spool;

/// How many bytes a string read grows its buffer by at a time when the bytes left are unknown,
/// so that a corrupt length can never make us allocate more than the input really holds.
const STRING_GROWTH: usize = 1 << 20;

/// A read-only memory map of a whole archive file, shared by every reader of that file.
///
/// Pages that a sequential reader has finished with are handed back to the kernel
/// (`release`), so reading a 100 GB archive does not grow the process's resident set by
/// 100 GB of file-backed pages.
#[derive(Debug)]
pub struct MappedFile {
    map: Option<Mmap>,
    /// Bytes already in memory (tests, fuzzing, callers holding the archive), used instead
    /// of a map.
    owned: Vec<u8>,
}

impl MappedFile {
    pub fn open(file: &File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        if len == 0 {
            // mmap of an empty file fails on Linux; an empty slice is the same thing.
            return Ok(MappedFile { map: None, owned: Vec::new() });
        }
        // SAFETY: the map is read-only; if another process truncates the file while we read,
        // the kernel raises SIGBUS — the same hazard every mmap-based reader accepts. pg_dump
        // archives are written once and then only read.
        let map = unsafe { Mmap::map(file)? };
        Ok(MappedFile { map: Some(map), owned: Vec::new() })
    }

    /// Serves bytes already in memory as if they were a mapped file.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        MappedFile { map: None, owned: bytes }
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Some(map) => map,
            None => &self.owned,
        }
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Tells the kernel we will not read `start..end` again soon, so its pages leave our
    /// resident set. Purely advisory: failures are ignored.
    pub fn release(&self, start: u64, end: u64) {
        let Some(map) = &self.map else { return };
        let page = 4096u64;
        let start = start.div_ceil(page) * page;
        let end = end.min(map.len() as u64) / page * page;
        if end > start {
            // SAFETY: DontNeed on a read-only, file-backed private mapping only drops our page
            // table entries; later reads fault the same file bytes back in.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start as usize,
                    (end - start) as usize,
                )
            };
        }
    }
}

enum Bytes {
    Mapped(Arc<MappedFile>),
    Stream(Box<dyn BufRead + Send>),
    Spooled(SpoolCursor),
}

/// Reads of a spool through a small buffer: archive headers are read a few bytes at a time,
/// and each spool read costs a lock and a system call. The buffer holds only bytes that had
/// arrived (a read never waits for more than the first byte asked for).
struct SpoolCursor {
    spool: Arc<Spool>,
    buf: Box<[u8]>,
    /// Offset of `buf[0]`, and how many bytes of it are valid.
    start: u64,
    len: usize,
}

impl SpoolCursor {
    const SIZE: usize = 64 * 1024;

    fn new(spool: Arc<Spool>) -> Self {
        SpoolCursor { spool, buf: vec![0u8; Self::SIZE].into_boxed_slice(), start: 0, len: 0 }
    }

    fn read_at(&mut self, pos: u64, out: &mut [u8]) -> io::Result<usize> {
        if out.len() >= self.buf.len() {
            return self.spool.read_at(pos, out);
        }
        let buffered = pos >= self.start && pos < self.start + self.len as u64;
        if !buffered {
            self.len = 0;
            let n = self.spool.read_at(pos, &mut self.buf)?;
            self.start = pos;
            self.len = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let off = usize::try_from(pos - self.start).unwrap_or(0);
        let n = out.len().min(self.len - off);
        out[..n].copy_from_slice(&self.buf[off..off + n]);
        Ok(n)
    }
}

/// A cursor over archive bytes with pg_dump's primitive decoders.
pub struct Input {
    bytes: Bytes,
    /// Absolute offset of the next byte to read (in the file, or in the stream since its start).
    pos: u64,
    /// Offset one past the last readable byte: the map's length, or the end of a tar member
    /// window; `None` for a stream whose length is unknown.
    end: Option<u64>,
    /// Width of an `Int`'s magnitude, from the header (always 4 in practice).
    int_size: usize,
    /// Width of an `Offset`'s position, from the header (always 8 in practice).
    off_size: usize,
    /// For mapped input read sequentially: how far pages have been released.
    released: u64,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("pos", &self.pos).field("end", &self.end).finish()
    }
}

/// Sequential readers release mapped pages behind them in steps of this size.
const RELEASE_STEP: u64 = 8 << 20;

impl Input {
    pub fn mapped(map: Arc<MappedFile>, start: u64, end: u64) -> Self {
        let end = end.min(map.len());
        Input { bytes: Bytes::Mapped(map), pos: start, end: Some(end), int_size: 4, off_size: 8, released: start }
    }

    pub fn stream(reader: Box<dyn Read + Send>, start: u64) -> Self {
        Input {
            bytes: Bytes::Stream(Box::new(BufReader::with_capacity(256 * 1024, reader))),
            pos: start,
            end: None,
            int_size: 4,
            off_size: 8,
            released: 0,
        }
    }

    /// Random access to a spool still being filled; the end is unknown until the source ends.
    pub fn spooled(spool: Arc<Spool>, start: u64) -> Self {
        Input { bytes: Bytes::Spooled(SpoolCursor::new(spool)), pos: start, end: None, int_size: 4, off_size: 8, released: 0 }
    }

    /// The spool this input reads, if it is one.
    pub fn spool(&self) -> Option<&Arc<Spool>> {
        match &self.bytes {
            Bytes::Spooled(cursor) => Some(&cursor.spool),
            _ => None,
        }
    }

    /// Whether this reads a spool that may still be growing.
    pub fn is_spooled(&self) -> bool {
        matches!(self.bytes, Bytes::Spooled(_))
    }

    /// Limits reading to offsets before `end`.
    pub fn bounded(mut self, end: u64) -> Self {
        self.end = Some(end);
        self
    }

    /// A second, independent cursor over the same mapped bytes (random access only).
    pub fn fork(&self, start: u64, end: u64) -> Option<Self> {
        match &self.bytes {
            Bytes::Mapped(map) => {
                let mut input = Input::mapped(Arc::clone(map), start, end);
                input.int_size = self.int_size;
                input.off_size = self.off_size;
                Some(input)
            }
            Bytes::Spooled(cursor) => {
                let mut input = Input::spooled(Arc::clone(&cursor.spool), start);
                if end != u64::MAX {
                    input.end = Some(end);
                }
                input.int_size = self.int_size;
                input.off_size = self.off_size;
                Some(input)
            }
            Bytes::Stream(_) => None,
        }
    }

    pub fn is_seekable(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_) | Bytes::Spooled(_))
    }


    pub fn set_sizes(&mut self, int_size: usize, off_size: usize) {
        self.int_size = int_size;
        self.off_size = off_size;
    }


    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn end(&self) -> Option<u64> {
        self.end
    }

    /// Bytes left before the window's end, if known.
    pub fn remaining(&self) -> Option<u64> {
        self.end.map(|end| end.saturating_sub(self.pos))
    }

    /// Moves to an absolute offset (mapped input only).
    pub fn seek(&mut self, pos: u64) -> Result<()> {
        match &self.bytes {
            Bytes::Mapped(_) => {
                let end = self.end.unwrap_or(0);
                if pos > end {
                    return Err(Error::new(ErrorKind::OffsetBeyondEnd { offset: pos, len: end }));
                }
                self.pos = pos;
                self.released = self.released.min(pos);
                Ok(())
            }
            Bytes::Spooled(_) => {
                if let Some(end) = self.end.filter(|&end| pos > end) {
                    return Err(Error::new(ErrorKind::OffsetBeyondEnd { offset: pos, len: end }));
                }
                // Whether the bytes exist is known only when they are read.
                self.pos = pos;
                Ok(())
            }
            Bytes::Stream(_) => Err(Error::new(ErrorKind::Io(io::Error::other("cannot seek in a stream"))).at(self.pos)),
        }
    }

    /// Reads up to `buf.len()` bytes; 0 means the end of the window or stream.
    pub fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        let want = match self.remaining() {
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
            None => buf.len(),
        };
        if want == 0 {
            return Ok(0);
        }
        let n = match &mut self.bytes {
            Bytes::Mapped(map) => {
                let bytes = map.bytes();
                let start = self.pos as usize;
                let n = want.min(bytes.len().saturating_sub(start));
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                n
            }
            Bytes::Stream(reader) => loop {
                match reader.read(&mut buf[..want]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::new(ErrorKind::Io(e)).at(self.pos)),
                }
            },
            Bytes::Spooled(cursor) => cursor.read_at(self.pos, &mut buf[..want]).map_err(|e| Error::new(ErrorKind::Io(e)).at(self.pos))?,
        };
        self.pos += n as u64;
        self.release_behind();
        Ok(n)
    }

    fn release_behind(&mut self) {
        if let Bytes::Mapped(map) = &self.bytes {
            if self.pos - self.released.min(self.pos) >= RELEASE_STEP {
                map.release(self.released, self.pos);
                self.released = self.pos;
            }
        }
    }

    /// Reads exactly `buf.len()` bytes or fails with `Truncated`.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<()> {
        let start = self.pos;
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read_some(&mut buf[filled..])?;
            if n == 0 {
                return Err(Error::new(ErrorKind::Truncated { wanted: buf.len() as u64, available: filled as u64 }).at(start));
            }
            filled += n;
        }
        Ok(())
    }

    /// Reads one byte, or `None` at the end of the input.
    pub fn read_byte_or_eof(&mut self) -> Result<Option<u8>> {
        let mut b = [0u8; 1];
        match self.read_some(&mut b)? {
            0 => Ok(None),
            _ => Ok(Some(b[0])),
        }
    }

    pub fn read_byte(&mut self) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Skips `n` bytes (seeking when mapped, reading and discarding when streaming).
    pub fn skip(&mut self, n: u64) -> Result<()> {
        let start = self.pos;
        match &mut self.bytes {
            Bytes::Spooled(_) => {
                if let Some(left) = self.remaining().filter(|&left| n > left) {
                    self.pos += left;
                    return Err(Error::new(ErrorKind::Truncated { wanted: n, available: left }).at(start));
                }
                // A skip past the final end shows as a short read of what follows.
                self.pos += n;
                Ok(())
            }
            Bytes::Mapped(_) => {
                let left = self.remaining().unwrap_or(0);
                if n > left {
                    self.pos += left;
                    return Err(Error::new(ErrorKind::Truncated { wanted: n, available: left }).at(start));
                }
                self.pos += n;
                self.release_behind();
                Ok(())
            }
            Bytes::Stream(reader) => {
                let mut left = n;
                if let Some(window) = self.end {
                    let avail = window.saturating_sub(self.pos);
                    if n > avail {
                        return Err(Error::new(ErrorKind::Truncated { wanted: n, available: avail }).at(start));
                    }
                }
                while left > 0 {
                    let buf = match reader.fill_buf() {
                        Ok(buf) => buf,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::new(ErrorKind::Io(e)).at(self.pos)),
                    };
                    if buf.is_empty() {
                        return Err(Error::new(ErrorKind::Truncated { wanted: n, available: n - left }).at(start));
                    }
                    let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    reader.consume(take);
                    left -= take as u64;
                    self.pos += take as u64;
                }
                Ok(())
            }
        }
    }


    /// `Int` (pg_backup_archiver.c `ReadInt`): a sign byte, then `int_size` little-endian magnitude bytes.
    pub fn read_int(&mut self) -> Result<i64> {
        let start = self.pos;
        let sign = self.read_byte()?;
        let mut mag = [0u8; 8];
        let size = self.int_size;
        let mut value: u64 = 0;
        if size <= 8 {
            self.read_exact(&mut mag[..size])?;
            for (i, b) in mag[..size].iter().enumerate() {
                value |= u64::from(*b) << (8 * i);
            }
        } else {
            // Wider than we can hold: keep the low 8 bytes, and insist the rest are zero.
            let mut wide = vec![0u8; size];
            self.read_exact(&mut wide)?;
            for (i, b) in wide.iter().enumerate() {
                if i < 8 {
                    value |= u64::from(*b) << (8 * i);
                } else if *b != 0 {
                    return Err(Error::new(ErrorKind::BadCount(-1)).at(start));
                }
            }
        }
        // pg_dump writes C `int`s; anything past i32's magnitude cannot come from it, but we
        // keep the full value so callers can name what they saw.
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        Ok(if sign != 0 { -value } else { value })
    }


    /// `String` (§2): an `Int` length then raw bytes; a negative length is NULL.
    pub fn read_str(&mut self) -> Result<Option<BString>> {
        let start = self.pos;
        let len = self.read_int()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as u64;
        // pg_dump writes a string's length as a C `int`.
        if len > i32::MAX as u64 {
            return Err(Error::new(ErrorKind::StringTooLong { len, available: i32::MAX as u64 }).at(start));
        }
        if let Some(left) = self.remaining() {
            if len > left {
                return Err(Error::new(ErrorKind::StringTooLong { len, available: left }).at(start));
            }
        }
        // Grow as bytes arrive rather than trusting the declared length.
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(usize::MAX).min(STRING_GROWTH));
        let mut left = len;
        while left > 0 {
            let step = left.min(STRING_GROWTH as u64) as usize;
            let old = out.len();
            out.resize(old + step, 0);
            let got_before = self.pos;
            if let Err(e) = self.read_exact(&mut out[old..]) {
                let available = len - left + (self.pos - got_before);
                return Err(match e.kind() {
                    ErrorKind::Truncated { .. } => Error::new(ErrorKind::StringTooLong { len, available }).at(start),
                    _ => e,
                });
            }
            // pg_dump writes C strings, which hold no NUL: one here is damage. Checked per
            // step, so a sparse or zero-filled file is refused after 1 MB, not read whole.
            if let Some(at) = out[old..].iter().position(|&b| b == 0) {
                return Err(Error::new(ErrorKind::NulInString).at(got_before + at as u64));
            }
            left -= step as u64;
        }
        Ok(Some(BString::from(out)))
    }

    /// A `String` that must not be NULL; NULL reads as "".
    pub fn read_str_or_empty(&mut self) -> Result<BString> {
        Ok(self.read_str()?.unwrap_or_default())
    }

    /// `Offset` (§2): a flag byte and `off_size` little-endian bytes.
    pub fn read_offset(&mut self) -> Result<(u8, u64)> {
        let start = self.pos;
        let flag = self.read_byte()?;
        let mut pos: u64 = 0;
        for i in 0..self.off_size {
            let b = self.read_byte()?;
            if i < 8 {
                pos |= u64::from(b) << (8 * i);
            } else if b != 0 {
                return Err(Error::new(ErrorKind::OffsetTooLarge).at(start));
            }
        }
        Ok((flag, pos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(bytes: &[u8]) -> Input {
        Input::stream(Box::new(io::Cursor::new(bytes.to_vec())), 0)
    }

    #[test]
    fn ints_are_sign_magnitude() {
        let mut input = stream(&[0, 6, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xa2, 0x2f, 0x4d]);
        assert_eq!(input.read_int().unwrap(), 6);
        assert_eq!(input.read_int().unwrap(), -1);
        assert_eq!(input.read_int().unwrap(), 0);
        // OID 3000000000 stored through a signed int.
        assert_eq!(input.read_int().unwrap() as i32 as u32, 3_000_000_000);
    }

    #[test]
    fn strings_keep_null_apart_from_empty() {
        let mut input = stream(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i']);
        assert_eq!(input.read_str().unwrap(), None);
        assert_eq!(input.read_str().unwrap(), Some(BString::from("")));
        assert_eq!(input.read_str().unwrap(), Some(BString::from("hi")));
    }

    #[test]
    fn huge_string_length_is_an_error_not_an_allocation() {
        let mut input = stream(&[0, 0xff, 0xff, 0xff, 0x7f, b'x']);
        let err = input.read_str().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::StringTooLong { len: 0x7fff_ffff, available: 1 }), "{err}");
    }

    #[test]
    fn string_with_a_nul_is_damage_found_in_the_first_step() {
        // A claimed 2 MB string over a zero-filled (sparse) file: refused at its first NUL,
        // having buffered one step, not the claimed length.
        let mut bytes = vec![0, 0, 0, 0x20, 0];
        bytes.extend(std::iter::repeat_n(0u8, 3 << 20));
        let mut input = Input::mapped(Arc::new(MappedFile::from_vec(bytes.clone())), 0, bytes.len() as u64);
        let err = input.read_str().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::NulInString), "{err}");
        assert_eq!(err.location().offset, Some(5));
        assert!(input.pos() <= 5 + STRING_GROWTH as u64);
    }

    #[test]
    fn truncated_int_reports_offset() {
        let mut input = stream(&[0, 1, 2]);
        let err = input.read_int().unwrap_err();
        assert_eq!(err.location().offset, Some(1));
    }
}
