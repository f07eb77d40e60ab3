//! The archive header (pg_backup_archiver.c `ReadHead`): magic, version, integer sizes, format,
//! compression, creation time and the names and versions pg_dump recorded.

use bstr::BString;

use crate::error::{Error, ErrorKind, Result};
use crate::input::Input;

/// `K_VERS_1_12` in `pg_backup_archiver.h`: one TOC entry per large object (pg_dump 9.0).
pub const K_VERS_1_12: ArchiveVersion = ArchiveVersion::new(1, 12, 0);
/// `K_VERS_1_14`: `tableam` in TOC entries (pg_dump 12–15).
pub const K_VERS_1_14: ArchiveVersion = ArchiveVersion::new(1, 14, 0);
/// `K_VERS_1_15`: compression algorithm byte instead of a zlib level (pg_dump 16).
pub const K_VERS_1_15: ArchiveVersion = ArchiveVersion::new(1, 15, 0);
/// `K_VERS_1_16`: `relkind` in TOC entries, `BLOB METADATA`, grouped `BLOBS` (pg_dump 17–18).
pub const K_VERS_1_16: ArchiveVersion = ArchiveVersion::new(1, 16, 0);

/// The newest version pgsurge reads: anything up to 1.16.255, as pg_restore 18 accepts.
const NEWEST_MINOR: u8 = 16;
const OLDEST_MINOR: u8 = 12;

/// `major.minor.rev`, ordered as pg_restore compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArchiveVersion {
    pub major: u8,
    pub minor: u8,
    pub rev: u8,
}

impl ArchiveVersion {
    pub const fn new(major: u8, minor: u8, rev: u8) -> Self {
        ArchiveVersion { major, minor, rev }
    }
}

impl std::fmt::Display for ArchiveVersion {
    /// As `pg_restore -l` prints it: `1.16-0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}-{}", self.major, self.minor, self.rev)
    }
}

/// The archive container, as detected (not as the header's format byte says: directory and
/// tar archives both write 3 there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Custom,
    Directory,
    Tar,
}

impl Format {
    /// The name `pg_restore -l` prints.
    pub fn listing_name(self) -> &'static str {
        match self {
            Format::Custom => "CUSTOM",
            Format::Directory => "DIRECTORY",
            Format::Tar => "TAR",
        }
    }

    /// `archiveFormat` code the header must carry for this container.
    fn header_code(self) -> u8 {
        match self {
            Format::Custom => 1,
            Format::Directory | Format::Tar => 3,
        }
    }
}

/// Compression algorithm of the archive's data (`pg_compress_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// pg_dump's local broken-down creation time (`struct tm` fields as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreationTime {
    pub sec: i32,
    pub min: i32,
    pub hour: i32,
    pub mday: i32,
    /// 0–11.
    pub mon: i32,
    /// Years since 1900.
    pub year: i32,
    pub isdst: i32,
}

/// Everything before the TOC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: ArchiveVersion,
    pub int_size: u8,
    pub off_size: u8,
    /// The format byte as written (1 custom, 3 tar/directory).
    pub format_code: u8,
    pub compression: Compression,
    /// For archives before 1.15, the zlib level as written (−1 = default, 0 = none);
    /// `pg_restore -l` of those versions prints it.
    pub compression_level: Option<i64>,
    pub created: CreationTime,
    pub dbname: Option<BString>,
    pub server_version: Option<BString>,
    pub dump_version: Option<BString>,
}

/// Magic bytes at the start of every header.
pub const MAGIC: &[u8; 5] = b"PGDMP";

fn clamp_i32(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl Header {
    /// Parses a header, starting at its magic, for an archive of `format`.
    pub(crate) fn parse(input: &mut Input, format: Format) -> Result<Header> {
        let start = input.pos();
        let mut magic = [0u8; 5];
        input.read_exact(&mut magic).map_err(|e| match e.kind() {
            ErrorKind::Truncated { .. } => Error::new(ErrorKind::TooShort { read: (input.pos() - start) as usize }).at(start),
            _ => e,
        })?;
        if &magic != MAGIC {
            return Err(Error::new(ErrorKind::BadMagic).at(start));
        }
        Self::parse_after_magic(input, format)
    }

    /// Parses the rest of a header whose 5 magic bytes were already consumed.
    pub(crate) fn parse_after_magic(input: &mut Input, format: Format) -> Result<Header> {
        let vpos = input.pos();
        let major = input.read_byte()?;
        let minor = input.read_byte()?;
        // Every version we accept is > 1.0 and so carries the revision byte.
        let rev = if major > 1 || (major == 1 && minor > 0) { input.read_byte()? } else { 0 };
        let version = ArchiveVersion::new(major, minor, rev);
        if major != 1 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&minor) {
            return Err(Error::new(ErrorKind::UnsupportedVersion { major, minor, rev }).at(vpos));
        }

        let ipos = input.pos();
        let int_size = input.read_byte()?;
        if int_size == 0 || int_size > 8 {
            return Err(Error::new(ErrorKind::BadIntSize(int_size)).at(ipos));
        }
        let opos = input.pos();
        let off_size = input.read_byte()?;
        if off_size == 0 || off_size > 16 {
            return Err(Error::new(ErrorKind::BadOffsetSize(off_size)).at(opos));
        }
        input.set_sizes(int_size as usize, off_size as usize);

        let fpos = input.pos();
        let format_code = input.read_byte()?;
        if format_code != format.header_code() {
            return Err(Error::new(ErrorKind::FormatMismatch { expected: format.header_code(), found: format_code }).at(fpos));
        }

        // §3 item 8: 1.15+ one algorithm byte; before, an Int zlib level.
        let cpos = input.pos();
        let (compression, compression_level) = if version >= K_VERS_1_15 {
            let code = input.read_byte()?;
            let c = match code {
                0 => Compression::None,
                1 => Compression::Gzip,
                2 => Compression::Lz4,
                3 => Compression::Zstd,
                other => return Err(Error::new(ErrorKind::BadCompression(i64::from(other))).at(cpos)),
            };
            (c, None)
        } else {
            let level = input.read_int()?;
            let c = match level {
                0 => Compression::None,
                -1 | 1..=9 => Compression::Gzip,
                other => return Err(Error::new(ErrorKind::BadCompression(other)).at(cpos)),
            };
            (c, Some(level))
        };

        let mut tm = [0i32; 7];
        for field in &mut tm {
            *field = clamp_i32(input.read_int()?);
        }
        let created = CreationTime {
            sec: tm[0],
            min: tm[1],
            hour: tm[2],
            mday: tm[3],
            mon: tm[4],
            year: tm[5],
            isdst: tm[6],
        };
        let dbname = input.read_str()?;
        let server_version = input.read_str()?;
        let dump_version = input.read_str()?;

        Ok(Header {
            version,
            int_size,
            off_size,
            format_code,
            compression,
            compression_level,
            created,
            dbname,
            server_version,
            dump_version,
        })
    }
}
