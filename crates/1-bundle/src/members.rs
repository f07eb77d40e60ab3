//! The members of a bundle as one list, the same for a zip and a tar: each name made a plain
//! relative path (`path`), its kind, size, mode, and the first bytes of each regular file,
//! kept while listing so a compressed tar is read once to list it and find its dumps. The
//! checks that need the whole list — duplicates, the member count — are made here, as the
//! list grows, so a bundle that opens has names that are all safe to join to a folder.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::Path;

use crate::error::BundleError;
use crate::limits::{Limits, HEAD, LONG_HEAD};
use crate::path::normalize;
use crate::probe::read_prefix;
use crate::sniff::wants_long_head;

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    File,
    Directory,
    /// A symbolic link, with its target as stored (not yet checked).
    Symlink { target: String },
    /// A tar hard link to an earlier member, by that member's name as stored.
    HardLink { target: String },
    /// A device, FIFO, socket or sparse file: listed, never extracted.
    Other { what: &'static str },
}

/// One member of a bundle.
#[derive(Debug, Clone)]
pub struct Member {
    /// Normalized relative path (`uploads/a/b.png`): no `.`, `..`, leading `/` or trailing `/`.
    pub path: String,
    pub kind: MemberKind,
    /// Bytes of content as the container declares them (0 for all but regular files).
    pub size: u64,
    /// Mode bits as stored (permissions and setuid/setgid/sticky; no file type); 0 when
    /// the container stores none.
    pub mode: u32,
    /// The first bytes of a regular file: [`HEAD`], or up to [`LONG_HEAD`] for one that may
    /// be a compressed or commented dump; fewer when the file is shorter.
    pub head: Vec<u8>,
    pub(crate) at: Location,
}

/// Where a member's bytes are in its container.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Location {
    /// The member's position among the container's entries (zip index; tar entry ordinal,
    /// counting every entry the tar reader yields).
    pub index: usize,
    /// Offset of the content: in the zip file, or in the tar's decompressed stream.
    pub data_start: u64,
    /// Compressed bytes of a zip member (its size for a tar member).
    pub compressed: u64,
    /// How a zip member's content is stored; `None` in a tar.
    pub zip: Option<ZipData>,
}

/// What reading a zip member's content needs beyond its offset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ZipData {
    pub method: zip::CompressionMethod,
    pub crc32: u32,
    pub encrypted: bool,
}

impl Member {
    pub fn is_file(&self) -> bool {
        self.kind == MemberKind::File
    }
}

/// Builds the member list while a container is walked, bounding what it holds.
pub(crate) struct Collector<'a> {
    bundle: &'a Path,
    limits: &'a Limits,
    pub members: Vec<Member>,
    /// Each member's position in `members`, by path.
    pub seen: HashMap<String, usize>,
    long_heads_left: u64,
}

impl<'a> Collector<'a> {
    pub fn new(bundle: &'a Path, limits: &'a Limits) -> Collector<'a> {
        Collector { bundle, limits, members: Vec::new(), seen: HashMap::new(), long_heads_left: limits.long_head_budget }
    }

    /// Adds the entry named `raw` (as stored); `content` is read for the head of a regular
    /// file. The bundle's root (`./`) is skipped; a folder listed twice is kept once.
    pub fn push(&mut self, raw: &[u8], kind: MemberKind, size: u64, mode: u32, content: Option<&mut dyn Read>, at: Location) -> Result<(), BundleError> {
        let lossy = || String::from_utf8_lossy(raw).into_owned();
        let path = match normalize(raw, self.limits.max_path) {
            Ok(Some(path)) => path,
            Ok(None) if kind == MemberKind::Directory => return Ok(()),
            Ok(None) => return Err(BundleError::BadName { member: lossy(), reason: "is empty".into() }),
            Err(reason) => return Err(BundleError::BadName { member: lossy(), reason }),
        };
        if let Some(&i) = self.seen.get(&path) {
            // `tar -r` and some zippers list a folder again; that is harmless, any other
            // repeat is not.
            if kind == MemberKind::Directory && self.members.get(i).is_some_and(|m| m.kind == MemberKind::Directory) {
                return Ok(());
            }
            return Err(BundleError::Duplicate { member: path });
        }
        if self.members.len() >= self.limits.max_members {
            return Err(BundleError::TooManyMembers { limit: self.limits.max_members });
        }
        let head = match content {
            Some(reader) if kind == MemberKind::File => match self.head(&path, reader) {
                Ok(head) => head,
                Err(e) => return Err(BundleError::reading(self.bundle, Some(&path), e)),
            },
            _ => Vec::new(),
        };
        self.seen.insert(path.clone(), self.members.len());
        self.members.push(Member { path, kind, size, mode: mode & 0o7777, head, at });
        Ok(())
    }

    /// The members, and each one's position by path.
    pub fn finish(self) -> (Vec<Member>, HashMap<String, usize>) {
        (self.members, self.seen)
    }

    fn head(&mut self, path: &str, reader: &mut dyn Read) -> io::Result<Vec<u8>> {
        let mut head = Vec::with_capacity(HEAD);
        read_prefix(&mut *reader, HEAD, &mut head)?;
        if head.len() == HEAD && self.long_heads_left >= LONG_HEAD as u64 && wants_long_head(path, &head) {
            read_prefix(&mut *reader, LONG_HEAD, &mut head)?;
            self.long_heads_left -= head.len() as u64;
        }
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_counts_are_bounded() {
        let limits = Limits { max_members: 2, ..Limits::default() };
        let mut c = Collector::new(Path::new("b.zip"), &limits);
        let at = Location::default();
        c.push(b"./", MemberKind::Directory, 0, 0o755, None, at).unwrap_or_else(|e| panic!("{e}"));
        c.push(b"a/", MemberKind::Directory, 0, 0o755, None, at).unwrap_or_else(|e| panic!("{e}"));
        c.push(b"./a", MemberKind::Directory, 0, 0o755, None, at).unwrap_or_else(|e| panic!("{e}"));
        let mut content: &[u8] = b"hello";
        c.push(b"a/x", MemberKind::File, 5, 0o4755, Some(&mut content), at).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.members.len(), 2);
        assert_eq!(c.members[1].head, b"hello");
        assert!(matches!(c.push(b"./a//x", MemberKind::File, 5, 0, None, at), Err(BundleError::Duplicate { member }) if member == "a/x"));
        assert!(matches!(c.push(b"a", MemberKind::File, 5, 0, None, at), Err(BundleError::Duplicate { .. })));
        assert!(matches!(c.push(b"b", MemberKind::File, 5, 0, None, at), Err(BundleError::TooManyMembers { limit: 2 })));
        assert!(matches!(c.push(b"../b", MemberKind::File, 5, 0, None, at), Err(BundleError::BadName { .. })));
    }
}
