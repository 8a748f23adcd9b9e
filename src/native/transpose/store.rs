//! A MODE 3 repository read through its by-pid transpose only.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::config::NativeConfig;
use crate::native::pids::{verify_pids, PidList};
use crate::native::pids_path;
use crate::store::{SignalStore, StoreDescription};

/// A MODE 3 repository read through its by-pid transpose only (`.pid_idx` + `.pid_data`,
/// the catalog and `_all_pids.list`): what `MedPidRepository` reads.
#[derive(Debug)]
pub struct TransposeStore {
    catalog: Catalog,
    pids: PidList,
    pids_path: PathBuf,
    transpose: Transpose,
}

impl TransposeStore {
    /// Opens the transpose of the MODE 3 repository `config`.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`], [`Error::Corrupt`]; [`Error::Unsupported`] when the
    /// repository has no transpose or is not MODE 3.
    pub fn open(config: impl AsRef<Path>) -> Result<TransposeStore> {
        let NativeConfig {
            catalog, prefix, ..
        } = NativeConfig::read_mode3(config.as_ref(), "by-pid transpose of")?;
        let transpose = Transpose::open(&prefix, &catalog)?.ok_or_else(|| Error::Unsupported {
            path: pid_idx_path(&prefix),
            what: "repository without a by-pid transpose (run `inframed index`)".into(),
        })?;
        let pids_path = pids_path(&prefix);
        let pids = PidList::parse(&pids_path, mmap::map(&pids_path)?)?;
        Ok(TransposeStore {
            catalog,
            pids,
            pids_path,
            transpose,
        })
    }

    /// A store over an in-memory transpose: the pid list bytes (`_all_pids.list`), the
    /// `.pid_idx` bytes and the `.pid_data` chunks in order, of a repository whose signals are
    /// `catalog`. Same checks as [`TransposeStore::open`]; paths in errors are `<memory>/…`.
    ///
    /// # Errors
    /// As [`TransposeStore::open`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        catalog: Catalog,
        pids: D,
        idx: D,
        chunks: Vec<D>,
    ) -> Result<TransposeStore> {
        let transpose = Transpose::from_bytes(&catalog, idx, chunks)?;
        let pids_path = PathBuf::from("<memory>/all_pids.list");
        let pids = PidList::parse(&pids_path, Bytes::from_owned(pids))?;
        Ok(TransposeStore {
            catalog,
            pids,
            pids_path,
            transpose,
        })
    }

    /// The transpose.
    pub fn transpose(&self) -> &Transpose {
        &self.transpose
    }
}

impl SignalStore for TransposeStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        self.pids.as_slice()
    }

    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(self.transpose.get(pid, sid)?))
    }

    fn describe(&self) -> StoreDescription {
        let mut files = vec![(
            self.pids_path.clone(),
            fs::metadata(&self.pids_path).map(|m| m.len()).unwrap_or(0),
        )];
        files.extend(self.transpose.files());
        StoreDescription {
            format: "InfraMed by-pid transpose (.pid_data/.pid_idx)".into(),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        verify_pids(&self.pids_path, self.pids())?;
        self.transpose.verify()?;
        crate::store::verify_elements(self)
    }
}
