//! `convert --build-dicts` (`ConvertOptions::build_dicts`): dictionaries built for the
//! categorical values of a raw export that has none, with deterministic codes; together with
//! the original's behaviour (`--original`), the legacy MODE 0–2 layouts and `--from-meds`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::convert::{convert, ConvertOptions};
use inframed::{Error, Pid, Repository, SignalStore};

/// A convert config in `dir`: DRUG (categorical, no dictionary at all), WARD (categorical, a
/// dictionary that knows ICU and OR but not ER) and Weight (numeric); SAFE_MODE with the
/// default allowance, so misses alone do not fail the load.
fn setup(dir: &Path) -> PathBuf {
    fs::write(
        dir.join("x.signals"),
        "GENERIC_SIGNAL_TYPE\tmy_SDateInt\tT(i),V(i)\n\
         GENERIC_SIGNAL_TYPE\tmy_SDateVal\tT(i),V(f)\n\
         SIGNAL\tDRUG\t2000\t16:my_SDateInt\tdrugs\t1\t\n\
         SIGNAL\tWARD\t2001\t16:my_SDateInt\tadmin\t1\t\n\
         SIGNAL\tWeight\t903\t16:my_SDateVal\tlabs\t0\tkg\n",
    )
    .unwrap();
    fs::write(
        dir.join("dict.ward"),
        "SECTION\tWARD\nDEF\t5\tICU\nDEF\t7\tOR\n",
    )
    .unwrap();
    fs::write(
        dir.join("data.tsv"),
        "1\tDRUG\t20100101\tmetformin\n\
         1\tWARD\t20100101\tICU\n\
         1\tWARD\t20100102\tER\n\
         1\tWeight\t20100102\t71.5\n\
         2\tDRUG\t20100103\taspirin\n\
         2\tDRUG\t20100104\tmetformin\n\
         2\tWARD\t20100104\tOR\n",
    )
    .unwrap();
    let config = dir.join("x.convert_config");
    fs::write(
        &config,
        "DESCRIPTION\tbuild\nRELATIVE\t1\nSAFE_MODE\t1\nMODE\t3\nPREFIX\tx\nCONFIG\tx.repository\n\
         SIGNAL\tx.signals\nDIR\t.\nOUTDIR\tout\nDICTIONARY\tdict.ward\nDATA\tdata.tsv\n",
    )
    .unwrap();
    config
}

fn options(out: PathBuf, build_dicts: bool) -> ConvertOptions {
    ConvertOptions {
        outdir: Some(out),
        build_dicts,
        ..ConvertOptions::default()
    }
}

/// Every value of `signal` for `pid`, categorical ones as names.
fn names(repo: &Repository, pid: u32, signal: &str) -> Vec<String> {
    let s = repo.signal(Pid(pid), signal).unwrap();
    let section = repo.section(signal).unwrap();
    (0..s.len())
        .map(|i| {
            let code = s.value(i, 0).as_i64() as i32;
            section.name(code).unwrap_or("?").to_string()
        })
        .collect()
}

#[test]
fn without_the_flag_unknown_categories_are_dropped_as_today() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path());
    let report = convert(&config, &options(tmp.path().join("a"), false)).unwrap();
    // metformin ×2, aspirin and ER have no code.
    assert_eq!(report.dictionary_misses, 4);
    let errors = fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert_eq!(errors.matches("MISSING_FROM_DICTIONARY").count(), 4);
    assert!(!tmp.path().join("a/dicts").exists());
    // With no miss allowed, SAFE_MODE refuses the load.
    let mut strict = options(tmp.path().join("b"), false);
    strict.thresholds.allowed_unknown_category_cnt = 0;
    let err = convert(&config, &strict).unwrap_err();
    assert!(matches!(err, Error::Convert { .. }), "{err}");
    assert!(err.to_string().contains("dictionary misses"), "{err}");
}

#[test]
fn built_dictionaries_map_every_value_and_keep_existing_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path());
    let mut strict = options(tmp.path().join("a"), true);
    strict.thresholds.allowed_unknown_category_cnt = 0;
    let report = convert(&config, &strict).unwrap();
    assert_eq!(report.dictionary_misses, 0);
    assert_eq!(report.error_lines, 0);
    // Sorted names from 1 for a signal without a section; above the largest code (7) for WARD.
    assert_eq!(
        fs::read_to_string(tmp.path().join("a/dicts/built.DRUG.dict")).unwrap(),
        "SECTION\tDRUG\nDEF\t1\taspirin\nDEF\t2\tmetformin\n"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("a/dicts/built.WARD.dict")).unwrap(),
        "SECTION\tWARD\nDEF\t8\tER\n"
    );
    let repo_config = fs::read_to_string(tmp.path().join("a/x.repository")).unwrap();
    assert!(
        repo_config.contains("dicts/built.DRUG.dict"),
        "{repo_config}"
    );
    assert!(
        repo_config.contains("dicts/built.WARD.dict"),
        "{repo_config}"
    );

    let repo = Repository::open(tmp.path().join("a/x.repository")).unwrap();
    assert_eq!(names(&repo, 1, "DRUG"), ["metformin"]);
    assert_eq!(names(&repo, 2, "DRUG"), ["aspirin", "metformin"]);
    assert_eq!(names(&repo, 1, "WARD"), ["ICU", "ER"]);
    assert_eq!(names(&repo, 2, "WARD"), ["OR"]);
    // Existing codes are kept.
    let ward = repo.section("WARD").unwrap();
    assert_eq!((ward.code("ICU"), ward.code("OR")), (Some(5), Some(7)));
    let w = repo.signal(Pid(1), "Weight").unwrap();
    assert_eq!(w.value(0, 0).to_string(), "71.5");
    // No temporary left beside the output.
    let left: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_runs_build_byte_identical_dictionaries_and_the_cli_flag_works() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path());
    convert(&config, &options(tmp.path().join("a"), true)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args([
            "convert",
            config.to_str().unwrap(),
            "--build-dicts",
            "--outdir",
        ])
        .arg(tmp.path().join("b"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["built.DRUG.dict", "built.WARD.dict"] {
        let a = fs::read(tmp.path().join("a/dicts").join(name)).unwrap();
        let b = fs::read(tmp.path().join("b/dicts").join(name)).unwrap();
        assert_eq!(a, b, "{name}");
    }
    // Values already coded need nothing: a second conversion over the built output's
    // dictionaries builds none.
    let again = tmp.path().join("again.convert_config");
    fs::write(
        &again,
        "MODE\t3\nPREFIX\tx\nCONFIG\tx.repository\nSIGNAL\tx.signals\nDIR\t.\n\
         DICTIONARY\tdict.ward\nDICTIONARY\ta/dicts/built.WARD.dict\n\
         DICTIONARY\ta/dicts/built.DRUG.dict\nDATA\tdata.tsv\n",
    )
    .unwrap();
    let report = convert(&again, &options(tmp.path().join("c"), true)).unwrap();
    assert_eq!(report.dictionary_misses, 0);
    assert!(!tmp.path().join("c/dicts/built.DRUG.dict").exists());
}

/// The bundled small fixture's convert config in a temporary directory (`DIR` pointing at its
/// inputs), with `extra` lines appended (later lines win).
fn small(extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = common::testdata("inframed/small/input");
    let mut text = fs::read_to_string(input.join("small.convert_config")).unwrap();
    text.push_str(&format!("DIR\t{}\n{extra}", input.display()));
    let config = dir.path().join("t.convert_config");
    fs::write(&config, text).unwrap();
    (dir, config)
}

/// The dictionary docs/convert.md gives for the small fixture: its two DIAGNOSIS names no
/// dictionary defines (`Z99`, `e11`, both of pid 1025), above the section's largest code 20014.
const SMALL_BUILT: &str = "SECTION\tDIAGNOSIS\nDEF\t20015\tZ99\nDEF\t20016\te11\n";

/// `--original --build-dicts` (MODE 3): the built codes, and every vector of the original
/// loader's output (the golden repository, which drops the two names as dictionary misses)
/// unchanged except pid 1025's DIAGNOSIS, which gains exactly the two elements.
#[test]
fn with_the_original_behaviour_only_the_missing_names_are_added() {
    let (dir, config) = small("");
    let mut o = ConvertOptions::original();
    o.build_dicts = true;
    o.outdir = Some(dir.path().join("out"));
    let report = convert(&config, &o).unwrap();
    assert_eq!(report.dictionary_misses, 0);
    let out = dir.path().join("out");
    assert_eq!(
        fs::read_to_string(out.join("dicts/built.DIAGNOSIS.dict")).unwrap(),
        SMALL_BUILT
    );
    let repo = Repository::open(out.join("small.repository")).unwrap();
    let golden = common::golden_repo();
    assert_eq!(repo.pids(), golden.pids());
    for &pid in golden.pids() {
        for s in golden.catalog().signals() {
            let ours = repo.get_bytes(pid, s.sid).unwrap();
            let theirs = golden.get_bytes(pid, s.sid).unwrap();
            if pid == Pid(1025) && s.name == "DIAGNOSIS" {
                assert_eq!(ours.len(), theirs.len() + 2 * s.layout.size(), "{pid}");
            } else {
                assert_eq!(&ours[..], &theirs[..], "pid {pid} signal {}", s.name);
            }
        }
    }
    let dx = names(&repo, 1025, "DIAGNOSIS");
    assert!(
        dx.iter().any(|n| n == "Z99") && dx.iter().any(|n| n == "e11"),
        "{dx:?}"
    );
}

/// Under `--original` an unsorted line is dropped, but the first pass has read its value:
/// the name is coded all the same (docs/convert.md), so the codes do not depend on the
/// unsorted policy. Without `--original` the same input is refused and leaves nothing.
#[test]
fn a_value_seen_only_in_a_dropped_line_is_still_coded() {
    let tmp = tempfile::tempdir().unwrap();
    let config = setup(tmp.path());
    let data = fs::read_to_string(tmp.path().join("data.tsv")).unwrap();
    fs::write(
        tmp.path().join("data.tsv"),
        format!("{data}1\tDRUG\t20100105\tibuprofen\n"),
    )
    .unwrap();
    let mut o = ConvertOptions::original();
    o.build_dicts = true;
    o.outdir = Some(tmp.path().join("a"));
    let report = convert(&config, &o).unwrap();
    let errors = fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert_eq!(errors.lines().count(), 1, "{errors}");
    assert!(errors.contains("data.tsv:8"), "{errors}");
    assert_eq!(
        fs::read_to_string(tmp.path().join("a/dicts/built.DRUG.dict")).unwrap(),
        "SECTION\tDRUG\nDEF\t1\taspirin\nDEF\t2\tibuprofen\nDEF\t3\tmetformin\n"
    );
    let repo = Repository::open(tmp.path().join("a/x.repository")).unwrap();
    assert_eq!(names(&repo, 1, "DRUG"), ["metformin"]);
    // The default refuses the unsorted file; no built dictionary is left beside the output.
    let e = convert(&config, &options(tmp.path().join("b"), true)).unwrap_err();
    let mut m = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(x) = source {
        m.push_str(&format!(": {x}"));
        source = x.source();
    }
    assert!(m.contains("not sorted by pid"), "{m}");
    assert!(!tmp.path().join("b").exists());
    let left: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".inframed-dicts"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// MODE 2 (the legacy rewrite of a MODE 3 load): the built dictionary is copied into the
/// output and listed in its config like the config's own, and the names read back.
#[test]
fn legacy_mode_2_carries_the_built_dictionary() {
    let (dir, config) = small("MODE\t2\n");
    let mut o = ConvertOptions::original();
    o.build_dicts = true;
    o.outdir = Some(dir.path().join("out"));
    let report = convert(&config, &o).unwrap();
    assert_eq!(report.dictionary_misses, 0);
    let out = dir.path().join("out");
    let text = fs::read_to_string(out.join("small.repository")).unwrap();
    assert!(text.contains("MODE\t2\n"), "{text}");
    assert!(text.contains("dicts/built.DIAGNOSIS.dict"), "{text}");
    assert_eq!(
        fs::read_to_string(out.join("dicts/built.DIAGNOSIS.dict")).unwrap(),
        SMALL_BUILT
    );
    let repo = Repository::open(out.join("small.repository")).unwrap();
    let section = repo.section("DIAGNOSIS").unwrap();
    assert_eq!(
        (section.code("Z99"), section.code("e11")),
        (Some(20015), Some(20016))
    );
    let dx = names(&repo, 1025, "DIAGNOSIS");
    assert!(
        dx.iter().any(|n| n == "Z99") && dx.iter().any(|n| n == "e11"),
        "{dx:?}"
    );
}

/// Every file under `dir`, by path relative to it.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    common::snapshot(dir).into_iter().collect()
}

/// `--from-meds` always builds its dictionaries from the codes (docs/meds.md), so
/// `--build-dicts` is accepted there and changes nothing: the same files, byte for byte.
#[test]
fn with_from_meds_the_flag_is_accepted_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut trees = Vec::new();
    for (k, flag) in [(0, None), (1, Some("--build-dicts"))] {
        let out = tmp.path().join(k.to_string()).join("meds");
        let o = Command::new(env!("CARGO_BIN_EXE_inframed"))
            .args(["convert", "--from-meds", "testdata/meds/small", "--outdir"])
            .arg(&out)
            .args(flag)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        trees.push(tree(&out));
    }
    assert!(
        trees[0].keys().any(|p| p.starts_with("dicts")),
        "{:?}",
        trees[0].keys()
    );
    assert_eq!(trees[0], trees[1]);
}
