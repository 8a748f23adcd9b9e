//! [`convert`]: the converter's entry point, by `MODE`.

use std::path::Path;

use crate::convert::build::convert_cfg;
use crate::convert::config::ConvertConfig;
use crate::convert::output::{backend, stale_temporaries};
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
/// [`Error::Backend`](crate::Error::Backend) with a [`ConvertError`] for a refused load (thresholds, an unsorted file,
/// an unknown forced signal, an output directory that is not a repository); [`Error::Io`](crate::Error::Io).
pub fn convert(config: &Path, options: &ConvertOptions) -> Result<ConvertReport> {
    let cfg = ConvertConfig::read(config)?;
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    let stale = stale_temporaries(&outdir);
    let mut report = match cfg.mode {
        3 => convert_cfg(config, &cfg, options, None),
        0..=2 => crate::convert::legacy::convert_legacy(config, &cfg, options),
        m => Err(backend(config, "MODE", ConvertError::Mode(m))),
    }
    .map_err(|e| e.in_target(&outdir))?;
    for p in stale {
        report.warnings.push(format!(
            "{}: temporary output of an interrupted (or concurrent) conversion; \
             remove it when no conversion is running",
            p.display()
        ));
    }
    Ok(report)
}
