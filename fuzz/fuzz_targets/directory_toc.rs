//! Any bytes as the `toc.dat` of a directory archive — beside the real data files, blobs TOCs
//! and large objects of a fixture — must end in `Ok` or `Err`: never a panic, a hang, an
//! allocation the input does not pay for, or a file opened outside the archive directory
//! (the TOC names the files; a sentinel file beside the directory must never be read).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgsurge_archive::Archive;

const SENTINEL: &[u8] = b"SENTINEL-OUTSIDE-THE-ARCHIVE";

/// A temporary copy of the uncompressed pg18 directory fixture, with a sentinel file beside it.
fn archive_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("pgsurge-fuzz-dir-{}", std::process::id()));
        let dir = root.join("archive");
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dumps/pg18/src.dir.none");
        for f in std::fs::read_dir(&fixture).expect("the pg18 directory fixture (tools/regen-testdata.sh)").flatten() {
            std::fs::copy(f.path(), dir.join(f.file_name())).expect("copy fixture file");
        }
        for name in ["a.dat", "blobs.toc", "toc.dat"] {
            std::fs::write(root.join(name), SENTINEL).expect("sentinel");
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = archive_dir();
    std::fs::write(dir.join("toc.dat"), data).expect("write toc.dat");
    let Ok(mut archive) = Archive::open_path(dir, None) else { return };
    for entry in pgsurge_archive::verify::verify(&mut archive, 1).entries {
        if let Some(e) = &entry.error {
            assert!(!e.to_string().contains("SENTINEL"), "read outside the archive: {e}");
        }
    }
    let ids: Vec<_> = archive.toc().entries.iter().filter(|e| e.is_table_data()).map(|e| e.dump_id).collect();
    for id in ids {
        if let Ok(mut reader) = archive.table_data(id) {
            let mut buf = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            while let Ok(n) = reader.read_data(&mut buf) {
                if n == 0 || seen.len() > 1 << 20 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            assert!(!seen.windows(SENTINEL.len()).any(|w| w == SENTINEL), "read a file outside the archive");
        }
    }
});
