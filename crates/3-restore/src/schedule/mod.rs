//! The parallel phase's ready queue: which items of the [`Plan`] may run now, given what has
//! finished, what is running, the restore passes and the locks items take. A plain data
//! structure over an immutable plan — every decision is synchronous and tested without a
//! server; workers only ask it for the next item and tell it when one is done.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;

use pgsurge_archive::DumpId;
use pgsurge_plan::plan::Plan;
use pgsurge_plan::select::Pass;

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
    /// ANALYZE the table whose data is the TOC entry at this index.
    Analyze(usize),
    /// Nothing can start until a running item finishes.
    Wait,
    /// The parallel phase is over.
    Done,
}

#[derive(Debug)]
pub struct Scheduler {
    plan: Arc<Plan>,
    /// Unfinished dependencies per node: the items, then the gates (see [`Plan::waits`]).
    waiting_on: Vec<usize>,
    /// Nodes that depend on each node.
    dependents: Vec<Vec<usize>>,
    /// Items whose dependencies are all done, not yet started, per pass, in priority order
    /// (largest first, then lowest dump id): ordered sets keep a schema of 100 000 entries
    /// as cheap to schedule as one of 100.
    ready: [BTreeSet<ReadyKey>; 3],
    running: Vec<usize>,
    /// Per node, as `waiting_on`.
    finished: Vec<bool>,
    pass: Pass,
    /// Leader items not yet done.
    leader_open: usize,
    /// Ready items that wait for the schema to be complete.
    parked: Vec<usize>,
}

impl Scheduler {
    /// The scheduler of `plan`, every item waiting; the leader reports each of its items
    /// done through [`Scheduler::complete`].
    pub fn new(plan: Arc<Plan>) -> Scheduler {
        let nodes = plan.waits.len();
        let mut waiting_on = vec![0usize; nodes];
        let mut dependents = vec![Vec::new(); nodes];
        for (node, waits) in plan.waits.iter().enumerate() {
            waiting_on[node] = waits.len();
            for &on in waits {
                dependents[on].push(node);
            }
        }
        let n = plan.items.len();
        let leader_open = plan.items.iter().filter(|it| it.leader).count();
        let mut s = Scheduler {
            plan,
            waiting_on,
            dependents,
            ready: Default::default(),
            running: Vec::new(),
            finished: vec![false; nodes],
            pass: Pass::Main,
            leader_open,
            parked: Vec::new(),
        };
        for i in 0..n {
            if s.waiting_on[i] == 0 && !s.plan.items[i].leader {
                s.push_ready(i);
            }
        }
        s
    }

    fn push_ready(&mut self, i: usize) {
        let it = &self.plan.items[i];
        if it.after_schema && self.leader_open > 0 {
            self.parked.push(i);
            return;
        }
        self.ready[pass_slot(it.pass)].insert((Reverse(it.size), it.dump_id, i));
    }

    fn conflicts(&self, i: usize) -> bool {
        let plan = &self.plan;
        let a = &plan.items[i];
        self.running.iter().any(|&r| {
            let b = &plan.items[r];
            a.lock_deps.iter().any(|&l| plan.waits_for(b, l) || b.lock_deps.contains(&l) || l == b.dump_id)
                || b.lock_deps.iter().any(|&l| plan.waits_for(a, l) || l == a.dump_id)
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
                if !self.plan.items[i].wanted {
                    self.finish_item(i);
                    continue;
                }
                self.running.push(i);
                let it = &self.plan.items[i];
                return if it.analyze { Next::Analyze(it.index) } else { Next::Run(it.index) };
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

    /// Whether items of the current pass are ready but kept back by the locks of those
    /// running: a worker holding uncommitted items should commit rather than wait, since
    /// they may be what keeps the others back.
    pub fn has_ready(&self) -> bool {
        !self.ready[pass_slot(self.pass)].is_empty()
    }

    /// A worker (or the leader) finished the item at TOC position `index` (successfully or
    /// not: pg_restore releases dependents either way).
    pub fn complete(&mut self, index: usize) {
        if let Some(&i) = self.plan.by_index.get(&index) {
            self.running.retain(|&r| r != i);
            self.finish_item(i);
        }
    }

    /// Another ANALYZE that may start now beside those running, for the batch a worker has
    /// just been handed ([`Next::Analyze`]), among those whose table's data (at a TOC
    /// position) `fits` accepts: the TOC position of its table's data. ANALYZEs weigh
    /// nothing, so they are at the end of the ready order.
    pub fn next_analysis(&mut self, fits: impl Fn(usize) -> bool) -> Option<usize> {
        let slot = pass_slot(self.pass);
        let key = self.ready[slot]
            .iter()
            .rev()
            .take_while(|&&(Reverse(size), _, _)| size == 0)
            .find(|&&(_, _, i)| self.plan.items[i].analyze && fits(self.plan.items[i].index) && !self.conflicts(i))
            .copied()?;
        self.ready[slot].remove(&key);
        self.running.push(key.2);
        Some(self.plan.items[key.2].index)
    }

    /// A worker (or the leader) finished the ANALYZE of the table whose data is at TOC
    /// position `index` (or passed it over).
    pub fn complete_analysis(&mut self, index: usize) {
        if let Some(&i) = self.plan.analyze_by_index.get(&index) {
            self.running.retain(|&r| r != i);
            self.finish_item(i);
        }
    }

    /// Whether the leader still has schema entries to run.
    pub fn schema_pending(&self) -> bool {
        self.leader_open > 0
    }

    /// Marks node `i` done and releases what waited for it; a gate whose last wait is over
    /// is done at once, with what waited for it in turn.
    fn finish_item(&mut self, i: usize) {
        // Gates done in turn wait here; most items open none, so `i` itself is not put on
        // the stack (an allocation for every item finished).
        let mut done = Vec::new();
        let mut first = Some(i);
        while let Some(i) = first.take().or_else(|| done.pop()) {
            if self.finished[i] {
                continue;
            }
            self.finished[i] = true;
            if self.plan.items.get(i).is_some_and(|it| it.leader) {
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
                    if d < self.plan.items.len() {
                        self.push_ready(d);
                    } else {
                        done.push(d);
                    }
                }
            }
        }
    }

    /// TOC positions of wanted items never run (dependency cycles, or dependencies on
    /// items that never became ready), in restore order: the leader restores them serially
    /// at the end.
    pub fn leftovers(&self) -> Vec<usize> {
        self.plan.items.iter().enumerate().filter(|(i, it)| !self.finished[*i] && it.wanted && !it.leader && !it.analyze).map(|(_, it)| it.index).collect()
    }

    /// The ANALYZEs never run, by the TOC position of their table's data: the leader runs
    /// them after the leftovers.
    pub fn leftover_analyses(&self) -> Vec<usize> {
        self.plan.items.iter().enumerate().filter(|(i, it)| !self.finished[*i] && it.analyze).map(|(_, it)| it.index).collect()
    }

    /// Whether the item with this dump id is one of the scheduler's.
    pub fn contains(&self, id: DumpId) -> bool {
        self.plan.by_id.contains_key(&id)
    }
}

#[cfg(test)]
mod tests;
