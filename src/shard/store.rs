//! [`ShardedStore`]: one [`SignalStore`] over the shards of a manifest.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::catalog::Catalog;
use crate::error::{Error, Result, ShardError};
use crate::ids::{Pid, Sid};
use crate::native::{NativeConfig, NativeStore};
use crate::store::{SignalStore, StoreDescription};
use crate::Warning;

use super::manifest::{catalog_checksum, Manifest};
use super::router::Router;

/// One opened shard: its inclusive pid range and its store. The store is the concrete
/// [`NativeStore`] (shards are MODE 3), not a `Box<dyn SignalStore>`: the lookup then makes
/// no second virtual call and the native lookup is inlined into the routing.
///
/// Aligned to 512 bytes (a `NativeStore` is a little less): each shard's fields start on a
/// cache line, and the routed index becomes a shard's address by a shift instead of a
/// multiply (routed ÷ pre-routed at 64 shards 1.04 against 1.07, five alternated rounds;
/// nothing at 8: BENCHMARKS.md "Issue 19 round 3").
#[derive(Debug)]
#[repr(align(512))]
struct Shard {
    first: u32,
    last: u32,
    store: NativeStore,
}

/// The shards of a `shards.json` as one store: `get_bytes` finds the shard through the
/// routing table (a bucket of pids → its shard and that shard's last pid: one load, one
/// compare) and asks it; `pids` and `scan` go through the shards in pid order. Every shard is opened (mapped, headers checked) at open;
/// no element is read.
#[derive(Debug)]
pub struct ShardedStore {
    manifest_path: PathBuf,
    manifest: Manifest,
    /// The first shard's catalog (every shard's is the same): held here so `catalog()` on
    /// the lookup path is no further virtual call.
    catalog: Catalog,
    shards: Vec<Shard>,
    /// `(first, last)` pid of each shard, apart from the stores (one compact array).
    ranges: Vec<(u32, u32)>,
    /// The pid → shard routing table, see [`Router`].
    router: Router,
    pids: OnceLock<Vec<Pid>>,
    warnings: Vec<Warning>,
}

impl ShardedStore {
    /// Opens the manifest at `path` and every shard it lists.
    ///
    /// # Errors
    /// As [`Manifest::read`]; [`Error::Open`] naming a missing shard; [`Error::Format`] (a
    /// [`ShardError`])
    /// naming a shard whose catalog checksum differs from the manifest's, whose pids fall
    /// outside its range, or whose signals differ from the first shard's.
    pub fn open(path: &Path) -> Result<ShardedStore> {
        let manifest = Manifest::read(path)?;
        let mut shards = Vec::with_capacity(manifest.shards.len());
        let mut warnings = Vec::new();
        for (i, entry) in manifest.shards.iter().enumerate() {
            let config_path = manifest.shard_path(path, i);
            let context = format!("shard {i} of {}", path.display());
            let bad = |e: ShardError| Error::format(&config_path, None, context.clone(), e);
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
                return Err(bad(ShardError::Catalog {
                    shard: i,
                    found: sum,
                    expected: manifest.catalog_crc32.clone(),
                }));
            }
            if config.mode != 3 {
                return Err(Error::Unsupported {
                    path: config_path.clone(),
                    what: format!("shard of MODE {} (shards are MODE 3)", config.mode),
                });
            }
            let store = NativeStore::open(catalog, &prefix, open_warnings)?;
            if let Some(first) = shards.first() {
                let first: &Shard = first;
                if store.catalog().signals() != first.store.catalog().signals() {
                    return Err(bad(ShardError::Signals { shard: i }));
                }
            }
            let pids = store.pids();
            if let (Some(lo), Some(hi)) = (pids.first(), pids.last()) {
                if lo.0 < entry.first_pid || hi.0 > entry.last_pid {
                    return Err(bad(ShardError::PidsOutside {
                        shard: i,
                        lo: lo.0,
                        hi: hi.0,
                        first: entry.first_pid,
                        last: entry.last_pid,
                    }));
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
        let ranges: Vec<(u32, u32)> = shards.iter().map(|s| (s.first, s.last)).collect();
        let router = Router::new(&ranges);
        Ok(ShardedStore {
            manifest_path: path.to_path_buf(),
            manifest,
            catalog,
            shards,
            ranges,
            router,
            pids: OnceLock::new(),
            warnings,
        })
    }

    /// The manifest read at open.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Index of the shard holding `pid`, if any: one lookup in a table indexed by the pid's
    /// high bits, then (rarely) a step to the next range.
    #[inline]
    pub fn shard_index(&self, pid: Pid) -> Option<usize> {
        self.router.route(&self.ranges, pid.0)
    }

    /// Keys per shard (on average) from which `get_many` groups a batch by shard; smaller
    /// batches are looked up key by key.
    const GROUP_MIN: usize = 2;

    /// `get_bytes` of a pid no shard may hold (only with no shards): out of line, so that
    /// `get_bytes` keeps no stack frame and ends in a jump to the shard's lookup.
    #[cold]
    #[inline(never)]
    fn no_shard(&self, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(&[]))
    }

    /// The store of shard `i` (manifest order).
    pub fn shard(&self, i: usize) -> Option<&dyn SignalStore> {
        self.shards.get(i).map(|s| &s.store as &dyn SignalStore)
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

    /// Every pid goes to one shard's store, without testing that the shard's range holds it:
    /// a pid in no range goes to some shard, which has no such patient (open checked
    /// that each shard's pids lie in its range) and so answers as any store does for a patient
    /// it lacks (empty for a sid of the catalog, [`Error::UnknownSid`] otherwise). The lookup
    /// path is bound by how many lookups the CPU overlaps, so each load and instruction saved
    /// counts: the routing is one word of the router, one table entry and one compare.
    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        // One shard takes no routing (the length is read for the bounds test anyway).
        let i = if self.shards.len() == 1 {
            0
        } else {
            self.router.candidate(&self.ranges, pid.0)
        };
        match self.shards.get(i) {
            Some(s) => s.store.get_bytes_inline(pid, sid),
            None => self.no_shard(sid),
        }
    }

    /// Batched lookups: the keys are routed once and sorted by shard (a counting sort), each
    /// shard's keys go to its store's prefetching [`NativeStore::get_many`] in one call, and
    /// the views are put back in key order (when the batch holds at least
    /// two keys per shard; smaller batches are looked up key by
    /// key). On an error the keys are looked up one by one, so that the error is the first
    /// failing key's, as [`SignalStore::get_many`] promises.
    fn get_many<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        out.clear();
        if let [one] = self.shards.as_slice() {
            if keys
                .iter()
                .all(|(p, _)| (one.first..=one.last).contains(&p.0))
            {
                return one.store.get_many(keys, out);
            }
        }
        // Key by key: small batches, and after an error (so that it is the first key's).
        let one_by_one = |out: &mut Vec<Cow<'s, [u8]>>| -> Result<()> {
            out.clear();
            for &(pid, sid) in keys {
                out.push(self.get_bytes(pid, sid)?);
            }
            Ok(())
        };
        let n = self.shards.len();
        if keys.len() < Self::GROUP_MIN * n {
            return one_by_one(out);
        }
        // Each key's shard (as `get_bytes` routes it), then the keys sorted by shard (a
        // counting sort: one pass to count, one to place) with where each goes in `out`.
        let mut shard_of = Vec::with_capacity(keys.len());
        let mut starts = vec![0usize; n + 1];
        for &(pid, _) in keys {
            let i = self.router.candidate(&self.ranges, pid.0).min(n - 1);
            shard_of.push(i);
            starts[i + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut order = vec![0usize; keys.len()];
        let mut sorted = keys.to_vec();
        for (k, (&i, &key)) in shard_of.iter().zip(keys).enumerate() {
            order[fill[i]] = k;
            sorted[fill[i]] = key;
            fill[i] += 1;
        }
        out.resize(keys.len(), Cow::Borrowed(&[]));
        let mut views = Vec::new();
        for (shard, r) in self.shards.iter().zip(starts.windows(2)) {
            let r = r[0]..r[1];
            if r.is_empty() {
                continue;
            }
            if shard
                .store
                .get_many(&sorted[r.clone()], &mut views)
                .is_err()
            {
                return one_by_one(out);
            }
            for (&k, v) in order[r].iter().zip(views.drain(..)) {
                out[k] = v;
            }
        }
        Ok(())
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
