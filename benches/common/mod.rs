//! Shared pieces of the `get_*` container benchmarks: the golden repository, the benchmark
//! keys, the lookup loop, the criterion group settings and the `HashMap` baseline.
#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use inframed::{Pid, Repository, Sid, SignalStore};

/// Lookups per benchmark iteration.
pub const LOOKUPS: usize = 1024;

/// The golden repository (written by medpython 1.2.1).
pub fn golden() -> Repository {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inframed/small/repo/small.repository");
    Repository::open(&path).unwrap()
}

/// `LOOKUPS` benchmark keys: existing (pid, sid) pairs plus 10% misses (the shared sampler).
pub fn pairs(store: &dyn SignalStore, seed: u64) -> Vec<(Pid, Sid)> {
    let pairs = inframed::synth::existing_pairs(store).unwrap();
    inframed::synth::sample_keys(store, &pairs, LOOKUPS, seed, 10)
}

/// Looks every key up; the total length keeps the work observable.
pub fn lookups(store: &dyn SignalStore, pairs: &[(Pid, Sid)]) -> usize {
    let mut n = 0;
    for &(p, s) in pairs {
        n += store.get_bytes(black_box(p), black_box(s)).unwrap().len();
    }
    n
}

/// The `get` group: `LOOKUPS` elements per iteration, 30 samples, short warm-up.
pub fn get_group(c: &mut Criterion, measurement: Duration) -> BenchmarkGroup<'_, WallTime> {
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(LOOKUPS as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(measurement)
        .sample_size(30);
    g
}

/// `name`: `pairs` looked up in an in-RAM `HashMap<(Pid, Sid), Vec<u8>>` holding `store`'s
/// vectors of the keys `fill`.
pub fn bench_hashmap(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    store: &dyn SignalStore,
    fill: &[(Pid, Sid)],
    pairs: &[(Pid, Sid)],
) {
    let map: HashMap<(Pid, Sid), Vec<u8>> = fill
        .iter()
        .map(|&(p, s)| ((p, s), store.get_bytes(p, s).unwrap().into_owned()))
        .collect();
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut n = 0;
            for &(p, s) in pairs {
                n += map.get(&(black_box(p), black_box(s))).map_or(0, Vec::len);
            }
            n
        })
    });
}
