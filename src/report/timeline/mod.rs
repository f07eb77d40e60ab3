//! `pgsurge report`'s picture of a restore: the JSON report of `restore --report FILE` read
//! back (`input`, which trusts nothing in it), each entry given a kind and a colour (`kind`),
//! the critical path and the bars worked out (`layout`), and all of it drawn as SVG (`svg`),
//! bare or in a self-contained HTML page. One lane per connection, idle time left empty,
//! stage boundaries, a time axis and a legend.

mod input;
mod kind;
mod layout;
mod svg;

pub use input::MAX_REPORT_BYTES;
use input::Report;
use kind::Kind;
use layout::Bar;

/// Why a report cannot be drawn; each one line, naming the item or field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a pgsurge report: {0}")]
    NotAReport(String),
    #[error("not a report that can be drawn: {0}")]
    Invalid(String),
    #[error("larger than {} MiB, which no restore's report is", .limit >> 20)]
    TooLarge { limit: usize },
}

/// A report, ready to draw.
pub struct Timeline {
    report: Report,
    /// The connections drawn, one lane each, in order.
    lanes: Vec<u64>,
    /// Each item's kind, by item index.
    kinds: Vec<Kind>,
    /// The critical path's items, in time order.
    path: Vec<usize>,
    bars: Vec<Bar>,
    /// Stage names, starts and lengths, in seconds.
    stages: Vec<(String, f64, f64)>,
    /// The seconds the plot spans: the restore's wall time, or the last item's end if later.
    span: f64,
    px_per_s: f64,
}

impl Timeline {
    /// Reads a report (the bytes of REPORT.json) and lays it out.
    pub fn from_json(bytes: &[u8]) -> Result<Timeline, Error> {
        let report = Report::parse(bytes)?;
        let lanes = report.lanes();
        let last_end = report.items.iter().map(|i| i.end).fold(0.0, f64::max);
        // A restore of nothing still gets an axis.
        let span = report.wall_seconds.max(last_end).max(1e-3);
        let px_per_s = svg::PLOT_WIDTH / span;
        let kinds = layout::kinds(&report.items);
        let path = layout::critical_path(&report.items);
        let mut critical = vec![false; report.items.len()];
        for &i in &path {
            critical[i] = true;
        }
        let bars = layout::bars(&report.items, &kinds, &critical, &lanes, px_per_s);
        let stages = stage_starts(&report);
        Ok(Timeline { report, lanes, kinds, path, bars, stages, span, px_per_s })
    }

    /// The picture as a stand-alone SVG document.
    pub fn svg(&self) -> String {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", svg::draw(self))
    }

    /// The picture in a self-contained HTML page: no script, nothing fetched.
    pub fn html(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>pgsurge restore timeline: {}</title>\n<style>body{{margin:0;background:#fff;font-family:sans-serif}}svg{{display:block}}p{{margin:6px 12px;font-size:13px;color:#333;max-width:1150px}}</style>\n</head>\n<body>\n{}<p>Each bar is one archive entry from its start to its end on one connection; hover a bar for its name, time, rows and errors. Entries too short to draw are merged, and say how many they are. The critical path is worked out from the timings alone (each entry back to the one that finished last before it started, on its own connection when that one ended about as late), not from the entries' dependencies: read it as where the time went, not as proof of what waited for what.</p>\n</body>\n</html>\n",
            svg::esc(&input::shorten(&self.report.archive.path, 120)),
            svg::draw(self)
        )
    }

    /// "critical path: …" for the legend: how many entries, how much of it was work and how
    /// much waiting between them.
    fn path_summary(&self) -> String {
        let items = &self.report.items;
        let (Some(&first), Some(&last)) = (self.path.first(), self.path.last()) else { return "critical path: no entries".to_owned() };
        let busy: f64 = self.path.iter().map(|&i| items[i].end - items[i].start).sum();
        let span = items[last].end - items[first].start;
        format!(
            "critical path (approximate): {} entries from {:.3} s to {:.3} s, {} of work and {} between them; it ends with {}",
            self.path.len(),
            items[first].start,
            items[last].end,
            svg::seconds(busy),
            svg::seconds((span - busy).max(0.0)),
            input::shorten(&items[last].name, 80)
        )
    }
}

/// Where each stage began. Reports carry each stage's start; older ones only its length,
/// and then the stages are laid end to end so that the last ends with the wall time (the
/// restore's own start, before them, is connecting and reading the archive's TOC).
fn stage_starts(report: &Report) -> Vec<(String, f64, f64)> {
    let stages = report.stages.as_deref().unwrap_or_default();
    if stages.iter().all(|s| s.start.is_some()) {
        return stages.iter().map(|s| (s.stage.clone(), s.start.unwrap_or_default(), s.seconds)).collect();
    }
    let total: f64 = stages.iter().map(|s| s.seconds).sum();
    let mut at = (report.wall_seconds - total).max(0.0);
    stages
        .iter()
        .map(|s| {
            let start = at;
            at += s.seconds;
            (s.stage.clone(), start, s.seconds)
        })
        .collect()
}

#[cfg(test)]
mod tests;
