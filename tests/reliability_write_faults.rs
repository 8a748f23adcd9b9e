//! Faults on the write side (issue #16 item 5), beyond `convert` (tests/convert_kill.rs):
//! `inframed index`, `add_signal` and `inframed export --to iac|gnz|trx|itar|mode3` killed
//! with SIGKILL mid-way, and exports that hit a write limit (`ulimit -f`: the write fails
//! with `EFBIG`, as it would with `ENOSPC` on a full disk) leave the previous output byte for
//! byte as it was; the next run completes. The byte budgets of `add_signal_with`,
//! `build_transpose_with` and `write_mode3` are covered by tests/write_mode3.rs and
//! tests/transpose_golden.rs.
#![cfg(unix)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inframed::native::write::{add_signal, NewSignal};
use inframed::{Pid, Repository, Sid, SignalStore};

const TARGETS: [&str; 5] = ["iac", "gnz", "trx", "itar", "mode3"];

fn exe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file at or under `p` (a file or a directory): (relative path, bytes), sorted.
fn snapshot(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(m) = fs::metadata(p) else {
        return out;
    };
    if !m.is_dir() {
        return vec![(PathBuf::new(), fs::read(p).unwrap())];
    }
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let f = e.unwrap().path();
            if f.is_dir() {
                stack.push(f);
            } else {
                out.push((f.strip_prefix(p).unwrap().into(), fs::read(&f).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The snapshot without the temporary files a killed writer leaves (`*.tmp.*`).
fn published(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(p)
        .into_iter()
        .filter(|(r, _)| !r.to_string_lossy().contains(".tmp."))
        .collect()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Starts `cmd`, kills it with SIGKILL as soon as `started()` says it has begun writing,
/// and reports whether the kill came while it ran (`false`: it ended first). Bounded: a
/// writer that neither starts writing nor ends within 60 s fails the test.
fn kill_when(mut child: Child, started: &dyn Fn() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if started() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "the writer failed before the kill: {status}"
            );
            return false;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the writer never started"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    // It may have ended just before the kill.
    status.signal() == Some(9)
}

/// Tries `attempt` (which starts a writer and kills it) up to 8 times until one kill comes
/// mid-way; the writers here run for tens of milliseconds or more, so one in 8 is plenty.
fn killed_mid_way(what: &str, mut attempt: impl FnMut() -> bool) {
    for _ in 0..8 {
        if attempt() {
            return;
        }
    }
    panic!("{what} ended before every kill: enlarge the input");
}

/// A small and a large synthetic repository (`small/synth.repository`,
/// `big/synth.repository`, the large one with its transpose).
fn repositories(d: &Path) -> (PathBuf, PathBuf) {
    let (small, big) = converted(d, "20000", "100");
    ok(exe().arg("index").arg(&big));
    (small, big)
}

/// `small/synth.repository` (20 patients) and `big/synth.repository` (`patients` with
/// `events` mean events), converted from synthetic raw exports under `d`.
fn converted(d: &Path, patients: &str, events: &str) -> (PathBuf, PathBuf) {
    ok(exe()
        .args(["synth", "--patients", "20", "--seed", "3"])
        .arg(d.join("small-src")));
    ok(exe()
        .args(["synth", "--patients", patients, "--mean-events", events])
        .arg(d.join("big-src")));
    for k in ["small", "big"] {
        ok(exe()
            .arg("convert")
            .arg(d.join(format!("{k}-src/synth.convert_config")))
            .arg("--outdir")
            .arg(d.join(k)));
    }
    (
        d.join("small/synth.repository"),
        d.join("big/synth.repository"),
    )
}

fn export(repo: &Path, out: &Path, to: &str) -> Command {
    let mut c = exe();
    c.arg("export")
        .arg(repo)
        .arg(out)
        .args(["--to", to])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[test]
fn killed_index_add_signal_and_exports_leave_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (small, big) = repositories(d);
    let data = d.join("big/data");
    let before = snapshot(&d.join("big"));
    assert!(before
        .iter()
        .any(|(p, _)| p.to_string_lossy().ends_with(".pid_idx")));

    // `inframed index` over an existing transpose, killed once it writes: every published
    // file is as it was (a rebuild over the same vectors writes the same bytes), whatever
    // it had renamed into place; the next run completes.
    killed_mid_way("index", || {
        let child = exe()
            .arg("index")
            .arg(&big)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = kill_when(child, &|| {
            entries(&data)
                .iter()
                .any(|p| p.to_string_lossy().contains(".tmp."))
        });
        assert_eq!(published(&d.join("big")), before, "after a killed index");
        killed
    });
    let left: Vec<PathBuf> = entries(&data)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(!left.is_empty(), "a killed index leaves its temporary file");
    ok(exe().arg("index").arg(&big));
    assert_eq!(published(&d.join("big")), before, "index after the kill");
    for p in &left {
        fs::remove_file(p).unwrap();
    }

    // `add_signal` (a re-executed test binary) killed once it writes: the repository reads
    // as before (the signals file, every vector, the pid list); only the new signal's
    // unreferenced files may have appeared and the transpose may be gone (add_signal removes
    // it before it publishes the signal). The next run completes.
    killed_mid_way("add_signal", || {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "add_signal_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &big)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let killed = kill_when(child, &|| {
            entries(&data).iter().any(|p| {
                let n = p.to_string_lossy();
                n.contains("Extra") && n.contains(".tmp.")
            })
        });
        let now = published(&d.join("big"));
        let repo = Repository::open(&big).unwrap();
        if repo.catalog().signal("Extra").is_ok() {
            // Killed after its last step: the signal is complete.
            check_extra(&repo);
            return false;
        }
        for (rel, bytes) in &before {
            let r = rel.to_string_lossy();
            match now.iter().find(|(p, _)| p == rel) {
                Some((_, b)) => assert!(b == bytes, "{r} changed by a killed add_signal"),
                None => assert!(r.contains("__pids__"), "{r} removed by a killed add_signal"),
            }
        }
        for (rel, _) in &now {
            let r = rel.to_string_lossy();
            assert!(
                before.iter().any(|(p, _)| p == rel) || r.contains("_Extra."),
                "{r} appeared after a killed add_signal"
            );
        }
        killed
    });
    let repo = Repository::open(&big).unwrap();
    if repo.catalog().signal("Extra").is_err() {
        add_signal(&big, &extra_signal(), extra_elements(&repo)).unwrap();
    }
    check_extra(&Repository::open(&big).unwrap());
    for p in entries(&data) {
        if p.to_string_lossy().contains(".tmp.") {
            fs::remove_file(p).unwrap();
        }
    }

    // Exports: a previous export of the small repository at OUT; an export of the large one
    // over it killed once it writes leaves OUT as it was (or, killed after its one-step
    // publish, the complete new output); the next export completes.
    for to in TARGETS {
        let parent = d.join(format!("exports-{to}"));
        fs::create_dir_all(&parent).unwrap();
        let out = parent.join("out");
        ok(&mut export(&small, &out, to));
        let old = snapshot(&out);
        assert!(!old.is_empty());
        let reference = d.join(format!("reference-{to}"));
        fs::create_dir_all(&reference).unwrap();
        ok(&mut export(&big, &reference.join("out"), to));
        let new = snapshot(&reference.join("out"));
        let existing = entries(&parent);
        killed_mid_way(&format!("export --to {to}"), || {
            let at_start = entries(&parent);
            let killed = kill_when(export(&big, &out, to).spawn().unwrap(), &|| {
                entries(&parent).len() > at_start.len()
            });
            let now = snapshot(&out);
            if now != old {
                assert!(
                    now == new,
                    "export --to {to}: OUT is neither the old nor the new"
                );
                // Published: start again from the old output.
                ok(&mut export(&small, &out, to));
                return false;
            }
            killed
        });
        assert_eq!(snapshot(&out), old, "export --to {to}: after the kill");
        let left: Vec<PathBuf> = entries(&parent)
            .into_iter()
            .filter(|p| !existing.contains(p))
            .collect();
        assert!(
            !left.is_empty(),
            "export --to {to}: no staging left by the kill"
        );
        ok(&mut export(&small, &out, to));
        // Not byte for byte: tar headers carry the time of the export.
        same_contents(&out, to, &small);
        eprintln!("export --to {to}: killed; left beside OUT: {left:?}");
    }
}

/// The export at `out` holds every vector of the repository `source`.
fn same_contents(out: &Path, to: &str, source: &Path) {
    let path = if to == "mode3" {
        out.join("out.repository")
    } else {
        out.to_path_buf()
    };
    let (a, b) = (
        Repository::open(&path).unwrap(),
        Repository::open(source).unwrap(),
    );
    assert_eq!(a.pids(), b.pids(), "export --to {to}: pids");
    for s in b.catalog().signals() {
        for &pid in b.pids() {
            let (x, y) = (a.get(pid, &s.name).unwrap(), b.get(pid, &s.name).unwrap());
            assert!(
                x.bytes() == y.bytes(),
                "export --to {to}: {} of pid {pid}",
                s.name
            );
        }
    }
}

/// The environment variable that makes [`add_signal_child`] run: the repository config.
const CHILD: &str = "INFRAMED_RELIABILITY_ADD_SIGNAL";

fn extra_signal() -> NewSignal {
    NewSignal::new("Extra", Sid(9000), "16:T(i),V(f)")
}

/// Extra's elements: 40 per patient, `T(i),V(f)` (i32 + f32, little-endian), known values.
fn extra_elements(repo: &Repository) -> Vec<(Pid, Vec<u8>)> {
    repo.pids()
        .iter()
        .map(|&pid| {
            let mut b = Vec::with_capacity(40 * 8);
            for k in 0..40u32 {
                b.extend_from_slice(&(20000101 + k as i32).to_le_bytes());
                b.extend_from_slice(&((pid.0 % 1000 + k) as f32).to_le_bytes());
            }
            (pid, b)
        })
        .collect()
}

/// Extra, read back, holds what [`extra_elements`] gave for every patient.
fn check_extra(repo: &Repository) {
    for &pid in repo.pids() {
        let s = repo.get(pid, "Extra").unwrap();
        assert_eq!(s.len(), 40, "Extra of pid {pid}");
        for k in 0..40 {
            assert_eq!(s.time(k, 0).as_i64(), 20000101 + k as i64);
            assert_eq!(s.value(k, 0).as_f64(), (pid.0 % 1000 + k as u32) as f64);
        }
    }
}

/// Not a test of its own: the body of the add_signal process that
/// [`killed_index_add_signal_and_exports_leave_the_previous_output`] kills.
#[test]
fn add_signal_child() {
    let Ok(config) = std::env::var(CHILD) else {
        return;
    };
    let repo = Repository::open(&config).unwrap();
    let elements = extra_elements(&repo);
    drop(repo);
    add_signal(&config, &extra_signal(), elements).unwrap();
}

#[test]
fn exports_over_the_file_size_limit_leave_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (small, big) = converted(d, "2000", "20");
    for to in TARGETS {
        let parent = d.join(format!("exports-{to}"));
        fs::create_dir_all(&parent).unwrap();
        let out = parent.join("out");
        ok(&mut export(&small, &out, to));
        let old = snapshot(&out);
        let existing = entries(&parent);
        // `ulimit -f 20`: no file beyond 20 blocks (10 or 20 KiB); with SIGXFSZ ignored the
        // write fails with EFBIG ("File too large"), as a full disk fails with ENOSPC.
        let script =
            format!("ulimit -f 20 && trap '' XFSZ && exec \"$0\" export \"$1\" \"$2\" --to {to}");
        let o = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .arg(env!("CARGO_BIN_EXE_inframed"))
            .arg(&big)
            .arg(&out)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(2),
            "export --to {to} over the limit: {o:?}"
        );
        assert!(err.contains("File too large"), "export --to {to}: {err}");
        assert!(
            snapshot(&out) == old,
            "export --to {to}: OUT changed by a failed export"
        );
        assert_eq!(
            entries(&parent),
            existing,
            "export --to {to}: left files beside OUT"
        );
    }
}
