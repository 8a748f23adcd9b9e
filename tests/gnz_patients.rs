//! The patient mapping: a repository exported to GNZ serves exactly what the original tools'
//! repository serves (conformance suite), damage is reported, and proptest round trips.
#![cfg(feature = "gnz")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inframed::backend::gnz::{self, GnzError, GnzFile, GnzStore, GnzWriter, MAPPING_FORMAT};
use inframed::catalog::CatalogTexts;
use inframed::{Catalog, Error, FormatError, Pid, Repository, Sid, SignalStore};
use serde_json::Value as Json;

fn export_golden(dir: &Path) -> PathBuf {
    let out = dir.join("small.gnz");
    gnz::export(&common::golden_repo(), &out, &Default::default()).unwrap();
    out
}

#[test]
fn exported_golden_repository_passes_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path());
    let golden = common::golden_repo();
    let repo = Repository::open(&out).unwrap();
    common::conformance(&repo, &golden);
    let store = GnzStore::open(&out).unwrap();
    common::conformance(&store, &golden);
    // From memory as well (the buffer is not page-aligned: lookups must not rely on it).
    let mem = GnzStore::from_bytes(std::fs::read(&out).unwrap()).unwrap();
    common::conformance(&mem, &golden);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn get_is_zero_copy_from_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path());
    let store = GnzStore::open(&out).unwrap();
    let file = store.file();
    let bp = store.catalog().signal("BP").unwrap().sid;
    let got = store.get_bytes(Pid(1025), bp).unwrap();
    let Cow::Borrowed(slice) = got else {
        panic!("copied")
    };
    let elements = file.raw("BP.elements").unwrap();
    let range = elements.as_ptr_range();
    assert!(
        range.contains(&slice.as_ptr()),
        "borrowed from the elements array"
    );
    assert_eq!(slice.len(), 8 * 8, "8 BP elements of 8 bytes for pid 1025");
}

#[test]
fn layout_of_the_exported_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = export_golden(dir.path());
    let golden = common::golden_repo();
    let f = GnzFile::open(&out).unwrap();
    let m = &f.metadata()["inframed"];
    assert_eq!(m["format"], MAPPING_FORMAT);
    // The catalog texts travel inside and rebuild the same catalog.
    let texts: CatalogTexts = serde_json::from_value(m["catalog"].clone()).unwrap();
    assert_eq!(texts, golden.catalog().to_texts().unwrap());
    let signals = m["signals"].as_array().unwrap();
    assert_eq!(signals.len(), golden.catalog().signals().len());
    let pids = f.array::<i32>("pids").unwrap();
    let golden_pids: Vec<i32> = golden.pids().iter().map(|p| p.0 as i32).collect();
    assert_eq!(&pids[..], &golden_pids[..]);
    for (s, info) in signals.iter().zip(golden.catalog().signals()) {
        let name = &info.name;
        assert_eq!(s["name"], name.as_str());
        let fields: Vec<(String, String)> = s["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f[0].as_str().unwrap().to_string(),
                    f[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(fields, info.layout.numpy_fields(), "{name}");
        let size = info.layout.size();
        let el = f.info(&format!("{name}.elements")).unwrap();
        assert_eq!(el.dtype.as_str(), format!("|V{size}"));
        assert_eq!(
            f.info(&format!("{name}.pids")).unwrap().dtype.as_str(),
            "<i4"
        );
        assert_eq!(
            f.info(&format!("{name}.starts")).unwrap().dtype.as_str(),
            "<u8"
        );
        // pids + starts describe exactly the native vectors.
        let sp = f.array::<i32>(&format!("{name}.pids")).unwrap();
        let st = f.array::<u64>(&format!("{name}.starts")).unwrap();
        let raw = f.raw(&format!("{name}.elements")).unwrap();
        let with_data: Vec<i32> = golden
            .pids()
            .iter()
            .filter(|&&p| !golden.get_bytes(p, info.sid).unwrap().is_empty())
            .map(|p| p.0 as i32)
            .collect();
        assert_eq!(&sp[..], &with_data[..], "{name}");
        assert_eq!(st.len(), sp.len() + 1);
        for (i, &p) in sp.iter().enumerate() {
            let want = golden.get_bytes(Pid(p as u32), info.sid).unwrap();
            let got = &raw[st[i] as usize * size..st[i + 1] as usize * size];
            assert_eq!(got, &want[..], "{name} pid {p}");
        }
    }
    // The empty signal has empty arrays, not missing ones.
    let albumin = f.info("Albumin.elements").unwrap();
    assert_eq!(albumin.shape, vec![0]);
}

/// Rewrites a GNZ file through `edit(name, dtype, shape, bytes)` and a metadata edit.
fn rewrite(
    src: &Path,
    dst: &Path,
    edit: impl Fn(&str, &mut String, &mut Vec<u64>, &mut Vec<u8>),
    edit_meta: impl Fn(&mut serde_json::Map<String, Json>),
) {
    let f = GnzFile::open(src).unwrap();
    let mut w = GnzWriter::new();
    let mut meta = f.metadata().clone();
    edit_meta(&mut meta);
    w.set_metadata(meta);
    for a in f.arrays() {
        let (mut dtype, mut shape, mut bytes) = (
            a.dtype.as_str().to_string(),
            a.shape.clone(),
            f.raw(&a.name).unwrap().to_vec(),
        );
        edit(&a.name, &mut dtype, &mut shape, &mut bytes);
        w.add_array(&a.name, &dtype, &shape, a.order, bytes)
            .unwrap();
    }
    let fw = w.create(dst).unwrap();
    fw.commit().unwrap();
}

fn gnz_error(e: &Error) -> &GnzError {
    match e.format_error() {
        Some(FormatError::Gnz(e)) => e,
        _ => panic!("not a Gnz error: {e:?}"),
    }
}

fn backend_context(e: &Error) -> &str {
    match e {
        Error::Format { context, .. } => context,
        other => panic!("not a backend error: {other}"),
    }
}

#[test]
fn inconsistent_mappings_are_rejected_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let good = export_golden(dir.path());
    let bad = dir.path().join("bad.gnz");
    let no_meta = |_: &mut serde_json::Map<String, Json>| {};
    let no_edit = |_: &str, _: &mut String, _: &mut Vec<u64>, _: &mut Vec<u8>| {};

    // Element dtype that is not the layout's size (same byte count: 8 × |V8 = 4 × |V16).
    rewrite(
        &good,
        &bad,
        |n, d, s, _| {
            if n == "BP.elements" {
                *d = "|V16".into();
                s[0] /= 2;
            }
        },
        no_meta,
    );
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(
        matches!(gnz_error(&e), GnzError::MappingArray { expected, found }
            if expected.starts_with("|V8") && found.starts_with("|V16")),
        "{e}"
    );
    assert_eq!(backend_context(&e), "array \"BP.elements\"");

    // starts of the wrong length.
    rewrite(
        &good,
        &bad,
        |n, _, s, b| {
            if n == "Weight.starts" {
                s[0] -= 1;
                b.truncate(b.len() - 8);
            }
        },
        no_meta,
    );
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(
        matches!(gnz_error(&e), GnzError::MappingArray { .. }),
        "{e}"
    );
    assert_eq!(backend_context(&e), "array \"Weight.starts\"");

    // pids stored as another dtype.
    rewrite(
        &good,
        &bad,
        |n, d, _, _| {
            if n == "GENDER.pids" {
                *d = "<u4".into();
            }
        },
        no_meta,
    );
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(
        matches!(gnz_error(&e), GnzError::MappingArray { .. }),
        "{e}"
    );

    // Last start that does not cover every element.
    rewrite(
        &good,
        &bad,
        |n, _, _, b| {
            if n == "Hemoglobin.starts" {
                let l = b.len();
                let last = u64::from_le_bytes(b[l - 8..].try_into().unwrap());
                b[l - 8..].copy_from_slice(&(last - 1).to_le_bytes());
            }
        },
        no_meta,
    );
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(
        matches!(
            gnz_error(&e),
            GnzError::MappingField {
                field: "last start",
                ..
            }
        ),
        "{e}"
    );
    assert!(backend_context(&e).starts_with("array \"Hemoglobin.starts\" element"));

    // A missing array.
    let f = GnzFile::open(&good).unwrap();
    let mut w = GnzWriter::new();
    w.set_metadata(f.metadata().clone());
    for a in f.arrays().iter().filter(|a| a.name != "DEATH.pids") {
        w.add_array(
            &a.name,
            a.dtype.as_str(),
            &a.shape,
            a.order,
            f.raw(&a.name).unwrap(),
        )
        .unwrap();
    }
    w.create(&bad).unwrap().commit().unwrap();
    let e = GnzStore::open(&bad).unwrap_err();
    assert_eq!(gnz_error(&e), &GnzError::NoSuchArray("DEATH.pids".into()));

    // Metadata: no mapping, another version, a signal whose sid disagrees with the catalog.
    rewrite(&good, &bad, no_edit, |m| {
        m.remove("inframed");
    });
    let e = GnzStore::open(&bad).unwrap_err();
    assert_eq!(gnz_error(&e), &GnzError::NotAPatientFile);
    assert!(matches!(
        Repository::open(&bad).unwrap_err(),
        Error::Format { .. }
    ));
    rewrite(&good, &bad, no_edit, |m| {
        m.get_mut("inframed").unwrap()["version"] = Json::from(2);
    });
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(matches!(gnz_error(&e), GnzError::MappingVersion(_)), "{e}");
    rewrite(&good, &bad, no_edit, |m| {
        m.get_mut("inframed").unwrap()["signals"][4]["sid"] = Json::from(501);
    });
    let e = GnzStore::open(&bad).unwrap_err();
    assert_eq!(gnz_error(&e), &GnzError::SignalMismatch("BP".into()));
    rewrite(&good, &bad, no_edit, |m| {
        m.get_mut("inframed").unwrap()["catalog"]["signals"] =
            Json::from("SIGNAL\tX\tnot-a-sid\t1\n");
    });
    assert!(matches!(
        GnzStore::open(&bad).unwrap_err(),
        Error::Parse { .. }
    ));
    rewrite(&good, &bad, no_edit, |m| {
        m.get_mut("inframed").unwrap()["catalog"] = Json::from(3);
    });
    let e = GnzStore::open(&bad).unwrap_err();
    assert!(matches!(gnz_error(&e), GnzError::Json(_)), "{e}");
}

/// Offset of `name`'s bytes in the file.
fn offset_of(path: &Path, name: &str) -> usize {
    GnzFile::open(path).unwrap().info(name).unwrap().offset as usize
}

#[test]
fn damaged_data_is_found_by_verify_and_never_panics_get() {
    let dir = tempfile::tempdir().unwrap();
    let good = export_golden(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let golden = common::golden_repo();
    let bp = golden.catalog().signal("BP").unwrap().sid;
    let hgb = golden.catalog().signal("Hemoglobin").unwrap().sid;

    // 1. Two signal pids swapped: not ascending.
    let mut b = bytes.clone();
    let at = offset_of(&good, "BP.pids");
    let (x, y) = (b[at..at + 4].to_vec(), b[at + 4..at + 8].to_vec());
    b[at..at + 4].copy_from_slice(&y);
    b[at + 4..at + 8].copy_from_slice(&x);
    let s = GnzStore::from_bytes(b).unwrap();
    let e = s.verify().unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt { offset, source: inframed::DecodeError::NotAscending { .. }, .. } if *offset == at as u64 + 4),
        "{e}"
    );

    // 2. A middle start beyond the elements: get_bytes errs (no panic), verify names it.
    let mut b = bytes.clone();
    let at = offset_of(&good, "Hemoglobin.starts");
    b[at + 8..at + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    let s = GnzStore::from_bytes(b).unwrap();
    let first = Pid(GnzFile::open(&good)
        .unwrap()
        .array::<i32>("Hemoglobin.pids")
        .unwrap()[0] as u32);
    let e = s.get_bytes(first, hgb).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt { offset, .. } if *offset == at as u64),
        "{e}"
    );
    let e = s.verify().unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt { offset, .. } if *offset == at as u64 + 8),
        "{e}"
    );

    // 3. Two elements of one patient out of time order.
    let mut b = bytes.clone();
    let at = offset_of(&good, "BP.elements");
    // pid 1025's BP elements 6 and 7 have dates 20120217 < 20180207: swap them.
    let (e6, e7) = (at + 6 * 8, at + 7 * 8);
    let (x, y) = (b[e6..e6 + 8].to_vec(), b[e7..e7 + 8].to_vec());
    b[e6..e6 + 8].copy_from_slice(&y);
    b[e7..e7 + 8].copy_from_slice(&x);
    let s = GnzStore::from_bytes(b).unwrap();
    let e = s.verify().unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt { offset, .. } if *offset == e7 as u64),
        "{e}"
    );
    assert!(
        matches!(
            std::error::Error::source(&e).and_then(|s| s.downcast_ref::<inframed::DecodeError>()),
            Some(inframed::DecodeError::TimeOrder { pid: 1025, sid, element: 7 }) if *sid == bp.0
        ),
        "{e}"
    );

    // 4. A signal pid missing from the global list.
    let mut b = bytes.clone();
    let at = offset_of(&good, "GENDER.pids");
    b[at..at + 4].copy_from_slice(&7i32.to_le_bytes());
    let s = GnzStore::from_bytes(b).unwrap();
    assert!(
        matches!(s.verify().unwrap_err(), Error::Corrupt { offset, .. } if offset == at as u64)
    );

    // 5. Every byte of the arrays flipped in turn: open, get and verify never panic.
    let data_start = GnzFile::open(&good).unwrap().data_start() as usize;
    let sids: Vec<Sid> = golden.catalog().signals().iter().map(|s| s.sid).collect();
    for i in (data_start..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        if let Ok(s) = GnzStore::from_bytes(b) {
            for &sid in &sids {
                for &p in golden.pids().iter().step_by(5) {
                    let _ = s.get_bytes(p, sid);
                }
            }
            let _ = s.verify();
        }
    }
    // And the header: every byte flipped.
    let header_end = 8 + GnzFile::open(&good).unwrap().header_len() as usize;
    for i in (0..header_end).step_by(3) {
        let mut b = bytes.clone();
        b[i] ^= 0x5A;
        if let Ok(s) = GnzStore::from_bytes(b) {
            let _ = s.get_bytes(Pid(1025), bp);
            let _ = s.verify();
        }
    }
    // Truncated anywhere: an error at open.
    for cut in [7, 100, header_end - 1, data_start + 1, bytes.len() - 4097] {
        assert!(
            GnzStore::from_bytes(bytes[..cut].to_vec()).is_err(),
            "cut {cut}"
        );
    }
}

use common::ModelStore;

fn model_catalog() -> Catalog {
    let texts = CatalogTexts {
        time_unit: 1,
        signals: "SIGNAL\tLab\t10\t16:T(i),V(f)\tlabs\t0\n\
                  SIGNAL\tPair\t11\t16:T(i,i),V(s,s,d)\tx\t00\n\
                  SIGNAL\tFlag\t12\t16:V(c)\tx\t0\n\
                  SIGNAL\tWide\t99999\t16:T(l),p,p,p,V(ul)\tx\t0\n"
            .into(),
        dictionaries: vec![(
            "Lab".into(),
            "SECTION\tLab\nDEF\t1\tcaf\u{e9} \u{2615}\n".into(),
        )],
    };
    Catalog::from_texts(Path::new("<model>"), &texts).unwrap().0
}

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    fn model() -> impl Strategy<Value = (Vec<u32>, Vec<Vec<u8>>)> {
        (
            prop::collection::btree_set(0u32..5000, 0..40),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..4), 0..160),
        )
            .prop_map(|(pids, seeds)| (pids.into_iter().collect(), seeds))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn export_then_open_gives_the_model((pids, seeds) in model()) {
            let catalog = model_catalog();
            let mut data = BTreeMap::new();
            let infos: Vec<_> = catalog.signals().to_vec();
            for (k, seed) in seeds.iter().enumerate() {
                if pids.is_empty() { break; }
                let pid = Pid(pids[k % pids.len()]);
                let info = &infos[k % infos.len()];
                let size = info.layout.size();
                // Elements with ascending time channel 0 (and arbitrary other bytes).
                let v: &mut Vec<u8> = data.entry((pid, info.sid)).or_default();
                for &s in seed {
                    let mut e = vec![s; size];
                    if !info.layout.time_channels().is_empty() {
                        let t = (v.len() / size) as u32; // element index: ascending
                        e[..4].copy_from_slice(&t.to_le_bytes());
                        if size >= 8 && info.layout.time_channels()[0].ty.size() == 8 {
                            e[..8].copy_from_slice(&(t as u64).to_le_bytes());
                        }
                    }
                    v.extend_from_slice(&e);
                }
            }
            let store = ModelStore { catalog, pids: pids.iter().map(|&p| Pid(p)).collect(), data };
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("m.gnz");
            gnz::export(&store, &out, &Default::default()).unwrap();
            let back = GnzStore::open(&out).unwrap();
            prop_assert_eq!(back.pids(), store.pids());
            prop_assert_eq!(back.catalog().to_texts().unwrap(), store.catalog().to_texts().unwrap());
            for info in store.catalog().signals() {
                for &p in store.pids() {
                    let want = store.get_bytes(p, info.sid).unwrap();
                    prop_assert_eq!(&back.get_bytes(p, info.sid).unwrap()[..], &want[..]);
                }
                prop_assert!(back.get_bytes(Pid(5001), info.sid).unwrap().is_empty());
            }
            prop_assert!(back.verify().is_ok());
        }
    }
}

#[test]
fn pids_beyond_i32_are_refused_on_export() {
    let store = ModelStore {
        catalog: model_catalog(),
        pids: vec![Pid(1), Pid(u32::MAX)],
        data: BTreeMap::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.gnz");
    let e = gnz::export(&store, &out, &Default::default()).unwrap_err();
    assert_eq!(gnz_error(&e), &GnzError::PidOutOfRange(u32::MAX));
    assert!(!out.exists());
}
