//! `inframed bench` (not implemented yet).

use crate::cli::RepoArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    anyhow::bail!("{}: inframed bench is not implemented yet", a.repo.repo.display())
}
