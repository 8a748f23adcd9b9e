//! The crate's one public error type, and the matchable enums it carries: the text parsers'
//! [`ParseError`], the binary [`DecodeError`], each container format's own enum under
//! [`FormatError`], and the converter's [`ConvertError`]. They live here, in the lowest layer,
//! so that every module can name them; the backends re-export their own.

mod convert;
#[cfg(feature = "gnz")]
mod gnz;
#[cfg(feature = "iac")]
mod iac;
mod input;
#[cfg(feature = "itar")]
mod itar;
mod shard;
#[cfg(feature = "trx")]
mod trx;

use std::io;
use std::path::{Path, PathBuf};

use crate::ids::{Pid, Sid};
use crate::layout::Layout;
pub use crate::layout::LayoutError;
use crate::time::TimeError;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in inframed. The message says *where* (file, line, byte
/// offset, pid, signal); `source()` says *what*.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or mapped.
    #[error("cannot open {}", .path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Reading or writing a file failed after it was opened.
    #[error("i/o error on {}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A line of a text file (config, signals, dictionary, input export) is invalid.
    #[error("{}:{line}: invalid {what}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The directive or field being parsed.
        what: &'static str,
        /// What is wrong with it.
        source: ParseError,
    },
    /// A binary file is damaged or not of the expected format.
    #[error("{}: corrupt at byte {offset}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong there.
        source: DecodeError,
    },
    /// A typed read asked for a layout other than the signal's.
    #[error("signal {sid} is {stored}, not {requested}")]
    WrongType {
        /// The signal.
        sid: Sid,
        /// The signal's element layout (boxed: errors are rare and `Result`s stay small).
        stored: Box<Layout>,
        /// The layout asked for.
        requested: &'static str,
    },
    /// No signal of this name in the repository.
    #[error("unknown signal {name:?}")]
    UnknownSignal {
        /// The name asked for.
        name: String,
    },
    /// No signal with this sid in the repository.
    #[error("unknown signal id {sid}")]
    UnknownSid {
        /// The sid asked for.
        sid: Sid,
    },
    /// The repository or container uses a feature inframed does not implement (named).
    #[error("{}: unsupported {what}", .path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// The files of a repository disagree with each other (e.g. a `.data` without its `.idx`).
    #[error("{}: inconsistent repository", .path.display())]
    Inconsistent {
        /// The file where the disagreement was found.
        path: PathBuf,
        /// What disagrees.
        source: DecodeError,
    },
    /// A writer was handed a vector that is not a whole number of the signal's elements (a
    /// store or caller defect: nothing is written).
    #[error(
        "pid {pid} signal {signal}: {bytes} bytes is not a whole number of {element}-byte elements"
    )]
    PartialElements {
        /// The patient.
        pid: Pid,
        /// The signal's id.
        sid: Sid,
        /// The signal's name.
        signal: String,
        /// The vector's length in bytes.
        bytes: usize,
        /// The signal's element size.
        element: usize,
    },
    /// A typed slice could not be formed for `(pid, sid)`.
    #[error("pid {pid} signal {sid}: cannot view elements as the requested type")]
    Cast {
        /// The patient.
        pid: Pid,
        /// The signal.
        sid: Sid,
    },
    /// A container or data file (`.iac`, GNZ, TRX, indexed tar, Parquet, Arrow IPC) is damaged,
    /// of another kind, or cannot be written: `source` is the format's own matchable enum.
    #[error("{}: {context}", .path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The byte offset of the problem in `path`, when the reader knows one.
        offset: Option<u64>,
        /// Where in the file, for people: record, array, member, row group, byte offset (the
        /// numbers a program needs are in `offset` and in `source`'s fields).
        context: String,
        /// What is wrong (boxed: the formats' enums are large and errors are rare; match it
        /// through [`Error::format_error`]).
        source: Box<FormatError>,
    },
    /// The converter (or the MEDS importer) refused a load: too many bad lines, an unsorted
    /// file, a config it cannot carry out.
    #[error("{}: {context}", .path.display())]
    Convert {
        /// The file (input, config or output directory) the refusal is about.
        path: PathBuf,
        /// Where or at which step, for people.
        context: String,
        /// Why.
        source: ConvertError,
    },
    /// A writer's target holds something that is not a previous output of the same kind: it
    /// is left alone (the writer's `force` option replaces it).
    #[error("{}: holds {what}, not {kind}; refusing to replace it (--force replaces it)", .path.display())]
    Occupied {
        /// The target path.
        path: PathBuf,
        /// What is there.
        what: String,
        /// What the writer writes.
        kind: &'static str,
    },
    /// Invalid input given through the API (not from a file), e.g. an unsorted pid list to a writer.
    #[error("invalid argument")]
    InvalidInput {
        /// What is wrong.
        #[from]
        source: InputError,
    },
    /// Worker threads could not be started (the system's thread or memory limits).
    #[error("cannot start worker threads")]
    ThreadPool {
        /// The thread pool's reason.
        source: rayon::ThreadPoolBuildError,
    },
    /// A defect in inframed (an invariant of its own data broke): please report it.
    #[error("internal error: {what}: {detail}")]
    Internal {
        /// Which step.
        what: &'static str,
        /// The underlying message.
        detail: String,
    },
}

pub use self::convert::ConvertError;
#[cfg(feature = "gnz")]
pub use self::gnz::GnzError;
#[cfg(feature = "iac")]
pub use self::iac::IacError;
pub use self::input::{InputError, MetadataProblem};
#[cfg(feature = "itar")]
pub use self::itar::ItarError;
pub use self::shard::ShardError;
#[cfg(feature = "trx")]
pub use self::trx::TrxError;

/// What is wrong with a container or data file, by format (carried by [`Error::Format`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// An `.iac` pack.
    #[cfg(feature = "iac")]
    #[error(transparent)]
    Iac(#[from] IacError),
    /// A GNZ file.
    #[cfg(feature = "gnz")]
    #[error(transparent)]
    Gnz(#[from] GnzError),
    /// A TRX file or directory.
    #[cfg(feature = "trx")]
    #[error(transparent)]
    Trx(#[from] TrxError),
    /// An indexed-tar dataset.
    #[cfg(feature = "itar")]
    #[error(transparent)]
    Itar(#[from] ItarError),
    /// Arrow data: an IPC file or stream, a record batch.
    #[cfg(feature = "arrow")]
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A Parquet file.
    #[cfg(feature = "arrow")]
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A shard manifest or a shard it lists.
    #[error(transparent)]
    Shard(#[from] ShardError),
}

/// A binary decoding problem, without location (carried by [`Error::Corrupt`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file ends before a structure is complete.
    #[error("unexpected end of file")]
    UnexpectedEof,
    /// A magic number does not match.
    #[error("bad magic number {found:#x}, expected {expected:#x}")]
    Magic {
        /// What is in the file.
        found: u64,
        /// What should be there.
        expected: u64,
    },
    /// A format or version word is not supported.
    #[error("unsupported format word {0}")]
    Version(i64),
    /// A range points past the end of the file.
    #[error("range {start}..{end} beyond end of file ({len} bytes)")]
    OutOfBounds {
        /// Start of the range.
        start: u64,
        /// End of the range.
        end: u64,
        /// File length.
        len: u64,
    },
    /// A header field has a value that contradicts the file or another field.
    #[error("field {field} is {found}, expected {expected}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Value found.
        found: i64,
        /// Value expected (or the bound violated).
        expected: i64,
    },
    /// Values that must be ascending are not.
    #[error("{what} not ascending: {prev} then {next}")]
    NotAscending {
        /// What sequence.
        what: &'static str,
        /// Earlier value.
        prev: i64,
        /// Later value.
        next: i64,
    },
    /// The file size is not header + a whole number of elements.
    #[error("size {size} is not {header} + a multiple of {element}")]
    Size {
        /// File size.
        size: u64,
        /// Header bytes.
        header: u64,
        /// Element size.
        element: u64,
    },
    /// A file the repository needs is missing.
    #[error("missing companion file {0}")]
    Missing(String),
    /// A patient's vector is not sorted by time: element `element` is earlier than the one
    /// before it.
    #[error("pid {pid} signal {sid}: element {element} is earlier than element {}", .element - 1)]
    TimeOrder {
        /// The patient.
        pid: u32,
        /// The signal's id.
        sid: u32,
        /// The element's index in the vector (≥ 1).
        element: u64,
    },
    /// A sid that is not a signal of the repository (or negative).
    #[error("sid {sid} is not a signal of the repository")]
    UnknownSid {
        /// The sid as stored.
        sid: i64,
    },
    /// A field that must not be negative is.
    #[error("{field} is negative ({value})")]
    Negative {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: i64,
    },
    /// Bytes after the last structure the index accounts for.
    #[error("{bytes} bytes after the last indexed record")]
    TrailingBytes {
        /// How many.
        bytes: u64,
    },
    /// Two counts that must agree do not.
    #[error("{what}: {found}, expected {expected}")]
    Mismatch {
        /// What is counted (in which file).
        what: &'static str,
        /// What was found.
        found: u64,
        /// What the other file or field implies.
        expected: u64,
    },
    /// An index lists a pid with no elements (the original writers never do).
    #[error("pid {pid} is indexed with no elements")]
    EmptyEntry {
        /// The pid.
        pid: u32,
    },
    /// An index lists a pid that the repository's pid list does not hold.
    #[error("pid {pid} is indexed but not in {}", .list.display())]
    PidNotListed {
        /// The pid.
        pid: u32,
        /// The pid list.
        list: PathBuf,
    },
    /// A value that must be unique is given twice.
    #[error("{what} {value} given twice")]
    Duplicate {
        /// What.
        what: &'static str,
        /// The value.
        value: i64,
    },
    /// One `(pid, signal)` indexed twice.
    #[error("pid {pid} signal {sid} indexed twice")]
    IndexedTwice {
        /// The patient.
        pid: u32,
        /// The signal's id.
        sid: u32,
    },
    /// A stripped vector not where the one before it ends (they are back to back).
    #[error("pid {pid} sid {sid}: vector at byte {found}, expected the next one at byte {expected} (stripped vectors are back to back)")]
    VectorPosition {
        /// The patient.
        pid: u32,
        /// The signal's id.
        sid: u32,
        /// Where the index puts it.
        found: u64,
        /// Where the vector before it ends.
        expected: u64,
    },
    /// A MODE 2 index entry for another signal than its file's.
    #[error("entry for sid {sid}, not this file's signal")]
    ForeignEntry {
        /// The entry's sid.
        sid: u32,
    },
    /// A full record lists a signal that no index entry has.
    #[error("record of pid {pid} lists sid {sid}, which no INDEX entry has")]
    Unindexed {
        /// The patient.
        pid: u32,
        /// The signal's id.
        sid: u32,
    },
    /// A vector that is not a whole number of the signal's elements.
    #[error(
        "pid {pid} signal {sid}: {bytes} bytes is not a multiple of the element size {element}"
    )]
    PartialElements {
        /// The patient.
        pid: u32,
        /// The signal's id.
        sid: u32,
        /// The vector's bytes.
        bytes: u64,
        /// The element size.
        element: u64,
    },
    /// A sparse index's bound is not one of its keys.
    #[error("{field} {key} is not a present key")]
    AbsentBound {
        /// `min_val` or `max_key`.
        field: &'static str,
        /// The bound.
        key: u64,
    },
    /// An element index range outside the signal's elements.
    #[error("pid {pid}: elements {from}..{to} outside the {count} elements")]
    ElementRange {
        /// The patient.
        pid: u32,
        /// First element.
        from: i64,
        /// End element.
        to: i64,
        /// The signal's element count.
        count: u64,
    },
    /// A pid in an index that the pid list does not hold.
    #[error("pid {pid} is not in the pid list")]
    PidNotInList {
        /// The pid as stored.
        pid: i64,
    },
}

impl Error {
    /// An [`Error::Format`] for `path`: `source` found at `context`, at byte `offset` if known.
    pub(crate) fn format(
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        context: impl Into<String>,
        source: impl Into<FormatError>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            offset,
            context: context.into(),
            source: Box::new(source.into()),
        }
    }

    /// An [`Error::Convert`] for `path` at `context`.
    pub(crate) fn convert(
        path: impl Into<PathBuf>,
        context: impl Into<String>,
        source: ConvertError,
    ) -> Self {
        Error::Convert {
            path: path.into(),
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, offset: u64, source: DecodeError) -> Self {
        Error::Corrupt {
            path: path.into(),
            offset,
            source,
        }
    }
}

/// A non-fatal problem found while opening (the original tools log these and go on): the
/// one warning type of every store, reader and writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0 if not about a line).
    pub line: usize,
    /// What was found and what was done.
    pub message: String,
}

impl std::fmt::Display for Warning {
    /// `file:line: message`, or `file: message` when the warning is not about a line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.message),
            line => write!(f, "{}:{line}: {}", self.path.display(), self.message),
        }
    }
}

/// The variants that name a file, once for [`Error::path`] and `path_mut`.
macro_rules! path_of {
    ($e:expr) => {
        match $e {
            Error::Open { path, .. }
            | Error::Io { path, .. }
            | Error::Parse { path, .. }
            | Error::Corrupt { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Inconsistent { path, .. }
            | Error::Format { path, .. }
            | Error::Convert { path, .. }
            | Error::Occupied { path, .. } => Some(path),
            _ => None,
        }
    };
}

impl Error {
    /// The file this error names, if it names one.
    pub fn path(&self) -> Option<&std::path::Path> {
        path_of!(self).map(PathBuf::as_path)
    }

    /// The byte offset this error names in [`Error::path`], if it names one
    /// ([`Error::Corrupt`], and [`Error::Format`] where the reader knows it).
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Corrupt { offset, .. } => Some(*offset),
            Error::Format { offset, .. } => *offset,
            _ => None,
        }
    }

    /// The format's own error inside an [`Error::Format`], to match on:
    ///
    /// ```
    /// # fn f(e: &inframed::Error) -> bool {
    /// use inframed::backend::gnz::GnzError;
    /// use inframed::FormatError;
    /// matches!(e.format_error(), Some(FormatError::Gnz(GnzError::NotAPatientFile)))
    /// # }
    /// ```
    pub fn format_error(&self) -> Option<&FormatError> {
        match self {
            Error::Format { source, .. } => Some(source),
            _ => None,
        }
    }

    fn path_mut(&mut self) -> Option<&mut PathBuf> {
        path_of!(self)
    }

    /// This error with its path under a writer's temporary sibling of `target`
    /// (`<name>.tmp.<pid>.<n>`, as `atomic::temp_name` names it) named as the file would be
    /// called under `target`: users know the path they asked for, not the staging name.
    pub fn in_target(mut self, target: &std::path::Path) -> Error {
        if let Some(path) = self.path_mut() {
            if let Some(user) = user_path(path, target) {
                *path = user;
            }
        }
        self
    }
}

/// What is wrong with one line of a text file (the location is in [`Error::Parse`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer fields than the directive needs.
    #[error("expected at least {expected} tab-separated fields, found {found}")]
    TooFewFields {
        /// Needed.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// A field that must be an integer is not.
    #[error("not an integer: {0:?}")]
    Integer(String),
    /// An integer outside its allowed range.
    #[error("{value} is outside {min}..={max}")]
    Range {
        /// The value.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// The element type field is invalid.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A time or time unit is invalid.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// `16:<alias>` names no GENERIC_SIGNAL_TYPE and is not a spec.
    #[error("unknown generic type alias {0:?}")]
    UnknownAlias(String),
    /// A signal name is defined twice.
    #[error("signal name {0:?} defined twice")]
    DuplicateName(String),
    /// A sid is used by two signals.
    #[error("signal id {0} used twice")]
    DuplicateSid(u32),
    /// A categorical bitmap is not made of `0`/`1`.
    #[error("categorical bitmap {0:?} is not made of 0 and 1")]
    Bitmap(String),
    /// A path or name field is empty.
    #[error("empty field")]
    Empty,
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// `path` with a leading temporary sibling of `target` made by this process
/// (`<name>.tmp.<pid>.<n>`, the naming of `atomic::temp_name`, which its unit test ties to
/// this) replaced by `target`; `None` when `path` is not under such a sibling.
fn user_path(path: &Path, target: &Path) -> Option<PathBuf> {
    let name = target.file_name()?.to_string_lossy().into_owned();
    let parent = target.parent().unwrap_or(Path::new(""));
    let rest = path.strip_prefix(parent).ok()?;
    let mut parts = rest.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    let tail = first.strip_prefix(&format!("{name}.tmp.{}.", std::process::id()))?;
    if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = parts.as_path();
    Some(if rest.as_os_str().is_empty() {
        target.to_path_buf()
    } else {
        target.join(rest)
    })
}
