//! What a member's name and first bytes suggest it is, before any rule decides: a name
//! like a dump's, a script's opening after other comments, the start of a compressed head
//! decompressed. Shared by listing (which keeps longer heads for likely dumps) and by
//! `dumps` (which decides).

use std::io::Read;

use pgsurge_script::open::is_dump_script;

use crate::limits::LONG_HEAD;
use crate::probe::{read_prefix, Compression};

/// Most comment lines before pg_dump's header that still count as its script.
const MAX_LEADING_COMMENTS: usize = 16;

/// The last component of a member path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The dump extension `path` ends with (`.sql`, `.dump`, `.backup`, each also followed by
/// `.gz` or `.zst`), if any.
pub(crate) fn name_hint(path: &str) -> Option<&'static str> {
    let name = file_name(path).to_ascii_lowercase();
    let name = name.strip_suffix(".gz").or_else(|| name.strip_suffix(".zst")).unwrap_or(&name);
    [".sql", ".dump", ".backup"].into_iter().find(|ext| name.ends_with(ext) && name.len() > ext.len())
}

/// Whether `text` starts as a script pg_dump or pg_dumpall wrote, perhaps after a few
/// comment or blank lines another tool put before it.
pub(crate) fn is_script(text: &[u8]) -> bool {
    let mut rest = text;
    for _ in 0..=MAX_LEADING_COMMENTS {
        if is_dump_script(rest) {
            return true;
        }
        let comment_or_blank = rest.starts_with(b"--") || rest.starts_with(b"\n") || rest.starts_with(b"\r\n");
        match newline(rest) {
            Some(i) if comment_or_blank => rest = rest.get(i + 1..).unwrap_or_default(),
            _ => return false,
        }
    }
    false
}

fn newline(text: &[u8]) -> Option<usize> {
    text.iter().position(|&b| b == b'\n')
}

/// As much of the start of a compressed `head` as decompresses (the rest of the stream is
/// not there, so the decoder's complaint at the cut is expected and ignored).
pub(crate) fn decompress_prefix(head: &[u8], compression: Compression) -> Vec<u8> {
    let mut out = Vec::new();
    let limit = LONG_HEAD;
    let _ = match compression {
        Compression::Gzip => read_prefix(flate2::read::GzDecoder::new(head), limit, &mut out),
        Compression::Zstd => match zstd::stream::read::Decoder::with_buffer(head) {
            Ok(d) => read_prefix(d.take(limit as u64), limit, &mut out),
            Err(_) => Ok(()),
        },
        Compression::None => read_prefix(head, limit, &mut out),
    };
    out
}

/// Whether a file starting with `head` may be a dump whose telling sign lies past its first
/// [`HEAD`](crate::HEAD) bytes: compressed (gzip, zstd), a tar (pg_dump's starts with `toc.dat`), a script
/// with comments before pg_dump's header, or named as a dump.
pub(crate) fn wants_long_head(path: &str, head: &[u8]) -> bool {
    Compression::sniff(head) != Compression::None
        || head.starts_with(b"toc.dat\0")
        || head.starts_with(b"--")
        || name_hint(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_may_follow_a_few_comments() {
        assert!(is_script(b"--\n-- PostgreSQL database dump\n--\n\n"));
        assert!(is_script(b"-- nightly backup by cron\n\n--\n-- PostgreSQL database cluster dump\n--\n"));
        assert!(!is_script(b"SELECT 1;\n--\n-- PostgreSQL database dump\n--\n"));
        assert!(!is_script(b"-- just a comment"));
        assert_eq!(name_hint("db/app.SQL.gz"), Some(".sql"));
        assert_eq!(name_hint("x.backup"), Some(".backup"));
        assert_eq!(name_hint(".sql"), None);
        assert_eq!(name_hint("notes.txt"), None);
    }
}
