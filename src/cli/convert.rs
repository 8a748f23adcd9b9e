//! `inframed convert CONVERT_CONFIG`: raw exports → repository (MODE 3, or the legacy MODE 0–2
//! the config asks for) from the original loader's convert config, with a progress bar on
//! stderr when it is a terminal.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use inframed::convert::{
    convert, failed_error_path, ConvertConfig, ConvertOptions, InputKind, Progress, UnsortedPolicy,
};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The convert config (the original loader's format: DATA, SIGNAL, OUTDIR…; not a
    /// `.repository` config).
    #[arg(required_unless_present = "from_meds")]
    config: Option<PathBuf>,
    /// Import this MEDS dataset folder (data/**/*.parquet) instead of a convert config; needs
    /// --outdir (the repository is named after its last component). Default: read CONFIG.
    #[arg(
        long,
        value_name = "MEDS_DIR",
        conflicts_with = "config",
        requires = "outdir"
    )]
    from_meds: Option<PathBuf>,
    /// With --from-meds: a file of `PATTERN SIGNAL [numeric|category]` / `PATTERN -` lines
    /// overriding the default code rule (docs/meds.md). Default: the default rule only.
    #[arg(long, value_name = "FILE", requires = "from_meds")]
    mapping: Option<PathBuf>,
    /// Worker threads for parsing (with --from-meds: for decoding the Parquet row groups;
    /// the output is the same for any number). Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Sort unsorted inputs by pid first (external sort in bounded memory).
    #[arg(long, conflicts_with = "drop_unsorted")]
    sort: bool,
    /// Drop lines whose pid is lower than an earlier one of the same file, as the original
    /// loader does (default: such a file is an error).
    #[arg(long)]
    drop_unsorted: bool,
    /// Store dates without calendar validation, as the original loader does (2010-13-45 →
    /// 20101345); default: an invalid date is a BAD_FILE_FORMAT line.
    #[arg(long)]
    no_date_validation: bool,
    /// The original loader's behaviour: --drop-unsorted --no-date-validation.
    #[arg(long)]
    original: bool,
    /// Write into this directory instead of the config's OUTDIR (default: the config's
    /// OUTDIR).
    #[arg(long, value_name = "DIR")]
    outdir: Option<PathBuf>,
    /// Where to write the dropped lines (default: <OUTDIR>/<repo>.convert_errors).
    #[arg(long, value_name = "FILE")]
    error_file: Option<PathBuf>,
    /// Fail when (bad+1)/(relevant+1) lines of a file exceed this (original: 0.05).
    #[arg(long, default_value_t = 0.05)]
    max_bad_line_ratio: f32,
    /// Fail when (parsed+1)/(relevant+1) lines of a file are below this (original: 0.01).
    #[arg(long, default_value_t = 0.01)]
    min_parsed_line_ratio: f32,
    /// With SAFE_MODE, fail beyond this many dictionary misses (original: 50).
    #[arg(long, default_value_t = 50)]
    allowed_unknown_category_cnt: u64,
    /// With SAFE_MODE, fail when more than this fraction of patients miss a forced signal
    /// (original: 0.05).
    #[arg(long, default_value_t = 0.05)]
    allowed_missing_pids_from_forced_ratio: f32,
    /// With SAFE_MODE, fail when more than this many patients miss a forced signal (0: no
    /// limit, the original's default).
    #[arg(long, default_value_t = 0)]
    allowed_missing_pids_from_forced_cnt: u64,
    /// Check the thresholds every this many patients (original: 10000).
    #[arg(long, default_value_t = 10_000)]
    check_for_error_pid_cnt: u64,
    /// Replace OUTDIR even when it is not a previous repository (default: refuse and name
    /// what is there).
    #[arg(long)]
    force: bool,
    /// Build dictionaries for categorical values that have no code (written into the output
    /// as dicts/built.SIGNAL.dict and listed in its config; existing codes are kept). With
    /// --from-meds, which always builds its dictionaries from the codes, it changes nothing.
    #[arg(long)]
    build_dicts: bool,
    /// Write N pid-range shards and OUTDIR/shards.json instead of one repository (converted
    /// into a staging folder beside OUTDIR, then sharded; the dropped-lines file defaults to
    /// <OUTDIR>.convert_errors beside it). Needs the convert config's CONFIG line. Default:
    /// one unsharded repository.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    if let Some(meds) = &a.from_meds {
        return run_meds(&a, meds);
    }
    let Some(config) = &a.config else {
        anyhow::bail!("a convert config or --from-meds MEDS_DIR is needed");
    };
    let mut options = if a.original {
        ConvertOptions::original()
    } else {
        ConvertOptions::default()
    };
    options.threads = a.threads;
    if a.sort {
        options.unsorted = UnsortedPolicy::Sort;
    } else if a.drop_unsorted {
        options.unsorted = UnsortedPolicy::Drop;
    }
    if a.no_date_validation {
        options.validate_dates = false;
    }
    options.outdir = a.outdir;
    options.error_file = a.error_file;
    options.force = a.force;
    options.build_dicts = a.build_dicts;
    let sharded = match a.shards {
        Some(n) => Some(super::shard::Staged::prepare(config, &mut options, n)?),
        None => None,
    };
    let t = &mut options.thresholds;
    t.max_bad_line_ratio = a.max_bad_line_ratio;
    t.min_parsed_line_ratio = a.min_parsed_line_ratio;
    t.allowed_unknown_category_cnt = a.allowed_unknown_category_cnt;
    t.allowed_missing_pids_from_forced_ratio = a.allowed_missing_pids_from_forced_ratio;
    t.allowed_missing_pids_from_forced_cnt = a.allowed_missing_pids_from_forced_cnt;
    t.check_every_pids = a.check_for_error_pid_cnt;

    let bar = if crate::cli::progress::enabled() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        if a.sort {
            bar.set_message("sorting the inputs by pid (--sort)");
        }
        Some(bar)
    } else {
        None
    };
    if let Some(bar) = &bar {
        let bar = bar.clone();
        let start = std::time::Instant::now();
        options.progress = Some(Arc::new(move |p: &Progress| {
            bar.set_length(p.bytes_total);
            bar.set_position(p.bytes_read);
            if p.sorting {
                bar.set_message("sorting the inputs by pid (--sort)");
                return;
            }
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} rows ({:.0} rows/s), {} patients",
                p.lines,
                p.lines as f64 / secs,
                p.pids
            ));
        }));
    }
    let cfg = check_config(config)?;
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    let errors_file = options
        .error_file
        .clone()
        .unwrap_or_else(|| failed_error_path(&outdir));
    let errors_before = file_stamp(&errors_file);
    let result = convert(config, &options);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let quiet = crate::cli::progress::quiet();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let stamp = file_stamp(&errors_file);
            if stamp.is_some() && stamp != errors_before {
                return Err(anyhow::Error::new(e).context(format!(
                    "conversion refused; the dropped lines so far are listed in the errors file {}",
                    errors_file.display()
                )));
            }
            return Err(e.into());
        }
    };
    let outdir = match &sharded {
        Some(staged) => staged.finish(&report, a.threads)?,
        None => report.outdir.clone(),
    };
    let mut err = io::stderr().lock();
    for w in report.warnings.iter().filter(|_| !quiet) {
        let _ = writeln!(err, "warning: {w}");
    }
    let elements: u64 = report.signals.iter().map(|(_, n)| n).sum();
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "converted {} patients ({} read), {} elements of {} signals into {}",
        report.pids_written,
        report.pids_read,
        elements,
        report.signals.len(),
        outdir.display()
    )?;
    if let Some(f) = &report.error_file {
        writeln!(
            out,
            "{} lines or patients dropped, listed in {}",
            report.error_lines,
            f.display()
        )?;
    }
    Ok(())
}

/// Reads the convert config before converting: a repository config given by mistake is an
/// error saying so; ignored keywords and empty DATA files are warnings on stderr.
fn check_config(path: &Path) -> anyhow::Result<ConvertConfig> {
    let cfg = ConvertConfig::read(path)?;
    let unknown = ConvertConfig::unknown_keywords(path)?;
    if cfg.inputs.is_empty() {
        let repository_like = inframed::backend::detect(path).ok()
            == Some(inframed::backend::Format::Config)
            && cfg.config_name.is_none()
            && cfg.outdir_text.is_empty();
        let hint = if repository_like {
            "; it looks like a repository config (open it with `inframed info`), not a convert \
             config (DATA, SIGNAL, OUTDIR, CONFIG lines: docs/convert.md)"
        } else {
            " (docs/convert.md describes the convert config)"
        };
        anyhow::bail!(
            "{}: no DATA, DATA_S, REGISTRY, DEMOGRAPHICS or DEATHS line, nothing to convert{hint}",
            path.display()
        );
    }
    let mut err = io::stderr().lock();
    if crate::cli::progress::quiet() {
        return Ok(cfg);
    }
    for (line, word) in unknown {
        let _ = writeln!(
            err,
            "warning: {}:{line}: unknown keyword {word:?}, line ignored",
            path.display()
        );
    }
    for input in &cfg.inputs {
        if input.kind == InputKind::Data
            && std::fs::metadata(&input.path).is_ok_and(|m| m.is_file() && m.len() == 0)
        {
            let _ = writeln!(
                err,
                "warning: DATA {} ({}): empty file, no lines to convert",
                input.name,
                input.path.display()
            );
        }
    }
    Ok(cfg)
}

/// Length and modification time of a file, to tell whether a conversion wrote it.
fn file_stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// `convert --from-meds MEDS_DIR --outdir OUT` (feature `arrow`).
#[cfg(feature = "arrow")]
fn run_meds(a: &Args, meds: &std::path::Path) -> anyhow::Result<()> {
    use inframed::meds::{import_meds, MedsImportOptions};
    let out = a.outdir.as_ref().expect("clap requires --outdir");
    let mut o = MedsImportOptions {
        error_file: a.error_file.clone(),
        force: a.force,
        threads: a.threads,
        ..Default::default()
    };
    if let Some(n) = out.file_name() {
        o.name = n.to_string_lossy().into_owned();
    }
    o.thresholds.max_bad_line_ratio = a.max_bad_line_ratio;
    if let Some(m) = &a.mapping {
        o.mapping = Some(inframed::meds::Mapping::read(m)?);
    }
    let s = import_meds(meds, out, &o)?;
    let mut err = io::stderr().lock();
    for w in &s.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    for (signal, n) in &s.rounded {
        let _ = writeln!(err, "note: {signal}: {n} times truncated to the minute");
    }
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "imported {} subjects, {} events of {} signals into {}",
        s.subjects,
        s.events,
        s.signals.len(),
        s.config.display()
    )?;
    if s.bad_rows > 0 {
        writeln!(
            stdout,
            "{} rows dropped, listed in the error file",
            s.bad_rows
        )?;
    }
    if s.dropped_rows > 0 {
        writeln!(stdout, "{} rows dropped by the mapping", s.dropped_rows)?;
    }
    if s.text_values > 0 {
        writeln!(
            stdout,
            "{} text_value texts not stored (their rows' codes and numeric values are)",
            s.text_values
        )?;
    }
    Ok(())
}

#[cfg(not(feature = "arrow"))]
fn run_meds(_: &Args, _: &std::path::Path) -> anyhow::Result<()> {
    anyhow::bail!("--from-meds: this build has no MEDS support (feature arrow)")
}
