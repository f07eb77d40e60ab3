//! The JSON report of `pgsurge restore --report FILE` read back for drawing, trusting
//! nothing in it: the fields the timeline uses must be there with their types, times must be
//! finite, not negative and in order, and what a file can make us allocate is bounded (its
//! size, its number of items, its number of lanes) before anything is drawn. Fields the
//! timeline does not use are skipped unread, so newer reports with more in them still load.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::Error;

/// Larger than any report a restore writes (a 20 000-entry restore writes about 7 MB).
pub const MAX_REPORT_BYTES: usize = 512 << 20;
/// Items read at most: each becomes a struct in memory, whatever its size in the file.
pub const MAX_ITEMS: usize = 2_000_000;
/// Lanes drawn at most (connections seen, or the leader and `jobs` workers).
pub const MAX_LANES: usize = 512;
/// A time past this many seconds (over 100 days) is no restore's.
const MAX_SECONDS: f64 = 1e7;

#[derive(Debug, Deserialize)]
pub struct Report {
    pub archive: Archive,
    pub target: Target,
    pub jobs: u64,
    pub wall_seconds: f64,
    /// `null` when the restore stopped early.
    #[serde(default)]
    pub stages: Option<Vec<Stage>>,
    #[serde(default)]
    pub completed: Option<bool>,
    #[serde(deserialize_with = "bounded_items")]
    pub items: Vec<Item>,
}

#[derive(Debug, Deserialize)]
pub struct Archive {
    pub path: String,
    #[serde(default)]
    pub database: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub database: String,
}

#[derive(Debug, Deserialize)]
pub struct Stage {
    pub stage: String,
    /// Absent from reports written before stages carried their start.
    #[serde(default)]
    pub start: Option<f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Restore,
    Drop,
    /// The ANALYZE stage's statistics for a loaded table (desc `ANALYZE`).
    Analyze,
    /// An idle connection's part of a table whose data another connection loaded: drawn on
    /// its lane, while the table is counted once, by the owner's item.
    Part,
}

#[derive(Debug, Deserialize)]
pub struct Item {
    pub dump_id: i64,
    pub action: Action,
    pub desc: String,
    pub name: String,
    pub connection: u64,
    pub connections: u64,
    pub start: f64,
    pub end: f64,
    pub rows: u64,
    pub bytes: u64,
    #[allow(dead_code)] // required of a report, though the picture shows `errors`
    pub outcome: Outcome,
    pub errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Error,
}

impl Report {
    /// Parses and checks a report; the error says what is wrong and where, in one line.
    pub fn parse(bytes: &[u8]) -> Result<Report, Error> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(Error::TooLarge { limit: MAX_REPORT_BYTES });
        }
        READING_ITEM.set(None);
        let report: Report = serde_json::from_slice(bytes).map_err(|e| match (e.classify(), READING_ITEM.take()) {
            (serde_json::error::Category::Data, Some(i)) => Error::NotAReport(format!("item {i}: {e}")),
            (serde_json::error::Category::Data, None) => Error::NotAReport(e.to_string()),
            _ => Error::NotJson(e.to_string()),
        })?;
        report.check()?;
        Ok(report)
    }

    fn check(&self) -> Result<(), Error> {
        seconds("wall_seconds", self.wall_seconds)?;
        for (i, stage) in self.stages.iter().flatten().enumerate() {
            seconds(&format!("stage {i} ({}): seconds", stage.stage), stage.seconds)?;
            if let Some(start) = stage.start {
                seconds(&format!("stage {i} ({}): start", stage.stage), start)?;
            }
        }
        for (i, item) in self.items.iter().enumerate() {
            let at = || format!("item {i} ({})", shorten(&item.name, 80));
            seconds(&format!("{}: start", at()), item.start)?;
            seconds(&format!("{}: end", at()), item.end)?;
            if item.end < item.start {
                return Err(Error::Invalid(format!("{}: ends at {} s, before it starts at {} s", at(), item.end, item.start)));
            }
        }
        let lanes = self.lanes();
        if lanes.len() > MAX_LANES {
            return Err(Error::Invalid(format!("more than {MAX_LANES} connections to draw (jobs is {}), more than a timeline draws", self.jobs)));
        }
        Ok(())
    }

    /// The lanes to draw: every connection an item ran on and, for a parallel restore, the
    /// leader and each of its `jobs` workers, so a connection that never got work still
    /// shows, idle. Bounded by [`MAX_LANES`] + 1 whatever `jobs` says.
    pub fn lanes(&self) -> Vec<u64> {
        let mut lanes = BTreeSet::new();
        for item in &self.items {
            lanes.insert(item.connection);
            if lanes.len() > MAX_LANES {
                break;
            }
        }
        if self.jobs > 1 {
            lanes.extend(0..=self.jobs.min(MAX_LANES as u64));
        }
        lanes.into_iter().collect()
    }
}

/// A time the report gives: finite, not negative, not absurd.
fn seconds(what: &str, value: f64) -> Result<(), Error> {
    if value.is_finite() && (0.0..=MAX_SECONDS).contains(&value) {
        Ok(())
    } else {
        // 1e300 as 1e300, not as three hundred digits.
        let shown = if value.abs() < 1e9 { value.to_string() } else { format!("{value:e}") };
        Err(Error::Invalid(format!("{what} is {shown} s, not a time from 0 to {MAX_SECONDS} s")))
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The `items` array, refused past [`MAX_ITEMS`] as it is read rather than after, and each
/// failure named by the item's place in it.
fn bounded_items<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Item>, D::Error> {
    deserializer.deserialize_seq(Items { limit: MAX_ITEMS })
}

thread_local! {
    /// The item being read, while the `items` array is: a failure inside one is named by its
    /// place in the array. serde gives a visitor no other way out for it, short of rewording
    /// errors whose category (bad JSON, or JSON of the wrong shape) the message depends on.
    static READING_ITEM: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Reads an array of at most `limit` items.
pub(super) struct Items {
    pub limit: usize,
}

impl<'de> Visitor<'de> for Items {
    type Value = Vec<Item>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Item>, A::Error> {
        // A size hint is the input's claim: never reserve on its word alone.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            if items.len() == self.limit {
                READING_ITEM.set(None);
                // One more element of any shape is one too many; reading it builds nothing.
                return match seq.next_element::<de::IgnoredAny>()? {
                    Some(_) => Err(de::Error::custom(format_args!("more than {} items", self.limit))),
                    None => Ok(items),
                };
            }
            READING_ITEM.set(Some(items.len()));
            match seq.next_element::<Item>()? {
                Some(item) => items.push(item),
                None => {
                    READING_ITEM.set(None);
                    return Ok(items);
                }
            }
        }
    }
}
