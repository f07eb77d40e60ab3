//! Tar-format archives (pg_backup_tar.c): ustar member headers, read strictly forward
//! from a stream, or indexed once from a mapped file so any member can be read at any time.

use std::collections::{HashMap, HashSet};

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;

const BLOCK: u64 = 512;

/// One member's header facts. Built only by `read_header`, which refuses a size whose padded
/// end does not fit in a `u64`, so `data_end` and `next_header` cannot wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    /// Offset of the member's first data byte.
    pub data_start: u64,
    pub size: u64,
}

impl Member {
    /// Offset just past the member's data.
    pub fn data_end(&self) -> u64 {
        self.data_start + self.size
    }

    /// Offset just past the member's padded data: where the next header starts.
    pub fn next_header(&self) -> u64 {
        self.data_start + self.size.div_ceil(BLOCK) * BLOCK
    }
}

/// True if a 512-byte block is a tar header pg_restore would accept at the start of an
/// archive: valid checksum and a ustar magic.
pub(crate) fn looks_like_tar(block: &[u8]) -> bool {
    if block.len() < BLOCK as usize {
        return false;
    }
    let magic = &block[257..265];
    let magic_ok = magic == b"ustar\x0000" || magic == b"ustar  \x00" || magic == b"ustar00\x00";
    magic_ok && checksum_ok(block).unwrap_or(false)
}

fn checksum_ok(block: &[u8]) -> Option<bool> {
    let stored = parse_octal(&block[148..156])?;
    Some(stored == header_sum(block))
}

fn header_sum(block: &[u8]) -> u64 {
    block.iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { u64::from(b' ') } else { u64::from(b) }).sum()
}

/// An octal numeric field: optional leading spaces, octal digits, ended by space or NUL.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    let mut digits = 0;
    for &b in field {
        match b {
            b'0'..=b'7' => {
                value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            b' ' if digits == 0 => continue,
            b' ' | 0 => break,
            _ => return None,
        }
    }
    Some(value)
}

/// The size field: octal, or GNU base-256 when its first byte has the high bit set.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        Some(value)
    } else {
        parse_octal(field)
    }
}

/// Reads the next member header at the input's position, skipping all-zero blocks. `None` at
/// the end of the archive.
pub(crate) fn read_header(input: &mut Input) -> Result<Option<Member>> {
    let mut block = [0u8; BLOCK as usize];
    loop {
        let pos = input.pos();
        let mut filled = 0;
        while filled < block.len() {
            let n = input.read_some(&mut block[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None);
        }
        if filled < block.len() {
            return Err(Error::new(ErrorKind::Truncated { wanted: BLOCK, available: filled as u64 }).at(pos));
        }
        if block.iter().all(|&b| b == 0) {
            continue;
        }
        let name_end = block[..100].iter().position(|&b| b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&block[..name_end]).into_owned();
        let expected = parse_octal(&block[148..156]).unwrap_or(u64::MAX);
        let computed = header_sum(&block);
        if expected != computed {
            return Err(Error::new(ErrorKind::TarChecksum { member: name, expected, computed }).at(pos));
        }
        let data_start = input.pos();
        // A size field holds up to 2^95 (base-256): one whose padded end cannot be an offset
        // is damage, never arithmetic that wraps back to an earlier header.
        let size = parse_size(&block[124..136])
            .filter(|&size| size.checked_next_multiple_of(BLOCK).and_then(|padded| data_start.checked_add(padded)).is_some())
            .ok_or_else(|| Error::new(ErrorKind::TarSize(name.clone())).at(pos))?;
        return Ok(Some(Member { name, data_start, size }));
    }
}

/// The member layout of a mapped tar file, read once.
#[derive(Debug, Default, Clone)]
pub(crate) struct TarIndex {
    pub members: Vec<Member>,
    by_name: HashMap<String, usize>,
}

impl TarIndex {
    pub fn build(input: &mut Input) -> Result<TarIndex> {
        let mut index = TarIndex::default();
        input.seek(0)?;
        let end = input.end().unwrap_or(0);
        while let Some(member) = read_header(input)? {
            // Every size is held against the file's real length before it is trusted, and the
            // next header lies past this one's data: the walk always advances.
            if member.data_end() > end {
                return Err(Error::new(ErrorKind::Truncated { wanted: member.size, available: end.saturating_sub(member.data_start) })
                    .at(member.data_start)
                    .in_file(member.name.clone()));
            }
            let next = member.next_header().min(end);
            index.by_name.entry(member.name.clone()).or_insert(index.members.len());
            index.members.push(member);
            input.seek(next)?;
        }
        Ok(index)
    }

    pub fn find(&self, name: &str) -> Option<(usize, &Member)> {
        self.by_name.get(name).map(|&i| (i, &self.members[i]))
    }
}

/// Forward-only walk over a streamed tar archive.
#[derive(Debug, Default)]
pub(crate) struct TarStream {
    /// A header already read whose data has not been consumed.
    pub pending: Option<Member>,
    /// Member names already passed.
    pub passed: HashSet<String>,
    /// Data members (`<id>.dat`) still needed later; passing one is the out-of-order error.
    pub needed: HashSet<String>,
}

impl TarStream {
    /// Moves the input past the member it is in (if any) to the next header.
    fn leave_member(&mut self, input: &mut Input, member: &Member) -> Result<()> {
        let next = member.next_header();
        if input.pos() < next {
            input.skip(next - input.pos())?;
        }
        Ok(())
    }

    /// Reads the next member header, first skipping the rest of the current member.
    pub fn next_member(&mut self, input: &mut Input, current: Option<&Member>) -> Result<Option<Member>> {
        if let Some(m) = self.pending.take() {
            return Ok(Some(m));
        }
        if let Some(cur) = current {
            self.leave_member(input, cur)?;
        }
        read_header(input)
    }

    /// Walks forward to the member called `name`, leaving the input at its data.
    pub fn seek_member(&mut self, input: &mut Input, current: Option<&Member>, name: &str) -> Result<Member> {
        let mut cur = current.cloned();
        loop {
            let pos = input.pos();
            let Some(member) = self.next_member(input, cur.as_ref())? else {
                return Err(if self.passed.contains(name) {
                    Error::new(ErrorKind::TarOutOfOrder { wanted: name.to_owned(), current: "end of archive".to_owned() })
                } else {
                    Error::new(ErrorKind::TarMemberNotFound(name.to_owned()))
                }
                .at(pos));
            };
            if member.name == name {
                self.needed.remove(name);
                return Ok(member);
            }
            if self.needed.contains(&member.name) {
                return Err(Error::new(ErrorKind::TarOutOfOrder { wanted: member.name.clone(), current: name.to_owned() }).at(pos));
            }
            self.passed.insert(member.name.clone());
            cur = Some(member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::input::MappedFile;

    /// A ustar header for `name` with `size` written as GNU base-256, checksum filled in.
    fn header(name: &str, size: u64) -> Vec<u8> {
        let mut block = vec![0u8; BLOCK as usize];
        block[..name.len()].copy_from_slice(name.as_bytes());
        block[124] = 0x80;
        block[128..136].copy_from_slice(&size.to_be_bytes());
        block[257..265].copy_from_slice(b"ustar\x0000");
        block[148..156].copy_from_slice(b"        ");
        let sum = header_sum(&block);
        block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        block
    }

    fn index(bytes: Vec<u8>) -> Result<TarIndex> {
        let len = bytes.len() as u64;
        TarIndex::build(&mut Input::mapped(Arc::new(MappedFile::from_vec(bytes)), 0, len))
    }

    #[test]
    fn a_size_whose_end_wraps_is_refused() {
        // 2^64 - 512 once made the walk wrap back to the same header forever.
        let mut bytes = header("toc.dat", u64::MAX - 511);
        assert!(looks_like_tar(&bytes));
        bytes.extend([0u8; 1024]);
        let err = index(bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TarSize(_)), "{err}");
    }

    #[test]
    fn a_size_beyond_the_file_is_refused() {
        let mut bytes = header("toc.dat", 1 << 40);
        bytes.extend([0u8; 1024]);
        let err = index(bytes).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Truncated { .. }), "{err}");
    }

    #[test]
    fn a_wrapping_size_in_a_stream_is_refused() {
        let mut bytes = header("toc.dat", u64::MAX - 511);
        bytes.extend([0u8; 1024]);
        let mut input = Input::stream(Box::new(std::io::Cursor::new(bytes)), 0);
        let err = TarStream::default().seek_member(&mut input, None, "x.dat").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::TarSize(_)), "{err}");
    }

    #[test]
    fn members_are_indexed_in_order() {
        let mut bytes = header("a.dat", 3);
        bytes.extend(b"abc");
        bytes.resize(1024, 0);
        bytes.extend(header("b.dat", 0));
        bytes.extend([0u8; 1024]);
        let index = index(bytes).unwrap();
        assert_eq!(index.members.len(), 2);
        assert_eq!(index.find("b.dat").map(|(i, m)| (i, m.data_start)), Some((1, 1536)));
    }

    #[test]
    fn octal_and_base256_sizes() {
        assert_eq!(parse_size(b"00000001750 "), Some(1000));
        assert_eq!(parse_size(b"         12\0"), Some(10));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 0x01;
        big[10] = 0x02;
        assert_eq!(parse_size(&big), Some(0x0201));
        assert_eq!(parse_size(b"0000000x750 "), None);
    }
}
