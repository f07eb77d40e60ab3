//! Zip bundles: listing them from the central directory (reading each file's head, and a
//! symlink's target, which a zip stores as the content), walking them to extract, and
//! streaming one member. Only stored and deflated members are read; encrypted ones, and
//! other methods, are listed but refused when read.
//!
//! Members whose compressed data overlap are refused at listing: that is how a small zip
//! claims many large members (the overlapping-file bomb), and no zip writer produces it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::BundleError;
use crate::limits::{Limits, MAX_LINK_TARGET};
use crate::members::{Collector, Location, Member, MemberKind, ZipData};
use crate::path::normalize;

/// `st_mode` file types, as zip's Unix "external attributes" carry them.
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;

fn open_archive(path: &Path) -> Result<ZipArchive<BufReader<File>>, BundleError> {
    let file = File::open(path).map_err(|e| BundleError::Read { path: path.to_owned(), source: e })?;
    ZipArchive::new(BufReader::with_capacity(64 * 1024, file)).map_err(|e| match e {
        ZipError::Io(source) => BundleError::Read { path: path.to_owned(), source },
        // The central directory is the zip's last part: a zip cut short loses it first.
        e => BundleError::Truncated { where_: "at its end".into(), what: format!("the zip's central directory is missing or unreadable ({e}); the file looks cut short") },
    })
}

fn member_error(path: &Path, member: &str, e: ZipError) -> BundleError {
    match e {
        ZipError::UnsupportedArchive(what) => BundleError::Unsupported { member: member.to_owned(), what: what.to_lowercase() },
        ZipError::Io(e) => BundleError::reading(path, Some(member), e),
        e => BundleError::Damaged { member: member.to_owned(), what: e.to_string() },
    }
}

/// Bytes of the smallest central directory header (no name, extra field or comment).
const CENTRAL_HEADER: u64 = 46;
/// The end of central directory record's size without its comment, and its comment's most.
const EOCD: u64 = 22;
const MAX_COMMENT: u64 = 65535;

/// Every member of the zip at `path`, with the index from path to position.
pub(crate) fn list(path: &Path, limits: &Limits) -> Result<(Vec<Member>, HashMap<String, usize>), BundleError> {
    let read = |e| BundleError::Read { path: path.to_owned(), source: e };
    let file_len = std::fs::metadata(path).map_err(read)?.len();
    // The zip reader sizes its member table from the count the end record declares: check
    // that count against the limit, and against the bytes its headers would need, first.
    if let Some(declared) = declared_entries(path).map_err(read)? {
        if declared > limits.max_members as u64 {
            return Err(BundleError::TooManyMembers { limit: limits.max_members });
        }
        if declared.saturating_mul(CENTRAL_HEADER) > file_len {
            return Err(BundleError::Truncated { where_: "at its end".into(), what: format!("the zip declares {declared} members, more than its {file_len} bytes can hold") });
        }
    }
    let mut archive = open_archive(path)?;
    if archive.len() > limits.max_members {
        return Err(BundleError::TooManyMembers { limit: limits.max_members });
    }
    // The zip reader keeps one member per name; a name given twice must not go unseen.
    let names = central_names(path, archive.central_directory_start(), limits.max_members).map_err(read)?;
    if names.len() != archive.len() {
        let mut seen = std::collections::HashSet::new();
        let twice = names.iter().find(|n| !seen.insert(n.as_slice())).map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        return Err(BundleError::Duplicate { member: twice });
    }
    let mut collector = Collector::new(path, limits);
    // (start, end, name) of each member's compressed data.
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    for index in 0..archive.len() {
        let name = archive.name_for_index(index).unwrap_or_default().to_owned();
        let (kind, mode, size, at) = {
            let f = archive.by_index_raw(index).map_err(|e| member_error(path, &name, e))?;
            let unix = f.unix_mode().unwrap_or(0);
            let kind = match unix & S_IFMT {
                _ if f.is_dir() => MemberKind::Directory,
                0 | S_IFREG => MemberKind::File,
                S_IFDIR => MemberKind::Directory,
                S_IFLNK => MemberKind::Symlink { target: String::new() },
                _ => MemberKind::Other { what: "device, FIFO or socket" },
            };
            let data_start = f.data_start().unwrap_or(0);
            let zip = ZipData { method: f.compression(), crc32: f.crc32(), encrypted: f.encrypted() };
            let at = Location { index, data_start, compressed: f.compressed_size(), zip: Some(zip) };
            (kind, unix, f.size(), at)
        };
        if at.data_start.saturating_add(at.compressed) > file_len {
            return Err(BundleError::Truncated { where_: format!("at member `{name}`"), what: "its data runs past the end of the file".into() });
        }
        if at.compressed > 0 {
            ranges.push((at.data_start, at.data_start + at.compressed, name.clone()));
        }
        let readable = at.zip.is_some_and(|z| !z.encrypted && matches!(z.method, CompressionMethod::Stored | CompressionMethod::Deflated));
        match kind {
            MemberKind::Symlink { .. } => {
                let mut target = Vec::new();
                if readable {
                    let f = archive.by_index(index).map_err(|e| member_error(path, &name, e))?;
                    f.take(MAX_LINK_TARGET + 1).read_to_end(&mut target).map_err(|e| BundleError::reading(path, Some(&name), e))?;
                }
                if target.len() as u64 > MAX_LINK_TARGET {
                    return Err(BundleError::Damaged { member: name, what: format!("a symlink target over {MAX_LINK_TARGET} bytes") });
                }
                let target = String::from_utf8_lossy(&target).into_owned();
                collector.push(name.as_bytes(), MemberKind::Symlink { target }, 0, mode, None, at)?;
            }
            MemberKind::File if readable => {
                let mut f = archive.by_index(index).map_err(|e| member_error(path, &name, e))?;
                collector.push(name.as_bytes(), kind, size, mode, Some(&mut f as &mut dyn Read), at)?;
            }
            MemberKind::File => collector.push(name.as_bytes(), kind, size, mode, None, at)?,
            _ => collector.push(name.as_bytes(), kind, 0, mode, None, at)?,
        }
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        if let [(_, end, first), (start, _, second)] = pair {
            if start < end {
                return Err(BundleError::Damaged { member: second.clone(), what: format!("its compressed data overlaps member `{first}`'s (a zip bomb's trick)") });
            }
        }
    }
    Ok(collector.finish())
}

/// How many members the end of central directory record (or its zip64 form) declares, if
/// the file has one.
fn declared_entries(path: &Path) -> io::Result<Option<u64>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let tail_len = len.min(EOCD + MAX_COMMENT);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(len - tail_len))?;
    (&mut file).take(tail_len).read_to_end(&mut tail)?;
    let Some(at) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else { return Ok(None) };
    let u16_at = |b: &[u8], i: usize| b.get(i..i + 2).map_or(0, |s| u16::from_le_bytes([s[0], s[1]]));
    let count = u64::from(u16_at(&tail, at + 10));
    if count != 0xffff {
        return Ok(Some(count));
    }
    // Zip64: a locator just before the record gives where the zip64 record, with the
    // 64-bit count, is.
    let u64_at = |b: &[u8], i: usize| b.get(i..i + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()).map(u64::from_le_bytes);
    let Some(locator) = at.checked_sub(20).and_then(|l| tail.get(l..at)) else { return Ok(None) };
    if !locator.starts_with(b"PK\x06\x07") {
        return Ok(None);
    }
    let Some(record_at) = u64_at(locator, 8) else { return Ok(None) };
    let mut record = Vec::new();
    file.seek(SeekFrom::Start(record_at))?;
    (&mut file).take(56).read_to_end(&mut record)?;
    Ok(if record.starts_with(b"PK\x06\x06") { u64_at(&record, 32) } else { None })
}

/// The raw names of the central directory's headers, from `start`, at most `limit` + 1.
fn central_names(path: &Path, start: u64, limit: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let mut names = Vec::new();
    let mut header = [0u8; CENTRAL_HEADER as usize];
    while names.len() <= limit {
        if input.read_exact(&mut header).is_err() || !header.starts_with(b"PK\x01\x02") {
            break;
        }
        let len_at = |i: usize| u64::from(u16::from_le_bytes([header[i], header[i + 1]]));
        let mut name = Vec::new();
        (&mut input).take(len_at(28)).read_to_end(&mut name)?;
        io::copy(&mut (&mut input).take(len_at(30) + len_at(32)), &mut io::sink())?;
        names.push(name);
    }
    Ok(names)
}

/// Calls `visit` with each member `wanted` picks and its content (empty for all but
/// regular files), in the zip's order.
pub(crate) fn walk(path: &Path, members: &[Member], wanted: &dyn Fn(&Member) -> bool, visit: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<(), BundleError>) -> Result<(), BundleError> {
    let mut archive = open_archive(path)?;
    for member in members.iter().filter(|m| wanted(m)) {
        if member.kind != MemberKind::File {
            visit(member, &mut io::empty())?;
            continue;
        }
        let mut f = archive.by_index(member.at.index).map_err(|e| member_error(path, &member.path, e))?;
        if normalize(f.name().as_bytes(), usize::MAX).ok().flatten().as_deref() != Some(member.path.as_str()) {
            return Err(BundleError::Damaged { member: member.path.clone(), what: "the bundle changed since it was listed".into() });
        }
        visit(member, &mut f)?;
    }
    Ok(())
}

/// The content of one regular file `member`, read straight from its offset (the zip
/// crate's reader borrows the archive, so it cannot be handed out).
pub(crate) fn open(path: &Path, member: &Member) -> Result<Box<dyn Read + Send>, BundleError> {
    let unsupported = |what: String| BundleError::Unsupported { member: member.path.clone(), what };
    let zip = member.at.zip.ok_or_else(|| unsupported("a member without zip data".into()))?;
    if zip.encrypted {
        return Err(unsupported("an encrypted member".into()));
    }
    let read = |e| BundleError::Read { path: path.to_owned(), source: e };
    let mut file = File::open(path).map_err(read)?;
    file.seek(SeekFrom::Start(member.at.data_start)).map_err(read)?;
    let raw = BufReader::with_capacity(64 * 1024, file).take(member.at.compressed);
    let inner: Box<dyn Read + Send> = match zip.method {
        CompressionMethod::Stored => Box::new(raw),
        CompressionMethod::Deflated => Box::new(flate2::bufread::DeflateDecoder::new(raw)),
        other => return Err(unsupported(format!("compression method {other:?}"))),
    };
    Ok(Box::new(Checked { inner: inner.take(member.size), left: member.size, crc: flate2::Crc::new(), expected: zip.crc32 }))
}

/// A zip member's content, checked against its declared size and CRC-32 as it ends.
struct Checked<R> {
    inner: R,
    left: u64,
    crc: flate2::Crc,
    expected: u32,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if self.left > 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("the member ends {} bytes before its declared size", self.left)));
            }
            if self.crc.sum() != self.expected {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("CRC-32 {:08x}, expected {:08x}", self.crc.sum(), self.expected)));
            }
            return Ok(0);
        }
        let got = buf.get(..n).unwrap_or_default();
        self.crc.update(got);
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}
