//! Faults on the write side (issue #16 item 5), beyond `convert` (tests/convert_kill.rs):
//! `inframed index`, `add_signal` and `inframed export --to iac|gnz|trx|itar|mode3` killed
//! with SIGKILL mid-way, and exports that hit a write limit (`ulimit -f`: the write fails
//! with `EFBIG`, as it would with `ENOSPC` on a full disk) leave the previous output byte for
//! byte as it was (an `add_signal`: its by-pid transpose included), and the next run of the
//! same command completes and names what the killed one left (a warning per path, saying it
//! is safe to remove), never a file our writers do not make. `add_signal` and `inframed
//! index` over the file-size limit, and `add_signal` with an injected byte budget at many
//! points, leave the previous output as it was and no temporary behind. More byte budgets
//! of `add_signal_with`, `build_transpose_with` and `write_mode3`: tests/write_mode3.rs and
//! tests/transpose_golden.rs.
#![cfg(unix)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inframed::native::write::{add_signal, add_signal_with, NewSignal};
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
    // Files named like ours but not made by our writers are not named.
    let foreign = [
        data.join("synth__pids__0.pid_data.tmp.old"),
        data.join("other__pids__0.pid_data.tmp.12.0"),
    ];
    for f in &foreign {
        fs::write(f, b"mine").unwrap();
    }
    let err = ok(exe().arg("index").arg(&big));
    assert_names(&err, &left, "`inframed index`");
    assert_eq!(
        err.matches("warning: ").count(),
        left.len(),
        "index names only the leftovers: {err}"
    );
    assert_eq!(published(&d.join("big")), before, "index after the kill");
    for p in left.iter().chain(&foreign) {
        fs::remove_file(p).unwrap();
    }

    // `add_signal` (a re-executed test binary) killed at two points: once it writes the new
    // signal's files, and once it stages the rebuilt transpose. The repository is as before,
    // byte for byte, its transpose included; only the new signal's unreferenced files may
    // have appeared.
    for (what, late) in [
        ("add_signal (signal files)", false),
        ("add_signal (transpose)", true),
    ] {
        killed_mid_way(what, || {
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
                    n.contains(".tmp.") && n.contains(if late { "__pids__" } else { "Extra" })
                })
            });
            let repo = Repository::open(&big).unwrap();
            assert!(
                repo.catalog().signal("Extra").is_err(),
                "{what}: published before the kill: make the input larger"
            );
            assert_intact(&before, &published(&d.join("big")), what);
            check_patients(&repo, 50);
            killed
        });
    }
    // The next run (another signal, "Other", with one new patient) names every leftover:
    // the temporaries, and the files of Extra, which no signals file names.
    let mut left: Vec<PathBuf> = [d.join("big"), data.clone()]
        .iter()
        .flat_map(|dir| entries(dir))
        .filter(|p| {
            let n = p.to_string_lossy();
            n.contains(".tmp.") || n.contains("_Extra.")
        })
        .collect();
    left.sort();
    assert!(left
        .iter()
        .any(|p| p.to_string_lossy().contains("__pids__")));
    assert!(left
        .iter()
        .any(|p| p.to_string_lossy().ends_with("_Extra.data")));
    let foreign = [
        data.join("synth_Hemoglobin.data.tmp.old"),
        data.join("README.tmp.12.0"),
        d.join("big/synth.signals.tmp.mine"),
    ];
    for f in &foreign {
        fs::write(f, b"mine").unwrap();
    }
    // A reader that has the repository open keeps its generation (transpose included).
    let reader = Repository::open(&big).unwrap();
    let first = reader.pids()[0];
    let record = owned(&reader, first);
    let other_elements = other_elements(&reader);
    let warnings = add_signal(&big, &other_signal(), other_elements.clone()).unwrap();
    let text = warnings.join("\n");
    assert_names(&text, &left, "add_signal");
    assert_eq!(warnings.len(), left.len(), "only the leftovers: {text}");
    for p in left.iter().chain(&foreign) {
        assert!(p.exists(), "{}: removed", p.display());
    }
    assert_eq!(
        owned(&reader, first),
        record,
        "an open reader's patient record"
    );
    drop(reader);
    let repo = Repository::open(&big).unwrap();
    assert!(data.join("synth__pids__all.pid_idx").is_file());
    check_other(&repo, &other_elements);
    check_patients(&repo, usize::MAX);
    for p in left.iter().chain(&foreign) {
        fs::remove_file(p).unwrap();
    }
    let warnings = add_signal(&big, &extra_signal(), extra_elements(&repo)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let repo = Repository::open(&big).unwrap();
    check_extra(&repo);
    check_patients(&repo, usize::MAX);

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
        let foreign = parent.join("out.tmp.mine");
        fs::write(&foreign, b"mine").unwrap();
        let mut next = export(&small, &out, to);
        let err = ok(next.stderr(Stdio::piped()));
        assert_names(&err, &left, "export");
        assert_eq!(
            err.matches("warning: ").count(),
            left.len(),
            "export --to {to}: only the leftovers: {err}"
        );
        for p in &left {
            assert!(p.exists(), "{}: removed", p.display());
        }
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
            let (x, y) = (
                a.signal(pid, &s.name).unwrap(),
                b.signal(pid, &s.name).unwrap(),
            );
            assert!(
                x.bytes() == y.bytes(),
                "export --to {to}: {} of pid {pid}",
                s.name
            );
        }
    }
}

/// `err` names each of `paths` as a leftover of an interrupted `writer`, safe to remove.
fn assert_names(err: &str, paths: &[PathBuf], writer: &str) {
    for p in paths {
        let line = format!(
            "{}: temporary output of an interrupted (or concurrent) {writer}; safe to remove \
             when no {writer} is running",
            p.display()
        );
        let signal_file = format!("{}: a file of signal ", p.display());
        assert!(
            err.contains(&line) || err.contains(&signal_file),
            "{} not named:\n{err}",
            p.display()
        );
    }
}

/// `now` holds every file of `before` with the same bytes, and nothing else but the files of
/// the signal Extra.
fn assert_intact(before: &[(PathBuf, Vec<u8>)], now: &[(PathBuf, Vec<u8>)], what: &str) {
    for (rel, bytes) in before {
        let r = rel.to_string_lossy();
        match now.iter().find(|(p, _)| p == rel) {
            Some((_, b)) => assert!(b == bytes, "{r} changed by a killed {what}"),
            None => panic!("{r} removed by a killed {what}"),
        }
    }
    for (rel, _) in now {
        let r = rel.to_string_lossy();
        assert!(
            before.iter().any(|(p, _)| p == rel) || r.contains("_Extra."),
            "{r} appeared after a killed {what}"
        );
    }
}

/// One patient's record, owned.
fn owned(repo: &Repository, pid: Pid) -> Vec<(Sid, Vec<u8>)> {
    let rec = repo.patient(pid).unwrap();
    rec.signals()
        .iter()
        .map(|(s, b)| (*s, b.to_vec()))
        .collect()
}

/// The patient records of the first `n` patients (from the transpose, when there is one)
/// hold every signal's vector as read signal by signal.
fn check_patients(repo: &Repository, n: usize) {
    for &pid in repo.pids().iter().take(n) {
        let rec = repo.patient(pid).unwrap();
        for s in repo.catalog().signals() {
            let v = repo.signal(pid, &s.name).unwrap();
            assert!(
                rec.get(s.sid) == v.bytes(),
                "patient record of {pid}: {}",
                s.name
            );
        }
    }
}

fn other_signal() -> NewSignal {
    NewSignal::new("Other", Sid(9001), "16:T(i),V(f)")
}

/// Other's elements: 3 for every 7th patient and for one new patient past the last.
fn other_elements(repo: &Repository) -> Vec<(Pid, Vec<u8>)> {
    let last = *repo.pids().last().unwrap();
    repo.pids()
        .iter()
        .step_by(7)
        .copied()
        .chain([Pid(last.0 + 1)])
        .map(|pid| {
            let mut b = Vec::new();
            for k in 0..3u32 {
                b.extend_from_slice(&(20100101 + k as i32).to_le_bytes());
                b.extend_from_slice(&((pid.0 % 97 + k) as f32).to_le_bytes());
            }
            (pid, b)
        })
        .collect()
}

/// Other reads back as given (its new patient in the pid list), from the signal and from
/// the patient records.
fn check_other(repo: &Repository, elements: &[(Pid, Vec<u8>)]) {
    let sid = repo.catalog().signal("Other").unwrap().sid;
    for (pid, bytes) in elements {
        assert!(repo.pids().contains(pid), "pid {pid} in the list");
        assert!(
            repo.signal(*pid, "Other").unwrap().bytes() == &bytes[..],
            "Other of {pid}"
        );
        assert!(
            repo.patient(*pid).unwrap().get(sid) == &bytes[..],
            "Other in the record of {pid}"
        );
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
        let s = repo.signal(pid, "Extra").unwrap();
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
    let mut elements = extra_elements(&repo);
    if std::env::var_os(FEW).is_some() {
        elements.truncate(10);
    }
    drop(repo);
    add_signal(&config, &extra_signal(), elements).unwrap();
}

/// With [`CHILD`], makes [`add_signal_child`] add Extra to 10 patients only (small signal
/// files, so that a file-size limit is hit by the transpose).
const FEW: &str = "INFRAMED_RELIABILITY_ADD_SIGNAL_FEW";

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

#[test]
fn a_convert_over_the_file_size_limit_leaves_the_previous_output() {
    // A repository at OUT (20 patients), then a convert of 2,000 patients into OUT under
    // `ulimit -f 20`: its `.data` files pass the limit, the write fails with EFBIG (as a
    // full disk fails with ENOSPC); OUT is as it was and nothing is left beside it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (small, _) = converted(d, "2000", "20");
    let out = small.parent().unwrap();
    let old = snapshot(out);
    let existing = entries(d);
    let config = d.join("big-src/synth.convert_config");
    let o = limited(
        Path::new(env!("CARGO_BIN_EXE_inframed")),
        &[
            "convert",
            config.to_str().unwrap(),
            "--outdir",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "convert over the limit: {o:?}");
    assert!(err.contains("File too large"), "convert: {err}");
    assert!(
        snapshot(out) == old,
        "convert: OUT changed by a failed convert"
    );
    assert_eq!(entries(d), existing, "convert: left files beside OUT");
    // Without the limit the same convert completes over it.
    ok(exe().arg("convert").arg(&config).arg("--outdir").arg(out));
    assert_eq!(Repository::open(&small).unwrap().pids().len(), 2000);
}

/// `sh -c` running `program args` with a file-size limit of 20 blocks and SIGXFSZ ignored:
/// a write past it fails with EFBIG ("File too large"), as a full disk fails with ENOSPC.
fn limited(program: &Path, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("ulimit -f 20 && trap '' XFSZ && exec \"$0\" \"$@\"")
        .arg(program)
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn add_signal_and_index_over_a_limit_leave_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (small, big) = converted(d, "2000", "20");
    for r in [&small, &big] {
        ok(exe().arg("index").arg(r));
    }
    let root = d.join("big");
    let before = snapshot(&root);
    let listing = |root: &Path| (entries(root), entries(&root.join("data")));
    let files = listing(&root);
    let config = big.to_str().unwrap();

    // `inframed index` over the limit.
    let o = limited(
        Path::new(env!("CARGO_BIN_EXE_inframed")),
        &["index", config],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "index over the limit: {o:?}");
    assert!(err.contains("File too large"), "index: {err}");
    assert!(
        snapshot(&root) == before,
        "index over the limit changed the repository"
    );
    assert_eq!(listing(&root), files, "index over the limit left files");

    // add_signal over the limit: with many elements the signal's `.data` is too large; with
    // few, the rebuilt transpose is.
    let child = std::env::current_exe().unwrap();
    let args = [
        "add_signal_child",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ];
    let few = d.join("few");
    for (what, env) in [
        ("the signal file", vec![(CHILD, big.as_path())]),
        (
            "the transpose",
            vec![(CHILD, big.as_path()), (FEW, few.as_path())],
        ),
    ] {
        let o = limited(&child, &args, &env);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success(),
            "add_signal over the limit ({what}) succeeded"
        );
        let text = format!("{out}{err}");
        assert!(
            text.contains("File too large"),
            "add_signal ({what}): {text}"
        );
        if what == "the transpose" {
            assert!(text.contains("__pids__"), "add_signal ({what}): {text}");
        } else {
            assert!(text.contains("_Extra.data"), "add_signal ({what}): {text}");
        }
        assert!(
            snapshot(&root) == before,
            "add_signal over the limit ({what}) changed the repository"
        );
        assert_eq!(listing(&root), files, "add_signal ({what}) left files");
    }

    // add_signal of Other (a new patient too) failing after every few bytes written: each
    // failure leaves the repository (pid list and transpose included) as it was, and no file
    // behind; failures come in the signal files and in the transpose.
    let root = d.join("small");
    let before = snapshot(&root);
    let files = listing(&root);
    let elements = other_elements(&Repository::open(&small).unwrap());
    let (mut in_signal, mut in_transpose) = (0, 0);
    let mut n = 0u64;
    loop {
        match add_signal_with(&small, &other_signal(), elements.clone(), Some(n)) {
            Ok(warnings) => {
                assert!(warnings.is_empty(), "{warnings:?}");
                break;
            }
            Err(e) => {
                let m = e.to_string();
                assert!(matches!(e, inframed::Error::Io { .. }), "{m}");
                if m.contains("__pids__") {
                    in_transpose += 1;
                } else if m.contains("_Other.") {
                    in_signal += 1;
                }
                assert!(snapshot(&root) == before, "budget {n}: {m}: changed");
                assert_eq!(listing(&root), files, "budget {n}: {m}: left files");
            }
        }
        n = n * 3 / 2 + 1;
    }
    assert!(
        in_signal > 0 && in_transpose > 0,
        "{in_signal} {in_transpose}"
    );
    let repo = Repository::open(&small).unwrap();
    check_other(&repo, &elements);
    check_patients(&repo, usize::MAX);
}
