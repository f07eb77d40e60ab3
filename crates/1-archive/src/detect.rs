//! What kind of input an archive is, told from its first bytes as pg_restore tells it: the
//! custom format's magic, a tar header, or a plain SQL script pg_dump or pg_dumpall wrote —
//! which pg_restore refuses, and which is named as such.

use crate::error::{Error, ErrorKind, Result};
use crate::header::{Format, MAGIC};
use crate::input::Input;
use crate::tar;

/// The text a plain-format dump starts with (`TEXT_DUMP_HEADER` in pg_backup_archiver.c).
const TEXT_DUMP_HEADER: &[u8] = b"--\n-- PostgreSQL database dump\n--\n\n";
/// `TEXT_DUMPALL_HEADER`: pg_dumpall's output.
const TEXT_DUMPALL_HEADER: &[u8] = b"--\n-- PostgreSQL database cluster dump\n--\n\n";

/// The given format, or the one the first bytes of a random-access input show (the input is
/// then back at its start).
pub(crate) fn detect_and_rewind(input: &mut Input, format: Option<Format>) -> Result<Format> {
    if let Some(f) = format {
        return Ok(f);
    }
    let mut probe = Vec::new();
    let f = detect(input, &mut probe)?;
    input.seek(0)?;
    Ok(f)
}

/// Detects the format from the first bytes, leaving them in `probe`.
pub(crate) fn detect(input: &mut Input, probe: &mut Vec<u8>) -> Result<Format> {
    let mut buf = [0u8; 512];
    let mut filled = 0;
    while filled < 5 {
        let n = input.read_some(&mut buf[filled..5])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    if filled < 5 {
        probe.extend_from_slice(&buf[..filled]);
        return Err(Error::new(ErrorKind::TooShort { read: filled }));
    }
    if &buf[..5] == MAGIC {
        probe.extend_from_slice(&buf[..5]);
        return Ok(Format::Custom);
    }
    while filled < 512 {
        let n = input.read_some(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    probe.extend_from_slice(&buf[..filled]);
    let head = &buf[..filled];
    if head.starts_with(TEXT_DUMP_HEADER) || head.starts_with(TEXT_DUMPALL_HEADER) {
        return Err(Error::new(ErrorKind::TextDump));
    }
    if filled < 512 {
        return Err(Error::new(ErrorKind::NotAnArchiveTooShort));
    }
    if tar::looks_like_tar(head) {
        return Ok(Format::Tar);
    }
    Err(Error::new(ErrorKind::NotAnArchive))
}
