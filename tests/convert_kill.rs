//! `inframed convert` killed with SIGKILL mid-way (no chance to clean up): the output
//! directory is exactly as it was, and the next conversion names what the killed one left.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{:?}: {out:?}", cmd);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `convert config --outdir out` run to the end.
fn convert(config: &Path, out: &Path) -> String {
    ok(exe().arg("convert").arg(config).arg("--outdir").arg(out))
}

/// After a kill the output is the old repository, or (if the kill came after the one-step
/// publish, which a loaded machine can make happen) the complete new one: never a mix.
fn old_or_new(out: &Path, old: &[(PathBuf, Vec<u8>)], new: &[(PathBuf, Vec<u8>)]) -> bool {
    let now = common::snapshot(out);
    assert!(
        now == old || now == new,
        "killed load: output is neither the old nor the new"
    );
    now == old
}

/// Entries beside `out` whose name starts with `out.tmp.` (the staging directory).
fn staging(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("out.tmp."))
        .map(|e| e.path())
        .collect()
}

/// Starts `convert config --outdir out` (+ `extra`), kills it with SIGKILL as soon as its
/// staging directory exists (one more `out.tmp.*` than before), and returns what it left beside `out`.
fn kill_mid_way(dir: &Path, config: &Path, extra: &[&str]) -> Vec<PathBuf> {
    // Counted before the start: the child may create its staging directory at once.
    let already = staging(dir).len();
    let mut child = exe()
        .arg("convert")
        .arg(config)
        .arg("--outdir")
        .arg(dir.join("out"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if staging(dir).len() > already {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the conversion ended ({status}) before it could be killed: enlarge the input");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no staging directory"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the conversion ended ({status}) before it could be killed: enlarge the input"
    );
    staging(dir)
}

#[test]
fn a_killed_conversion_leaves_the_output_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A first repository from a small export; then a large export of the same shape is loaded
    // over it and killed (a completed load would change every file).
    ok(exe()
        .args(["synth", "--patients", "20", "--seed", "3"])
        .arg(d.join("small")));
    ok(exe()
        .args(["synth", "--patients", "20000", "--mean-events", "100"])
        .arg(d.join("big")));
    let small = d.join("small/synth.convert_config");
    let big = d.join("big/synth.convert_config");
    let out = d.join("out");
    convert(&small, &out);
    let before = common::snapshot(&out);
    assert!(before.len() > 20);
    // What a completed load of the large export gives.
    convert(&big, &d.join("full"));
    let full = common::snapshot(&d.join("full"));
    assert_ne!(full, before);

    let left = kill_mid_way(d, &big, &[]);
    assert_eq!(left.len(), 1, "{left:?}");
    let untouched = old_or_new(&out, &before, &full);

    // LOAD_ONLY (staged as links to the live files) killed mid-way: the same.
    let current = common::snapshot(&out);
    let mut text = fs::read_to_string(&big).unwrap();
    text.push_str("LOAD_ONLY\tHemoglobin\n");
    let reload = d.join("big/reload.convert_config");
    fs::write(&reload, text).unwrap();
    let copy = d.join("copy");
    fs::create_dir_all(&copy).unwrap();
    for (rel, bytes) in &current {
        fs::create_dir_all(copy.join(rel).parent().unwrap()).unwrap();
        fs::write(copy.join(rel), bytes).unwrap();
    }
    convert(&reload, &copy);
    let reloaded = common::snapshot(&copy);
    assert_ne!(reloaded, current);
    let left = kill_mid_way(d, &reload, &[]);
    assert_eq!(left.len(), 2, "{left:?}");
    let untouched = old_or_new(&out, &current, &reloaded) && untouched;
    // Both kills came before the publish on an unloaded machine (they are seconds apart).
    if !untouched {
        eprintln!("note: a kill came after the publish step; the output was the new repository");
    }

    // The next conversion completes and names both leftovers (it does not delete them).
    let err = convert(&small, &out);
    for l in &left {
        assert!(
            err.contains(&format!(
                "warning: {}: temporary output of an interrupted",
                l.display()
            )),
            "{err}"
        );
        assert!(l.exists());
    }
    assert!(
        err.contains("safe to remove when no conversion is running"),
        "{err}"
    );
    assert_eq!(common::snapshot(&out), before, "same input, same bytes");
}
