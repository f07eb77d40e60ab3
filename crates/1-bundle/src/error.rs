//! What can be wrong with a bundle or its extraction, each naming the bundle member (or the
//! file on disk) it is about: the one-line errors a user reads, and the variants a caller
//! matches on (`NotABundle` and `PgDumpTar` tell it to try another reader).

use std::io;
use std::path::PathBuf;

/// A bundle that cannot be read, or a member that will not be extracted, and why.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file is no zip and no tar (plain, gzip or zstd): not a bundle, maybe a dump.
    #[error("`{path}` is neither a zip nor a tar archive (plain, gzip or zstd)")]
    NotABundle { path: PathBuf },
    /// A tar whose first member is `toc.dat`: a pg_dump tar-format archive, read as one.
    #[error("`{path}` is a pg_dump tar-format archive, not a bundle")]
    PgDumpTar { path: PathBuf },
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The zip's structure (central directory, local headers) is damaged or cut short.
    #[error("reading the zip `{path}`: {what}")]
    Zip {
        path: PathBuf,
        what: String,
        #[source]
        source: zip::result::ZipError,
    },
    /// The bundle ends before a member (or the archive's end marker) is complete.
    #[error("the bundle is cut short {where_}: {what}")]
    Truncated { where_: String, what: String },
    /// A structure inside the bundle that no writer produces.
    #[error("member `{member}`: {what}")]
    Damaged { member: String, what: String },
    /// A name that is not a plain relative path (`..`, absolute, a drive, a backslash, NUL,
    /// too long, not UTF-8).
    #[error("member `{member}`: its name {reason}; refusing the bundle")]
    BadName { member: String, reason: String },
    #[error("member `{member}` appears twice in the bundle; refusing it, since either copy could be the one meant")]
    Duplicate { member: String },
    #[error("the bundle has more than {limit} members")]
    TooManyMembers { limit: usize },
    /// A member that would not stay a plain file, folder or link inside the target folder.
    #[error("member `{member}`: {reason}")]
    Refused { member: String, reason: String },
    #[error("`{path}` is not empty; extract into an empty or new folder, or merge into it")]
    DirNotEmpty { path: PathBuf },
    #[error("member `{member}` expands more than {limit} times its compressed size ({written} bytes from {compressed}); refusing it as a decompression bomb")]
    RatioExceeded { member: String, limit: u64, written: u64, compressed: u64 },
    #[error("extracting more than {limit} bytes (at member `{member}`); refusing to fill the disk")]
    TooLarge { member: String, limit: u64 },
    #[error("no member `{member}` in the bundle")]
    NoSuchMember { member: String },
    #[error("member `{member}`: {what} is not supported")]
    Unsupported { member: String, what: String },
    /// Writing to the target folder failed.
    #[error("writing `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("owner `{spec}`: {reason}")]
    Owner { spec: String, reason: String },
}

/// The io::Error payload of a decompression bomb found inside a stream (a tar.gz's), turned
/// back into [`BundleError::RatioExceeded`] once the member is known.
#[derive(Debug, thiserror::Error)]
#[error("decompressed {written} bytes from {compressed}, over {limit} times")]
pub(crate) struct Bomb {
    pub limit: u64,
    pub written: u64,
    pub compressed: u64,
}

impl BundleError {
    /// An error of reading member `member` (or, when `None`, the bundle's structure) from
    /// the bundle at `path`: a cut-short input and a bomb get their own variants.
    pub(crate) fn reading(path: &std::path::Path, member: Option<&str>, e: io::Error) -> BundleError {
        let where_ = || member.map_or_else(|| "before its first member".to_owned(), |m| format!("at member `{m}`"));
        if let Some(bomb) = e.get_ref().and_then(|inner| inner.downcast_ref::<Bomb>()) {
            return BundleError::RatioExceeded {
                member: member.unwrap_or("(archive)").to_owned(),
                limit: bomb.limit,
                written: bomb.written,
                compressed: bomb.compressed,
            };
        }
        let text = e.to_string();
        // The tar crate reports a short read as these words, flate2 and zstd as UnexpectedEof.
        if e.kind() == io::ErrorKind::UnexpectedEof || text.contains("unexpected EOF") || text.contains("failed to read entire block") {
            return BundleError::Truncated { where_: where_(), what: text };
        }
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::InvalidInput {
            return BundleError::Damaged { member: member.unwrap_or("(archive)").to_owned(), what: text };
        }
        BundleError::Read { path: path.to_owned(), source: e }
    }
}
