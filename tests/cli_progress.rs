//! Progress (issue #13 item 7): long commands draw a bar on stderr only when it is a terminal,
//! nothing when piped; `--quiet` draws none and prints no warnings. The terminal case runs
//! the command under `script` (util-linux) for a pseudo-terminal.

mod common;

use std::process::{Command, Output};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    common::inframed(env!("CARGO_BIN_EXE_inframed"), args)
}

/// Runs `inframed ARGS` on a pseudo-terminal; its output (stdout and stderr together), or
/// `None` when `script` is not installed.
fn on_terminal(args: &[&str]) -> Option<String> {
    let line = std::iter::once(env!("CARGO_BIN_EXE_inframed"))
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    // indicatif draws nothing for TERM=dumb or no TERM (CI): name a real terminal.
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .ok()?;
    assert!(
        o.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn nothing_on_stderr_when_piped() {
    let g = common::golden_repo_path();
    let t = tempfile::tempdir().unwrap();
    for (to, name) in [("gnz", "a.gnz"), ("mode3", "m3"), ("itar", "tar")] {
        let out = t.path().join(name);
        let o = run(&[&"export", &g, &out, &"--to", &to]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            o.stderr.is_empty(),
            "{to}: {:?}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let m3 = t.path().join("m3/m3.repository");
    for args in [
        vec!["verify"],
        vec!["dump"],
        vec!["index"],
        vec!["get", "1025", "Hemoglobin"],
    ] {
        let mut a: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&args[0], &m3];
        for x in &args[1..] {
            a.push(x);
        }
        let o = run(&a);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "{args:?}: {:?}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn a_bar_on_a_terminal_unless_quiet() {
    let g = common::golden_repo_path();
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("x.gnz");
    let (g, o) = (g.to_str().unwrap(), out.to_str().unwrap());
    let Some(shown) = on_terminal(&["export", g, o, "--to", "gnz"]) else {
        eprintln!("`script` is not installed: terminal case not checked");
        return;
    };
    // The bar's frame: elapsed time and the target in its message.
    assert!(
        shown.contains("[00:00:0") && shown.contains("export --to gnz"),
        "{shown:?}"
    );
    let quiet = on_terminal(&["--quiet", "export", g, o, "--to", "gnz"]).unwrap();
    assert_eq!(quiet, "", "--quiet drew: {quiet:?}");
}

#[test]
fn quiet_hides_warnings_not_errors() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("repo");
    common::copy_dir(common::golden_repo_path().parent().unwrap(), &dir);
    let cfg = dir.join("small.repository");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("NO_SUCH_KEYWORD\tx\n");
    std::fs::write(&cfg, text).unwrap();
    let loud = run(&[&"info", &cfg]);
    assert!(loud.status.success());
    assert!(
        String::from_utf8_lossy(&loud.stderr).contains("warning:"),
        "the fixture must warn: {}",
        String::from_utf8_lossy(&loud.stderr)
    );
    let quiet = run(&[&"info", &cfg, &"--quiet"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    assert_eq!(quiet.stdout, loud.stdout);
    let err = run(&[&"-q", &"get", &cfg, &"1025", &"hemoglobin"]);
    assert_eq!(err.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&err.stderr).contains("unknown signal"));
}

#[test]
fn verify_and_index_draw_real_bars() {
    let g = common::golden_repo_path();
    let t = tempfile::tempdir().unwrap();
    let m3 = t.path().join("m3");
    let o = run(&[&"export", &g, &m3, &"--to", &"mode3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = m3.join("m3.repository");
    let cfg = cfg.to_str().unwrap();
    let Some(shown) = on_terminal(&["verify", cfg]) else {
        eprintln!("`script` is not installed: terminal case not checked");
        return;
    };
    // MODE 3 verify: one step for the pids, one per signal (the golden repository has 14).
    assert!(shown.contains("/15 verifying every structure"), "{shown:?}");
    assert!(shown.contains("ok\t40 patients\t14 signals"), "{shown:?}");
    // index: one step per patient (40).
    let shown = on_terminal(&["index", cfg]).unwrap();
    assert!(
        shown.contains("/40 patients in the by-pid transpose"),
        "{shown:?}"
    );
    assert!(shown.contains(".pid_idx"), "{shown:?}");
    let quiet = on_terminal(&["--quiet", "verify", cfg]).unwrap();
    assert!(!quiet.contains("verifying"), "--quiet drew: {quiet:?}");
}

#[test]
fn library_progress_steps_end_at_their_total() {
    let t = tempfile::tempdir().unwrap();
    let m3 = t.path().join("m3");
    let o = run(&[
        &"export",
        &common::golden_repo_path(),
        &m3,
        &"--to",
        &"mode3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = m3.join("m3.repository");
    let repo = inframed::Repository::open(&cfg).unwrap();
    let mut steps = Vec::new();
    repo.layers()[0]
        .store
        .verify_with(&mut |d, n| steps.push((d, n)))
        .unwrap();
    let expected: Vec<(u64, u64)> = (0..=15).map(|d| (d, 15)).collect();
    assert_eq!(steps, expected);
    let mut steps = Vec::new();
    inframed::native::write::build_transpose_with_progress(&cfg, false, &mut |d, n| {
        steps.push((d, n))
    })
    .unwrap();
    let expected: Vec<(u64, u64)> = (0..=40).map(|d| (d, 40)).collect();
    assert_eq!(steps, expected);
}
