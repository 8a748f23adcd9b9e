//! `inframed export`, `inframed ls`, `inframed cat`.

use std::io::{self, Write};
use std::path::PathBuf;

use inframed::backend::{self, Container, ExportOptions};

use crate::cli::RepoArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Output path.
    out: PathBuf,
    /// Target layout or container: iac, gnz, trx, itar.
    #[arg(long = "to")]
    to: String,
    /// Payload codec for .iac: none, brotli, zstd.
    #[arg(long)]
    codec: Option<String>,
    /// TRX: deflate members.
    #[arg(long)]
    deflate: bool,
    /// TRX: write a folder instead of a zip.
    #[arg(long)]
    dir: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct LsArgs {
    /// Container file or dataset.
    file: PathBuf,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CatArgs {
    /// Container file or dataset.
    file: PathBuf,
    /// Record row, array name or member name.
    name: String,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let kind = Container::from_name(&a.to)
        .ok_or_else(|| anyhow::anyhow!("--to {}: unknown target (iac, gnz, trx, itar)", a.to))?;
    let repo = a.repo.open()?;
    let options = ExportOptions {
        codec: a.codec,
        deflate: a.deflate,
        dir: a.dir,
    };
    backend::export(kind, &repo, &a.out, &options)?;
    Ok(())
}

pub(crate) fn run_ls(a: LsArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    backend::ls(&a.file, &mut out)?;
    io::stdout().lock().write_all(&out)?;
    Ok(())
}

pub(crate) fn run_cat(a: CatArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    backend::cat(&a.file, &a.name, &mut out)?;
    io::stdout().lock().write_all(&out)?;
    Ok(())
}
