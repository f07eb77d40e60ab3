//! `pgsurge restore bundle.zip -d … --files-to DIR` on a real server: the database the dump
//! alone leaves (restored straight from the bundle, at -j 1 and in parallel), the files the
//! bundle holds extracted byte for byte with permissions never widened, the manifest's
//! migration revision in the report; `--files-from` beside a dump's restore; and hostile
//! bundles refused before anything reaches the server, with nothing written outside DIR.

use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, testdata, Outcome};
use crate::restore::fresh_db;

enum Member<'a> {
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
}

/// A zip of `members`, deflated.
fn zip(members: &[Member]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for m in members {
        match *m {
            Member::File(name, data, mode) => {
                w.start_file(name, options.unix_permissions(mode)).unwrap();
                w.write_all(data).unwrap();
            }
            Member::Symlink(name, target) => w.add_symlink(name, target, options).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// A gzip'd tar of `members`, names and links written as given, unchecked.
fn tgz(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for m in members {
        let (name, kind, data, mode, link): (&str, tar::EntryType, &[u8], u32, &str) = match *m {
            Member::File(n, d, mode) => (n, tar::EntryType::Regular, d, mode, ""),
            Member::Symlink(n, l) => (n, tar::EntryType::Symlink, b"", 0o777, l),
        };
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        builder.append(&h, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn restore(cluster: &Cluster, db: &str, input: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec!["restore".to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(input.display().to_string());
    run_env(&pgsurge(), &args, &[("LC_ALL".to_owned(), "C".to_owned())], None)
}

/// Bytes that do not compress away, for a user's file.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

const MANIFEST: &[u8] = br#"{"app": "shop", "database": {"type": "postgresql"}, "alembic": {"revision": "3f2a9c1b"}, "created_at": "2026-04-27T15:30:00Z"}"#;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn public_tables(cluster: &Cluster, db: &str) -> String {
    cluster.psql(db, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").trim().to_owned()
}

#[test]
fn a_zip_bundle_restores_its_dump_and_extracts_its_files() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dump = testdata().join("dumps/pg18/src.custom.gzip.dump");
    let want_db = fresh_db(cluster, "bundle_want");
    let want = restore(cluster, &want_db, &dump, &["-j", "1"]);
    let photo = noise(300_000);
    let bundle = dir.path().join("full_backup.zip");
    std::fs::write(
        &bundle,
        zip(&[
            Member::File("manifest.json", MANIFEST, 0o644),
            Member::File("database/db.dump", &std::fs::read(&dump).unwrap(), 0o600),
            Member::File("uploads/2026/04/photo.jpg", &photo, 0o644),
            Member::File("uploads/run.sh", b"#!/bin/sh\n", 0o4755),
        ]),
    )
    .unwrap();
    for jobs in ["1", "3"] {
        let db = fresh_db(cluster, "bundle_got");
        let out = dir.path().join(format!("files-{jobs}"));
        let report = dir.path().join(format!("report-{jobs}.json"));
        let got = restore(cluster, &db, &bundle, &["-j", jobs, "--files-to", out.to_str().unwrap(), "--report", report.to_str().unwrap()]);
        assert_eq!(got.status, want.status, "-j {jobs}: {}", got.stderr_text());
        let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
        assert!(a == b, "-j {jobs}: {}", a.diff(&b));
        assert_eq!(std::fs::read(out.join("uploads/2026/04/photo.jpg")).unwrap(), photo);
        assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), MANIFEST);
        assert_eq!(mode(&out.join("uploads/run.sh")), 0o755, "setuid is never kept");
        assert!(!out.join("database/db.dump").exists(), "the dump restored is not extracted");
        let text = std::fs::read_to_string(&report).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["bundle"]["manifest"]["migration_revision"]["value"], "3f2a9c1b", "{text}");
        assert_eq!(doc["bundle"]["dump"]["path"], "database/db.dump");
        assert_eq!(doc["bundle"]["extracted"]["files"], 3);
        assert!(got.stderr_text().contains("alembic migration revision 3f2a9c1b"), "{}", got.stderr_text());
        cluster.dropdb(&db);
    }
    // Listed: the manifest, the dump, the files.
    let listed = run_env(&pgsurge(), &["list".to_owned(), bundle.display().to_string()], &[], None);
    assert_eq!(listed.status, 0, "{}", listed.stderr_text());
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    for line in ["; Dump: database/db.dump (custom archive, found by its content)", "migration revision: 3f2a9c1b", ";     uploads: 2 files"] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    cluster.dropdb(&want_db);
}

#[test]
fn a_tar_gz_bundle_of_a_plain_script_restores_as_psql_runs_it() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let sql = testdata().join("dumps/pg18/src.sql");
    let want_db = fresh_db(cluster, "bundle_sql_want");
    let mut args = cluster.conn_args(&want_db);
    args.extend(["-X", "-q", "-f", sql.to_str().unwrap()].map(String::from));
    cluster.run("psql", &args, None);
    let bundle = dir.path().join("backup_20260427.tgz");
    std::fs::write(&bundle, tgz(&[Member::File("backup_20260427/db.sql", &std::fs::read(&sql).unwrap(), 0o644), Member::File("backup_20260427/storage/a.txt", b"a", 0o640)])).unwrap();
    let db = fresh_db(cluster, "bundle_sql_got");
    let out = dir.path().join("files");
    let got = restore(cluster, &db, &bundle, &["-j", "2", "--files-to", out.to_str().unwrap()]);
    assert!(got.status <= 1, "{}", got.stderr_text());
    let (a, b) = (cluster.fingerprint(&want_db), cluster.fingerprint(&db));
    assert!(a == b, "{}", a.diff(&b));
    assert_eq!(std::fs::read(out.join("backup_20260427/storage/a.txt")).unwrap(), b"a");
    assert_eq!(mode(&out.join("backup_20260427/storage/a.txt")), 0o640);
    cluster.dropdb(&db);
    cluster.dropdb(&want_db);
}

#[test]
fn files_of_a_bundle_of_their_own_are_extracted_beside_the_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dump = testdata().join("dumps/pg18/src.custom.none.dump");
    let storage = dir.path().join("storage_20260427.tar.gz");
    std::fs::write(&storage, tgz(&[Member::File("uploads/a.txt", b"new a", 0o644), Member::File("uploads/b/c.bin", &noise(5000), 0o644)])).unwrap();
    let out = dir.path().join("app");
    let db = fresh_db(cluster, "files_from");
    let got = restore(cluster, &db, &dump, &["--files-from", storage.to_str().unwrap(), "--files-to", out.to_str().unwrap()]);
    assert!(got.status <= 1, "{}", got.stderr_text());
    assert_eq!(std::fs::read(out.join("uploads/b/c.bin")).unwrap(), noise(5000));
    assert_ne!(public_tables(cluster, &db), "0");

    // A folder with files is refused before anything is restored; --merge keeps what the
    // bundle lacks and replaces what it has.
    std::fs::write(out.join("uploads/a.txt"), "old a").unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let db2 = fresh_db(cluster, "files_from_refused");
    let refused = restore(cluster, &db2, &dump, &["--files-from", storage.to_str().unwrap(), "--files-to", out.to_str().unwrap()]);
    assert_eq!(refused.status, 1);
    assert!(refused.stderr_text().contains("is not empty"), "{}", refused.stderr_text());
    assert_eq!(public_tables(cluster, &db2), "0", "nothing may be restored before the refusal");
    let merged = restore(cluster, &db2, &dump, &["--files-from", storage.to_str().unwrap(), "--files-to", out.to_str().unwrap(), "--merge"]);
    // A bundle's own files and another bundle's, into one new folder.
    let bundle = dir.path().join("app.zip");
    std::fs::write(&bundle, zip(&[Member::File("db.dump", &std::fs::read(&dump).unwrap(), 0o644), Member::File("config/app.ini", b"[app]", 0o644)])).unwrap();
    let both = dir.path().join("both");
    let db3 = fresh_db(cluster, "files_from_bundle");
    let got = restore(cluster, &db3, &bundle, &["--files-from", storage.to_str().unwrap(), "--files-to", both.to_str().unwrap()]);
    assert!(got.status <= 1, "{}", got.stderr_text());
    assert_eq!(std::fs::read(both.join("config/app.ini")).unwrap(), b"[app]");
    assert_eq!(std::fs::read(both.join("uploads/a.txt")).unwrap(), b"new a");
    cluster.dropdb(&db3);
    assert!(merged.status <= 1, "{}", merged.stderr_text());
    assert_eq!(std::fs::read_to_string(out.join("uploads/a.txt")).unwrap(), "new a");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    cluster.dropdb(&db);
    cluster.dropdb(&db2);
}

#[test]
fn hostile_bundles_are_refused_before_anything_is_restored() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let dir = tempfile::tempdir().unwrap();
    let dump = std::fs::read(testdata().join("dumps/pg18/src.custom.none.dump")).unwrap();
    let zeros = vec![0u8; 64 << 20];
    let good_zip = zip(&[Member::File("db.dump", &dump, 0o644), Member::File("uploads/a.txt", &noise(100_000), 0o644)]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("dotdot.tgz", tgz(&[Member::File("db.dump", &dump, 0o644), Member::File("uploads/../../escape.txt", b"x", 0o644)]), "escape.txt"),
        ("absolute.tgz", tgz(&[Member::File("db.dump", &dump, 0o644), Member::File("/tmp/escape.txt", b"x", 0o644)]), "escape.txt"),
        ("symlink.tgz", tgz(&[Member::File("db.dump", &dump, 0o644), Member::Symlink("uploads/x", "/etc"), Member::File("uploads/x/escape.txt", b"x", 0o644)]), "uploads/x"),
        ("duplicate.tgz", tgz(&[Member::File("db.dump", &dump, 0o644), Member::File("uploads/a.txt", b"1", 0o644), Member::File("uploads/a.txt", b"2", 0o644)]), "uploads/a.txt"),
        ("bomb.zip", zip(&[Member::File("db.dump", &dump, 0o644), Member::File("uploads/zeros.bin", &zeros, 0o644)]), "uploads/zeros.bin"),
        ("truncated.zip", good_zip[..good_zip.len() / 2].to_vec(), ""),
    ];
    for (name, bytes, member) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = dir.path().join("out").join(name);
        let db = fresh_db(cluster, "hostile_bundle");
        let got = restore(cluster, &db, &path, &["--files-to", out.to_str().unwrap()]);
        assert_eq!(got.status, 1, "{name}: {}", got.stderr_text());
        let err = got.stderr_text();
        assert!(err.lines().any(|l| l.starts_with("pgsurge: error: ") && l.contains(member)), "{name}: the error names {member:?}: {err}");
        assert_eq!(public_tables(cluster, &db), "0", "{name}: nothing may be restored");
        assert!(!dir.path().join("escape.txt").exists() && !dir.path().join("out/escape.txt").exists() && !Path::new("/tmp/escape.txt").exists(), "{name}: a file escaped");
        // Nothing but folders (and no file under a real name) where the refusal left off.
        let files = walk(&out);
        assert!(files.iter().all(|f| !f.ends_with("escape.txt") && !f.ends_with("zeros.bin")), "{name}: {files:?}");
        cluster.dropdb(&db);
    }
}

/// Every file and link under `dir`, if it exists.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}
