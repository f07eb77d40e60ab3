//! Bundles for the tests: tars with any name, kind and link (raw ustar headers), zips through
//! `ZipWriter`, gzip and zstd around them, and the dumps they hold.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use tar::EntryType;
use zip::write::SimpleFileOptions;

/// One member of a test bundle.
pub enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Link(&'a str, &'a str),
    Fifo(&'a str),
    Char(&'a str),
}

pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A tar of `entries`, names and links written as given (no checks), with its end blocks.
pub fn tar(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let (name, kind, data, mode, link): (&str, EntryType, &[u8], u32, &str) = match *e {
            E::File(n, d, m) => (n, EntryType::Regular, d, m, ""),
            E::Dir(n, m) => (n, EntryType::Directory, b"", m, ""),
            E::Symlink(n, l) => (n, EntryType::Symlink, b"", 0o777, l),
            E::Link(n, l) => (n, EntryType::Link, b"", 0o644, l),
            E::Fifo(n) => (n, EntryType::Fifo, b"", 0o644, ""),
            E::Char(n) => (n, EntryType::Char, b"", 0o644, ""),
        };
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_cksum();
        ok(builder.append(&h, data));
    }
    ok(builder.into_inner())
}

/// One member of a test zip.
pub enum Z<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

pub fn zip(entries: &[Z]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match *e {
            Z::File(n, d, m) => {
                ok(w.start_file(n, options.unix_permissions(m).large_file(d.len() > 1 << 30)));
                ok(w.write_all(d));
            }
            Z::Dir(n) => ok(w.add_directory(n, options)),
            Z::Symlink(n, t) => ok(w.add_symlink(n, t, options)),
        }
    }
    ok(w.finish()).into_inner()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    ok(gz.write_all(bytes));
    ok(gz.finish())
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    ok(zstd::stream::encode_all(bytes, 3))
}

/// Every occurrence of `from` in `bytes` replaced by `to`, of the same length: names a
/// writer would refuse are written as placeholders, then patched.
pub fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut i = 0;
    while let Some(at) = bytes.get(i..).and_then(|rest| rest.windows(from.len()).position(|w| w == from)) {
        bytes[i + at..i + at + to.len()].copy_from_slice(to);
        i += at + to.len();
    }
    bytes
}

/// `bytes` written to `name` in a fresh temporary folder, kept alive with it.
pub fn file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = ok(tempfile::tempdir());
    let path = dir.path().join(name);
    ok(std::fs::write(&path, bytes));
    (dir, path)
}

/// A custom archive's first bytes (its header is all `dumps` looks at).
pub const CUSTOM: &[u8] = b"PGDMP\x01\x10\x00\x04\x08\x01\x01\x01rest of the archive";
pub const SCRIPT: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n";

/// Every path under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in ok(std::fs::read_dir(&d)) {
            let e = ok(e);
            let p = e.path();
            out.push(p.strip_prefix(dir).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default());
            if ok(e.file_type()).is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
