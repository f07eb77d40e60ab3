//! Reader benchmarks: TOC parsing, and data decompression throughput per compression
//! algorithm (one thread, and all threads through `verify`). Run with
//! `cargo bench --bench archive`; inputs are the fixture archives in `testdata/dumps`.

use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pgsurge_archive::{verify, Archive};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dumps")
}

fn toc_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("toc");
    for name in ["pg18/src.custom.none.dump", "pg14/src.custom.gzip.dump", "pg18/src.tar"] {
        let bytes = std::fs::read(testdata().join(name)).expect("fixture; run tools/regen-testdata.sh");
        let entries = Archive::open_bytes(bytes.clone(), None).expect("fixture opens").toc().entries.len();
        group.throughput(Throughput::Elements(entries as u64));
        group.bench_with_input(BenchmarkId::new("open", name), &bytes, |b, bytes| {
            b.iter(|| Archive::open_bytes(bytes.clone(), None).expect("opens"));
        });
    }
    group.finish();
}

fn decompression(c: &mut Criterion) {
    let mut group = c.benchmark_group("data");
    group.sample_size(10);
    for name in ["pg18/src.custom.none.dump", "pg18/src.custom.gzip.dump", "pg18/src.custom.lz4.dump", "pg18/src.custom.zstd.dump", "pg18/big.custom.gzip.dump"] {
        let path = testdata().join(name);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let mut archive = Archive::open_bytes(bytes.clone(), None).expect("fixture opens");
        let total: u64 = verify::verify(&mut archive, 1).entries.iter().map(|e| e.bytes).sum();
        group.throughput(Throughput::Bytes(total));
        for jobs in [1usize, 2] {
            group.bench_with_input(BenchmarkId::new(format!("verify-j{jobs}"), name), &bytes, |b, bytes| {
                b.iter(|| {
                    let mut a = Archive::open_bytes(bytes.clone(), None).expect("opens");
                    verify::verify(&mut a, jobs)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, toc_parsing, decompression);
criterion_main!(benches);
