//! `inframed index`: builds the by-pid transpose of a MODE 3 repository.

use std::io::{self, Write};
use std::path::PathBuf;

use inframed::native::transpose::{build_transpose_forced, TransposeStore};
use inframed::SignalStore;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Repository config (*.repository) of a MODE 3 repository.
    repo: PathBuf,
    /// Replace files named like the transpose's that are not transpose files (default:
    /// refuse and name them).
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    build_transpose_forced(&a.repo, a.force)?;
    let store = TransposeStore::open(&a.repo)?;
    let files = store.describe().files;
    let mut out = String::new();
    for (path, size) in files.iter().skip(1) {
        out.push_str(&format!("{}\t{size}\n", path.display()));
    }
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
