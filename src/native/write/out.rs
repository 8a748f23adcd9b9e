//! Output files of the writers: a byte budget for fault injection, and a file being written
//! that names itself in errors.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::atomic::AtomicFile;
use crate::error::{Error, Result};

/// Bytes left before an injected failure (`None`: no fault injection). Cloning shares the
/// budget: every file of one write counts against it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Budget(Option<Arc<AtomicU64>>);

impl Budget {
    pub(crate) fn new(fail_after: Option<u64>) -> Budget {
        Budget(fail_after.map(|n| Arc::new(AtomicU64::new(n))))
    }

    /// Whether faults are injected (writes then go one file after the other, in order).
    pub(crate) fn injecting(&self) -> bool {
        self.0.is_some()
    }

    /// How many of `n` bytes may be written; `Err` once the budget is spent.
    fn take(&self, n: usize) -> io::Result<usize> {
        match &self.0 {
            None => Ok(n),
            Some(left) => {
                let l = left.load(Ordering::Relaxed);
                if l == 0 && n > 0 {
                    return Err(io::Error::other("injected fault: write budget exhausted"));
                }
                let k = (n as u64).min(l);
                left.store(l - k, Ordering::Relaxed);
                Ok(k as usize)
            }
        }
    }
}

/// A file being written, named in errors, counting against a [`Budget`].
pub(crate) struct Out<W: Write> {
    inner: W,
    path: PathBuf,
    budget: Budget,
    written: u64,
}

impl Out<BufWriter<File>> {
    /// Creates `path` (and its parent directories) inside a directory being built.
    pub(crate) fn create(path: &Path, budget: &Budget) -> Result<Self> {
        Self::with_capacity(path, budget, 1 << 16)
    }

    /// [`Out::create`] with a write buffer of `capacity` bytes.
    pub(crate) fn with_capacity(path: &Path, budget: &Budget, capacity: usize) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| Error::Open {
                path: parent.into(),
                source,
            })?;
        }
        let f = File::create(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        Ok(Out {
            inner: BufWriter::with_capacity(capacity, f),
            path: path.into(),
            budget: budget.clone(),
            written: 0,
        })
    }

    /// Flushes and syncs the file.
    pub(crate) fn finish(self) -> Result<()> {
        let path = self.path;
        let f = self.inner.into_inner().map_err(|e| Error::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(|source| Error::Io { path, source })
    }
}

impl Out<AtomicFile> {
    /// Starts an atomic replacement of `path`.
    pub(crate) fn atomic(path: &Path, budget: &Budget) -> Result<Self> {
        Ok(Out {
            inner: AtomicFile::create(path)?,
            path: path.into(),
            budget: budget.clone(),
            written: 0,
        })
    }

    /// Renames the finished file into place.
    pub(crate) fn commit(self) -> Result<()> {
        self.inner.commit()
    }
}

impl<W: Write> Out<W> {
    /// Writes all of `bytes`, or fails naming the file (an injected fault writes a prefix
    /// first, like a real short write would).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let io_err = |path: &Path, source| Error::Io {
            path: path.into(),
            source,
        };
        let k = self
            .budget
            .take(bytes.len())
            .map_err(|e| io_err(&self.path, e))?;
        self.inner
            .write_all(&bytes[..k])
            .map_err(|e| io_err(&self.path, e))?;
        self.written += k as u64;
        if k < bytes.len() {
            let _ = self.inner.flush();
            return Err(io_err(
                &self.path,
                io::Error::other("injected fault: write budget exhausted"),
            ));
        }
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.written
    }
}

/// Writes a whole file inside a directory being built.
pub(crate) fn put(path: &Path, bytes: &[u8], budget: &Budget) -> Result<()> {
    let mut out = Out::create(path, budget)?;
    out.write(bytes)?;
    out.finish()
}
