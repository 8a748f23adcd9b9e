//! Storage backends: other containers behind the same [`SignalStore`] trait, one cargo
//! feature each. This module dispatches a path to the backend that handles it, chosen by the
//! path's content ([`detect()`]; the extension is only a hint) or forced by name.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::SignalStore;

pub use detect::{detect, sniff, Format, Sniff};

pub(crate) mod detect;
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
    /// Indexed tar: start a new shard once one reaches this many bytes (default 3e9).
    pub shard_max_size: Option<u64>,
    /// Indexed tar: start a new shard once one holds this many members (default 100,000).
    pub shard_max_files: Option<u64>,
    /// Indexed tar: the members' modification time, seconds since 1970 (default: now, as
    /// glzn writes it); a fixed time makes the output byte-reproducible.
    pub mtime: Option<u64>,
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
    /// The container a path holds, decided by content ([`detect()`]); `None` for a repository
    /// config or a path that is neither.
    pub fn of(path: &Path) -> Option<Container> {
        detect(path).ok().and_then(Format::container)
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

/// Opens `path` as a store of container `kind`.
///
/// # Errors
/// Backend errors; [`Error::Unsupported`] if the backend's feature is off.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn open_container(kind: Container, path: &Path) -> Result<Box<dyn SignalStore>> {
    dispatch!(kind, path, |m| m::open_store(path))
}

/// The container `path` holds: `forced` if given, else by content.
fn container(path: &Path, forced: Option<Container>) -> Result<Container> {
    if let Some(c) = forced {
        return Ok(c);
    }
    match detect(path)? {
        Format::Container(c) => Ok(c),
        Format::Config => Err(Error::Unsupported {
            path: path.into(),
            what: "path: a repository config (text), not a container".into(),
        }),
    }
}

/// Writes the whole `store` as a container of `kind` at `out`. Every backend first checks
/// `out` with [`crate::target::check_target`]: absent, empty or a previous output of its kind.
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
    dispatch!(kind, out, |m| m::export(store, out, options)).map_err(|e| e.in_target(out))
}

/// Lists the records / arrays / members of a container (`inframed ls`).
///
/// # Errors
/// Backend errors; [`Error::Unsupported`] for a path that is not a container.
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    ls_as(path, None, out)
}

/// [`ls`] with the container forced (`--format`) instead of detected.
///
/// # Errors
/// As [`ls`].
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn ls_as(path: &Path, forced: Option<Container>, out: &mut dyn Write) -> Result<()> {
    let kind = container(path, forced)?;
    dispatch!(kind, path, |m| m::ls(path, out))
}

/// Writes one record payload / array / member of a container to `out` (`inframed cat`).
///
/// # Errors
/// Backend errors; [`Error::Unsupported`] for a path that is not a container.
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    cat_as(path, None, name, out)
}

/// [`cat`] with the container forced (`--format`) instead of detected.
///
/// # Errors
/// As [`cat`].
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn cat_as(
    path: &Path,
    forced: Option<Container>,
    name: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let kind = container(path, forced)?;
    dispatch!(kind, path, |m| m::cat(path, name, out))
}

/// Checks the container at `path` itself, whoever wrote it (`inframed verify` on a foreign
/// container): `.iac` record CRCs and decoding, TRX zip CRCs and array spans, tar header
/// checksums and index rows, GNZ offsets and sizes. `forced` overrides detection. Returns
/// a one-line summary (kind, counts).
///
/// # Errors
/// The first damage, naming the file and byte offset; [`Error::Unsupported`] for a path that
/// is not a container.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn verify_container(path: &Path, forced: Option<Container>) -> Result<String> {
    let kind = container(path, forced)?;
    dispatch!(kind, path, |m| m::verify_container(path))
}

/// Describes the container at `path` itself, whoever wrote it (`inframed info` on a foreign
/// container): kind, sizes, codec or form, then its members / arrays / records as `ls` lists
/// them.
///
/// # Errors
/// As [`verify_container`] (open errors only); [`Error::Io`] writing `out`.
#[cfg_attr(
    not(all(feature = "iac", feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn describe_container(
    path: &Path,
    forced: Option<Container>,
    out: &mut dyn Write,
) -> Result<()> {
    let kind = container(path, forced)?;
    dispatch!(kind, path, |m| m::describe(path, out))
}

/// Whether `e` says a container is readable but holds no inframed patient repository (a TRX
/// without the `INFRAMED` key, a GNZ without `metadata.inframed`, a tar dataset without the
/// patient metadata member; an `.iac` pack of another payload type opens as an empty store
/// instead): the cue for `info` and `verify` to describe or check the container itself.
#[cfg_attr(
    not(any(feature = "gnz", feature = "trx", feature = "itar")),
    allow(unused_variables)
)]
pub fn is_foreign(e: &Error) -> bool {
    let Some(source) = e.format_error() else {
        return false;
    };
    match source {
        #[cfg(feature = "trx")]
        crate::FormatError::Trx(trx::TrxError::NotPatientFile) => true,
        #[cfg(feature = "gnz")]
        crate::FormatError::Gnz(gnz::GnzError::NotAPatientFile) => true,
        #[cfg(feature = "itar")]
        crate::FormatError::Itar(itar::ItarError::NotPatientDataset) => true,
        _ => false,
    }
}
