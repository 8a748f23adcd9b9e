//! The TRX container reader against files written by trx-python 0.6 (testdata/trx/, made by
//! make_fixtures.py) and what its loader returned for them (expected.json), without Python.
#![cfg(feature = "trx")]

mod common;

use std::borrow::Cow;
use std::path::PathBuf;

use inframed::backend::trx::{Dtype, Form, Role, TrxError, TrxFile, TrxWriter};
use serde_json::Value as Json;

fn expected() -> Json {
    let text = std::fs::read_to_string(common::testdata("trx/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture(name: &str) -> PathBuf {
    common::testdata(&format!("trx/{name}"))
}

fn numbers(v: &Json) -> Vec<f64> {
    let mut out = Vec::new();
    fn walk(v: &Json, out: &mut Vec<f64>) {
        match v {
            Json::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Json::Number(n) => out.push(n.as_f64().unwrap()),
            // Floats are stored as repr strings: Rust's parser is exact, serde_json's is not.
            Json::String(s) => out.push(s.parse().unwrap()),
            other => panic!("not a number: {other}"),
        }
    }
    walk(v, &mut out);
    out
}

fn dtype_name(d: Dtype) -> &'static str {
    // trx-python reports numpy's dtype.name: bool for `.bit`.
    match d {
        Dtype::Bool => "bool",
        other => other.name(),
    }
}

/// Every decoded array of `trx` equals what trx-python's loader returned.
fn compare(name: &str, trx: &TrxFile, want: &Json) {
    assert_eq!(
        trx.nb_vertices(),
        want["NB_VERTICES"].as_u64().unwrap(),
        "{name}"
    );
    assert_eq!(
        trx.nb_streamlines(),
        want["NB_STREAMLINES"].as_u64().unwrap(),
        "{name}"
    );
    let extra: Vec<&str> = want["extra_header_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for k in extra {
        assert!(trx.header().json.contains_key(k), "{name}: header key {k}");
    }
    let lengths: Vec<u64> = trx.lengths().unwrap();
    let want_lengths: Vec<u64> = numbers(&want["lengths"])
        .iter()
        .map(|&x| x as u64)
        .collect();
    assert_eq!(lengths, want_lengths, "{name} lengths");
    let offsets: Vec<u64> = (0..=trx.nb_streamlines())
        .map(|i| trx.offset(i).unwrap())
        .collect();
    if trx.nb_streamlines() > 0 {
        let want_offsets: Vec<u64> = numbers(&want["offsets"])
            .iter()
            .map(|&x| x as u64)
            .collect();
        assert_eq!(offsets, want_offsets, "{name} offsets");
        assert_eq!(
            dtype_name(trx.array("positions").unwrap().name.dtype),
            want["positions_dtype"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            dtype_name(trx.array("offsets").unwrap().name.dtype),
            want["offsets_dtype"].as_str().unwrap(),
            "{name}"
        );
    }
    for (i, s) in want["positions"].as_array().unwrap().iter().enumerate() {
        let got = trx.streamline(i as u64).unwrap().to_f64();
        assert_eq!(got, numbers(s), "{name} streamline {i}");
    }
    for (role, key) in [("dps", "dps"), ("dpv", "dpv")] {
        let want_arrays = want[key].as_object().unwrap();
        let got_count = trx
            .arrays()
            .iter()
            .filter(|a| a.key().starts_with(&format!("{role}/")))
            .count();
        assert_eq!(got_count, want_arrays.len(), "{name} {role} count");
        for (k, w) in want_arrays {
            let rows = if role == "dps" {
                trx.dps(k)
            } else {
                trx.dpv(k)
            }
            .unwrap();
            assert_eq!(
                dtype_name(rows.dtype),
                w["dtype"].as_str().unwrap(),
                "{name} {role}/{k}"
            );
            let a = trx.array(&format!("{role}/{k}")).unwrap();
            let shape: Vec<u64> = numbers(&w["shape"]).iter().map(|&x| x as u64).collect();
            assert_eq!(a.shape(), shape, "{name} {role}/{k} shape");
            assert_eq!(rows.to_f64(), numbers(&w["values"]), "{name} {role}/{k}");
        }
    }
    let want_groups = want["groups"].as_object().unwrap();
    assert_eq!(trx.group_names().len(), want_groups.len(), "{name} groups");
    for (g, w) in want_groups {
        let got: Vec<f64> = trx.group(g).unwrap().iter().map(|&x| x as f64).collect();
        assert_eq!(got, numbers(&w["values"]), "{name} group {g}");
        assert_eq!(
            trx.array(&format!("groups/{g}")).unwrap().name.dtype.name(),
            w["dtype"].as_str().unwrap()
        );
    }
    for (g, arrays) in want["dpg"].as_object().unwrap() {
        for (k, w) in arrays.as_object().unwrap() {
            let rows = trx.dpg(g, k).unwrap();
            assert_eq!(rows.to_f64(), numbers(&w["values"]), "{name} dpg/{g}/{k}");
            let a = trx.array(&format!("dpg/{g}/{k}")).unwrap();
            let shape: Vec<u64> = numbers(&w["shape"]).iter().map(|&x| x as u64).collect();
            assert_eq!(a.shape(), shape, "{name} dpg/{g}/{k} shape");
        }
    }
    if let Some(sel) = want.get("select_5_0_2_0") {
        let s = trx.select(&[5, 0, 2, 0]).unwrap();
        assert_eq!(s.len(), 4);
        for (j, p) in sel["positions"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                s.streamline(j).unwrap().to_f64(),
                numbers(p),
                "{name} select {j}"
            );
        }
        let groups = s.groups().unwrap();
        let want_groups = sel["groups"].as_object().unwrap();
        assert_eq!(groups.len(), want_groups.len(), "{name} select groups");
        for (g, members) in groups {
            let w: Vec<u64> = numbers(&want_groups[&g])
                .iter()
                .map(|&x| x as u64)
                .collect();
            assert_eq!(members, w, "{name} select group {g}");
        }
    }
}

#[test]
fn fixtures_decode_as_trx_python_loads_them() {
    let exp = expected();
    let fixtures = exp["fixtures"].as_object().unwrap();
    assert!(fixtures.len() >= 8);
    for (name, want) in fixtures {
        let trx = TrxFile::open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        compare(name, &trx, want);
        let form = trx.form();
        if name.ends_with("_dir") {
            assert_eq!(form, Form::Directory);
        } else if name.contains("deflate") {
            assert_eq!(form, Form::DeflateZip);
        } else {
            assert_eq!(form, Form::StoredZip, "{name}");
        }
        trx.verify_checksums().unwrap();
    }
}

#[test]
fn stray_member_is_a_warning_and_aliases_parse() {
    let trx = TrxFile::open(fixture("alias_names.trx")).unwrap();
    assert_eq!(trx.array("positions").unwrap().name.dtype, Dtype::F16);
    assert_eq!(trx.array("offsets").unwrap().name.dtype, Dtype::U32);
    assert_eq!(trx.warnings().len(), 1);
    assert!(trx.warnings()[0].message.contains("notes.txt"));
}

#[test]
fn stored_members_are_lent_in_place() {
    // Zero-copy: the positions slice of a stored zip points into the file's bytes at the member's
    // data offset (unaligned in trx-python's zips).
    let path = fixture("a_stored.trx");
    let file_bytes = std::fs::read(&path).unwrap();
    let trx = TrxFile::open(&path).unwrap();
    let a = trx.array("positions").unwrap();
    let bytes = trx.bytes(a).unwrap();
    let off = a.data_offset as usize;
    assert_eq!(bytes, &file_bytes[off..off + a.size as usize]);
    let s = trx.streamline(1).unwrap();
    let r = trx.streamline_range(1).unwrap();
    assert_eq!(
        s.bytes.as_ptr() as usize - bytes.as_ptr() as usize,
        r.start as usize * 6
    );
}

#[test]
fn numpy_dtype_strings_match_numpy() {
    // testdata/trx/numpy_dtypes.json: what np.dtype(ext) says for ~900 candidate extensions.
    let text = std::fs::read_to_string(common::testdata("trx/numpy_dtypes.json")).unwrap();
    let json: Json = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for (ext, want) in json["dtypes"].as_object().unwrap() {
        let got = Dtype::parse(ext);
        match want {
            Json::Null => assert!(
                got.is_err() || ext == "bit",
                "{ext:?} accepted, numpy rejects it"
            ),
            Json::Array(kv) => {
                let kind = kv[0].as_str().unwrap().chars().next().unwrap();
                let size = kv[1].as_u64().unwrap() as usize;
                if "biufc".contains(kind) {
                    let d = got.unwrap_or_else(|e| panic!("{ext:?}: {e}"));
                    assert_eq!((d.kind(), d.itemsize()), (kind, size), "{ext:?}");
                    checked += 1;
                } else {
                    assert!(got.is_err(), "{ext:?} is non-numeric ({kind})");
                }
            }
            _ => unreachable!(),
        }
    }
    assert!(checked > 200, "{checked}");
    assert_eq!(Dtype::parse("bit"), Ok(Dtype::Bool));
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A TRX with empty streamlines (first, middle, last): written and read back exactly, in each
/// form (trx-python's save would drop data here; ours must not).
#[test]
fn empty_streamlines_round_trip_in_every_form() {
    let lengths = [0u64, 2, 0, 0, 3, 0];
    let nv: u64 = lengths.iter().sum();
    let positions: Vec<f32> = (0..nv * 3).map(|i| i as f32 * 0.5 - 1.0).collect();
    let dir = tempfile::tempdir().unwrap();
    for (form, name) in [
        (Form::StoredZip, "e.trx"),
        (Form::DeflateZip, "e_deflate.trx"),
        (Form::Directory, "e_dir"),
    ] {
        let mut w = TrxWriter::new(lengths.len() as u64, nv);
        w.positions(Dtype::F32, f32_bytes(&positions)).unwrap();
        w.lengths(&lengths).unwrap();
        w.array(
            Role::Dps,
            "w",
            1,
            Dtype::F32,
            f32_bytes(&[1., 2., 3., 4., 5., 6.]),
        )
        .unwrap();
        w.array(Role::Dpv, "c", 2, Dtype::U8, vec![7u8; nv as usize * 2])
            .unwrap();
        w.group("odd", &[1, 3, 5]).unwrap();
        w.array(
            Role::Dpg("odd".into()),
            "m",
            1,
            Dtype::F32,
            f32_bytes(&[9.5]),
        )
        .unwrap();
        let out = dir.path().join(name);
        w.write(&out, form).unwrap();
        let trx = TrxFile::open(&out).unwrap();
        assert_eq!(trx.form(), form);
        assert_eq!(trx.lengths().unwrap(), lengths);
        assert_eq!(
            trx.positions().unwrap().to_f64(),
            positions.iter().map(|&x| x as f64).collect::<Vec<_>>()
        );
        assert!(trx.streamline(0).unwrap().is_empty());
        assert_eq!(trx.streamline(4).unwrap().len(), 3);
        assert_eq!(trx.dps("w").unwrap().to_f64()[5], 6.0);
        assert_eq!(trx.dpv_of("c", 1).unwrap().bytes, &[7u8; 4]);
        assert_eq!(trx.group("odd").unwrap(), [1, 3, 5]);
        assert_eq!(trx.dpg("odd", "m").unwrap().to_f64(), [9.5]);
        assert_eq!(trx.array("offsets").unwrap().name.dtype, Dtype::U32);
        trx.verify_checksums().unwrap();
        if form == Form::StoredZip {
            // Our stored members are 64-byte aligned.
            for a in trx.arrays() {
                assert_eq!(a.data_offset % 64, 0, "{}", a.member);
            }
        }
    }
}

/// The TRX reason of a writer's refusal (an `InputError::Trx`), panicking on anything else.
fn refusal<T: std::fmt::Debug>(r: inframed::Result<T>) -> TrxError {
    match r.unwrap_err() {
        inframed::Error::InvalidInput {
            source: inframed::InputError::Trx { source, .. },
        } => source,
        e => panic!("not a TRX input error: {e:?}"),
    }
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = TrxWriter::new(2, 3);
    assert_eq!(
        refusal(w.positions(Dtype::F32, Cow::Owned(vec![0u8; 35]))),
        TrxError::ArraySize {
            bytes: 35,
            expected: 36
        }
    );
    assert_eq!(
        refusal(w.lengths(&[1, 1])),
        TrxError::LastOffset {
            found: 2,
            expected: 3
        }
    );
    assert_eq!(
        refusal(w.lengths(&[1])),
        TrxError::Count {
            found: 1,
            expected: 2
        }
    );
    assert_eq!(
        refusal(w.group("g", &[2])),
        TrxError::GroupIndex {
            entry: 0,
            value: 2,
            nb_streamlines: 2
        }
    );
    assert_eq!(
        refusal(w.group("a.b", &[0])),
        TrxError::InvalidName("a.b".into())
    );
    assert_eq!(
        refusal(w.array(Role::Dps, "x.y", 1, Dtype::U8, vec![0u8; 2])),
        TrxError::InvalidName("x.y".into())
    );
    assert!(matches!(
        refusal(w.array(Role::Dps, "x", 1, Dtype::U8, vec![0u8; 3])),
        TrxError::ArraySize { bytes: 3, .. }
    ));
    assert!(w.array(Role::Dpv, "x", 2, Dtype::U8, vec![0u8; 6]).is_ok());
    assert_eq!(
        refusal(w.array(Role::Dpv, "x", 2, Dtype::U8, vec![0u8; 6])),
        TrxError::AddedTwice,
        "twice"
    );
    assert!(matches!(
        refusal(w.header_key("NB_VERTICES", Json::from(1))),
        TrxError::HeaderKey {
            key: "NB_VERTICES",
            ..
        }
    ));
    // A streamed array too large for u64 is refused, not overflowed.
    let mut huge = TrxWriter::new(1, u64::MAX);
    assert!(matches!(
        refusal(huge.positions_with(Dtype::F32, Box::new(|_| Ok(())))),
        TrxError::ArraySize { .. }
    ));
    let dir = tempfile::tempdir().unwrap();
    // Missing positions/offsets: nothing written.
    let out = dir.path().join("x.trx");
    assert_eq!(
        refusal(w.write(&out, Form::StoredZip)),
        TrxError::Missing("offsets")
    );
    assert!(!out.exists());
    let mut w = TrxWriter::new(1, 1);
    w.positions(Dtype::F32, f32_bytes(&[1., 2., 3.])).unwrap();
    w.lengths(&[1]).unwrap();
    w.array(Role::Dpg("nogroup".into()), "m", 1, Dtype::U8, vec![1u8])
        .unwrap();
    assert_eq!(
        refusal(w.write(&out, Form::StoredZip)),
        TrxError::UndeclaredGroup("nogroup".into()),
        "dpg without group"
    );
    assert!(!out.exists());
}

#[test]
fn empty_trx_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.trx");
    TrxWriter::new(0, 0).write(&out, Form::StoredZip).unwrap();
    let trx = TrxFile::open(&out).unwrap();
    assert_eq!((trx.nb_streamlines(), trx.nb_vertices()), (0, 0));
    assert!(trx.lengths().unwrap().is_empty());
    assert!(trx.streamline(0).is_err());
}
