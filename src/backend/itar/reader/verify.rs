//! `verify` of a fold: its index checked against its shards, row by row and member by member.

use hashbrown::{HashMap, HashSet};
use xxhash_rust::xxh64::xxh64;

use super::names::split_name;
use super::Fold;
use crate::backend::itar::header;
use crate::backend::itar::index::runs;
use crate::backend::itar::{backend_error, error_at_byte, ItarError};
use crate::error::Result;

impl Fold {
    /// Checks the index against the shards: every shard's headers walk cleanly (checksums,
    /// sizes, truncation); every row points at a header whose size, stem hash, crash id and
    /// extension match the row; every regular member has a row; `n_stems` and the contiguous
    /// flag are right.
    ///
    /// # Errors
    /// The first damage, naming the shard or index and the byte offset or row.
    pub fn verify(&self) -> Result<()> {
        let walked = self.walk()?;
        let mut canonical: HashMap<u64, String> = HashMap::new();
        let mut stems: HashSet<(u64, u32)> = HashSet::new();
        let mut indexed: HashSet<(u16, u64)> = HashSet::new();
        // Canonical stems are the crashid-0 stems; check each row's identity.
        for (i, r) in self.index.rows.iter().enumerate() {
            let ctx = || format!("row {i} (byte {})", self.index.row_offset(i));
            let mismatch =
                |what: String| backend_error(&self.index_path, ctx(), ItarError::Mismatch { what });
            let h = self
                .header_of(i)
                .ok_or_else(|| mismatch("no tar header at the row's offset".into()))?;
            let shard = &self.shards[usize::from(r.fid)].path;
            header::check_checksum(h).map_err(|e| error_at_byte(shard, r.offset + 148, e))?;
            let raw = String::from_utf8_lossy(header::name_field(h)).into_owned();
            let name = match walked.get(&(r.fid, r.offset)) {
                Some((name, size)) => {
                    if *size != r.size {
                        return Err(mismatch(format!(
                            "size {} but the member {name} has {size} bytes",
                            r.size
                        )));
                    }
                    name.clone()
                }
                None => {
                    // A non-regular header (glzn's parse path indexes every header).
                    let size = header::number(&h[124..136], "size")
                        .map_err(|e| error_at_byte(shard, r.offset + 124, e))?;
                    if size != r.size {
                        return Err(mismatch(format!(
                            "size {} but the header says {size}",
                            r.size
                        )));
                    }
                    raw.clone()
                }
            };
            // The full name (pax / GNU long name resolved), or the raw name field as glzn's
            // parse path hashes it.
            let candidates = [split_name(&name), split_name(&raw)];
            let Some((stem, ext)) = candidates
                .iter()
                .find(|(stem, _)| xxh64(stem.as_bytes(), 0) == r.keyhash)
                .cloned()
            else {
                return Err(mismatch(format!(
                    "keyhash {:#018x} is not xxh64 of the member's stem {:?}",
                    r.keyhash, candidates[0].0
                )));
            };
            let want_ext = &self.index.extensions[usize::from(r.extid)];
            if *want_ext != ext {
                return Err(mismatch(format!(
                    "extension {want_ext:?} but the member is {name:?}"
                )));
            }
            if r.crashid == 0 {
                let c = canonical.entry(r.keyhash).or_insert_with(|| stem.clone());
                if *c != stem {
                    return Err(mismatch(format!(
                        "stems {c:?} and {stem:?} share a hash but neither is in the crash block"
                    )));
                }
            } else if self.index.crash_stems[r.crashid as usize - 1] != stem {
                return Err(mismatch(format!(
                    "crashid {} names {:?}, the member is {stem:?}",
                    r.crashid,
                    self.index.crash_stems[r.crashid as usize - 1]
                )));
            }
            stems.insert((r.keyhash, r.crashid));
            indexed.insert((r.fid, r.offset));
        }
        for ((fid, offset), (name, _)) in &walked {
            if !indexed.contains(&(*fid, *offset)) {
                return Err(error_at_byte(
                    &self.shards[usize::from(*fid)].path,
                    *offset,
                    ItarError::Unindexed {
                        name: name.clone(),
                        offset: *offset,
                    },
                ));
            }
        }
        if stems.len() as u64 != self.index.n_stems {
            return Err(error_at_byte(
                &self.index_path,
                16,
                ItarError::Field {
                    field: "n_stems",
                    found: self.index.n_stems,
                    expected: stems.len() as u64,
                },
            ));
        }
        if self.index.contiguous() && runs(&self.index.rows) > self.index.n_stems {
            return Err(error_at_byte(
                &self.index_path,
                56,
                ItarError::NotContiguous,
            ));
        }
        Ok(())
    }
}
