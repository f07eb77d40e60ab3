//! The byte stream under a tar: the file itself, or its gzip or zstd decompression, counted on
//! both sides so that a stream expanding past the ratio limit stops as a bomb, and so that
//! the tar's end can be told from the file's (a tar that hits end of file before its
//! end-of-archive blocks is cut short).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Bomb;
use crate::probe::Compression;

/// Counts the bytes read through it into a shared counter (the compressed side).
struct CountIn<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The ratio a decompressed stream may reach.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ratio {
    pub limit: u64,
    /// Decompressed bytes below which the ratio is not checked.
    pub floor: u64,
}

/// A stream that knows its position, whether it ever reached its end, and (decompressed)
/// how far it has expanded.
pub(crate) struct Tracked<R> {
    inner: R,
    /// Bytes read (or sought) from the start.
    pub pos: u64,
    /// Whether a read returned end of file: a whole tar never does before its end blocks.
    pub hit_eof: bool,
    /// The compressed bytes read so far and the ratio allowed, for a decompressed stream.
    ratio: Option<(Arc<AtomicU64>, Ratio)>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.hit_eof = true;
        }
        self.pos += n as u64;
        if let Some((compressed, ratio)) = &self.ratio {
            let compressed = compressed.load(Ordering::Relaxed);
            if self.pos > ratio.floor && self.pos > ratio.limit.saturating_mul(compressed) {
                return Err(io::Error::other(Bomb { limit: ratio.limit, written: self.pos, compressed }));
            }
        }
        Ok(n)
    }
}

impl<R: Seek> Seek for Tracked<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

/// A tar's bytes: the file itself (which can seek past data not needed) or its
/// decompression (which cannot).
pub(crate) enum TarInput {
    Plain(BufReader<File>),
    Decoded(Box<dyn Read + Send>),
}

impl Read for TarInput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TarInput::Plain(r) => r.read(buf),
            TarInput::Decoded(r) => r.read(buf),
        }
    }
}

impl Seek for TarInput {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            TarInput::Plain(r) => r.seek(to),
            TarInput::Decoded(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "a compressed stream cannot seek")),
        }
    }
}

/// The tar stream inside the file at `path`: the file itself, or its decompression, which
/// `ratio` bounds.
pub(crate) fn open(path: &Path, compression: Compression, ratio: Option<Ratio>) -> io::Result<Tracked<TarInput>> {
    let file = File::open(path)?;
    if compression == Compression::None {
        return Ok(Tracked { inner: TarInput::Plain(BufReader::with_capacity(64 * 1024, file)), pos: 0, hit_eof: false, ratio: None });
    }
    let count = Arc::new(AtomicU64::new(0));
    let counted = BufReader::with_capacity(64 * 1024, CountIn { inner: file, count: count.clone() });
    let inner: Box<dyn Read + Send> = match compression {
        // Several gzip members one after another are one stream, as gunzip reads them.
        Compression::Gzip | Compression::None => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(counted)?),
    };
    Ok(Tracked { inner: TarInput::Decoded(inner), pos: 0, hit_eof: false, ratio: ratio.map(|r| (count, r)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_stream_expanding_past_its_ratio_is_a_bomb() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("zeros.gz");
        let mut gz = flate2::write::GzEncoder::new(File::create(&path).unwrap_or_else(|e| panic!("{e}")), flate2::Compression::best());
        gz.write_all(&vec![0u8; 8 << 20]).unwrap_or_else(|e| panic!("{e}"));
        gz.finish().unwrap_or_else(|e| panic!("{e}"));
        let mut all = Vec::new();
        let mut s = open(&path, Compression::Gzip, Some(Ratio { limit: 100, floor: 1 << 20 })).unwrap_or_else(|e| panic!("{e}"));
        let e = s.read_to_end(&mut all).err().unwrap_or_else(|| panic!("no bomb"));
        assert!(e.get_ref().is_some_and(|inner| inner.is::<Bomb>()), "{e}");
        let mut s = open(&path, Compression::Gzip, Some(Ratio { limit: 100_000, floor: 1 << 20 })).unwrap_or_else(|e| panic!("{e}"));
        all.clear();
        s.read_to_end(&mut all).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 8 << 20);
        assert!(s.hit_eof);
    }
}
