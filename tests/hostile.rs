//! Hostile archives, each tried as a user would meet it: the real binary must answer with one
//! clear error and status 1, promptly, reading nothing outside its input.

use std::path::Path;

use crate::harness::{pgsurge, run, run_input, testdata};

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// A ustar header whose GNU base-256 size is `size`, checksum filled in.
fn tar_header(name: &str, size: u64) -> Vec<u8> {
    let mut block = vec![0u8; 512];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[124] = 0x80;
    block[128..136].copy_from_slice(&size.to_be_bytes());
    block[257..265].copy_from_slice(b"ustar\x0000");
    block[148..156].copy_from_slice(b"        ");
    let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
    block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    block
}

#[test]
fn tar_member_size_that_wraps_is_refused_from_file_and_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("evil.tar");
    let mut bytes = tar_header("toc.dat", u64::MAX - 511);
    bytes.extend([0u8; 1024]);
    std::fs::write(&evil, &bytes).unwrap();
    let out = run(&pgsurge(), &s(&["list", evil.to_str().unwrap()]), None);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("invalid size field in tar header of toc.dat"), "{}", out.stderr_text());
    let out = run_input(&pgsurge(), &s(&["list", "-"]), &[], Some(bytes));
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("invalid size field"), "{}", out.stderr_text());
}

/// A copy of the uncompressed directory fixture in `dir/archive`, with the first data file
/// name in its `toc.dat` replaced by `name` (same length, so the TOC stays well-formed).
fn directory_naming(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let src = testdata().join("dumps/pg18/src.dir.none");
    let archive = dir.join("archive");
    std::fs::create_dir(&archive).unwrap();
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(f.path(), archive.join(f.file_name())).unwrap();
    }
    let toc = std::fs::read(archive.join("toc.dat")).unwrap();
    let mut data_files: Vec<String> = std::fs::read_dir(&archive)
        .unwrap()
        .flatten()
        .map(|f| f.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == name.len() && n.ends_with(".dat") && n[..n.len() - 4].bytes().all(|b| b.is_ascii_digit()))
        .collect();
    data_files.sort();
    let victim = data_files.first().expect("a data file whose name has the wanted length").clone();
    let at = toc.windows(victim.len()).position(|w| w == victim.as_bytes()).expect("the name in toc.dat");
    let mut patched = toc.clone();
    patched[at..at + name.len()].copy_from_slice(name.as_bytes());
    std::fs::write(archive.join("toc.dat"), patched).unwrap();
    (archive, victim)
}

#[test]
fn directory_data_file_outside_the_archive_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.dat"), "SECRET-OUTSIDE-THE-ARCHIVE\n").unwrap();
    let (archive, _) = directory_naming(dir.path(), "../a.dat");
    let out = run(&pgsurge(), &s(&["sql", archive.to_str().unwrap()]), None);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(!out.stdout_text().contains("SECRET"), "read a file outside the archive");
    let err = out.stderr_text();
    assert!(err.contains("TABLE DATA") && err.contains("not a plain file name"), "{err}");
    let out = run(&pgsurge(), &s(&["verify", archive.to_str().unwrap()]), None);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(!out.stdout_text().contains("SECRET"));
}

#[test]
fn directory_data_file_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, victim) = directory_naming(dir.path(), "0000.dat");
    let fifo = archive.join("0000.dat");
    let _ = std::fs::remove_file(archive.join(&victim));
    let path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let out = run(&pgsurge(), &s(&["sql", archive.to_str().unwrap()]), None);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("not a regular file"), "{}", out.stderr_text());
}

/// A data file name with line breaks in a tar archive's TOC (as long as the real one, so the
/// TOC stays well-formed) cannot end the `-- File:` comment of a verbose script and add lines
/// of its choosing: pg_restore 18 prints the name as it is, pgsurge blanks the breaks as
/// pg_restore does for names.
#[test]
fn tar_data_file_name_cannot_break_out_of_its_comment() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut tar = std::fs::read(testdata().join("dumps/pg18/src.tar")).expect("the tar fixture");
    // The TOC is the first member: the first `NNNN.dat` is an entry's file name.
    let at = tar.windows(8).position(|w| w.ends_with(b".dat") && w[..4].iter().all(u8::is_ascii_digit)).expect("a data file name");
    tar[at..at + 8].copy_from_slice(b"a\nb\r\\! x");
    let evil = dir.path().join("evil.tar");
    std::fs::write(&evil, &tar).expect("the patched archive written");
    let out = run(&pgsurge(), &s(&["sql", "-v", evil.to_str().expect("a UTF-8 path")]), None);
    let script = out.stdout_text();
    assert!(!script.lines().any(|l| l == "b" || l.starts_with("\\!")), "{script}");
    // Shown blanked — or, if the reader refuses such a name, not shown at all.
    assert!(script.contains("-- File: a b \\! x\n") || (out.status == 1 && !script.contains("-- File: a")), "{script}");
}

/// An entry type with a line break cannot add a line to `-l`'s listing (which `-L` reads
/// back); pg_restore 18 prints the type as it is.
#[test]
fn entry_type_with_a_line_break_stays_on_its_listing_line() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut dump = std::fs::read(testdata().join("dumps/pg18/src.custom.none.dump")).expect("the custom fixture");
    // The one DEFAULT entry's type, with its length before it.
    let at = dump.windows(12).position(|w| w == b"\x00\x07\x00\x00\x00DEFAULT").expect("a DEFAULT entry") + 5;
    dump[at..at + 7].copy_from_slice(b"DEF\nULT");
    let evil = dir.path().join("evil.dump");
    std::fs::write(&evil, &dump).expect("the patched archive written");
    let out = run(&pgsurge(), &s(&["list", evil.to_str().expect("a UTF-8 path")]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    let listing = out.stdout_text();
    assert!(listing.lines().any(|l| l.contains(" DEF ULT public ")), "{listing}");
    assert!(!listing.lines().any(|l| l.starts_with("ULT")), "{listing}");
}
