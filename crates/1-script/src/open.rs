//! A script as people keep it: plain, or compressed whole with gzip (`backup.sql.gz`) or zstd
//! (`.sql.zst`), told from its first bytes, not its name. Decompression streams: nothing is
//! unpacked to disk or held whole.

use std::io::{self, BufRead, BufReader};

/// How a script file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Told from a file's first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// The script text of `input`, decompressed as it is read.
pub fn decompressed<R: BufRead + Send + 'static>(mut input: R) -> io::Result<(Box<dyn BufRead + Send>, Compression)> {
    let compression = Compression::sniff(input.fill_buf()?);
    let reader: Box<dyn BufRead + Send> = match compression {
        Compression::None => Box::new(input),
        // Several gzip members one after another (`cat a.gz b.gz`) are one script, as gunzip reads them.
        Compression::Gzip => Box::new(BufReader::with_capacity(256 * 1024, flate2::bufread::MultiGzDecoder::new(input))),
        Compression::Zstd => Box::new(BufReader::with_capacity(256 * 1024, zstd::stream::read::Decoder::with_buffer(input)?)),
    };
    Ok((reader, compression))
}

/// The script at `path`, decompressed as it is read, if it is one: a script pg_dump or
/// pg_dumpall wrote (plain or compressed), or a file named `*.sql` (`.gz`, `.zst`); `None`
/// when it is neither.
pub fn open_script(path: &std::path::Path) -> io::Result<Option<(Box<dyn BufRead + Send>, Compression)>> {
    let file = std::fs::File::open(path)?;
    let (mut reader, compression) = decompressed(BufReader::with_capacity(256 * 1024, file))?;
    let named_sql = {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        let name = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(&name).to_owned();
        name.ends_with(".sql")
    };
    let dump = is_dump_script(reader.fill_buf()?);
    Ok((dump || named_sql).then_some((reader, compression)))
}

/// What a pg_dump script's opening comments say: the server version it was dumped from and
/// the pg_dump version that wrote it (`-- Dumped from database version 18.6`).
pub fn dumped_versions(head: &[u8]) -> (Option<String>, Option<String>) {
    let find = |prefix: &str| {
        head.split(|&b| b == b'\n').take(32).find_map(|line| line.strip_prefix(prefix.as_bytes())).map(|v| String::from_utf8_lossy(v).trim().to_owned())
    };
    (find("-- Dumped from database version "), find("-- Dumped by pg_dump version ").or_else(|| find("-- Dumped by pg_dumpall version ")))
}

/// Whether `text` starts as a script pg_dump or pg_dumpall wrote.
pub fn is_dump_script(text: &[u8]) -> bool {
    text.starts_with(b"--\n-- PostgreSQL database dump\n--\n") || text.starts_with(b"--\n-- PostgreSQL database cluster dump\n--\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn gzip_and_zstd_are_told_from_their_bytes() {
        let text = b"--\n-- PostgreSQL database dump\n--\n\nSELECT 1;\n".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&text).unwrap_or_default();
        let gz = gz.finish().unwrap_or_default();
        let zst = zstd::stream::encode_all(text.as_slice(), 3).unwrap_or_default();
        for (bytes, want) in [(text.clone(), Compression::None), (gz, Compression::Gzip), (zst, Compression::Zstd)] {
            let (mut reader, got) = decompressed(io::Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, want);
            assert!(is_dump_script(reader.fill_buf().unwrap_or_default()));
            assert_eq!(dumped_versions(b"--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 17.2\n-- Dumped by pg_dump version 18.6\n"), (Some("17.2".into()), Some("18.6".into())));
            let mut all = Vec::new();
            reader.read_to_end(&mut all).unwrap_or_default();
            assert_eq!(all, text);
        }
    }
}
