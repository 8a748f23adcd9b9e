//! Why a conversion was refused (the source of [`Error::Convert`](crate::Error::Convert)).

/// Why a conversion was refused. Carried as the source of [`crate::Error::Convert`], whose
/// path and context say which file, line or patient.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// The config names no `SIGNAL` file, or more than one.
    #[error("the convert config must name exactly one SIGNAL file, found {0}")]
    SignalsFiles(usize),
    /// A `MODE` other than 0–3.
    #[error(
        "MODE {0} is not a repository mode (0, 1 and 2 are the legacy layouts, 3 the current one)"
    )]
    Mode(i32),
    /// MODE 0/1 without the `FNAMES` or `SFILES` file that names and fills its data files.
    #[error(
        "MODE {mode} needs {key}: data file names (FNAMES) and the signal of each file (SFILES)"
    )]
    LegacyNeeds {
        /// The config's MODE.
        mode: i32,
        /// `FNAMES` or `SFILES`.
        key: &'static str,
    },
    /// `LOAD_ONLY` with a legacy MODE.
    #[error("LOAD_ONLY reloads MODE 3 repositories only, not MODE {0}")]
    LegacyLoadOnly(i32),
    /// A forced signal that the `SFILES` file puts in no data file.
    #[error("FORCE_SIGNAL {0:?} is in no data file of SFILES")]
    ForcedNotInFiles(String),
    /// A `FORCE_SIGNAL` or `LOAD_ONLY` name is not a signal.
    #[error("{list} names unknown signal {name:?}")]
    UnknownSignal {
        /// `FORCE_SIGNAL` or `LOAD_ONLY`.
        list: &'static str,
        /// The name.
        name: String,
    },
    /// A special export needs a signal the signals file does not define.
    #[error("{input} input needs signal {signal:?} in the signals file")]
    MissingSpecialSignal {
        /// `REGISTRY`, `DEMOGRAPHICS` or `DEATHS`.
        input: &'static str,
        /// The signal.
        signal: &'static str,
    },
    /// `LOAD_ONLY` needs an existing repository to add to.
    #[error("LOAD_ONLY needs an existing repository in the output directory")]
    LoadOnlyWithoutRepository,
    /// A line's pid is lower than an earlier pid of the same file.
    #[error("pid {pid} after pid {previous}: the file is not sorted by pid (use --sort, or --drop-unsorted for the original loader's behaviour)")]
    Unsorted {
        /// The line's pid.
        pid: u32,
        /// The larger pid seen before it.
        previous: u32,
    },
    /// Too many dictionary misses.
    #[error("{count} dictionary misses exceed allowed_unknown_category_cnt {allowed} (SAFE_MODE)")]
    DictionaryMisses {
        /// Misses so far.
        count: u64,
        /// Allowed.
        allowed: u64,
    },
    /// Too few lines of a file parsed.
    #[error("{parsed}/{relevant} lines parsed: below min_parsed_line_ratio {min}")]
    ParsedRatio {
        /// Parsed lines.
        parsed: u64,
        /// Relevant lines.
        relevant: u64,
        /// The threshold.
        min: f32,
    },
    /// Too many bad lines in a file.
    #[error("{bad}/{relevant} lines in bad format: above max_bad_line_ratio {max}")]
    BadRatio {
        /// Bad lines.
        bad: u64,
        /// Relevant lines.
        relevant: u64,
        /// The threshold.
        max: f32,
    },
    /// Too many patients dropped for missing a forced signal.
    #[error("{count}/{pids} patients miss forced signal {signal} (allowed ratio {ratio}, count {max_count}) (SAFE_MODE)")]
    MissingForced {
        /// The forced signal.
        signal: String,
        /// Patients dropped for it.
        count: u64,
        /// Patients read (the original's `n_pids_extracted`).
        pids: u64,
        /// Allowed ratio.
        ratio: f32,
        /// Allowed count (0 = none).
        max_count: u64,
    },
    /// A signal has more elements than a MODE 3 `.idx` addresses.
    #[error("signal {0}: more than 2^32-1 elements")]
    TooManyElements(String),
    /// A MEDS data file holds a subject lower than one before it.
    #[error("subject_id {subject} after {previous}: a MEDS file must hold its subjects in ascending order (sort it by subject_id, time)")]
    MedsUnsorted {
        /// The row's subject.
        subject: i64,
        /// The larger subject seen before it.
        previous: i64,
    },
    /// A MEDS dataset's `data/` holds no `.parquet` file.
    #[error("no .parquet files (not a MEDS dataset)")]
    NoMedsData,
    /// `--build-dicts` found more new names than fit above a signal's highest code.
    #[error("--build-dicts: signal {signal}: {names} new names do not fit above code {max}")]
    DictionaryFull {
        /// The signal.
        signal: String,
        /// How many names lack a code.
        names: usize,
        /// The highest code in use.
        max: i32,
    },
    /// `--build-dicts` would write a dictionary the config already names.
    #[error("--build-dicts: the config already names a dictionary dicts/{0}; rename it or leave out --build-dicts")]
    DictionaryNameTaken(String),
    /// The test hook `fail_after_pids` fired.
    #[error("injected failure after {0} patients")]
    Injected(u64),
}
