//! Table data that is SQL rather than COPY text (`--inserts` dumps, old `BLOB COMMENTS`):
//! cut into statements at top-level semicolons, as pg_restore's `ExecuteSimpleCommands`
//! does, and each run on the connection like any other command.

use bstr::{BStr, ByteSlice};
use pgsurge_archive::TocEntry;

use super::connection::Connection;
use super::failure::SessionError;

/// An entry's SQL data on its way to the server.
pub(super) struct InsertData {
    splitter: SqlSplitter,
    /// The entry, as errors name it.
    what: String,
    /// A statement ran past [`MAX_STATEMENT`]: the rest of the data is skipped.
    skipping: bool,
}

impl InsertData {
    /// The data of `te`; `std_strings` is the archive's standard_conforming_strings, which
    /// decides whether a backslash escapes a quote.
    pub fn new(te: &TocEntry, std_strings: bool) -> InsertData {
        let what = if te.desc_is("TABLE DATA") {
            format!("table \"{}.{}\"", te.namespace.as_deref().map_or(BStr::new("(null)"), |n| n.as_bstr()), te.tag)
        } else {
            format!("TOC entry {} ({} {})", te.dump_id, te.desc, te.tag)
        };
        InsertData { splitter: SqlSplitter::new(std_strings), what, skipping: false }
    }

    /// Runs the statements `bytes` complete.
    pub fn data(&mut self, conn: &mut Connection<'_>, bytes: &[u8]) -> Result<(), SessionError> {
        if self.skipping {
            return Ok(());
        }
        let statements = self.splitter.push(bytes);
        let too_long = self.splitter.too_long().map(|start| StatementTooLong { what: self.what.clone(), start });
        for stmt in statements {
            conn.execute(&stmt, "could not execute query")?;
        }
        match too_long {
            Some(e) => {
                self.skipping = true;
                conn.failed(e.to_string(), None)
            }
            None => Ok(()),
        }
    }

    /// Runs what follows the last semicolon, if anything.
    pub fn end(mut self, conn: &mut Connection<'_>) -> Result<(), SessionError> {
        if self.skipping {
            return Ok(());
        }
        if let Some(rest) = self.splitter.finish() {
            conn.execute(&rest, "could not execute query")?;
        }
        Ok(())
    }
}

/// The longest statement `--inserts` data may hold. No server takes a longer one: a Query
/// message is refused past PostgreSQL's MaxAllocSize (1 GB), so this is as long as the
/// longest row pg_dump could have written as an INSERT. Longer means the quote or statement
/// never ends (a damaged archive) and holding it would only cost memory.
const MAX_STATEMENT: usize = 1 << 30;

/// A statement in SQL data longer than [`MAX_STATEMENT`]: the rest of the entry's data is
/// skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not execute query: a statement in the data of {what}, from byte {start} of its data, runs past {MAX_STATEMENT} bytes, more than a server accepts (an unclosed quote?); the rest of its data is skipped")]
pub struct StatementTooLong {
    /// The entry: `table "schema.name"`, or the TOC entry.
    pub what: String,
    /// Where the statement starts in the entry's data.
    pub start: u64,
}

/// Splits SQL data (`--inserts` dumps) into statements at semicolons outside quotes, as
/// pg_restore's `ExecuteSimpleCommands` does; holds at most one unfinished statement, of at
/// most [`MAX_STATEMENT`] bytes.
#[derive(Debug)]
pub struct SqlSplitter {
    std_strings: bool,
    buf: Vec<u8>,
    quote: Option<u8>,
    backslash: bool,
    /// Bytes taken so far, and where the statement in `buf` started.
    taken: u64,
    start: u64,
    limit: usize,
    /// Where the statement that ran past `limit` started; nothing is taken after it.
    overflow: Option<u64>,
}

impl SqlSplitter {
    pub fn new(std_strings: bool) -> Self {
        Self::with_limit(std_strings, MAX_STATEMENT)
    }

    fn with_limit(std_strings: bool, limit: usize) -> Self {
        SqlSplitter { std_strings, buf: Vec::new(), quote: None, backslash: false, taken: 0, start: 0, limit, overflow: None }
    }

    /// Takes more bytes; returns the statements they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        if self.overflow.is_some() {
            return done;
        }
        for (i, &b) in bytes.iter().enumerate() {
            if self.buf.is_empty() && self.quote.is_none() {
                if b.is_ascii_whitespace() {
                    continue;
                }
                self.start = self.taken.saturating_add(i as u64);
            }
            if self.buf.len() >= self.limit {
                self.overflow = Some(self.start);
                self.buf = Vec::new();
                break;
            }
            self.buf.push(b);
            match self.quote {
                Some(q) => {
                    if self.backslash {
                        self.backslash = false;
                    } else if b == b'\\' && q == b'\'' && !self.std_strings {
                        self.backslash = true;
                    } else if b == q {
                        self.quote = None;
                    }
                }
                None => match b {
                    b'\'' | b'"' => self.quote = Some(b),
                    b';' => done.push(std::mem::take(&mut self.buf)),
                    _ => {}
                },
            }
        }
        self.taken = self.taken.saturating_add(bytes.len() as u64);
        done
    }

    /// Where a statement that ran past the limit started in the data, once one has.
    pub fn too_long(&self) -> Option<u64> {
        self.overflow
    }

    /// What is left after the last semicolon, if anything but whitespace.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        let rest = std::mem::take(&mut self.buf);
        (!rest.trim().is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_split_outside_quotes() {
        let mut s = SqlSplitter::new(true);
        let mut got = s.push(b"INSERT INTO t VALUES (1, 'a;b');\nINSERT INTO \"x;y\" VALUES (2, 'it''s');\nINSE");
        got.extend(s.push(b"RT INTO t VALUES (3, '');\n\n"));
        assert_eq!(got, vec![b"INSERT INTO t VALUES (1, 'a;b');".to_vec(), b"INSERT INTO \"x;y\" VALUES (2, 'it''s');".to_vec(), b"INSERT INTO t VALUES (3, '');".to_vec()]);
        assert_eq!(s.finish(), None);
    }

    /// An unclosed quote is not held past the limit: the statements before it still come
    /// out, then the error says where the runaway statement started, and nothing more is
    /// taken or left over.
    #[test]
    fn a_statement_is_held_up_to_the_limit() {
        let mut s = SqlSplitter::with_limit(true, 64);
        let mut got = s.push(b"INSERT INTO t VALUES (1);\n  INSERT INTO t VALUES ('never closed");
        assert_eq!(s.too_long(), None);
        got.extend(s.push(&[b'x'; 100]));
        assert_eq!(got, vec![b"INSERT INTO t VALUES (1);".to_vec()]);
        assert_eq!(s.too_long(), Some(28));
        assert!(s.push(b"'); INSERT INTO t VALUES (2);").is_empty(), "nothing after the runaway statement");
        assert_eq!(s.finish(), None);
        let e = StatementTooLong { what: "table \"public.t\"".into(), start: 28 };
        assert_eq!(
            e.to_string(),
            "could not execute query: a statement in the data of table \"public.t\", from byte 28 of its data, runs past 1073741824 bytes, more than a server accepts (an unclosed quote?); the rest of its data is skipped"
        );
        // A statement of exactly the limit is still whole.
        let mut s = SqlSplitter::with_limit(true, 10);
        assert_eq!(s.push(b"SELECT 12;SELECT 123;"), vec![b"SELECT 12;".to_vec()]);
        assert_eq!(s.too_long(), Some(10));
    }

    #[test]
    fn backslash_escapes_only_without_standard_strings() {
        let mut s = SqlSplitter::new(false);
        assert_eq!(s.push(b"INSERT INTO t VALUES ('a\\';b');").len(), 1);
        let mut s = SqlSplitter::new(true);
        assert_eq!(s.push(b"INSERT INTO t VALUES ('a\\';b');").len(), 1);
        assert!(s.finish().is_some(), "with standard strings the quote closes at \\' and the first ; splits");
    }
}
