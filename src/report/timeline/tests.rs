//! The timeline end to end on hand-built reports: what a page holds, what input is refused
//! and how, and how small a page of many thousands of entries stays.

use serde::de::Deserializer as _;
use serde_json::{json, Value};

use super::*;

fn item(connection: u64, desc: &str, name: &str, start: f64, end: f64) -> Value {
    json!({"dump_id": (start * 1e6) as i64, "action": "restore", "desc": desc, "name": name, "connection": connection,
           "connections": 1, "start": start, "end": end, "rows": 0, "bytes": 0, "outcome": "ok", "errors": 0})
}

fn report(items: Vec<Value>) -> Value {
    json!({
        "archive": {"path": "/backups/shop.dump", "database": "shop"},
        "target": {"host": "/tmp", "port": 5432, "database": "shop_copy", "user": "me"},
        "jobs": 2,
        "wall_seconds": 10.0,
        "completed": true,
        "stages": [{"stage": "schema", "start": 0.5, "seconds": 3.0}, {"stage": "data+post", "start": 3.5, "seconds": 6.0}, {"stage": "finish", "start": 9.5, "seconds": 0.4}],
        "totals": {},
        "items": items,
    })
}

fn small() -> Value {
    report(vec![
        item(0, "TABLE", "TABLE public.a <&>", 0.5, 1.5),
        item(0, "TABLE", "TABLE public.b", 1.5, 3.5),
        item(1, "TABLE DATA", "TABLE DATA public.a", 1.5, 6.0),
        item(2, "TABLE DATA", "TABLE DATA public.b", 3.5, 9.0),
        item(1, "INDEX", "INDEX public.a_i", 6.0, 7.0),
        item(0, "ANALYZE", "ANALYZE public.b", 9.5, 9.9),
    ])
}

fn draw(report: &Value) -> Result<Timeline, Error> {
    Timeline::from_json(report.to_string().as_bytes())
}

fn error(report: &[u8]) -> String {
    match Timeline::from_json(report) {
        Ok(_) => panic!("accepted: {}", String::from_utf8_lossy(report)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_small_report_becomes_lanes_bars_and_a_path() {
    let t = draw(&small()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.lanes, vec![0, 1, 2]);
    assert_eq!(t.path, vec![0, 1, 3, 5], "a, b, b's data, the analyze after it");
    let html = t.html();
    for lane in 0..3 {
        assert!(html.contains(&format!("data-connection=\"{lane}\"")), "lane {lane}");
    }
    assert_eq!(html.matches("<rect class=\"k-").count(), 6 + Kind::COUNT, "a bar per item and a swatch per kind");
    assert_eq!(html.matches(" path\"").count(), 4, "the path's bars");
    assert_eq!(html.matches("<rect class=\"cp\"").count(), 3, "outlined: the leader's two tables in one box, b's data, the analyze");
    assert!(html.contains("TABLE public.a &lt;&amp;&gt;\nTABLE (schema)\n1.00 s, 0.5000–1.5000 s\n0 rows"), "{html}");
    assert!(html.contains("class=\"k-analyze path\""));
    for kind in ["migrations (0)", "analyze (1)", "table data (2)", "idle", "critical path"] {
        assert!(html.contains(kind), "legend lacks {kind}");
    }
    assert_eq!(html.matches("class=\"stage\"").count(), 3);
    assert!(html.contains(">data+post 6.00 s</text>"));
    assert!(html.contains("Restore of /backups/shop.dump into database shop_copy"));
    assert!(!html.contains("<script") && !html.contains("href=") && !html.contains("src="), "nothing runs, nothing is fetched");
    let svg = t.svg();
    assert!(svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
}

#[test]
fn stages_without_starts_end_at_the_wall_time() {
    let mut r = small();
    r["stages"] = json!([{"stage": "schema", "seconds": 3.0}, {"stage": "data+post", "seconds": 6.0}]);
    let t = draw(&r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.stages, vec![("schema".to_owned(), 1.0, 3.0), ("data+post".to_owned(), 4.0, 6.0)]);
    r["stages"] = Value::Null;
    r["completed"] = json!(false);
    let t = draw(&r).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.stages.is_empty());
    assert!(t.html().contains("stopped before the end"));
}

#[test]
fn a_restore_of_nothing_still_draws() {
    let mut r = report(vec![]);
    r["wall_seconds"] = json!(0.0);
    r["jobs"] = json!(1);
    let t = draw(&r).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.lanes.is_empty() && t.bars.is_empty());
    assert!(t.html().contains("critical path: no entries"));
}

#[test]
fn bad_input_is_named_in_one_line() {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut r = small();
        f(&mut r);
        error(r.to_string().as_bytes())
    };
    let cases: Vec<(String, &str)> = vec![
        (error(b"PGDMP\x01\x10"), "not JSON: expected value at line 1 column 1"),
        (error(b"{\"items\": ["), "not JSON: EOF while parsing a list at line 1 column 11"),
        (error(b"[]"), "not a pgsurge report: invalid length 0, expected struct Report"),
        (error(b"17"), "not a pgsurge report: invalid type: integer `17`, expected struct Report at line 1 column 2"),
        (error(&[0xff, b'{']), "not JSON: expected value at line 1 column 1"),
        (with(&|r| drop(r.as_object_mut().map(|o| o.remove("items")))), "not a pgsurge report: missing field `items`"),
        (with(&|r| drop(r["items"][1].as_object_mut().map(|o| o.remove("start")))), "not a pgsurge report: item 1: missing field `start` at line 1 column "),
        (with(&|r| r["items"][0]["start"] = json!("soon")), "not a pgsurge report: item 0: invalid type: string \"soon\", expected f64 at line 1 column "),
        (with(&|r| r["items"][2]["connection"] = json!(-1)), "not a pgsurge report: item 2: invalid value: integer `-1`, expected u64"),
        (with(&|r| r["items"][0]["action"] = json!("explode")), "not a pgsurge report: item 0: unknown variant `explode`, expected one of `restore`, `drop`, `analyze`"),
        (with(&|r| r["items"] = json!({"0": 1})), "not a pgsurge report: invalid type: map, expected an array of items"),
        (with(&|r| r["items"][0]["start"] = json!(-1.0)), "not a report that can be drawn: item 0 (TABLE public.a <&>): start is -1 s, not a time from 0 to 10000000 s"),
        (with(&|r| r["items"][3]["end"] = json!(1.0)), "not a report that can be drawn: item 3 (TABLE DATA public.b): ends at 1 s, before it starts at 3.5 s"),
        (with(&|r| r["wall_seconds"] = json!(1e300)), "not a report that can be drawn: wall_seconds is 1e300 s"),
        (with(&|r| r["stages"][1]["start"] = json!(-0.5)), "not a report that can be drawn: stage 1 (data+post): start is -0.5 s"),
        (with(&|r| r["jobs"] = json!(1_000_000_000_000u64)), "not a report that can be drawn: more than 512 connections to draw (jobs is 1000000000000)"),
        (with(&|r| r["target"]["port"] = json!(70000)), "not a pgsurge report: invalid value: integer `70000`, expected u16"),
    ];
    for (got, want) in cases {
        assert!(got.starts_with(want), "got:  {got}\nwant: {want}…");
        assert!(!got.contains('\n'), "one line: {got}");
    }
    // A number no f64 holds is no time either (JSON has no NaN to send).
    assert!(error(small().to_string().replace("9.9", "9e999").as_bytes()).starts_with("not JSON: number out of range"));
    // As many connections as items, each its own lane, past the limit.
    let many: Vec<Value> = (0..600).map(|c| item(c, "TABLE", "t", 0.0, 1.0)).collect();
    assert!(error(report(many).to_string().as_bytes()).contains("more than 512 connections"));
}

/// The count is refused while the array is read: one element past the limit, whatever its
/// shape, is an error, and never parsed into an item.
#[test]
fn items_are_bounded_as_they_are_read() {
    let items = json!([item(0, "TABLE", "a", 0.0, 1.0), item(0, "TABLE", "b", 1.0, 2.0)]).to_string();
    let read = |limit: usize, text: &str| serde_json::Deserializer::from_str(text).deserialize_seq(input::Items { limit }).map(|v| v.len()).map_err(|e| e.to_string());
    assert_eq!(read(2, &items), Ok(2));
    assert!(read(1, &items).is_err_and(|e| e.starts_with("more than 1 items")));
    assert!(read(2, &items.replace("]]", "], {\"not\": \"an item\"}]").replacen("}]", "}, 7]", 1)).is_err_and(|e| e.starts_with("more than 2 items")), "{:?}", read(2, &items.replacen("}]", "}, 7]", 1)));
}

/// 18 000 schema entries on the leader and 6 000 alternating tiny post-data entries on each
/// of four workers: a page of a few hundred kilobytes, every entry in some bar.
#[test]
fn thousands_of_entries_make_a_small_page() {
    let mut items = Vec::new();
    for n in 0..18_000 {
        let t = n as f64 * 0.000_1;
        items.push(item(0, if n % 3 == 0 { "COMMENT" } else { "TABLE" }, &format!("TABLE public.t{n}"), t, t + 0.000_09));
    }
    for worker in 1..=4 {
        for n in 0..6_000 {
            let t = 1.8 + n as f64 * 0.000_05;
            items.push(item(worker, ["INDEX", "CONSTRAINT", "FK CONSTRAINT"][n % 3], &format!("INDEX public.i{worker}_{n}"), t, t + 0.000_04));
        }
    }
    let mut r = report(items);
    r["jobs"] = json!(4);
    r["wall_seconds"] = json!(2.2);
    let t = draw(&r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.bars.iter().map(|b| b.count).sum::<usize>(), 42_000);
    assert!(t.bars.len() < 2_000, "{} bars", t.bars.len());
    assert_eq!(t.bars.iter().filter(|b| b.lane == 0).count(), 1, "the leader's schema is one bar");
    let html = t.html();
    assert!(html.len() < 600_000, "{} bytes", html.len());
    assert!(html.contains("18000 items, each too short to draw: 18000 schema"), "{}", &html[..3000]);
}

#[test]
fn a_helpers_part_is_drawn_on_its_lane_and_counted_once() {
    let mut part = item(2, "TABLE DATA", "TABLE DATA public.a", 2.0, 5.5);
    part["action"] = json!("part");
    let mut items = small().get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    // public.a's data, loaded by connection 1 with connection 2's help.
    items[2]["connections"] = json!(2);
    part["dump_id"] = items[2]["dump_id"].clone();
    items.push(part);
    let t = draw(&report(items)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.kinds[2], Kind::SplitPart);
    assert_eq!(t.kinds[6], Kind::SplitPart, "the part is drawn as table data in parts");
    let svg = t.svg();
    assert!(svg.contains("this connection&#39;s part") || svg.contains("this connection's part"), "the part's hover text says what it is");
    let legend = format!("{} (1)", Kind::SplitPart.label());
    assert!(svg.contains(&legend), "the table counts once in the legend, not once per part: {}", &svg[svg.len().saturating_sub(3000)..]);
}
