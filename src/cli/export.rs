//! `inframed export`, `inframed ls`, `inframed cat`.

use std::io::{self, Write};
use std::path::PathBuf;

use inframed::backend::{self, Container, ExportOptions};
use inframed::SignalStore;

use crate::cli::progress;
use crate::cli::RepoArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
    /// Output path. Temporaries that an interrupted earlier export left beside it
    /// (`OUT.tmp.<pid>.<n>`) are named in warnings, never removed.
    out: PathBuf,
    /// Target layout or container: mode3, transpose (MODE 3 + by-pid transpose), legacy
    /// (MODE 0–2), iac, gnz, trx, itar; parquet, arrow (Arrow IPC), meds (a MEDS 0.4 dataset).
    #[arg(long = "to")]
    to: String,
    /// `--to iac` only: payload codec none (default), brotli[:Q[:LGWIN]], zstd[:LEVEL].
    #[arg(long)]
    codec: Option<String>,
    /// `--to trx` only: deflate members (default: stored, readable in place).
    #[arg(long)]
    deflate: bool,
    /// `--to trx` only: write a folder instead of a zip.
    #[arg(long)]
    dir: bool,
    /// `--to itar` only: maximum shard size in bytes (default 3000000000).
    #[arg(long, value_name = "BYTES")]
    shard_size: Option<u64>,
    /// `--to legacy` only: MODE 0, 1 or 2 (default 2).
    #[arg(long)]
    mode: Option<i32>,
    /// `--to legacy` only: full data files (format word 0, per-pid records) instead of stripped ones.
    #[arg(long)]
    full: bool,
    /// Replace OUT even when it is not a previous output of the same kind (default: refuse
    /// and name what is there).
    #[arg(long)]
    force: bool,
    /// parquet, arrow: one file per signal (wide, the default) or one long table (long).
    #[arg(long, value_name = "wide|long")]
    layout: Option<String>,
    /// meds: a `pid<TAB>split` file for metadata/subject_splits.parquet (default: none, no
    /// splits file is written).
    #[arg(long, value_name = "FILE")]
    splits: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct LsArgs {
    /// Container file or dataset.
    file: PathBuf,
    /// Read FILE as this container instead of detecting it: iac, gnz, trx, itar (default:
    /// detected by content).
    #[arg(long = "format", value_name = "NAME")]
    format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CatArgs {
    /// Container file or dataset.
    file: PathBuf,
    /// Record row, array name or member name.
    #[arg(allow_negative_numbers = true)]
    name: String,
    /// Read FILE as this container instead of detecting it: iac, gnz, trx, itar (default:
    /// detected by content).
    #[arg(long = "format", value_name = "NAME")]
    format: Option<String>,
}

/// The container a `--format` name forces.
fn forced(name: Option<&str>) -> anyhow::Result<Option<Container>> {
    let Some(name) = name else { return Ok(None) };
    match crate::cli::parse_format(name)?.container() {
        Some(c) => Ok(Some(c)),
        None => anyhow::bail!("--format {name}: not a container (iac, gnz, trx, itar)"),
    }
}

/// The export options that apply to some targets only, with those targets: any other target
/// given one of them is an error, not an option silently ignored.
fn check_options(a: &Args) -> anyhow::Result<()> {
    let given: [(&str, bool, &[&str]); 6] = [
        ("--codec", a.codec.is_some(), &["iac"]),
        ("--deflate", a.deflate, &["trx"]),
        ("--dir", a.dir, &["trx"]),
        ("--shard-size", a.shard_size.is_some(), &["itar"]),
        ("--mode", a.mode.is_some(), &["legacy"]),
        ("--full", a.full, &["legacy"]),
    ];
    for (flag, set, targets) in given {
        if set && !targets.contains(&a.to.as_str()) {
            anyhow::bail!(
                "{flag} applies to --to {} only, not to --to {}",
                targets.join(", "),
                a.to
            );
        }
    }
    Ok(())
}

/// Prints `warning: …` lines to stderr (not with `--quiet`).
pub(crate) fn print_leftovers(warnings: &[String]) {
    if progress::quiet() {
        return;
    }
    let mut err = io::stderr().lock();
    for w in warnings {
        let _ = writeln!(err, "warning: {w}");
    }
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    check_options(&a)?;
    // Found before the export starts, so none of its own temporaries is listed.
    let warnings = inframed::target::leftover_warnings(&a.out, "export", a.to == "iac");
    let result = run_target(&a);
    print_leftovers(&warnings);
    result
}

fn run_target(a: &Args) -> anyhow::Result<()> {
    if let Some(target) = NativeTarget::from_name(&a.to) {
        return run_native(a, target);
    }
    if matches!(a.to.as_str(), "parquet" | "arrow" | "meds") {
        return run_arrow(a);
    }
    let kind = Container::from_name(&a.to).ok_or_else(|| {
        anyhow::anyhow!(
            "--to {}: unknown target (mode3, transpose, legacy, iac, gnz, trx, itar, parquet, \
             arrow, meds)",
            a.to
        )
    })?;
    let repo = a.repo.open()?;
    let options = ExportOptions {
        codec: a.codec.clone(),
        deflate: a.deflate,
        dir: a.dir,
        shard_max_size: a.shard_size,
        force: a.force,
        ..ExportOptions::default()
    };
    progress::counting(&repo, &format!("export --to {}", a.to), |store| {
        backend::export(kind, store, &a.out, &options)
    })?;
    Ok(())
}

/// The native layouts `export` writes itself (before the container lookup).
#[derive(Clone, Copy, Debug)]
enum NativeTarget {
    /// MODE 3 per-signal files.
    Mode3,
    /// MODE 3 plus the by-pid transpose.
    Transpose,
    /// MODE 0–2 (`--mode`, `--full`).
    Legacy,
}

impl NativeTarget {
    fn from_name(name: &str) -> Option<NativeTarget> {
        match name {
            "mode3" => Some(NativeTarget::Mode3),
            "transpose" => Some(NativeTarget::Transpose),
            "legacy" => Some(NativeTarget::Legacy),
            _ => None,
        }
    }
}

/// OUT is a directory; the config is `OUT/<name>.repository` with `name` = OUT's last
/// component. A single repository config keeps its texts byte for byte.
fn run_native(a: &Args, target: NativeTarget) -> anyhow::Result<()> {
    use inframed::native::legacy::{write_legacy, LegacyOptions};
    use inframed::native::writer::{write_mode3, Metadata, Mode3Options};
    use inframed::text::config::RepositoryConfig;

    let repo = a.repo.open()?;
    let name = a
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".into());
    // The source's own texts when it is one config (not a container, not stacked).
    let source = a.repo.path()?;
    let is_config = match &a.repo.format {
        Some(name) => crate::cli::parse_format(name)? == backend::Format::Config,
        None => backend::detect(&source)? == backend::Format::Config,
    };
    let source_config =
        if a.repo.stack.is_empty() && is_config && !inframed::shard::is_manifest(&source) {
            Some(RepositoryConfig::read(&source)?)
        } else {
            None
        };
    let metadata = match &source_config {
        Some(c) => Metadata::from_config(c)?,
        None => Metadata::from_catalog(&name, repo.catalog())?,
    };
    let write = |store: &dyn SignalStore| match target {
        NativeTarget::Mode3 | NativeTarget::Transpose => {
            let mut o = Mode3Options::new(&name, repo.catalog())?;
            o.metadata = metadata;
            o.transpose = matches!(target, NativeTarget::Transpose);
            o.force = a.force;
            write_mode3(store, &a.out, &o)
        }
        NativeTarget::Legacy => {
            let mut o = LegacyOptions::new(a.mode.unwrap_or(2), &name, repo.catalog())?;
            o.metadata = metadata;
            o.full = a.full;
            o.force = a.force;
            write_legacy(store, &a.out, &o)
        }
    };
    let config = progress::counting(&repo, &format!("export --to {}", a.to), write)?;
    let mut out = io::stdout().lock();
    writeln!(out, "{}", config.display())?;
    Ok(())
}

/// `--to parquet|arrow|meds` (feature `arrow`).
#[cfg(feature = "arrow")]
fn run_arrow(a: &Args) -> anyhow::Result<()> {
    use inframed::arrow::export::{export_ipc, export_parquet, TableLayout, TableOptions};
    use inframed::meds::{export_meds, MedsExportOptions};

    let repo = a.repo.open()?;
    let mut out = io::stdout().lock();
    if a.to == "meds" {
        let mut o = MedsExportOptions {
            force: a.force,
            ..Default::default()
        };
        if let Some(f) = &a.splits {
            o.splits = Some(read_splits(f)?);
        }
        let s = export_meds(&repo, &a.out, &o)?;
        writeln!(
            out,
            "{}\t{} events\t{} codes\t{} data files",
            a.out.display(),
            s.events,
            s.codes,
            s.data_files.len()
        )?;
        if s.untimed > 0 {
            eprintln!(
                "warning: {} elements with an invalid first time written as static rows",
                s.untimed
            );
        }
        return Ok(());
    }
    let layout = match a.layout.as_deref() {
        None => TableLayout::Wide,
        Some(l) => TableLayout::from_name(l)
            .ok_or_else(|| anyhow::anyhow!("--layout {l}: expected wide or long"))?,
    };
    let o = TableOptions {
        layout,
        force: a.force,
        ..Default::default()
    };
    let files = if a.to == "parquet" {
        export_parquet(&repo, &a.out, &o)?
    } else {
        export_ipc(&repo, &a.out, &o)?
    };
    for f in files {
        writeln!(out, "{}", f.display())?;
    }
    Ok(())
}

#[cfg(not(feature = "arrow"))]
fn run_arrow(a: &Args) -> anyhow::Result<()> {
    anyhow::bail!(
        "--to {}: this build has no Arrow support (feature arrow)",
        a.to
    )
}

/// `pid<TAB>split` lines (`#` comments and blank lines skipped).
#[cfg(feature = "arrow")]
fn read_splits(path: &std::path::Path) -> anyhow::Result<Vec<(inframed::Pid, String)>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (pid, split) = line.split_once(['\t', ' ']).ok_or_else(|| {
            anyhow::anyhow!("{}:{}: expected pid<TAB>split", path.display(), n + 1)
        })?;
        let pid: u32 = pid
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{}:{}: pid {pid:?}: {e}", path.display(), n + 1))?;
        out.push((inframed::Pid(pid), split.trim().to_string()));
    }
    Ok(out)
}

pub(crate) fn run_ls(a: LsArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    backend::ls_as(&a.file, forced(a.format.as_deref())?, &mut out)?;
    io::stdout().lock().write_all(&out)?;
    Ok(())
}

pub(crate) fn run_cat(a: CatArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    backend::cat_as(&a.file, forced(a.format.as_deref())?, &a.name, &mut out)?;
    io::stdout().lock().write_all(&out)?;
    Ok(())
}
