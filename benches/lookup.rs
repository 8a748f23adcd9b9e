//! Index lookups and reads of the native layouts, with an in-RAM `HashMap` baseline and a raw
//! mmap scan baseline timed beside them (DESIGN §7). Data: a synthetic repository
//! (`inframed::synth`) of `INFRAMED_BENCH_PATIENTS` patients (default 20,000; 100,000 gives the
//! ~20M-element set of DESIGN §7), built once under `target/bench-data/` outside the timings.
//!
//! `cargo bench --bench lookup`; figures go to BENCHMARKS.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::native::transpose::TransposeStore;
use inframed::native::write::build_transpose;
use inframed::repository::read_catalog;
use inframed::synth::{self, SynthOptions};
use inframed::text::config::RepositoryConfig;
use inframed::{NativeStore, Pid, Repository, Sid, SignalStore, SignalStoreExt};

struct Data {
    config: PathBuf,
    legacy: PathBuf,
    keys: Vec<(Pid, Sid)>,
}

fn data() -> Data {
    let patients: u32 = std::env::var("INFRAMED_BENCH_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-data/synth-{patients}"));
    let config = dir.join("synth.repository");
    let legacy = dir.with_file_name(format!("legacy-{patients}"));
    if !legacy.join("synth.repository").exists() {
        let o = SynthOptions {
            patients,
            seed: 1,
            mean_events: 200,
        };
        synth::write_repository(&dir, &o).expect("synthetic repository");
        build_transpose(&config).expect("transpose");
        let repo = Repository::open(&config).unwrap();
        let opts = LegacyOptions::new(2, "synth", repo.catalog());
        write_legacy(&repo, &legacy, &opts).expect("legacy repository");
    }
    let repo = Repository::open(&config).unwrap();
    let pairs = synth::existing_pairs(&repo).unwrap();
    let keys = synth::sample_keys(&repo, &pairs, 4096, 7, 10);
    Data {
        config,
        legacy: legacy.join("synth.repository"),
        keys,
    }
}

fn open_native(config: &std::path::Path) -> NativeStore {
    let config = RepositoryConfig::read(config).unwrap();
    let (catalog, _) = read_catalog(&config).unwrap();
    NativeStore::open(catalog, &config.prefix_path(), vec![]).unwrap()
}

fn lookups(c: &mut Criterion) {
    let d = data();
    let native = open_native(&d.config);
    let repo = Repository::open(&d.config).unwrap();
    let transpose = TransposeStore::open(&d.config).unwrap();
    let legacy = Repository::open(&d.legacy).unwrap();
    let map: HashMap<(Pid, Sid), Vec<u8>> = d
        .keys
        .iter()
        .map(|&(p, s)| ((p, s), native.get_bytes(p, s).unwrap().into_owned()))
        .collect();

    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(d.keys.len() as u64));
    g.bench_function("mode3", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|&(p, s)| native.get_bytes(p, s).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("mode3/repository", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|&(p, s)| repo.get_bytes(p, s).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("transpose", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|&(p, s)| transpose.get_bytes(p, s).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("legacy", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|&(p, s)| legacy.get_bytes(p, s).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("hashmap_baseline", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|k| map.get(k).map_or(0, Vec::len))
                .sum::<usize>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("index");
    g.throughput(Throughput::Elements(d.keys.len() as u64));
    g.bench_function("lookup", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .filter_map(|&(p, s)| native.locate(p, s).unwrap())
                .map(|r| r.1)
                .sum::<u64>()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("range");
    g.throughput(Throughput::Elements(d.keys.len() as u64));
    g.bench_function("mode3", |b| {
        b.iter(|| {
            d.keys
                .iter()
                .map(|&(p, s)| native.signal(p, s).unwrap().range(20100101, 20121231).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

fn scan(c: &mut Criterion) {
    let d = data();
    let native = open_native(&d.config);
    let sid = native.catalog().signal("Hemoglobin").unwrap().sid;
    let raw = native.signal_bytes(sid).unwrap();
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    let sum = |b: &[u8]| {
        b.chunks_exact(8)
            .map(|e| f32::from_le_bytes([e[4], e[5], e[6], e[7]]) as f64)
            .sum::<f64>()
    };
    g.bench_function("mode3", |b| {
        b.iter(|| {
            let mut total = 0.0;
            native
                .scan(sid, &mut |_, bytes| total += sum(bytes))
                .unwrap();
            total
        })
    });
    g.bench_function("mode3_get_per_pid", |b| {
        b.iter(|| {
            native
                .pids()
                .iter()
                .map(|&p| sum(&native.get_bytes(p, sid).unwrap()))
                .sum::<f64>()
        })
    });
    g.bench_function("raw_mmap_baseline", |b| b.iter(|| sum(black_box(raw))));
    g.finish();

    let mut g = c.benchmark_group("open");
    g.bench_function("mode3", |b| {
        b.iter_batched(
            || (),
            |_| Repository::open(&d.config).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, lookups, scan);
criterion_main!(benches);
