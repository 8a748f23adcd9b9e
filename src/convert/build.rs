//! The MODE 3 load: the catalog and parsing context from the convert config, the inputs
//! (sorted first with `--sort`), one producer thread per input feeding the merge, and the
//! repository published through the [`Mode3Writer`].

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::catalog::Catalog;
use crate::convert::blocks::{produce, Cursor};
use crate::convert::config::{under, ConvertConfig, InputKind};
use crate::convert::merge::Merge;
use crate::convert::output::{
    backend, check_outdir, failed_error_path, io_err, output_rel, repository_config_text,
    sibling_dir,
};
use crate::convert::parse::{plans_of, CodeTable, Ctx, Recycle, Specials};
use crate::convert::sort::Comparator;
use crate::convert::tsv::TimeRules;
use crate::convert::{ConvertError, ConvertOptions, ConvertReport, FileStats, UnsortedPolicy};
use crate::error::{Error, Result};
use crate::ids::Sid;
use crate::native::pids_path;
use crate::native::write::{unlisted_signal_files, Mode3Writer};
use crate::text::ParseError;
use crate::time::TimeUnit;

/// The signals file and dictionaries of `cfg`, read as the original reads them, as a catalog
/// (with the dictionaries' warnings).
pub(super) fn read_catalog(config: &Path, cfg: &ConvertConfig) -> Result<(Catalog, Vec<String>)> {
    if cfg.signals.len() != 1 {
        return Err(backend(
            config,
            "SIGNAL",
            ConvertError::SignalsFiles(cfg.signals.len()),
        ));
    }
    let unit = TimeUnit::from_code(cfg.time_unit as i64).map_err(|e| Error::Parse {
        path: config.into(),
        line: 0,
        what: "TIMEUNIT",
        source: ParseError::Time(e),
    })?;
    let signals_path = under(&cfg.dir, &cfg.signals[0]);
    let dictionaries: Vec<PathBuf> = cfg
        .dictionaries
        .iter()
        .map(|d| under(&cfg.dir, d))
        .collect();
    let (catalog, mut warnings) =
        Catalog::read(std::slice::from_ref(&signals_path), &dictionaries, unit)?;
    // The converter reads every dictionary: parse them now, so that an invalid one fails
    // before any data is read and its warnings join the report.
    warnings.extend_from_slice(catalog.dictionary_warnings()?);
    Ok((catalog, warnings.iter().map(|w| w.to_string()).collect()))
}

/// [`convert`](crate::convert::convert) for a MODE 3 config already read; `only` (the legacy
/// path's SFILES) restricts the signals loaded.
pub(super) fn convert_cfg(
    config: &Path,
    cfg: &ConvertConfig,
    options: &ConvertOptions,
    only: Option<&[String]>,
) -> Result<ConvertReport> {
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = options.threads {
            b = b.num_threads(n.max(1));
        }
        b.build().map_err(|source| Error::ThreadPool { source })?
    };
    // Signals and dictionaries, read as the original reads them.
    let (catalog, warnings) = read_catalog(config, cfg)?;

    // Plans, codes, load set, forced and special signals.
    let serial_of = |name: &str| catalog.signals().iter().position(|s| s.name == name);
    let (plans, sections) = plans_of(&catalog)?;
    let mut codes: HashMap<String, Option<usize>> = HashMap::new();
    for (i, s) in catalog.signals().iter().enumerate() {
        codes.insert(s.name.clone(), Some(i));
    }
    if let Some(p) = &cfg.codes {
        for (code, name) in crate::convert::config::read_codes(p)? {
            codes.insert(code, serial_of(&name));
        }
    }
    let mut forced = Vec::new();
    for name in &cfg.forced {
        let serial = serial_of(name).ok_or_else(|| {
            backend(
                config,
                "FORCE_SIGNAL",
                ConvertError::UnknownSignal {
                    list: "FORCE_SIGNAL",
                    name: name.clone(),
                },
            )
        })?;
        forced.push((name.clone(), serial));
    }
    let load_only = !cfg.load_only.is_empty();
    let mut load = vec![!load_only; plans.len()];
    if load_only {
        for name in cfg.load_only.iter().chain(cfg.forced.iter()) {
            let serial = serial_of(name).ok_or_else(|| {
                backend(
                    config,
                    "LOAD_ONLY",
                    ConvertError::UnknownSignal {
                        list: "LOAD_ONLY",
                        name: name.clone(),
                    },
                )
            })?;
            load[serial] = true;
        }
    }
    if let Some(only) = only {
        for (serial, s) in catalog.signals().iter().enumerate() {
            load[serial] &= only.contains(&s.name);
        }
    }
    let mut specials = Specials::default();
    let need = |input: &'static str, signal: &'static str| {
        serial_of(signal).map(Some).ok_or_else(|| {
            backend(
                config,
                input,
                ConvertError::MissingSpecialSignal { input, signal },
            )
        })
    };
    for i in &cfg.inputs {
        match i.kind {
            InputKind::Registry => {
                specials.stage = need("REGISTRY", "Cancer_Stage")?;
                specials.location = need("REGISTRY", "Cancer_Location")?;
            }
            InputKind::Demographics => {
                specials.byear = need("DEMOGRAPHICS", "BYEAR")?;
                specials.gender = need("DEMOGRAPHICS", "GENDER")?;
            }
            InputKind::Deaths => specials.death = need("DEATHS", "DEATH")?,
            InputKind::Data => {}
        }
    }
    let ctx = Ctx {
        comparators: plans.iter().map(|p| Comparator::new(&p.layout)).collect(),
        plans,
        sections,
        codes: CodeTable::new(codes),
        load,
        rules: TimeRules {
            safe_mode: cfg.safe_mode != 0,
            validate: options.validate_dates,
        },
        specials,
    };

    // Inputs (sorted first with --sort).
    let sort_dir;
    let mut input_paths: Vec<PathBuf> = cfg.inputs.iter().map(|i| i.path.clone()).collect();
    let mut bytes_total = 0;
    for p in &input_paths {
        bytes_total += fs::metadata(p)
            .map_err(|source| Error::Open {
                path: p.clone(),
                source,
            })?
            .len();
    }
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    if options.unsorted == UnsortedPolicy::Sort {
        let d = tempfile::Builder::new()
            .prefix(".inframed-sort")
            .tempdir_in(
                outdir
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )
            .map_err(|source| Error::Open {
                path: outdir.clone(),
                source,
            })?;
        let mut sorted = Vec::new();
        let mut bytes_sorted = 0;
        let report = |bytes_read| {
            if let Some(progress) = &options.progress {
                progress(&crate::convert::Progress {
                    bytes_read,
                    bytes_total,
                    lines: 0,
                    pids: 0,
                    sorting: true,
                });
            }
        };
        report(0);
        for (k, p) in input_paths.iter().enumerate() {
            sorted.push(crate::convert::external::sort_file(
                p,
                &d.path().join(format!("{k}.sorted")),
                options.block_bytes.unwrap_or(64 << 20),
            )?);
            bytes_sorted += fs::metadata(p).map_or(0, |m| m.len());
            report(bytes_sorted);
        }
        input_paths = sorted;
        sort_dir = Some(d);
    } else {
        sort_dir = None;
    }

    // The output directory.
    let config_name = cfg.config_name.clone();
    let writer = if load_only {
        let has_repo = config_name
            .as_ref()
            .is_some_and(|c| outdir.join(c).is_file())
            || pids_path(&outdir.join(&cfg.prefix)).is_file();
        if !has_repo {
            return Err(backend(
                &outdir,
                "LOAD_ONLY",
                ConvertError::LoadOnlyWithoutRepository,
            ));
        }
        Mode3Writer::update(&outdir, &catalog, &cfg.prefix)?
    } else {
        check_outdir(&outdir, cfg, options.force)?;
        Mode3Writer::create(&outdir, &catalog, &cfg.prefix)?
    };
    let loaded: Vec<Sid> = catalog
        .signals()
        .iter()
        .zip(&ctx.load)
        .filter(|(_, &l)| l)
        .map(|(s, _)| s.sid)
        .collect();
    let writer = writer.only(&loaded);
    let stem = config_name
        .as_deref()
        .map(|c| c.strip_suffix(".repository").unwrap_or(c).to_string())
        .unwrap_or_else(|| "repository".into());
    let error_tmp_dir = sibling_dir(&outdir);
    let error_tmp = tempfile::Builder::new()
        .prefix(".inframed-errors")
        .tempfile_in(&error_tmp_dir)
        .map_err(|source| Error::Open {
            path: error_tmp_dir.clone(),
            source,
        })?;

    let numbered = options.unsorted == UnsortedPolicy::Sort;
    let result = {
        let load = Load {
            ctx: &ctx,
            pool: &pool,
            numbered,
            cfg,
            options,
            catalog: &catalog,
            inputs: &input_paths,
            bytes_total,
            error_tmp: &error_tmp,
        };
        run_load(&load, forced, writer)
    };
    drop(sort_dir);
    let error_lines = result.as_ref().map_or(0, |r| r.0.error_lines);
    let had_errors = fs::metadata(error_tmp.path()).is_ok_and(|m| m.len() > 0);
    match result {
        Ok((mut report, mut writer)) => {
            // Texts: signals file and dictionaries (byte copies), the repository config.
            let mut rels: Vec<String> = Vec::new();
            for d in &cfg.dictionaries {
                let rel = output_rel(d);
                if !rels.contains(&rel) {
                    let bytes = fs::read(under(&cfg.dir, d)).map_err(|source| Error::Open {
                        path: under(&cfg.dir, d),
                        source,
                    })?;
                    writer.put(&rel, &bytes)?;
                }
                rels.push(rel);
            }
            let config_text = config_name.as_ref().map(|name| {
                report.config = Some(outdir.join(name));
                (name.as_str(), repository_config_text(cfg, &rels, &outdir))
            });
            // The error file.
            report.error_lines = error_lines;
            if had_errors {
                let target = match &options.error_file {
                    Some(p) => p.clone(),
                    None => {
                        let rel = format!("{stem}.convert_errors");
                        let p = writer.stage_path(&rel)?;
                        fs::copy(error_tmp.path(), &p).map_err(io_err(&p))?;
                        outdir.join(rel)
                    }
                };
                if options.error_file.is_some() {
                    crate::atomic::write_atomic(
                        &target,
                        &fs::read(error_tmp.path()).map_err(io_err(error_tmp.path()))?,
                    )?;
                }
                report.error_file = Some(target);
            }
            report.signals =
                writer.finish(config_text.as_ref().map(|(n, t)| (*n, t.as_bytes())))?;
            if load_only {
                // The reload keeps every file of the old tree, those of signals its signals
                // file no longer names included (an added signal's, say): named, not removed.
                let prefix = outdir.join(&cfg.prefix);
                for (sig, files) in unlisted_signal_files(&prefix, &catalog, "") {
                    for f in files {
                        report.warnings.push(format!(
                            "{}: a file of signal {sig}, which the new signals file does not \
                             name: kept by this LOAD_ONLY load; remove it, or add the signal \
                             again (add_signal with force)",
                            f.display()
                        ));
                    }
                }
            }
            report.outdir = outdir;
            report.warnings.splice(0..0, warnings);
            Ok(report)
        }
        Err(e) => {
            if had_errors {
                let target = options
                    .error_file
                    .clone()
                    .unwrap_or_else(|| failed_error_path(&outdir));
                let bytes = fs::read(error_tmp.path()).map_err(io_err(error_tmp.path()))?;
                crate::atomic::write_atomic(&target, &bytes)?;
            }
            Err(e)
        }
    }
}

/// What one MODE 3 load reads: the parsing context, the worker pool, the inputs and where
/// the error lines go.
struct Load<'a> {
    ctx: &'a Ctx<'a>,
    pool: &'a rayon::ThreadPool,
    /// Inputs sorted by `--sort`: each line starts with its original number.
    numbered: bool,
    cfg: &'a ConvertConfig,
    options: &'a ConvertOptions,
    catalog: &'a Catalog,
    inputs: &'a [PathBuf],
    bytes_total: u64,
    error_tmp: &'a tempfile::NamedTempFile,
}

/// Runs the producers and the merge into `writer` (not yet published); `forced` are the
/// FORCE_SIGNAL `(name, serial)` pairs.
fn run_load(
    load: &Load<'_>,
    forced: Vec<(String, usize)>,
    writer: Mode3Writer,
) -> Result<(ConvertReport, Mode3Writer)> {
    let Load {
        ctx,
        pool,
        numbered,
        cfg,
        options,
        catalog,
        inputs,
        bytes_total,
        error_tmp,
    } = *load;
    let n_inputs = inputs.len().max(1);
    let block_bytes = options
        .block_bytes
        .unwrap_or(((32usize << 20) / n_inputs).clamp(256 << 10, 4 << 20));
    let errors = BufWriter::new(error_tmp.reopen().map_err(io_err(error_tmp.path()))?);
    let names: Vec<PathBuf> = cfg.inputs.iter().map(|i| i.path.clone()).collect();

    let report = std::thread::scope(|scope| -> Result<(ConvertReport, Mode3Writer)> {
        let mut cursors = Vec::new();
        let recycle = Arc::new(Recycle::default());
        for (k, path) in inputs.iter().enumerate() {
            let (tx, rx) = sync_channel(1);
            let kind = cfg.inputs[k].kind;
            let r = Arc::clone(&recycle);
            scope.spawn(move || produce(ctx, pool, kind, path, numbered, block_bytes, &r, tx));
            cursors.push(Cursor {
                rx,
                block: None,
                piece: 0,
                pos: 0,
                run: 0,
                done: false,
                fpid: None,
                recycle: Arc::clone(&recycle),
                stats: FileStats {
                    path: names[k].clone(),
                    ..FileStats::default()
                },
            });
        }
        let mut m = Merge {
            ctx,
            cfg,
            options,
            cursors,
            names: names.clone(),
            acc: vec![Vec::new(); ctx.plans.len()],
            sorted: vec![Vec::new(); ctx.plans.len()],
            runs: vec![0; ctx.plans.len()],
            touched: Vec::new(),
            order: Vec::new(),
            scratch: Vec::new(),
            writer,
            sids: catalog.signals().iter().map(|s| s.sid).collect(),
            missing_forced: vec![0; forced.len()],
            forced,
            missing_dict: 0,
            pids_written: 0,
            pids_read: 0,
            errors,
            error_lines: 0,
            bytes_read: 0,
            bytes_total,
            lines: 0,
            warnings: Vec::new(),
        };
        let result = m.run();
        // Stop the producers whatever happened (dropping the receivers ends them).
        let cursors = std::mem::take(&mut m.cursors);
        let files: Vec<FileStats> = cursors.iter().map(|c| c.stats.clone()).collect();
        drop(cursors);
        m.errors.flush().map_err(io_err(error_tmp.path()))?;
        result?;
        let report = ConvertReport {
            pids_read: m.pids_read.saturating_sub(1),
            pids_written: m.pids_written,
            files,
            missing_forced: m
                .forced
                .iter()
                .zip(&m.missing_forced)
                .map(|((n, _), &c)| (n.clone(), c))
                .collect(),
            dictionary_misses: m.missing_dict,
            warnings: std::mem::take(&mut m.warnings),
            error_lines: m.error_lines,
            ..ConvertReport::default()
        };
        Ok((report, m.writer))
    })?;
    Ok(report)
}
