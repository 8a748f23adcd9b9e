//! Pid-range shards through the library: a synthetic repository (written by the synth
//! writer, not by the shard code) split into 1, 3 and 7 shards reads back, through the
//! manifest, exactly as the source (the conformance suite); every shard opens alone as an
//! ordinary repository; ranges are balanced by element count; a missing shard or one of
//! another catalog is an error naming it; the target rule holds.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use inframed::shard::{balance, write_shards, Manifest, ShardOptions};
use inframed::synth::{self, SynthOptions};
use inframed::{Error, Repository, SignalStore};

fn synth_repo(dir: &Path, patients: u32, seed: u64) -> PathBuf {
    let o = SynthOptions {
        patients,
        seed,
        mean_events: 40,
    };
    synth::write_repository(&dir.join(format!("synth{seed}")), &o).unwrap()
}

fn shard(repo: &Repository, out: &Path, n: usize) -> PathBuf {
    write_shards(repo, out, &ShardOptions::new(n, repo.catalog()).unwrap()).unwrap()
}

#[test]
fn one_three_seven_shards_read_as_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = Repository::open(synth_repo(dir.path(), 200, 3)).unwrap();
    let total: u64 = src
        .catalog()
        .signals()
        .iter()
        .map(|s| {
            let mut n = 0u64;
            src.scan(s.sid, &mut |_, b| n += (b.len() / s.layout.size()) as u64)
                .unwrap();
            n
        })
        .sum();
    for n in [1usize, 3, 7] {
        let out = dir.path().join(format!("sh{n}"));
        let manifest_path = shard(&src, &out, n);
        assert_eq!(manifest_path, out.join("shards.json"));
        let m = Manifest::read(&manifest_path).unwrap();
        assert_eq!(m.shards.len(), n);
        assert_eq!(m.patients, 200);
        assert_eq!(m.elements, total);
        assert_eq!(m.shards.iter().map(|s| s.elements).sum::<u64>(), total);
        // Every shard is a standalone repository holding exactly its range.
        let mut pids = Vec::new();
        for (i, s) in m.shards.iter().enumerate() {
            let alone = Repository::open(m.shard_path(&manifest_path, i)).unwrap();
            assert_eq!(alone.pids().len() as u64, s.patients);
            assert_eq!(alone.pids().first().unwrap().0, s.first_pid);
            assert_eq!(alone.pids().last().unwrap().0, s.last_pid);
            pids.extend_from_slice(alone.pids());
        }
        assert_eq!(pids, src.pids());
        let sharded = Repository::open(&manifest_path).unwrap();
        common::conformance(&sharded, &src);
        // Pids of no shard (below, between, above the ranges): routed to a neighbouring
        // shard without a range test, they read as empty, and an unknown sid is an error.
        let (lo, hi) = (src.pids()[0].0, src.pids().last().unwrap().0);
        let mut absent: Vec<u32> = (lo..=hi)
            .filter(|p| src.pids().binary_search(&inframed::Pid(*p)).is_err())
            .take(50)
            .collect();
        absent.extend([0, lo.saturating_sub(1), hi + 1, hi + 1000, u32::MAX]);
        let store = inframed::shard::ShardedStore::open(&manifest_path).unwrap();
        for p in absent {
            if src.pids().binary_search(&inframed::Pid(p)).is_ok() {
                continue;
            }
            for sig in src.catalog().signals() {
                assert!(store
                    .get_bytes(inframed::Pid(p), sig.sid)
                    .unwrap()
                    .is_empty());
            }
            assert!(matches!(
                store.get_bytes(inframed::Pid(p), inframed::Sid(99_999)),
                Err(Error::UnknownSid { .. })
            ));
        }
        sharded.verify().unwrap();
        let d = sharded.describe();
        assert!(d.format.starts_with("inframed shards"), "{}", d.format);
        assert!(d.files.iter().any(|(p, _)| p == &manifest_path));
    }
}

#[test]
fn ranges_balance_elements_not_patients() {
    // 10 patients: one heavy one first. Balanced by count, the heavy one is a shard alone.
    let counts = [100u64, 10, 10, 10, 10, 10, 10, 10, 10, 10];
    let r = balance(&counts, 2);
    assert_eq!(r, vec![0..1, 1..10]);
    // Never more shards than patients, never an empty shard.
    assert_eq!(balance(&[5, 5], 7), vec![0..1, 1..2]);
    assert_eq!(balance(&[0, 0, 0], 3), vec![0..1, 1..2, 2..3]);
    let empty = balance(&[], 4);
    assert_eq!(empty.len(), 1);
    assert!(empty[0].is_empty());
    // Uniform counts: equal patient counts.
    assert_eq!(balance(&[1; 9], 3), vec![0..3, 3..6, 6..9]);
    // Each shard's sum is within one patient of total/n.
    let counts: Vec<u64> = (0..500u64).map(|i| (i * 7919) % 97 + 1).collect();
    let total: u64 = counts.iter().sum();
    let max = *counts.iter().max().unwrap();
    for n in [2usize, 5, 13] {
        let r = balance(&counts, n);
        assert_eq!(r.len(), n);
        assert_eq!(r.first().unwrap().start, 0);
        assert_eq!(r.last().unwrap().end, counts.len());
        for w in r.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        for x in &r {
            let s: u64 = counts[x.clone()].iter().sum();
            assert!(
                s.abs_diff(total / n as u64) <= max,
                "{n} shards: {s} of {total}"
            );
        }
    }
}

#[test]
fn missing_or_foreign_shard_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = Repository::open(synth_repo(dir.path(), 60, 5)).unwrap();
    let manifest = shard(&src, &dir.path().join("a"), 3);

    // Another catalog: the bundled small repository, sharded the same way.
    let other = common::golden_repo();
    let other_manifest = shard(&other, &dir.path().join("b"), 3);
    let broken = dir.path().join("mixed");
    common::copy_dir(&dir.path().join("a"), &broken);
    fs::remove_dir_all(broken.join("shard-0001")).unwrap();
    common::copy_dir(
        &other_manifest.parent().unwrap().join("shard-0001"),
        &broken.join("shard-0001"),
    );
    let e = Repository::open(broken.join("shards.json")).unwrap_err();
    let msg = e.to_string() + &format!(": {}", std::error::Error::source(&e).unwrap());
    assert!(
        matches!(
            e.format_error(),
            Some(inframed::FormatError::Shard(
                inframed::shard::ShardError::Catalog { shard: 1, .. }
            ))
        ),
        "{e}"
    );
    assert!(msg.contains("shard-0001"), "{msg}");
    assert!(msg.contains("another catalog"), "{msg}");

    // A missing shard.
    let gone = dir.path().join("gone");
    common::copy_dir(&dir.path().join("a"), &gone);
    fs::remove_dir_all(gone.join("shard-0002")).unwrap();
    let e = Repository::open(gone.join("shards.json")).unwrap_err();
    let msg = format!("{e}: {:?}", std::error::Error::source(&e));
    assert!(matches!(e, Error::Open { .. }), "{e}");
    assert!(msg.contains("shard-0002"), "{msg}");
    assert!(msg.contains("missing"), "{msg}");

    // A manifest that is not one (bad JSON) names its line.
    let bad = dir.path().join("bad.json");
    fs::write(&bad, "{\n \"format\": \"inframed-shards\",\n oops\n}\n").unwrap();
    let e = Repository::open(&bad).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 3, .. }), "{e}");

    // The intact one still opens.
    Repository::open(&manifest).unwrap();
}

#[test]
fn target_rule() {
    let dir = tempfile::tempdir().unwrap();
    let src = Repository::open(synth_repo(dir.path(), 30, 9)).unwrap();
    let out = dir.path().join("out");
    let options = ShardOptions::new(2, src.catalog()).unwrap();

    // An unrelated folder is refused and left as it was.
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("notes.txt"), b"mine").unwrap();
    let e = write_shards(&src, &out, &options).unwrap_err();
    assert!(matches!(e, Error::Occupied { .. }), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(fs::read(out.join("notes.txt")).unwrap(), b"mine");

    // A previous shard output is replaced (with another shard count).
    fs::remove_file(out.join("notes.txt")).unwrap();
    write_shards(&src, &out, &options).unwrap();
    let mut o3 = options.clone();
    o3.shards = 3;
    write_shards(&src, &out, &o3).unwrap();
    assert_eq!(
        Manifest::read(&out.join("shards.json"))
            .unwrap()
            .shards
            .len(),
        3
    );
    assert!(!out.join("shard-0003").exists());

    // A stray file inside a shard output makes it not ours any more.
    fs::write(out.join("shard-0001/extra.txt"), b"x").unwrap();
    let e = write_shards(&src, &out, &options).unwrap_err();
    assert!(e.to_string().contains("extra.txt"), "{e}");
    // Unless forced.
    let mut forced = options.clone();
    forced.force = true;
    write_shards(&src, &out, &forced).unwrap();
    assert!(!out.join("shard-0001/extra.txt").exists());

    // A plain file at the target is refused.
    let file = dir.path().join("file");
    fs::write(&file, b"data").unwrap();
    assert!(matches!(
        write_shards(&src, &file, &options).unwrap_err(),
        Error::Occupied { .. }
    ));
    assert_eq!(fs::read(&file).unwrap(), b"data");
    // Zero shards is a usage error.
    let mut zero = options.clone();
    zero.shards = 0;
    assert!(matches!(
        write_shards(&src, &dir.path().join("z"), &zero).unwrap_err(),
        Error::InvalidInput {
            source: inframed::InputError::OutOfRange {
                what: "--shards",
                value: 0,
                ..
            }
        }
    ));
}
