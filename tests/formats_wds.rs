//! Tar datasets as users have them (testdata/wds/make_fixtures.py, written by webdataset 1.0.2,
//! Python tarfile and trx-python 0.6): index-less WebDataset shards with dash-numbered names, one
//! shard, a brace list; pax and GNU long names; a glzn parse-path index listing pax header rows
//! and a duplicate stem; a trx-python folder without extension. Each is opened by path with no
//! hint and every member read equal to what the original tool returned.
#![cfg(all(feature = "itar", feature = "trx"))]

mod common;

use std::path::{Path, PathBuf};

use inframed::backend::itar::{write_indexes, Fold, TarIndex};
use inframed::backend::trx::TrxFile;
use inframed::backend::{self, detect, Container, Format};
use serde_json::Value as Json;

fn fixture(rel: &str) -> PathBuf {
    common::testdata(&format!("wds/{rel}"))
}

fn expected() -> Json {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cat(path: &Path, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    backend::cat(path, name, &mut out).unwrap_or_else(|e| panic!("{name}: {e}"));
    out
}

fn ls(path: &Path) -> String {
    let mut out = Vec::new();
    backend::ls(path, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn basename(name: &str) -> &str {
    name.rsplit('/').next().unwrap()
}

#[test]
fn index_less_webdataset_shards_open_by_scanning() {
    let want = expected();
    let dash = fixture("dash");
    assert_eq!(detect(&dash).unwrap(), Format::Container(Container::Itar));
    let members = want["dash"]["members"].as_object().unwrap();
    let mut n = 0;
    for (shard, names) in members {
        let one = dash.join(shard);
        assert_eq!(detect(&one).unwrap(), Format::Container(Container::Itar));
        for (name, hex) in names.as_object().unwrap() {
            let payload = unhex(hex.as_str().unwrap());
            assert_eq!(cat(&dash, name), payload, "{name} in the folder");
            assert_eq!(cat(&one, name), payload, "{name} in {shard} alone");
            n += 1;
        }
    }
    assert_eq!(n, 18);
    // What webdataset's own iteration yields, sample by sample, through the brace list.
    let braces = dash.join("train-{000000..000002}.tar");
    assert_eq!(detect(&braces).unwrap(), Format::Container(Container::Itar));
    let samples = want["dash"]["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 7);
    for s in samples {
        let key = s["__key__"].as_str().unwrap();
        for (ext, hex) in s.as_object().unwrap() {
            if ext.starts_with("__") {
                continue;
            }
            let payload = unhex(hex.as_str().unwrap());
            assert_eq!(cat(&braces, &format!("{key}.{ext}")), payload);
        }
    }
    // A brace list naming a missing shard is an error naming it.
    let mut out = Vec::new();
    let e = backend::ls(&dash.join("train-{000000..000005}.tar"), &mut out).unwrap_err();
    assert!(e.to_string().contains("train-{000000..000005}.tar"), "{e}");
}

#[test]
fn index_writes_the_glzn_taridx_and_the_next_open_uses_it() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("dash");
    common::copy_dir(&fixture("dash"), &dir);
    let before = ls(&dir);
    let written = write_indexes(&dir).unwrap();
    assert_eq!(written, [dir.join("train.taridx")]);
    let bytes = std::fs::read(&written[0]).unwrap();
    let index = TarIndex::parse(&bytes).unwrap();
    assert_eq!(index.rows.len(), 18);
    assert_eq!(&bytes[..8], b"TARIDX\0\0");
    // The folder now opens from the index; same listing and payloads.
    assert_eq!(ls(&dir), before);
    let fold = Fold::open(&written[0]).unwrap();
    let m = fold.find("sample003", "txt").unwrap().unwrap();
    assert_eq!(m.data, b"text 3");
    // A second run writes nothing (the index is there).
    assert!(write_indexes(&dir).unwrap().is_empty());
    // The command line does the same.
    let dir2 = t.path().join("dash2");
    common::copy_dir(&fixture("dash"), &dir2);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_inframed"))
        .args(["index", dir2.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir2.join("train.taridx")).unwrap(), bytes);
}

#[test]
fn pax_and_gnu_long_names_are_applied_to_their_member() {
    let want = expected();
    for (tar, key) in [("pax/pax.tar", "pax"), ("gnu/gnu.tar", "gnu")] {
        let path = fixture(tar);
        assert_eq!(detect(&path).unwrap(), Format::Container(Container::Itar));
        let listing = ls(&path);
        assert!(
            !listing.contains("PaxHeader") && !listing.contains("LongLink"),
            "{listing}"
        );
        let members = want[key].as_object().unwrap();
        assert_eq!(members.len(), 4);
        for (name, hex) in members {
            assert_eq!(
                cat(&path, basename(name)),
                unhex(hex.as_str().unwrap()),
                "{tar} {name}"
            );
        }
    }
}

#[test]
fn a_glzn_index_with_pax_rows_and_a_duplicate_stem_stays_readable() {
    let want = expected();
    let dir = fixture("paxidx");
    assert_eq!(want["paxidx"]["rows"], 8); // glzn lists the two pax headers as rows
    let fold = Fold::open(&dir.join("pax.taridx")).unwrap();
    assert_eq!(fold.index().rows.len(), 8);
    assert_eq!((0..8).filter(|&r| fold.is_meta_row(r)).count(), 2);
    let w: Vec<String> = fold.warnings().iter().map(|w| w.to_string()).collect();
    let w = w.join("\n");
    assert!(w.contains("duplicate member x.txt"), "{w}");
    let listing = ls(&dir);
    assert!(!listing.contains("PaxHeader"), "{listing}");
    assert!(listing.contains("# warning:"), "{listing}");
    let members = want["paxidx"]["members"].as_object().unwrap();
    for (name, hex) in members {
        if name == "dir/x.txt" {
            continue; // merged with x.txt by glzn's stem rule; the later member is read
        }
        assert_eq!(
            cat(&dir, basename(name)),
            unhex(hex.as_str().unwrap()),
            "{name}"
        );
    }
    assert_eq!(cat(&dir, "x.txt"), b"second x");
}

#[test]
fn a_trx_python_folder_without_extension() {
    let want = &expected()["out_dir"];
    let dir = fixture("out_dir");
    assert_eq!(detect(&dir).unwrap(), Format::Container(Container::Trx));
    let trx = TrxFile::open(&dir).unwrap();
    let positions: Vec<f64> = want["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(trx.positions().unwrap().to_f64(), positions);
    let offsets: Vec<u64> = (0..3).map(|i| trx.offset(i).unwrap()).collect();
    let want_offsets: Vec<u64> = want["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(offsets, want_offsets);
    assert!(ls(&dir).contains("positions"));
}

/// A patient dataset whose shard holds one member twice (as `tar -r` appending a corrected
/// copy leaves it): the later copy is read, and the duplicate reaches `Repository::warnings`
/// (what the CLI prints), not only the fold's own list.
#[test]
fn a_duplicate_member_of_a_patient_dataset_warns_through_the_repository() {
    use inframed::{Repository, SignalStore};
    let golden = common::golden_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    backend::export(Container::Itar, &golden, &out, &Default::default()).unwrap();
    let shard = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("a .tar shard");
    // Rewrite the shard with its first member appended once more at the end.
    let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    let mut archive = tar::Archive::new(std::fs::File::open(&shard).unwrap());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
        entries.push((e.header().clone(), bytes));
    }
    let first = entries
        .iter()
        .find(|(h, _)| h.entry_type().is_file())
        .cloned()
        .expect("a file member");
    let name = first.0.path().unwrap().to_string_lossy().into_owned();
    entries.push(first);
    let mut b = tar::Builder::new(Vec::new());
    for (h, bytes) in &entries {
        b.append(h, bytes.as_slice()).unwrap();
    }
    std::fs::write(&shard, b.into_inner().unwrap()).unwrap();
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "taridx") {
            std::fs::remove_file(p).unwrap();
        }
    }
    assert!(!write_indexes(&out).unwrap().is_empty(), "index rebuilt");

    let repo = Repository::open(&out).unwrap();
    let w: Vec<String> = repo.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("duplicate") && m.contains(&name)),
        "no duplicate warning for {name}: {w:?}"
    );
    common::conformance(&repo, &golden);
}

/// `inframed index DATASET` reports bytes of shards scanned, rising to their total.
#[test]
fn indexing_a_dataset_reports_bytes_scanned() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ds");
    let golden = common::golden_repo();
    let o = inframed::backend::ExportOptions {
        shard_max_size: Some(4096),
        ..Default::default()
    };
    backend::export(Container::Itar, &golden, &out, &o).unwrap();
    let mut shard_total = 0;
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        match p.extension().and_then(|e| e.to_str()) {
            Some("taridx") => std::fs::remove_file(p).unwrap(),
            Some("tar") => shard_total += std::fs::metadata(&p).unwrap().len(),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    let written =
        inframed::backend::itar::write_indexes_with_progress(&out, &mut |d, t| steps.push((d, t)))
            .unwrap();
    assert!(!written.is_empty());
    assert_eq!(steps.first(), Some(&(0, shard_total)));
    assert_eq!(steps.last(), Some(&(shard_total, shard_total)));
    assert!(steps.len() > 3, "one step per shard: {steps:?}");
    assert!(steps.windows(2).all(|w| w[0].0 <= w[1].0), "{steps:?}");
    common::conformance(&inframed::Repository::open(&out).unwrap(), &golden);
}
