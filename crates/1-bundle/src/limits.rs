//! The bounds on everything a bundle's bytes can make grow while it is opened and listed:
//! how many members, how long a name, how much of each member is kept, how large a
//! manifest, how far a compressed stream may expand. Extraction has its own bounds, in
//! [`crate::ExtractOptions`].

/// Bounds applied by [`crate::Bundle::open_with`]; [`Limits::default`] suits real bundles.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Members listed at most (default 1,000,000); one more is an error. Each costs a
    /// `Member` (about 150 bytes plus its name and head) held while the bundle is open.
    pub max_members: usize,
    /// Bytes in a member's whole name (default 4096, Linux's `PATH_MAX`); each component
    /// may have at most 255 (`NAME_MAX`).
    pub max_path: usize,
    /// Bytes of a manifest read and parsed (default 1 MiB); a larger one is reported as
    /// unreadable, not read.
    pub max_manifest: u64,
    /// How many times a compressed tar (`.tar.gz`, `.tar.zst`) may expand while it is
    /// listed, once past [`Limits::ratio_floor`] bytes (default 1000; deflate cannot
    /// exceed about 1032, so only near-all-zero data comes close).
    pub max_ratio: u64,
    /// Decompressed bytes below which no ratio is checked (default 1 MiB): small members
    /// of repeated text legitimately expand far.
    pub ratio_floor: u64,
    /// Bytes of all the longer heads together (default 64 MiB): a member that may be a
    /// compressed or commented dump keeps [`LONG_HEAD`] bytes while this lasts, then
    /// [`HEAD`] like every other.
    pub long_head_budget: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_members: 1_000_000,
            max_path: 4096,
            max_manifest: 1 << 20,
            max_ratio: 1000,
            ratio_floor: 1 << 20,
            long_head_budget: 64 << 20,
        }
    }
}

/// Bytes kept from the start of every regular file: enough for every magic number and a
/// directory archive's `toc.dat` header.
pub const HEAD: usize = 64;

/// Bytes kept from a member whose start is gzip or zstd (to decompress a prefix and look
/// inside), a tar header (`toc.dat`, to see a pg_dump tar archive), `--` (a script with
/// comments before pg_dump's header), or whose name says it is a dump.
pub const LONG_HEAD: usize = 4096;

/// Bytes of a symlink target read from a zip member (where the target is the content).
pub const MAX_LINK_TARGET: u64 = 4096;
