//! Where rendered output goes: the [`Target`] a renderer drives, and [`ScriptTarget`], which
//! writes pg_restore's `-f` script.
//!
//! One renderer serves both the script and the restore (docs/architecture.md):
//! it decides *what* happens, entry by entry, and says so to a target in terms that both can
//! carry out — text only a script shows, commands pg_restore would send as one Query each,
//! table data, large objects, a move to another database. A script target prints all of it;
//! a database target (in `engine`) executes the commands and streams the data.

use std::io::Write;

use pgsurge_archive::{Oid, TocEntry};

use super::RenderError;
use crate::foreign_key::LaterValidation;
use crate::primary_key::IndexFirst;
use crate::sql;

/// `LOBBUFSIZE` in pg_backup_archiver.h: large-object data is written in `lowrite` calls of
/// this many bytes (the last one shorter).
pub const LOBBUFSIZE: usize = 16384;
/// `INV_WRITE` in libpq-fs.h, the mode of the script's `lo_open` calls.
pub const INV_WRITE: u32 = 0x20000;

/// What the renderer is doing with an entry: a restore counts what it created or loaded,
/// and never a `--clean` drop as one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Drop,
    Restore,
}

/// The receiving end of a renderer. Methods are called in script order.
pub trait Target {
    /// Text only a script shows: comment blocks, blank lines, `\restrict`, timestamps.
    fn text(&mut self, text: &[u8]) -> Result<(), RenderError>;

    /// A command pg_restore sends to the server as one simple Query (a multi-statement
    /// definition included); a script shows it verbatim.
    fn command(&mut self, sql: &[u8]) -> Result<(), RenderError>;

    /// A session setting pg_restore sends on its own and reports as `failure: <server
    /// error>`, without the command (`could not set "search_path" to …`).
    fn setting(&mut self, sql: &[u8], _failure: &str) -> Result<(), RenderError> {
        self.command(sql)
    }

    /// A foreign key pg_dump adds and validates in one command, `sql`, which a database
    /// target may add `NOT VALID` and then validate (`later`, see `foreign_key`), so that
    /// the validation takes weaker locks. The outcome must be `sql`'s: failures reported and
    /// counted as its, and no constraint left where it would have failed. A script shows
    /// `sql`.
    fn foreign_key(&mut self, sql: &[u8], _later: &LaterValidation) -> Result<(), RenderError> {
        self.command(sql)
    }

    /// A primary key or unique constraint pg_dump adds, building its index, in one command,
    /// `sql`, which a database target may build as a unique index first and then make the
    /// constraint's (`first`, see `primary_key`), so that the build takes a weaker lock. The
    /// outcome must be `sql`'s, as with [`Target::foreign_key`]. A script shows `sql`.
    fn unique_index_first(&mut self, sql: &[u8], _first: &IndexFirst) -> Result<(), RenderError> {
        self.command(sql)
    }

    /// A command of a long run of independent one-per-object commands (`lo_create`, `ALTER
    /// LARGE OBJECT … OWNER TO`, per-object grants). A database target may send several
    /// before reading their results; it reports and counts each failure as
    /// [`Target::command`] would, and sends nothing else before they are all answered.
    fn batched_command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        self.command(sql)
    }

    /// The entry is done: whatever a target holds back (batched commands, buffered
    /// large-object pieces) must reach the server now.
    fn flush(&mut self) -> Result<(), RenderError> {
        Ok(())
    }

    /// Everything given so far must take effect now, visible to other sessions (a parallel
    /// restore's workers are about to start): a target that holds commands back to commit
    /// many at once sends and commits them.
    fn commit_held(&mut self) -> Result<(), RenderError> {
        Ok(())
    }

    /// The fixed session settings a session starts with (`_doSetFixedOutputState`). A
    /// database connection applied them when it was opened, so only a script shows them.
    fn preamble(&mut self, sql: &[u8]) -> Result<(), RenderError>;

    /// Moves the session to database `dbname` (`--create`). `script` is what a script
    /// shows for it (`\connect …`, with `\unrestrict`/`\restrict` around it).
    fn connect(&mut self, dbname: &[u8], script: &[u8]) -> Result<(), RenderError>;

    /// The renderer starts on an entry (to drop it under `--clean`, or to restore it); later
    /// commands belong to it, for error reports and for what the restore counts.
    fn entry(&mut self, _te: &TocEntry, _action: Action) {}

    /// Whether the entry's commands so far all succeeded (a script cannot know: `true`). A
    /// database target may first have to send what it holds.
    fn entry_succeeded(&mut self) -> Result<bool, RenderError> {
        Ok(true)
    }

    /// Whether the session was replaced by a new one since the last call (its settings —
    /// user, search_path, tablespace, access method — are the server's defaults again).
    fn session_lost(&mut self) -> bool {
        false
    }

    /// Table data begins: `copy` is its `COPY … FROM stdin;` statement, or `None` when the
    /// data itself is SQL (`--inserts` dumps, old `BLOB COMMENTS`).
    fn data_start(&mut self, te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError>;
    /// A piece of decompressed table data, cut wherever decompression cut it.
    fn data(&mut self, bytes: &[u8]) -> Result<(), RenderError>;
    fn data_end(&mut self) -> Result<(), RenderError>;
    /// How many archive bytes of the entry's data have been read (for progress).
    fn data_read(&mut self, _archive_bytes: u64) {}

    /// A large object's contents begin. `create` (archives before 1.12) means the object is
    /// created here, after unlinking any old one when `unlink_first` (`--clean`).
    fn lo_start(&mut self, oid: Oid, create: bool, unlink_first: bool) -> Result<(), RenderError>;
    fn lo_data(&mut self, bytes: &[u8]) -> Result<(), RenderError>;
    fn lo_end(&mut self) -> Result<(), RenderError>;
}

/// pg_restore's `-f` output: everything, as text.
pub struct ScriptTarget<'a> {
    out: &'a mut dyn Write,
    /// The archive's standard_conforming_strings, which decides how `lowrite` literals look.
    std_strings: bool,
    /// A large object's bytes not yet written: every `lowrite` but the last carries exactly
    /// [`LOBBUFSIZE`] bytes, however the archive cut them.
    lo_buf: Vec<u8>,
}

impl<'a> ScriptTarget<'a> {
    pub fn new(out: &'a mut dyn Write, std_strings: bool) -> Self {
        ScriptTarget { out, std_strings, lo_buf: Vec::new() }
    }

    fn write_lowrite(&mut self) -> Result<(), RenderError> {
        let line = [b"SELECT pg_catalog.lowrite(0, ", sql::bytea_literal(&self.lo_buf, self.std_strings).as_slice(), b");\n"].concat();
        self.lo_buf.clear();
        Ok(self.out.write_all(&line)?)
    }
}

impl Target for ScriptTarget<'_> {
    fn text(&mut self, text: &[u8]) -> Result<(), RenderError> {
        Ok(self.out.write_all(text)?)
    }

    fn command(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        Ok(self.out.write_all(sql)?)
    }

    fn preamble(&mut self, sql: &[u8]) -> Result<(), RenderError> {
        Ok(self.out.write_all(sql)?)
    }

    fn connect(&mut self, _dbname: &[u8], script: &[u8]) -> Result<(), RenderError> {
        Ok(self.out.write_all(script)?)
    }

    fn data_start(&mut self, _te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError> {
        if let Some(copy) = copy {
            self.out.write_all(copy)?;
        }
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        Ok(self.out.write_all(bytes)?)
    }

    fn data_end(&mut self) -> Result<(), RenderError> {
        Ok(())
    }

    fn lo_start(&mut self, oid: Oid, create: bool, unlink_first: bool) -> Result<(), RenderError> {
        let mut s = Vec::new();
        if create {
            if unlink_first {
                s.extend_from_slice(format!("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '{oid}';\n").as_bytes());
            }
            s.extend_from_slice(format!("SELECT pg_catalog.lo_open(pg_catalog.lo_create('{oid}'), {INV_WRITE});\n").as_bytes());
        } else {
            s.extend_from_slice(format!("SELECT pg_catalog.lo_open('{oid}', {INV_WRITE});\n").as_bytes());
        }
        self.lo_buf.clear();
        Ok(self.out.write_all(&s)?)
    }

    fn lo_data(&mut self, mut bytes: &[u8]) -> Result<(), RenderError> {
        // Flush whenever more data than the buffer holds arrives, so a chunk that exactly
        // fills it waits: the last lowrite may be full-size, never empty.
        while self.lo_buf.len() + bytes.len() > LOBBUFSIZE {
            let avail = LOBBUFSIZE - self.lo_buf.len();
            self.lo_buf.extend_from_slice(&bytes[..avail]);
            bytes = &bytes[avail..];
            self.write_lowrite()?;
        }
        self.lo_buf.extend_from_slice(bytes);
        Ok(())
    }

    fn lo_end(&mut self) -> Result<(), RenderError> {
        if !self.lo_buf.is_empty() {
            self.write_lowrite()?;
        }
        Ok(self.out.write_all(b"SELECT pg_catalog.lo_close(0);\n\n")?)
    }
}
