//! MODE 0–2: hand-built repositories (testdata/legacy, made by an independent Python script
//! from the golden MODE 3 files) read exactly like the golden repository; inframed's legacy
//! writer produces the same bytes; the position-unit and default-prefix traps.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::{Error, Repository, Sid, SignalStore};

fn fixture(name: &str) -> PathBuf {
    common::testdata(&format!("legacy/{name}/legacy.repository"))
}

#[test]
fn hand_built_legacy_repositories_read_like_the_golden_one() {
    let golden = common::golden_repo();
    for name in ["mode0_full", "mode1", "mode2"] {
        let repo = Repository::open(fixture(name)).unwrap();
        assert!(repo.warnings().is_empty(), "{name}: {:?}", repo.warnings());
        common::conformance(&repo, &golden);
        let d = repo.describe();
        assert!(d.format.contains("MODE"), "{name}: {}", d.format);
    }
}

#[test]
fn both_traps_are_handled_and_reported() {
    // MODE 2 without PREFIX (files under data/lg_*, the reader's default is "rep") and full
    // files whose ADMISSION vectors sit 24-byte headers apart: not whole 16-byte elements.
    let golden = common::golden_repo();
    let repo = Repository::open(fixture("trap")).unwrap();
    common::conformance(&repo, &golden);
    let w: Vec<String> = repo.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|m| m.contains("default prefix \"rep\"")),
        "{w:?}"
    );
    let trap: Vec<&String> = w.iter().filter(|m| m.contains("wrong offset")).collect();
    assert!(trap.iter().any(|m| m.contains("sid 2003")), "{w:?}");
    // 8-byte and 4-byte signals are not affected (24-byte headers are whole elements).
    assert!(!trap.iter().any(|m| m.contains("sid 1000 ")), "{w:?}");
}

/// Binary files (`.data`, `.idx`, `.data.idx`) of a repository directory.
fn binaries(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn options(mode: i32, full: bool, golden: &Repository) -> LegacyOptions {
    let mut o = LegacyOptions::new(mode, "legacy", golden.catalog()).unwrap();
    o.prefix = "data/lg".into();
    o.full = full;
    o
}

#[test]
fn our_legacy_writer_produces_the_hand_built_bytes() {
    let golden = common::golden_repo();
    let out = tempfile::tempdir().unwrap();
    let sid = |n: &str| golden.catalog().signal(n).unwrap().sid;
    let demo: Vec<Sid> = ["GENDER", "BDATE", "MEMBERSHIP", "DEATH"].map(sid).to_vec();
    let rest: Vec<Sid> = golden
        .catalog()
        .signals()
        .iter()
        .map(|s| s.sid)
        .filter(|s| !demo.contains(s))
        .collect();
    let mut mode1 = options(1, false, &golden);
    mode1.files = vec![demo, rest];
    for (name, opts) in [
        ("mode2", options(2, false, &golden)),
        ("mode1", mode1),
        ("mode0_full", options(0, true, &golden)),
    ] {
        let target = out.path().join(name);
        let config = write_legacy(&golden, &target, &opts).unwrap();
        assert_eq!(
            binaries(&target),
            binaries(fixture(name).parent().unwrap()),
            "{name}"
        );
        let repo = Repository::open(&config).unwrap();
        assert!(repo.warnings().is_empty());
        common::conformance(&repo, &golden);
    }
}

#[test]
fn our_full_mode2_files_avoid_the_position_trap() {
    let golden = common::golden_repo();
    let out = tempfile::tempdir().unwrap();
    let config =
        write_legacy(&golden, &out.path().join("m2f"), &options(2, true, &golden)).unwrap();
    let text = fs::read_to_string(&config).unwrap();
    assert!(text.contains("PREFIX\tdata/lg\n"), "{text}");
    let repo = Repository::open(&config).unwrap();
    assert!(repo.warnings().is_empty(), "{:?}", repo.warnings());
    common::conformance(&repo, &golden);
    // The ADMISSION file is larger than the unpadded one by its padding only.
    let ours = fs::metadata(out.path().join("m2f/data/lg_ADMISSION.data"))
        .unwrap()
        .len();
    let trap = fs::metadata(common::testdata("legacy/trap/data/lg_ADMISSION.data"))
        .unwrap()
        .len();
    assert!(ours > trap);
    assert_eq!((ours - trap) % 8, 0);
}

#[test]
fn killed_legacy_writer_leaves_nothing() {
    let golden = common::golden_repo();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("lg");
    let config = write_legacy(&golden, &target, &options(0, true, &golden)).unwrap();
    let before = binaries(&target);
    for n in [0u64, 5, 1000, 9000] {
        let mut o = options(1, false, &golden);
        o.fail_after = Some(n);
        assert!(matches!(
            write_legacy(&golden, &target, &o),
            Err(Error::Io { .. })
        ));
        assert_eq!(binaries(&target), before);
        assert_eq!(fs::read_dir(out.path()).unwrap().count(), 1);
    }
    common::conformance(&Repository::open(&config).unwrap(), &golden);
}

/// (fixture, file to damage, damage, expected text in the error).
type Case = (
    &'static str,
    &'static str,
    Box<dyn Fn(&mut Vec<u8>)>,
    &'static str,
);

fn damaged(name: &str, file: &str, f: impl Fn(&mut Vec<u8>)) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(name);
    common::copy_dir(fixture(name).parent().unwrap(), &dir);
    let p = dir.join(file);
    let mut b = fs::read(&p).unwrap();
    f(&mut b);
    fs::write(&p, b).unwrap();
    (d, dir.join("legacy.repository"))
}

fn open_and_verify(config: &Path) -> Result<(), Error> {
    Repository::open(config)?.verify()
}

#[test]
fn damage_is_an_error_naming_file_and_offset() {
    // INDEX: truncated inside a packet, bad packet magic, a vector past the end of its file.
    let cases: Vec<Case> = vec![
        (
            "mode2",
            "data/lg_Hemoglobin.idx",
            Box::new(|b| b.truncate(b.len() - 3)),
            "lg_Hemoglobin.idx",
        ),
        (
            "mode2",
            "data/lg_Hemoglobin.idx",
            Box::new(|b| b[12] ^= 1),
            "lg_Hemoglobin.idx: corrupt at byte 12",
        ),
        (
            "mode2",
            "data/lg_Hemoglobin.idx",
            Box::new(|b| b[0] ^= 1),
            "lg_Hemoglobin.idx: corrupt at byte 0",
        ),
        (
            "mode2",
            "data/lg_Hemoglobin.idx",
            Box::new(|b| b[8] = 3),
            "lg_Hemoglobin.idx: corrupt at byte 8",
        ),
        (
            "mode2",
            "data/lg_Hemoglobin.data",
            Box::new(|b| b.truncate(b.len() - 8)),
            "lg_Hemoglobin.idx",
        ),
        (
            "mode2",
            "data/lg_Hemoglobin.data",
            Box::new(|b| b[0] = 7),
            "lg_Hemoglobin.data: corrupt at byte 0",
        ),
        // len of the first entry: not a whole number of 8-byte elements.
        (
            "mode2",
            "data/lg_Hemoglobin.idx",
            Box::new(|b| b[42] ^= 1),
            "lg_Hemoglobin.idx: corrupt at byte 42",
        ),
        // fno of an entry in MODE 1 names no DATA file.
        (
            "mode1",
            "data/lg_0.idx",
            Box::new(|b| b[32] = 9),
            "lg_0.idx",
        ),
        // A full record's magic (found by verify).
        (
            "mode0_full",
            "data/lg_0.data",
            Box::new(|b| b[4] ^= 1),
            "lg_0.data: corrupt at byte 4",
        ),
        // The sidecar of record starts.
        (
            "mode0_full",
            "data/lg_0.data.idx",
            Box::new(|b| b[8] ^= 1),
            "lg_0.data.idx: corrupt at byte 8",
        ),
        // Stripped vectors must be back to back (extra bytes at the end).
        (
            "mode1",
            "data/lg_1.data",
            Box::new(|b| b.extend([0; 8])),
            "lg_1.data",
        ),
    ];
    for (name, file, f, want) in cases {
        let (_d, config) = damaged(name, file, f);
        let e = open_and_verify(&config).unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{name} {file}: {e} (wanted {want})"
        );
    }
    // Every byte of an INDEX file flipped: an error or a sound store, never a panic.
    let b = fs::read(common::testdata("legacy/mode1/data/lg_0.idx")).unwrap();
    for i in (0..b.len()).step_by(13) {
        let (_d, config) = damaged("mode1", "data/lg_0.idx", |c| c[i] ^= 0x21);
        let _ = open_and_verify(&config);
    }
}
