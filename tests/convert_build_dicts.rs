//! `convert --build-dicts` (`ConvertOptions::build_dicts`): dictionaries built for the
//! categorical values of a raw export that has none, with deterministic codes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::convert::{convert, ConvertOptions};
use inframed::{Error, Pid, Repository};

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
    let s = repo.get(Pid(pid), signal).unwrap();
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
    assert!(matches!(err, Error::Backend { .. }), "{err}");
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
    let w = repo.get(Pid(1), "Weight").unwrap();
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
