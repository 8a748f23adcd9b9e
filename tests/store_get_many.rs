//! `get_many` returns, key for key, exactly what `get_bytes` returns: over every existing
//! (pid, signal) pair of a synthetic MODE 3 repository, over random keys (misses, pids outside
//! the index range, every signal), through `Repository` and the bare `NativeStore`, and with
//! the same error as `get_bytes` for a key with an unknown sid.

use std::borrow::Cow;

use inframed::synth::{self, SynthOptions};
use inframed::text::config::RepositoryConfig;
use inframed::{Error, NativeStore, Pid, Repository, Sid, SignalStore};
use proptest::prelude::ProptestConfig;
use proptest::test_runner::TestRunner;

fn repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let o = SynthOptions {
        patients: 400,
        seed: 5,
        mean_events: 60,
    };
    let config = synth::write_repository(dir.path(), &o).unwrap();
    let repo = Repository::open(&config).unwrap();
    (dir, repo)
}

/// Each key's `get_bytes`, compared with `get_many` of the whole batch.
fn check(store: &dyn SignalStore, keys: &[(Pid, Sid)]) {
    let mut out: Vec<Cow<'_, [u8]>> = vec![Cow::Owned(vec![1, 2, 3])]; // replaced, not appended
    store.get_many(keys, &mut out).unwrap();
    assert_eq!(out.len(), keys.len());
    for (k, got) in keys.iter().zip(&out) {
        let want = store.get_bytes(k.0, k.1).unwrap();
        assert_eq!(got[..], want[..], "key {k:?}");
    }
}

#[test]
fn every_existing_pair_and_every_miss_of_a_pid_range() {
    let (_dir, repo) = repo();
    let pairs = synth::existing_pairs(&repo).unwrap();
    assert!(pairs.len() > 1000, "{} pairs", pairs.len());
    check(&repo, &pairs);
    // Reversed: lanes mix signals and jump over the index.
    let rev: Vec<_> = pairs.iter().rev().copied().collect();
    check(&repo, &rev);
    // Every pid from 0 to past the last, for every signal: hits, holes, out of range.
    let last = repo.pids().last().unwrap().0;
    let sids: Vec<Sid> = repo.catalog().signals().iter().map(|s| s.sid).collect();
    let all: Vec<_> = (0..last + 70)
        .step_by(7)
        .flat_map(|p| sids.iter().map(move |&s| (Pid(p), s)))
        .collect();
    check(&repo, &all);
    check(&repo, &[]);
    // The bare store: its own impl, not the repository's forwarding.
    check(repo.layers()[0].store.as_ref(), &all);
}

#[test]
fn unknown_sid_fails_like_get() {
    let (_dir, repo) = repo();
    let pairs = synth::existing_pairs(&repo).unwrap();
    let mut keys: Vec<_> = pairs[..40].to_vec();
    keys.insert(21, (pairs[0].0, Sid(54_321)));
    let mut out = Vec::new();
    let err = repo.get_many(&keys, &mut out).unwrap_err();
    assert!(
        matches!(err, Error::UnknownSid { sid } if sid == Sid(54_321)),
        "{err}"
    );
    let single = repo.get_bytes(pairs[0].0, Sid(54_321)).unwrap_err();
    assert_eq!(err.to_string(), single.to_string());
}

/// Random batches over one repository (built once: a `TestRunner`, not `proptest!`, so the
/// repository is not rewritten per case).
#[test]
fn random_keys() {
    let (_dir, repo) = repo();
    let sids: Vec<Sid> = repo.catalog().signals().iter().map(|s| s.sid).collect();
    let pids = repo.pids();
    let strategy = proptest::collection::vec((0u32..1_100_000, 0usize..16), 0..200);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&strategy, |raw| {
            // Even keys on existing pids (so most hit), odd ones anywhere.
            let keys: Vec<_> = raw
                .iter()
                .enumerate()
                .map(|(i, &(p, s))| {
                    let pid = if i % 2 == 0 {
                        pids[p as usize % pids.len()]
                    } else {
                        Pid(p)
                    };
                    (pid, sids[s % sids.len()])
                })
                .collect();
            check(&repo, &keys);
            Ok(())
        })
        .unwrap();
}

/// A synthetic MODE 3 repository in a temp dir, and its config.
fn synth_config(
    patients: u32,
    seed: u64,
    mean_events: u32,
) -> (tempfile::TempDir, RepositoryConfig) {
    let dir = tempfile::tempdir().unwrap();
    let o = SynthOptions {
        patients,
        seed,
        mean_events,
    };
    let config = synth::write_repository(dir.path(), &o).unwrap();
    let cfg = RepositoryConfig::read(&config).unwrap();
    (dir, cfg)
}

/// The bare MODE 3 store of `cfg`, opened anew.
fn open_native(cfg: &RepositoryConfig) -> NativeStore {
    let (catalog, _) = inframed::repository::read_catalog(cfg).unwrap();
    NativeStore::open(catalog, &cfg.prefix_path(), vec![]).unwrap()
}

/// Every (pid, bytes) a scan visits, in visiting order.
type Visits = Vec<(Pid, Vec<u8>)>;

/// What `scan` visits of `sid`.
fn scan_visits(store: &NativeStore, sid: Sid) -> inframed::Result<Visits> {
    let mut v = Vec::new();
    store
        .scan(sid, &mut |p, b| v.push((p, b.to_vec())))
        .map(|()| v)
}

/// What `par_scan` visits of `sid`, collected per range and the ranges concatenated as reduced.
fn par_scan_visits(store: &NativeStore, sid: Sid) -> inframed::Result<Visits> {
    store.par_scan(
        sid,
        Vec::new,
        |v, p, b| v.push((p, b.to_vec())),
        |mut a, b| {
            a.extend(b);
            a
        },
    )
}

/// `NativeStore::par_scan` visits exactly what `scan` visits: every (pid, bytes) of every
/// signal, each range's pids ascending, and the ranges' results reduced in pid order (so a
/// collecting fold gives `scan`'s order).
#[test]
fn par_scan_visits_what_scan_visits() {
    // pids spread over many ranges, of shrinking sizes
    let (_dir, cfg) = synth_config(14_000, 9, 3);
    let store = open_native(&cfg);
    let max_pid = store.pids().last().unwrap().0;
    assert!(
        max_pid > 16 * 64 * 64,
        "pids up to {max_pid}: one range of each size only"
    );
    for info in store.catalog().signals() {
        let want = scan_visits(&store, info.sid).unwrap();
        let got = par_scan_visits(&store, info.sid).unwrap();
        assert_eq!(got, want, "{}", info.name);
    }
}

/// A damaged `.idx` gives `par_scan` what it gives `scan`: both the error (the same message: the
/// first failing range is the one `scan` fails in) or both the same visits, never a panic. Every
/// 4-byte entry of one signal's index, sampled, gets its high byte flipped; the store is opened
/// anew for each damage (the checks run on a signal's first read).
#[test]
fn par_scan_agrees_with_scan_on_a_damaged_index() {
    let (dir, cfg) = synth_config(14_000, 9, 3); // many ranges
    let sid = open_native(&cfg)
        .catalog()
        .signal("Hemoglobin")
        .unwrap()
        .sid;
    let idx = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_Hemoglobin.idx"))
        .unwrap();
    let original = std::fs::read(&idx).unwrap();
    let (mut errors, mut cases) = (0, 0);
    for at in (3..original.len()).step_by(4 * 37) {
        let mut damaged = original.clone();
        damaged[at] ^= 0x40;
        std::fs::write(&idx, &damaged).unwrap();
        let store = open_native(&cfg);
        let want = scan_visits(&store, sid);
        let got = par_scan_visits(&store, sid);
        match (&want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(w, g, "byte {at}"),
            (Err(w), Err(g)) => {
                assert_eq!(w.to_string(), g.to_string(), "byte {at}");
                errors += 1;
            }
            _ => panic!(
                "byte {at}: scan {:?}, par_scan {:?}",
                want.is_ok(),
                got.is_ok()
            ),
        }
        cases += 1;
    }
    std::fs::write(&idx, &original).unwrap();
    assert!(cases > 50 && errors > 0, "{cases} damages, {errors} errors");
}

/// A `fold` that panics on a pool thread while the caller still works: the panic reaches the
/// caller (rayon's scope rethrows it) and the caller does not wait forever for the thread that
/// panicked (`par_scan` spins while its helpers are busy; a panicking helper must count as done).
/// The caller's fold holds back until a helper has run (or 5 s pass), so a helper takes a range;
/// the caller runs on its own thread, so that a caller stuck waiting fails the test, not hangs it.
#[test]
fn a_panic_in_a_helper_fold_reaches_the_caller() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    if rayon::current_num_threads() < 2 {
        return; // one core: the pool has one thread, and the caller no helper
    }
    let (_dir, cfg) = synth_config(14_000, 9, 3); // many ranges
    let store = open_native(&cfg);
    let sid = store.catalog().signal("Hemoglobin").unwrap().sid;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut panicked = 0;
        for _ in 0..5 {
            let helper_ran = AtomicBool::new(false);
            let since = Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.par_scan(
                    sid,
                    || 0usize,
                    |n, _, _| {
                        if rayon::current_thread_index().is_some() {
                            helper_ran.store(true, Ordering::Relaxed);
                            panic!("fold panicked on a pool thread");
                        }
                        while !helper_ran.load(Ordering::Relaxed)
                            && since.elapsed() < Duration::from_secs(5)
                        {
                            std::thread::yield_now();
                        }
                        *n += 1;
                    },
                    |a, b| a + b,
                )
            }));
            if let Err(e) = r {
                let message = e.downcast_ref::<&str>().copied();
                assert_eq!(message, Some("fold panicked on a pool thread"));
                panicked += 1;
            }
        }
        tx.send(panicked).unwrap();
    });
    let panicked = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("par_scan still waits for a helper whose fold panicked");
    assert!(panicked > 0, "no helper ever ran a range");
}

/// Index bytes at an address that is not 4-aligned (`NativeStore::from_bytes` over any bytes)
/// scan as the mapped files do: the element starts are then read entry by entry, not as a
/// `&[u32]`. Every signal, through `scan` and `par_scan`.
#[test]
fn scans_of_unaligned_in_memory_bytes_match_the_mapped_files() {
    /// `v[at..]`, with `at` chosen so that the bytes start 1 past a multiple of 4.
    struct Shifted {
        v: Vec<u8>,
        at: usize,
    }
    impl AsRef<[u8]> for Shifted {
        fn as_ref(&self) -> &[u8] {
            &self.v[self.at..]
        }
    }
    fn shifted(bytes: Vec<u8>) -> Shifted {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(&bytes);
        let at = (5 - v.as_ptr() as usize % 4) % 4;
        v.drain(..4 - at);
        let s = Shifted { v, at };
        assert_eq!(s.as_ref().as_ptr() as usize % 4, 1);
        assert_eq!(s.as_ref(), &bytes[..]);
        s
    }
    let (_dir, cfg) = synth_config(3_000, 4, 5);
    let prefix = cfg.prefix_path();
    let mapped = open_native(&cfg);
    let catalog = mapped.catalog().clone();
    let read = |p: &std::path::Path| std::fs::read(p).unwrap();
    let mut signals = Vec::new();
    for info in catalog.signals() {
        let (data, idx) = inframed::native::signal_paths(&prefix, &info.name);
        if idx.exists() {
            signals.push((info.sid, shifted(read(&idx)), shifted(read(&data))));
        }
    }
    assert!(signals.len() > 3);
    let pids = shifted(read(&inframed::native::pids_path(&prefix)));
    let memory = NativeStore::from_bytes(catalog.clone(), pids, signals).unwrap();
    for info in catalog.signals() {
        let want = scan_visits(&mapped, info.sid).unwrap();
        let got = scan_visits(&memory, info.sid).unwrap();
        assert_eq!(got, want, "{}: scan", info.name);
        let par = par_scan_visits(&memory, info.sid).unwrap();
        assert_eq!(par, want, "{}: par_scan", info.name);
    }
}
