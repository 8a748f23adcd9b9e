//! No writer destroys what it did not write: for every target kind (convert, export to each
//! layout and container, index), an unrelated file and an unrelated non-empty folder at the
//! target survive byte for byte, the command fails naming the path; a previous output of
//! the same kind is replaced; `--force` replaces anything.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inframed"));
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn golden() -> PathBuf {
    common::golden_repo_path()
}

/// The export flags of each target kind.
const TARGETS: &[(&str, &[&str])] = &[
    ("mode3", &["--to", "mode3"]),
    ("transpose", &["--to", "transpose"]),
    ("legacy", &["--to", "legacy"]),
    ("iac", &["--to", "iac"]),
    ("gnz", &["--to", "gnz"]),
    ("trx", &["--to", "trx"]),
    ("trx-dir", &["--to", "trx", "--dir"]),
    ("itar", &["--to", "itar"]),
];

fn export(out: &Path, flags: &[&str], force: bool) -> Output {
    let g = golden();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"export", &g, &out];
    for f in flags {
        args.push(f);
    }
    if force {
        args.push(&"--force");
    }
    run(&args)
}

/// An unrelated folder: a few files at two depths.
fn unrelated_dir(at: &Path) {
    fs::create_dir_all(at.join("sub")).unwrap();
    fs::write(at.join("thesis.tex"), b"\\documentclass{article}").unwrap();
    fs::write(at.join("sub/photo.jpg"), [0xff, 0xd8, 0xff, 0xe0, 0, 1, 2]).unwrap();
}

fn assert_refused(o: &Output, target: &Path, what: &str) {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {stderr}");
    assert!(
        stderr.contains(&target.display().to_string()) && stderr.contains("refusing"),
        "{what}: {stderr}"
    );
    assert!(stderr.contains("--force"), "{what}: {stderr}");
}

#[test]
fn export_never_replaces_an_unrelated_file_or_folder() {
    let d = tempfile::tempdir().unwrap();
    for (name, flags) in TARGETS {
        // A file.
        let file = d.path().join(format!("{name}-file"));
        fs::write(&file, b"my own notes, not a container").unwrap();
        let o = export(&file, flags, false);
        assert_refused(&o, &file, name);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("\"my own n\""),
            "{name}: names what is there: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(fs::read(&file).unwrap(), b"my own notes, not a container");
        // A folder.
        let dir = d.path().join(format!("{name}-dir"));
        unrelated_dir(&dir);
        let before = common::snapshot(&dir);
        let o = export(&dir, flags, false);
        assert_refused(&o, &dir, name);
        assert_eq!(common::snapshot(&dir), before, "{name}");
    }
    // Nothing was left beside them either.
    let mut names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2 * TARGETS.len(), "{names:?}");
}

#[test]
fn export_replaces_its_previous_output_and_anything_with_force() {
    let d = tempfile::tempdir().unwrap();
    for (name, flags) in TARGETS {
        let ext = match *name {
            "iac" | "gnz" | "trx" | "trx-dir" => format!(".{}", &name[..3]),
            _ => String::new(),
        };
        // Empty targets are fine.
        let out = d.path().join(format!("{name}{ext}"));
        if ext.is_empty() || *name == "trx-dir" {
            fs::create_dir_all(out.join("empty/sub")).unwrap();
        } else {
            fs::write(&out, b"").unwrap();
        }
        let o = export(&out, flags, false);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Its own previous output.
        let o = export(&out, flags, false);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // A previous output with a file of the user's own in it is not ours to remove.
        if ext.is_empty() || *name == "trx-dir" {
            fs::write(out.join("mine.txt"), b"mine").unwrap();
            let o = export(&out, flags, false);
            assert_refused(&o, &out, name);
            assert!(String::from_utf8_lossy(&o.stderr).contains("mine.txt"));
            assert_eq!(fs::read(out.join("mine.txt")).unwrap(), b"mine");
        }
        // --force replaces even an unrelated file or folder.
        let forced = d.path().join(format!("{name}-forced{ext}"));
        if *name == "trx-dir" || ext.is_empty() {
            unrelated_dir(&forced);
        } else {
            fs::write(&forced, b"unrelated").unwrap();
        }
        let o = export(&forced, flags, true);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = run(&[&"verify", &open_path(&forced, &o)]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// What `info`/`verify` open for an export target: the config a native export prints, else
/// the container.
fn open_path(out: &Path, export: &Output) -> PathBuf {
    let printed = String::from_utf8_lossy(&export.stdout).trim().to_string();
    if printed.is_empty() {
        out.to_path_buf()
    } else {
        PathBuf::from(printed)
    }
}

/// A copy of the small convert input, converting to `out`.
fn convert_input(d: &Path, out: &Path) -> PathBuf {
    let src = common::testdata("inframed/small/input");
    let input = d.join("input");
    fs::create_dir_all(input.join("dicts")).unwrap();
    fs::create_dir_all(input.join("data")).unwrap();
    for e in walk(&src) {
        let rel = e.strip_prefix(&src).unwrap();
        fs::copy(&e, input.join(rel)).unwrap();
    }
    let cfg = input.join("small.convert_config");
    let text = fs::read_to_string(&cfg).unwrap();
    let text = text.replace("OUTDIR\t../repo", &format!("OUTDIR\t{}", out.display()));
    fs::write(&cfg, text).unwrap();
    cfg
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn convert_never_replaces_an_unrelated_file_or_folder() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let cfg = convert_input(d.path(), &out);
    fs::write(&out, b"a file of mine").unwrap();
    let o = run(&[&"convert", &"--original", &cfg]);
    assert_refused(&o, &out, "convert over a file");
    assert_eq!(fs::read(&out).unwrap(), b"a file of mine");
    fs::remove_file(&out).unwrap();
    unrelated_dir(&out);
    let before = common::snapshot(&out);
    let o = run(&[&"convert", &"--original", &cfg]);
    assert_refused(&o, &out, "convert over a folder");
    assert_eq!(common::snapshot(&out), before);
    // Forced, and then its own previous output again.
    let o = run(&[&"convert", &"--original", &cfg, &"--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.join("thesis.tex").exists());
    let o = run(&[&"convert", &"--original", &cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[&"verify", &out.join("small.repository")]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn index_never_replaces_an_unrelated_file() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("r");
    let o = export(&out, &["--to", "mode3"], false);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = out.join("r.repository");
    let chunk = out.join("data/r_rep__pids__0.pid_data");
    fs::write(&chunk, b"not a transpose").unwrap();
    let o = run(&[&"index", &config]);
    assert_refused(&o, &chunk, "index");
    assert_eq!(fs::read(&chunk).unwrap(), b"not a transpose");
    assert!(!out.join("data/r_rep__pids__all.pid_idx").exists());
    // Forced, then its own previous transpose again.
    let o = run(&[&"index", &config, &"--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[&"index", &config]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[&"verify", &config]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
