//! Shared test helpers: the conformance suite every store must pass, and fixture paths.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use inframed::{Catalog, Error, Pid, Repository, Sid, SignalStore, SignalStoreExt};

/// An in-memory store over a `BTreeMap`: the model of round-trip property tests.
#[derive(Debug)]
pub struct ModelStore {
    /// Signals and dictionaries.
    pub catalog: Catalog,
    /// Pids, ascending.
    pub pids: Vec<Pid>,
    /// Element bytes per (pid, sid); absent = empty.
    pub data: BTreeMap<(Pid, Sid), Vec<u8>>,
}

impl SignalStore for ModelStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn pids(&self) -> &[Pid] {
        &self.pids
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> inframed::Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(
            self.data.get(&(pid, sid)).map_or(&[][..], Vec::as_slice),
        ))
    }
}

/// A snapshot of every file under `dir`, sorted: (path relative to `dir`, bytes). Empty when
/// `dir` does not exist.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.push((p.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// The [`inframed::convert::ConvertError`] of a refused load (panics on any other error).
pub fn convert_error(e: &Error) -> &inframed::convert::ConvertError {
    match e {
        Error::Convert { source, .. } => source,
        other => panic!("not a refused load: {other}"),
    }
}

/// `testdata/<rel>` of the crate.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

/// The repository written by medpython 1.2.1 (see testdata/inframed/README.md).
pub fn golden_repo_path() -> PathBuf {
    testdata("inframed/small/repo/small.repository")
}

/// Opens the golden repository.
pub fn golden_repo() -> Repository {
    Repository::open(golden_repo_path()).expect("golden repository opens")
}

/// Copies a directory tree (for corruption tests on a private copy).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The conformance suite: `store` must hold exactly what `reference` holds, through
/// `&dyn SignalStore`. Checks catalog (names, sids, layouts, time units, dictionaries' code→name),
/// pids, every (pid, sid) byte for byte, time order, views, unknown pid → empty, unknown sid →
/// error, `verify()`, and reads from 8 threads at once.
pub fn conformance(store: &dyn SignalStore, reference: &dyn SignalStore) {
    let (cat, rcat) = (store.catalog(), reference.catalog());
    assert_eq!(cat.signals().len(), rcat.signals().len(), "signal count");
    for r in rcat.signals() {
        let s = cat
            .signal(&r.name)
            .unwrap_or_else(|e| panic!("signal {}: {e}", r.name));
        assert_eq!(
            (s.sid, s.layout.spec(), s.time_unit),
            (r.sid, r.layout.spec(), r.time_unit),
            "{}",
            r.name
        );
        assert_eq!(s.categorical, r.categorical, "{} categorical", r.name);
        if s.categorical.iter().any(|&c| c) {
            let (sec, rsec) = (
                cat.section_of(&s.name).unwrap().unwrap(),
                rcat.section_of(&r.name).unwrap().unwrap(),
            );
            for code in rsec.codes() {
                assert_eq!(sec.name(code), rsec.name(code), "{} code {code}", r.name);
                assert_eq!(
                    sec.names_of(code),
                    rsec.names_of(code),
                    "{} code {code}",
                    r.name
                );
            }
        }
    }
    assert_eq!(store.pids(), reference.pids(), "pids");
    assert!(
        store.pids().windows(2).all(|w| w[0] < w[1]),
        "pids ascending"
    );

    for r in rcat.signals() {
        let size = r.layout.size();
        for &pid in reference.pids() {
            let got = store.get_bytes(pid, r.sid).unwrap();
            let want = reference.get_bytes(pid, r.sid).unwrap();
            assert_eq!(&got[..], &want[..], "pid {pid} signal {}", r.name);
            let sig = store.signal(pid, r.sid).unwrap();
            assert_eq!(sig.len() * size, want.len());
            let elems: Vec<_> = sig.iter().collect();
            for w in elems.windows(2) {
                assert!(
                    r.layout.cmp_time(w[0].bytes(), w[1].bytes()).is_le(),
                    "time order pid {pid} {}",
                    r.name
                );
            }
            if let (Some(first), Some(last)) = (elems.first(), elems.last()) {
                if !r.layout.time_channels().is_empty() {
                    let (a, b) = (first.time(0).as_i64(), last.time(0).as_i64());
                    assert_eq!(sig.range(a, b).len(), sig.len());
                    assert_eq!(sig.range(b + 1, i64::MAX).len(), 0);
                }
            }
        }
    }

    // A whole-signal scan visits exactly the non-empty vectors, pids ascending.
    for r in rcat.signals() {
        let mut seen: Vec<(Pid, Vec<u8>)> = Vec::new();
        store
            .scan(r.sid, &mut |p, b| seen.push((p, b.to_vec())))
            .unwrap();
        let want: Vec<(Pid, Vec<u8>)> = reference
            .pids()
            .iter()
            .map(|&p| (p, reference.get_bytes(p, r.sid).unwrap().into_owned()))
            .filter(|(_, b)| !b.is_empty())
            .collect();
        assert_eq!(seen, want, "scan of {}", r.name);
    }

    // A pid absent from the store: every signal is empty.
    let absent = (1..)
        .map(Pid)
        .find(|p| reference.pids().binary_search(p).is_err())
        .unwrap();
    for r in rcat.signals() {
        assert!(
            store.get_bytes(absent, r.sid).unwrap().is_empty(),
            "absent pid {absent} {}",
            r.name
        );
    }
    let max_pid = Pid(u32::MAX);
    assert!(store
        .get_bytes(max_pid, rcat.signals()[0].sid)
        .unwrap()
        .is_empty());
    // An unknown sid is an error.
    let unknown = (0..).map(Sid).find(|s| rcat.by_sid(*s).is_err()).unwrap();
    assert!(matches!(
        store.get_bytes(reference.pids()[0], unknown),
        Err(Error::UnknownSid { .. })
    ));

    store.verify().expect("verify passes on a sound store");

    // Batched lookups: every (pid, sid), interleaved across signals (so across a sharded
    // store's shards), with a pid no store holds between them, equal key by key to
    // `get_bytes`; an unknown sid in a batch fails it.
    let mut keys: Vec<(Pid, Sid)> = Vec::new();
    for (i, &pid) in reference.pids().iter().enumerate() {
        for r in rcat.signals() {
            keys.push((pid, r.sid));
        }
        if i % 7 == 0 {
            keys.push((absent, rcat.signals()[0].sid));
            keys.push((max_pid, rcat.signals()[0].sid));
        }
    }
    keys.reverse();
    let mut views = Vec::new();
    store.get_many(&keys, &mut views).expect("get_many");
    assert_eq!(views.len(), keys.len(), "get_many: one view per key");
    for (&(pid, sid), v) in keys.iter().zip(&views) {
        assert_eq!(
            &v[..],
            &reference.get_bytes(pid, sid).unwrap()[..],
            "get_many pid {pid} sid {sid:?}"
        );
    }
    keys.insert(keys.len() / 2, (reference.pids()[0], unknown));
    assert!(matches!(
        store.get_many(&keys, &mut views),
        Err(Error::UnknownSid { .. })
    ));

    // Eight threads at once, each over every (pid, sid), same answers.
    let total: usize = rcat
        .signals()
        .iter()
        .map(|r| {
            reference
                .pids()
                .iter()
                .map(|&p| reference.get_bytes(p, r.sid).unwrap().len())
                .sum::<usize>()
        })
        .sum();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    let mut n = 0usize;
                    for r in rcat
                        .signals()
                        .iter()
                        .cycle()
                        .skip(t)
                        .take(rcat.signals().len())
                    {
                        for &p in store.pids() {
                            let b: Cow<'_, [u8]> = store.get_bytes(p, r.sid).unwrap();
                            n += b.len();
                        }
                    }
                    n
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), total);
        }
    });
}

/// Runs the `inframed` binary of this build with `args`. Only for test files that declare
/// the binary (integration tests: `CARGO_BIN_EXE_inframed` is set for them).
pub fn inframed(bin: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> std::process::Output {
    let mut c = std::process::Command::new(bin);
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

/// An error and its sources, `: `-joined (as the command line prints them).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
