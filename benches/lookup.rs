//! Index lookups and reads of the native layouts, with an in-RAM `HashMap` baseline and a raw
//! mmap scan baseline timed beside them (docs/DESIGN.md §7). Data: a synthetic repository
//! (`inframed::synth`) of `INFRAMED_BENCH_PATIENTS` patients (default 20,000; 100,000 gives the
//! ~20M-element set of docs/DESIGN.md §7), built once under `target/bench-data/` outside the timings.
//!
//! `cargo bench --bench lookup`; figures go to BENCHMARKS.md.

// The baselines map files and prefetch by hand, as the physical floor they stand for; the
// library itself keeps `unsafe` in src/mmap.rs.
#![allow(unsafe_code)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        let opts = LegacyOptions::new(2, "synth", repo.catalog()).unwrap();
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

/// A copy of the bench repository beside it (`<dir>-lookup/`: symbolic links to the same files)
/// with the lookup sidecar written into it, so that one run times both stores over the same
/// `.data`/`.idx` files.
fn with_lookup(config: &std::path::Path) -> PathBuf {
    let dir = config.parent().unwrap();
    let copy = dir.with_file_name(format!(
        "{}-lookup",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let out = copy.join(config.file_name().unwrap());
    let sidecar =
        inframed::native::lookup_path(&RepositoryConfig::read(config).unwrap().prefix_path());
    let built = copy.join(sidecar.strip_prefix(dir).unwrap());
    if !built.exists() {
        let _ = std::fs::remove_dir_all(&copy);
        link_tree(dir, &copy);
        inframed::native::write_lookup(&out, false).expect("lookup sidecar");
    }
    out
}

/// `to/` mirroring `from/`: folders created, files symbolically linked.
fn link_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            link_tree(&e.path(), &dest);
        } else {
            std::os::unix::fs::symlink(e.path(), dest).unwrap();
        }
    }
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
    let serial = || {
        let mut total = 0.0;
        native
            .scan(sid, &mut |_, bytes| total += sum(bytes))
            .unwrap();
        total
    };
    let parallel = || {
        native
            .par_scan(sid, || 0.0, |t, _, bytes| *t += sum(bytes), |a, b| a + b)
            .unwrap()
    };
    let floor = || sum(black_box(raw));
    g.bench_function("mode3", |b| b.iter(serial));
    g.bench_function("mode3_par_scan", |b| b.iter(parallel));
    g.bench_function("mode3_get_per_pid", |b| {
        b.iter(|| {
            native
                .pids()
                .iter()
                .map(|&p| sum(&native.get_bytes(p, sid).unwrap()))
                .sum::<f64>()
        })
    });
    g.bench_function("raw_mmap_baseline", |b| b.iter(floor));
    g.finish();

    // Item 4's two ratios with the load of each round common to both sides (the separate
    // benches above drift apart by 10-20 % on a shared machine): a whole-signal scan against
    // the raw sum of the same bytes, and the serial scan against the parallel one.
    // One scan per timing, as a caller scans: back-to-back scans would keep the pool's
    // threads awake, which a single one does not.
    let sides: Vec<common::Side> = vec![
        ("scan".into(), Box::new(move || serial() as u64)),
        ("par_scan".into(), Box::new(move || parallel() as u64)),
        ("raw_sum".into(), Box::new(move || floor() as u64)),
    ];
    const ROUNDS: usize = 31;
    let ms = common::interleaved(&sides, ROUNDS, 1_000_000);
    println!(
        "interleaved scans, {ROUNDS} rounds: ms per scan (median), the median (quartiles) of \
         the per-round ratios\n  scan {:.3} ms, par_scan {:.3} ms, raw_sum {:.3} ms\n  \
         scan ÷ raw_sum: {} (item 4: ≤ 1.5)\n  scan ÷ par_scan: {} (item 4: ≥ 1.8)",
        common::quartiles(ms[0].clone()).1,
        common::quartiles(ms[1].clone()).1,
        common::quartiles(ms[2].clone()).1,
        common::ratio(&ms[0], &ms[2]),
        common::ratio(&ms[0], &ms[1]),
    );

    // Each open timed alone and its repository dropped outside the timing (`timed_open`):
    // criterion's `iter_batched` kept a batch of open repositories alive, so every mmap
    // then went into an address space holding thousands of earlier maps (and cost more).
    let mut g = c.benchmark_group("open");
    g.bench_function("mode3", |b| {
        b.iter_custom(|n| timed_open(n, || Repository::open(&d.config).unwrap()))
    });
    // The open leaves each MODE 3 signal's maps and checks to its first read: that cost is
    // deferred, not gone. Open plus the first read of one signal, and of every signal.
    let pid = native.pids()[native.pids().len() / 2];
    let sids: Vec<Sid> = native.catalog().signals().iter().map(|s| s.sid).collect();
    let hgb = native.catalog().signal("Hemoglobin").unwrap().sid;
    let open_and_read = |sids: &[Sid]| {
        let r = Repository::open(&d.config).unwrap();
        for &sid in sids {
            black_box(r.get_bytes(pid, sid).unwrap().len());
        }
        r
    };
    g.bench_function("mode3_then_one_signal", |b| {
        b.iter_custom(|n| timed_open(n, || open_and_read(&[hgb])))
    });
    g.bench_function("mode3_then_every_signal", |b| {
        b.iter_custom(|n| timed_open(n, || open_and_read(&sids)))
    });
    // The floor: open and map the same files, nothing parsed (one file, and all of them).
    let files: Vec<PathBuf> = native.describe().files.into_iter().map(|f| f.0).collect();
    let map = |p: &PathBuf| {
        let f = std::fs::File::open(p).unwrap();
        // SAFETY: the bench data is written once before the timings and never modified.
        unsafe { memmap2::Mmap::map(&f) }.unwrap()
    };
    g.bench_function("bare_mmap_one_file", |b| {
        b.iter_custom(|n| timed_open(n, || map(&files[1])))
    });
    g.bench_function("bare_mmap_all_files", |b| {
        b.iter_custom(|n| timed_open(n, || files.iter().map(map).collect::<Vec<_>>()))
    });
    g.finish();
}

/// `n` calls of `open`, each timed alone, its result dropped after its timing.
fn timed_open<T>(n: u64, open: impl Fn() -> T) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..n {
        let t = std::time::Instant::now();
        let x = black_box(open());
        total += t.elapsed();
        drop(x);
    }
    total
}

/// A bare open-addressing table `(pid, sid) → (element offset, length)` over every existing
/// pair, probed in lanes of 16 with the slots prefetched first: what a batch of hash probes
/// costs when nothing but one cache miss per key is left (the floor for `get_many`). Its slots
/// live on the heap (`Vec`: 4 KiB pages unless the system's THP setting is `always`) or in an
/// anonymous map advised to huge pages (`HugeSlots`), the page size the lookup sidecar asks
/// for: the second is the like-for-like floor.
struct FlatTable<S> {
    slots: S,
    shift: u32,
}

/// One slot: the key, then the element offset and byte length.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Slot {
    key: u64,
    off: u32,
    len: u32,
}

const EMPTY: u64 = u64::MAX;

/// A key and its `(element offset, byte length)`.
type Entry = ((Pid, Sid), (u32, u32));

/// Slots in an anonymous map advised `MADV_HUGEPAGE`.
struct HugeSlots(memmap2::MmapMut);

impl HugeSlots {
    fn new(n: usize) -> HugeSlots {
        let m = memmap2::MmapMut::map_anon(n * std::mem::size_of::<Slot>()).unwrap();
        #[cfg(target_os = "linux")]
        let _ = m.advise(memmap2::Advice::HugePage);
        HugeSlots(m)
    }
}

impl AsRef<[Slot]> for HugeSlots {
    fn as_ref(&self) -> &[Slot] {
        bytemuck::cast_slice(&self.0[..])
    }
}

impl AsMut<[Slot]> for HugeSlots {
    fn as_mut(&mut self) -> &mut [Slot] {
        bytemuck::cast_slice_mut(&mut self.0[..])
    }
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>> FlatTable<S> {
    fn key(pid: Pid, sid: Sid) -> u64 {
        ((pid.0 as u64) << 32) | sid.0 as u64
    }

    #[inline(always)]
    fn home(shift: u32, key: u64) -> usize {
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    /// The table of `entries` in slots from `alloc(count)`.
    fn new(entries: &[Entry], alloc: impl FnOnce(usize) -> S) -> FlatTable<S> {
        let bits = (entries.len() * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let mut t = FlatTable {
            slots: alloc(1 << bits),
            shift: 64 - bits,
        };
        let slots = t.slots.as_mut();
        let empty = Slot {
            key: EMPTY,
            off: 0,
            len: 0,
        };
        slots.fill(empty);
        let mask = slots.len() - 1;
        for &((p, s), (off, len)) in entries {
            let key = Self::key(p, s);
            let mut i = Self::home(t.shift, key);
            while slots[i].key != EMPTY {
                i = (i + 1) & mask;
            }
            slots[i] = Slot { key, off, len };
        }
        t
    }

    #[inline(always)]
    fn probe(slots: &[Slot], shift: u32, pid: Pid, sid: Sid) -> Option<(u32, u32)> {
        let k = Self::key(pid, sid);
        let mask = slots.len() - 1;
        let mut i = Self::home(shift, k);
        loop {
            let s = slots[i];
            if s.key == k {
                return Some((s.off, s.len));
            }
            if s.key == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// Sum of the lengths of `keys`, probed one by one (the slice is taken once).
    fn len_sum(&self, keys: &[(Pid, Sid)]) -> u64 {
        let slots = self.slots.as_ref();
        keys.iter()
            .map(|&(p, s)| Self::probe(slots, self.shift, p, s).map_or(0, |x| x.1 as u64))
            .sum()
    }

    /// `batched_len_sum` that also writes each key's answer to `out` as a view would be, 24
    /// bytes (pointer, length, and the `Cow` tag's word) per key: what `get_many` returns.
    fn batched_into(&self, keys: &[(Pid, Sid)], out: &mut Vec<[u64; 3]>) -> u64 {
        let slots = self.slots.as_ref();
        out.clear();
        for lane in keys.chunks(16) {
            for &(p, s) in lane {
                let slot = &slots[Self::home(self.shift, Self::key(p, s))];
                prefetch(std::ptr::from_ref(slot).cast());
            }
            for &(p, s) in lane {
                let (off, len) = Self::probe(slots, self.shift, p, s).unwrap_or((0, 0));
                out.push([0, u64::from(off), u64::from(len)]);
            }
        }
        out.iter().map(|v| v[2]).sum()
    }

    /// Sum of the lengths of `keys`, 16 keys at a time: homes prefetched, then probed.
    fn batched_len_sum(&self, keys: &[(Pid, Sid)]) -> u64 {
        let slots = self.slots.as_ref();
        let mut total = 0u64;
        for lane in keys.chunks(16) {
            for &(p, s) in lane {
                let slot = &slots[Self::home(self.shift, Self::key(p, s))];
                prefetch(std::ptr::from_ref(slot).cast());
            }
            for &(p, s) in lane {
                total += Self::probe(slots, self.shift, p, s).map_or(0, |x| x.1 as u64);
            }
        }
        total
    }
}

#[inline(always)]
fn prefetch(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and reads nothing observable; `p` points
    // into a live slice in any case. SSE is in the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Random keys spread over every existing pair of the repository (the whole index, not a
/// cache-sized sample): single `get`, `get_many`, and the two hash-probe baselines.
fn batched(c: &mut Criterion) {
    let d = data();
    let native = open_native(&d.config);
    let lookup = open_native(&with_lookup(&d.config));
    assert!(lookup.lookup_sidecar().is_some(), "{:?}", lookup.warnings());
    let repo = Repository::open(&d.config).unwrap();
    let pairs = inframed::synth::existing_pairs(&repo).unwrap();
    let keys = inframed::synth::sample_keys(&repo, &pairs, 1 << 16, 11, 10);
    let mut at = 0u32;
    let entries: Vec<Entry> = pairs
        .iter()
        .map(|&(p, s)| {
            let len = native.get_bytes(p, s).unwrap().len() as u32;
            at = at.wrapping_add(len);
            ((p, s), (at, len))
        })
        .collect();
    let map: hashbrown::HashMap<(Pid, Sid), (u32, u32)> = entries.iter().copied().collect();
    let flat = FlatTable::new(&entries, |n| {
        vec![<Slot as bytemuck::Zeroable>::zeroed(); n]
    });
    let flat_huge = FlatTable::new(&entries, HugeSlots::new);
    let expect: u64 = keys
        .iter()
        .map(|&(p, s)| native.get_bytes(p, s).unwrap().len() as u64)
        .sum();
    assert_eq!(flat.batched_len_sum(&keys), expect);
    assert_eq!(flat_huge.batched_len_sum(&keys), expect);
    assert_eq!(flat_huge.len_sum(&keys), expect);
    let mut out = Vec::new();
    lookup.get_many(&keys, &mut out).unwrap();
    assert_eq!(out.iter().map(|v| v.len() as u64).sum::<u64>(), expect);

    let mut g = c.benchmark_group("get_many");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("get_loop", |b| {
        b.iter(|| {
            keys.iter()
                .map(|&(p, s)| native.get_bytes(p, s).unwrap().len() as u64)
                .sum::<u64>()
        })
    });
    g.bench_function("get_loop/lookup", |b| {
        b.iter(|| {
            keys.iter()
                .map(|&(p, s)| lookup.get_bytes(p, s).unwrap().len() as u64)
                .sum::<u64>()
        })
    });
    let mut out = Vec::with_capacity(keys.len());
    g.bench_function("get_many", |b| {
        b.iter(|| {
            native.get_many(black_box(&keys), &mut out).unwrap();
            out.iter().map(|v| v.len() as u64).sum::<u64>()
        })
    });
    let mut out = Vec::with_capacity(keys.len());
    g.bench_function("get_many/lookup", |b| {
        b.iter(|| {
            lookup.get_many(black_box(&keys), &mut out).unwrap();
            out.iter().map(|v| v.len() as u64).sum::<u64>()
        })
    });
    let mut out = Vec::with_capacity(keys.len());
    g.bench_function("get_many/repository", |b| {
        b.iter(|| {
            repo.get_many(black_box(&keys), &mut out).unwrap();
            out.iter().map(|v| v.len() as u64).sum::<u64>()
        })
    });
    g.bench_function("hashbrown_probe", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| map.get(k).map_or(0, |x| x.1 as u64))
                .sum::<u64>()
        })
    });
    g.bench_function("flat_probe_batched", |b| {
        b.iter(|| flat.batched_len_sum(black_box(&keys)))
    });
    g.finish();

    // The same sides interleaved (rounds of one pass each, see `common::interleaved`): the
    // issue's ratios, single lookups ÷ the hash probe and batched ÷ the batched probe, with
    // the load of each round common to both sides.
    // The user-facing `Repository` over the sidecar's copy (a `dyn` store per layer).
    let repo_lookup = Repository::open(with_lookup(&d.config)).unwrap();
    let lookup2 = open_native(&with_lookup(&d.config));
    let sides: Vec<common::Side> = vec![
        ("get_loop".into(), Box::new(single(&native, &keys))),
        ("get_loop/lookup".into(), Box::new(single(&lookup, &keys))),
        (
            "get_loop/repository+lookup".into(),
            Box::new(single(&repo_lookup, &keys)),
        ),
        (
            "get_loop/dyn+lookup".into(),
            Box::new(single(black_box(&lookup as &dyn SignalStore), &keys)),
        ),
        (
            "hashbrown_probe".into(),
            Box::new(|| {
                keys.iter()
                    .map(|k| map.get(k).map_or(0, |x| x.1 as u64))
                    .sum::<u64>()
            }),
        ),
        ("get_many".into(), Box::new(many(&native, &keys))),
        ("get_many/lookup".into(), Box::new(many(&lookup, &keys))),
        (
            "get_many/repository+lookup".into(),
            Box::new(many(&repo_lookup, &keys)),
        ),
        (
            "get_many/lookup_2nd_open".into(),
            Box::new(many(&lookup2, &keys)),
        ),
        (
            "flat_probe_batched".into(),
            Box::new(|| flat.batched_len_sum(black_box(&keys))),
        ),
        // The same probes with their table on huge pages, as the sidecar's map is advised.
        (
            "flat_probe/huge".into(),
            Box::new(|| flat_huge.len_sum(black_box(&keys))),
        ),
        (
            "flat_probe_batched/huge".into(),
            Box::new(|| flat_huge.batched_len_sum(black_box(&keys))),
        ),
        // ... and writing one 24-byte answer per key, as `get_many` writes its views.
        (
            "flat_probe_batched/huge+out".into(),
            Box::new({
                let out = std::cell::RefCell::new(Vec::with_capacity(keys.len()));
                let (t, k) = (&flat_huge, &keys);
                move || t.batched_into(black_box(k), &mut out.borrow_mut())
            }),
        ),
    ];
    const ROUNDS: usize = 31;
    // LOOKUP_ONLY=<substring>: only the sides whose names contain it (to profile one).
    let only = std::env::var("LOOKUP_ONLY").unwrap_or_default();
    let sides: Vec<common::Side> = sides.into_iter().filter(|s| s.0.contains(&only)).collect();
    let ns = common::interleaved(&sides, ROUNDS, keys.len());
    println!(
        "interleaved A/B, {ROUNDS} rounds of {} keys: ns per key (median), then the median \
         (quartiles) of the per-round ratios to the issue's baseline",
        keys.len()
    );
    for (i, (name, _)) in sides.iter().enumerate() {
        let base = if name.starts_with("get_many") || name.starts_with("flat_probe_batched") {
            "flat_probe_batched"
        } else {
            "hashbrown_probe"
        };
        let Some(base) = sides.iter().position(|s| s.0 == base) else {
            println!(
                "  {name:<28} {:>7.1} ns",
                common::quartiles(ns[i].clone()).1
            );
            continue;
        };
        let (_, median, _) = common::quartiles(ns[i].clone());
        // Beside the baseline, the like-for-like floor on huge pages.
        let huge = if sides[base].0 == "hashbrown_probe" {
            "flat_probe/huge"
        } else {
            "flat_probe_batched/huge"
        };
        let huge = sides
            .iter()
            .position(|s| s.0 == huge)
            .map(|h| format!("   ÷ {huge}: {}", common::ratio(&ns[i], &ns[h])))
            .unwrap_or_default();
        println!(
            "  {name:<28} {median:>7.1} ns   ÷ {}: {}{huge}",
            sides[base].0,
            common::ratio(&ns[i], &ns[base])
        );
    }
}

/// One pass of single `get`s over `keys`: the total length.
fn single<'a, S: SignalStore + ?Sized>(
    store: &'a S,
    keys: &'a [(Pid, Sid)],
) -> impl Fn() -> u64 + 'a {
    move || {
        keys.iter()
            .map(|&(p, s)| store.get_bytes(p, s).unwrap().len() as u64)
            .sum()
    }
}

/// One `get_many` of `keys` into a reused output: the total length.
fn many<'a, S: SignalStore>(store: &'a S, keys: &'a [(Pid, Sid)]) -> impl Fn() -> u64 + 'a {
    let out = std::cell::RefCell::new(Vec::with_capacity(keys.len()));
    move || {
        let mut out = out.borrow_mut();
        store.get_many(black_box(keys), &mut out).unwrap();
        out.iter().map(|v| v.len() as u64).sum()
    }
}

/// `Repository::signal(pid, "Hemoglobin")` then `value(0)` per element, against
/// `get::<DateVal>` with the sid resolved once, over the same random pids.
fn by_name(c: &mut Criterion) {
    use inframed::element::DateVal;
    let d = data();
    let repo = Repository::open(&d.config).unwrap();
    let sid = repo.catalog().signal("Hemoglobin").unwrap().sid;
    let pids: Vec<Pid> = d
        .keys
        .iter()
        .filter(|k| k.1 == sid)
        .map(|k| k.0)
        .chain(repo.pids().iter().step_by(7).copied())
        .take(4096)
        .collect();
    let mut g = c.benchmark_group("by_name");
    g.throughput(Throughput::Elements(pids.len() as u64));
    g.bench_function("name_value0", |b| {
        b.iter(|| {
            let mut total = 0.0f64;
            for &p in &pids {
                let s = repo.signal(p, black_box("Hemoglobin")).unwrap();
                for e in s.iter() {
                    total += e.value(0).as_f64();
                }
            }
            total
        })
    });
    // The parts of the gap: the by-name call alone, the untyped view by sid, typed lengths.
    g.bench_function("name_len", |b| {
        b.iter(|| {
            pids.iter()
                .map(|&p| repo.signal(p, black_box("Hemoglobin")).unwrap().len())
                .sum::<usize>()
        })
    });
    g.bench_function("sid_value0", |b| {
        b.iter(|| {
            let mut total = 0.0f64;
            for &p in &pids {
                let s = repo.signal(p, black_box(sid)).unwrap();
                for e in s.iter() {
                    total += e.value(0).as_f64();
                }
            }
            total
        })
    });
    g.bench_function("sid_typed_len", |b| {
        b.iter(|| {
            pids.iter()
                .map(|&p| {
                    SignalStoreExt::get::<DateVal>(&repo, p, black_box(sid))
                        .unwrap()
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("sid_typed", |b| {
        b.iter(|| {
            let mut total = 0.0f64;
            for &p in &pids {
                let v = SignalStoreExt::get::<DateVal>(&repo, p, black_box(sid)).unwrap();
                for e in v.iter() {
                    total += e.val as f64;
                }
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, scan, batched, by_name);
criterion_main!(benches);
