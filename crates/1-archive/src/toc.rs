//! The table of contents (pg_backup_archiver.c `ReadToc`): typed entries exactly as the archive states
//! them. Does not read data; see `custom`, `directory` and `tar` for that.

use std::collections::HashMap;

use bstr::{BStr, BString, ByteSlice};

use crate::error::{EntryLabel, Error, ErrorKind, Result};
use crate::ids::DumpId;
use crate::header::{ArchiveVersion, Format, Header, K_VERS_1_14, K_VERS_1_16};
use crate::input::Input;

/// The restore section an entry belongs to (`teSection`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// Comments, ACLs, security labels: they follow the section of what precedes them.
    None,
    PreData,
    Data,
    PostData,
}

impl Section {
    fn from_code(code: i64) -> Option<Section> {
        match code {
            1 => Some(Section::None),
            2 => Some(Section::PreData),
            3 => Some(Section::Data),
            4 => Some(Section::PostData),
            _ => None,
        }
    }
}

/// Where an entry's data lives, as the TOC says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataLocation {
    /// The entry has no data part.
    None,
    /// Custom format: a data block, at a known offset or (pg_dump wrote to a pipe) unknown.
    Block { offset: Option<u64> },
    /// Directory or tar format: the data file's name as the TOC gives it (no compression
    /// suffix).
    File(BString),
}

/// One TOC entry (`TocEntry` in pg_backup_archiver.h), fields as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub dump_id: DumpId,
    /// True when the entry has a data part (TABLE DATA, BLOBS).
    pub had_dumper: bool,
    pub table_oid: BString,
    pub oid: BString,
    pub tag: BString,
    pub desc: BString,
    pub section: Section,
    pub defn: Option<BString>,
    pub drop_stmt: Option<BString>,
    pub copy_stmt: Option<BString>,
    pub namespace: Option<BString>,
    pub tablespace: Option<BString>,
    pub tableam: Option<BString>,
    /// `pg_class.relkind` as a character code (1.16+), 0 when absent.
    pub relkind: u8,
    pub owner: Option<BString>,
    pub with_oids: Option<BString>,
    /// Dump ids this entry depends on, possibly naming ids absent from the archive.
    pub dependencies: Vec<DumpId>,
    pub data: DataLocation,
}

impl TocEntry {
    /// An entry of this identity in `public`, owned by `postgres`, with no definition and no
    /// data: the base that callers building entries themselves (planning and rendering tests)
    /// fill in with `..TocEntry::new(…)`.
    pub fn new(dump_id: DumpId, desc: &str, tag: &str, section: Section, dependencies: Vec<DumpId>) -> TocEntry {
        TocEntry {
            dump_id,
            had_dumper: false,
            table_oid: "0".into(),
            oid: "0".into(),
            tag: tag.into(),
            desc: desc.into(),
            section,
            defn: None,
            drop_stmt: None,
            copy_stmt: None,
            namespace: Some("public".into()),
            tablespace: None,
            tableam: None,
            relkind: 0,
            owner: Some("postgres".into()),
            with_oids: None,
            dependencies,
            data: DataLocation::None,
        }
    }

    pub fn desc_is(&self, desc: &str) -> bool {
        self.desc.as_bytes() == desc.as_bytes()
    }

    pub fn label(&self) -> EntryLabel {
        EntryLabel {
            dump_id: self.dump_id,
            desc: self.desc.to_str_lossy().into_owned(),
            namespace: self.namespace.as_ref().map(|n| n.to_str_lossy().into_owned()),
            tag: self.tag.to_str_lossy().into_owned(),
        }
    }

    /// True for entries whose data is a table's COPY or INSERT stream.
    pub fn is_table_data(&self) -> bool {
        self.desc_is("TABLE DATA")
    }

    /// True for entries whose data is a set of large objects.
    pub fn is_blobs(&self) -> bool {
        self.desc_is("BLOBS")
    }

    /// True when the archive holds a data stream for this entry.
    pub fn has_data(&self) -> bool {
        self.had_dumper && !matches!(self.data, DataLocation::None)
    }
}

/// The parsed TOC with the session settings pg_restore absorbs while reading it.
#[derive(Debug, Clone)]
pub struct Toc {
    pub entries: Vec<TocEntry>,
    /// Index into `entries` by dump id.
    index: HashMap<DumpId, usize>,
    pub max_dump_id: DumpId,
    /// The dump's client encoding from the ENCODING entry (`SQL_ASCII` if absent).
    pub encoding: BString,
    /// STDSTRINGS: standard_conforming_strings (off if absent).
    pub std_strings: bool,
    /// The SEARCHPATH entry's definition, replayed verbatim in every preamble.
    pub search_path: Option<BString>,
}

impl Toc {
    /// A TOC of these entries with no session settings (UTF8, standard strings on), for
    /// planning tests and for callers that build entries themselves.
    pub fn from_entries(entries: Vec<TocEntry>) -> Toc {
        let max_dump_id = entries.iter().map(|e| e.dump_id).max().unwrap_or_default();
        let mut toc = Toc { entries, index: HashMap::new(), max_dump_id, encoding: "UTF8".into(), std_strings: true, search_path: None };
        toc.reindex();
        toc
    }

    pub fn get(&self, id: DumpId) -> Option<&TocEntry> {
        self.index.get(&id).and_then(|&i| self.entries.get(i))
    }

    pub fn position(&self, id: DumpId) -> Option<usize> {
        self.index.get(&id).copied()
    }

    /// Parses the entry count and entries following a header.
    pub(crate) fn parse(input: &mut Input, header: &Header, format: Format) -> Result<Toc> {
        let cpos = input.pos();
        let count = input.read_int()?;
        if count < 0 || count > i64::from(i32::MAX) {
            return Err(Error::new(ErrorKind::BadCount(count)).at(cpos));
        }
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        let mut max_dump_id = DumpId(0);
        for _ in 0..count {
            let entry = parse_entry(input, header.version, format)?;
            max_dump_id = max_dump_id.max(entry.dump_id);
            index.insert(entry.dump_id, entries.len());
            entries.push(entry);
        }
        let mut toc = Toc {
            entries,
            index,
            max_dump_id,
            encoding: BString::from("SQL_ASCII"),
            std_strings: false,
            search_path: None,
        };
        toc.absorb_specials();
        Ok(toc)
    }

    /// ENCODING, STDSTRINGS and SEARCHPATH are interpreted while reading (§4.1).
    fn absorb_specials(&mut self) {
        for entry in &self.entries {
            let defn = entry.defn.as_ref().map(|d| d.as_bstr()).unwrap_or_default();
            if entry.desc_is("ENCODING") {
                if let Some(enc) = between_quotes(defn) {
                    self.encoding = enc.into();
                }
            } else if entry.desc_is("STDSTRINGS") {
                if let Some(v) = between_quotes(defn) {
                    self.std_strings = v == "on";
                }
            } else if entry.desc_is("SEARCHPATH") {
                self.search_path = Some(defn.into());
            }
        }
    }

    /// Builds the id index over `entries` (read once; a restore's order lives in its
    /// selection, never in the TOC).
    fn reindex(&mut self) {
        self.index = self.entries.iter().enumerate().map(|(i, e)| (e.dump_id, i)).collect();
    }
}

/// The text between the first two `'` of a statement.
fn between_quotes(s: &BStr) -> Option<&BStr> {
    let first = s.find_byte(b'\'')?;
    let rest = &s[first + 1..];
    let second = rest.find_byte(b'\'')?;
    Some(rest[..second].as_bstr())
}

fn parse_entry(input: &mut Input, version: ArchiveVersion, format: Format) -> Result<TocEntry> {
    let start = input.pos();
    let dump_id = input.read_int()?;
    if dump_id <= 0 || dump_id > i64::from(i32::MAX) {
        return Err(Error::new(ErrorKind::BadDumpId(dump_id)).at(start));
    }
    let dump_id = DumpId::try_from(dump_id).map_err(|_| Error::new(ErrorKind::BadDumpId(dump_id)).at(start))?;
    let had_dumper = input.read_int()? != 0;
    // Every field below is present in all versions we accept (1.12+), except where gated.
    let table_oid = input.read_str_or_empty()?;
    let oid = input.read_str_or_empty()?;
    let tag = input.read_str_or_empty()?;
    let desc = input.read_str_or_empty()?;
    let spos = input.pos();
    let section_code = input.read_int()?;
    let section = Section::from_code(section_code).ok_or_else(|| Error::new(ErrorKind::BadSection(section_code)).at(spos))?;
    let defn = input.read_str()?;
    let drop_stmt = input.read_str()?;
    let copy_stmt = input.read_str()?;
    let namespace = input.read_str()?;
    let tablespace = input.read_str()?;
    let tableam = if version >= K_VERS_1_14 { input.read_str()? } else { None };
    let relkind = if version >= K_VERS_1_16 { input.read_int()? } else { 0 };
    let owner = input.read_str()?;
    let with_oids = input.read_str()?;
    let mut dependencies = Vec::new();
    loop {
        let dpos = input.pos();
        match input.read_str()? {
            None => break,
            Some(dep) => {
                let id = std::str::from_utf8(&dep)
                    .ok()
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .filter(|v| *v > 0 && *v <= i64::from(i32::MAX))
                    .ok_or_else(|| Error::new(ErrorKind::BadDependency(dep.to_str_lossy().into_owned())).at(dpos))?;
                dependencies.push(DumpId::try_from(id).map_err(|_| Error::new(ErrorKind::BadDependency(id.to_string())).at(dpos))?);
            }
        }
    }
    let data = match format {
        Format::Custom => {
            let opos = input.pos();
            match input.read_offset()? {
                (1, _) => DataLocation::Block { offset: None },
                (2, pos) => DataLocation::Block { offset: Some(pos) },
                (3, _) => DataLocation::None,
                (flag, _) => return Err(Error::new(ErrorKind::BadOffsetFlag(flag)).at(opos)),
            }
        }
        Format::Directory | Format::Tar => match input.read_str()? {
            Some(name) if !name.is_empty() => DataLocation::File(name),
            _ => DataLocation::None,
        },
    };
    let entry = TocEntry {
        dump_id,
        had_dumper,
        table_oid,
        oid,
        tag,
        desc,
        section,
        defn,
        drop_stmt,
        copy_stmt,
        namespace,
        tablespace,
        tableam,
        relkind: u8::try_from(relkind).unwrap_or(0),
        owner,
        with_oids,
        dependencies,
        data,
    };
    Ok(entry)
}
