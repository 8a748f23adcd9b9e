//! MODE 0–2 output: the original design's layouts, which the 1.2.1 loader announces but
//! crashes on (docs/FORMAT.md §1).
//!
//! The load itself is the MODE 3 one (same parsing, merge, thresholds and error file), into a
//! temporary directory beside `OUTDIR`; the result is then rewritten by the legacy writer into
//! a staging directory that replaces `OUTDIR` in one step. MODE 0/1 take their data files from
//! `FNAMES` (`<fno> <stem>`) and fill them from `SFILES` (`<fno> <signal>`, whose line order is
//! the order of the vectors in a patient's record); MODE 2 writes one file pair per signal,
//! `<PREFIX>_<signal>.data`/`.idx`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::atomic::{write_atomic, AtomicDir};
use crate::convert::build::{convert_cfg, read_catalog};
use crate::convert::config::{read_numbered, under, ConvertConfig};
use crate::convert::output::{backend, check_outdir, failed_error_path, output_rel, sibling_dir};
use crate::convert::{ConvertError, ConvertOptions, ConvertReport};
use crate::error::{Error, Result};
use crate::ids::Sid;
use crate::native::legacy::writer::write_legacy_into;
use crate::native::legacy::LegacyOptions;
use crate::native::writer::Metadata;
use crate::native::NativeStore;
use crate::store::SignalStore;
use crate::text::ParseError;
use crate::time::TimeUnit;

/// The data files of a MODE 0/1 load: `(fno, stem)` and the signals of each, in fno order.
struct Files {
    names: Vec<(u16, String)>,
    signals: Vec<Vec<Sid>>,
    /// Every signal SFILES places (the only ones loaded).
    loaded: Vec<String>,
}

fn parse_error(path: &Path, line: usize, what: &'static str, why: String) -> Error {
    Error::Parse {
        path: path.into(),
        line,
        what,
        source: ParseError::Other(why),
    }
}

/// Reads `FNAMES` and `SFILES` against the catalog.
fn read_files(
    config: &Path,
    cfg: &ConvertConfig,
    catalog: &crate::catalog::Catalog,
    warnings: &mut Vec<String>,
) -> Result<Files> {
    let need = |key: &'static str, p: &Option<PathBuf>| {
        p.clone().ok_or_else(|| {
            backend(
                config,
                key,
                ConvertError::LegacyNeeds {
                    mode: cfg.mode,
                    key,
                },
            )
        })
    };
    let fnames = need("FNAMES", &cfg.fnames)?;
    let sfiles = need("SFILES", &cfg.sfiles)?;
    // fno -> (stem, signals in SFILES line order).
    let mut files: BTreeMap<u16, (String, Vec<Sid>)> = BTreeMap::new();
    let mut stems: HashMap<String, usize> = HashMap::new();
    for (line, fno, stem) in read_numbered(&fnames)? {
        if files.contains_key(&fno) {
            return Err(parse_error(
                &fnames,
                line,
                "file number",
                format!("data file number {fno} given twice"),
            ));
        }
        let plain = Path::new(&stem)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !plain {
            return Err(parse_error(
                &fnames,
                line,
                "file name",
                format!("{stem:?} must be a relative path inside the repository"),
            ));
        }
        if let Some(first) = stems.insert(stem.clone(), line) {
            return Err(parse_error(
                &fnames,
                line,
                "file name",
                format!("{stem:?} already names another data file (line {first})"),
            ));
        }
        files.insert(fno, (stem, Vec::new()));
    }
    let mut placed: HashMap<Sid, usize> = HashMap::new();
    let mut loaded = Vec::new();
    for (line, fno, name) in read_numbered(&sfiles)? {
        let Ok(info) = catalog.signal(&name) else {
            // The original skips names its dictionary does not know; say so.
            warnings.push(format!(
                "{}:{line}: SFILES names unknown signal {name:?}: line skipped",
                sfiles.display()
            ));
            continue;
        };
        if let Some(first) = placed.insert(info.sid, line) {
            return Err(parse_error(
                &sfiles,
                line,
                "signal",
                format!("signal {name} already placed in a data file (line {first})"),
            ));
        }
        let Some((_, sids)) = files.get_mut(&fno) else {
            return Err(parse_error(
                &sfiles,
                line,
                "file number",
                format!("data file number {fno} has no FNAMES line"),
            ));
        };
        sids.push(info.sid);
        loaded.push(info.name.clone());
    }
    let unplaced: Vec<&str> = catalog
        .signals()
        .iter()
        .filter(|s| !placed.contains_key(&s.sid))
        .map(|s| s.name.as_str())
        .collect();
    if !unplaced.is_empty() {
        warnings.push(format!(
            "signals in no data file of SFILES are not loaded (their input lines are skipped): {}",
            unplaced.join(", ")
        ));
    }
    let (names, signals) = files
        .into_iter()
        .map(|(fno, (stem, sids))| ((fno, stem), sids))
        .unzip();
    Ok(Files {
        names,
        signals,
        loaded,
    })
}

/// `convert` for MODE 0, 1 and 2.
pub(super) fn convert_legacy(
    config: &Path,
    cfg: &ConvertConfig,
    options: &ConvertOptions,
) -> Result<ConvertReport> {
    if !cfg.load_only.is_empty() {
        return Err(backend(
            config,
            "LOAD_ONLY",
            ConvertError::LegacyLoadOnly(cfg.mode),
        ));
    }
    let (catalog, _) = read_catalog(config, cfg)?;
    let mut warnings = Vec::new();
    let files = if cfg.mode < 2 {
        let files = read_files(config, cfg, &catalog, &mut warnings)?;
        if let Some(f) = cfg.forced.iter().find(|f| !files.loaded.contains(f)) {
            let e = if catalog.signal(f).is_ok() {
                ConvertError::ForcedNotInFiles(f.clone())
            } else {
                ConvertError::UnknownSignal {
                    list: "FORCE_SIGNAL",
                    name: f.clone(),
                }
            };
            return Err(backend(config, "FORCE_SIGNAL", e));
        }
        Some(files)
    } else {
        for (key, p) in [("FNAMES", &cfg.fnames), ("SFILES", &cfg.sfiles)] {
            if p.is_some() {
                warnings.push(format!(
                    "{key} is ignored for MODE 2 (one file pair per signal)"
                ));
            }
        }
        None
    };

    // The repository config: CONFIG, else named after PREFIX.
    let config_name = cfg.config_name.clone().unwrap_or_else(|| {
        let stem = Path::new(&cfg.prefix)
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rep".into());
        format!("{stem}.repository")
    });
    let stem = config_name
        .strip_suffix(".repository")
        .unwrap_or(&config_name)
        .to_string();
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    let mut named = cfg.clone();
    named.config_name = Some(config_name.clone());
    check_outdir(&outdir, &named, options.force)?;

    // 1. The MODE 3 load, into a temporary directory beside OUTDIR.
    let tmp = tempfile::Builder::new()
        .prefix(".inframed-legacy")
        .tempdir_in(sibling_dir(&outdir))
        .map_err(|source| Error::Open {
            path: sibling_dir(&outdir),
            source,
        })?;
    let errors = options
        .error_file
        .clone()
        .unwrap_or_else(|| tmp.path().join("errors"));
    let mut cfg3 = cfg.clone();
    cfg3.mode = 3;
    cfg3.prefix = "rep".into();
    cfg3.config_name = None;
    let mut options3 = options.clone();
    options3.outdir = Some(tmp.path().join("mode3"));
    options3.error_file = Some(errors.clone());
    let only = files.as_ref().map(|f| f.loaded.as_slice());
    let mut report = match convert_cfg(config, &cfg3, &options3, only) {
        Ok(r) => r,
        Err(e) => {
            if options.error_file.is_none() && errors.is_file() {
                let bytes = fs::read(&errors).map_err(|source| Error::Io {
                    path: errors.clone(),
                    source,
                })?;
                write_atomic(failed_error_path(&outdir), &bytes)?;
            }
            return Err(e);
        }
    };

    // 2. The legacy rewrite, staged and published in one step.
    let store = NativeStore::open(catalog, &tmp.path().join("mode3/rep"), Vec::new())?;
    let mut legacy = LegacyOptions::new(cfg.mode, &stem, store.catalog())?;
    legacy.name = stem.clone();
    legacy.prefix = cfg.prefix.clone();
    if let Some(f) = files {
        legacy.files = f.signals;
        legacy.file_names = f.names;
    }
    legacy.metadata = metadata(cfg)?;
    let dir = AtomicDir::create(&outdir)?;
    let written = write_legacy_into(&store, dir.path(), &legacy)?;
    drop(store);
    if report.error_file.is_some() {
        report.error_file = Some(if options.error_file.is_some() {
            errors
        } else {
            let rel = format!("{stem}.convert_errors");
            let p = dir.path().join(&rel);
            fs::copy(&errors, &p).map_err(|source| Error::Io { path: p, source })?;
            outdir.join(rel)
        });
    }
    dir.commit()?;
    report.config = Some(outdir.join(written));
    report.outdir = outdir;
    report.warnings.extend(warnings);
    Ok(report)
}

/// The texts as the convert config names them: the signals file and dictionaries copied
/// byte for byte, in config order.
fn metadata(cfg: &ConvertConfig) -> Result<Metadata> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for d in &cfg.dictionaries {
        let rel = output_rel(d);
        if files.iter().any(|(r, _)| *r == rel) {
            continue;
        }
        let p = under(&cfg.dir, d);
        let bytes = fs::read(&p).map_err(|source| Error::Open { path: p, source })?;
        files.push((rel, bytes));
    }
    Ok(Metadata {
        description: cfg.description.clone(),
        // Checked by read_catalog.
        time_unit: TimeUnit::from_code(cfg.time_unit as i64).unwrap_or(TimeUnit::Date),
        signals_files: vec![output_rel(&cfg.signals[0])],
        files,
    })
}
