//! Reading one fold of an indexed-tar dataset: find its shards, map them, load its `.taridx`
//! (or build the index by scanning the tars), look members up by `(key, extension)`.
//!
//! [`Fold`] and its opening are here; each job has its file: `names` (member and shard file
//! names, the folds of a folder, brace lists), `scan` (the index built by scanning the
//! shards), `lookup` (every row checked against its shard and the lookup table built at
//! open), `members` (the accessors and member lookup of an open fold) and `verify` (the index
//! checked against the shards).

mod lookup;
mod members;
mod names;
mod scan;
mod verify;

use std::path::{Path, PathBuf};

use hashbrown::{HashMap, HashSet};

use super::header;
use super::index::{IndexBuilder, Row, TarIndex};
use super::{backend_error, error_at_byte, ItarError};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{Result, Warning};
use crate::mmap::{self, Bytes};

pub use names::{expand_braces, fold_names, shard_fold, split_name};
use names::{file_name, parent_dir, shard_files};

/// One mapped shard.
#[derive(Debug)]
struct Shard {
    path: PathBuf,
    bytes: Bytes,
}

/// A member's payload, borrowed from the mapped shard.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    /// Row index in the fold's index.
    pub row: usize,
    /// The index row.
    pub entry: &'a Row,
    /// The shard file.
    pub shard: &'a Path,
    /// The payload (`[offset + 512, offset + 512 + size)` of the shard).
    pub data: &'a [u8],
}

/// One fold of a dataset: its shards (mapped) and its index, with a lookup table from
/// `(keyhash, crashid, extid)` to row built at open.
#[derive(Debug)]
pub struct Fold {
    name: String,
    index_path: PathBuf,
    shards: Vec<Shard>,
    index: TarIndex,
    ext_ids: HashMap<String, u16>,
    crash_ids: HashMap<String, u32>,
    lookup: HashMap<(u64, u32, u16), u32>,
    /// Rows that are not members: pax / GNU long-name headers and directories (glzn's parse
    /// path indexes every header).
    meta_rows: HashSet<u32>,
    /// Rows keyed (also) by the full name their pax / long-name header gives: row → stem.
    resolved: HashMap<u32, String>,
    /// What was tolerated at open (duplicates resolved as tar extraction does).
    warnings: Vec<Warning>,
}

/// Maps one shard, refusing gzip-compressed ones with a message that says how to decompress.
fn map_shard(path: PathBuf) -> Result<Shard> {
    let bytes = mmap::map(&path)?;
    if bytes.as_slice().starts_with(&[0x1f, 0x8b]) {
        let name = file_name(&path);
        let lower = name.to_ascii_lowercase();
        let stem = if lower.ends_with(".tar.gz") {
            name[..name.len() - 7].to_string()
        } else if lower.ends_with(".tgz") || lower.ends_with(".tar") {
            name[..name.len() - 4].to_string()
        } else {
            name.clone()
        };
        return Err(error_at_byte(&path, 0, ItarError::Gzip { name, stem }));
    }
    Ok(Shard { path, bytes })
}

impl Fold {
    /// Opens the fold of a `.taridx` file (fold = file stem; shards beside it).
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Corrupt`] / [`Error::Format`] naming the index and the byte
    /// offset (header fields, blocks, rows) or the row (shard id, offset, bytes past the end of
    /// the shard, duplicate key and extension).
    pub fn open(taridx: &Path) -> Result<Fold> {
        let fold = taridx
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| {
                backend_error(
                    taridx,
                    "file name",
                    ItarError::BadName {
                        name: taridx.display().to_string(),
                        reason: "not a <fold>.taridx name",
                    },
                )
            })?
            .to_owned();
        let dir = parent_dir(taridx);
        let dir = dir.as_path();
        let bytes = mmap::map(taridx)?;
        let index =
            TarIndex::parse(bytes.as_slice()).map_err(|(off, e)| error_at_byte(taridx, off, e))?;
        let shards = Self::map_shards(dir, &fold)?;
        Self::assemble(fold, taridx.to_path_buf(), shards, index)
    }

    /// Opens a dataset path that is not a folder: a `.taridx` file (by its magic), one tar
    /// shard (indexed by scanning it), or a WebDataset brace list of shards
    /// (`train-{000000..000009}.tar`, scanned in list order).
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`]; [`ItarError::Braces`] for a list naming a file
    /// that does not exist.
    pub fn open_path(path: &Path) -> Result<Fold> {
        let name = file_name(path);
        if !path.exists() && crate::backend::detect::is_brace_list(&name) {
            let dir = parent_dir(path);
            let names = expand_braces(&name).map_err(|e| backend_error(path, "name", e))?;
            let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
            if let Some(missing) = files.iter().find(|f| !f.is_file()) {
                return Err(backend_error(
                    path,
                    "name",
                    ItarError::Braces {
                        pattern: name.clone(),
                        reason: format!("{} does not exist", missing.display()),
                    },
                ));
            }
            let fold = shard_fold(&names[0]).map_or(name.clone(), |(f, _)| f);
            let index_path = dir.join(format!("{fold}.taridx"));
            return Self::scan_files(fold, index_path, files);
        }
        let mut magic = [0u8; 8];
        let is_index = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && &magic == super::MAGIC;
        if is_index {
            return Fold::open(path);
        }
        let fold = shard_fold(&name).map_or_else(|| name.clone(), |(f, _)| f);
        let index_path = parent_dir(path).join(format!("{fold}.taridx"));
        Self::scan_files(fold, index_path, vec![path.to_path_buf()])
    }

    /// Opens fold `fold` of a dataset folder: from `<fold>.taridx` if present, else by scanning
    /// its shards ([`Fold::scan`]).
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`].
    pub fn open_dir(dir: &Path, fold: &str) -> Result<Fold> {
        let idx = dir.join(format!("{fold}.taridx"));
        if idx.is_file() {
            Fold::open(&idx)
        } else {
            Fold::scan(dir, fold)
        }
    }

    /// A fold over in-memory files: the `.taridx` bytes (`None`: scan the shards) and the
    /// shards in fid order. Paths in errors are `<memory>/<fold>…`.
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        fold: &str,
        taridx: Option<D>,
        shards: Vec<D>,
    ) -> Result<Fold> {
        let base = PathBuf::from("<memory>");
        let index_path = base.join(format!("{fold}.taridx"));
        let shards: Vec<Shard> = shards
            .into_iter()
            .enumerate()
            .map(|(i, d)| Shard {
                path: base.join(format!("{fold}_{i:04}.tar")),
                bytes: Bytes::from_owned(d),
            })
            .collect();
        let index = match taridx {
            Some(d) => TarIndex::parse(d.as_ref())
                .map_err(|(off, e)| error_at_byte(&index_path, off, e))?,
            None => {
                let mut b = IndexBuilder::default();
                for (fid, shard) in shards.iter().enumerate() {
                    let members = header::scan(shard.bytes.as_slice())
                        .map_err(|(off, e)| error_at_byte(&shard.path, off, e))?;
                    for m in members {
                        let (stem, ext) = split_name(&m.name);
                        b.add(fid as u16, m.offset, m.size, &stem, &ext)
                            .map_err(|e| backend_error(&shard.path, "scan", e))?;
                    }
                }
                b.finish()
            }
        };
        Self::assemble(fold.to_owned(), index_path, shards, index)
    }

    fn map_shards(dir: &Path, fold: &str) -> Result<Vec<Shard>> {
        let files = shard_files(dir, fold)?;
        if files.is_empty() {
            return Err(backend_error(
                dir,
                format!("fold {fold}"),
                ItarError::NoShards { fold: fold.into() },
            ));
        }
        files.into_iter().map(map_shard).collect()
    }
}
