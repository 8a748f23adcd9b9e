//! `inframed.Repository`: the Python face of `inframed::Repository`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use inframed::{Pid, Repository, Signal, SignalStore};
use numpy::npyffi::{npy_intp, NpyTypes, NPY_TYPES, PY_ARRAY_API};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::arrays::{self, SigType};
use crate::errors::{self, IntoPy};

/// An open repository (a config or a container, possibly stacked).
///
/// Opening opens the files (a MODE 3 signal's are mapped and checked on its first read, which
/// raises `CorruptError` for a damaged file); no element is read. Arrays returned by `get`,
/// `uget` and `patient` view the memory-mapped files without a copy where the bytes are
/// aligned for every channel (they are read-only and their `.base` is this Repository, which
/// stays alive as long as any of them does); otherwise they are writeable copies. A
/// Repository is immutable and safe to share between threads.
#[pyclass(frozen, module = "inframed", name = "Repository")]
pub struct PyRepository {
    pub(crate) repo: Arc<Repository>,
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) sigs: Vec<SigType>,
    by_name: HashMap<String, usize>,
    by_sid: HashMap<u32, usize>,
}

/// Keys per `SignalStore::get_many` call of `Repository.get_many`.
const GET_MANY_LANE: usize = 4096;

/// A pid argument as the store's `Pid`.
pub(crate) fn to_pid(pid: i64) -> PyResult<Pid> {
    u32::try_from(pid)
        .map(Pid)
        .map_err(|_| PyValueError::new_err(format!("pid {pid} is outside 0..=4294967295")))
}

/// A sequence or array of pids as `u32`s (through `numpy.asarray(…, int64)`).
pub(crate) fn pid_list(py: Python<'_>, pids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    let np = py.import("numpy")?;
    let arr = np.call_method1("asarray", (pids, "int64"))?;
    let arr = arr.call_method1("reshape", (-1,))?;
    let arr = arr.cast::<PyArray1<i64>>()?.readonly();
    arr.as_slice()?
        .iter()
        .map(|&p| to_pid(p).map(|p| p.0))
        .collect()
}

impl PyRepository {
    /// Opens `paths` stacked (one path: a plain open). Builds every signal's dtype.
    pub(crate) fn open(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<PyRepository> {
        let p = paths.clone();
        let repo = py
            .detach(move || {
                if p.len() == 1 {
                    Repository::open(&p[0])
                } else {
                    Repository::open_stacked(&p)
                }
            })
            .py_err()?;
        let mut sigs = Vec::new();
        let mut by_name = HashMap::new();
        let mut by_sid = HashMap::new();
        for info in repo.catalog().signals() {
            by_name.insert(info.name.clone(), sigs.len());
            by_sid.insert(info.sid.0, sigs.len());
            sigs.push(SigType::new(py, info)?);
        }
        Ok(PyRepository {
            repo: Arc::new(repo),
            paths,
            sigs,
            by_name,
            by_sid,
        })
    }

    /// A signal argument: its name, or its sid as an int.
    pub(crate) fn sig(&self, signal: &Bound<'_, PyAny>) -> PyResult<&SigType> {
        let i = if let Ok(s) = signal.cast::<PyString>() {
            let name = s.to_str()?;
            self.by_name.get(name).copied().ok_or_else(|| {
                errors::to_py(inframed::Error::UnknownSignal { name: name.into() })
            })?
        } else if let Ok(sid) = signal.extract::<u32>() {
            self.by_sid.get(&sid).copied().ok_or_else(|| {
                errors::to_py(inframed::Error::UnknownSid {
                    sid: inframed::Sid(sid),
                })
            })?
        } else {
            return Err(PyTypeError::new_err(
                "signal must be a name (str) or a signal id (int)",
            ));
        };
        Ok(&self.sigs[i])
    }

    pub(crate) fn sig_by_sid(&self, sid: inframed::Sid) -> Option<&SigType> {
        self.by_sid.get(&sid.0).map(|&i| &self.sigs[i])
    }

    /// `(pid, signal)` in the time window `start..=end` on time channel 0.
    fn window<'a>(
        &'a self,
        pid: Pid,
        st: &SigType,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<(Cow<'a, [u8]>, usize, usize)> {
        let bytes = self.repo.get_bytes(pid, st.sid).py_err()?;
        let n = bytes.len() / st.itemsize;
        if start.is_none() && end.is_none() {
            return Ok((bytes, 0, n));
        }
        let layout = &self.repo.catalog().by_sid(st.sid).py_err()?.layout;
        let (lo, hi) = Signal::new(Cow::Borrowed(&bytes[..]), layout, pid, st.sid)
            .py_err()?
            .range_bounds(start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX));
        Ok((bytes, lo, hi))
    }

    /// One patient's record as `{signal: array}` (non-empty signals, sid order).
    pub(crate) fn record<'py>(
        slf: &Bound<'py, PyRepository>,
        pid: Pid,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let this = slf.get();
        let rec = this.repo.patient(pid).py_err()?;
        let out = PyDict::new(py);
        for (sid, bytes) in rec.signals() {
            let Some(st) = this.sig_by_sid(*sid) else {
                continue;
            };
            let borrowed = matches!(bytes, Cow::Borrowed(_));
            out.set_item(
                &st.name,
                arrays::elements(py, slf.as_any(), st, bytes, borrowed)?,
            )?;
        }
        Ok(out)
    }
}

#[pymethods]
impl PyRepository {
    /// Every patient id, ascending, as a read-only numpy uint32 array viewing the
    /// repository's pid list (no copy).
    #[getter]
    fn pids<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let pids: &[Pid] = slf.get().repo.pids();
        let mut dims = [pids.len() as npy_intp];
        // SAFETY: GIL held. `PyArray_New` with a data pointer makes a view of `pids.len()`
        // u32 values (Pid is `repr(transparent)` over u32) that the Repository owns and never
        // changes after open; flags without NPY_ARRAY_WRITEABLE make it read-only, and
        // `PyArray_SetBaseObject` (stealing the reference it is given) keeps the Repository
        // alive for as long as the array exists. An empty list gets numpy's own allocation.
        unsafe {
            let ty = PY_ARRAY_API.get_type_object(py, NpyTypes::PyArray_Type);
            let data = if pids.is_empty() {
                std::ptr::null_mut()
            } else {
                pids.as_ptr() as *mut std::os::raw::c_void
            };
            let arr = PY_ARRAY_API.PyArray_New(
                py,
                ty,
                1,
                dims.as_mut_ptr(),
                NPY_TYPES::NPY_UINT as i32,
                std::ptr::null_mut(),
                data,
                0,
                numpy::npyffi::NPY_ARRAY_C_CONTIGUOUS,
                std::ptr::null_mut(),
            );
            if arr.is_null() {
                return Err(PyErr::fetch(py));
            }
            let arr = Bound::from_owned_ptr(py, arr);
            if !pids.is_empty() {
                let base = slf.clone().into_any().into_ptr();
                if PY_ARRAY_API.PyArray_SetBaseObject(
                    py,
                    arr.as_ptr() as *mut numpy::npyffi::PyArrayObject,
                    base,
                ) < 0
                {
                    return Err(PyErr::fetch(py));
                }
            }
            Ok(arr)
        }
    }

    /// Signal names in catalog order.
    #[getter]
    fn signals(&self) -> Vec<String> {
        self.sigs.iter().map(|s| s.name.clone()).collect()
    }

    /// The signal id of `name`. Raises `NotFound` for an unknown signal.
    fn sig_id(&self, py: Python<'_>, name: &str) -> PyResult<u32> {
        Ok(self.sig(PyString::new(py, name).as_any())?.sid.0)
    }

    /// The name of signal id `sid`. Raises `NotFound` for an unknown sid.
    fn sig_name(&self, sid: u32) -> PyResult<String> {
        self.sig_by_sid(inframed::Sid(sid))
            .map(|s| s.name.clone())
            .ok_or_else(|| {
                errors::to_py(inframed::Error::UnknownSid {
                    sid: inframed::Sid(sid),
                })
            })
    }

    /// The numpy dtype of `signal`'s elements (fields `time0…`, `val0…`).
    fn dtype<'py>(&self, py: Python<'py>, signal: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
        Ok(self.sig(signal)?.dtype.clone_ref(py).into_any())
    }

    /// What the repository is: layout/container, files and sizes, patients, signals.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.repo.describe();
        let out = PyDict::new(py);
        out.set_item("format", d.format)?;
        let files = PyList::empty(py);
        for (p, size) in d.files {
            files.append((p.to_string_lossy().into_owned(), size))?;
        }
        out.set_item("files", files)?;
        out.set_item(
            "paths",
            self.paths
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect::<Vec<_>>(),
        )?;
        out.set_item("n_patients", self.repo.pids().len())?;
        let sigs = PyList::empty(py);
        for (info, st) in self.repo.catalog().signals().iter().zip(&self.sigs) {
            let s = PyDict::new(py);
            s.set_item("name", &info.name)?;
            s.set_item("sid", info.sid.0)?;
            s.set_item("spec", info.layout.spec())?;
            s.set_item("type", &info.type_text)?;
            s.set_item("fields", &st.fields)?;
            s.set_item("n_time_channels", st.n_time)?;
            s.set_item("n_val_channels", st.fields.len() - st.n_time)?;
            s.set_item("categorical", &st.categorical)?;
            s.set_item("time_unit", info.time_unit.code())?;
            s.set_item("units", &info.units)?;
            s.set_item("description", &info.description)?;
            s.set_item("layer", self.repo.resolve(&info.name).py_err()?.0)?;
            sigs.append(s)?;
        }
        out.set_item("signals", sigs)?;
        out.set_item(
            "warnings",
            self.repo
                .warnings()
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>(),
        )?;
        Ok(out)
    }

    /// One patient's elements of `signal` (name or sid), time-sorted, as a numpy structured
    /// array with fields `time0…`, `val0…` (medpython's names; legacy types 1 and 3 use
    /// `date`/`date_start`, `date_end`, `val`). `start`/`end` keep the elements whose time
    /// channel 0 is in `start..=end` (binary search). An unknown pid gives an empty array.
    ///
    /// The array views the map (read-only, `.base` is this Repository) where the bytes are
    /// aligned for every channel; otherwise it is a copy.
    #[pyo3(signature = (pid, signal, start=None, end=None))]
    fn get<'py>(
        slf: &Bound<'py, Self>,
        pid: i64,
        signal: &Bound<'py, PyAny>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let st = this.sig(signal)?;
        let (bytes, lo, hi) = this.window(to_pid(pid)?, st, start, end)?;
        let borrowed = matches!(bytes, Cow::Borrowed(_));
        arrays::elements(
            slf.py(),
            slf.as_any(),
            st,
            &bytes[lo * st.itemsize..hi * st.itemsize],
            borrowed,
        )
    }

    /// medpython's name for `get(pid, sid)`.
    fn uget<'py>(
        slf: &Bound<'py, Self>,
        pid: i64,
        sid: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        PyRepository::get(slf, pid, sid, None, None)
    }

    /// One call for a batch: the elements of `signal` for every pid of `pids`, concatenated
    /// in that order into one structured array (a copy), and `offsets` (int64, `len(pids) + 1`)
    /// so that patient `i`'s elements are `arr[offsets[i]:offsets[i+1]]`. The elements are
    /// looked up with the store's batched `get_many` (prefetching on the native store) with
    /// the GIL released.
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        pids: &Bound<'py, PyAny>,
        signal: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let pids = pid_list(py, pids)?;
        let st = self.sig(signal)?;
        let (sid, size) = (st.sid, st.itemsize);
        let repo = Arc::clone(&self.repo);
        let (bytes, offsets) = py
            .detach(move || -> inframed::Result<(Vec<u8>, Vec<i64>)> {
                // The store's batched lookup (the native store overlaps the index and element
                // reads of a lane of keys), a lane of pids at a time so that the borrowed
                // vectors held at once stay bounded.
                let mut keys = Vec::with_capacity(GET_MANY_LANE.min(pids.len()));
                let mut got = Vec::new();
                let mut bytes = Vec::new();
                let mut offsets = Vec::with_capacity(pids.len() + 1);
                offsets.push(0i64);
                for lane in pids.chunks(GET_MANY_LANE) {
                    keys.clear();
                    keys.extend(lane.iter().map(|&p| (Pid(p), sid)));
                    repo.get_many(&keys, &mut got)?;
                    bytes.reserve(got.iter().map(|b| b.len()).sum());
                    for b in got.drain(..) {
                        bytes.extend_from_slice(&b);
                        offsets.push((bytes.len() / size) as i64);
                    }
                }
                Ok((bytes, offsets))
            })
            .py_err()?;
        let arr = arrays::elements(py, py.None().bind(py), st, &bytes, false)?;
        let offsets = PyArray1::from_vec(py, offsets);
        PyTuple::new(py, [arr, offsets.into_any()])
    }

    /// The whole signal (or the rows of `pids`, in that order) as a pandas DataFrame with
    /// medpython's columns: `pid` (int32), then `time0…`, `val0…` in their stored types
    /// (float32 stays float32 unless `float32to64`). With `translate=True` categorical value
    /// channels become pandas Categoricals of the `|`-joined dictionary names. The scan runs
    /// with the GIL released.
    #[pyo3(signature = (signal, pids=None, translate=false, float32to64=false))]
    fn get_sig<'py>(
        &self,
        py: Python<'py>,
        signal: &Bound<'py, PyAny>,
        pids: Option<&Bound<'py, PyAny>>,
        translate: bool,
        float32to64: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let st = self.sig(signal)?;
        let table = crate::frame::collect(py, self, st, pids)?;
        crate::frame::to_pandas(py, self, st, table, translate, float32to64)
    }

    /// The whole signal (or the rows of `pids`, in that order) as Arrow record batches behind
    /// the Arrow PyCapsule interface (`__arrow_c_stream__`): `pyarrow.table(x)`,
    /// `polars.DataFrame(x)`, `duckdb.sql("SELECT … FROM x")` read it. Columns as `get_sig`
    /// (`pid` int32, `time0…`, `val0…` in their stored types). Nothing is read here: each
    /// consumer gets a fresh stream that de-interleaves one batch of at most `batch_rows` rows
    /// at a time straight from the map (one copy per column, as any columnar reader needs).
    #[pyo3(signature = (signal, pids=None, *, batch_rows=crate::arrow::BATCH_ROWS))]
    fn to_arrow<'py>(
        &self,
        py: Python<'py>,
        signal: &Bound<'py, PyAny>,
        pids: Option<&Bound<'py, PyAny>>,
        batch_rows: usize,
    ) -> PyResult<crate::arrow::ArrowStream> {
        let st = self.sig(signal)?;
        let pids = pids.map(|p| pid_list(py, p)).transpose()?;
        crate::arrow::stream(&self.repo, &st.name, pids, batch_rows)
    }

    /// One patient's whole record: `{signal name: array}` for every signal with elements.
    /// From a by-pid transpose (`inframed index`) where the repository has one.
    fn patient<'py>(slf: &Bound<'py, Self>, pid: i64) -> PyResult<Bound<'py, PyDict>> {
        PyRepository::record(slf, to_pid(pid)?)
    }

    /// The dictionaries (`rep.dict.name(section, code)`, `.id`, `.section_id`,
    /// `.prep_sets_lookup_table`).
    #[getter]
    fn dict(&self) -> crate::dict::PyDictionaries {
        crate::dict::PyDictionaries {
            repo: Arc::clone(&self.repo),
        }
    }

    /// Writes the whole repository in another layout or container: `to` is `mode3`,
    /// `transpose`, `legacy` (`mode` 0–2, `full`), `iac` (`codec` none/brotli/zstd), `gnz`,
    /// `trx` (`deflate`, `dir`), `itar` (`shard_size`), `parquet` or `arrow` (`layout`
    /// `wide`/`long`) or `meds` (a MEDS 0.4 dataset). Returns the written path. The GIL is
    /// released while writing.
    #[pyo3(signature = (out, to, *, codec=None, deflate=false, dir=false, shard_size=None, mode=None, full=false, layout=None))]
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        py: Python<'_>,
        out: PathBuf,
        to: &str,
        codec: Option<String>,
        deflate: bool,
        dir: bool,
        shard_size: Option<u64>,
        mode: Option<i32>,
        full: bool,
        layout: Option<String>,
    ) -> PyResult<String> {
        let o = crate::ops::ExportArgs {
            to: to.to_string(),
            codec,
            deflate,
            dir,
            shard_size,
            mode,
            full,
            layout,
        };
        let repo = Arc::clone(&self.repo);
        let paths = self.paths.clone();
        let written = py.detach(move || crate::ops::export(&repo, &paths, &out, &o))?;
        Ok(written.to_string_lossy().into_owned())
    }

    /// Writes the repository as `shards` pid-range shards (standalone MODE 3 repositories,
    /// balanced by element count) and their manifest `out/shards.json`, as `inframed shard`
    /// does; returns the manifest path. `out` must be absent, empty or a previous shard
    /// output unless `force`. The GIL is released while writing.
    #[pyo3(signature = (out, shards, *, force=false))]
    fn shard(&self, py: Python<'_>, out: PathBuf, shards: usize, force: bool) -> PyResult<String> {
        let repo = Arc::clone(&self.repo);
        let source = (self.paths.len() == 1).then(|| self.paths[0].clone());
        let written = py
            .detach(move || {
                let mut o = inframed::shard::ShardOptions::new(shards, repo.catalog())?;
                o.force = force;
                if let Some(meta) = source
                    .as_deref()
                    .map(inframed::shard::source_metadata)
                    .transpose()?
                    .flatten()
                {
                    o.metadata = meta;
                }
                inframed::shard::write_shards(&*repo, &out, &o)
            })
            .py_err()?;
        Ok(written.to_string_lossy().into_owned())
    }

    /// Checks every structure and checksum; raises the first damage found (GIL released).
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        let repo = Arc::clone(&self.repo);
        py.detach(move || repo.verify()).py_err()
    }

    /// Number of patients.
    fn __len__(&self) -> usize {
        self.repo.pids().len()
    }

    /// Iterates `(pid, {signal: array})` over every patient, pids ascending.
    fn __iter__(slf: Bound<'_, Self>) -> PatientIter {
        PatientIter {
            repo: slf.unbind(),
            next: 0,
        }
    }

    /// Whether `pid` is a patient of the repository.
    fn __contains__(&self, pid: i64) -> bool {
        to_pid(pid).is_ok_and(|p| self.repo.pids().binary_search(&p).is_ok())
    }

    /// Pickles as the paths it was opened from (re-opened, i.e. re-mapped, on unpickling):
    /// a Repository can be sent to worker processes.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let open = py.import("inframed")?.getattr("_reopen")?;
        let first = self.paths[0].to_string_lossy().into_owned();
        let stack: Vec<String> = self.paths[1..]
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        PyTuple::new(
            py,
            [
                open,
                PyTuple::new(
                    py,
                    [
                        first.into_pyobject(py)?.into_any(),
                        stack.into_pyobject(py)?,
                    ],
                )?
                .into_any(),
            ],
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "<inframed.Repository {:?}: {} patients, {} signals>",
            self.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
            self.repo.pids().len(),
            self.sigs.len()
        )
    }
}

/// Iterator over `(pid, {signal: array})`.
#[pyclass(module = "inframed")]
pub struct PatientIter {
    repo: Py<PyRepository>,
    next: usize,
}

#[pymethods]
impl PatientIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<(u32, Bound<'py, PyDict>)>> {
        let repo = self.repo.bind(py);
        let pids = repo.get().repo.pids();
        let Some(&pid) = pids.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some((pid.0, PyRepository::record(repo, pid)?)))
    }
}
