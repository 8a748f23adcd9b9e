//! Selections of streamlines ([`TrxFile::select`], [`Selection`]): views by index, with the
//! groups remapped as trx-python does.

use hashbrown::HashMap;

use super::{backend_error, Rows, TrxFile};
use crate::backend::trx::TrxError;
use crate::error::Result;

impl TrxFile {
    /// A view of the streamlines `indices` (any order, repeats allowed), as trx-python's
    /// `select(indices, keep_group=True)`: nothing is copied.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`] for an index ≥ `NB_STREAMLINES`.
    pub fn select(&self, indices: &[u64]) -> Result<Selection<'_>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.header.nb_streamlines) {
            return Err(backend_error(
                &self.path,
                "select".into(),
                TrxError::IndexOutOfRange {
                    index: bad,
                    len: self.header.nb_streamlines,
                },
            ));
        }
        Ok(Selection {
            file: self,
            indices: indices.to_vec(),
        })
    }
}

/// A selection of streamlines of a [`TrxFile`] (see [`TrxFile::select`]).
#[derive(Debug)]
pub struct Selection<'a> {
    file: &'a TrxFile,
    indices: Vec<u64>,
}

impl<'a> Selection<'a> {
    /// Number of selected streamlines.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The original index of selected streamline `j`.
    pub fn index(&self, j: usize) -> Option<u64> {
        self.indices.get(j).copied()
    }

    /// Positions of selected streamline `j`.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    pub fn streamline(&self, j: usize) -> Result<Rows<'a>> {
        self.file.streamline(self.original(j)?)
    }

    /// Number of vertices of the selection.
    ///
    /// # Errors
    /// As [`TrxFile::streamline_range`].
    pub fn nb_vertices(&self) -> Result<u64> {
        self.indices.iter().try_fold(0u64, |n, &i| {
            let r = self.file.streamline_range(i)?;
            Ok(n + (r.end - r.start))
        })
    }

    /// Row `j` of dps array `name`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dps(&self, name: &str, j: usize) -> Result<Rows<'a>> {
        let i = self.original(j)?;
        let a = self.file.named("dps", name)?;
        self.file.rows(a, i..i + 1)
    }

    /// The dpv rows of selected streamline `j`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dpv(&self, name: &str, j: usize) -> Result<Rows<'a>> {
        self.file.dpv_of(name, self.original(j)?)
    }

    /// Groups remapped to positions in the selection, as trx-python does: the first position of
    /// each member that is selected; groups with no selected member are left out.
    ///
    /// # Errors
    /// As [`TrxFile::group`].
    pub fn groups(&self) -> Result<Vec<(String, Vec<u64>)>> {
        let mut first: HashMap<u64, u64> = HashMap::new();
        for (j, &i) in self.indices.iter().enumerate() {
            first.entry(i).or_insert(j as u64);
        }
        let mut out = Vec::new();
        for name in self.file.group_names() {
            let mut members: Vec<u64> = self
                .file
                .group(name)?
                .iter()
                .filter_map(|i| first.get(i).copied())
                .collect();
            members.sort_unstable();
            members.dedup();
            if !members.is_empty() {
                out.push((name.to_string(), members));
            }
        }
        Ok(out)
    }

    fn original(&self, j: usize) -> Result<u64> {
        self.index(j).ok_or_else(|| {
            backend_error(
                &self.file.path,
                "selection".into(),
                TrxError::IndexOutOfRange {
                    index: j as u64,
                    len: self.indices.len() as u64,
                },
            )
        })
    }
}
