//! The reader over real scripts: pg_restore 18's SQL output for every fixture archive (pg_dump
//! 14–18, each with functions, dollar quotes, comments, large objects and `COPY` data, in
//! `testdata/golden`). Each must read to its end without an error, with its `\restrict` and
//! `\unrestrict`, and its `COPY` blocks must be exactly those a plain line scan finds — the
//! same statements, the same rows — so no row was read as SQL and no statement as a row.

use std::io::Read;
use std::path::PathBuf;

use pgsurge_script::{CopySource, Item, Meta, ScriptReader};

fn goldens() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("__-f_-.stdout.gz"))
        .collect();
    out.sort();
    out
}

/// Each `COPY … FROM stdin;` line of a pg_dump script and its rows, found line by line the
/// way pg_dump writes them.
fn copy_blocks_by_lines(script: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut current: Option<(String, Vec<u8>)> = None;
    for line in script.split_inclusive(|&b| b == b'\n') {
        match current.as_mut() {
            Some(_) if line == b"\\.\n" => out.extend(current.take()),
            Some((_, rows)) => rows.extend_from_slice(line),
            None if line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;\n") => {
                current = Some((String::from_utf8_lossy(&line[..line.len() - 1]).into_owned(), Vec::new()));
            }
            None => {}
        }
    }
    out
}

#[test]
fn every_fixture_script_reads_as_pg_dump_wrote_it() {
    let files = goldens();
    assert!(files.len() >= 20, "only {} golden scripts", files.len());
    for path in files {
        let mut script = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("golden")).read_to_end(&mut script).expect("gunzip");
        let mut reader = ScriptReader::new(script.as_slice());
        let mut blocks: Vec<(String, Vec<u8>)> = Vec::new();
        let mut metas = Vec::new();
        let mut statements = 0;
        loop {
            match reader.next_item() {
                Ok(None) => break,
                Ok(Some(Item::Statement { text, copy, terminated, .. })) => {
                    assert!(terminated, "{}: a statement without its ;", path.display());
                    statements += 1;
                    if copy == Some(CopySource::Stdin) {
                        blocks.push((String::from_utf8_lossy(&text).into_owned(), Vec::new()));
                    }
                }
                Ok(Some(Item::CopyData(rows))) => blocks.last_mut().expect("rows after a COPY").1.extend_from_slice(&rows),
                Ok(Some(Item::CopyEnd { terminated, .. })) => assert!(terminated, "{}: rows without \\.", path.display()),
                Ok(Some(Item::Meta { meta, .. })) => metas.push(meta),
                Ok(Some(Item::Comment { .. })) => {}
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
        assert_eq!(blocks, copy_blocks_by_lines(&script), "{}", path.display());
        assert!(statements >= 20, "{}: {statements} statements", path.display());
        assert!(matches!(metas.first(), Some(Meta::Restrict { .. })) && matches!(metas.last(), Some(Meta::Unrestrict { .. })), "{}: {metas:?}", path.display());
    }
}
