//! A whole-signal aggregate in one process: the element count and the sum of value channel 0
//! of one signal over every patient, for a repository, a container or a shard manifest. The
//! Rust side of the Spark-vs-one-process comparison in BENCHMARKS.md (benches/spark/).
//!
//! `cargo run --release --example signal_aggregate -- PATH [SIGNAL]` (default Hemoglobin)
//! prints `rows`, `sum`, and the open and scan times in seconds.

use std::borrow::Cow;
use std::time::Instant;

use inframed::{Repository, Signal, SignalStore};

fn main() -> inframed::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "testdata/inframed/small/repo/small.repository".into());
    let name = args.next().unwrap_or_else(|| "Hemoglobin".into());

    let t = Instant::now();
    let repo = Repository::open(&path)?;
    let info = repo.catalog().signal(&name)?;
    let (sid, layout) = (info.sid, &info.layout);
    let opened = t.elapsed();

    let (mut rows, mut sum) = (0u64, 0f64);
    let mut bad = None;
    repo.scan(
        sid,
        &mut |pid, bytes| match Signal::new(Cow::Borrowed(bytes), layout, pid, sid) {
            Ok(s) => {
                rows += s.len() as u64;
                sum += s.iter().map(|e| e.value(0).as_f64()).sum::<f64>();
            }
            Err(e) => {
                bad.get_or_insert(e);
            }
        },
    )?;
    if let Some(e) = bad {
        return Err(e);
    }
    let scanned = t.elapsed() - opened;
    println!("rows {rows}");
    println!("sum {sum}");
    println!("open_s {:.6}", opened.as_secs_f64());
    println!("scan_s {:.6}", scanned.as_secs_f64());
    Ok(())
}
