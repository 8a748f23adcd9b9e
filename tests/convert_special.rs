//! The original design's special exports (DEMOGRAPHICS, DEATHS, REGISTRY) and CODES, through the
//! documented example config-examples/convert/, and the `inframed convert` command line.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::convert::{convert, ConvertOptions};
use inframed::{Pid, Repository, SignalStore};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/convert")
}

/// `(time channels, value channels)` of every element, with categorical values as names.
fn rows(repo: &Repository, pid: u32, signal: &str) -> Vec<String> {
    let s = repo.signal(Pid(pid), signal).unwrap();
    let section = repo.section(signal).ok();
    let info = repo.catalog().signal(signal).unwrap().clone();
    (0..s.len())
        .map(|i| {
            let mut f: Vec<String> = (0..info.layout.time_channels().len())
                .map(|c| s.time(i, c).to_string())
                .collect();
            for c in 0..info.layout.value_channels().len() {
                let v = s.value(i, c);
                match section.filter(|_| info.is_categorical(c)) {
                    Some(sec) => f.push(sec.name(v.as_i64() as i32).unwrap().to_string()),
                    None => f.push(v.to_string()),
                }
            }
            f.join(" ")
        })
        .collect()
}

#[test]
fn the_example_loads_every_kind_of_export() {
    let out = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        outdir: Some(out.path().join("repo")),
        ..ConvertOptions::default()
    };
    let report = convert(&example().join("example.convert_config"), &options).unwrap();
    assert_eq!(report.error_lines, 0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let repo = Repository::open(out.path().join("repo/example.repository")).unwrap();
    assert_eq!(repo.pids(), &[Pid(1001), Pid(1002), Pid(1003)]);
    // DEMOGRAPHICS `pid byear gender`: BYEAR value, GENDER through its dictionary.
    assert_eq!(rows(&repo, 1001, "BYEAR"), ["1956"]);
    assert_eq!(rows(&repo, 1002, "GENDER"), ["Female"]);
    assert_eq!(rows(&repo, 1001, "GENDER"), ["Male"]);
    // DEATHS `pid DEATH date`: the date is DEATH's value (V(i)).
    assert_eq!(rows(&repo, 1003, "DEATH"), ["20200505"]);
    assert!(rows(&repo, 1001, "DEATH").is_empty());
    // REGISTRY `pid stage date location`.
    assert_eq!(
        rows(&repo, 1003, "Cancer_Stage"),
        ["20170115 2", "20180601 3"]
    );
    assert_eq!(
        rows(&repo, 1003, "Cancer_Location"),
        ["20170115 Breast", "20180601 Breast"]
    );
    // CODES: raw HGB / GLU codes; equal times ordered by value as the original does.
    assert_eq!(
        rows(&repo, 1001, "Hemoglobin"),
        ["20190301 12.9", "20190301 13.5", "20200115 14.1"]
    );
    assert_eq!(rows(&repo, 1002, "Glucose"), ["20210601 88.5"]);
    assert_eq!(rows(&repo, 1001, "DIAGNOSIS"), ["20190301 Type_2_diabetes"]);
}

#[test]
fn bad_special_lines() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    copy(&example(), &inp);
    let append = |rel: &str, text: &str| {
        let p = inp.join(rel);
        let mut s = fs::read_to_string(&p).unwrap();
        s.push_str(text);
        fs::write(p, s).unwrap();
    };
    append("data/demographics.tsv", "1004\t1980\tX\n1005\tabc\tM\n");
    append(
        "data/deaths.tsv",
        "1004\tDIED\t20200101\n1005\tDEATH\t20200230\n",
    );
    append(
        "data/registry.tsv",
        "1004\t2\t20170115\n1005\t2\t20170115\tKidney\n1006\tx\t20170115\tLung\n",
    );
    let mut options = ConvertOptions {
        outdir: Some(dir.path().join("repo")),
        ..ConvertOptions::default()
    };
    // Pids 1004-1006 lose GENDER with their bad lines: allow it.
    options.thresholds.allowed_missing_pids_from_forced_ratio = 1.0;
    let report = convert(&inp.join("example.convert_config"), &options).unwrap();
    let errors = fs::read_to_string(report.error_file.unwrap()).unwrap();
    for want in [
        "demographics.tsv:4: MISSING_FROM_DICTIONARY GENDER",
        "demographics.tsv:5: BAD_FILE_FORMAT BYEAR",
        "deaths.tsv:2: UNRECOGNIZED_SIGNAL DIED",
        "deaths.tsv:3: BAD_FILE_FORMAT DEATH: not a valid date",
        "registry.tsv:3: TOO_FEW_FIELDS_IN_LINE",
        "registry.tsv:4: MISSING_FROM_DICTIONARY Cancer_Location",
        "registry.tsv:5: BAD_FILE_FORMAT Cancer_Stage",
    ] {
        assert!(errors.contains(want), "{want}: {errors}");
    }
    // Nothing of a bad registry line is kept (the location of line 5 parsed, its stage did not).
    let repo = Repository::open(dir.path().join("repo/example.repository")).unwrap();
    assert!(rows(&repo, 1006, "Cancer_Location").is_empty());
    // A special export whose signals are not defined is a config error.
    let signals = fs::read_to_string(inp.join("example.signals")).unwrap();
    let without: String = signals
        .lines()
        .filter(|l| !l.contains("Cancer_Stage"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(inp.join("example.signals"), without).unwrap();
    let e = convert(&inp.join("example.convert_config"), &options).unwrap_err();
    assert!(
        std::error::Error::source(&e)
            .unwrap()
            .to_string()
            .contains("REGISTRY input needs signal \"Cancer_Stage\""),
        "{e}"
    );
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn command_line() {
    let exe = env!("CARGO_BIN_EXE_inframed");
    let out = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/inframed/small/input/small.convert_config");
    // Default: the fixture's unsorted line is an error naming file:line; exit 2, stdout empty.
    let o = Command::new(exe)
        .args(["convert", config.to_str().unwrap(), "--outdir"])
        .arg(out.path().join("a"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.starts_with("error: ") && err.contains("labs.tsv: line 273: pid 1026 after pid 4096"),
        "{err}"
    );
    // --original: the original's behaviour; no progress bar drawn when stderr is not a terminal.
    let o = Command::new(exe)
        .args([
            "convert",
            config.to_str().unwrap(),
            "--original",
            "--threads",
            "2",
            "--outdir",
        ])
        .arg(out.path().join("b"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        stdout.starts_with("converted 40 patients (42 read), 951 elements of 14 signals"),
        "{stdout}"
    );
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inframed/small/repo/data");
    for name in [
        "small_rep_Hemoglobin.data",
        "small_rep_Hemoglobin.idx",
        "small_rep_all_pids.list",
    ] {
        assert_eq!(
            fs::read(out.path().join("b/data").join(name)).unwrap(),
            fs::read(golden.join(name)).unwrap()
        );
    }
    // A threshold option: allow no dictionary miss at all.
    let o = Command::new(exe)
        .args([
            "convert",
            config.to_str().unwrap(),
            "--original",
            "--allowed-unknown-category-cnt",
            "1",
            "--error-file",
        ])
        .arg(out.path().join("errors.txt"))
        .arg("--outdir")
        .arg(out.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("2 dictionary misses exceed allowed_unknown_category_cnt 1"),
        "{err}"
    );
    assert!(!out.path().join("c").exists());
    assert!(fs::read_to_string(out.path().join("errors.txt"))
        .unwrap()
        .contains("MISSING_FROM_DICTIONARY"));
}
