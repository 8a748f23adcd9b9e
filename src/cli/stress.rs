//! `inframed bench --duration SECS`: a fixed-time stress run (#16 item 6). K threads hammer
//! random `get`s (with ~10% misses), batched `get_many`s, 3-year `range` queries and, on one
//! thread, whole-signal scans, until the time is up; every answer is checked against a model
//! taken before the run (length and FNV-1a hash of each key's bytes). It reports the
//! operations done and the errors: an `Err` from the store or an answer that differs from the
//! model. Any error makes the command fail.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use inframed::synth::{self, Rng};
use inframed::{Pid, Sid, SignalStore, SignalStoreExt};

/// FNV-1a over `b`: a cheap fingerprint of a key's bytes.
fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What each key must read: (pid, sid, byte length, fingerprint).
type Model = Vec<(Pid, Sid, usize, u64)>;

/// Counts of one thread.
#[derive(Default)]
struct Tally {
    gets: u64,
    many: u64,
    ranges: u64,
    scans: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }

    fn add(&mut self, o: Tally) {
        self.gets += o.gets;
        self.many += o.many;
        self.ranges += o.ranges;
        self.scans += o.scans;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// One thread's loop until `stop`.
fn hammer(
    store: &dyn SignalStore,
    model: &Model,
    scans: &[(Sid, usize)],
    seed: u64,
    thread: usize,
    stop: &AtomicBool,
) -> Tally {
    let mut t = Tally::default();
    let mut rng = Rng::new(seed, 100 + thread as u64);
    let mut batch = Vec::with_capacity(256);
    let mut expect = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        // 1024 single lookups.
        for _ in 0..1024 {
            let (pid, sid, len, hash) = model[(rng.next_u64() % model.len() as u64) as usize];
            match store.get_bytes(pid, sid) {
                Ok(b) if b.len() == len && fnv(&b) == hash => {}
                Ok(b) => t.error(format!(
                    "get({pid:?}, {sid:?}): {} bytes, fingerprint {:x}; the model has {len}, {hash:x}",
                    b.len(),
                    fnv(&b)
                )),
                Err(e) => t.error(format!("get({pid:?}, {sid:?}): {e}")),
            }
            t.gets += 1;
        }
        // One get_many of 256 keys.
        batch.clear();
        expect.clear();
        for _ in 0..256 {
            let (pid, sid, len, hash) = model[(rng.next_u64() % model.len() as u64) as usize];
            batch.push((pid, sid));
            expect.push((len, hash));
        }
        match store.get_many(&batch, &mut out) {
            Ok(()) => {
                for (k, (b, &(len, hash))) in out.iter().zip(&expect).enumerate() {
                    if b.len() != len || fnv(b) != hash {
                        t.error(format!(
                            "get_many: key {:?} differs from the model",
                            batch[k]
                        ));
                    }
                }
                if out.len() != batch.len() {
                    t.error(format!(
                        "get_many: {} answers for {} keys",
                        out.len(),
                        batch.len()
                    ));
                }
            }
            Err(e) => t.error(format!("get_many: {e}")),
        }
        t.many += 1;
        // 64 time windows: each must be the elements of the whole vector in the window.
        for _ in 0..64 {
            let (pid, sid, _, _) = model[(rng.next_u64() % model.len() as u64) as usize];
            let from = 20000101 + 10000 * i64::from(rng.below(22));
            match store.signal(pid, sid) {
                Ok(s) => {
                    let w = s.range(from, from + 30000);
                    let n = if s.layout().time_channels().is_empty() {
                        s.len()
                    } else {
                        (0..s.len())
                            .filter(|&i| (from..=from + 30000).contains(&s.time(i, 0).as_i64()))
                            .count()
                    };
                    if w.len() != n {
                        t.error(format!(
                            "range({pid:?}, {sid:?}, {from}): {} elements, {n} in the window",
                            w.len()
                        ));
                    }
                }
                Err(e) => t.error(format!("signal({pid:?}, {sid:?}): {e}")),
            }
            t.ranges += 1;
        }
        // Thread 0: every 16th round, one whole-signal scan against its byte total.
        if thread == 0 && round % 16 == 0 && !scans.is_empty() {
            let (sid, bytes) = scans[(round / 16) as usize % scans.len()];
            let mut seen = 0usize;
            match store.scan(sid, &mut |_, b| seen += b.len()) {
                Ok(()) if seen == bytes => {}
                Ok(()) => t.error(format!(
                    "scan({sid:?}): {seen} bytes, the model has {bytes}"
                )),
                Err(e) => t.error(format!("scan({sid:?}): {e}")),
            }
            t.scans += 1;
        }
    }
    t
}

/// Runs the stress test on `store` for `duration` on `threads` threads and prints the tally.
///
/// # Errors
/// A store error while building the model, or any error during the run.
pub(crate) fn run(
    store: &dyn SignalStore,
    threads: usize,
    duration: Duration,
    keys: usize,
    seed: u64,
) -> anyhow::Result<()> {
    let pairs = synth::existing_pairs(store)?;
    anyhow::ensure!(!pairs.is_empty(), "the repository has no elements");
    let mut model = Model::with_capacity(keys);
    for (pid, sid) in synth::sample_keys(store, &pairs, keys, seed, 10) {
        let b = store.get_bytes(pid, sid)?;
        model.push((pid, sid, b.len(), fnv(&b)));
    }
    let mut scans = Vec::new();
    for info in store.catalog().signals() {
        let mut bytes = 0usize;
        store.scan(info.sid, &mut |_, b| bytes += b.len())?;
        scans.push((info.sid, bytes));
    }
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let mut total = Tally::default();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|k| {
                let (model, scans, stop) = (&model, &scans, &stop);
                s.spawn(move || hammer(store, model, scans, seed, k, stop))
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            total.add(
                h.join()
                    .map_err(|_| anyhow::anyhow!("stress thread panicked"))?,
            );
        }
        Ok(())
    })?;
    let secs = t0.elapsed().as_secs_f64();
    println!("store\t{}", store.describe().format);
    println!("patients\t{}", store.pids().len());
    println!("stress\t{} threads\t{secs:.1} s", threads.max(1));
    println!(
        "lookups\t{}\t({:.2} M/s; get_many batches of 256: {}, range queries: {}, scans: {})",
        total.gets + 256 * total.many,
        (total.gets + 256 * total.many) as f64 / secs / 1e6,
        total.many,
        total.ranges,
        total.scans
    );
    println!("errors\t{}", total.errors);
    if let Some(e) = total.first_error {
        anyhow::bail!(
            "{} errors during the stress run; the first: {e}",
            total.errors
        );
    }
    Ok(())
}
