//! Opening, listing, finding dumps and manifests, and streaming members of whole bundles.

use std::io::Read;

use super::build::*;
use crate::*;

fn open(name: &str, bytes: &[u8]) -> (tempfile::TempDir, Result<Bundle, BundleError>) {
    let (dir, path) = file(name, bytes);
    (dir, Bundle::open(&path))
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    ok(r.read_to_end(&mut out));
    out
}

#[test]
fn containers_are_told_from_bytes_not_names() {
    let t = tar(&[E::File("a.txt", b"hello", 0o644)]);
    for (bytes, want) in [
        (t.clone(), Container::Tar(Compression::None)),
        (gzip(&t), Container::Tar(Compression::Gzip)),
        (zstd(&t), Container::Tar(Compression::Zstd)),
        (zip(&[Z::File("a.txt", b"hello", 0o644)]), Container::Zip),
        (zip(&[]), Container::Zip),
    ] {
        let (_d, b) = open("backup.bin", &bytes);
        let b = ok(b);
        assert_eq!(b.container(), want);
        if want != Container::Zip || !b.members().is_empty() {
            assert_eq!(read_all(ok(b.open_member("a.txt"))), b"hello");
        }
    }
    let (_d, b) = open("dump.zip", CUSTOM);
    assert!(matches!(b, Err(BundleError::NotABundle { .. })));
    let (_d, b) = open("backup.sql.gz", &gzip(SCRIPT));
    assert!(matches!(b, Err(BundleError::NotABundle { .. })));
}

#[test]
fn a_pg_dump_tar_archive_is_not_a_bundle() {
    let archive = tar(&[E::File("toc.dat", CUSTOM, 0o600), E::File("3001.dat", b"1\n", 0o600)]);
    let (_d, path) = file("db.tar", &archive);
    assert_eq!(ok(probe(&path)), Probe::PgDumpTarArchive(Compression::None));
    assert!(matches!(Bundle::open(&path), Err(BundleError::PgDumpTar { .. })));
    // Inside a bundle, the same tar is a dump.
    let (_d, b) = open("b.zip", &zip(&[Z::File("db/app.tar", &archive, 0o644), Z::File("uploads/a.png", b"png", 0o644)]));
    let dumps = ok(b).dumps();
    assert_eq!(dumps.len(), 1);
    assert_eq!((dumps[0].path.as_str(), dumps[0].format, dumps[0].rule), ("db/app.tar", DumpFormat::Tar, Rule::TarToc));
}

#[test]
fn members_are_listed_with_kinds_sizes_modes_and_heads() {
    let t = tar(&[
        E::Dir("./", 0o755),
        E::Dir("./uploads/", 0o2775),
        E::File("./uploads/a.txt", b"hello", 0o4755),
        E::Symlink("./uploads/l", "a.txt"),
        E::Link("./uploads/h", "./uploads/a.txt"),
        E::Fifo("./uploads/p"),
    ]);
    let (_d, b) = open("b.tgz", &gzip(&t));
    let b = ok(b);
    let got: Vec<_> = b.members().iter().map(|m| (m.path.as_str(), m.kind.clone(), m.size, m.mode, m.head.as_slice())).collect();
    assert_eq!(
        got,
        [
            ("uploads", MemberKind::Directory, 0, 0o2775, &b""[..]),
            ("uploads/a.txt", MemberKind::File, 5, 0o4755, b"hello"),
            ("uploads/l", MemberKind::Symlink { target: "a.txt".into() }, 0, 0o777, b""),
            ("uploads/h", MemberKind::HardLink { target: "./uploads/a.txt".into() }, 0, 0o644, b""),
            ("uploads/p", MemberKind::Other { what: "FIFO" }, 0, 0o644, b""),
        ]
    );
    let big = vec![7u8; 10_000];
    let (_d, b) = open("b.zip", &zip(&[Z::File("big.bin", &big, 0o600), Z::Dir("empty/"), Z::Symlink("l", "big.bin")]));
    let b = ok(b);
    assert_eq!(b.members()[0].head, vec![7u8; HEAD]);
    assert_eq!(b.members()[1].kind, MemberKind::Directory);
    assert_eq!(b.members()[2].kind, MemberKind::Symlink { target: "big.bin".into() });
    assert_eq!(read_all(ok(b.open_member("big.bin"))), big);
}

#[test]
fn hostile_names_are_refused_at_open() {
    for name in ["../evil", "/etc/cron.d/x", "a/../../evil"] {
        let (_d, b) = open("b.tar", &tar(&[E::File(name, b"x", 0o644)]));
        assert!(matches!(b, Err(BundleError::BadName { .. })), "{name}: {b:?}");
    }
    for (placeholder, name) in [(&b"@@/evil"[..], &b"../evil"[..]), (b"@etc/pw", b"/etc/pw"), (b"@@x@@y", b"..\\..y"), (b"Q@/win", b"C:/win")] {
        let z = patch(zip(&[Z::File(std::str::from_utf8(placeholder).unwrap_or_default(), b"x", 0o644)]), placeholder, name);
        let (_d, b) = open("b.zip", &z);
        assert!(matches!(b, Err(BundleError::BadName { .. })), "{}: {b:?}", String::from_utf8_lossy(name));
    }
}

#[test]
fn duplicate_members_are_refused_at_open() {
    let (_d, b) = open("b.tar", &tar(&[E::File("a/x", b"1", 0o644), E::File("./a//x", b"2", 0o644)]));
    assert!(matches!(b, Err(BundleError::Duplicate { member }) if member == "a/x"));
    let (_d, b) = open("b.zip", &patch(zip(&[Z::File("a/x", b"1", 0o644), Z::File("a/y", b"2", 0o644)]), b"a/y", b"a/x"));
    assert!(b.is_err(), "{b:?}");
    let (_d, b) = open("b.tar", &tar(&[E::Dir("a", 0o755), E::Dir("a/", 0o700), E::File("a/x", b"1", 0o644)]));
    assert_eq!(ok(b).members().len(), 2);
}

#[test]
fn truncated_bundles_say_what_is_cut() {
    let big: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let t = tar(&[E::File("uploads/a.bin", &big, 0o644), E::File("uploads/b.bin", b"b", 0o644)]);
    for (name, bytes) in [("b.tar", t[..t.len() / 2].to_vec()), ("b.tar", t[..t.len() - 1024].to_vec()), ("b.tgz", gzip(&t)[..gzip(&t).len() / 2].to_vec())] {
        let (_d, b) = open(name, &bytes);
        assert!(matches!(b, Err(BundleError::Truncated { .. })), "{name} {}: {b:?}", bytes.len());
    }
    let z = zip(&[Z::File("uploads/a.bin", &big, 0o644)]);
    let (_d, b) = open("b.zip", &z[..z.len() / 2]);
    let e = b.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("cut short") && e.contains("central directory"), "{e}");
}

#[test]
fn dumps_are_found_in_each_shape() {
    let dir_toc = [b"PGDMP".as_slice(), &[1, 16, 0, 4, 8, 1, 3]].concat();
    let commented = [b"-- backup made by cron\n".as_slice(), SCRIPT].concat();
    let z = zip(&[
        Z::File("manifest.json", br#"{"database": "postgresql"}"#, 0o644),
        Z::File("db/app.dump", CUSTOM, 0o644),
        Z::File("dir/toc.dat", &dir_toc, 0o644),
        Z::File("dir/3001.dat.gz", &gzip(b"1\n"), 0o644),
        Z::File("plain/all.sql", &commented, 0o644),
        Z::File("gz/app.sql.gz", &gzip(SCRIPT), 0o644),
        Z::File("zst/app.sql.zst", &zstd(SCRIPT), 0o644),
        Z::File("gzcustom/app.dump.gz", &gzip(CUSTOM), 0o644),
        Z::File("named/schema.sql", b"CREATE TABLE t ();\n", 0o644),
        Z::File("uploads/photo.dump", b"\x89PNG\0\0", 0o644),
    ]);
    let (_d, b) = open("b.zip", &z);
    let got: Vec<_> = ok(b).dumps().into_iter().map(|d| (d.path, d.format, d.compression, d.rule)).collect();
    use Compression::*;
    assert_eq!(
        got,
        [
            ("dir".into(), DumpFormat::Directory, None, Rule::DirectoryToc),
            ("db/app.dump".into(), DumpFormat::Custom, None, Rule::CustomMagic),
            ("plain/all.sql".into(), DumpFormat::Script, None, Rule::ScriptHeader),
            ("gz/app.sql.gz".into(), DumpFormat::Script, Gzip, Rule::ScriptHeader),
            ("zst/app.sql.zst".into(), DumpFormat::Script, Zstd, Rule::ScriptHeader),
            ("gzcustom/app.dump.gz".into(), DumpFormat::Custom, Gzip, Rule::CustomMagic),
            ("named/schema.sql".into(), DumpFormat::Script, None, Rule::Name),
        ]
    );
    // A directory archive at the bundle's top is the whole bundle.
    let (_d, b) = open("b.tar", &tar(&[E::File("toc.dat.x", b"", 0o644), E::File("toc.dat", &dir_toc, 0o644)]));
    assert_eq!(ok(b).dumps()[0].path, "");
}

#[test]
fn files_only_bundles_have_no_dump_and_a_summary() {
    let t = tar(&[E::Dir("storage", 0o755), E::File("storage/a.jpg", &[1; 300], 0o644), E::File("storage/b/c.pdf", &[2; 200], 0o644), E::File("settings.ini", b"x=1", 0o644)]);
    let (_d, b) = open("storage_2024-05-01.tar.gz", &gzip(&t));
    let b = ok(b);
    assert!(b.dumps().is_empty());
    assert!(b.manifest().is_none());
    let s = b.files_summary(&[]);
    assert_eq!((s.files, s.bytes, s.dirs), (3, 503, 1));
    assert_eq!(s.folders, [FolderSummary { name: "storage".into(), files: 2, bytes: 500 }, FolderSummary { name: "".into(), files: 1, bytes: 3 }]);
    assert_eq!(b.files_summary(&["storage"]).files, 1);
}

#[test]
fn two_dumps_are_both_listed_and_the_manifest_is_read() {
    let manifest = br#"{"created_at": "2024-05-01T03:00:00Z", "app": {"alembic": {"revision": "ae1027a6acf"}}, "database": {"type": "postgresql"}}"#;
    let t = tar(&[
        E::File("backup/manifest.json", manifest, 0o644),
        E::File("backup/db/main.dump", CUSTOM, 0o644),
        E::File("backup/db/analytics.sql", SCRIPT, 0o644),
        E::File("backup/uploads/a.png", b"png", 0o644),
    ]);
    let (_d, b) = open("b.tar.zst", &zstd(&t));
    let b = ok(b);
    let dumps = b.dumps();
    assert_eq!(dumps.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["backup/db/main.dump", "backup/db/analytics.sql"]);
    let m = b.manifest().unwrap_or_else(|| panic!("no manifest"));
    assert_eq!(m.path, "backup/manifest.json");
    let info = m.content.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.revision.map(|r| (r.value, r.tool)), Some(("ae1027a6acf".into(), Some("alembic"))));
    assert_eq!(info.database.map(|f| f.value), Some("postgresql".into()));
    assert_eq!(info.created.map(|f| f.value), Some("2024-05-01T03:00:00Z".into()));
    let s = b.files_summary(&dumps.iter().map(|d| d.path.as_str()).collect::<Vec<_>>());
    assert_eq!(s.files, 2);
    // Streaming a member of a compressed tar.
    assert_eq!(read_all(ok(b.open_member("backup/db/main.dump"))), CUSTOM);
    assert!(matches!(b.open_member("backup/nope"), Err(BundleError::NoSuchMember { .. })));
    // A manifest that is not JSON is reported, not fatal.
    let (_d, b) = open("b.zip", &zip(&[Z::File("manifest.json", b"{oops", 0o644)]));
    assert!(ok(b).manifest().is_some_and(|m| m.content.is_err()));
}

#[test]
fn a_compressed_tar_bomb_stops_while_listing() {
    // Zeros with a byte every 4 KiB: about 600 times smaller gzipped.
    let sparse: Vec<u8> = (0..16u32 << 20).map(|i| if i % 4096 == 0 { (i >> 12) as u8 } else { 0 }).collect();
    let t = tar(&[E::File("zeros", &sparse, 0o644)]);
    let (_d, path) = file("b.tgz", &gzip(&t));
    let limits = Limits { max_ratio: 100, ..Limits::default() };
    assert!(matches!(Bundle::open_with(&path, limits), Err(BundleError::RatioExceeded { .. })));
    assert!(Bundle::open(&path).is_ok());
}

#[test]
fn member_count_is_bounded() {
    let t = tar(&[E::File("a", b"", 0o644), E::File("b", b"", 0o644), E::File("c", b"", 0o644)]);
    let (_d, path) = file("b.tar", &t);
    assert!(matches!(Bundle::open_with(&path, Limits { max_members: 2, ..Limits::default() }), Err(BundleError::TooManyMembers { limit: 2 })));
    let (_d, path) = file("b.zip", &zip(&[Z::File("a", b"", 0o644), Z::File("b", b"", 0o644), Z::File("c", b"", 0o644)]));
    assert!(matches!(Bundle::open_with(&path, Limits { max_members: 2, ..Limits::default() }), Err(BundleError::TooManyMembers { limit: 2 })));
}
