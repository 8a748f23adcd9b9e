//! `get/gnz`: random `get_bytes` lookups on a GNZ patient file, beside `get/mode3` (the native
//! MODE 3 store) on the same data (the golden repository), and on a larger synthetic file.
//! Containers are built outside `b.iter`. Figures go to BENCHMARKS.md, never asserts.

mod common;

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use inframed::backend::gnz::{self, GnzStore};
use inframed::catalog::CatalogTexts;
use inframed::{Catalog, Pid, Sid, SignalStore};

use common::{bench_hashmap, get_group, golden, lookups, pairs};

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
    let native = golden();
    let gnz_path = dir.path().join("small.gnz");
    gnz::export(&native, &gnz_path, &Default::default()).unwrap();
    let gnz_store = GnzStore::open(&gnz_path).unwrap();
    let golden_pairs = pairs(&native, 42);

    let synth = synthetic(20_000);
    let synth_path = dir.path().join("synthetic.gnz");
    gnz::export(&synth, &synth_path, &Default::default()).unwrap();
    let synth_store = GnzStore::open(&synth_path).unwrap();
    let synth_pairs = pairs(&synth_store, 43);

    let mut g = get_group(c, Duration::from_secs(3));
    g.bench_function("gnz", |b| b.iter(|| lookups(&gnz_store, &golden_pairs)));
    g.bench_function("mode3", |b| b.iter(|| lookups(&native, &golden_pairs)));
    g.bench_function("gnz/synthetic_20k", |b| {
        b.iter(|| lookups(&synth_store, &synth_pairs))
    });
    // Baseline: an in-RAM HashMap of every (pid, signal) of the synthetic store.
    let every: Vec<(Pid, Sid)> = synth
        .catalog()
        .signals()
        .iter()
        .flat_map(|s| synth.pids().iter().map(move |&p| (p, s.sid)))
        .collect();
    bench_hashmap(
        &mut g,
        "hashmap/synthetic_20k",
        &synth,
        &every,
        &synth_pairs,
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
