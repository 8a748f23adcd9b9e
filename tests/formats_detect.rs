//! Detection by content: containers under names that say nothing (no extension, another
//! extension), opened by path with no hint; `--format` forcing a reader; errors that list
//! what was tried.
#![cfg(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use inframed::backend::{self, detect, Container, ExportOptions, Format};
use inframed::{Error, Repository};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn ls(path: &Path) -> String {
    let mut out = Vec::new();
    backend::ls(path, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn cat(path: &Path, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    backend::cat(path, name, &mut out).unwrap();
    out
}

/// Exports the golden repository as `kind` to `out` (a name without any extension).
fn export(kind: Container, out: &Path, dir: bool) {
    let repo = common::golden_repo();
    let options = ExportOptions {
        dir,
        ..ExportOptions::default()
    };
    backend::export(kind, &repo, out, &options).unwrap();
}

#[test]
fn exported_containers_without_extension_open_as_the_repository() {
    let t = tmp();
    let reference = common::golden_repo();
    let cases: [(Container, &str, bool); 5] = [
        (Container::Iac, "pack", false),
        (Container::Gnz, "arrays.bin", false),
        (Container::Trx, "zipped", false),
        (Container::Trx, "out_dir", true),
        (Container::Itar, "shards", false),
    ];
    for (kind, name, dir) in cases {
        let path = t.path().join(name);
        export(kind, &path, dir);
        assert_eq!(
            detect(&path).unwrap(),
            Format::Container(kind),
            "{name} ({kind:?})"
        );
        assert_eq!(Container::of(&path), Some(kind));
        let repo = Repository::open(&path).unwrap();
        common::conformance(&repo, &reference);
    }
    assert_eq!(detect(&common::golden_repo_path()).unwrap(), Format::Config);
    assert_eq!(Container::of(&common::golden_repo_path()), None);
}

/// Copies a fixture to `dir/name` (files, or folders recursively).
fn copy_as(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    if from.is_dir() {
        common::copy_dir(from, &to);
    } else {
        std::fs::copy(from, &to).unwrap();
    }
    to
}

#[test]
fn foreign_fixtures_under_other_names_list_and_cat_the_same() {
    let t = tmp();
    let pairs = [
        ("trx/a_stored.trx", "tracts", Container::Trx),
        ("trx/a_deflate.trx", "tracts.zip.bak", Container::Trx),
        ("trx/a_dir", "out_dir", Container::Trx),
        ("gnz/dtypes.gnz", "arrays", Container::Gnz),
        ("itar/glzn/train_0001.tar", "one_shard.bin", Container::Itar),
        ("itar/glzn", "dataset", Container::Itar),
    ];
    for (rel, name, kind) in pairs {
        let from = common::testdata(rel);
        let to = copy_as(&from, t.path(), name);
        assert_eq!(detect(&to).unwrap(), Format::Container(kind), "{rel}");
        if kind != Container::Itar || from.is_dir() {
            assert_eq!(ls(&to), ls(&from), "{rel} listed under the name {name}");
        }
    }
    // The same bytes read through the renamed copy.
    let trx = t.path().join("tracts");
    assert_eq!(
        cat(&trx, "offsets"),
        cat(&common::testdata("trx/a_stored.trx"), "offsets")
    );
    // An .iac pack (the fixtures are zstd-compressed) under a .dat name.
    let z = std::fs::read(common::testdata("iac/quickstart.iac.zst")).unwrap();
    let pack = t.path().join("quickstart.dat");
    std::fs::write(&pack, zstd::decode_all(&z[..]).unwrap()).unwrap();
    assert_eq!(detect(&pack).unwrap(), Format::Container(Container::Iac));
    assert_eq!(cat(&pack, "0"), b"first");
    assert_eq!(cat(&pack, "1"), b"second");
}

#[test]
fn content_wins_over_a_wrong_extension_and_the_extension_is_a_hint() {
    let t = tmp();
    // A GNZ file named .trx is read as GNZ.
    let gnz = copy_as(
        &common::testdata("gnz/dtypes.gnz"),
        t.path(),
        "misnamed.trx",
    );
    assert_eq!(detect(&gnz).unwrap(), Format::Container(Container::Gnz));
    // A damaged file (magic gone) keeps the reader its extension names, so the error is that
    // reader's.
    let mut bytes = std::fs::read(common::testdata("gnz/dtypes.gnz")).unwrap();
    bytes[0] = b'X';
    let bad = t.path().join("bad.gnz");
    std::fs::write(&bad, &bytes).unwrap();
    assert_eq!(detect(&bad).unwrap(), Format::Container(Container::Gnz));
    let e = Repository::open(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.gnz"), "{e}");
    // Without the extension the error lists every format tried.
    let anon = t.path().join("anon");
    std::fs::write(&anon, &bytes).unwrap();
    let e = Repository::open(&anon).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    let msg = e.to_string();
    for word in [
        "anon",
        "iac",
        "gnz",
        "trx",
        "itar",
        "repository config",
        "--format",
    ] {
        assert!(msg.contains(word), "{word:?} missing in {msg}");
    }
    // An empty file and an unrelated zip are refused the same way.
    let empty = t.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(detect(&empty), Err(Error::Unsupported { .. })));
    let zip = t.path().join("other");
    {
        let f = std::fs::File::create(&zip).unwrap();
        let mut w = zip::ZipWriter::new(f);
        w.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"hello").unwrap();
        w.finish().unwrap();
    }
    let msg = detect(&zip).unwrap_err().to_string();
    assert!(msg.contains("zip without header.json"), "{msg}");
    // A folder holding neither.
    let folder = t.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), b"x").unwrap();
    let msg = detect(&folder).unwrap_err().to_string();
    assert!(
        msg.contains("no header.json") && msg.contains(".taridx"),
        "{msg}"
    );
    // A missing path is an open error naming it.
    let missing = t.path().join("missing");
    assert!(matches!(detect(&missing), Err(Error::Open { .. })));
}

#[test]
fn format_forces_a_reader() {
    let t = tmp();
    let gnz = copy_as(&common::testdata("gnz/dtypes.gnz"), t.path(), "arrays");
    // Forced as iac: the iac reader's own error, not a detection error.
    let e = Repository::open_as(&gnz, Format::Container(Container::Iac)).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("tried"), "{msg}");
    let mut out = Vec::new();
    assert!(backend::ls_as(&gnz, Some(Container::Iac), &mut out).is_err());
    backend::ls_as(&gnz, Some(Container::Gnz), &mut out).unwrap();
    assert!(!out.is_empty());
    // A repository config forced as one.
    let repo = Repository::open_as(common::golden_repo_path(), Format::Config).unwrap();
    common::conformance(&repo, &common::golden_repo());
}

#[test]
fn cli_format_flag() {
    let t = tmp();
    let gnz = copy_as(&common::testdata("gnz/dtypes.gnz"), t.path(), "arrays");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_inframed"))
            .args(args)
            .output()
            .unwrap()
    };
    let g = gnz.to_str().unwrap();
    let detected = run(&["ls", g]);
    assert!(detected.status.success());
    let forced = run(&["ls", "--format", "gnz", g]);
    assert_eq!(forced.stdout, detected.stdout);
    let wrong = run(&["ls", "--format", "iac", g]);
    assert!(!wrong.status.success());
    let unknown = run(&["ls", "--format", "parquet", g]);
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(err.contains("unknown format"), "{err}");
    let repo = common::golden_repo_path();
    let info = run(&["info", "--format", "repository", repo.to_str().unwrap()]);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
}
