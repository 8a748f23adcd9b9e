//! The lookup table of a fold, built at open: every index row checked against its shard
//! (shard id, block alignment, bounds), pax / long-name and directory rows set apart, long
//! names resolved and duplicate members resolved as tar extraction does.

use std::path::{Path, PathBuf};

use hashbrown::{HashMap, HashSet};

use super::names::{file_name, split_name};
use super::{Fold, Shard};
use crate::backend::itar::header::{self, block_at, BLOCK};
use crate::backend::itar::index::TarIndex;
use crate::backend::itar::{backend_error, error_at_byte, ItarError};
use crate::error::{Result, Warning};

impl Fold {
    /// Checks every row against its shard (fid, block alignment, bounds) and builds the lookup.
    pub(super) fn assemble(
        name: String,
        index_path: PathBuf,
        shards: Vec<Shard>,
        index: TarIndex,
    ) -> Result<Fold> {
        let mut lookup = HashMap::with_capacity(index.rows.len());
        let empty_ext = index
            .extensions
            .iter()
            .position(|e| e.is_empty())
            .map(|p| p as u16);
        let mut meta_rows = HashSet::new();
        let mut resolve_shards: HashSet<u16> = HashSet::new();
        let mut warnings = Vec::new();
        for (i, r) in index.rows.iter().enumerate() {
            let ctx = || format!("row {i} (byte {})", index.row_offset(i));
            let shard = shards.get(usize::from(r.fid)).ok_or_else(|| {
                backend_error(
                    &index_path,
                    ctx(),
                    ItarError::ShardId {
                        fid: r.fid,
                        n_shards: shards.len(),
                    },
                )
            })?;
            if r.offset % BLOCK != 0 {
                return Err(backend_error(
                    &index_path,
                    ctx(),
                    ItarError::Unaligned { offset: r.offset },
                ));
            }
            let len = shard.bytes.as_slice().len() as u64;
            let end = r
                .offset
                .checked_add(BLOCK)
                .and_then(|s| s.checked_add(r.size));
            if !matches!(end, Some(e) if e <= len) {
                return Err(backend_error(
                    &index_path,
                    ctx(),
                    ItarError::PastEnd {
                        shard: file_name(&shard.path),
                        start: r.offset,
                        end: end.unwrap_or(u64::MAX),
                        len,
                    },
                ));
            }
            if Some(r.extid) == empty_ext {
                // A pax / long-name header or a directory, listed by glzn's parse path.
                let flag = block_at(shard.bytes.as_slice(), r.offset).map_or(b'0', |h| h[156]);
                if !matches!(flag, b'0' | 0 | b'7') {
                    meta_rows.insert(i as u32);
                    if matches!(flag, b'x' | b'L') {
                        resolve_shards.insert(r.fid);
                    }
                    continue;
                }
            }
            if let Some(first) = lookup.insert((r.keyhash, r.crashid, r.extid), i as u32) {
                let name = raw_name(shards[usize::from(r.fid)].bytes.as_slice(), r.offset);
                warnings.push(duplicate_warning(&index_path, &name, first, i as u32));
            }
        }
        let ext_ids = index
            .extensions
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u16))
            .collect();
        let crash_ids = index
            .crash_stems
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32 + 1))
            .collect();
        let mut fold = Fold {
            name,
            index_path,
            shards,
            index,
            ext_ids,
            crash_ids,
            lookup,
            meta_rows,
            resolved: HashMap::new(),
            warnings,
        };
        fold.resolve_long_names(&resolve_shards)?;
        Ok(fold)
    }

    /// Keys the members that follow pax / GNU long-name header rows by their full name too (an
    /// index built by glzn's parse path hashed the truncated `name` field), walking only the
    /// shards that have such rows.
    fn resolve_long_names(&mut self, shards: &HashSet<u16>) -> Result<()> {
        if shards.is_empty() {
            return Ok(());
        }
        let mut by_offset: HashMap<(u16, u64), u32> = HashMap::new();
        for (i, r) in self.index.rows.iter().enumerate() {
            if shards.contains(&r.fid) && !self.meta_rows.contains(&(i as u32)) {
                by_offset.insert((r.fid, r.offset), i as u32);
            }
        }
        let mut fids: Vec<u16> = shards.iter().copied().collect();
        fids.sort_unstable();
        for fid in fids {
            let shard = &self.shards[usize::from(fid)];
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| error_at_byte(&shard.path, off, e))?;
            for m in members {
                let Some(&row) = by_offset.get(&(fid, m.offset)) else {
                    continue;
                };
                let Some(h) = block_at(shard.bytes.as_slice(), m.offset) else {
                    continue;
                };
                if m.name.as_bytes() == header::name_field(h) {
                    continue;
                }
                let (stem, ext) = split_name(&m.name);
                let next = (self.index.extensions.len() + self.ext_ids.len()) as u16;
                let extid = *self.ext_ids.entry(ext).or_insert(next);
                let (keyhash, crashid) = self.identity(stem.as_bytes());
                if let Some(first) = self.lookup.insert((keyhash, crashid, extid), row) {
                    if first != row {
                        let w = duplicate_warning(&self.index_path, &m.name, first, row);
                        self.warnings.push(w);
                    }
                }
                self.resolved.insert(row, stem);
            }
        }
        Ok(())
    }
}

/// The warning for a member listed twice.
fn duplicate_warning(index: &Path, name: &str, first: u32, second: u32) -> Warning {
    Warning {
        path: index.to_path_buf(),
        line: 0,
        message: format!(
            "duplicate member {name} (rows {first} and {second}): row {second} is read, as tar \
             extraction keeps the later one"
        ),
    }
}

/// The name field of the header at `offset`, for messages.
fn raw_name(shard: &[u8], offset: u64) -> String {
    block_at(shard, offset)
        .map(|h| String::from_utf8_lossy(header::name_field(h)).into_owned())
        .unwrap_or_else(|| format!("<header at byte {offset}>"))
}
