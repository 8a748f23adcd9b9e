//! The cost of a shard manifest's routing (issue 19: "no more than 10% per-lookup overhead"):
//! the same random keys looked up in one repository and in manifests of 1, 8 and 64 pid-range
//! shards of it, in one process, plus a whole-signal scan of each. Data: the synthetic
//! repository of `INFRAMED_BENCH_PATIENTS` patients (default 20,000), built once under
//! `target/bench-data/` (shared with `benches/lookup.rs`), and its shards beside it.
//!
//! `cargo bench --bench shards`; figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inframed::repository::read_catalog;
use inframed::shard::{write_shards, ShardOptions, ShardedStore};
use inframed::synth::{self, SynthOptions};
use inframed::text::config::RepositoryConfig;
use inframed::{NativeStore, Pid, Repository, Sid, SignalStore};

/// Shard counts compared with the unsharded repository.
const SHARDS: [usize; 3] = [1, 8, 64];

/// Keys per iteration (all existing pairs would favour the cache; 65,536 spread over all
/// signals and patients do not fit in it at 100k patients).
const KEYS: usize = 1 << 16;

fn patients() -> u32 {
    std::env::var("INFRAMED_BENCH_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// The source repository's config, built when absent.
fn source(patients: u32) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-data/synth-{patients}"));
    let config = dir.join("synth.repository");
    if !config.exists() {
        let o = SynthOptions {
            patients,
            seed: 1,
            mean_events: 200,
        };
        synth::write_repository(&dir, &o).expect("synthetic repository");
    }
    config
}

/// The manifest of `n` shards of `config`, written when absent.
fn sharded(config: &Path, patients: u32, n: usize) -> PathBuf {
    let out = config
        .parent()
        .unwrap()
        .with_file_name(format!("shards-{patients}-{n}"));
    let manifest = out.join(inframed::shard::MANIFEST_NAME);
    if !manifest.exists() {
        let repo = Repository::open(config).unwrap();
        let mut o = ShardOptions::new(n, repo.catalog());
        if let Some(m) = inframed::shard::source_metadata(config).unwrap() {
            o.metadata = m;
        }
        write_shards(&repo, &out, &o).expect("shards");
    }
    manifest
}

fn lookup_sum(store: &dyn SignalStore, keys: &[(Pid, Sid)]) -> usize {
    keys.iter()
        .map(|&(p, s)| store.get_bytes(black_box(p), black_box(s)).unwrap().len())
        .sum()
}

fn routing(c: &mut Criterion) {
    let patients = patients();
    let config = source(patients);
    let repo = Repository::open(&config).unwrap();
    let manifests: Vec<(usize, PathBuf)> = SHARDS
        .iter()
        .map(|&n| (n, sharded(&config, patients, n)))
        .collect();
    let pairs = synth::existing_pairs(&repo).unwrap();
    let keys = synth::sample_keys(&repo, &pairs, KEYS, 11, 10);
    let native = {
        let c = RepositoryConfig::read(&config).unwrap();
        let (catalog, _) = read_catalog(&c).unwrap();
        NativeStore::open(catalog, &c.prefix_path(), vec![]).unwrap()
    };
    let repos: Vec<(usize, Repository)> = manifests
        .iter()
        .map(|(n, m)| (*n, Repository::open(m).unwrap()))
        .collect();
    let stores: Vec<(usize, ShardedStore)> = manifests
        .iter()
        .map(|(n, m)| (*n, ShardedStore::open(m).unwrap()))
        .collect();
    // The manifests hold the same elements as the source (the check the timings rest on).
    let expected = lookup_sum(&repo, &keys);
    assert_eq!(lookup_sum(&native, &keys), expected);
    for (n, s) in &stores {
        assert_eq!(lookup_sum(s, &keys), expected, "{n} shards");
    }
    for (n, r) in &repos {
        assert_eq!(lookup_sum(r, &keys), expected, "{n} shards (repository)");
    }

    let mut g = c.benchmark_group("shard_routing");
    g.throughput(Throughput::Elements(keys.len() as u64));
    // Store against store (the routing alone), then through `Repository` as users call it.
    g.bench_function("get/source_native", |b| {
        b.iter(|| lookup_sum(&native, &keys))
    });
    for (n, s) in &stores {
        g.bench_function(format!("get/shards_{n}"), |b| {
            b.iter(|| lookup_sum(s, &keys))
        });
    }
    g.bench_function("get/source_repository", |b| {
        b.iter(|| lookup_sum(&repo, &keys))
    });
    for (n, r) in &repos {
        g.bench_function(format!("get/shards_{n}_repository"), |b| {
            b.iter(|| lookup_sum(r, &keys))
        });
    }
    g.finish();

    let sid = repo.catalog().signal("Hemoglobin").unwrap().sid;
    let scan_sum = |store: &dyn SignalStore| {
        let mut total = 0usize;
        store
            .scan(sid, &mut |p, bytes| total += p.0 as usize ^ bytes.len())
            .unwrap();
        total
    };
    let mut g = c.benchmark_group("shard_scan");
    g.bench_function("scan/source", |b| b.iter(|| scan_sum(&native)));
    for (n, s) in &stores {
        g.bench_function(format!("scan/shards_{n}"), |b| b.iter(|| scan_sum(s)));
    }
    g.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
