//! `verify`'s walk over a custom archive's data area: from the end of the TOC to the end of the
//! input, every byte accounted for as a whole block, an unreadable stretch (with where blocks
//! resume after it), or pg_dump's TOC copy — over a file, or after a pipe was read. The
//! findings are judged in `layout`.

use super::*;

/// One stretch of a custom archive's data area, in file order, as [`CustomData::walk_area`]
/// and [`CustomData::walk_stream`] find it.
#[derive(Debug)]
pub(crate) enum Stretch {
    /// A whole block: header, chunk lists, terminators.
    Block { start: u64, end: u64, id: i64 },
    /// Bytes that do not read as blocks. `at_header`: the first byte is not even a block type
    /// (something other than a block follows), rather than a block broken inside.
    Unreadable { start: u64, end: u64, at_header: bool, cause: String },
    /// The TOC again, up to the end of the file (pg_dump 16+ writing to redirected stdout).
    TocCopy { start: u64 },
}

/// A custom archive's data area, from the end of the TOC to the end of the input, accounted
/// for in stretches that follow each other without a gap.
#[derive(Debug)]
pub(crate) struct Area {
    pub start: u64,
    pub end: u64,
    pub stretches: Vec<Stretch>,
}

/// Why reading a block's framing stopped short.
enum Skip {
    Damaged(Error),
    /// The work budget for looking for blocks ran out.
    OutOfBudget,
}

impl From<Error> for Skip {
    fn from(e: Error) -> Self {
        Skip::Damaged(e)
    }
}

impl Skip {
    /// Whether the byte at `start` is not a block type at all, and why reading stopped, the
    /// offset left out where it is `start` itself.
    fn describe(&self, start: u64) -> (bool, String) {
        match self {
            Skip::Damaged(e) => describe(e, start),
            Skip::OutOfBudget => (false, "too damaged to find where blocks resume".to_owned()),
        }
    }
}

pub(super) fn describe(e: &Error, start: u64) -> (bool, String) {
    let here = e.location().offset == Some(start);
    let at_header = here && matches!(e.kind(), ErrorKind::BadBlockType(_));
    (at_header, if here { e.kind().to_string() } else { e.to_string() })
}

/// Reads the framing of one whole block at the input's position — header, chunk lengths,
/// OIDs, terminators — skipping its contents and recording nothing; `None` at the end of the
/// input. Each chunk length read costs one unit of `budget`.
fn skip_block(input: &mut Input, budget: &mut u64) -> Result<Option<(u8, i64)>, Skip> {
    let pos = input.pos();
    let Some(kind) = input.read_byte_or_eof()? else { return Ok(None) };
    if kind != BLK_DATA && kind != BLK_BLOBS {
        return Err(Error::new(ErrorKind::BadBlockType(kind)).at(pos).into());
    }
    let id = input.read_int()?;
    if kind == BLK_DATA {
        skip_chunks(input, budget)?;
    } else {
        // OIDs until the OID-0 terminator, each followed by its chunk list.
        while input.read_int()? != 0 {
            skip_chunks(input, budget)?;
        }
    }
    Ok(Some((kind, id)))
}

fn skip_chunks(input: &mut Input, budget: &mut u64) -> Result<(), Skip> {
    loop {
        *budget = budget.checked_sub(1).ok_or(Skip::OutOfBudget)?;
        let pos = input.pos();
        let len = input.read_int()?;
        match u64::try_from(len) {
            Err(_) => return Err(Error::new(ErrorKind::BadChunkLength(len)).at(pos).into()),
            Ok(0) => return Ok(()),
            Ok(n) => input.skip(n)?,
        }
    }
}

/// A block id pg_dump could have written: a dump id.
fn plausible_id(id: i64) -> bool {
    id > 0 && id <= i64::from(i32::MAX)
}

impl CustomData {
    /// Accounts for every byte of a file's data area, from the end of the TOC to the end of
    /// the file, in blocks read by their framing alone. Where the framing breaks, the bytes up
    /// to the next place where blocks plausibly resume are one unreadable stretch: an offset
    /// in `anchors` (those the TOC names) holding a whole block, or a whole block followed by
    /// another, by an anchor, by the end or by a TOC copy. `is_copy` says whether an input
    /// holds pg_dump's copy of the TOC and nothing after it. `None` unless the input is a
    /// whole file.
    pub(crate) fn walk_area(&self, anchors: &BTreeSet<u64>, is_copy: &mut dyn FnMut(&mut Input) -> bool) -> Option<Area> {
        if !self.input.is_seekable() || self.input.is_spooled() {
            return None;
        }
        let end = self.input.end()?;
        let mut input = self.input.fork(0, end)?;
        let mut stretches = Vec::new();
        let mut budget = RESYNC_BUDGET;
        let mut pos = self.data_start.min(end);
        while pos < end {
            input.seek(pos).ok()?;
            let mut unbounded = u64::MAX;
            match skip_block(&mut input, &mut unbounded) {
                Ok(Some((_, id))) => {
                    stretches.push(Stretch::Block { start: pos, end: input.pos(), id });
                    pos = input.pos();
                }
                Ok(None) => break,
                Err(skip) => {
                    let (at_header, cause) = skip.describe(pos);
                    if at_header && input.fork(pos, end).is_some_and(|mut rest| is_copy(&mut rest)) {
                        stretches.push(Stretch::TocCopy { start: pos });
                        break;
                    }
                    // pos < end, so pos + 1 cannot overflow.
                    let next = resync(&input, pos + 1, end, anchors, is_copy, &mut budget).unwrap_or(end);
                    stretches.push(Stretch::Unreadable { start: pos, end: next, at_header, cause });
                    pos = next;
                }
            }
        }
        Some(Area { start: self.data_start, end, stretches })
    }

    /// Accounts for every byte of a one-pass input's data area once its entries have been
    /// read: the blocks passed so far (their headers were logged), then the rest read to the
    /// end. Where the framing broke, everything after is one unreadable stretch, since a
    /// stream cannot go back to look for where blocks resume. `is_copy` as for
    /// [`walk_area`](Self::walk_area); the candidate copy is held in memory, at most as many
    /// bytes as the header and TOC took. `None` unless the input is a stream.
    pub(crate) fn walk_stream(&mut self, is_copy: &mut dyn FnMut(&mut Input) -> bool) -> Option<Area> {
        if self.input.is_seekable() {
            return None;
        }
        let mut copy_at = None;
        match &mut self.lost {
            // Reading the entries broke off here while some still wanted their blocks: what
            // follows is not known to be trailing bytes.
            Some((_, at_header, _)) => *at_header = false,
            // The last block read may have been left unfinished; a failure is noted in `lost`.
            None => {
                let _ = self.finish_block();
            }
        }
        while self.lost.is_none() {
            let pos = self.input.pos();
            self.header_at = pos;
            let mut unbounded = u64::MAX;
            match skip_block(&mut self.input, &mut unbounded) {
                Ok(Some((_, id))) => self.headers.push((pos, id)),
                Ok(None) => break,
                Err(skip) => {
                    let (at_header, cause) = skip.describe(pos);
                    if at_header && matches!(&skip, Skip::Damaged(e) if matches!(e.kind(), ErrorKind::BadBlockType(0))) {
                        // A TOC copy starts with its entry count, whose sign byte is 0.
                        if self.stream_holds_copy(pos, is_copy) {
                            copy_at = Some(pos);
                            break;
                        }
                    }
                    self.lost = Some((pos, at_header, cause));
                }
            }
        }
        // Whatever follows a break in the framing is read to the end, to say how much it is.
        if self.lost.is_some() {
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(n) = self.input.read_some(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
        let end = self.input.pos();
        let broken = self.lost.as_ref().map(|(start, _, _)| *start);
        let limit = broken.or(copy_at).unwrap_or(end);
        let mut stretches = Vec::new();
        let blocks: Vec<(u64, i64)> = self.headers.iter().copied().filter(|&(start, _)| start < limit).collect();
        for (i, &(start, id)) in blocks.iter().enumerate() {
            let block_end = blocks.get(i + 1).map_or(limit, |&(next, _)| next);
            stretches.push(Stretch::Block { start, end: block_end, id });
        }
        if let Some((start, at_header, cause)) = self.lost.take() {
            if end > start {
                stretches.push(Stretch::Unreadable { start, end, at_header, cause });
            }
        }
        if let Some(start) = copy_at {
            stretches.push(Stretch::TocCopy { start });
        }
        Some(Area { start: self.data_start, end, stretches })
    }

    /// Stream input, its type byte 0 at `start` just read: whether the rest of the input is
    /// pg_dump's TOC copy. A copy is as long as the TOC, so reading more than the header and
    /// TOC took means it is not one; the bytes read stay read.
    fn stream_holds_copy(&mut self, start: u64, is_copy: &mut dyn FnMut(&mut Input) -> bool) -> bool {
        let limit = usize::try_from(self.data_start).unwrap_or(usize::MAX);
        let mut held = vec![0u8];
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let Ok(n) = self.input.read_some(&mut buf) else { return false };
            if n == 0 {
                break;
            }
            held.extend_from_slice(&buf[..n]);
            if held.len() > limit {
                return false;
            }
        }
        is_copy(&mut Input::stream(Box::new(io::Cursor::new(held)), start))
    }
}

/// The first offset from `from` on where blocks plausibly resume (see
/// [`CustomData::walk_area`]), looking at each byte that could start a block header.
fn resync(input: &Input, from: u64, end: u64, anchors: &BTreeSet<u64>, is_copy: &mut dyn FnMut(&mut Input) -> bool, budget: &mut u64) -> Option<u64> {
    let mut reader = input.fork(from, end)?;
    let mut buf = vec![0u8; 64 << 10];
    let mut base = from;
    loop {
        let n = reader.read_some(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            if b != BLK_DATA && b != BLK_BLOBS {
                continue;
            }
            if *budget == 0 {
                return None;
            }
            let candidate = base + i as u64;
            if resumes_at(input, candidate, end, anchors, is_copy, budget) {
                return Some(candidate);
            }
        }
        base += n as u64;
    }
}

/// Whether a whole block starts at `pos` and is followed by what follows a block in an
/// archive: the end, another whole block, a block offset the TOC names, or the TOC copy.
fn resumes_at(input: &Input, pos: u64, end: u64, anchors: &BTreeSet<u64>, is_copy: &mut dyn FnMut(&mut Input) -> bool, budget: &mut u64) -> bool {
    let Some(mut probe) = input.fork(pos, end) else { return false };
    match skip_block(&mut probe, budget) {
        Ok(Some((_, id))) if plausible_id(id) => {}
        _ => return false,
    }
    let next = probe.pos();
    if next == end || anchors.contains(&pos) || anchors.contains(&next) {
        return true;
    }
    match skip_block(&mut probe, budget) {
        Ok(Some((_, id))) => plausible_id(id),
        Ok(None) => true,
        Err(_) => input.fork(next, end).is_some_and(|mut rest| is_copy(&mut rest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom::tests::{area, read_block, stream};

    /// A whole file's bytes as a data area starting at byte 0.
    fn mapped(bytes: &[u8]) -> CustomData {
        let len = bytes.len() as u64;
        CustomData::new(Input::mapped(Arc::new(crate::input::MappedFile::from_vec(bytes.to_vec())), 0, len), &[])
    }

    /// The stretches of an area in one line each.
    fn stretches(area: &Area) -> Vec<String> {
        area.stretches
            .iter()
            .map(|s| match s {
                Stretch::Block { start, end, id } => format!("block {id} {start}..{end}"),
                Stretch::Unreadable { start, end, at_header, .. } => format!("unreadable {start}..{end}{}", if *at_header { " at header" } else { "" }),
                Stretch::TocCopy { start } => format!("copy {start}"),
            })
            .collect()
    }

    /// Is-copy test for walks: the rest of the input is exactly `\0COPY`.
    fn copy_marker(input: &mut Input) -> bool {
        let mut rest = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(n) = input.read_some(&mut buf) {
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&buf[..n]);
        }
        rest == b"\0COPY"
    }

    #[test]
    fn walk_accounts_for_garbage_between_blocks_and_after_them() {
        // Blocks resume where a whole block is followed by another (or the end): a lone
        // block between garbage would be garbage too.
        let (mut bytes, ends) = area(&[b"one", b"two", b"three"]);
        let first = ends[0] as usize;
        // Block-like bytes inside the garbage (type 1, id 5, a chunk longer than the file)
        // are not taken for where blocks resume.
        let garbage = b"\x00\x07junk\x01\x00\x05\x00\x00\x00\x00\xff\xff\x00\x00";
        bytes.splice(first..first, garbage.iter().copied());
        let second = first + garbage.len();
        let third = ends[1] as usize + garbage.len();
        let before_tail = bytes.len();
        bytes.extend_from_slice(b"tail");
        let area = mapped(&bytes).walk_area(&BTreeSet::new(), &mut copy_marker).expect("file");
        assert_eq!(
            stretches(&area),
            [
                format!("block 1 0..{first}"),
                format!("unreadable {first}..{second} at header"),
                format!("block 2 {second}..{third}"),
                format!("block 3 {third}..{before_tail}"),
                format!("unreadable {before_tail}..{} at header", bytes.len()),
            ]
        );
    }

    #[test]
    fn walk_resumes_at_a_named_offset_and_accepts_the_toc_copy() {
        let (mut bytes, ends) = area(&[b"one", b"two"]);
        // Block 1's chunk length broken: the walk resumes at block 2, which the TOC names,
        // though what follows it is not a block but the TOC copy.
        bytes[6] = 1;
        let copy = bytes.len();
        bytes.extend_from_slice(b"\0COPY");
        let anchors: BTreeSet<u64> = [ends[0]].into();
        let area = mapped(&bytes).walk_area(&anchors, &mut copy_marker).expect("file");
        assert_eq!(stretches(&area), [format!("unreadable 0..{}", ends[0]), format!("block 2 {}..{copy}", ends[0]), format!("copy {copy}")]);
        assert!(matches!(&area.stretches[0], Stretch::Unreadable { cause, .. } if cause.contains("invalid chunk length")), "{area:?}");
    }

    /// A one-pass data area starting at byte `start` (past a header and TOC that long).
    fn stream_at(bytes: Vec<u8>, start: u64) -> CustomData {
        CustomData::new(Input::stream(Box::new(io::Cursor::new(bytes)), start), &[])
    }

    #[test]
    fn stream_walk_accounts_for_passed_blocks_and_the_rest() {
        let (mut bytes, ends) = area(&[b"one", b"two", b"three"]);
        bytes.extend_from_slice(b"\0COPY");
        // A copy is held in memory only up to the length of the header and TOC before.
        let at = |offset: u64| offset + 6;
        let mut data = stream_at(bytes.clone(), 6);
        assert_eq!(read_block(&mut data, DumpId(2)), b"two");
        let area = data.walk_stream(&mut copy_marker).expect("stream");
        assert_eq!(
            stretches(&area),
            [
                format!("block 1 6..{}", at(ends[0])),
                format!("block 2 {}..{}", at(ends[0]), at(ends[1])),
                format!("block 3 {}..{}", at(ends[1]), at(ends[2])),
                format!("copy {}", at(ends[2])),
            ]
        );
        assert_eq!(area.end, at(bytes.len() as u64));
        let mut data = stream_at(bytes.clone(), 4);
        let area = data.walk_stream(&mut copy_marker).expect("stream");
        assert_eq!(stretches(&area).last().map(String::as_str), Some(format!("unreadable {}..{} at header", ends[2] + 4, bytes.len() + 4).as_str()));

        // Something else after the blocks is read to the end all the same.
        bytes.push(b'!');
        let mut data = stream_at(bytes.clone(), 6);
        let area = data.walk_stream(&mut copy_marker).expect("stream");
        assert_eq!(stretches(&area).last().map(String::as_str), Some(format!("unreadable {}..{} at header", at(ends[2]), at(bytes.len() as u64)).as_str()));
    }

    #[test]
    fn stream_walk_stops_where_reading_broke_the_framing() {
        let (mut bytes, ends) = area(&[b"one", b"two", b"three"]);
        // Block 2's chunk length made negative: reading block 3 fails inside block 2.
        bytes[ends[0] as usize + 6] = 1;
        let mut data = stream(bytes.clone());
        assert!(data.open_block(DumpId(3), None).is_err());
        let area = data.walk_stream(&mut copy_marker).expect("stream");
        assert_eq!(stretches(&area), [format!("block 1 0..{}", ends[0]), format!("unreadable {}..{}", ends[0], bytes.len())]);
    }
}
