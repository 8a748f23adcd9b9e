//! [`convert`]: the converter's entry point, by `MODE`.

use crate::error::InputError;
use std::path::Path;

use crate::convert::build::{convert_cfg, read_catalog};
use crate::convert::config::ConvertConfig;
use crate::convert::output::{backend, stale_temporaries};
use crate::convert::output::{io_err, sibling_dir};
use crate::convert::{ConvertError, ConvertOptions, ConvertReport};
use crate::error::Result;

/// Converts the inputs named by the convert config at `config` into a repository in its
/// `OUTDIR` (or `options.outdir`), as the original loader's `create_rep` does. For `MODE 3` the
/// `.data`, `.idx` and `_all_pids.list` files are byte-identical to the original's for the same
/// input (with [`ConvertOptions::original`]; by default we also validate dates and refuse
/// unsorted files). The signals file and the dictionaries are copied, and the `.repository`
/// config is written when the convert config names `CONFIG`. `MODE 0`–`2` write the original
/// design's layouts (`FNAMES`/`SFILES` for 0 and 1; docs/convert.md), which 1.2.1 crashes on.
///
/// The output is atomic: the repository is built in a temporary sibling directory and swapped
/// into place in one step; a failed or interrupted load leaves `OUTDIR` exactly as it was. With
/// `LOAD_ONLY` the staging directory starts as links to the existing repository, which keeps
/// every other signal. Leftovers of a killed conversion beside `OUTDIR` are named in
/// [`ConvertReport::warnings`].
///
/// # Errors
/// [`Error::Open`](crate::Error::Open) / [`Error::Parse`](crate::Error::Parse) for the config, signals file, dictionaries and inputs;
/// [`Error::Convert`](crate::Error::Convert) with a [`ConvertError`] for a refused load (thresholds, an unsorted file,
/// an unknown forced signal, an output directory that is not a repository); [`Error::Io`](crate::Error::Io).
pub fn convert(config: &Path, options: &ConvertOptions) -> Result<ConvertReport> {
    let mut cfg = ConvertConfig::read(config)?;
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    let stale = stale_temporaries(&outdir);
    // --build-dicts: the built dictionaries live in a temporary directory for the load, which
    // copies them into the output like any other dictionary.
    let _built = if options.build_dicts {
        built_dictionaries(config, &mut cfg, &outdir).map_err(|e| e.in_target(&outdir))?
    } else {
        None
    };
    let mut report = match cfg.mode {
        3 => convert_cfg(config, &cfg, options, None),
        0..=2 => crate::convert::legacy::convert_legacy(config, &cfg, options),
        m => Err(backend(config, "MODE", ConvertError::Mode(m))),
    }
    .map_err(|e| e.in_target(&outdir))?;
    for p in stale {
        report
            .warnings
            .push(crate::atomic::leftover_warning(&p, "conversion"));
    }
    Ok(report)
}

/// Builds the dictionaries of `--build-dicts` ([`crate::convert::dicts`]) into a temporary
/// directory beside `outdir` and adds them to `cfg`'s dictionaries; returns that directory
/// (`None` when every categorical value has a code).
fn built_dictionaries(
    config: &Path,
    cfg: &mut ConvertConfig,
    outdir: &Path,
) -> Result<Option<tempfile::TempDir>> {
    let (catalog, _) = read_catalog(config, cfg)?;
    let built = crate::convert::dicts::build(cfg, &catalog)?;
    if built.is_empty() {
        return Ok(None);
    }
    let parent = sibling_dir(outdir);
    let dir = tempfile::Builder::new()
        .prefix(".inframed-dicts")
        .tempdir_in(&parent)
        .map_err(io_err(&parent))?;
    let base = std::fs::canonicalize(dir.path()).map_err(io_err(dir.path()))?;
    for (name, text) in built {
        let path = base.join(&name);
        std::fs::write(&path, text).map_err(io_err(&path))?;
        let Some(p) = path.to_str() else {
            return Err(InputError::NotUtf8 { path }.into());
        };
        cfg.dictionaries.push(p.to_string());
    }
    Ok(Some(dir))
}
