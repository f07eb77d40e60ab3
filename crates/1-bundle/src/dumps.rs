//! Which members are database dumps, told from the heads kept while listing: a custom
//! archive (`PGDMP`), a folder holding a directory archive (its `toc.dat` starts `PGDMP`), a
//! pg_dump tar archive (a tar whose first member is `toc.dat`), a script as pg_dump or
//! pg_dumpall writes it — each possibly compressed whole with gzip or zstd, decompressed
//! from the kept head — and, as a weaker rule, a text file named like a dump. Each dump says
//! which rule found it, so a caller can prefer content over names.

use crate::members::{Member, MemberKind};
use crate::probe::{is_pg_dump_tar, Compression};
use crate::sniff::{decompress_prefix, file_name, is_script, name_hint};

/// A dump's format, as the restore reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// pg_dump `-Fc`.
    Custom,
    /// pg_dump `-Ft`.
    Tar,
    /// pg_dump `-Fd`: a folder, which must be extracted to be read.
    Directory,
    /// A plain SQL script (pg_dump `-Fp`, pg_dumpall).
    Script,
}

/// What told that a member is a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The content starts with `PGDMP`.
    CustomMagic,
    /// A folder's `toc.dat` starts with `PGDMP`.
    DirectoryToc,
    /// The content is a tar whose first member is `toc.dat`.
    TarToc,
    /// The content starts as pg_dump's or pg_dumpall's script does (after comment lines, if any).
    ScriptHeader,
    /// Only the name (`*.sql`, `*.dump`, `*.backup`, also `.gz`/`.zst`) and text content.
    Name,
}

impl Rule {
    /// Whether the rule looked at the content rather than only the name.
    pub fn by_content(self) -> bool {
        self != Rule::Name
    }
}

/// A database dump found in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    /// The member (a file), or for a directory archive the folder (`""` when the bundle's
    /// root is the archive).
    pub path: String,
    pub format: DumpFormat,
    /// How the member is compressed whole (a directory archive's files compress themselves).
    pub compression: Compression,
    pub rule: Rule,
}

impl Dump {
    /// Whether the member at `path` belongs to this dump (is it, or lies in its folder).
    pub fn covers(&self, path: &str) -> bool {
        crate::summary::under(path, &self.path)
    }
}

/// The dumps among `members`: those told by content first, in member order, then those told
/// by name only.
pub(crate) fn find(members: &[Member]) -> Vec<Dump> {
    let mut found = Vec::new();
    let mut by_name = Vec::new();
    let directories: Vec<String> = members
        .iter()
        .filter(|m| m.is_file() && file_name(&m.path) == "toc.dat" && m.head.starts_with(b"PGDMP"))
        .map(|m| m.path.strip_suffix("toc.dat").unwrap_or_default().trim_end_matches('/').to_owned())
        .collect();
    for dir in &directories {
        found.push(Dump { path: dir.clone(), format: DumpFormat::Directory, compression: Compression::None, rule: Rule::DirectoryToc });
    }
    for m in members.iter().filter(|m| m.kind == MemberKind::File) {
        if directories.iter().any(|d| crate::summary::under(&m.path, d)) {
            continue;
        }
        let compression = Compression::sniff(&m.head);
        let content = match compression {
            Compression::None => m.head.clone(),
            c => decompress_prefix(&m.head, c),
        };
        let dump = |format, rule| Dump { path: m.path.clone(), format, compression, rule };
        if content.starts_with(b"PGDMP") {
            found.push(dump(DumpFormat::Custom, Rule::CustomMagic));
        } else if is_pg_dump_tar(&content) {
            found.push(dump(DumpFormat::Tar, Rule::TarToc));
        } else if is_script(&content) {
            found.push(dump(DumpFormat::Script, Rule::ScriptHeader));
        } else if name_hint(&m.path).is_some() && m.size > 0 && !content.is_empty() && !content.contains(&0) {
            by_name.push(dump(DumpFormat::Script, Rule::Name));
        }
    }
    found.extend(by_name);
    found
}
