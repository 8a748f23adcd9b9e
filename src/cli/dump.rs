//! `inframed get` and `inframed dump`.

use std::io::{self, Write};

use anyhow::Context;
use inframed::{Pid, SignalStore, SignalStoreExt};

use crate::cli::format::write_signal;
use crate::cli::{print_warnings, RepoArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Patient id.
    pid: u32,
    /// Signal name.
    signal: String,
    /// Only elements whose first time channel is at or after T (e.g. 20190101 or 2019-01-01).
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// Only elements whose first time channel is at or before T.
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Print categorical codes instead of dictionary names.
    #[arg(long)]
    raw: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DumpArgs {
    #[command(flatten)]
    repo: RepoArgs,
    /// Only these signals (repeatable); default all, in catalog order.
    #[arg(long = "signal", value_name = "S")]
    signals: Vec<String>,
    /// Print categorical codes instead of dictionary names.
    #[arg(long)]
    raw: bool,
}

pub(crate) fn run_get(a: GetArgs) -> anyhow::Result<()> {
    let repo = a.repo.open()?;
    print_warnings(&repo);
    let pid = Pid(a.pid);
    let (_, info) = repo.resolve(&a.signal)?;
    let sig = repo.get(pid, &a.signal)?;
    let parse = |t: &Option<String>, default: i64| -> anyhow::Result<i64> {
        match t {
            None => Ok(default),
            Some(t) => info
                .time_unit
                .parse(t)
                .with_context(|| format!("--from/--to {t:?}")),
        }
    };
    let (from, to) = (parse(&a.from, i64::MIN)?, parse(&a.to, i64::MAX)?);
    let sig = if a.from.is_some() || a.to.is_some() {
        sig.range(from, to)
    } else {
        sig
    };
    let mut out = String::new();
    write_signal(&mut out, repo.catalog(), info, pid, &sig, a.raw);
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}

pub(crate) fn run_dump(a: DumpArgs) -> anyhow::Result<()> {
    let repo = a.repo.open()?;
    print_warnings(&repo);
    let catalog = repo.catalog();
    let infos = if a.signals.is_empty() {
        catalog.signals().iter().collect::<Vec<_>>()
    } else {
        a.signals
            .iter()
            .map(|s| catalog.signal(s))
            .collect::<Result<Vec<_>, _>>()?
    };
    let stdout = io::stdout();
    let mut w = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut buf = String::new();
    for &pid in repo.pids() {
        buf.clear();
        for info in &infos {
            let sig = repo.signal(pid, info.sid)?;
            write_signal(&mut buf, catalog, info, pid, &sig, a.raw);
        }
        w.write_all(buf.as_bytes())?;
    }
    w.flush()?;
    Ok(())
}
