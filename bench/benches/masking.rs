//! Free-text detection and masking throughput on the shared corpus, one core.
//!
//! `cargo bench -p baomi-bench --bench masking` runs on the 2000 records vendored in
//! `masking/testdata`; `BENCH_CORPUS=/path/corpus.jsonl` runs on another file of the
//! shared corpus's format (the standard 20 000 records: `gen_corpus.py --n 20000 --seed
//! 20240601`). Throughput is in bytes of record text (UTF-8).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use baomi_masking::{Context, Masker, Scanner};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn texts() -> Vec<String> {
    let raw = match std::env::var("BENCH_CORPUS") {
        Ok(path) => std::fs::read_to_string(path).unwrap(),
        Err(_) => include_str!("../../masking/testdata/corpus-2000.jsonl").to_owned(),
    };
    raw.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = texts();
    let bytes: usize = texts.iter().map(String::len).sum();
    let scanner = Scanner::new();
    let mut group = c.benchmark_group("masking");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("detect corpus", |b| {
        b.iter(|| texts.iter().map(|t| scanner.scan(t).len()).sum::<usize>())
    });
    let masker = Masker::new(&scanner, None);
    let ctx = Context {
        year: 2026,
        ..Context::default()
    };
    group.bench_function("mask corpus (display defaults)", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| masker.text(t, &ctx).unwrap().text.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
