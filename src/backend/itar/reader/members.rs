//! The accessors of an open [`Fold`]: its name, index, shards and warnings, and its members
//! by row or by `(stem, extension)`, lent as slices of the mapped shards.

use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use xxhash_rust::xxh64::xxh64;

use super::{Fold, Member};
use crate::backend::itar::header::{self, block_at, BLOCK};
use crate::backend::itar::index::TarIndex;
use crate::backend::itar::{backend_error, error_at_byte, ItarError};
#[cfg(doc)]
use crate::error::Error;
use crate::error::{Result, Warning};

impl Fold {
    /// What was tolerated at open: duplicate members (the later row wins, as tar extraction
    /// does), one message each.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Whether index row `row` is a pax / GNU long-name header or a directory rather than a
    /// member (such rows are never exposed as members).
    pub fn is_meta_row(&self, row: usize) -> bool {
        self.meta_rows.contains(&(row as u32))
    }

    /// The fold name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `.taridx` path (where it is or would be written).
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// The decoded index.
    pub fn index(&self) -> &TarIndex {
        &self.index
    }

    /// Shard `fid`'s path.
    pub fn shard_path(&self, fid: u16) -> Option<&Path> {
        self.shards.get(usize::from(fid)).map(|s| s.path.as_path())
    }

    /// Shard paths and sizes in fid order.
    pub fn shard_files(&self) -> Vec<(PathBuf, u64)> {
        self.shards
            .iter()
            .map(|s| (s.path.clone(), s.bytes.as_slice().len() as u64))
            .collect()
    }

    /// The id of extension `ext` (lowercase, no leading dot).
    pub fn extension_id(&self, ext: &str) -> Option<u16> {
        self.ext_ids.get(ext).copied()
    }

    /// The `(keyhash, crashid)` identity of a stem.
    #[inline]
    pub fn identity(&self, stem: &[u8]) -> (u64, u32) {
        let crashid = if self.crash_ids.is_empty() {
            0
        } else {
            std::str::from_utf8(stem)
                .ok()
                .and_then(|s| self.crash_ids.get(s).copied())
                .unwrap_or(0)
        };
        (xxh64(stem, 0), crashid)
    }

    /// The row of `(stem identity, extid)` without any check of the tar header.
    #[inline]
    pub(crate) fn row_of(&self, keyhash: u64, crashid: u32, extid: u16) -> Option<usize> {
        self.lookup
            .get(&(keyhash, crashid, extid))
            .map(|&r| r as usize)
    }

    /// Row `row`'s member (bounds were checked at open).
    #[inline]
    pub fn member(&self, row: usize) -> Option<Member<'_>> {
        let entry = self.index.rows.get(row)?;
        let shard = self.shards.get(usize::from(entry.fid))?;
        let start = usize::try_from(entry.offset.checked_add(BLOCK)?).ok()?;
        let end = start.checked_add(usize::try_from(entry.size).ok()?)?;
        Some(Member {
            row,
            entry,
            shard: &shard.path,
            data: shard.bytes.as_slice().get(start..end)?,
        })
    }

    /// The mapped bytes of shard `fid`.
    pub(crate) fn shard_bytes(&self, fid: u16) -> Option<&[u8]> {
        self.shards
            .get(usize::from(fid))
            .map(|s| s.bytes.as_slice())
    }

    /// The raw 512-byte tar header of row `row`.
    pub(crate) fn header_of(&self, row: usize) -> Option<&[u8; 512]> {
        let entry = self.index.rows.get(row)?;
        let shard = self.shards.get(usize::from(entry.fid))?;
        block_at(shard.bytes.as_slice(), entry.offset)
    }

    /// Whether the tar header of `row` names a member with stem `stem`. A name field that fills
    /// all 100 bytes may be a truncated long name and is not checked.
    #[inline]
    pub(crate) fn header_has_stem(&self, row: usize, stem: &[u8]) -> bool {
        let Some(h) = self.header_of(row) else {
            return false;
        };
        let name = header::name_field(h);
        if name.len() == 100 {
            return true;
        }
        let base = match name.iter().rposition(|&b| b == b'/') {
            Some(p) => &name[p + 1..],
            None => name,
        };
        let found = match base.iter().position(|&b| b == b'.') {
            Some(p) => &base[..p],
            None => base,
        };
        found == stem
    }

    /// The member `stem.ext` (extension compared lowercased), if the fold has it. The tar header
    /// at the row must name the same stem (a different stem there is an absent key whose hash
    /// collides with a present one, as glzn's `filter_stems(verify=True)` decides).
    ///
    /// # Errors
    /// None at present (bounds were checked at open); kept for damaged-shard reporting.
    pub fn find(&self, stem: &str, ext: &str) -> Result<Option<Member<'_>>> {
        let Some(extid) = self.extension_id(&ext.to_lowercase()) else {
            return Ok(None);
        };
        let (keyhash, crashid) = self.identity(stem.as_bytes());
        let Some(row) = self.row_of(keyhash, crashid, extid) else {
            return Ok(None);
        };
        let named = match self.resolved.get(&(row as u32)) {
            Some(full) => full == stem || self.header_has_stem(row, stem.as_bytes()),
            None => self.header_has_stem(row, stem.as_bytes()),
        };
        if !named {
            return Ok(None);
        }
        Ok(self.member(row))
    }

    /// Every row's full member name in row order, read by walking the shards' headers (so pax
    /// and GNU long names are resolved).
    ///
    /// # Errors
    /// [`Error::Format`] for a damaged shard or a row that points at no member header.
    pub fn member_names(&self) -> Result<Vec<String>> {
        let walked = self.walk()?;
        self.index
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                walked
                    .get(&(r.fid, r.offset))
                    .map(|m| m.0.clone())
                    .or_else(|| {
                        // glzn's parse path also indexes non-regular headers (directories…).
                        self.header_of(i)
                            .map(|h| String::from_utf8_lossy(header::name_field(h)).into_owned())
                    })
                    .ok_or_else(|| {
                        backend_error(
                            &self.index_path,
                            format!("row {i}"),
                            ItarError::Mismatch {
                                what: format!("no tar header at byte {}", r.offset),
                            },
                        )
                    })
            })
            .collect()
    }

    /// `(fid, header offset) → (name, size)` of every regular member of every shard.
    pub(super) fn walk(&self) -> Result<HashMap<(u16, u64), (String, u64)>> {
        let mut out = HashMap::new();
        for (fid, shard) in self.shards.iter().enumerate() {
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| error_at_byte(&shard.path, off, e))?;
            for m in members {
                out.insert((fid as u16, m.offset), (m.name, m.size));
            }
        }
        Ok(out)
    }
}
