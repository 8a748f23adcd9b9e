//! Inputs as users have them: a UTF-8 byte-order mark at the start of a TSV input, the
//! convert config, the signals file or a dictionary is skipped (it used to cost the file's
//! first line).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dst);
        } else {
            fs::copy(&p, &dst).unwrap();
        }
    }
}

fn with_bom(p: &Path) {
    let bytes = fs::read(p).unwrap();
    fs::write(p, [&b"\xef\xbb\xbf"[..], &bytes].concat()).unwrap();
}

#[test]
fn byte_order_marks_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("input");
    copy_tree(&common::testdata("inframed/small/input"), &input);
    let out: PathBuf = d.path().join("out");
    let cfg = input.join("small.convert_config");
    let text = fs::read_to_string(&cfg).unwrap();
    // The first line of the convert config becomes a directive (not a comment) here.
    let text = text.replace("OUTDIR\t../repo", &format!("OUTDIR\t{}", out.display()));
    fs::write(&cfg, format!("MODE\t3\n{text}")).unwrap();
    for rel in [
        "small.convert_config",
        "small.signals",
        "dicts/dict.gender",
        "data/labs.tsv",
        "data/demographic.tsv",
    ] {
        with_bom(&input.join(rel));
    }
    let o = run(&[&"convert", &"--original", &cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = run(&[&"dump", &out.join("small.repository")]);
    let want = run(&[&"dump", &common::golden_repo_path()]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(!want.stdout.is_empty());
    assert!(
        got.stdout == want.stdout,
        "the BOM files convert as without BOM"
    );
}
