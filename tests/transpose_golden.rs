//! The by-pid transpose: the original's own files read identically to the MODE 3 data; our
//! transpose equals the original's byte for byte (`.pid_idx` padding masked); `patient(pid)`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use inframed::native::transpose::{chunk_path, pid_idx_path, Transpose, TransposeStore};
use inframed::native::write::{build_transpose, build_transpose_with, chunk_plan, transpose_bytes};
use inframed::{DecodeError, Error, Pid, Repository, SignalStore};

fn golden_prefix() -> PathBuf {
    common::testdata("inframed/small/repo/data/small_rep")
}

fn golden_files() -> (Vec<u8>, Vec<u8>) {
    let p = golden_prefix();
    (
        fs::read(pid_idx_path(&p)).unwrap(),
        fs::read(chunk_path(&p, 0)).unwrap(),
    )
}

/// Zeroes the 6 uninitialised padding bytes of every 24-byte `PidIdxRec` (def_val and data).
fn mask(b: &[u8]) -> Vec<u8> {
    let mut b = b.to_vec();
    let at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    b[34..40].fill(0);
    let n_words_off = 60 + 4 * at(&b, 56);
    let n_data_off = n_words_off + 4 + 8 * at(&b, n_words_off);
    for i in 0..at(&b, n_data_off) {
        let e = n_data_off + 4 + 24 * i;
        b[e + 2..e + 8].fill(0);
    }
    b
}

#[test]
fn the_originals_transpose_reads_like_the_mode3_files() {
    let store = TransposeStore::open(common::golden_repo_path()).unwrap();
    common::conformance(&store, &common::golden_repo());
    let pids = store.transpose().pids();
    assert_eq!(pids, common::golden_repo().pids());
}

#[test]
fn our_transpose_equals_the_originals() {
    let golden = common::golden_repo();
    let (idx, chunks) = transpose_bytes(&golden).unwrap();
    let (want_idx, want_data) = golden_files();
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0] == want_data, ".pid_data differs");
    assert_eq!(idx.len(), want_idx.len());
    assert!(mask(&idx) == mask(&want_idx), ".pid_idx differs");
    // The original's padding really is garbage somewhere (what the mask is for), ours zeros.
    assert_ne!(want_idx, mask(&want_idx));
    assert_eq!(idx, mask(&idx));
}

#[test]
fn patient_serves_whole_records_from_the_transpose() {
    let repo = common::golden_repo();
    let mut borrowed = 0;
    for &pid in repo.pids() {
        let rec = repo.patient(pid).unwrap();
        assert_eq!(rec.pid(), pid);
        let mut n = 0;
        for info in repo.catalog().signals() {
            let want = repo.get_bytes(pid, info.sid).unwrap();
            assert_eq!(rec.get(info.sid), &want[..], "pid {pid} {}", info.name);
            n += !want.is_empty() as usize;
        }
        assert_eq!(rec.signals().len(), n);
        assert!(rec.signals().windows(2).all(|w| w[0].0 < w[1].0));
        borrowed += rec.is_borrowed() as usize;
    }
    assert_eq!(borrowed, repo.pids().len());
    // One contiguous read: every vector of a record lies inside that record's slice.
    let t = Transpose::open(&golden_prefix(), repo.catalog())
        .unwrap()
        .unwrap();
    let (_, _, raw) = t.record_bytes(Pid(1025)).unwrap().unwrap();
    let rec = t.record(Pid(1025)).unwrap().unwrap();
    let range = raw.as_ptr_range();
    for (_, v) in rec.signals() {
        assert!(range.contains(&v.as_ptr()));
    }
    assert!(repo.patient(Pid(1)).unwrap().signals().is_empty());
}

#[test]
fn build_transpose_in_place_and_fault_injection() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    common::copy_dir(common::golden_repo_path().parent().unwrap(), &dir);
    let config = dir.join("small.repository");
    let prefix = dir.join("data/small_rep");
    let (want_idx, want_data) = golden_files();
    // A reader holding the original transpose.
    let old = Repository::open(&config).unwrap();
    let rec_before = old.patient(Pid(1025)).unwrap().signals().to_vec();
    for n in [0u64, 1, 100, 13_000, 13_176, 15_000] {
        let err = build_transpose_with(&config, Some(n)).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(fs::read(chunk_path(&prefix, 0)).unwrap() == want_data);
        assert!(fs::read(pid_idx_path(&prefix)).unwrap() == want_idx);
    }
    // Stale chunks beyond the new count are removed.
    // A file of that name that is not a transpose chunk is not ours to remove.
    fs::write(chunk_path(&prefix, 1), b"stale").unwrap();
    let err = build_transpose(&config).unwrap_err();
    assert!(matches!(err, Error::Occupied { .. }), "{err}");
    assert_eq!(fs::read(chunk_path(&prefix, 1)).unwrap(), b"stale");
    fs::write(chunk_path(&prefix, 1), &want_data).unwrap();
    build_transpose(&config).unwrap();
    assert!(!chunk_path(&prefix, 1).exists());
    assert!(fs::read(chunk_path(&prefix, 0)).unwrap() == want_data);
    assert!(mask(&fs::read(pid_idx_path(&prefix)).unwrap()) == mask(&want_idx));
    assert_eq!(old.patient(Pid(1025)).unwrap().signals(), &rec_before[..]);
    let names: Vec<_> = fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn chunk_plan_follows_create_index() {
    // first = pids[0] - 1, last = pids[n-1] + 1, jump = max(1e6, (last - first) / 10).
    let p = |v: &[u32]| v.iter().map(|&x| Pid(x)).collect::<Vec<_>>();
    assert_eq!(chunk_plan(&p(&[1025, 30000])), (1024, 1_000_000, 1));
    assert_eq!(chunk_plan(&p(&[1, 999_998])), (0, 1_000_000, 1));
    assert_eq!(chunk_plan(&p(&[1, 999_999])), (0, 1_000_000, 2));
    // 50M range: jump 5,000,000, (50,000,002 / 5,000,000) + 1 = 11 chunks.
    assert_eq!(chunk_plan(&p(&[1, 50_000_000])), (0, 5_000_000, 11));
    assert_eq!(chunk_plan(&[]).2, 0);
}

#[test]
fn multi_chunk_transpose_round_trips() {
    // Pids spread over 25M: several chunk files, some of them empty.
    let golden = common::golden_repo();
    let mut w = inframed::native::RepositoryWriter::new("big", golden.catalog().clone()).unwrap();
    let hgb = golden.catalog().signal("Hemoglobin").unwrap().sid;
    let pids = [5u32, 6, 2_400_000, 9_999_999, 25_000_000];
    for (i, &pid) in pids.iter().enumerate() {
        let e = [20200101i32.to_le_bytes(), (i as f32).to_le_bytes()].concat();
        w.add(Pid(pid), hgb, &e).unwrap();
    }
    w.options_mut().transpose = true;
    let d = tempfile::tempdir().unwrap();
    let config = w.write(&d.path().join("big")).unwrap();
    let prefix = d.path().join("big/data/big_rep");
    let (_, _, n) = chunk_plan(&pids.map(Pid));
    assert_eq!(n, 11);
    for k in 0..n {
        assert!(chunk_path(&prefix, k).exists(), "chunk {k}");
    }
    assert_eq!(fs::metadata(chunk_path(&prefix, 5)).unwrap().len(), 0);
    let store = TransposeStore::open(&config).unwrap();
    store.verify().unwrap();
    let repo = Repository::open(&config).unwrap();
    common::conformance(&store, &repo);
}

fn damaged(f: impl Fn(&Path)) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("repo");
    common::copy_dir(common::golden_repo_path().parent().unwrap(), &dir);
    f(&dir.join("data/small_rep"));
    (d, dir.join("small.repository"))
}

fn check_all(config: &Path) -> Result<(), Error> {
    let store = TransposeStore::open(config)?;
    for &pid in store.pids() {
        for s in store.catalog().signals() {
            store.get_bytes(pid, s.sid)?;
        }
    }
    store.verify()
}

#[test]
fn damaged_transposes_are_errors_naming_file_and_offset() {
    let (idx, data) = golden_files();
    // Truncations of either file.
    for cut in [0, 10, 40, 100, idx.len() - 1] {
        let (_d, config) = damaged(|p| fs::write(pid_idx_path(p), &idx[..cut]).unwrap());
        let e = check_all(&config).unwrap_err();
        assert!(e.to_string().contains("pid_idx"), "{e}");
    }
    for cut in [0, 7, 200, data.len() - 1] {
        let (_d, config) = damaged(|p| fs::write(chunk_path(p, 0), &data[..cut]).unwrap());
        let e = check_all(&config).unwrap_err();
        assert!(e.to_string().contains("pid_data"), "{e}");
    }
    // The first record's magic, pid, a sid and a length.
    for (at, what) in [(0usize, "magic"), (8, "pid"), (16, "sid"), (24, "len")] {
        let (_d, config) = damaged(|p| {
            let mut d = data.clone();
            d[at] ^= 0x40;
            fs::write(chunk_path(p, 0), d).unwrap()
        });
        let e = check_all(&config).unwrap_err();
        match &e {
            Error::Corrupt { path, offset, .. } => {
                assert!(path.to_string_lossy().ends_with(".pid_data"), "{what}: {e}");
                assert!(*offset <= at as u64 + 8, "{what}: {e}");
            }
            _ => panic!("{what}: {e}"),
        }
    }
    let (_d, config) = damaged(|p| {
        let mut d = data.clone();
        d[0] ^= 1;
        fs::write(chunk_path(p, 0), d).unwrap()
    });
    let repo = Repository::open(&config).unwrap();
    match repo.patient(Pid(1025)).unwrap_err() {
        Error::Corrupt {
            offset: 0,
            source: DecodeError::Magic { .. },
            ..
        } => {}
        e => panic!("{e}"),
    }
    // A missing chunk file.
    let (_d, config) = damaged(|p| fs::remove_file(chunk_path(p, 0)).unwrap());
    assert!(matches!(
        check_all(&config),
        Err(Error::Inconsistent { .. })
    ));
    // Every single-bit flip of the index: an error or a consistent answer, never a panic.
    let catalog = common::golden_repo();
    for i in 0..idx.len() {
        let mut c = idx.clone();
        c[i] ^= 0x10;
        if let Ok(t) = Transpose::from_bytes(catalog.catalog(), c, vec![data.clone()]) {
            let _ = t.verify();
            for &pid in catalog.pids() {
                let _ = t.record(pid);
            }
        }
    }
}
