//! `get/iac/{none,brotli}`: random `get_bytes` lookups on the golden repository exported as a
//! patient pack, beside `get/mode3` (the native store on the same data) and an in-RAM
//! `HashMap<(Pid, Sid), Vec<u8>>` baseline. Containers are built outside `b.iter`.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use inframed::backend::{iac, ExportOptions};
use inframed::Repository;

use common::{bench_hashmap, get_group, golden, lookups, pairs};

fn bench(c: &mut Criterion) {
    let golden = golden();
    let pairs = pairs(&golden, 1);
    let dir = tempfile::tempdir().unwrap();
    let mut g = get_group(c, Duration::from_secs(2));
    g.bench_function("mode3", |b| b.iter(|| lookups(&golden, &pairs)));
    for name in ["none", "brotli"] {
        let out = dir.path().join(format!("{name}.iac"));
        let options = ExportOptions {
            codec: Some(name.into()),
            ..ExportOptions::default()
        };
        iac::export(&golden, &out, &options).unwrap();
        let repo = Repository::open(&out).unwrap();
        assert_eq!(lookups(&repo, &pairs), lookups(&golden, &pairs));
        g.bench_function(format!("iac/{name}"), |b| b.iter(|| lookups(&repo, &pairs)));
    }
    bench_hashmap(&mut g, "hashmap", &golden, &pairs, &pairs);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
