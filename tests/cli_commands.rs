//! The command line on the golden repository: output format of docs/DESIGN.md §6, checked against the
//! original reader's values (testdata/inframed/small/expected*.json), and error behaviour.

mod common;

use std::process::{Command, Output};

use serde_json::Value as Json;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(args)
        .output()
        .unwrap()
}

fn repo() -> String {
    common::golden_repo_path().display().to_string()
}

fn expected() -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(common::testdata("inframed/small/expected.json")).unwrap(),
    )
    .unwrap()
}

fn expected_dict() -> Json {
    serde_json::from_str(
        &std::fs::read_to_string(common::testdata("inframed/small/expected_dict.json")).unwrap(),
    )
    .unwrap()
}

/// One expected output line from a get_sig row: floats are float32 printed shortest.
fn line(name: &str, row: &[Json], float_cols: &[bool], names: Option<&Json>) -> String {
    let mut out = format!("{}\t{name}", row[0]);
    for (i, v) in row[1..].iter().enumerate() {
        let cell = if float_cols[i] {
            (v.as_f64().unwrap() as f32).to_string()
        } else if let Some(n) = names
            .and_then(|n| n.get(v.to_string()))
            .and_then(|n| n.as_str())
        {
            n.to_string()
        } else {
            v.to_string()
        };
        out.push('\t');
        out.push_str(&cell);
    }
    out
}

fn rows_for(name: &str, pid: u64, raw: bool) -> Vec<String> {
    let exp = expected();
    let s = &exp["signals"][name];
    let floats: Vec<bool> = s["dtypes"].as_array().unwrap()[1..]
        .iter()
        .map(|d| d == "float32")
        .collect();
    let dict = expected_dict();
    let names = if raw {
        None
    } else {
        dict["sections"].get(name).map(|s| &s["name"])
    };
    s["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap())
        .filter(|r| r[0].as_u64() == Some(pid))
        .map(|r| line(name, r, &floats, names))
        .collect()
}

fn stdout_lines(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn get_prints_one_element_a_line() {
    for (name, pid) in [
        ("Hemoglobin", 1025),
        ("ADMISSION", 1025),
        ("BP", 1025),
        ("Weight", 2048),
        ("DrugDose", 3001),
        ("MEMBERSHIP", 1026),
        ("Eosinophils%", 1027),
    ] {
        let o = run(&["get", &repo(), &pid.to_string(), name]);
        let want = rows_for(name, pid, false);
        if want.is_empty() {
            // A patient without elements of the signal: exit 4 and a note on stderr.
            assert_eq!(o.status.code(), Some(4), "{name} {pid}");
            assert!(o.stdout.is_empty());
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains(&format!("pid {pid} has no {name} elements")),
                "{err}"
            );
            continue;
        }
        assert_eq!(stdout_lines(&o), want, "{name} {pid}");
    }
}

#[test]
fn categorical_values_are_names_unless_raw() {
    let named = stdout_lines(&run(&["get", &repo(), "1025", "DIAGNOSIS"]));
    let raw = stdout_lines(&run(&["get", &repo(), "1025", "DIAGNOSIS", "--raw"]));
    assert_eq!(named, rows_for("DIAGNOSIS", 1025, false));
    assert_eq!(raw, rows_for("DIAGNOSIS", 1025, true));
    assert_ne!(named, raw);
    assert_eq!(
        stdout_lines(&run(&["get", &repo(), "1026", "GENDER"])),
        ["1026\tGENDER\tF"]
    );
}

#[test]
fn time_window() {
    let all = rows_for("Hemoglobin", 1025, false);
    let in_window: Vec<String> = all
        .iter()
        .filter(|l| {
            let t: i64 = l.split('\t').nth(2).unwrap().parse().unwrap();
            (20100202..=20121231).contains(&t)
        })
        .cloned()
        .collect();
    assert!(!in_window.is_empty() && in_window.len() < all.len());
    let got = stdout_lines(&run(&[
        "get",
        &repo(),
        "1025",
        "Hemoglobin",
        "--from",
        "2010-02-02",
        "--to",
        "20121231",
    ]));
    assert_eq!(got, in_window);
    let bad = run(&["get", &repo(), "1025", "Hemoglobin", "--from", "20230231"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("error: --from \"20230231\""));
    assert!(bad.stdout.is_empty());
}

#[test]
fn dump_covers_every_row_in_order() {
    let exp = expected();
    let total: usize = exp["signals"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["rows"].as_array().unwrap().len())
        .sum();
    let lines = stdout_lines(&run(&["dump", &repo(), "--raw"]));
    assert_eq!(lines.len(), total);
    let pids: Vec<u64> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect();
    assert!(pids.windows(2).all(|w| w[0] <= w[1]), "pids ascending");
    let only = stdout_lines(&run(&[
        "dump",
        &repo(),
        "--signal",
        "GENDER",
        "--signal",
        "BDATE",
    ]));
    assert_eq!(only.len(), 80);
    assert_eq!(only[0], "1025\tGENDER\tM");
    assert_eq!(only[1], "1025\tBDATE\t19701111");
}

#[test]
fn errors_go_to_stderr_with_nothing_on_stdout() {
    for (args, want) in [
        (
            vec!["get", &repo(), "1025", "Nope"],
            "error: unknown signal \"Nope\"",
        ),
        (
            vec!["get", "/nonexistent.repository", "1", "X"],
            "error: cannot open /nonexistent.repository",
        ),
        (
            vec!["dump", &repo(), "--signal", "Nope"],
            "error: unknown signal \"Nope\"",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with(want), "{args:?}: {err}");
    }
}

#[test]
fn info_and_demo() {
    let info = String::from_utf8(run(&["info", &repo()]).stdout).unwrap();
    assert!(info.contains("patients\t40\n"), "{info}");
    assert!(
        info.contains("Hemoglobin\t1000\tT(i),V(f)\t8\tDate\t"),
        "{info}"
    );
    assert!(
        info.contains("Albumin\t1010\tT(i),V(f)\t8\tDate\t0\t0\t"),
        "{info}"
    );
    let demo = run(&["demo"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    assert!(String::from_utf8_lossy(&demo.stdout).contains("1025\tHemoglobin\t"));
}

#[test]
fn stacked_repository_overrides_by_name() {
    let o = run(&["info", &repo(), "--stack", &repo()]);
    assert!(o.status.success());
    let lines = stdout_lines(&run(&[
        "get",
        &repo(),
        "--stack",
        &repo(),
        "1025",
        "Hemoglobin",
    ]));
    assert_eq!(lines, rows_for("Hemoglobin", 1025, false));
}

/// Options that take a value and state no default, each with the reason (issue #13 item 9).
const NO_DEFAULT: &[(&str, &str, &str)] =
    &[("export", "--to", "required: the target has no default")];

/// Issue #13 item 9: every subcommand's `--help` (subcommands read from `inframed --help`)
/// states every default: each `--option <VALUE>` either shows `[default: …]`, says "default"
/// in its text, or is in [`NO_DEFAULT`] with a reason.
#[test]
fn every_help_states_every_default() {
    let top = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    let mut missing = Vec::new();
    let mut excepted = Vec::new();
    for cmd in &commands {
        let o = run(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help");
        let help = String::from_utf8(o.stdout).unwrap();
        // Each option's block: its line and the lines up to the next option or the example.
        let mut blocks: Vec<(String, String)> = Vec::new();
        for line in help
            .lines()
            .skip_while(|l| !l.starts_with("Options:"))
            .skip(1)
            .take_while(|l| !l.starts_with("Example"))
        {
            let t = line.trim_start();
            let t = t
                .strip_prefix('-')
                .filter(|r| r.chars().nth(1) == Some(','))
                .map_or(t, |r| r[2..].trim_start());
            if line.starts_with("  ") && t.starts_with("--") {
                let name = t.split_whitespace().next().unwrap().to_string();
                blocks.push((name, t.to_string()));
            } else if let Some((_, text)) = blocks.last_mut() {
                text.push(' ');
                text.push_str(line.trim());
            }
        }
        assert!(
            blocks.iter().any(|(n, _)| n == "--help"),
            "{cmd}: no options parsed from {help}"
        );
        for (name, text) in blocks {
            let head = text.split("  ").next().unwrap_or("");
            if !head.contains('<') {
                continue; // a flag: off unless given
            }
            if text.contains("[default:") || text.to_lowercase().contains("default") {
                continue;
            }
            if NO_DEFAULT.iter().any(|(c, n, _)| c == cmd && *n == name) {
                excepted.push((cmd.to_string(), name));
                continue;
            }
            missing.push(format!("{cmd} {name}: {text}"));
        }
    }
    assert!(
        missing.is_empty(),
        "options that take a value but state no default:\n{}",
        missing.join("\n")
    );
    // The exception list must not go stale.
    for (c, n, _) in NO_DEFAULT {
        assert!(
            excepted.iter().any(|(a, b)| a == c && b == n),
            "{c} {n} is excepted but states a default or is gone"
        );
    }
}
