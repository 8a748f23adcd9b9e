//! The native InfraMed layouts: MODE 3 per-signal `.data`/`.idx` files and the pid list.

mod config;
mod files;
pub(crate) mod index;
pub mod legacy;
pub mod lookup;
pub(crate) mod pids;
mod scan;
pub(crate) mod sparse;
mod store;
pub mod transpose;
pub mod write;
/// The former name of [`write`](mod@write), kept for code written against it.
pub use write as writer;

pub use config::NativeConfig;
/// `.idx` serialization, byte for byte as MedConvert writes it, for the property tests
/// (`tests/proptest_index.rs`); behind the `testing` feature, not a stable API.
#[cfg(feature = "testing")]
pub use index::write_index;
pub use legacy::LegacyStore;
pub use lookup::{lookup_path, write_lookup};
pub use pids::write_pids;
pub use store::NativeStore;
pub use transpose::{PatientRecord, Transpose, TransposeStore};
pub use write::{add_signal, write_mode3, Mode3Options, Mode3Writer, NewSignal, RepositoryWriter};

use std::path::{Path, PathBuf};

use crate::text::config::fixed_signal_name;

/// `<prefix>_<fixed name>.data` and `.idx` of a signal.
pub fn signal_paths(prefix: &Path, name: &str) -> (PathBuf, PathBuf) {
    let stem = format!("{}_{}", prefix.display(), fixed_signal_name(name));
    (
        PathBuf::from(format!("{stem}.data")),
        PathBuf::from(format!("{stem}.idx")),
    )
}

/// `<prefix>_all_pids.list`.
pub fn pids_path(prefix: &Path) -> PathBuf {
    PathBuf::from(format!("{}_all_pids.list", prefix.display()))
}
