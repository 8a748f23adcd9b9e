//! `inframed bench --duration` (#16 item 6): a fixed-time stress run on many threads over one
//! repository and over a shard manifest reports the lookups it did and 0 errors; bad
//! durations are refused.

mod common;

fn inframed(args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    common::inframed(env!("CARGO_BIN_EXE_inframed"), args)
}

/// The tab-separated field after `key` on the stdout line that starts with it.
fn field(stdout: &str, key: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}\t")))
        .unwrap_or_else(|| panic!("no {key} line in:\n{stdout}"))
        .split('\t')
        .next()
        .unwrap()
        .to_string()
}

fn stress(repo: &std::path::Path) -> String {
    let o = inframed(&[
        &"bench",
        &repo,
        &"--duration",
        &"1",
        &"--threads",
        &"8",
        &"--lookups",
        &"5000",
    ]);
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "exit {:?}\n{stdout}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(field(&stdout, "errors"), "0", "{stdout}");
    assert_eq!(field(&stdout, "stress"), "8 threads", "{stdout}");
    let lookups: u64 = field(&stdout, "lookups").parse().unwrap();
    assert!(lookups > 0, "{stdout}");
    stdout
}

#[test]
fn stress_run_over_a_repository_reports_lookups_and_no_errors() {
    let out = stress(&common::golden_repo_path());
    assert_eq!(field(&out, "patients"), "40", "{out}");
}

#[test]
fn stress_run_over_shards_reports_lookups_and_no_errors() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("sh");
    let o = inframed(&[
        &"shard",
        &common::golden_repo_path(),
        &shards,
        &"--shards",
        &"3",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stress(&shards.join("shards.json"));
    assert_eq!(field(&out, "patients"), "40", "{out}");
}

#[test]
fn bad_durations_are_refused() {
    for bad in ["0", "-1", "nan", "abc"] {
        let o = inframed(&[
            &"bench",
            &common::golden_repo_path(),
            &format!("--duration={bad}"),
        ]);
        assert!(!o.status.success(), "--duration={bad} was accepted");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("duration"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
