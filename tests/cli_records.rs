//! One patient's record on the command line (issue #13 item 8): `get REPO PID` without a
//! signal, `dump --pid P` (repeatable), and `--format tsv|csv|jsonl` on both, checked against
//! the rows the original reader returned (`testdata/inframed/small/expected.json`).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    let g: PathBuf = common::golden_repo_path();
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    c.arg(args[0]).arg(&g).args(&args[1..]);
    let o = c.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(common::testdata("inframed/small/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Rows `[pid, time…, value…]` of `signal` for `pid` in the original reader's output.
fn expected_rows(signal: &str, pid: i64) -> Vec<Vec<f64>> {
    let e = expected();
    e["signals"][signal]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|r| r[0] as i64 == pid)
        .collect()
}

#[test]
fn get_without_a_signal_prints_every_signal_of_the_patient() {
    let all = lines(&run(&["get", "1025", "--raw"]));
    // Signals appear in catalog order, each with the original reader's rows.
    let e = expected();
    let order: Vec<String> = e["signals"].as_object().unwrap().keys().cloned().collect();
    let mut seen: Vec<String> = Vec::new();
    for l in &all {
        let name = l.split('\t').nth(1).unwrap().to_string();
        if seen.last() != Some(&name) {
            assert!(!seen.contains(&name), "{name} printed twice apart");
            seen.push(name);
        }
    }
    let mut expected_order: Vec<&String> = order
        .iter()
        .filter(|s| !expected_rows(s, 1025).is_empty())
        .collect();
    let catalog = common::golden_repo();
    let pos = |n: &str| {
        inframed::SignalStore::catalog(&catalog)
            .signals()
            .iter()
            .position(|s| s.name == n)
            .unwrap()
    };
    expected_order.sort_by_key(|n| pos(n));
    assert_eq!(seen.iter().collect::<Vec<_>>(), expected_order);
    for name in &seen {
        let got: Vec<Vec<f64>> = all
            .iter()
            .filter(|l| l.split('\t').nth(1) == Some(name))
            .map(|l| {
                l.split('\t')
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .map(|(_, f)| f.parse::<f64>().unwrap())
                    .collect()
            })
            .collect();
        let want = expected_rows(name, 1025);
        assert_eq!(got.len(), want.len(), "{name}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.len(), w.len(), "{name}");
            for (a, b) in g.iter().zip(w) {
                assert!(
                    (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                    "{name}: {g:?} vs {w:?}"
                );
            }
        }
    }
    // Without a signal, --from/--to filter the timed signals; timeless ones stay whole.
    let window = lines(&run(&[
        "get", "1025", "--raw", "--from", "20110101", "--to", "20131231",
    ]));
    assert!(window.iter().any(|l| l.starts_with("1025\tGENDER\t")));
    let hgb: Vec<&String> = window
        .iter()
        .filter(|l| l.starts_with("1025\tHemoglobin\t"))
        .collect();
    let want = expected_rows("Hemoglobin", 1025)
        .into_iter()
        .filter(|r| (20110101.0..=20131231.0).contains(&r[1]))
        .count();
    assert_eq!(hgb.len(), want);
}

#[test]
fn dump_pid_is_repeatable_and_keeps_the_order_given() {
    let one = lines(&run(&["dump", "--pid", "1026", "--signal", "Hemoglobin"]));
    let two = lines(&run(&[
        "dump",
        "--pid",
        "30000",
        "--pid",
        "1026",
        "--signal",
        "Hemoglobin",
    ]));
    assert_eq!(one.len(), expected_rows("Hemoglobin", 1026).len());
    let n30000 = expected_rows("Hemoglobin", 30000).len();
    assert_eq!(two.len(), n30000 + one.len());
    assert!(two[..n30000].iter().all(|l| l.starts_with("30000\t")));
    assert_eq!(&two[n30000..], &one[..]);
    // dump --pid P equals get P.
    let get = lines(&run(&["get", "1026"]));
    let dump = lines(&run(&["dump", "--pid", "1026"]));
    assert_eq!(get, dump);
}

#[test]
fn csv_and_jsonl_carry_the_tsv_fields() {
    for cmd in [
        &["get", "1025"][..],
        &["dump", "--pid", "1025", "--pid", "1300"],
    ] {
        let tsv = lines(&run(cmd));
        let mut c = cmd.to_vec();
        c.extend(["--format", "csv"]);
        let csv = lines(&run(&c));
        c.pop();
        c.push("jsonl");
        let jsonl = lines(&run(&c));
        assert_eq!(tsv.len(), csv.len());
        assert_eq!(tsv.len(), jsonl.len());
        assert!(!tsv.is_empty());
        for ((t, c), j) in tsv.iter().zip(&csv).zip(&jsonl) {
            let fields: Vec<&str> = t.split('\t').collect();
            // No field of the bundled repository holds a comma or a quote: plain join.
            assert_eq!(*c, fields.join(","), "{t}");
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            assert_eq!(v["pid"].as_i64().unwrap().to_string(), fields[0]);
            assert_eq!(v["signal"].as_str().unwrap(), fields[1]);
            let mut rest: Vec<String> = Vec::new();
            for k in ["time", "value"] {
                for x in v[k].as_array().unwrap() {
                    rest.push(match x {
                        serde_json::Value::String(s) => s.clone(),
                        n => n.to_string(),
                    });
                }
            }
            let tsv_rest: Vec<f64> = fields[2..]
                .iter()
                .map(|f| f.parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            assert_eq!(rest.len(), tsv_rest.len(), "{t} vs {j}");
            for (r, f) in rest.iter().zip(&fields[2..]) {
                match (r.parse::<f64>(), f.parse::<f64>()) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{t} vs {j}"),
                    _ => assert_eq!(r, f, "{t} vs {j}"),
                }
            }
        }
    }
    // `--help` lists the formats (CSV quoting is unit-tested in src/cli/format.rs).
    let help = Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(["get", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("tsv") && help.contains("csv") && help.contains("jsonl"),
        "{help}"
    );
}
