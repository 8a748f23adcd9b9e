//! `inframed shard` and `convert --shards` on the command line: the commands that read a
//! repository (`info`, `get`, `dump`, `verify`, `export`, `bench`) give on the manifest what
//! they give on the unsharded source; the target rule; errors name the shard.

mod common;

use std::fs;
use std::process::{Command, Output};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// `info` output without the lines that name files and the layout (they differ by design).
fn info_body(text: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| *l != "files")
        .filter(|l| !l.starts_with("layout\t"))
        .map(|l| {
            // The last column names the layer's path.
            match l.rsplit_once('\t') {
                Some((head, _)) if l.split('\t').count() == 8 => head.to_string(),
                _ => l.to_string(),
            }
        })
        .collect()
}

#[test]
fn reading_commands_agree_with_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::golden_repo_path();
    let out = dir.path().join("sh");
    let printed = ok(run(&[&"shard", &src, &out, &"--shards", &"3"]));
    let manifest = out.join("shards.json");
    assert_eq!(printed.trim(), manifest.display().to_string());

    let dump_src = ok(run(&[&"dump", &src]));
    assert_eq!(ok(run(&[&"dump", &manifest])), dump_src);
    ok(run(&[&"verify", &manifest]));
    let info = ok(run(&[&"info", &manifest]));
    assert!(info.starts_with("layout\tinframed shards (3 × "), "{info}");
    assert!(info.contains("shard-0002"), "{info}");
    assert_eq!(info_body(&info), info_body(&ok(run(&[&"info", &src]))));
    for (pid, sig) in [
        ("1025", "Hemoglobin"),
        ("1025", "GENDER"),
        ("4242", "Hemoglobin"),
    ] {
        let a = run(&[&"get", &src, &pid, &sig]);
        let b = run(&[&"get", &manifest, &pid, &sig]);
        assert_eq!(a.status.code(), b.status.code(), "{pid} {sig}");
        assert_eq!(a.stdout, b.stdout, "{pid} {sig}");
    }
    // Export back to one repository: the same content.
    let back = dir.path().join("back");
    ok(run(&[&"export", &manifest, &back, &"--to", &"mode3"]));
    assert_eq!(ok(run(&[&"dump", &back.join("back.repository")])), dump_src);
    ok(run(&[
        &"bench",
        &manifest,
        &"--lookups",
        &"1000",
        &"--threads",
        &"1",
    ]));
    // Each shard alone is a repository.
    ok(run(&[
        &"verify",
        &out.join("shard-0001/shard-0001.repository"),
    ]));
}

#[test]
fn missing_shard_and_target_rule() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::golden_repo_path();
    let out = dir.path().join("sh");
    ok(run(&[&"shard", &src, &out, &"--shards", &"2"]));
    // Rewriting a previous shard output is allowed.
    ok(run(&[&"shard", &src, &out, &"--shards", &"2"]));

    let gone = dir.path().join("gone");
    common::copy_dir(&out, &gone);
    fs::remove_dir_all(gone.join("shard-0001")).unwrap();
    let o = run(&[&"info", &gone.join("shards.json")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard-0001") && err.contains("missing"),
        "{err}"
    );

    let mine = dir.path().join("mine");
    fs::create_dir_all(&mine).unwrap();
    fs::write(mine.join("keep.txt"), b"keep").unwrap();
    let o = run(&[&"shard", &src, &mine, &"--shards", &"2"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keep.txt") && err.contains("--force"), "{err}");
    assert_eq!(fs::read(mine.join("keep.txt")).unwrap(), b"keep");
}

#[test]
fn convert_into_shards() {
    let dir = tempfile::tempdir().unwrap();
    let o = inframed::synth::SynthOptions {
        patients: 120,
        seed: 4,
        mean_events: 30,
    };
    let config = inframed::synth::write_export(&dir.path().join("raw"), &o).unwrap();
    let one = dir.path().join("one");
    let sharded = dir.path().join("many");
    ok(run(&[&"convert", &config, &"--outdir", &one]));
    let text = ok(run(&[
        &"convert",
        &config,
        &"--outdir",
        &sharded,
        &"--shards",
        &"4",
    ]));
    assert!(text.contains(&sharded.display().to_string()), "{text}");
    let single = fs::read_dir(&one)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "repository"))
        .unwrap();
    let manifest = sharded.join("shards.json");
    assert_eq!(ok(run(&[&"dump", &manifest])), ok(run(&[&"dump", &single])));
    // Only the shard output and (if any) its dropped-lines file are left beside it.
    let left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // A refused target converts nothing.
    let mine = dir.path().join("mine");
    fs::create_dir_all(&mine).unwrap();
    fs::write(mine.join("keep.txt"), b"keep").unwrap();
    let r = run(&[&"convert", &config, &"--outdir", &mine, &"--shards", &"2"]);
    assert_eq!(r.status.code(), Some(2));
    assert_eq!(fs::read_dir(&mine).unwrap().count(), 1);
}
