//! The command line's errors help a newcomer (issue #13 items 4–6): each case checks the exit
//! code, the words of the message on stderr, that stdout is empty, and that no file changed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    common::inframed(env!("CARGO_BIN_EXE_inframed"), args)
}

fn golden() -> PathBuf {
    common::golden_repo_path()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit `code`, nothing on stdout, and every one of `words` on stderr.
fn assert_fails(o: &Output, code: i32, words: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(
        o.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    for w in words {
        assert!(err.contains(w), "{w:?} missing in: {err}");
    }
}

#[test]
fn unknown_signal_suggests_close_names_and_says_case_sensitive() {
    let g = golden();
    for (asked, suggested) in [
        ("hemoglobin", "\"Hemoglobin\""),
        ("Hemoglobn", "\"Hemoglobin\""),
        ("gender", "GENDER"),
    ] {
        let o = run(&[&"get", &g, &"1025", &asked]);
        assert_fails(
            &o,
            2,
            &[
                &format!("unknown signal {asked:?}"),
                "case-sensitive",
                "did you mean",
                suggested.trim_matches('"'),
            ],
        );
    }
    let o = run(&[&"dump", &g, &"--signal", &"glucose"]);
    assert_fails(&o, 2, &["unknown signal \"glucose\"", "Glucose"]);
    // Nothing close: points to `info`.
    let o = run(&[&"get", &g, &"1025", &"Zzyzx_qq"]);
    assert_fails(&o, 2, &["unknown signal", "inframed info"]);
}

#[test]
fn unknown_pid_and_pid_without_the_signal_differ() {
    let g = golden();
    // 1024 is not a patient of the bundled repository (its pids are 1025..30000).
    let o = run(&[&"get", &g, &"1024", &"Hemoglobin"]);
    assert_fails(&o, 3, &["pid 1024 is not in the repository", "40 patients"]);
    // 1025 is, but the load had no Albumin values ("no_data").
    let o = run(&[&"get", &g, &"1025", &"Albumin"]);
    assert_fails(&o, 4, &["pid 1025 has no Albumin elements"]);
    let o = run(&[
        &"get",
        &g,
        &"1025",
        &"Hemoglobin",
        &"--from",
        &"1990-01-01",
        &"--to",
        &"1990-12-31",
    ]);
    assert_fails(&o, 4, &["no Hemoglobin elements within --from/--to"]);
    let o = run(&[&"dump", &g, &"--pid", &"1024"]);
    assert_fails(&o, 3, &["pid 1024 is not in the repository"]);
}

#[test]
fn bad_time_names_its_flag_and_bounds_are_checked() {
    let g = golden();
    let o = run(&[&"get", &g, &"1025", &"Hemoglobin", &"--from", &"2019-13-45"]);
    assert_fails(&o, 2, &["--from \"2019-13-45\"", "Hemoglobin"]);
    let o = run(&[&"get", &g, &"1025", &"Hemoglobin", &"--to", &"soon"]);
    assert_fails(&o, 2, &["--to \"soon\""]);
    let o = run(&[
        &"get",
        &g,
        &"1025",
        &"Hemoglobin",
        &"--from",
        &"20200101",
        &"--to",
        &"20190101",
    ]);
    assert_fails(&o, 2, &["--from 20200101 is after --to 20190101"]);
    // GENDER is V(i): no time channel to filter on.
    let o = run(&[&"get", &g, &"1025", &"GENDER", &"--from", &"20200101"]);
    assert_fails(&o, 2, &["--from", "GENDER has no time channel"]);
}

#[test]
fn a_directory_as_repo_opens_its_one_config_or_lists_several() {
    let g = golden();
    let dir = g.parent().unwrap();
    let by_dir = run(&[&"get", &dir, &"1025", &"Hemoglobin"]);
    let by_file = run(&[&"get", &g, &"1025", &"Hemoglobin"]);
    assert_eq!(by_dir.status.code(), Some(0), "{}", stderr(&by_dir));
    assert_eq!(by_dir.stdout, by_file.stdout);
    assert!(!by_file.stdout.is_empty());

    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("a.repository"), b"MODE\t3\n").unwrap();
    fs::write(t.path().join("b.repository"), b"MODE\t3\n").unwrap();
    let before = common::snapshot(t.path());
    let o = run(&[&"info", &t.path()]);
    assert_fails(
        &o,
        2,
        &["2 repository configs", "a.repository", "b.repository"],
    );
    assert_eq!(common::snapshot(t.path()), before);
}

#[test]
fn export_options_that_do_not_apply_are_errors() {
    let g = golden();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    for (flags, words) in [
        (
            &["--to", "gnz", "--codec", "zstd"][..],
            &["--codec", "iac", "gnz"][..],
        ),
        (&["--to", "trx", "--codec", "zstd"], &["--codec", "trx"]),
        (
            &["--to", "mode3", "--codec", "brotli"],
            &["--codec", "mode3"],
        ),
        (&["--to", "gnz", "--deflate"], &["--deflate", "trx", "gnz"]),
        (
            &["--to", "gnz", "--mode", "1"],
            &["--mode", "legacy", "gnz"],
        ),
        (&["--to", "iac", "--dir"], &["--dir", "trx", "iac"]),
        (
            &["--to", "trx", "--shard-size", "1000"],
            &["--shard-size", "itar"],
        ),
        (&["--to", "mode3", "--full"], &["--full", "legacy"]),
    ] {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"export", &g, &out];
        for f in flags {
            args.push(f);
        }
        let o = run(&args);
        let mut all = vec!["applies to --to"];
        all.extend_from_slice(words);
        assert_fails(&o, 2, &all);
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
    let o = run(&[&"export", &g, &out, &"--to", &"parquett"]);
    assert_fails(&o, 2, &["--to parquett", "unknown target"]);
}

/// A copy of the bundled convert inputs in a temp dir, OUTDIR inside it.
fn convert_inputs(t: &Path) -> PathBuf {
    let src = common::golden_repo_path()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("input");
    common::copy_dir(&src, &t.join("input"));
    t.join("input/small.convert_config")
}

#[test]
fn convert_given_a_repository_config_says_so() {
    let g = golden();
    let before = common::snapshot(g.parent().unwrap());
    let o = run(&[&"convert", &g]);
    assert_fails(
        &o,
        2,
        &[
            &g.display().to_string(),
            "no DATA",
            "looks like a repository config",
            "inframed info",
        ],
    );
    assert_eq!(common::snapshot(g.parent().unwrap()), before);
}

#[test]
fn convert_warns_about_unknown_keywords_and_empty_data_files() {
    let t = tempfile::tempdir().unwrap();
    let cfg = convert_inputs(t.path());
    let mut text = fs::read_to_string(&cfg).unwrap();
    assert!(text.ends_with('\n'));
    let dat_line = text.lines().count() + 1;
    text.push_str("DAT\tdata/labs.tsv\nDATA\tdata/empty.tsv\n");
    fs::write(&cfg, text).unwrap();
    fs::write(t.path().join("input/data/empty.tsv"), b"").unwrap();
    let out = t.path().join("repo");
    let o = run(&[&"convert", &cfg, &"--outdir", &out, &"--original"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "{}:{dat_line}: unknown keyword \"DAT\", line ignored",
            cfg.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("warning: DATA data/empty.tsv") && err.contains("empty file"),
        "{err}"
    );
    assert!(out.join("small.repository").is_file());
}

#[test]
fn a_refused_conversion_names_its_errors_file() {
    let t = tempfile::tempdir().unwrap();
    let cfg = convert_inputs(t.path());
    // A labs file where most lines are bad: above max_bad_line_ratio (and over the 1000
    // lines below which a file only warns).
    let labs = t.path().join("input/data/labs.tsv");
    let mut text = fs::read_to_string(&labs).unwrap();
    for i in 0..2000 {
        text.push_str(&format!("30000\tHemoglobin\tnot-a-date-{i}\t1.0\n"));
    }
    fs::write(&labs, text).unwrap();
    let out = t.path().join("repo");
    let o = run(&[&"convert", &cfg, &"--outdir", &out, &"--original"]);
    let errors = t.path().join("repo.convert_errors");
    assert_fails(
        &o,
        2,
        &[
            "errors file",
            &errors.display().to_string(),
            "max_bad_line_ratio",
        ],
    );
    assert!(!out.exists());
    let listed = fs::read_to_string(&errors).unwrap();
    assert!(listed.contains("not-a-date-7"), "{listed}");
}
