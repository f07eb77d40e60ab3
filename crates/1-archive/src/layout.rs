//! Accounts for every byte of an archive beyond what its TOC entries' data streams cover, so
//! that `verify` notices what reading the TOC's entries alone never would: data blocks the
//! TOC does not know of (a damaged TOC count), bytes between or after the blocks, offsets
//! pointing into the TOC, and files or members nobody names.
//!
//! What is damage follows from what pg_dump writes (pg_backup_custom.c, pg_backup_directory.c, pg_backup_tar.c):
//!
//! * custom: the first data block starts where the TOC ends and the last one's terminator
//!   ends the file, each block claimed by exactly one entry with data — except that pg_dump
//!   16+ writing to redirected stdout appends a copy of the TOC, which is accepted when it
//!   equals the TOC but for data offsets;
//! * directory: `toc.dat` ends with its last entry. pg_dump writes into an empty directory
//!   one file per entry with data and per large object, nothing else. A file named as pg_dump
//!   names data (`<id>.dat`, `blob_<oid>.dat`, `blobs*.toc`) that no entry names is damage:
//!   data a damaged TOC no longer restores, like an unclaimed block. Any other file was put
//!   there later and pg_restore ignores it: a warning;
//! * tar: the same, member by member (`restore.sql` is pg_dump's too); the archive ends in
//!   at least two zero blocks (pg_dump writes exactly two).
//!
//! The walking of blocks is `custom`'s; this module only judges what it found.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bstr::ByteSlice;

use crate::custom::{Area, CustomData, Stretch};
use crate::error::{Error, ErrorKind};
use crate::header::{Format, Header};
use crate::input::{Input, MappedFile};
use crate::tar::{Member, TarIndex, TarStream};
use crate::ids::DumpId;
use crate::toc::{DataLocation, Toc, TocEntry};

/// Bytes of zeros pg_dump ends a tar archive with: two 512-byte blocks.
const TAR_END: u64 = 1024;

/// What accounting for an archive's bytes found.
#[derive(Debug, Default)]
pub struct Layout {
    /// Custom format: where the data area starts (the end of the TOC) and the archive ends.
    pub data_start: Option<u64>,
    pub end: Option<u64>,
    /// Data blocks (custom), members (tar) or files (directory) found.
    pub parts: u64,
    /// Custom format: where the TOC copy starts that pg_dump 16+ appends when writing to
    /// redirected stdout (not damage).
    pub toc_copy: Option<u64>,
    /// Bytes or TOC facts pg_dump never writes.
    pub damage: Vec<Error>,
    /// Things pg_restore ignores and that lose nothing: files or members nobody names.
    pub warnings: Vec<Error>,
    /// Why the archive could not be accounted for, if it could not (a spool still filling).
    pub not_checked: Option<&'static str>,
}

/// Custom format: the data area walked block by block, each block claimed or not.
pub(crate) fn custom(header: &Header, toc: &Toc, data: &mut CustomData) -> Layout {
    let anchors: BTreeSet<u64> = data_entries(toc).filter_map(|(_, offset)| offset).collect();
    let mut is_copy = |input: &mut Input| is_toc_copy(header, toc, input);
    let area = match data.walk_area(&anchors, &mut is_copy) {
        Some(area) => Some(area),
        None => data.walk_stream(&mut is_copy),
    };
    let Some(area) = area else {
        return Layout { not_checked: Some("the archive is read from a spool still filling"), ..Layout::default() };
    };
    let mut layout = Layout { data_start: Some(area.start), end: Some(area.end), ..Layout::default() };
    check_dump_ids(toc, &mut layout);
    check_offsets(toc, &area, &mut layout);
    judge_blocks(toc, &area, &mut layout);
    layout
}

/// The entries that have a data block, with the offset the TOC names for it.
fn data_entries(toc: &Toc) -> impl Iterator<Item = (&TocEntry, Option<u64>)> {
    toc.entries.iter().filter(|e| e.has_data()).filter_map(|e| match e.data {
        DataLocation::Block { offset } => Some((e, offset)),
        _ => None,
    })
}

/// Whether `input` holds a TOC equal to `toc` but for data offsets, and nothing after it.
fn is_toc_copy(header: &Header, toc: &Toc, input: &mut Input) -> bool {
    input.set_sizes(usize::from(header.int_size), usize::from(header.off_size));
    let Ok(copy) = Toc::parse(input, header, Format::Custom) else { return false };
    if !matches!(input.read_byte_or_eof(), Ok(None)) {
        return false;
    }
    let without_offset = |e: &TocEntry| match e.data {
        DataLocation::Block { .. } => TocEntry { data: DataLocation::Block { offset: None }, ..e.clone() },
        _ => e.clone(),
    };
    copy.entries.len() == toc.entries.len() && copy.entries.iter().zip(&toc.entries).all(|(a, b)| without_offset(a) == without_offset(b))
}

/// pg_dump numbers each object once: a dump id used twice is a damaged TOC.
fn check_dump_ids(toc: &Toc, layout: &mut Layout) {
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    for entry in &toc.entries {
        if !seen.insert(entry.dump_id) && reported.insert(entry.dump_id) {
            layout.damage.push(Error::new(ErrorKind::DuplicateDumpId(entry.dump_id)));
        }
    }
}

/// Offsets the TOC names must lie in the data area, one entry each.
fn check_offsets(toc: &Toc, area: &Area, layout: &mut Layout) {
    let mut named: HashMap<u64, DumpId> = HashMap::new();
    for (entry, offset) in data_entries(toc) {
        let Some(offset) = offset else { continue };
        let at_entry = |kind: ErrorKind| Error::new(kind).for_entry(entry.label());
        if offset < area.start {
            layout.damage.push(at_entry(ErrorKind::OffsetInsideToc { toc_end: area.start }).at(offset));
        } else if offset >= area.end {
            layout.damage.push(at_entry(ErrorKind::OffsetBeyondEnd { offset, len: area.end }));
        }
        match named.get(&offset) {
            Some(&other) => layout.damage.push(at_entry(ErrorKind::SharedOffset { other }).at(offset)),
            None => {
                named.insert(offset, entry.dump_id);
            }
        }
    }
}

/// Unclaimed blocks next to each other, reported as one finding.
struct Run {
    start: u64,
    end: u64,
    count: u64,
    /// The lowest and highest dump id among them.
    first: i64,
    last: i64,
}

impl Run {
    fn into_error(self) -> Error {
        let len = self.end.saturating_sub(self.start);
        let kind = if self.count == 1 {
            ErrorKind::UnclaimedBlock { id: self.first, len }
        } else {
            ErrorKind::UnclaimedBlocks { count: self.count, first: self.first, last: self.last, len }
        };
        Error::new(kind).at(self.start)
    }
}

/// Each block belongs to the entry whose id it carries, at the offset that entry names or,
/// without one, as the first of its id (the one pg_restore's scan finds); every other block,
/// and every byte that is no block, is damage.
fn judge_blocks(toc: &Toc, area: &Area, layout: &mut Layout) {
    let owners: HashMap<DumpId, (&TocEntry, Option<u64>)> = data_entries(toc).map(|(e, offset)| (e.dump_id, (e, offset))).collect();
    let mut first_of: HashMap<DumpId, u64> = HashMap::new();
    let mut run: Option<Run> = None;
    let mut after_block = false;
    for stretch in &area.stretches {
        let Stretch::Block { start, end, id } = *stretch else {
            if let Some(r) = run.take() {
                layout.damage.push(r.into_error());
            }
            match stretch {
                Stretch::Unreadable { start, end, at_header, cause } => layout.damage.push(unreadable(area, *start, *end, *at_header && after_block, cause)),
                Stretch::TocCopy { start } => layout.toc_copy = Some(*start),
                Stretch::Block { .. } => {}
            }
            after_block = false;
            continue;
        };
        layout.parts += 1;
        after_block = true;
        let owner = DumpId::try_from(id).ok().and_then(|id| owners.get(&id));
        let Some(&(entry, offset)) = owner else {
            match &mut run {
                Some(r) => {
                    r.end = end;
                    r.count += 1;
                    r.first = r.first.min(id);
                    r.last = r.last.max(id);
                }
                None => run = Some(Run { start, end, count: 1, first: id, last: id }),
            }
            continue;
        };
        if let Some(r) = run.take() {
            layout.damage.push(r.into_error());
        }
        let claimed = match offset {
            Some(named) => named,
            None => *first_of.entry(entry.dump_id).or_insert(start),
        };
        if claimed != start {
            layout.damage.push(Error::new(ErrorKind::StrayBlock { claimed }).for_entry(entry.label()).at(start));
        }
    }
    if let Some(r) = run.take() {
        layout.damage.push(r.into_error());
    }
}

/// What a stretch that is no block means, by where it lies. `trailing`: it follows a block
/// and starts with no block type at all.
fn unreadable(area: &Area, start: u64, end: u64, trailing: bool, cause: &str) -> Error {
    let len = end.saturating_sub(start);
    let cause = cause.to_owned();
    let kind = if end >= area.end {
        if trailing {
            ErrorKind::TrailingBytes { len }
        } else {
            ErrorKind::UnreadableToEnd { len, cause }
        }
    } else if start == area.start {
        ErrorKind::GapAfterToc { len, next: end, cause }
    } else {
        ErrorKind::UnreadableBlocks { len, next: end, cause }
    };
    Error::new(kind).at(start)
}

/// Directory format: `toc.dat` ends with its last entry; every other file is one pg_dump
/// writes for an entry or a large object.
pub(crate) fn directory(toc: &Toc, dir: &Path) -> Layout {
    let mut layout = Layout::default();
    check_dump_ids(toc, &mut layout);
    let toc_path = dir.join("toc.dat");
    // pg_dump writes toc.dat uncompressed; a compressed one is left unchecked.
    if let Ok(file) = File::open(&toc_path) {
        match MappedFile::open(&file) {
            Ok(map) => {
                let len = map.len();
                let mut input = Input::mapped(Arc::new(map), 0, len);
                if let Some(e) = toc_file_trailing(&mut input, Format::Directory) {
                    layout.damage.push(e.in_file(toc_path));
                }
            }
            Err(e) => layout.damage.push(Error::new(ErrorKind::Io(e)).in_file(toc_path)),
        }
    }
    let names = written_names(toc, Format::Directory);
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) => {
            layout.damage.push(Error::new(ErrorKind::Io(e)).in_file(dir));
            return layout;
        }
    };
    let mut unnamed = Vec::new();
    for item in listing.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if names.contains(&name) {
            layout.parts += 1;
        } else {
            unnamed.push((item.path(), name));
        }
    }
    unnamed.sort();
    for (path, name) in unnamed {
        unclaimed(&name, "file", |e| e.in_file(path), &mut layout);
    }
    layout
}

/// Reports a file or member no entry names: damage if its name is one pg_dump gives data,
/// else a warning.
fn unclaimed(name: &str, what: &'static str, place: impl FnOnce(Error) -> Error, layout: &mut Layout) {
    if names_data(name) {
        layout.damage.push(place(Error::new(ErrorKind::UnclaimedDataFile(what))));
    } else {
        layout.warnings.push(place(Error::new(ErrorKind::UnclaimedFile(what))));
    }
}

/// Whether pg_dump gives this name (but for a compression suffix) to an entry's data:
/// `<id>.dat`, `blob_<oid>.dat`, `blobs.toc`, `blobs_<id>.toc`.
fn names_data(name: &str) -> bool {
    let name = [".gz", ".lz4", ".zst"].iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name);
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(stem) = name.strip_suffix(".dat") {
        return number(stem.strip_prefix("blob_").unwrap_or(stem));
    }
    name == "blobs.toc" || name.strip_prefix("blobs_").and_then(|n| n.strip_suffix(".toc")).is_some_and(number)
}

/// Reads a header and TOC from `input` (at its start): the damage if bytes follow the TOC.
fn toc_file_trailing(input: &mut Input, format: Format) -> Option<Error> {
    let header = Header::parse(input, format).ok()?;
    let toc = Toc::parse(input, &header, format).ok()?;
    let pos = input.pos();
    let len = input.end()?.checked_sub(pos).filter(|&len| len > 0)?;
    Some(Error::new(ErrorKind::TocTrailing { len, count: toc.entries.len() }).at(pos))
}

/// The file (directory) or member (tar) names pg_dump writes for this TOC: `toc.dat`, each
/// entry's data file, `blob_<oid>.dat` for each large object the TOC lists, and — tar only —
/// the blobs TOCs (`blobs.toc` to 16, `blobs_<id>.toc` from 17) and `restore.sql`; in a
/// directory, with each compression suffix.
fn written_names(toc: &Toc, format: Format) -> HashSet<String> {
    let mut bare: Vec<String> = vec!["toc.dat".to_owned()];
    for entry in &toc.entries {
        if let DataLocation::File(name) = &entry.data {
            bare.push(name.to_str_lossy().into_owned());
        }
    }
    bare.extend(large_object_oids(toc).map(|oid| format!("blob_{oid}.dat")));
    match format {
        Format::Tar => {
            // A tar TOC names `<id>.dat` for a BLOBS entry too, but pg_dump writes its blobs
            // TOC under the directory format's name instead.
            for entry in toc.entries.iter().filter(|e| e.is_blobs()) {
                bare.push("blobs.toc".to_owned());
                bare.push(format!("blobs_{}.toc", entry.dump_id));
            }
            bare.push("restore.sql".to_owned());
            bare.into_iter().collect()
        }
        _ => bare.into_iter().flat_map(|n| ["", ".gz", ".lz4", ".zst"].map(|suffix| format!("{n}{suffix}"))).collect(),
    }
}

/// The large objects the TOC lists: a `BLOB` entry's tag (archive ≤ 1.15), each line of a
/// `BLOB METADATA` entry's definition (1.16).
fn large_object_oids(toc: &Toc) -> impl Iterator<Item = u32> + '_ {
    toc.entries.iter().flat_map(|entry| {
        let text: Vec<&[u8]> = if entry.desc_is("BLOB") {
            vec![entry.tag.as_slice()]
        } else if entry.desc_is("BLOB METADATA") {
            entry.defn.as_ref().map(|d| d.lines().collect()).unwrap_or_default()
        } else {
            Vec::new()
        };
        text.into_iter().filter_map(|t| t.to_str().ok().and_then(|t| t.trim().parse().ok()))
    })
}

/// Tar format, indexed: `toc.dat` ends with its last entry, every member is one pg_dump
/// writes, and the end-of-archive blocks are there.
pub(crate) fn tar_indexed(toc: &Toc, input: &Input, index: &TarIndex) -> Layout {
    let mut layout = Layout::default();
    check_dump_ids(toc, &mut layout);
    let end = input.end().unwrap_or(0);
    layout.end = Some(end);
    if let Some((_, m)) = index.find("toc.dat") {
        let toc_end = m.data_start.saturating_add(m.size);
        if let Some(mut window) = input.fork(m.data_start, toc_end) {
            if let Some(e) = toc_file_trailing(&mut window, Format::Tar) {
                layout.damage.push(e.in_file("toc.dat"));
            }
        }
    }
    let names = written_names(toc, Format::Tar);
    for m in &index.members {
        check_member(m, &names, &mut layout);
    }
    check_tar_end(index.members.last(), end, &mut layout);
    layout
}

/// Tar format, one pass: every member from here to the end is one pg_dump writes, as were
/// those passed on the way, and the end-of-archive blocks are there. (`toc.dat`'s own end is
/// not checked: its bytes were read at opening.)
pub(crate) fn tar_stream(toc: &Toc, input: &mut Input, walk: &mut TarStream, current: &mut Option<Member>) -> Layout {
    let mut layout = Layout::default();
    check_dump_ids(toc, &mut layout);
    let names = written_names(toc, Format::Tar);
    let mut passed: Vec<&String> = walk.passed.iter().filter(|n| !names.contains(n.as_str())).collect();
    passed.sort();
    for name in passed {
        unclaimed(name, "member", |e| e.in_file(name.clone()), &mut layout);
    }
    loop {
        match walk.next_member(input, current.as_ref()) {
            Ok(Some(m)) => {
                check_member(&m, &names, &mut layout);
                *current = Some(m);
            }
            Ok(None) => break,
            Err(e) => {
                layout.damage.push(e);
                return layout;
            }
        }
    }
    let end = input.pos();
    layout.end = Some(end);
    check_tar_end(current.as_ref(), end, &mut layout);
    layout
}

fn check_member(m: &Member, names: &HashSet<String>, layout: &mut Layout) {
    layout.parts += 1;
    if !names.contains(&m.name) {
        let header = m.data_start.saturating_sub(512);
        unclaimed(&m.name, "member", |e| e.in_file(m.name.clone()).at(header), layout);
    }
}

/// pg_dump ends a tar archive with two zero blocks after the last member's padded data; the
/// reader has already refused anything but zeros there.
fn check_tar_end(last: Option<&Member>, end: u64, layout: &mut Layout) {
    let after = last.map_or(0, Member::next_header);
    let zeros = end.saturating_sub(after);
    if zeros < TAR_END {
        layout.damage.push(Error::new(ErrorKind::TarNoEnd { zeros }).at(after.min(end)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::toc::Section;

    fn entry(dump_id: DumpId, desc: &str, data: DataLocation) -> TocEntry {
        TocEntry {
            had_dumper: !matches!(data, DataLocation::None),
            owner: None,
            data,
            ..TocEntry::new(dump_id, desc, &format!("t{dump_id}"), Section::Data, Vec::new())
        }
    }

    fn table(dump_id: DumpId, offset: Option<u64>) -> TocEntry {
        entry(dump_id, "TABLE DATA", DataLocation::Block { offset })
    }

    fn block(start: u64, end: u64, id: i64) -> Stretch {
        Stretch::Block { start, end, id }
    }

    fn judged(entries: Vec<TocEntry>, start: u64, end: u64, stretches: Vec<Stretch>) -> Vec<String> {
        let toc = Toc::from_entries(entries);
        let area = Area { start, end, stretches };
        let mut layout = Layout::default();
        check_offsets(&toc, &area, &mut layout);
        judge_blocks(&toc, &area, &mut layout);
        layout.damage.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_block_claimed_once_is_sound() {
        let damage = judged(vec![table(DumpId(1), Some(100)), table(DumpId(2), Some(150))], 100, 200, vec![block(100, 150, 1), block(150, 200, 2)]);
        assert!(damage.is_empty(), "{damage:?}");
        // Without offsets (written to a pipe), the first block of each id is the entry's.
        let damage = judged(vec![table(DumpId(1), None), table(DumpId(2), None)], 100, 200, vec![block(100, 150, 2), block(150, 200, 1)]);
        assert!(damage.is_empty(), "{damage:?}");
    }

    #[test]
    fn unclaimed_blocks_are_one_finding_per_run() {
        let damage = judged(
            vec![table(DumpId(2), None)],
            100,
            400,
            vec![block(100, 150, 9), block(150, 200, 7), block(200, 300, 2), block(300, 400, 8)],
        );
        assert_eq!(
            damage,
            [
                "at byte 100: 2 data blocks (dump ids 7 to 9, 100 bytes) that no TOC entry claims",
                "at byte 300: a data block of dump id 8 (100 bytes) that no TOC entry claims",
            ]
        );
    }

    #[test]
    fn a_second_block_of_an_entry_is_stray() {
        let damage = judged(vec![table(DumpId(1), None)], 100, 200, vec![block(100, 150, 1), block(150, 200, 1)]);
        assert_eq!(damage, ["entry 1 (TABLE DATA public.t1): at byte 150: a data block of this entry, which reads its data from byte 100 instead"]);
        let damage = judged(vec![table(DumpId(1), Some(150))], 100, 200, vec![block(100, 150, 1), block(150, 200, 1)]);
        assert_eq!(damage, ["entry 1 (TABLE DATA public.t1): at byte 100: a data block of this entry, which reads its data from byte 150 instead"]);
    }

    #[test]
    fn offsets_outside_the_data_area_or_shared() {
        let damage = judged(vec![table(DumpId(1), Some(40)), table(DumpId(2), Some(500)), table(DumpId(3), Some(100)), table(DumpId(4), Some(100))], 100, 200, vec![block(100, 200, 3)]);
        assert_eq!(
            damage,
            [
                "entry 1 (TABLE DATA public.t1): at byte 40: the entry's data offset points here, inside the header and TOC (which end at byte 100)",
                "entry 2 (TABLE DATA public.t2): data offset 500 lies beyond the end of the archive (200 bytes): the archive is truncated",
                "entry 4 (TABLE DATA public.t4): at byte 100: the entry's data offset points here, as entry 3's does",
            ]
        );
    }

    #[test]
    fn unreadable_bytes_are_named_by_where_they_lie() {
        let unreadable = |start, end, at_header| Stretch::Unreadable { start, end, at_header, cause: "why".into() };
        let damage = judged(
            vec![table(DumpId(1), None), table(DumpId(2), None)],
            100,
            500,
            vec![unreadable(100, 150, true), block(150, 200, 1), unreadable(200, 300, false), block(300, 400, 2), unreadable(400, 500, true)],
        );
        assert_eq!(
            damage,
            [
                "at byte 100: the 50 bytes between the end of the TOC and the first data block (at byte 150) belong to neither: why",
                "at byte 200: 100 bytes up to the next data block (at byte 300) are not readable data blocks: why",
                "at byte 400: 100 bytes follow the last data block, where pg_dump ends the archive",
            ]
        );
        // A block broken at its end, or nothing readable at all, is no trailing garbage.
        let damage = judged(vec![table(DumpId(1), None)], 100, 300, vec![block(100, 200, 1), unreadable(200, 300, false)]);
        assert_eq!(damage, ["at byte 200: the last 100 bytes of the archive are not readable data blocks: why"]);
        let damage = judged(vec![], 100, 300, vec![unreadable(100, 300, true)]);
        assert_eq!(damage, ["at byte 100: the last 200 bytes of the archive are not readable data blocks: why"]);
    }

    #[test]
    fn the_toc_copy_is_no_damage() {
        let toc = Toc::from_entries(vec![table(DumpId(1), None)]);
        let area = Area { start: 100, end: 300, stretches: vec![block(100, 200, 1), Stretch::TocCopy { start: 200 }] };
        let mut layout = Layout::default();
        judge_blocks(&toc, &area, &mut layout);
        assert!(layout.damage.is_empty());
        assert_eq!((layout.parts, layout.toc_copy), (1, Some(200)));
    }

    #[test]
    fn names_pg_dump_gives_data() {
        for name in ["2780.dat", "2780.dat.gz", "blob_16500.dat.zst", "blobs.toc", "blobs_2800.toc", "blobs_2800.toc.lz4"] {
            assert!(names_data(name), "{name}");
        }
        for name in ["README", "restore.sql", ".dat", "blob_.dat", "x2780.dat", "blobs_.toc", "2780.dat.bak", "sha256sums"] {
            assert!(!names_data(name), "{name}");
        }
    }

    #[test]
    fn written_names_cover_large_objects_of_both_layouts() {
        let mut metadata = entry(DumpId(5), "BLOB METADATA", DataLocation::None);
        metadata.defn = Some("16500\n16501\n".into());
        let blob = TocEntry { tag: "16600".into(), ..entry(DumpId(6), "BLOB", DataLocation::None) };
        let blobs = entry(DumpId(7), "BLOBS", DataLocation::File("blobs_7.toc".into()));
        let toc = Toc::from_entries(vec![metadata, blob, blobs, entry(DumpId(8), "TABLE DATA", DataLocation::File("8.dat".into()))]);
        let dir = written_names(&toc, Format::Directory);
        for name in ["toc.dat", "8.dat.gz", "blobs_7.toc", "blob_16500.dat.lz4", "blob_16501.dat", "blob_16600.dat.zst"] {
            assert!(dir.contains(name), "{name}");
        }
        assert!(!dir.contains("restore.sql"));
        let tar = written_names(&toc, Format::Tar);
        for name in ["toc.dat", "8.dat", "blobs.toc", "blobs_7.toc", "blob_16600.dat", "restore.sql"] {
            assert!(tar.contains(name), "{name}");
        }
        assert!(!tar.contains("8.dat.gz"));
    }
}
