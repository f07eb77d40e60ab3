//! The plan of a parallel restore, built once from the TOC, the selection and the data sizes
//! and then only read (shared as an `Arc` by the scheduler and every worker): the items —
//! the leader's schema entries, then table data, post-data, ACLs and the rest — each with
//! what it waits for, the tables it locks, its weight, and whether idle connections may
//! help load it. Nothing here talks to a server; the scheduler (`pgsurge-restore`) keeps
//! only what changes while the restore runs (what is done, running, ready).
//!
//! The leader's pre-data entries are items too, run by the leader in restore order and never
//! handed out: a table's data may start loading as soon as the table, and every pre-data
//! entry that names it, is in — while the leader goes on creating the rest of the schema.
//! Whatever is not a table's data or post-data (sequence values, large objects, data
//! loaded through a partition root) still waits for the whole schema, as in pg_restore.
//!
//! What an item waits for through its table's inheritance tree (the schema entries naming
//! its ancestors, the data of its descendants) is never spelled out item by item: on a long
//! chain of inheriting tables that is quadratic in the number of tables, and an archive can
//! hold any chain. Each strongly connected group of tables gets two gates instead — "every
//! entry naming this group or its ancestors is done", "every descendant's data is in" — each
//! waiting for its own group's entries and its neighbours' gates, so planning is linear in
//! the TOC and the waits are the same.

use std::collections::{HashMap, HashSet};

use bstr::ByteSlice;
use petgraph::algo::kosaraju_scc;
use petgraph::graphmap::DiGraphMap;
use pgsurge_archive::{DataLocation, DumpId, Section, Toc, TocEntry};

use crate::analyze;
use crate::foreign_key::{self, LaterValidation};
use crate::options::RestoreOptions;
use crate::primary_key::{self, IndexFirst};
use crate::select::{Pass, Selection};

/// Ancestors a lock-conflict check walks through before it assumes the two items touch the
/// same tree. Real schemas have a handful (partitions of partitions, a few inheritance
/// levels); only a hostile archive goes deeper, and there the check stays cheap and errs on
/// the safe side (the items do not run side by side).
pub const ANCESTRY_WALK_LIMIT: usize = 256;

/// Archive bytes below which a table is always loaded by one connection: a smaller table
/// finishes before a helper would have set up its part.
pub const SPLIT_MIN_BYTES: u64 = 8 << 20;

/// COPY text a table of unknown size (from a pipe) must have produced before idle workers
/// are invited: small tables are done before a helper could set up.
pub const SPLIT_UNKNOWN_AFTER: u64 = 32 << 20;

/// One TOC entry of the parallel phase: what it is, what it waits for and locks, what it
/// weighs.
#[derive(Debug, Clone)]
pub struct Item {
    /// Position in the TOC.
    pub index: usize,
    pub dump_id: DumpId,
    pub pass: Pass,
    /// Whether anything of it is restored; unwanted items complete without a worker but
    /// still release their dependents.
    pub wanted: bool,
    /// Work estimate: the archive bytes of its data, or of the data it waits for.
    pub size: u64,
    /// Its own dependencies still in the archive (after re-pointing table → table data),
    /// sorted.
    pub deps: Vec<DumpId>,
    /// The tables among its dependencies (before re-pointing): it also waits for the schema
    /// entries naming them or their ancestors, and post-data for their descendants' data.
    pub tables: Vec<DumpId>,
    pub post_data: bool,
    /// Tables (or their data) the item locks exclusively.
    pub lock_deps: Vec<DumpId>,
    /// The leader runs it (a pre-data entry); workers never get it.
    pub leader: bool,
    /// Not to start before every leader item is done.
    pub after_schema: bool,
    /// For table data that idle workers may help load: the COPY text it must have produced
    /// before they are invited (see [`split_after`]).
    pub split_after: Option<u64>,
    /// Not the entry at `index` but an ANALYZE of the table whose data it is (the
    /// `analyze` stage): it waits for that data and every post-data item of the main pass
    /// naming the table, and locks the table meanwhile.
    pub analyze: bool,
}

/// The inheritance trees (inheritance and partitions) as the lock-conflict checks need them.
#[derive(Debug, Default)]
struct Trees {
    /// Table → the tables its TABLE entry depends on (parents, and any other table it names).
    parents: HashMap<DumpId, Vec<DumpId>>,
    /// TABLE DATA → its table.
    table_of_data: HashMap<DumpId, DumpId>,
    /// Leader entry → the tables it names, sorted by leader entry. A lock check asks this of
    /// every ready item against every running one: a binary search over the few schema
    /// entries that name tables costs less there than hashing the id.
    leader_names: Vec<(DumpId, Vec<DumpId>)>,
}

impl Trees {
    /// The tables leader entry `id` names, if it names any.
    fn names_of(&self, id: DumpId) -> Option<&[DumpId]> {
        let at = self.leader_names.binary_search_by_key(&id, |(leader, _)| *leader).ok()?;
        self.leader_names.get(at).map(|(_, names)| names.as_slice())
    }

    /// Whether a walk up through parents from `from` (any depth; `from` itself too when
    /// `with_self`) meets a table that `hit` accepts. `None` when the walk passes
    /// [`ANCESTRY_WALK_LIMIT`] tables first.
    fn up(&self, from: &[DumpId], with_self: bool, hit: impl Fn(DumpId) -> bool) -> Option<bool> {
        if with_self && from.iter().any(|&t| hit(t)) {
            return Some(true);
        }
        // Asked for every ready item against every running one, and most tables inherit
        // from nothing: settle that without the walk's allocations.
        if !from.iter().any(|t| self.parents.contains_key(t)) {
            return Some(false);
        }
        let mut seen = HashSet::new();
        let mut stack = from.to_vec();
        while let Some(t) = stack.pop() {
            for &p in self.parents.get(&t).into_iter().flatten() {
                if hit(p) {
                    return Some(true);
                }
                if seen.insert(p) {
                    if seen.len() > ANCESTRY_WALK_LIMIT {
                        return None;
                    }
                    stack.push(p);
                }
            }
        }
        Some(false)
    }
}

/// A gate: a node no worker runs, done once everything it waits for is.
#[derive(Debug, Default)]
struct Gate {
    /// Items (by dump id) and other gates (by number) it waits for.
    ids: Vec<DumpId>,
    gates: Vec<usize>,
    /// It waits for something; an empty gate is left out of the plan.
    live: bool,
}

/// The items of a parallel restore and how they wait for each other.
#[derive(Debug)]
pub struct Plan {
    /// The leader's items first, then the workers', each in restore order (the archive's,
    /// or a `-L` list's).
    pub items: Vec<Item>,
    /// Item by dump id (the entries' items, not the ANALYZEs).
    pub by_id: HashMap<DumpId, usize>,
    /// Item by TOC position (the entries' items, not the ANALYZEs).
    pub by_index: HashMap<usize, usize>,
    /// ANALYZE item by the TOC position of its table's data.
    pub analyze_by_index: HashMap<usize, usize>,
    /// For each node — the items, then the gates (two per group of tables) — the nodes it
    /// waits for, once per reason.
    pub waits: Vec<Vec<usize>>,
    /// CONSTRAINT entries built as a unique index first (`primary_key`), with their
    /// statements: their items take no lock that keeps the table's other index builds apart.
    pub index_first: HashMap<DumpId, IndexFirst>,
    /// FK CONSTRAINT entries added `NOT VALID` and validated after (`foreign_key`), with their
    /// statements: their items lock only their own table, so that keys referencing one table
    /// validate side by side.
    pub validate_later: HashMap<DumpId, LaterValidation>,
    trees: Trees,
}

impl Plan {
    /// The plan of a parallel restore of `sel`: the leader takes the pre-data entries of the
    /// main pass (and what comes before the first data or post-data entry), the workers the
    /// rest. Items weigh their archive bytes (`sizes`); from a pipe (`in_archive_order`) an
    /// earlier table weighs more, since it can start sooner.
    pub fn parallel(toc: &Toc, sel: &Selection, opts: &RestoreOptions, sizes: &HashMap<DumpId, u64>, in_archive_order: bool) -> Plan {
        let (leader, pending) = split_phases(toc, sel);
        let weights = if in_archive_order { archive_order(toc, sel) } else { sizes.clone() };
        let analyze = analyze::targets(toc, sel, opts);
        let mut plan = Plan::build_with_analyze(toc, sel, &pending, &leader, &weights, &analyze);
        for item in plan.items.iter_mut().filter(|it| !it.leader && !it.analyze) {
            let Some(te) = toc.entries.get(item.index) else { continue };
            let table_data = te.desc_is("TABLE DATA") && sel.entry(item.index).is_some_and(|e| e.wanted.data) && !loads_via_partition_root(te);
            item.split_after = if table_data { split_after(te, toc, opts, sizes) } else { None };
        }
        plan.index_first = primary_key::built_first(toc, sel, opts, sizes);
        plan.validate_later = foreign_key::validated_later(toc, sel, opts, sizes);
        for item in plan.items.iter_mut().filter(|it| !it.analyze) {
            if plan.index_first.contains_key(&item.dump_id) {
                // CREATE UNIQUE INDEX takes SHARE, as CREATE INDEX does; the moment's
                // exclusive lock that makes it the constraint's waits on the server for the
                // builds beside it.
                item.lock_deps.clear();
            } else if let Some(later) = plan.validate_later.get(&item.dump_id) {
                // VALIDATE CONSTRAINT takes ROW SHARE on the referenced table; ADD … NOT
                // VALID's moment there waits on the server, if at all.
                item.lock_deps.retain(|&l| foreign_key::own_table(toc, later, l));
            }
        }
        plan
    }

    /// Plans the items at TOC positions `pending` (in restore order) for the workers, and those at
    /// `leader` for the leader, which reports each done as it commits. Entries in neither
    /// count as done. `sizes` weigh the items.
    pub fn build(toc: &Toc, sel: &Selection, pending: &[usize], leader: &[usize], sizes: &HashMap<DumpId, u64>) -> Plan {
        Plan::build_with_analyze(toc, sel, pending, leader, sizes, &[])
    }

    /// [`Plan::build`], with an ANALYZE item for each TABLE DATA entry at the TOC positions
    /// `analyze` (which must be among `pending`).
    pub fn build_with_analyze(toc: &Toc, sel: &Selection, pending: &[usize], leader: &[usize], sizes: &HashMap<DumpId, u64>, analyze: &[usize]) -> Plan {
        // TABLE → its TABLE DATA: post-data entries wait for the data, not just the table.
        let mut data_of_table: HashMap<DumpId, DumpId> = HashMap::new();
        for te in &toc.entries {
            if te.desc_is("TABLE DATA") {
                if let Some(&table) = te.dependencies.first() {
                    data_of_table.insert(table, te.dump_id);
                }
            }
        }
        let is_table = |id: &DumpId| toc.get(*id).is_some_and(|d| d.desc_is("TABLE"));
        let mut trees = Trees { table_of_data: data_of_table.iter().map(|(&t, &d)| (d, t)).collect(), ..Trees::default() };
        // Table → the leader's entries that name it (its defaults, separate CHECK constraints,
        // partition attachment, inheriting children, views over it): its data and
        // post-data wait for them all, so no worker locks a table the schema still changes.
        let mut followers: HashMap<DumpId, Vec<DumpId>> = HashMap::new();
        let mut leader_names: HashMap<DumpId, Vec<DumpId>> = HashMap::new();
        for te in leader.iter().filter_map(|&i| toc.entries.get(i)) {
            for dep in te.dependencies.iter().filter(|d| is_table(d)) {
                followers.entry(*dep).or_default().push(te.dump_id);
                leader_names.entry(te.dump_id).or_default().push(*dep);
            }
        }
        trees.leader_names = leader_names.into_iter().collect();
        trees.leader_names.sort_unstable_by_key(|(leader, _)| *leader);
        // The tables that inherit from a table or are its partitions (their TABLE entries
        // depend on it). What post-data adds to a table reaches them too — a trigger, a NOT
        // VALID constraint checks every row loaded after it — so it waits for their data as
        // well, as it would after pg_restore's data stage. And a schema entry naming a
        // table's ancestor can lock the whole tree (attaching a partitioned table locks its
        // partitions, and a partition's COPY reads its parent): a table's data and
        // post-data wait for those too, or the two deadlock.
        let mut graph: DiGraphMap<DumpId, ()> = DiGraphMap::new();
        for te in toc.entries.iter().filter(|te| te.desc_is("TABLE")) {
            graph.add_node(te.dump_id);
            for dep in te.dependencies.iter().filter(|d| is_table(d)) {
                // Child → parent.
                graph.add_edge(te.dump_id, *dep, ());
                trees.parents.entry(te.dump_id).or_default().push(*dep);
            }
        }
        let to_come: HashSet<DumpId> = pending.iter().chain(leader).filter_map(|&i| toc.entries.get(i)).map(|te| te.dump_id).collect();

        // Tables that name each other in a cycle (only in a damaged archive) share their
        // gates, which keeps the gates acyclic. Groups come parents first.
        let groups = kosaraju_scc(&graph);
        let group_of: HashMap<DumpId, usize> = groups.iter().enumerate().flat_map(|(g, members)| members.iter().map(move |&t| (t, g))).collect();
        let neighbours = |g: usize, dir: petgraph::Direction| -> Vec<usize> {
            let mut v: Vec<usize> = groups[g].iter().flat_map(|&t| graph.neighbors_directed(t, dir)).filter_map(|t| group_of.get(&t).copied()).filter(|&h| h != g).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        // "Every leader entry naming this group or one of its ancestors is done".
        let mut named: Vec<Gate> = Vec::with_capacity(groups.len());
        for (g, members) in groups.iter().enumerate() {
            let ids: Vec<DumpId> = members.iter().flat_map(|t| followers.get(t).into_iter().flatten().copied()).collect();
            let gates: Vec<usize> = neighbours(g, petgraph::Direction::Outgoing).into_iter().filter(|&p| named.get(p).is_some_and(|gate| gate.live)).collect();
            let live = !ids.is_empty() || !gates.is_empty();
            named.push(Gate { ids, gates, live });
        }
        // "The data of every table in this group and below it is in" (children first).
        let mut below: Vec<Gate> = (0..groups.len()).map(|_| Gate::default()).collect();
        for g in (0..groups.len()).rev() {
            let ids: Vec<DumpId> = groups[g].iter().filter_map(|t| data_of_table.get(t)).copied().filter(|d| to_come.contains(d)).collect();
            let gates: Vec<usize> = neighbours(g, petgraph::Direction::Incoming).into_iter().filter(|&c| below[c].live).collect();
            let live = !ids.is_empty() || !gates.is_empty();
            below[g] = Gate { ids, gates, live };
        }

        let mut items = Vec::with_capacity(pending.len() + leader.len());
        for &index in leader {
            let Some(te) = toc.entries.get(index) else { continue };
            items.push(Item {
                index,
                dump_id: te.dump_id,
                pass: Pass::Main,
                wanted: true,
                size: 0,
                deps: Vec::new(),
                tables: Vec::new(),
                post_data: false,
                lock_deps: Vec::new(),
                leader: true,
                after_schema: false,
                split_after: None,
                analyze: false,
            });
        }
        // Per item, the gates it waits for (numbered as nodes after the items, `named`
        // first).
        let mut item_gates: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
        for &index in pending {
            let Some(te) = toc.entries.get(index) else { continue };
            let es = sel.entry(index);
            let mut size = sizes.get(&te.dump_id).copied().unwrap_or(0);
            let mut deps = Vec::with_capacity(te.dependencies.len());
            let mut tables = Vec::new();
            let mut gates = Vec::new();
            let mut lock_deps = Vec::new();
            let post_data = te.section == Section::PostData;
            let table_data = te.desc_is("TABLE DATA") && !loads_via_partition_root(te);
            for &dep in &te.dependencies {
                if let Some(&g) = group_of.get(&dep) {
                    tables.push(dep);
                    if named[g].live {
                        gates.push(g);
                    }
                    // Its own data is among its dependencies already (re-pointed below).
                    if post_data && below[g].live {
                        gates.push(groups.len() + g);
                    }
                }
                let mut dep = dep;
                if post_data {
                    if let Some(&data) = data_of_table.get(&dep) {
                        dep = data;
                        size = size.max(sizes.get(&data).copied().unwrap_or(0));
                    }
                }
                if post_data && !te.desc_is("INDEX") {
                    if let Some(d) = toc.get(dep) {
                        if d.desc_is("TABLE") || d.desc_is("TABLE DATA") {
                            lock_deps.push(dep);
                        }
                    }
                }
                // Only what is still to come can hold an item back.
                if to_come.contains(&dep) {
                    deps.push(dep);
                }
            }
            deps.sort_unstable();
            deps.dedup();
            tables.sort_unstable();
            tables.dedup();
            gates.sort_unstable();
            gates.dedup();
            item_gates.push(gates);
            items.push(Item {
                index,
                dump_id: te.dump_id,
                pass: es.map_or(Pass::Main, |e| e.pass),
                wanted: es.is_some_and(|e| e.wanted.any()),
                size,
                deps,
                tables,
                post_data,
                lock_deps,
                leader: false,
                after_schema: !(table_data || post_data),
                split_after: None,
                analyze: false,
            });
        }
        // What an ANALYZE waits for besides its table's data: every post-data item of the
        // main pass naming the table (an index build or constraint would wait for its lock,
        // and the statistics should see the indexes), by table.
        let mut post_data_naming: HashMap<DumpId, Vec<DumpId>> = HashMap::new();
        for it in items.iter().filter(|it| it.post_data && it.pass == Pass::Main) {
            for &t in &it.tables {
                post_data_naming.entry(t).or_default().push(it.dump_id);
            }
        }
        for &index in analyze {
            let Some(te) = toc.entries.get(index) else { continue };
            let Some(&table) = te.dependencies.first() else { continue };
            let Some(&g) = group_of.get(&table) else { continue };
            let mut deps: Vec<DumpId> = std::iter::once(te.dump_id).chain(post_data_naming.get(&table).into_iter().flatten().copied()).filter(|d| to_come.contains(d)).collect();
            deps.sort_unstable();
            deps.dedup();
            // Like post-data, it waits for the schema entries naming its tree and for the
            // data below it: an ANALYZE of a parent samples its children.
            let gates: Vec<usize> = [named[g].live.then_some(g), below[g].live.then_some(groups.len() + g)].into_iter().flatten().collect();
            item_gates.push(gates);
            items.push(Item {
                index,
                dump_id: te.dump_id,
                pass: Pass::Main,
                wanted: true,
                // Last among what is ready: an ANALYZE is short and nothing waits for it.
                size: 0,
                deps,
                tables: vec![table],
                post_data: true,
                lock_deps: vec![te.dump_id],
                leader: false,
                after_schema: false,
                split_after: None,
                analyze: true,
            });
        }
        let by_id: HashMap<DumpId, usize> = items.iter().enumerate().filter(|(_, it)| !it.analyze).map(|(i, it)| (it.dump_id, i)).collect();
        let n = items.len();
        // A gate's followers are the leader's own items, by position: found through
        // `by_id`, a damaged archive's duplicate dump id could point one at a worker's item.
        let leader_item: HashMap<DumpId, Vec<usize>> = items.iter().enumerate().filter(|(_, it)| it.leader).fold(HashMap::new(), |mut m, (i, it)| {
            m.entry(it.dump_id).or_insert_with(Vec::new).push(i);
            m
        });
        let nodes = n + 2 * groups.len();
        let mut waits: Vec<Vec<usize>> = vec![Vec::new(); nodes];
        let mut link = |node: usize, on: usize| waits[node].push(on);
        for (i, item) in items.iter().enumerate() {
            for dep in &item.deps {
                if let Some(&d) = by_id.get(dep) {
                    link(i, d);
                }
            }
            for &g in &item_gates[i] {
                link(i, n + g);
            }
        }
        for (g, gate) in named.iter().enumerate().filter(|(_, gate)| gate.live) {
            for id in &gate.ids {
                for &d in leader_item.get(id).into_iter().flatten() {
                    link(n + g, d);
                }
            }
            for &p in &gate.gates {
                link(n + g, n + p);
            }
        }
        for (g, gate) in below.iter().enumerate().filter(|(_, gate)| gate.live) {
            let node = n + groups.len() + g;
            for id in &gate.ids {
                if let Some(&d) = by_id.get(id) {
                    link(node, d);
                }
            }
            for &c in &gate.gates {
                link(node, n + groups.len() + c);
            }
        }
        let by_index = items.iter().enumerate().filter(|(_, it)| !it.analyze).map(|(i, it)| (it.index, i)).collect();
        let analyze_by_index = items.iter().enumerate().filter(|(_, it)| it.analyze).map(|(i, it)| (it.index, i)).collect();
        Plan { items, by_id, by_index, analyze_by_index, waits, index_first: HashMap::new(), validate_later: HashMap::new(), trees }
    }

    /// Whether item `item` waits for `id`, directly or through its tables' trees: what its
    /// list of dependencies would hold if the gates were spelled out. Asked only of the few
    /// ids items lock, so it is answered by walking up from them.
    pub fn waits_for(&self, item: &Item, id: DumpId) -> bool {
        if item.deps.binary_search(&id).is_ok() {
            return true;
        }
        if item.tables.is_empty() {
            return false;
        }
        // A leader entry naming one of its tables or their ancestors.
        if id != item.dump_id {
            if let Some(names) = self.trees.names_of(id) {
                if self.trees.up(&item.tables, true, |t| names.contains(&t)) != Some(false) {
                    return true;
                }
            }
        }
        // The data of a table below one of its tables. Without any inheritance in the
        // archive no table is below another: the common case skips the lookups.
        if item.post_data && !self.trees.parents.is_empty() && self.by_id.contains_key(&id) {
            if let Some(&table) = self.trees.table_of_data.get(&id) {
                if self.trees.up(&[table], false, |t| t != table && item.tables.binary_search(&t).is_ok()) != Some(false) {
                    return true;
                }
            }
        }
        false
    }

}

/// TOC positions the leader restores itself — pre-data of the main pass, and what comes
/// before the first data or post-data entry — and those left to the workers, each in
/// restore order.
pub fn split_phases(toc: &Toc, sel: &Selection) -> (Vec<usize>, Vec<usize>) {
    let (mut schema, mut pending) = (Vec::new(), Vec::new());
    let mut past_schema = false;
    for (index, es) in sel.in_order() {
        let Some(te) = toc.entries.get(index) else { continue };
        if matches!(te.section, Section::Data | Section::PostData) {
            past_schema = true;
        }
        let leader = es.pass == Pass::Main && (te.section == Section::PreData || (te.section == Section::None && !past_schema));
        if leader {
            schema.push(index);
        } else {
            pending.push(index);
        }
    }
    (schema, pending)
}

/// Weights for a source that arrives in archive order (a pipe being spooled): the earlier
/// an entry's data comes, the sooner it can start, so a worker never waits on a late table
/// while an early one sits ready. (Offsets where the TOC has them; else TOC order, the order
/// pg_dump writes data in.)
fn archive_order(toc: &Toc, sel: &Selection) -> HashMap<DumpId, u64> {
    let mut data: Vec<(u64, usize, DumpId)> = sel
        .data_ids(toc)
        .into_iter()
        .filter_map(|id| {
            let pos = toc.position(id)?;
            let offset = match toc.entries.get(pos)?.data {
                DataLocation::Block { offset: Some(o) } => o,
                _ => u64::MAX,
            };
            Some((offset, pos, id))
        })
        .collect();
    data.sort_unstable();
    let n = data.len() as u64;
    data.into_iter().enumerate().map(|(rank, (_, _, id))| (id, n - rank as u64)).collect()
}

/// Whether a table's data may be loaded by several connections: large (or of unknown size,
/// from a pipe), sent as COPY, and needing nothing of the owner's session that a helper's
/// would lack — the COPY names its schema (archives with a SEARCHPATH entry), and no
/// `SET SESSION AUTHORIZATION` per object.
///
/// `Some(n)`: helpers are invited once the table has produced `n` bytes of COPY text (at
/// once for a table known to be large, later for one of unknown size).
pub fn split_after(te: &TocEntry, toc: &Toc, opts: &RestoreOptions, sizes: &HashMap<DumpId, u64>) -> Option<u64> {
    let copy = te.copy_stmt.as_ref().is_some_and(|c| !c.is_empty());
    let same_session = opts.no_owner || !opts.use_set_session_authorization;
    if !copy || !same_session || toc.search_path.is_none() || opts.no_split_tables {
        return None;
    }
    match sizes.get(&te.dump_id) {
        Some(&n) if n >= SPLIT_MIN_BYTES => Some(0),
        Some(_) => None,
        None => Some(SPLIT_UNKNOWN_AFTER),
    }
}

/// Whether a TABLE DATA entry's rows go in through its partitioned root (pg_dump
/// `--load-via-partition-root`): emptying the leaf first could then delete rows that other
/// partitions' loads routed into it.
pub fn loads_via_partition_root(te: &TocEntry) -> bool {
    if te.defn.as_ref().is_some_and(|d| d.contains_str("load via partition root")) {
        return true;
    }
    let Some(copy) = te.copy_stmt.as_ref() else { return false };
    let own = [b"COPY ".as_slice(), crate::sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice()].concat();
    match copy.strip_prefix(own.as_slice()) {
        Some(rest) => !matches!(rest.first(), Some(b' ' | b'(')),
        None => !copy.is_empty(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::select::decide;

    /// An entry `id` of kind `desc` on table `t`, depending on `deps` (table data with a COPY).
    pub(crate) fn entry(id: i32, desc: &str, section: Section, deps: &[i32]) -> TocEntry {
        TocEntry {
            had_dumper: desc == "TABLE DATA",
            defn: Some(format!("-- {desc}\n").into()),
            copy_stmt: (desc == "TABLE DATA").then(|| "COPY public.t (a) FROM stdin;\n".into()),
            data: if desc == "TABLE DATA" { DataLocation::Block { offset: None } } else { DataLocation::None },
            ..TocEntry::new(DumpId(id), desc, "t", section, deps.iter().map(|&d| DumpId(d)).collect())
        }
    }

    /// A table, its data and an index, in an archive with a SEARCHPATH entry.
    fn toc() -> Toc {
        let mut toc = Toc::from_entries(vec![entry(1, "TABLE", Section::PreData, &[]), entry(2, "TABLE DATA", Section::Data, &[1]), entry(3, "INDEX", Section::PostData, &[1])]);
        toc.search_path = Some("SELECT pg_catalog.set_config('search_path', '', false);\n".into());
        toc
    }

    /// The item of the entry at TOC position `index`.
    pub(crate) fn item(plan: &Plan, index: usize) -> &Item {
        &plan.items[plan.by_index[&index]]
    }

    #[test]
    fn the_leader_takes_the_schema_and_post_data_waits_for_the_data() {
        let toc = toc();
        let opts = RestoreOptions::default();
        let sel = decide(&toc.entries, &opts, None);
        let plan = Plan::parallel(&toc, &sel, &opts, &HashMap::new(), false);
        assert!(item(&plan, 0).leader);
        assert!(!item(&plan, 1).leader && !item(&plan, 2).leader);
        // The index waits for the table's data (re-pointed from the table) and weighs it.
        assert_eq!(item(&plan, 2).deps, vec![DumpId(2)]);
        let data = plan.by_index[&1];
        assert!(plan.waits[plan.by_index[&2]].contains(&data));
        assert!(plan.waits_for(item(&plan, 2), DumpId(2)));
    }

    /// Without inheritance the lock checks take their short way; the answers are the walk's.
    #[test]
    fn waits_for_a_leader_entry_naming_the_table_without_inheritance() {
        let mut toc = toc();
        toc.entries.insert(1, entry(4, "VIEW", Section::PreData, &[1]));
        toc.entries.push(entry(5, "TABLE", Section::PreData, &[]));
        let toc = Toc::from_entries(toc.entries);
        let opts = RestoreOptions::default();
        let sel = decide(&toc.entries, &opts, None);
        let plan = Plan::parallel(&toc, &sel, &opts, &HashMap::new(), false);
        let (data, index) = (item(&plan, 2), item(&plan, 3));
        assert!(plan.waits_for(data, DumpId(4)), "the view over its table");
        assert!(plan.waits_for(index, DumpId(4)));
        assert!(!plan.waits_for(data, DumpId(5)), "another table");
        assert!(!plan.waits_for(index, DumpId(5)));
        assert!(!plan.waits_for(data, DumpId(3)), "its own index");
    }

    #[test]
    fn large_or_unknown_tables_invite_helpers() {
        let toc = toc();
        let opts = RestoreOptions::default();
        let sel = decide(&toc.entries, &opts, None);
        let sized = |n: u64| Plan::parallel(&toc, &sel, &opts, &[(DumpId(2), n)].into_iter().collect(), false);
        assert_eq!(item(&sized(SPLIT_MIN_BYTES), 1).split_after, Some(0));
        assert_eq!(item(&sized(1000), 1).split_after, None);
        let unknown = Plan::parallel(&toc, &sel, &opts, &HashMap::new(), true);
        assert_eq!(item(&unknown, 1).split_after, Some(SPLIT_UNKNOWN_AFTER));
        assert_eq!(item(&unknown, 2).split_after, None, "only table data is split");
        let one = RestoreOptions { no_split_tables: true, ..RestoreOptions::default() };
        assert_eq!(item(&Plan::parallel(&toc, &sel, &one, &HashMap::new(), false), 1).split_after, None);
    }

    /// An ANALYZE per table loaded: after its data, every post-data item of the main pass
    /// naming it (a foreign key from another table too) and, through its tree, the data of
    /// the tables inheriting from it; never after an ACL; last in weight; locking its table.
    #[test]
    fn analyzes_wait_for_data_indexes_constraints_and_children() {
        let toc = Toc::from_entries(vec![
            entry(1, "TABLE", Section::PreData, &[]),
            entry(2, "TABLE", Section::PreData, &[]),
            entry(3, "TABLE", Section::PreData, &[1]),
            entry(4, "TABLE DATA", Section::Data, &[1]),
            entry(5, "TABLE DATA", Section::Data, &[2]),
            entry(6, "TABLE DATA", Section::Data, &[3]),
            entry(7, "INDEX", Section::PostData, &[1]),
            entry(8, "FK CONSTRAINT", Section::PostData, &[2, 1]),
            entry(9, "ACL", Section::None, &[1]),
            entry(10, "INDEX", Section::PostData, &[3]),
        ]);
        let opts = RestoreOptions { analyze: true, ..RestoreOptions::default() };
        let sel = decide(&toc.entries, &opts, None);
        let sizes: HashMap<DumpId, u64> = [(DumpId(4), 100), (DumpId(5), 10), (DumpId(6), 10)].into_iter().collect();
        let plan = Plan::parallel(&toc, &sel, &opts, &sizes, false);
        let analyze = |data: usize| &plan.items[plan.analyze_by_index[&data]];
        let (t, u, kid) = (analyze(3), analyze(4), analyze(5));
        assert!(t.analyze && !item(&plan, 3).analyze, "the data's own item stays the entry's");
        assert_eq!(t.deps, vec![DumpId(4), DumpId(7), DumpId(8)]);
        assert_eq!(u.deps, vec![DumpId(5), DumpId(8)]);
        assert_eq!(kid.deps, vec![DumpId(6), DumpId(10)]);
        assert!(plan.waits_for(t, DumpId(6)), "a parent's statistics sample its children");
        assert!(!plan.waits_for(kid, DumpId(4)));
        assert_eq!((t.pass, t.size, t.lock_deps.clone()), (Pass::Main, 0, vec![DumpId(4)]));
        // An index on the parent (which locks the children) and the child's ANALYZE never
        // run side by side: the index waits for the child's data, which the ANALYZE locks.
        assert!(plan.waits_for(item(&plan, 6), DumpId(6)));
        let off = RestoreOptions::default();
        assert!(Plan::parallel(&toc, &decide(&toc.entries, &off, None), &off, &sizes, false).analyze_by_index.is_empty());
    }
}
