//! Extracting whole bundles: what is written, and each hostile member refused before
//! anything is.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::build::*;
use crate::*;

fn bundle(name: &str, bytes: &[u8]) -> (tempfile::TempDir, Bundle) {
    let (dir, path) = file(name, bytes);
    let b = ok(Bundle::open(&path));
    (dir, b)
}

fn mode(p: &Path) -> u32 {
    ok(std::fs::symlink_metadata(p)).permissions().mode() & 0o7777
}

/// Extracts into a fresh folder and returns the error, checking nothing was written.
fn refused(b: &Bundle, options: &ExtractOptions) -> BundleError {
    let out = ok(tempfile::tempdir());
    let e = b.extract(out.path(), options).err().unwrap_or_else(|| panic!("extracted: {:?}", tree(out.path())));
    assert_eq!(tree(out.path()), Vec::<String>::new(), "{e}");
    e
}

#[test]
fn files_folders_and_links_are_extracted_without_the_dump() {
    let t = tar(&[
        E::File("db/app.dump", CUSTOM, 0o600),
        E::Dir("uploads", 0o2775),
        E::File("uploads/a.txt", b"hello", 0o4755),
        E::File("uploads/deep/b.txt", b"b", 0o640),
        E::Symlink("uploads/l", "a.txt"),
        E::Symlink("uploads/deep/up", "../a.txt"),
        E::Link("uploads/h", "uploads/a.txt"),
    ]);
    let (_d, b) = bundle("b.tgz", &gzip(&t));
    let out = ok(tempfile::tempdir());
    let dumps = b.dumps();
    let options = ExtractOptions { exclude: dumps.iter().map(|d| d.path.clone()).collect(), ..ExtractOptions::default() };
    let s = ok(b.extract(out.path(), &options));
    assert_eq!(s, ExtractSummary { files: 2, bytes: 6, dirs: 1, links: 3 });
    let o = out.path();
    assert_eq!(tree(o), ["uploads", "uploads/a.txt", "uploads/deep", "uploads/deep/b.txt", "uploads/deep/up", "uploads/h", "uploads/l"]);
    assert_eq!(ok(std::fs::read(o.join("uploads/l"))), b"hello");
    assert_eq!(ok(std::fs::read(o.join("uploads/deep/up"))), b"hello");
    assert_eq!(ok(std::fs::read_link(o.join("uploads/l"))).to_string_lossy(), "a.txt");
    assert_eq!(ok(std::fs::metadata(o.join("uploads/h"))).ino(), ok(std::fs::metadata(o.join("uploads/a.txt"))).ino());
    // setuid, setgid and sticky are stripped; folders stay writable by their owner.
    assert_eq!(mode(&o.join("uploads/a.txt")), 0o755);
    assert_eq!(mode(&o.join("uploads/deep/b.txt")), 0o640);
    assert_eq!(mode(&o.join("uploads")), 0o775);
}

#[test]
fn a_directory_archive_is_extracted_to_its_own_folder() {
    let toc = [b"PGDMP".as_slice(), &[1, 16, 0, 4, 8, 1, 3]].concat();
    let (_d, b) = bundle("b.zip", &zip(&[Z::File("backup/db/toc.dat", &toc, 0o600), Z::File("backup/db/3001.dat.gz", b"x", 0o600), Z::File("backup/uploads/a", b"a", 0o644)]));
    let dumps = b.dumps();
    assert_eq!((dumps[0].path.as_str(), dumps[0].format), ("backup/db", DumpFormat::Directory));
    let out = ok(tempfile::tempdir());
    let s = ok(b.extract_to_dir(&dumps[0].path, out.path().join("archive"), &ExtractOptions::default()));
    assert_eq!(s.files, 2);
    assert_eq!(tree(&out.path().join("archive")), ["3001.dat.gz", "toc.dat"]);
    assert_eq!(ok(std::fs::read(out.path().join("archive/toc.dat"))), toc);
}

#[test]
fn symlinks_that_lead_out_are_refused() {
    let cases: [&[E]; 5] = [
        // A link to /etc, then a member written "through" it.
        &[E::Symlink("uploads/x", "/etc"), E::File("uploads/x/passwd", b"root::0:0::/:/bin/sh\n", 0o644)],
        &[E::Dir("uploads", 0o755), E::Symlink("uploads/x", "/etc")],
        &[E::Symlink("uploads/x", "../../etc/passwd")],
        // Each link alone stays inside; together `b/..` leads above the folder.
        &[E::Symlink("a", "."), E::Symlink("c/d", "../a/..")],
        &[E::Symlink("uploads/x", "y"), E::File("uploads/x/f", b"f", 0o644)],
    ];
    for entries in cases {
        let (_d, b) = bundle("b.tar", &tar(entries));
        let e = refused(&b, &ExtractOptions::default());
        assert!(matches!(e, BundleError::Refused { .. }), "{e}");
    }
    // A zip symlink, too.
    let (_d, b) = bundle("b.zip", &zip(&[Z::Symlink("uploads/x", "/etc/passwd")]));
    assert!(matches!(refused(&b, &ExtractOptions::default()), BundleError::Refused { .. }));
}

#[test]
fn hard_links_devices_and_fifos_are_refused() {
    for entries in [
        &[E::Link("uploads/h", "/etc/passwd")][..],
        &[E::Link("uploads/h", "../etc/passwd")],
        &[E::Link("uploads/h", "uploads/later"), E::File("uploads/later", b"x", 0o644)],
        &[E::File("uploads/a", b"x", 0o644), E::Fifo("uploads/p")],
        &[E::Char("dev/null")],
    ] {
        let (_d, b) = bundle("b.tar", &tar(entries));
        let e = refused(&b, &ExtractOptions::default());
        assert!(matches!(&e, BundleError::Refused { member, .. } if member.starts_with("uploads/") || member == "dev/null"), "{e}");
    }
}

#[test]
fn bombs_stop_at_the_ratio_and_the_total() {
    // Zeros with a byte every 4 KiB: about 600 times smaller deflated, within the default.
    let zeros: Vec<u8> = (0..4u32 << 20).map(|i| if i % 4096 == 0 { (i >> 12) as u8 } else { 0 }).collect();
    let (_d, b) = bundle("b.zip", &zip(&[Z::File("small", b"ok", 0o644), Z::File("zeros", &zeros, 0o644)]));
    let strict = ExtractOptions { max_ratio: 100, ..ExtractOptions::default() };
    let out = ok(tempfile::tempdir());
    let e = b.extract(out.path(), &strict).err();
    assert!(matches!(e, Some(BundleError::RatioExceeded { ref member, .. }) if member == "zeros"), "{e:?}");
    // The member that was cut left no temporary file.
    assert_eq!(tree(out.path()), ["small"]);
    let e = refused(&b, &ExtractOptions { max_bytes: Some(1000), ..ExtractOptions::default() });
    assert!(matches!(e, BundleError::TooLarge { .. }), "{e}");
    // A tar.gz's stream is bounded as it is read.
    let (_d, b) = bundle("b.tgz", &gzip(&tar(&[E::File("zeros", &zeros, 0o644)])));
    let out = ok(tempfile::tempdir());
    let e = b.extract(out.path(), &strict).err();
    assert!(matches!(e, Some(BundleError::RatioExceeded { .. })), "{e:?}");
    assert_eq!(tree(out.path()), Vec::<String>::new());
}

#[test]
fn the_total_counts_bytes_written_and_leaves_no_temporary() {
    let (_d, b) = bundle("b.tar", &tar(&[E::File("a", &[1; 600], 0o644), E::File("b/c", &[2; 600], 0o644)]));
    let out = ok(tempfile::tempdir());
    // Declared sizes alone pass a limit checked up front only when they fit; here they
    // don't, so nothing is written at all.
    let e = b.extract(out.path(), &ExtractOptions { max_bytes: Some(1000), ..ExtractOptions::default() }).err();
    assert!(matches!(e, Some(BundleError::TooLarge { ref member, .. }) if member == "b/c"), "{e:?}");
    assert_eq!(tree(out.path()), Vec::<String>::new());
}

#[test]
fn a_non_empty_folder_is_refused_unless_merging() {
    let (_d, b) = bundle("b.tar", &tar(&[E::File("uploads/a", b"new", 0o644), E::File("uploads/b", b"b", 0o644)]));
    let out = ok(tempfile::tempdir());
    ok(std::fs::create_dir(out.path().join("uploads")));
    ok(std::fs::write(out.path().join("uploads/a"), b"old"));
    ok(std::fs::write(out.path().join("uploads/mine"), b"mine"));
    assert!(matches!(b.extract(out.path(), &ExtractOptions::default()), Err(BundleError::DirNotEmpty { .. })));
    ok(b.extract(out.path(), &ExtractOptions { merge: true, ..ExtractOptions::default() }));
    assert_eq!(tree(out.path()), ["uploads", "uploads/a", "uploads/b", "uploads/mine"]);
    assert_eq!(ok(std::fs::read(out.path().join("uploads/a"))), b"new");
    assert_eq!(ok(std::fs::read(out.path().join("uploads/mine"))), b"mine");
    // A folder that does not exist yet is made.
    ok(b.extract(out.path().join("new/sub"), &ExtractOptions::default()));
}

#[test]
fn merging_never_writes_through_a_symlink_already_there() {
    let (_d, b) = bundle("b.tar", &tar(&[E::File("uploads/a", b"new", 0o644)]));
    let out = ok(tempfile::tempdir());
    let elsewhere = ok(tempfile::tempdir());
    ok(std::os::unix::fs::symlink(elsewhere.path(), out.path().join("uploads")));
    let e = b.extract(out.path(), &ExtractOptions { merge: true, ..ExtractOptions::default() }).err();
    assert!(matches!(e, Some(BundleError::Refused { .. })), "{e:?}");
    assert_eq!(tree(elsewhere.path()), Vec::<String>::new());
}

#[test]
fn an_owner_is_given_to_everything_extracted() {
    // Only root may give files away.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let (_d, b) = bundle("b.tar", &tar(&[E::File("uploads/a", b"a", 0o644), E::Symlink("uploads/l", "a")]));
    let out = ok(tempfile::tempdir());
    ok(b.extract(out.path(), &ExtractOptions { owner: Some((1234, 5678)), ..ExtractOptions::default() }));
    for p in ["uploads", "uploads/a", "uploads/l"] {
        let m = ok(std::fs::symlink_metadata(out.path().join(p)));
        assert_eq!((m.uid(), m.gid()), (1234, 5678), "{p}");
    }
}
