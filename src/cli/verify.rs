//! `inframed verify`: every structural check; exit 1 naming the first damage.

use std::process::ExitCode;

use inframed::SignalStore;

use crate::cli::{print_error, print_warnings, RepoArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
}

pub(crate) fn run(a: Args) -> ExitCode {
    let repo = match a.repo.open() {
        Ok(r) => r,
        Err(e) => {
            print_error(&e);
            return ExitCode::from(1);
        }
    };
    print_warnings(&repo);
    let bar = crate::cli::progress::spinner("verifying every structure and checksum");
    let verified = repo.verify();
    crate::cli::progress::finish(bar);
    match verified {
        Ok(()) => {
            println!(
                "ok\t{} patients\t{} signals",
                repo.pids().len(),
                repo.catalog().signals().len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_error(&e.into());
            ExitCode::from(1)
        }
    }
}
