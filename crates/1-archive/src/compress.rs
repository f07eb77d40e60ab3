//! Decompression of data streams (PostgreSQL's compress_io.c and compress_{gzip,lz4,zstd}.c): one `Decoder` per data item or
//! large object, over whatever yields its raw bytes.
//!
//! The algorithm always comes from outside (the custom header, or a directory file's suffix);
//! nothing here sniffs magic bytes. Each decoder must see its stream end exactly where the raw
//! bytes end: a stream cut short is `CompressedTruncated`, bytes after its end `TrailingData`.

use std::io::{self, BufRead, BufReader, Read};

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::{Error, ErrorKind};
use crate::header::Compression;

/// Which container wraps gzip-compressed data: zlib inside custom archives, gzip files in
/// directory archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Zlib,
    Gzip,
    Lz4,
    Zstd,
}

impl Codec {
    /// The codec of a custom-format data block compressed with `c`.
    pub fn for_custom(c: Compression) -> Codec {
        match c {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Zlib,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::None => "uncompressed",
            Codec::Zlib => "zlib",
            Codec::Gzip => "gzip",
            Codec::Lz4 => "lz4",
            Codec::Zstd => "zstd",
        }
    }
}

/// Raw input that remembers its last eight bytes and the frame's flag byte, so the LZ4
/// decoder's silent end at a block boundary can be told apart from a real end mark. The end
/// mark is the last four bytes, or the four before the content checksum when the frame has
/// one (the lz4 command writes one by default; pg_dump does not).
pub(crate) struct Tail<R> {
    inner: R,
    last8: [u8; 8],
    /// FLG, the byte after the frame's magic number.
    flags: u8,
    seen: u64,
}

impl<R> Tail<R> {
    fn new(inner: R) -> Self {
        Tail { inner, last8: [0xff; 8], flags: 0, seen: 0 }
    }

    /// Whether the input ended right after the frame's end mark (and checksum, if any).
    fn ends_with_end_mark(&self) -> bool {
        const CONTENT_CHECKSUM: u8 = 0x04;
        let mark = if self.flags & CONTENT_CHECKSUM != 0 { &self.last8[..4] } else { &self.last8[4..] };
        mark == [0, 0, 0, 0]
    }
}

impl<R: Read> Read for Tail<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = &buf[..n];
        if self.seen <= 4 && self.seen + n as u64 > 4 {
            self.flags = read[(4 - self.seen) as usize];
        }
        if n >= 8 {
            self.last8.copy_from_slice(&read[n - 8..]);
        } else {
            self.last8.rotate_left(n);
            self.last8[8 - n..].copy_from_slice(read);
        }
        self.seen += n as u64;
        Ok(n)
    }
}

/// A zlib (RFC 1950) stream reader that knows whether the stream reached its end marker,
/// which `flate2::read::ZlibDecoder` does not tell.
pub(crate) struct ZlibReader<R> {
    inner: BufReader<R>,
    state: Decompress,
    ended: bool,
}

impl<R: Read> Read for ZlibReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ended {
                return Ok(0);
            }
            let input = self.inner.fill_buf()?;
            let eof = input.is_empty();
            let before_in = self.state.total_in();
            let before_out = self.state.total_out();
            let flush = if eof { FlushDecompress::Finish } else { FlushDecompress::None };
            let status = self
                .state
                .decompress(input, out, flush)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let consumed = (self.state.total_in() - before_in) as usize;
            let produced = (self.state.total_out() - before_out) as usize;
            self.inner.consume(consumed);
            if status == Status::StreamEnd {
                self.ended = true;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if self.ended {
                return Ok(0);
            }
            if eof {
                return Err(Error::new(ErrorKind::CompressedTruncated { algorithm: "zlib" }).into_io());
            }
            if consumed == 0 && status == Status::BufError {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "zlib decoder made no progress"));
            }
        }
    }
}

enum Inner<R: Read> {
    Plain(R),
    Zlib(ZlibReader<R>),
    Gzip(flate2::read::MultiGzDecoder<BufReader<R>>),
    Lz4(lz4_flex::frame::FrameDecoder<Tail<R>>),
    Zstd(zstd::stream::read::Decoder<'static, BufReader<R>>),
    /// A zero-length file stands for empty content (pg_dump writes no frame for an empty
    /// large object with lz4 or zstd in directory archives).
    Empty,
}

/// Decompressed bytes of one stream.
pub struct Decoder<R: Read> {
    inner: Inner<R>,
    codec: Codec,
    done: bool,
}

impl<R: Read> Decoder<R> {
    /// Wraps `raw` in the decoder for `codec`. `known_empty` says the raw input is known to
    /// hold zero bytes (an empty file), which every codec reads as empty content.
    pub fn new(raw: R, codec: Codec, known_empty: bool) -> io::Result<Self> {
        let inner = if known_empty && codec != Codec::None {
            Inner::Empty
        } else {
            match codec {
                Codec::None => Inner::Plain(raw),
                Codec::Zlib => Inner::Zlib(ZlibReader { inner: BufReader::with_capacity(64 * 1024, raw), state: Decompress::new(true), ended: false }),
                Codec::Gzip => Inner::Gzip(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, raw))),
                Codec::Lz4 => Inner::Lz4(lz4_flex::frame::FrameDecoder::new(Tail::new(raw))),
                Codec::Zstd => {
                    let mut d = zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(64 * 1024, raw))?;
                    d = d.single_frame();
                    Inner::Zstd(d)
                }
            }
        };
        Ok(Decoder { inner, codec, done: false })
    }

    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The raw reader beneath the decoder.
    pub fn raw_mut(&mut self) -> Option<&mut R> {
        match &mut self.inner {
            Inner::Plain(r) => Some(r),
            Inner::Zlib(z) => Some(z.inner.get_mut()),
            Inner::Gzip(g) => Some(g.get_mut().get_mut()),
            Inner::Lz4(l) => Some(&mut l.get_mut().inner),
            Inner::Zstd(z) => Some(z.get_mut().get_mut()),
            Inner::Empty => None,
        }
    }

    /// After the decoder reported its end: fails if raw bytes remain behind the stream's end,
    /// or if an LZ4 frame stopped without its end mark.
    fn check_end(&mut self) -> io::Result<()> {
        let mut leftover: u64 = match &mut self.inner {
            Inner::Zlib(z) => z.inner.buffer().len() as u64,
            Inner::Zstd(z) => z.get_ref().buffer().len() as u64,
            Inner::Lz4(l) => {
                let tail = l.get_ref();
                if tail.seen > 0 && !tail.ends_with_end_mark() {
                    return Err(Error::new(ErrorKind::CompressedTruncated { algorithm: "lz4" }).into_io());
                }
                0
            }
            _ => 0,
        };
        if let Some(raw) = self.raw_mut() {
            let mut scratch = [0u8; 4096];
            loop {
                match raw.read(&mut scratch) {
                    Ok(0) => break,
                    Ok(n) => leftover += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        if leftover > 0 {
            return Err(Error::new(ErrorKind::TrailingData(leftover)).into_io());
        }
        Ok(())
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let codec = self.codec;
        let result = match &mut self.inner {
            Inner::Plain(r) => r.read(buf),
            Inner::Zlib(z) => z.read(buf),
            Inner::Gzip(g) => g.read(buf),
            Inner::Lz4(l) => l.read(buf),
            Inner::Zstd(z) => z.read(buf),
            Inner::Empty => Ok(0),
        };
        match result {
            Ok(0) => {
                self.done = true;
                self.check_end()?;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => Err(classify(e, codec)),
        }
    }
}

/// Keeps archive errors from the raw reader as they are and labels everything else as
/// corrupt compressed data.
fn classify(e: io::Error, codec: Codec) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        return e;
    }
    let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
        ErrorKind::CompressedTruncated { algorithm: codec.name() }
    } else {
        ErrorKind::Decompress { algorithm: codec.name(), source: e }
    };
    Error::new(kind).into_io()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decode(raw: &[u8], codec: Codec) -> Result<Vec<u8>, Error> {
        let mut d = Decoder::new(raw, codec, raw.is_empty()).map_err(Error::from_io)?;
        let mut out = Vec::new();
        d.read_to_end(&mut out).map_err(Error::from_io)?;
        Ok(out)
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn zlib_round_trip_and_truncation() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_string().into_bytes()).collect();
        let z = zlib(&data);
        assert_eq!(decode(&z, Codec::Zlib).unwrap(), data);
        let err = decode(&z[..z.len() - 7], Codec::Zlib).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::CompressedTruncated { .. }), "{err}");
        let mut extra = z.clone();
        extra.extend_from_slice(b"junk");
        let err = decode(&extra, Codec::Zlib).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TrailingData(4)), "{err}");
    }

    #[test]
    fn zstd_truncation_is_an_error() {
        let data = vec![7u8; 300_000];
        let z = zstd::stream::encode_all(&data[..], 3).unwrap();
        assert_eq!(decode(&z, Codec::Zstd).unwrap(), data);
        assert!(decode(&z[..z.len() - 3], Codec::Zstd).is_err());
    }

    #[test]
    fn lz4_cut_at_block_boundary_is_an_error() {
        let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
        e.write_all(&data).unwrap();
        let f = e.finish().unwrap();
        assert_eq!(decode(&f, Codec::Lz4).unwrap(), data);
        // Drop the end mark: the decoder alone would call this a clean end.
        let err = decode(&f[..f.len() - 4], Codec::Lz4).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::CompressedTruncated { .. }), "{err}");
    }

    #[test]
    fn lz4_frame_with_content_checksum() {
        // What `lz4 -z` writes by default: the end mark, then a checksum of the content.
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 97) as u8).collect();
        let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
        let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info.clone(), Vec::new());
        e.write_all(&data).unwrap();
        let f = e.finish().unwrap();
        assert_eq!(decode(&f, Codec::Lz4).unwrap(), data);
        for cut in [4, 8] {
            let err = decode(&f[..f.len() - cut], Codec::Lz4).unwrap_err();
            assert!(matches!(err.kind(), ErrorKind::CompressedTruncated { .. }), "cut {cut}: {err}");
        }
        // A short frame read a few bytes at a time still finds its flags and end mark.
        let small = {
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(b"16500 blob_16500.dat\n").unwrap();
            e.finish().unwrap()
        };
        let mut d = Decoder::new(OneByte(&small[..]), Codec::Lz4, false).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"16500 blob_16500.dat\n");
    }

    /// A reader that hands out one byte per read.
    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((&b, rest)), Some(slot)) => {
                    *slot = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn empty_file_is_empty_content() {
        assert_eq!(decode(b"", Codec::Zstd).unwrap(), b"");
        assert_eq!(decode(b"", Codec::Lz4).unwrap(), b"");
    }
}
