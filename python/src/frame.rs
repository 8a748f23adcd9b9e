//! `get_sig`: a signal's rows as a pandas DataFrame with medpython's columns.

use std::collections::HashMap;
use std::sync::Arc;

use inframed::SignalStore;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::SigType;
use crate::columns::{self, ColumnArray, Table};
use crate::errors::IntoPy;
use crate::repo::{pid_list, PyRepository};

/// The category medpython gives codes that have no dictionary name.
const UNDEFINED: &str = "Undefined Category";

/// Reads the rows of `st` (all, or those of `pids`) into numpy columns: the count and the
/// fill run with the GIL released, numpy allocates the columns in between.
pub fn collect<'py>(
    py: Python<'py>,
    rep: &PyRepository,
    st: &SigType,
    pids: Option<&Bound<'py, PyAny>>,
) -> PyResult<Table<'py>> {
    let pids = pids.map(|p| pid_list(py, p)).transpose()?;
    let repo = Arc::clone(&rep.repo);
    let counted = py
        .detach(|| columns::count(&repo, st, pids.as_deref()))
        .py_err()?;
    Table::fill(py, &repo, st, pids.as_deref(), &counted)
}

/// A categorical column: codes → `|`-joined names of the signal's dictionary section.
fn categorical<'py>(
    py: Python<'py>,
    pandas: &Bound<'py, PyModule>,
    rep: &PyRepository,
    st: &SigType,
    col: &ColumnArray<'py>,
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
    table: Table<'py>,
    translate: bool,
    float32to64: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let pandas = py.import("pandas")?;
    let data = PyDict::new(py);
    let pids: &Bound<'py, PyArray1<i32>> = &table.pids;
    data.set_item("pid", pids)?;
    for (i, col) in table.columns.into_iter().enumerate() {
        let name = &st.fields[i];
        let is_cat = i >= st.n_time && st.categorical[i - st.n_time];
        let arr = if translate && is_cat {
            categorical(py, &pandas, rep, st, &col)?
        } else if float32to64 && matches!(col, ColumnArray::F32(_)) {
            col.array().call_method1("astype", ("float64",))?
        } else {
            col.array()
        };
        data.set_item(name, arr)?;
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("copy", false)?;
    pandas.getattr("DataFrame")?.call((data,), Some(&kwargs))
}
