//! numpy structured dtypes for element layouts, and arrays that view the map.

use std::os::raw::c_void;
use std::ptr;

use inframed::layout::ChannelType;
use inframed::{Sid, SignalInfo};
use numpy::npyffi::{npy_intp, NpyTypes, PyArrayObject, NPY_ARRAY_C_CONTIGUOUS, PY_ARRAY_API};
use numpy::PyArrayDescr;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Per signal: what the binding needs to hand out its elements as numpy arrays.
pub struct SigType {
    /// Signal id.
    pub sid: Sid,
    /// Signal name.
    pub name: String,
    /// Element size in bytes.
    pub itemsize: usize,
    /// Field names, time channels first (medpython's column names).
    pub fields: Vec<String>,
    /// Channel storage types, in the order of `fields`.
    pub types: Vec<ChannelType>,
    /// Channel byte offsets, in the order of `fields`.
    pub offsets: Vec<usize>,
    /// Number of time channels (the first fields).
    pub n_time: usize,
    /// Whether value channel `i` is categorical.
    pub categorical: Vec<bool>,
    /// The structured dtype (packed: explicit offsets and itemsize, no padding fields).
    pub dtype: Py<PyArrayDescr>,
    /// The pointer alignment at which every channel of every element is naturally aligned;
    /// `None` when no pointer gives that (a channel at an odd offset): always copied.
    pub view_align: Option<usize>,
}

/// medpython's field names (`time0…`, `val0…`; `date`, `val` … for legacy types 1 and 3): the
/// library's [`inframed::arrow::medpython_names`], which `to_arrow`'s Arrow columns also use.
pub fn field_names(info: &SignalInfo) -> Vec<String> {
    inframed::arrow::medpython_names(info)
}

impl SigType {
    /// Builds the dtype of a signal.
    pub fn new(py: Python<'_>, info: &SignalInfo) -> PyResult<SigType> {
        let layout = &info.layout;
        let chans: Vec<_> = layout
            .time_channels()
            .iter()
            .chain(layout.value_channels())
            .copied()
            .collect();
        let fields = field_names(info);
        let types: Vec<ChannelType> = chans.iter().map(|c| c.ty).collect();
        let offsets: Vec<usize> = chans.iter().map(|c| c.offset).collect();
        let spec = PyDict::new(py);
        spec.set_item("names", PyList::new(py, &fields)?)?;
        spec.set_item(
            "formats",
            PyList::new(py, types.iter().map(|t| t.numpy_type()))?,
        )?;
        spec.set_item("offsets", PyList::new(py, &offsets)?)?;
        spec.set_item("itemsize", layout.size())?;
        let dtype = PyArrayDescr::new(py, spec)?.unbind();
        let natural = chans
            .iter()
            .all(|c| c.offset % c.ty.size() == 0 && layout.size() % c.ty.size() == 0);
        let view_align = natural.then(|| chans.iter().map(|c| c.ty.size()).max().unwrap_or(1));
        Ok(SigType {
            sid: info.sid,
            name: info.name.clone(),
            itemsize: layout.size(),
            fields,
            types,
            offsets,
            n_time: layout.time_channels().len(),
            categorical: (0..layout.value_channels().len())
                .map(|i| info.is_categorical(i))
                .collect(),
            dtype,
            view_align,
        })
    }

    /// Whether `bytes` can be viewed in place: borrowed from the store, non-empty, and
    /// aligned for every channel.
    pub fn can_view(&self, bytes: &[u8], borrowed: bool) -> bool {
        borrowed
            && !bytes.is_empty()
            && self
                .view_align
                .is_some_and(|a| (bytes.as_ptr() as usize) % a == 0)
    }
}

/// The elements in `bytes` as a 1-d numpy array of the signal's dtype.
///
/// Where [`SigType::can_view`] holds the array *views* `bytes` (read-only, no copy) and its
/// `base` is `owner`, which must keep `bytes` alive (the `Repository` object, which owns the
/// maps). Otherwise the elements are copied into a new, writeable array.
pub fn elements<'py>(
    py: Python<'py>,
    owner: &Bound<'py, PyAny>,
    st: &SigType,
    bytes: &[u8],
    borrowed: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let n = bytes.len() / st.itemsize;
    let bytes = &bytes[..n * st.itemsize];
    let mut dims = [n as npy_intp];
    let view = st.can_view(bytes, borrowed);
    // SAFETY: the numpy C API is called with the GIL held (`py`). `PyArray_NewFromDescr`
    // steals the reference to `descr` we create with `into_ptr`; `dims` outlives the call.
    // For a view, `data` points at `n * itemsize` readable bytes that `owner` keeps alive
    // (the Repository owns the maps they live in and is never mutated), the array is created
    // without NPY_ARRAY_WRITEABLE so numpy never writes through the pointer, and
    // `PyArray_SetBaseObject` (which steals the owner reference, also on failure) makes the
    // array hold `owner` for as long as it exists. For a copy, numpy allocates `n * itemsize`
    // bytes for the new C-contiguous array and we fill exactly that many from `bytes`.
    unsafe {
        let ty = PY_ARRAY_API.get_type_object(py, NpyTypes::PyArray_Type);
        let descr = st.dtype.clone_ref(py).into_ptr() as *mut numpy::npyffi::PyArray_Descr;
        let data = if view {
            bytes.as_ptr() as *mut c_void
        } else {
            ptr::null_mut()
        };
        let flags = if view { NPY_ARRAY_C_CONTIGUOUS } else { 0 };
        let arr = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            ty,
            descr,
            1,
            dims.as_mut_ptr(),
            ptr::null_mut(),
            data,
            flags,
            ptr::null_mut(),
        );
        if arr.is_null() {
            return Err(PyErr::fetch(py));
        }
        let arr = Bound::from_owned_ptr(py, arr);
        if view {
            let base = owner.clone().into_ptr();
            if PY_ARRAY_API.PyArray_SetBaseObject(py, arr.as_ptr() as *mut PyArrayObject, base) < 0
            {
                return Err(PyErr::fetch(py));
            }
        } else if !bytes.is_empty() {
            let dst = (*(arr.as_ptr() as *mut PyArrayObject)).data as *mut u8;
            ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        }
        Ok(arr)
    }
}
