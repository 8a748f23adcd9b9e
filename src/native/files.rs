//! One MODE 3 signal's `.data`/`.idx` pair: opened at open, mapped and checked on first use.
//!
//! Opening a repository used to map and check every signal's two files: four or five system
//! calls and a few page faults per file, most of the open's time, for signals a caller may
//! never read. Now the open only opens the files (which also tells which are present: one
//! without the other is still an error at open) and keeps the descriptors; the first read of
//! a signal maps them and runs the checks the open ran, reporting the same errors, and closes
//! the descriptors. Held descriptors pin the files the open found, so a signal read after a
//! writer replaced the repository still comes from the generation that was opened.
//!
//! Descriptors are a process resource (the soft `RLIMIT_NOFILE`: often 1,024, 256 on macOS),
//! so a process holds at most a quarter of its limit this way ([`budget`]); past that (many
//! repositories or shards open, none read yet), a signal's files are mapped at open instead,
//! still checked on first use.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::{DecodeError, Error, Result};
use crate::ids::Sid;
use crate::mmap::{self, absent_is_none, Bytes};
use crate::native::index::{SignalIndex, DATA_BASE, STRIPPED_FORMAT};
use crate::native::signal_paths;

/// One signal's mapped and checked files.
#[derive(Debug)]
pub(super) struct SignalFiles {
    pub(super) index: SignalIndex,
    pub(super) idx: Bytes,
    pub(super) data: Bytes,
    pub(super) idx_path: PathBuf,
    pub(super) data_path: PathBuf,
}

/// The most descriptors kept open for first use, whatever the limit.
const HELD_MAX: usize = 4096;

/// Descriptors a process keeps open for signals not read yet, all repositories together: a
/// quarter of its descriptor limit (soft `RLIMIT_NOFILE`, read once), at most [`HELD_MAX`].
/// Under the usual limit of 1,024 that is 256, room for 8 repositories of 16 signals; under
/// macOS's 256, 64.
fn budget() -> usize {
    static BUDGET: OnceLock<usize> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        #[cfg(unix)]
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        // No small descriptor limit elsewhere (Windows handles): the Unix default's share.
        #[cfg(not(unix))]
        let limit = Some(1024u64);
        limit.map_or(HELD_MAX, |n| (n / 4).min(HELD_MAX as u64) as usize)
    })
}

/// Descriptors held now by [`Pending::Opened`], all stores together.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Takes `n` descriptors from the [`budget`]; `false` (nothing taken) when they do not fit.
fn acquire(n: usize) -> bool {
    let budget = budget();
    HELD.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
        (held + n <= budget).then_some(held + n)
    })
    .is_ok()
}

/// The two files of a signal opened but not mapped; gives its descriptors back to the budget
/// when dropped (closed).
#[derive(Debug)]
struct Opened {
    idx: File,
    data: File,
}

impl Drop for Opened {
    fn drop(&mut self) {
        HELD.fetch_sub(2, Ordering::AcqRel);
    }
}

/// What a signal has before its first use.
#[derive(Debug)]
enum Pending {
    /// Opened, to be mapped (within the descriptor budget).
    Opened(Opened),
    /// Mapped at open (over the budget), with the `.data` format word; to be checked.
    Mapped(Bytes, Bytes, Option<i32>),
}

/// A signal with files: mapped and checked on first use ([`SignalSlot::get`]).
#[derive(Debug)]
pub(super) struct SignalSlot {
    ready: OnceLock<SignalFiles>,
    /// `Some` until `ready` is set; kept after a failed check, so every use reports the error.
    pending: Mutex<Option<Pending>>,
    sid: Sid,
    size: usize,
    idx_path: PathBuf,
    data_path: PathBuf,
}

impl SignalSlot {
    /// Opens the files of signal `name` (`sid`, elements of `size` bytes) under `prefix`;
    /// `None` when both are absent (an empty signal).
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Inconsistent`] when one file is present without the other.
    pub(super) fn open(prefix: &Path, name: &str, sid: Sid, size: usize) -> Result<Option<Self>> {
        Self::open_in(prefix, name, sid, size, acquire(2))
    }

    /// [`SignalSlot::open`] keeping descriptors (`held`: two were taken from the budget, given
    /// back by the `Opened` or here) or mapping at once.
    fn open_in(
        prefix: &Path,
        name: &str,
        sid: Sid,
        size: usize,
        held: bool,
    ) -> Result<Option<Self>> {
        let (data_path, idx_path) = signal_paths(prefix, name);
        let pending = if held {
            let opened = (
                absent_is_none(mmap::open(&idx_path)),
                absent_is_none(mmap::open(&data_path)),
            );
            match opened {
                (Ok(Some(idx)), Ok(Some(data))) => Some(Pending::Opened(Opened { idx, data })),
                (idx, data) => {
                    // An `Opened` was not made: the descriptors are closed as `idx` and
                    // `data` drop.
                    HELD.fetch_sub(2, Ordering::AcqRel);
                    match (idx?, data?) {
                        (None, None) => return Ok(None),
                        (idx, _) => return Err(inconsistent(idx.is_none(), &idx_path, &data_path)),
                    }
                }
            }
        } else {
            match (
                absent_is_none(mmap::map(&idx_path))?,
                absent_is_none(mmap::map_with_head::<4>(&data_path))?,
            ) {
                (None, None) => return Ok(None),
                (Some(idx), Some((data, head))) => {
                    Some(Pending::Mapped(idx, data, head.map(i32::from_le_bytes)))
                }
                (idx, _) => return Err(inconsistent(idx.is_none(), &idx_path, &data_path)),
            }
        };
        Ok(Some(SignalSlot {
            ready: OnceLock::new(),
            pending: Mutex::new(pending),
            sid,
            size,
            idx_path,
            data_path,
        }))
    }

    /// A signal whose files are already checked (in-memory stores).
    pub(super) fn ready(files: SignalFiles, sid: Sid, size: usize) -> Self {
        let (idx_path, data_path) = (files.idx_path.clone(), files.data_path.clone());
        SignalSlot {
            ready: OnceLock::from(files),
            pending: Mutex::new(None),
            sid,
            size,
            idx_path,
            data_path,
        }
    }

    /// The signal's files, mapped and checked on the first call.
    ///
    /// # Errors
    /// What opening the repository reported before first use: [`Error::Open`] (mapping),
    /// [`Error::Corrupt`] (header fields, sizes, element size ≠ layout), every call alike.
    #[inline(always)]
    pub(super) fn get(&self) -> Result<&SignalFiles> {
        match self.ready.get() {
            Some(f) => Ok(f),
            None => self.load(),
        }
    }

    /// The files if a call already mapped and checked them.
    #[inline(always)]
    pub(super) fn loaded(&self) -> Option<&SignalFiles> {
        self.ready.get()
    }

    /// The `.idx` path (for listing a signal whose files fail their checks).
    pub(super) fn idx_path(&self) -> &Path {
        &self.idx_path
    }

    /// The `.data` path.
    pub(super) fn data_path(&self) -> &Path {
        &self.data_path
    }

    #[cold]
    #[inline(never)]
    fn load(&self) -> Result<&SignalFiles> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = self.ready.get() {
            return Ok(f);
        }
        // Taken out for the check, put back when it fails (so the next use fails alike).
        let files = match pending.take() {
            Some(Pending::Opened(o)) => match self.map_and_check(&o) {
                // `o` drops at the end of this arm: the descriptors close, the maps keep the
                // files.
                Ok(files) => files,
                Err(e) => {
                    *pending = Some(Pending::Opened(o));
                    return Err(e);
                }
            },
            Some(Pending::Mapped(idx, data, format)) => {
                match self.check(idx.as_slice(), data.as_slice(), format) {
                    Ok(index) => self.files(index, idx, data),
                    Err(e) => {
                        *pending = Some(Pending::Mapped(idx, data, format));
                        return Err(e);
                    }
                }
            }
            None => unreachable!("a slot is pending until it is ready"),
        };
        // Under the lock, and `ready` was empty: this is the one initialisation.
        Ok(self.ready.get_or_init(|| files))
    }

    fn map_and_check(&self, o: &Opened) -> Result<SignalFiles> {
        let (idx, _) = mmap::map_opened::<0>(&self.idx_path, &o.idx)?;
        let (data, head) = mmap::map_opened::<4>(&self.data_path, &o.data)?;
        let index = self.check(
            idx.as_slice(),
            data.as_slice(),
            head.map(i32::from_le_bytes),
        )?;
        Ok(self.files(index, idx, data))
    }

    fn files(&self, index: SignalIndex, idx: Bytes, data: Bytes) -> SignalFiles {
        SignalFiles {
            index,
            idx,
            data,
            idx_path: self.idx_path.clone(),
            data_path: self.data_path.clone(),
        }
    }

    fn check(&self, idx: &[u8], data: &[u8], format: Option<i32>) -> Result<SignalIndex> {
        check_signal(
            self.sid,
            self.size,
            idx,
            (data, format),
            &self.idx_path,
            &self.data_path,
        )
    }
}

fn inconsistent(idx_missing: bool, idx_path: &Path, data_path: &Path) -> Error {
    let (present, missing) = if idx_missing {
        (data_path, idx_path)
    } else {
        (idx_path, data_path)
    };
    Error::Inconsistent {
        path: present.to_path_buf(),
        source: DecodeError::Missing(missing.display().to_string()),
    }
}

pub(super) fn corrupt(path: &Path) -> impl Fn((u64, DecodeError)) -> Error + '_ {
    move |(offset, source)| Error::corrupt(path, offset, source)
}

/// The checks of a signal's files (what opening used to check): the `.idx` header and sparse
/// layout, its sid, base and element size against the catalog, the `.data` format word (`format`,
/// `None` when the file is shorter than 4 bytes) and size.
///
/// # Errors
/// [`Error::Corrupt`] naming the file and byte offset.
pub(super) fn check_signal(
    sid: Sid,
    size: usize,
    idx: &[u8],
    (d, format): (&[u8], Option<i32>),
    idx_path: &Path,
    data_path: &Path,
) -> Result<SignalIndex> {
    let index = SignalIndex::parse(idx).map_err(corrupt(idx_path))?;
    let field = |offset, field, found: i64, expected: i64| {
        Error::corrupt(
            idx_path,
            offset,
            DecodeError::Field {
                field,
                found,
                expected,
            },
        )
    };
    if index.sid != sid.0 as i32 {
        return Err(field(4, "sid", index.sid as i64, sid.0 as i64));
    }
    if index.base != DATA_BASE {
        return Err(field(8, "base", index.base as i64, DATA_BASE as i64));
    }
    if index.factor as usize != size {
        return Err(field(
            16,
            "factor (element size)",
            index.factor as i64,
            size as i64,
        ));
    }
    let Some(format) = format.filter(|_| d.len() >= 4) else {
        return Err(Error::corrupt(
            data_path,
            d.len() as u64,
            DecodeError::UnexpectedEof,
        ));
    };
    // The format word: 1 (stripped) is what every writer puts in MODE 3 files; 0 (full)
    // is read the same way by the original (it follows index positions only). Anything
    // else is not a data file of either kind: refused here, not only by `verify`.
    if format != STRIPPED_FORMAT && format != 0 {
        return Err(Error::corrupt(
            data_path,
            0,
            DecodeError::Version(format as i64),
        ));
    }
    if (d.len() - 4) % size != 0 {
        return Err(Error::corrupt(
            data_path,
            d.len() as u64,
            DecodeError::Size {
                size: d.len() as u64,
                header: 4,
                element: size as u64,
            },
        ));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::text::config::RepositoryConfig;

    /// The golden repository copied into a temporary directory, its catalog and prefix.
    fn golden() -> (tempfile::TempDir, Catalog, PathBuf) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inframed/small/repo");
        let t = tempfile::tempdir().unwrap();
        for sub in ["", "data", "dicts"] {
            std::fs::create_dir_all(t.path().join(sub)).unwrap();
            for e in std::fs::read_dir(src.join(sub)).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    std::fs::copy(e.path(), t.path().join(sub).join(e.file_name())).unwrap();
                }
            }
        }
        let config = RepositoryConfig::read(&t.path().join("small.repository")).unwrap();
        let (catalog, _) = Catalog::load(&config).unwrap();
        let prefix = config.prefix_path();
        (t, catalog, prefix)
    }

    fn slot(catalog: &Catalog, prefix: &Path, name: &str, held: bool) -> SignalSlot {
        let info = catalog.signals().iter().find(|s| s.name == name).unwrap();
        if held {
            assert!(acquire(2), "budget free for the test");
        }
        SignalSlot::open_in(prefix, name, info.sid, info.layout.size(), held)
            .unwrap()
            .unwrap()
    }

    /// Both ways of waiting for first use (descriptors held, or mapped over the budget) give
    /// the same files, and the same error at every use for a damaged one.
    #[test]
    fn held_and_mapped_slots_read_and_fail_alike() {
        let (t, catalog, prefix) = golden();
        let held = slot(&catalog, &prefix, "Hemoglobin", true);
        let mapped = slot(&catalog, &prefix, "Hemoglobin", false);
        assert!(matches!(
            *held.pending.lock().unwrap(),
            Some(Pending::Opened(_))
        ));
        assert!(matches!(
            *mapped.pending.lock().unwrap(),
            Some(Pending::Mapped(..))
        ));
        let (a, b) = (held.get().unwrap(), mapped.get().unwrap());
        assert_eq!(a.index, b.index);
        assert_eq!(a.data.as_slice(), b.data.as_slice());
        assert!(held.pending.lock().unwrap().is_none(), "descriptors closed");

        // The sparse magic of the `.idx` damaged (written anew: the slots above keep theirs).
        let idx = t.path().join("data/small_rep_Hemoglobin.idx");
        let mut bytes = std::fs::read(&idx).unwrap();
        bytes[28] ^= 0xff;
        std::fs::remove_file(&idx).unwrap();
        std::fs::write(&idx, &bytes).unwrap();
        for held in [true, false] {
            let s = slot(&catalog, &prefix, "Hemoglobin", held);
            for _ in 0..3 {
                let e = s.get().unwrap_err();
                assert_eq!(
                    e.to_string(),
                    format!("{}: corrupt at byte 28", idx.display()),
                    "held {held}"
                );
                assert!(s.loaded().is_none());
            }
        }
    }

    /// Threads racing to a signal's first use all get the one mapping.
    #[test]
    fn first_use_from_many_threads_maps_once() {
        let (_t, catalog, prefix) = golden();
        let s = slot(&catalog, &prefix, "Glucose", true);
        let ptrs: Vec<usize> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| sc.spawn(|| s.get().unwrap().data.as_slice().as_ptr() as usize))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ptrs.iter().all(|&p| p == ptrs[0]));
    }

    /// The budget is a quarter of the descriptor limit, at most `HELD_MAX`; it refuses what
    /// does not fit and takes nothing then.
    #[test]
    fn budget_refuses_past_its_size() {
        #[cfg(unix)]
        {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            let expected = limit.map_or(HELD_MAX, |n| (n / 4).min(HELD_MAX as u64) as usize);
            assert_eq!(budget(), expected);
        }
        assert!(budget() <= HELD_MAX);
        assert!(!acquire(budget() + 1));
    }
}
