//! `inframed convert` (not implemented yet).

use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The convert config (the original loader's format).
    config: PathBuf,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    anyhow::bail!("{}: inframed convert is not implemented yet", a.config.display())
}
