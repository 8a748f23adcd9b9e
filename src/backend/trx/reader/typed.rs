//! The typed API of a [`TrxFile`]: offsets and streamline ranges, positions, dps and dpv rows,
//! groups and dpg, lent in place as [`Rows`].

use std::ops::Range;

use super::{backend_error, Array, TrxFile};
use crate::backend::trx::dtype::{Dtype, Role};
use crate::backend::trx::TrxError;
use crate::error::Result;

/// Rows of a 2-D array (positions, dps or dpv) for one streamline: `bytes` hold
/// `rows × cols` elements of `dtype`, little-endian and possibly unaligned.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The raw bytes (borrowed from the map or the inflate cache).
    pub bytes: &'a [u8],
    /// Element type.
    pub dtype: Dtype,
    /// Columns per row.
    pub cols: usize,
}

impl<'a> Rows<'a> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.bytes.len() / (self.dtype.itemsize() * self.cols.max(1))
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `(row, col)` as `f64` (`None` out of range or for undecodable types).
    pub fn get_f64(&self, row: usize, col: usize) -> Option<f64> {
        if col >= self.cols {
            return None;
        }
        self.dtype
            .read_f64(self.bytes, row.checked_mul(self.cols)? + col)
    }

    /// Every element as `f64`, row-major.
    pub fn to_f64(&self) -> Vec<f64> {
        let n = self.bytes.len() / self.dtype.itemsize();
        (0..n)
            .map(|i| self.dtype.read_f64(self.bytes, i).unwrap_or(f64::NAN))
            .collect()
    }
}

impl TrxFile {
    /// Vertex offset of streamline `i` (`i ≤ NB_STREAMLINES`; `i = NB_STREAMLINES` gives the
    /// sentinel). Offsets were validated at open.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    #[inline]
    pub fn offset(&self, i: u64) -> Result<u64> {
        let out_of_range = || {
            backend_error(
                &self.path,
                "offsets".into(),
                TrxError::IndexOutOfRange {
                    index: i,
                    len: self.header.nb_streamlines + 1,
                },
            )
        };
        let Some(o) = self.offsets else {
            return if i == 0 { Ok(0) } else { Err(out_of_range()) };
        };
        let a = &self.arrays[o.array];
        let bytes = self.bytes(a)?;
        match o
            .dtype
            .read_int_fast(bytes, usize::try_from(i).unwrap_or(usize::MAX))
        {
            Some(v) => Ok(v as u64),
            None => Err(out_of_range()),
        }
    }

    /// Vertex range of streamline `i`.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`] for `i ≥ NB_STREAMLINES`.
    #[inline]
    pub fn streamline_range(&self, i: u64) -> Result<Range<u64>> {
        let out_of_range = || {
            backend_error(
                &self.path,
                "streamline".into(),
                TrxError::IndexOutOfRange {
                    index: i,
                    len: self.header.nb_streamlines,
                },
            )
        };
        if i >= self.header.nb_streamlines {
            return Err(out_of_range());
        }
        let Some(o) = self.offsets else {
            return Err(out_of_range());
        };
        let bytes = self.bytes(&self.arrays[o.array])?;
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        match (
            o.dtype.read_int_fast(bytes, i),
            o.dtype.read_int_fast(bytes, i.saturating_add(1)),
        ) {
            (Some(a), Some(b)) => Ok(a as u64..b as u64),
            _ => Err(out_of_range()),
        }
    }

    /// Number of vertices of every streamline (`offsets[i+1] - offsets[i]`).
    ///
    /// # Errors
    /// As [`TrxFile::bytes`] for the offsets array.
    pub fn lengths(&self) -> Result<Vec<u64>> {
        (0..self.header.nb_streamlines)
            .map(|i| self.streamline_range(i).map(|r| r.end - r.start))
            .collect()
    }

    pub(super) fn rows<'a>(&'a self, a: &'a Array, rows: Range<u64>) -> Result<Rows<'a>> {
        let cols = a.name.dim as usize;
        let row_bytes = (a.name.dtype.itemsize() * cols) as u64;
        let bytes = self.bytes(a)?;
        let (from, to) = (rows.start * row_bytes, rows.end * row_bytes);
        let slice = bytes.get(from as usize..to as usize).ok_or_else(|| {
            self.member_error(
                &a.member,
                a.data_offset,
                from,
                TrxError::OutOfBounds {
                    start: from,
                    end: to,
                    len: bytes.len() as u64,
                },
            )
        })?;
        Ok(Rows {
            bytes: slice,
            dtype: a.name.dtype,
            cols,
        })
    }

    /// The positions of streamline `i` (its vertices × 3), in place.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    pub fn streamline(&self, i: u64) -> Result<Rows<'_>> {
        let r = self.streamline_range(i)?;
        match self.positions {
            Some(p) => self.rows(&self.arrays[p], r),
            None => Ok(Rows {
                bytes: &[],
                dtype: Dtype::F32,
                cols: 3,
            }),
        }
    }

    /// The whole positions array (`NB_VERTICES × 3`).
    ///
    /// # Errors
    /// As [`TrxFile::bytes`].
    pub fn positions(&self) -> Result<Rows<'_>> {
        match self.positions {
            Some(p) => self.rows(&self.arrays[p], 0..self.header.nb_vertices),
            None => Ok(Rows {
                bytes: &[],
                dtype: Dtype::F32,
                cols: 3,
            }),
        }
    }

    /// The dps array `name`: one row per streamline.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dps(&self, name: &str) -> Result<Rows<'_>> {
        let a = self.named("dps", name)?;
        self.rows(a, 0..self.header.nb_streamlines)
    }

    /// The dpv array `name`: one row per vertex.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dpv(&self, name: &str) -> Result<Rows<'_>> {
        let a = self.named("dpv", name)?;
        self.rows(a, 0..self.header.nb_vertices)
    }

    /// The rows of dpv array `name` for streamline `i`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dpv_of(&self, name: &str, i: u64) -> Result<Rows<'_>> {
        let a = self.named("dpv", name)?;
        let r = self.streamline_range(i)?;
        self.rows(a, r)
    }

    /// The streamline indices of group `name` (validated in range at open).
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn group(&self, name: &str) -> Result<Vec<u64>> {
        let a = self.named("groups", name)?;
        let bytes = self.bytes(a)?;
        Ok((0..a.len as usize)
            .map(|i| a.name.dtype.read_int(bytes, i).unwrap_or(0) as u64)
            .collect())
    }

    /// Group names, in array order.
    pub fn group_names(&self) -> Vec<&str> {
        self.arrays
            .iter()
            .filter(|a| a.name.role == Role::Group)
            .map(|a| a.name.base.as_str())
            .collect()
    }

    /// The dpg array `name` of group `group` (`1 × dim`).
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dpg(&self, group: &str, name: &str) -> Result<Rows<'_>> {
        let a = self.named(&format!("dpg/{group}"), name)?;
        self.rows(a, 0..1)
    }
}
