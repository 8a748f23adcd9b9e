//! Building the by-pid transpose (`native::transpose` holds its layout and reader): the chunk plan, chunk files and `.pid_idx`, in place or in memory.

use crate::error::InputError;
use std::fs;
use std::path::{Path, PathBuf};

use super::{check_pid, Budget, Out};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::config::NativeConfig;
use crate::native::sparse::write_sparse_with_min;
use crate::native::transpose::{
    chunk_path, encode_record, pid_idx_entry, pid_idx_path, MIN_CHUNK_PIDS, PID_IDX_ENTRY_LEN,
};
use crate::store::SignalStore;

/// The chunk plan of `create_index`: `first = pids[0] − 1`, `last = pids[n−1] + 1`,
/// `jump = max(1,000,000, (last − first) / 10)`; chunk k holds pids in
/// `[first + k·jump, first + (k+1)·jump)`, and `(last − first) / jump + 1` chunk files are
/// written (empty ones included). Returns `(first, jump, chunk count)`.
pub fn chunk_plan(pids: &[Pid]) -> (i64, i64, usize) {
    let (Some(a), Some(b)) = (pids.first(), pids.last()) else {
        return (0, MIN_CHUNK_PIDS, 0);
    };
    let first = a.0 as i64 - 1;
    let last = b.0 as i64 + 1;
    let jump = MIN_CHUNK_PIDS.max((last - first) / 10);
    (first, jump, ((last - first) / jump + 1) as usize)
}

/// Writes the transpose of `store` under `prefix`, in a directory being built (chunks
/// first, the `.pid_idx` last).
pub(crate) fn write_transpose_into(
    store: &dyn SignalStore,
    prefix: &Path,
    budget: &Budget,
) -> Result<()> {
    write_transpose_with(
        store,
        prefix,
        budget,
        |path, budget| Out::create(path, budget).map(Sink::Plain),
        &mut |_, _| {},
    )
    .map(|_| ())
}

enum Sink {
    Plain(Out<std::io::BufWriter<std::fs::File>>),
    Atomic(Out<crate::atomic::AtomicFile>),
    Memory(Vec<u8>),
}

impl Sink {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        match self {
            Sink::Plain(o) => o.write(b),
            Sink::Atomic(o) => o.write(b),
            Sink::Memory(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
        }
    }
    /// Finishes the file; returns the bytes of an in-memory one.
    fn done(self) -> Result<Option<Vec<u8>>> {
        match self {
            Sink::Plain(o) => o.finish().map(|_| None),
            Sink::Atomic(o) => o.commit().map(|_| None),
            Sink::Memory(v) => Ok(Some(v)),
        }
    }
}

/// Writes chunk files then the `.pid_idx`; returns the bytes of in-memory sinks, in that
/// order. Reports `progress(pids done, pids)` after each pid's record (and `0/pids` first).
fn write_transpose_with(
    store: &dyn SignalStore,
    prefix: &Path,
    budget: &Budget,
    open: impl Fn(&Path, &Budget) -> Result<Sink>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<Vec<u8>>> {
    let mut memory = Vec::new();
    let catalog = store.catalog();
    let mut sigs: Vec<(Sid, usize)> = catalog
        .signals()
        .iter()
        .map(|s| (s.sid, s.layout.size()))
        .collect();
    sigs.sort_unstable();
    let pids = store.pids();
    for &p in pids.iter() {
        check_pid(p)?;
    }
    let (first, jump, n_chunks) = chunk_plan(pids);
    if n_chunks > u16::MAX as usize + 1 {
        return Err(InputError::TooLarge {
            what: "transpose chunks".into(),
            found: n_chunks as u64,
            limit: u16::MAX as u64 + 1,
        }
        .into());
    }
    let n_pids = pids.len() as u64;
    progress(0, n_pids);
    let mut keys = Vec::with_capacity(pids.len());
    let mut entries = Vec::with_capacity(pids.len() * PID_IDX_ENTRY_LEN);
    let mut at = 0usize;
    for k in 0..n_chunks {
        let end = first + (k as i64 + 1) * jump;
        let mut out = open(&chunk_path(prefix, k), budget)?;
        let mut pos = 0u64;
        while at < pids.len() && (pids[at].0 as i64) < end {
            let pid = pids[at];
            at += 1;
            let mut vectors = Vec::new();
            for &(sid, size) in &sigs {
                let b = store.get_bytes(pid, sid)?;
                if !b.is_empty() {
                    vectors.push((sid, b, size));
                }
            }
            let refs: Vec<(Sid, &[u8], usize)> =
                vectors.iter().map(|(s, b, z)| (*s, &b[..], *z)).collect();
            let rec = encode_record(pid, &refs)?;
            out.write(&rec)?;
            keys.push(pid.0);
            entries.extend_from_slice(&pid_idx_entry(k as u16, pos, rec.len() as u32, -1));
            pos += rec.len() as u64;
            progress(at as u64, n_pids);
        }
        memory.extend(out.done()?);
    }
    let mut idx = Vec::new();
    let min = u32::try_from(first.max(0)).unwrap_or(0);
    write_sparse_with_min(&mut idx, min, &keys, &pid_idx_entry(0, 0, 0, 0), &entries);
    let mut out = open(&pid_idx_path(prefix), budget)?;
    out.write(&idx)?;
    memory.extend(out.done()?);
    Ok(memory)
}

/// Builds (or rebuilds) the by-pid transpose of the MODE 3 repository `config` in place
/// (`inframed index`): chunk files first, then the `.pid_idx` (each renamed into place), then
/// stale chunk files beyond the new count are removed. Readers of the repository are not
/// affected; a reader of the old transpose keeps its maps.
///
/// Returns warnings: one per temporary transpose file that an earlier, killed run left
/// beside the transpose (`<PREFIX>__pids__….tmp.<pid>.<n>`), named, not removed.
///
/// # Errors
/// [`Error::Unsupported`] for a non-MODE 3 repository; read and I/O errors.
pub fn build_transpose(config: impl AsRef<Path>) -> Result<Vec<String>> {
    build_transpose_inner(config.as_ref(), None, false, &mut |_, _| {})
}

/// [`build_transpose`] that, with `force`, also replaces files of the transpose's names that
/// are not transpose files (by default they are refused: [`Error::Occupied`]).
///
/// # Errors
/// As [`build_transpose`].
pub fn build_transpose_forced(config: impl AsRef<Path>, force: bool) -> Result<Vec<String>> {
    build_transpose_inner(config.as_ref(), None, force, &mut |_, _| {})
}

/// [`build_transpose_forced`] that reports `progress(pids done, pids)` as each patient's
/// record is written (the CLI draws a bar from it; the library draws nothing).
///
/// # Errors
/// As [`build_transpose`].
pub fn build_transpose_with_progress(
    config: impl AsRef<Path>,
    force: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<String>> {
    build_transpose_inner(config.as_ref(), None, force, progress)
}

/// [`build_transpose`] with a fault-injection budget (tests; feature `testing`).
#[cfg(feature = "testing")]
pub fn build_transpose_with(config_path: &Path, fail_after: Option<u64>) -> Result<Vec<String>> {
    build_transpose_inner(config_path, fail_after, false, &mut |_, _| {})
}

fn build_transpose_inner(
    config_path: &Path,
    fail_after: Option<u64>,
    force: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<String>> {
    let NativeConfig {
        catalog,
        warnings,
        prefix,
        ..
    } = NativeConfig::read_mode3(config_path, "by-pid transpose of")?;
    // Named before anything is written: what an earlier, killed run left.
    let leftovers = transpose_temporaries(&prefix);
    let store = crate::native::NativeStore::open(catalog, &prefix, warnings)?;
    let budget = Budget::new(fail_after);
    let (_, _, n) = chunk_plan(store.pids());
    let chunks = check_transpose_targets(&prefix, n, force)?;
    write_transpose_with(
        &store,
        &prefix,
        &budget,
        |path, budget| Out::atomic(path, budget).map(Sink::Atomic),
        progress,
    )?;
    for p in &chunks[n..] {
        fs::remove_file(p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    Ok(leftovers
        .iter()
        .map(|p| crate::atomic::leftover_warning(p, "`inframed index`"))
        .collect())
}

/// The chunk files a transpose of `n` chunks under `prefix` writes, then the existing
/// ones beyond (to be removed), each checked to be a transpose file (or absent, or empty)
/// unless `force`; the `.pid_idx` is checked too.
///
/// # Errors
/// [`Error::Occupied`] naming a file that is not a transpose file.
pub(crate) fn check_transpose_targets(
    prefix: &Path,
    n: usize,
    force: bool,
) -> Result<Vec<PathBuf>> {
    let stale = (n..)
        .map(|k| chunk_path(prefix, k))
        .take_while(|p| p.exists());
    let chunks: Vec<PathBuf> = (0..n).map(|k| chunk_path(prefix, k)).chain(stale).collect();
    let kind = crate::target::OutputKind::Transpose;
    for p in chunks.iter().chain([&pid_idx_path(prefix)]) {
        crate::target::check_target(p, kind, force)?;
    }
    Ok(chunks)
}

/// Temporaries of the transpose files under `prefix` (`<PREFIX>__pids__<k>.pid_data.tmp.…`,
/// `<PREFIX>__pids__all.pid_idx.tmp.…`) that a killed `inframed index` or `add_signal` left.
pub(crate) fn transpose_temporaries(prefix: &Path) -> Vec<PathBuf> {
    let dir = crate::atomic::parent_of(prefix);
    let Some(name) = prefix.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let head = format!("{name}__pids__");
    crate::atomic::temporaries_in(&dir, |base| {
        base.strip_prefix(&head).is_some_and(|rest| {
            rest == "all.pid_idx"
                || rest
                    .strip_suffix(".pid_data")
                    .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// A new transpose written and synced under temporary names beside the files it replaces
/// (chunks, then the `.pid_idx`), not yet published ([`stage_transpose`]).
pub(crate) struct StagedTranspose {
    staged: crate::atomic::Staged,
    prefix: PathBuf,
    chunks: usize,
}

/// Writes the transpose of `store` under temporary names beside the transpose files of
/// `prefix`; nothing is published (dropped, the temporaries are removed).
///
/// # Errors
/// As [`build_transpose`]; the budget's injected faults.
pub(crate) fn stage_transpose(
    store: &dyn SignalStore,
    prefix: &Path,
    budget: &Budget,
) -> Result<StagedTranspose> {
    let staged = std::cell::RefCell::new(crate::atomic::Staged::default());
    write_transpose_with(
        store,
        prefix,
        budget,
        |path, budget| {
            let tmp = staged.borrow_mut().name(path);
            Out::create(&tmp, budget).map(Sink::Plain)
        },
        &mut |_, _| {},
    )?;
    let (_, _, chunks) = chunk_plan(store.pids());
    Ok(StagedTranspose {
        staged: staged.into_inner(),
        prefix: prefix.to_path_buf(),
        chunks,
    })
}

impl StagedTranspose {
    /// Removes the old `.pid_idx` (if any): from now on a reader opening the repository
    /// finds no transpose (and reads patients signal by signal) until [`Self::publish`].
    ///
    /// # Errors
    /// [`Error::Io`] naming it.
    pub(crate) fn retire_old(&self) -> Result<()> {
        let idx = pid_idx_path(&self.prefix);
        match fs::remove_file(&idx) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                path: idx,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Renames the chunks, then the `.pid_idx` into place, then removes the old chunk files
    /// beyond the new count. Call [`Self::retire_old`] first: a reader must never find the
    /// old `.pid_idx` beside new chunks.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub(crate) fn publish(mut self) -> Result<()> {
        for k in 0..self.chunks {
            self.staged.publish(&chunk_path(&self.prefix, k))?;
        }
        let idx = pid_idx_path(&self.prefix);
        debug_assert!(self.staged.has(&idx));
        self.staged.publish(&idx)?;
        for k in self.chunks.. {
            let p = chunk_path(&self.prefix, k);
            if !p.exists() {
                break;
            }
            fs::remove_file(&p).map_err(|source| Error::Io { path: p, source })?;
        }
        Ok(())
    }
}

/// Removes a transpose (the `.pid_idx` first, so no reader finds an index without chunks).
pub(crate) fn remove_transpose(prefix: &Path) -> Result<()> {
    let idx = pid_idx_path(prefix);
    if idx.exists() {
        fs::remove_file(&idx).map_err(|source| Error::Io { path: idx, source })?;
    }
    for k in 0.. {
        let p = chunk_path(prefix, k);
        if !p.exists() {
            break;
        }
        fs::remove_file(&p).map_err(|source| Error::Io { path: p, source })?;
    }
    Ok(())
}

/// Serializes the transpose of `store` in memory: `(.pid_idx bytes, chunk files)`.
///
/// # Errors
/// The store's read errors; [`Error::InvalidInput`] for pids beyond `i32`.
pub fn transpose_bytes(store: &dyn SignalStore) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let budget = Budget::new(None);
    let mut files = write_transpose_with(
        store,
        Path::new("<memory>"),
        &budget,
        |_, _| Ok(Sink::Memory(Vec::new())),
        &mut |_, _| {},
    )?;
    let idx = files.pop().unwrap_or_default();
    Ok((idx, files))
}
