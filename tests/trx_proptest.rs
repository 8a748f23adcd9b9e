//! Round trips against a model: random containers (any lengths, empty streamlines, every form)
//! through `TrxWriter` → `TrxFile`, and random repositories (odd layouts, padding, extreme
//! values, patients without data) through `export` → `TrxStore`, compared with a BTreeMap.
#![cfg(feature = "trx")]

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use inframed::backend::trx::{self, Dtype, Form, Role, TrxFile, TrxStore, TrxWriter};
use inframed::backend::ExportOptions;
use inframed::catalog::{Catalog, CatalogTexts};
use inframed::{Error, Pid, Result, Sid, SignalStore};
use proptest::prelude::*;

fn form_of(k: u8) -> Form {
    match k % 3 {
        0 => Form::StoredZip,
        1 => Form::DeflateZip,
        _ => Form::Directory,
    }
}

fn encode(dtype: Dtype, v: f64) -> Vec<u8> {
    match dtype {
        Dtype::F16 => half::f16::from_f64(v).to_le_bytes().to_vec(),
        Dtype::F32 => (v as f32).to_le_bytes().to_vec(),
        _ => v.to_le_bytes().to_vec(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn container_round_trip(
        lengths in proptest::collection::vec(0u64..6, 0..12),
        pos_kind in 0u8..3,
        form in 0u8..3,
        seed in any::<u64>(),
    ) {
        let ns = lengths.len() as u64;
        let nv: u64 = lengths.iter().sum();
        let dtype = [Dtype::F16, Dtype::F32, Dtype::F64][pos_kind as usize];
        let values: Vec<f64> = (0..nv * 3).map(|i| ((i as f64) * 0.25 - 3.0) + (seed % 7) as f64).collect();
        let positions: Vec<u8> = values.iter().flat_map(|&v| encode(dtype, v)).collect();
        let dps: Vec<u8> = (0..ns).flat_map(|i| (i as i16 - 3).to_le_bytes()).collect();
        let dpv: Vec<u8> = (0..nv * 2).map(|i| (i as u8).wrapping_mul(seed as u8)).collect();
        let group: Vec<u64> = (0..ns).filter(|i| (seed >> (i % 64)) & 1 == 1).collect();
        let mut w = TrxWriter::new(ns, nv);
        w.positions(dtype, positions.clone()).unwrap();
        w.lengths(&lengths).unwrap();
        w.array(Role::Dps, "d", 1, Dtype::I16, dps.clone()).unwrap();
        w.array(Role::Dpv, "v", 2, Dtype::U8, dpv.clone()).unwrap();
        w.group("g", &group).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.trx");
        w.write(&out, form_of(form)).unwrap();
        let t = TrxFile::open(&out).unwrap();
        prop_assert_eq!(t.nb_streamlines(), ns);
        prop_assert_eq!(t.lengths().unwrap(), lengths.clone());
        if nv > 0 {
            prop_assert_eq!(t.bytes(t.array("positions").unwrap()).unwrap(), &positions[..]);
            prop_assert_eq!(t.bytes(t.array("dpv/v").unwrap()).unwrap(), &dpv[..]);
        }
        if ns > 0 {
            prop_assert_eq!(t.bytes(t.array("dps/d").unwrap()).unwrap(), &dps[..]);
        }
        prop_assert_eq!(t.group("g").unwrap(), group);
        let mut at = 0u64;
        for (i, &l) in lengths.iter().enumerate() {
            let s = t.streamline(i as u64).unwrap();
            prop_assert_eq!(s.len() as u64, l);
            let want = &positions[(at * 3) as usize * dtype.itemsize()..((at + l) * 3) as usize * dtype.itemsize()];
            prop_assert_eq!(s.bytes, want);
            prop_assert_eq!(t.dpv_of("v", i as u64).unwrap().bytes, &dpv[(at * 2) as usize..((at + l) * 2) as usize]);
            at += l;
        }
        t.verify_checksums().unwrap();
    }
}

/// An in-memory repository: the model.
#[derive(Debug)]
struct Model {
    catalog: Catalog,
    pids: Vec<Pid>,
    data: BTreeMap<(Pid, Sid), Vec<u8>>,
}

impl SignalStore for Model {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn pids(&self) -> &[Pid] {
        &self.pids
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(
            self.data.get(&(pid, sid)).map_or(&[][..], |v| &v[..]),
        ))
    }
}

/// Layouts with odd channel types, padding and no time / no value channels.
const SPECS: [&str; 7] = [
    "T(l),V(ul)",
    "V(d,d,d)",
    "T(i),p,p,p,p,V(s,s,s,s)",
    "T(us),V(c,uc)",
    "T(i,i)",
    "T(i),V(f)",
    "V(i)",
];

/// Per signal: a layout index into `SPECS` and `(pid, raw elements)` pairs.
type SignalPlan = (usize, Vec<(u32, Vec<Vec<u8>>)>);

fn model(signals: &[SignalPlan], extra_pids: &[u32]) -> Model {
    let mut text = String::new();
    for (k, (spec, _)) in signals.iter().enumerate() {
        text.push_str(&format!(
            "SIGNAL\tS{k}.x/{k}\t{}\t16:{}\tgenerated\t\t\n",
            100 + k * 7,
            SPECS[*spec]
        ));
    }
    let texts = CatalogTexts {
        time_unit: 1,
        signals: text,
        dictionaries: Vec::new(),
    };
    let (catalog, _) = Catalog::from_texts(Path::new("<model>"), &texts).unwrap();
    let mut data = BTreeMap::new();
    let mut pids: Vec<Pid> = extra_pids.iter().map(|&p| Pid(p)).collect();
    for (info, (_, per_pid)) in catalog.signals().iter().zip(signals) {
        let size = info.layout.size();
        for (pid, elems) in per_pid {
            if elems.is_empty() {
                continue;
            }
            let mut elems: Vec<Vec<u8>> = elems.iter().map(|e| e[..size].to_vec()).collect();
            elems.sort_by(|a, b| info.layout.cmp_time(a, b));
            data.insert((Pid(*pid), info.sid), elems.concat());
            pids.push(Pid(*pid));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Model {
        catalog,
        pids,
        data,
    }
}

fn element() -> impl Strategy<Value = Vec<u8>> {
    // 24 random bytes (the largest layout above), with extremes likely.
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()],
        24,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn repository_round_trip(
        signals in proptest::collection::vec(
            (0usize..SPECS.len(),
             proptest::collection::vec((0u32..40, proptest::collection::vec(element(), 0..4)), 0..6)),
            1..5),
        extra_pids in proptest::collection::vec(any::<u32>(), 0..3),
        form in 0u8..3,
    ) {
        let m = model(&signals, &extra_pids);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.trx");
        let options = ExportOptions {
            deflate: form == 1,
            dir: form == 2,
            ..Default::default()
        };
        trx::export(&m, &out, &options).unwrap();
        let store = TrxStore::open(&out).unwrap();
        prop_assert_eq!(store.pids(), m.pids.as_slice());
        for info in m.catalog.signals() {
            for &pid in &m.pids {
                let got = store.get_bytes(pid, info.sid).unwrap();
                let want = m.get_bytes(pid, info.sid).unwrap();
                prop_assert_eq!(&got[..], &want[..], "pid {} {}", pid, info.name);
            }
        }
        let unknown = matches!(store.get_bytes(Pid(0), Sid(1)), Err(Error::UnknownSid { .. }));
        prop_assert!(unknown, "unknown sid must be an error");
        store.verify().unwrap();
    }
}
