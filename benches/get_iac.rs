//! `get/iac/{none,brotli}`: random `get_bytes` lookups on the golden repository exported as a
//! patient pack, beside `get/mode3` (the native store on the same data) and an in-RAM
//! `HashMap<(Pid, Sid), Vec<u8>>` baseline. Containers are built outside `b.iter`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inframed::backend::iac::{write_patient_pack, Codec};
use inframed::{Pid, Repository, Sid, SignalStore};

const LOOKUPS: usize = 1024;

/// `LOOKUPS` benchmark keys: existing (pid, sid) pairs plus 10% misses (shared sampler).
fn pairs(store: &dyn SignalStore) -> Vec<(Pid, Sid)> {
    let pairs = inframed::synth::existing_pairs(store).unwrap();
    inframed::synth::sample_keys(store, &pairs, LOOKUPS, 1, 10)
}

fn lookups(store: &dyn SignalStore, pairs: &[(Pid, Sid)]) -> usize {
    let mut n = 0;
    for &(p, s) in pairs {
        n += store.get_bytes(black_box(p), black_box(s)).unwrap().len();
    }
    n
}

fn bench(c: &mut Criterion) {
    let golden_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inframed/small/repo/small.repository");
    let golden = Repository::open(&golden_path).unwrap();
    let pairs = pairs(&golden);
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(LOOKUPS as u64))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    g.bench_function("mode3", |b| b.iter(|| lookups(&golden, &pairs)));
    for (name, codec) in [("none", Codec::None), ("brotli", Codec::brotli())] {
        let out = dir.path().join(format!("{name}.iac"));
        write_patient_pack(&golden, &out, &codec).unwrap();
        let repo = Repository::open(&out).unwrap();
        assert_eq!(lookups(&repo, &pairs), lookups(&golden, &pairs));
        g.bench_function(format!("iac/{name}"), |b| b.iter(|| lookups(&repo, &pairs)));
    }
    let map: HashMap<(Pid, Sid), Vec<u8>> = pairs
        .iter()
        .map(|&(p, s)| ((p, s), golden.get_bytes(p, s).unwrap().into_owned()))
        .collect();
    g.bench_function("hashmap", |b| {
        b.iter(|| {
            let mut n = 0;
            for &(p, s) in &pairs {
                n += map.get(&(black_box(p), black_box(s))).map_or(0, Vec::len);
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
