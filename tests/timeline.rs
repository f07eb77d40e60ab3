//! `pgsurge report`: a real parallel restore's `--report` drawn as a page, and that page
//! opened in a real headless browser (Debian's chromium, `tools/install-browser.sh`) whose
//! screenshot must show what the report says: each lane's bars in their kinds' colours, idle
//! time as empty lane, the critical path outlined. Also what the command says to input it
//! cannot draw.
//!
//! Without chromium the browser test is skipped with a message, unless PGSURGE_REQUIRE_PG is
//! set (as tools/test.sh sets it, having installed the browser): then it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run, testdata};
use crate::restore_matrix::{restore, Tool};

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `PGSURGE_CHROMIUM` (a path), else `chromium` on PATH; `None` after saying why the test
/// does nothing.
fn chromium_or_skip() -> Option<PathBuf> {
    let found = match std::env::var_os("PGSURGE_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|p| p.is_file())),
    };
    if found.is_none() {
        let msg = "chromium not found: run tools/install-browser.sh (or set PGSURGE_CHROMIUM to its path)";
        if std::env::var_os("PGSURGE_REQUIRE_PG").is_some() {
            panic!("{msg}");
        }
        eprintln!("skipped: {msg}");
    }
    found
}

/// A screenshot of `page` at 1400×900 CSS pixels, one device pixel each.
fn screenshot(chromium: &Path, page: &Path, dir: &Path) -> png_image::Image {
    let shot = dir.join("shot.png");
    let mut child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1", "--window-size=1400,900"])
        // A profile of its own: no lock shared with another browser, nothing left in $HOME.
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", chromium.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium took over 60 s for one screenshot");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut err);
    }
    assert!(status.success() && shot.is_file(), "chromium failed ({status}):\n{err}");
    png_image::read(&shot)
}

/// Just enough of a PNG reader over the `png` crate: RGB pixels, row by row.
mod png_image {
    use std::path::Path;

    pub struct Image {
        pub width: usize,
        pub height: usize,
        rgb: Vec<[u8; 3]>,
    }

    impl Image {
        pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
            self.rgb[y * self.width + x]
        }
    }

    pub fn read(path: &Path) -> Image {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit screenshot");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("screenshot in {other:?}"),
        };
        let (width, height) = (info.width as usize, info.height as usize);
        let rgb = (0..width * height)
            .map(|i| {
                let (row, col) = (i / width, i % width);
                let p = row * info.line_size + col * channels;
                [buf[p], buf[p + 1], buf[p + 2]]
            })
            .collect();
        Image { width, height, rgb }
    }
}

fn hex(colour: &str) -> [u8; 3] {
    let c = colour.trim_start_matches('#');
    let byte = |i: usize| u8::from_str_radix(&c[i..i + 2], 16).unwrap_or_else(|e| panic!("colour {colour}: {e}"));
    [byte(0), byte(2), byte(4)]
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 6)
}

/// The value of `name="…"` in `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag.find(&key).unwrap_or_else(|| panic!("no {name} in {tag}")) + key.len();
    &tag[at..at + tag[at..].find('"').unwrap()]
}

/// Every `<rect …>` tag of `svg` holding `marker`.
fn rects<'a>(svg: &'a str, marker: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    svg.split("<rect").skip(1).map(|rest| &rest[..rest.find('>').unwrap()]).filter(move |tag| tag.contains(marker))
}

/// The legend's kind (slug) a report item must be drawn in, for the descs whose kind is
/// beyond doubt; `None` for the rest.
fn expected_kind(item: &Value) -> Option<&'static str> {
    Some(match item["desc"].as_str()? {
        "TABLE DATA" if item["action"] != "part" && item["connections"].as_u64()? <= 1 => "data",
        "TABLE" => "schema",
        "INDEX" => "index",
        "CONSTRAINT" => "constraint",
        "FK CONSTRAINT" => "fk",
        "BLOBS" => "lo",
        _ => return None,
    })
}

#[test]
fn a_parallel_restore_drawn_and_seen_in_a_browser() {
    let Some(chromium) = chromium_or_skip() else { return };
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = "timeline_j2";
    cluster.dropdb(db);
    cluster.createdb(db);
    let dir = tempfile::tempdir().unwrap();
    let (report, page, image) = (dir.path().join("report.json"), dir.path().join("timeline.html"), dir.path().join("timeline.svg"));
    // Each entry committed on its own, so that most items are bars of their own, wide enough
    // to be seen: in commit groups they are slivers and the group's round trip shows on the
    // last of them.
    let out = restore(Tool::Pgsurge, cluster, db, &testdata().join("dumps/pg18/src.custom.gzip.dump"), &["-j", "2", "--no-group-commit", "--report", report.to_str().unwrap()], false);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    cluster.dropdb(db);
    let out = run(&pgsurge(), &s(&["report", report.to_str().unwrap(), "--html", page.to_str().unwrap(), "--svg", image.to_str().unwrap()]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{}{}", out.stdout_text(), out.stderr_text());

    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let items = json["items"].as_array().unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let svg = std::fs::read_to_string(&image).unwrap();
    assert!(svg.contains(&html[html.find("<svg").unwrap()..html.find("</svg>").unwrap()]), "the page holds the same picture as the SVG file");
    // Self-contained: nothing to run, nothing to fetch (the xmlns is a name, not a fetch).
    for banned in ["<script", "href=", "src=", "url(", "@import", "https://"] {
        assert!(!html.contains(banned), "the page has {banned}");
    }
    assert_eq!(html.matches("http://").count(), 1, "only the SVG namespace");

    // Where the picture puts what, as the page itself says.
    let root = &html[html.find("<svg").unwrap()..];
    let root = &root[..root.find('>').unwrap()];
    let plot_x: f64 = attr(root, "data-plot-x").parse().unwrap();
    let plot_width: f64 = attr(root, "data-plot-width").parse().unwrap();
    let px_per_s = plot_width / attr(root, "data-seconds").parse::<f64>().unwrap();
    let number = |tag: &str, name: &str| attr(tag, name).parse::<f64>().unwrap() as usize;
    let lanes: Vec<(u64, usize)> = rects(&html, "class=\"lane\"").map(|r| (attr(r, "data-connection").parse().unwrap(), number(r, "y"))).collect();
    assert_eq!(lanes.iter().map(|l| l.0).collect::<Vec<_>>(), vec![0, 1, 2], "-j 2: the leader and two workers");
    let lane_height = number(rects(&html, "class=\"lane\"").next().unwrap(), "height");
    let lane_of = |connection: u64| lanes.iter().find(|l| l.0 == connection).map(|l| l.1).unwrap_or_else(|| panic!("no lane {connection}"));
    // A bar's top edge, below its lane's: from the path's first bar, which always exists.
    let first_on_path = rects(&html, " path\"").next().expect("a bar on the critical path");
    let inset = number(first_on_path, "y") - lanes.iter().map(|l| l.1).filter(|&y| y <= number(first_on_path, "y")).max().unwrap();
    let colour = |slug: &str| hex(attr(rects(&html, &format!("data-kind=\"{slug}\"")).next().unwrap_or_else(|| panic!("no legend for {slug}")), "fill"));
    let idle = hex(&html[html.find(".lane{fill:").unwrap() + ".lane{fill:".len()..][..7]);

    let shot = screenshot(&chromium, &page, dir.path());
    assert_eq!((shot.width, shot.height), (1400, 900));
    // The stages' dashed lines cross every lane: a column they pass through (anti-aliased,
    // two pixels either side) says nothing about the bar under it.
    let stage_lines: Vec<f64> = html.split("<line class=\"stage\"").skip(1).map(|rest| attr(&rest[..rest.find('>').unwrap()], "x1").parse().unwrap()).collect();
    assert!(!stage_lines.is_empty(), "stages are marked");
    let columns = |from: f64, to: f64| -> Vec<usize> { (from.ceil() as usize..to.floor() as usize).filter(|&x| stage_lines.iter().all(|l| (x as f64 - l).abs() > 2.0)).collect() };
    let row_share = |y: usize, from: f64, to: f64, want: [u8; 3]| {
        let xs = columns(from, to);
        xs.iter().filter(|&&x| near(shot.at(x, y), want)).count() as f64 / xs.len().max(1) as f64
    };
    let x_of = |seconds: f64| plot_x + seconds * px_per_s;

    // Each item of a known kind at least 8 px wide: its bar's middle row, inside the outline
    // a critical one would have, is its kind's colour. Each lane gets its kinds' colours.
    let visible = |item: &Value| {
        let (x0, x1) = (x_of(item["start"].as_f64().unwrap_or_default()), x_of(item["end"].as_f64().unwrap_or_default()));
        x1 - x0 >= 8.0 && columns(x0 + 3.0, x1 - 3.0).len() >= 3
    };
    let mut seen: Vec<(u64, &str)> = Vec::new();
    for item in items {
        let (Some(kind), Some(start), Some(end), Some(connection)) = (expected_kind(item), item["start"].as_f64(), item["end"].as_f64(), item["connection"].as_u64()) else { continue };
        let (x0, x1) = (x_of(start), x_of(end));
        if !visible(item) {
            continue;
        }
        let y = lane_of(connection) + lane_height / 2;
        let share = row_share(y, x0 + 3.0, x1 - 3.0, colour(kind));
        assert!(share > 0.8, "{} on lane {connection}: {:.0} % of its bar is {kind}'s colour", item["name"], share * 100.0);
        if !seen.contains(&(connection, kind)) {
            seen.push((connection, kind));
        }
    }
    // The leader's schema entries commit many at once: most are far narrower than 8 px, drawn
    // merged; its lane still shows schema's colour between its first start and last end.
    let leader_span = items.iter().filter(|i| i["connection"] == 0).filter_map(|i| Some((i["start"].as_f64()?, i["end"].as_f64()?))).fold((f64::MAX, 0f64), |(a, b), (s, e)| (a.min(s), b.max(e)));
    let leader_schema = row_share(lane_of(0) + lane_height / 2, x_of(leader_span.0).floor(), x_of(leader_span.1).ceil() + 1.0, colour("schema"));
    assert!(seen.contains(&(0, "schema")) || leader_schema > 0.0, "the leader's lane shows schema: {seen:?}");
    for worker in [1, 2] {
        if items.iter().any(|i| i["connection"] == worker && i["desc"] == "TABLE DATA" && visible(i)) {
            assert!(seen.contains(&(worker, "data")), "worker {worker} loaded table data: {seen:?}");
        }
    }
    assert!(seen.iter().any(|&(c, k)| c > 0 && k == "data"), "a worker's lane shows table data: {seen:?}");
    assert!(seen.len() >= 4, "{seen:?}");

    // Idle time is empty lane: each worker before its first entry.
    for worker in [1u64, 2] {
        let first = items.iter().filter(|i| i["connection"] == worker).filter_map(|i| i["start"].as_f64()).fold(f64::MAX, f64::min);
        if x_of(first) - plot_x >= 12.0 {
            let share = row_share(lane_of(worker) + lane_height / 2, plot_x + 2.0, x_of(first) - 2.0, idle);
            assert!(share > 0.9, "worker {worker} idle until {first} s: {:.0} % idle colour", share * 100.0);
        }
    }
    // No drop in this restore, and no table loaded in parts: neither colour on any lane.
    for (connection, y) in &lanes {
        for kind in ["drop", "split"] {
            assert_eq!(row_share(y + lane_height / 2, plot_x, plot_x + plot_width, colour(kind)), 0.0, "{kind} on lane {connection}");
        }
    }

    // The critical path ends with the last entry to finish: its bar's top edge is outlined in
    // black; an entry on another lane that overlaps its start cannot be on the path, and its
    // top edge keeps its colour.
    let end = |i: &Value| i["end"].as_f64().unwrap_or_default();
    let last = items.iter().max_by(|a, b| end(a).total_cmp(&end(b))).unwrap();
    let (l0, l1) = (x_of(last["start"].as_f64().unwrap()), x_of(end(last)));
    let top = lane_of(last["connection"].as_u64().unwrap()) + inset;
    assert!(row_share(top, l0 + 1.0, l1 - 1.0, [0, 0, 0]) > 0.8 || l1 - l0 < 4.0, "{} is outlined", last["name"]);
    let black_on_top = lanes.iter().map(|(_, y)| row_share(y + inset, plot_x, plot_x + plot_width, [0, 0, 0])).sum::<f64>();
    assert!(black_on_top > 0.0, "some outline is drawn");
    let off_path = items.iter().find(|i| {
        i["connection"] != last["connection"] && expected_kind(i).is_some() && i["start"].as_f64() < last["start"].as_f64() && end(i) > last["start"].as_f64().unwrap_or_default() + 0.001 && x_of(end(i)) - x_of(i["start"].as_f64().unwrap()) >= 8.0
    });
    if let Some(item) = off_path {
        let (x0, x1) = (x_of(item["start"].as_f64().unwrap()), x_of(end(item)));
        let y = lane_of(item["connection"].as_u64().unwrap()) + inset;
        assert!(row_share(y, x0 + 3.0, x1 - 3.0, colour(expected_kind(item).unwrap())) > 0.8, "{} is not outlined", item["name"]);
    }
}

/// What cannot be drawn is said in one line, status 1, and nothing is written.
#[test]
fn bad_reports_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("out.html");
    let page_arg = page.to_str().unwrap().to_owned();
    let good = serde_json::json!({"archive": {"path": "a.dump"}, "target": {"host": "h", "port": 5432, "database": "d"}, "jobs": 1, "wall_seconds": 1.0, "stages": null,
        "items": [{"dump_id": 1, "action": "restore", "desc": "TABLE", "name": "TABLE t", "connection": 0, "connections": 1, "start": 0.1, "end": 0.2, "rows": 0, "bytes": 0, "outcome": "ok", "errors": 0}]});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut report = good.clone();
        f(&mut report);
        report.to_string()
    };
    let cases: [(&str, String, &str); 5] = [
        ("garbage.json", "PGDMP garbage".into(), "not JSON: expected value at line 1 column 1"),
        ("empty.json", String::new(), "not JSON: EOF while parsing a value at line 1 column 0"),
        ("nostart.json", with(&|r| drop(r["items"][0].as_object_mut().map(|i| i.remove("start")))), "not a pgsurge report: item 0: missing field `start`"),
        ("negative.json", with(&|r| r["items"][0]["start"] = (-0.1).into()), "not a report that can be drawn: item 0 (TABLE t): start is -0.1 s"),
        ("backwards.json", with(&|r| r["items"][0]["end"] = 0.05.into()), "not a report that can be drawn: item 0 (TABLE t): ends at 0.05 s, before it starts at 0.1 s"),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(&pgsurge(), &s(&["report", path.to_str().unwrap(), "--html", &page_arg]), None);
        let err = out.stderr_text();
        assert_eq!(out.status, 1, "{name}: {err}");
        assert!(err.starts_with(&format!("pgsurge: error: report \"{}\": {want}", path.display())), "{name}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(!page.exists(), "{name}: a page was written");
    }
    let out = run(&pgsurge(), &s(&["report", "/nonexistent/r.json", "--html", &page_arg]), None);
    assert_eq!((out.status, out.stderr_text()), (1, "pgsurge: error: could not read report \"/nonexistent/r.json\": No such file or directory\n".to_owned()));
    let out = run(&pgsurge(), &s(&["report", dir.path().to_str().unwrap(), "--svg", &page_arg]), None);
    assert_eq!(out.status, 1);
    assert!(out.stderr_text().ends_with(": Is a directory\n"), "{}", out.stderr_text());
    // Nothing asked for is a usage error; the good report draws to standard output.
    let good_path = dir.path().join("good.json");
    std::fs::write(&good_path, good.to_string()).unwrap();
    let out = run(&pgsurge(), &s(&["report", good_path.to_str().unwrap()]), None);
    assert_eq!(out.status, 2, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("--html <FILE>"), "{}", out.stderr_text());
    let out = run(&pgsurge(), &s(&["report", good_path.to_str().unwrap(), "--svg", "-"]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(out.stdout_text().starts_with("<?xml") && out.stdout_text().contains("TABLE t"));
    let out = run(&pgsurge(), &s(&["report", good_path.to_str().unwrap(), "--svg", "-", "--html", "-"]), None);
    assert_eq!((out.status, out.stderr_text()), (1, "pgsurge: error: --html and --svg cannot both write to standard output\n".to_owned()));
}
