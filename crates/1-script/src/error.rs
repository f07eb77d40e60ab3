//! What can be wrong with a script, each with the line it was found on: the one-line errors
//! a user reads, and the kinds a caller matches on.

use std::io;

/// A script that cannot be read on, and where.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ScriptError {
    /// 1-based line of the script where the problem is (where the statement or
    /// meta-command starts).
    pub line: u64,
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// A psql meta-command pgsurge does not obey: it is never run, and the script stops
    /// here, before anything of it is sent.
    #[error("psql meta-command {command} is not allowed in a script pgsurge restores (only \\connect, \\encoding, \\restrict and \\unrestrict, as pg_dump and pg_dumpall write them, and \\set ON_ERROR_STOP)")]
    MetaCommandRefused { command: String },
    /// Between `\restrict KEY` and `\unrestrict KEY` no other meta-command is obeyed.
    #[error("psql meta-command {command} inside a \\restrict section (psql refuses it there too)")]
    Restricted { command: String },
    /// `\unrestrict` with another key than `\restrict` gave, or without `\restrict`.
    #[error("\\unrestrict with a key that does not match the \\restrict before it")]
    UnrestrictMismatch,
    /// A meta-command pgsurge obeys, but whose arguments it cannot read.
    #[error("{command}: {reason}")]
    BadMetaArguments { command: String, reason: String },
    /// A meta-command in the middle of a statement: pg_dump never writes one there.
    #[error("psql meta-command {command} in the middle of a statement")]
    MetaInStatement { command: String },
    /// One statement longer than the server accepts.
    #[error("a statement longer than {limit} bytes (the most a server accepts in one query)")]
    StatementTooLong { limit: usize },
    /// The script sets a client encoding in which a byte of a character can look like a
    /// quote or a backslash.
    #[error("the script sets client_encoding {encoding}, in which pgsurge cannot tell where its statements end; convert it to UTF8 first (iconv)")]
    UnsafeEncoding { encoding: String },
    /// A NUL byte: no server takes one in a query or in COPY text, and psql would cut the
    /// line there.
    #[error("a NUL byte")]
    Nul,
    /// A statement changes how the rest of the script reads in a way pgsurge cannot follow
    /// from its text (psql follows what the server reports).
    #[error("this statement may change {setting} in a way pgsurge cannot follow from the script's text (pg_dump writes only SET {setting} = …)")]
    UnfollowableSetting { setting: &'static str },
    /// A meta-command line longer than any pg_dump writes.
    #[error("a meta-command line longer than {limit} bytes")]
    MetaTooLong { limit: usize },
    /// A COPY that reads a file or runs a program on the server, or sends rows back: pg_dump
    /// never writes one, and a restore runs none unless told it may.
    #[error("a COPY that reads or writes {kind}: pgsurge runs none from a script (pg_dump never writes one)")]
    ServerCopy { kind: &'static str },
    #[error("reading the script: {0}")]
    Io(#[from] io::Error),
}
