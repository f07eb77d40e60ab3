//! Directory-format archives (pg_backup_directory.c): `toc.dat` plus one file per data item
//! and per large object, each compressed as its suffix says.
//!
//! Every name a TOC or blobs TOC gives is untrusted: it must be a plain file name inside the
//! archive directory, and only regular files are opened. pg_restore follows any path it is
//! given (`../x`, `/etc/passwd`, a FIFO); a damaged or hostile archive must not make us read
//! outside it or block forever.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use bstr::{BStr, ByteSlice};

use crate::compress::{Codec, Decoder};
use crate::error::{Error, ErrorKind, Result};
use crate::ids::Oid;

/// Names `toc.dat` may carry (the reader accepts compressed variants, though pg_dump writes
/// only the plain one).
pub(crate) const TOC_NAMES: [(&str, Codec); 4] =
    [("toc.dat", Codec::None), ("toc.dat.gz", Codec::Gzip), ("toc.dat.lz4", Codec::Lz4), ("toc.dat.zst", Codec::Zstd)];

/// Longest line a blobs TOC may have. pg_restore reads `%u %1023s` into a fixed buffer; an
/// OID, a separator and a 1023-byte name fit well within this, and a line without a newline
/// cannot grow our buffer past it.
const BLOB_TOC_LINE_MAX: u64 = 4096;

/// A data file found on disk: its path, how it is compressed and its size.
pub(crate) struct DataFile {
    pub path: PathBuf,
    pub file: File,
    pub codec: Codec,
    pub len: u64,
}

/// Checks that a name from the archive is a plain file name: not empty, not `.` or `..`, no
/// `/`, no NUL or other control byte (a newline would also break out of the `-- File:`
/// comments of a script), valid UTF-8 (so that what we open is what we print).
pub(crate) fn plain_name(name: &BStr) -> Result<&str> {
    let unsafe_name = || Error::new(ErrorKind::UnsafeFileName(name.to_str_lossy().escape_debug().to_string()));
    let text = std::str::from_utf8(name.as_bytes()).map_err(|_| unsafe_name())?;
    let bad = text.is_empty() || text == "." || text == ".." || text.bytes().any(|b| b == b'/' || b.is_ascii_control());
    if bad {
        return Err(unsafe_name());
    }
    Ok(text)
}

/// Opens `path` for reading if it is a regular file and not a symbolic link. Opened without
/// blocking, so a FIFO in its place cannot hang the open, then refused by its type.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::other("it is a symbolic link; only regular files inside the archive directory are read")
        } else {
            e
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("it is not a regular file; only regular files inside the archive directory are read"));
    }
    Ok(file)
}

/// Finds the file a TOC file name refers to, trying the suffixes pg_restore tries, in its order.
pub(crate) fn find_data_file(dir: &Path, name: &BStr) -> Result<DataFile> {
    find_file(dir, name, |path, source| ErrorKind::DataFileOpen { path, source })
}

/// Finds a file named by the archive (as-is, else with a compression suffix) and opens it.
fn find_file(dir: &Path, name: &BStr, open_error: fn(PathBuf, io::Error) -> ErrorKind) -> Result<DataFile> {
    let name = plain_name(name)?;
    let given = dir.join(name);
    let mut candidates: Vec<(PathBuf, Codec)> = Vec::new();
    let by_suffix = [(".gz", Codec::Gzip), (".lz4", Codec::Lz4), (".zst", Codec::Zstd)];
    if let Some((_, codec)) = by_suffix.iter().find(|(suffix, _)| name.ends_with(suffix)) {
        candidates.push((given.clone(), *codec));
    } else {
        candidates.push((given.clone(), Codec::None));
        for (suffix, codec) in by_suffix {
            candidates.push((dir.join(format!("{name}{suffix}")), codec));
        }
    }
    for (path, codec) in candidates {
        match open_regular(&path) {
            Ok(file) => {
                let len = file.metadata().map_err(|e| Error::new(open_error(path.clone(), e)))?.len();
                return Ok(DataFile { path, file, codec, len });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::new(open_error(path, e))),
        }
    }
    Err(Error::new(open_error(given, io::Error::from(io::ErrorKind::NotFound))))
}

/// The lines of a blobs TOC file: `<oid> <file name>` each. The file may have been compressed
/// after the dump (`blobs_<id>.toc.gz`, `.lz4`, `.zst`), which pg_restore reads too.
pub(crate) struct BlobToc {
    path: PathBuf,
    lines: BufReader<Decoder<BufReader<File>>>,
    line_no: u64,
}

impl BlobToc {
    /// Opens the blobs TOC of a BLOBS entry: `blobs.toc` before archive 1.16, the entry's
    /// file name after.
    pub fn open(dir: &Path, entry_file: Option<&BStr>, v116: bool) -> Result<Self> {
        let name = match entry_file {
            Some(name) if v116 => name,
            _ => BStr::new("blobs.toc"),
        };
        let found = find_file(dir, name, |path, source| ErrorKind::BlobTocOpen { path, source })?;
        let decoder = Decoder::new(buffered(found.file), found.codec, found.len == 0)
            .map_err(|e| Error::from_io(e).in_file(found.path.clone()))?;
        Ok(BlobToc { path: found.path, lines: BufReader::new(decoder), line_no: 0 })
    }

    /// The next `(oid, file name)`, or `None` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<(Oid, String)>> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut self.lines)
                .take(BLOB_TOC_LINE_MAX + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| Error::from_io(e).in_file(self.path.clone()))?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            let bad_line = |line: &[u8]| {
                let shown: String = line.iter().take(200).map(|&b| b as char).collect::<String>().escape_debug().to_string();
                Error::new(ErrorKind::BadBlobTocLine { path: self.path.clone(), line_no: self.line_no, line: shown })
            };
            if line.len() as u64 > BLOB_TOC_LINE_MAX {
                return Err(bad_line(&line));
            }
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return parse_blob_line(&line).map(Some).ok_or_else(|| bad_line(&line));
        }
    }
}

/// "unsigned, whitespace, file name", as pg_restore's `sscanf("%u %1023s")` reads it, with a
/// name that must be a plain file name.
fn parse_blob_line(line: &[u8]) -> Option<(Oid, String)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let oid: u32 = parts.next()?.parse().ok()?;
    let name = plain_name(BStr::new(parts.next()?)).ok()?;
    if oid == 0 || name.len() > 1023 {
        return None;
    }
    Some((Oid(oid), name.to_owned()))
}

/// Opens a data file as a buffered reader (used by callers that decode it).
pub(crate) fn buffered(file: File) -> BufReader<File> {
    BufReader::with_capacity(256 * 1024, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_lines() {
        assert_eq!(parse_blob_line(b"16500 blob_16500.dat"), Some((Oid(16500), "blob_16500.dat".into())));
        assert_eq!(parse_blob_line(b"  42\tblob_42.dat  \n"), Some((Oid(42), "blob_42.dat".into())));
        assert_eq!(parse_blob_line(b"x blob"), None);
        assert_eq!(parse_blob_line(b"42"), None);
        assert_eq!(parse_blob_line(b"42 ../../etc/passwd"), None);
        assert_eq!(parse_blob_line(b"42 .."), None);
    }

    #[test]
    fn only_plain_names() {
        for bad in ["", ".", "..", "../a.dat", "/etc/passwd", "a/b", "a\nb.dat", "a\0b", "tab\t"] {
            assert!(plain_name(BStr::new(bad)).is_err(), "{bad:?} accepted");
        }
        assert!(plain_name(BStr::new(&b"caf\xe9.dat"[..])).is_err());
        for good in ["3108.dat", "blobs_3108.toc", "blob_16500.dat.gz", "..dat", "a b.dat"] {
            assert_eq!(plain_name(BStr::new(good)).unwrap(), good);
        }
    }

    #[test]
    fn suffix_search_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("7.dat.zst"), b"z").unwrap();
        let f = find_data_file(dir.path(), BStr::new("7.dat")).unwrap();
        assert_eq!(f.codec, Codec::Zstd);
        std::fs::write(dir.path().join("7.dat"), b"plain").unwrap();
        let f = find_data_file(dir.path(), BStr::new("7.dat")).unwrap();
        assert_eq!(f.codec, Codec::None);
        assert!(find_data_file(dir.path(), BStr::new("8.dat")).is_err());
    }

    #[test]
    fn names_outside_the_directory_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("archive");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(root.path().join("a.dat"), b"secret").unwrap();
        for name in ["../a.dat", &root.path().join("a.dat").display().to_string()] {
            let err = find_data_file(&dir, BStr::new(name)).err().expect("opened a file outside the archive");
            assert!(matches!(err.kind(), ErrorKind::UnsafeFileName(_)), "{err}");
        }
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("5.dat");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = find_data_file(dir.path(), BStr::new("5.dat")).err().expect("a FIFO was opened");
        assert!(err.to_string().contains("not a regular file"), "{err}");

        std::fs::write(dir.path().join("target"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("6.dat")).unwrap();
        let err = find_data_file(dir.path(), BStr::new("6.dat")).err().expect("a symlink was followed");
        assert!(err.to_string().contains("symbolic link"), "{err}");

        std::fs::create_dir(dir.path().join("7.dat")).unwrap();
        assert!(find_data_file(dir.path(), BStr::new("7.dat")).is_err());
    }

    #[test]
    fn compressed_blob_toc_is_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"16500 blob_16500.dat\n16501 blob_16501.dat\n").unwrap();
        std::fs::write(dir.path().join("blobs_3108.toc.gz"), gz.finish().unwrap()).unwrap();
        let mut toc = BlobToc::open(dir.path(), Some(BStr::new("blobs_3108.toc")), true).unwrap();
        assert_eq!(toc.next_entry().unwrap(), Some((Oid(16500), "blob_16500.dat".to_owned())));
        assert_eq!(toc.next_entry().unwrap(), Some((Oid(16501), "blob_16501.dat".to_owned())));
        assert_eq!(toc.next_entry().unwrap(), None);
    }

    #[test]
    fn blob_toc_line_without_newline_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blobs.toc"), vec![b'1'; 1 << 20]).unwrap();
        let mut toc = BlobToc::open(dir.path(), None, false).unwrap();
        let err = toc.next_entry().unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BadBlobTocLine { line_no: 1, .. }), "{err}");
    }
}
