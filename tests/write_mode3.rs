//! The MODE 3 writer: byte-identical to the original loader's files, atomic, fault-tolerant;
//! adding a signal in place; a stacked calculated-signals repository.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use inframed::native::writer::{add_signal, add_signal_with, write_mode3, Mode3Options};
use inframed::native::{NewSignal, RepositoryWriter};
use inframed::text::config::RepositoryConfig;
use inframed::{Error, Pid, Repository, Sid, SignalStore};

/// Every file under `dir`, relative path → bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().into(), fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn golden_dir() -> PathBuf {
    common::golden_repo_path().parent().unwrap().to_path_buf()
}

/// The golden repository's files except the transpose (written separately by `create_index`).
fn golden_mode3_files() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut t = tree(&golden_dir());
    t.retain(|p, _| !p.to_string_lossy().contains("__pids__"));
    t
}

/// A writer fed element by element from the golden repository, with its texts.
fn writer_from_golden() -> RepositoryWriter {
    let golden = common::golden_repo();
    let mut w = RepositoryWriter::from_config(common::golden_repo_path()).unwrap();
    for info in golden.catalog().signals() {
        for &pid in golden.pids() {
            let b = golden.get_bytes(pid, info.sid).unwrap();
            w.add(pid, info.sid, &b).unwrap();
        }
    }
    for &pid in golden.pids() {
        w.add_pid(pid).unwrap();
    }
    w
}

#[test]
fn in_memory_writer_reproduces_the_original_files_byte_for_byte() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("small");
    let config = writer_from_golden().write(&target).unwrap();
    assert_eq!(config, target.join("small.repository"));
    let got = tree(&target);
    let want = golden_mode3_files();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (p, w) in &want {
        assert!(got[p] == *w, "{} differs", p.display());
    }
    // Nothing left beside the output.
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
    let repo = Repository::open(&config).unwrap();
    common::conformance(&repo, &common::golden_repo());
}

#[test]
fn store_export_reproduces_the_original_files_and_transpose() {
    let golden = common::golden_repo();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let mut options =
        Mode3Options::from_config(&RepositoryConfig::read(&common::golden_repo_path()).unwrap())
            .unwrap();
    options.transpose = true;
    write_mode3(&golden, &target, &options).unwrap();
    let got = tree(&target);
    let want = tree(&golden_dir());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (p, w) in &want {
        let g = &got[p];
        if p.to_string_lossy().ends_with(".pid_idx") {
            assert_eq!(g.len(), w.len());
            assert_eq!(common_mask_pid_idx(g), common_mask_pid_idx(w), "pid_idx");
        } else {
            assert!(g == w, "{} differs", p.display());
        }
    }
}

/// `.pid_idx` with the 6 uninitialised padding bytes of every 24-byte record zeroed
/// (def_val at byte 32, data after n_data).
fn common_mask_pid_idx(b: &[u8]) -> Vec<u8> {
    let mut b = b.to_vec();
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    b[34..40].fill(0);
    let n_counts = u32_at(&b, 56);
    let n_words_off = 60 + 4 * n_counts;
    let n_words = u32_at(&b, n_words_off);
    let n_data_off = n_words_off + 4 + 8 * n_words;
    let n_data = u32_at(&b, n_data_off);
    for i in 0..n_data {
        let e = n_data_off + 4 + 24 * i;
        b[e + 2..e + 8].fill(0);
    }
    b
}

#[test]
fn catalog_texts_round_trip_when_no_config_is_given() {
    let golden = common::golden_repo();
    let out = tempfile::tempdir().unwrap();
    let options = Mode3Options::new("regen", golden.catalog()).unwrap();
    let config = write_mode3(&golden, &out.path().join("regen"), &options).unwrap();
    let repo = Repository::open(&config).unwrap();
    common::conformance(&repo, &golden);
    // Binary files are the same bytes as the original's, whatever the texts.
    let prefix = out.path().join("regen/data/regen_rep");
    for info in golden.catalog().signals() {
        let fixed = inframed::text::config::fixed_signal_name(&info.name);
        for ext in ["data", "idx"] {
            let a = fs::read(format!("{}_{fixed}.{ext}", prefix.display())).unwrap();
            let b = fs::read(golden_dir().join(format!("data/small_rep_{fixed}.{ext}"))).unwrap();
            assert!(a == b, "{} .{ext}", info.name);
        }
    }
}

#[test]
fn killed_writer_leaves_the_previous_repository_unchanged() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("small");
    let config = writer_from_golden().write(&target).unwrap();
    let before = tree(&target);
    let total: usize = before.values().map(Vec::len).sum();
    // A different content to write over it.
    let mut w = writer_from_golden();
    let hgb = w.catalog().signal("Hemoglobin").unwrap().sid;
    let mut e = 20300101i32.to_le_bytes().to_vec();
    e.extend(99.5f32.to_le_bytes());
    w.add(Pid(1025), hgb, &e).unwrap();
    let w = w.fail_after(0);
    let mut w = Some(w);
    for n in [
        0u64,
        1,
        3,
        4,
        100,
        1000,
        5000,
        20_000,
        50_000,
        total as u64 - 1,
    ] {
        let writer = w.take().unwrap().fail_after(n);
        let err = writer.write(&target).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{n}: {err}");
        assert!(err.to_string().contains(&out.path().display().to_string()));
        assert_eq!(tree(&target), before, "after a failure at byte {n}");
        assert_eq!(
            fs::read_dir(out.path()).unwrap().count(),
            1,
            "no temporary left after a failure at byte {n}"
        );
        let repo = Repository::open(&config).unwrap();
        common::conformance(&repo, &common::golden_repo());
        w = Some(writer);
    }
    // Without the fault the new content lands.
    let writer = w.take().unwrap().fail_after(u64::MAX);
    writer.write(&target).unwrap();
    let repo = Repository::open(&config).unwrap();
    let golden = common::golden_repo();
    let old = golden.signal(Pid(1025), "Hemoglobin").unwrap();
    let new = repo.signal(Pid(1025), "Hemoglobin").unwrap();
    assert_eq!(new.len(), old.len() + 1);
    assert_eq!(&new.bytes()[..old.bytes().len()], old.bytes());
    assert_eq!(&new.bytes()[old.bytes().len()..], &e[..]);
}

#[test]
fn refuses_to_replace_a_directory_that_is_not_its_repository() {
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("notes.txt"), b"keep me").unwrap();
    let err = writer_from_golden().write(out.path()).unwrap_err();
    assert!(matches!(err, Error::Occupied { .. }), "{err}");
    assert_eq!(fs::read(out.path().join("notes.txt")).unwrap(), b"keep me");
}

#[test]
fn bad_elements_are_rejected() {
    let mut w = writer_from_golden();
    let hgb = w.catalog().signal("Hemoglobin").unwrap().sid;
    assert!(matches!(
        w.add(Pid(1), hgb, &[1, 2, 3]),
        Err(Error::PartialElements { bytes: 3, .. })
    ));
    assert!(matches!(
        w.add(Pid(1), Sid(55555), &[0; 8]),
        Err(Error::UnknownSid { .. })
    ));
    assert!(matches!(
        w.add(Pid(u32::MAX), hgb, &[0; 8]),
        Err(Error::InvalidInput {
            source: inframed::InputError::PidOutOfRange { pid: Pid(u32::MAX) }
        })
    ));
}

#[test]
fn writer_sorts_vectors_by_time_stably() {
    let golden = common::golden_repo();
    let mut w = RepositoryWriter::new("s", golden.catalog().clone()).unwrap();
    let hgb = golden.catalog().signal("Hemoglobin").unwrap().sid;
    let el = |d: i32, v: f32| [d.to_le_bytes(), v.to_le_bytes()].concat();
    w.add(Pid(5), hgb, &el(20200105, 1.0)).unwrap();
    w.add(Pid(5), hgb, &el(20200101, 2.0)).unwrap();
    w.add(Pid(5), hgb, &el(20200105, 0.5)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let repo = Repository::open(w.write(&out.path().join("s")).unwrap()).unwrap();
    let got = repo.signal(Pid(5), "Hemoglobin").unwrap();
    assert_eq!(
        got.bytes(),
        [el(20200101, 2.0), el(20200105, 1.0), el(20200105, 0.5)].concat()
    );
    // Signals without data have the original's empty form (4-byte .data, 88-byte .idx).
    let albumin = fs::metadata(out.path().join("s/data/s_rep_Albumin.idx")).unwrap();
    assert_eq!(albumin.len(), 88);
    repo.verify().unwrap();
}

fn copy_golden() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    common::copy_dir(&golden_dir(), &d.path().join("repo"));
    let config = d.path().join("repo/small.repository");
    (d, config)
}

fn ratio_signal() -> (NewSignal, Vec<(Pid, Vec<u8>)>) {
    // Calculated: Hemoglobin in g/L (× 10), for patients with a Hemoglobin.
    let golden = common::golden_repo();
    let mut elements = Vec::new();
    for &pid in golden.pids() {
        let h = golden.signal(pid, "Hemoglobin").unwrap();
        if h.is_empty() {
            continue;
        }
        let mut v = Vec::new();
        for a in h.iter() {
            v.extend((a.time(0).as_i64() as i32).to_le_bytes());
            v.extend(((a.value(0).as_f64() * 10.0) as f32).to_le_bytes());
        }
        // Given out of time order on purpose: the writer sorts.
        let mut chunks: Vec<Vec<u8>> = v.chunks(8).map(<[u8]>::to_vec).collect();
        chunks.reverse();
        elements.push((pid, chunks.concat()));
    }
    let mut s = NewSignal::new("GluHgbRatio", Sid(5001), "16:T(i),V(f)");
    s.description = "calculated".into();
    s.categorical = "0".into();
    (s, elements)
}

#[test]
fn add_signal_publishes_atomically_and_old_readers_keep_reading() {
    let (_d, config) = copy_golden();
    let old_reader = Repository::open(&config).unwrap();
    let before_bytes: Vec<Vec<u8>> = old_reader
        .pids()
        .iter()
        .map(|&p| old_reader.signal(p, "Hemoglobin").unwrap().bytes().to_vec())
        .collect();
    let (sig, elements) = ratio_signal();
    let n_elements: usize = elements.iter().map(|e| e.1.len() / 8).sum();
    assert!(n_elements > 0);
    add_signal(&config, &sig, elements.clone()).unwrap();
    // The reader opened before still serves the old catalog and data.
    assert!(old_reader.catalog().signal("GluHgbRatio").is_err());
    for (i, &p) in old_reader.pids().iter().enumerate() {
        assert_eq!(
            old_reader.signal(p, "Hemoglobin").unwrap().bytes(),
            before_bytes[i]
        );
    }
    common::conformance(&old_reader, &common::golden_repo());
    // A new reader sees the signal, time-sorted, and everything else unchanged.
    let repo = Repository::open(&config).unwrap();
    repo.verify().unwrap();
    let mut total = 0;
    for (pid, bytes) in &elements {
        let got = repo.signal(*pid, "GluHgbRatio").unwrap();
        // The original vector × 10, in the original (time-sorted) order: the reversed input
        // was sorted back, equal times kept in input order (so reversed among themselves).
        let h = common::golden_repo();
        let h = h.signal(*pid, "Hemoglobin").unwrap();
        assert_eq!(got.len(), h.len());
        for (a, b) in got.iter().zip(h.iter()) {
            assert_eq!(a.time(0), b.time(0));
        }
        let mut want: Vec<&[u8]> = bytes.chunks(8).collect();
        want.sort_by_key(|c| i32::from_le_bytes(c[..4].try_into().unwrap()));
        assert_eq!(got.bytes(), want.concat());
        total += got.len();
    }
    assert_eq!(total, n_elements);
    let golden = common::golden_repo();
    for info in golden.catalog().signals() {
        for &p in golden.pids() {
            assert_eq!(
                repo.get_bytes(p, info.sid).unwrap(),
                golden.get_bytes(p, info.sid).unwrap()
            );
        }
    }
    // The stale transpose is gone, so `patient` reads signal by signal and sees the new one.
    let rec = repo.patient(Pid(1025)).unwrap();
    assert_eq!(
        rec.get(Sid(5001)),
        repo.signal(Pid(1025), "GluHgbRatio").unwrap().bytes()
    );
    // Clashes are refused.
    for (name, sid) in [("GluHgbRatio", 6000), ("Other", 5001), ("Hemoglobin", 7000)] {
        let s = NewSignal::new(name, Sid(sid), "16:T(i),V(f)");
        assert!(matches!(
            add_signal(&config, &s, Vec::new()),
            Err(Error::InvalidInput {
                source: inframed::InputError::SignalClash { .. }
            })
        ));
    }
    let s = NewSignal::new("Bad", Sid(7001), "16:no_such_alias");
    assert!(matches!(
        add_signal(&config, &s, Vec::new()),
        Err(Error::Parse { .. })
    ));
}

#[test]
fn add_signal_never_replaces_files_it_did_not_write_unless_forced() {
    let (d, config) = copy_golden();
    let (mut sig, elements) = ratio_signal();
    sig.dictionary = Some("SECTION\tGluHgbRatio\nDEF\t1\tone\n".into());
    sig.categorical = "1".into();
    let data = d.path().join("repo/data/small_rep_GluHgbRatio.data");
    let dict = d.path().join("repo/dicts/dict.GluHgbRatio");
    let before = tree(&d.path().join("repo"));
    // Someone else's file at each of the signal's paths: refused, named, left as it was.
    let idx = data.with_extension("idx");
    for (i, target) in [&data, &idx, &dict].into_iter().enumerate() {
        if i > 0 {
            // One foreign file at a time; the last one stays for the forced run.
            fs::remove_file([&data, &idx][i - 1]).unwrap();
        }
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, b"not inframed's").unwrap();
        match add_signal(&config, &sig, elements.clone()) {
            Err(Error::Occupied { path, .. }) => assert_eq!(&path, target),
            other => panic!("{}: {other:?}", target.display()),
        }
        assert_eq!(fs::read(target).unwrap(), b"not inframed's");
        let mut now = tree(&d.path().join("repo"));
        now.retain(|k, _| !k.to_string_lossy().contains("GluHgbRatio"));
        assert_eq!(now, before, "{}: only the foreign files", target.display());
    }
    let repo = Repository::open(&config).unwrap();
    assert!(repo.catalog().signal("GluHgbRatio").is_err());
    // With force, the signal is written over them.
    add_signal(&config, &sig.clone().forced(), elements.clone()).unwrap();
    let repo = Repository::open(&config).unwrap();
    repo.verify().unwrap();
    let n: usize = elements.iter().map(|e| e.1.len() / 8).sum();
    let got: usize = elements
        .iter()
        .map(|(p, _)| repo.signal(*p, "GluHgbRatio").unwrap().len())
        .sum();
    assert_eq!(got, n);
    assert_ne!(fs::read(&dict).unwrap(), b"not inframed's");
}

#[test]
fn killed_add_signal_leaves_the_repository_unchanged() {
    let (d, config) = copy_golden();
    // Without a transpose, so that nothing but the new signal's files would change.
    for f in fs::read_dir(d.path().join("repo/data")).unwrap() {
        let p = f.unwrap().path();
        if p.to_string_lossy().contains("__pids__") {
            fs::remove_file(p).unwrap();
        }
    }
    let before = tree(&d.path().join("repo"));
    let (mut sig, elements) = ratio_signal();
    sig.dictionary = Some("SECTION\tGluHgbRatio\nDEF\t1\tone\n".into());
    sig.categorical = "1".into();
    let mut failed = 0;
    for n in [0u64, 2, 10, 50, 200, 400, 1000, 5000, 6000, 7000] {
        match add_signal_with(&config, &sig, elements.clone(), Some(n)) {
            Err(e) => {
                failed += 1;
                assert!(matches!(e, Error::Io { .. }), "{e}");
                let repo = Repository::open(&config).unwrap();
                assert!(repo.catalog().signal("GluHgbRatio").is_err());
                common::conformance(&repo, &common::golden_repo());
                let after = tree(&d.path().join("repo"));
                // Either unchanged, or (failure at the very last step) only the dictionary and
                // config may have been published, never the signal.
                if after != before {
                    let changed: Vec<_> = after
                        .keys()
                        .filter(|k| before.get(*k) != after.get(*k))
                        .collect();
                    assert!(
                        changed.iter().all(|k| {
                            let s = k.to_string_lossy();
                            s.ends_with(".repository")
                                || s.contains("dict.GluHgbRatio")
                                || s.contains("GluHgbRatio.")
                        }),
                        "{changed:?}"
                    );
                }
            }
            Ok(_) => break,
        }
    }
    assert!(failed >= 5);
}

#[test]
fn stacked_calculated_repository() {
    let golden = common::golden_repo();
    let (sig, elements) = ratio_signal();
    // A second repository holding only the calculated signal, stacked on the raw one.
    let signals = format!(
        "SIGNAL\t{}\t{}\t{}\tcalculated\t0\t\n",
        sig.name, sig.sid, sig.type_field
    );
    let dir = tempfile::tempdir().unwrap();
    let sfile = dir.path().join("calc.signals");
    fs::write(&sfile, &signals).unwrap();
    fs::write(
        dir.path().join("calc.repository"),
        "SIGNAL\tcalc.signals\nMODE\t3\nPREFIX\tcalc\n",
    )
    .unwrap();
    let mut w = RepositoryWriter::from_config(dir.path().join("calc.repository")).unwrap();
    for (pid, b) in &elements {
        w.add(*pid, sig.sid, b).unwrap();
    }
    let calc = w.write(&dir.path().join("calc")).unwrap();
    let stacked = Repository::open_stacked(&[common::golden_repo_path(), calc.clone()]).unwrap();
    assert_eq!(stacked.pids(), golden.pids());
    assert_eq!(stacked.resolve("GluHgbRatio").unwrap().0, 1);
    assert_eq!(stacked.resolve("Hemoglobin").unwrap().0, 0);
    for (pid, _) in &elements {
        assert_eq!(
            stacked.signal(*pid, "Glucose").unwrap().bytes(),
            golden.signal(*pid, "Glucose").unwrap().bytes()
        );
        let c = stacked.signal(*pid, "GluHgbRatio").unwrap();
        assert_eq!(c.len(), golden.signal(*pid, "Hemoglobin").unwrap().len());
        let rec = stacked.patient(*pid).unwrap();
        assert_eq!(rec.get(sig.sid), c.bytes());
        assert_eq!(
            rec.get(Sid(1000)),
            golden.signal(*pid, "Hemoglobin").unwrap().bytes()
        );
    }
    stacked.verify().unwrap();
}

/// A write that fails names the file as the user will know it (under OUT), not the staging
/// sibling (`OUT.tmp.<pid>.<n>`) it was being written to (issue 13 item 4).
#[test]
fn a_failed_write_names_the_users_path_not_the_staging_one() {
    let golden = common::golden_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for n in [0, 100, 5000] {
        let mut o = inframed::native::write::Mode3Options::new("small", golden.catalog()).unwrap();
        o.fail_after = Some(n);
        let e = inframed::native::write::write_mode3(&golden, &out, &o).unwrap_err();
        let path = e.path().unwrap_or_else(|| panic!("no path in {e}"));
        assert!(path.starts_with(&out), "{}: {e}", path.display());
        assert!(!e.to_string().contains(".tmp."), "{e}");
        assert!(!out.exists(), "nothing published");
    }
}
