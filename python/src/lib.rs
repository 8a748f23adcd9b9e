//! The `inframed` Python module (`inframed._inframed`): a thin PyO3 layer over the Rust
//! library. The library does the work; this crate translates arguments, results and errors.

mod arrays;
mod arrow;
mod columns;
mod dict;
mod errors;
mod frame;
mod ops;
mod repo;

use std::path::PathBuf;

use pyo3::prelude::*;

/// Opens a repository config (`*.repository`, any MODE) or a container (`.iac`, `.gnz`,
/// `.trx` zip or folder, an indexed-tar dataset folder or `.taridx`). `stack` lists more
/// repositories stacked on top: a signal name resolves to the last one that defines it.
/// Opening opens the files; a MODE 3 signal's files are mapped and checked on its first read
/// (a damaged file raises `CorruptError` then); no element is read at open (GIL released).
#[pyfunction]
#[pyo3(signature = (path, stack=Vec::new()), text_signature = "(path, stack=())")]
fn open(py: Python<'_>, path: PathBuf, stack: Vec<PathBuf>) -> PyResult<repo::PyRepository> {
    let mut paths = vec![path];
    paths.extend(stack);
    repo::PyRepository::open(py, paths)
}

#[pymodule]
fn _inframed(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(ops::convert, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::from_meds, m)?)?;
    m.add_class::<repo::PyRepository>()?;
    m.add_class::<repo::PatientIter>()?;
    m.add_class::<dict::PyDictionaries>()?;
    m.add_class::<arrow::ArrowStream>()?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("NotFound", py.get_type::<errors::NotFound>())?;
    m.add("CorruptError", py.get_type::<errors::CorruptError>())?;
    m.add("ParseError", py.get_type::<errors::ParseError>())?;
    Ok(())
}
