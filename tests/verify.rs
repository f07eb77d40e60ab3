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

// Accounting for every byte: what the TOC's entries alone never show.

/// Where a custom archive's TOC starts: just past the header (pg_backup_archiver.c `ReadHead`).
fn toc_start(bytes: &[u8]) -> usize {
    let int_size = usize::from(bytes[8]);
    let int = |at: usize| -> (i64, usize) {
        let magnitude = (0..int_size).fold(0i64, |v, i| v | i64::from(bytes[at + 1 + i]) << (8 * i));
        (if bytes[at] != 0 { -magnitude } else { magnitude }, at + 1 + int_size)
    };
    // Magic, version, sizes and format; then the compression byte (1.15+) or Int level.
    let mut at = if (bytes[5], bytes[6]) >= (1, 15) { 12 } else { int(11).1 };
    for _ in 0..7 {
        at = int(at).1;
    }
    for _ in 0..3 {
        let (len, next) = int(at);
        at = next + usize::try_from(len).unwrap_or(0);
    }
    at
}

/// A data block of one chunk, as pg_dump frames it.
fn block(dump_id: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1u8, 0];
    out.extend_from_slice(&dump_id.to_le_bytes());
    out.push(0);
    out.extend_from_slice(&(payload.len() as i32).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&[0; 5]);
    out
}

/// `verify --json` of `bytes` written to a file, and of the same bytes through a pipe.
fn verify_both(bytes: &[u8]) -> [(i32, serde_json::Value, String); 2] {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.dump");
    std::fs::write(&path, bytes).unwrap();
    let file = run(&pgsurge(), &s(&["verify", "--json", path.to_str().unwrap()]), None);
    let piped = run(&pgsurge(), &s(&["verify", "--json", "-"]), Some(&path));
    [file, piped].map(|out| (out.status, serde_json::from_slice(&out.stdout).unwrap(), out.stderr_text()))
}

/// The `message`s of a report's layout damage.
fn damage(doc: &serde_json::Value) -> Vec<String> {
    doc["layout"]["damage"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap().to_owned()).collect()
}

/// A fixture's bytes and, from its sound report, where its data blocks start.
fn fixture(name: &str) -> (Vec<u8>, u64) {
    let path = testdata().join("dumps/pg18").join(name);
    let out = run(&pgsurge(), &s(&["verify", "--json", path.to_str().unwrap()]), None);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (std::fs::read(&path).unwrap(), doc["layout"]["data_start"].as_u64().unwrap())
}

#[test]
fn zeroed_toc_count_is_damage_and_its_blocks_are_found() {
    // What a zeroed disk block does to the start of a TOC: pg_restore -l lists nothing and
    // says nothing.
    let (mut bytes, data_start) = fixture("src.custom.gzip.dump");
    let toc = toc_start(&bytes);
    bytes[toc..toc + 512].fill(0);
    let [(status, doc, err), (piped_status, piped, piped_err)] = verify_both(&bytes);
    assert_eq!(status, 1, "{err}");
    assert_eq!(doc["toc_entries"], 0);
    assert_eq!(doc["sound"], false);
    let after_count = toc as u64 + 5;
    let gap = data_start - after_count;
    assert_eq!(
        damage(&doc),
        [
            format!("at byte {after_count}: the {gap} bytes between the end of the TOC and the first data block (at byte {data_start}) belong to neither: unrecognized data block type (0) while searching archive"),
            format!("at byte {data_start}: 19 data blocks (dump ids 2778 to 2802, {} bytes) that no TOC entry claims", bytes.len() as u64 - data_start),
        ]
    );
    assert_eq!(doc["layout"]["damage"][1]["offset"], data_start);
    assert!(err.contains("19 data blocks"), "{err}");
    // A pipe cannot go back to look for where blocks resume: everything after the TOC is
    // one finding.
    assert_eq!(piped_status, 1, "{piped_err}");
    assert_eq!(damage(&piped), [format!("at byte {after_count}: the last {} bytes of the archive are not readable data blocks: unrecognized data block type (0) while searching archive", bytes.len() as u64 - after_count)]);
}

#[test]
fn toc_ending_before_the_offsets_it_names_is_damage() {
    // A count of 5: the TOC's data entries are gone, and the TOC now ends well before the
    // first block.
    let (mut bytes, data_start) = fixture("src.custom.gzip.dump");
    let toc = toc_start(&bytes);
    bytes[toc + 1..toc + 5].copy_from_slice(&5u32.to_le_bytes());
    let [(status, doc, err), _] = verify_both(&bytes);
    assert_eq!(status, 1, "{err}");
    let found = damage(&doc);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains(&format!("between the end of the TOC and the first data block (at byte {data_start}) belong to neither")), "{found:?}");
    assert!(found[1].starts_with(&format!("at byte {data_start}: 19 data blocks")), "{found:?}");
}

#[test]
fn unclaimed_block_is_damage_with_and_without_offsets() {
    let (mut bytes, _) = fixture("src.custom.gzip.dump");
    let end = bytes.len();
    bytes.extend(block(99999, b"1\n\\.\n\n\n"));
    for (status, doc, err) in verify_both(&bytes) {
        assert_eq!(status, 1, "{err}");
        assert_eq!(damage(&doc), [format!("at byte {end}: a data block of dump id 99999 (23 bytes) that no TOC entry claims")]);
        assert_eq!(doc["total"]["errors"], 0, "every entry still reads");
        assert_eq!(doc["total"]["layout_problems"], 1);
    }
    // Written to a pipe, the TOC has no offsets: blocks are claimed by id, in file order.
    let (mut bytes, data_start) = fixture("src.custom.pipe.dump");
    let at = data_start as usize;
    bytes.splice(at..at, block(99998, b"x").into_iter().chain(block(99999, b"y")));
    for (status, doc, err) in verify_both(&bytes) {
        assert_eq!(status, 1, "{err}");
        assert_eq!(damage(&doc), [format!("at byte {at}: 2 data blocks (dump ids 99998 to 99999, 34 bytes) that no TOC entry claims")]);
    }
}

#[test]
fn bytes_after_the_last_block_are_damage() {
    for name in ["src.custom.gzip.dump", "src.custom.pipe.dump"] {
        let (mut bytes, _) = fixture(name);
        let end = bytes.len();
        bytes.extend_from_slice(b"\0trailing garbage");
        for (status, doc, err) in verify_both(&bytes) {
            assert_eq!(status, 1, "{name}: {err}");
            assert_eq!(damage(&doc), [format!("at byte {end}: 17 bytes follow the last data block, where pg_dump ends the archive")], "{name}");
            assert!(err.contains("17 bytes follow the last data block"), "{err}");
        }
    }
    // pg_dump 16+ writing to redirected stdout ends the archive with a TOC copy: sound, but
    // not with anything after it.
    let (mut bytes, _) = fixture("src.custom.redirect.dump");
    for (status, doc, err) in verify_both(&bytes) {
        assert_eq!(status, 0, "{err}");
        assert!(doc["layout"]["toc_copy"].as_u64().is_some(), "{doc}");
    }
    bytes.push(b'!');
    for (status, doc, _) in verify_both(&bytes) {
        assert_eq!(status, 1);
        assert!(doc["layout"]["toc_copy"].is_null());
        assert!(damage(&doc)[0].contains("bytes follow the last data block"), "{doc}");
    }
}

/// The TOC's set data offsets, in TOC order: where each field is (its flag byte 2 followed
/// by 8 bytes) and the block offset it holds — a field is recognised by pointing at a block.
fn offset_fields(bytes: &[u8], data_start: u64) -> Vec<(usize, u64)> {
    let toc_end = data_start as usize;
    (0..toc_end - 9)
        .filter(|&at| bytes[at] == 2)
        .map(|at| (at, u64::from_le_bytes(bytes[at + 1..at + 9].try_into().unwrap())))
        .filter(|&(_, offset)| offset >= data_start && (offset as usize) < bytes.len() && matches!(bytes[offset as usize], 1 | 3))
        .collect()
}

#[test]
fn data_offsets_inside_the_toc_or_shared_are_damage() {
    let (bytes, data_start) = fixture("src.custom.gzip.dump");
    let fields = offset_fields(&bytes, data_start);
    assert_eq!(fields.len(), 19);
    let (first, first_offset) = fields[0];
    assert_eq!(first_offset, data_start);
    let mut inside = bytes.clone();
    inside[first + 1..first + 9].copy_from_slice(&100u64.to_le_bytes());
    let [(status, doc, err), _] = verify_both(&inside);
    assert_eq!(status, 1, "{err}");
    let found = damage(&doc);
    assert!(
        found.iter().any(|d| d.ends_with(&format!("at byte 100: the entry's data offset points here, inside the header and TOC (which end at byte {data_start})"))),
        "{found:?}"
    );
    assert!(found.iter().any(|d| d.ends_with(&format!("at byte {data_start}: a data block of this entry, which reads its data from byte 100 instead"))), "{found:?}");
    // The second entry's offset made the first one's.
    let (second, _) = fields[1];
    let mut shared = bytes.clone();
    shared[second + 1..second + 9].copy_from_slice(&data_start.to_le_bytes());
    let [(status, doc, _), _] = verify_both(&shared);
    assert_eq!(status, 1);
    assert!(damage(&doc).iter().any(|d| d.contains(&format!("at byte {data_start}: the entry's data offset points here, as entry"))), "{doc}");
}

#[test]
fn directory_and_tar_account_for_files_and_members() {
    let src = testdata().join("dumps/pg18/src.dir.gzip");
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("d");
    std::fs::create_dir(&copy).unwrap();
    for f in std::fs::read_dir(&src).unwrap().flatten() {
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    // A file pg_dump never writes is someone else's: a warning, still sound.
    std::fs::write(copy.join("SHA256SUMS"), b"x\n").unwrap();
    let out = run(&pgsurge(), &s(&["verify", copy.to_str().unwrap()]), None);
    assert_eq!(out.status, 0, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("SHA256SUMS`: no TOC entry names this file; pg_restore ignores it"), "{}", out.stderr_text());
    // A data file no entry names is data that would not be restored.
    std::fs::copy(copy.join("2778.dat.gz"), copy.join("9999.dat.gz")).unwrap();
    let out = run(&pgsurge(), &s(&["verify", "--json", copy.to_str().unwrap()]), None);
    assert_eq!(out.status, 1);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["layout"]["warnings"].as_array().unwrap().len(), 1);
    assert!(damage(&doc)[0].contains("9999.dat.gz`: named as pg_dump names an entry's data, but no TOC entry names this file"), "{doc}");

    // A tar archive without its end-of-archive blocks was cut.
    let tar = std::fs::read(testdata().join("dumps/pg18/src.tar")).unwrap();
    let cut = &tar[..tar.len() - 1024];
    let path = tmp.path().join("cut.tar");
    std::fs::write(&path, cut).unwrap();
    for stdin in [None, Some(path.as_path())] {
        let arg = if stdin.is_some() { "-" } else { path.to_str().unwrap() };
        let out = run(&pgsurge(), &s(&["verify", arg]), stdin);
        assert_eq!(out.status, 1);
        assert!(out.stderr_text().contains(&format!("at byte {}: the tar archive ends without its end-of-archive blocks (0 of 1024 zero bytes)", cut.len())), "{}", out.stderr_text());
    }
}

/// Plain scripts of the same database as the archives, verified as scripts: sound, plain and
/// gzip'd, with the rows its custom archive holds; cut short or carrying a shell
/// meta-command, damaged, by line.
#[test]
fn plain_scripts_are_verified_by_line() {
    let dir = tempfile::tempdir().unwrap();
    // pg_dump 18's own plain dump, and pg_restore 18's script of pg_dump 14's archive.
    let pg14 = dir.path().join("pg14.sql");
    let golden = testdata().join("golden/pg14_src.custom.gzip.dump__-f_-.stdout.gz");
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(std::fs::File::open(&golden).unwrap()), &mut text).unwrap();
    std::fs::write(&pg14, text).unwrap();
    for (major, sql) in [("pg18", testdata().join("dumps/pg18/src.sql")), ("pg14", pg14)] {
        let archive = testdata().join("dumps").join(major).join("src.custom.gzip.dump");
        let rows = |out: &crate::harness::Outcome, key: &str| -> u64 {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{major}: {e}: {}", out.stderr_text()));
            doc[key]["rows"].as_u64().unwrap_or_else(|| panic!("{major}: {doc}"))
        };
        let want = rows(&run(&pgsurge(), &s(&["verify", "--json", archive.to_str().unwrap()]), None), "total");

        let out = run(&pgsurge(), &s(&["verify", sql.to_str().unwrap()]), None);
        assert_eq!(out.status, 0, "{major}: {}", out.stderr_text());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("script: plain SQL written by pg_dump, compression none") && text.contains("script is sound"), "{major}: {text}");

        let bytes = std::fs::read(&sql).unwrap();
        let gz = dir.path().join(format!("{major}.backup.sql.gz"));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let out = run(&pgsurge(), &s(&["verify", "--json", gz.to_str().unwrap()]), None);
        assert_eq!(out.status, 0, "{major}: {}", out.stderr_text());
        assert_eq!(rows(&out, "totals"), want, "{major}: the script's rows are the archive's");

        // Cut inside the first COPY block's rows: that block is damaged, at the end's line.
        let at = bytes.windows(12).position(|w| w == b" FROM stdin;").unwrap() + 20;
        let cut = dir.path().join(format!("{major}.cut.sql"));
        std::fs::write(&cut, &bytes[..at]).unwrap();
        let out = run(&pgsurge(), &s(&["verify", cut.to_str().unwrap()]), None);
        assert_eq!(out.status, 1);
        assert!(out.stderr_text().contains("no \\. after them): it was cut short"), "{major}: {}", out.stderr_text());

        // A shell command where a statement should be: refused, by line, nothing run.
        let lines = bytes.split(|&b| b == b'\n').count();
        let hostile = dir.path().join(format!("{major}.hostile.sql"));
        let mut with = bytes.clone();
        with.extend_from_slice(b"\\! touch /tmp/pgsurge-must-not-exist\n");
        std::fs::write(&hostile, &with).unwrap();
        let out = run(&pgsurge(), &s(&["verify", hostile.to_str().unwrap()]), None);
        assert_eq!(out.status, 1);
        assert!(out.stderr_text().contains(&format!("line {lines}: psql meta-command \\! is not allowed")), "{major}: {}", out.stderr_text());
        assert!(!std::path::Path::new("/tmp/pgsurge-must-not-exist").exists());
    }
}
