//! `demo --repo X` works on a repository without the bundled one's signal names (issue #13
//! item 9): it picks signals that exist instead of failing on `Hemoglobin`/`DIAGNOSIS`.

mod common;

use std::fs;

#[test]
fn demo_picks_signals_that_exist() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("repo");
    common::copy_dir(common::golden_repo_path().parent().unwrap(), &dir);
    // Rename Hemoglobin → HGB and DIAGNOSIS → DX: signals file, data files, dictionary sections.
    let signals = dir.join("small.signals");
    let text = fs::read_to_string(&signals)
        .unwrap()
        .replace("SIGNAL\tHemoglobin\t", "SIGNAL\tHGB\t")
        .replace("SIGNAL\tDIAGNOSIS\t", "SIGNAL\tDX\t");
    fs::write(&signals, text).unwrap();
    for (from, to) in [("Hemoglobin", "HGB"), ("DIAGNOSIS", "DX")] {
        for ext in ["data", "idx"] {
            let d = dir.join("data");
            fs::rename(
                d.join(format!("small_rep_{from}.{ext}")),
                d.join(format!("small_rep_{to}.{ext}")),
            )
            .unwrap();
        }
    }
    for e in fs::read_dir(dir.join("dicts")).unwrap() {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        let renamed: Vec<String> = text
            .lines()
            .map(|l| match l.strip_prefix("SECTION\t") {
                Some(names) => format!("SECTION\t{}", names.replace("DIAGNOSIS", "DX")),
                None => l.to_string(),
            })
            .collect();
        fs::write(&p, renamed.join("\n") + "\n").unwrap();
    }
    let o = common::inframed(env!("CARGO_BIN_EXE_inframed"), &[&"demo", &"--repo", &dir]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("40 patients, 14 signals"), "{out}");
    assert!(
        !out.contains("Hemoglobin") && !out.contains("DIAGNOSIS"),
        "{out}"
    );
    // The first timed numeric signal (BP) and the first categorical one with a dictionary.
    assert!(out.contains("# get(1025, BP)"), "{out}");
    assert!(out.contains("1025\tBP\t20120101\t118\t79"), "{out}");
    assert!(out.contains("with dictionary names, then codes"), "{out}");
    assert!(out.contains("ns per lookup"), "{out}");
}
