//! A whole signal as columns (`pid`, then one typed column per channel), written straight
//! into numpy arrays: what `get_sig` hands to pandas (`to_arrow` streams the library's Arrow
//! views instead).
//!
//! The rows are read in two passes: one counts them (for a mapped store the lengths come from
//! the index, no element is read), then numpy allocates each column at its final size and a
//! second pass writes the channels into them. numpy, not a growing Rust `Vec`, allocates the
//! columns because numpy advises the kernel to back multi-MB arrays with huge pages: a
//! whole-signal column is tens of MB, and filling it page by page from fresh 4 KiB pages cost
//! more than the scan itself (a `Vec` grown by doubling also copies it on each growth).

use std::borrow::Cow;

use inframed::layout::ChannelType;
use inframed::{Pid, Repository, SignalStore};
use numpy::{PyArray1, PyArrayMethods, PyReadwriteArray1};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::arrays::SigType;
use crate::errors::IntoPy;

/// Where the rows come from in the second pass.
pub enum Rows {
    /// The store maps the signal's vectors: the second pass reads them again from the map.
    Mapped,
    /// The store decodes vectors on each read (compressed containers): the first pass kept
    /// them, `(pid, element count)` in order and their bytes back to back.
    Copied {
        /// Each vector's pid and element count, in row order.
        runs: Vec<(Pid, usize)>,
        /// The vectors' bytes, back to back.
        bytes: Vec<u8>,
    },
}

/// The first pass: the number of rows of `st` (all, or those of `pids` in that order).
pub struct Counted {
    /// Rows in all.
    pub rows: usize,
    /// How the second pass reads them.
    pub source: Rows,
}

/// Every vector of the signal, pids ascending (a whole-signal scan), or those of `pids` in
/// the order given.
fn for_each_vector(
    repo: &Repository,
    st: &SigType,
    pids: Option<&[u32]>,
    visit: &mut dyn FnMut(Pid, &[u8]),
) -> inframed::Result<()> {
    match pids {
        None => repo.scan(st.sid, visit),
        Some(pids) => {
            for &p in pids {
                let bytes: Cow<'_, [u8]> = repo.get_bytes(Pid(p), st.sid)?;
                visit(Pid(p), &bytes);
            }
            Ok(())
        }
    }
}

/// Counts the rows (and keeps the bytes when the store decodes them: see [`Rows`]).
pub fn count(repo: &Repository, st: &SigType, pids: Option<&[u32]>) -> inframed::Result<Counted> {
    let size = st.itemsize;
    let mut rows = 0usize;
    if repo.signal_region(st.sid).is_some() {
        for_each_vector(repo, st, pids, &mut |_, b| rows += b.len() / size)?;
        return Ok(Counted {
            rows,
            source: Rows::Mapped,
        });
    }
    let (mut runs, mut bytes) = (Vec::new(), Vec::new());
    for_each_vector(repo, st, pids, &mut |pid, b| {
        let n = b.len() / size;
        rows += n;
        runs.push((pid, n));
        bytes.extend_from_slice(&b[..n * size]);
    })?;
    Ok(Counted {
        rows,
        source: Rows::Copied { runs, bytes },
    })
}

/// One numpy column being written: its array (handed to pandas afterwards) and the borrow
/// that lends its storage as a Rust slice.
pub enum ColumnArray<'py> {
    /// `c`
    I8(PyReadwriteArray1<'py, i8>),
    /// `s`
    I16(PyReadwriteArray1<'py, i16>),
    /// `i`
    I32(PyReadwriteArray1<'py, i32>),
    /// `l`
    I64(PyReadwriteArray1<'py, i64>),
    /// `uc`
    U8(PyReadwriteArray1<'py, u8>),
    /// `us`
    U16(PyReadwriteArray1<'py, u16>),
    /// `ui`
    U32(PyReadwriteArray1<'py, u32>),
    /// `ul`
    U64(PyReadwriteArray1<'py, u64>),
    /// `f`
    F32(PyReadwriteArray1<'py, f32>),
    /// `d`
    F64(PyReadwriteArray1<'py, f64>),
}

/// A column's storage as a typed slice (what the GIL-free second pass writes).
enum Slice<'a> {
    I8(&'a mut [i8]),
    I16(&'a mut [i16]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    U8(&'a mut [u8]),
    U16(&'a mut [u16]),
    U32(&'a mut [u32]),
    U64(&'a mut [u64]),
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

macro_rules! each_type {
    ($m:ident) => {
        $m!(I8, i8);
        $m!(I16, i16);
        $m!(I32, i32);
        $m!(I64, i64);
        $m!(U8, u8);
        $m!(U16, u16);
        $m!(U32, u32);
        $m!(U64, u64);
        $m!(F32, f32);
        $m!(F64, f64);
    };
}

/// A fresh array is contiguous; `as_slice_mut` fails only for strided views.
fn contiguous<T>(r: Result<&mut [T], numpy::NotContiguousError>) -> PyResult<&mut [T]> {
    r.map_err(|e| PyRuntimeError::new_err(format!("internal error: {e}")))
}

impl<'py> ColumnArray<'py> {
    /// A zeroed column of `n` values of type `ty`, allocated by numpy.
    pub fn zeros(py: Python<'py>, ty: ChannelType, n: usize) -> ColumnArray<'py> {
        macro_rules! arm {
            ($v:ident, $t:ty) => {
                if let ChannelType::$v = ty {
                    return ColumnArray::$v(PyArray1::<$t>::zeros(py, n, false).readwrite());
                }
            };
        }
        each_type!(arm);
        unreachable!("every ChannelType has an arm")
    }

    /// The numpy array.
    pub fn array(&self) -> Bound<'py, PyAny> {
        macro_rules! arm {
            ($v:ident, $t:ty) => {
                if let ColumnArray::$v(a) = self {
                    let b: &Bound<'py, PyArray1<$t>> = a;
                    return b.clone().into_any();
                }
            };
        }
        each_type!(arm);
        unreachable!("every ColumnArray has an arm")
    }

    fn slice(&mut self) -> PyResult<Slice<'_>> {
        Ok(match self {
            ColumnArray::I8(a) => Slice::I8(contiguous(a.as_slice_mut())?),
            ColumnArray::I16(a) => Slice::I16(contiguous(a.as_slice_mut())?),
            ColumnArray::I32(a) => Slice::I32(contiguous(a.as_slice_mut())?),
            ColumnArray::I64(a) => Slice::I64(contiguous(a.as_slice_mut())?),
            ColumnArray::U8(a) => Slice::U8(contiguous(a.as_slice_mut())?),
            ColumnArray::U16(a) => Slice::U16(contiguous(a.as_slice_mut())?),
            ColumnArray::U32(a) => Slice::U32(contiguous(a.as_slice_mut())?),
            ColumnArray::U64(a) => Slice::U64(contiguous(a.as_slice_mut())?),
            ColumnArray::F32(a) => Slice::F32(contiguous(a.as_slice_mut())?),
            ColumnArray::F64(a) => Slice::F64(contiguous(a.as_slice_mut())?),
        })
    }

    /// The values as i64 (for dictionary codes).
    pub fn codes(&self) -> Vec<i64> {
        macro_rules! arm {
            ($v:ident, $t:ty) => {
                if let ColumnArray::$v(a) = self {
                    return a.as_array().iter().map(|&x| x as i64).collect();
                }
            };
        }
        each_type!(arm);
        unreachable!("every ColumnArray has an arm")
    }
}

impl Slice<'_> {
    /// Writes the channel at byte `off` of every `size`-byte element of `bytes` from row `at`
    /// on (the caller checked that the rows fit).
    fn write(&mut self, at: usize, bytes: &[u8], size: usize, off: usize) {
        macro_rules! arm {
            ($v:ident, $t:ty) => {
                if let Slice::$v(dst) = self {
                    const N: usize = std::mem::size_of::<$t>();
                    let n = bytes.len() / size;
                    for (d, e) in dst[at..at + n].iter_mut().zip(bytes.chunks_exact(size)) {
                        let mut a = [0u8; N];
                        a.copy_from_slice(&e[off..off + N]);
                        *d = <$t>::from_le_bytes(a);
                    }
                    return;
                }
            };
        }
        each_type!(arm);
    }
}

/// The columns of a signal's rows: `pid` (int32, as medpython's), then one per channel in
/// [`SigType::fields`] order.
pub struct Table<'py> {
    /// One pid per row.
    pub pids: PyReadwriteArray1<'py, i32>,
    /// One column per channel.
    pub columns: Vec<ColumnArray<'py>>,
}

impl<'py> Table<'py> {
    /// Allocates the columns of `counted` rows and fills them with the GIL released.
    pub fn fill(
        py: Python<'py>,
        repo: &Repository,
        st: &SigType,
        pids: Option<&[u32]>,
        counted: &Counted,
    ) -> PyResult<Table<'py>> {
        let n = counted.rows;
        let mut table = Table {
            pids: PyArray1::<i32>::zeros(py, n, false).readwrite(),
            columns: st
                .types
                .iter()
                .map(|&t| ColumnArray::zeros(py, t, n))
                .collect(),
        };
        {
            let pid_col = contiguous(table.pids.as_slice_mut())?;
            let mut cols = table
                .columns
                .iter_mut()
                .map(ColumnArray::slice)
                .collect::<PyResult<Vec<_>>>()?;
            let written = py.detach(|| -> inframed::Result<Option<usize>> {
                let (size, offsets) = (st.itemsize, &st.offsets);
                let mut at = 0usize;
                let mut overflow = false;
                let mut put = |pid: Pid, bytes: &[u8]| {
                    let k = bytes.len() / size;
                    if overflow || at + k > n {
                        overflow = true;
                        return;
                    }
                    pid_col[at..at + k].fill(pid.0 as i32);
                    for (c, &off) in cols.iter_mut().zip(offsets) {
                        c.write(at, &bytes[..k * size], size, off);
                    }
                    at += k;
                };
                match &counted.source {
                    Rows::Mapped => for_each_vector(repo, st, pids, &mut put)?,
                    Rows::Copied { runs, bytes } => {
                        let mut from = 0usize;
                        for &(pid, k) in runs {
                            put(pid, &bytes[from..from + k * size]);
                            from += k * size;
                        }
                    }
                }
                Ok((!overflow).then_some(at))
            });
            if written.py_err()? != Some(n) {
                return Err(PyRuntimeError::new_err(format!(
                    "signal {} changed while read: {n} rows counted, then others",
                    st.name
                )));
            }
        }
        Ok(table)
    }
}
