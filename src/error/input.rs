//! What is wrong with an argument handed to the API (the source of
//! [`Error::InvalidInput`](crate::Error::InvalidInput)).

use std::path::PathBuf;

use crate::ids::{Pid, Sid};

/// What is wrong with an argument given through the API (not read from a file): an unsorted
/// pid list to a writer, a signal defined twice, an option out of range. Carried by
/// [`crate::Error::InvalidInput`]; every number a program needs is a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Pids that must be strictly ascending are not.
    #[error("{}pids not strictly ascending: {prev} then {next}", in_signal(.signal))]
    PidsNotAscending {
        /// The signal being written, when the order is per signal.
        signal: Option<String>,
        /// The earlier pid.
        prev: Pid,
        /// The pid after it (≤ `prev`).
        next: Pid,
    },
    /// A pid beyond the formats' 32-bit signed pid fields.
    #[error("pid {pid} does not fit the formats' 32-bit signed pid fields")]
    PidOutOfRange {
        /// The pid.
        pid: Pid,
    },
    /// A signal name given twice.
    #[error("signal {name} defined twice")]
    DuplicateSignal {
        /// The name.
        name: String,
    },
    /// A signal id given twice.
    #[error("signal id {sid} defined twice")]
    DuplicateSid {
        /// The sid.
        sid: Sid,
    },
    /// One sid names two different signals (in two catalogs, or two stacked layers).
    #[error("signal id {sid} is both {first} and {second}")]
    SidConflict {
        /// The sid.
        sid: Sid,
        /// The signal it names first.
        first: String,
        /// The other signal.
        second: String,
    },
    /// A signal to add clashes (by name, file name or sid) with one the repository has.
    #[error(
        "signal {name} (sid {sid}) clashes with existing signal {existing} (sid {existing_sid})"
    )]
    SignalClash {
        /// The signal to add.
        name: String,
        /// Its sid.
        sid: Sid,
        /// The repository's signal.
        existing: String,
        /// That signal's sid.
        existing_sid: Sid,
    },
    /// A path that must be a plain relative path (no `..`, not absolute).
    #[error("{what} {path:?} must be a relative path inside the repository")]
    NotRelative {
        /// Which option.
        what: &'static str,
        /// The path given.
        path: String,
    },
    /// A list that must not be empty is.
    #[error("no {what}")]
    Empty {
        /// What is missing, e.g. "patients to pack".
        what: &'static str,
    },
    /// A number outside its allowed range.
    #[error("{what} is {value}, must be in {min}..={max}")]
    OutOfRange {
        /// Which option or count.
        what: &'static str,
        /// The value given.
        value: i64,
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// Two counts that must agree do not.
    #[error("{found} {what}, expected {expected}")]
    CountMismatch {
        /// What is counted.
        what: &'static str,
        /// How many were given.
        found: u64,
        /// How many there must be.
        expected: u64,
    },
    /// More of something than the format's fields can address.
    #[error("{what}: {found} is more than the format addresses ({limit})")]
    TooLarge {
        /// What overflows, e.g. "elements of signal Hemoglobin".
        what: String,
        /// The size or count reached.
        found: u64,
        /// The format's limit.
        limit: u64,
    },
    /// A legacy (MODE 0–2) data file number given twice.
    #[error("data file number {number} given twice")]
    DuplicateFileNumber {
        /// The file number.
        number: u16,
    },
    /// A legacy signal placed in more than one data file.
    #[error("signal {signal} is in {files} data files (each signal must be in one at most)")]
    SignalInFiles {
        /// The signal.
        signal: String,
        /// In how many files.
        files: usize,
    },
    /// A legacy signal with data but in no data file.
    #[error("signal {signal} has data (pid {pid}) but is in no data file")]
    SignalInNoFile {
        /// The signal.
        signal: String,
        /// A patient with data for it.
        pid: Pid,
    },
    /// A writer was asked to finish a signal it is not writing (or finished already).
    #[error("signal {signal}: not written by this writer, or already finished")]
    SignalNotOpen {
        /// The signal.
        signal: String,
    },
    /// Repository metadata handed to a writer is incomplete or disagrees with its catalog.
    #[error("metadata: {0}")]
    Metadata(MetadataProblem),
    /// A record name that is not a row number.
    #[error("{name:?} is not a record row (an integer)")]
    NotARow {
        /// The name given.
        name: String,
    },
    /// A path that must be UTF-8 (it goes into a config file) is not.
    #[error("{} is not a UTF-8 path", .path.display())]
    NotUtf8 {
        /// The path.
        path: PathBuf,
    },
    /// A TRX being built is not consistent: `source` says how (in the TRX reader's terms).
    #[cfg(feature = "trx")]
    #[error("TRX {context}: {source}")]
    Trx {
        /// Which array or key.
        context: String,
        /// What is wrong.
        source: super::TrxError,
    },
}

/// What is wrong with repository metadata handed to a writer (see [`InputError::Metadata`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataProblem {
    /// It names a signals file it does not carry.
    #[error("signals file {0} not among the metadata files")]
    MissingFile(String),
    /// It names no signals file.
    #[error("no signals file")]
    NoSignalsFile,
    /// Its signals files do not define the signals being written.
    #[error("signals files {0} do not define the signals being written")]
    SignalsDiffer(String),
}

impl InputError {
    /// [`InputError::PidsNotAscending`] at the first pair of `pids` that is not strictly
    /// ascending.
    #[cfg_attr(not(any(feature = "arrow", feature = "itar")), allow(dead_code))]
    pub(crate) fn check_ascending(pids: &[Pid]) -> Result<(), InputError> {
        match pids.windows(2).find(|w| w[0] >= w[1]) {
            Some(w) => Err(InputError::PidsNotAscending {
                signal: None,
                prev: w[0],
                next: w[1],
            }),
            None => Ok(()),
        }
    }
}

fn in_signal(signal: &Option<String>) -> String {
    match signal {
        Some(s) => format!("signal {s}: "),
        None => String::new(),
    }
}
