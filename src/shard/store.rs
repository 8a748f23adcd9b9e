//! [`ShardedStore`]: one [`SignalStore`] over the shards of a manifest.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::catalog::Catalog;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::{NativeConfig, NativeStore};
use crate::store::{SignalStore, StoreDescription};
use crate::Warning;

use super::manifest::{catalog_checksum, Manifest};

/// One opened shard: its inclusive pid range and its store.
#[derive(Debug)]
struct Shard {
    first: u32,
    last: u32,
    store: Box<dyn SignalStore>,
}

/// The shards of a `shards.json` as one store: `get_bytes` finds the shard by binary search
/// on the pid ranges (O(log shards)) and asks it; `pids` and `scan` go through the shards in
/// pid order. Every shard is opened (mapped, headers checked) at open; no element is read.
#[derive(Debug)]
pub struct ShardedStore {
    manifest_path: PathBuf,
    manifest: Manifest,
    /// The first shard's catalog (every shard's is the same): held here so `catalog()` on
    /// the lookup path is no further virtual call.
    catalog: Catalog,
    shards: Vec<Shard>,
    pids: OnceLock<Vec<Pid>>,
    warnings: Vec<Warning>,
}

impl ShardedStore {
    /// Opens the manifest at `path` and every shard it lists.
    ///
    /// # Errors
    /// As [`Manifest::read`]; [`Error::Open`] naming a missing shard; [`Error::Inconsistent`]
    /// naming a shard whose catalog checksum differs from the manifest's, whose pids fall
    /// outside its range, or whose signals differ from the first shard's.
    pub fn open(path: &Path) -> Result<ShardedStore> {
        let manifest = Manifest::read(path)?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut warnings = Vec::new();
        for (i, entry) in manifest.shards.iter().enumerate() {
            let config_path = manifest.shard_path(path, i);
            let bad = |what: String| Error::Inconsistent {
                path: config_path.clone(),
                source: DecodeError::Other(format!("shard {i} of {}: {what}", path.display())),
            };
            if !config_path.is_file() {
                return Err(Error::Open {
                    path: config_path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("shard {i} listed in {} is missing", path.display()),
                    ),
                });
            }
            let NativeConfig {
                config,
                catalog,
                warnings: open_warnings,
                prefix,
            } = NativeConfig::read(&config_path)?;
            let sum = catalog_checksum(&config)?;
            if sum != manifest.catalog_crc32 {
                return Err(bad(format!(
                    "catalog checksum {sum}, the manifest's is {}: a shard of another catalog",
                    manifest.catalog_crc32
                )));
            }
            if config.mode != 3 {
                return Err(Error::Unsupported {
                    path: config_path.clone(),
                    what: format!("shard of MODE {} (shards are MODE 3)", config.mode),
                });
            }
            let store: Box<dyn SignalStore> =
                Box::new(NativeStore::open(catalog, &prefix, open_warnings)?);
            if let Some(first) = shards.first() {
                let first: &Shard = first;
                if store.catalog().signals() != first.store.catalog().signals() {
                    return Err(bad("signals differ from the first shard's".into()));
                }
            }
            let pids = store.pids();
            if let (Some(lo), Some(hi)) = (pids.first(), pids.last()) {
                if lo.0 < entry.first_pid || hi.0 > entry.last_pid {
                    return Err(bad(format!(
                        "pids {lo}..={hi} outside the manifest's range [{}, {}]",
                        entry.first_pid, entry.last_pid
                    )));
                }
            }
            warnings.extend(store.warnings().iter().cloned());
            shards.push(Shard {
                first: entry.first_pid,
                last: entry.last_pid,
                store,
            });
        }
        let catalog = shards[0].store.catalog().clone();
        Ok(ShardedStore {
            manifest_path: path.to_path_buf(),
            manifest,
            catalog,
            shards,
            pids: OnceLock::new(),
            warnings,
        })
    }

    /// The manifest read at open.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The shard holding `pid`, if any: binary search on the ranges.
    #[inline]
    fn shard_of(&self, pid: Pid) -> Option<&Shard> {
        let i = self.shards.partition_point(|s| s.last < pid.0);
        self.shards.get(i).filter(|s| s.first <= pid.0)
    }

    /// Index of the shard holding `pid`, if any.
    pub fn shard_index(&self, pid: Pid) -> Option<usize> {
        let i = self.shards.partition_point(|s| s.last < pid.0);
        (i < self.shards.len() && self.shards[i].first <= pid.0).then_some(i)
    }

    /// The store of shard `i` (manifest order).
    pub fn shard(&self, i: usize) -> Option<&dyn SignalStore> {
        self.shards.get(i).map(|s| &*s.store)
    }
}

impl SignalStore for ShardedStore {
    #[inline]
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        if self.shards.len() == 1 {
            return self.shards[0].store.pids();
        }
        self.pids.get_or_init(|| {
            let n = self.shards.iter().map(|s| s.store.pids().len()).sum();
            let mut all = Vec::with_capacity(n);
            for s in &self.shards {
                all.extend_from_slice(s.store.pids());
            }
            all
        })
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        match self.shard_of(pid) {
            Some(s) => s.store.get_bytes(pid, sid),
            None => {
                self.catalog().by_sid(sid)?;
                Ok(Cow::Borrowed(&[]))
            }
        }
    }

    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> Result<()> {
        for s in &self.shards {
            s.store.scan(sid, visit)?;
        }
        Ok(())
    }

    fn describe(&self) -> StoreDescription {
        let mut files = vec![(
            self.manifest_path.clone(),
            std::fs::metadata(&self.manifest_path)
                .map(|m| m.len())
                .unwrap_or(0),
        )];
        let mut inner = String::new();
        for s in &self.shards {
            let d = s.store.describe();
            if inner.is_empty() {
                inner = d.format;
            }
            files.extend(d.files);
        }
        StoreDescription {
            format: format!("inframed shards ({} × {inner})", self.shards.len()),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        for s in &self.shards {
            s.store.verify()?;
        }
        Ok(())
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
