//! `-L` list files (pg_backup_archiver.c `SortTocFromFile`): which
//! dump ids a list names, in its order, with pg_restore's leniency — comments after `;`,
//! blank lines, leading numbers parsed like `strtol`, bad lines warned about and skipped.
//!
//! Reordering the TOC and selecting by the ids is `select`'s business.

use std::collections::HashSet;
use std::path::Path;

use bstr::ByteSlice;
use pgsurge_archive::DumpId;

/// A list file that cannot be used, worded as pg_restore's message after `pg_restore: error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListFileError {
    #[error("could not open TOC file \"{path}\": {reason}")]
    Open { path: String, reason: String },
    /// The id is in range but no entry has it.
    #[error("could not find entry for ID {0}")]
    UnknownId(DumpId),
}

/// Reads the list file at `path`.
pub fn read_list_file(path: &Path) -> Result<Vec<u8>, ListFileError> {
    std::fs::read(path).map_err(|e| {
        let text = e.to_string();
        let reason = text.find(" (os error").map_or(text.clone(), |i| text[..i].to_owned());
        ListFileError::Open { path: path.display().to_string(), reason }
    })
}

/// The ids `text` lists, in file order. Lines naming no id, an id outside 1..=`max_dump_id`
/// or an id already listed are passed to `warn` as `line ignored: …`; an id in range that
/// `exists` rejects is fatal, as it is for pg_restore (after the warnings for earlier lines).
pub fn parse_list(text: &[u8], max_dump_id: DumpId, exists: impl Fn(DumpId) -> bool, warn: &mut dyn FnMut(String)) -> Result<Vec<DumpId>, ListFileError> {
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for raw in text.split_inclusive(|&b| b == b'\n') {
        // C string functions see the line only up to a NUL byte; the blank test below still
        // compares with the full length, as pg_restore's does.
        let c_str = raw.find_byte(0).map_or(raw, |i| &raw[..i]);
        let (data, len) = match c_str.find_byte(b';') {
            Some(i) => (&c_str[..i], i),
            None => (c_str, raw.len()),
        };
        let blank_prefix = data.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')).count();
        if blank_prefix == len {
            continue;
        }
        match strtol(data) {
            Some(id) if id > DumpId(0) && id <= max_dump_id && !seen.contains(&id) => {
                if !exists(id) {
                    return Err(ListFileError::UnknownId(id));
                }
                seen.insert(id);
                ids.push(id);
            }
            _ => {
                // pg_restore's logging drops one trailing newline from a message.
                let shown = data.strip_suffix(b"\n").unwrap_or(data);
                warn(format!("line ignored: {}", shown.as_bstr()));
            }
        }
    }
    Ok(ids)
}

/// `strtol(s, &end, 10)` stored into a C `int`: optional whitespace and sign, then decimal
/// digits, the rest ignored; `None` when there are no digits. Values beyond `long` saturate
/// and the conversion to `int` keeps the low 32 bits, as C on Linux does.
fn strtol(s: &[u8]) -> Option<DumpId> {
    let (negative, digits) = crate::c_number::c_sign_and_digits(s);
    if digits.is_empty() {
        return None;
    }
    let mut value: i128 = 0;
    for &d in digits {
        value = (value * 10 + i128::from(d - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let long = if negative { (-value).max(i128::from(i64::MIN)) } else { value.min(i128::from(i64::MAX)) };
    // Truncation to `int` is the point here.
    Some(DumpId(long as i64 as i32))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol(b"  +2620x"), Some(DumpId(2620)));
        assert_eq!(strtol(b"-3"), Some(DumpId(-3)));
        assert_eq!(strtol(b"abc"), None);
        assert_eq!(strtol(b" + 5"), None);
        assert_eq!(strtol(b"4294967297"), Some(DumpId(1)));
        assert_eq!(strtol(b"99999999999999999999999"), Some(DumpId(-1)));
    }

    #[test]
    fn list_lines() {
        let text = b"; comment line\n\n \t \n9; 2615 16388 SCHEMA - MixedCase postgres\nnot a number\n-5\n0\n3848; beyond\n9; twice\n  +7x; junk\n12";
        let mut warnings = Vec::new();
        let ids = parse_list(text, DumpId(3847), |id| id != 3, &mut |w| warnings.push(w)).unwrap();
        assert_eq!(ids, vec![9, 7, 12]);
        assert_eq!(warnings, vec!["line ignored: not a number", "line ignored: -5", "line ignored: 0", "line ignored: 3848", "line ignored: 9"]);
        let mut warnings = Vec::new();
        let err = parse_list(b"x\n3; no such entry\n5\n", DumpId(10), |id| id != 3, &mut |w| warnings.push(w)).unwrap_err();
        assert_eq!(err.to_string(), "could not find entry for ID 3");
        assert_eq!(warnings, vec!["line ignored: x"]);
    }
}
