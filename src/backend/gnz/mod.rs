//! The `gnz` backend: the `GNZ1` aligned-array container and patient repositories inside it.
//!
//! Container (`docs/formats/gnz.md`): `b"GNZ1"`, a u32 LE header length, the header JSON
//! (`{"arrays": {name: {"dtype", "offset", "order", "shape"}}, "metadata": {..}, "version": 1}`,
//! sorted keys, Python spacing), zero padding to a 4096 multiple, then raw numpy arrays at
//! 4096-aligned absolute offsets. [`GnzFile`] reads any such file (zero-copy typed access,
//! big-endian swapped, Fortran order re-laid on request); [`GnzWriter`] writes them with the
//! original writer's layout algorithm, including reserved arrays filled later by chunks.
//!
//! Patient mapping (docs/DESIGN.md §4, details in `docs/gnz.md`): a global `pids` array and, per
//! signal, `<SIG>.pids` (`<i4`), `<SIG>.starts` (`<u8`, n + 1 element indices) and
//! `<SIG>.elements` (`|V<size>`), with the catalog texts and each signal's numpy field list in
//! `metadata["inframed"]`. [`GnzStore`] serves it through [`SignalStore`] without copying.

mod dtype;
mod json;
mod reader;
mod store;
mod writer;

use std::io::Write;
use std::path::Path;

pub use dtype::{ByteOrder, DType, Scalar};
pub use reader::{ArrayInfo, GnzFile};
use store::export_store;
pub use store::{GnzStore, MAPPING_FORMAT};
pub use writer::{GnzFileWriter, GnzWriter};

use crate::backend::ExportOptions;
use crate::error::{Error, Result};
use crate::store::SignalStore;

/// The four magic bytes.
pub const MAGIC: &[u8; 4] = b"GNZ1";
/// Alignment of the header pages and of every array's absolute offset.
pub const ALIGN: u64 = 4096;
/// Magic + header length.
pub(crate) const PREAMBLE: u64 = 8;

/// Memory order of an array's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Row-major (last index fastest).
    C,
    /// Column-major (first index fastest).
    F,
}

impl Order {
    /// `"C"` or `"F"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::C => "C",
            Order::F => "F",
        }
    }
}

pub use crate::error::GnzError;

/// An [`Error::Format`] for `path` with `context` (byte offset or array).
pub(crate) fn backend_error(path: &Path, context: impl Into<String>, e: GnzError) -> Error {
    Error::format(path, None, context, e)
}

/// Opens a GNZ file holding a patient repository (see [`GnzStore`]).
///
/// # Errors
/// [`Error::Open`]; [`Error::Format`] with a [`GnzError`] for a damaged container or one
/// that does not hold a patient repository; [`Error::Parse`] for invalid catalog texts.
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(GnzStore::open(path)?))
}

/// Writes a whole store as a GNZ patient file (temporary file, then rename). `options` are
/// not used: GNZ arrays are never compressed.
///
/// # Errors
/// Errors of the store; [`Error::Open`] / [`Error::Io`] writing; [`Error::Format`] with
/// [`GnzError::PidOutOfRange`] for pids above `i32::MAX`.
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    crate::target::check_target(out, crate::target::OutputKind::Gnz, options.force)?;
    export_store(store, out)
}

/// Lists the arrays, one line each in on-disk order: `name⇥dtype⇥shape⇥offset⇥order`, with
/// the shape as numpy prints it (`(3, 4)`).
///
/// # Errors
/// As [`GnzFile::open`]; [`Error::Io`] writing `out`.
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let f = GnzFile::open(path)?;
    let io = |source| Error::Io {
        path: "<output>".into(),
        source,
    };
    for a in f.arrays() {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            a.name,
            a.dtype,
            a.shape_text(),
            a.offset,
            a.order.as_str()
        )
        .map_err(io)?;
    }
    Ok(())
}

/// Writes the bytes of array `name` as stored (its dtype's byte order and memory order).
///
/// # Errors
/// As [`GnzFile::open`]; [`GnzError::NoSuchArray`]; [`Error::Io`] writing `out`.
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let f = GnzFile::open(path)?;
    out.write_all(f.raw(name)?).map_err(|source| Error::Io {
        path: "<output>".into(),
        source,
    })
}

/// `inframed verify` on any GNZ file (written by inframed or not): the preamble, the header
/// JSON, every array's dtype, shape, alignment and span inside the file (all checked at open;
/// GNZ has no checksums). Returns a one-line summary.
///
/// # Errors
/// The first damage, naming the byte offset.
pub fn verify_container(path: &Path) -> Result<String> {
    let f = GnzFile::open(path)?;
    let bytes: u64 = f.arrays().iter().map(|a| a.nbytes).sum();
    Ok(format!(
        "gnz\t{} arrays\t{bytes} array bytes\t{} bytes",
        f.arrays().len(),
        f.bytes().len()
    ))
}

/// `inframed info` on any GNZ file: header length, data start, metadata keys, then the arrays
/// as [`ls`] lists them (name, dtype, shape, offset, order).
///
/// # Errors
/// As [`GnzFile::open`]; [`Error::Io`] writing `out`.
pub fn describe(path: &Path, out: &mut dyn Write) -> Result<()> {
    let f = GnzFile::open(path)?;
    let keys: Vec<&str> = f.metadata().keys().map(String::as_str).collect();
    let text = format!(
        "container\tgnz (version {})\nbytes\t{}\nheader\t{} bytes\ndata start\tbyte {}\n\
         arrays\t{}\nmetadata keys\t{}\n",
        f.version(),
        f.bytes().len(),
        f.header_len(),
        f.data_start(),
        f.arrays().len(),
        keys.join(" ")
    );
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: "<output>".into(),
        source,
    })?;
    ls(path, out)
}
