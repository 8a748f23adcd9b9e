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
pub use store::{export_store, GnzStore, MAPPING_FORMAT};
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

/// What is wrong with a GNZ file, or with a request to read or write one. Carried by
/// [`Error::Backend`], whose context names the byte offset or array.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GnzError {
    /// Fewer than the 8 preamble bytes.
    #[error("truncated preamble: file has {len} bytes, needs 8")]
    TruncatedPreamble {
        /// File length.
        len: u64,
    },
    /// The first four bytes are not `GNZ1`.
    #[error("bad magic {found:02x?}, expected \"GNZ1\"")]
    BadMagic {
        /// What is there.
        found: [u8; 4],
    },
    /// `8 + header_len` is past the end of the file.
    #[error("header length {header_len} goes beyond the end of the file ({file_len} bytes)")]
    HeaderBeyondEof {
        /// The preamble's length field.
        header_len: u64,
        /// File length.
        file_len: u64,
    },
    /// The header is not valid UTF-8 JSON.
    #[error("bad header JSON: {0}")]
    Json(String),
    /// A value that must be a JSON object is not.
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    /// A required key is absent.
    #[error("missing key {0:?}")]
    MissingKey(&'static str),
    /// A key holds a value of the wrong JSON type.
    #[error("key {key:?} is not {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `version` is not `1` (or `"1.0.0"`).
    #[error("unsupported version {0}")]
    Version(String),
    /// Not a numpy `dtype.str` inframed can map.
    #[error("unsupported dtype {0:?}")]
    UnsupportedDtype(String),
    /// `order` is not `"C"` or `"F"`.
    #[error("bad order {0}, expected \"C\" or \"F\"")]
    BadOrder(String),
    /// `prod(shape) × itemsize` or `offset + nbytes` overflows 64 bits.
    #[error("array size overflows")]
    SizeOverflow,
    /// An offset that is not a multiple of 4096.
    #[error("offset {offset} is not 4096-aligned")]
    Misaligned {
        /// The offset.
        offset: u64,
    },
    /// An array starts inside the header pages.
    #[error("offset {offset} is inside the header (data starts at {data_start})")]
    OffsetInHeader {
        /// The offset.
        offset: u64,
        /// First byte after the header pages.
        data_start: u64,
    },
    /// An array ends past the end of the file.
    #[error(
        "array bytes {offset}..{offset}+{nbytes} go beyond the end of the file ({file_len} bytes)"
    )]
    BeyondEof {
        /// Start.
        offset: u64,
        /// Length.
        nbytes: u64,
        /// File length.
        file_len: u64,
    },
    /// Two arrays share bytes.
    #[error("overlaps array {other:?} at byte {offset}")]
    Overlap {
        /// The other array.
        other: String,
        /// Start of this array.
        offset: u64,
    },
    /// No array of that name.
    #[error("no array {0:?}")]
    NoSuchArray(String),
    /// Typed access with a Rust type that is not the array's dtype.
    #[error("dtype {dtype} cannot be read as {requested}")]
    TypeMismatch {
        /// The array's dtype.
        dtype: String,
        /// The Rust type asked for.
        requested: &'static str,
    },
    /// The writer was given two arrays of one name.
    #[error("duplicate array name")]
    DuplicateArray,
    /// Data of the wrong length for the declared shape and dtype.
    #[error("{found} bytes given, shape and dtype need {expected}")]
    DataLength {
        /// `prod(shape) × itemsize`.
        expected: u64,
        /// Bytes given.
        found: u64,
    },
    /// A chunk written past the end of its reserved array.
    #[error("chunk {start}..{end} is outside the array's {nbytes} bytes")]
    ChunkOutOfRange {
        /// First byte of the chunk inside the array.
        start: u64,
        /// End of the chunk.
        end: u64,
        /// Array size.
        nbytes: u64,
    },
    /// The header JSON is longer than the u32 length field allows.
    #[error("header of {0} bytes does not fit the u32 length field")]
    HeaderTooLarge(u64),
    /// `metadata` has no `inframed` object: a GNZ file, but not a patient repository.
    #[error("not an inframed patient file (no metadata key \"inframed\")")]
    NotAPatientFile,
    /// The patient mapping's `format` or `version` is not one this reader knows.
    #[error("unsupported patient mapping {0}")]
    MappingVersion(String),
    /// A mapping array has the wrong dtype or shape.
    #[error("expected {expected}, found {found}")]
    MappingArray {
        /// What the mapping requires.
        expected: String,
        /// What the header says.
        found: String,
    },
    /// A value of the mapping contradicts another.
    #[error("{field} is {found}, expected {expected}")]
    MappingField {
        /// What was checked.
        field: &'static str,
        /// Value found.
        found: i64,
        /// Value expected (or the bound violated).
        expected: i64,
    },
    /// The mapping's signal list and its catalog disagree about a signal.
    #[error("signal {0:?} is not described in both the catalog and the signal list")]
    SignalMismatch(String),
    /// A pid that does not fit the `<i4` pid arrays.
    #[error("pid {0} does not fit a signed 32-bit pid array")]
    PidOutOfRange(u32),
}

/// An [`Error::Backend`] for `path` with `context` (byte offset or array).
pub(crate) fn backend_error(path: &Path, context: impl Into<String>, e: GnzError) -> Error {
    Error::Backend {
        path: path.into(),
        context: context.into(),
        source: Box::new(e),
    }
}

/// Opens a GNZ file holding a patient repository (see [`GnzStore`]).
///
/// # Errors
/// [`Error::Open`]; [`Error::Backend`] with a [`GnzError`] for a damaged container or one
/// that does not hold a patient repository; [`Error::Parse`] for invalid catalog texts.
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(GnzStore::open(path)?))
}

/// Writes a whole store as a GNZ patient file (temporary file, then rename). `options` are
/// not used: GNZ arrays are never compressed.
///
/// # Errors
/// Errors of the store; [`Error::Open`] / [`Error::Io`] writing; [`Error::Backend`] with
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
