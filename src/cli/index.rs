//! `inframed index`: builds the by-pid transpose of a MODE 3 repository (or, with `--lookup`,
//! its lookup sidecar), or the `.taridx` index of a tar dataset that has none.

use std::io::{self, Write};
use std::path::PathBuf;

use inframed::backend::{detect, Container, Format};
use inframed::native::transpose::TransposeStore;
use inframed::native::write::build_transpose_with_progress;
use inframed::SignalStore;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Repository config (*.repository) of a MODE 3 repository, or a tar dataset (a folder of
    /// shards, one shard, or a brace list `train-{000000..000009}.tar`) to write the glzn
    /// `.taridx` of, so that the next open does not scan the shards. Temporaries that an
    /// interrupted earlier run left beside the transpose are named in warnings, never removed.
    repo: PathBuf,
    /// Replace files named like the transpose's (or the lookup sidecar's) that are not such
    /// files (default: refuse and name them).
    #[arg(long)]
    force: bool,
    /// Write the optional lookup sidecar `<PREFIX>_inframed.lookup` of a MODE 3 repository
    /// instead of the transpose: a direct-addressed (pid, signal) table that makes random
    /// lookups one cache miss (docs/lookup-table.md). The MODE 3 files are not changed.
    #[arg(long)]
    lookup: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    if a.lookup {
        let (path, size) = inframed::native::write_lookup(&a.repo, a.force)?;
        io::stdout()
            .lock()
            .write_all(format!("{}\t{size}\n", path.display()).as_bytes())?;
        return Ok(());
    }
    let mut out = String::new();
    if detect(&a.repo)? == Format::Container(Container::Itar) {
        #[cfg(feature = "itar")]
        {
            let bar = crate::cli::progress::bar(0, "bytes of tar shards indexed");
            let written = inframed::backend::itar::write_indexes_with_progress(
                &a.repo,
                &mut crate::cli::progress::reporter(&bar),
            );
            crate::cli::progress::finish(bar);
            for path in written? {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                out.push_str(&format!("{}\t{size}\n", path.display()));
            }
            io::stdout().lock().write_all(out.as_bytes())?;
            return Ok(());
        }
        #[cfg(not(feature = "itar"))]
        anyhow::bail!(
            "{}: inframed was built without feature \"itar\"",
            a.repo.display()
        );
    }
    let bar = crate::cli::progress::bar(0, "patients in the by-pid transpose");
    let built =
        build_transpose_with_progress(&a.repo, a.force, &mut crate::cli::progress::reporter(&bar));
    crate::cli::progress::finish(bar);
    let warnings = built?;
    crate::cli::export::print_leftovers(&warnings);
    let store = TransposeStore::open(&a.repo)?;
    let files = store.describe().files;
    for (path, size) in files.iter().skip(1) {
        out.push_str(&format!("{}\t{size}\n", path.display()));
    }
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
