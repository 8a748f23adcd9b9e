//! `inframed bench`: random `get(pid, sid)` over existing pairs (plus ~10% misses), ns per
//! lookup (median over batches), the same keys batched through `get_many`, lookups/s on K
//! threads, time-window queries, scan GB/s and open time, for any store.

use std::hint::black_box;
use std::time::{Duration, Instant};

use inframed::synth::{self, Rng};
use inframed::{Pid, Repository, Sid, SignalStore, SignalStoreExt};

use crate::cli::RepoArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Number of random lookups.
    #[arg(long, default_value_t = 2_000_000)]
    lookups: usize,
    /// Threads for the aggregate throughput run.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Random seed for the keys.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instead of the timings: a stress run of this many seconds on `--threads` threads
    /// (random gets, get_many batches, time windows and scans, each checked against a model
    /// of `--lookups` keys taken first); reports the lookups done and the errors, and fails
    /// on any error. Default: none, the timings run.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
}

const BATCH: usize = 10_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn lookup_pass(store: &dyn SignalStore, keys: &[(Pid, Sid)]) -> anyhow::Result<(Vec<f64>, usize)> {
    let mut per_batch = Vec::with_capacity(keys.len() / BATCH + 1);
    let mut total = 0usize;
    for chunk in keys.chunks(BATCH) {
        let t = Instant::now();
        for &(pid, sid) in chunk {
            total += store.get_bytes(black_box(pid), black_box(sid))?.len();
        }
        per_batch.push(t.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    Ok((per_batch, total))
}

/// As [`lookup_pass`], each batch looked up with one [`SignalStore::get_many`] call.
fn get_many_pass(
    store: &dyn SignalStore,
    keys: &[(Pid, Sid)],
) -> anyhow::Result<(Vec<f64>, usize)> {
    let mut per_batch = Vec::with_capacity(keys.len() / BATCH + 1);
    let mut total = 0usize;
    let mut out = Vec::with_capacity(BATCH);
    for chunk in keys.chunks(BATCH) {
        let t = Instant::now();
        store.get_many(black_box(chunk), &mut out)?;
        total += out.iter().map(|b| b.len()).sum::<usize>();
        per_batch.push(t.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    Ok((per_batch, total))
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    if let Some(secs) = a.duration {
        anyhow::ensure!(
            secs.is_finite() && secs > 0.0,
            "--duration must be a positive number of seconds, not {secs}"
        );
        let repo = a.repo.open()?;
        return crate::cli::stress::run(
            &repo,
            a.threads,
            Duration::from_secs_f64(secs),
            a.lookups.max(1),
            a.seed,
        );
    }
    let paths = a.repo.paths()?;
    let mut opens = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let repo = black_box(Repository::open_stacked(&paths)?);
        opens.push(t.elapsed().as_secs_f64() * 1e6);
        // Closed outside the timing: `open_us_median` is the open, as `open/mode3` times it.
        drop(repo);
    }
    let repo = a.repo.open()?;
    let store: &dyn SignalStore = &repo;
    let pids = store.pids();
    anyhow::ensure!(!pids.is_empty(), "the repository has no patients");

    // Existing (pid, sid) pairs: a full pass that also warms the page cache.
    let pairs = synth::existing_pairs(store)?;
    anyhow::ensure!(!pairs.is_empty(), "the repository has no elements");
    let keys = synth::sample_keys(store, &pairs, a.lookups, a.seed, 10);
    let mut rng = Rng::new(a.seed, 1);
    let mut checksum = 0u64;

    lookup_pass(store, &keys[..keys.len().min(100_000)])?; // warm the page cache
    let (per_batch, total) = lookup_pass(store, &keys)?;
    black_box(total);
    let (many_per_batch, many_total) = get_many_pass(store, &keys)?;
    anyhow::ensure!(
        many_total == total,
        "get_many read {many_total} bytes, get {total}"
    );

    // Each thread walks the keys from its own starting point, so no thread finds in cache what
    // another one has just loaded.
    let threads = a.threads.max(1);
    let rotated: Vec<Vec<(Pid, Sid)>> = (0..threads)
        .map(|t| {
            let mut k = keys.clone();
            k.rotate_left(t * keys.len() / threads);
            k
        })
        .collect();
    let t = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = rotated
            .iter()
            .map(|k| s.spawn(move || lookup_pass(store, k)))
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("bench thread panicked"))??;
        }
        Ok(())
    })?;
    let threaded = t.elapsed();

    // Time windows: a random 3-year window per existing pair, by binary search.
    let t = Instant::now();
    let mut in_window = 0usize;
    let n_range = keys.len().min(500_000);
    for &(pid, sid) in &keys[..n_range] {
        let from = 20000101 + 10000 * rng.below(22) as i64;
        in_window += store.signal(pid, sid)?.range(from, from + 30000).len();
    }
    let range = t.elapsed();
    black_box(in_window);

    // Whole-signal scans (hot: the pairs pass above touched every byte), summing one byte in
    // four so the data is read.
    let t = Instant::now();
    let mut scanned = 0usize;
    for info in store.catalog().signals() {
        store.scan(info.sid, &mut |_, b| {
            scanned += b.len();
            checksum = checksum.wrapping_add(b.iter().step_by(4).map(|&x| x as u64).sum::<u64>());
        })?;
    }
    let scan = t.elapsed();
    black_box(checksum);

    let ns = |d: Duration, n: usize| d.as_nanos() as f64 / n as f64;
    let lookups_total = keys.len() * a.threads.max(1);
    println!("store\t{}", store.describe().format);
    println!("patients\t{}", pids.len());
    println!("pairs\t{}", pairs.len());
    println!("open_us_median\t{:.1}", median(opens));
    println!(
        "get_ns_median\t{:.1}\t(get + length, {} random lookups, 10% misses, batches of {BATCH})",
        median(per_batch.clone()),
        keys.len()
    );
    println!(
        "get_many_ns\t{:.1}\t(per lookup: the same keys, one get_many call per batch of {BATCH})",
        median(many_per_batch)
    );
    println!("get_ns_p90_batch\t{:.1}", {
        let mut v = per_batch;
        v.sort_by(f64::total_cmp);
        v[(v.len() * 9 / 10).min(v.len() - 1)]
    });
    println!(
        "threads\t{}\t{:.1} M lookups/s aggregate",
        a.threads.max(1),
        lookups_total as f64 / threaded.as_secs_f64() / 1e6
    );
    println!(
        "range_ns\t{:.1}\t(get + 3-year window by binary search, {n_range} queries)",
        ns(range, n_range)
    );
    println!(
        "scan\t{:.2} GB/s\t(every signal over all patients: {scanned} bytes in {:.3} s)",
        scanned as f64 / scan.as_secs_f64() / 1e9,
        scan.as_secs_f64()
    );
    Ok(())
}
