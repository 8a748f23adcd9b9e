//! The `itar` backend: WebDataset tar shards with a glzn `.taridx` index, and patient
//! repositories stored in them.
//!
//! Two levels, as every backend (see `docs/itar.md`):
//!
//! - **Container**: a dataset folder of `<fold>_<nnnn>.tar` shards plus `<fold>.taridx`
//!   ([`Fold`], [`TarIndex`], [`DatasetWriter`]). Members are found by the xxh64 hash of their
//!   stem and their extension, and lent as zero-copy slices of the mapped shard.
//! - **Patient mapping**: sample key = pid (zero-padded, so lexical = numeric order), one member
//!   `<pid>.<signal>.npy` per non-empty `(pid, signal)` whose element data is 64-byte aligned in
//!   the tar, the catalog in `__meta__.json` and the pid list in `__meta__.pids.npy`
//!   ([`ItarStore`], [`export`]).

mod header;
mod index;
pub(crate) mod npy;
mod reader;
mod store;
mod writer;

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use index::{Row, TarIndex, HEADER_SIZE, MAGIC, ROW_SIZE};
pub use reader::{expand_braces, fold_names, shard_fold, split_name, Fold, Member};
pub use store::{ItarStore, META_KEY};
pub use writer::{DatasetWriter, FoldWriter, WriterOptions};

use crate::backend::ExportOptions;
use crate::error::{DecodeError, Error, Result};
use crate::store::SignalStore;

pub use crate::error::ItarError;

/// Wraps an [`ItarError`] found in `path` at `context`.
pub(crate) fn backend_error(path: &Path, context: impl Into<String>, e: ItarError) -> Error {
    Error::format(path, None, context, e)
}

/// Wraps an [`ItarError`] found at byte `offset` of `path`: [`Error::Corrupt`] for a file
/// that ends too early, else [`Error::Format`] with the offset.
pub(crate) fn error_at_byte(path: &Path, offset: u64, e: ItarError) -> Error {
    match e {
        ItarError::UnexpectedEof => Error::corrupt(path, offset, DecodeError::UnexpectedEof),
        e => Error::format(path, Some(offset), format!("byte {offset}"), e),
    }
}

/// Opens an indexed-tar patient dataset: a folder holding one `<fold>.taridx` (or, without any
/// index, one fold of shards, indexed by scanning them), or a `.taridx` file.
///
/// # Errors
/// [`Error::Open`], [`Error::Corrupt`] and [`Error::Format`] (with an [`ItarError`]) naming the
/// index or shard and the byte offset or row.
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(ItarStore::open(path)?))
}

/// Writes a whole store as an indexed-tar patient dataset: the folder `out` with
/// `patients_0000.tar`… and `patients.taridx`, shards cut at `options.shard_max_size` bytes
/// or `options.shard_max_files` members; built under a temporary name and renamed into place
/// (an existing dataset folder is replaced, any other folder is refused without `force`).
///
/// # Errors
/// [`Error::Unsupported`] for a `--codec` (members are stored uncompressed);
/// [`Error::Occupied`] for an `out` that is not a dataset folder (without `force`);
/// [`Error::InvalidInput`] for pids not ascending; [`Error::PartialElements`] for a vector
/// that is not whole elements;
/// errors of the store and of the writer.
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    if let Some(codec) = options.codec.as_deref().filter(|c| *c != "none") {
        return Err(Error::Unsupported {
            path: out.into(),
            what: format!("codec {codec:?} for itar (members are stored uncompressed)"),
        });
    }
    let mut writer = WriterOptions::default();
    if let Some(max) = options.shard_max_size {
        writer.shard_max_size = max;
    }
    if let Some(max) = options.shard_max_files {
        writer.shard_max_files = max;
    }
    if options.mtime.is_some() {
        writer.mtime = options.mtime;
    }
    store::export_fold(store, out, writer, options.force)
}

/// The folds a dataset path names: a `.taridx` file names one fold; a folder every fold that
/// has a `.taridx` or shards.
fn folds_of(path: &Path) -> Result<Vec<Fold>> {
    if path.is_dir() {
        let names = fold_names(path)?;
        if names.is_empty() {
            return Err(backend_error(path, "folder", ItarError::NotADataset));
        }
        names.iter().map(|n| Fold::open_dir(path, n)).collect()
    } else {
        Ok(vec![Fold::open_path(path)?])
    }
}

/// Writes the `.taridx` of every fold of a dataset that has none (each fold indexed by
/// scanning its shards, as glzn's parse path does); returns the indexes written. A fold that
/// already has its `.taridx` is left alone.
///
/// # Errors
/// As [`Fold::scan`]; [`Error::Io`] writing an index.
pub fn write_indexes(path: &Path) -> Result<Vec<PathBuf>> {
    write_indexes_with_progress(path, &mut |_, _| {})
}

/// [`write_indexes`] reporting `progress(bytes scanned, bytes to scan)` over the shards of the
/// folds being indexed (a dataset folder); a single shard or brace list reports 0 then its end.
///
/// # Errors
/// As [`write_indexes`].
pub fn write_indexes_with_progress(
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let names = fold_names(path)?;
        if names.is_empty() {
            return Err(backend_error(path, "folder", ItarError::NotADataset));
        }
        let todo: Vec<&String> = names
            .iter()
            .filter(|n| !path.join(format!("{n}.taridx")).exists())
            .collect();
        let mut total = 0;
        for n in &todo {
            total += Fold::shards_len(path, n)?;
        }
        progress(0, total);
        let (mut done, mut written) = (0, Vec::new());
        for n in todo {
            let fold = Fold::scan_with(path, n, &mut |b| progress(done + b, total))?;
            done += Fold::shards_len(path, n)?;
            fold.write_index()?;
            written.push(fold.index_path().to_path_buf());
        }
        progress(total, total);
        return Ok(written);
    }
    progress(0, 1);
    let mut written = Vec::new();
    for fold in folds_of(path)? {
        if fold.index_path().exists() {
            continue;
        }
        fold.write_index()?;
        written.push(fold.index_path().to_path_buf());
    }
    progress(1, 1);
    Ok(written)
}

/// Lists every member of a dataset (a folder: all its folds; a `.taridx`: that fold): a header
/// line `#key<TAB>ext<TAB>shard<TAB>size`, then one line per index row in index order.
///
/// # Errors
/// As [`Fold::open`] and [`Fold::member_names`].
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let mut text = String::from("#key\text\tshard\tsize\n");
    let folds = folds_of(path)?;
    for fold in &folds {
        let names = fold.member_names()?;
        for (i, (row, name)) in fold.index().rows.iter().zip(names).enumerate() {
            if fold.is_meta_row(i) {
                continue; // pax / long-name headers and directories are not members
            }
            let (key, ext) = split_name(&name);
            let shard = fold
                .shard_path(row.fid)
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let _ = writeln!(text, "{key}\t{ext}\t{shard}\t{}", row.size);
        }
    }
    for fold in &folds {
        for w in fold.warnings() {
            let _ = writeln!(text, "# warning: {w}");
        }
    }
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: PathBuf::from("<stdout>"),
        source,
    })
}

/// Writes the payload of member `name` (`KEY.EXT`) to `out`.
///
/// # Errors
/// [`Error::Format`] with [`ItarError::NoMember`] if no fold has it,
/// [`ItarError::Ambiguous`] if several do; as [`Fold::open`].
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let (key, ext) = split_name(name);
    let folds = folds_of(path)?;
    let mut found = Vec::new();
    let mut in_folds = Vec::new();
    for fold in &folds {
        if let Some(m) = fold.find(&key, &ext)? {
            found.push(m);
            in_folds.push(fold.name().to_owned());
        }
    }
    match found.as_slice() {
        [m] => out.write_all(m.data).map_err(|source| Error::Io {
            path: PathBuf::from("<stdout>"),
            source,
        }),
        [] => Err(backend_error(
            path,
            format!("member {name}"),
            ItarError::NoMember { name: name.into() },
        )),
        _ => Err(backend_error(
            path,
            format!("member {name}"),
            ItarError::Ambiguous {
                name: name.into(),
                folds: in_folds,
            },
        )),
    }
}

/// `inframed verify` on any indexed-tar / WebDataset dataset (written by inframed or not):
/// every fold's shards walk cleanly (tar header checksums, sizes, truncation) and its index
/// (or the scan, for a fold without one) matches them. Returns a one-line summary.
///
/// # Errors
/// The first damage, naming the shard or index and the byte offset or row.
pub fn verify_container(path: &Path) -> Result<String> {
    let folds = folds_of(path)?;
    let (mut shards, mut members) = (0usize, 0usize);
    for fold in &folds {
        fold.verify()?;
        shards += fold.shard_files().len();
        members += (0..fold.index().rows.len())
            .filter(|&i| !fold.is_meta_row(i))
            .count();
    }
    Ok(format!(
        "tar dataset\t{} folds\t{shards} shards\t{members} members",
        folds.len()
    ))
}

/// `inframed info` on any indexed-tar / WebDataset dataset: per fold its index, shards and
/// sizes, member count and warnings, then the members as [`ls`] lists them.
///
/// # Errors
/// As [`Fold::open`]; [`Error::Io`] writing `out`.
pub fn describe(path: &Path, out: &mut dyn Write) -> Result<()> {
    let folds = folds_of(path)?;
    let mut text = String::from("container\ttar dataset (random access by index)\n");
    for fold in &folds {
        let members = (0..fold.index().rows.len())
            .filter(|&i| !fold.is_meta_row(i))
            .count();
        let _ = writeln!(
            text,
            "fold\t{}\t{members} members\tindex {}",
            fold.name(),
            fold.index_path().display()
        );
        for (shard, size) in fold.shard_files() {
            let _ = writeln!(text, "shard\t{}\t{size} bytes", shard.display());
        }
    }
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: PathBuf::from("<stdout>"),
        source,
    })?;
    ls(path, out)
}
