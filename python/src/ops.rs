//! `inframed.convert` and `Repository.export`: the library's writers, called from Python.

use std::path::{Path, PathBuf};

use inframed::backend::{self, Container, ExportOptions};
use inframed::convert::ConvertOptions;
use inframed::native::legacy::{write_legacy, LegacyOptions};
use inframed::native::writer::{write_mode3, Metadata, Mode3Options};
use inframed::text::config::RepositoryConfig;
use inframed::{Repository, SignalStore};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::IntoPy;

/// The options of `Repository.export`.
pub struct ExportArgs {
    pub to: String,
    pub codec: Option<String>,
    pub deflate: bool,
    pub dir: bool,
    pub shard_size: Option<u64>,
    pub mode: Option<i32>,
    /// parquet, arrow: `wide` (default) or `long`.
    pub layout: Option<String>,
    pub full: bool,
}

/// Writes `repo` (opened from `paths`) to `out` as `o.to`, as `inframed export` does: native
/// layouts into the directory `out` (config `out/<name>.repository`, the name being `out`'s
/// last component; a single source config keeps its texts), containers by the backend.
/// Returns the config written (native) or `out`.
pub fn export(
    repo: &Repository,
    paths: &[PathBuf],
    out: &Path,
    o: &ExportArgs,
) -> PyResult<PathBuf> {
    if matches!(o.to.as_str(), "parquet" | "arrow" | "meds") {
        return crate::arrow::export_tables(repo, out, &o.to, o.layout.as_deref());
    }
    let native = matches!(o.to.as_str(), "mode3" | "transpose" | "legacy");
    if !native {
        let kind = Container::from_name(&o.to).ok_or_else(|| {
            PyValueError::new_err(format!(
                "to={:?}: unknown target (mode3, transpose, legacy, iac, gnz, trx, itar, parquet, \
                 arrow, meds)",
                o.to
            ))
        })?;
        let options = ExportOptions {
            codec: o.codec.clone(),
            deflate: o.deflate,
            dir: o.dir,
            shard_max_size: o.shard_size,
            // Python exports never replace what inframed did not write (no force option yet).
            force: false,
            ..ExportOptions::default()
        };
        backend::export(kind, repo, out, &options).py_err()?;
        return Ok(out.to_path_buf());
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    let source_config = if paths.len() == 1 && Container::of(&paths[0]).is_none() {
        Some(RepositoryConfig::read(&paths[0]).py_err()?)
    } else {
        None
    };
    let metadata = match &source_config {
        Some(c) => Metadata::from_config(c).py_err()?,
        None => Metadata::from_catalog(&name, repo.catalog()).py_err()?,
    };
    if o.to == "legacy" {
        let mut l = LegacyOptions::new(o.mode.unwrap_or(2), &name, repo.catalog()).py_err()?;
        l.metadata = metadata;
        l.full = o.full;
        return write_legacy(repo, out, &l).py_err();
    }
    let mut m = Mode3Options::new(&name, repo.catalog()).py_err()?;
    m.metadata = metadata;
    m.transpose = o.to == "transpose";
    write_mode3(repo, out, &m).py_err()
}

/// Converts a raw export with the original loader's convert config (MedConvert) into a
/// MODE 3 repository, with the GIL released. `outdir` overrides the config's OUTDIR,
/// `threads` the parser threads; `original=True` takes the original loader's leniencies
/// (lines of an unsorted file dropped, dates not validated) instead of refusing;
/// `build_dicts=True` (`inframed convert --build-dicts`) builds a dictionary for the
/// categorical values that have no code, written as `dicts/built.<signal>.dict` in the
/// output (existing codes kept; without it such values are dictionary misses, and SAFE_MODE
/// refuses the load beyond `allowed_unknown_category_cnt`). Returns the report as a dict
/// (`outdir`, `config`, `error_file`, `error_lines`, `pids_read`, `pids_written`, `signals`,
/// `missing_forced`, `dictionary_misses`, `warnings`, `files`).
#[pyfunction]
#[pyo3(signature = (config, outdir=None, threads=None, *, original=false, build_dicts=false))]
pub fn convert<'py>(
    py: Python<'py>,
    config: PathBuf,
    outdir: Option<PathBuf>,
    threads: Option<usize>,
    original: bool,
    build_dicts: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let base = if original {
        ConvertOptions::original()
    } else {
        ConvertOptions::default()
    };
    let options = ConvertOptions {
        threads,
        outdir,
        build_dicts,
        ..base
    };
    let r = py
        .detach(move || inframed::convert::convert(&config, &options))
        .py_err()?;
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let d = PyDict::new(py);
    d.set_item("outdir", s(&r.outdir))?;
    d.set_item("config", r.config.as_deref().map(s))?;
    d.set_item("error_file", r.error_file.as_deref().map(s))?;
    d.set_item("error_lines", r.error_lines)?;
    d.set_item("pids_read", r.pids_read)?;
    d.set_item("pids_written", r.pids_written)?;
    d.set_item("signals", r.signals)?;
    d.set_item("missing_forced", r.missing_forced)?;
    d.set_item("dictionary_misses", r.dictionary_misses)?;
    d.set_item("warnings", r.warnings)?;
    let files = PyList::empty(py);
    for f in &r.files {
        let x = PyDict::new(py);
        x.set_item("path", s(&f.path))?;
        x.set_item("relevant", f.relevant)?;
        x.set_item("parsed", f.parsed)?;
        x.set_item("bad_format", f.bad_format)?;
        x.set_item("missing_from_dictionary", f.missing_from_dictionary)?;
        x.set_item("other_dropped", f.other_dropped)?;
        x.set_item("skipped", f.skipped)?;
        files.append(x)?;
    }
    d.set_item("files", files)?;
    Ok(d)
}
