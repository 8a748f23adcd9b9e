//! The CLI on a GNZ container: export, ls, cat, get, verify (exit 1 on damage).
#![cfg(feature = "gnz")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use inframed::backend::gnz::GnzFile;

fn inframed(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn export_ls_cat_get_verify() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("small.gnz");
    let out_s = out.to_str().unwrap();
    let repo = "testdata/inframed/small/repo/small.repository";
    let o = inframed(&["export", repo, out_s, "--to", "gnz"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(out.exists());

    let f = GnzFile::open(&out).unwrap();
    let o = inframed(&["ls", out_s]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let listing = text(&o.stdout);
    assert_eq!(listing.lines().count(), f.arrays().len());
    let bp = f.info("BP.elements").unwrap();
    let line = format!("BP.elements\t|V8\t{}\t{}\tC", bp.shape_text(), bp.offset);
    assert!(listing.lines().any(|l| l == line), "{listing}");

    let o = inframed(&["cat", out_s, "BP.elements"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(o.stdout, f.raw("BP.elements").unwrap());
    let o = inframed(&["cat", out_s, "no.such"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("no.such"));
    assert!(o.stdout.is_empty());

    // `get` on the container prints what it prints on the original repository.
    for (pid, sig) in [
        ("1025", "BP"),
        ("1025", "Hemoglobin"),
        ("30000", "ADMISSION"),
        ("1025", "DIAGNOSIS"),
    ] {
        let a = inframed(&["get", out_s, pid, sig]);
        let b = inframed(&["get", repo, pid, sig]);
        assert!(a.status.success(), "{}", text(&a.stderr));
        assert!(!a.stdout.is_empty());
        assert_eq!(text(&a.stdout), text(&b.stdout), "{pid} {sig}");
    }

    let o = inframed(&["verify", out_s]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("ok\t"));
}

fn damaged_copy(src: &Path, dst: &Path, edit: impl Fn(&mut Vec<u8>)) {
    let mut b = std::fs::read(src).unwrap();
    edit(&mut b);
    std::fs::write(dst, b).unwrap();
}

#[test]
fn verify_exits_1_on_damage() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("small.gnz");
    let o = inframed(&[
        "export",
        "testdata/inframed/small/repo/small.repository",
        out.to_str().unwrap(),
        "--to",
        "gnz",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let f = GnzFile::open(&out).unwrap();

    // Data damage that open cannot see: two signal pids swapped.
    let at = f.info("Weight.pids").unwrap().offset as usize;
    let bad = dir.path().join("swapped.gnz");
    damaged_copy(&out, &bad, |b| {
        let x: Vec<u8> = b[at..at + 4].to_vec();
        b.copy_within(at + 4..at + 8, at);
        b[at + 4..at + 8].copy_from_slice(&x);
    });
    let o = inframed(&["verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("swapped.gnz"),
        "{err}"
    );
    assert!(err.contains(&format!("byte {}", at + 4)), "{err}");

    // Header damage: truncated file.
    let cut = dir.path().join("cut.gnz");
    damaged_copy(&out, &cut, |b| b.truncate(100));
    let o = inframed(&["verify", cut.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("header length"),
        "{}",
        text(&o.stderr)
    );
    let o = inframed(&["ls", cut.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty());
}
