//! `inframed convert` with MODE 0, 1 and 2: the golden fixture's inputs loaded into the
//! original design's layouts, read back against the original loader's MODE 3 output.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use inframed::convert::{convert, ConvertError, ConvertOptions, ConvertReport};
use inframed::{Error, Repository, SignalStore};

/// A convert config in a temporary directory: the golden fixture's, with `DIR` pointing at its
/// inputs and `extra` lines appended (later lines win), plus FNAMES/SFILES files if given.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(extra: &str, fnames: Option<&str>, sfiles: Option<&str>) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let input = common::testdata("inframed/small/input");
        let mut text = fs::read_to_string(input.join("small.convert_config")).unwrap();
        text.push_str(&format!("DIR\t{}\n{extra}", input.display()));
        for (key, body) in [("FNAMES", fnames), ("SFILES", sfiles)] {
            if let Some(body) = body {
                let p = dir.path().join(key.to_lowercase());
                fs::write(&p, body).unwrap();
                text.push_str(&format!("{key}\t{}\n", p.display()));
            }
        }
        fs::write(dir.path().join("t.convert_config"), text).unwrap();
        Setup { dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    fn run(&self, options: ConvertOptions) -> inframed::Result<ConvertReport> {
        let mut options = options;
        options.outdir = Some(self.out());
        convert(&self.dir.path().join("t.convert_config"), &options)
    }

    fn sfiles(&self) -> PathBuf {
        self.dir.path().join("sfiles")
    }
}

/// Every (pid, signal) of the golden repository reads the same from `repo`, except the
/// signals in `absent`, which must be empty there.
fn same_as_golden(repo: &Repository, absent: &[&str]) -> usize {
    let golden = common::golden_repo();
    let mut compared = 0;
    for &pid in golden.pids() {
        for s in golden.catalog().signals() {
            let ours = repo.get_bytes(pid, repo.catalog().signal(&s.name).unwrap().sid);
            let ours = ours.unwrap();
            if absent.contains(&s.name.as_str()) {
                assert!(ours.is_empty(), "pid {pid} {} should not be loaded", s.name);
            } else {
                let theirs = golden.get_bytes(pid, s.sid).unwrap();
                assert_eq!(&ours[..], &theirs[..], "pid {pid} signal {}", s.name);
                compared += theirs.len();
            }
        }
    }
    compared
}

/// An error with its sources, as the CLI prints it.
fn chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(x) = source {
        s.push_str(&format!(": {x}"));
        source = x.source();
    }
    s
}

#[test]
fn mode2_data_files_equal_the_originals_mode3_files() {
    let s = Setup::new("MODE\t2\n", None, None);
    let report = s.run(ConvertOptions::original()).unwrap();
    let out = s.out();
    assert_eq!(report.config, Some(out.join("small.repository")));
    let config = fs::read_to_string(out.join("small.repository")).unwrap();
    assert!(config.contains("MODE\t2\n"), "{config}");
    assert!(config.contains("PREFIX\tdata/small_rep\n"), "{config}");
    // A MODE 2 data file of one signal is byte-identical to the MODE 3 .data (format §8.2).
    let golden = common::testdata("inframed/small/repo");
    let mut files = 0;
    for e in fs::read_dir(golden.join("data")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".data") && !name.starts_with("__pids__") {
            assert_eq!(
                fs::read(out.join("data").join(&name)).unwrap(),
                fs::read(&p).unwrap(),
                "{name}"
            );
            files += 1;
        }
    }
    assert_eq!(files, 14);
    // The texts are the inputs' bytes.
    for rel in [
        "small.signals",
        "dicts/dict.gender",
        "dicts/dict.def_DIAGNOSIS",
    ] {
        assert_eq!(
            fs::read(out.join(rel)).unwrap(),
            fs::read(common::testdata("inframed/small/input").join(rel)).unwrap(),
            "{rel}"
        );
    }
    let repo = Repository::open(out.join("small.repository")).unwrap();
    assert!(same_as_golden(&repo, &[]) > 0);
    repo.verify().unwrap();
    // The error file lands in the repository, as for MODE 3.
    assert_eq!(
        report.error_file,
        Some(out.join("small.convert_errors")),
        "{report:?}"
    );
    assert!(fs::read_to_string(out.join("small.convert_errors"))
        .unwrap()
        .contains("UNRECOGNIZED_SIGNAL"));
}

const FNAMES: &str = "# fno stem\n0 data/lg_demo\n2\tdata/lg_clin\n5 data/lg_empty\n";
/// DrugDose is left out; the clinical file lists its signals out of signals-file order.
const SFILES: &str = "0 GENDER\n0 BDATE\n0 MEMBERSHIP\n0 DEATH\n\
2 Hemoglobin\n2 BP\n2 Weight\n2 Albumin\n2 Glucose\n2 Eosinophils%\n2 Urine/Creatinine\n\
2 DIAGNOSIS\n2 ADMISSION\n0 NoSuchSignal\n";

/// The packets of an INDEX file: `(pid, [(sid, fno, pos, len)])`.
type Packet = (i32, Vec<(i32, u16, u64, i32)>);

fn packets(path: &Path) -> Vec<Packet> {
    let b = fs::read(path).unwrap();
    assert_eq!(&b[..8], &0x0123456789abcdefu64.to_le_bytes());
    assert_eq!(&b[8..12], &0i32.to_le_bytes());
    let i32_at = |o: usize| i32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut at = 12;
    while at < b.len() {
        assert_eq!(&b[at..at + 8], &0x0123456789abcdefu64.to_le_bytes());
        let (pid, n) = (i32_at(at + 8), i32_at(at + 12));
        at += 16;
        let mut entries = Vec::new();
        for _ in 0..n {
            entries.push((
                i32_at(at),
                u16::from_le_bytes(b[at + 4..at + 6].try_into().unwrap()),
                u64::from_le_bytes(b[at + 6..at + 14].try_into().unwrap()),
                i32_at(at + 14),
            ));
            at += 18;
        }
        out.push((pid, entries));
    }
    out
}

#[test]
fn mode1_files_follow_fnames_and_sfiles() {
    let s = Setup::new("MODE\t1\nPREFIX\tdata/lg\n", Some(FNAMES), Some(SFILES));
    let report = s.run(ConvertOptions::original()).unwrap();
    let out = s.out();
    let config = fs::read_to_string(out.join("small.repository")).unwrap();
    assert!(
        config.contains(
            "DATA\t0\tdata/lg_demo.data\nDATA\t2\tdata/lg_clin.data\nDATA\t5\tdata/lg_empty.data\n\
INDEX\tdata/lg_demo.idx\nINDEX\tdata/lg_clin.idx\nINDEX\tdata/lg_empty.idx\n"
        ),
        "{config}"
    );
    assert!(config.contains("MODE\t1\n") && !config.contains("PREFIX"));
    // Warnings for the unknown SFILES name and the signal in no file.
    let w = report.warnings.join("\n");
    assert!(
        w.contains(&format!(
            "{}:14: SFILES names unknown signal \"NoSuchSignal\"",
            s.sfiles().display()
        )),
        "{w}"
    );
    assert!(
        w.contains("not loaded (their input lines are skipped): DrugDose"),
        "{w}"
    );

    // Every packet of a file: pids ascending, entries in SFILES order, its own fno, byte
    // positions that tile the stripped data file after its format word.
    let order: Vec<&str> = SFILES
        .lines()
        .map(|l| l.split([' ', '\t']).nth(1).unwrap())
        .collect();
    let golden = common::golden_repo();
    let sid_rank = |sid: i32| {
        let name = &golden
            .catalog()
            .signals()
            .iter()
            .find(|s| s.sid.0 as i32 == sid)
            .unwrap()
            .name;
        order.iter().position(|n| n == name).unwrap()
    };
    for (stem, fno) in [("lg_demo", 0u16), ("lg_clin", 2)] {
        let ps = packets(&out.join(format!("data/{stem}.idx")));
        assert!(!ps.is_empty());
        assert!(
            ps.windows(2).all(|w| w[0].0 < w[1].0),
            "{stem}: pids ascending"
        );
        let mut next = 4u64;
        for (_, entries) in &ps {
            let ranks: Vec<usize> = entries.iter().map(|e| sid_rank(e.0)).collect();
            assert!(
                ranks.windows(2).all(|w| w[0] < w[1]),
                "{stem}: SFILES order"
            );
            for &(_, f, pos, len) in entries {
                assert_eq!((f, pos), (fno, next));
                next += len as u64;
            }
        }
        let data = fs::read(out.join(format!("data/{stem}.data"))).unwrap();
        assert_eq!(&data[..4], &1i32.to_le_bytes(), "stripped format word");
        assert_eq!(data.len() as u64, next, "{stem}: vectors tile the file");
    }
    // A file SFILES puts nothing in: the headers only.
    assert_eq!(
        fs::read(out.join("data/lg_empty.data")).unwrap(),
        1i32.to_le_bytes()
    );
    assert_eq!(fs::read(out.join("data/lg_empty.idx")).unwrap().len(), 12);

    let repo = Repository::open(out.join("small.repository")).unwrap();
    assert!(same_as_golden(&repo, &["DrugDose"]) > 0);
    repo.verify().unwrap();

    // A second load replaces it (the directory holds the repository it names).
    let before = common::snapshot(&out);
    s.run(ConvertOptions::original()).unwrap();
    assert_eq!(
        common::snapshot(&out),
        before,
        "the same input gives the same bytes"
    );
}

#[test]
fn mode0_is_mode1_with_its_own_mode_word() {
    let s = Setup::new("MODE\t0\n", Some(FNAMES), Some(SFILES));
    s.run(ConvertOptions::original()).unwrap();
    let config = fs::read_to_string(s.out().join("small.repository")).unwrap();
    assert!(config.contains("MODE\t0\n"), "{config}");
    let repo = Repository::open(s.out().join("small.repository")).unwrap();
    assert!(same_as_golden(&repo, &["DrugDose"]) > 0);
}

#[test]
fn legacy_config_errors() {
    // MODE 0/1 need both files.
    let e = Setup::new("MODE\t1\n", Some(FNAMES), None)
        .run(ConvertOptions::original())
        .unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::LegacyNeeds {
            mode: 1,
            key: "SFILES"
        }
    ));
    // An SFILES file number without an FNAMES line, named by file and line.
    let s = Setup::new("MODE\t1\n", Some(FNAMES), Some("0 GENDER\n\n7 BDATE\n"));
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert!(
        matches!(e, Error::Parse { ref path, line: 3, .. } if *path == s.sfiles()),
        "{e}"
    );
    assert!(
        chain(&e).contains("data file number 7 has no FNAMES line"),
        "{e}"
    );
    // A signal placed twice.
    let s = Setup::new("MODE\t1\n", Some(FNAMES), Some("0 GENDER\n2 GENDER\n"));
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 2, .. }), "{e}");
    // A line without a name; a file number out of range; a file number given twice.
    for (fnames, line) in [
        ("0 data/a\n12\n", 2),
        ("0 data/a\n70000 data/b\n", 2),
        ("0 data/a\n0 data/b\n", 2),
        ("0 data/a\n1 data/a\n", 2),
    ] {
        let s = Setup::new("MODE\t1\n", Some(fnames), Some("0 GENDER\n"));
        let e = s.run(ConvertOptions::original()).unwrap_err();
        assert!(
            matches!(e, Error::Parse { ref path, line: l, .. } if l == line && path.ends_with("fnames")),
            "{fnames:?}: {e}"
        );
    }
    // A file stem that leaves the repository.
    let s = Setup::new(
        "MODE\t1\n",
        Some("0 ../escape\n"),
        Some("0 GENDER\n0 BDATE\n"),
    );
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 1, .. }), "{e}");
    assert!(
        chain(&e).contains("relative path inside the repository"),
        "{e}"
    );
    assert!(!s.dir.path().join("escape.data").exists());
    // A forced signal in no file (the config forces GENDER and BDATE).
    let s = Setup::new("MODE\t1\n", Some(FNAMES), Some("0 BDATE\n"));
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert_eq!(
        common::convert_error(&e),
        &ConvertError::ForcedNotInFiles("GENDER".into())
    );
    let s = Setup::new(
        "MODE\t1\nFORCE_SIGNAL\tNoSuch\n",
        Some(FNAMES),
        Some(SFILES),
    );
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert!(matches!(
        common::convert_error(&e),
        ConvertError::UnknownSignal {
            list: "FORCE_SIGNAL",
            ..
        }
    ));
    // LOAD_ONLY is a MODE 3 feature.
    let s = Setup::new("MODE\t2\nLOAD_ONLY\tHemoglobin\n", None, None);
    let e = s.run(ConvertOptions::original()).unwrap_err();
    assert_eq!(common::convert_error(&e), &ConvertError::LegacyLoadOnly(2));
    // Not a repository mode.
    let e = Setup::new("MODE\t4\n", None, None)
        .run(ConvertOptions::original())
        .unwrap_err();
    assert_eq!(common::convert_error(&e), &ConvertError::Mode(4));
}

#[test]
fn a_failed_legacy_load_leaves_the_output_as_it_was() {
    let s = Setup::new("MODE\t2\n", None, None);
    s.run(ConvertOptions::original()).unwrap();
    let before = common::snapshot(&s.out());
    // Fail after some patients (the test hook), then on a threshold.
    let mut options = ConvertOptions::original();
    options.fail_after_pids = Some(5);
    let e = s.run(options).unwrap_err();
    assert_eq!(common::convert_error(&e), &ConvertError::Injected(5));
    let mut options = ConvertOptions::original();
    options.thresholds.max_bad_line_ratio = 0.0;
    options.thresholds.ratio_min_lines = 0;
    let e = s.run(options).unwrap_err();
    assert!(
        matches!(common::convert_error(&e), ConvertError::BadRatio { .. }),
        "{e}"
    );
    assert_eq!(common::snapshot(&s.out()), before, "output untouched");
    // The error file of the failed load sits beside the output; no temporary is left.
    assert!(fs::read_to_string(s.dir.path().join("out.convert_errors"))
        .unwrap()
        .contains("BAD_FILE_FORMAT"));
    let names: Vec<String> = fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with('.') && !n.contains(".tmp.")),
        "{names:?}"
    );
}

#[test]
fn leftovers_of_a_killed_load_are_reported() {
    let s = Setup::new("MODE\t2\n", None, None);
    // What a conversion killed mid-way leaves beside OUTDIR (it cannot clean up after itself).
    let left = s.dir.path().join("out.tmp.4242.0");
    fs::create_dir_all(left.join("data")).unwrap();
    let report = s.run(ConvertOptions::original()).unwrap();
    let w = report.warnings.join("\n");
    assert!(
        w.contains(&format!(
            "{}: temporary output of an interrupted",
            left.display()
        )),
        "{w}"
    );
    // Reported, not removed: another conversion may still own it.
    assert!(left.exists());
}

#[test]
fn the_legacy_example_reads_like_the_mode3_example() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/convert");
    let dir = tempfile::tempdir().unwrap();
    let run = |config: &str, out: &str| {
        let options = ConvertOptions {
            outdir: Some(dir.path().join(out)),
            ..ConvertOptions::default()
        };
        convert(&example.join(config), &options).unwrap()
    };
    let r3 = run("example.convert_config", "m3");
    let r1 = run("legacy.convert_config", "m1");
    assert_eq!(r1.signals, r3.signals);
    let m3 = Repository::open(dir.path().join("m3/example.repository")).unwrap();
    let m1 = Repository::open(dir.path().join("m1/legacy.repository")).unwrap();
    assert_eq!(m1.pids(), m3.pids());
    let mut elements = 0;
    for &pid in m3.pids() {
        for s in m3.catalog().signals() {
            let a = m3.get_bytes(pid, s.sid).unwrap();
            assert_eq!(
                &m1.get_bytes(pid, s.sid).unwrap()[..],
                &a[..],
                "{pid} {}",
                s.name
            );
            elements += a.len() / s.layout.size();
        }
    }
    assert_eq!(elements, 20);
}
