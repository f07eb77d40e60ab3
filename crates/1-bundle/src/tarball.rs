//! Tar bundles, plain or compressed whole: listing them in one pass (keeping each file's
//! head), walking them again to extract, and streaming one member. A plain tar is read with
//! seeks over data it does not need; a compressed one can only be read through, so opening
//! a member decompresses everything before it.
//!
//! A tar that reaches end of file before its end-of-archive blocks is cut short: every tar
//! writer ends with them, and without this check a tar cut at a header would list as whole.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use tar::EntryType;

use crate::error::BundleError;
use crate::limits::Limits;
use crate::members::{Collector, Location, Member, MemberKind};
use crate::path::normalize;
use crate::probe::Compression;
use crate::stream::{self, Ratio, TarInput, Tracked};

type Entry<'a> = tar::Entry<'a, Tracked<TarInput>>;

/// Whether to go on walking.
enum Flow {
    Next,
    Stop,
}

/// Every member of the tar at `path`, with the index from path to position.
pub(crate) fn list(path: &Path, compression: Compression, limits: &Limits) -> Result<(Vec<Member>, HashMap<String, usize>), BundleError> {
    let mut collector = Collector::new(path, limits);
    let ratio = Ratio { limit: limits.max_ratio, floor: limits.ratio_floor };
    walk_entries(path, compression, Some(ratio), |index, entry| {
        let raw = entry.path_bytes().into_owned();
        let lossy = || String::from_utf8_lossy(&raw).into_owned();
        let link = || entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default();
        let kind = match entry.header().entry_type() {
            // Pre-POSIX tars mark a folder only by the slash ending its name.
            EntryType::Regular | EntryType::Continuous if raw.ends_with(b"/") => MemberKind::Directory,
            EntryType::Regular | EntryType::Continuous => MemberKind::File,
            EntryType::Directory => MemberKind::Directory,
            EntryType::Symlink => MemberKind::Symlink { target: link() },
            EntryType::Link => MemberKind::HardLink { target: link() },
            EntryType::Char => MemberKind::Other { what: "character device" },
            EntryType::Block => MemberKind::Other { what: "block device" },
            EntryType::Fifo => MemberKind::Other { what: "FIFO" },
            EntryType::GNUSparse => MemberKind::Other { what: "sparse file" },
            // pax global headers hold defaults for the members after them, not a member.
            EntryType::XGlobalHeader => return Ok(Flow::Next),
            _ => MemberKind::Other { what: "tar entry of an unknown type" },
        };
        let mode = entry.header().mode().map_err(|e| BundleError::Damaged { member: lossy(), what: format!("its mode field: {e}") })?;
        let size = if kind == MemberKind::File { entry.size() } else { 0 };
        let at = Location { index, data_start: entry.raw_file_position(), compressed: size, zip: None };
        collector.push(&raw, kind, size, mode, Some(entry as &mut dyn Read), at)?;
        Ok(Flow::Next)
    })?;
    Ok(collector.finish())
}

/// Calls `visit` with each member `wanted` picks and its content, in the tar's order.
pub(crate) fn walk(
    path: &Path,
    compression: Compression,
    ratio: Option<Ratio>,
    members: &[Member],
    wanted: &dyn Fn(&Member) -> bool,
    visit: &mut dyn FnMut(&Member, &mut dyn Read) -> Result<(), BundleError>,
) -> Result<(), BundleError> {
    let mut todo = members.iter().filter(|m| wanted(m)).peekable();
    if todo.peek().is_none() {
        return Ok(());
    }
    walk_entries(path, compression, ratio, |index, entry| {
        let Some(member) = todo.next_if(|m| m.at.index == index) else {
            return Ok(Flow::Next);
        };
        // The file was listed moments ago; if it changed since, stop rather than write a
        // member under another's checked name.
        if normalize(&entry.path_bytes(), usize::MAX).ok().flatten().as_deref() != Some(member.path.as_str()) {
            return Err(changed(&member.path));
        }
        visit(member, entry)?;
        Ok(if todo.peek().is_some() { Flow::Next } else { Flow::Stop })
    })?;
    match todo.next() {
        Some(m) => Err(changed(&m.path)),
        None => Ok(()),
    }
}

fn changed(member: &str) -> BundleError {
    BundleError::Damaged { member: member.to_owned(), what: "the bundle changed since it was listed".into() }
}

/// The content of one regular file `member`.
pub(crate) fn open(path: &Path, compression: Compression, member: &Member) -> Result<Box<dyn Read + Send>, BundleError> {
    let read = |e| BundleError::Read { path: path.to_owned(), source: e };
    let mut input = stream::open(path, compression, None).map_err(read)?;
    match compression {
        Compression::None => {
            input.seek(SeekFrom::Start(member.at.data_start)).map_err(read)?;
        }
        _ => {
            let skipped = io::copy(&mut (&mut input).take(member.at.data_start), &mut io::sink()).map_err(|e| BundleError::reading(path, Some(&member.path), e))?;
            if skipped < member.at.data_start {
                return Err(BundleError::Truncated { where_: format!("at member `{}`", member.path), what: "the stream ends before the member's data".into() });
            }
        }
    }
    Ok(Box::new(Exact { inner: input.take(member.size), left: member.size }))
}

/// A member's content that must have all its declared bytes: ending early is an error.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("the member ends {} bytes before its declared size", self.left)));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Walks every entry of the tar in `path`, calling `each` with the entry's ordinal among
/// those the tar reader yields; then, unless `each` stopped early, checks the stream
/// reached the tar's end blocks rather than end of file.
fn walk_entries(path: &Path, compression: Compression, ratio: Option<Ratio>, mut each: impl FnMut(usize, &mut Entry<'_>) -> Result<Flow, BundleError>) -> Result<(), BundleError> {
    let input = stream::open(path, compression, ratio).map_err(|e| BundleError::Read { path: path.to_owned(), source: e })?;
    let mut archive = tar::Archive::new(input);
    let mut last: Option<String> = None;
    {
        let entries = match compression {
            Compression::None => archive.entries_with_seek(),
            _ => archive.entries(),
        };
        let entries = entries.map_err(|e| BundleError::reading(path, None, e))?;
        for (index, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| BundleError::reading(path, last.as_deref(), e))?;
            last = Some(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
            match each(index, &mut entry) {
                Ok(Flow::Next) => {}
                Ok(Flow::Stop) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
    if archive.into_inner().hit_eof {
        return Err(BundleError::Truncated {
            where_: last.map_or_else(|| "before its first member".to_owned(), |m| format!("at member `{m}`")),
            what: "the tar ends without its end-of-archive blocks".into(),
        });
    }
    Ok(())
}
