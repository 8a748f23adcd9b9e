//! The one MODE 3 writer: the `.data`/`.idx` pair of every signal and `_all_pids.list`.
//!
//! This is the only code that knows the MODE 3 byte layout on the write side:
//! `<PREFIX>_<SIG>.data` is the `i32` format word [`STRIPPED_FORMAT`] followed by the vectors
//! of the signal's patients, pids ascending, elements as laid out in memory; `.idx` is
//! written by [`write_index`] from the `(pid, count)` list; `_all_pids.list` by
//! [`write_pids`]. [`Mode3Writer`] builds a whole repository in a staging directory and
//! publishes it in one step; [`SignalFile`] is one signal's pair, for writers that add a
//! signal in place.

use crate::error::InputError;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use hashbrown::HashMap;

use crate::catalog::{Catalog, SignalInfo};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::index::{write_index, STRIPPED_FORMAT};
use crate::native::{pids_path, signal_paths, write_pids};

use super::out::{Budget, Out};
use super::staging::Staging;

/// Write buffer of a `.data` file.
const DATA_BUFFER: usize = 256 << 10;

/// Checks that `pid` fits the `i32` pid fields of the original formats.
pub(crate) fn check_pid(pid: Pid) -> Result<()> {
    if pid.0 > i32::MAX as u32 {
        return Err(InputError::PidOutOfRange { pid }.into());
    }
    Ok(())
}

/// One signal's `.data` file being written, with the `(pid, count)` entries of its `.idx`.
pub(crate) struct SignalFile<W: Write> {
    info: SignalInfo,
    data: Out<W>,
    entries: Vec<(u32, u32)>,
    total: u64,
}

impl<W: Write> SignalFile<W> {
    /// Starts the `.data` file on `data` (writes the format word).
    pub(crate) fn start(info: &SignalInfo, mut data: Out<W>) -> Result<SignalFile<W>> {
        data.write(&STRIPPED_FORMAT.to_le_bytes())?;
        Ok(SignalFile {
            info: info.clone(),
            data,
            entries: Vec::new(),
            total: 0,
        })
    }

    /// Appends the vector of `pid` (whole, time-sorted elements; pids ascending). An empty
    /// vector is no entry.
    ///
    /// # Errors
    /// [`Error::PartialElements`]; [`Error::InvalidInput`] for a pid beyond `i32`, pids not ascending,
    /// more elements than a `.idx` addresses; I/O errors naming the file.
    pub(crate) fn push(&mut self, pid: Pid, bytes: &[u8]) -> Result<()> {
        check_pid(pid)?;
        self.info.check_whole(pid, bytes)?;
        if bytes.is_empty() {
            return Ok(());
        }
        let n = (bytes.len() / self.info.layout.size()) as u64;
        if self.total + n > u32::MAX as u64 {
            return Err(InputError::TooLarge {
                what: format!("signal {}: elements in a MODE 3 .idx", self.info.name),
                found: self.total + n,
                limit: u32::MAX as u64,
            }
            .into());
        }
        if let Some(&(prev, _)) = self.entries.last().filter(|&&(p, _)| p >= pid.0) {
            return Err(InputError::PidsNotAscending {
                signal: Some(self.info.name.clone()),
                prev: Pid(prev),
                next: pid,
            }
            .into());
        }
        self.data.write(bytes)?;
        self.total += n;
        self.entries.push((pid.0, n as u32));
        Ok(())
    }

    /// Elements written so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The finished data file and the bytes of the signal's `.idx`.
    pub(crate) fn into_parts(self) -> (Out<W>, Vec<u8>) {
        let idx = write_index(
            self.info.sid.0 as i32,
            self.info.layout.size() as u32,
            &self.entries,
        );
        (self.data, idx)
    }
}

/// What the writer does with one signal of the catalog.
enum Slot {
    /// Not written (kept as it is, or absent).
    Skipped,
    /// Not started yet: opened at the first vector, or written empty at the end.
    Pending,
    /// Its `.data` file is open.
    Open(Box<SignalFile<BufWriter<File>>>),
    /// Written, with its element count.
    Done(u64),
}

/// Writes a MODE 3 repository: every signal's `<PREFIX>_<SIG>.data`/`.idx`, the pid list,
/// the texts and the config, in a staging directory published over the target in one step
/// by [`Mode3Writer::finish`]. Dropped before, it leaves the target unchanged.
///
/// Vectors come through [`Mode3Writer::push`], pids ascending within each signal (signals
/// may interleave: pid by pid, as the converter's merge finishes them, or signal by signal,
/// as a store's scan gives them). Every signal of the catalog gets its file pair, the empty
/// form for a signal without elements, as the original loader does.
///
/// # Examples
/// ```
/// use inframed::native::write::Mode3Writer;
/// use inframed::{Pid, Repository, SignalStore};
/// let raw = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let hgb = raw.catalog().signal("Hemoglobin")?.sid;
/// let out = tempfile::tempdir().unwrap();
/// let dir = out.path().join("mini");
/// let mut w = Mode3Writer::create(&dir, raw.catalog(), "data/mini_rep")?;
/// w.push(Pid(7), hgb, &[&20200101i32.to_le_bytes()[..], &13.5f32.to_le_bytes()].concat())?;
/// w.add_pid(Pid(7))?;
/// let signals = w.finish(None)?;
/// assert!(signals.contains(&("Hemoglobin".to_string(), 1)));
/// assert!(dir.join("data/mini_rep_Hemoglobin.data").is_file());
/// # Ok::<_, inframed::Error>(())
/// ```
pub struct Mode3Writer {
    staging: Staging,
    prefix: String,
    signals: Vec<(SignalInfo, Slot)>,
    by_sid: HashMap<Sid, usize>,
    /// `None`: the pid list is kept as it is (an update of some signals).
    pids: Option<Vec<Pid>>,
    budget: Budget,
}

impl std::fmt::Debug for Mode3Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mode3Writer")
            .field("staging", &self.staging)
            .field("prefix", &self.prefix)
            .field("signals", &self.signals.len())
            .finish()
    }
}

impl Mode3Writer {
    /// A writer of a new repository in the directory `out` (created, or replaced at
    /// [`Mode3Writer::finish`]: check first that it may be), with every signal of `catalog`
    /// under the relative `prefix` (the config's `PREFIX`, e.g. `data/<name>_rep`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a prefix that is not a plain relative path; [`Error::Open`]
    /// for the staging directory.
    pub fn create(out: &Path, catalog: &Catalog, prefix: &str) -> Result<Mode3Writer> {
        Self::with_staging(Staging::new(out)?, catalog, prefix, Some(Vec::new()))
    }

    /// A writer that rewrites some signals of the existing repository in `out` and keeps
    /// every other file (and the pid list) as it is: the staging directory starts as links to
    /// `out`'s files. Restrict the signals with [`Mode3Writer::only`]. The by-pid transpose
    /// is not kept (it holds the old vectors of the signals rewritten): rebuild it with
    /// [`crate::native::write::build_transpose`], as after `add_signal`.
    ///
    /// # Errors
    /// As [`Mode3Writer::create`]; errors linking `out`'s files.
    pub fn update(out: &Path, catalog: &Catalog, prefix: &str) -> Result<Mode3Writer> {
        let w = Self::with_staging(Staging::linked(out)?, catalog, prefix, None)?;
        // Only the staged links go (prefix checked relative above); the live files stay.
        // Kept, the stale transpose would serve `patient` the old vectors, and records with
        // sids the new signals file no longer has (tests/reliability_readers_during_writes.rs).
        super::remove_transpose(&w.staging.root().join(&w.prefix))?;
        Ok(w)
    }

    fn with_staging(
        staging: Staging,
        catalog: &Catalog,
        prefix: &str,
        pids: Option<Vec<Pid>>,
    ) -> Result<Mode3Writer> {
        let plain = Path::new(prefix)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if prefix.is_empty() || !plain {
            return Err(InputError::NotRelative {
                what: "PREFIX",
                path: prefix.to_string(),
            }
            .into());
        }
        let signals: Vec<(SignalInfo, Slot)> = catalog
            .signals()
            .iter()
            .map(|s| (s.clone(), Slot::Pending))
            .collect();
        let by_sid = signals
            .iter()
            .enumerate()
            .map(|(i, (s, _))| (s.sid, i))
            .collect();
        Ok(Mode3Writer {
            staging,
            prefix: prefix.to_string(),
            signals,
            by_sid,
            pids,
            budget: Budget::default(),
        })
    }

    /// Writes only the signals in `sids`; the others get no files (call before any push).
    pub fn only(mut self, sids: &[Sid]) -> Mode3Writer {
        for (info, slot) in &mut self.signals {
            if !sids.contains(&info.sid) {
                *slot = Slot::Skipped;
            }
        }
        self
    }

    /// Test hook: fail with an I/O error after `bytes` more bytes (`None`: never).
    #[cfg(feature = "testing")]
    pub(crate) fn fail_after(mut self, bytes: Option<u64>) -> Mode3Writer {
        self.budget = Budget::new(bytes);
        self
    }

    fn slot(&mut self, sid: Sid) -> Result<usize> {
        self.by_sid
            .get(&sid)
            .copied()
            .ok_or(Error::UnknownSid { sid })
    }

    /// Appends the vector of `(pid, sid)`: whole elements of the signal's layout,
    /// time-sorted; pids ascending within the signal. An empty vector is no entry.
    ///
    /// # Errors
    /// [`Error::UnknownSid`]; [`Error::PartialElements`]; [`Error::InvalidInput`] (a pid beyond `i32`,
    /// pids not ascending, a signal skipped or already finished, more than 2^32-1 elements);
    /// I/O errors naming the file.
    pub fn push(&mut self, pid: Pid, sid: Sid, elements: &[u8]) -> Result<()> {
        let i = self.slot(sid)?;
        if let Slot::Pending = self.signals[i].1 {
            let file = self.open(i)?;
            self.signals[i].1 = Slot::Open(Box::new(file));
        }
        match &mut self.signals[i].1 {
            Slot::Open(f) => f.push(pid, elements),
            _ => Err(InputError::SignalNotOpen {
                signal: self.signals[i].0.name.clone(),
            }
            .into()),
        }
    }

    /// Elements of `sid` written so far.
    pub fn elements(&self, sid: Sid) -> u64 {
        match self.by_sid.get(&sid).map(|&i| &self.signals[i].1) {
            Some(Slot::Open(f)) => f.total(),
            Some(Slot::Done(n)) => *n,
            _ => 0,
        }
    }

    /// Adds a patient to `_all_pids.list` (pids ascending; a patient may have no elements).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a pid beyond `i32` or not ascending.
    pub fn add_pid(&mut self, pid: Pid) -> Result<()> {
        check_pid(pid)?;
        if let Some(pids) = &mut self.pids {
            if let Some(&prev) = pids.last().filter(|&&p| p >= pid) {
                return Err(InputError::PidsNotAscending {
                    signal: None,
                    prev,
                    next: pid,
                }
                .into());
            }
            pids.push(pid);
        }
        Ok(())
    }

    /// Closes the `.data` file of `sid` and writes its `.idx` (no more vectors of it). Frees
    /// the file's buffer early when signals come one after the other.
    ///
    /// # Errors
    /// [`Error::UnknownSid`]; I/O errors naming the file.
    pub fn finish_signal(&mut self, sid: Sid) -> Result<()> {
        let i = self.slot(sid)?;
        self.close(i)
    }

    /// Writes another file of the repository (a text, a dictionary) at `rel`, relative to
    /// the repository directory.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn put(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.staging.path(rel)?;
        super::out::put(&path, bytes, &self.budget)
    }

    /// Where to write another file at `rel` now (parent directories made), for a caller that
    /// copies it in itself.
    ///
    /// # Errors
    /// I/O errors naming the directory.
    pub fn stage_path(&mut self, rel: &str) -> Result<PathBuf> {
        self.staging.path(rel)
    }

    /// `PREFIX` inside the staging directory (for files written beside the signals).
    pub(crate) fn staged_prefix(&self) -> PathBuf {
        self.staging.root().join(&self.prefix)
    }

    /// The byte budget every file of this write counts against.
    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    fn open(&mut self, i: usize) -> Result<SignalFile<BufWriter<File>>> {
        let info = &self.signals[i].0;
        let (data_rel, _) = signal_paths(Path::new(&self.prefix), &info.name);
        let path = self.staging.path(&data_rel.to_string_lossy())?;
        SignalFile::start(info, Out::with_capacity(&path, &self.budget, DATA_BUFFER)?)
    }

    fn close(&mut self, i: usize) -> Result<()> {
        let file = match std::mem::replace(&mut self.signals[i].1, Slot::Skipped) {
            Slot::Skipped => return Ok(()),
            Slot::Done(n) => {
                self.signals[i].1 = Slot::Done(n);
                return Ok(());
            }
            Slot::Pending => self.open(i)?,
            Slot::Open(f) => *f,
        };
        let total = file.total();
        let (data, idx) = file.into_parts();
        data.finish()?;
        let (_, idx_rel) = signal_paths(Path::new(&self.prefix), &self.signals[i].0.name);
        self.put(&idx_rel.to_string_lossy(), &idx)?;
        self.signals[i].1 = Slot::Done(total);
        Ok(())
    }

    /// [`Mode3Writer::close`] of every signal, the files flushed and synced by one thread
    /// each: one after the other, the syncs were a tenth of a 100k-patient convert's wall time
    /// (15 signals, ~13 ms each), most of it waiting on the disk. Same bytes, same files.
    fn close_all(&mut self) -> Result<()> {
        let mut jobs = Vec::new();
        for i in 0..self.signals.len() {
            let file = match std::mem::replace(&mut self.signals[i].1, Slot::Skipped) {
                Slot::Skipped => continue,
                Slot::Done(n) => {
                    self.signals[i].1 = Slot::Done(n);
                    continue;
                }
                Slot::Pending => self.open(i)?,
                Slot::Open(f) => *f,
            };
            let (_, idx_rel) = signal_paths(Path::new(&self.prefix), &self.signals[i].0.name);
            let idx_path = self.staging.path(&idx_rel.to_string_lossy())?;
            jobs.push((i, file, idx_path));
        }
        let budget = &self.budget;
        let done: Vec<(usize, Result<u64>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .into_iter()
                .map(|(i, file, idx_path)| {
                    let h = scope.spawn(move || -> Result<u64> {
                        let total = file.total();
                        let (data, idx) = file.into_parts();
                        data.finish()?;
                        super::out::put(&idx_path, &idx, budget)?;
                        Ok(total)
                    });
                    (i, h)
                })
                .collect();
            handles
                .into_iter()
                .map(|(i, h)| {
                    let r = h.join().unwrap_or_else(|_| {
                        Err(Error::Io {
                            path: self.staging.root().into(),
                            source: std::io::Error::other("a file-closing thread panicked"),
                        })
                    });
                    (i, r)
                })
                .collect()
        });
        let mut first_err = None;
        for (i, r) in done {
            match r {
                Ok(total) => self.signals[i].1 = Slot::Done(total),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Closes every signal (the empty form for those without elements), writes the pid list
    /// and then `config` (`(file name, text)`, if given) last, and publishes the directory
    /// over the target in one step. Returns `(name, elements)` of every signal written, in
    /// catalog order.
    ///
    /// # Errors
    /// I/O errors naming the file; on error the target is unchanged.
    pub fn finish(mut self, config: Option<(&str, &[u8])>) -> Result<Vec<(String, u64)>> {
        if self.budget.injecting() {
            // Fault injection counts bytes in write order: one file after the other.
            for i in 0..self.signals.len() {
                self.close(i)?;
            }
        } else {
            self.close_all()?;
        }
        if let Some(pids) = self.pids.take() {
            let rel = pids_path(Path::new(&self.prefix));
            self.put(&rel.to_string_lossy(), &write_pids(&pids))?;
        }
        if let Some((name, text)) = config {
            self.put(name, text)?;
        }
        let written = self
            .signals
            .iter()
            .filter_map(|(info, slot)| match slot {
                Slot::Done(n) => Some((info.name.clone(), *n)),
                _ => None,
            })
            .collect();
        self.staging.commit()?;
        Ok(written)
    }
}
