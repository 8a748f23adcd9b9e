//! `inframed convert` against the original loader (medpython 1.2.1 `MedConvert.create_rep`) on the
//! golden fixture: testdata/inframed/small/input → testdata/inframed/small/repo.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use inframed::convert::{convert, ConvertOptions, UnsortedPolicy};
use inframed::time::is_valid_date;
use inframed::{Repository, SignalStore};

fn config() -> PathBuf {
    common::testdata("inframed/small/input/small.convert_config")
}

fn golden_data() -> PathBuf {
    common::testdata("inframed/small/repo/data")
}

fn run(options: ConvertOptions) -> (tempfile::TempDir, inframed::convert::ConvertReport) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options;
    options.outdir = Some(dir.path().join("repo"));
    let report = convert(&config(), &options).unwrap();
    (dir, report)
}

/// Every `.data`, `.idx` and `.list` file of the original's output.
fn golden_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(golden_data())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            (n.ends_with(".data") || n.ends_with(".idx") || n.ends_with(".list"))
                && !n.contains("__pids__")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn original_behaviour_is_byte_identical() {
    let (dir, report) = run(ConvertOptions::original());
    let ours = dir.path().join("repo");
    let files = golden_files();
    assert_eq!(files.len(), 29, "14 signal pairs and the pid list");
    for g in &files {
        let name = g.file_name().unwrap();
        let mine = fs::read(ours.join("data").join(name))
            .unwrap_or_else(|e| panic!("{}: {e}", name.to_string_lossy()));
        assert!(
            mine == fs::read(g).unwrap(),
            "{} differs from the original's",
            name.to_string_lossy()
        );
    }
    // The texts: config as MedConvert writes it, signals file and dictionaries byte copies.
    let golden_repo = common::testdata("inframed/small/repo");
    for rel in [
        "small.repository",
        "small.signals",
        "dicts/dict.gender",
        "dicts/dict.defs_DIAGNOSIS_Fromclient",
        "dicts/dict.sets_DIAGNOSIS_Fromclient",
        "dicts/dict.def_DIAGNOSIS",
        "dicts/dict.def_ADMISSION_value_0",
        "dicts/dict.def_ADMISSION_value_1",
    ] {
        assert_eq!(
            fs::read(ours.join(rel)).unwrap(),
            fs::read(golden_repo.join(rel)).unwrap(),
            "{rel}"
        );
    }
    assert_eq!((report.pids_read, report.pids_written), (42, 40));
    assert_eq!(
        report.missing_forced,
        [("GENDER".to_string(), 1), ("BDATE".to_string(), 1)]
    );
    // The original's per-file statistics (build.log): labs 771 relevant, 2 bad, 765 parsed;
    // diagnosis 74 / 0 / 72; admission 44 / 0 / 44; demographic 130 / 0 / 130.
    let stats: BTreeMap<String, (u64, u64, u64)> = report
        .files
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                (f.relevant, f.bad_format, f.parsed),
            )
        })
        .collect();
    assert_eq!(stats["labs.tsv"], (771, 2, 765));
    assert_eq!(stats["diagnosis.tsv"], (74, 0, 72));
    assert_eq!(stats["admission.tsv"], (44, 0, 44));
    assert_eq!(stats["demographic.tsv"], (130, 0, 130));
    // The written repository reads like the original's, through the conformance suite.
    let golden = common::golden_repo();
    let mine = Repository::open(ours.join("small.repository")).unwrap();
    common::conformance(&mine, &golden);
}

/// The line numbers of the original's error file entries: `(tag, file name, line number)`.
fn original_errors() -> Vec<(String, String, usize)> {
    let text = fs::read_to_string(common::testdata("inframed/small/build_errors.tsv")).unwrap();
    let input = common::testdata("inframed/small/input");
    let mut out = Vec::new();
    for line in text.lines() {
        // `TAG\t...\tfile\t"line"` or `TAG\t(x)\tfile: F\tline: L` or `ERROR: ... line: L` forms.
        let (tag, file, content) =
            if let Some(rest) = line.strip_prefix("MISSING_FROM_DICTIONARY\t") {
                let f: Vec<&str> = rest.splitn(3, '\t').collect();
                ("MISSING_FROM_DICTIONARY", f[1], f[2].trim_matches('"'))
            } else if let Some(rest) = line.strip_prefix("BAD_FILE_FORMAT\t") {
                let f: Vec<&str> = rest.splitn(3, '\t').collect();
                ("BAD_FILE_FORMAT", f[0], f[2].trim_matches('"'))
            } else if let Some(rest) = line.strip_prefix("TOO_FEW_FIELDS_IN_LINE\tfile: ") {
                let (file, l) = rest.split_once("\tline: ").unwrap();
                ("TOO_FEW_FIELDS_IN_LINE", file, l)
            } else if let Some(rest) = line.strip_prefix("UNRECOGNIZED_SIGNAL\t") {
                let rest = rest.split_once("\tfile: ").unwrap().1;
                let (file, l) = rest.split_once("\tline: ").unwrap();
                ("UNRECOGNIZED_SIGNAL", file, l)
            } else if let Some(rest) = line.strip_prefix("ERROR: bad format in file ") {
                let (file, rest) = rest.split_once(" with first token of pid").unwrap();
                (
                    "BAD_PID_FORMAT",
                    file,
                    rest.split_once(" line: ").unwrap().1,
                )
            } else if let Some(rest) = line.strip_prefix("MedConvert: get_next_signal: fpid is ") {
                (
                    "UNSORTED_PID",
                    "./data/labs.tsv",
                    rest.split_once("got line: ").unwrap().1,
                )
            } else {
                continue; // the extra "ERROR: in signal ..." message of a BAD_FILE_FORMAT line
            };
        let file = file.trim_start_matches("./");
        let text = fs::read_to_string(input.join(file)).unwrap();
        let n = text
            .lines()
            .position(|l| l.trim_end_matches('\r') == content)
            .unwrap_or_else(|| panic!("{content:?} not in {file}"))
            + 1;
        out.push((tag.to_string(), file.to_string(), n));
    }
    out.sort();
    out
}

#[test]
fn error_file_lists_the_lines_the_original_rejects() {
    let (dir, report) = run(ConvertOptions::original());
    let path = report.error_file.clone().unwrap();
    assert_eq!(path, dir.path().join("repo/small.convert_errors"));
    let text = fs::read_to_string(&path).unwrap();
    let mut ours: Vec<(String, String, usize)> = Vec::new();
    let mut forced = Vec::new();
    for line in text.lines() {
        if line.starts_with("pid ") {
            forced.push(line.to_string());
            continue;
        }
        let (loc, rest) = line.split_once(": ").unwrap();
        let (file, n) = loc.rsplit_once(':').unwrap();
        let file = file.split("input/").nth(1).unwrap().to_string();
        let tag = rest.split(' ').next().unwrap().to_string();
        ours.push((tag, file, n.parse().unwrap()));
    }
    ours.sort();
    assert_eq!(ours, original_errors());
    assert_eq!(report.error_lines as usize, ours.len() + forced.len());
    // The original's log: "pid 5555 is missing forced signal BDATE", "pid 12345 ... GENDER (100,0,2)".
    assert_eq!(forced.len(), 2);
    assert!(forced[0].starts_with("pid 5555: MISSING_FORCED_SIGNAL BDATE has 0 elements"));
    assert!(forced[1].starts_with("pid 12345: MISSING_FORCED_SIGNAL GENDER has 2 elements"));
}

/// Golden elements with every time channel a real date (what date validation keeps).
fn valid_dates_only(store: &dyn SignalStore, pid: inframed::Pid, sid: inframed::Sid) -> Vec<u8> {
    let info = store.catalog().by_sid(sid).unwrap();
    let bytes = store.get_bytes(pid, sid).unwrap();
    let layout = &info.layout;
    bytes
        .chunks_exact(layout.size())
        .filter(|e| {
            layout
                .time_channels()
                .iter()
                .all(|c| is_valid_date(c.ty.read(&e[c.offset..]).as_i64()))
        })
        .flat_map(|e| e.iter().copied())
        .collect()
}

#[test]
fn default_validates_dates_and_otherwise_matches() {
    // Default options refuse the unsorted line: a clear error naming file:line.
    let dir = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        outdir: Some(dir.path().join("repo")),
        ..ConvertOptions::default()
    };
    let e = convert(&config(), &options).unwrap_err();
    let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(msg.contains("labs.tsv: line 273"), "{msg}");
    assert!(msg.contains("pid 1026 after pid 4096"), "{msg}");
    assert!(!dir.path().join("repo").exists(), "nothing written");
    // The lines listed so far are kept beside the output directory.
    assert!(dir.path().join("repo.convert_errors").is_file());

    // Dropping it as the original does, with our date validation: the original's elements
    // minus those with impossible dates (2010-13-45, end dates like 20151232).
    let (dir, report) = run(ConvertOptions {
        unsorted: UnsortedPolicy::Drop,
        ..ConvertOptions::default()
    });
    let mine = Repository::open(dir.path().join("repo/small.repository")).unwrap();
    let golden = common::golden_repo();
    assert_eq!(mine.pids(), golden.pids());
    let mut dropped = 0;
    for s in golden.catalog().signals() {
        for &pid in golden.pids() {
            let want = valid_dates_only(&golden, pid, s.sid);
            let all = golden.get_bytes(pid, s.sid).unwrap().len();
            dropped += (all - want.len()) / s.layout.size();
            assert_eq!(
                mine.get_bytes(pid, s.sid).unwrap().as_ref(),
                &want[..],
                "pid {pid} {}",
                s.name
            );
        }
    }
    assert!(dropped >= 10, "the fixture has impossible dates: {dropped}");
    let text = fs::read_to_string(report.error_file.unwrap()).unwrap();
    assert!(
        text.contains("labs.tsv:125: BAD_FILE_FORMAT Hemoglobin: not a valid date: \"2010-13-45\"")
    );
    // Bad lines: the original's 2, plus one per impossible date (some of those lines belong to
    // patients dropped for a forced signal, or repeat another line, so they are not all
    // missing from the golden repository).
    let invalid = text.matches("not a valid date").count();
    let bad: u64 = report.files.iter().map(|f| f.bad_format).sum();
    assert_eq!(bad as usize, 2 + invalid);
    assert!(invalid >= dropped, "{invalid} >= {dropped}");
}

#[test]
fn sort_option_loads_the_unsorted_line() {
    let (dir, _) = run(ConvertOptions {
        unsorted: UnsortedPolicy::Sort,
        validate_dates: false,
        ..ConvertOptions::default()
    });
    let mine = Repository::open(dir.path().join("repo/small.repository")).unwrap();
    let golden = common::golden_repo();
    let hgb = golden.catalog().signal("Hemoglobin").unwrap().sid;
    // Line 273 `1026 Hemoglobin 20100101 11.1` is merged into pid 1026 instead of dropped.
    let (a, b) = (
        mine.get_bytes(inframed::Pid(1026), hgb)
            .unwrap()
            .into_owned(),
        golden
            .get_bytes(inframed::Pid(1026), hgb)
            .unwrap()
            .into_owned(),
    );
    assert_eq!(a.len(), b.len() + 8);
    let extra: Vec<u8> = [20100101i32.to_le_bytes(), 11.1f32.to_le_bytes()].concat();
    assert!(a.chunks(8).any(|e| e == &extra[..]));
    // Everything else is the original's.
    for s in golden.catalog().signals() {
        for &pid in golden.pids() {
            if (pid.0, s.sid) != (1026, hgb) {
                assert_eq!(
                    mine.get_bytes(pid, s.sid).unwrap(),
                    golden.get_bytes(pid, s.sid).unwrap()
                );
            }
        }
    }
    // Errors still name the input file's own line numbers.
    let errors = fs::read_to_string(dir.path().join("repo/small.convert_errors")).unwrap();
    assert!(
        errors.contains("labs.tsv:121: TOO_FEW_FIELDS_IN_LINE"),
        "{errors}"
    );
}

#[test]
fn threads_do_not_change_the_output() {
    let small_blocks = |threads, bytes| ConvertOptions {
        threads: Some(threads),
        block_bytes: Some(bytes),
        ..ConvertOptions::original()
    };
    // 7-byte blocks: every line is longer than a block.
    let (a, _) = run(small_blocks(1, 7));
    let (b, _) = run(small_blocks(4, 300));
    for g in golden_files() {
        let name = g.file_name().unwrap();
        let x = fs::read(a.path().join("repo/data").join(name)).unwrap();
        let y = fs::read(b.path().join("repo/data").join(name)).unwrap();
        assert_eq!(
            x,
            fs::read(&g).unwrap(),
            "{name:?} with 1 thread, tiny blocks"
        );
        assert_eq!(y, x, "{name:?} with 4 threads");
    }
}

/// With `--sort`, progress first reports the sort (`sorting`, bytes sorted rising to the
/// input total), then the load (`!sorting`), so the CLI's bar moves during both phases.
#[test]
fn sort_reports_its_own_progress_before_the_load() {
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<(bool, u64, u64)>>> = Arc::default();
    let log = seen.clone();
    let (_dir, _) = run(ConvertOptions {
        unsorted: UnsortedPolicy::Sort,
        validate_dates: false,
        progress: Some(Arc::new(move |p: &inframed::convert::Progress| {
            log.lock()
                .unwrap()
                .push((p.sorting, p.bytes_read, p.bytes_total))
        })),
        ..ConvertOptions::default()
    });
    let seen = seen.lock().unwrap();
    let sorting: Vec<_> = seen.iter().take_while(|s| s.0).collect();
    assert!(sorting.len() >= 2, "{seen:?}");
    assert_eq!(sorting[0].1, 0);
    let total = sorting[0].2;
    assert!(total > 0);
    assert_eq!(
        sorting.last().unwrap().1,
        total,
        "the sort ends at the input total"
    );
    assert!(sorting.windows(2).all(|w| w[0].1 <= w[1].1));
    assert!(
        seen[sorting.len()..].iter().all(|s| !s.0),
        "then only load steps: {seen:?}"
    );
    assert!(seen.len() > sorting.len(), "the load reports too");
}
