//! The `trx` backend: TRX tractography containers (a zip, stored or deflated, or a folder of
//! `name[.dim].dtype` arrays plus `header.json`), and patient repositories stored in them, one
//! streamline per (patient, signal) series. Facts: `docs/trx.md`.
//!
//! - [`TrxFile`]: the container reader (any TRX trx-python 0.6 loads, with stricter checks).
//! - [`TrxWriter`]: the container writer (stored zip, deflate zip or folder).
//! - [`TrxStore`]: a patient repository inside a TRX, behind [`SignalStore`].

mod dtype;
mod reader;
mod store;
mod writer;

use std::io::Write;
use std::path::Path;

pub use dtype::{split_file_name, ArrayName, Dtype, Role};
pub use reader::{Array, Form, Header, Rows, Selection, TrxFile};
pub use store::{group_name_for, TrxStore, MAPPING_KEY};
pub use writer::{Fill, TrxWriter};

use crate::backend::ExportOptions;
use crate::error::{Error, Result};
use crate::store::SignalStore;

/// What is wrong in a TRX (the `source` of [`Error::Backend`]; the error's path and context name
/// the file, the member and the byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrxError {
    /// The zip structure cannot be read.
    #[error("invalid zip: {0}")]
    Zip(String),
    /// A member's local file header is missing or damaged.
    #[error("{0}")]
    LocalHeader(&'static str),
    /// A member's data runs past the end of the file.
    #[error("data {start}..{end} beyond end of file ({len} bytes)")]
    OutOfBounds {
        /// First byte.
        start: u64,
        /// End byte (exclusive).
        end: u64,
        /// File length.
        len: u64,
    },
    /// A compression method other than stored or deflate (or encryption).
    #[error("unsupported compression {0}")]
    Compression(String),
    /// A compressed member does not inflate (bad stream, CRC or size).
    #[error("cannot inflate: {0}")]
    Inflate(String),
    /// A member's CRC-32 does not match its data.
    #[error("crc32 {found:#010x}, expected {expected:#010x}")]
    Crc {
        /// Computed over the data.
        found: u32,
        /// Stored in the central directory.
        expected: u32,
    },
    /// No `header.json` at the root.
    #[error("there is no header.json")]
    MissingHeader,
    /// `header.json` is not a JSON object.
    #[error("invalid header.json: {0}")]
    HeaderJson(String),
    /// A required header key is missing or of the wrong type.
    #[error("header key {key}: {what}")]
    HeaderKey {
        /// The key.
        key: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A file name is not `<name>[.<dim>].<dtype>` (names may not contain dots).
    #[error("invalid array file name {0:?} (expected <name>[.<dim>].<dtype>, no dots in names)")]
    InvalidName(String),
    /// The dimension part of a file name is not a positive integer.
    #[error("invalid dimension {0:?}")]
    InvalidDim(String),
    /// A dtype extension numpy does not know.
    #[error("unknown dtype extension {0:?}")]
    UnknownDtype(String),
    /// A non-numeric dtype (bytes, str, void, datetime, object).
    #[error("unsupported dtype extension {0:?} (TRX arrays are numeric)")]
    UnsupportedDtype(String),
    /// A dtype that is not allowed for this array.
    #[error("dtype {dtype} not allowed here: expected {want}")]
    WrongDtype {
        /// The dtype found.
        dtype: &'static str,
        /// What is allowed.
        want: &'static str,
    },
    /// Byte count not a multiple of the item size.
    #[error("{bytes} bytes is not a multiple of the item size {itemsize}")]
    WrongSize {
        /// Bytes stored.
        bytes: u64,
        /// Item size of the dtype.
        itemsize: u64,
    },
    /// Element count disagrees with the header counts.
    #[error("{found} elements, expected {expected} (from header.json counts)")]
    Count {
        /// Elements stored.
        found: u64,
        /// Elements the header implies.
        expected: u64,
    },
    /// Wrong dimension for the array's role.
    #[error("dimension {found}, expected {expected}")]
    Dim {
        /// In the file name.
        found: u64,
        /// Required.
        expected: u64,
    },
    /// A required array is missing.
    #[error("missing essential array {0}")]
    Missing(&'static str),
    /// Two members give the same array (e.g. `positions.3.float16` and `positions.3.float32`).
    #[error("duplicate array (also in {0})")]
    Duplicate(String),
    /// `offsets[0]` is not 0.
    #[error("offsets[0] is {0}, expected 0")]
    FirstOffset(i128),
    /// Offsets decrease.
    #[error("offsets not monotone at entry {index}: {prev} then {next}")]
    OffsetsNotMonotone {
        /// Entry index.
        index: u64,
        /// Previous value.
        prev: i128,
        /// This value.
        next: i128,
    },
    /// The last offset is not `NB_VERTICES`.
    #[error("last offset is {found}, expected NB_VERTICES {expected}")]
    LastOffset {
        /// Stored.
        found: i128,
        /// `NB_VERTICES`.
        expected: u64,
    },
    /// A group lists a streamline that does not exist.
    #[error(
        "group entry {entry}: streamline {value} out of range (NB_STREAMLINES {nb_streamlines})"
    )]
    GroupIndex {
        /// Entry index in the group.
        entry: u64,
        /// The value stored.
        value: i128,
        /// `NB_STREAMLINES`.
        nb_streamlines: u64,
    },
    /// `dpg/<group>/…` without `groups/<group>.*`.
    #[error("an undeclared group ({0}) has data_per_group")]
    UndeclaredGroup(String),
    /// An index past the end.
    #[error("index {index} out of range (length {len})")]
    IndexOutOfRange {
        /// Asked for.
        index: u64,
        /// Length.
        len: u64,
    },
    /// No array of that name.
    #[error("no array {0:?}")]
    NoSuchArray(String),
    /// A fill callback wrote the wrong number of bytes.
    #[error("{written} bytes written, expected {expected}")]
    FillSize {
        /// Written.
        written: u64,
        /// Declared.
        expected: u64,
    },
    /// The TRX holds no inframed patient repository (no `INFRAMED` header key).
    #[error("not an inframed patient file (header.json has no {MAPPING_KEY} key)")]
    NotPatientFile,
    /// The patient mapping is inconsistent (described).
    #[error("patient mapping: {0}")]
    Mapping(String),
}

/// Opens a TRX holding a patient repository (see [`TrxStore`]).
///
/// # Errors
/// [`Error::Open`]; [`Error::Backend`] with a [`TrxError`].
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(TrxStore::open(path)?))
}

/// Writes a whole store as a TRX patient file: stored zip by default, deflate zip with
/// `options.deflate`, folder with `options.dir`.
///
/// # Errors
/// Store errors; [`Error::Io`]; [`Error::InvalidInput`] for a repository the mapping cannot
/// hold.
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    let kind = if options.dir {
        crate::target::OutputKind::TrxDir
    } else {
        crate::target::OutputKind::TrxZip
    };
    crate::target::check_target(out, kind, options.force)?;
    let form = if options.dir {
        Form::Directory
    } else if options.deflate {
        Form::DeflateZip
    } else {
        Form::StoredZip
    };
    store::export(store, out, form)
}

/// Lists the header counts and every array: key, dtype, shape, member, bytes (and
/// `deflated`).
///
/// # Errors
/// As [`TrxFile::open`].
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let form = form_name(trx.form());
    writeln!(
        out,
        "# {form}: NB_STREAMLINES {} NB_VERTICES {}",
        trx.nb_streamlines(),
        trx.nb_vertices()
    )
    .map_err(io)?;
    for a in trx.arrays() {
        let shape: Vec<String> = a.shape().iter().map(u64::to_string).collect();
        writeln!(
            out,
            "{}\t{}\t({})\t{}\t{}{}",
            a.key(),
            a.name.dtype.name(),
            shape.join(", "),
            a.member,
            a.size,
            if a.compressed { "\tdeflated" } else { "" }
        )
        .map_err(io)?;
    }
    for w in trx.warnings() {
        writeln!(out, "# warning: {}", w.message).map_err(io)?;
    }
    Ok(())
}

/// Writes one array's bytes as stored (inflated for deflated members): `name` is a key
/// (`positions`, `offsets`, `dps/algo`, `groups/AF_L`, `dpg/AF_L/mean`), a member name, or
/// `header.json`.
///
/// # Errors
/// As [`TrxFile::open`]; [`TrxError::NoSuchArray`].
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    if name == "header.json" {
        return out.write_all(trx.header_bytes()).map_err(io);
    }
    let a = trx.array(name).ok_or_else(|| {
        reader::backend_error(path, name.into(), TrxError::NoSuchArray(name.into()))
    })?;
    out.write_all(trx.bytes(a)?).map_err(io)
}

/// `inframed verify` on any TRX (written by inframed or not): the zip directory, local headers,
/// member spans, `header.json`, array sizes and offsets (checked at open), then every member's
/// CRC-32 (deflated members inflated, bounded by their declared size). Returns a one-line
/// summary.
///
/// # Errors
/// The first damage, naming the member and byte offset.
pub fn verify_container(path: &Path) -> Result<String> {
    let trx = TrxFile::open(path)?;
    trx.verify_checksums()?;
    Ok(format!(
        "trx {}\t{} arrays\tNB_STREAMLINES {}\tNB_VERTICES {}",
        form_name(trx.form()),
        trx.arrays().len(),
        trx.nb_streamlines(),
        trx.nb_vertices()
    ))
}

/// `inframed info` on any TRX: form, counts, header keys, then the arrays as [`ls`] lists them
/// (key, dtype, shape, member, bytes, deflated).
///
/// # Errors
/// As [`TrxFile::open`]; [`Error::Io`] writing `out`.
pub fn describe(path: &Path, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let keys: Vec<&str> = trx.header().json.keys().map(String::as_str).collect();
    let total: u64 = trx.arrays().iter().map(|a| a.size).sum();
    let text = format!(
        "container\ttrx {}\narrays\t{}\narray bytes\t{total}\nheader keys\t{}\n",
        form_name(trx.form()),
        trx.arrays().len(),
        keys.join(" ")
    );
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    ls(path, out)
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::StoredZip => "stored zip",
        Form::DeflateZip => "deflate zip",
        Form::Directory => "directory",
    }
}
