//! The ready queue against hand-made plans: priorities, dependencies, locks, passes, cycles
//! and very large schemas, all without a server.

use std::collections::{HashMap, HashSet};

use pgsurge_archive::{DataLocation, Section, Toc, TocEntry};
use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::select::Selection;

use super::*;

/// Runs the schedule to its end as two workers would: each finished item is handed to
/// `finished` (to check its order) before the scheduler hears it is done.
fn two_workers(s: &mut Scheduler, mut finished: impl FnMut(usize)) {
    let mut running = Vec::new();
    loop {
        while running.len() < 2 {
            match s.next_item() {
                Next::Run(i) => running.push(i),
                _ => break,
            }
        }
        let Some(i) = running.pop() else { break };
        finished(i);
        s.complete(i);
    }
}

fn sched(toc: &Toc, sel: &Selection, pending: &[usize], leader: &[usize], sizes: &HashMap<DumpId, u64>) -> Scheduler {
    Scheduler::new(Arc::new(Plan::build(toc, sel, pending, leader, sizes)))
}

fn entry(id: i32, desc: &str, tag: &str, section: Section, deps: &[i32]) -> TocEntry {
    TocEntry {
        had_dumper: desc == "TABLE DATA",
        defn: Some(format!("-- {desc} {tag}\n").into()),
        data: if desc == "TABLE DATA" { DataLocation::Block { offset: None } } else { DataLocation::None },
        ..TocEntry::new(DumpId(id), desc, tag, section, deps.iter().map(|&d| DumpId(d)).collect())
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
    let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
    sched(&toc, &sel, pending, leader, &HashMap::new())
}

fn scheduler(toc: &Toc) -> Scheduler {
    let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
    let pending: Vec<usize> = (2..toc.entries.len()).collect();
    let sizes: HashMap<DumpId, u64> = [(DumpId(3), 10), (DumpId(4), 1000)].into_iter().collect();
    sched(toc, &sel, &pending, &[], &sizes)
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
    let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
    let pending: Vec<usize> = (0..toc.entries.len()).filter(|i| i % 3 != 0).collect();
    let sizes: HashMap<DumpId, u64> = (0..tables).map(|t| (DumpId(2 + t * 3), (t % 97) as u64)).collect();
    let mut s = sched(&toc, &sel, &pending, &[], &sizes);
    let mut done = HashSet::new();
    two_workers(&mut s, |i| {
        let te = &toc.entries[i];
        if te.desc_is("INDEX") {
            assert!(done.contains(&(i - 1)), "index {} before its data", te.tag);
        }
        done.insert(i);
    });
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
    entries[4].dependencies = vec![DumpId(7)];
    entries[6].dependencies = vec![DumpId(5), DumpId(1), DumpId(2)];
    let toc = Toc::from_entries(entries);
    let mut s = scheduler(&toc);
    while let Next::Run(i) = s.next_item() {
        s.complete(i);
    }
    assert_eq!(s.leftovers(), vec![4, 6]);
}

impl Scheduler {
    /// Dependency edges in the plan, gates included.
    fn edges(&self) -> usize {
        self.dependents.iter().map(Vec::len).sum()
    }
}

/// `n` tables, each inheriting the one before, each with its data and a CHECK constraint;
/// the leader creates the tables, the workers get the rest. Returns the entries and
/// (pending, leader).
fn chain(n: i32) -> (Vec<TocEntry>, Vec<usize>, Vec<usize>) {
    let mut entries = Vec::new();
    for k in 0..n {
        let id = 1 + 3 * k;
        let parent: Vec<i32> = if k == 0 { vec![] } else { vec![id - 3] };
        entries.push(entry(id, "TABLE", &format!("t{k}"), Section::PreData, &parent));
    }
    for k in 0..n {
        let id = 1 + 3 * k;
        entries.push(entry(id + 1, "TABLE DATA", &format!("t{k}"), Section::Data, &[id]));
    }
    for k in 0..n {
        let id = 1 + 3 * k;
        entries.push(entry(id + 2, "CHECK CONSTRAINT", &format!("t{k} c"), Section::PostData, &[id]));
    }
    let tables = usize::try_from(n).unwrap_or(0);
    (entries, (tables..3 * tables).collect(), (0..tables).collect())
}

/// A chain of 20 000 inheriting tables plans in a number of edges linear in the TOC
/// (spelled out, each table's data and constraint waited for every ancestor's and
/// descendant's entries: 600 million edges, minutes of planning), and runs through whole
/// in dependency order.
#[test]
fn long_inheritance_chains_plan_in_linear_size() {
    let n = 20_000;
    let (entries, pending, leader) = chain(n);
    let toc = Toc::from_entries(entries);
    let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
    let mut s = sched(&toc, &sel, &pending, &leader, &HashMap::new());
    assert!(s.edges() <= 4 * toc.entries.len(), "{} edges for {} entries", s.edges(), toc.entries.len());
    // The leader creates the first table: nothing can start, since every table's data
    // waits for the tables below it to be created (their creation locks it).
    s.complete(0);
    assert_eq!(s.next_item(), Next::Wait);
    for i in leader.iter().skip(1) {
        s.complete(*i);
    }
    let tables = leader.len();
    let mut loaded = vec![false; tables];
    let mut done = 0;
    two_workers(&mut s, |i| {
        if i < 2 * tables {
            loaded[i - tables] = true;
        } else {
            // A table's constraint waits for its data and every descendant's.
            assert!(loaded[i - 2 * tables..].iter().all(|&l| l), "constraint {} before the data below it", i - 2 * tables);
        }
        done += 1;
    });
    assert_eq!(done, pending.len());
    assert!(s.leftovers().is_empty());
}

/// Deterministic pseudo-random numbers for the generated TOCs below.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap_or(0) % n.max(1)
    }
}

/// A small TOC with an inheritance graph of any shape (multiple parents, cycles, tables
/// without data), schema entries naming tables, data and post-data; some entries are
/// left out of both lists (done before the parallel phase).
fn random_toc(rng: &mut Lcg) -> (Vec<TocEntry>, Vec<usize>, Vec<usize>) {
    let tables = 3 + rng.below(10);
    let table_id = |k: usize| i32::try_from(k + 1).unwrap_or(0);
    let mut entries = Vec::new();
    for k in 0..tables {
        let mut parents = Vec::new();
        for _ in 0..rng.below(3) {
            // Mostly an earlier table (a tree or a DAG), sometimes any (cycles).
            let p = if k > 0 && rng.below(5) > 0 { rng.below(k) } else { rng.below(tables) };
            parents.push(table_id(p));
        }
        entries.push(entry(table_id(k), "TABLE", &format!("t{k}"), Section::PreData, &parents));
    }
    let mut next = table_id(tables) + 1;
    let sequence = next;
    let mut add = |entries: &mut Vec<TocEntry>, desc: &str, section: Section, deps: &[i32]| {
        entries.push(entry(next, desc, &format!("e{next}"), section, deps));
        next += 1;
    };
    add(&mut entries, "SEQUENCE", Section::PreData, &[]);
    for _ in 0..rng.below(tables) {
        let desc = ["DEFAULT", "TABLE ATTACH", "VIEW"][rng.below(3)];
        let deps = [table_id(rng.below(tables)), table_id(rng.below(tables))];
        add(&mut entries, desc, Section::PreData, &deps[..1 + rng.below(2)]);
    }
    for k in 0..tables {
        if rng.below(4) > 0 {
            add(&mut entries, "TABLE DATA", Section::Data, &[table_id(k)]);
        }
    }
    add(&mut entries, "SEQUENCE SET", Section::Data, &[sequence]);
    for _ in 0..tables + rng.below(tables) {
        let desc = ["INDEX", "CONSTRAINT", "FK CONSTRAINT", "TRIGGER"][rng.below(4)];
        let deps = [table_id(rng.below(tables)), table_id(rng.below(tables))];
        add(&mut entries, desc, Section::PostData, &deps[..if desc == "FK CONSTRAINT" { 2 } else { 1 }]);
    }
    let (mut pending, mut leader) = (Vec::new(), Vec::new());
    for (i, te) in entries.iter().enumerate() {
        if rng.below(10) == 0 {
            continue;
        }
        if te.section == Section::PreData {
            leader.push(i);
        } else {
            pending.push(i);
        }
    }
    (entries, pending, leader)
}

/// What each worker's item waited for when the scheduler spelled the inheritance trees
/// out item by item (before the gates; quadratic on long chains): by TOC position.
fn spelled_out(toc: &Toc, pending: &[usize], leader: &[usize]) -> HashMap<usize, HashSet<DumpId>> {
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
    let data_of_table: HashMap<DumpId, DumpId> = toc.entries.iter().filter(|te| te.desc_is("TABLE DATA")).filter_map(|te| Some((*te.dependencies.first()?, te.dump_id))).collect();
    let is_table = |id: &DumpId| toc.get(*id).is_some_and(|d| d.desc_is("TABLE"));
    let mut followers: HashMap<DumpId, Vec<DumpId>> = HashMap::new();
    for te in leader.iter().filter_map(|&i| toc.entries.get(i)) {
        for dep in te.dependencies.iter().filter(|d| is_table(d)) {
            followers.entry(*dep).or_default().push(te.dump_id);
        }
    }
    let (mut children, mut parents): (HashMap<DumpId, Vec<DumpId>>, HashMap<DumpId, Vec<DumpId>>) = Default::default();
    for te in toc.entries.iter().filter(|te| te.desc_is("TABLE")) {
        for dep in te.dependencies.iter().filter(|d| is_table(d)) {
            children.entry(*dep).or_default().push(te.dump_id);
            parents.entry(te.dump_id).or_default().push(*dep);
        }
    }
    let to_come: HashSet<DumpId> = pending.iter().chain(leader).filter_map(|&i| toc.entries.get(i)).map(|te| te.dump_id).collect();
    let mut out = HashMap::new();
    for &index in pending {
        let te = &toc.entries[index];
        let post_data = te.section == Section::PostData;
        let mut deps = HashSet::new();
        for &dep in &te.dependencies {
            for t in std::iter::once(dep).chain(tree(&parents, dep)) {
                deps.extend(followers.get(&t).into_iter().flatten().copied().filter(|&l| l != te.dump_id));
            }
            if post_data && children.contains_key(&dep) {
                deps.extend(tree(&children, dep).into_iter().filter_map(|t| data_of_table.get(&t).copied()).filter(|d| to_come.contains(d)));
            }
            let dep = if post_data { data_of_table.get(&dep).copied().unwrap_or(dep) } else { dep };
            if to_come.contains(&dep) {
                deps.insert(dep);
            }
        }
        out.insert(index, deps);
    }
    out
}

/// The gates wait for exactly what the spelled-out lists held, on inheritance graphs of
/// every shape: the same items wait for the same ids, and become ready at the same
/// moment whatever finishes in whatever order.
#[test]
fn gates_wait_for_what_the_spelled_out_lists_held() {
    let mut rng = Lcg(12);
    for round in 0..300 {
        let (entries, pending, leader) = random_toc(&mut rng);
        let toc = Toc::from_entries(entries);
        let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
        let mut s = sched(&toc, &sel, &pending, &leader, &HashMap::new());
        let reference = spelled_out(&toc, &pending, &leader);
        for (&index, waits) in &reference {
            let item = &s.plan.items[s.plan.by_index[&index]];
            for te in &toc.entries {
                assert_eq!(s.plan.waits_for(item, te.dump_id), waits.contains(&te.dump_id), "round {round}: item {} waiting for {}", item.dump_id, te.dump_id);
            }
        }
        let mut order: Vec<usize> = pending.iter().chain(&leader).copied().collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &finished in &order {
            s.complete(finished);
            for (&index, waits) in &reference {
                let i = s.plan.by_index[&index];
                if s.finished[i] {
                    continue;
                }
                let free = waits.iter().all(|d| s.plan.by_id.get(d).is_none_or(|&j| s.finished[j]));
                assert_eq!(s.waiting_on[i] == 0, free, "round {round}: item at {index} after {finished} finished");
            }
        }
    }
}

/// Past `pgsurge_plan::plan::ANCESTRY_WALK_LIMIT` ancestors, a lock check assumes the worst: the items do
/// not run side by side. Within it, the answer is exact.
#[test]
fn deep_trees_err_on_the_side_of_a_conflict() {
    let (entries, pending, leader) = chain(300);
    let toc = Toc::from_entries(entries);
    let sel = pgsurge_plan::select::decide(&toc.entries, &RestoreOptions::default(), None);
    let s = sched(&toc, &sel, &pending, &leader, &HashMap::new());
    // t0's constraint waits for the data of every table below it; t298's only for its
    // own and t299's.
    let item = |k: usize| &s.plan.items[s.plan.by_index[&(600 + k)]];
    let data = |k: i32| DumpId(2 + 3 * k);
    assert!(s.plan.waits_for(item(0), data(10)));
    assert!(s.plan.waits_for(item(0), data(299)), "beyond the walk's limit: assumed");
    assert!(s.plan.waits_for(item(298), data(299)));
    assert!(!s.plan.waits_for(item(298), data(10)));
    assert!(!s.plan.waits_for(item(10), data(5)));
}
