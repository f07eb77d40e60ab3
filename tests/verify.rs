//! `pgsurge verify` on sound and damaged archives, in every format, from files and stdin.

use crate::harness::{pgsurge, run, testdata};

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn all_archives() -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for major in std::fs::read_dir(testdata().join("dumps")).unwrap().flatten() {
        for f in std::fs::read_dir(major.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".sql") {
                v.push(f.path());
            }
        }
    }
    v.sort();
    v
}

#[test]
fn every_fixture_is_sound_in_text_and_json() {
    let archives = all_archives();
    assert!(archives.len() >= 30, "expected fixtures of 5 majors in every format, found {}", archives.len());
    for a in archives {
        let out = run(&pgsurge(), &s(&["verify", a.to_str().unwrap()]), None);
        assert_eq!(out.status, 0, "{}: {}", a.display(), out.stderr_text());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("archive is sound"), "{}: {text}", a.display());
        let out = run(&pgsurge(), &s(&["verify", "--json", a.to_str().unwrap()]), None);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["sound"], true);
        let holds = doc["total"]["rows"].as_u64().unwrap() + doc["total"]["large_objects"].as_u64().unwrap();
        assert!(holds > 0, "{}: no rows and no large objects found", a.display());
    }
}

#[test]
fn stdin_gives_the_same_counts_as_the_file() {
    for name in ["src.custom.gzip.dump", "src.custom.pipe.dump", "src.tar"] {
        let a = testdata().join("dumps/pg18").join(name);
        let file = run(&pgsurge(), &s(&["verify", "--json", a.to_str().unwrap()]), None);
        let piped = run(&pgsurge(), &s(&["verify", "--json", "-"]), Some(&a));
        let f: serde_json::Value = serde_json::from_slice(&file.stdout).unwrap();
        let p: serde_json::Value = serde_json::from_slice(&piped.stdout).unwrap();
        assert_eq!(f["total"], p["total"], "{name}");
        assert_eq!(f["entries"], p["entries"], "{name}");
    }
}

#[test]
fn damaged_archive_names_entry_and_offset_and_still_reports_the_rest() {
    let src = testdata().join("dumps/pg18/src.custom.gzip.dump");
    let sound = run(&pgsurge(), &s(&["verify", "--json", src.to_str().unwrap()]), None);
    let sound: serde_json::Value = serde_json::from_slice(&sound.stdout).unwrap();
    let entries = sound["entries"].as_array().unwrap();
    // Flip a byte in the middle of the biggest table's compressed data.
    let biggest = entries.iter().filter(|e| e["kind"] == "copy").max_by_key(|e| e["bytes"].as_u64().unwrap()).unwrap();
    let mut bytes = std::fs::read(&src).unwrap();
    let listing = run(&pgsurge(), &s(&["list", "-v", src.to_str().unwrap()]), None);
    assert_eq!(listing.status, 0);
    let offset = find_data_offset(&bytes, biggest["dump_id"].as_i64().unwrap() as i32);
    bytes[offset + 40] ^= 0x5a;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.dump");
    std::fs::write(&bad, &bytes).unwrap();
    let out = run(&pgsurge(), &s(&["verify", "--json", bad.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sound"], false);
    let damaged: Vec<_> = doc["entries"].as_array().unwrap().iter().filter(|e| e["ok"] == false).collect();
    assert_eq!(damaged.len(), 1);
    assert_eq!(damaged[0]["dump_id"], biggest["dump_id"]);
    let err = out.stderr_text();
    assert!(err.contains(&format!("entry {} (TABLE DATA", biggest["dump_id"])), "{err}");
    assert!(err.contains("byte"), "{err}");
    let ok_entries = doc["entries"].as_array().unwrap().iter().filter(|e| e["ok"] == true).count();
    assert_eq!(ok_entries, entries.len() - 1, "the sound entries are still reported");
}

/// Finds the block header of `dump_id` (type byte 1, then the Int id) in a custom archive.
fn find_data_offset(bytes: &[u8], dump_id: i32) -> usize {
    let mut needle = vec![1u8, 0];
    needle.extend_from_slice(&dump_id.to_le_bytes());
    bytes.windows(needle.len()).rposition(|w| w == needle.as_slice()).expect("block header present")
}

#[test]
fn truncated_directory_file_and_missing_file() {
    let src = testdata().join("dumps/pg16/src.dir.lz4");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("d");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let victim = std::fs::read_dir(&copy).unwrap().flatten().map(|f| f.path()).filter(|p| p.to_string_lossy().ends_with(".dat.lz4") && !p.file_name().unwrap().to_string_lossy().starts_with("blob_")).max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let out = run(&pgsurge(), &s(&["verify", copy.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let err = out.stderr_text();
    let id = victim.file_name().unwrap().to_string_lossy().split('.').next().unwrap().to_owned();
    assert!(err.contains(&format!("entry {id} (TABLE DATA")) && err.contains("could not open"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 damaged entries"));
}
