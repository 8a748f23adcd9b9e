//! `get_sig`: a signal's rows as a pandas DataFrame with medpython's columns.

use std::collections::HashMap;
use std::sync::Arc;

use inframed::SignalStore;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::SigType;
use crate::columns::{Column, Table};
use crate::errors::IntoPy;
use crate::repo::{pid_list, PyRepository};

/// The category medpython gives codes that have no dictionary name.
const UNDEFINED: &str = "Undefined Category";

/// Collects the rows of `st` (all, or those of `pids`) with the GIL released.
pub fn collect(
    py: Python<'_>,
    rep: &PyRepository,
    st: &SigType,
    pids: Option<&Bound<'_, PyAny>>,
) -> PyResult<Table> {
    let pids = pids.map(|p| pid_list(py, p)).transpose()?;
    let repo = Arc::clone(&rep.repo);
    py.detach(|| Table::collect(&repo, st, pids.as_deref()))
        .py_err()
}

fn column_array<'py>(py: Python<'py>, c: Column) -> Bound<'py, PyAny> {
    match c {
        Column::I8(v) => PyArray1::from_vec(py, v).into_any(),
        Column::I16(v) => PyArray1::from_vec(py, v).into_any(),
        Column::I32(v) => PyArray1::from_vec(py, v).into_any(),
        Column::I64(v) => PyArray1::from_vec(py, v).into_any(),
        Column::U8(v) => PyArray1::from_vec(py, v).into_any(),
        Column::U16(v) => PyArray1::from_vec(py, v).into_any(),
        Column::U32(v) => PyArray1::from_vec(py, v).into_any(),
        Column::U64(v) => PyArray1::from_vec(py, v).into_any(),
        Column::F32(v) => PyArray1::from_vec(py, v).into_any(),
        Column::F64(v) => PyArray1::from_vec(py, v).into_any(),
    }
}

/// A categorical column: codes → `|`-joined names of the signal's dictionary section.
fn categorical<'py>(
    py: Python<'py>,
    pandas: &Bound<'py, PyModule>,
    rep: &PyRepository,
    st: &SigType,
    col: &Column,
) -> PyResult<Bound<'py, PyAny>> {
    let section = rep.repo.catalog().section_of(&st.name).py_err()?;
    let mut categories: Vec<String> = Vec::new();
    let mut index: HashMap<String, i32> = HashMap::new();
    let mut by_code: HashMap<i64, i32> = HashMap::new();
    let mut codes = Vec::new();
    for code in col.codes() {
        let k = match by_code.get(&code) {
            Some(&k) => k,
            None => {
                let names = i32::try_from(code)
                    .ok()
                    .and_then(|c| section.map(|s| s.names_of(c)))
                    .unwrap_or(&[]);
                let label = if names.is_empty() {
                    UNDEFINED.to_string()
                } else {
                    names.join("|")
                };
                let k = *index.entry(label.clone()).or_insert_with(|| {
                    categories.push(label);
                    categories.len() as i32 - 1
                });
                by_code.insert(code, k);
                k
            }
        };
        codes.push(k);
    }
    if !index.contains_key(UNDEFINED) {
        categories.push(UNDEFINED.to_string());
    }
    pandas.getattr("Categorical")?.call_method1(
        "from_codes",
        (PyArray1::from_vec(py, codes), PyList::new(py, categories)?),
    )
}

/// The DataFrame: `pid`, then one column per channel.
pub fn to_pandas<'py>(
    py: Python<'py>,
    rep: &PyRepository,
    st: &SigType,
    table: Table,
    translate: bool,
    float32to64: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let pandas = py.import("pandas")?;
    let data = PyDict::new(py);
    data.set_item("pid", PyArray1::from_vec(py, table.pids))?;
    for (i, col) in table.columns.into_iter().enumerate() {
        let name = &st.fields[i];
        let is_cat = i >= st.n_time && st.categorical[i - st.n_time];
        let arr = if translate && is_cat {
            categorical(py, &pandas, rep, st, &col)?
        } else if float32to64 && matches!(col, Column::F32(_)) {
            column_array(py, col).call_method1("astype", ("float64",))?
        } else {
            column_array(py, col)
        };
        data.set_item(name, arr)?;
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("copy", false)?;
    pandas.getattr("DataFrame")?.call((data,), Some(&kwargs))
}
