//! The indexed-tar patient mapping: the golden repository exported and read back through
//! `Repository::open` passes the conformance suite (one shard and many), members are 64-byte
//! aligned `.npy` files lent zero-copy, a proptest round trip against a `BTreeMap` model, damage
//! is reported, and the built binary exports, lists, cats, gets and verifies.
#![cfg(feature = "itar")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use inframed::backend::itar::{self, ItarError, ItarStore};
use inframed::backend::ExportOptions;
use inframed::catalog::CatalogTexts;
use inframed::{Catalog, Error, FormatError, Pid, Repository, Sid, SignalStore};
use proptest::prelude::*;

fn export_golden(dir: &Path, options: Option<ExportOptions>) -> PathBuf {
    let out = dir.join("small-itar");
    let golden = common::golden_repo();
    itar::export(&golden, &out, &options.unwrap_or_default()).unwrap();
    out
}

fn fixed_options(max_files: u64, max_size: u64) -> ExportOptions {
    ExportOptions {
        shard_max_files: Some(max_files),
        shard_max_size: Some(max_size),
        mtime: Some(1_700_000_000),
        ..ExportOptions::default()
    }
}

fn itar_error(e: &Error) -> &ItarError {
    match e.format_error() {
        Some(FormatError::Itar(e)) => e,
        _ => panic!("not a Itar error: {e:?}"),
    }
}

#[test]
fn exported_golden_repository_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path(), None);
    let golden = common::golden_repo();
    let repo = Repository::open(&out).unwrap();
    common::conformance(&repo, &golden);
    // The .taridx names the dataset too.
    let by_index = Repository::open(out.join("patients.taridx")).unwrap();
    assert_eq!(by_index.pids(), golden.pids());
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn many_shards_by_count_and_by_size() {
    let golden = common::golden_repo();
    for (files, size) in [(7, u64::MAX), (100_000, 4096)] {
        let dir = tempfile::tempdir().unwrap();
        let out = export_golden(dir.path(), Some(fixed_options(files, size)));
        let shards = std::fs::read_dir(&out)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "tar")
            .count();
        assert!(shards >= 5, "{shards} shards for ({files}, {size})");
        let repo = Repository::open(&out).unwrap();
        common::conformance(&repo, &golden);
    }
}

#[test]
fn members_are_aligned_npy_lent_from_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path(), None);
    let store = ItarStore::open(&out).unwrap();
    let golden = common::golden_repo();
    let mut borrowed = 0;
    for s in golden.catalog().signals() {
        for &pid in golden.pids() {
            let b = store.get_bytes(pid, s.sid).unwrap();
            if b.is_empty() {
                continue;
            }
            assert!(matches!(b, Cow::Borrowed(_)), "pid {pid} {}", s.name);
            assert_eq!(b.as_ptr() as usize % 64, 0, "pid {pid} {}", s.name);
            borrowed += 1;
        }
    }
    assert!(borrowed > 100);

    // Read the shard with an independent tar reader: metadata first, then pid keys ascending
    // (10 digits), each member `<pid>.<ext>` a `.npy` whose data is the golden vector.
    let shard = std::fs::read(out.join("patients_0000.tar")).unwrap();
    assert_eq!(shard.len() % 10240, 0);
    let mut ar = tar::Archive::new(&shard[..]);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let offset = e.raw_file_position();
        assert_eq!(e.header().mode().unwrap(), 0o444);
        assert_eq!(e.header().groupname().unwrap(), Some("defaultgroup"));
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if let Some((key, ext)) = name.split_once('.') {
            if key != "__meta__" {
                assert_eq!(key.len(), 10, "{name}");
                let pid = Pid(key.parse().unwrap());
                let sid = store
                    .catalog()
                    .signals()
                    .iter()
                    .find(|s| store.extension(s.sid).unwrap() == ext)
                    .unwrap()
                    .sid;
                let want = golden.get_bytes(pid, sid).unwrap();
                assert!(data.starts_with(b"\x93NUMPY\x01\x00"));
                let hlen = u16::from_le_bytes([data[8], data[9]]) as usize;
                assert_eq!((10 + hlen) % 64, 0);
                assert_eq!((offset as usize + 10 + hlen) % 64, 0);
                assert_eq!(&data[10 + hlen..], &want[..], "{name}");
            }
        }
        names.push(name);
    }
    assert_eq!(names[0], "__meta__.json");
    assert_eq!(names[1], "__meta__.pids.npy");
    let keys: Vec<&str> = names[2..]
        .iter()
        .map(|n| n.split_once('.').unwrap().0)
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "pid keys ascending");
    // Signal names travel as safe lowercase extensions.
    let urine = golden.catalog().signal("Urine/Creatinine").unwrap().sid;
    assert_eq!(store.extension(urine).unwrap(), "urine_creatinine.npy");
    let eos = golden.catalog().signal("Eosinophils%").unwrap().sid;
    assert_eq!(store.extension(eos).unwrap(), "eosinophils_.npy");
}

#[test]
fn opens_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path(), Some(fixed_options(13, u64::MAX)));
    let index = std::fs::read(out.join("patients.taridx")).unwrap();
    let shards: Vec<Vec<u8>> = (0..4)
        .map(|i| std::fs::read(out.join(format!("patients_{i:04}.tar"))).unwrap())
        .collect();
    assert!(!out.join("patients_0004.tar").exists());
    let store = ItarStore::from_bytes(index, shards).unwrap();
    common::conformance(&store, &common::golden_repo());
}

#[test]
fn scan_path_reads_a_dataset_without_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path(), Some(fixed_options(9, u64::MAX)));
    std::fs::remove_file(out.join("patients.taridx")).unwrap();
    let store = ItarStore::open(&out).unwrap();
    common::conformance(&store, &common::golden_repo());
    store.fold().write_index().unwrap();
    assert!(out.join("patients.taridx").is_file());
}

use common::ModelStore as Model;

/// Signals whose names collide once lowercased or sanitized.
const SIGNALS: &[(&str, u32, &str)] = &[
    ("Hemoglobin", 1000, "T(i),V(f)"),
    ("hemoglobin", 7, "T(i),V(f)"),
    ("Urine/Creatinine", 1124, "T(i,i),V(i,i)"),
    ("Urine_Creatinine", 99_999, "T(i),V(s,s)"),
    ("GENDER", 100, "V(i)"),
];

fn model(pids: Vec<u32>, vectors: Vec<Vec<(i32, u32)>>) -> Model {
    let mut signals = String::new();
    for (name, sid, spec) in SIGNALS {
        signals.push_str(&format!("SIGNAL\t{name}\t{sid}\t16:{spec}\tdesc\t0\t\n"));
    }
    let texts = CatalogTexts {
        time_unit: 1,
        signals,
        dictionaries: vec![],
    };
    let (catalog, _) = Catalog::from_texts(Path::new("<model>"), &texts).unwrap();
    let mut pids: Vec<Pid> = pids.into_iter().map(Pid).collect();
    pids.sort();
    pids.dedup();
    let mut data = BTreeMap::new();
    let mut it = vectors.into_iter();
    for &pid in &pids {
        for s in catalog.signals() {
            let Some(mut elems) = it.next() else { break };
            elems.sort_by_key(|e| e.0);
            let size = s.layout.size();
            let mut bytes = Vec::new();
            for (t, v) in elems {
                let mut e = vec![0u8; size];
                for c in s.layout.time_channels() {
                    e[c.offset..c.offset + 4].copy_from_slice(&t.to_le_bytes());
                }
                let vstart = s.layout.value_channels()[0].offset;
                for (i, b) in e[vstart..].iter_mut().enumerate() {
                    *b = (v >> (i % 4 * 8)) as u8 ^ i as u8;
                }
                bytes.extend_from_slice(&e);
            }
            if !bytes.is_empty() {
                data.insert((pid, s.sid), bytes);
            }
        }
    }
    Model {
        catalog,
        pids,
        data,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn round_trip_against_a_model(
        pids in proptest::collection::vec(any::<u32>(), 0..25),
        vectors in proptest::collection::vec(
            proptest::collection::vec((any::<i32>(), any::<u32>()), 0..4), 0..125),
        max_files in 1u64..6,
    ) {
        let m = model(pids, vectors);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ds");
        itar::export(&m, &out, &fixed_options(max_files, u64::MAX)).unwrap();
        let store = ItarStore::open(&out).unwrap();
        prop_assert_eq!(store.pids(), &m.pids[..]);
        for s in m.catalog.signals() {
            for &pid in &m.pids {
                let got = store.get_bytes(pid, s.sid).unwrap();
                let want = m.get_bytes(pid, s.sid).unwrap();
                prop_assert_eq!(&got[..], &want[..], "pid {} {}", pid, s.name);
            }
        }
        // Absent pids are empty, even the one hashed like the neighbours.
        for p in [0u32, 1, u32::MAX] {
            if m.pids.binary_search(&Pid(p)).is_err() {
                prop_assert!(store.get_bytes(Pid(p), Sid(1000)).unwrap().is_empty());
            }
        }
        store.verify().unwrap();
    }
}

#[test]
fn damage_is_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path(), Some(fixed_options(100_000, u64::MAX)));
    let shard = out.join("patients_0000.tar");
    let pristine = std::fs::read(&shard).unwrap();
    let store = ItarStore::open(&out).unwrap();
    let hgb = store.catalog().signal("Hemoglobin").unwrap().sid;
    let member = store
        .fold()
        .find("0000001025", "hemoglobin.npy")
        .unwrap()
        .unwrap();
    let header_at = member.entry.offset as usize;
    let data_at = header_at + 512;
    drop(store);

    // The npy dtype of one member changed from <f4 to <i4: that get fails naming the member,
    // others still work, and verify fails.
    let mut b = pristine.clone();
    let dict = &b[data_at..data_at + 128];
    let pos = data_at + dict.windows(3).position(|w| w == b"<f4").unwrap();
    b[pos + 1] = b'i';
    std::fs::write(&shard, &b).unwrap();
    let store = ItarStore::open(&out).unwrap();
    let e = store.get_bytes(Pid(1025), hgb).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("patients_0000.tar") && msg.contains("hemoglobin.npy"),
        "{msg}"
    );
    assert!(matches!(itar_error(&e), ItarError::Npy { .. }));
    assert!(store.get_bytes(Pid(1026), hgb).is_ok());
    assert!(store.verify().is_err());
    drop(store);

    // Shape larger than the data.
    let mut b = pristine.clone();
    let dict = &b[data_at..data_at + 128];
    let pos = data_at + dict.windows(8).position(|w| w == b"'shape':").unwrap() + 10;
    b[pos] = if b[pos] == b'9' { b'8' } else { b'9' };
    std::fs::write(&shard, &b).unwrap();
    let store = ItarStore::open(&out).unwrap();
    assert!(matches!(
        itar_error(&store.get_bytes(Pid(1025), hgb).unwrap_err()),
        ItarError::Npy { .. }
    ));
    drop(store);

    // Broken metadata JSON.
    let mut b = pristine.clone();
    b[512] = b'!';
    std::fs::write(&shard, &b).unwrap();
    let e = ItarStore::open(&out).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::Meta { .. }), "{e}");
    assert!(e.to_string().contains("__meta__.json"), "{e}");

    // Truncated shard.
    std::fs::write(&shard, &pristine[..pristine.len() / 2]).unwrap();
    let e = ItarStore::open(&out).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::PastEnd { .. }), "{e}");

    // An index row whose key hash belongs to no pid of the list: open fails naming the row.
    std::fs::write(&shard, &pristine).unwrap();
    let idx_path = out.join("patients.taridx");
    let idx_bytes = std::fs::read(&idx_path).unwrap();
    let mut b = idx_bytes.clone();
    let at = itar::TarIndex::parse(&b).unwrap().row_offset(5) as usize + 24;
    b[at] ^= 0x10;
    std::fs::write(&idx_path, &b).unwrap();
    let e = ItarStore::open(&out).unwrap_err();
    assert!(matches!(itar_error(&e), ItarError::Meta { .. }), "{e}");
    assert!(e.to_string().contains("row 5"), "{e}");
    std::fs::write(&idx_path, &idx_bytes).unwrap();

    // A member's tar header damaged: open works, verify names the shard.
    let mut b = pristine.clone();
    b[header_at + 5] ^= 0x40;
    std::fs::write(&shard, &b).unwrap();
    let store = ItarStore::open(&out).unwrap();
    let e = store.verify().unwrap_err();
    assert!(e.to_string().contains("patients_0000.tar"), "{e}");
}

#[test]
fn export_refuses_to_replace_other_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mine");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), b"keep me").unwrap();
    let e = itar::export(&common::golden_repo(), &out, &ExportOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Occupied { .. }), "{e}");
    assert!(out.join("notes.txt").is_file());
    // An existing dataset is replaced.
    let out = export_golden(dir.path(), None);
    export_golden(dir.path(), None);
    assert!(Repository::open(&out).is_ok());
    // A codec is refused.
    let e = itar::export(
        &common::golden_repo(),
        &dir.path().join("x"),
        &ExportOptions {
            codec: Some("zstd".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }));
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    for a in args {
        c.arg(a.as_ref());
    }
    c.output().expect("run inframed")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn cli_export_ls_cat_get_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let repo = common::golden_repo_path();
    let o = run(&[&"export", &repo, &out, &"--to", &"itar"]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let golden = common::golden_repo();
    let store = ItarStore::open(&out).unwrap();
    let o = run(&[&"ls", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listing = text(&o.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines[0], "#key\text\tshard\tsize");
    assert_eq!(lines.len() - 1, store.fold().index().rows.len());
    assert!(lines[1].starts_with("__meta__\tjson\tpatients_0000.tar\t"));
    let hgb = golden.catalog().signal("Hemoglobin").unwrap().sid;
    let n = golden.get_bytes(Pid(1025), hgb).unwrap().len();
    let line = lines
        .iter()
        .find(|l| l.starts_with("0000001025\themoglobin.npy\t"))
        .unwrap();
    let size: usize = line.rsplit('\t').next().unwrap().parse().unwrap();
    assert!(size > n && (size - n) % 64 == 0, "{line}");

    let o = run(&[&"cat", &out, &"0000001025.hemoglobin.npy"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(o.stdout.len(), size);
    assert!(o.stdout.starts_with(b"\x93NUMPY"));
    assert!(o
        .stdout
        .ends_with(&golden.get_bytes(Pid(1025), hgb).unwrap()));
    let o = run(&[&"cat", &out, &"0000001025.nothing.npy"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("no member"), "{}", text(&o.stderr));

    for (pid, sig) in [
        ("1025", "Hemoglobin"),
        ("1025", "DIAGNOSIS"),
        ("1025", "ADMISSION"),
        ("1025", "GENDER"),
        ("1026", "BP"),
    ] {
        let want = run(&[&"get", &repo, &pid, &sig]);
        let got = run(&[&"get", &out, &pid, &sig]);
        assert!(got.status.success(), "{}", text(&got.stderr));
        assert!(!want.stdout.is_empty(), "{pid} {sig}");
        assert_eq!(text(&got.stdout), text(&want.stdout), "{pid} {sig}");
    }

    let o = run(&[&"verify", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("ok\t"), "{}", text(&o.stdout));

    // Damage a member's tar header: verify exits 1 naming the shard.
    let shard = out.join("patients_0000.tar");
    let mut b = std::fs::read(&shard).unwrap();
    let at = store
        .fold()
        .find("0000001026", "bp.npy")
        .unwrap()
        .unwrap()
        .entry
        .offset as usize;
    drop(store);
    b[at + 2] ^= 0x01;
    std::fs::write(&shard, &b).unwrap();
    let o = run(&[&"verify", &out]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(err.contains("patients_0000.tar"), "{err}");
}
