//! `to_arrow`: a signal's rows as Arrow record batches behind the Arrow PyCapsule interface.

use std::ffi::CString;
use std::sync::Arc;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array, Int8Array,
    RecordBatch, RecordBatchIterator, UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_schema::{ArrowError, Field, Schema};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::arrays::SigType;
use crate::columns::{Column, Table};
use crate::errors::IntoPy;

/// Rows per record batch.
const BATCH_ROWS: usize = 1 << 16;

/// Record batches of one signal: `pid` (int32) and one column per channel, non-null.
/// Exposes `__arrow_c_stream__`; each call streams the same batches again (no copy).
#[pyclass(frozen, module = "inframed", name = "ArrowStream")]
pub struct ArrowStream {
    schema: Arc<Schema>,
    batches: Vec<RecordBatch>,
}

fn array(c: Column) -> ArrayRef {
    match c {
        Column::I8(v) => Arc::new(Int8Array::from(v)),
        Column::I16(v) => Arc::new(Int16Array::from(v)),
        Column::I32(v) => Arc::new(Int32Array::from(v)),
        Column::I64(v) => Arc::new(Int64Array::from(v)),
        Column::U8(v) => Arc::new(UInt8Array::from(v)),
        Column::U16(v) => Arc::new(UInt16Array::from(v)),
        Column::U32(v) => Arc::new(UInt32Array::from(v)),
        Column::U64(v) => Arc::new(UInt64Array::from(v)),
        Column::F32(v) => Arc::new(Float32Array::from(v)),
        Column::F64(v) => Arc::new(Float64Array::from(v)),
    }
}

fn arrow_err(e: ArrowError) -> PyErr {
    crate::errors::Error::new_err(format!("arrow: {e}"))
}

/// Builds the batches (columns built once, then sliced into batches without copying).
pub fn stream(st: &SigType, table: Table) -> PyResult<ArrowStream> {
    let rows = table.pids.len();
    let mut cols: Vec<ArrayRef> = vec![Arc::new(Int32Array::from(table.pids))];
    cols.extend(table.columns.into_iter().map(array));
    let mut fields = vec![Field::new("pid", cols[0].data_type().clone(), false)];
    for (name, c) in st.fields.iter().zip(&cols[1..]) {
        fields.push(Field::new(name, c.data_type().clone(), false));
    }
    let schema = Arc::new(Schema::new(fields));
    let whole = RecordBatch::try_new(Arc::clone(&schema), cols).map_err(arrow_err)?;
    let batches = if rows == 0 {
        vec![whole]
    } else {
        (0..rows)
            .step_by(BATCH_ROWS)
            .map(|at| whole.slice(at, BATCH_ROWS.min(rows - at)))
            .collect()
    };
    Ok(ArrowStream { schema, batches })
}

#[pymethods]
impl ArrowStream {
    /// The Arrow C stream capsule (`arrow_array_stream`). A `requested_schema` other than
    /// None is not supported (the stream's own schema is used).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            Arc::clone(&self.schema),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        let name =
            CString::new("arrow_array_stream").map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyCapsule::new(py, stream, Some(name))
    }

    /// Number of rows.
    fn __len__(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    /// Number of record batches.
    #[getter]
    fn num_batches(&self) -> usize {
        self.batches.len()
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
            "<inframed.ArrowStream {} rows, columns {:?}>",
            self.__len__(),
            self.columns()
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
