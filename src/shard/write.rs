//! [`write_shards`]: any store split into pid-range shards, each written by
//! [`write_mode3`] (the one MODE 3 writer), plus the manifest.

use crate::error::InputError;
use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::atomic::AtomicDir;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::writer::{write_mode3, Metadata, Mode3Options};
use crate::store::{SignalStore, StoreDescription};
use crate::text::config::RepositoryConfig;

use super::manifest::{
    catalog_checksum, Manifest, ShardEntry, MANIFEST_FORMAT, MANIFEST_NAME, MANIFEST_VERSION,
};
use super::target::check_shards_target;

/// What [`write_shards`] writes.
#[derive(Clone, Debug)]
pub struct ShardOptions {
    /// Number of shards asked for (at least 1; fewer are written when the store has fewer
    /// patients).
    pub shards: usize,
    /// The texts every shard gets (signals file, dictionaries, description); the same bytes
    /// in every shard, so they share one catalog checksum.
    pub metadata: Metadata,
    /// Replace `out` even when it is not a previous shard output.
    pub force: bool,
    /// Shards written at once (default: rayon's pool, one per core). Memory is bounded per
    /// shard by the MODE 3 writer's buffers and its `(pid, count)` lists.
    pub threads: Option<usize>,
}

impl ShardOptions {
    /// `shards` shards with texts regenerated from `catalog`.
    ///
    /// # Errors
    /// As [`Metadata::from_catalog`].
    pub fn new(shards: usize, catalog: &Catalog) -> Result<ShardOptions> {
        Ok(ShardOptions {
            shards,
            metadata: Metadata::from_catalog("shard", catalog)?,
            force: false,
            threads: None,
        })
    }
}

/// The texts a repository opened from `source` gives its shards, byte for byte: a config's
/// own signals file and dictionaries, or the first shard's of a manifest; `None` for a
/// container (its texts are regenerated from the catalog, [`ShardOptions::new`]).
///
/// # Errors
/// As [`Metadata::from_config`]; [`Manifest::read`].
pub fn source_metadata(source: &Path) -> Result<Option<Metadata>> {
    if crate::backend::Container::of(source).is_some() {
        return Ok(None);
    }
    let config = if super::manifest::is_manifest(source) {
        Manifest::read(source)?.shard_path(source, 0)
    } else {
        source.to_path_buf()
    };
    Ok(Some(Metadata::from_config(&RepositoryConfig::read(
        &config,
    )?)?))
}

/// Elements per patient of `store` (every signal), in `pids()` order: one scan per signal,
/// which for MODE 3 reads only the index.
///
/// # Errors
/// The store's read errors.
pub fn element_counts(store: &dyn SignalStore) -> Result<Vec<u64>> {
    let pids = store.pids();
    let mut counts = vec![0u64; pids.len()];
    for info in store.catalog().signals() {
        let size = info.layout.size().max(1) as u64;
        let mut cursor = 0usize;
        store.scan(info.sid, &mut |pid, bytes| {
            // Scans visit pids ascending: move the cursor forward (binary search from it).
            if pids.get(cursor) != Some(&pid) {
                cursor += pids[cursor..].partition_point(|&p| p < pid);
            }
            if let Some(c) = counts.get_mut(cursor) {
                if pids[cursor] == pid {
                    *c += bytes.len() as u64 / size;
                }
            }
        })?;
    }
    Ok(counts)
}

/// Splits `counts` (elements per patient) into at most `n` contiguous, non-empty ranges of
/// patient indices with element sums as equal as whole patients allow: the cut before
/// shard `k` is the first patient whose running sum reaches `k/n` of the total.
pub fn balance(counts: &[u64], n: usize) -> Vec<std::ops::Range<usize>> {
    let len = counts.len();
    let n = n.clamp(1, len.max(1));
    if len == 0 {
        return std::iter::once(0..0).collect();
    }
    let mut cum = Vec::with_capacity(len);
    let mut acc = 0u64;
    for &c in counts {
        acc += c;
        cum.push(acc);
    }
    let total = acc as u128;
    let mut cuts = vec![0usize];
    for k in 1..n {
        let target = (total * k as u128).div_ceil(n as u128) as u64;
        // First index whose running sum (through it) reaches the target; the shard ends
        // after it.
        let at = cum.partition_point(|&c| c < target) + 1;
        let prev = *cuts.last().expect("starts with 0");
        let at = at.max(prev + 1).min(len - (n - k));
        cuts.push(at);
    }
    cuts.push(len);
    cuts.windows(2).map(|w| w[0]..w[1]).collect()
}

/// `PREFIX` of the shard named `name` (the MODE 3 writer's default).
pub(crate) fn shard_prefix(name: &str) -> String {
    format!("data/{name}_rep")
}

/// The directory name of shard `i`.
fn shard_name(i: usize) -> String {
    format!("shard-{i:04}")
}

/// Writes `store` as pid-range shards in the folder `out`: `out/shard-NNNN/` (each a
/// standalone MODE 3 repository `shard-NNNN.repository`, written in parallel through
/// [`write_mode3`]) and `out/shards.json` ([`Manifest`]). Ranges are balanced by element
/// count ([`balance`]). The whole folder is built beside `out` and renamed into place, so a
/// failure leaves `out` as it was. Returns the manifest path.
///
/// # Errors
/// [`Error::Occupied`] when `out` is neither absent, empty nor a previous shard output
/// (unless `force`); [`Error::InvalidInput`] for zero shards; the writer's and the store's
/// errors.
///
/// # Examples
/// ```
/// use inframed::shard::{write_shards, ShardOptions};
/// use inframed::{Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let out = tempfile::tempdir().unwrap();
/// let manifest = write_shards(&repo, &out.path().join("sh"), &ShardOptions::new(2, repo.catalog())?)?;
/// assert_eq!(Repository::open(manifest)?.pids(), repo.pids());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn write_shards(
    store: &dyn SignalStore,
    out: &Path,
    options: &ShardOptions,
) -> Result<PathBuf> {
    write_shards_staged(store, out, options).map_err(|e| e.in_target(out))
}

/// [`write_shards`] itself: errors may still name the staging directory.
fn write_shards_staged(
    store: &dyn SignalStore,
    out: &Path,
    options: &ShardOptions,
) -> Result<PathBuf> {
    if options.shards == 0 {
        return Err(InputError::OutOfRange {
            what: "--shards",
            value: 0,
            min: 1,
            max: u32::MAX as i64,
        }
        .into());
    }
    check_shards_target(out, options.force)?;
    let counts = element_counts(store)?;
    let ranges = balance(&counts, options.shards);
    let pids = store.pids();
    let stage = AtomicDir::create(out)?;
    let root = stage.path().to_path_buf();
    let write_one = |(i, r): (usize, &std::ops::Range<usize>)| -> Result<(PathBuf, ShardEntry)> {
        let name = shard_name(i);
        let view = PidRange {
            inner: store,
            pids: &pids[r.clone()],
        };
        let mut o = Mode3Options::new(&name, store.catalog())?;
        o.prefix = shard_prefix(&name);
        o.metadata = options.metadata.clone();
        let config = write_mode3(&view, &root.join(&name), &o)?;
        let (first, last) = match (view.pids.first(), view.pids.last()) {
            (Some(a), Some(b)) => (a.0, b.0),
            _ => (0, 0),
        };
        let entry = ShardEntry {
            path: format!("{name}/{name}.repository"),
            first_pid: first,
            last_pid: last,
            patients: view.pids.len() as u64,
            elements: counts[r.clone()].iter().sum(),
        };
        Ok((config, entry))
    };
    let jobs: Vec<(usize, &std::ops::Range<usize>)> = ranges.iter().enumerate().collect();
    let written: Vec<(PathBuf, ShardEntry)> = match options.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
            .map_err(|source| Error::ThreadPool { source })?
            .install(|| {
                jobs.par_iter()
                    .copied()
                    .map(write_one)
                    .collect::<Result<_>>()
            })?,
        None => jobs
            .par_iter()
            .copied()
            .map(write_one)
            .collect::<Result<_>>()?,
    };
    let mut sums = written
        .iter()
        .map(|(config, _)| catalog_checksum(&RepositoryConfig::read(config)?));
    let sum = sums.next().expect("at least one shard")?;
    for s in sums {
        if s? != sum {
            return Err(Error::Internal {
                what: "writing shards",
                detail: "shards written with different texts".into(),
            });
        }
    }
    let shards: Vec<ShardEntry> = written.into_iter().map(|(_, e)| e).collect();
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        version: MANIFEST_VERSION,
        catalog_crc32: sum,
        patients: pids.len() as u64,
        elements: counts.iter().sum(),
        shards,
    };
    let text = manifest.to_text();
    fs::write(root.join(MANIFEST_NAME), text.as_bytes()).map_err(|source| Error::Io {
        path: root.join(MANIFEST_NAME),
        source,
    })?;
    stage.commit()?;
    Ok(out.join(MANIFEST_NAME))
}

/// The patients `pids` (a contiguous run of the inner store's) of a store: what one shard
/// holds. Scans use the trait's default (one lookup per pid of the range).
#[derive(Debug)]
struct PidRange<'a> {
    inner: &'a dyn SignalStore,
    pids: &'a [Pid],
}

impl SignalStore for PidRange<'_> {
    fn catalog(&self) -> &Catalog {
        self.inner.catalog()
    }

    fn pids(&self) -> &[Pid] {
        self.pids
    }

    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.inner.get_bytes(pid, sid)
    }

    fn describe(&self) -> StoreDescription {
        self.inner.describe()
    }
}
