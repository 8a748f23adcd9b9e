//! The `trx` backend (not implemented yet: every entry point returns `Error::Unsupported`).

use std::io::Write;
use std::path::Path;

use crate::backend::ExportOptions;
use crate::error::{Error, Result};
use crate::store::SignalStore;

fn todo(path: &Path) -> Error {
    Error::Unsupported {
        path: path.into(),
        what: "trx containers (backend not implemented yet)".into(),
    }
}

/// Opens a trx container holding a patient repository.
///
/// # Errors
/// Always [`Error::Unsupported`] for now.
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Err(todo(path))
}

/// Writes a whole store as a trx container.
///
/// # Errors
/// Always [`Error::Unsupported`] for now.
pub fn export(_store: &dyn SignalStore, out: &Path, _options: &ExportOptions) -> Result<()> {
    Err(todo(out))
}

/// Lists the container's entries.
///
/// # Errors
/// Always [`Error::Unsupported`] for now.
pub fn ls(path: &Path, _out: &mut dyn Write) -> Result<()> {
    Err(todo(path))
}

/// Writes one entry's bytes.
///
/// # Errors
/// Always [`Error::Unsupported`] for now.
pub fn cat(path: &Path, _name: &str, _out: &mut dyn Write) -> Result<()> {
    Err(todo(path))
}
