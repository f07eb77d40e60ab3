//! Any file must open as a bundle or fail with an error — never a panic, never an
//! allocation the input does not pay for — and whatever opens must list, sniff its dumps,
//! read its manifest and summary, stream its files, and extract without anything landing
//! outside the folder given: the folder's parent holds nothing else afterwards.
#![no_main]

use std::io::Read;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pgsurge_bundle::{Bundle, ExtractOptions, Limits};

/// Every path under `dir`, relative.
fn tree(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        out.push(e.path().to_string_lossy().into_owned());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            tree(&e.path(), out);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(scratch) = tempfile::tempdir() else { return };
    let input = scratch.path().join("input");
    if std::fs::write(&input, data).is_err() {
        return;
    }
    // Small limits, so inputs reach them.
    let limits = Limits { max_members: 1000, long_head_budget: 1 << 20, ..Limits::default() };
    let Ok(bundle) = Bundle::open_with(&input, limits) else { return };
    let dumps = bundle.dumps();
    for d in &dumps {
        assert!(d.path.is_empty() || bundle.member(&d.path).is_some() || bundle.members().iter().any(|m| d.covers(&m.path)), "dump {} is no member", d.path);
    }
    let _ = bundle.manifest();
    let _ = bundle.files_summary(&[]);
    for m in bundle.members().iter().filter(|m| m.is_file()).take(8) {
        if let Ok(reader) = bundle.open_member(&m.path) {
            // Bounded: a member's declared size may be anything.
            let _ = std::io::copy(&mut reader.take(16 << 20), &mut std::io::sink());
        }
    }
    let jail = scratch.path().join("jail");
    let out = jail.join("out");
    let options = ExtractOptions { exclude: dumps.iter().map(|d| d.path.clone()).collect(), max_bytes: Some(64 << 20), ..ExtractOptions::default() };
    let _ = bundle.extract(&out, &options);
    let mut written = Vec::new();
    tree(&jail, &mut written);
    let inside = out.to_string_lossy().into_owned();
    for p in &written {
        assert!(p == &inside || p.starts_with(&format!("{inside}/")), "{p} written outside {inside}");
    }
    // Symlinks made must lead inside, resolved as the kernel resolves them.
    let real_out = std::fs::canonicalize(&out).unwrap_or_else(|_| out.clone());
    for p in &written {
        if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
            if let Ok(target) = std::fs::canonicalize(p) {
                assert!(target.starts_with(&real_out), "{p} leads to {}", target.display());
            }
        }
    }
    let mut around = Vec::new();
    tree(scratch.path(), &mut around);
    for p in &around {
        let ok = p.starts_with(&jail.to_string_lossy().into_owned()) || p == &input.to_string_lossy();
        assert!(ok, "{p} written beside the folder");
    }
});
