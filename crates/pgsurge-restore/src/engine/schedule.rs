//! The parallel phase's ready queue (RESTORE_SEMANTICS.md §12): which TOC entries may run
//! now, given what has finished, what is running, the restore passes and the locks entries
//! take. A plain data structure — every decision is synchronous and tested without a server;
//! workers only ask it for the next item and tell it when one is done.
//!
//! The leader's pre-data entries are items too, run by the leader in TOC order and never
//! handed out: a table's data may start loading as soon as the table, and every pre-data
//! entry that names it, is in — while the leader goes on creating the rest of the schema.
//! Whatever is not a table's data or post-data (sequence values, large objects, data
//! loaded through a partition root) still waits for the whole schema, as in pg_restore.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};

use pgsurge_archive::{DumpId, Section, Toc};

use crate::select::{Pass, Selection};

/// One TOC entry waiting for the parallel phase.
#[derive(Debug, Clone)]
struct Item {
    /// Position in the TOC.
    index: usize,
    dump_id: DumpId,
    pass: Pass,
    /// Whether anything of it is restored; unwanted items complete without a worker but
    /// still release their dependents.
    wanted: bool,
    /// Work estimate: the archive bytes of its data, or of the data it waits for.
    size: u64,
    /// Dependencies still in the archive (after re-pointing table → table data).
    deps: Vec<DumpId>,
    /// Tables (or their data) the item locks exclusively.
    lock_deps: Vec<DumpId>,
    /// The leader runs it (a pre-data entry); workers never get it.
    leader: bool,
    /// Not to start before every leader item is done.
    after_schema: bool,
}

/// Ready-set order: largest first, then lowest dump id; the item's index last.
type ReadyKey = (Reverse<u64>, DumpId, usize);

fn pass_slot(pass: Pass) -> usize {
    match pass {
        Pass::Main => 0,
        Pass::Acl => 1,
        Pass::PostAcl => 2,
    }
}

/// What a free worker should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Restore the TOC entry at this index.
    Run(usize),
    /// Nothing can start until a running item finishes.
    Wait,
    /// The parallel phase is over.
    Done,
}

#[derive(Debug)]
pub struct Scheduler {
    items: Vec<Item>,
    by_id: HashMap<DumpId, usize>,
    /// Item by TOC position.
    by_index: HashMap<usize, usize>,
    /// Unfinished dependencies per item.
    waiting_on: Vec<usize>,
    /// Items that depend on each item.
    dependents: Vec<Vec<usize>>,
    /// Items whose dependencies are all done, not yet started, per pass, in priority order
    /// (largest first, then lowest dump id): ordered sets keep a schema of 100 000 entries
    /// as cheap to schedule as one of 100.
    ready: [BTreeSet<ReadyKey>; 3],
    running: Vec<usize>,
    finished: Vec<bool>,
    pass: Pass,
    /// Leader items not yet done.
    leader_open: usize,
    /// Ready items that wait for the schema to be complete.
    parked: Vec<usize>,
}

impl Scheduler {
    /// Plans the items at TOC positions `pending` (in TOC order) for the workers, and those at
    /// `leader` for the leader, which reports each done through [`Scheduler::complete`].
    /// Entries in neither count as done. `sizes` are the archive's data sizes.
    pub fn new(toc: &Toc, sel: &Selection, pending: &[usize], leader: &[usize], sizes: &HashMap<DumpId, u64>) -> Scheduler {
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
        // Table → the leader's entries that name it (its defaults, separate CHECK constraints,
        // partition attachment, inheriting children, views over it): its data and
        // post-data wait for them all, so no worker locks a table the schema still changes.
        let mut followers: HashMap<DumpId, Vec<DumpId>> = HashMap::new();
        for te in leader.iter().filter_map(|&i| toc.entries.get(i)) {
            for dep in te.dependencies.iter().filter(|d| is_table(d)) {
                followers.entry(*dep).or_default().push(te.dump_id);
            }
        }
        // Table → the tables that inherit from it or are its partitions (their TABLE entries
        // depend on it). What post-data adds to a table reaches them too — a trigger, a NOT
        // VALID constraint checks every row loaded after it — so it waits for their data as
        // well, as it would after pg_restore's data stage.
        let (mut children, mut parents): (HashMap<DumpId, Vec<DumpId>>, HashMap<DumpId, Vec<DumpId>>) = Default::default();
        for te in toc.entries.iter().filter(|te| te.desc_is("TABLE")) {
            for dep in te.dependencies.iter().filter(|d| is_table(d)) {
                children.entry(*dep).or_default().push(te.dump_id);
                parents.entry(te.dump_id).or_default().push(*dep);
            }
        }
        let to_come: HashSet<DumpId> = pending.iter().chain(leader).filter_map(|&i| toc.entries.get(i)).map(|te| te.dump_id).collect();
        let mut items = Vec::with_capacity(pending.len() + leader.len());
        for &index in leader {
            let Some(te) = toc.entries.get(index) else { continue };
            items.push(Item { index, dump_id: te.dump_id, pass: Pass::Main, wanted: true, size: 0, deps: Vec::new(), lock_deps: Vec::new(), leader: true, after_schema: false });
        }
        for &index in pending {
            let Some(te) = toc.entries.get(index) else { continue };
            let es = sel.entry(index);
            let mut size = sizes.get(&te.dump_id).copied().unwrap_or(0);
            let mut deps = Vec::with_capacity(te.dependencies.len());
            let mut lock_deps = Vec::new();
            let post_data = te.section == Section::PostData;
            let table_data = te.desc_is("TABLE DATA") && !super::loads_via_partition_root(te);
            for &dep in &te.dependencies {
                // A schema entry naming a table's ancestor can lock the whole tree (attaching a
                // partitioned table locks its partitions, and a partition's COPY reads its
                // parent): wait for those too, or the two deadlock.
                for t in std::iter::once(dep).chain(tree(&parents, dep)) {
                    if let Some(f) = followers.get(&t) {
                        deps.extend(f.iter().copied().filter(|&l| l != te.dump_id));
                    }
                }
                if post_data && children.contains_key(&dep) {
                    let data = tree(&children, dep).into_iter().filter_map(|t| data_of_table.get(&t)).filter(|d| to_come.contains(d));
                    deps.extend(data);
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
            items.push(Item {
                index,
                dump_id: te.dump_id,
                pass: es.map_or(Pass::Main, |e| e.pass),
                wanted: es.is_some_and(|e| e.wanted.any()),
                size,
                deps,
                lock_deps,
                leader: false,
                after_schema: !(table_data || post_data),
            });
        }
        let by_id: HashMap<DumpId, usize> = items.iter().enumerate().map(|(i, it)| (it.dump_id, i)).collect();
        let mut waiting_on = vec![0; items.len()];
        let mut dependents = vec![Vec::new(); items.len()];
        for (i, item) in items.iter().enumerate() {
            for dep in &item.deps {
                if let Some(&d) = by_id.get(dep) {
                    waiting_on[i] += 1;
                    dependents[d].push(i);
                }
            }
        }
        let n = items.len();
        let by_index = items.iter().enumerate().map(|(i, it)| (it.index, i)).collect();
        let leader_open = items.iter().filter(|it| it.leader).count();
        let mut s = Scheduler {
            items,
            by_id,
            by_index,
            waiting_on,
            dependents,
            ready: Default::default(),
            running: Vec::new(),
            finished: vec![false; n],
            pass: Pass::Main,
            leader_open,
            parked: Vec::new(),
        };
        for i in 0..n {
            if s.waiting_on[i] == 0 && !s.items[i].leader {
                s.push_ready(i);
            }
        }
        s
    }

    fn push_ready(&mut self, i: usize) {
        let it = &self.items[i];
        if it.after_schema && self.leader_open > 0 {
            self.parked.push(i);
            return;
        }
        self.ready[pass_slot(it.pass)].insert((Reverse(it.size), it.dump_id, i));
    }

    fn conflicts(&self, i: usize) -> bool {
        let a = &self.items[i];
        self.running.iter().any(|&r| {
            let b = &self.items[r];
            a.lock_deps.iter().any(|l| b.deps.contains(l) || b.lock_deps.contains(l) || *l == b.dump_id)
                || b.lock_deps.iter().any(|l| a.deps.contains(l) || *l == a.dump_id)
        })
    }

    /// The next item for a free worker. Unwanted items met on the way are completed here.
    pub fn next_item(&mut self) -> Next {
        loop {
            let slot = pass_slot(self.pass);
            let found = self.ready[slot].iter().find(|&&(_, _, i)| !self.conflicts(i)).copied();
            if let Some(key) = found {
                self.ready[slot].remove(&key);
                let i = key.2;
                if !self.items[i].wanted {
                    self.finish_item(i);
                    continue;
                }
                self.running.push(i);
                return Next::Run(self.items[i].index);
            }
            let pass_has_ready = !self.ready[slot].is_empty();
            if pass_has_ready || !self.running.is_empty() || self.leader_open > 0 {
                return Next::Wait;
            }
            // Nothing of this pass can start and nothing runs: on to the next pass.
            self.pass = match self.pass {
                Pass::Main => Pass::Acl,
                Pass::Acl => Pass::PostAcl,
                Pass::PostAcl => return Next::Done,
            };
        }
    }

    /// A worker (or the leader) finished the item at TOC position `index` (successfully or
    /// not: pg_restore releases dependents either way).
    pub fn complete(&mut self, index: usize) {
        if let Some(&i) = self.by_index.get(&index) {
            self.running.retain(|&r| r != i);
            self.finish_item(i);
        }
    }

    /// Whether the leader still has schema entries to run.
    pub fn schema_pending(&self) -> bool {
        self.leader_open > 0
    }

    fn finish_item(&mut self, i: usize) {
        if self.finished[i] {
            return;
        }
        self.finished[i] = true;
        if self.items[i].leader {
            self.leader_open -= 1;
            if self.leader_open == 0 {
                for p in std::mem::take(&mut self.parked) {
                    self.push_ready(p);
                }
            }
        }
        for d in std::mem::take(&mut self.dependents[i]) {
            self.waiting_on[d] -= 1;
            if self.waiting_on[d] == 0 {
                self.push_ready(d);
            }
        }
    }

    /// TOC positions of wanted items never run (dependency cycles, or dependencies on
    /// items that never became ready): the leader restores them serially at the end.
    pub fn leftovers(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.items.iter().enumerate().filter(|(i, it)| !self.finished[*i] && it.wanted && !it.leader).map(|(_, it)| it.index).collect();
        v.sort_unstable();
        v
    }

    /// Whether the item with this dump id is one of the scheduler's.
    pub fn contains(&self, id: DumpId) -> bool {
        self.by_id.contains_key(&id)
    }
}

/// Every table reached from `table` through `links` (its descendants through children, its
/// ancestors through parents — inheritance and partitions, any depth), `table` itself not.
fn tree(links: &HashMap<DumpId, Vec<DumpId>>, table: DumpId) -> Vec<DumpId> {
    let mut seen = HashSet::new();
    let mut stack = vec![table];
    while let Some(t) = stack.pop() {
        for &c in links.get(&t).into_iter().flatten() {
            if c != table && seen.insert(c) {
                stack.push(c);
            }
        }
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::RestoreOptions;
    use pgsurge_archive::{DataLocation, TocEntry};

    fn entry(id: DumpId, desc: &str, tag: &str, section: Section, deps: &[DumpId]) -> TocEntry {
        TocEntry {
            dump_id: id,
            had_dumper: desc == "TABLE DATA",
            table_oid: "0".into(),
            oid: "0".into(),
            tag: tag.into(),
            desc: desc.into(),
            section,
            defn: Some(format!("-- {desc} {tag}\n").into()),
            drop_stmt: None,
            copy_stmt: None,
            namespace: Some("public".into()),
            tablespace: None,
            tableam: None,
            relkind: 0,
            owner: Some("postgres".into()),
            with_oids: None,
            dependencies: deps.to_vec(),
            data: if desc == "TABLE DATA" { DataLocation::Block { offset: None } } else { DataLocation::None },
        }
    }

    /// Two tables with data, an index on each, a foreign key between them, an ACL.
    fn toc() -> Toc {
        let entries = vec![
            entry(1, "TABLE", "small", Section::PreData, &[]),
            entry(2, "TABLE", "big", Section::PreData, &[]),
            entry(3, "TABLE DATA", "small", Section::Data, &[1]),
            entry(4, "TABLE DATA", "big", Section::Data, &[2]),
            entry(5, "INDEX", "small_idx", Section::PostData, &[1]),
            entry(6, "INDEX", "big_idx", Section::PostData, &[2]),
            entry(7, "FK CONSTRAINT", "big_small_fk", Section::PostData, &[2, 1]),
            entry(8, "ACL", "TABLE big", Section::None, &[2]),
        ];
        Toc::from_entries(entries)
    }

    /// A scheduler over `entries`: workers get the positions in `pending`, the leader runs
    /// those in `leader`; no data sizes.
    fn plan(entries: Vec<TocEntry>, pending: &[usize], leader: &[usize]) -> Scheduler {
        let toc = Toc::from_entries(entries);
        let sel = crate::select::decide(&toc.entries, &RestoreOptions::default(), None);
        Scheduler::new(&toc, &sel, pending, leader, &HashMap::new())
    }

    fn scheduler(toc: &Toc) -> Scheduler {
        let sel = crate::select::decide(&toc.entries, &RestoreOptions::default(), None);
        let pending: Vec<usize> = (2..toc.entries.len()).collect();
        let sizes: HashMap<DumpId, u64> = [(3, 10), (4, 1000)].into_iter().collect();
        Scheduler::new(toc, &sel, &pending, &[], &sizes)
    }

    #[test]
    fn largest_data_first_and_indexes_wait_for_their_data() {
        let toc = toc();
        let mut s = scheduler(&toc);
        // Data only at first: every post-data item waits for some table's data.
        assert_eq!(s.next_item(), Next::Run(3), "the big table's data first");
        assert_eq!(s.next_item(), Next::Run(2));
        assert_eq!(s.next_item(), Next::Wait, "nothing else is ready while data loads");
        s.complete(3);
        assert_eq!(s.next_item(), Next::Run(5), "big's index as soon as big's data is in");
        assert_eq!(s.next_item(), Next::Wait, "the FK still waits for small's data");
        s.complete(2);
        // The FK (sized after the big table) would come first, but it locks the big table,
        // whose index is being built: small's index goes instead.
        assert_eq!(s.next_item(), Next::Run(4));
        assert_eq!(s.next_item(), Next::Wait);
        s.complete(5);
        assert_eq!(s.next_item(), Next::Wait, "small's index still runs on a table the FK locks");
        s.complete(4);
        assert_eq!(s.next_item(), Next::Run(6));
        assert_eq!(s.next_item(), Next::Wait, "ACLs wait for the main pass to finish");
        s.complete(6);
        assert_eq!(s.next_item(), Next::Run(7));
        s.complete(7);
        assert_eq!(s.next_item(), Next::Done);
        assert!(s.leftovers().is_empty());
    }

    #[test]
    fn exclusive_locks_keep_conflicting_items_apart() {
        let toc = toc();
        let mut s = scheduler(&toc);
        assert_eq!(s.next_item(), Next::Run(3));
        assert_eq!(s.next_item(), Next::Run(2));
        s.complete(3);
        s.complete(2);
        // Equal sizes: the lower dump id (big's index) first; the FK cannot run beside it.
        assert_eq!(s.next_item(), Next::Run(5));
        assert_eq!(s.next_item(), Next::Run(4));
        assert_eq!(s.next_item(), Next::Wait);
        s.complete(5);
        s.complete(4);
        assert_eq!(s.next_item(), Next::Run(6));
    }

    /// A schema of 60 000 entries goes through whole, every index after its table's data.
    #[test]
    fn large_schemas_schedule_every_item_in_dependency_order() {
        let tables = 20_000;
        let mut entries = Vec::new();
        for t in 0..tables {
            let id = 1 + t * 3;
            entries.push(entry(id, "TABLE", &format!("t{t}"), Section::PreData, &[]));
            entries.push(entry(id + 1, "TABLE DATA", &format!("t{t}"), Section::Data, &[id]));
            entries.push(entry(id + 2, "INDEX", &format!("t{t}_idx"), Section::PostData, &[id]));
        }
        let toc = Toc::from_entries(entries);
        let sel = crate::select::decide(&toc.entries, &RestoreOptions::default(), None);
        let pending: Vec<usize> = (0..toc.entries.len()).filter(|i| i % 3 != 0).collect();
        let sizes: HashMap<DumpId, u64> = (0..tables).map(|t| (2 + t * 3, (t % 97) as u64)).collect();
        let mut s = Scheduler::new(&toc, &sel, &pending, &[], &sizes);
        let mut done = HashSet::new();
        let mut running = Vec::new();
        loop {
            // Two workers.
            while running.len() < 2 {
                match s.next_item() {
                    Next::Run(i) => running.push(i),
                    _ => break,
                }
            }
            let Some(i) = running.pop() else { break };
            let te = &toc.entries[i];
            if te.desc_is("INDEX") {
                assert!(done.contains(&(i - 1)), "index {} before its data", te.tag);
            }
            done.insert(i);
            s.complete(i);
        }
        assert_eq!(done.len(), pending.len());
        assert!(s.leftovers().is_empty());
    }

    /// The leader's schema entries gate the workers: a table's data starts once the table and
    /// every schema entry naming it are in, not when the whole schema is; sequence values and
    /// ACLs still wait for all of it.
    #[test]
    fn data_starts_as_its_table_is_created() {
        let entries = vec![
            entry(1, "TABLE", "a", Section::PreData, &[]),
            entry(2, "TABLE", "b", Section::PreData, &[]),
            entry(3, "DEFAULT", "b id", Section::PreData, &[2]),
            entry(4, "SEQUENCE", "s", Section::PreData, &[]),
            entry(5, "TABLE DATA", "a", Section::Data, &[1]),
            entry(6, "TABLE DATA", "b", Section::Data, &[2]),
            entry(7, "SEQUENCE SET", "s", Section::Data, &[4]),
            entry(8, "INDEX", "a_idx", Section::PostData, &[1]),
            entry(9, "ACL", "TABLE a", Section::None, &[1]),
        ];
        let mut s = plan(entries, &[4, 5, 6, 7, 8], &[0, 1, 2, 3]);
        assert_eq!(s.next_item(), Next::Wait, "nothing before its table exists");
        s.complete(0);
        assert_eq!(s.next_item(), Next::Run(4), "a's data once a is created");
        assert_eq!(s.next_item(), Next::Wait);
        s.complete(1);
        assert_eq!(s.next_item(), Next::Wait, "b's data waits for b's default too");
        s.complete(4);
        assert_eq!(s.next_item(), Next::Run(7), "a's index after a's data, schema or not");
        s.complete(2);
        assert_eq!(s.next_item(), Next::Run(5));
        s.complete(5);
        s.complete(7);
        assert!(s.schema_pending());
        assert_eq!(s.next_item(), Next::Wait, "the sequence's value and the ACL wait for the whole schema");
        s.complete(3);
        assert!(!s.schema_pending());
        assert_eq!(s.next_item(), Next::Run(6));
        s.complete(6);
        assert_eq!(s.next_item(), Next::Run(8), "ACLs after the main pass");
        s.complete(8);
        assert_eq!(s.next_item(), Next::Done);
        assert!(s.leftovers().is_empty());
    }

    /// Attaching a partitioned table locks its partitions, and a partition's COPY reads its
    /// parent: a leaf's data waits for every schema entry naming one of its ancestors.
    #[test]
    fn partition_data_waits_for_attaching_its_ancestors() {
        let entries = vec![
            entry(1, "TABLE", "part", Section::PreData, &[]),
            entry(2, "TABLE", "part_p2", Section::PreData, &[1]),
            entry(3, "TABLE", "part_p2_p1", Section::PreData, &[2]),
            entry(4, "TABLE ATTACH", "part_p2", Section::PreData, &[2, 1]),
            entry(5, "TABLE ATTACH", "part_p2_p1", Section::PreData, &[3, 2]),
            entry(6, "TABLE DATA", "part_p2_p1", Section::Data, &[3]),
        ];
        let mut s = plan(entries, &[5], &[0, 1, 2, 3, 4]);
        for i in [0, 1, 2, 4] {
            s.complete(i);
        }
        assert_eq!(s.next_item(), Next::Wait, "part_p2 is not attached yet");
        s.complete(3);
        assert_eq!(s.next_item(), Next::Run(5));
    }

    /// A constraint added to a partitioned table reaches its partitions: it waits for their
    /// data, which pg_dump's dependencies do not say (a NOT VALID NOT NULL added first would
    /// refuse a partition's rows).
    #[test]
    fn post_data_on_a_parent_waits_for_its_partitions_data() {
        let entries = vec![
            entry(1, "TABLE", "parent", Section::PreData, &[]),
            entry(2, "TABLE", "part", Section::PreData, &[1]),
            entry(3, "TABLE", "subpart", Section::PreData, &[2]),
            entry(4, "TABLE DATA", "part", Section::Data, &[2]),
            entry(5, "TABLE DATA", "subpart", Section::Data, &[3]),
            entry(6, "CONSTRAINT", "parent notnull", Section::PostData, &[1]),
        ];
        let mut s = plan(entries, &[3, 4, 5], &[]);
        assert_eq!(s.next_item(), Next::Run(3));
        assert_eq!(s.next_item(), Next::Run(4));
        assert_eq!(s.next_item(), Next::Wait, "the constraint waits for both partitions' data");
        s.complete(3);
        assert_eq!(s.next_item(), Next::Wait);
        s.complete(4);
        assert_eq!(s.next_item(), Next::Run(5));
    }

    #[test]
    fn cycles_are_left_for_the_leader() {
        let mut entries = toc().entries;
        entries[4].dependencies = vec![7];
        entries[6].dependencies = vec![5, 1, 2];
        let toc = Toc::from_entries(entries);
        let mut s = scheduler(&toc);
        while let Next::Run(i) = s.next_item() {
            s.complete(i);
        }
        assert_eq!(s.leftovers(), vec![4, 6]);
    }
}
