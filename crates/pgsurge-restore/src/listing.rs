//! The `-l` table-of-contents summary, byte for byte as pg_restore 18 prints it
//! (RESTORE_SEMANTICS.md §11, pg_backup_archiver.c `PrintTOCSummary`).

use std::io::{self, Write};

use bstr::{BStr, ByteSlice};
use pgsurge_archive::{Archive, CreationTime};

use crate::options::RestoreOptions;
use crate::select::Selection;

/// Writes the summary for the entries `sel` wants (every entry with `-v`).
pub fn write_listing(archive: &Archive, sel: &Selection, opts: &RestoreOptions, out: &mut dyn Write) -> io::Result<()> {
    let h = archive.header();
    let toc = archive.toc();
    out.write_all(b";\n; Archive created at ")?;
    out.write_all(creation_stamp(&h.created).as_bytes())?;
    out.write_all(b"\n;     dbname: ")?;
    out.write_all(&sanitize(h.dbname.as_ref().map(|d| d.as_bstr()), false))?;
    writeln!(out, "\n;     TOC Entries: {}", toc.entries.len())?;
    writeln!(out, ";     Compression: {}", h.compression.name())?;
    writeln!(out, ";     Dump Version: {}", h.version)?;
    writeln!(out, ";     Format: {}", archive.format().listing_name())?;
    writeln!(out, ";     Integer: {} bytes", h.int_size)?;
    writeln!(out, ";     Offset: {} bytes", h.off_size)?;
    if let Some(v) = &h.server_version {
        out.write_all(b";     Dumped from database version: ")?;
        out.write_all(v)?;
        out.write_all(b"\n")?;
    }
    if let Some(v) = &h.dump_version {
        out.write_all(b";     Dumped by pg_dump version: ")?;
        out.write_all(v)?;
        out.write_all(b"\n")?;
    }
    out.write_all(b";\n;\n; Selected TOC Entries:\n;\n")?;
    for (i, te) in toc.entries.iter().enumerate() {
        if !opts.verbose && !sel.get(i).any() {
            continue;
        }
        write!(out, "{}; {} {} ", te.dump_id, oid_text(te.table_oid.as_bstr()), oid_text(te.oid.as_bstr()))?;
        out.write_all(&te.desc)?;
        out.write_all(b" ")?;
        match &te.namespace {
            Some(ns) => out.write_all(&sanitize(Some(ns.as_bstr()), true))?,
            None => out.write_all(b"-")?,
        }
        out.write_all(b" ")?;
        out.write_all(&sanitize(Some(te.tag.as_bstr()), false))?;
        out.write_all(b" ")?;
        out.write_all(&sanitize(te.owner.as_ref().map(|o| o.as_bstr()), false))?;
        out.write_all(b"\n")?;
        if opts.verbose && !te.dependencies.is_empty() {
            out.write_all(b";\tdepends on:")?;
            for d in &te.dependencies {
                write!(out, " {d}")?;
            }
            out.write_all(b"\n")?;
        }
    }
    Ok(())
}

/// pg_restore prints catalog ids through `%u` after `sscanf`: digits as written, else 0.
fn oid_text(s: &BStr) -> String {
    let digits: String = s.iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect();
    digits.parse::<u32>().map(|v| v.to_string()).unwrap_or_else(|_| "0".to_owned())
}

/// `sanitize_line`: CR and LF become spaces; NULL or empty is `-` when `hyphen`, else "".
pub fn sanitize(s: Option<&BStr>, hyphen: bool) -> Vec<u8> {
    match s {
        Some(s) if !s.is_empty() => s.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect(),
        _ if hyphen => b"-".to_vec(),
        _ => Vec::new(),
    }
}

extern "C" {
    /// POSIX; not exported by the libc crate. `localtime_r` need not call it itself.
    fn tzset();
}

/// The creation time as pg_restore prints it: `mktime` of the broken-down local time pg_dump
/// wrote, formatted `%Y-%m-%d %H:%M:%S %Z` in this process's time zone.
pub fn creation_stamp(t: &CreationTime) -> String {
    // SAFETY: `tm` is fully initialised before use; mktime, localtime_r and strftime only
    // read and write the structures and buffer passed in.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_sec = t.sec;
        tm.tm_min = t.min;
        tm.tm_hour = t.hour;
        tm.tm_mday = t.mday;
        tm.tm_mon = t.mon;
        tm.tm_year = t.year;
        tm.tm_isdst = t.isdst;
        tzset();
        let mut when = libc::mktime(&mut tm);
        if when == -1 {
            // pg_restore retries with isdst unknown before giving up.
            tm.tm_isdst = -1;
            when = libc::mktime(&mut tm);
        }
        let mut local: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&when, &mut local).is_null() {
            return "[unknown]".to_owned();
        }
        let mut buf = [0u8; 128];
        let fmt = b"%Y-%m-%d %H:%M:%S %Z\0";
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr().cast(), &local);
        if n == 0 {
            return "[unknown]".to_owned();
        }
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}
