//! The fuzz targets in the normal suite (#16): every input under `fuzz/regressions/<target>/`
//! (each crash a fuzzer found, kept after its fix, plus inputs kept because they reach deep
//! paths) and the committed corpus `fuzz/corpus/<target>/` run through the very body the
//! fuzz target runs (`fuzz/common/mod.rs`, included here), without the sanitizer: each must
//! return without a panic. The list of targets is checked against `fuzz/Cargo.toml`, so a new
//! target cannot be left out of this replay.

#[path = "../fuzz/common/mod.rs"]
#[allow(dead_code)]
mod fuzz;

use std::collections::BTreeSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files under `fuzz/<kind>/<target>/` (none if the directory does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(rd) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("read_dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs every input of `kind` through its target; returns the number run, panicking with the
/// list of inputs that panicked.
fn replay(kind: &str) -> usize {
    let mut ran = 0;
    let mut failed = Vec::new();
    for &(name, body) in fuzz::TARGETS {
        for p in inputs(kind, name) {
            let data = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failed.push(p.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
    ran
}

#[test]
fn every_fuzz_target_is_replayed_here() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let bins: BTreeSet<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "inframed-fuzz")
        .map(str::to_string)
        .collect();
    let files: BTreeSet<String> = fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| {
            let p = e.expect("entry").path();
            p.file_stem().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    let table: BTreeSet<String> = fuzz::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        bins, table,
        "fuzz/Cargo.toml [[bin]]s vs fuzz/common TARGETS"
    );
    assert_eq!(
        files, table,
        "fuzz/fuzz_targets/*.rs vs fuzz/common TARGETS"
    );
    // Every directory of kept inputs names a target.
    for kind in ["regressions", "corpus"] {
        if let Ok(rd) = fs::read_dir(fuzz_dir().join(kind)) {
            for e in rd {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                assert!(table.contains(&name), "fuzz/{kind}/{name} names no target");
            }
        }
    }
}

#[test]
fn kept_crash_inputs_do_not_panic() {
    let n = replay("regressions");
    eprintln!("{n} regression inputs replayed");
}

#[test]
fn every_target_runs_over_its_committed_corpus() {
    for &(name, _) in fuzz::TARGETS {
        assert!(
            !inputs("corpus", name).is_empty(),
            "fuzz/corpus/{name}/ is empty: run fuzz/seed.sh and the target, then keep the \
             minimized corpus (fuzz/README.md)"
        );
    }
    let n = replay("corpus");
    eprintln!("{n} corpus inputs replayed");
}

#[test]
fn the_new_parsers_reject_damage_with_errors() {
    // `_all_pids.list`: a count the size does not hold is an error naming the offset.
    let mut list = 3i32.to_le_bytes().to_vec();
    list.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
    let e = inframed::fuzzing::all_pids_list(&list).unwrap_err();
    assert!(e.to_string().contains("f_all_pids.list"), "{e}");
    let mut ok = 2i32.to_le_bytes().to_vec();
    ok.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(
        inframed::fuzzing::all_pids_list(&ok).unwrap(),
        [inframed::Pid(1), inframed::Pid(2)]
    );
    // `.npy`: numpy's own header parses; a header length past the member is an error.
    let npy = fs::read(fuzz::testdata().join("npy/pids_u4.npy")).unwrap();
    let prefix = inframed::fuzzing::npy_plain_prefix("<u4");
    let (full, fast) = inframed::fuzzing::npy_header(&npy, prefix.as_bytes());
    assert_eq!(full.unwrap(), (128, vec![4]));
    assert_eq!(fast, Some((128, 4)));
    let mut long = npy.clone();
    long[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    assert!(inframed::fuzzing::npy_header(&long, prefix.as_bytes())
        .0
        .is_err());
    // A TSV file: good lines give elements, a bad one is dropped, not fatal.
    let tsv = b"1025\tHemoglobin\t20200101\t13.5\n1025\tHemoglobin\tnot-a-date\t1\n";
    let (lines, elements, dropped) =
        inframed::fuzzing::tsv_lines(fuzz::small_catalog(), 0, tsv, false, false);
    assert_eq!((lines, elements, dropped), (2, 1, 1));
}
