//! The converter: raw tab-separated exports → a MODE 3 repository, reading the original
//! loader's (MedConvert's) convert config. A drop-in for `med.MedConvert().create_rep(config)`.
//!
//! ```
//! use inframed::convert::{convert, ConvertOptions, UnsortedPolicy};
//! use inframed::SignalStore;
//!
//! let out = tempfile::tempdir().unwrap();
//! // The golden fixture's config writes to OUTDIR ../repo; point it at a temp dir instead.
//! let mut options = ConvertOptions::default();
//! options.outdir = Some(out.path().join("repo"));
//! options.unsorted = UnsortedPolicy::Drop; // the fixture has an unsorted line on purpose
//! let report = convert("testdata/inframed/small/input/small.convert_config".as_ref(), &options)?;
//! assert_eq!((report.pids_read, report.pids_written), (42, 40)); // 2 lack a forced signal
//! let repo = inframed::Repository::open(report.config.unwrap())?;
//! assert_eq!(repo.pids().len(), 40);
//! # Ok::<_, inframed::Error>(())
//! ```
//!
//! See `docs/convert.md` for the behaviour, the original's quirks reproduced or fixed, the
//! error tags and the thresholds.

mod blocks;
mod build;
mod cnum;
pub mod config;
mod dicts;
mod entry;
mod external;
mod legacy;
mod merge;
mod output;
mod parse;
mod runs;
mod sort;
mod thresholds;
pub mod tsv;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::{ConvertConfig, InputFile, InputKind};
pub use entry::convert;
pub use output::failed_error_path;
#[cfg(feature = "fuzzing")]
pub(crate) use parse::fuzz_piece;
pub use tsv::{LineError, Tag};

/// What to do with a line whose pid is lower than an earlier pid of the same file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnsortedPolicy {
    /// Fail the load, naming `file:line` (the default: an unsorted export is a broken export).
    #[default]
    Error,
    /// Drop the line and list it as `UNSORTED_PID` (what the original loader does).
    Drop,
    /// Sort every input by pid first (an external merge sort in bounded memory; lines of one
    /// pid keep their file order).
    Sort,
}

/// The load thresholds of the original loader (`init_load_params`), with its defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Check the thresholds every this many patients (and at the end). `check_for_error_pid_cnt`.
    pub check_every_pids: u64,
    /// Fail when `(bad + 1) / (relevant + 1)` of a file exceeds this. `max_bad_line_ratio`.
    pub max_bad_line_ratio: f32,
    /// Fail when `(parsed + 1) / (relevant + 1)` of a file is below this. `min_parsed_line_ratio`.
    pub min_parsed_line_ratio: f32,
    /// The two ratios fail the load only for files with more relevant lines than this (else
    /// they are a warning), as in the original. In both ratios and here, "relevant" leaves out
    /// the lines of signals the load skips on purpose ([`FileStats::skipped`]).
    pub ratio_min_lines: u64,
    /// With `SAFE_MODE`, fail when more dictionary misses than this. `allowed_unknown_catgory_cnt`.
    pub allowed_unknown_category_cnt: u64,
    /// With `SAFE_MODE`, fail when the patients dropped for one forced signal exceed this
    /// fraction of the patients read. `allowed_missing_pids_from_forced_ratio`.
    pub allowed_missing_pids_from_forced_ratio: f32,
    /// With `SAFE_MODE`, fail when the patients dropped for one forced signal exceed this count
    /// (0: no count limit). `allowed_missing_pids_from_forced_cnt`.
    pub allowed_missing_pids_from_forced_cnt: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            check_every_pids: 10_000,
            max_bad_line_ratio: 0.05,
            min_parsed_line_ratio: 0.01,
            ratio_min_lines: 1000,
            allowed_unknown_category_cnt: 50,
            allowed_missing_pids_from_forced_ratio: 0.05,
            allowed_missing_pids_from_forced_cnt: 0,
        }
    }
}

/// Progress of a conversion, reported after each block of input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Input bytes consumed so far.
    pub bytes_read: u64,
    /// Total input bytes.
    pub bytes_total: u64,
    /// Input lines consumed so far.
    pub lines: u64,
    /// Patients written so far.
    pub pids: u64,
    /// `true` while `--sort` (`UnsortedPolicy::Sort`) sorts the inputs by pid before the load:
    /// `bytes_read` then counts input bytes sorted so far (per input file), `lines` and `pids`
    /// are 0. `false` during the load itself.
    pub sorting: bool,
}

/// A progress callback (the library never prints).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Options of [`convert`].
#[derive(Clone)]
pub struct ConvertOptions {
    /// Worker threads for parsing (default: rayon's default, one per core).
    pub threads: Option<usize>,
    /// Unsorted input files (default: an error).
    pub unsorted: UnsortedPolicy,
    /// Validate time-channel dates as real calendar dates (default true). `false` reproduces
    /// the original, which stores `2010-13-45` as `20101345`.
    pub validate_dates: bool,
    /// The thresholds.
    pub thresholds: Thresholds,
    /// Where to write the error file (default: `<OUTDIR>/<CONFIG stem>.convert_errors` inside
    /// the new repository; when the load fails, `<OUTDIR>.convert_errors` beside it).
    pub error_file: Option<PathBuf>,
    /// Write here instead of the config's `OUTDIR`.
    pub outdir: Option<PathBuf>,
    /// Called with progress after each input block.
    pub progress: Option<ProgressFn>,
    /// Input block size in bytes (default: 32 MiB shared by the input files, 256 KiB–4 MiB each).
    pub block_bytes: Option<usize>,
    /// Test hook (feature `testing`): fail with an I/O error after writing this many
    /// patients (an interrupted load).
    #[cfg(feature = "testing")]
    pub fail_after_pids: Option<u64>,
    /// Replace an `OUTDIR` that is not a previous repository (default: refuse it,
    /// [`crate::Error::Occupied`]).
    pub force: bool,
    /// Build a dictionary for the categorical values of the DATA files that have no code
    /// (`--build-dicts`): written into the output as `dicts/built.<signal>.dict` and listed in
    /// the repository config; existing codes are kept (docs/convert.md).
    pub build_dicts: bool,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            threads: None,
            unsorted: UnsortedPolicy::Error,
            validate_dates: true,
            thresholds: Thresholds::default(),
            error_file: None,
            outdir: None,
            progress: None,
            block_bytes: None,
            #[cfg(feature = "testing")]
            fail_after_pids: None,
            force: false,
            build_dicts: false,
        }
    }
}

impl ConvertOptions {
    /// The original loader's behaviour where we deliberately differ from it by default:
    /// unsorted lines dropped, dates not validated.
    pub fn original() -> ConvertOptions {
        ConvertOptions {
            unsorted: UnsortedPolicy::Drop,
            validate_dates: false,
            ..ConvertOptions::default()
        }
    }
}

impl std::fmt::Debug for ConvertOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConvertOptions")
            .field("threads", &self.threads)
            .field("unsorted", &self.unsorted)
            .field("validate_dates", &self.validate_dates)
            .field("thresholds", &self.thresholds)
            .field("error_file", &self.error_file)
            .field("outdir", &self.outdir)
            .field("progress", &self.progress.is_some())
            .field("force", &self.force)
            .field("build_dicts", &self.build_dicts)
            .finish()
    }
}

/// Line counts of one input file (the original's per-file statistics, and ours).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// The file as opened.
    pub path: PathBuf,
    /// Non-empty, non-comment lines (the original's `n_relevant_lines`).
    pub relevant: u64,
    /// Lines that gave elements (`n_parsed_lines`).
    pub parsed: u64,
    /// `BAD_FILE_FORMAT` lines (`n_bad_format_lines`).
    pub bad_format: u64,
    /// `MISSING_FROM_DICTIONARY` lines.
    pub missing_from_dictionary: u64,
    /// Lines dropped with another tag (too few fields, bad pid, unknown code, unsorted).
    pub other_dropped: u64,
    /// Lines of signals outside `LOAD_ONLY`, skipped silently.
    pub skipped: u64,
}

/// What a conversion did.
#[derive(Clone, Debug, Default)]
pub struct ConvertReport {
    /// The output directory.
    pub outdir: PathBuf,
    /// The repository config written (`None` without `CONFIG`).
    pub config: Option<PathBuf>,
    /// Where the error file is (`None` when no line was dropped).
    pub error_file: Option<PathBuf>,
    /// Number of lines in the error file.
    pub error_lines: u64,
    /// Patients seen in the input.
    pub pids_read: u64,
    /// Patients written (in `_all_pids.list`).
    pub pids_written: u64,
    /// Per input file.
    pub files: Vec<FileStats>,
    /// `(signal, elements written)` in signals-file order (loaded signals only).
    pub signals: Vec<(String, u64)>,
    /// `(forced signal, patients dropped for it)`.
    pub missing_forced: Vec<(String, u64)>,
    /// Dictionary misses in total.
    pub dictionary_misses: u64,
    /// Non-fatal findings (a file below a ratio threshold but too small to fail the load).
    pub warnings: Vec<String>,
}

pub use crate::error::ConvertError;
