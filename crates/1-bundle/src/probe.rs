//! What kind of container a file is, told from its first bytes — never from its name: a zip
//! (a local header or, for an empty one, the end of its central directory), a tar (`ustar`
//! at byte 257), or a gzip or zstd stream whose decompressed start is a tar. A tar whose
//! first member is `toc.dat` is a pg_dump tar-format archive, which the archive reader
//! reads; it is told apart here so it is never taken for a bundle.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use pgsurge_script::open::Compression;

/// The container of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    /// A tar, plain or compressed whole (`.tar.gz`, `.tgz`, `.tar.zst`).
    Tar(Compression),
}

/// What [`probe`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Bundle(Container),
    /// A tar whose first member is `toc.dat`: give it to the archive reader.
    PgDumpTarArchive(Compression),
    /// None of the above: maybe a dump or a script, for the other readers.
    NotABundle,
}

/// Bytes read to decide: one tar header.
const TAR_BLOCK: usize = 512;

/// What the file at `path` is, from its first bytes.
pub fn probe(path: &Path) -> io::Result<Probe> {
    let mut file = File::open(path)?;
    let mut head = Vec::with_capacity(TAR_BLOCK);
    (&mut file).take(TAR_BLOCK as u64).read_to_end(&mut head)?;
    let compression = Compression::sniff(&head);
    if compression == Compression::None {
        return Ok(probe_bytes(&head));
    }
    // Decompress only the first block: enough to see the tar header, whatever follows.
    let mut file = File::open(path)?;
    let mut inner = Vec::with_capacity(TAR_BLOCK);
    let decoder: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::new(file))),
        Compression::Zstd => match zstd::stream::read::Decoder::new(file) {
            Ok(d) => Box::new(d),
            Err(_) => return Ok(Probe::NotABundle),
        },
        Compression::None => Box::new(io::Read::by_ref(&mut file)),
    };
    // A stream that stops decoding early is no tar we can read: leave it to other readers,
    // which will say what is wrong with it.
    let _ = read_prefix(decoder, TAR_BLOCK, &mut inner);
    Ok(match tar_header(&inner) {
        Some(TarStart::PgDump) => Probe::PgDumpTarArchive(compression),
        Some(TarStart::Other) => Probe::Bundle(Container::Tar(compression)),
        None => Probe::NotABundle,
    })
}

/// What an uncompressed start of a file is.
pub(crate) fn probe_bytes(head: &[u8]) -> Probe {
    if is_zip(head) {
        return Probe::Bundle(Container::Zip);
    }
    match tar_header(head) {
        Some(TarStart::PgDump) => Probe::PgDumpTarArchive(Compression::None),
        Some(TarStart::Other) => Probe::Bundle(Container::Tar(Compression::None)),
        None => Probe::NotABundle,
    }
}

fn is_zip(head: &[u8]) -> bool {
    // A local file header starts every zip with members; an empty zip is only its end of
    // central directory record.
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

enum TarStart {
    PgDump,
    Other,
}

/// Whether `block` starts a ustar or GNU tar (POSIX `ustar\0`, GNU `ustar  \0`, both at byte
/// 257), and whether its first member is pg_dump's `toc.dat`.
fn tar_header(block: &[u8]) -> Option<TarStart> {
    let magic = block.get(257..262)?;
    if magic != b"ustar" {
        return None;
    }
    let name = block.get(..100)?;
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    Some(if name == b"toc.dat" { TarStart::PgDump } else { TarStart::Other })
}

/// Whether `head` (a member's first bytes) is the start of a pg_dump tar-format archive.
pub(crate) fn is_pg_dump_tar(head: &[u8]) -> bool {
    matches!(tar_header(head), Some(TarStart::PgDump))
}

/// Reads up to `limit` bytes of `reader` into `out`, keeping what came before an error.
pub(crate) fn read_prefix(mut reader: impl Read, limit: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    while out.len() < limit {
        let want = (limit - out.len()).min(buf.len());
        match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_block(name: &[u8]) -> Vec<u8> {
        let mut block = vec![0u8; 512];
        block[..name.len()].copy_from_slice(name);
        block[257..263].copy_from_slice(b"ustar\0");
        block
    }

    #[test]
    fn containers_are_told_from_bytes() {
        assert_eq!(probe_bytes(b"PK\x03\x04rest"), Probe::Bundle(Container::Zip));
        assert_eq!(probe_bytes(b"PK\x05\x06\0\0"), Probe::Bundle(Container::Zip));
        assert_eq!(probe_bytes(&tar_block(b"uploads/a.png")), Probe::Bundle(Container::Tar(Compression::None)));
        assert_eq!(probe_bytes(&tar_block(b"toc.dat")), Probe::PgDumpTarArchive(Compression::None));
        assert_eq!(probe_bytes(b"PGDMP\x01\x10"), Probe::NotABundle);
        assert_eq!(probe_bytes(b""), Probe::NotABundle);
    }
}
