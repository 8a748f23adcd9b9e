//! Storage backends: other containers behind the same [`SignalStore`] trait, one cargo
//! feature each. This module dispatches by path to the backend that handles it.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::SignalStore;

#[cfg(feature = "gnz")]
pub mod gnz;
#[cfg(feature = "iac")]
pub mod iac;
#[cfg(feature = "itar")]
pub mod itar;
#[cfg(feature = "trx")]
pub mod trx;

/// Options of `inframed export` that backends interpret.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Payload codec (`.iac`: `none`, `brotli`, `zstd`).
    pub codec: Option<String>,
    /// TRX: deflate zip members.
    pub deflate: bool,
    /// TRX: write a folder instead of a zip.
    pub dir: bool,
    /// Indexed tar: start a new shard once one reaches this many bytes.
    pub shard_max_size: Option<u64>,
    /// Replace an `out` that is not a previous output of the same kind (default: refuse it,
    /// [`Error::Occupied`]).
    pub force: bool,
}

/// The container kinds, by path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// IatroCache `.iac`.
    Iac,
    /// `GNZ1` aligned arrays `.gnz`.
    Gnz,
    /// TRX zip or folder `.trx`.
    Trx,
    /// Indexed tar: a `.taridx`, or a folder holding one.
    Itar,
}

impl Container {
    /// The container a path names, by extension (a folder holding a `.taridx` is indexed tar).
    pub fn of(path: &Path) -> Option<Container> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("iac") => Some(Container::Iac),
            Some("gnz") => Some(Container::Gnz),
            Some("trx") => Some(Container::Trx),
            Some("taridx") => Some(Container::Itar),
            _ if path.is_dir() => {
                let has_taridx = std::fs::read_dir(path)
                    .ok()?
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "taridx"));
                has_taridx.then_some(Container::Itar)
            }
            _ => None,
        }
    }

    /// The export target name (`--to`).
    pub fn from_name(name: &str) -> Option<Container> {
        match name {
            "iac" => Some(Container::Iac),
            "gnz" => Some(Container::Gnz),
            "trx" => Some(Container::Trx),
            "itar" => Some(Container::Itar),
            _ => None,
        }
    }
}

fn disabled(path: &Path, feature: &str) -> Error {
    Error::Unsupported {
        path: path.into(),
        what: format!("container (inframed was built without feature {feature:?})"),
    }
}

macro_rules! dispatch {
    ($kind:expr, $path:expr, |$m:ident| $call:expr) => {
        match $kind {
            #[cfg(feature = "iac")]
            Container::Iac => {
                use iac as $m;
                $call
            }
            #[cfg(feature = "gnz")]
            Container::Gnz => {
                use gnz as $m;
                $call
            }
            #[cfg(feature = "trx")]
            Container::Trx => {
                use trx as $m;
                $call
            }
            #[cfg(feature = "itar")]
            Container::Itar => {
                use itar as $m;
                $call
            }
            #[allow(unreachable_patterns)]
            other => Err(disabled($path, &format!("{other:?}").to_ascii_lowercase())),
        }
    };
}

/// Opens `path` as a container store, or `None` if it is not a container path.
pub(crate) fn open_container(path: &Path) -> Option<Result<Box<dyn SignalStore>>> {
    let kind = Container::of(path)?;
    Some(dispatch!(kind, path, |m| m::open_store(path)))
}

/// Writes the whole `store` as a container of `kind` at `out`. Every backend first checks
/// `out` with [`crate::atomic::check_target`]: absent, empty or a previous output of its kind.
///
/// # Errors
/// [`Error::Occupied`] for anything else at `out` (unless `options.force`); backend errors;
/// [`Error::Unsupported`] if the backend's feature is off.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn export(
    kind: Container,
    store: &dyn SignalStore,
    out: &Path,
    options: &ExportOptions,
) -> Result<()> {
    dispatch!(kind, out, |m| m::export(store, out, options))
}

/// Lists the records / arrays / members of a container (`inframed ls`).
///
/// # Errors
/// Backend errors; [`Error::Unsupported`] for a path that is not a container.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let kind = Container::of(path).ok_or_else(|| Error::Unsupported {
        path: path.into(),
        what: "path: not a container".into(),
    })?;
    dispatch!(kind, path, |m| m::ls(path, out))
}

/// Writes one record payload / array / member of a container to `out` (`inframed cat`).
///
/// # Errors
/// Backend errors; [`Error::Unsupported`] for a path that is not a container.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let kind = Container::of(path).ok_or_else(|| Error::Unsupported {
        path: path.into(),
        what: "path: not a container".into(),
    })?;
    dispatch!(kind, path, |m| m::cat(path, name, out))
}
