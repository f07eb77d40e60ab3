//! Checking a script without running it (`pgsurge verify backup.sql`): every statement
//! read to its `;`, every `COPY … FROM stdin` block's rows counted and checked (fields per
//! row against its column list, its `\.` present), meta-commands allowed, and — for a
//! script pg_dump or pg_dumpall wrote — its closing comment present, the mark of a script
//! that was not cut short. Damage is named by line.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};

use pgsurge_archive::verify::{CopyChecker, CopyError};

use crate::reader::{Item, ScriptReader};
use crate::statement::{self, CopySource};

/// One `COPY … FROM stdin` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Line of the COPY statement.
    pub line: u64,
    /// The table as the statement names it (`public.t`).
    pub table: String,
    pub rows: u64,
    /// Bytes of COPY text.
    pub bytes: u64,
    pub error: Option<String>,
    /// The script ends inside its rows (no `\.`): cut short.
    pub cut: bool,
}

/// What a script holds and where it is damaged.
#[derive(Debug, Default)]
pub struct Report {
    pub statements: u64,
    pub blocks: Vec<Block>,
    pub lines: u64,
    /// Who wrote it, from its first line: `pg_dump`, `pg_dumpall`, or `None` for a
    /// hand-made script.
    pub written_by: Option<&'static str>,
    /// Damage outside the blocks, each with its line: what stops the reading, a statement
    /// cut off by the end of the script, a missing closing comment.
    pub damage: Vec<String>,
    /// What stopped the reading, if anything did (also in `damage`).
    pub stopped: Option<crate::ScriptError>,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.damage.is_empty() && self.blocks.iter().all(|b| b.error.is_none())
    }
}

/// The banners pg_dump and pg_dumpall open and close a script with.
const WRITERS: [(&str, &[u8], &[u8]); 2] = [
    ("pg_dump", b"--\n-- PostgreSQL database dump\n--\n", b"-- PostgreSQL database dump complete\n"),
    ("pg_dumpall", b"--\n-- PostgreSQL database cluster dump\n--\n", b"-- PostgreSQL database cluster dump complete\n"),
];

/// Bytes of the end of the script kept to find the closing comment: it is followed only by
/// `--`, blank lines and an `\unrestrict` with its key.
const TAIL: usize = 4096;

/// A reader that keeps the first and the last bytes that went through it.
struct Ends<R> {
    inner: R,
    head: Vec<u8>,
    tail: VecDeque<u8>,
}

impl<R: BufRead> Read for Ends<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.keep(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Ends<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = buf[..amt.min(buf.len())].to_vec();
            self.keep(&seen);
        }
        self.inner.consume(amt);
    }
}

impl<R> Ends<R> {
    fn keep(&mut self, bytes: &[u8]) {
        if self.head.len() < 64 {
            let room = 64 - self.head.len();
            self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        let from = bytes.len().saturating_sub(TAIL);
        self.tail.extend(&bytes[from..]);
        while self.tail.len() > TAIL {
            self.tail.pop_front();
        }
    }
}

/// Whether `tail` ends with `closing` followed only by what pg_dump writes after it.
fn ends_with_closing(tail: &[u8], closing: &[u8]) -> bool {
    let Some(at) = memchr::memmem::rfind(tail, closing) else { return false };
    tail[at + closing.len()..].split(|&b| b == b'\n').all(|line| line.is_empty() || line == b"--" || line.starts_with(b"\\unrestrict "))
}

/// Reads `input` to its end and reports what it holds.
pub fn verify<R: BufRead>(input: R) -> Report {
    verify_with(input, false, true)
}

/// As [`verify`]; with `allow_server_files`, a `COPY` that uses the server's files is no
/// damage (see [`ScriptReader::allowing_server_files`]); without `check_rows`, the rows of
/// COPY blocks are only counted in bytes, not checked field by field (a restore's pre-pass,
/// which needs only to know the script whole, leaves bad rows to the server).
pub fn verify_with<R: BufRead>(input: R, allow_server_files: bool, check_rows: bool) -> Report {
    let mut ends = Ends { inner: input, head: Vec::new(), tail: VecDeque::new() };
    let mut report = Report::default();
    let mut checker: Option<CopyChecker> = None;
    {
        let reader = ScriptReader::new(&mut ends);
        let mut reader = if allow_server_files { reader.allowing_server_files() } else { reader };
        loop {
            match reader.next_item() {
                Ok(None) => break,
                Ok(Some(Item::Statement { text, line, copy, terminated })) => {
                    report.statements += 1;
                    if !terminated {
                        report.damage.push(format!("line {line}: the script ends inside a statement (no ; after it)"));
                    }
                    if copy == Some(CopySource::Stdin) {
                        let (table, columns) = statement::copy_target(&text);
                        report.blocks.push(Block { line, table, rows: 0, bytes: 0, error: None, cut: false });
                        checker = Some(CopyChecker::new(columns));
                    }
                }
                Ok(Some(Item::CopyData(rows))) => {
                    if let (Some(block), Some(c)) = (report.blocks.last_mut(), checker.as_mut()) {
                        block.bytes += rows.len() as u64;
                        if block.error.is_none() && check_rows {
                            if let Err(e) = c.feed(&rows) {
                                block.error = Some(copy_error(block.line, &e));
                            }
                        }
                    }
                }
                Ok(Some(Item::CopyEnd { terminated, line })) => {
                    if let (Some(block), Some(mut c)) = (report.blocks.last_mut(), checker.take()) {
                        block.rows = c.rows;
                        if block.error.is_none() {
                            if terminated {
                                // The reader took the end marker: give it back for the check.
                                let _ = c.feed(b"\\.\n");
                                block.rows = c.rows;
                            } else {
                                block.error = Some(format!("line {line}: the script ends inside the rows of this COPY (no \\. after them): it was cut short"));
                                block.cut = true;
                            }
                        }
                    }
                }
                Ok(Some(Item::Meta { .. } | Item::Comment { .. })) => {}
                Err(e) => {
                    report.damage.push(e.to_string());
                    report.stopped = Some(e);
                    break;
                }
            }
        }
        report.lines = reader.lines();
    }
    let head = ends.head.clone();
    let tail: Vec<u8> = ends.tail.iter().copied().collect();
    if let Some((writer, opening, closing)) = WRITERS.iter().find(|(_, opening, _)| head.starts_with(opening)) {
        let _ = opening;
        report.written_by = Some(writer);
        if report.damage.is_empty() && !ends_with_closing(&tail, closing) {
            report.damage.push(format!("line {}: the script does not end with {writer}'s closing comment (\"{}\"): it was cut short", report.lines, String::from_utf8_lossy(closing).trim()));
        }
    }
    report
}

fn copy_error(copy_line: u64, e: &CopyError) -> String {
    match e {
        CopyError::FieldCount { row, found, expected, .. } => format!("line {}: a row of {found} fields where the COPY lists {expected} columns", copy_line + row),
        other => format!("line {copy_line}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\\restrict abc\nCREATE TABLE public.t (a int, b text);\n\nCOPY public.t (a, b) FROM stdin;\n1\tx\n2\ty\n\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";

    #[test]
    fn a_sound_dump() {
        let r = verify(DUMP.as_bytes());
        assert!(r.is_sound(), "{r:?}");
        assert_eq!(r.written_by, Some("pg_dump"));
        assert_eq!(r.statements, 2);
        assert_eq!(r.blocks, [Block { line: 7, table: "public.t".into(), rows: 2, bytes: 8, error: None, cut: false }]);
    }

    #[test]
    fn cut_short_anywhere_is_damage_with_its_line() {
        // Inside the rows, inside a statement, and after a whole statement but before the end.
        let cut = &DUMP[..DUMP.find("2\ty").unwrap_or(0) + 2];
        let r = verify(cut.as_bytes());
        assert!(!r.is_sound());
        assert!(r.blocks[0].error.as_deref().is_some_and(|e| e.contains("cut short")), "{r:?}");
        let r = verify(&DUMP.as_bytes()[..DUMP.find("(a int").unwrap_or(0)]);
        assert!(r.damage.iter().any(|d| d.contains("ends inside a statement")), "{r:?}");
        let cut = &DUMP[..DUMP.find("\n\n\n--").unwrap_or(0) + 1];
        let r = verify(cut.as_bytes());
        assert!(r.damage.iter().any(|d| d.contains("closing comment")), "{r:?}");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_named_by_line() {
        let r = verify(DUMP.replace("2\ty", "2\ty\tz").as_bytes());
        assert_eq!(r.blocks[0].error.as_deref(), Some("line 9: a row of 3 fields where the COPY lists 2 columns"));
    }

    #[test]
    fn a_refused_meta_command_is_damage() {
        let r = verify(DUMP.replace("CREATE TABLE", "\\! id\nCREATE TABLE").as_bytes());
        assert_eq!(r.damage, ["line 5: psql meta-command \\! is not allowed in a script pgsurge restores (only \\connect, \\encoding, \\restrict and \\unrestrict, as pg_dump and pg_dumpall write them, and \\set ON_ERROR_STOP)"]);
    }

    #[test]
    fn a_hand_made_script_needs_no_closing_comment() {
        let r = verify("CREATE TABLE t (a int);\nCOPY t FROM stdin;\n1\n\\.\n".as_bytes());
        assert!(r.is_sound(), "{r:?}");
        assert_eq!(r.written_by, None);
        assert_eq!(r.blocks[0].table, "t");
    }
}
