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
pub use store::{export_with, ItarStore, PatientExportOptions, META_KEY};
pub use writer::{DatasetWriter, FoldWriter, WriterOptions};

use crate::backend::ExportOptions;
use crate::error::{DecodeError, Error, Result};
use crate::store::SignalStore;

/// What can be wrong with an indexed-tar dataset, its index, shards or members. Carried by
/// [`Error::Backend`], whose `path` names the file and `context` the byte offset, row or member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItarError {
    /// The file ends before a structure is complete.
    #[error("unexpected end of file")]
    UnexpectedEof,
    /// The `.taridx` does not start with `TARIDX\0\0`.
    #[error("bad magic {found:?}, expected \"TARIDX\\0\\0\"")]
    Magic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// A `.taridx` major version other than 1.
    #[error("unsupported .taridx version {major}.{minor} (this reader reads major version 1)")]
    Version {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// A header count or size contradicts the file.
    #[error("header field {field} is {found}, expected {expected}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Value in the file.
        found: u64,
        /// Value implied by the file.
        expected: u64,
    },
    /// `off_crash` / `off_arr` out of order or past the end.
    #[error(
        "block offsets out of order: off_crash {off_crash}, off_arr {off_arr}, file of {len} bytes"
    )]
    Offsets {
        /// `off_crash` field.
        off_crash: u64,
        /// `off_arr` field.
        off_arr: u64,
        /// Index file length.
        len: u64,
    },
    /// The row area is not a whole number of 32-byte rows.
    #[error("row area of {len} bytes is not a whole number of 32-byte rows")]
    RowArea {
        /// Bytes from `off_arr` to the end.
        len: u64,
    },
    /// The extension or crash block is not UTF-8.
    #[error("{block} block is not UTF-8")]
    NotUtf8 {
        /// `extension` or `crash`.
        block: &'static str,
    },
    /// An extension or crash stem is listed twice.
    #[error("{block} block lists {name:?} twice")]
    DuplicateName {
        /// `extension` or `crash`.
        block: &'static str,
        /// The repeated entry.
        name: String,
    },
    /// A row's `extid` is not an index into the extension block.
    #[error("extid {extid} out of range ({n_ext} extensions)")]
    ExtId {
        /// The row's extid.
        extid: u16,
        /// Number of extensions.
        n_ext: usize,
    },
    /// A row's `crashid` is past the crash block.
    #[error("crashid {crashid} out of range ({n_crash} crash stems)")]
    CrashId {
        /// The row's crashid.
        crashid: u32,
        /// Number of crash stems.
        n_crash: usize,
    },
    /// A row's `fid` names no shard of the fold.
    #[error("shard id {fid} but the fold has {n_shards} shards")]
    ShardId {
        /// The row's fid.
        fid: u16,
        /// Number of shards found.
        n_shards: usize,
    },
    /// A row's member lies (partly) past the end of its shard.
    #[error("member bytes {start}..{end} beyond the end of shard {shard} ({len} bytes)")]
    PastEnd {
        /// Shard file name.
        shard: String,
        /// Header offset.
        start: u64,
        /// End of the payload.
        end: u64,
        /// Shard length.
        len: u64,
    },
    /// A row's offset is not on a 512-byte tar block.
    #[error("offset {offset} is not on a 512-byte tar block")]
    Unaligned {
        /// The row's offset.
        offset: u64,
    },
    /// Two rows (or two members) with the same key and extension.
    #[error("duplicate member {name} (rows {first} and {second})")]
    Duplicate {
        /// `key.ext` (or the key hash when the name is unknown).
        name: String,
        /// First row.
        first: u64,
        /// Second row.
        second: u64,
    },
    /// A key, extension, fold or member name the format does not allow.
    #[error("invalid name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A tar header's checksum does not match its bytes.
    #[error("tar header checksum {stored} does not match the computed {computed}")]
    Checksum {
        /// Checksum field.
        stored: u64,
        /// Sum of the header bytes.
        computed: u64,
    },
    /// A numeric tar header field is not octal / base-256.
    #[error("invalid tar header field {field}")]
    Number {
        /// Field name.
        field: &'static str,
    },
    /// A tar ends inside a header or a member's data.
    #[error("tar truncated inside {what}")]
    Truncated {
        /// `header` or `member data`.
        what: &'static str,
    },
    /// A pax extended header is malformed.
    #[error("malformed pax extended header: {reason}")]
    Pax {
        /// What is wrong.
        reason: &'static str,
    },
    /// An index row does not describe the member at its offset.
    #[error("index row does not match the tar: {what}")]
    Mismatch {
        /// What differs.
        what: String,
    },
    /// A regular member of a shard has no index row.
    #[error("member {name} at byte {offset} is not in the index")]
    Unindexed {
        /// Member name.
        name: String,
        /// Header offset.
        offset: u64,
    },
    /// The `.taridx` rows are flagged contiguous but are not.
    #[error("rows flagged contiguous by key but keys are interleaved")]
    NotContiguous,
    /// A fold without shards.
    #[error("no shards {fold}_*.tar or {fold}-<n>.tar")]
    NoShards {
        /// Fold name.
        fold: String,
    },
    /// A folder with several `.taridx` files, opened as one patient dataset.
    #[error("several folds ({}); open one of their .taridx files", .folds.join(", "))]
    SeveralFolds {
        /// Fold names.
        folds: Vec<String>,
    },
    /// A folder without `.taridx` files or shards.
    #[error("not an indexed-tar dataset (no .taridx and no .tar shards)")]
    NotADataset,
    /// A gzip-compressed shard: no random access into it.
    #[error(
        "gzip-compressed shard: members cannot be read in place (no random access); \
         decompress it first, e.g. `gzip -dc {name} > {stem}.tar`, then open the .tar"
    )]
    Gzip {
        /// The shard's file name.
        name: String,
        /// The name without `.gz` / `.tgz`.
        stem: String,
    },
    /// A WebDataset brace list that names no file or cannot be expanded.
    #[error("brace list {pattern}: {reason}")]
    Braces {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A member asked for by name is not in the dataset.
    #[error("no member {name}")]
    NoMember {
        /// `key.ext` asked for.
        name: String,
    },
    /// A member asked for by name is in several folds of the folder.
    #[error("member {name} is in several folds ({})", .folds.join(", "))]
    Ambiguous {
        /// `key.ext` asked for.
        name: String,
        /// The folds holding it.
        folds: Vec<String>,
    },
    /// A `.npy` member is malformed or does not match its signal.
    #[error("npy: {reason}")]
    Npy {
        /// What is wrong.
        reason: String,
    },
    /// The `__meta__.json` member is missing or inconsistent.
    #[error("patient metadata: {reason}")]
    Meta {
        /// What is wrong.
        reason: String,
    },
    /// A sample or member cannot be written.
    #[error("cannot write: {reason}")]
    Write {
        /// Why.
        reason: String,
    },
}

/// Wraps an [`ItarError`] found in `path` at `context`.
pub(crate) fn backend_error(path: &Path, context: impl Into<String>, e: ItarError) -> Error {
    match e {
        ItarError::UnexpectedEof => {
            let context = context.into();
            let offset = context
                .strip_prefix("byte ")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Error::corrupt(path, offset, DecodeError::UnexpectedEof)
        }
        e => Error::Backend {
            path: path.to_path_buf(),
            context: context.into(),
            source: Box::new(e),
        },
    }
}

/// Opens an indexed-tar patient dataset: a folder holding one `<fold>.taridx` (or, without any
/// index, one fold of shards, indexed by scanning them), or a `.taridx` file.
///
/// # Errors
/// [`Error::Open`], [`Error::Corrupt`] and [`Error::Backend`] (with an [`ItarError`]) naming the
/// index or shard and the byte offset or row.
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(ItarStore::open(path)?))
}

/// Writes a whole store as an indexed-tar patient dataset: the folder `out` with
/// `patients_0000.tar`… and `patients.taridx` (see [`export_with`] for shard limits).
///
/// # Errors
/// [`Error::Unsupported`] for a `--codec` (members are stored uncompressed); as
/// [`export_with`].
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    if let Some(codec) = options.codec.as_deref().filter(|c| *c != "none") {
        return Err(Error::Unsupported {
            path: out.into(),
            what: format!("codec {codec:?} for itar (members are stored uncompressed)"),
        });
    }
    let mut opts = PatientExportOptions {
        force: options.force,
        ..PatientExportOptions::default()
    };
    if let Some(max) = options.shard_max_size {
        opts.writer.shard_max_size = max;
    }
    export_with(store, out, &opts)
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
            let _ = writeln!(text, "# warning: {}: {w}", fold.index_path().display());
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
/// [`Error::Backend`] with [`ItarError::NoMember`] if no fold has it,
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
