//! Subcommands, one file each; `main` dispatches and prints errors as `error: <where>: <what>`.

mod bench;
mod convert;
mod demo;
mod dump;
mod export;
mod format;
mod hints;
mod index;
mod info;
mod progress;
mod shard;
mod stress;
mod synth;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use inframed::{Repository, SignalStore};

/// inframed: memory-mapped patient time-series repositories (InfraMed-compatible).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// No progress bars and no warnings on stderr (errors are still printed). Progress is
    /// drawn only when stderr is a terminal, never when it is piped.
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// A repository and optional stacked layers.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RepoArgs {
    /// Repository config (*.repository), a directory holding one, or a container (.iac, .gnz,
    /// .trx, indexed-tar dataset).
    pub repo: PathBuf,
    /// Further repositories stacked on top (calculated or cleaned signals); repeatable
    /// (default: none).
    #[arg(long = "stack", value_name = "REPO")]
    pub stack: Vec<PathBuf>,
    /// Read REPO as this format instead of detecting it by content: iac, gnz, trx, itar,
    /// repository (default: detected by content).
    #[arg(long = "format", value_name = "NAME")]
    pub format: Option<String>,
}

/// [`RepoArgs`] for the commands whose `--format` is their output format (`get`, `dump`): the
/// reader is forced with `--read-as` instead.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RepoArgsReadAs {
    /// Repository config (*.repository), a directory holding one, or a container (.iac, .gnz,
    /// .trx, indexed-tar dataset).
    pub repo: PathBuf,
    /// Further repositories stacked on top (calculated or cleaned signals); repeatable
    /// (default: none).
    #[arg(long = "stack", value_name = "REPO")]
    pub stack: Vec<PathBuf>,
    /// Read REPO as this format instead of detecting it by content: iac, gnz, trx, itar,
    /// repository (default: detected by content).
    #[arg(long = "read-as", value_name = "NAME")]
    pub read_as: Option<String>,
}

impl RepoArgsReadAs {
    /// Opens as [`RepoArgs::open`].
    pub(crate) fn open(&self) -> anyhow::Result<Repository> {
        RepoArgs {
            repo: self.repo.clone(),
            stack: self.stack.clone(),
            format: self.read_as.clone(),
        }
        .open()
    }
}

impl RepoArgs {
    /// Opens REPO and the stacked layers. A directory that is not a container opens the one
    /// repository config inside it (see [`hints::repo_path`]).
    pub(crate) fn open(&self) -> anyhow::Result<Repository> {
        let repo = self.path()?;
        if let Some(name) = &self.format {
            let mut layers = vec![inframed::repository::open_layer_as(
                &repo,
                Some(parse_format(name)?),
            )?];
            for p in &self.stack {
                layers.push(inframed::repository::open_layer(&hints::repo_path(p)?)?);
            }
            return Ok(Repository::from_layers(layers)?);
        }
        Ok(Repository::open_stacked(&self.paths()?)?)
    }

    /// REPO as opened: the config inside a directory that is not a container.
    pub(crate) fn path(&self) -> anyhow::Result<PathBuf> {
        hints::repo_path(&self.repo)
    }

    /// REPO and the stacked layers as opened.
    pub(crate) fn paths(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut paths = vec![self.path()?];
        for p in &self.stack {
            paths.push(hints::repo_path(p)?);
        }
        Ok(paths)
    }
}

/// A `--format` name.
pub(crate) fn parse_format(name: &str) -> anyhow::Result<inframed::backend::Format> {
    use inframed::backend::Format;
    Format::from_name(name)
        .ok_or_else(|| anyhow::anyhow!("--format {name}: unknown format ({})", Format::NAMES))
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open the bundled example repository and run sample queries.
    #[command(after_help = "Example:\n  inframed demo --repo testdata/inframed/small/repo")]
    Demo(demo::Args),
    /// Layout, patients, signals (sid, spec, count), files and sizes.
    #[command(
        after_help = "Example:\n  inframed info testdata/inframed/small/repo/small.repository"
    )]
    Info(info::Args),
    /// One patient's vector of one signal, one element a line.
    #[command(
        after_help = "Example:\n  inframed get testdata/inframed/small/repo/small.repository 1025 Hemoglobin --from 2011-01-01 --to 2013-12-31"
    )]
    Get(dump::GetArgs),
    /// Every patient's vectors (pids ascending, signals in catalog order).
    #[command(
        after_help = "Example:\n  inframed dump testdata/inframed/small/repo/small.repository --pid 1025 --signal DIAGNOSIS --format csv"
    )]
    Dump(dump::DumpArgs),
    /// Every structural check; exit 1 naming the first damage.
    #[command(
        after_help = "Example:\n  inframed verify testdata/inframed/small/repo/small.repository"
    )]
    Verify(verify::Args),
    /// Write the whole repository in another layout or container.
    #[command(
        after_help = "Example:\n  inframed export testdata/inframed/small/repo/small.repository /tmp/small.iac --to iac --codec zstd"
    )]
    Export(export::Args),
    /// Build the by-pid transpose (`__pids__<k>.pid_data` + `.pid_idx`) of a MODE 3 repository.
    #[command(
        after_help = "Example:\n  inframed export testdata/inframed/small/repo/small.repository /tmp/small3 --to mode3 && inframed index /tmp/small3/small3.repository"
    )]
    Index(index::Args),
    /// Raw tab-separated exports -> repository, reading the original loader's convert config.
    #[command(
        after_help = "Example:\n  inframed convert testdata/inframed/small/input/small.convert_config --original --outdir /tmp/small_repo"
    )]
    Convert(convert::Args),
    /// Random get(pid, sid) lookups over existing pairs: ns per lookup, scan and open times.
    #[command(
        after_help = "Examples:\n  inframed bench testdata/inframed/small/repo/small.repository --lookups 100000\n  inframed bench testdata/inframed/small/repo/small.repository --threads 16 --duration 60   # stress run"
    )]
    Bench(bench::Args),
    /// Deterministic synthetic raw export (TSV + convert config) or repository.
    #[command(after_help = "Example:\n  inframed synth /tmp/raw --patients 1000")]
    Synth(synth::Args),
    /// Pid-range shards (standalone MODE 3 repositories) and their manifest shards.json.
    #[command(
        after_help = "Example:\n  inframed shard testdata/inframed/small/repo/small.repository /tmp/sh --shards 4"
    )]
    Shard(shard::Args),
    /// List a container's records, arrays or members.
    #[command(
        after_help = "Example:\n  inframed export testdata/inframed/small/repo/small.repository /tmp/small.gnz --to gnz && inframed ls /tmp/small.gnz"
    )]
    Ls(export::LsArgs),
    /// Write one record payload, array or member of a container to stdout.
    #[command(
        after_help = "Example:\n  inframed export testdata/inframed/small/repo/small.repository /tmp/small.gnz --to gnz && inframed cat /tmp/small.gnz GENDER.pids"
    )]
    Cat(export::CatArgs),
}

/// Runs the command line; errors are printed as `error: <where>: <what>` with exit code 2
/// (1 for `verify` finding damage; 3 for `get` of a pid not in the repository, 4 for `get` of
/// a pid without elements of the signal).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    progress::set_quiet(cli.quiet);
    let result = match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Info(a) => info::run(a),
        Command::Get(a) => dump::run_get(a),
        Command::Dump(a) => dump::run_dump(a),
        Command::Verify(a) => return verify::run(a),
        Command::Export(a) => export::run(a),
        Command::Index(a) => index::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Shard(a) => shard::run(a),
        Command::Ls(a) => export::run_ls(a),
        Command::Cat(a) => export::run_cat(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(&e);
            ExitCode::from(e.downcast_ref::<hints::Exit>().map_or(2, |x| x.code))
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// `error: <message>: <source>: <source>…` on stderr.
pub(crate) fn print_error(e: &anyhow::Error) {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let _ = writeln!(io::stderr(), "error: {}", chain.join(": "));
}

/// Prints open warnings to stderr (not with `--quiet`).
pub(crate) fn print_warnings(repo: &Repository) {
    if progress::quiet() {
        return;
    }
    let mut err = io::stderr().lock();
    for w in repo.warnings() {
        let _ = writeln!(err, "warning: {w}");
    }
}
