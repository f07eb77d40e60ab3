//! Unit tests of the custom format reader on hand-built archives, and the byte helpers other modules' tests build archives with.

use super::*;

pub(crate) fn int(v: i32) -> Vec<u8> {
    let mut out = vec![u8::from(v < 0)];
    out.extend_from_slice(&v.unsigned_abs().to_le_bytes());
    out
}

pub(crate) fn block(kind: u8, id: i32, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend(int(id));
    for c in chunks {
        out.extend(int(c.len() as i32));
        out.extend_from_slice(c);
    }
    out.extend(int(0));
    out
}

pub(crate) fn stream(bytes: Vec<u8>) -> CustomData {
    CustomData::new(Input::stream(Box::new(io::Cursor::new(bytes)), 0), &[])
}

#[test]
fn scans_past_other_blocks_and_refuses_going_back() {
    let mut bytes = block(BLK_DATA, 7, &[b"a\n", b"\\.\n\n\n"]);
    bytes.extend(block(BLK_DATA, 9, &[b"b\n"]));
    let mut data = stream(bytes);
    assert_eq!(data.open_block(DumpId(9), None).unwrap(), BLK_DATA);
    let mut out = Vec::new();
    RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"b\n");
    assert!(data.was_passed(DumpId(7)));
    let err = data.open_block(DumpId(7), None).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::BlockNotFoundStream(DumpId(7))), "{err}");
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
    assert_eq!(data.open_block(DumpId(5), None).unwrap(), BLK_BLOBS);
    assert_eq!(data.next_blob().unwrap(), Some(Oid(16500)));
    let mut out = Vec::new();
    RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"x");
    assert_eq!(data.next_blob().unwrap(), Some(Oid(3_000_000_000)));
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
    data.open_block(DumpId(1), None).unwrap();
    let mut two = [0u8; 2];
    data.read_raw(&mut two).unwrap();
    data.open_block(DumpId(2), None).unwrap();
    let mut out = Vec::new();
    RawChunks { data: &mut data }.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"z");
}

/// A data area of one-chunk blocks numbered from 1, and where each block ends.
pub(crate) fn area(bodies: &[&[u8]]) -> (Vec<u8>, Vec<u64>) {
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for (id, body) in (1..).zip(bodies) {
        bytes.extend(block(BLK_DATA, id, &[body]));
        ends.push(bytes.len() as u64);
    }
    (bytes, ends)
}

/// A spool holding `bytes` whole, read through a data area that starts at 0.
fn spooled(bytes: &[u8]) -> (tempfile::NamedTempFile, Arc<Spool>, CustomData) {
    spooled_with(bytes, &[])
}

/// The same, with the block offsets a TOC gave.
fn spooled_with(bytes: &[u8], offsets: &[(DumpId, Option<u64>)]) -> (tempfile::NamedTempFile, Arc<Spool>, CustomData) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let reader = std::fs::OpenOptions::new().read(true).write(true).open(file.path()).expect("open");
    let spool = Arc::new(Spool::new(reader));
    let mut writer = file.reopen().expect("reopen");
    spool.fill(&mut io::Cursor::new(bytes.to_vec()), &mut writer).expect("fill");
    let data = CustomData::new(Input::spooled(Arc::clone(&spool), 0), offsets);
    (file, spool, data)
}

pub(crate) fn read_block(data: &mut CustomData, id: DumpId) -> Vec<u8> {
    data.open_block(id, None).expect("open");
    let mut out = Vec::new();
    RawChunks { data }.read_to_end(&mut out).expect("read");
    out
}

#[test]
fn forks_share_what_a_scan_found() {
    let (bytes, ends) = area(&[b"one", b"two", b"three"]);
    let second = ends[0];
    let (_file, _spool, mut a) = spooled(&bytes);
    let mut b = a.fork().expect("fork");
    assert_eq!(read_block(&mut a, DumpId(3)), b"three");
    // The scan passed blocks 1 and 2 and stopped at 3, whose reader then reached its end.
    assert_eq!(b.position(DumpId(2)), Some(second));
    assert_eq!(a.shared.lock().frontier, bytes.len() as u64);
    assert_eq!(read_block(&mut b, DumpId(2)), b"two");
    assert_eq!(read_block(&mut b, DumpId(1)), b"one");
}

#[test]
fn blocks_are_given_back_once_done_and_passed() {
    let (bytes, ends) = area(&[b"one", b"not wanted", b"three"]);
    let (end1, end2, total) = (ends[0], ends[1], ends[2]);
    let (_file, spool, mut a) = spooled(&bytes);
    let release = a.release_into(Arc::clone(&spool), [1, 3].into_iter().map(DumpId).collect());
    let mut b = a.fork().expect("fork");
    // Block 1 opened but abandoned: nothing can be given back while its end is unknown.
    a.open_block(DumpId(1), None).expect("open");
    release.done(DumpId(1));
    assert_eq!(spool.held(), total);
    // A scan for 3 passes 1 (done) and 2 (not wanted): both go.
    assert_eq!(read_block(&mut b, DumpId(3)), b"three");
    assert_eq!(spool.held(), total - end2);
    let mut buf = [0u8; 4];
    assert!(spool.read_at(end1, &mut buf).is_err());
    release.done(DumpId(3));
    assert_eq!(spool.held(), 0);
}

#[test]
fn a_block_read_to_its_end_goes_when_done() {
    let (bytes, ends) = area(&[b"one", b"two"]);
    let (end1, total) = (ends[0], ends[1]);
    let (_file, spool, mut a) = spooled(&bytes);
    let release = a.release_into(Arc::clone(&spool), [1, 2].into_iter().map(DumpId).collect());
    assert_eq!(read_block(&mut a, DumpId(1)), b"one");
    assert_eq!(spool.held(), total);
    release.done(DumpId(1));
    assert_eq!(spool.held(), total - end1);
    // Known now without a scan, and still readable.
    let mut b = a.fork().expect("fork");
    assert_eq!(read_block(&mut b, DumpId(2)), b"two");
}

#[test]
fn toc_offsets_place_every_block_up_front() {
    let (bytes, ends) = area(&[b"one", b"two"]);
    let (second, total) = (ends[0], ends[1]);
    let (_file, spool, data) = spooled_with(&bytes, &[(DumpId(1), Some(0)), (DumpId(2), Some(second))]);
    // Block 1 is not wanted: it goes at once, before anything was read.
    let _release = data.release_into(Arc::clone(&spool), [2].into_iter().map(DumpId).collect());
    assert_eq!(spool.held(), total - second);
}

/// Block 1 of four 512 kB chunks, then a small block 2.
fn long_then_short() -> (Vec<u8>, u64) {
    let part = vec![b'x'; 512 << 10];
    let parts: Vec<&[u8]> = vec![&part; 4];
    let mut bytes = block(BLK_DATA, 1, &parts);
    let second = bytes.len() as u64;
    bytes.extend(block(BLK_DATA, 2, &[b"two"]));
    (bytes, second)
}

/// Reads `n` bytes of the open block.
fn read_some(data: &mut CustomData, n: usize) {
    let mut left = n;
    let mut buf = vec![0u8; 64 << 10];
    while left > 0 {
        let want = left.min(buf.len());
        let got = data.read_raw(&mut buf[..want]).expect("read");
        assert!(got > 0);
        left -= got;
    }
}

#[test]
fn over_budget_a_long_block_goes_back_as_it_is_read() {
    let (bytes, second) = long_then_short();
    let (_file, spool, mut a) = spooled(&bytes);
    let _release = a.release_into(Arc::clone(&spool), [1, 2].into_iter().map(DumpId).collect());
    spool.set_budget(Some(1));
    let mut b = a.fork().expect("fork");
    a.open_block(DumpId(1), None).expect("open");
    read_some(&mut a, 3 << 19);
    // What block 1's reader has read is gone; a scan for block 2 resumes past it.
    let held = spool.held();
    assert!(held < bytes.len() as u64 - (256 << 10), "held {held}");
    assert!(spool.is_released(0));
    assert_eq!(read_block(&mut b, DumpId(2)), b"two");
    assert_eq!(b.position(DumpId(2)), Some(second));
    // Block 1 is read on to its end all the same.
    read_some(&mut a, 1 << 19);
    let mut rest = Vec::new();
    RawChunks { data: &mut a }.read_to_end(&mut rest).expect("read");
    assert!(rest.is_empty());
}

#[test]
fn under_budget_a_block_stays_whole_until_done() {
    let (bytes, _) = long_then_short();
    let (_file, spool, mut a) = spooled(&bytes);
    let _release = a.release_into(Arc::clone(&spool), [1, 2].into_iter().map(DumpId).collect());
    a.open_block(DumpId(1), None).expect("open");
    read_some(&mut a, 3 << 19);
    assert_eq!(spool.held(), bytes.len() as u64);
    assert!(!spool.is_released(0));
}
