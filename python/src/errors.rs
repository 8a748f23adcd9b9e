//! `inframed.Error` and its subclasses, mapped from the variants of the Rust `inframed::Error`.

use std::error::Error as _;
use std::io;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    inframed,
    Error,
    PyException,
    "Every error raised by inframed. `.path` names the file when there is one (else None)."
);
create_exception!(
    inframed,
    NotFound,
    Error,
    "A file, signal or signal id that does not exist."
);
create_exception!(
    inframed,
    CorruptError,
    Error,
    "A damaged binary file: `.path` and `.offset` (byte offset, None when unknown)."
);
create_exception!(
    inframed,
    ParseError,
    Error,
    "An invalid line of a text file: `.path` and `.line` (1-based)."
);

/// The Rust error's message with its whole `source()` chain, as the CLI prints it.
fn message(e: &inframed::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        src = s.source();
    }
    out
}

/// Converts a Rust error into the matching Python exception (by variant, never by message).
pub fn to_py(e: inframed::Error) -> PyErr {
    Python::attach(|py| to_py_in(py, &e))
}

fn to_py_in(py: Python<'_>, e: &inframed::Error) -> PyErr {
    use inframed::Error as E;
    let msg = message(e);
    let (err, path, line, offset) = match e {
        E::Open { path, source } if source.kind() == io::ErrorKind::NotFound => {
            (NotFound::new_err(msg), Some(path), None, None)
        }
        E::Open { path, .. } | E::Io { path, .. } | E::Unsupported { path, .. } => {
            (Error::new_err(msg), Some(path), None, None)
        }
        E::Parse { path, line, .. } => (ParseError::new_err(msg), Some(path), Some(*line), None),
        E::Corrupt { path, offset, .. } => {
            (CorruptError::new_err(msg), Some(path), None, Some(*offset))
        }
        // A refused conversion (its ConvertError names file and line in the message).
        E::Convert { path, .. } => (Error::new_err(msg), Some(path), None, None),
        E::Format { path, offset, .. } => (CorruptError::new_err(msg), Some(path), None, *offset),
        E::Inconsistent { path, .. } => (CorruptError::new_err(msg), Some(path), None, None),
        E::UnknownSignal { .. } | E::UnknownSid { .. } => {
            (NotFound::new_err(msg), None, None, None)
        }
        _ => (Error::new_err(msg), None, None, None),
    };
    let value = err.value(py);
    let _ = value.setattr("path", path.map(|p| p.to_string_lossy().into_owned()));
    if err.is_instance_of::<ParseError>(py) {
        let _ = value.setattr("line", line);
    }
    if err.is_instance_of::<CorruptError>(py) {
        let _ = value.setattr("offset", offset);
    }
    err
}

/// `Result<T, inframed::Error>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, inframed::Error> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// A `NotFound` raised by the binding itself (e.g. an unknown set name).
pub fn not_found(what: String) -> PyErr {
    let e = NotFound::new_err(what);
    Python::attach(|py| {
        let _ = e.value(py).setattr("path", py.None());
    });
    e
}
