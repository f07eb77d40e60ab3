//! The `-l` table-of-contents summary, byte for byte as pg_restore 18 prints it
//! (pg_backup_archiver.c `PrintTOCSummary`). Names are printed through `sanitize` and
//! times through `local_time`, which script comments share.
//!
//! Which entries appear is `select`'s decision; `--strict-names` is checked by the caller
//! after the listing, as pg_restore does.

use std::io::{self, Write};

use bstr::BStr;
use pgsurge_archive::{Archive, TocEntry};

use crate::c_number::catalog_oid;
use crate::local_time::{creation_time, format_time};
use crate::options::RestoreOptions;
use crate::sanitize::sanitize;
use crate::select::Selection;

/// Writes the summary for the entries `sel` wants (every entry with `-v`).
pub fn write_listing(archive: &Archive, sel: &Selection, opts: &RestoreOptions, out: &mut dyn Write) -> io::Result<()> {
    let h = archive.header();
    let toc = archive.toc();
    out.write_all(b";\n; Archive created at ")?;
    out.write_all(format_time(creation_time(&h.created)).as_bytes())?;
    out.write_all(b"\n;     dbname: ")?;
    out.write_all(&sanitize(h.dbname.as_ref().map(BStr::new), false))?;
    writeln!(out, "\n;     TOC Entries: {}", toc.entries.len())?;
    // pg_restore 16+ print the algorithm, also for older archives whose header only has a
    // zlib level (a non-zero level reads as gzip).
    writeln!(out, ";     Compression: {}", h.compression.name())?;
    writeln!(out, ";     Dump Version: {}", h.version)?;
    writeln!(out, ";     Format: {}", archive.format().listing_name())?;
    writeln!(out, ";     Integer: {} bytes", h.int_size)?;
    writeln!(out, ";     Offset: {} bytes", h.off_size)?;
    // The version strings and entry types are printed as they are by pg_restore; here, as
    // the names, with line breaks blanked: a listing is fed back with -L, and a line break
    // in an archive's string would add a line of the archive's choosing to it. (pg_dump
    // never writes one, so the listing is the same.)
    if let Some(v) = &h.server_version {
        out.write_all(b";     Dumped from database version: ")?;
        out.write_all(&sanitize(Some(BStr::new(v)), false))?;
        out.write_all(b"\n")?;
    }
    if let Some(v) = &h.dump_version {
        out.write_all(b";     Dumped by pg_dump version: ")?;
        out.write_all(&sanitize(Some(BStr::new(v)), false))?;
        out.write_all(b"\n")?;
    }
    out.write_all(b";\n;\n; Selected TOC Entries:\n;\n")?;
    for (i, te) in sel.order().iter().filter_map(|&i| toc.entries.get(i).map(|te| (i, te))) {
        if opts.verbose || sel.get(i).any() {
            out.write_all(&entry_line(te))?;
        }
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

/// An entry's line: `id; tableoid oid type schema name owner`.
fn entry_line(te: &TocEntry) -> Vec<u8> {
    let mut line = format!("{}; {} {} ", te.dump_id, catalog_oid(&te.table_oid), catalog_oid(&te.oid)).into_bytes();
    line.extend_from_slice(&sanitize(Some(BStr::new(&te.desc)), false));
    line.push(b' ');
    line.extend_from_slice(&sanitize(te.namespace.as_ref().map(BStr::new), true));
    line.push(b' ');
    line.extend_from_slice(&sanitize(Some(BStr::new(&te.tag)), false));
    line.push(b' ');
    line.extend_from_slice(&sanitize(te.owner.as_ref().map(BStr::new), false));
    line.push(b'\n');
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pgsurge_archive::DumpId;

    /// One line per entry, whatever line breaks its strings hold.
    #[test]
    fn entry_lines_stay_one_line() {
        let te = TocEntry {
            dump_id: DumpId(7),
            had_dumper: true,
            table_oid: "1259".into(),
            oid: "16390".into(),
            tag: "t\n8; 0 0 TABLE public x postgres".into(),
            desc: "TABLE\r\nDATA".into(),
            section: pgsurge_archive::Section::Data,
            defn: None,
            drop_stmt: None,
            copy_stmt: None,
            namespace: None,
            tablespace: None,
            tableam: None,
            relkind: 0,
            owner: Some("postgres".into()),
            with_oids: None,
            dependencies: vec![],
            data: pgsurge_archive::DataLocation::None,
        };
        assert_eq!(entry_line(&te), b"7; 1259 16390 TABLE  DATA - t 8; 0 0 TABLE public x postgres postgres\n");
    }
}
