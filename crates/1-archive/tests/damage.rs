//! Damages every fixture archive at many offsets (truncation, flipped and overwritten bytes)
//! and requires a clean outcome each time: no panic, no allocation beyond a fixed bound,
//! error offsets inside the input — and, for truncation, an error that is actually reported.

// Test code: a panic (unwrap) is the failure report, and stderr is where a test explains it.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};

use pgsurge_archive::{verify, Archive, Error};

/// Fails any single allocation larger than this: a corrupt length must never turn into an
/// allocation the input does not pay for.
const MAX_ALLOCATION: usize = 64 << 20;

struct BoundedAlloc;

// SAFETY: delegates to the system allocator; only refuses (by aborting with a message)
// requests above the bound.
unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            eprintln!("allocation of {} bytes exceeds the test bound", layout.size());
            std::process::abort();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION {
            eprintln!("reallocation to {new_size} bytes exceeds the test bound");
            std::process::abort();
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Custom and tar fixtures (directory archives are damaged file by file below).
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let dumps = testdata().join("dumps");
    let dirs = std::fs::read_dir(&dumps).unwrap_or_else(|e| panic!("{}: {e}; run tools/regen-testdata.sh", dumps.display()));
    for dir in dirs.flatten() {
        for f in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let p = f.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if p.is_file() && (name.ends_with(".dump") || name.ends_with(".tar")) && name.starts_with("src.") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures under {}", dumps.display());
    out
}

/// Outcome of reading damaged bytes both ways: whether any error (an entry's, or damage
/// found accounting for the archive's bytes) was reported.
fn read_all(bytes: &[u8]) -> bool {
    let len = bytes.len() as u64;
    let check = |e: &Error| {
        if let Some(offset) = e.location().offset {
            assert!(offset <= len, "error offset {offset} beyond input length {len}: {e}");
        }
    };
    let verified = |mut a: Archive| {
        let report = verify::verify(&mut a, 1);
        report.entries.iter().filter_map(|e| e.error.as_ref()).chain(&report.layout.damage).for_each(check);
        !report.is_sound()
    };
    let failed = match Archive::open_bytes(bytes.to_vec(), None) {
        Ok(a) => verified(a),
        Err(e) => {
            check(&e);
            true
        }
    };
    let stream_failed = match Archive::open_stream(Box::new(std::io::Cursor::new(bytes.to_vec())), None) {
        Ok(a) => verified(a),
        Err(e) => {
            check(&e);
            true
        }
    };
    failed || stream_failed
}

/// Offsets to damage: every third byte of the first 300 (header and start of the TOC),
/// then an evenly spread sample of about 60 more.
fn offsets(len: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..len.min(300)).step_by(3).collect();
    let step = (len / 60).max(1);
    v.extend((300..len).step_by(step));
    v
}

#[test]
fn sound_fixtures_verify_clean() {
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        let mut a = Archive::open_bytes(bytes.clone(), None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let report = verify::verify(&mut a, 2);
        for e in &report.entries {
            assert!(e.error.is_none(), "{}: {:?}", path.display(), e.error.as_ref().map(ToString::to_string));
        }
        let damage: Vec<String> = report.layout.damage.iter().map(ToString::to_string).collect();
        assert!(damage.is_empty() && report.layout.warnings.is_empty(), "{}: {damage:?} {:?}", path.display(), report.layout.warnings);
        let mut a = Archive::open_stream(Box::new(std::io::Cursor::new(bytes)), None).unwrap();
        let streamed = verify::verify(&mut a, 1);
        assert!(streamed.is_sound(), "{} read in one pass: {:?}", path.display(), streamed.layout.damage);
        assert_eq!(streamed.layout.toc_copy, report.layout.toc_copy, "{}", path.display());
    }
}

#[test]
fn truncated_archives_fail_cleanly() {
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        // Every byte is accounted for, so a cut anywhere is damage — but for one: pg_dump 16+
        // writing to redirected stdout appends a TOC copy nobody reads, and cut just before
        // it, the archive is what pg_dump writes to a pipe.
        let copy = verify::verify(&mut Archive::open_bytes(bytes.clone(), None).unwrap(), 1).layout.toc_copy;
        for cut in offsets(bytes.len()) {
            if Some(cut as u64) != copy {
                assert!(read_all(&bytes[..cut]), "{} truncated to {cut} bytes was reported sound", path.display());
            }
        }
    }
}

#[test]
fn damaged_bytes_never_panic() {
    for path in fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        for at in offsets(bytes.len()) {
            for pattern in [0xffu8, 0x01] {
                let mut damaged = bytes.clone();
                damaged[at] ^= pattern;
                read_all(&damaged);
            }
            let mut huge = bytes.clone();
            let end = (at + 5).min(huge.len());
            for b in &mut huge[at..end] {
                *b = 0x7f;
            }
            read_all(&huge);
        }
    }
}

#[test]
fn directory_archive_with_missing_or_cut_file_is_reported() {
    let src = testdata().join("dumps/pg18/src.dir.gzip");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a");
    copy_dir(&src, &dir);
    let mut a = Archive::open_path(&dir, None).unwrap();
    let victim = a.toc().entries.iter().find(|e| e.is_table_data() && e.has_data()).unwrap().clone();
    let report = verify::verify(&mut a, 1);
    assert!(report.is_sound());
    let file = std::fs::read_dir(&dir).unwrap().flatten().map(|f| f.path()).find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{}.dat", victim.dump_id))).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let report = verify::verify(&mut Archive::open_path(&dir, None).unwrap(), 1);
    let bad: Vec<_> = report.entries.iter().filter(|e| e.error.is_some()).collect();
    assert_eq!(bad.len(), 1, "exactly the cut entry is damaged");
    assert_eq!(bad[0].entry.dump_id, victim.dump_id);
    std::fs::remove_file(&file).unwrap();
    let report = verify::verify(&mut Archive::open_path(&dir, None).unwrap(), 1);
    let err = report.entries.iter().find_map(|e| e.error.as_ref()).unwrap().to_string();
    assert!(err.contains(&format!("entry {}", victim.dump_id)) && err.contains("could not open"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())).flatten() {
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
}
