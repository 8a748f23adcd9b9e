//! Subcommands, one file each; `main` dispatches and prints errors as `error: <where>: <what>`.

mod bench;
mod convert;
mod demo;
mod dump;
mod export;
mod format;
mod index;
mod info;
mod shard;
mod synth;
mod verify;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use inframed::Repository;

/// inframed: memory-mapped patient time-series repositories (InfraMed-compatible).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A repository and optional stacked layers.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RepoArgs {
    /// Repository config (*.repository) or container (.iac, .gnz, .trx, indexed-tar dataset).
    pub repo: PathBuf,
    /// Further repositories stacked on top (calculated or cleaned signals); repeatable.
    #[arg(long = "stack", value_name = "REPO")]
    pub stack: Vec<PathBuf>,
    /// Read REPO as this format instead of detecting it by content: iac, gnz, trx, itar,
    /// repository.
    #[arg(long = "format", value_name = "NAME")]
    pub format: Option<String>,
}

impl RepoArgs {
    pub(crate) fn open(&self) -> anyhow::Result<Repository> {
        if let Some(name) = &self.format {
            let mut layers = vec![inframed::repository::open_layer_as(
                &self.repo,
                Some(parse_format(name)?),
            )?];
            for p in &self.stack {
                layers.push(inframed::repository::open_layer(p)?);
            }
            return Ok(Repository::from_layers(layers)?);
        }
        let mut paths = vec![self.repo.clone()];
        paths.extend(self.stack.iter().cloned());
        Ok(Repository::open_stacked(&paths)?)
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
    Demo(demo::Args),
    /// Layout, patients, signals (sid, spec, count), files and sizes.
    Info(info::Args),
    /// One patient's vector of one signal, one element a line.
    Get(dump::GetArgs),
    /// Every patient's vectors (pids ascending, signals in catalog order).
    Dump(dump::DumpArgs),
    /// Every structural check; exit 1 naming the first damage.
    Verify(verify::Args),
    /// Write the whole repository in another layout or container.
    Export(export::Args),
    /// Build the by-pid transpose (`__pids__<k>.pid_data` + `.pid_idx`) of a MODE 3 repository.
    Index(index::Args),
    /// Raw tab-separated exports -> repository, reading the original loader's convert config.
    Convert(convert::Args),
    /// Random get(pid, sid) lookups over existing pairs: ns per lookup, scan and open times.
    Bench(bench::Args),
    /// Deterministic synthetic raw export (TSV + convert config) or repository.
    Synth(synth::Args),
    /// Pid-range shards (standalone MODE 3 repositories) and their manifest shards.json.
    Shard(shard::Args),
    /// List a container's records, arrays or members.
    Ls(export::LsArgs),
    /// Write one record payload, array or member of a container to stdout.
    Cat(export::CatArgs),
}

/// Runs the command line; errors are printed as `error: <where>: <what>` with exit code 2
/// (1 for `verify` finding damage).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
            ExitCode::from(2)
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

/// Prints open warnings to stderr.
pub(crate) fn print_warnings(repo: &Repository) {
    let mut err = io::stderr().lock();
    for w in repo.warnings_all() {
        let _ = writeln!(err, "warning: {w}");
    }
}
