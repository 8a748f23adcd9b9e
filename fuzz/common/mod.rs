//! The body of every fuzz target, by name, shared by the targets (`fuzz_targets/*.rs`, one line
//! each) and by the replay test of the normal suite (`tests/fuzz_regressions.rs`), so a crash
//! input kept there runs through exactly the code that found it. Errors are ignored: only a
//! panic, abort, hang or oversized allocation is a finding.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use inframed::{Catalog, SignalStore, SignalStoreExt};

/// A target's body: one input, ignoring every error.
pub type Body = fn(&[u8]);

/// Every target: (name, body). `tests/fuzz_regressions.rs` checks this against
/// `fuzz/Cargo.toml`'s `[[bin]]` list.
pub const TARGETS: &[(&str, Body)] = &[
    ("repo_config", repo_config),
    ("signals_file", signals_file),
    ("dictionary", dictionary),
    ("convert_config", convert_config),
    ("native_index", native_index),
    ("sparse_idx", sparse_idx),
    ("legacy_index", legacy_index),
    ("legacy_full_header", legacy_full_header),
    ("all_pids_list", all_pids_list),
    ("transpose", transpose),
    ("tsv_lines", tsv_lines),
    ("iac_store", iac_store),
    ("iac_arrow_table", iac_arrow_table),
    ("gnz_store", gnz_store),
    ("trx_zip", trx_zip),
    ("trx_header", trx_header),
    ("itar_store", itar_store),
    ("tar_scan", tar_scan),
    ("npy_header", npy_header),
];

/// Runs `verify_elements`, then reads every (pid, signal) of `store`.
pub fn read_all<S: SignalStore>(store: &S) {
    let _ = inframed::store::verify_elements(store);
    for &pid in store.pids() {
        for s in store.catalog().signals() {
            let _ = store.signal(pid, s.sid);
        }
    }
}

/// Splits `data` at the first `sep` byte string: (before, after).
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}

/// `testdata/` of the repository (from the fuzz crate or from the root crate's tests).
pub fn testdata() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    if here.join("testdata").is_dir() {
        here.join("testdata")
    } else {
        here.join("../testdata")
    }
}

/// The catalog of `testdata/inframed/small` (signals, dictionaries), loaded once: the schema
/// the transpose and TSV targets parse against.
pub fn small_catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let config = testdata().join("inframed/small/repo/small.repository");
        inframed::Repository::open(&config)
            .unwrap_or_else(|e| panic!("the fuzz schema {}: {e}", config.display()))
            .catalog()
            .clone()
    })
}

fn text(d: &[u8]) -> Option<&str> {
    std::str::from_utf8(d).ok()
}

pub fn repo_config(d: &[u8]) {
    if let Some(t) = text(d) {
        let _ = inframed::text::config::RepositoryConfig::parse(Path::new("f.repository"), t);
    }
}

pub fn signals_file(d: &[u8]) {
    if let Some(t) = text(d) {
        let _ = inframed::text::signals::SignalsFile::parse(
            Path::new("f.signals"),
            t,
            inframed::TimeUnit::default(),
        );
    }
}

pub fn dictionary(d: &[u8]) {
    if let Some(t) = text(d) {
        let mut x = inframed::text::dict::Dictionaries::default();
        let _ = x.load(Path::new("f.dict"), t);
        let _ = x.to_texts();
    }
}

pub fn convert_config(d: &[u8]) {
    if let Some(t) = text(d) {
        let _ = inframed::convert::config::ConvertConfig::parse(Path::new("f.convert_config"), t);
    }
}

pub fn native_index(d: &[u8]) {
    let _ = inframed::fuzzing::native_index(d);
}

/// Byte 0: element size − 1 (mod 32); byte 1: the index's start offset; then the `.idx`.
pub fn sparse_idx(d: &[u8]) {
    if d.len() < 2 {
        return;
    }
    let elem = 1 + (d[0] as usize % 32);
    let start = d[1] as usize;
    let b = &d[2..];
    let _ = inframed::fuzzing::sparse_vector(b, start.min(b.len()), elem);
}

pub fn legacy_index(d: &[u8]) {
    let _ = inframed::native::legacy::index::parse_index(d);
}

/// Byte 0: the record's start offset (mod the length); then the `.data` bytes.
pub fn legacy_full_header(d: &[u8]) {
    if d.is_empty() {
        return;
    }
    let _ = inframed::native::legacy::data::parse_full_header(&d[1..], d[0] as usize % d.len());
}

pub fn all_pids_list(d: &[u8]) {
    let _ = inframed::fuzzing::all_pids_list(d);
}

/// A `.pid_idx`, then `\n--CHUNK--\n` before each `.pid_data` chunk (`0`, `1`, …), against the
/// small repository's catalog: verify, then every record and every (pid, signal).
pub fn transpose(d: &[u8]) {
    let sep = b"\n--CHUNK--\n";
    let (idx, mut rest) = split(d, sep);
    let mut chunks = Vec::new();
    while !rest.is_empty() {
        let (c, r) = split(rest, sep);
        chunks.push(c.to_vec());
        rest = r;
    }
    let catalog = small_catalog();
    let Ok(t) = inframed::native::transpose::Transpose::from_bytes(catalog, idx.to_vec(), chunks)
    else {
        return;
    };
    let _ = t.verify();
    for pid in t.pids() {
        let _ = t.record(pid);
        for s in catalog.signals() {
            let _ = t.get(pid, s.sid);
        }
    }
}

/// Byte 0: input kind (bits 0–1: DATA, REGISTRY, DEMOGRAPHICS, DEATHS), numbered lines (bit 2),
/// SAFE_MODE (bit 3); then the input file's bytes, parsed against the small repository's
/// catalog.
pub fn tsv_lines(d: &[u8]) {
    let Some((&flags, body)) = d.split_first() else {
        return;
    };
    let _ = inframed::fuzzing::tsv_lines(
        small_catalog(),
        flags & 3,
        body,
        flags & 4 != 0,
        flags & 8 != 0,
    );
}

pub fn iac_store(d: &[u8]) {
    if let Ok(s) = inframed::backend::iac::IacStore::from_bytes(d.to_vec()) {
        read_all(&s);
    }
}

pub fn iac_arrow_table(d: &[u8]) {
    let _ = inframed::backend::iac::IpcTable::from_ipc_stream(d);
}

pub fn gnz_store(d: &[u8]) {
    if let Ok(s) = inframed::backend::gnz::GnzStore::from_bytes(d.to_vec()) {
        read_all(&s);
    }
}

pub fn trx_zip(d: &[u8]) {
    if let Ok(f) = inframed::backend::trx::TrxFile::from_zip_bytes("f.trx", d.to_vec()) {
        let _ = f.verify_checksums();
        if let Ok(s) = inframed::backend::trx::TrxStore::from_file(f) {
            read_all(&s);
        }
    }
}

pub fn trx_header(d: &[u8]) {
    let _ = inframed::backend::trx::Header::parse(d);
}

/// A `.taridx`, `\n--SHARD--\n`, then one tar shard.
pub fn itar_store(d: &[u8]) {
    let (idx, shard) = split(d, b"\n--SHARD--\n");
    if let Ok(s) =
        inframed::backend::itar::ItarStore::from_bytes(idx.to_vec(), vec![shard.to_vec()])
    {
        read_all(&s);
    }
}

pub fn tar_scan(d: &[u8]) {
    if let Ok(f) = inframed::backend::itar::Fold::from_bytes("f", None, vec![d.to_vec()]) {
        let _ = f.verify();
    }
}

/// An `.npy` member: the full header parser, and the fast path against the pid array's prefix
/// (`<u4`) and a structured one.
pub fn npy_header(d: &[u8]) {
    let _ = inframed::fuzzing::npy_header(d, inframed::fuzzing::npy_plain_prefix("<u4").as_bytes());
    let _ = inframed::fuzzing::npy_header(
        d,
        b"{'descr': [('time', '<i4'), ('value', '<f4')], 'fortran_order': False, 'shape': (",
    );
}
