//! The converter's output directory: which one it may replace, where its temporaries and a
//! failed load's error file go, the config text it writes, and the error wrapper.

use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::convert::config::ConvertConfig;
use crate::convert::ConvertError;
use crate::error::{Error, Result};
use crate::native::write::ConfigText;

pub(super) fn backend(path: &Path, context: impl Into<String>, e: ConvertError) -> Error {
    Error::convert(path, context, e)
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// `name` if it is a plain relative path (no `..`, not absolute), else `dicts/<file name>`.
pub(super) fn output_rel(name: &str) -> String {
    let p = Path::new(name);
    let plain = !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        let file = p
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dict".into());
        format!("dicts/{file}")
    }
}

/// Temporary entries beside `outdir` that a killed conversion leaves behind (a finished or
/// failed one removes its own): the staging directory `<OUTDIR>.tmp.<pid>.<n>`, the legacy
/// load's, `--sort`'s, the error file's and `--build-dicts`' temporaries (`tempfile` names
/// with our prefixes).
pub(super) fn stale_temporaries(outdir: &Path) -> Vec<PathBuf> {
    let mut out = crate::atomic::temporaries_of(outdir);
    out.extend(crate::atomic::tempfiles_in(
        &sibling_dir(outdir),
        &[
            ".inframed-legacy",
            ".inframed-sort",
            ".inframed-errors",
            ".inframed-dicts",
        ],
    ));
    out.sort();
    out
}

/// The output directory a (non-`LOAD_ONLY`) conversion may replace: absent, empty (or holding
/// only empty directories), or holding the repository `cfg` names.
pub(super) fn check_outdir(outdir: &Path, cfg: &ConvertConfig, force: bool) -> Result<()> {
    let files: Vec<String> = cfg.dictionaries.iter().map(|d| output_rel(d)).collect();
    let kind = crate::target::OutputKind::Repository {
        config: cfg.config_name.as_deref(),
        prefix: &cfg.prefix,
        files: &files,
    };
    crate::target::check_target(outdir, kind, force)?;
    if let Some(parent) = outdir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| Error::Open {
            path: parent.into(),
            source,
        })?;
    }
    Ok(())
}

/// Where a failed load leaves its error file when none was asked for: `<OUTDIR>.convert_errors`
/// beside the (untouched) output directory.
pub fn failed_error_path(outdir: &Path) -> PathBuf {
    let name = outdir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into());
    outdir.with_file_name(format!("{name}.convert_errors"))
}

/// The directory beside `outdir` for temporary files (the same file system, so renames work).
pub(super) fn sibling_dir(outdir: &Path) -> PathBuf {
    crate::atomic::parent_of(outdir)
}

/// The `.repository` text MedConvert's `create_repository_config` writes for MODE 3.
pub(super) fn repository_config_text(
    cfg: &ConvertConfig,
    dict_rels: &[String],
    outdir: &Path,
) -> String {
    let dir = if cfg.relative {
        ".".to_string()
    } else {
        let abs = std::path::absolute(outdir).unwrap_or_else(|_| outdir.to_path_buf());
        abs.display().to_string()
    };
    let dictionaries: Vec<&str> = dict_rels.iter().map(String::as_str).collect();
    ConfigText {
        description: Some(cfg.description.as_str()).filter(|d| !d.is_empty()),
        dir: &dir,
        dictionaries: &dictionaries,
        signals: &[output_rel(&cfg.signals[0]).as_str()],
        mode: cfg.mode as i64,
        prefix: Some(&cfg.prefix),
        layout_lines: &[],
        time_unit: cfg.time_unit as i64,
    }
    .to_text()
}
