//! The archive crate's one error type: what went wrong (`ErrorKind`) and where (`Location`).
//!
//! Variants describe only their own failure; the location (file, byte offset, TOC entry) is
//! printed once, by `Error`'s `Display`, so every message says where without repeating itself.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::ids::DumpId;

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which TOC entry an error concerns, captured as text so the error outlives the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLabel {
    pub dump_id: DumpId,
    pub desc: String,
    pub namespace: Option<String>,
    pub tag: String,
}

impl fmt::Display for EntryLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {} ({} ", self.dump_id, self.desc)?;
        match &self.namespace {
            Some(ns) if !ns.is_empty() => write!(f, "{}.{})", ns, self.tag),
            _ => write!(f, "{})", self.tag),
        }
    }
}

/// Where in the archive an error happened. Every part is optional: a header error has no
/// entry, a directory-format error may have no byte offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file being read when the error happened, if it is not the archive itself
    /// (a member file of a directory archive, or a tar member name).
    pub file: Option<PathBuf>,
    /// Absolute byte offset in that file (or in the archive stream).
    pub offset: Option<u64>,
    pub entry: Option<EntryLabel>,
}

/// An error reading an archive: what went wrong, and where.
#[derive(Debug)]
pub struct Error(Box<Inner>);

/// Boxed so that `Result<T, Error>` stays the size of a pointer beside `T`: errors are rare,
/// results are everywhere.
#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    location: Location,
}

impl Error {
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner { kind, location: Location::default() }))
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    pub fn location(&self) -> &Location {
        &self.0.location
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        if self.0.location.offset.is_none() {
            self.0.location.offset = Some(offset);
        }
        self
    }

    pub(crate) fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.0.location.file.is_none() {
            self.0.location.file = Some(file.into());
        }
        self
    }

    pub(crate) fn for_entry(mut self, entry: EntryLabel) -> Self {
        if self.0.location.entry.is_none() {
            self.0.location.entry = Some(entry);
        }
        self
    }

    /// Wraps this error so it can travel through `std::io::Read`; `from_io` unwraps it.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// Recovers an archive error that travelled through an `io::Error`, or classifies a
    /// genuine I/O error.
    pub(crate) fn from_io(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => return *inner,
                Some(Err(other)) => return Error::new(ErrorKind::Io(io::Error::other(other))),
                None => unreachable!("get_ref() returned Some"),
            }
        }
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return Error::new(ErrorKind::UnexpectedEof);
        }
        Error::new(ErrorKind::Io(err))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(entry) = &self.0.location.entry {
            write!(f, "{entry}: ")?;
        }
        if let Some(file) = &self.0.location.file {
            write!(f, "`{}`: ", file.display())?;
        }
        if let Some(offset) = self.0.location.offset {
            write!(f, "at byte {offset}: ")?;
        }
        write!(f, "{}", self.0.kind)
    }
}

// The kind's message already includes its cause's text, so `source()` stays `None`: a
// chain printed with `{:#}` would otherwise say everything twice.
impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error("could not read archive: {0}")]
    Io(#[source] io::Error),
    #[error("could not open `{path}`: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unexpected end of archive: needed {wanted} bytes, {available} left")]
    Truncated { wanted: u64, available: u64 },
    #[error("data offset {offset} lies beyond the end of the archive ({len} bytes): the archive is truncated")]
    OffsetBeyondEnd { offset: u64, len: u64 },
    #[error("unexpected end of archive")]
    UnexpectedEof,
    #[error("input file is too short (read {read}, expected 5)")]
    TooShort { read: usize },
    #[error("input file appears to be a text format dump (a psql script); restore it with psql")]
    TextDump,
    #[error("input file does not appear to be a valid archive")]
    NotAnArchive,
    #[error("input file does not appear to be a valid archive (too short?)")]
    NotAnArchiveTooShort,
    #[error("directory `{0}` does not appear to be a valid archive (\"toc.dat\" does not exist)")]
    NotADirectoryArchive(PathBuf),
    #[error("did not find magic string in file header")]
    BadMagic,
    #[error("unsupported archive version {major}.{minor}.{rev}; pgsurge reads versions 1.12 to 1.16 (pg_dump 9.0 to 18)")]
    UnsupportedVersion { major: u8, minor: u8, rev: u8 },
    #[error("unsupported integer size {0} in file header")]
    BadIntSize(u8),
    #[error("unsupported offset size {0} in file header")]
    BadOffsetSize(u8),
    #[error("expected format ({expected}) differs from format found in file ({found})")]
    FormatMismatch { expected: u8, found: u8 },
    #[error("invalid compression code {0} in file header")]
    BadCompression(i64),
    #[error("compression is not supported by tar archive format")]
    CompressedTar,
    #[error("string length {len} exceeds the {available} bytes left")]
    StringTooLong { len: u64, available: u64 },
    #[error("NUL byte inside a string: pg_dump writes none, the archive is damaged")]
    NulInString,
    #[error("invalid count {0}")]
    BadCount(i64),
    #[error("entry ID {0} out of range -- perhaps a corrupt TOC")]
    BadDumpId(i64),
    #[error("invalid section {0} in TOC entry")]
    BadSection(i64),
    #[error("invalid dependency \"{0}\" in TOC entry")]
    BadDependency(String),
    #[error("unexpected data offset flag {0}")]
    BadOffsetFlag(u8),
    #[error("file offset in dump file is too large")]
    OffsetTooLarge,
    #[error("unrecognized data block type ({0}) while searching archive")]
    BadBlockType(u8),
    #[error("found unexpected block ID ({found}) when reading data -- expected {expected}")]
    BlockIdMismatch { found: i64, expected: DumpId },
    #[error("could not find block ID {0} in archive -- possibly due to out-of-order restore request, which cannot be handled due to non-seekable input file")]
    BlockNotFoundStream(DumpId),
    #[error("could not find block ID {0} in archive -- possibly corrupt archive")]
    BlockNotFound(DumpId),
    #[error("invalid chunk length {0}")]
    BadChunkLength(i64),
    #[error("corrupt {algorithm} data: {source}")]
    Decompress {
        algorithm: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{algorithm} stream ends before its data is complete")]
    CompressedTruncated { algorithm: &'static str },
    #[error("{0} bytes of unexpected data after the end of the compressed stream")]
    TrailingData(u64),
    #[error("entry has no data in this archive")]
    NoData,
    #[error("entry {0} is not in the archive")]
    NoSuchEntry(DumpId),
    #[error("could not open large object TOC file `{path}`: {source}")]
    BlobTocOpen {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid line {line_no} in large object TOC file `{path}`: \"{line}\"")]
    BadBlobTocLine { path: PathBuf, line_no: u64, line: String },
    #[error("file name \"{0}\" in the archive is not a plain file name inside the archive directory: the archive is damaged")]
    UnsafeFileName(String),
    #[error("could not open input file `{path}`: {source}")]
    DataFileOpen {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("corrupt tar header found in {member} (expected checksum {expected}, computed {computed})")]
    TarChecksum { member: String, expected: u64, computed: u64 },
    #[error("invalid size field in tar header of {0}")]
    TarSize(String),
    #[error("could not find header for file \"{0}\" in tar archive")]
    TarMemberNotFound(String),
    #[error("restoring data out of order is not supported in this archive format: \"{wanted}\" is required, but comes before \"{current}\" in the archive file.")]
    TarOutOfOrder { wanted: String, current: String },
    #[error("{0}")]
    MalformedCopy(String),
    #[error("large object OID 0 is invalid")]
    ZeroOid,
    // What accounting for every byte of an archive finds (`layout`): things pg_dump never
    // writes, which reading the TOC's entries alone would not notice.
    #[error("the {len} bytes between the end of the TOC and the first data block (at byte {next}) belong to neither: {cause}")]
    GapAfterToc { len: u64, next: u64, cause: String },
    #[error("{len} bytes up to the next data block (at byte {next}) are not readable data blocks: {cause}")]
    UnreadableBlocks { len: u64, next: u64, cause: String },
    #[error("the last {len} bytes of the archive are not readable data blocks: {cause}")]
    UnreadableToEnd { len: u64, cause: String },
    #[error("{len} bytes follow the last data block, where pg_dump ends the archive")]
    TrailingBytes { len: u64 },
    #[error("a data block of dump id {id} ({len} bytes) that no TOC entry claims")]
    UnclaimedBlock { id: i64, len: u64 },
    #[error("{count} data blocks (dump ids {first} to {last}, {len} bytes) that no TOC entry claims")]
    UnclaimedBlocks { count: u64, first: i64, last: i64, len: u64 },
    #[error("a data block of this entry, which reads its data from byte {claimed} instead")]
    StrayBlock { claimed: u64 },
    #[error("the entry's data offset points here, inside the header and TOC (which end at byte {toc_end})")]
    OffsetInsideToc { toc_end: u64 },
    #[error("the entry's data offset points here, as entry {other}'s does")]
    SharedOffset { other: DumpId },
    #[error("dump id {0} is used by more than one TOC entry")]
    DuplicateDumpId(DumpId),
    #[error("{len} bytes follow the last of the TOC's {count} entries")]
    TocTrailing { len: u64, count: usize },
    #[error("the tar archive ends without its end-of-archive blocks ({zeros} of 1024 zero bytes)")]
    TarNoEnd { zeros: u64 },
    #[error("no TOC entry names this {0}; pg_restore ignores it")]
    UnclaimedFile(&'static str),
    #[error("named as pg_dump names an entry's data, but no TOC entry names this {0}: it would not be restored")]
    UnclaimedDataFile(&'static str),
}
