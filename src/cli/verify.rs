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
            if let Some(code) = verify_foreign(&a.repo, &e) {
                return code;
            }
            print_error(&e);
            return ExitCode::from(1);
        }
    };
    print_warnings(&repo);
    let verified = verify_dictionaries(&repo).and_then(|()| verify_layers(&repo));
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

/// Parses the dictionaries (an open maps them and leaves the parse to first use) and prints
/// the parse's warnings (dropped `SET` lines), as an eager open did.
fn verify_dictionaries(repo: &inframed::Repository) -> inframed::Result<()> {
    let warnings = repo.catalog().dictionary_warnings()?;
    if !crate::cli::progress::quiet() {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}

/// [`SignalStore::verify`] of every layer (what `Repository::verify` does), drawing a bar per
/// layer from the store's own progress steps (MODE 3: one per signal).
fn verify_layers(repo: &inframed::Repository) -> inframed::Result<()> {
    let layers = repo.layers();
    for (i, l) in layers.iter().enumerate() {
        let what = if layers.len() == 1 {
            "verifying every structure and checksum".to_string()
        } else {
            format!("verifying layer {} of {}", i + 1, layers.len())
        };
        let bar = crate::cli::progress::bar(1, &what);
        let verified = l
            .store
            .verify_with(&mut crate::cli::progress::reporter(&bar));
        crate::cli::progress::finish(bar);
        verified?;
    }
    Ok(())
}

/// A container that holds no inframed patient repository (a TRX, GNZ or tar dataset another
/// tool wrote): its own checks (CRCs, offsets, sizes, tar header checksums) instead.
fn verify_foreign(args: &RepoArgs, e: &anyhow::Error) -> Option<ExitCode> {
    if !inframed::backend::is_foreign(e.downcast_ref::<inframed::Error>()?) {
        return None;
    }
    let forced = args
        .format
        .as_deref()
        .and_then(inframed::backend::Format::from_name)
        .and_then(inframed::backend::Format::container);
    Some(
        match inframed::backend::verify_container(&args.repo, forced) {
            Ok(summary) => {
                println!("ok\t{summary}\t(not an inframed patient file: container checks only)");
                ExitCode::SUCCESS
            }
            Err(e) => {
                print_error(&e.into());
                ExitCode::from(1)
            }
        },
    )
}
