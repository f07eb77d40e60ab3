//! Which parts of which TOC entries a restore wants, in which order — pg_restore's
//! `_tocEntryRequired` (RESTORE_SEMANTICS.md §2), `-L` reordering (§11) and
//! `--strict-names`.

use std::collections::HashSet;
use std::fs;

use bstr::{BString, ByteSlice};
use pgsurge_archive::{Archive, DumpId, Section, TocEntry};

use crate::options::{FilterRule, RestoreOptions, SectionChoice};

/// What is wanted of one entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub schema: bool,
    pub data: bool,
    pub stats: bool,
    /// ENCODING / STDSTRINGS / SEARCHPATH: applied through the preamble, never listed.
    pub special: bool,
}

impl Wanted {
    pub fn any(&self) -> bool {
        self.schema || self.data || self.stats
    }
}

/// The outcome of selection, per entry in (possibly reordered) TOC order.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub wanted: Vec<Wanted>,
    strict_error: Option<String>,
}

impl Selection {
    /// What is wanted of the entry at `index` in the archive's current TOC order.
    pub fn get(&self, index: usize) -> Wanted {
        self.wanted.get(index).copied().unwrap_or_default()
    }

    /// The `--strict-names` failure, reported after a listing has been printed.
    pub fn strict_names_error(&self) -> Option<&str> {
        self.strict_error.as_deref()
    }
}

/// A selection failure, worded as pg_restore's message after `pg_restore: error: `.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("could not open TOC file \"{path}\": {reason}")]
    ListFile { path: String, reason: String },
    #[error("could not find entry for ID {0}")]
    UnknownId(i64),
}

/// Name selections, from options and `--filter` rules together.
struct Names {
    schemas: Vec<BString>,
    exclude_schemas: Vec<BString>,
    tables: Vec<BString>,
    indexes: Vec<BString>,
    functions: Vec<BString>,
    triggers: Vec<BString>,
}

impl Names {
    fn from(opts: &RestoreOptions) -> Names {
        let mut n = Names {
            schemas: opts.schemas.clone(),
            exclude_schemas: opts.exclude_schemas.clone(),
            tables: opts.tables.clone(),
            indexes: opts.indexes.clone(),
            functions: opts.functions.clone(),
            triggers: opts.triggers.clone(),
        };
        for rule in &opts.filters {
            match rule {
                FilterRule::IncludeTable(t) => n.tables.push(t.clone()),
                FilterRule::IncludeSchema(s) => n.schemas.push(s.clone()),
                FilterRule::IncludeIndex(i) => n.indexes.push(i.clone()),
                FilterRule::IncludeFunction(f) => n.functions.push(f.clone()),
                FilterRule::IncludeTrigger(t) => n.triggers.push(t.clone()),
                FilterRule::ExcludeSchema(s) => n.exclude_schemas.push(s.clone()),
            }
        }
        n
    }

    fn any(&self) -> bool {
        !(self.schemas.is_empty() && self.exclude_schemas.is_empty() && self.sel_types())
    }

    /// True when none of -t -I -P -T was given.
    fn sel_types(&self) -> bool {
        self.tables.is_empty() && self.indexes.is_empty() && self.functions.is_empty() && self.triggers.is_empty()
    }
}

/// Reads a `-L` list file and reorders the TOC to it; returns the listed ids.
fn apply_list(archive: &mut Archive, path: &str, warn: &mut dyn FnMut(String)) -> Result<HashSet<DumpId>, SelectError> {
    let text = fs::read(path).map_err(|e| SelectError::ListFile { path: path.to_owned(), reason: io_reason(&e) })?;
    let max = archive.toc().max_dump_id;
    let mut listed: Vec<DumpId> = Vec::new();
    let mut seen = HashSet::new();
    for raw in text.split_inclusive(|&b| b == b'\n') {
        let line = match raw.find_byte(b';') {
            Some(i) => &raw[..i],
            None => raw,
        };
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            continue;
        }
        let shown = || {
            let l = line.strip_suffix(b"\n").unwrap_or(line);
            l.to_str_lossy().into_owned()
        };
        match parse_leading_int(line) {
            Some(id) if id > 0 && id <= i64::from(max) && !seen.contains(&id) => {
                let id = id as DumpId;
                if archive.toc().get(id).is_none() {
                    return Err(SelectError::UnknownId(i64::from(id)));
                }
                seen.insert(i64::from(id));
                listed.push(id);
            }
            _ => warn(format!("line ignored: {}", shown())),
        }
    }
    // Listed entries go to the end in list order; the rest keep their order at the front.
    let toc = archive.toc_mut();
    let listed_set: HashSet<DumpId> = listed.iter().copied().collect();
    let mut front: Vec<TocEntry> = Vec::new();
    let mut by_id = std::collections::HashMap::new();
    for e in toc.entries.drain(..) {
        if listed_set.contains(&e.dump_id) {
            by_id.insert(e.dump_id, e);
        } else {
            front.push(e);
        }
    }
    for id in &listed {
        if let Some(e) = by_id.remove(id) {
            front.push(e);
        }
    }
    toc.entries = front;
    toc.reindex();
    Ok(listed_set)
}

/// `strtol(s, 10)`: optional whitespace and sign, digits; anything after is ignored.
fn parse_leading_int(s: &[u8]) -> Option<i64> {
    let t = s.trim_start();
    let (neg, rest) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: Vec<u8> = rest.iter().take_while(|b| b.is_ascii_digit()).copied().collect();
    if digits.is_empty() {
        return None;
    }
    let v: i64 = std::str::from_utf8(&digits).ok()?.parse().unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Applies `-L`, then decides per entry what is wanted (`_tocEntryRequired`).
pub fn select(archive: &mut Archive, opts: &RestoreOptions, warn: &mut dyn FnMut(String)) -> Result<Selection, SelectError> {
    let listed = match &opts.use_list {
        Some(path) => Some(apply_list(archive, &path.to_string_lossy(), warn)?),
        None => None,
    };
    let names = Names::from(opts);
    let toc = archive.toc();
    let schema_wanted = !(opts.data_only || opts.statistics_only) && !opts.no_schema;
    let data_wanted = !(opts.schema_only || opts.statistics_only) && !opts.no_data;
    let stats_wanted = ((!opts.schema_only && !opts.data_only) || opts.statistics_only || opts.statistics) && !opts.no_statistics;

    let mut wanted = vec![Wanted::default(); toc.entries.len()];
    let mut matched: HashSet<(u8, BString)> = HashSet::new();
    let mut cur_section = Section::PreData;
    for (i, te) in toc.entries.iter().enumerate() {
        if te.section != Section::None {
            cur_section = te.section;
        }
        let effective = if te.section == Section::None { cur_section } else { te.section };
        let already: &[Wanted] = &wanted[..i];
        let parent_selected = |te: &TocEntry| {
            te.dependencies.iter().any(|d| {
                toc.position(*d).is_some_and(|p| p < i && already[p].any() && !toc.entries[p].desc_is("ACL"))
            })
        };
        wanted[i] = required(te, effective, opts, &names, listed.as_ref(), schema_wanted, data_wanted, stats_wanted, &mut matched, parent_selected);
    }

    let strict_error = if opts.strict_names { strict_names(&names, &matched) } else { None };
    Ok(Selection { wanted, strict_error })
}

const SCHEMA: u8 = 0;
const TABLE: u8 = 1;
const INDEX: u8 = 2;
const FUNCTION: u8 = 3;
const TRIGGER: u8 = 4;

fn strict_names(names: &Names, matched: &HashSet<(u8, BString)>) -> Option<String> {
    let groups: [(u8, &Vec<BString>, &str); 5] = [
        (SCHEMA, &names.schemas, "schema"),
        (TABLE, &names.tables, "table"),
        (INDEX, &names.indexes, "index"),
        (FUNCTION, &names.functions, "function"),
        (TRIGGER, &names.triggers, "trigger"),
    ];
    for (kind, list, word) in groups {
        for name in list {
            if !matched.contains(&(kind, name.clone())) {
                return Some(format!("{word} \"{name}\" not found"));
            }
        }
    }
    None
}

#[allow(clippy::too_many_arguments)]
fn required(
    te: &TocEntry,
    effective: Section,
    opts: &RestoreOptions,
    names: &Names,
    listed: Option<&HashSet<DumpId>>,
    schema_wanted: bool,
    data_wanted: bool,
    stats_wanted: bool,
    matched: &mut HashSet<(u8, BString)>,
    parent_selected: impl Fn(&TocEntry) -> bool,
) -> Wanted {
    let none = Wanted::default();
    let desc = te.desc.as_bytes();
    // Rule 1: session settings.
    if matches!(desc, b"ENCODING" | b"STDSTRINGS" | b"SEARCHPATH") {
        return Wanted { special: true, ..none };
    }
    // Rule 2: DATABASE entries only with -C, immune to every other filter.
    if matches!(desc, b"DATABASE" | b"DATABASE PROPERTIES") {
        return if opts.create { Wanted { schema: true, ..none } } else { none };
    }
    let tag_starts = |p: &[u8]| te.tag.starts_with(p);
    let is_stats = desc == b"STATISTICS DATA";
    // Rule 3: class exclusions.
    if opts.no_acl && matches!(desc, b"ACL" | b"DEFAULT ACL" | b"ACL LANGUAGE") {
        return none;
    }
    if opts.no_comments && desc == b"COMMENT" {
        return none;
    }
    if opts.no_publications
        && (matches!(desc, b"PUBLICATION" | b"PUBLICATION TABLE" | b"PUBLICATION TABLES IN SCHEMA")
            || (matches!(desc, b"COMMENT" | b"SECURITY LABEL") && tag_starts(b"PUBLICATION")))
    {
        return none;
    }
    if opts.no_security_labels && desc == b"SECURITY LABEL" {
        return none;
    }
    if opts.no_subscriptions && (desc == b"SUBSCRIPTION" || (matches!(desc, b"COMMENT" | b"SECURITY LABEL") && tag_starts(b"SUBSCRIPTION"))) {
        return none;
    }
    if opts.no_policies && (matches!(desc, b"POLICY" | b"ROW SECURITY") || (desc == b"COMMENT" && tag_starts(b"POLICY"))) {
        return none;
    }
    if is_stats && !stats_wanted {
        return none;
    }
    // Rule 4: sections.
    if !opts.sections.is_empty() {
        let choice = match effective {
            Section::PreData | Section::None => SectionChoice::PreData,
            Section::Data => SectionChoice::Data,
            Section::PostData => SectionChoice::PostData,
        };
        if !opts.sections.contains(&choice) {
            return none;
        }
    }
    // Rule 5: -L.
    if let Some(listed) = listed {
        if !listed.contains(&te.dump_id) {
            return none;
        }
    }
    // Rule 6: names.
    let dependent = matches!(desc, b"ACL" | b"COMMENT" | b"SECURITY LABEL") || is_stats;
    if dependent {
        if tag_starts(b"DATABASE ") {
            if !opts.create {
                return none;
            }
        } else if names.any() && !parent_selected(te) {
            return none;
        }
    } else {
        let ns = te.namespace.as_ref();
        if !names.schemas.is_empty() {
            match ns {
                Some(ns) if names.schemas.contains(ns) => {
                    matched.insert((SCHEMA, ns.clone()));
                }
                _ => return none,
            }
        }
        if let Some(ns) = ns {
            if names.exclude_schemas.contains(ns) {
                return none;
            }
        }
        if !names.sel_types() {
            let hit = |list: &Vec<BString>, kind: u8, matched: &mut HashSet<(u8, BString)>| {
                if list.contains(&te.tag) {
                    matched.insert((kind, te.tag.clone()));
                    true
                } else {
                    false
                }
            };
            let ok = if matches!(desc, b"TABLE" | b"TABLE DATA" | b"VIEW" | b"FOREIGN TABLE" | b"MATERIALIZED VIEW" | b"MATERIALIZED VIEW DATA" | b"SEQUENCE" | b"SEQUENCE SET") {
                !names.tables.is_empty() && hit(&names.tables, TABLE, matched)
            } else if desc == b"INDEX" {
                !names.indexes.is_empty() && hit(&names.indexes, INDEX, matched)
            } else if matches!(desc, b"FUNCTION" | b"AGGREGATE" | b"PROCEDURE") {
                !names.functions.is_empty() && hit(&names.functions, FUNCTION, matched)
            } else if desc == b"TRIGGER" {
                !names.triggers.is_empty() && hit(&names.triggers, TRIGGER, matched)
            } else {
                false
            };
            if !ok {
                return none;
            }
        }
    }
    // Rule 7: what the entry contains.
    if desc == b"<Init>" && te.tag.as_bytes() == b"Max OID" {
        return none;
    }
    let mut w = if is_stats {
        Wanted { stats: true, ..none }
    } else if te.had_dumper {
        Wanted { schema: true, data: true, ..none }
    } else if matches!(desc, b"SEQUENCE SET" | b"BLOB" | b"BLOB METADATA")
        || (matches!(desc, b"ACL" | b"COMMENT" | b"SECURITY LABEL") && tag_starts(b"LARGE OBJECT"))
    {
        Wanted { data: true, ..none }
    } else {
        Wanted { schema: true, ..none }
    };
    if w.schema {
        let defn = te.defn.as_ref().map(|d| d.as_bytes()).unwrap_or_default();
        if defn.is_empty() || defn.starts_with(b"-- load via partition root ") {
            w.schema = false;
        }
    }
    // Rule 8: masks.
    if !schema_wanted {
        w.schema = false;
    }
    if !data_wanted {
        w.data = false;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_ints_like_strtol() {
        assert_eq!(parse_leading_int(b"  +2620x"), Some(2620));
        assert_eq!(parse_leading_int(b"-3"), Some(-3));
        assert_eq!(parse_leading_int(b"abc"), None);
    }
}
