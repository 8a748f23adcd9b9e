//! `inframed index` and `inframed export --to mode3|transpose|legacy`.

mod common;

use std::fs;
use std::process::Command;

use inframed::native::transpose::TransposeStore;
use inframed::{Repository, SignalStore};

fn inframed(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn export_native_targets_and_index() {
    let golden = common::golden_repo();
    let g = common::golden_repo_path();
    let d = tempfile::tempdir().unwrap();
    for (to, extra) in [
        ("mode3", vec![]),
        ("transpose", vec![]),
        ("legacy", vec!["--mode", "0", "--full"]),
        ("legacy", vec!["--mode", "1"]),
        ("legacy", vec![]),
    ] {
        let out = d.path().join(format!("{to}{}", extra.join("")));
        let mut args = vec![
            "export",
            g.to_str().unwrap(),
            out.to_str().unwrap(),
            "--to",
            to,
        ];
        args.extend(extra.iter().copied());
        let (ok, stdout, stderr) = inframed(&args);
        assert!(ok, "{to} {extra:?}: {stderr}");
        let config = stdout.trim();
        assert!(config.ends_with(".repository"), "{stdout}");
        let repo = Repository::open(config).unwrap();
        common::conformance(&repo, &golden);
        if to == "transpose" {
            common::conformance(&TransposeStore::open(config).unwrap(), &golden);
        }
    }
    // `index` on a repository without a transpose builds it, byte-equal to the original's data.
    let config = d.path().join("mode3/mode3.repository");
    assert!(!d
        .path()
        .join("mode3/data/mode3_rep__pids__all.pid_idx")
        .exists());
    let (ok, stdout, stderr) = inframed(&["index", config.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("__pids__0.pid_data"), "{stdout}");
    assert_eq!(
        fs::read(d.path().join("mode3/data/mode3_rep__pids__0.pid_data")).unwrap(),
        fs::read(common::testdata(
            "inframed/small/repo/data/small_rep__pids__0.pid_data"
        ))
        .unwrap()
    );
    common::conformance(&TransposeStore::open(&config).unwrap(), &golden);
    // Errors name the file.
    let legacy = d.path().join("legacy/legacy.repository");
    let (ok, _, stderr) = inframed(&["index", legacy.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("legacy.repository"),
        "{stderr}"
    );
    let (ok, _, stderr) = inframed(&[
        "export",
        g.to_str().unwrap(),
        "/nonexistent/x",
        "--to",
        "nope",
    ]);
    assert!(!ok && stderr.contains("unknown target"), "{stderr}");
    assert!(Repository::open(&legacy).unwrap().pids() == golden.pids());
}
