//! `get/itar`: random `get_bytes` lookups on the golden repository exported as an indexed-tar
//! patient dataset, beside `get/mode3` (the native store on the same data) and an in-RAM
//! `HashMap<(Pid, Sid), Vec<u8>>` baseline; `get/itar/synthetic20k` does the same on a synthetic
//! 20,000-patient dataset (60,000 members), so the hash table does not sit in L1. Datasets are
//! built outside `b.iter`.

mod common;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use inframed::backend::itar::{self, ItarStore};
use inframed::backend::ExportOptions;
use inframed::catalog::CatalogTexts;
use inframed::{Catalog, Pid, Repository, Sid, SignalStore};

use common::{bench_hashmap, get_group, golden, lookups, pairs};

/// A synthetic in-memory repository: `n` patients, three `T(i),V(f)` signals, 1–8 elements.
#[derive(Debug)]
struct Synthetic {
    catalog: Catalog,
    pids: Vec<Pid>,
    data: HashMap<(Pid, Sid), Vec<u8>>,
}

impl Synthetic {
    fn new(n: u32) -> Synthetic {
        let texts = CatalogTexts {
            time_unit: 1,
            signals: "SIGNAL\tHemoglobin\t1000\t16:T(i),V(f)\tlabs\t0\t\n\
                      SIGNAL\tGlucose\t1090\t16:T(i),V(f)\tlabs\t0\t\n\
                      SIGNAL\tWeight\t903\t16:T(i),V(f)\tlabs\t0\t\n"
                .into(),
            dictionaries: vec![],
        };
        let (catalog, _) = Catalog::from_texts(Path::new("<synthetic>"), &texts).unwrap();
        let pids: Vec<Pid> = (0..n).map(|i| Pid(1_000_000 + 7 * i)).collect();
        let mut data = HashMap::new();
        for &p in &pids {
            for s in catalog.signals() {
                let len = 1 + (p.0 ^ s.sid.0) % 8;
                let mut v = Vec::new();
                for k in 0..len {
                    v.extend_from_slice(&(20_000_101 + k as i32).to_le_bytes());
                    v.extend_from_slice(&(k as f32 * 0.5).to_le_bytes());
                }
                data.insert((p, s.sid), v);
            }
        }
        Synthetic {
            catalog,
            pids,
            data,
        }
    }
}

impl SignalStore for Synthetic {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn pids(&self) -> &[Pid] {
        &self.pids
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> inframed::Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(
            self.data.get(&(pid, sid)).map_or(&[][..], |v| &v[..]),
        ))
    }
}

fn bench(c: &mut Criterion) {
    let golden = golden();
    let pairs_golden = pairs(&golden, 1);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("small-itar");
    itar::export(&golden, &out, &ExportOptions::default()).unwrap();
    let itar = Repository::open(&out).unwrap();
    assert_eq!(
        lookups(&itar, &pairs_golden),
        lookups(&golden, &pairs_golden)
    );

    let synthetic = Synthetic::new(20_000);
    let out_syn = dir.path().join("synthetic-itar");
    itar::export(&synthetic, &out_syn, &ExportOptions::default()).unwrap();
    let itar_syn = ItarStore::open(&out_syn).unwrap();
    let pairs_syn = pairs(&synthetic, 1);
    assert_eq!(
        lookups(&itar_syn, &pairs_syn),
        lookups(&synthetic, &pairs_syn)
    );

    let mut g = get_group(c, Duration::from_secs(2));
    g.bench_function("mode3", |b| b.iter(|| lookups(&golden, &pairs_golden)));
    g.bench_function("itar", |b| b.iter(|| lookups(&itar, &pairs_golden)));
    g.bench_function("itar/synthetic20k", |b| {
        b.iter(|| lookups(&itar_syn, &pairs_syn))
    });
    bench_hashmap(&mut g, "hashmap", &golden, &pairs_golden, &pairs_golden);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
