//! Directory-format archives (ARCHIVE_FORMAT.md §7, §9): `toc.dat` plus one file per data item
//! and per large object, each compressed as its suffix says.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use bstr::{BStr, ByteSlice};

use crate::compress::Codec;
use crate::error::{Error, ErrorKind, Result};

/// Names `toc.dat` may carry (the reader accepts compressed variants, though pg_dump writes
/// only the plain one).
pub(crate) const TOC_NAMES: [(&str, Codec); 4] =
    [("toc.dat", Codec::None), ("toc.dat.gz", Codec::Gzip), ("toc.dat.lz4", Codec::Lz4), ("toc.dat.zst", Codec::Zstd)];

/// A data file found on disk: its path, how it is compressed and its size.
pub(crate) struct DataFile {
    pub path: PathBuf,
    pub file: File,
    pub codec: Codec,
    pub len: u64,
}

/// Finds the file a TOC file name refers to, trying the suffixes pg_restore tries, in its order.
pub(crate) fn find_data_file(dir: &Path, name: &BStr) -> Result<DataFile> {
    let name = name.to_str_lossy();
    let given = dir.join(name.as_ref());
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
        match File::open(&path) {
            Ok(file) => {
                let len = file.metadata().map_err(|e| Error::new(ErrorKind::DataFileOpen { path: path.clone(), source: e }))?.len();
                return Ok(DataFile { path, file, codec, len });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::new(ErrorKind::DataFileOpen { path, source: e })),
        }
    }
    Err(Error::new(ErrorKind::DataFileOpen { path: given, source: std::io::Error::from(std::io::ErrorKind::NotFound) }))
}

/// The lines of a blobs TOC file: `<oid> <file name>` each.
pub(crate) struct BlobToc {
    path: PathBuf,
    lines: std::io::Split<BufReader<File>>,
    line_no: u64,
}

impl BlobToc {
    pub fn open(path: PathBuf) -> Result<Self> {
        let file = File::open(&path).map_err(|e| Error::new(ErrorKind::BlobTocOpen { path: path.clone(), source: e }))?;
        Ok(BlobToc { path, lines: BufReader::new(file).split(b'\n'), line_no: 0 })
    }

    /// The next `(oid, file name)`, or `None` at the end of the file.
    pub fn next_entry(&mut self) -> Result<Option<(u32, String)>> {
        loop {
            let Some(line) = self.lines.next() else { return Ok(None) };
            self.line_no += 1;
            let line = line.map_err(|e| Error::new(ErrorKind::Io(e)).in_file(self.path.clone()))?;
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            return parse_blob_line(&line).map(Some).ok_or_else(|| {
                Error::new(ErrorKind::BadBlobTocLine { path: self.path.clone(), line: line.to_str_lossy().into_owned() })
            });
        }
    }
}

/// "unsigned, whitespace, file name", as pg_restore's `sscanf("%u %1023s")` reads it.
fn parse_blob_line(line: &[u8]) -> Option<(u32, String)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let oid: u32 = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    if oid == 0 || name.contains('/') {
        return None;
    }
    Some((oid, name.to_owned()))
}

/// Opens the blobs TOC of a BLOBS entry: `blobs.toc` before 1.16, the entry's file name after.
pub(crate) fn blob_toc_path(dir: &Path, entry_file: Option<&BStr>, v116: bool) -> PathBuf {
    match entry_file {
        Some(name) if v116 => dir.join(name.to_str_lossy().as_ref()),
        _ => dir.join("blobs.toc"),
    }
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
        assert_eq!(parse_blob_line(b"16500 blob_16500.dat"), Some((16500, "blob_16500.dat".into())));
        assert_eq!(parse_blob_line(b"  42\tblob_42.dat  "), Some((42, "blob_42.dat".into())));
        assert_eq!(parse_blob_line(b"x blob"), None);
        assert_eq!(parse_blob_line(b"42"), None);
        assert_eq!(parse_blob_line(b"42 ../../etc/passwd"), None);
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
}
