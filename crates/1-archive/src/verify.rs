//! Checks an archive without a server: every data stream is read and decompressed, every
//! COPY stream is checked to be well formed and terminated, and rows and bytes are counted.
//!
//! Seekable archives are checked in parallel, one reader per thread over the same mapped
//! file; one-pass archives in file order. A damaged entry is reported with its error and the
//! others are still checked. Then every other byte is accounted for (`layout`): data no
//! entry claims, or bytes pg_dump never writes, are damage too.

use bstr::{BStr, ByteSlice};

use crate::archive::Archive;
use crate::error::{EntryLabel, Error};
use crate::layout::Layout;
use crate::toc::TocEntry;

/// What kind of data an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// COPY text rows.
    Copy,
    /// `INSERT` statements (pg_dump --inserts).
    Inserts,
    /// Large objects.
    LargeObjects,
}

/// The result of checking one data-bearing entry.
#[derive(Debug)]
pub struct EntryReport {
    pub entry: EntryLabel,
    pub kind: DataKind,
    /// COPY rows, or INSERT statements.
    pub rows: u64,
    /// Decompressed bytes.
    pub bytes: u64,
    /// Large objects (BLOBS entries only).
    pub objects: u64,
    pub error: Option<Error>,
}

/// The result of checking an archive.
#[derive(Debug, Default)]
pub struct Report {
    pub entries: Vec<EntryReport>,
    /// Everything beyond the entries' data: blocks, files or members nobody claims, bytes
    /// after the end. A finding that repeats an entry's error word for word is left out.
    pub layout: Layout,
}

impl Report {
    pub fn is_sound(&self) -> bool {
        self.entries.iter().all(|e| e.error.is_none()) && self.layout.damage.is_empty()
    }
}

/// Checks every data stream of `archive`, on up to `jobs` threads when it is seekable, then
/// accounts for the rest of its bytes (a one-pass archive is read to its end).
pub fn verify(archive: &mut Archive, jobs: usize) -> Report {
    let entries = check_entries(archive, jobs);
    let mut layout = archive.account();
    let said: std::collections::HashSet<String> = entries.iter().filter_map(|e| e.error.as_ref()).map(ToString::to_string).collect();
    layout.damage.retain(|d| !said.contains(&d.to_string()));
    Report { entries, layout }
}

fn check_entries(archive: &mut Archive, jobs: usize) -> Vec<EntryReport> {
    let targets: Vec<TocEntry> = archive.toc().entries.iter().filter(|e| e.has_data()).cloned().collect();
    if archive.is_seekable() && jobs > 1 && targets.len() > 1 {
        archive.locate_blocks();
        if let Some(entries) = verify_parallel(archive, &targets, jobs) {
            return entries;
        }
    }
    targets.iter().map(|e| check_entry(archive, e)).collect()
}

fn verify_parallel(archive: &Archive, targets: &[TocEntry], jobs: usize) -> Option<Vec<EntryReport>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    // One reader per thread, made here because `Archive` is `Send` but not `Sync`. Threads
    // pull the next entry index from a shared counter, so a huge table on one thread does
    // not hold up the small ones.
    let readers: Vec<Archive> = (0..jobs.min(targets.len())).filter_map(|_| archive.try_clone_reader()).collect();
    if readers.is_empty() {
        return None;
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<EntryReport>>> = Mutex::new((0..targets.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for mut reader in readers {
            let next = &next;
            let results = &results;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(entry) = targets.get(i) else { break };
                let report = check_entry(&mut reader, entry);
                if let Ok(mut slots) = results.lock() {
                    slots[i] = Some(report);
                }
            });
        }
    });
    let slots = results.into_inner().ok()?;
    Some(slots.into_iter().flatten().collect())
}

fn check_entry(archive: &mut Archive, entry: &TocEntry) -> EntryReport {
    let mut report = EntryReport {
        entry: entry.label(),
        kind: if entry.is_blobs() {
            DataKind::LargeObjects
        } else if entry.copy_stmt.as_ref().is_some_and(|c| !c.is_empty()) {
            DataKind::Copy
        } else {
            DataKind::Inserts
        },
        rows: 0,
        bytes: 0,
        objects: 0,
        error: None,
    };
    let result = if entry.is_blobs() {
        check_blobs(archive, entry, &mut report)
    } else {
        check_table_data(archive, entry, &mut report)
    };
    if let Err(e) = result {
        report.error = Some(e);
    }
    report
}

fn check_blobs(archive: &mut Archive, entry: &TocEntry, report: &mut EntryReport) -> Result<(), Error> {
    let mut los = archive.large_objects(entry.dump_id)?;
    let mut buf = vec![0u8; 256 * 1024];
    while let Some(mut lo) = los.next_object()? {
        loop {
            let n = lo.data.read_data(&mut buf)?;
            if n == 0 {
                break;
            }
            report.bytes += n as u64;
        }
        report.objects += 1;
    }
    Ok(())
}

fn check_table_data(archive: &mut Archive, entry: &TocEntry, report: &mut EntryReport) -> Result<(), Error> {
    let copy_columns = entry.copy_stmt.as_ref().and_then(|c| copy_column_count(c.as_bstr()));
    let label = entry.label();
    let mut reader = archive.table_data(entry.dump_id)?;
    let mut buf = vec![0u8; 256 * 1024];
    match report.kind {
        DataKind::Copy => {
            let mut checker = CopyChecker::new(copy_columns);
            loop {
                let n = reader.read_data(&mut buf)?;
                if n == 0 {
                    break;
                }
                checker.feed(&buf[..n]).map_err(|e| Error::new(e.into()).for_entry(label.clone()))?;
                report.bytes += n as u64;
                report.rows = checker.rows;
            }
            checker.finish().map_err(|e| Error::new(e.into()).for_entry(label.clone()))?;
            report.rows = checker.rows;
        }
        _ => {
            let mut at_line_start = true;
            loop {
                let n = reader.read_data(&mut buf)?;
                if n == 0 {
                    break;
                }
                report.bytes += n as u64;
                // One statement per line in pg_dump's INSERT output.
                for line in buf[..n].split_inclusive(|&b| b == b'\n') {
                    if at_line_start && line.starts_with(b"INSERT ") {
                        report.rows += 1;
                    }
                    at_line_start = line.ends_with(b"\n");
                }
            }
        }
    }
    Ok(())
}

/// The number of columns named in `COPY tab (a, b, "c,d") FROM stdin;`, if it lists them.
fn copy_column_count(stmt: &BStr) -> Option<usize> {
    let mut count = 0;
    let mut in_quotes = false;
    let mut in_list = false;
    for &b in stmt.iter() {
        match b {
            b'"' => in_quotes = !in_quotes,
            _ if in_quotes => {}
            b'(' if !in_list => {
                in_list = true;
                count = 1;
            }
            b',' if in_list => count += 1,
            b')' if in_list => return Some(count),
            _ => {}
        }
    }
    None
}

/// A malformed COPY stream, with the decompressed offset where it went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CopyError {
    #[error("COPY data row {row} at decompressed byte {offset} has {found} fields, expected {expected}")]
    FieldCount { row: u64, offset: u64, found: usize, expected: usize },
    #[error("COPY data continues after its end marker (decompressed byte {offset})")]
    AfterTerminator { offset: u64 },
    #[error("COPY data ends without its end marker `\\.` after {rows} rows ({offset} bytes): the stream is truncated")]
    Unterminated { rows: u64, offset: u64 },
}

impl From<CopyError> for crate::error::ErrorKind {
    fn from(e: CopyError) -> Self {
        crate::error::ErrorKind::MalformedCopy(e.to_string())
    }
}

/// Checks COPY text-format data incrementally: rows end in `\n`, fields are separated by
/// tabs, and the stream ends with the `\.` line followed only by newlines.
#[derive(Debug)]
pub struct CopyChecker {
    expected_fields: Option<usize>,
    pub rows: u64,
    offset: u64,
    fields_in_line: usize,
    line_len: u64,
    /// The current line's first two bytes, to recognise `\.`.
    line_head: [u8; 2],
    terminated: bool,
}

impl CopyChecker {
    pub fn new(expected_fields: Option<usize>) -> Self {
        CopyChecker { expected_fields, rows: 0, offset: 0, fields_in_line: 1, line_len: 0, line_head: [0; 2], terminated: false }
    }

    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), CopyError> {
        for &b in bytes {
            if self.terminated {
                if b != b'\n' {
                    return Err(CopyError::AfterTerminator { offset: self.offset });
                }
                self.offset += 1;
                continue;
            }
            match b {
                b'\n' => {
                    if self.line_len == 2 && self.line_head == *b"\\." {
                        self.terminated = true;
                    } else {
                        self.rows += 1;
                        if let Some(expected) = self.expected_fields {
                            if self.fields_in_line != expected {
                                return Err(CopyError::FieldCount { row: self.rows, offset: self.offset, found: self.fields_in_line, expected });
                            }
                        }
                    }
                    self.fields_in_line = 1;
                    self.line_len = 0;
                }
                b'\t' => {
                    self.fields_in_line += 1;
                    self.line_len += 1;
                }
                _ => {
                    if self.line_len < 2 {
                        self.line_head[self.line_len as usize] = b;
                    }
                    self.line_len += 1;
                }
            }
            self.offset += 1;
        }
        Ok(())
    }

    pub fn finish(&self) -> Result<(), CopyError> {
        if self.terminated {
            Ok(())
        } else {
            Err(CopyError::Unterminated { rows: self.rows, offset: self.offset })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_checker_accepts_pg_dump_output() {
        let mut c = CopyChecker::new(Some(2));
        c.feed(b"1\ta\n2\t\\N\n\\").unwrap();
        c.feed(b".\n\n\n").unwrap();
        c.finish().unwrap();
        assert_eq!(c.rows, 2);
    }

    #[test]
    fn copy_checker_finds_damage() {
        let mut c = CopyChecker::new(Some(2));
        assert!(matches!(c.feed(b"1\ta\tb\n"), Err(CopyError::FieldCount { row: 1, found: 3, .. })));
        let mut c = CopyChecker::new(None);
        c.feed(b"1\n2\n").unwrap();
        assert_eq!(c.finish(), Err(CopyError::Unterminated { rows: 2, offset: 4 }));
        let mut c = CopyChecker::new(None);
        assert!(c.feed(b"\\.\n\nx").is_err());
    }

    #[test]
    fn copy_columns_counted_with_quotes() {
        assert_eq!(copy_column_count(BStr::new("COPY public.t (a, \"b,c\", d) FROM stdin;\n")), Some(3));
        assert_eq!(copy_column_count(BStr::new("COPY public.t FROM stdin;\n")), None);
        assert_eq!(copy_column_count(BStr::new("COPY public.\"a(b\" (x) FROM stdin;\n")), Some(1));
    }
}
