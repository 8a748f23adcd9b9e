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

/// One side of an [`interleaved`] A/B: a name and one pass over the keys (its result is
/// kept observable).
pub type Side<'a> = (String, Box<dyn Fn() -> u64 + 'a>);

/// Criterion times one function after the other, so on a shared machine a change of load
/// between two functions shows up as a difference between them. This times one warm pass per
/// side per round, the sides in a rotating order, each after an untimed pass of its own (so
/// it starts from its own data in the caches), and returns the ns per key of every round,
/// per side: the load of a round is common to all its sides.
pub fn interleaved(sides: &[Side<'_>], rounds: usize, keys: usize) -> Vec<Vec<f64>> {
    let mut ns = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            black_box((sides[i].1)());
            let t = std::time::Instant::now();
            black_box((sides[i].1)());
            ns[i].push(t.elapsed().as_nanos() as f64 / keys as f64);
        }
    }
    ns
}

/// First quartile, median and third quartile of `v`.
pub fn quartiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 4], v[v.len() / 2], v[3 * v.len() / 4])
}

/// The median (quartiles) of the per-round ratios `a[r] / b[r]`, formatted.
pub fn ratio(a: &[f64], b: &[f64]) -> String {
    let (q1, r, q3) = quartiles(a.iter().zip(b).map(|(x, y)| x / y).collect());
    format!("{r:.3} ({q1:.3}–{q3:.3})")
}
