//! The timeline drawn: one SVG document (title, a lane per connection with its bars, stage
//! boundaries, a time axis, a legend) that stands alone as a `.svg` file and inline in the
//! HTML page. Everything is plain SVG and CSS — no script, nothing fetched — so the page
//! opens anywhere, from a file, offline; a bar's hover text is its SVG `<title>`.
//!
//! User units are CSS pixels and nothing is scaled, so a screenshot's pixel is the drawing's:
//! the root carries the plot's `data-plot-x`, `data-plot-width` and `data-seconds`, each lane
//! its `data-connection`, each legend swatch its `data-kind`, for tests that check the
//! picture a browser actually drew.

use std::fmt::Write;

use super::input::{shorten, Action};
use super::kind::Kind;
use super::layout::Bar;
use super::Timeline;

pub const WIDTH: f64 = 1200.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 24.0;
pub const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
/// Below the two title lines and the stage names.
const TOP: f64 = 88.0;
const LANE: f64 = 26.0;
const LANE_GAP: f64 = 6.0;
const BAR_INSET: f64 = 2.0;
const IDLE: &str = "#ebebeb";
/// Names and labels are cut here: the hover text is for reading, not for the whole DDL.
const NAME_CHARS: usize = 160;

/// Writing into a `String` cannot fail.
macro_rules! w {
    ($($arg:tt)*) => {
        let _ = write!($($arg)*);
    };
}

pub fn draw(t: &Timeline) -> String {
    let lanes_bottom = TOP + t.lanes.len() as f64 * (LANE + LANE_GAP) - LANE_GAP;
    let axis_y = lanes_bottom + 8.0;
    let legend_y = axis_y + 60.0;
    let legend_rows = (Kind::COUNT + 2).div_ceil(LEGEND_COLUMNS);
    let height = legend_y + legend_rows as f64 * 20.0 + 34.0;
    let mut out = String::with_capacity(4096 + t.bars.len() * 200);
    w!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12" data-plot-x="{LEFT}" data-plot-width="{PLOT_WIDTH}" data-seconds="{}">"#,
        t.span
    );
    out.push_str("\n<style>text{fill:#222}.lane{fill:");
    out.push_str(IDLE);
    out.push_str("}.cp{fill:none;stroke:#000;stroke-width:2;pointer-events:none}.stage{stroke:#333;stroke-dasharray:4 3}.axis{stroke:#555}");
    for kind in Kind::ALL {
        w!(out, ".k-{}{{fill:{}}}", kind.slug(), kind.colour());
    }
    out.push_str("</style>\n");
    w!(out, r##"<rect width="{WIDTH}" height="{height}" fill="#fff"/>"##);
    out.push('\n');
    title(t, &mut out);
    lanes(t, &mut out);
    for bar in &t.bars {
        self::bar(t, bar, &mut out);
    }
    // After every bar, so that no neighbour covers an outline.
    outlines(t, &mut out);
    stages(t, lanes_bottom, &mut out);
    axis(t, axis_y, &mut out);
    legend(t, legend_y, &mut out);
    out.push_str("</svg>\n");
    out
}

fn title(t: &Timeline, out: &mut String) {
    let r = &t.report;
    w!(out, r#"<text x="12" y="24" font-size="16" font-weight="bold">Restore of {} into database {}</text>"#, esc(&shorten(&r.archive.path, 90)), esc(&shorten(&r.target.database, 60)));
    let mut facts = vec![format!("{} wall", seconds(r.wall_seconds)), format!("-j {}", r.jobs), format!("{} entries", r.items.len())];
    if let Some(db) = &r.archive.database {
        facts.push(format!("dumped from database {}", shorten(db, 60)));
    }
    facts.push(format!("server {}:{}", shorten(&r.target.host, 60), r.target.port));
    if r.completed == Some(false) {
        facts.push("stopped before the end".to_owned());
    }
    w!(out, "\n<text x=\"12\" y=\"44\">{}</text>\n", esc(&facts.join(" · ")));
}

fn lane_y(lane: usize) -> f64 {
    TOP + lane as f64 * (LANE + LANE_GAP)
}

fn lanes(t: &Timeline, out: &mut String) {
    for (i, &connection) in t.lanes.iter().enumerate() {
        let y = lane_y(i);
        let label = if connection == 0 && t.lanes.len() > 1 { "leader (0)".to_owned() } else { format!("conn {connection}") };
        w!(out, r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#, LEFT - 8.0, y + LANE / 2.0 + 4.0);
        w!(out, r#"<rect class="lane" data-connection="{connection}" x="{LEFT}" y="{y}" width="{PLOT_WIDTH}" height="{LANE}"/>"#);
        out.push('\n');
    }
}

fn x_of(t: &Timeline, seconds: f64) -> f64 {
    LEFT + seconds * t.px_per_s
}

fn bar(t: &Timeline, bar: &Bar, out: &mut String) {
    let x = x_of(t, bar.start);
    // A merged cell or a lone sub-pixel item still shows: one pixel, never less.
    let width = ((bar.end - bar.start) * t.px_per_s).max(1.0);
    let y = lane_y(bar.lane) + BAR_INSET;
    let class = if bar.critical { format!("k-{} path", bar.kind.slug()) } else { format!("k-{}", bar.kind.slug()) };
    w!(out, r#"<rect class="{class}" x="{x:.2}" y="{y}" width="{width:.2}" height="{}"><title>"#, LANE - 2.0 * BAR_INSET);
    out.push_str(&esc(&hover(t, bar)));
    out.push_str("</title></rect>\n");
}

/// The critical path outlined: one box around each run of its bars that follow each other
/// on a lane, rather than one per bar, which on a run of thin bars would be black all over.
fn outlines(t: &Timeline, out: &mut String) {
    let mut run: Option<(usize, f64, f64)> = None;
    let close = |run: &mut Option<(usize, f64, f64)>, out: &mut String| {
        if let Some((lane, start, end)) = run.take() {
            let width = ((end - start) * t.px_per_s).max(1.0);
            w!(out, r#"<rect class="cp" x="{:.2}" y="{}" width="{width:.2}" height="{}"/>"#, x_of(t, start), lane_y(lane) + BAR_INSET, LANE - 2.0 * BAR_INSET);
            out.push('\n');
        }
    };
    // Bars come lane by lane, each lane's in time order.
    for bar in &t.bars {
        match &mut run {
            Some((lane, _, end)) if bar.critical && *lane == bar.lane && (bar.start - *end) * t.px_per_s < 1.5 => *end = end.max(bar.end),
            _ => {
                close(&mut run, out);
                if bar.critical {
                    run = Some((bar.lane, bar.start, bar.end));
                }
            }
        }
    }
    close(&mut run, out);
}

/// A bar's hover text: an item's name, desc, kind, time, rows, errors; of merged items how
/// many of each kind, the first and last, and their sums.
fn hover(t: &Timeline, bar: &Bar) -> String {
    let items = &t.report.items;
    let mut text = if bar.count == 1 {
        let item = &items[bar.first];
        let mut text = format!("{}\n{} ({})", shorten(&item.name, NAME_CHARS), shorten(&item.desc, 60), bar.kind.label());
        if item.action == Action::Part {
            text.push_str(": this connection's part, helping the connection that owns the load");
        } else if item.connections > 1 {
            let _ = write!(text, " on {} connections", item.connections);
        }
        let _ = write!(text, "\n{}, {:.4}–{:.4} s\n{} rows · {} bytes · {} errors", seconds(bar.busy), bar.start, bar.end, item.rows, item.bytes, item.errors);
        text
    } else {
        let kinds: Vec<String> = Kind::ALL.iter().filter(|k| bar.per_kind[k.index()] > 0).map(|k| format!("{} {}", bar.per_kind[k.index()], k.label())).collect();
        format!(
            "{} items, each too short to draw: {}\n{} of work, {:.4}–{:.4} s\nfirst: {}\nlast: {}\n{} rows · {} errors",
            bar.count,
            kinds.join(", "),
            seconds(bar.busy),
            bar.start,
            bar.end,
            shorten(&items[bar.first].name, NAME_CHARS),
            shorten(&items[bar.last].name, NAME_CHARS),
            bar.rows,
            bar.errors
        )
    };
    if bar.critical {
        text.push_str("\non the critical path");
    }
    text
}

fn stages(t: &Timeline, bottom: f64, out: &mut String) {
    let mut last_label: Option<f64> = None;
    let mut row = 0;
    for (name, start, length) in &t.stages {
        let x = x_of(t, *start);
        // Stages close together (a quick finish) take turns on two rows of names.
        row = if last_label.is_some_and(|l| x - l < 120.0) { 1 - row } else { 0 };
        last_label = Some(x);
        let label_y = TOP - 20.0 + row as f64 * 12.0;
        w!(out, r#"<line class="stage" x1="{x:.2}" x2="{x:.2}" y1="{}" y2="{}"/>"#, label_y + 3.0, bottom + 4.0);
        let label = format!("{} {}", shorten(name, 30), seconds(*length));
        // Right of its line, or left of it where the page ends first (about 6 px a letter).
        let (label_x, anchor) = if x + 3.0 + label.chars().count() as f64 * 6.5 > WIDTH { (x - 3.0, "end") } else { (x + 3.0, "start") };
        w!(out, r#"<text x="{label_x:.2}" y="{label_y}" font-size="11" text-anchor="{anchor}">{}</text>"#, esc(&label));
        out.push('\n');
    }
}

fn axis(t: &Timeline, y: f64, out: &mut String) {
    w!(out, r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}"/>"#, LEFT + PLOT_WIDTH);
    let step = nice_step(t.span / 8.0);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let ticks = (t.span / step + 1e-9).floor() as usize;
    for k in 0..=ticks.min(100) {
        let s = k as f64 * step;
        let x = x_of(t, s);
        w!(out, r#"<line class="axis" x1="{x:.2}" x2="{x:.2}" y1="{y}" y2="{}"/>"#, y + 5.0);
        w!(out, r#"<text x="{x:.2}" y="{}" text-anchor="middle" font-size="11">{s:.decimals$}</text>"#, y + 18.0);
    }
    w!(out, r#"<text x="{}" y="{}" text-anchor="middle" font-size="11">seconds since the restore started</text>"#, LEFT + PLOT_WIDTH / 2.0, y + 34.0);
    out.push('\n');
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let r = raw / magnitude;
    let m = if r <= 1.0 {
        1.0
    } else if r <= 2.0 {
        2.0
    } else if r <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * magnitude
}

const LEGEND_COLUMNS: usize = 5;

fn legend(t: &Timeline, y: f64, out: &mut String) {
    // Entries: a helper's part of a table is drawn, but the table is counted once.
    let mut counts = [0usize; Kind::COUNT];
    for (kind, item) in t.kinds.iter().zip(&t.report.items) {
        if item.action != Action::Part {
            counts[kind.index()] += 1;
        }
    }
    let mut entries: Vec<(String, String)> = Kind::ALL
        .iter()
        .map(|k| (format!(r#"class="k-{}" data-kind="{}" fill="{}""#, k.slug(), k.slug(), k.colour()), format!("{} ({})", k.label(), counts[k.index()])))
        .collect();
    entries.push((format!(r#"fill="{IDLE}""#), "idle".to_owned()));
    entries.push((r##"fill="#fff" class="cp""##.to_owned(), "critical path (approximate)".to_owned()));
    for (i, (attrs, label)) in entries.iter().enumerate() {
        let x = LEFT + (i % LEGEND_COLUMNS) as f64 * 216.0;
        let row_y = y + (i / LEGEND_COLUMNS) as f64 * 20.0;
        w!(out, r#"<rect {attrs} x="{x}" y="{}" width="14" height="14"/><text x="{}" y="{}">{}</text>"#, row_y - 11.0, x + 20.0, row_y, esc(label));
        out.push('\n');
    }
    let rows = entries.len().div_ceil(LEGEND_COLUMNS);
    let note_y = y + rows as f64 * 20.0 + 8.0;
    w!(out, r#"<text x="12" y="{note_y}">{}</text>"#, esc(&t.path_summary()));
    out.push('\n');
}

/// Seconds for people: milliseconds below one second.
pub fn seconds(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1000.0)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 100.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// Text for XML content and attributes. Control characters, which XML 1.0 forbids whatever
/// the escaping, become U+FFFD.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.003), 0.005);
        assert_eq!(nice_step(0.011), 0.02);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(1.0), 1.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(esc("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&#39;\u{FFFD}\n");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(0.000_5), "0.50 ms");
        assert_eq!(seconds(12.345), "12.35 s");
    }
}
