//! `get/gnz`: random `get_bytes` lookups on a GNZ patient file, beside `get/mode3` (the native
//! MODE 3 store) on the same data (the golden repository), and on a larger synthetic file.
//! Containers are built outside `b.iter`. Figures go to BENCHMARKS.md, never asserts.

use std::borrow::Cow;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inframed::backend::gnz::{self, GnzStore};
use inframed::catalog::CatalogTexts;
use inframed::{Catalog, Pid, Repository, Sid, SignalStore};

const LOOKUPS: usize = 1024;

/// Deterministic xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `LOOKUPS` benchmark keys: existing (pid, sid) pairs plus 10% misses (shared sampler).
fn pairs(store: &dyn SignalStore, seed: u64) -> Vec<(Pid, Sid)> {
    let pairs = inframed::synth::existing_pairs(store).unwrap();
    inframed::synth::sample_keys(store, &pairs, LOOKUPS, seed, 10)
}

fn run(store: &dyn SignalStore, pairs: &[(Pid, Sid)]) -> usize {
    let mut n = 0;
    for &(p, s) in pairs {
        n += black_box(store.get_bytes(p, s).unwrap()).len();
    }
    n
}

/// A synthetic store: `patients` pids, three signals, 1–40 elements each.
#[derive(Debug)]
struct Synthetic {
    catalog: Catalog,
    pids: Vec<Pid>,
    data: Vec<Vec<Vec<u8>>>,
}

impl SignalStore for Synthetic {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn pids(&self) -> &[Pid] {
        &self.pids
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> inframed::Result<Cow<'_, [u8]>> {
        let pos = self
            .catalog
            .position(sid)
            .ok_or(inframed::Error::UnknownSid { sid })?;
        let i = self.pids.binary_search(&pid).map_err(|_| ()).ok();
        Ok(Cow::Borrowed(i.map_or(&[][..], |i| &self.data[pos][i][..])))
    }
}

fn synthetic(patients: u32) -> Synthetic {
    let texts = CatalogTexts {
        time_unit: 1,
        signals: "SIGNAL\tHemoglobin\t1000\t16:T(i),V(f)\tlabs\t0\n\
                  SIGNAL\tDIAGNOSIS\t2000\t16:T(i),V(i)\tcat\t1\n\
                  SIGNAL\tADMISSION\t2003\t16:T(i,i),V(i,i)\tcat\t11\n"
            .into(),
        dictionaries: vec![],
    };
    let catalog = Catalog::from_texts(Path::new("<bench>"), &texts).unwrap().0;
    let pids: Vec<Pid> = (0..patients).map(|i| Pid(1000 + 3 * i)).collect();
    let mut rng = Rng(7);
    let data = catalog
        .signals()
        .iter()
        .map(|s| {
            let size = s.layout.size();
            pids.iter()
                .map(|_| {
                    let n = (rng.next() % 40 + 1) as usize;
                    let mut v = vec![0u8; n * size];
                    for (k, e) in v.chunks_exact_mut(size).enumerate() {
                        e[..4].copy_from_slice(&(20000101 + k as i32).to_le_bytes());
                    }
                    v
                })
                .collect()
        })
        .collect();
    Synthetic {
        catalog,
        pids,
        data,
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let golden_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inframed/small/repo/small.repository");
    let native = Repository::open(&golden_path).unwrap();
    let gnz_path = dir.path().join("small.gnz");
    gnz::export(&native, &gnz_path, &Default::default()).unwrap();
    let gnz_store = GnzStore::open(&gnz_path).unwrap();
    let golden_pairs = pairs(&native, 42);

    let synth = synthetic(20_000);
    let synth_path = dir.path().join("synthetic.gnz");
    gnz::export(&synth, &synth_path, &Default::default()).unwrap();
    let synth_store = GnzStore::open(&synth_path).unwrap();
    let synth_pairs = pairs(&synth_store, 43);

    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(LOOKUPS as u64));
    g.sample_size(30);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("gnz", |b| b.iter(|| run(&gnz_store, &golden_pairs)));
    g.bench_function("mode3", |b| b.iter(|| run(&native, &golden_pairs)));
    g.bench_function("gnz/synthetic_20k", |b| {
        b.iter(|| run(&synth_store, &synth_pairs))
    });
    g.bench_function("hashmap/synthetic_20k", |b| {
        // Baseline: an in-RAM HashMap<(Pid, Sid), Vec<u8>> of the same data.
        let mut map = std::collections::HashMap::new();
        for s in synth.catalog().signals() {
            for &p in synth.pids() {
                map.insert((p, s.sid), synth.get_bytes(p, s.sid).unwrap().into_owned());
            }
        }
        b.iter(|| {
            let mut n = 0;
            for k in &synth_pairs {
                n += black_box(map.get(k).map_or(0, Vec::len));
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
