//! The patient mapping: a repository exported as one `.iac` pack reads back through
//! `SignalStore` exactly as the original repository (the core conformance suite), for every
//! codec; damaged patient packs give errors naming the row; a proptest round trip against a
//! `BTreeMap` model.
#![cfg(feature = "iac")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use inframed::backend::iac::{
    self, build_pack, iac_error, Codec, IacError, IacStore, IpcTable, Pack, CATALOG_IN_KEY,
    CATALOG_KEY,
};
use inframed::backend::{self, Container, ExportOptions};
use inframed::catalog::{Catalog, CatalogTexts};
use inframed::store::StoreDescription;
use inframed::{Error, Pid, Repository, Sid, SignalStore, SignalStoreExt};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn export(codec: Option<&str>, dir: &Path) -> std::path::PathBuf {
    let out = dir.join(format!(
        "golden-{}.iac",
        codec.unwrap_or("default").replace(':', "_")
    ));
    let golden = common::golden_repo();
    let options = ExportOptions {
        codec: codec.map(str::to_string),
        ..Default::default()
    };
    backend::export(Container::Iac, &golden, &out, &options).unwrap();
    out
}

#[test]
fn golden_repository_round_trips_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let golden = common::golden_repo();
    for codec in [
        None,
        Some("none"),
        Some("brotli"),
        Some("brotli:5:18"),
        Some("zstd"),
        Some("zstd:3"),
    ] {
        let out = export(codec, dir.path());
        let repo = Repository::open(&out).unwrap();
        common::conformance(&repo, &golden);
        let pack = Pack::open(&out).unwrap();
        let records: usize = golden
            .catalog()
            .signals()
            .iter()
            .map(|s| {
                golden
                    .pids()
                    .iter()
                    .filter(|&&p| !golden.get_bytes(p, s.sid).unwrap().is_empty())
                    .count()
            })
            .sum();
        assert_eq!(
            pack.num_records(),
            records,
            "{codec:?}: one record per non-empty vector"
        );
        let want = Codec::parse(codec.unwrap_or("none")).unwrap();
        assert_eq!(pack.codec(), &want);
        // Zero-copy exactly when uncompressed.
        let (pid, sid) = first_record(&golden);
        let got = repo.get_bytes(pid, sid).unwrap();
        assert_eq!(
            matches!(got, Cow::Borrowed(_)),
            want.is_identity(),
            "{codec:?}"
        );
        assert!(repo.describe().format.contains("IatroCache"));
    }
}

fn first_record(store: &dyn SignalStore) -> (Pid, Sid) {
    for &p in store.pids() {
        for s in store.catalog().signals() {
            if !store.get_bytes(p, s.sid).unwrap().is_empty() {
                return (p, s.sid);
            }
        }
    }
    panic!("empty store")
}

#[test]
fn dictionaries_and_sets_travel_inside() {
    let dir = tempfile::tempdir().unwrap();
    let out = export(None, dir.path());
    let repo = Repository::open(&out).unwrap();
    let golden = common::golden_repo();
    let (a, b) = (repo.dictionaries().unwrap(), golden.dictionaries().unwrap());
    assert_eq!(a.sections().len(), b.sections().len());
    for (x, y) in a.sections().iter().zip(b.sections()) {
        assert_eq!(x.names(), y.names());
        for code in y.codes() {
            assert_eq!(x.names_of(code), y.names_of(code));
            for set in y.codes() {
                assert_eq!(x.in_set(code, set), y.in_set(code, set));
            }
        }
    }
    // The catalog sits in the header JSON for a repository this small.
    let pack = Pack::open(&out).unwrap();
    assert!(pack.header().contains_key(CATALOG_KEY));
    assert!(!pack.header().contains_key(CATALOG_IN_KEY));
}

/// A store that is the golden repository with a catalog too large for the 64 KiB header.
#[derive(Debug)]
struct BigCatalog {
    inner: Repository,
    catalog: Catalog,
}

impl SignalStore for BigCatalog {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn pids(&self) -> &[Pid] {
        self.inner.pids()
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> inframed::Result<Cow<'_, [u8]>> {
        self.inner.get_bytes(pid, sid)
    }
    fn describe(&self) -> StoreDescription {
        self.inner.describe()
    }
}

#[test]
fn a_catalog_too_large_for_the_header_goes_to_the_slide_table_metadata() {
    let inner = common::golden_repo();
    let mut texts: CatalogTexts = inner.catalog().to_texts().unwrap();
    let mut big = String::from("SECTION\tBIG_EXTRA\n");
    for code in 0..6000 {
        big.push_str(&format!(
            "DEF\t{}\tCODE_{code}_WITH_A_LONG_DESCRIPTION\n",
            100_000 + code
        ));
    }
    texts.dictionaries.push(("BIG_EXTRA".into(), big));
    let (catalog, _) = Catalog::from_texts(Path::new("big"), &texts).unwrap();
    let store = BigCatalog { inner, catalog };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.iac");
    iac::export(&store, &out, &ExportOptions::default()).unwrap();
    let pack = Pack::open(&out).unwrap();
    assert!(!pack.header().contains_key(CATALOG_KEY));
    assert!(pack
        .slide_table()
        .schema()
        .metadata()
        .contains_key(CATALOG_KEY));
    let repo = Repository::open(&out).unwrap();
    common::conformance(&repo, &store);
    let sec = repo.dictionaries().unwrap().section("BIG_EXTRA").unwrap();
    assert_eq!(sec.name(100_005), Some("CODE_5_WITH_A_LONG_DESCRIPTION"));
}

#[test]
fn other_payload_types_open_as_empty_stores_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("raw.iac");
    let z = std::fs::read(common::testdata("iac/quickstart.iac.zst")).unwrap();
    std::fs::write(&out, zstd::decode_all(&z[..]).unwrap()).unwrap();
    let repo = Repository::open(&out).unwrap();
    assert!(repo.pids().is_empty());
    assert!(repo.catalog().signals().is_empty());
    assert!(repo.warnings()[0].message.contains("raw_bytes"));
    repo.verify().unwrap();
}

// ---- damaged patient packs ----------------------------------------------------------------

/// Rewrites a sound exported pack with `edit` applied to its index columns / payloads.
fn rebuilt(
    src: &Path,
    out: &Path,
    edit: impl FnOnce(&mut Vec<u32>, &mut Vec<u32>, &mut Vec<u32>, &mut Vec<Vec<u8>>),
) {
    let pack = Pack::open(src).unwrap();
    let col = |n: &str| -> Vec<u32> {
        pack.index_table()
            .u64_column(n)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|x| x as u32)
            .collect()
    };
    let (mut p, mut s, mut n) = (col("pid"), col("sid"), col("n"));
    let mut payloads: Vec<Vec<u8>> = (0..pack.num_records())
        .map(|r| pack.read_stored(r).unwrap().to_vec())
        .collect();
    edit(&mut p, &mut s, &mut n, &mut payloads);
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("pid", Arc::new(UInt32Array::from(p))),
        ("sid", Arc::new(UInt32Array::from(s))),
        ("n", Arc::new(UInt32Array::from(n))),
    ];
    let index = IpcTable::from_batch(RecordBatch::try_from_iter(cols).unwrap());
    let mut header: Map<String, Value> = pack.header().clone();
    header.remove("num_records");
    build_pack(out, &header, pack.slide_table(), &index, &payloads, true).unwrap();
}

fn open_err(path: &Path) -> Error {
    IacStore::open(path).unwrap_err()
}

#[test]
fn inconsistent_patient_packs_are_errors_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let src = export(None, dir.path());
    let out = dir.path().join("bad.iac");

    rebuilt(&src, &out, |p, s, n, pl| {
        p.push(p[0]);
        s.push(s[0]);
        n.push(n[0]);
        pl.push(pl[0].clone());
    });
    let e = open_err(&out);
    assert!(
        matches!(
            iac_error(&e),
            Some(IacError::DuplicateRecord { first: 0, .. })
        ),
        "{e:?}"
    );

    rebuilt(&src, &out, |_, s, _, _| s[3] = 999_999);
    let e = open_err(&out);
    assert!(
        matches!(iac_error(&e), Some(IacError::UnknownKey { row: 3, .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("row 3"));

    rebuilt(&src, &out, |p, _, _, _| p[2] = 7);
    assert!(matches!(
        iac_error(&open_err(&out)),
        Some(IacError::UnknownKey { row: 2, .. })
    ));

    rebuilt(&src, &out, |_, _, n, _| n[1] += 1);
    assert!(matches!(
        iac_error(&open_err(&out)),
        Some(IacError::RecordLength { row: 1, .. })
    ));

    // Compressed: the decoded length is checked on read and by verify.
    let src_b = export(Some("brotli:5"), dir.path());
    rebuilt(&src_b, &out, |_, _, n, _| n[4] += 1);
    let store = IacStore::open(&out).unwrap();
    let row4 = first_rows(&store, 4);
    let e = store.get_bytes(row4.0, row4.1).unwrap_err();
    assert!(
        matches!(iac_error(&e), Some(IacError::RecordLength { row: 4, .. })),
        "{e:?}"
    );
    assert!(store.verify().is_err());

    // The header's schema version and catalog are required.
    let pack = Pack::open(&src).unwrap();
    for (key, value) in [
        ("inframed_schema_version", Value::from(2)),
        (CATALOG_KEY, Value::from("not a catalog")),
    ] {
        let mut header = pack.header().clone();
        header.insert(key.into(), value);
        header.remove("num_records");
        let payloads: Vec<Vec<u8>> = (0..pack.num_records())
            .map(|r| pack.read_stored(r).unwrap().to_vec())
            .collect();
        build_pack(
            &out,
            &header,
            pack.slide_table(),
            pack.index_table(),
            &payloads,
            true,
        )
        .unwrap();
        assert!(
            matches!(iac_error(&open_err(&out)), Some(IacError::Metadata(_))),
            "{key}"
        );
    }
}

fn first_rows(store: &IacStore, row: usize) -> (Pid, Sid) {
    let t = store.pack().index_table();
    let p = t.u64_column("pid").unwrap().unwrap()[row] as u32;
    let s = t.u64_column("sid").unwrap().unwrap()[row] as u32;
    (Pid(p), Sid(s))
}

#[test]
fn a_flipped_payload_byte_is_found_by_verify_not_by_get() {
    let dir = tempfile::tempdir().unwrap();
    for codec in ["none", "brotli", "zstd"] {
        let src = export(Some(codec), dir.path());
        let store = IacStore::open(&src).unwrap();
        let row = 5;
        let (offset, length) = store.pack().record_span(row).unwrap();
        assert!(length > 2);
        let at = store.pack().layout().data_offset + offset + length as u64 / 2;
        drop(store);
        let mut bytes = std::fs::read(&src).unwrap();
        bytes[at as usize] ^= 0x40;
        let bad = dir.path().join(format!("flipped-{codec}.iac"));
        std::fs::write(&bad, &bytes).unwrap();
        let store = IacStore::open(&bad).unwrap();
        let e = store.verify().unwrap_err();
        assert!(
            matches!(iac_error(&e), Some(IacError::Crc { row: 5, .. })),
            "{codec}: {e:?}"
        );
        assert!(e.to_string().contains("row 5"), "{e}");
        // Reads never check CRCs (as the original): codec none returns the flipped bytes.
        if codec == "none" {
            let (pid, sid) = first_rows(&store, row);
            assert!(store.get_bytes(pid, sid).is_ok());
        }
    }
}

// ---- proptest round trip against a BTreeMap model -------------------------------------------

const MODEL_SIGNALS: &str = "SIGNAL\tA\t1\t16:T(i),V(f)\tx\t0\t\t\n\
                             SIGNAL\tB\t7\t16:V(i)\tx\t0\t\t\n\
                             SIGNAL\tC\t9\t16:T(i,i),V(s,s,d)\tx\t000\t\t\n";

use common::ModelStore;

fn model_catalog() -> Catalog {
    let texts = CatalogTexts {
        time_unit: 1,
        signals: MODEL_SIGNALS.into(),
        dictionaries: vec![],
    };
    Catalog::from_texts(Path::new("model"), &texts).unwrap().0
}

/// Pids, records `(pid pick, signal pick, bytes)`, codec pick.
type Model = (Vec<u32>, Vec<(usize, u8, Vec<u8>)>, u8);

fn model() -> impl Strategy<Value = Model> {
    (
        proptest::collection::btree_set(1u32..5000, 0..12),
        proptest::collection::vec(
            (
                any::<usize>(),
                0u8..3,
                proptest::collection::vec(any::<u8>(), 0..200),
            ),
            0..30,
        ),
        0u8..4,
    )
        .prop_map(|(pids, recs, codec)| (pids.into_iter().collect(), recs, codec))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_store_round_trips((pids, recs, codec) in model()) {
        let catalog = model_catalog();
        let sigs: Vec<(Sid, usize)> = catalog
            .signals()
            .iter()
            .map(|s| (s.sid, s.layout.size()))
            .collect();
        let mut data = BTreeMap::new();
        if !pids.is_empty() {
            for (p, s, bytes) in recs {
                let pid = Pid(pids[p % pids.len()]);
                let (sid, size) = sigs[s as usize];
                let whole = bytes.len() / size * size;
                if whole > 0 {
                    data.insert((pid, sid), bytes[..whole].to_vec());
                }
            }
        }
        let store = ModelStore { catalog, pids: pids.iter().map(|&p| Pid(p)).collect(), data };
        let codec = ["none", "brotli:4:20", "zstd:1", "brotli"][codec as usize];
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.iac");
        let options = ExportOptions { codec: Some(codec.into()), ..ExportOptions::default() };
        iac::export(&store, &out, &options).unwrap();
        let back = IacStore::open(&out).unwrap();
        prop_assert_eq!(back.pids(), store.pids());
        prop_assert_eq!(back.pack().num_records(), store.data.len());
        for &(sid, _) in &sigs {
            for &pid in store.pids() {
                let want = store.get_bytes(pid, sid).unwrap();
                let got = back.get_bytes(pid, sid).unwrap();
                prop_assert_eq!(&got[..], &want[..]);
            }
            prop_assert!(back.get_bytes(Pid(u32::MAX), sid).unwrap().is_empty());
        }
        let unknown = matches!(back.get_bytes(Pid(1), Sid(2)), Err(Error::UnknownSid { .. }));
        prop_assert!(unknown);
        // Unsorted random bytes may fail the time-order check, never the container checks.
        back.pack().verify().unwrap();
        let _ = back.signal(Pid(1), Sid(1));
    }
}
