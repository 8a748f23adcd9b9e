//! Broken TRX files give a clear `Err` (naming the file, member and byte), never a panic: each
//! kind of damage is applied to trx-python's fixture both as a folder and as a stored zip.
#![cfg(feature = "trx")]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use inframed::backend::trx::{self, TrxError, TrxFile, TrxStore};
use inframed::backend::ExportOptions;
use inframed::{Error, FormatError, SignalStore};

type Files = BTreeMap<String, Vec<u8>>;

fn read_tree(root: &Path, prefix: &str, out: &mut Files) {
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.file_type().unwrap().is_dir() {
            read_tree(&e.path(), &rel, out);
        } else {
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
}

/// trx-python's fixture a as a map of member → bytes.
fn fixture_a() -> Files {
    let mut files = Files::new();
    read_tree(&common::testdata("trx/a_dir"), "", &mut files);
    files
}

fn write_dir(dir: &Path, files: &Files) -> PathBuf {
    let root = dir.join("t_dir");
    for (rel, bytes) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    root
}

fn write_zip(dir: &Path, files: &Files) -> PathBuf {
    let path = dir.join("t.trx");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (rel, bytes) in files {
        z.start_file(rel.as_str(), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    path
}

fn trx_error(e: &Error) -> &TrxError {
    match e.format_error() {
        Some(FormatError::Trx(t)) => t,
        _ => panic!("not a Trx error: {e:?}"),
    }
}

/// Opens `files` as a folder and as a zip; both must fail with an error matching `check`,
/// whose message names `member`.
fn expect_error(files: &Files, member: &str, check: impl Fn(&TrxError) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    for path in [write_dir(dir.path(), files), write_zip(dir.path(), files)] {
        let err = TrxFile::open(&path).expect_err("damaged file opens");
        let e = trx_error(&err);
        assert!(check(e), "{}: unexpected {e:?}", path.display());
        let msg = err.to_string();
        assert!(msg.contains(member), "{msg:?} does not name {member}");
    }
}

fn set_header(files: &mut Files, key: &str, value: serde_json::Value) {
    let mut h: serde_json::Value = serde_json::from_slice(&files["header.json"]).unwrap();
    h[key] = value;
    files.insert("header.json".into(), serde_json::to_vec(&h).unwrap());
}

fn rename(files: &mut Files, from: &str, to: &str) {
    let b = files.remove(from).unwrap();
    files.insert(to.into(), b);
}

#[test]
fn the_undamaged_fixture_opens_in_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    let files = fixture_a();
    for path in [write_dir(dir.path(), &files), write_zip(dir.path(), &files)] {
        let t = TrxFile::open(&path).unwrap();
        assert_eq!(t.nb_streamlines(), 8);
    }
}

#[test]
fn header_counts_inconsistent() {
    let mut f = fixture_a();
    set_header(&mut f, "NB_VERTICES", 31.into());
    expect_error(&f, "positions.3.float16", |e| {
        *e == TrxError::Count {
            found: 90,
            expected: 93,
        }
    });
    let mut f = fixture_a();
    set_header(&mut f, "NB_STREAMLINES", 9.into());
    expect_error(&f, "offsets.uint32", |e| {
        *e == TrxError::Count {
            found: 9,
            expected: 10,
        }
    });
    let mut f = fixture_a();
    set_header(&mut f, "NB_STREAMLINES", (-1).into());
    expect_error(&f, "header.json", |e| {
        matches!(
            e,
            TrxError::HeaderKey {
                key: "NB_STREAMLINES",
                ..
            }
        )
    });
    let mut f = fixture_a();
    set_header(&mut f, "VOXEL_TO_RASMM", serde_json::json!([1, 2, 3]));
    expect_error(&f, "header.json", |e| {
        matches!(
            e,
            TrxError::HeaderKey {
                key: "VOXEL_TO_RASMM",
                ..
            }
        )
    });
    let mut f = fixture_a();
    f.insert("header.json".into(), b"{\"NB_VERTICES\": 30,".to_vec());
    expect_error(&f, "header.json", |e| matches!(e, TrxError::HeaderJson(_)));
    let mut f = fixture_a();
    f.remove("header.json");
    expect_error(&f, "header.json", |e| *e == TrxError::MissingHeader);
}

#[test]
fn truncated_arrays() {
    let mut f = fixture_a();
    f.get_mut("positions.3.float16").unwrap().truncate(179);
    expect_error(&f, "positions.3.float16", |e| {
        *e == TrxError::WrongSize {
            bytes: 179,
            itemsize: 2,
        }
    });
    let mut f = fixture_a();
    f.get_mut("dpv/fa.float32").unwrap().truncate(116);
    expect_error(&f, "dpv/fa.float32", |e| {
        *e == TrxError::Count {
            found: 29,
            expected: 30,
        }
    });
    let mut f = fixture_a();
    f.remove("positions.3.float16");
    expect_error(&f, "positions", |e| *e == TrxError::Missing("positions"));
    let mut f = fixture_a();
    f.remove("offsets.uint32");
    expect_error(&f, "offsets", |e| *e == TrxError::Missing("offsets"));
    // The trx-spec text's N-entry offsets (no sentinel): rejected like trx-python 0.6 does.
    let mut f = fixture_a();
    f.get_mut("offsets.uint32").unwrap().truncate(32);
    expect_error(&f, "offsets.uint32", |e| {
        *e == TrxError::Count {
            found: 8,
            expected: 9,
        }
    });
}

#[test]
fn wrong_dtype_extensions() {
    let mut f = fixture_a();
    rename(&mut f, "positions.3.float16", "positions.3.float33");
    expect_error(&f, "positions.3.float33", |e| {
        *e == TrxError::UnknownDtype("float33".into())
    });
    let mut f = fixture_a();
    rename(&mut f, "dps/algo.uint8", "dps/algo.S8");
    expect_error(&f, "dps/algo.S8", |e| {
        *e == TrxError::UnsupportedDtype("S8".into())
    });
    let mut f = fixture_a();
    rename(&mut f, "groups/AF_L.uint32", "groups/AF_L.float32");
    expect_error(&f, "groups/AF_L.float32", |e| {
        matches!(
            e,
            TrxError::WrongDtype {
                dtype: "float32",
                ..
            }
        )
    });
    let mut f = fixture_a();
    rename(&mut f, "offsets.uint32", "offsets.float32");
    expect_error(&f, "offsets.float32", |e| {
        matches!(
            e,
            TrxError::WrongDtype {
                dtype: "float32",
                ..
            }
        )
    });
    // Same bytes read as uint64: 36 bytes is not a whole number of 8-byte items.
    let mut f = fixture_a();
    rename(&mut f, "offsets.uint32", "offsets.uint64");
    expect_error(&f, "offsets.uint64", |e| {
        *e == TrxError::WrongSize {
            bytes: 36,
            itemsize: 8,
        }
    });
    let mut f = fixture_a();
    rename(&mut f, "positions.3.float16", "positions.2.float16");
    expect_error(&f, "positions.2.float16", |e| {
        *e == TrxError::Dim {
            found: 2,
            expected: 3,
        }
    });
    let mut f = fixture_a();
    rename(&mut f, "dpv/fa.float32", "dpv/fa.x.float32");
    expect_error(&f, "dpv/fa.x.float32", |e| {
        *e == TrxError::InvalidDim("x".into())
    });
    // Two files for one array.
    let mut f = fixture_a();
    let p = f["positions.3.float16"].clone();
    f.insert("positions.3.int16".into(), p);
    expect_error(&f, "positions.3", |e| matches!(e, TrxError::Duplicate(_)));
}

fn put_u32(f: &mut Files, member: &str, index: usize, v: u32) {
    f.get_mut(member).unwrap()[index * 4..index * 4 + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn bad_offsets() {
    let mut f = fixture_a();
    put_u32(&mut f, "offsets.uint32", 0, 1);
    expect_error(&f, "offsets.uint32", |e| *e == TrxError::FirstOffset(1));
    let mut f = fixture_a();
    put_u32(&mut f, "offsets.uint32", 3, 2);
    expect_error(&f, "offsets.uint32", |e| {
        *e == TrxError::OffsetsNotMonotone {
            index: 3,
            prev: 8,
            next: 2,
        }
    });
    let mut f = fixture_a();
    put_u32(&mut f, "offsets.uint32", 8, 29);
    expect_error(&f, "offsets.uint32", |e| {
        *e == TrxError::LastOffset {
            found: 29,
            expected: 30,
        }
    });
    // The byte offset of the damage is named: entry 3 of a zip member / of the folder's file.
    let dir = tempfile::tempdir().unwrap();
    let mut f = fixture_a();
    put_u32(&mut f, "offsets.uint32", 3, 2);
    let err = TrxFile::open(write_dir(dir.path(), &f)).unwrap_err();
    assert!(
        err.to_string().ends_with("offsets.uint32: byte 12"),
        "{err}"
    );
}

#[test]
fn group_index_out_of_range() {
    let mut f = fixture_a();
    put_u32(&mut f, "groups/CST_R.uint32", 1, 8);
    expect_error(&f, "groups/CST_R.uint32", |e| {
        *e == TrxError::GroupIndex {
            entry: 1,
            value: 8,
            nb_streamlines: 8,
        }
    });
    let mut f = fixture_a();
    f.insert("groups/NEG.int8".into(), vec![0, 0xff]);
    expect_error(&f, "groups/NEG.int8", |e| {
        matches!(
            e,
            TrxError::GroupIndex {
                entry: 1,
                value: -1,
                ..
            }
        )
    });
    let mut f = fixture_a();
    f.insert("dpg/NOPE/x.float32".into(), 1f32.to_le_bytes().to_vec());
    expect_error(&f, "dpg/NOPE/x.float32", |e| {
        *e == TrxError::UndeclaredGroup("NOPE".into())
    });
}

#[test]
fn dotted_names() {
    let mut f = fixture_a();
    rename(&mut f, "dps/algo.uint8", "dps/al.go.x.uint8");
    expect_error(&f, "dps/al.go.x.uint8", |e| {
        *e == TrxError::InvalidName("al.go.x.uint8".into())
    });
    let mut f = fixture_a();
    rename(&mut f, "groups/AF_L.uint32", "groups/AF.L.uint32");
    expect_error(&f, "groups/AF.L.uint32", |e| {
        *e == TrxError::InvalidDim("L".into())
    });
}

#[test]
fn zip_structure_damage() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(write_zip(dir.path(), &fixture_a())).unwrap();
    // Not a zip at all, and an empty file.
    for bad in [b"hello world, not a zip".to_vec(), Vec::new()] {
        let p = dir.path().join("bad.trx");
        std::fs::write(&p, &bad).unwrap();
        let err = TrxFile::open(&p).unwrap_err();
        assert!(matches!(trx_error(&err), TrxError::Zip(_)), "{err:?}");
    }
    // A local header signature destroyed: named.
    let trx = TrxFile::open(dir.path().join("t.trx")).unwrap();
    let a = trx.array("dps/algo").unwrap();
    let local = a.data_offset as usize - 30 - a.member.len();
    drop(trx);
    let mut bad = good.clone();
    bad[local] = b'X';
    let p = dir.path().join("sig.trx");
    std::fs::write(&p, &bad).unwrap();
    let err = TrxFile::open(&p).unwrap_err();
    assert_eq!(
        *trx_error(&err),
        TrxError::LocalHeader("invalid local file header signature")
    );
    assert!(err.to_string().contains("dps/algo.uint8"), "{err}");
}

/// Every truncation and a sweep of bit flips over a stored zip, a deflate zip and a patient file:
/// open either fails with an error or succeeds; reads and verify never panic. Flips inside a
/// stored member's data are always caught by `verify` (CRC-32).
#[test]
fn truncations_and_bit_flips_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let golden = common::golden_repo();
    let patients = dir.path().join("p.trx");
    trx::export(&golden, &patients, &ExportOptions::default()).unwrap();
    let deflated = dir.path().join("pd.trx");
    trx::export(
        &golden,
        &deflated,
        &ExportOptions {
            deflate: true,
            ..Default::default()
        },
    )
    .unwrap();
    for source in [
        common::testdata("trx/a_stored.trx"),
        common::testdata("trx/a_deflate.trx"),
        patients.clone(),
        deflated,
    ] {
        let good = std::fs::read(&source).unwrap();
        let data_ranges: Vec<(u64, u64)> = TrxFile::open(&source)
            .unwrap()
            .arrays()
            .iter()
            .filter(|a| !a.compressed)
            .map(|a| (a.data_offset, a.data_offset + a.size))
            .collect();
        let step = (good.len() / 300).max(1);
        for cut in (0..good.len()).step_by(step) {
            let _ = exercise(good[..cut].to_vec());
        }
        for at in (0..good.len()).step_by(step.max(3) / 3) {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            let outcome = exercise(bad);
            let in_data = data_ranges
                .iter()
                .any(|&(s, e)| (s..e).contains(&(at as u64)));
            if in_data {
                assert!(
                    outcome.is_err(),
                    "{}: flip at {at} not detected",
                    source.display()
                );
            }
        }
    }
}

/// Opens from memory, reads everything; `Err` on the first problem found.
fn exercise(bytes: Vec<u8>) -> inframed::Result<()> {
    let trx = TrxFile::from_zip_bytes("<fuzz>.trx", bytes)?;
    for a in trx.arrays() {
        trx.bytes(a)?;
    }
    for i in 0..trx.nb_streamlines() {
        trx.streamline(i)?;
    }
    trx.verify_checksums()?;
    if trx.header().json.contains_key("INFRAMED") {
        let store = TrxStore::from_file(trx)?;
        for info in store.catalog().signals() {
            for &pid in store.pids() {
                store.get_bytes(pid, info.sid)?;
            }
        }
        store.verify()?;
    }
    Ok(())
}

#[test]
fn patient_mapping_inconsistencies_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let golden = common::golden_repo();
    let out = dir.path().join("p.trx");
    trx::export(
        &golden,
        &out,
        &ExportOptions {
            dir: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut files = Files::new();
    read_tree(&out, "", &mut files);
    let open = |files: &Files| {
        let d = tempfile::tempdir().unwrap();
        let p = write_dir(d.path(), files);
        TrxStore::open(&p).and_then(|s| s.verify()).map(|_| ())
    };
    open(&files).unwrap();
    // Patients out of order: dps/patient entries 0 and last swapped.
    let mut f = files.clone();
    let pat = f.get_mut("dps/patient.uint32").unwrap();
    let n = pat.len();
    let first: [u8; 4] = pat[..4].try_into().unwrap();
    let last: [u8; 4] = pat[n - 4..].try_into().unwrap();
    pat[..4].copy_from_slice(&last);
    pat[n - 4..].copy_from_slice(&first);
    let err = open(&f).unwrap_err();
    assert!(
        matches!(trx_error(&err), TrxError::Mapping(m) if m.contains("not sorted")),
        "{err:?}"
    );
    // A signal id that is not in the catalog.
    let mut f = files.clone();
    f.get_mut("dps/signal.uint32").unwrap()[..4].copy_from_slice(&77777u32.to_le_bytes());
    let err = open(&f).unwrap_err();
    assert!(
        matches!(trx_error(&err), TrxError::Mapping(m) if m.contains("77777")),
        "{err:?}"
    );
    // A positions value that disagrees with the element bytes.
    let mut f = files.clone();
    f.get_mut("positions.3.float64").unwrap()[..8].copy_from_slice(&1.5f64.to_le_bytes());
    let err = open(&f).unwrap_err();
    assert!(
        matches!(trx_error(&err), TrxError::Mapping(m) if m.contains("positions column 0")),
        "{err:?}"
    );
    // The signal table and the series count disagree.
    let mut f = files.clone();
    let mut h: serde_json::Value = serde_json::from_slice(&f["header.json"]).unwrap();
    h["INFRAMED"]["signals"][0]["series"] = 0.into();
    f.insert("header.json".into(), serde_json::to_vec(&h).unwrap());
    let err = open(&f).unwrap_err();
    assert!(matches!(trx_error(&err), TrxError::Mapping(_)), "{err:?}");
    // A group that does not list its signal's series.
    let mut f = files.clone();
    let g = f.get_mut("groups/GENDER.uint32").unwrap();
    g.truncate(g.len() - 4);
    let err = open(&f).unwrap_err();
    assert!(
        matches!(trx_error(&err), TrxError::Mapping(m) if m.contains("group")),
        "{err:?}"
    );
    // The element array of the wrong type.
    let mut f = files.clone();
    rename(&mut f, "dpv/element_8.8.uint8", "dpv/element_8.2.float32");
    let err = open(&f).unwrap_err();
    assert!(matches!(trx_error(&err), TrxError::Mapping(_)), "{err:?}");
}
