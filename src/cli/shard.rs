//! `inframed shard REPO OUT --shards N`: pid-range shards (standalone MODE 3 repositories
//! balanced by element count) and their manifest `OUT/shards.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use inframed::shard::{source_metadata, write_shards, Manifest, ShardOptions};
use inframed::{Repository, SignalStore};

use super::RepoArgs;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Output folder: `shards.json` and `shard-NNNN/` repositories.
    pub out: PathBuf,
    /// Number of shards (fewer when the repository has fewer patients).
    #[arg(long, default_value_t = 8)]
    pub shards: usize,
    /// Shards written at once (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Replace OUT even when it is not a previous shard output.
    #[arg(long)]
    pub force: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let repo = a.repo.open()?;
    let single = a.repo.stack.is_empty() && a.repo.format.is_none();
    let manifest = shard_repository(
        &repo,
        single.then_some(&*a.repo.repo),
        &a.out,
        a.shards,
        a.threads,
        a.force,
    )?;
    writeln!(std::io::stdout().lock(), "{}", manifest.display())?;
    Ok(())
}

/// Shards `repo` into `out`; `source` (a single config or manifest it was opened from) gives
/// the texts copied byte for byte into every shard. Prints one line per shard to stderr.
pub(crate) fn shard_repository(
    repo: &Repository,
    source: Option<&Path>,
    out: &Path,
    shards: usize,
    threads: Option<usize>,
    force: bool,
) -> anyhow::Result<PathBuf> {
    let mut options = ShardOptions::new(shards, repo.catalog())?;
    options.force = force;
    options.threads = threads;
    if let Some(meta) = source.map(source_metadata).transpose()?.flatten() {
        options.metadata = meta;
    }
    let manifest = write_shards(repo, out, &options)?;
    let m = Manifest::read(&manifest)?;
    let mut err = std::io::stderr().lock();
    for s in &m.shards {
        let _ = writeln!(
            err,
            "{}: pids {}..={}, {} patients, {} elements",
            s.path, s.first_pid, s.last_pid, s.patients, s.elements
        );
    }
    Ok(manifest)
}

/// `convert --shards N`: the conversion goes to a staging folder beside the final OUTDIR,
/// which is then sharded into OUTDIR; the staging folder is removed when this is dropped.
pub(crate) struct Staged {
    out: PathBuf,
    shards: usize,
    force: bool,
    _staging: tempfile::TempDir,
}

impl Staged {
    /// Checks the final target first (nothing is converted for a refused target), then points
    /// `options` at the staging folder.
    pub(crate) fn prepare(
        config: &Path,
        options: &mut inframed::convert::ConvertOptions,
        shards: usize,
    ) -> anyhow::Result<Staged> {
        let cfg = inframed::convert::ConvertConfig::read(config)?;
        if cfg.config_name.is_none() {
            anyhow::bail!(
                "{}: --shards needs a CONFIG line (the shards are written from the converted repository's config)",
                config.display()
            );
        }
        let out = options.outdir.clone().unwrap_or(cfg.outdir);
        inframed::shard::check_shards_target(&out, options.force)?;
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".inframed-shard-staging.")
            .tempdir_in(&parent)?;
        if options.error_file.is_none() {
            let mut name = out.file_name().unwrap_or_default().to_os_string();
            name.push(".convert_errors");
            options.error_file = Some(parent.join(name));
        }
        options.outdir = Some(staging.path().join("repo"));
        Ok(Staged {
            out,
            shards,
            force: options.force,
            _staging: staging,
        })
    }

    /// Shards the converted repository into the final OUTDIR; returns it.
    pub(crate) fn finish(
        &self,
        report: &inframed::convert::ConvertReport,
        threads: Option<usize>,
    ) -> anyhow::Result<PathBuf> {
        let config = report
            .config
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the conversion wrote no repository config"))?;
        let repo = Repository::open(config)?;
        shard_repository(
            &repo,
            Some(config),
            &self.out,
            self.shards,
            threads,
            self.force,
        )?;
        Ok(self.out.clone())
    }
}
