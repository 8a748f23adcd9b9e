//! Every export target reopens by the path it was written to, whatever its name (issue #13
//! item 2): written to an extension-less path, `info` and `verify` succeed on it, and `dump`
//! and `get` print exactly what they print for the source repository.

mod common;

use std::path::Path;
use std::process::Output;

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    common::inframed(env!("CARGO_BIN_EXE_inframed"), args)
}

fn ok(o: Output, what: &str) -> Vec<u8> {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// Every `--to` on main with its flags (a MODE 3 / legacy OUT is a folder: REPO is then the
/// folder itself, which opens the one config inside it).
const TARGETS: &[(&str, &[&str])] = &[
    ("mode3", &["--to", "mode3"]),
    ("transpose", &["--to", "transpose"]),
    ("legacy2", &["--to", "legacy"]),
    ("legacy1full", &["--to", "legacy", "--mode", "1", "--full"]),
    ("legacy0", &["--to", "legacy", "--mode", "0"]),
    ("iac", &["--to", "iac"]),
    ("iaczstd", &["--to", "iac", "--codec", "zstd"]),
    ("gnz", &["--to", "gnz"]),
    ("trxzip", &["--to", "trx"]),
    ("trxdeflate", &["--to", "trx", "--deflate"]),
    ("trxdir", &["--to", "trx", "--dir"]),
    ("itar", &["--to", "itar"]),
];

fn check(src: &Path, out: &Path, name: &str) {
    let source_dump = ok(run(&[&"dump", &src, &"--raw"]), "dump source");
    assert!(!source_dump.is_empty());
    ok(run(&[&"info", &out]), &format!("{name}: info"));
    let v = ok(run(&[&"verify", &out]), &format!("{name}: verify"));
    assert!(
        String::from_utf8_lossy(&v).starts_with("ok\t40 patients"),
        "{name}"
    );
    let dump = ok(run(&[&"dump", &out, &"--raw"]), &format!("{name}: dump"));
    assert!(
        dump == source_dump,
        "{name}: dump differs from the source's"
    );
    for (pid, signal) in [
        ("1025", "DIAGNOSIS"),
        ("1025", "Hemoglobin"),
        ("1026", "BP"),
    ] {
        let a = ok(run(&[&"get", &out, &pid, &signal]), name);
        let b = ok(run(&[&"get", &src, &pid, &signal]), name);
        assert_eq!(a, b, "{name}: get {pid} {signal}");
    }
}

#[test]
fn every_export_reopens_under_an_extensionless_name() {
    let g = common::golden_repo_path();
    let t = tempfile::tempdir().unwrap();
    for (name, flags) in TARGETS {
        let out = t.path().join(format!("{name}_output"));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"export", &g, &out];
        for f in *flags {
            args.push(f);
        }
        ok(run(&args), &format!("{name}: export"));
        check(&g, &out, name);
    }
}

#[test]
fn an_export_of_an_export_reopens_too() {
    // The source is itself an extension-less container: export reads it by content.
    let g = common::golden_repo_path();
    let t = tempfile::tempdir().unwrap();
    let gnz = t.path().join("first");
    ok(run(&[&"export", &g, &gnz, &"--to", &"gnz"]), "gnz");
    let mode3 = t.path().join("second");
    ok(
        run(&[&"export", &gnz, &mode3, &"--to", &"mode3"]),
        "mode3 of gnz",
    );
    check(&g, &mode3, "mode3 of an extension-less gnz");
}
