//! A fold's index built by scanning its shards (as glzn's parse path does), and saved as
//! `<fold>.taridx`.

use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use super::names::{shard_files, split_name};
use super::{map_shard, Fold, Shard};
use crate::atomic::write_atomic;
use crate::backend::itar::header::{self, block_at};
use crate::backend::itar::index::IndexBuilder;
use crate::backend::itar::{backend_error, error_at_byte, ItarError};
use crate::error::{Error, Result};

impl Fold {
    /// Builds the fold's index by scanning its shards in order, as glzn's parse path does
    /// (fid = shard rank, stem = basename up to the first `.`, extension ids by first
    /// appearance, crash stems), except that only regular file members become rows: pax and
    /// GNU long names name the member that follows them, and directories are skipped.
    /// [`Fold::write_index`] saves the result.
    ///
    /// # Errors
    /// [`Error::Format`] naming the shard and byte offset of a damaged header;
    /// [`ItarError::NoShards`].
    pub fn scan(dir: &Path, fold: &str) -> Result<Fold> {
        let shards = Self::map_shards(dir, fold)?;
        Self::scan_shards(
            fold.to_owned(),
            dir.join(format!("{fold}.taridx")),
            shards,
            &mut |_| {},
        )
    }

    /// [`Fold::scan`] reporting progress: `progress(bytes)` after each shard, with the bytes of
    /// the shards scanned so far; returns the fold and the total bytes of its shards.
    ///
    /// # Errors
    /// As [`Fold::scan`].
    pub(crate) fn scan_with(dir: &Path, fold: &str, progress: &mut dyn FnMut(u64)) -> Result<Fold> {
        let shards = Self::map_shards(dir, fold)?;
        Self::scan_shards(
            fold.to_owned(),
            dir.join(format!("{fold}.taridx")),
            shards,
            progress,
        )
    }

    /// The bytes of fold `fold`'s shards in `dir` (what [`Fold::scan_with`] reports against).
    ///
    /// # Errors
    /// As [`Fold::scan`].
    pub(crate) fn shards_len(dir: &Path, fold: &str) -> Result<u64> {
        let mut total = 0;
        for f in shard_files(dir, fold)? {
            total += std::fs::metadata(&f)
                .map_err(|source| Error::Open {
                    path: f.clone(),
                    source,
                })?
                .len();
        }
        Ok(total)
    }

    /// [`Fold::scan`] over shard files given in fid order.
    pub(super) fn scan_files(
        fold: String,
        index_path: PathBuf,
        files: Vec<PathBuf>,
    ) -> Result<Fold> {
        let shards = files
            .into_iter()
            .map(map_shard)
            .collect::<Result<Vec<_>>>()?;
        Self::scan_shards(fold, index_path, shards, &mut |_| {})
    }

    fn scan_shards(
        fold: String,
        index_path: PathBuf,
        shards: Vec<Shard>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Fold> {
        let mut b = IndexBuilder::default();
        let mut scanned = 0u64;
        let mut resolved = HashMap::new();
        for (fid, shard) in shards.iter().enumerate() {
            let fid = u16::try_from(fid).map_err(|_| {
                backend_error(
                    &shard.path,
                    "shard",
                    ItarError::ShardId {
                        fid: u16::MAX,
                        n_shards: shards.len(),
                    },
                )
            })?;
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| error_at_byte(&shard.path, off, e))?;
            for m in members {
                let (stem, ext) = split_name(&m.name);
                let long = block_at(shard.bytes.as_slice(), m.offset)
                    .is_some_and(|h| header::name_field(h) != m.name.as_bytes());
                if long {
                    // Named by a pax / long-name header: the header's own name field differs.
                    resolved.insert(b.len() as u32, stem.clone());
                }
                b.add(fid, m.offset, m.size, &stem, &ext)
                    .map_err(|e| error_at_byte(&shard.path, m.offset, e))?;
            }
            scanned += shard.bytes.as_slice().len() as u64;
            progress(scanned);
        }
        let index = b.finish();
        let mut fold = Self::assemble(fold, index_path, shards, index)?;
        fold.resolved.extend(resolved);
        Ok(fold)
    }

    /// Writes the fold's index as `<fold>.taridx` beside its shards (temp + rename).
    ///
    /// # Errors
    /// [`Error::Open`] / [`Error::Io`].
    pub fn write_index(&self) -> Result<()> {
        write_atomic(&self.index_path, &self.index.to_bytes())
    }
}
