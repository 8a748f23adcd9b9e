//! Round trips of every native layout against a `BTreeMap<(Pid, Sid), Vec<u8>>` model:
//! MODE 3, the by-pid transpose, and MODE 0 (full), 1 (stripped, two files), 2 (full and
//! stripped). About 64 cases each.

use std::collections::BTreeMap;
use std::path::Path;

use inframed::catalog::CatalogTexts;
use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::native::transpose::TransposeStore;
use inframed::native::RepositoryWriter;
use inframed::{Catalog, Pid, Repository, Sid, SignalStore};
use proptest::prelude::*;

type Model = BTreeMap<(Pid, Sid), Vec<u8>>;

/// (sid, spec, element size, time channel: (offset, bytes) or none).
const SIGNALS: &[(u32, &str, usize, Option<usize>)] = &[
    (100, "V(i)", 4, None),
    (1000, "T(i),V(f)", 8, Some(4)),
    (2003, "T(i,i),V(i,i)", 16, Some(4)),
    (2010, "T(i),V(f,us),p,p", 12, Some(4)),
    (3000, "T(l),V(f),p,p,p,p", 16, Some(8)),
    (500, "T(i),V(s,s)", 8, Some(4)),
    (777, "T(i),V(f)", 8, Some(4)),
];

fn catalog() -> Catalog {
    let mut text = String::new();
    for (sid, spec, _, _) in SIGNALS {
        text.push_str(&format!("SIGNAL\tS{sid}\t{sid}\t16:{spec}\tprop\t0\t\n"));
    }
    let texts = CatalogTexts {
        time_unit: 1,
        signals: text,
        dictionaries: Vec::new(),
    };
    Catalog::from_texts(Path::new("prop"), &texts).unwrap().0
}

/// One vector: 1–4 elements, times ascending (as stored), other bytes arbitrary.
fn vector(size: usize, time: Option<usize>) -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(prop::collection::vec(any::<u8>(), size), 1..5),
        prop::collection::vec(0i64..50_000_000, 4),
    )
        .prop_map(move |(mut elems, mut times)| {
            times.sort_unstable();
            if let Some(t) = time {
                for (e, &t_) in elems.iter_mut().zip(&times) {
                    e[..t].copy_from_slice(&t_.to_le_bytes()[..t]);
                }
            }
            elems.concat()
        })
}

fn model() -> impl Strategy<Value = Model> {
    let pid = prop_oneof![
        4 => 0u32..3000,
        1 => 0u32..2_500_000,
    ];
    let entry = (pid, 0..SIGNALS.len()).prop_flat_map(|(pid, i)| {
        let (sid, _, size, time) = SIGNALS[i];
        vector(size, time).prop_map(move |v| ((Pid(pid), Sid(sid)), v))
    });
    prop::collection::btree_map(entry.prop_map(|(k, v)| (k, v)), Just(()), 0..40)
        .prop_map(|m| m.into_keys().collect())
}

fn check(store: &dyn SignalStore, model: &Model, all_pids: &[Pid]) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.pids(), all_pids);
    for &pid in all_pids {
        for (sid, ..) in SIGNALS {
            let got = store.get_bytes(pid, Sid(*sid)).unwrap();
            let want = model.get(&(pid, Sid(*sid))).map_or(&[][..], |v| &v[..]);
            prop_assert_eq!(&got[..], want, "pid {} sid {}", pid, sid);
        }
    }
    store.verify().unwrap();
    Ok(())
}

fn write_mode3(
    model: &Model,
    extra_pid: Option<Pid>,
    transpose: bool,
    dir: &Path,
) -> std::path::PathBuf {
    let mut w = RepositoryWriter::new("prop", catalog()).unwrap();
    for ((pid, sid), v) in model {
        w.add(*pid, *sid, v).unwrap();
    }
    if let Some(p) = extra_pid {
        w.add_pid(p).unwrap();
    }
    w.options_mut().transpose = transpose;
    w.write(&dir.join("prop")).unwrap()
}

fn pids_of(model: &Model, extra: Option<Pid>) -> Vec<Pid> {
    let mut v: Vec<Pid> = model.keys().map(|k| k.0).chain(extra).collect();
    v.sort_unstable();
    v.dedup();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mode3_round_trip(model in model(), extra in prop::option::of(0u32..4000)) {
        let d = tempfile::tempdir().unwrap();
        let extra = extra.map(Pid);
        let config = write_mode3(&model, extra, false, d.path());
        let repo = Repository::open(&config).unwrap();
        check(&repo, &model, &pids_of(&model, extra))?;
    }

    #[test]
    fn transpose_round_trip(model in model(), extra in prop::option::of(0u32..4000)) {
        let d = tempfile::tempdir().unwrap();
        let extra = extra.map(Pid);
        let config = write_mode3(&model, extra, true, d.path());
        let store = TransposeStore::open(&config).unwrap();
        let pids = pids_of(&model, extra);
        check(&store, &model, &pids)?;
        let repo = Repository::open(&config).unwrap();
        for &pid in &pids {
            let rec = repo.patient(pid).unwrap();
            prop_assert!(rec.is_borrowed());
            let want: Vec<(Sid, &[u8])> = model
                .range((pid, Sid(0))..=(pid, Sid(u32::MAX)))
                .map(|((_, s), v)| (*s, &v[..]))
                .collect();
            let got: Vec<(Sid, &[u8])> = rec.signals().iter().map(|(s, v)| (*s, &v[..])).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn legacy_round_trip(model in model(), variant in 0usize..4) {
        let d = tempfile::tempdir().unwrap();
        let config = write_mode3(&model, None, false, d.path());
        let source = Repository::open(&config).unwrap();
        let (mode, full) = [(0, true), (1, false), (2, true), (2, false)][variant];
        let mut o = LegacyOptions::new(mode, "lg", source.catalog()).unwrap();
        o.full = full;
        if mode == 1 {
            o.files = vec![
                SIGNALS[..3].iter().map(|s| Sid(s.0)).collect(),
                SIGNALS[3..].iter().map(|s| Sid(s.0)).collect(),
            ];
        }
        let lconfig = write_legacy(&source, &d.path().join("lg"), &o).unwrap();
        let legacy = Repository::open(&lconfig).unwrap();
        prop_assert!(legacy.warnings().is_empty(), "{:?}", legacy.warnings());
        check(&legacy, &model, &pids_of(&model, None))?;
    }
}
