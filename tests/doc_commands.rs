//! Every `inframed` command shown in README.md, BENCHMARKS.md and docs/*.md (in ```sh, ```bash,
//! ```console or unlabelled fenced blocks), and every subcommand's `--help` example, runs and
//! succeeds; where the doc shows output after a `$ ` command, those lines come out in that
//! order (`error: …` lines on stderr with a failing exit code, `...` skips lines).
//!
//! Commands run in order within each document, in a private temp dir holding a `testdata` link
//! to the bundled data, so relative paths work and nothing is written into the source tree;
//! `/tmp/` becomes the temp dir and the big benchmark sizes are scaled down (`SCALE`).
//! Commands deliberately not run are listed in `SKIP` with the reason; each must still be
//! found in the docs, so the list cannot go stale.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Substrings of commands not run, and why.
const SKIP: &[(&str, &str)] = &[
    (
        "WORK/rep_configs/my.convert_config",
        "a placeholder for the reader's own convert config",
    ),
    (
        "my.convert_config --outdir /data/repo",
        "a placeholder config and output directory",
    ),
    (
        "/tmp/syn1/in/synth.convert_config",
        "its input is made by testdata/convert/gen_synth.py and compared with medpython: needs \
         Python, which Rust tests must not",
    ),
];

/// Benchmark sizes shown in the docs → sizes that keep this test fast (the command's shape is
/// what is checked).
const SCALE: &[(&str, &str)] = &[
    ("--patients 100000", "--patients 300"),
    ("--lookups 5000000", "--lookups 20000"),
    ("<build>", "build"),
];

/// One command line of a document, with the output lines it shows.
#[derive(Debug)]
struct Shown {
    origin: String,
    command: String,
    output: Vec<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `inframed` commands of one line (split on `&&`, comment removed), or none.
fn commands_of(line: &str) -> Vec<String> {
    let line = line.split(" # ").next().unwrap_or("").trim();
    line.split(" && ")
        .filter_map(|part| {
            let part = part.trim();
            let part = part
                .strip_prefix("cargo run --release -- ")
                .map(|rest| format!("inframed {rest}"))
                .unwrap_or_else(|| part.to_string());
            if part.starts_with("inframed ") {
                Some(part)
            } else if part.starts_with("/usr/bin/time ") {
                part.find(" inframed ").map(|i| part[i + 1..].to_string())
            } else {
                None
            }
        })
        .collect()
}

/// The commands shown in a markdown document's shell blocks.
fn shown_in(path: &Path) -> Vec<Shown> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut out: Vec<Shown> = Vec::new();
    let mut fence: Option<String> = None;
    let mut prompt_block = false;
    let mut last_prompted: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            if fence.is_none() {
                fence = Some(lang.trim().to_string());
                prompt_block = false;
                last_prompted = None;
            } else {
                fence = None;
            }
            continue;
        }
        let Some(lang) = &fence else { continue };
        if !matches!(lang.as_str(), "" | "sh" | "bash" | "console" | "shell") {
            continue;
        }
        let origin = format!("{name}:{}", n + 1);
        if let Some(cmd) = line.strip_prefix("$ ") {
            prompt_block = true;
            last_prompted = None;
            for c in commands_of(cmd) {
                out.push(Shown {
                    origin: origin.clone(),
                    command: c,
                    output: Vec::new(),
                });
                last_prompted = Some(out.len() - 1);
            }
        } else if prompt_block {
            if let Some(i) = last_prompted {
                out[i].output.push(line.to_string());
            }
        } else {
            for c in commands_of(line) {
                out.push(Shown {
                    origin: origin.clone(),
                    command: c,
                    output: Vec::new(),
                });
            }
        }
    }
    out
}

/// The `Example:` lines of every subcommand's `--help`.
fn help_examples() -> Vec<Shown> {
    let top = Command::new(env!("CARGO_BIN_EXE_inframed"))
        .arg("--help")
        .output()
        .unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    let subcommands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(subcommands.len() >= 10, "{top}");
    let mut out = Vec::new();
    for sub in subcommands {
        let help = Command::new(env!("CARGO_BIN_EXE_inframed"))
            .args([&sub, "--help"])
            .output()
            .unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        let examples: Vec<String> = help
            .lines()
            .skip_while(|l| !l.starts_with("Example"))
            .skip(1)
            .flat_map(commands_of)
            .collect();
        assert!(
            !examples.is_empty(),
            "`inframed {sub} --help` shows no example:\n{help}"
        );
        for c in examples {
            out.push(Shown {
                origin: format!("inframed {sub} --help"),
                command: c,
                output: Vec::new(),
            });
        }
    }
    out
}

/// Runs `shown` in order in one fresh temp dir; returns the skip entries that matched.
fn run_all(shown: &[Shown], skipped: &mut Vec<&'static str>) {
    let t = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("testdata"), t.path().join("testdata")).unwrap();
    let tmp = t.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for s in shown {
        if let Some((key, _why)) = SKIP.iter().find(|(k, _)| s.command.contains(k)) {
            skipped.push(key);
            continue;
        }
        let mut cmd = s.command.replace("/tmp/", &format!("{}/", tmp.display()));
        for (from, to) in SCALE {
            cmd = cmd.replace(from, to);
        }
        assert!(
            !cmd.contains(['"', '\'', '|', '>', '<', '*', '$']),
            "{}: `{cmd}` needs a shell; list it in SKIP or simplify it",
            s.origin
        );
        let args: Vec<&str> = cmd.split_whitespace().skip(1).collect();
        let o = Command::new(env!("CARGO_BIN_EXE_inframed"))
            .args(&args)
            .current_dir(t.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let expects_error = s.output.iter().any(|l| l.starts_with("error:"));
        if expects_error {
            assert!(
                !o.status.success(),
                "{}: `{cmd}` should fail as shown",
                s.origin
            );
        } else {
            assert!(
                o.status.success(),
                "{}: `{cmd}` failed ({:?}): {stderr}",
                s.origin,
                o.status.code()
            );
        }
        // The shown lines, in order, in the stream they belong to.
        let mut rest: &str = if expects_error { &stderr } else { &stdout };
        for want in s
            .output
            .iter()
            .filter(|l| !l.trim().is_empty() && *l != "...")
        {
            match rest.find(want.as_str()) {
                Some(i) => rest = &rest[i + want.len()..],
                None => panic!(
                    "{}: `{cmd}` does not print {want:?} where shown; it printed:\n{stdout}{stderr}",
                    s.origin
                ),
            }
        }
    }
}

#[test]
fn every_documented_command_runs_as_shown() {
    let mut docs = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    let mut skipped = Vec::new();
    let mut count = 0;
    for d in &docs {
        let shown = shown_in(d);
        count += shown.len();
        run_all(&shown, &mut skipped);
    }
    let help = help_examples();
    count += help.len();
    run_all(&help, &mut skipped);
    assert!(count >= 20, "only {count} commands found");
    for (key, why) in SKIP {
        assert!(
            skipped.contains(key),
            "SKIP entry {key:?} ({why}) matches no documented command: remove it"
        );
    }
}

#[test]
fn command_extraction() {
    assert_eq!(
        commands_of("inframed synth /tmp/raw --patients 1 && inframed convert x   # ~20M rows"),
        ["inframed synth /tmp/raw --patients 1", "inframed convert x"]
    );
    assert_eq!(
        commands_of("cargo run --release -- demo  # open"),
        ["inframed demo"]
    );
    assert_eq!(
        commands_of("/usr/bin/time -v inframed convert c --threads 2"),
        ["inframed convert c --threads 2"]
    );
    assert!(commands_of("scripts/test   # Rust suite").is_empty());
}
