//! One conformance table: every store kind inframed writes and reads, each built from the
//! repository medpython 1.2.1 wrote (testdata/inframed/small) and then put through the same
//! suite (`common::conformance`: catalog, pids, every (pid, sid) byte for byte, time order,
//! ranges, scans, misses, unknown sids, `verify`, eight reader threads).
//!
//! A new store kind gets a row here; the per-backend test files keep the checks that only
//! make sense for one format (byte identity with an original tool, damage, options).

mod common;

use std::path::{Path, PathBuf};

use inframed::backend::{self, Container, ExportOptions};
use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::native::transpose::TransposeStore;
use inframed::native::write::{write_mode3, Mode3Options, RepositoryWriter};
use inframed::{Repository, SignalStore};

/// Writes `golden` into `dir` as one store kind and returns the path to open.
type Build = fn(&Repository, &Path) -> PathBuf;

/// How a built store is opened.
#[derive(Clone, Copy)]
enum Open {
    /// `Repository::open` (content detection), the way every user opens a path.
    Repository,
    /// The by-pid transpose alone (what `MedPidRepository` reads).
    Transpose,
}

fn mode3(golden: &Repository, dir: &Path, transpose: bool) -> PathBuf {
    let mut o = Mode3Options::new("conf", golden.catalog()).unwrap();
    o.transpose = transpose;
    write_mode3(golden, dir, &o).expect("write_mode3")
}

fn legacy(golden: &Repository, dir: &Path, mode: i32, full: bool) -> PathBuf {
    let mut o = LegacyOptions::new(mode, "conf", golden.catalog()).unwrap();
    o.prefix = "data/conf".into();
    o.full = full;
    write_legacy(golden, dir, &o).expect("write_legacy")
}

fn container(golden: &Repository, out: &Path, kind: Container, o: ExportOptions) -> PathBuf {
    backend::export(kind, golden, out, &o).expect("export");
    out.to_path_buf()
}

/// The table: name, builder, how to open. Container outputs carry no extension, so those rows
/// also exercise detection by content.
const KINDS: &[(&str, Build, Open)] = &[
    (
        "medpython repository (the reference itself)",
        |_, _| common::golden_repo_path(),
        Open::Repository,
    ),
    (
        "MODE 3",
        |g, d| mode3(g, &d.join("m3"), false),
        Open::Repository,
    ),
    (
        "MODE 3 + transpose, read by pid",
        |g, d| mode3(g, &d.join("m3t"), true),
        Open::Transpose,
    ),
    (
        "MODE 0 stripped",
        |g, d| legacy(g, &d.join("l0"), 0, false),
        Open::Repository,
    ),
    (
        "MODE 0 full records",
        |g, d| legacy(g, &d.join("l0f"), 0, true),
        Open::Repository,
    ),
    (
        "MODE 1 stripped",
        |g, d| legacy(g, &d.join("l1"), 1, false),
        Open::Repository,
    ),
    (
        "MODE 2 stripped",
        |g, d| legacy(g, &d.join("l2"), 2, false),
        Open::Repository,
    ),
    (
        "in-memory RepositoryWriter",
        |g, d| {
            let mut w = RepositoryWriter::new("conf", g.catalog().clone()).unwrap();
            for &pid in g.pids() {
                w.add_pid(pid).unwrap();
                for s in g.catalog().signals() {
                    let b = g.get_bytes(pid, s.sid).unwrap();
                    if !b.is_empty() {
                        w.add(pid, s.sid, &b).unwrap();
                    }
                }
            }
            w.write(&d.join("mem")).expect("RepositoryWriter::write")
        },
        Open::Repository,
    ),
    (
        ".iac, no codec",
        |g, d| container(g, &d.join("iac"), Container::Iac, ExportOptions::default()),
        Open::Repository,
    ),
    (
        ".iac, zstd",
        |g, d| {
            let o = ExportOptions {
                codec: Some("zstd".into()),
                ..Default::default()
            };
            container(g, &d.join("iacz"), Container::Iac, o)
        },
        Open::Repository,
    ),
    (
        ".gnz",
        |g, d| container(g, &d.join("gnz"), Container::Gnz, ExportOptions::default()),
        Open::Repository,
    ),
    (
        "TRX zip, stored",
        |g, d| container(g, &d.join("trx"), Container::Trx, ExportOptions::default()),
        Open::Repository,
    ),
    (
        "TRX zip, deflated",
        |g, d| {
            let o = ExportOptions {
                deflate: true,
                ..Default::default()
            };
            container(g, &d.join("trxd"), Container::Trx, o)
        },
        Open::Repository,
    ),
    (
        "TRX folder",
        |g, d| {
            let o = ExportOptions {
                dir: true,
                ..Default::default()
            };
            container(g, &d.join("trxdir"), Container::Trx, o)
        },
        Open::Repository,
    ),
    (
        "indexed tar, one shard",
        |g, d| {
            container(
                g,
                &d.join("itar"),
                Container::Itar,
                ExportOptions::default(),
            )
        },
        Open::Repository,
    ),
    (
        "indexed tar, 4 KiB shards",
        |g, d| {
            let o = ExportOptions {
                shard_max_size: Some(4096),
                ..Default::default()
            };
            container(g, &d.join("itars"), Container::Itar, o)
        },
        Open::Repository,
    ),
];

#[test]
fn every_store_kind_passes_the_conformance_suite() {
    let golden = common::golden_repo();
    let tmp = tempfile::tempdir().unwrap();
    for (name, build, open) in KINDS {
        let path = build(&golden, tmp.path());
        eprintln!("conformance: {name} ({path:?})");
        let store: Box<dyn SignalStore> = match open {
            Open::Repository => Box::new(
                Repository::open(&path).unwrap_or_else(|e| panic!("{name}: open {path:?}: {e}")),
            ),
            Open::Transpose => {
                Box::new(TransposeStore::open(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
            }
        };
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            common::conformance(store.as_ref(), &golden)
        }));
        if let Err(e) = run {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("store kind {name:?} fails the conformance suite: {msg}");
        }
    }
}

#[test]
fn the_table_names_every_container_kind() {
    // A container added to `backend::Container` without a row here fails this test.
    for name in ["iac", "gnz", "trx", "itar"] {
        let kind = Container::from_name(name).unwrap();
        let tag = match kind {
            Container::Iac => ".iac",
            Container::Gnz => ".gnz",
            Container::Trx => "TRX",
            Container::Itar => "indexed tar",
        };
        assert!(
            KINDS.iter().any(|(n, _, _)| n.starts_with(tag)),
            "no conformance row for {name}"
        );
    }
}

/// Every single-file container opens from bytes held in memory too (`from_bytes`, one name on
/// every store), and that store passes the same suite.
#[test]
fn single_file_containers_open_from_bytes() {
    use inframed::backend::{gnz::GnzStore, iac::IacStore, trx::TrxStore};
    let golden = common::golden_repo();
    let tmp = tempfile::tempdir().unwrap();
    let bytes = |kind: Container, name: &str| {
        let out = container(
            &golden,
            &tmp.path().join(name),
            kind,
            ExportOptions::default(),
        );
        std::fs::read(out).unwrap()
    };
    let stores: Vec<(&str, Box<dyn SignalStore>)> = vec![
        (
            ".iac",
            Box::new(IacStore::from_bytes(bytes(Container::Iac, "a.iac")).unwrap()),
        ),
        (
            ".gnz",
            Box::new(GnzStore::from_bytes(bytes(Container::Gnz, "a.gnz")).unwrap()),
        ),
        (
            "TRX zip",
            Box::new(TrxStore::from_bytes(bytes(Container::Trx, "a.trx")).unwrap()),
        ),
    ];
    for (name, store) in stores {
        eprintln!("from_bytes: {name}");
        common::conformance(store.as_ref(), &golden);
    }
    // Damaged bytes are an error naming the place, not a panic.
    let e = TrxStore::from_bytes(b"PK\x03\x04 not a zip".to_vec()).unwrap_err();
    assert_eq!(e.path(), Some(Path::new("<memory>")), "{e}");
}

/// Every file under `dir`, by path (recursively).
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            let b = std::fs::read(&p).unwrap();
            out.push((p, b));
        }
    }
    out
}

/// The multi-file stores open from bytes in memory too: the by-pid transpose and the legacy
/// MODE 0/1/2 layouts (files handed over by the paths their config names), and each passes
/// the same suite; a file the config names but the caller left out is `Error::Open`.
#[test]
fn multi_file_stores_open_from_bytes() {
    use inframed::native::legacy::LegacyStore;
    use inframed::native::transpose::{chunk_path, pid_idx_path};
    use inframed::repository::read_catalog;
    use inframed::text::config::RepositoryConfig;
    let golden = common::golden_repo();
    let tmp = tempfile::tempdir().unwrap();
    let config = mode3(&golden, &tmp.path().join("m3"), true);
    let cfg = RepositoryConfig::read(&config).unwrap();
    let (catalog, _) = read_catalog(&cfg).unwrap();
    let prefix = cfg.prefix_path();
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    let mut chunks = Vec::new();
    while chunk_path(&prefix, chunks.len()).exists() {
        chunks.push(read(chunk_path(&prefix, chunks.len())));
    }
    assert!(!chunks.is_empty());
    let list = inframed::native::pids_path(&prefix);
    let t = TransposeStore::from_bytes(catalog, read(list), read(pid_idx_path(&prefix)), chunks)
        .unwrap();
    eprintln!("from_bytes: transpose");
    common::conformance(&t, &golden);

    for (mode, full) in [(0, true), (1, false), (2, false)] {
        let dir = tmp.path().join(format!("legacy{mode}"));
        let config = legacy(&golden, &dir, mode, full);
        let cfg = RepositoryConfig::read(&config).unwrap();
        let (catalog, _) = read_catalog(&cfg).unwrap();
        let files = files_under(&dir);
        let store = LegacyStore::from_bytes(&cfg, catalog.clone(), files.clone()).unwrap();
        eprintln!("from_bytes: MODE {mode}");
        common::conformance(&store, &golden);
        // Relative paths are taken from the config's directory.
        let relative: Vec<(PathBuf, Vec<u8>)> = files
            .iter()
            .map(|(p, b)| (p.strip_prefix(&dir).unwrap().to_path_buf(), b.clone()))
            .collect();
        let store = LegacyStore::from_bytes(&cfg, catalog.clone(), relative).unwrap();
        assert_eq!(store.pids(), golden.pids());
        // An INDEX file left out: named, not found.
        let without: Vec<(PathBuf, Vec<u8>)> = files
            .into_iter()
            .filter(|(p, _)| !p.extension().is_some_and(|x| x == "idx"))
            .collect();
        let e = LegacyStore::from_bytes(&cfg, catalog, without).unwrap_err();
        // MODE 0/1 name their INDEX files in the config (not found); MODE 2 derives a pair
        // per signal (a .data without its .idx).
        assert!(
            matches!(&e, inframed::Error::Open { path, source }
                if path.extension().is_some_and(|x| x == "idx")
                    && source.kind() == std::io::ErrorKind::NotFound)
                || matches!(&e, inframed::Error::Inconsistent {
                    source: inframed::DecodeError::Missing(m), ..
                } if mode == 2 && m.ends_with(".idx")),
            "MODE {mode}: {e:?}"
        );
    }
}

/// The golden repository with one vector cut short by a byte: a store defect every writer
/// must refuse with the one typed error, leaving nothing at its output.
#[derive(Debug)]
struct OnePartial {
    inner: Repository,
    key: (inframed::Pid, inframed::Sid),
}

impl SignalStore for OnePartial {
    fn catalog(&self) -> &inframed::Catalog {
        self.inner.catalog()
    }
    fn pids(&self) -> &[inframed::Pid] {
        self.inner.pids()
    }
    fn get_bytes(
        &self,
        pid: inframed::Pid,
        sid: inframed::Sid,
    ) -> inframed::Result<std::borrow::Cow<'_, [u8]>> {
        let b = self.inner.get_bytes(pid, sid)?;
        Ok(if (pid, sid) == self.key {
            std::borrow::Cow::Owned(b[..b.len() - 1].to_vec())
        } else {
            b
        })
    }
}

#[test]
fn every_writer_refuses_a_partial_element_with_one_error() {
    let inner = common::golden_repo();
    let sid = inner.catalog().signal("Hemoglobin").unwrap().sid;
    let pid = inframed::Pid(1025);
    assert!(!inner.get_bytes(pid, sid).unwrap().is_empty());
    let store = OnePartial {
        inner,
        key: (pid, sid),
    };
    let tmp = tempfile::tempdir().unwrap();
    let check = |what: &str, out: &Path, r: inframed::Result<()>| {
        match r {
            Err(inframed::Error::PartialElements {
                pid: p,
                sid: s,
                signal,
                bytes,
                element,
            }) => {
                assert_eq!((p, s), (pid, sid), "{what}");
                assert_eq!(signal, "Hemoglobin", "{what}");
                assert_eq!(bytes % element, element - 1, "{what}");
            }
            other => panic!("{what}: expected PartialElements, got {other:?}"),
        }
        assert!(!out.exists(), "{what}: {out:?} was written");
    };
    for kind in [
        Container::Iac,
        Container::Gnz,
        Container::Trx,
        Container::Itar,
    ] {
        let out = tmp.path().join(format!("{kind:?}"));
        let r = backend::export(kind, &store, &out, &ExportOptions::default());
        check(&format!("{kind:?}"), &out, r);
    }
    let out = tmp.path().join("mode3");
    let o = Mode3Options::new("partial", store.catalog()).unwrap();
    let r = write_mode3(&store, &out, &o).map(|_| ());
    check("mode3", &out, r);
}

/// The generic verification of any store finds a vector out of time order, typed.
#[test]
fn verify_names_the_element_out_of_time_order() {
    let golden = common::golden_repo();
    let info = golden.catalog().signal("Hemoglobin").unwrap().clone();
    let pid = inframed::Pid(1025);
    let mut data = std::collections::BTreeMap::new();
    let mut bytes = golden.get_bytes(pid, info.sid).unwrap().into_owned();
    let size = info.layout.size();
    assert!(bytes.len() >= 4 * size);
    // Elements 0 (20100101) and 3 (20100202) swapped: element 1 (20100101) is now earlier
    // than element 0.
    let (a, b) = (bytes[..size].to_vec(), bytes[3 * size..4 * size].to_vec());
    bytes[..size].copy_from_slice(&b);
    bytes[3 * size..4 * size].copy_from_slice(&a);
    data.insert((pid, info.sid), bytes);
    let store = common::ModelStore {
        catalog: golden.catalog().clone(),
        pids: vec![pid],
        data,
    };
    let e = inframed::store::verify_elements(&store).unwrap_err();
    assert!(
        matches!(
            e,
            inframed::Error::Corrupt {
                source: inframed::DecodeError::TimeOrder { pid: 1025, sid, element: 1 },
                ..
            } if sid == info.sid.0
        ),
        "{e:?}"
    );
}
