//! Random damage to every layout and container (bytes overwritten, files cut short): opening,
//! verifying and reading every (pid, signal) may fail, but never panics or aborts. A cheap,
//! always-on stand-in for fuzzing: each case copies a pristine repository written from the
//! golden fixture, damages one of its binary files and reads everything back.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use inframed::backend::{export, Container, ExportOptions};
use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::native::write::build_transpose;
use inframed::{Repository, SignalStore};
use proptest::prelude::*;

/// Every layout and container the test damages.
const KINDS: [&str; 8] = [
    "mode3",
    "transpose",
    "legacy1",
    "legacy2",
    "iac",
    "gnz",
    "trx",
    "itar",
];

/// A pristine copy of each layout: (directory, path to open, binary files relative to it).
struct Pristine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    open: PathBuf,
    files: Vec<PathBuf>,
}

fn pristine(kind: &str) -> &'static Pristine {
    static CELLS: OnceLock<Vec<(String, Pristine)>> = OnceLock::new();
    let all = CELLS.get_or_init(|| KINDS.iter().map(|k| (k.to_string(), build(k))).collect());
    &all.iter().find(|(k, _)| k == kind).unwrap().1
}

fn build(kind: &str) -> Pristine {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let golden = common::golden_repo();
    let open = match kind {
        "mode3" | "transpose" => {
            common::copy_dir(&common::testdata("inframed/small/repo"), &root);
            let cfg = root.join("small.repository");
            if kind == "transpose" {
                build_transpose(&cfg).unwrap();
            }
            cfg
        }
        "legacy1" | "legacy2" => {
            let mode = if kind == "legacy1" { 1 } else { 2 };
            let mut o = LegacyOptions::new(mode, "lg", golden.catalog()).unwrap();
            o.full = mode == 1;
            write_legacy(&golden, &root, &o).unwrap()
        }
        _ => {
            fs::create_dir_all(&root).unwrap();
            let (container, name) = match kind {
                "iac" => (Container::Iac, "p.iac"),
                "gnz" => (Container::Gnz, "p.gnz"),
                "trx" => (Container::Trx, "p.trx"),
                _ => (Container::Itar, "p.itar"),
            };
            let out = root.join(name);
            export(container, &golden, &out, &ExportOptions::default()).unwrap();
            out
        }
    };
    let mut files: Vec<PathBuf> = common::snapshot(&root)
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| {
            let name = rel.to_string_lossy();
            let text = name.ends_with(".repository")
                || name.ends_with(".signals")
                || name.contains("dicts/");
            let wanted = match kind {
                "transpose" => name.contains("__pids__"),
                _ => true,
            };
            !text && wanted
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{kind}");
    Pristine {
        _dir: dir,
        root,
        open,
        files,
    }
}

/// Opens, verifies and reads everything; errors are fine.
fn exercise(path: &Path) {
    let Ok(repo) = Repository::open(path) else {
        return;
    };
    let _ = repo.verify();
    for s in repo.catalog().signals() {
        for &p in repo.pids() {
            let _ = repo.get_bytes(p, s.sid);
            if let Ok(sig) = repo.signal(p, s.sid) {
                let _ = sig.range(20000101, 20201231).len();
            }
        }
        let _ = repo.scan(s.sid, &mut |_, _| {});
    }
}

/// Copies the pristine `kind`, damages one file, exercises the copy.
fn damage(kind: &str, file: usize, flips: &[(u32, u8)], cut: Option<u32>) {
    let p = pristine(kind);
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&p.root, dir.path());
    let rel = &p.files[file % p.files.len()];
    let target = dir.path().join(rel);
    let mut bytes = fs::read(&target).unwrap();
    for &(at, value) in flips {
        if !bytes.is_empty() {
            let i = at as usize % bytes.len();
            bytes[i] = value;
        }
    }
    if let Some(c) = cut {
        let len = c as usize % (bytes.len() + 1);
        bytes.truncate(len);
    }
    fs::write(&target, &bytes).unwrap();
    let open = dir.path().join(p.open.strip_prefix(&p.root).unwrap());
    exercise(&open);
}

/// 48 cases per layout in CI; `PROPTEST_CASES=5000` for a longer hunt.
fn cases() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(48),
        ..ProptestConfig::default()
    }
}

macro_rules! damage_test {
    ($name:ident, $kind:literal) => {
        proptest! {
            #![proptest_config(cases())]
            #[test]
            fn $name(
                file in any::<usize>(),
                flips in prop::collection::vec((any::<u32>(), any::<u8>()), 0..6),
                cut in prop::option::weighted(0.3, any::<u32>()),
            ) {
                damage($kind, file, &flips, cut);
            }
        }
    };
}

damage_test!(mode3_never_panics, "mode3");
damage_test!(transpose_never_panics, "transpose");
damage_test!(legacy_full_never_panics, "legacy1");
damage_test!(legacy_mode2_never_panics, "legacy2");
damage_test!(iac_never_panics, "iac");
damage_test!(gnz_never_panics, "gnz");
damage_test!(trx_never_panics, "trx");
damage_test!(itar_never_panics, "itar");

#[test]
fn the_pristine_copies_read_like_the_golden_repository() {
    let golden = common::golden_repo();
    for kind in KINDS {
        let p = pristine(kind);
        let repo = Repository::open(&p.open).unwrap_or_else(|e| panic!("{kind}: {e}"));
        repo.verify().unwrap_or_else(|e| panic!("{kind}: {e}"));
        let sid = golden.catalog().signal("Hemoglobin").unwrap().sid;
        let pid = golden.pids()[0];
        assert_eq!(
            repo.get_bytes(pid, sid).unwrap(),
            golden.get_bytes(pid, sid).unwrap(),
            "{kind}"
        );
    }
}
