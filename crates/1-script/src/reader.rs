//! Reading a script into what a restore runs, in order: statements, the rows of each
//! `COPY … FROM stdin` (streamed, never held whole), and the meta-commands pgsurge obeys.
//! Everything else a script could ask of psql stops the reading with an error naming its
//! line, before the caller has run anything that comes after it.
//!
//! What is held is bounded whatever the input: one statement (at most what a server takes
//! in one query) and one chunk of rows.

use std::io::BufRead;

use crate::error::{ErrorKind, ScriptError};
use crate::lexer::{Lexer, Stop};
use crate::meta::{self, Meta};
use crate::statement::{self, CopySource, Setting};

/// The longest statement a server accepts (its largest allocation, 1 GB less one byte).
pub const MAX_STATEMENT: usize = 0x3fff_ffff;
/// The longest meta-command line read (pg_dump's longest is a `\connect` with a quoted
/// database name).
const MAX_META: usize = 64 * 1024;
/// Rows of a `COPY` are handed out in chunks of about this many bytes (whole lines, unless
/// one line is longer).
pub const COPY_CHUNK: usize = 256 * 1024;

/// One thing a script asks for, in the order it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A statement as written (comments and all, up to and including its `;`), and the line
    /// where it starts. `terminated` is false for text left without a `;` at the end of the
    /// script, which psql sends all the same.
    Statement { text: Vec<u8>, line: u64, copy: Option<CopySource>, terminated: bool },
    /// Rows of the `COPY … FROM stdin` just given, as they are in the script.
    CopyData(Vec<u8>),
    /// The rows ended: at a line `\.` (`terminated`), or at the end of the script.
    CopyEnd { terminated: bool, line: u64 },
    /// A meta-command pgsurge obeys (`\restrict` and `\unrestrict` are checked here and
    /// given too, for a listing).
    Meta { meta: Meta, line: u64 },
    /// A line comment between statements, as written (given only by a reader made
    /// [`ScriptReader::with_comments`]).
    Comment { text: Vec<u8>, line: u64 },
}

enum Mode {
    Sql,
    /// Reading the rows of a COPY; whether the next byte starts a line.
    Copy { at_line_start: bool },
}

/// A script read item by item (see [`Item`]).
pub struct ScriptReader<R> {
    input: R,
    lexer: Lexer,
    /// Lines read so far.
    lines: u64,
    /// Bytes taken from the input so far: where the next line starts.
    consumed: u64,
    /// The line being scanned, its number, and how far it is scanned.
    line: Vec<u8>,
    line_no: u64,
    scanned: usize,
    statement: Vec<u8>,
    statement_line: u64,
    mode: Mode,
    /// The key of the `\restrict` in force.
    restricted: Option<String>,
    max_statement: usize,
    /// `standard_conforming_strings` as a statement just set it: psql reads a line with the
    /// value it had when the line began, so it applies from the next line.
    next_std_strings: Option<bool>,
    /// A client encoding set by the script in which it cannot be split byte by byte: the
    /// next statement is refused.
    unsafe_encoding: Option<(String, u64)>,
    /// `COPY` from or to a server file or program, or to the client, is given instead of
    /// refused (see [`ScriptReader::allowing_server_files`]).
    allow_server_files: bool,
    /// Comment lines between statements are given as items.
    comments: bool,
    /// An item found while reading the one before it, given next.
    pending: Option<Item>,
    done: bool,
}

impl<R: BufRead> ScriptReader<R> {
    pub fn new(input: R) -> ScriptReader<R> {
        ScriptReader::with_limit(input, MAX_STATEMENT)
    }

    /// A reader that refuses statements longer than `max_statement` bytes.
    pub fn with_limit(input: R, max_statement: usize) -> ScriptReader<R> {
        ScriptReader {
            input,
            lexer: Lexer::default(),
            lines: 0,
            consumed: 0,
            line: Vec::new(),
            line_no: 0,
            scanned: 0,
            statement: Vec::new(),
            statement_line: 0,
            mode: Mode::Sql,
            restricted: None,
            max_statement,
            next_std_strings: None,
            unsafe_encoding: None,
            allow_server_files: false,
            comments: false,
            pending: None,
            done: false,
        }
    }

    /// Gives `COPY … FROM 'file'`, `FROM PROGRAM` and `COPY … TO` statements as statements
    /// instead of stopping at them: the caller has been told the script may use the
    /// server's files.
    pub fn allowing_server_files(mut self) -> ScriptReader<R> {
        self.allow_server_files = true;
        self
    }

    /// Gives the comment lines between statements as [`Item::Comment`]s (for a listing).
    pub fn with_comments(mut self) -> ScriptReader<R> {
        self.comments = true;
        self
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes of the input read so far. After a `COPY … FROM stdin` statement is given, its
    /// rows are the input's bytes from here on, as many as its [`Item::CopyData`] hold: a
    /// caller holding the same text at random access can load them from there instead.
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    fn error(&self, line: u64, kind: ErrorKind) -> ScriptError {
        ScriptError { line, kind }
    }

    /// The next item, or `None` at the end of the script.
    pub fn next_item(&mut self) -> Result<Option<Item>, ScriptError> {
        if let Some(item) = self.pending.take() {
            return Ok(Some(item));
        }
        if self.done {
            return Ok(None);
        }
        let item = match self.mode {
            Mode::Copy { .. } => self.copy_rows(),
            Mode::Sql => self.sql(),
        };
        if item.is_err() {
            self.done = true;
        }
        item
    }

    /// Reads a piece of a line, up to `max` bytes or its newline (included): `None` at the
    /// end of the input.
    fn piece(&mut self, max: usize, into: &mut Vec<u8>) -> Result<bool, ScriptError> {
        let start = into.len();
        loop {
            let buf = self.input.fill_buf().map_err(|e| ScriptError { line: self.lines + 1, kind: e.into() })?;
            if buf.is_empty() {
                return Ok(into.len() > start);
            }
            let room = max.saturating_sub(into.len() - start);
            let window = &buf[..buf.len().min(room)];
            let (take, ended) = match memchr::memchr(b'\n', window) {
                Some(p) => (p + 1, true),
                None => (window.len(), false),
            };
            into.extend_from_slice(&buf[..take]);
            self.input.consume(take);
            self.consumed += take as u64;
            if ended {
                self.lines += 1;
                return Ok(true);
            }
            if into.len() - start >= max {
                return Ok(true);
            }
        }
    }

    fn sql(&mut self) -> Result<Option<Item>, ScriptError> {
        if let Some((encoding, line)) = &self.unsafe_encoding {
            return Err(self.error(*line, ErrorKind::UnsafeEncoding { encoding: encoding.clone() }));
        }
        loop {
            if self.scanned >= self.line.len() {
                self.line.clear();
                self.scanned = 0;
                let room = self.max_statement.saturating_sub(self.statement.len()).saturating_add(1);
                let mut line = std::mem::take(&mut self.line);
                let more = self.piece(room, &mut line)?;
                self.line = line;
                if !more {
                    return self.end_of_script();
                }
                // Counted once its newline is read; the last line may have none.
                self.line_no = if self.line.last() == Some(&b'\n') { self.lines } else { self.lines + 1 };
                if memchr::memchr(0, &self.line).is_some() {
                    return Err(self.error(self.line_no, ErrorKind::Nul));
                }
                if let Some(on) = self.next_std_strings.take() {
                    self.lexer.std_strings = on;
                }
                if self.line_no == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
                    // A byte-order mark, which psql drops too.
                    self.scanned = 3;
                }
                if self.line.len() >= room && self.line.last() != Some(&b'\n') {
                    let line = if self.lexer.blank { self.lines + 1 } else { self.statement_line };
                    return Err(self.error(line, ErrorKind::StatementTooLong { limit: self.max_statement }));
                }                // A comment line between statements, for a caller that lists them (pg_dump's
                // `-- Name: …; Type: …` headers).
                if self.comments && self.lexer.blank && self.lexer.in_normal() {
                    let rest = &self.line[self.scanned..];
                    let start = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    if rest[start..].starts_with(b"--") {
                        let end = rest.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |p| p + 1).max(start);
                        let text = rest[start..end].to_vec();
                        self.scanned = self.line.len();
                        return Ok(Some(Item::Comment { text, line: self.line_no }));
                    }
                }
            }
            let from = self.scanned;
            let was_blank = self.lexer.blank;
            let stop = self.lexer.scan(&self.line, from);
            let end = match stop {
                Some(Stop::Semicolon(end)) => end,
                Some(Stop::Backslash(at)) => at,
                None => self.line.len(),
            };
            // (A `;` leaves the lexer blank again: the statement began here if it was blank.)
            let began = !self.lexer.blank || matches!(stop, Some(Stop::Semicolon(_)));
            if was_blank && began {
                // The statement starts on this line (the line of its first token).
                self.statement_line = self.line_number();
            }
            if self.statement.len() + (end - from) > self.max_statement {
                return Err(self.error(self.statement_line, ErrorKind::StatementTooLong { limit: self.max_statement }));
            }
            self.statement.extend_from_slice(&self.line[from..end]);
            self.scanned = end;
            match stop {
                // Whitespace and comments before a statement are no part of it (psql 15+
                // drops them too), so a script of comments holds nothing.
                None if self.lexer.blank && self.lexer.in_normal() => self.statement.clear(),
                None => {}
                Some(Stop::Semicolon(_)) => return self.statement_done(true).map(Some),
                Some(Stop::Backslash(at)) => return self.meta(at).map(Some),
            }
        }
    }

    fn line_number(&self) -> u64 {
        self.line_no
    }

    /// A statement is complete: given, and what it changes is taken into account.
    fn statement_done(&mut self, terminated: bool) -> Result<Item, ScriptError> {
        let mut text = std::mem::take(&mut self.statement);
        // As psql: whitespace and line comments before a statement are not part of it.
        let lead = leading_space(&text);
        text.drain(..lead);
        let copy = statement::copy_source(&text);
        match statement::setting(&text) {
            Some(Setting::StandardConformingStrings(on)) => self.next_std_strings = Some(on),
            Some(Setting::ClientEncoding(e)) if statement::splits_unsafely(&e) => self.unsafe_encoding = Some((e, self.statement_line)),
            Some(Setting::ClientEncoding(_)) => self.unsafe_encoding = None,
            Some(Setting::Unknown(setting)) => return Err(self.error(self.statement_line, ErrorKind::UnfollowableSetting { setting })),
            None => {}
        }
        match copy {
            Some(CopySource::Stdin) => self.mode = Mode::Copy { at_line_start: true },
            // pg_dump never writes these: the server would read or write its own files, or
            // run a program, or send rows back where a restore expects none.
            Some(kind @ (CopySource::ServerFile | CopySource::Program | CopySource::To)) if !self.allow_server_files => {
                return Err(self.error(self.statement_line, ErrorKind::ServerCopy { kind: kind.describe() }));
            }
            _ => {}
        }
        Ok(Item::Statement { text, line: self.statement_line, copy, terminated })
    }

    fn meta(&mut self, at: usize) -> Result<Item, ScriptError> {
        let line = self.line_number();
        let end = self.line.iter().rposition(|&b| b != b'\n' && b != b'\r').map_or(at, |p| p + 1).max(at);
        if end - at > MAX_META {
            return Err(self.error(line, ErrorKind::MetaTooLong { limit: MAX_META }));
        }
        let text = self.line[at..end].to_vec();
        self.scanned = self.line.len();
        let command = || {
            let body = text.get(1..).unwrap_or_default();
            let len = body.iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count().max(body.len().min(1));
            format!("\\{}", String::from_utf8_lossy(&body[..len]))
        };
        if !self.lexer.blank {
            return Err(self.error(line, ErrorKind::MetaInStatement { command: command() }));
        }
        let meta = meta::parse(&text).map_err(|kind| self.error(line, kind))?;
        // Whitespace and comments before it belong to no statement.
        self.statement.clear();
        match (&meta, &self.restricted) {
            (Meta::Unrestrict { key }, Some(k)) if key == k => self.restricted = None,
            (Meta::Unrestrict { .. }, _) => return Err(self.error(line, ErrorKind::UnrestrictMismatch)),
            (_, Some(_)) => return Err(self.error(line, ErrorKind::Restricted { command: command() })),
            (Meta::Restrict { key }, None) => self.restricted = Some(key.clone()),
            // A new connection reports the server's own setting; pg_dump sets it again.
            (Meta::Connect { .. }, None) => self.next_std_strings = Some(true),
            (Meta::Encoding(e), None) if statement::splits_unsafely(e) => return Err(self.error(line, ErrorKind::UnsafeEncoding { encoding: e.clone() })),
            _ => {}
        }
        Ok(Item::Meta { meta, line })
    }

    fn end_of_script(&mut self) -> Result<Option<Item>, ScriptError> {
        self.done = true;
        if self.lexer.blank {
            return Ok(None);
        }
        self.lexer.blank = true;
        self.statement_done(false).map(Some)
    }

    fn copy_rows(&mut self) -> Result<Option<Item>, ScriptError> {
        let mut rows = Vec::new();
        loop {
            let before = rows.len();
            let at_line_start = matches!(self.mode, Mode::Copy { at_line_start: true });
            let more = self.piece(COPY_CHUNK, &mut rows)?;
            let piece_ends_line = rows.last() == Some(&b'\n');
            // The line the piece is on: counted once its newline is read.
            let piece_line = if piece_ends_line || !more { self.lines } else { self.lines + 1 };
            if memchr::memchr(0, &rows[before..]).is_some() {
                return Err(self.error(piece_line, ErrorKind::Nul));
            }
            let end = if !more {
                // The end of the script ends the rows, as in psql.
                Some(false)
            } else if at_line_start && matches!(&rows[before..], b"\\.\n" | b"\\.\r\n" | b"\\.") {
                rows.truncate(before);
                Some(true)
            } else {
                None
            };
            if let Some(terminated) = end {
                self.mode = Mode::Sql;
                let line = match (terminated, rows.last()) {
                    (true, _) => piece_line,
                    // Ended by the end of the script: on its last line.
                    (false, Some(b'\n') | None) => self.lines,
                    (false, Some(_)) => self.lines + 1,
                };
                let end = Item::CopyEnd { terminated, line };
                if rows.is_empty() {
                    return Ok(Some(end));
                }
                self.pending = Some(end);
                return Ok(Some(Item::CopyData(rows)));
            }
            self.mode = Mode::Copy { at_line_start: piece_ends_line };
            if rows.len() >= COPY_CHUNK {
                return Ok(Some(Item::CopyData(rows)));
            }
        }
    }
}

/// How many bytes of whitespace and `--` comments `text` starts with.
fn leading_space(text: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match text.get(i) {
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => i += 1,
            Some(b'-') if text.get(i + 1) == Some(&b'-') => i += memchr::memchr2(b'\n', b'\r', &text[i..]).map_or(text.len() - i, |p| p + 1),
            _ => return i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(script: &str) -> Result<Vec<Item>, ScriptError> {
        items_limited(script, MAX_STATEMENT)
    }

    fn items_limited(script: &str, limit: usize) -> Result<Vec<Item>, ScriptError> {
        let mut reader = ScriptReader::with_limit(script.as_bytes(), limit);
        let mut out = Vec::new();
        while let Some(item) = reader.next_item()? {
            out.push(item);
        }
        Ok(out)
    }

    fn statement(text: &str, line: u64) -> Item {
        let copy = statement::copy_source(text.as_bytes());
        Item::Statement { text: text.as_bytes().to_vec(), line, copy, terminated: true }
    }

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict k3Y\n\nSET statement_timeout = 0;\nSET standard_conforming_strings = on;\n\nCREATE TABLE public.t (\n    a integer,\n    b text\n);\n\nCOPY public.t (a, b) FROM stdin;\n1\tx;y\n2\t\\\\.\n\\.\n\n\\unrestrict k3Y\n";

    #[test]
    fn a_dump_reads_as_psql_reads_it() {
        let got = items(DUMP).unwrap_or_else(|e| panic!("{e}"));
        let want = vec![
            Item::Meta { meta: Meta::Restrict { key: "k3Y".into() }, line: 5 },
            statement("SET statement_timeout = 0;", 7),
            statement("SET standard_conforming_strings = on;", 8),
            statement("CREATE TABLE public.t (\n    a integer,\n    b text\n);", 10),
            statement("COPY public.t (a, b) FROM stdin;", 15),
            Item::CopyData(b"1\tx;y\n2\t\\\\.\n".to_vec()),
            Item::CopyEnd { terminated: true, line: 18 },
            Item::Meta { meta: Meta::Unrestrict { key: "k3Y".into() }, line: 20 },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn text_after_a_copy_statement_on_its_line_runs_after_the_rows() {
        let got = items("COPY t FROM stdin; SELECT 1;\nrow\n\\.\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[1], Item::CopyData(b"row\n".to_vec()));
        assert_eq!(got[2], Item::CopyEnd { terminated: true, line: 3 });
        assert!(matches!(&got[3], Item::Statement { text, line: 1, .. } if text == b"SELECT 1;"));
    }

    #[test]
    fn the_offset_after_a_copy_statement_is_where_its_rows_are() {
        let script = "SET x = 1;\nCOPY t FROM stdin; SELECT 1;\nrow 1\nrow 2\n\\.\nCOPY u FROM stdin;\n\\.\n";
        let mut reader = ScriptReader::new(script.as_bytes());
        let mut found = Vec::new();
        let mut at = None;
        while let Some(item) = reader.next_item().unwrap_or_else(|e| panic!("{e}")) {
            match item {
                Item::Statement { copy: Some(_), .. } => at = Some((reader.offset(), 0)),
                Item::CopyData(rows) => {
                    if let Some((_, len)) = &mut at {
                        *len += rows.len();
                    }
                }
                Item::CopyEnd { .. } => found.extend(at.take()),
                _ => {}
            }
        }
        let rows: Vec<&str> = found.iter().map(|&(start, len)| &script[start as usize..start as usize + len]).collect();
        assert_eq!(rows, ["row 1\nrow 2\n", ""]);
        assert_eq!(reader.offset(), script.len() as u64);
    }

    #[test]
    fn rows_are_never_statements_and_end_only_at_their_own_line() {
        // A row that looks like SQL, a meta-command, or an end marker inside a line.
        let got = items("COPY t FROM stdin;\nDROP TABLE x;\n\\! id\na\\.\n\\.\r\nSELECT 2;").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got[1], Item::CopyData(b"DROP TABLE x;\n\\! id\na\\.\n".to_vec()));
        assert_eq!(got[2], Item::CopyEnd { terminated: true, line: 5 });
        assert!(matches!(&got[3], Item::Statement { terminated: true, line: 6, .. }));
        // Unterminated rows end with the script.
        let got = items("COPY t FROM stdin;\n1\n2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got[1..], [Item::CopyData(b"1\n2".to_vec()), Item::CopyEnd { terminated: false, line: 3 }]);
        let got = items("COPY t FROM stdin;\n1\n\\.").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got[2..], [Item::CopyEnd { terminated: true, line: 3 }]);
    }

    #[test]
    fn long_rows_stream_in_bounded_chunks() {
        let row = "x".repeat(3 * COPY_CHUNK + 7);
        let script = format!("COPY t FROM stdin;\n{row}\n\\.\n");
        let got = items(&script).unwrap_or_else(|e| panic!("{e}"));
        let data: Vec<&Vec<u8>> = got.iter().filter_map(|i| if let Item::CopyData(d) = i { Some(d) } else { None }).collect();
        assert!(data.iter().all(|d| d.len() <= 2 * COPY_CHUNK), "a chunk over the bound");
        assert_eq!(data.iter().map(|d| d.len()).sum::<usize>(), row.len() + 1);
        assert_eq!(got.last(), Some(&Item::CopyEnd { terminated: true, line: 3 }));
    }

    #[test]
    fn refused_meta_commands_name_their_line_and_stop_the_reading() {
        let mut reader = ScriptReader::new("SELECT 1;\n\\! rm -rf ~\nSELECT 2;\n".as_bytes());
        assert!(matches!(reader.next_item(), Ok(Some(Item::Statement { .. }))));
        let e = reader.next_item().unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("line 2: psql meta-command \\! is not allowed"), "{e}");
        assert!(matches!(reader.next_item(), Ok(None)), "nothing after a refusal");
        // A meta-command hidden after a statement on its line, or inside one.
        assert_eq!(items("SELECT 1; \\o /tmp/x\n").unwrap_err().line, 1);
        assert!(matches!(items("SELECT\n1 \\gexec\n").unwrap_err().kind, ErrorKind::MetaInStatement { .. }));
        // Inside \restrict, even \connect is refused; \unrestrict must match.
        assert!(matches!(items("\\restrict a\n\\connect b\n").unwrap_err().kind, ErrorKind::Restricted { .. }));
        assert!(matches!(items("\\restrict a\n\\unrestrict b\n").unwrap_err().kind, ErrorKind::UnrestrictMismatch));
        assert!(matches!(items("\\unrestrict b\n").unwrap_err().kind, ErrorKind::UnrestrictMismatch));
    }

    #[test]
    fn copy_with_server_files_programs_or_to_the_client_is_refused() {
        for (text, what) in [("COPY t FROM '/etc/passwd';\n", "a file on the server"), ("COPY t FROM PROGRAM 'id';\n", "a program on the server"), ("COPY t TO STDOUT;\n", "rows sent back")] {
            let e = items(&format!("SELECT 1;\n{text}")).unwrap_err();
            assert!(matches!(e.kind, ErrorKind::ServerCopy { .. }) && e.line == 2 && e.to_string().contains(what), "{text}: {e}");
            let mut reader = ScriptReader::new(text.as_bytes()).allowing_server_files();
            assert!(matches!(reader.next_item(), Ok(Some(Item::Statement { .. }))), "{text}");
        }
    }

    #[test]
    fn comments_between_statements_are_given_when_asked() {
        let script = "-- Name: t; Type: TABLE\nCREATE TABLE t (\n-- inside\na int);\n  -- after\nSELECT '\n-- in a string\n';\n";
        let mut reader = ScriptReader::new(script.as_bytes()).with_comments();
        let mut got = Vec::new();
        while let Ok(Some(item)) = reader.next_item() {
            got.push(item);
        }
        assert_eq!(got[0], Item::Comment { text: b"-- Name: t; Type: TABLE".to_vec(), line: 1 });
        assert!(matches!(&got[1], Item::Statement { line: 2, .. }));
        assert_eq!(got[2], Item::Comment { text: b"-- after".to_vec(), line: 5 });
        assert_eq!(got.len(), 4, "no comment inside a statement or a string: {got:?}");
        // Without asking, none.
        assert!(items(script).unwrap_or_default().iter().all(|i| !matches!(i, Item::Comment { .. })));
    }

    #[test]
    fn a_backslash_in_a_string_or_comment_is_text() {
        let got = items("SELECT '\\! id', $$\\o x$$;\n-- \\! id\nSELECT E'\\\\';\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 2, "{got:?}");
    }

    #[test]
    fn standard_conforming_strings_off_is_followed() {
        // With it off, 'a\' is not closed at its second quote.
        let got = items("SET standard_conforming_strings = off;\nSELECT 'a\\'; b';\nSET standard_conforming_strings = on;\nSELECT 'a\\';\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(matches!(&got[1], Item::Statement { text, .. } if text.ends_with(b"'a\\'; b';")));
    }

    #[test]
    fn a_setting_applies_from_the_next_line_as_in_psql() {
        // psql lexes the rest of the SET's line with the value the line began with.
        let got = items("SET standard_conforming_strings = off; SELECT 'a\\'; SELECT 1;\nSELECT 'b\\'; c';\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 4, "{got:?}");
    }

    #[test]
    fn a_byte_order_mark_and_nul_bytes() {
        let got = items("\u{feff}SELECT 1;\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, [statement("SELECT 1;", 1)]);
        assert!(matches!(items("SELECT '\0';\n").unwrap_err().kind, ErrorKind::Nul));
        // psql would cut the line at the NUL and read on: refused, in rows too.
        assert!(matches!(items("-- \0\nDROP TABLE t;\n").unwrap_err().kind, ErrorKind::Nul));
        let e = items("COPY t FROM stdin;\nx\0\n\\.\nDROP TABLE t;\n").unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Nul) && e.line == 2, "{e}");
    }

    #[test]
    fn a_comment_ended_by_a_carriage_return_hides_no_statement() {
        let got = items("-- x\rCOPY t FROM stdin;\nDROP TABLE t;\n\\.\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&got[0], Item::Statement { copy: Some(CopySource::Stdin), .. }), "{got:?}");
        assert_eq!(got[1], Item::CopyData(b"DROP TABLE t;\n".to_vec()));
    }

    #[test]
    fn settings_it_cannot_follow_and_unsafe_encodings_stop_it() {
        let e = items("SELECT 1;\nSELECT set_config('standard_conforming_strings', 'off', false);\n").unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnfollowableSetting { .. }) && e.line == 2, "{e}");
        let e = items("\\encoding BIG5\n").unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnsafeEncoding { .. }), "{e}");
        assert!(items("\\encoding SQL_ASCII\n").is_ok());
    }

    #[test]
    fn comments_alone_hold_nothing() {
        let script = "-- x\n".repeat(100);
        assert!(items_limited(&script, 16).unwrap_or_else(|e| panic!("{e}")).is_empty());
    }

    #[test]
    fn statements_over_the_limit_are_refused() {
        let e = items_limited("SELECT 1;\nSELECT '0123456789\n0123456789';\n", 16).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::StatementTooLong { limit: 16 }), "{e}");
        assert_eq!(e.line, 2);
        let e = items_limited(&format!("SELECT '{}';", "y".repeat(100)), 16).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::StatementTooLong { .. }), "{e}");
    }

    #[test]
    fn unsafe_client_encodings_are_refused() {
        let e = items("SET client_encoding = 'SJIS';\nSELECT 1;\n").unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnsafeEncoding { .. }), "{e}");
        assert_eq!(e.line, 1, "the line that set it");
        assert!(items("SET client_encoding = 'LATIN1';\nSELECT 1;\n").is_ok());
    }

    #[test]
    fn a_last_statement_without_its_semicolon_is_given_and_comments_alone_are_not() {
        let got = items("-- a comment\n  /* kept */ SELECT 1;\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, [statement("/* kept */ SELECT 1;", 2)]);
        let got = items("SELECT 1;\n-- only a comment\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 1);
        let got = items("SELECT 1;\nSELECT 2").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(&got[1], Item::Statement { terminated: false, line: 2, .. }));
    }
}
