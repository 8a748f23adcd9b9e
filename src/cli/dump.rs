//! `inframed get` and `inframed dump`.

use std::io::{self, IsTerminal, Write};

use anyhow::Context;
use inframed::{Pid, Repository, SignalInfo, SignalStore};

use crate::cli::format::{write_signal_as, OutFormat};
use crate::cli::hints::{self, Exit, EXIT_NO_ELEMENTS, EXIT_UNKNOWN_PID};
use crate::cli::{print_warnings, RepoArgsReadAs};

#[derive(clap::Args, Debug)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    repo: RepoArgsReadAs,
    /// Patient id.
    pid: u32,
    /// Signal name (case-sensitive); without it, every signal of the patient in catalog order.
    signal: Option<String>,
    /// Only elements whose first time channel is at or after T, in the signal's time unit
    /// (e.g. 20190101 or 2019-01-01 for dates); an error on a signal without time channels
    /// (default: from the first element).
    #[arg(long, value_name = "T")]
    from: Option<String>,
    /// Only elements whose first time channel is at or before T (default: to the last
    /// element).
    #[arg(long, value_name = "T")]
    to: Option<String>,
    /// Print categorical codes instead of dictionary names.
    #[arg(long)]
    raw: bool,
    /// Output format: tsv, csv or jsonl.
    #[arg(long = "format", value_enum, default_value_t = OutFormat::Tsv)]
    format_out: OutFormat,
}

#[derive(clap::Args, Debug)]
pub(crate) struct DumpArgs {
    #[command(flatten)]
    repo: RepoArgsReadAs,
    /// Only these signals (repeatable); default all, in catalog order.
    #[arg(long = "signal", value_name = "S")]
    signals: Vec<String>,
    /// Only these patients (repeatable), in the order given; default all, ascending.
    #[arg(long = "pid", value_name = "P")]
    pids: Vec<u32>,
    /// Print categorical codes instead of dictionary names.
    #[arg(long)]
    raw: bool,
    /// Output format: tsv, csv or jsonl.
    #[arg(long = "format", value_enum, default_value_t = OutFormat::Tsv)]
    format_out: OutFormat,
}

/// `--from`/`--to` parsed in the signal's time unit; `None` when neither is given.
fn time_range(
    info: &SignalInfo,
    from: &Option<String>,
    to: &Option<String>,
) -> anyhow::Result<Option<(i64, i64)>> {
    if from.is_none() && to.is_none() {
        return Ok(None);
    }
    if info.layout.time_channels().is_empty() {
        let flag = if from.is_some() { "--from" } else { "--to" };
        anyhow::bail!(
            "{flag}: signal {} has no time channel ({}), so it has no time range",
            info.name,
            info.layout
        );
    }
    let parse = |flag: &str, t: &Option<String>, default: i64| -> anyhow::Result<i64> {
        match t {
            None => Ok(default),
            Some(t) => info.time_unit.parse(t).with_context(|| {
                format!(
                    "{flag} {t:?}: not a time in signal {}'s unit {:?}",
                    info.name, info.time_unit
                )
            }),
        }
    };
    let (lo, hi) = (
        parse("--from", from, i64::MIN)?,
        parse("--to", to, i64::MAX)?,
    );
    if lo > hi {
        anyhow::bail!(
            "--from {} is after --to {}",
            from.as_deref().unwrap_or_default(),
            to.as_deref().unwrap_or_default()
        );
    }
    Ok(Some((lo, hi)))
}

/// Exit 3 unless `pid` is one of the repository's patients.
fn known_pid(repo: &Repository, pid: Pid) -> anyhow::Result<()> {
    let pids = repo.pids();
    if pids.binary_search(&pid).is_ok() {
        return Ok(());
    }
    let range = match (pids.first(), pids.last()) {
        (Some(a), Some(b)) => format!("{} patients, pids {a}..{b}", pids.len()),
        _ => "no patients".to_string(),
    };
    Err(Exit {
        code: EXIT_UNKNOWN_PID,
        message: format!("pid {pid} is not in the repository ({range})"),
    }
    .into())
}

pub(crate) fn run_get(a: GetArgs) -> anyhow::Result<()> {
    let repo = a.repo.open()?;
    print_warnings(&repo);
    let pid = Pid(a.pid);
    let catalog = repo.catalog();
    let infos: Vec<&SignalInfo> = match &a.signal {
        Some(name) => vec![hints::signal(catalog, name)?],
        None => catalog.signals().iter().collect(),
    };
    // With one signal, a range it cannot have is an error; over every signal, timeless ones
    // are printed whole.
    let mut ranges = Vec::with_capacity(infos.len());
    for info in &infos {
        let timeless = info.layout.time_channels().is_empty();
        ranges.push(if a.signal.is_none() && timeless {
            None
        } else {
            time_range(info, &a.from, &a.to)?
        });
    }
    known_pid(&repo, pid)?;
    let mut out = String::new();
    for (info, range) in infos.iter().zip(ranges) {
        let sig = repo.signal(pid, info.sid)?;
        let sig = match range {
            Some((from, to)) => sig.range(from, to),
            None => sig,
        };
        write_signal_as(&mut out, a.format_out, catalog, info, pid, &sig, a.raw)?;
    }
    if out.is_empty() {
        let what = match &a.signal {
            Some(s) => format!("no {s} elements"),
            None => "no elements of any signal".into(),
        };
        let within = if a.from.is_some() || a.to.is_some() {
            " within --from/--to"
        } else {
            ""
        };
        return Err(Exit {
            code: EXIT_NO_ELEMENTS,
            message: format!("pid {pid} has {what}{within}"),
        }
        .into());
    }
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
            .map(|s| hints::signal(catalog, s))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let pids: Vec<Pid> = if a.pids.is_empty() {
        repo.pids().to_vec()
    } else {
        let pids: Vec<Pid> = a.pids.iter().map(|&p| Pid(p)).collect();
        for &p in &pids {
            known_pid(&repo, p)?;
        }
        pids
    };
    let stdout = io::stdout();
    // A bar only when the dump goes to a file or pipe (on a terminal it would mix with it).
    let bar = if stdout.is_terminal() {
        None
    } else {
        crate::cli::progress::bar(pids.len() as u64, "patients dumped")
    };
    let mut w = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut buf = String::new();
    for pid in pids {
        if let Some(b) = &bar {
            b.inc(1);
        }
        buf.clear();
        for info in &infos {
            let sig = repo.signal(pid, info.sid)?;
            write_signal_as(&mut buf, a.format_out, catalog, info, pid, &sig, a.raw)?;
        }
        w.write_all(buf.as_bytes())?;
    }
    crate::cli::progress::finish(bar);
    w.flush()?;
    Ok(())
}
