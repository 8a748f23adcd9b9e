//! `inframed synth`: a deterministic synthetic raw export (TSV + convert config), or with
//! `--repository` a MODE 3 repository written directly.

use std::path::PathBuf;

use inframed::synth::{self, SynthOptions};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Output directory.
    out: PathBuf,
    /// Number of patients.
    #[arg(long, default_value_t = 1000)]
    patients: u32,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mean elements per patient.
    #[arg(long, default_value_t = 200)]
    mean_events: u32,
    /// Write a MODE 3 repository directly instead of the raw export.
    #[arg(long)]
    repository: bool,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let o = SynthOptions {
        patients: a.patients,
        seed: a.seed,
        mean_events: a.mean_events,
    };
    let path = if a.repository {
        synth::write_repository(&a.out, &o)?
    } else {
        synth::write_export(&a.out, &o)?
    };
    println!("{}", path.display());
    Ok(())
}
