//! The optional lookup sidecar (`inframed index --lookup`, docs/lookup-table.md): answers equal
//! to the `.idx` lookups for every key (hits, misses, pids outside the range, unknown sids);
//! a stale, truncated or damaged sidecar is ignored with a warning or gives a clear error,
//! never a wrong answer from a stale table nor a panic; the writer changes no MODE 3 file and
//! replaces no file it did not write.

mod common;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use inframed::native::{lookup_path, write_lookup};
use inframed::repository::read_catalog;
use inframed::synth::{self, SynthOptions};
use inframed::text::config::RepositoryConfig;
use inframed::{Error, NativeStore, Pid, Sid, SignalStore};

fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let o = SynthOptions {
        patients: 300,
        seed: 9,
        mean_events: 40,
    };
    let config = synth::write_repository(dir.path(), &o).unwrap();
    (dir, config)
}

fn prefix(config: &Path) -> PathBuf {
    RepositoryConfig::read(config).unwrap().prefix_path()
}

fn open(config: &Path) -> NativeStore {
    let c = RepositoryConfig::read(config).unwrap();
    let (catalog, _) = read_catalog(&c).unwrap();
    NativeStore::open(catalog, &c.prefix_path(), vec![]).unwrap()
}

/// Every pid from 0 to past the last for every signal, and an unknown sid.
fn keys(store: &NativeStore) -> Vec<(Pid, Sid)> {
    let last = store.pids().last().unwrap().0;
    let mut sids: Vec<Sid> = store.catalog().signals().iter().map(|s| s.sid).collect();
    sids.push(Sid(99_999));
    let mut k: Vec<_> = (0..last + 130)
        .flat_map(|p| sids.iter().map(move |&s| (Pid(p), s)))
        .collect();
    k.push((Pid(u32::MAX), sids[0]));
    k
}

fn same(a: &Result<Cow<'_, [u8]>, Error>, b: &Result<Cow<'_, [u8]>, Error>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x[..] == y[..],
        (Err(x), Err(y)) => x.to_string() == y.to_string(),
        _ => false,
    }
}

#[test]
fn answers_equal_the_idx_lookups_for_every_key() {
    let (_dir, config) = repo();
    let (path, size) = write_lookup(&config, false).unwrap();
    assert_eq!(path, lookup_path(&prefix(&config)));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    let with = open(&config);
    assert_eq!(with.lookup_sidecar(), Some(path.as_path()));
    assert!(with.warnings().is_empty(), "{:?}", with.warnings());
    let mut without = open(&config);
    without.drop_lookup();
    assert_eq!(without.lookup_sidecar(), None);
    let keys = keys(&with);
    let mut hits = 0;
    for &(p, s) in &keys {
        let (a, b) = (with.get_bytes(p, s), without.get_bytes(p, s));
        assert!(same(&a, &b), "({p:?}, {s:?}): {a:?} vs {b:?}");
        hits += a.is_ok_and(|v| !v.is_empty()) as usize;
    }
    assert!(hits > 1000, "{hits} hits");
    // get_many over lanes without unknown sids, and one batch with one (the error of get).
    let known: Vec<_> = keys.iter().copied().filter(|k| k.1 .0 != 99_999).collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    with.get_many(&known, &mut a).unwrap();
    without.get_many(&known, &mut b).unwrap();
    assert_eq!(a, b);
    let rev: Vec<_> = known.iter().rev().copied().collect();
    with.get_many(&rev, &mut a).unwrap();
    without.get_many(&rev, &mut b).unwrap();
    assert_eq!(a, b);
    let e1 = with.get_many(&keys[..40], &mut a).unwrap_err();
    let e2 = without.get_many(&keys[..40], &mut b).unwrap_err();
    assert_eq!(e1.to_string(), e2.to_string());
    with.verify().unwrap();
    // describe (info) lists the sidecar.
    assert!(with.describe().files.iter().any(|f| f.0 == path));
}

#[test]
fn mode3_files_are_unchanged_and_a_foreign_file_is_not_replaced() {
    let (dir, config) = repo();
    let before = common::snapshot(dir.path());
    let bin = env!("CARGO_BIN_EXE_inframed");
    let o = common::inframed(bin, &[&"index", &"--lookup", &config]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sidecar = lookup_path(&prefix(&config));
    let mut after = common::snapshot(dir.path());
    let rel = sidecar.strip_prefix(dir.path()).unwrap().to_path_buf();
    after.retain(|f| f.0 != rel);
    assert_eq!(before, after);
    // Rewritten over its own output: fine.
    let o = common::inframed(bin, &[&"index", &"--lookup", &config]);
    assert!(o.status.success());
    // A foreign file of that name: refused, left as it was.
    std::fs::write(&sidecar, b"someone else's notes").unwrap();
    let o = common::inframed(bin, &[&"index", &"--lookup", &config]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refusing to replace"), "{err}");
    assert_eq!(std::fs::read(&sidecar).unwrap(), b"someone else's notes");
    // Opened, it is ignored with a warning.
    let store = open(&config);
    assert_eq!(store.lookup_sidecar(), None);
    assert!(store.warnings().iter().any(|w| w.path == sidecar));
    // --force replaces it.
    let o = common::inframed(bin, &[&"index", &"--lookup", &"--force", &config]);
    assert!(o.status.success());
    assert!(open(&config).lookup_sidecar().is_some());
}

#[test]
fn a_stale_sidecar_is_ignored_with_a_warning() {
    let (_dir, config) = repo();
    let (sidecar, _) = write_lookup(&config, false).unwrap();
    let store = open(&config);
    let sid = store.catalog().signals()[3].sid;
    let name = store.catalog().signals()[3].name.clone();
    drop(store);
    // The same bytes written anew (another mtime): the fingerprint no longer matches.
    let (_, idx) = inframed::native::signal_paths(&prefix(&config), &name);
    let bytes = std::fs::read(&idx).unwrap();
    let tmp = idx.with_extension("idx.new");
    std::fs::write(&tmp, &bytes).unwrap();
    let f = std::fs::File::options().write(true).open(&tmp).unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(12345))
        .unwrap();
    drop(f);
    std::fs::rename(&tmp, &idx).unwrap();
    let store = open(&config);
    assert_eq!(store.lookup_sidecar(), None);
    let w = store.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].path, sidecar);
    assert!(
        w[0].message.contains("changed since it was built"),
        "{}",
        w[0]
    );
    // Rebuilt: used again.
    write_lookup(&config, false).unwrap();
    let store = open(&config);
    assert!(store.lookup_sidecar().is_some());
    assert!(store.get_bytes(store.pids()[0], sid).is_ok());
}

#[test]
fn truncated_or_damaged_sidecars_warn_or_fail_clearly() {
    let (_dir, config) = repo();
    let (sidecar, size) = write_lookup(&config, false).unwrap();
    let good = std::fs::read(&sidecar).unwrap();
    let reference = {
        let mut s = open(&config);
        s.drop_lookup();
        s
    };
    let keys: Vec<_> = keys(&reference)
        .into_iter()
        .filter(|k| k.1 .0 != 99_999)
        .step_by(3)
        .collect();
    // Truncated anywhere: ignored with a warning.
    for cut in [0, 7, 63, 64, 200, size as usize / 2, size as usize - 1] {
        std::fs::write(&sidecar, &good[..cut]).unwrap();
        let store = open(&config);
        assert_eq!(store.lookup_sidecar(), None, "cut {cut}");
        if cut > 0 {
            assert!(
                store.warnings().iter().any(|w| w.path == sidecar),
                "cut {cut}"
            );
        }
    }
    // Bytes flipped anywhere: open never panics; a table that is used either answers as the
    // .idx files do or fails with an error naming the sidecar, and verify finds the damage.
    let step = (good.len() / 300).max(1);
    let mut used = 0;
    for at in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        std::fs::write(&sidecar, &bad).unwrap();
        let store = open(&config);
        if store.lookup_sidecar().is_none() {
            continue;
        }
        used += 1;
        let mut differs = false;
        for &(p, s) in &keys {
            match store.get_bytes(p, s) {
                Ok(v) => differs |= v[..] != reference.get_bytes(p, s).unwrap()[..],
                Err(e) => {
                    assert_eq!(e.path(), Some(sidecar.as_path()), "{e}");
                    differs = true;
                }
            }
        }
        let mut out = Vec::new();
        let _ = store.get_many(&keys, &mut out);
        if differs {
            let e = store.verify().unwrap_err();
            assert_eq!(e.path(), Some(sidecar.as_path()), "byte {at}: {e}");
        }
    }
    assert!(used > 100, "{used}");
}

#[test]
fn verify_checks_every_cell() {
    let (_dir, config) = repo();
    let (sidecar, _) = write_lookup(&config, false).unwrap();
    let mut bytes = std::fs::read(&sidecar).unwrap();
    // The last cell with a count of 2 or more: one element fewer (a valid range, wrong).
    let cells_off = u64::from_le_bytes(bytes[48..56].try_into().unwrap()) as usize;
    let at = (cells_off..bytes.len())
        .step_by(8)
        .rev()
        .find(|&o| u32::from_le_bytes(bytes[o + 4..o + 8].try_into().unwrap()) >= 2)
        .unwrap();
    bytes[at + 4] -= 1;
    std::fs::write(&sidecar, &bytes).unwrap();
    let store = open(&config);
    assert!(store.lookup_sidecar().is_some());
    let e = store.verify().unwrap_err();
    assert_eq!(e.path(), Some(sidecar.as_path()));
    assert!(
        e.to_string().contains("corrupt") || format!("{e:?}").contains("cell count"),
        "{e:?}"
    );
    let o = common::inframed(env!("CARGO_BIN_EXE_inframed"), &[&"verify", &config]);
    assert!(!o.status.success());
}

#[test]
fn a_table_over_the_size_limit_is_refused() {
    // Every patient has exactly one of the signals: 8 bytes per (patient, signal) is far over
    // 4× the `.idx` files, which hold 4 bytes per present pair.
    let dir = tempfile::tempdir().unwrap();
    let cat = synth::catalog().unwrap();
    let mut w = inframed::native::RepositoryWriter::new("sparse", cat.clone()).unwrap();
    let n = cat.signals().len();
    for i in 0..60_000u32 {
        let pid = Pid(1000 + i);
        w.add_pid(pid).unwrap();
        let info = &cat.signals()[i as usize % n];
        w.add(pid, info.sid, &vec![0u8; info.layout.size()])
            .unwrap();
    }
    let config = w.write(dir.path()).unwrap();
    let e = write_lookup(&config, false).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let sidecar = lookup_path(&prefix(&config));
    assert_eq!(e.path(), Some(sidecar.as_path()));
    assert!(format!("{e:?}").contains("over the limit"), "{e:?}");
    assert!(!sidecar.exists());
    // The repository is read as before.
    let store = open(&config);
    assert!(store.lookup_sidecar().is_none() && store.warnings().is_empty());
}

/// The sidecar's map is advised to huge pages (`MADV_HUGEPAGE`: lookups read it at random all
/// over, BENCHMARKS.md), and the `.data` maps are not (a cold read of one patient must not
/// fault in 2 MiB). Read from the kernel's own account of the mappings, `/proc/self/smaps`
/// (`VmFlags: … hg`); a kernel built without transparent huge pages has no such advice, and
/// there the flag must be absent.
#[cfg(target_os = "linux")]
#[test]
fn the_sidecar_map_is_advised_to_huge_pages() {
    let (_dir, config) = repo();
    let (path, _) = write_lookup(&config, false).unwrap();
    let store = open(&config);
    assert_eq!(store.lookup_sidecar(), Some(path.as_path()));
    // Mapped at open (the sidecar's fingerprints are checked against every signal's files).
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let flags_of = |suffix: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for line in smaps.lines() {
            let is_header = line.split_whitespace().next().is_some_and(|a| {
                a.contains('-') && a.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
            });
            if is_header {
                inside = line.ends_with(suffix);
            } else if inside && line.starts_with("VmFlags:") {
                out.push(line.to_string());
            }
        }
        out
    };
    // The kernel names the file by its resolved path (the temporary folder may be a link).
    let sidecar = flags_of(&path.canonicalize().unwrap().display().to_string());
    assert_eq!(
        sidecar.len(),
        1,
        "one mapping of {}: {sidecar:?}",
        path.display()
    );
    let thp = Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
    let advised = |flags: &str| flags.split_whitespace().any(|f| f == "hg");
    assert_eq!(advised(&sidecar[0]), thp, "{}", sidecar[0]);
    let hemoglobin = flags_of("_Hemoglobin.data");
    assert!(!hemoglobin.is_empty());
    assert!(hemoglobin.iter().all(|f| !advised(f)), "{hemoglobin:?}");
    drop(store);
}
