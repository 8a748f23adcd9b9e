//! Property tests: `.idx` + `.data` written by inframed and read back through `NativeStore`
//! equal a `BTreeMap<Pid, Vec<element>>` model, for random pid sets and vector lengths.

use std::collections::BTreeMap;
use std::path::Path;

use inframed::native::write_index;
use inframed::native::write_pids;
use inframed::text::dict::Dictionaries;
use inframed::text::signals::SignalsFile;
use inframed::{Catalog, NativeStore, Pid, Sid, SignalStore, TimeUnit};
use proptest::prelude::*;

fn catalog() -> Catalog {
    let text = "SIGNAL\tA\t7\tT(i),V(f)\nSIGNAL\tB\t9\tT(i,i),V(i,i)\n";
    let s = SignalsFile::parse(Path::new("t.signals"), text, TimeUnit::Date).unwrap();
    Catalog::new(s, Dictionaries::default(), TimeUnit::Date).unwrap()
}

fn files(model: &BTreeMap<u32, Vec<u8>>, size: usize, sid: i32) -> (Vec<u8>, Vec<u8>) {
    let entries: Vec<(u32, u32)> = model
        .iter()
        .map(|(&p, v)| (p, (v.len() / size) as u32))
        .collect();
    let mut data = 1i32.to_le_bytes().to_vec();
    for v in model.values() {
        data.extend_from_slice(v);
    }
    (write_index(sid, size as u32, &entries), data)
}

fn model_strategy(size: usize) -> impl Strategy<Value = BTreeMap<u32, Vec<u8>>> {
    prop::collection::btree_map(
        // Dense small pids and sparse ones up to the original's MAX_PID_NUMBER (20M).
        prop_oneof![0u32..200, 0u32..20_000_000],
        (1usize..6).prop_flat_map(move |n| prop::collection::vec(any::<u8>(), n * size)),
        0..60,
    )
    .prop_map(move |mut m| {
        // Elements are time-sorted in a repository: sort by time channel 0 (first 4 bytes).
        for v in m.values_mut() {
            let mut e: Vec<Vec<u8>> = v.chunks(size).map(|c| c.to_vec()).collect();
            e.sort_by_key(|c| i32::from_le_bytes(c[..4].try_into().unwrap()));
            *v = e.concat();
        }
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn store_matches_model(a in model_strategy(8), b in model_strategy(16), probes in prop::collection::vec(any::<u32>(), 50)) {
        let (ia, da) = files(&a, 8, 7);
        let (ib, db) = files(&b, 16, 9);
        let mut pids: Vec<Pid> = a.keys().chain(b.keys()).map(|&p| Pid(p)).collect();
        pids.sort();
        pids.dedup();
        let store = NativeStore::from_bytes(catalog(), write_pids(&pids), vec![(Sid(7), ia, da), (Sid(9), ib, db)]).unwrap();
        for (model, sid) in [(&a, Sid(7)), (&b, Sid(9))] {
            for (&p, v) in model {
                prop_assert_eq!(&store.get_bytes(Pid(p), sid).unwrap()[..], &v[..]);
            }
            for &p in &probes {
                let want: &[u8] = model.get(&p).map_or(&[], |v| v);
                prop_assert_eq!(&store.get_bytes(Pid(p), sid).unwrap()[..], want);
            }
        }
        for (model, sid) in [(&a, Sid(7)), (&b, Sid(9))] {
            let mut seen = Vec::new();
            store.scan(sid, &mut |p, bytes| seen.push((p.0, bytes.to_vec()))).unwrap();
            let want: Vec<(u32, Vec<u8>)> = model.iter().map(|(&p, v)| (p, v.clone())).collect();
            prop_assert_eq!(seen, want);
        }
        store.verify().unwrap();
    }
}
