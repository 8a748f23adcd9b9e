//! inframed reads the repository written by the original loader (medpython 1.2.1) exactly as
//! the original reader (`med.PidRepository.get_sig`) does: testdata/inframed/small/expected.json.

mod common;

use inframed::{layout::ChannelType, Pid, SignalStore, Value};
use serde_json::Value as Json;

fn expected() -> Json {
    let text = std::fs::read_to_string(common::testdata("inframed/small/expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn matches(v: Value, ty: ChannelType, want: &Json) -> bool {
    match ty {
        ChannelType::F32 => want.as_f64().is_some_and(|w| v == Value::F32(w as f32)),
        ChannelType::F64 => want.as_f64().is_some_and(|w| v == Value::F64(w)),
        _ => want.as_i64().is_some_and(|w| v.as_i64() == w),
    }
}

#[test]
fn pids_match_the_original_reader() {
    let repo = common::golden_repo();
    let want: Vec<u32> = expected()["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(repo.pids().iter().map(|p| p.0).collect::<Vec<_>>(), want);
}

#[test]
fn every_signal_matches_get_sig() {
    let repo = common::golden_repo();
    let exp = expected();
    let signals = exp["signals"].as_object().unwrap();
    assert_eq!(signals.len(), repo.catalog().signals().len());
    let mut compared = 0;
    for (name, s) in signals {
        let info = repo.catalog().signal(name).unwrap();
        assert_eq!(info.sid.0 as u64, s["sid"].as_u64().unwrap(), "{name}");
        let (tc, vc) = (info.layout.time_channels(), info.layout.value_channels());
        assert_eq!(
            tc.len() as u64,
            s["n_time_channels"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            vc.len() as u64,
            s["n_val_channels"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.time_unit.code() as i64,
            s["time_unit"].as_i64().unwrap(),
            "{name}"
        );
        // Rebuild get_sig's rows from inframed, pid by pid, and compare in order.
        let rows = s["rows"].as_array().unwrap();
        let mut got = Vec::new();
        for &pid in repo.pids() {
            let sig = repo.signal(pid, name).unwrap();
            for e in sig.iter() {
                let mut row = vec![(Value::Int(pid.0 as i64), ChannelType::I32)];
                row.extend(tc.iter().enumerate().map(|(c, ch)| (e.time(c), ch.ty)));
                row.extend(vc.iter().enumerate().map(|(c, ch)| (e.value(c), ch.ty)));
                got.push(row);
            }
        }
        assert_eq!(got.len(), rows.len(), "{name}: row count");
        for (i, (g, w)) in got.iter().zip(rows).enumerate() {
            let w = w.as_array().unwrap();
            assert_eq!(g.len(), w.len(), "{name} row {i}");
            for (c, ((v, ty), want)) in g.iter().zip(w).enumerate() {
                assert!(
                    matches(*v, *ty, want),
                    "{name} row {i} column {c}: {v} vs {want}"
                );
            }
            compared += 1;
        }
    }
    assert!(compared > 300, "compared {compared} rows");
}

#[test]
fn uget_samples_match() {
    let repo = common::golden_repo();
    let exp = expected();
    for (name, s) in exp["signals"].as_object().unwrap() {
        for u in s["uget"].as_array().into_iter().flatten() {
            let pid = Pid(u["pid"].as_u64().unwrap() as u32);
            let sig = repo.signal(pid, name).unwrap();
            assert_eq!(sig.len() as u64, u["len"].as_u64().unwrap(), "{name} {pid}");
            for (i, times) in u["times"].as_array().unwrap().iter().enumerate() {
                for (c, t) in times.as_array().unwrap().iter().enumerate() {
                    assert_eq!(sig.time(i, c).as_i64(), t.as_i64().unwrap());
                }
            }
            // uget's val() is a C float for every channel type.
            for (i, vals) in u["vals"].as_array().unwrap().iter().enumerate() {
                for (c, v) in vals.as_array().unwrap().iter().enumerate() {
                    assert_eq!(
                        sig.value(i, c).as_f64() as f32,
                        v.as_f64().unwrap() as f32,
                        "{name} {pid}"
                    );
                }
            }
        }
    }
}

#[test]
fn translated_names_are_the_joined_first_seen_names() {
    let repo = common::golden_repo();
    let exp = expected();
    for (name, t) in exp["translated"].as_object().unwrap() {
        let info = repo.catalog().signal(name).unwrap();
        let section = repo.section(name).unwrap();
        let vcol = info.layout.time_channels().len() + 1;
        let mut rows = Vec::new();
        for &pid in repo.pids() {
            for e in repo.signal(pid, info.sid).unwrap().iter() {
                rows.push((
                    pid.0 as u64,
                    section.names_of(e.value(0).as_i64() as i32).join("|"),
                ));
            }
        }
        for (i, w) in t["rows"].as_array().unwrap().iter().enumerate() {
            let w = w.as_array().unwrap();
            assert_eq!(rows[i].0, w[0].as_u64().unwrap());
            assert_eq!(rows[i].1, w[vcol].as_str().unwrap(), "{name} row {i}");
        }
    }
}

#[test]
fn dictionaries_match_the_original() {
    let repo = common::golden_repo();
    let text =
        std::fs::read_to_string(common::testdata("inframed/small/expected_dict.json")).unwrap();
    let exp: Json = serde_json::from_str(&text).unwrap();
    let dicts = repo.dictionaries().unwrap();
    for (name, id) in exp["section_id"].as_object().unwrap() {
        // The original maps an unknown section name to section 0.
        assert_eq!(
            dicts.section_id(name).unwrap_or(0) as i64,
            id.as_i64().unwrap(),
            "section {name}"
        );
    }
    for (sname, sec) in exp["sections"].as_object().unwrap() {
        let s = repo.section(sname).unwrap();
        for (name, code) in sec["id"].as_object().unwrap() {
            assert_eq!(
                s.code(name).unwrap_or(-1) as i64,
                code.as_i64().unwrap(),
                "{sname} {name}"
            );
        }
        for (code, name) in sec["name"].as_object().unwrap() {
            assert_eq!(
                s.name(code.parse().unwrap()).unwrap_or(""),
                name.as_str().unwrap(),
                "{sname} {code}"
            );
        }
        for (set, w) in sec["sets"].as_object().into_iter().flatten() {
            let names: Vec<&str> = set.split('+').collect();
            let lut = s.set_lookup_table(&names).unwrap();
            let want: Vec<i64> = w["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_i64().unwrap())
                .collect();
            let got: Vec<i64> = (0..w["lut_len"].as_i64().unwrap())
                .filter(|&c| lut.contains(c as i32))
                .collect();
            assert_eq!(got, want, "set {set}");
        }
    }
}

/// A model of the repository built from the original reader's rows (expected.json) alone:
/// each row's channels written into a zeroed element of the signal's layout. The catalog is
/// the repository's (its dictionaries are checked against the original separately, in
/// `dictionaries_match_the_original`).
fn model_from_expected(repo: &inframed::Repository) -> common::ModelStore {
    let exp = expected();
    let pids: Vec<Pid> = exp["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Pid(p.as_u64().unwrap() as u32))
        .collect();
    let mut data = std::collections::BTreeMap::new();
    for (name, s) in exp["signals"].as_object().unwrap() {
        let info = repo.catalog().signal(name).unwrap();
        let layout = &info.layout;
        let channels: Vec<_> = layout
            .time_channels()
            .iter()
            .chain(layout.value_channels())
            .cloned()
            .collect();
        for row in s["rows"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            let pid = Pid(row[0].as_u64().unwrap() as u32);
            let mut element = vec![0u8; layout.size()];
            for (ch, v) in channels.iter().zip(&row[1..]) {
                let value = match ch.ty {
                    ChannelType::F32 | ChannelType::F64 => Value::F64(v.as_f64().unwrap()),
                    _ => Value::Int(v.as_i64().unwrap()),
                };
                ch.ty.write(value, &mut element[ch.offset..]).unwrap();
            }
            data.entry((pid, info.sid))
                .or_insert_with(Vec::new)
                .extend_from_slice(&element);
        }
    }
    common::ModelStore {
        catalog: repo.catalog().clone(),
        pids,
        data,
    }
}

#[test]
fn conformance_of_the_native_store_against_the_original_readers_rows() {
    let repo = common::golden_repo();
    let model = model_from_expected(&repo);
    assert!(model.data.len() > 100, "{} vectors", model.data.len());
    common::conformance(&repo, &model);
    repo.verify().unwrap();
}

#[test]
fn a_signal_without_data_is_empty_everywhere() {
    let repo = common::golden_repo();
    for &pid in repo.pids() {
        assert!(repo.signal(pid, "Albumin").unwrap().is_empty());
    }
}
