//! Which parts of which TOC entries a restore wants, in which order, and in which pass —
//! pg_restore's `SortTocFromFile` (`-L`), `_tocEntryRequired` and `_tocEntryRestorePass`, and
//! `--strict-names` (pg_backup_archiver.c `_tocEntryRequired`).
//!
//! Selection only decides; `listing` and `render` print what it decided. The `-L` file's
//! syntax is `list_file`'s business, the `--filter` file's `filter`'s.

use std::collections::{HashMap, HashSet};

use bstr::{BString, ByteSlice};
use pgsurge_archive::{Archive, DumpId, Section, Toc, TocEntry};

use crate::list_file::{self, ListFileError};
use crate::options::{FilterRule, RestoreOptions, SectionChoice};

/// What is wanted of one entry (`teReqs`: `REQ_SCHEMA`, `REQ_DATA`, `REQ_STATS`,
/// `REQ_SPECIAL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Run its definition (and ownership).
    pub schema: bool,
    /// Restore its data: a table's rows, large objects, or a data-like statement such as
    /// `SEQUENCE SET`.
    pub data: bool,
    /// pg_dump 18 `STATISTICS DATA`.
    pub stats: bool,
    /// ENCODING / STDSTRINGS / SEARCHPATH: applied through the preamble, never restored as
    /// entries nor listed (except by `-l -v`).
    pub special: bool,
}

impl Wanted {
    /// True when the entry is restored (and listed by `-l`).
    pub fn any(&self) -> bool {
        self.schema || self.data || self.stats
    }

    /// pg_restore's `reqs != 0`, which also counts the special entries.
    fn nonzero(&self) -> bool {
        self.any() || self.special
    }
}

/// The serial restore pass an entry belongs to (`RestorePass`): grants come after everything
/// else, materialized-view refreshes and event triggers after the grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pass {
    Main,
    Acl,
    PostAcl,
}

impl Pass {
    /// `_tocEntryRestorePass`.
    pub fn of(te: &TocEntry) -> Pass {
        let desc = te.desc.as_bytes();
        let tag = te.tag.as_bytes();
        match desc {
            b"ACL" | b"ACL LANGUAGE" | b"DEFAULT ACL" => Pass::Acl,
            b"EVENT TRIGGER" | b"MATERIALIZED VIEW DATA" => Pass::PostAcl,
            b"COMMENT" | b"SECURITY LABEL" if tag.starts_with(b"EVENT TRIGGER ") => Pass::PostAcl,
            // Post-data statistics (indexes, materialized views) must follow the matview
            // refreshes; pg_restore 18 defers all of them, by their own section.
            b"STATISTICS DATA" if te.section == Section::PostData => Pass::PostAcl,
            _ => Pass::Main,
        }
    }
}

/// The decision for one entry, at the same index as the entry in the archive's TOC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySelection {
    pub wanted: Wanted,
    /// The section `--section` judged the entry by: its own, or for SECTION_NONE entries
    /// that of the nearest preceding entry with one (pre-data before the first).
    pub section: Section,
    pub pass: Pass,
}

/// The outcome of selection: a decision per entry, by its position in the archive's TOC
/// (which selection never reorders), and the order to restore them in.
#[derive(Debug)]
pub struct Selection {
    /// Parallel to `archive.toc().entries`.
    entries: Vec<EntrySelection>,
    /// TOC positions in restore order: the archive's own, or as a `-L` list reorders it.
    order: Vec<usize>,
    /// `--strict-names` failure, reported by the caller at the right moment (after the
    /// listing for `-l`, before any script output otherwise).
    strict_error: Option<SelectError>,
    /// Whether any entry's schema part is wanted; when none is, the restore is an "implied
    /// no-schema restore" (pg_backup_archiver.c `_tocEntryRequired`), which lets `--disable-triggers` act.
    restores_schema: bool,
    /// Schema parts were allowed, yet no selected entry has one (pg_restore's "implied
    /// no-schema restore").
    implied_no_schema: bool,
}

impl Selection {
    /// What is wanted of the entry at TOC position `index`.
    pub fn get(&self, index: usize) -> Wanted {
        self.entries.get(index).map(|e| e.wanted).unwrap_or_default()
    }

    /// The full decision for the entry at `index`.
    pub fn entry(&self, index: usize) -> Option<&EntrySelection> {
        self.entries.get(index)
    }

    /// The decisions by TOC position.
    pub fn entries(&self) -> &[EntrySelection] {
        &self.entries
    }

    /// TOC positions in the order a restore (and `-l`) takes them: the archive's, or the
    /// `-L` list's (pg_restore's `SortTocFromFile`).
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// The decisions with their TOC positions, in restore order.
    pub fn in_order(&self) -> impl DoubleEndedIterator<Item = (usize, &EntrySelection)> + '_ {
        self.order.iter().filter_map(|&i| self.entries.get(i).map(|e| (i, e)))
    }

    /// The `--strict-names` failure, if a name given to `-n -t -I -P -T` (or `--filter`)
    /// matched nothing. `-l` prints the listing first and then fails with it; a restore
    /// fails with it before writing anything.
    pub fn strict_names_error(&self) -> Option<&SelectError> {
        self.strict_error.as_ref()
    }

    /// False for a data-only restore, explicit (`-a`, `--no-schema`, `--statistics-only`)
    /// or implied (nothing selected has a schema part).
    pub fn restores_schema(&self) -> bool {
        self.restores_schema
    }

    /// True when the options allowed schema parts but none was selected, so the restore
    /// behaves as with `--no-schema` (pg_restore says "implied no-schema restore" under `-v`).
    pub fn implied_no_schema(&self) -> bool {
        self.implied_no_schema
    }

    /// Dump ids of the entries whose data part is wanted, in TOC order: what a one-pass
    /// archive will be asked for.
    pub fn data_ids(&self, toc: &Toc) -> Vec<DumpId> {
        toc.entries.iter().zip(&self.entries).filter(|(_, s)| s.wanted.data).map(|(te, _)| te.dump_id).collect()
    }
}

/// A selection failure, worded as pg_restore's message after `pg_restore: error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    ListFile(#[from] ListFileError),
    /// `--strict-names`: `kind` is `schema`, `table`, `index`, `function` or `trigger`.
    #[error("{kind} \"{name}\" not found")]
    NameNotFound { kind: &'static str, name: BString },
}

/// One name given to a selection option, and whether it matched (`SimpleStringListCell`
/// with its `touched` flag: with a name given twice only the first copy is ever touched,
/// so `--strict-names` reports the second, as pg_restore does).
#[derive(Debug)]
struct NameCell {
    name: BString,
    touched: bool,
}

#[derive(Debug, Default)]
struct NameList(Vec<NameCell>);

impl NameList {
    fn push(&mut self, name: &BString) {
        self.0.push(NameCell { name: name.clone(), touched: false });
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `simple_string_list_member`: exact byte equality; marks the first match touched.
    fn member(&mut self, value: &[u8]) -> bool {
        match self.0.iter_mut().find(|c| c.name.as_bytes() == value) {
            Some(cell) => {
                cell.touched = true;
                true
            }
            None => false,
        }
    }

    fn first_untouched(&self) -> Option<&BString> {
        self.0.iter().find(|c| !c.touched).map(|c| &c.name)
    }
}

/// Name selections from the options and `--filter` rules together.
#[derive(Debug, Default)]
struct Names {
    schemas: NameList,
    exclude_schemas: NameList,
    tables: NameList,
    indexes: NameList,
    functions: NameList,
    triggers: NameList,
}

impl Names {
    fn from(opts: &RestoreOptions) -> Names {
        let mut n = Names::default();
        // pg_restore appends command-line names and filter rules to the same lists in
        // argument order; options do not record that interleaving, so option names come
        // first (it only changes which missing name --strict-names reports first).
        opts.schemas.iter().for_each(|s| n.schemas.push(s));
        opts.exclude_schemas.iter().for_each(|s| n.exclude_schemas.push(s));
        opts.tables.iter().for_each(|s| n.tables.push(s));
        opts.indexes.iter().for_each(|s| n.indexes.push(s));
        opts.functions.iter().for_each(|s| n.functions.push(s));
        opts.triggers.iter().for_each(|s| n.triggers.push(s));
        for rule in &opts.filters {
            match rule {
                FilterRule::IncludeTable(t) => n.tables.push(t),
                FilterRule::IncludeSchema(s) => n.schemas.push(s),
                FilterRule::IncludeIndex(i) => n.indexes.push(i),
                FilterRule::IncludeFunction(f) => n.functions.push(f),
                FilterRule::IncludeTrigger(t) => n.triggers.push(t),
                FilterRule::ExcludeSchema(s) => n.exclude_schemas.push(s),
            }
        }
        n
    }

    /// `selTypes`: any of -t -I -P -T given.
    fn sel_types(&self) -> bool {
        !(self.tables.is_empty() && self.indexes.is_empty() && self.functions.is_empty() && self.triggers.is_empty())
    }

    /// Whether dependent entries (comments, ACLs, …) must follow a selected parent.
    fn selective(&self) -> bool {
        !self.schemas.is_empty() || !self.exclude_schemas.is_empty() || self.sel_types()
    }

    /// `StrictNamesCheck`: the first name never matched, lists checked in pg_restore's order.
    fn strict_check(&self) -> Option<SelectError> {
        let lists = [("schema", &self.schemas), ("table", &self.tables), ("index", &self.indexes), ("function", &self.functions), ("trigger", &self.triggers)];
        lists.into_iter().find_map(|(kind, list)| list.first_untouched().map(|name| SelectError::NameNotFound { kind, name: name.clone() }))
    }
}

/// Which kinds of parts the options allow at all (pg_restore 18's `dumpSchema`, `dumpData`,
/// `dumpStatistics`, pg_backup_archiver.c `_tocEntryRequired`).
#[derive(Debug, Clone, Copy)]
struct Masks {
    schema: bool,
    data: bool,
    stats: bool,
}

impl Masks {
    fn from(opts: &RestoreOptions) -> Masks {
        Masks {
            schema: !(opts.data_only || opts.statistics_only || opts.no_schema),
            data: !(opts.schema_only || opts.statistics_only || opts.no_data),
            stats: ((!opts.schema_only && !opts.data_only) || opts.statistics_only || opts.statistics) && !opts.no_statistics,
        }
    }
}

/// Applies `-L` (the order of the restore, not of the archive's TOC), then decides per entry what is wanted, and
/// checks `--strict-names` (the failure is kept in the `Selection`, not returned, so that
/// `-l` can print its listing first). `warn` receives pg_restore's warnings, such as
/// `line ignored: …`, without the `pg_restore: warning: ` prefix.
pub fn select(archive: &Archive, opts: &RestoreOptions, warn: &mut dyn FnMut(String)) -> Result<Selection, SelectError> {
    let toc = archive.toc();
    match &opts.use_list {
        Some(path) => {
            let text = list_file::read_list_file(path)?;
            let ids = list_file::parse_list(&text, toc.max_dump_id, |id| toc.get(id).is_some(), warn)?;
            let order = reorder(&toc.entries, &ids);
            Ok(decide_in(&toc.entries, order, opts, Some(&ids.into_iter().collect())))
        }
        None => Ok(decide(&toc.entries, opts, None)),
    }
}

/// `SortTocFromFile`'s order, as TOC positions: each listed entry moves to the end as it
/// is read, so the listed ones end up in list order after all unlisted ones (which keep
/// their order). `ids` holds each id once (`list_file::parse_list` drops repeats).
fn reorder(entries: &[TocEntry], ids: &[DumpId]) -> Vec<usize> {
    let positions: HashMap<DumpId, usize> = entries.iter().enumerate().map(|(i, te)| (te.dump_id, i)).collect();
    let mut listed: Vec<usize> = Vec::with_capacity(ids.len());
    let mut seen: HashSet<usize> = HashSet::with_capacity(ids.len());
    for p in ids.iter().filter_map(|id| positions.get(id).copied()) {
        if seen.insert(p) {
            listed.push(p);
        }
    }
    let mut order: Vec<usize> = (0..entries.len()).filter(|p| !seen.contains(p)).collect();
    order.extend(listed);
    order
}

/// The per-entry decisions for `entries` in TOC order, without a `-L` list's reordering
/// (`listed` only says which entries it names). Public for callers that build entries
/// themselves, such as the scheduler's tests.
pub fn decide(entries: &[TocEntry], opts: &RestoreOptions, listed: Option<&HashSet<DumpId>>) -> Selection {
    decide_in(entries, (0..entries.len()).collect(), opts, listed)
}

/// The per-entry decisions, taking the entries in `order` (TOC positions, each once): a
/// SECTION_NONE entry's section and a dependent entry's parent are judged by what comes
/// before it in that order, as pg_restore's single pass over its sorted TOC sees them.
fn decide_in(entries: &[TocEntry], order: Vec<usize>, opts: &RestoreOptions, listed: Option<&HashSet<DumpId>>) -> Selection {
    let mut names = Names::from(opts);
    let masks = Masks::from(opts);
    let positions: HashMap<DumpId, usize> = entries.iter().enumerate().map(|(i, te)| (te.dump_id, i)).collect();
    let mut decided: Vec<Option<EntrySelection>> = vec![None; entries.len()];
    let mut current = Section::PreData;
    for &p in &order {
        let Some(te) = entries.get(p) else { continue };
        if te.section != Section::None {
            current = te.section;
        }
        let ctx = Context { entries, positions: &positions, decided: &decided, opts, listed, masks };
        let wanted = required(te, current, &ctx, &mut names);
        decided[p] = Some(EntrySelection { wanted, section: current, pass: Pass::of(te) });
    }
    let strict_error = if opts.strict_names { names.strict_check() } else { None };
    let unreached = EntrySelection { wanted: Wanted::default(), section: Section::None, pass: Pass::Main };
    let decided: Vec<EntrySelection> = decided.into_iter().map(|d| d.unwrap_or(unreached)).collect();
    let any_schema = decided.iter().any(|e| e.wanted.schema);
    Selection { entries: decided, order, strict_error, restores_schema: masks.schema && any_schema, implied_no_schema: masks.schema && !any_schema }
}

/// What `required` consults besides the entry itself.
struct Context<'a> {
    entries: &'a [TocEntry],
    positions: &'a HashMap<DumpId, usize>,
    /// Decisions for the entries before the current one in restore order, by TOC position
    /// (`None` for those still to come).
    decided: &'a [Option<EntrySelection>],
    opts: &'a RestoreOptions,
    listed: Option<&'a HashSet<DumpId>>,
    masks: Masks,
}

impl Context<'_> {
    /// For a dependent entry (comment, ACL, …) under a name selection: whether one of its
    /// dependencies, other than ACL entries, is an entry already marked for restore. Entries
    /// later in restore order count as unmarked, which is what pg_restore's single pass sees.
    fn parent_selected(&self, te: &TocEntry) -> bool {
        te.dependencies.iter().any(|&dep| match self.positions.get(&dep) {
            Some(&p) => self.entries.get(p).is_some_and(|e| !e.desc_is("ACL")) && self.decided.get(p).and_then(Option::as_ref).is_some_and(|d| d.wanted.nonzero()),
            None => false,
        })
    }
}

/// Whether `-t` names the table (view, foreign table, materialized view) or `-I` the index
/// that a `STATISTICS DATA` entry depends on. Every dependency is tried, matched or not, as
/// pg_restore 18.6 does, so each matching name counts as found for `--strict-names`.
fn stats_named(te: &TocEntry, ctx: &Context<'_>, names: &mut Names) -> bool {
    let mut named = false;
    for dep in &te.dependencies {
        let Some(parent) = ctx.positions.get(dep).and_then(|&p| ctx.entries.get(p)) else {
            continue;
        };
        let list = match parent.desc.as_bytes() {
            b"TABLE" | b"VIEW" | b"FOREIGN TABLE" | b"MATERIALIZED VIEW" => &mut names.tables,
            b"INDEX" => &mut names.indexes,
            _ => continue,
        };
        if !list.is_empty() && list.member(parent.tag.as_bytes()) {
            named = true;
        }
    }
    named
}

/// `_tocEntryRequired` of pg_restore 18 (pg_backup_archiver.c), rules in its order.
fn required(te: &TocEntry, section: Section, ctx: &Context<'_>, names: &mut Names) -> Wanted {
    let none = Wanted::default();
    let opts = ctx.opts;
    let desc = te.desc.as_bytes();
    let tag = te.tag.as_bytes();
    let mut want = Wanted { schema: true, data: true, stats: false, special: false };

    if matches!(desc, b"ENCODING" | b"STDSTRINGS" | b"SEARCHPATH") {
        return Wanted { special: true, ..none };
    }
    let is_stats = desc == b"STATISTICS DATA";
    if is_stats {
        if !ctx.masks.stats {
            return none;
        }
        want = Wanted { stats: true, ..none };
    }
    // DATABASE entries follow -C and nothing else.
    if matches!(desc, b"DATABASE" | b"DATABASE PROPERTIES") {
        return if opts.create { Wanted { schema: true, ..none } } else { none };
    }

    // Exclusions by class.
    if opts.no_acl && matches!(desc, b"ACL" | b"ACL LANGUAGE" | b"DEFAULT ACL") {
        return none;
    }
    if opts.no_comments && desc == b"COMMENT" {
        return none;
    }
    if opts.no_policies && matches!(desc, b"POLICY" | b"ROW SECURITY") {
        return none;
    }
    if desc == b"COMMENT"
        && ((opts.no_policies && tag.starts_with(b"POLICY")) || (opts.no_publications && tag.starts_with(b"PUBLICATION")) || (opts.no_subscriptions && tag.starts_with(b"SUBSCRIPTION")))
    {
        return none;
    }
    if opts.no_publications && matches!(desc, b"PUBLICATION" | b"PUBLICATION TABLE" | b"PUBLICATION TABLES IN SCHEMA") {
        return none;
    }
    if opts.no_security_labels && desc == b"SECURITY LABEL" {
        return none;
    }
    if desc == b"SECURITY LABEL" && ((opts.no_publications && tag.starts_with(b"PUBLICATION")) || (opts.no_subscriptions && tag.starts_with(b"SUBSCRIPTION"))) {
        return none;
    }
    if opts.no_subscriptions && matches!(desc, b"SUBSCRIPTION" | b"SUBSCRIPTION TABLE") {
        return none;
    }

    // --section, judged by the effective section.
    if !opts.sections.is_empty() {
        let choice = match section {
            Section::PreData | Section::None => SectionChoice::PreData,
            Section::Data => SectionChoice::Data,
            Section::PostData => SectionChoice::PostData,
        };
        if !opts.sections.contains(&choice) {
            return none;
        }
    }

    if let Some(listed) = ctx.listed {
        if !listed.contains(&te.dump_id) {
            return none;
        }
    }

    // Name selection.
    if matches!(desc, b"ACL" | b"COMMENT" | b"SECURITY LABEL") {
        if tag.starts_with(b"DATABASE ") {
            if !opts.create {
                return none;
            }
        } else if names.selective() && !ctx.parent_selected(te) {
            return none;
        }
    } else {
        if !names.schemas.is_empty() {
            match &te.namespace {
                Some(ns) if names.schemas.member(ns) => {}
                _ => return none,
            }
        }
        if let Some(ns) = &te.namespace {
            if !names.exclude_schemas.is_empty() && names.exclude_schemas.member(ns) {
                return none;
            }
        }
        if is_stats && names.sel_types() {
            // Statistics follow their relation's name, not whether the relation itself is
            // restored: `--statistics-only -t p` restores nothing of p but its statistics.
            if !stats_named(te, ctx, names) {
                return none;
            }
        } else if names.sel_types() {
            let list = match desc {
                b"TABLE" | b"TABLE DATA" | b"VIEW" | b"FOREIGN TABLE" | b"MATERIALIZED VIEW" | b"MATERIALIZED VIEW DATA" | b"SEQUENCE" | b"SEQUENCE SET" => &mut names.tables,
                b"INDEX" => &mut names.indexes,
                b"FUNCTION" | b"AGGREGATE" | b"PROCEDURE" => &mut names.functions,
                b"TRIGGER" => &mut names.triggers,
                _ => return none,
            };
            if list.is_empty() || !list.member(tag) {
                return none;
            }
        }
    }

    // What the entry contains.
    if !te.had_dumper {
        let data_like = matches!(desc, b"SEQUENCE SET" | b"BLOB" | b"BLOB METADATA")
            || (matches!(desc, b"ACL" | b"COMMENT" | b"SECURITY LABEL") && tag.starts_with(b"LARGE OBJECT"));
        if data_like {
            want = Wanted { data: want.data, ..none };
        } else {
            want.data = false;
        }
    }
    let defn = te.defn.as_ref().map(|d| d.as_bytes()).unwrap_or_default();
    if defn.is_empty() || defn.starts_with(b"-- load via partition root ") {
        want.schema = false;
    }
    if desc == b"<Init>" && tag == b"Max OID" {
        return none;
    }
    if !ctx.masks.data {
        want.data = false;
    }
    if !ctx.masks.schema {
        want.schema = false;
    }
    want
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(id: DumpId, desc: &str, tag: &str, ns: Option<&str>, section: Section, deps: &[DumpId]) -> TocEntry {
        TocEntry {
            had_dumper: desc == "TABLE DATA" || desc == "BLOBS",
            defn: if desc == "TABLE DATA" { None } else { Some(format!("-- {desc} {tag}\n").into()) },
            namespace: ns.map(Into::into),
            ..TocEntry::new(id, desc, tag, section, deps.to_vec())
        }
    }

    fn archive_toc() -> Vec<TocEntry> {
        vec![
            entry(DumpId(1), "ENCODING", "ENCODING", None, Section::PreData, &[]),
            entry(DumpId(2), "SCHEMA", "s1", None, Section::PreData, &[]),
            entry(DumpId(3), "COMMENT", "SCHEMA s1", None, Section::None, &[DumpId(2)]),
            entry(DumpId(4), "TABLE", "p", Some("public"), Section::PreData, &[]),
            entry(DumpId(5), "COMMENT", "TABLE p", Some("public"), Section::None, &[DumpId(4)]),
            entry(DumpId(6), "TABLE", "p", Some("s1"), Section::PreData, &[DumpId(2)]),
            entry(DumpId(7), "TABLE DATA", "p", Some("public"), Section::Data, &[DumpId(4)]),
            entry(DumpId(8), "COMMENT", "COLUMN p.a", Some("public"), Section::None, &[DumpId(4)]),
            entry(DumpId(9), "INDEX", "p_idx", Some("public"), Section::PostData, &[DumpId(4)]),
            entry(DumpId(10), "ACL", "TABLE p", Some("public"), Section::None, &[DumpId(4)]),
            entry(DumpId(11), "STATISTICS DATA", "p", Some("public"), Section::Data, &[DumpId(4)]),
            entry(DumpId(12), "STATISTICS DATA", "p_idx", Some("public"), Section::PostData, &[DumpId(9)]),
        ]
    }

    fn wanted_ids(toc: &[TocEntry], sel: &Selection) -> Vec<i32> {
        toc.iter().enumerate().filter(|(i, _)| sel.get(*i).any()).map(|(_, e)| e.dump_id.0).collect()
    }

    #[test]
    fn table_selection_brings_dependents() {
        let toc = archive_toc();
        let opts = RestoreOptions { tables: vec!["p".into()], ..Default::default() };
        let sel = decide(&toc, &opts, None);
        assert_eq!(wanted_ids(&toc, &sel), vec![4, 5, 6, 7, 8, 10, 11]);
        let opts = RestoreOptions { tables: vec!["p".into()], schemas: vec!["public".into()], ..Default::default() };
        let sel = decide(&toc, &opts, None);
        assert_eq!(wanted_ids(&toc, &sel), vec![4, 5, 7, 8, 10, 11]);
    }

    #[test]
    fn sections_and_masks() {
        let toc = archive_toc();
        let sel = decide(&toc, &RestoreOptions { sections: vec![SectionChoice::Data], ..Default::default() }, None);
        // The column comment after the table data inherits the data section; the ACL after
        // the index inherits post-data.
        assert_eq!(wanted_ids(&toc, &sel), vec![7, 8, 11]);
        assert!(sel.restores_schema());
        let sel = decide(&toc, &RestoreOptions { sections: vec![SectionChoice::Data], no_comments: true, ..Default::default() }, None);
        assert!(!sel.restores_schema());
        let sel = decide(&toc, &RestoreOptions { schema_only: true, ..Default::default() }, None);
        assert_eq!(wanted_ids(&toc, &sel), vec![2, 3, 4, 5, 6, 8, 9, 10]);
        let sel = decide(&toc, &RestoreOptions { statistics_only: true, ..Default::default() }, None);
        assert_eq!(wanted_ids(&toc, &sel), vec![11, 12]);
        assert_eq!(sel.entry(11).map(|e| e.pass), Some(Pass::PostAcl));
        assert_eq!(sel.entry(10).map(|e| e.pass), Some(Pass::Main));
    }

    #[test]
    fn statistics_follow_names_not_marked_parents() {
        let toc = archive_toc();
        let stats_only = |f: fn(&mut RestoreOptions)| {
            let mut opts = RestoreOptions { statistics_only: true, strict_names: true, ..Default::default() };
            f(&mut opts);
            let sel = decide(&toc, &opts, None);
            (wanted_ids(&toc, &sel), sel.strict_names_error().map(|e| e.to_string()))
        };
        // The table and index are not restored (no schema), yet their statistics are.
        assert_eq!(stats_only(|o| o.tables = vec!["p".into()]), (vec![11], None));
        assert_eq!(stats_only(|o| o.indexes = vec!["p_idx".into()]), (vec![12], None));
        assert_eq!(stats_only(|o| o.schemas = vec!["public".into()]), (vec![11, 12], None));
        assert_eq!(stats_only(|o| o.exclude_schemas = vec!["public".into()]), (vec![], None));
        assert_eq!(stats_only(|o| o.schemas = vec!["s1".into()]), (vec![], None));
        // -t matches the relation a statistics entry depends on, never an index's name.
        assert_eq!(stats_only(|o| o.tables = vec!["p_idx".into()]), (vec![], Some("table \"p_idx\" not found".into())));
        // Other selections (-P, -T) leave statistics out.
        assert_eq!(stats_only(|o| o.functions = vec!["f()".into()]).0, Vec::<i32>::new());
    }

    #[test]
    fn no_subscriptions_skips_subscription_tables() {
        let toc = vec![entry(DumpId(1), "SUBSCRIPTION", "sub", None, Section::PostData, &[]), entry(DumpId(2), "SUBSCRIPTION TABLE", "sub t", None, Section::PostData, &[DumpId(1)])];
        assert_eq!(wanted_ids(&toc, &decide(&toc, &RestoreOptions::default(), None)), vec![1, 2]);
        assert_eq!(wanted_ids(&toc, &decide(&toc, &RestoreOptions { no_subscriptions: true, ..Default::default() }, None)), Vec::<i32>::new());
    }

    #[test]
    fn strict_names_report_first_missing() {
        let toc = archive_toc();
        let opts = RestoreOptions { strict_names: true, tables: vec!["p".into(), "nosuch".into(), "p".into()], ..Default::default() };
        let sel = decide(&toc, &opts, None);
        assert_eq!(sel.strict_names_error().map(|e| e.to_string()), Some("table \"nosuch\" not found".into()));
        // Touched only when the entry got past sections: -t p --section=post-data fails.
        let opts = RestoreOptions { strict_names: true, tables: vec!["p".into()], sections: vec![SectionChoice::PostData], ..Default::default() };
        assert!(decide(&toc, &opts, None).strict_names_error().is_some());
        let opts = RestoreOptions { strict_names: true, schemas: vec!["s1".into()], ..Default::default() };
        assert!(decide(&toc, &opts, None).strict_names_error().is_none());
    }

    #[test]
    fn list_order_moves_listed_entries_last() {
        let toc = archive_toc();
        let order = reorder(&toc, &[DumpId(7), DumpId(4)]);
        let ids: Vec<DumpId> = order.iter().map(|&p| toc[p].dump_id).collect();
        assert_eq!(ids, vec![1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 7, 4]);
        let listed: HashSet<DumpId> = [7, 4, 5].into_iter().map(DumpId).collect();
        let sel = decide_in(&toc, order, &RestoreOptions { tables: vec!["p".into()], ..Default::default() }, Some(&listed));
        // The comment comes before its table in list order, so its parent is not yet marked.
        let wanted: Vec<DumpId> = sel.in_order().filter(|(_, e)| e.wanted.any()).map(|(p, _)| toc[p].dump_id).collect();
        assert_eq!(wanted, vec![7, 4]);
        // The decisions stay by TOC position: the archive is not reordered.
        assert_eq!(sel.entries().len(), toc.len());
        assert!(sel.get(toc.iter().position(|e| e.dump_id == 4).unwrap_or(usize::MAX)).any());
    }
}
