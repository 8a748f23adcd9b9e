//! `rep.dict`: medpython's dictionary API (`section_id`, `name`, `id`, `prep_sets_lookup_table`).

use std::sync::Arc;

use inframed::text::dict::Section;
use inframed::Repository;
use numpy::PyArray1;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::errors;
use crate::errors::IntoPy;

/// The dictionaries of a repository. A `section` argument is a section id (int) or a name:
/// a section name, or a signal name (its section, else `DEFAULT` = 0, as medpython's
/// `section_id`).
#[pyclass(frozen, module = "inframed", name = "Dictionaries")]
pub struct PyDictionaries {
    pub(crate) repo: Arc<Repository>,
}

impl PyDictionaries {
    fn section_index(&self, section: &Bound<'_, PyAny>) -> PyResult<usize> {
        let dicts = self.repo.dictionaries().py_err()?;
        if let Ok(s) = section.cast::<PyString>() {
            return Ok(dicts.section_id(s.to_str()?).unwrap_or(0));
        }
        let id: usize = section.extract().map_err(|_| {
            PyTypeError::new_err("section must be a section id (int) or a section/signal name")
        })?;
        if id >= dicts.sections().len() {
            return Err(errors::not_found(format!(
                "no dictionary section {id} ({} sections)",
                dicts.sections().len()
            )));
        }
        Ok(id)
    }

    fn section(&self, section: &Bound<'_, PyAny>) -> PyResult<Option<&Section>> {
        let i = self.section_index(section)?;
        Ok(self.repo.dictionaries().py_err()?.sections().get(i))
    }
}

#[pymethods]
impl PyDictionaries {
    /// The section id of a section or signal name (0, `DEFAULT`, when it has none).
    fn section_id(&self, name: &str) -> PyResult<usize> {
        Ok(self
            .repo
            .dictionaries()
            .py_err()?
            .section_id(name)
            .unwrap_or(0))
    }

    /// Names of every section, by section id.
    #[getter]
    fn sections(&self) -> PyResult<Vec<String>> {
        Ok(self
            .repo
            .dictionaries()
            .py_err()?
            .sections()
            .iter()
            .map(|s| s.names().first().cloned().unwrap_or_default())
            .collect())
    }

    /// The name of `code` in `section` (the last definition read), `""` when undefined.
    fn name(&self, section: &Bound<'_, PyAny>, code: i64) -> PyResult<String> {
        let Some(s) = self.section(section)? else {
            return Ok(String::new());
        };
        Ok(i32::try_from(code)
            .ok()
            .and_then(|c| s.name(c))
            .unwrap_or("")
            .to_string())
    }

    /// Every name of `code` in `section`, in first-seen order (what `translate=True` joins
    /// with `|`).
    fn names(&self, section: &Bound<'_, PyAny>, code: i64) -> PyResult<Vec<String>> {
        let Some(s) = self.section(section)? else {
            return Ok(Vec::new());
        };
        Ok(i32::try_from(code)
            .map(|c| s.names_of(c).to_vec())
            .unwrap_or_default())
    }

    /// The code of `name` in `section`, -1 when undefined.
    fn id(&self, section: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
        let Some(s) = self.section(section)? else {
            return Ok(-1);
        };
        Ok(s.code(name).map_or(-1, i64::from))
    }

    /// A numpy bool table indexed by code, of length (largest code of the section) + 1:
    /// true for the named sets, their members at any depth, and the set codes themselves.
    /// Raises `NotFound` naming the set names that are not defined.
    fn prep_sets_lookup_table<'py>(
        &self,
        py: Python<'py>,
        section: &Bound<'py, PyAny>,
        sets: Vec<String>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let Some(s) = self.section(section)? else {
            return Err(errors::not_found(format!("unknown sets {sets:?}")));
        };
        let names: Vec<&str> = sets.iter().map(String::as_str).collect();
        let lut = s
            .set_lookup_table(&names)
            .map_err(|unknown| errors::not_found(format!("unknown sets {unknown:?}")))?;
        let len = s.codes().last().map_or(0, |&m| (m.max(-1) + 1) as usize);
        let table: Vec<bool> = (0..len).map(|c| lut.contains(c as i32)).collect();
        Ok(PyArray1::from_vec(py, table))
    }
}
