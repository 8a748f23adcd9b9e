//! The `.iac` backend's own matchable errors ([`IacError`], defined with the crate's other
//! error enums), carried by [`crate::Error::Format`] as [`crate::FormatError::Iac`].

use std::path::Path;

use crate::error::{Error, FormatError};

pub use crate::error::IacError;

impl IacError {
    /// Wraps `self` as [`crate::Error::Format`] for `path` at `context`.
    pub(crate) fn at(self, path: &Path, context: impl Into<String>) -> Error {
        Error::format(path, None, context, self)
    }

    /// Wraps `self` as [`crate::Error::Format`] for `path` at byte `offset` (`context` says
    /// of what).
    pub(crate) fn at_byte(self, path: &Path, offset: u64, context: &str) -> Error {
        Error::format(
            path,
            Some(offset),
            format!("{context}, byte {offset}"),
            self,
        )
    }
}

/// The [`IacError`] inside an [`Error`], if it is one (for tests and callers that match).
pub fn iac_error(e: &Error) -> Option<&IacError> {
    match e.format_error() {
        Some(FormatError::Iac(e)) => Some(e),
        _ => None,
    }
}
