//! `inframed convert`: every bad-line kind and every threshold, with the error file and the
//! outcome; failed and interrupted loads leave the output directory as it was.

mod common;

use std::fs;
use std::path::PathBuf;

use inframed::convert::{convert, ConvertError, ConvertOptions, ConvertReport, UnsortedPolicy};
use inframed::{Error, Pid, Repository, SignalStore};

const SIGNALS: &str = "SIGNAL\tGENDER\t100\tV(i)\tdemographic\t1\n\
SIGNAL\tBDATE\t102\tV(i)\tdemographic\t0\tdate\n\
SIGNAL\tHgb\t1000\tT(i),V(f)\tlab\t0\n\
SIGNAL\tBP\t500\tT(i),V(s,s)\tvitals\t00\n\
SIGNAL\tDIAG\t2000\tT(i),V(i)\tcategorical\t1\n\
SIGNAL\tStay\t2003\tT(i,i),V(i)\tx\t0\n";

const DICTS: &str = "SECTION\tGENDER\nDEF\t1\tM\nDEF\t2\tF\n";
const DIAG: &str = "SECTION\tDIAG\nDEF\t10\tE11\nDEF\t11\tI10 essential\n";

/// An input directory with `t.convert_config` (+ `extra` config lines), the signals file,
/// dictionaries and `data.tsv`; the output goes to `<tmp>/out`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(data: &str, extra: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let inp = dir.path().join("in");
        fs::create_dir_all(&inp).unwrap();
        fs::write(inp.join("t.signals"), SIGNALS).unwrap();
        fs::write(inp.join("dict.g"), DICTS).unwrap();
        fs::write(inp.join("dict.d"), DIAG).unwrap();
        fs::write(inp.join("data.tsv"), data).unwrap();
        let config = format!(
            "DESCRIPTION\tT\nRELATIVE\t1\nSAFE_MODE\t1\nMODE\t3\nPREFIX\tdata/t\nCONFIG\tt.repository\n\
SIGNAL\tt.signals\nDIR\t.\nDICTIONARY\tdict.g\nDICTIONARY\tdict.d\nDATA\tdata.tsv\n{extra}"
        );
        fs::write(inp.join("t.convert_config"), config).unwrap();
        Fixture { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("in/t.convert_config")
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn run(&self, options: ConvertOptions) -> inframed::Result<ConvertReport> {
        let mut options = options;
        options.outdir = Some(self.out());
        convert(&self.config(), &options)
    }

    fn errors(&self) -> String {
        fs::read_to_string(self.out().join("t.convert_errors")).unwrap_or_default()
    }

    fn repo(&self) -> Repository {
        Repository::open(self.out().join("t.repository")).unwrap()
    }
}

fn elems(repo: &Repository, pid: u32, signal: &str) -> usize {
    repo.signal(Pid(pid), signal).unwrap().len()
}

const GOOD: &str = "1\tGENDER\tM\n1\tBDATE\t19800101\n1\tHgb\t20200101\t13.5\n";

/// Each bad-line kind: tag in the error file at the right line, element not stored, counted
/// (or not) as the original counts it.
#[test]
fn each_bad_line_kind() {
    // (line, tag, counted as BAD_FILE_FORMAT, counted as dictionary miss)
    let cases: &[(&str, &str, bool, bool)] = &[
        ("2\tHgb", "TOO_FEW_FIELDS_IN_LINE", false, false),
        ("x2\tHgb\t20200101\t1", "BAD_PID_FORMAT", false, false),
        ("-2\tHgb\t20200101\t1", "BAD_PID_FORMAT", false, false),
        (
            "2\tFerritin\t20200101\t1",
            "UNRECOGNIZED_SIGNAL",
            false,
            false,
        ),
        (
            "2\tDIAG\t20200101\tZ99",
            "MISSING_FROM_DICTIONARY",
            false,
            true,
        ),
        (
            "2\tDIAG\t20200101\te11",
            "MISSING_FROM_DICTIONARY",
            false,
            true,
        ),
        ("2\tHgb\t20200101\tabc", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\t20200101", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\t20230231\t1", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\t2023-13-01\t1", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\t18991231\t1", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\tnotadate\t1", "BAD_FILE_FORMAT", true, false),
        ("2\tHgb\t20200101\t1e39", "BAD_FILE_FORMAT", true, false),
        ("2\tBP\t20200101\t40000\t80", "BAD_FILE_FORMAT", true, false),
        ("2\tBDATE\t99999999999", "BAD_FILE_FORMAT", true, false),
        (
            "2\tStay\t20200101\t20200231\t1",
            "BAD_FILE_FORMAT",
            true,
            false,
        ),
    ];
    for &(line, tag, bad, miss) in cases {
        let data = format!("{GOOD}2\tGENDER\tF\n2\tBDATE\t19900101\n{line}\n2\tHgb\t20200102\t9\n");
        let f = Fixture::new(&data, "");
        let report = f.run(ConvertOptions::default()).unwrap();
        let errors = f.errors();
        let want = format!("data.tsv:6: {tag} ");
        assert!(errors.contains(&want), "{line:?}: {errors}");
        assert_eq!(report.error_lines, 1, "{line:?}: {errors}");
        let stats = &report.files[0];
        assert_eq!(stats.relevant, 7, "{line:?}");
        assert_eq!(stats.bad_format, bad as u64, "{line:?}");
        assert_eq!(stats.missing_from_dictionary, miss as u64, "{line:?}");
        assert_eq!(stats.parsed, 6, "{line:?}");
        assert_eq!(report.dictionary_misses, miss as u64);
        let repo = f.repo();
        assert_eq!(elems(&repo, 2, "Hgb"), 1, "{line:?}: only the good line");
        assert_eq!(
            elems(&repo, 2, "DIAG") + elems(&repo, 2, "BP"),
            0,
            "{line:?}"
        );
        assert_eq!(elems(&repo, 2, "Stay"), 0, "{line:?}");
    }
}

#[test]
fn codes_map_raw_codes_and_unknown_targets() {
    let f = Fixture::new(
        &format!("{GOOD}1\tHB\t20200102\t12\n1\tOLD\t20200103\t1\n"),
        "CODES\tcodes.txt\n",
    );
    fs::write(
        f.dir.path().join("in/codes.txt"),
        "# raw code -> signal\nHB Hgb\nOLD\tRetired\n",
    )
    .unwrap();
    let report = f.run(ConvertOptions::default()).unwrap();
    assert_eq!(elems(&f.repo(), 1, "Hgb"), 2);
    assert!(
        f.errors().contains("data.tsv:5: NO_SID_FOR_SIGNAL "),
        "{}",
        f.errors()
    );
    assert_eq!(report.files[0].bad_format, 0);
}

#[test]
fn categorical_names_with_spaces_and_original_number_parsing() {
    let data = format!(
        "{GOOD}1\tDIAG\t20200101\tI10 essential\n1\tHgb\t20200102\t7.75\textra_field\n\
1\tHgb\t20200103\t1e2\n1\tHgb\t20200103\t100\n1\tBP\t20200101\t120.7\t80\n1 Hgb 20200104 5\r\n"
    );
    let f = Fixture::new(&data, "");
    let report = f.run(ConvertOptions::default()).unwrap();
    assert_eq!(report.error_lines, 0, "{}", f.errors());
    let repo = f.repo();
    let diag = repo.signal(Pid(1), "DIAG").unwrap();
    assert_eq!(diag.value(0, 0).as_i64(), 11);
    let hgb = repo.signal(Pid(1), "Hgb").unwrap();
    // 1e2 and 100 at the same time are the same float: one element.
    assert_eq!(hgb.len(), 4);
    let bp = repo.signal(Pid(1), "BP").unwrap();
    assert_eq!(bp.value(0, 0).as_i64(), 120, "stoi(\"120.7\") = 120");
}

#[test]
fn forced_signals_drop_patients_and_are_listed() {
    let data = format!(
        "{GOOD}2\tGENDER\tF\n2\tHgb\t20200101\t1\n3\tGENDER\tM\n3\tGENDER\tF\n3\tBDATE\t19700101\n\
4\tGENDER\tM\n4\tGENDER\tM\n4\tBDATE\t19700101\n"
    );
    let f = Fixture::new(&data, "FORCE_SIGNAL\tGENDER,BDATE\n");
    let mut options = ConvertOptions::default();
    options.thresholds.allowed_missing_pids_from_forced_ratio = 0.5;
    let report = f.run(options).unwrap();
    let repo = f.repo();
    assert_eq!(
        repo.pids(),
        &[Pid(1), Pid(4)],
        "duplicates collapse; 2 and 3 dropped"
    );
    assert_eq!(elems(&repo, 2, "Hgb"), 0);
    let errors = f.errors();
    assert!(
        errors.contains("pid 2: MISSING_FORCED_SIGNAL BDATE has 0 elements"),
        "{errors}"
    );
    assert!(
        errors.contains("pid 3: MISSING_FORCED_SIGNAL GENDER has 2 elements"),
        "{errors}"
    );
    assert_eq!(
        report.missing_forced,
        [("GENDER".to_string(), 1), ("BDATE".to_string(), 1)]
    );
    // An unknown forced name is a config error (the original silently tests the first signal).
    let f = Fixture::new(GOOD, "FORCE_SIGNAL\tNOPE\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::UnknownSignal { .. }
    ));
}

#[test]
fn unsorted_files_error_drop_or_sort() {
    let data = format!("{GOOD}3\tHgb\t20200101\t1\n2\tHgb\t20200101\t2\n3\tHgb\t20200102\t3\n");
    let f = Fixture::new(&data, "");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::Unsorted {
            pid: 2,
            previous: 3
        }
    ));
    assert!(e.to_string().ends_with("data.tsv: line 5"), "{e}");
    assert!(!f.out().exists());

    let report = f
        .run(ConvertOptions {
            unsorted: UnsortedPolicy::Drop,
            ..ConvertOptions::default()
        })
        .unwrap();
    assert!(f
        .errors()
        .contains("data.tsv:5: UNSORTED_PID pid 2 after pid 3"));
    assert_eq!(report.files[0].bad_format, 0);
    let repo = f.repo();
    assert_eq!(elems(&repo, 2, "Hgb"), 0);
    assert_eq!(elems(&repo, 3, "Hgb"), 2);

    let f = Fixture::new(&data, "");
    let report = f
        .run(ConvertOptions {
            unsorted: UnsortedPolicy::Sort,
            block_bytes: Some(40),
            ..ConvertOptions::default()
        })
        .unwrap();
    assert_eq!(report.error_lines, 0);
    let repo = f.repo();
    assert_eq!(repo.pids(), &[Pid(1), Pid(2), Pid(3)]);
    assert_eq!(elems(&repo, 2, "Hgb"), 1);
    assert_eq!(elems(&repo, 3, "Hgb"), 2);
}

/// `n` Hgb lines for pids 1.., `bad` of them with a bad value (at the start, to also trip the
/// periodic check).
fn many_lines(n: usize, bad: usize, line: impl Fn(usize) -> String) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i < bad {
            s.push_str(&line(i));
        } else {
            s.push_str(&format!("{}\tHgb\t20200101\t{i}\n", i + 1));
        }
    }
    s
}

#[test]
fn lines_left_out_on_purpose_are_not_counted_against_the_ratios() {
    // 1100 BP lines and one Hgb line: reloading Hgb parses 1 line of 1101.
    let mut data: String = (1..=1100)
        .map(|i| format!("{i}\tBP\t20200101\t120\t80\n"))
        .collect();
    data.push_str("1101\tHgb\t20200101\t13\n");
    let f = Fixture::new(&data, "");
    f.run(ConvertOptions::default()).unwrap();
    let mut cfg = fs::read_to_string(f.config()).unwrap();
    cfg.push_str("LOAD_ONLY\tHgb\n");
    fs::write(f.config(), cfg).unwrap();
    let report = f.run(ConvertOptions::default()).unwrap();
    let s = &report.files[0];
    assert_eq!((s.relevant, s.skipped, s.parsed), (1101, 1100, 1));
    assert_eq!(report.signals, [("Hgb".to_string(), 1)]);
    // The lines that are considered still count: one bad Hgb line of two is refused.
    let mut bad = data.clone();
    bad.push_str("1102\tHgb\t20200101\tx\n");
    fs::write(f.dir.path().join("in/data.tsv"), bad).unwrap();
    let mut options = ConvertOptions::default();
    options.thresholds.ratio_min_lines = 1;
    let e = f.run(options).unwrap_err();
    assert_eq!(
        common::convert_error(&e),
        &ConvertError::BadRatio {
            bad: 1,
            relevant: 2,
            max: 0.05
        }
    );
}

#[test]
fn bad_line_ratio() {
    // 60 bad of 1100 relevant: (61/1101) > 0.05 → refused; below 1000 lines only a warning.
    let data = many_lines(1100, 60, |i| format!("{}\tHgb\t20200101\tx\n", i + 1));
    let f = Fixture::new(&data, "");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::BadRatio {
            bad: 60,
            relevant: 1100,
            ..
        }
    ));
    assert!(!f.out().exists(), "nothing published");
    let kept = fs::read_to_string(f.dir.path().join("out.convert_errors")).unwrap();
    assert_eq!(kept.lines().count(), 60);
    // At 54 bad lines the ratio is 55/1101 < 0.05: accepted.
    let f = Fixture::new(
        &many_lines(1100, 54, |i| format!("{}\tHgb\t20200101\tx\n", i + 1)),
        "",
    );
    assert_eq!(f.run(ConvertOptions::default()).unwrap().pids_written, 1100);
    // A small file is only warned about.
    let f = Fixture::new(
        &many_lines(100, 60, |i| format!("{}\tHgb\t20200101\tx\n", i + 1)),
        "",
    );
    let report = f.run(ConvertOptions::default()).unwrap();
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("max_bad_line_ratio")));
    // The option moves the threshold.
    let f = Fixture::new(&data, "");
    let mut options = ConvertOptions::default();
    options.thresholds.max_bad_line_ratio = 0.1;
    assert!(f.run(options).is_ok());
}

#[test]
fn periodic_check_refuses_early() {
    // 100 bad lines first, 2000 good after: the final ratio (101/2101) passes, but the check
    // after 500 patients (101/501) refuses, as the original's every-N-pids test does.
    let data = many_lines(2100, 100, |i| format!("{}\tHgb\t20200101\tx\n", i + 1));
    let f = Fixture::new(&data, "");
    let mut options = ConvertOptions::default();
    options.thresholds.check_every_pids = 500;
    let e = f.run(options).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::BadRatio { .. }
    ));
    let f = Fixture::new(&data, "");
    assert!(
        f.run(ConvertOptions::default()).is_ok(),
        "checked at the end only"
    );
}

#[test]
fn parsed_line_ratio() {
    // 1100 relevant lines, only 5 parsed: (6/1101) < 0.01.
    let data = many_lines(1100, 1095, |i| {
        format!("{}\tFerritin\t20200101\t1\n", i + 1)
    });
    let f = Fixture::new(&data, "");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::ParsedRatio {
            parsed: 5,
            relevant: 1100,
            ..
        }
    ));
    let mut options = ConvertOptions::default();
    options.thresholds.min_parsed_line_ratio = 0.001;
    assert!(Fixture::new(&data, "").run(options).is_ok());
}

#[test]
fn dictionary_misses() {
    let data = many_lines(200, 51, |i| format!("{}\tDIAG\t20200101\tNOPE{i}\n", i + 1));
    let f = Fixture::new(&data, "");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::DictionaryMisses {
            count: 51,
            allowed: 50
        }
    ));
    let data50 = many_lines(200, 50, |i| format!("{}\tDIAG\t20200101\tNOPE{i}\n", i + 1));
    assert!(Fixture::new(&data50, "")
        .run(ConvertOptions::default())
        .is_ok());
    // Without SAFE_MODE the count is not enforced (the original's gate).
    let f = Fixture::new(&data, "SAFE_MODE\t0\n");
    let report = f.run(ConvertOptions::default()).unwrap();
    assert_eq!(report.dictionary_misses, 51);
    let mut options = ConvertOptions::default();
    options.thresholds.allowed_unknown_category_cnt = 100;
    assert!(Fixture::new(&data, "").run(options).is_ok());
}

#[test]
fn missing_forced_ratio_and_count() {
    // 100 patients, 6 without BDATE: 6/101 > 0.05 (the original counts one extra priming pid).
    let mut data = String::new();
    for p in 1..=100 {
        data.push_str(&format!("{p}\tGENDER\tM\n"));
        if p > 6 {
            data.push_str(&format!("{p}\tBDATE\t19700101\n"));
        }
    }
    let f = Fixture::new(&data, "FORCE_SIGNAL\tGENDER,BDATE\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::MissingForced {
            count: 6,
            pids: 101,
            ..
        }
    ));
    // 5/101 passes the ratio, but not a count limit of 4.
    let data5: String = data
        .lines()
        .filter(|l| *l != "6\tGENDER\tM")
        .map(|l| format!("{l}\n"))
        .collect();
    let f = Fixture::new(&data5, "FORCE_SIGNAL\tGENDER,BDATE\n");
    assert_eq!(f.run(ConvertOptions::default()).unwrap().pids_written, 94);
    let f = Fixture::new(&data5, "FORCE_SIGNAL\tGENDER,BDATE\n");
    let mut options = ConvertOptions::default();
    options.thresholds.allowed_missing_pids_from_forced_cnt = 4;
    let e = f.run(options).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::MissingForced { count: 5, .. }
    ));
    // Without SAFE_MODE the patients are dropped but the load succeeds.
    let f = Fixture::new(&data, "FORCE_SIGNAL\tGENDER,BDATE\nSAFE_MODE\t0\n");
    assert_eq!(f.run(ConvertOptions::default()).unwrap().pids_written, 94);
}

#[test]
fn failed_and_interrupted_loads_leave_the_output_as_it_was() {
    let f = Fixture::new(&many_lines(300, 0, |_| String::new()), "");
    f.run(ConvertOptions::default()).unwrap();
    let before = common::snapshot(&f.out());
    assert!(before.len() > 10);
    // Interrupted after 100 patients (an I/O failure half-way).
    let e = f
        .run(ConvertOptions {
            fail_after_pids: Some(100),
            ..ConvertOptions::default()
        })
        .unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::Injected(100)
    ));
    assert_eq!(common::snapshot(&f.out()), before);
    // Refused by a threshold over a new input.
    fs::write(
        f.dir.path().join("in/data.tsv"),
        many_lines(1100, 100, |i| format!("{}\tHgb\t20200101\tx\n", i + 1)),
    )
    .unwrap();
    assert!(f.run(ConvertOptions::default()).is_err());
    assert_eq!(common::snapshot(&f.out()), before);
    // No temporary files left beside it either.
    let names: Vec<String> = fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, ["in", "out", "out.convert_errors"]);
    // A directory that is not a repository is never replaced.
    let g = Fixture::new(GOOD, "");
    fs::create_dir_all(g.out()).unwrap();
    fs::write(g.out().join("precious.txt"), "x").unwrap();
    let e = g.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(e, inframed::Error::Occupied { .. }), "{e}");
    assert_eq!(fs::read(g.out().join("precious.txt")).unwrap(), b"x");
}

#[test]
fn load_only_reloads_some_signals() {
    let f = Fixture::new(
        &format!("{GOOD}1\tBP\t20200101\t120\t80\n2\tHgb\t20200101\t1\n"),
        "",
    );
    f.run(ConvertOptions::default()).unwrap();
    // A file of the user's own in the repository directory is kept.
    fs::write(f.out().join("notes.txt"), "mine").unwrap();
    let before = common::snapshot(&f.out());
    // A reader that has the repository open keeps seeing the old files.
    let live = f.repo();
    // Reload Hgb only, from a new export.
    fs::write(
        f.dir.path().join("in/data.tsv"),
        "1\tHgb\t20210101\t1\n1\tHgb\t20210102\t2\n1\tBP\t20210101\t1\t1\n5\tHgb\t20210101\t3\n",
    )
    .unwrap();
    let mut cfg = fs::read_to_string(f.config()).unwrap();
    cfg.push_str("LOAD_ONLY\tHgb\n");
    fs::write(f.config(), cfg).unwrap();
    let report = f.run(ConvertOptions::default()).unwrap();
    assert_eq!(report.signals, [("Hgb".to_string(), 3)]);
    let after = common::snapshot(&f.out());
    for (path, bytes) in &before {
        let now = &after.iter().find(|(p, _)| p == path).unwrap().1;
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("t_Hgb.") {
            assert_ne!(now, bytes, "{name} reloaded");
        } else if !name.ends_with(".repository") {
            assert_eq!(now, bytes, "{name} untouched");
        }
    }
    let repo = f.repo();
    assert_eq!(elems(&repo, 1, "Hgb"), 2);
    assert_eq!(elems(&repo, 1, "BP"), 1, "BP kept from the first load");
    assert_eq!(
        repo.pids(),
        &[Pid(1), Pid(2)],
        "_all_pids.list not rewritten"
    );
    // The new files are new inodes: the old maps are intact.
    assert_eq!(elems(&live, 1, "Hgb"), 1);
    assert_eq!(elems(&live, 2, "Hgb"), 1);
    assert_eq!(
        fs::read_to_string(f.out().join("notes.txt")).unwrap(),
        "mine"
    );
    // Published in one step: nothing is left beside the output.
    let names: Vec<String> = fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // LOAD_ONLY without a repository to add to.
    let g = Fixture::new(GOOD, "LOAD_ONLY\tHgb\n");
    let e = g.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::LoadOnlyWithoutRepository
    ));
}

#[test]
fn config_errors_name_the_file() {
    let f = Fixture::new(GOOD, "MODE\t7\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(common::convert_error(&e), ConvertError::Mode(7)));
    let f = Fixture::new(GOOD, "MODE\t1\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::LegacyNeeds {
            mode: 1,
            key: "FNAMES"
        }
    ));
    let f = Fixture::new(GOOD, "SIGNAL\tt.signals\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::SignalsFiles(2)
    ));
    let f = Fixture::new(GOOD, "DATA\tmissing.tsv\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::Open { ref path, .. } if path.ends_with("missing.tsv")),
        "{e}"
    );
    let f = Fixture::new(GOOD, "TIMEUNIT\tx\n");
    let e = f.run(ConvertOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("t.convert_config:12: invalid TIMEUNIT"),
        "{e}"
    );
}

#[test]
fn time_units_of_signals() {
    let signals = format!("{SIGNALS}SIGNAL\tEvt\t3000\tT(i),V(f)\tx\t0\t\t6\nSIGNAL\tDay\t3001\tT(i),V(f)\tx\t0\t\t4\n");
    let f = Fixture::new(
        &format!(
            "{GOOD}1\tEvt\t2000-01-02 03:04\t1\n1\tDay\t20000101\t1\n1\tEvt\t2000-01-02 24:00\t1\n"
        ),
        "",
    );
    fs::write(f.dir.path().join("in/t.signals"), signals).unwrap();
    let report = f.run(ConvertOptions::default()).unwrap();
    assert!(
        f.errors().contains("data.tsv:6: BAD_FILE_FORMAT"),
        "{}",
        f.errors()
    );
    assert_eq!(report.error_lines, 1);
    let repo = f.repo();
    let evt = repo.signal(Pid(1), "Evt").unwrap();
    assert_eq!(evt.time(0, 0).as_i64(), (36524 + 1) * 1440 + 3 * 60 + 4);
    assert_eq!(
        repo.signal(Pid(1), "Day").unwrap().time(0, 0).as_i64(),
        36524
    );
}
