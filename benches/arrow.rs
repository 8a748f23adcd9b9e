//! A whole signal as Arrow `RecordBatch`es (`inframed::arrow::signal_batches` over every
//! patient), in GB/s of element bytes, beside the floor of the same bytes read with
//! `get_bytes` and summed. Data: a synthetic repository (`inframed::synth`) of
//! `INFRAMED_BENCH_PATIENTS` patients (default 20,000; 100,000 is the set of BENCHMARKS.md),
//! built once under `target/bench-data/arrow-<patients>/` outside the timings, or the
//! repository config `INFRAMED_BENCH_REPO` names.
//!
//! `cargo bench --profile release --bench arrow`; figures go to BENCHMARKS.md (issue #17).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use inframed::arrow::{signal_batches, ArrowOptions};
use inframed::synth::{self, SynthOptions};
use inframed::{Repository, SignalStore};

fn repo() -> Repository {
    if let Ok(p) = std::env::var("INFRAMED_BENCH_REPO") {
        return Repository::open(&p).unwrap();
    }
    let patients: u32 = std::env::var("INFRAMED_BENCH_PATIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/bench-data/arrow-{patients}"));
    let config = dir.join("synth.repository");
    if !config.exists() {
        let o = SynthOptions {
            patients,
            ..Default::default()
        };
        synth::write_repository(&dir, &o).unwrap();
    }
    Repository::open(&config).unwrap()
}

/// Element bytes of `name` over every patient.
fn element_bytes(repo: &Repository, name: &str) -> u64 {
    let sid = repo.catalog().signal(name).unwrap().sid;
    repo.pids()
        .iter()
        .map(|&p| repo.get_bytes(p, sid).unwrap().len() as u64)
        .sum()
}

fn arrow(c: &mut Criterion) {
    let repo = repo();
    let mut g = c.benchmark_group("arrow");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    // A numeric lab (T(i),V(f): dates to date32, floats copied) and the categorical
    // DIAGNOSIS (codes to a dictionary column).
    for name in ["Hemoglobin", "DIAGNOSIS"] {
        let bytes = element_bytes(&repo, name);
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{name}/signal_batches"), |b| {
            b.iter(|| {
                let mut rows = 0usize;
                for batch in signal_batches(&repo, name, None, &ArrowOptions::default()).unwrap() {
                    rows += black_box(batch.unwrap()).num_rows();
                }
                rows
            })
        });
        let sid = repo.catalog().signal(name).unwrap().sid;
        g.bench_function(format!("{name}/get_bytes_floor"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for &p in repo.pids() {
                    let v = repo.get_bytes(black_box(p), sid).unwrap();
                    sum += v.iter().map(|&x| x as u64).sum::<u64>();
                }
                sum
            })
        });
    }
    g.finish();
}

criterion_group!(benches, arrow);
criterion_main!(benches);
