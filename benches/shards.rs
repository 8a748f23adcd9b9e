//! The cost of a shard manifest's routing (issue 19: "no more than 10% per-lookup overhead"):
//! the same random keys looked up in one repository and in manifests of 1, 8 and 64 pid-range
//! shards of it, in one process, plus a whole-signal scan of each. Data: the synthetic
//! repository of `INFRAMED_BENCH_PATIENTS` patients (default 20,000), built once under
//! `target/bench-data/` (shared with `benches/lookup.rs`), and its shards beside it.
//!
//! `cargo bench --bench shards`; figures go to BENCHMARKS.md. The routing's overhead is
//! `shards_N_routed_same_loop ÷ shards_N_pre_routed` (the same loop, only the call differs);
//! `shards_N` goes through `lookup_sum`, a loop every store shares, which reads higher for
//! reasons of that loop (BENCHMARKS.md "Issue 19 round 3"). `SHARDS_EXPERIMENT=1` adds
//! diagnostic sides, `SHARDS_ONLY=a,b` times only the sides named, `SHARDS_ROUNDS=n` sets the
//! rounds of the interleaved A/B.

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
        let mut o = ShardOptions::new(n, repo.catalog()).unwrap();
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

/// [`lookup_sum`] again, one copy per `LOOP`: a loop that only some sides call (a diagnostic:
/// `1` the sharded stores, `2` the source).
#[inline(never)]
fn lookup_sum_own<const LOOP: u8>(store: &dyn SignalStore, keys: &[(Pid, Sid)]) -> usize {
    // Hidden, or the compiler sees the one caller's type and calls it directly; `LOOP` is
    // used so that the copies stay apart.
    let store = black_box(store);
    black_box(LOOP);
    keys.iter()
        .map(|&(p, s)| store.get_bytes(black_box(p), black_box(s)).unwrap().len())
        .sum()
}

/// Batched: `get_many` over the keys in batches of 256 (the Python package's and the
/// bench's `get_many_ns` batch size is of this order).
fn lookup_many(store: &dyn SignalStore, keys: &[(Pid, Sid)]) -> usize {
    let mut views = Vec::new();
    let mut n = 0;
    for batch in keys.chunks(256) {
        store.get_many(black_box(batch), &mut views).unwrap();
        n += views.iter().map(|v| v.len()).sum::<usize>();
    }
    n
}

/// The interleaved A/B of `get_many`: the sharded stores' batched lookups (routed per batch,
/// each shard's keys to its prefetching `get_many`) against the source's, per round.
fn interleaved_many(native: &NativeStore, stores: &[(usize, ShardedStore)], keys: &[(Pid, Sid)]) {
    let mut sides: Vec<(String, &dyn SignalStore)> = vec![("source_native".into(), native)];
    for (n, s) in stores {
        sides.push((format!("shards_{n}"), s));
    }
    let mut ns = vec![Vec::with_capacity(ROUNDS); sides.len()];
    for round in 0..ROUNDS {
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            black_box(lookup_many(sides[i].1, keys));
            let t = std::time::Instant::now();
            black_box(lookup_many(sides[i].1, keys));
            ns[i].push(t.elapsed().as_nanos() as f64 / keys.len() as f64);
        }
    }
    println!("interleaved A/B of get_many (batches of 256), {ROUNDS} rounds: ns per key (median), ratio to the source (median, quartiles)");
    for (i, (name, _)) in sides.iter().enumerate() {
        let mut v = ns[i].clone();
        v.sort_by(f64::total_cmp);
        let mut r: Vec<f64> = ns[i].iter().zip(&ns[0]).map(|(x, y)| x / y).collect();
        r.sort_by(f64::total_cmp);
        let q = |v: &[f64], f: usize| v[f * (v.len() - 1) / 4];
        println!(
            "  {name:<26} {:>7.1} ns   ÷ source_native: {:.3} ({:.3}–{:.3})",
            q(&v, 2),
            q(&r, 2),
            q(&r, 1),
            q(&r, 3)
        );
    }
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
    let open_native = |config: &Path| {
        let c = RepositoryConfig::read(config).unwrap();
        let (catalog, _) = read_catalog(&c).unwrap();
        NativeStore::open(catalog, &c.prefix_path(), vec![]).unwrap()
    };
    let native = open_native(&config);
    // The one shard's repository opened alone: the same bytes as the source in other files,
    // to tell the routing from the files' placement in memory.
    let shard0 = open_native(
        &inframed::shard::Manifest::read(&manifests[0].1)
            .unwrap()
            .shard_path(&manifests[0].1, 0),
    );
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

    assert_eq!(lookup_sum(&shard0, &keys), expected);
    interleaved(&native, &shard0, &stores, &repo, &repos, &keys);
    if std::env::var_os("SHARDS_ONLY").is_none() {
        interleaved_many(&native, &stores, &keys);
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

/// `lookup_sum` called from a frame `K` bytes deeper (a diagnostic side).
#[inline(never)]
fn padded<const K: usize>(store: &dyn SignalStore, keys: &[(Pid, Sid)]) -> usize {
    let pad = black_box([0u8; K]);
    black_box(&pad);
    lookup_sum(store, keys)
}

/// Rounds of the interleaved A/B below.
const ROUNDS: usize = 41;

/// [`ROUNDS`], or `SHARDS_ROUNDS` (more rounds for a noisy machine).
fn rounds() -> usize {
    std::env::var("SHARDS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROUNDS)
        .max(1)
}

/// Criterion times one function after the other, so on a shared machine a change of load
/// between two functions shows up as a difference between them. This A/B times one (warm)
/// pass over the keys per store per round, the stores in a rotating order within each round, and prints
/// the median (and quartiles) of the per-round ratios to the source: the load of a round is
/// common to both sides of its ratios.
fn interleaved<'a>(
    native: &'a NativeStore,
    shard0: &'a NativeStore,
    stores: &'a [(usize, ShardedStore)],
    repo: &'a Repository,
    repos: &'a [(usize, Repository)],
    keys: &'a [(Pid, Sid)],
) {
    type Pass<'a> = Box<dyn Fn() -> usize + 'a>;
    let pass =
        |store: &'a dyn SignalStore| -> Pass<'a> { Box::new(move || lookup_sum(store, keys)) };
    let mut sides: Vec<(String, Pass<'a>)> = vec![
        ("source_native".into(), pass(native)),
        ("shard_0_alone_native".into(), pass(shard0)),
    ];
    if std::env::var_os("SHARDS_EXPERIMENT").is_some() {
        // The source in a loop of its own (see `shards_N_own_loop`).
        sides.push((
            "source_native_own_loop".into(),
            Box::new(move || lookup_sum_own::<2>(native, keys)),
        ));
    }
    for (n, s) in stores {
        sides.push((format!("shards_{n}"), pass(s)));
        // The same shards with the shard of every key found beforehand: the lookups without
        // the routing, to tell the routing's cost from that of spreading the data over more
        // files.
        let routed: Vec<(Option<usize>, Pid, Sid)> = keys
            .iter()
            .map(|&(p, sid)| (s.shard_index(p), p, sid))
            .collect();
        // The shards as `&dyn SignalStore`, hidden from the optimizer: each lookup makes one
        // virtual call, as the routed side's does (`lookup_sum` calls the `ShardedStore`
        // through `&dyn`). `shard(i)` alone returns a `NativeStore` the compiler sees, so
        // it devirtualized the call and the ratio charged the dispatch to the routing.
        let shards: Vec<&dyn SignalStore> = black_box(
            (0..s.manifest().shards.len())
                .map(|i| s.shard(i).unwrap())
                .collect(),
        );
        let pre_routed = |bare: bool| -> Pass<'a> {
            let (routed, shards) = (routed.clone(), shards.clone());
            Box::new(move || {
                routed
                    .iter()
                    .map(|&(i, p, sid)| match black_box(i) {
                        // The keys through `black_box` as `lookup_sum` passes them, unless
                        // `bare` (as before the keys went through it too: ~10% faster at 1 shard).
                        Some(i) if bare => shards[i].get_bytes(p, sid).unwrap().len(),
                        Some(i) => shards[i]
                            .get_bytes(black_box(p), black_box(sid))
                            .unwrap()
                            .len(),
                        None => 0,
                    })
                    .sum()
            })
        };
        sides.push((format!("shards_{n}_pre_routed"), pre_routed(false)));
        // The routed lookups in the pre-routed side's loop (its keys, its `black_box`es, its
        // shape), the shard index read and dropped: only the call differs, to the sharded
        // store instead of the shard's.
        let whole: &dyn SignalStore = black_box(s);
        let same_loop = routed.clone();
        sides.push((
            format!("shards_{n}_routed_same_loop"),
            Box::new(move || {
                same_loop
                    .iter()
                    .map(|&(i, p, sid)| match black_box(i) {
                        Some(_) => whole.get_bytes(black_box(p), black_box(sid)).unwrap().len(),
                        None => 0,
                    })
                    .sum()
            }),
        ));
        // Diagnostics of where the routed side's time goes (SHARDS_EXPERIMENT=1).
        if std::env::var_os("SHARDS_EXPERIMENT").is_some() {
            sides.push((format!("shards_{n}_pre_routed_bare"), pre_routed(true)));
            // The routing in the loop, then a virtual call to the shard's store.
            let sh = shards.clone();
            sides.push((
                format!("shards_{n}_route_in_loop"),
                Box::new(move || {
                    keys.iter()
                        .map(|&(p, sid)| {
                            let p = black_box(p);
                            match s.shard_index(p) {
                                Some(i) => sh[i].get_bytes(p, black_box(sid)).unwrap().len(),
                                None => 0,
                            }
                        })
                        .sum()
                }),
            ));
            // A copy of `lookup_sum` that only the sharded stores call: its per-key virtual
            // call has one target (the other copy's has the unsharded stores' too).
            sides.push((
                format!("shards_{n}_own_loop"),
                Box::new(move || lookup_sum_own::<1>(s, keys)),
            ));
            // `lookup_sum` (the routed side) from a frame `K` bytes deeper: whether the
            // routed side's time depends on where its stack lies.
            for (k, f) in [
                (
                    64,
                    padded::<64> as fn(&dyn SignalStore, &[(Pid, Sid)]) -> usize,
                ),
                (1024, padded::<1024>),
            ] {
                sides.push((format!("shards_{n}_pad{k}"), Box::new(move || f(s, keys))));
            }
            // `ShardedStore::get_bytes` called directly (inlined, no virtual call): the
            // router's fields are loaded once per pass instead of once per key.
            sides.push((
                format!("shards_{n}_inlined"),
                Box::new(move || {
                    keys.iter()
                        .map(|&(p, sid)| s.get_bytes(black_box(p), black_box(sid)).unwrap().len())
                        .sum()
                }),
            ));
        }
    }
    let source_repo = sides.len();
    sides.push(("source_repository".into(), pass(repo)));
    for (n, r) in repos {
        sides.push((format!("shards_{n}_repository"), pass(r)));
    }
    // `SHARDS_ONLY=a,b`: time only the sides named (to profile one side, e.g. under `perf
    // record`); the others read NaN and are not printed.
    let only = std::env::var("SHARDS_ONLY").ok();
    let skip = |name: &str| {
        only.as_ref()
            .is_some_and(|o| !o.split(',').any(|n| n == name))
    };
    let rounds = rounds();
    let mut ns = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        for k in 0..sides.len() {
            let i = (k + round) % sides.len();
            if skip(&sides[i].0) {
                ns[i].push(f64::NAN);
                continue;
            }
            // An untimed pass first: every timed pass starts from its own files in the
            // caches, not from whichever store ran before it (stores over the same files
            // would otherwise inherit each other's warm caches).
            black_box((sides[i].1)());
            let t = std::time::Instant::now();
            black_box((sides[i].1)());
            ns[i].push(t.elapsed().as_nanos() as f64 / keys.len() as f64);
        }
    }
    let quartiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 4], v[v.len() / 2], v[3 * v.len() / 4])
    };
    println!(
        "interleaved A/B, {rounds} rounds of {} keys: ns per lookup (median), then the median \
         (quartiles) of the per-round ratios to the baselines named",
        keys.len()
    );
    for (i, (name, _)) in sides.iter().enumerate() {
        if skip(name) {
            continue;
        }
        let mut bases = vec![if i < source_repo { 0 } else { source_repo }];
        // Every other side of `shards_N` against `shards_N_pre_routed`.
        let prefix: String = name.split('_').take(2).collect::<Vec<_>>().join("_");
        let pre = format!("{prefix}_pre_routed");
        if i < source_repo && *name != pre {
            bases.extend(sides.iter().position(|(m, _)| *m == pre));
        }
        let (_, median, _) = quartiles(ns[i].clone());
        // The fastest pass too: the least disturbed by other processes.
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let mut line = format!("  {name:<26} {median:>7.1} ns (min {:>5.1})", min(&ns[i]));
        for b in bases {
            let ratios: Vec<f64> = ns[i].iter().zip(&ns[b]).map(|(x, y)| x / y).collect();
            let (q1, r, q3) = quartiles(ratios);
            line += &format!(
                "   ÷ {}: {r:.3} ({q1:.3}–{q3:.3}; mins {:.3})",
                sides[b].0,
                min(&ns[i]) / min(&ns[b])
            );
        }
        println!("{line}");
    }
}

criterion_group!(benches, routing);
criterion_main!(benches);
