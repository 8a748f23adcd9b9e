//! `to_arrow`: a signal's rows as Arrow record batches behind the Arrow PyCapsule interface,
//! streamed from the library's Arrow views (`inframed::arrow::signal_batches` with
//! medpython's names and the stored types).

use std::ffi::CString;
use std::sync::{Arc, OnceLock};

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_schema::SchemaRef;
use inframed::arrow::{signal_batches, signal_schema, ArrowNaming, ArrowOptions};
use inframed::{Pid, Repository, SignalStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::errors::IntoPy;

/// Rows per record batch unless the caller asks otherwise.
pub const BATCH_ROWS: usize = 1 << 16;

/// One signal's rows as a stream of record batches: `pid` (int32) and one column per channel
/// (get_sig's names, stored types, non-null). Holds the repository, the signal and the pid
/// list only: each `__arrow_c_stream__` call starts a fresh stream over the map that builds
/// one batch of at most `batch_rows` rows at a time, so a stream can be read any number of
/// times and never holds the whole signal.
#[pyclass(frozen, module = "inframed", name = "ArrowStream")]
pub struct ArrowStream {
    repo: Arc<Repository>,
    signal: String,
    /// `None`: every patient, pids ascending.
    pids: Option<Vec<Pid>>,
    options: ArrowOptions,
    schema: SchemaRef,
    rows: OnceLock<usize>,
}

/// The stream of `signal` over `pids` (in the order given, repeats kept), batches of at most
/// `batch_rows` rows.
pub fn stream(
    repo: &Arc<Repository>,
    signal: &str,
    pids: Option<Vec<u32>>,
    batch_rows: usize,
) -> PyResult<ArrowStream> {
    if batch_rows == 0 {
        return Err(PyValueError::new_err("batch_rows must be at least 1"));
    }
    let options = ArrowOptions::default()
        .with_batch_rows(batch_rows)
        .with_naming(ArrowNaming::Medpython)
        .with_pids_any_order(true);
    let catalog = repo.catalog();
    let info = catalog.signal(signal).py_err()?;
    let schema = signal_schema(catalog, info, &options).py_err()?;
    Ok(ArrowStream {
        repo: Arc::clone(repo),
        signal: signal.to_string(),
        pids: pids.map(|p| p.into_iter().map(Pid).collect()),
        options,
        schema,
        rows: OnceLock::new(),
    })
}

impl ArrowStream {
    /// Counts the rows (element lengths only; nothing is gathered).
    fn count(&self) -> inframed::Result<usize> {
        let info = self.repo.catalog().signal(&self.signal)?;
        let size = info.layout.size();
        let mut n = 0usize;
        match &self.pids {
            None => self.repo.scan(info.sid, &mut |_, b| n += b.len() / size)?,
            Some(pids) => {
                for &p in pids {
                    n += self.repo.get_bytes(p, info.sid)?.len() / size;
                }
            }
        }
        Ok(n)
    }
}

#[pymethods]
impl ArrowStream {
    /// The Arrow C stream capsule (`arrow_array_stream`) of a fresh stream. A
    /// `requested_schema` other than None is not supported (the stream's own schema is used).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = signal_batches(
            Arc::clone(&self.repo),
            &self.signal,
            self.pids.clone(),
            &self.options,
        )
        .py_err()?;
        let stream = FFI_ArrowArrayStream::new(Box::new(batches.into_reader()));
        let name =
            CString::new("arrow_array_stream").map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new(py, stream, Some(name))
    }

    /// Number of rows (counted once, from the element lengths, with the GIL released).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        if let Some(&n) = self.rows.get() {
            return Ok(n);
        }
        let n = py.detach(|| self.count()).py_err()?;
        Ok(*self.rows.get_or_init(|| n))
    }

    /// Number of record batches a read yields: `ceil(len / batch_rows)` (0 for no rows; a
    /// patient larger than a batch is split across batches).
    #[getter]
    fn num_batches(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.__len__(py)?.div_ceil(self.options.batch_rows))
    }

    /// Upper bound on the rows of one batch.
    #[getter]
    fn batch_rows(&self) -> usize {
        self.options.batch_rows
    }

    /// Column names.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "<inframed.ArrowStream {} ({}), columns {:?}, batches of <= {} rows>",
            self.signal,
            match &self.pids {
                None => "every patient".to_string(),
                Some(p) => format!("{} pids", p.len()),
            },
            self.columns(),
            self.options.batch_rows
        )
    }
}

/// `Repository.export(out, to="parquet"|"arrow"|"meds", layout=...)`: the library's Arrow
/// exports (Parquet / Arrow IPC tables, a MEDS 0.4 dataset). Never replaces what inframed
/// did not write. Returns `out`.
pub fn export_tables(
    repo: &inframed::Repository,
    out: &std::path::Path,
    to: &str,
    layout: Option<&str>,
) -> PyResult<std::path::PathBuf> {
    use inframed::arrow::export::{export_ipc, export_parquet, TableLayout, TableOptions};
    use inframed::meds::{export_meds, MedsExportOptions};

    if to == "meds" {
        export_meds(repo, out, &MedsExportOptions::default()).py_err()?;
        return Ok(out.to_path_buf());
    }
    let layout = match layout {
        None => TableLayout::Wide,
        Some(l) => TableLayout::from_name(l).ok_or_else(|| {
            PyValueError::new_err(format!("layout={l:?}: expected 'wide' or 'long'"))
        })?,
    };
    let o = TableOptions {
        layout,
        ..Default::default()
    };
    if to == "parquet" {
        export_parquet(repo, out, &o).py_err()?;
    } else {
        export_ipc(repo, out, &o).py_err()?;
    }
    Ok(out.to_path_buf())
}

/// Imports a MEDS dataset folder (`data/**/*.parquet`) into a MODE 3 repository in `outdir`
/// by the default code rule of docs/meds.md, with the GIL released. Bad rows go to
/// `<outdir>/<name>.convert_errors`. Returns a dict (`config`, `subjects`, `events`,
/// `bad_rows`, `signals`, `rounded`, `warnings`).
#[pyfunction]
#[pyo3(signature = (meds_dir, outdir, *, name=None, max_bad_line_ratio=0.05))]
pub fn from_meds<'py>(
    py: Python<'py>,
    meds_dir: std::path::PathBuf,
    outdir: std::path::PathBuf,
    name: Option<String>,
    max_bad_line_ratio: f32,
) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
    use inframed::meds::{import_meds, MedsImportOptions};
    let mut o = MedsImportOptions::default();
    if let Some(n) = name.or_else(|| outdir.file_name().map(|n| n.to_string_lossy().into_owned())) {
        o.name = n;
    }
    o.thresholds.max_bad_line_ratio = max_bad_line_ratio;
    let s = py
        .detach(move || import_meds(&meds_dir, &outdir, &o))
        .py_err()?;
    let d = pyo3::types::PyDict::new(py);
    d.set_item("config", s.config.to_string_lossy().into_owned())?;
    d.set_item("subjects", s.subjects)?;
    d.set_item("events", s.events)?;
    d.set_item("bad_rows", s.bad_rows)?;
    d.set_item("signals", s.signals)?;
    d.set_item("rounded", s.rounded)?;
    d.set_item("warnings", s.warnings)?;
    Ok(d)
}
