//! From a report's items to what the timeline draws: each item's kind, the critical path,
//! and the bars — one per item, except that items too short to see are merged so that a
//! restore of tens of thousands of entries still makes a page of a few hundred kilobytes.
//!
//! The critical path is an approximation from timings alone: the report does not say which
//! entry waited for which. Starting from the item that finished last, it walks back, each
//! time to the item that finished latest, on any lane, no later than the current one started
//! (give or take [`TOLERANCE`], for the moment between one connection finishing an entry and
//! another hearing of it). Items that ended within that tolerance of the latest one, or of
//! the current item's start, count as a tie, and a tie goes to the current item's own lane:
//! an entry that began the moment its connection finished the one before is taken to have
//! waited for its connection. Without that rule the walk would hop between busy lanes at
//! every coincidence of timings.
//!
//! What it finds is a gapless-as-possible chain of entries from the start to the end: where
//! the restore was held up by one connection (the leader's schema, one huge table), that is
//! the chain. Where every connection was busy with independent work, any busy lane is as
//! "critical" as another, and the chain shows one of them. Where a connection sat idle
//! waiting for a lock or for a table the report never mentions, the chain runs through
//! whatever happened to finish just before, and says nothing of the real dependency.

use std::collections::HashMap;

use super::input::{Action, Item};
use super::kind::Kind;

/// How far an item may seem to overlap the item it waited for (timer and hand-over jitter).
pub const TOLERANCE: f64 = 0.000_2;
/// Candidates looked at for one on the same lane, once the latest-finishing one is known:
/// enough for a tie on every lane of a wide restore, few enough that no input makes the walk
/// slow.
const SAME_LANE_WINDOW: usize = 64;

/// Each item's kind. Table data is "in parts" when several connections loaded it: the
/// reporter says so in `connections`, and a report that lists the parts as items of their
/// own shows one table's data (the same dump id) more than once.
pub fn kinds(items: &[Item]) -> Vec<Kind> {
    let mut loads: HashMap<i64, usize> = HashMap::new();
    for item in items.iter().filter(|i| i.action == Action::Restore && i.desc == "TABLE DATA") {
        *loads.entry(item.dump_id).or_default() += 1;
    }
    items
        .iter()
        .map(|i| {
            let split = i.action == Action::Part || i.connections > 1 || loads.get(&i.dump_id).is_some_and(|&n| n > 1);
            Kind::of(&i.desc, i.action == Action::Drop, split)
        })
        .collect()
}

/// The items on the critical path (see the module's note), in time order.
pub fn critical_path(items: &[Item]) -> Vec<usize> {
    let mut by_end: Vec<usize> = (0..items.len()).collect();
    by_end.sort_by(|&a, &b| items[a].end.total_cmp(&items[b].end).then(items[a].start.total_cmp(&items[b].start)));
    let Some(&last) = by_end.last() else { return Vec::new() };
    let mut chain = vec![last];
    let mut current = last;
    // Candidates are by_end[..top]. Both bounds only fall as the walk goes back (each step
    // moves to an item that started earlier), so whatever fails them once fails them for
    // good: the walk is linear after the sort, whatever the input.
    let mut top = by_end.len();
    loop {
        let start = items[current].start;
        while top > 0 && (items[by_end[top - 1]].end > start + TOLERANCE || items[by_end[top - 1]].start >= start) {
            top -= 1;
        }
        let Some(&latest) = by_end[..top].last() else { break };
        // Ties: whatever ended within the tolerance of the latest end or of this start.
        let tie = items[latest].end.min(start) - TOLERANCE;
        let lane = items[current].connection;
        let near = by_end[..top]
            .iter()
            .rev()
            .take(SAME_LANE_WINDOW)
            .take_while(|&&c| items[c].end >= tie)
            .find(|&&c| items[c].start < start && items[c].connection == lane);
        current = near.copied().unwrap_or(latest);
        chain.push(current);
    }
    chain.reverse();
    chain
}

/// How wide a cell of sub-pixel items grows before the next starts: two pixels halve the
/// bars (and the page) of a lane of mixed small entries, and still show their mix.
const CELL_PX: f64 = 2.0;

/// One rectangle: an item, or items merged because each was narrower than a pixel.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Index into the lanes drawn.
    pub lane: usize,
    /// The colour: the item's kind, or of merged items the kind that took most time.
    pub kind: Kind,
    pub start: f64,
    pub end: f64,
    pub critical: bool,
    /// The first and last item merged (the same for a single item).
    pub first: usize,
    pub last: usize,
    pub count: usize,
    pub per_kind: [u32; Kind::COUNT],
    /// Seconds the items themselves took (merged items may leave sub-pixel gaps).
    pub busy: f64,
    pub rows: u64,
    pub errors: u64,
    /// Made only of items narrower than a pixel, so it may take in more of them.
    tiny: bool,
    busy_per_kind: [f64; Kind::COUNT],
}

impl Bar {
    fn of(lane: usize, index: usize, item: &Item, kind: Kind, critical: bool, tiny: bool) -> Bar {
        let mut per_kind = [0; Kind::COUNT];
        per_kind[kind.index()] = 1;
        let mut busy_per_kind = [0.0; Kind::COUNT];
        busy_per_kind[kind.index()] = item.end - item.start;
        Bar {
            lane,
            kind,
            start: item.start,
            end: item.end,
            critical,
            first: index,
            last: index,
            count: 1,
            per_kind,
            busy: item.end - item.start,
            rows: item.rows,
            errors: item.errors,
            tiny,
            busy_per_kind,
        }
    }

    fn absorb(&mut self, other: Bar) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.last = other.last;
        self.count += other.count;
        for k in 0..Kind::COUNT {
            self.per_kind[k] += other.per_kind[k];
            self.busy_per_kind[k] += other.busy_per_kind[k];
        }
        self.busy += other.busy;
        self.rows = self.rows.saturating_add(other.rows);
        self.errors = self.errors.saturating_add(other.errors);
    }

    /// The kind that took the most time (by count where none took any).
    fn dominant(&self) -> Kind {
        let mut best = self.kind;
        for kind in Kind::ALL {
            let (k, b) = (kind.index(), best.index());
            if (self.busy_per_kind[k], self.per_kind[k]) > (self.busy_per_kind[b], self.per_kind[b]) {
                best = kind;
            }
        }
        best
    }

    /// Whether `next`, drawn after this bar on its lane, joins it: both made of sub-pixel
    /// items, both on the critical path or both off it, less than a pixel apart (so no idle
    /// time a reader could see disappears).
    fn takes(&self, next: &Bar, px_per_s: f64) -> bool {
        self.tiny && next.tiny && self.critical == next.critical && (next.start - self.end) * px_per_s < 1.0
    }
}

/// The bars of every lane, at `px_per_s` pixels a second. A run of items each narrower than
/// a pixel is first cut into cells about [`CELL_PX`] wide, each coloured by the kind that took
/// most of its time; neighbouring cells of one colour then become one bar, whose hover text
/// counts its items. So a lane of 10 000 small schema entries is one bar, and a lane that
/// alternates tiny index and constraint builds keeps a bar every two pixels or so, in the
/// proportions of the two.
pub fn bars(items: &[Item], kinds: &[Kind], critical: &[bool], lanes: &[u64], px_per_s: f64) -> Vec<Bar> {
    let mut per_lane: Vec<Vec<usize>> = vec![Vec::new(); lanes.len()];
    for (i, item) in items.iter().enumerate() {
        if let Ok(lane) = lanes.binary_search(&item.connection) {
            per_lane[lane].push(i);
        }
    }
    let mut out = Vec::new();
    for (lane, mut order) in per_lane.into_iter().enumerate() {
        order.sort_by(|&a, &b| items[a].start.total_cmp(&items[b].start).then(items[a].end.total_cmp(&items[b].end)));
        let mut cells: Vec<Bar> = Vec::new();
        for i in order {
            let item = &items[i];
            let tiny = (item.end - item.start) * px_per_s < 1.0;
            let bar = Bar::of(lane, i, item, kinds[i], critical[i], tiny);
            match cells.last_mut() {
                Some(cell) if cell.takes(&bar, px_per_s) && (cell.end - cell.start) * px_per_s < CELL_PX => cell.absorb(bar),
                _ => cells.push(bar),
            }
        }
        let mut merged: Vec<Bar> = Vec::with_capacity(cells.len());
        for mut cell in cells {
            cell.kind = cell.dominant();
            match merged.last_mut() {
                Some(bar) if bar.kind == cell.kind && bar.takes(&cell, px_per_s) => bar.absorb(cell),
                _ => merged.push(cell),
            }
        }
        out.extend(merged);
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::report::timeline::input::Outcome;

    /// An item for hand-built reports.
    pub fn item(connection: u64, desc: &str, start: f64, end: f64) -> Item {
        Item {
            dump_id: (start * 1e6) as i64,
            action: Action::Restore,
            desc: desc.to_owned(),
            name: format!("{desc} at {start}"),
            connection,
            connections: 1,
            start,
            end,
            rows: 0,
            bytes: 0,
            outcome: Outcome::Ok,
            errors: 0,
        }
    }

    /// Leader: schema A, B, C back to back. Worker 1: data of A as soon as A is in, then its
    /// index. Worker 2: data of B, and the long data of C, which ends last. The path is the
    /// leader's A, B and C (C's data waited for C), then C's data — not A's index, which
    /// ended earlier, nor B's data, which ran beside C's schema.
    #[test]
    fn critical_path_walks_back_from_the_last_to_finish() {
        let items = vec![
            item(0, "TABLE", 0.0, 1.0),      // 0 A
            item(0, "TABLE", 1.0, 2.0),      // 1 B
            item(0, "TABLE", 2.0, 3.0),      // 2 C
            item(1, "TABLE DATA", 1.0, 4.0), // 3 A's data
            item(1, "INDEX", 4.0, 5.0),      // 4 A's index
            item(2, "TABLE DATA", 2.0, 2.5), // 5 B's data
            item(2, "TABLE DATA", 3.0, 9.0), // 6 C's data
        ];
        assert_eq!(critical_path(&items), vec![0, 1, 2, 6]);
        assert_eq!(critical_path(&[]), Vec::<usize>::new());
    }

    /// A start a hair before its predecessor's end still follows it, and of two candidates
    /// ending together the one on the same lane wins.
    #[test]
    fn critical_path_tolerates_jitter_and_prefers_the_lane() {
        let items = vec![
            item(0, "TABLE", 0.6, 1.0),
            item(1, "TABLE DATA", 0.5, 1.0),
            item(1, "INDEX", 0.999_9, 2.0),
        ];
        assert_eq!(critical_path(&items), vec![1, 2], "the same lane, though both ended at 1.0");
        let items = vec![item(0, "TABLE", 0.0, 1.000_1), item(1, "TABLE DATA", 1.0, 2.0)];
        assert_eq!(critical_path(&items), vec![0, 1]);
        // Zero-length items and items starting together never loop.
        let items = vec![item(0, "ACL", 1.0, 1.0), item(1, "ACL", 1.0, 1.0), item(0, "ACL", 0.0, 0.0)];
        assert_eq!(critical_path(&items), vec![2, 1]);
    }

    #[test]
    fn tiny_bars_of_a_kind_merge_and_visible_ones_do_not() {
        // 1000 px a second: a millisecond is a pixel.
        let px = 1000.0;
        let mut items: Vec<Item> = (0..300).map(|n| item(0, "TABLE", n as f64 * 0.000_1, (n + 1) as f64 * 0.000_1)).collect();
        items.push(item(0, "INDEX", 0.1, 0.2)); // 100 px: its own bar
        items.push(item(0, "TABLE", 0.2, 0.200_5)); // tiny, but after a wide bar
        items.push(item(0, "TABLE", 0.5, 0.500_5)); // tiny, after a visible gap
        items.push(item(1, "TABLE", 0.0, 0.000_5)); // another lane
        let kinds = kinds(&items);
        let critical = vec![false; items.len()];
        let bars = bars(&items, &kinds, &critical, &[0, 1], px);
        let summary: Vec<(usize, Kind, usize)> = bars.iter().map(|b| (b.lane, b.kind, b.count)).collect();
        assert_eq!(summary, vec![(0, Kind::Schema, 300), (0, Kind::Index, 1), (0, Kind::Schema, 1), (0, Kind::Schema, 1), (1, Kind::Schema, 1)]);
        assert!((bars[0].end - 0.03).abs() < 1e-9 && (bars[0].busy - 0.03).abs() < 1e-9, "{:?}", bars[0]);
        assert_eq!(bars.iter().map(|b| b.count).sum::<usize>(), items.len(), "every item in one bar");
    }

    /// Alternating sub-pixel kinds keep about one bar per pixel, coloured by what took most
    /// of it; the critical path never merges with what is off it.
    #[test]
    fn mixed_tiny_bars_make_pixel_cells() {
        let px = 1000.0;
        let items: Vec<Item> = (0..1001)
            .map(|n| {
                let (desc, len): (&str, f64) = if n % 2 == 0 { ("INDEX", 0.000_15) } else { ("CONSTRAINT", 0.000_03) };
                item(1, desc, n as f64 * 0.000_1, n as f64 * 0.000_1 + len.min(0.000_1))
            })
            .collect();
        let kinds = kinds(&items);
        let mut critical = vec![false; items.len()];
        let bars = bars(&items, &kinds, &critical, &[1], px);
        assert_eq!(bars.len(), 1, "every cell is mostly index: {bars:?}");
        assert_eq!((bars[0].kind, bars[0].count, bars[0].per_kind[Kind::Index.index()], bars[0].per_kind[Kind::Constraint.index()]), (Kind::Index, 1001, 501, 500));
        critical[500] = true;
        let bars = super::bars(&items, &kinds, &critical, &[1], px);
        assert_eq!(bars.iter().map(|b| (b.count, b.critical)).collect::<Vec<_>>(), vec![(500, false), (1, true), (500, false)]);
    }

    #[test]
    fn split_tables_are_drawn_as_parts() {
        let mut items = vec![item(1, "TABLE DATA", 0.0, 1.0), item(2, "TABLE DATA", 0.0, 1.0), item(3, "TABLE DATA", 0.0, 1.0)];
        for (n, item) in items.iter_mut().enumerate() {
            item.dump_id = n as i64;
        }
        items[1].connections = 3;
        items[2].dump_id = items[0].dump_id; // a part listed as an item of its own
        assert_eq!(kinds(&items), vec![Kind::SplitPart, Kind::SplitPart, Kind::SplitPart]);
        items[2].dump_id = 2;
        assert_eq!(kinds(&items), vec![Kind::TableData, Kind::SplitPart, Kind::TableData]);
    }
}
