//! `inframed demo`: opens the bundled example repository and runs sample queries.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use inframed::element::DateVal;
use inframed::{Pid, Repository, SignalInfo, SignalStore, TimeUnit};

use crate::cli::format::write_signal;
use crate::cli::hints;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Any repository (config, directory holding one, or container) instead of the bundled
    /// example (default: the bundled example): the demo picks signals and a patient that exist
    /// in it.
    #[arg(long, value_name = "REPO")]
    repo: Option<PathBuf>,
}

fn bundled() -> PathBuf {
    let rel = PathBuf::from("testdata/inframed/small/repo/small.repository");
    if rel.exists() {
        return rel;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The signals and patient the demo shows: the bundled repository's Hemoglobin, DIAGNOSIS and
/// pid 1025 when present, otherwise the first fitting ones among the first 1000 patients.
struct Picks<'a> {
    pid: Pid,
    numeric: Option<&'a SignalInfo>,
    categorical: Option<&'a SignalInfo>,
}

fn pick<'a>(repo: &'a Repository) -> anyhow::Result<Picks<'a>> {
    let cat = repo.catalog();
    let sample = &repo.pids()[..repo.pids().len().min(1000)];
    let timed = |s: &SignalInfo| !s.layout.time_channels().is_empty();
    let has_values = |s: &SignalInfo| !s.layout.value_channels().is_empty();
    let count = |s: &SignalInfo| -> anyhow::Result<usize> {
        let mut n = 0;
        for &p in sample {
            n += repo.signal(p, s.sid)?.len();
        }
        Ok(n)
    };
    let first = |preferred: &str, want: &dyn Fn(&SignalInfo) -> bool| {
        if let Ok(s) = cat.signal(preferred) {
            return Ok::<_, anyhow::Error>(Some(s));
        }
        for s in cat.signals().iter().filter(|s| want(s)) {
            if count(s)? > 0 {
                return Ok(Some(s));
            }
        }
        Ok(None)
    };
    let numeric = first("Hemoglobin", &|s| {
        timed(s) && has_values(s) && !s.is_categorical(0)
    })?;
    // The demo shows names: an invalid dictionary is its error, not a skipped section.
    cat.dictionaries()?;
    let categorical = first("DIAGNOSIS", &|s| {
        has_values(s) && s.is_categorical(0) && cat.section_of(&s.name).is_ok_and(|x| x.is_some())
    })?;
    // pid 1025 when it has the numeric signal, else the sampled pid with the most of it.
    let shown = numeric.or(categorical);
    let mut pid = sample.first().copied().unwrap_or(Pid(0));
    if let Some(s) = shown {
        if repo.signal(Pid(1025), s.sid).is_ok_and(|v| !v.is_empty()) {
            pid = Pid(1025);
        } else {
            let mut best = 0;
            for &p in sample {
                let n = repo.signal(p, s.sid)?.len();
                if n > best {
                    (best, pid) = (n, p);
                }
            }
        }
    }
    Ok(Picks {
        pid,
        numeric,
        categorical,
    })
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let path = match a.repo {
        Some(p) => hints::repo_path(&p)?,
        None => bundled(),
    };
    let t = Instant::now();
    let repo = Repository::open(&path)
        .with_context(|| format!("opening the example repository {}", path.display()))?;
    let opened = t.elapsed();
    let mut out = String::new();
    let cat = repo.catalog();
    out.push_str(&format!(
        "opened {} in {:?}: {} patients, {} signals\n",
        path.display(),
        opened,
        repo.pids().len(),
        cat.signals().len()
    ));
    let Picks {
        pid,
        numeric,
        categorical,
    } = pick(&repo)?;

    if let Some(info) = numeric {
        let name = &info.name;
        out.push_str(&format!(
            "\n# get({pid}, {name}): pid, signal, time, value\n"
        ));
        let sig = repo.signal(pid, name)?;
        write_signal(&mut out, cat, info, pid, &sig, false)?;
        // The middle third of its times (2011-2013 in the bundled repository).
        let (from, to) = if name == "Hemoglobin" && info.time_unit == TimeUnit::Date {
            (20110101, 20131231)
        } else if sig.is_empty() {
            (0, 0)
        } else {
            let n = sig.len();
            (sig.time(n / 3, 0).as_i64(), sig.time(2 * n / 3, 0).as_i64())
        };
        out.push_str(&format!(
            "\n# the same, {from}..={to} only (binary search on time)\n"
        ));
        write_signal(&mut out, cat, info, pid, &sig.range(from, to), false)?;
        if let Ok(typed) = repo.get::<DateVal>(pid, name) {
            let mean = typed.iter().map(|e| e.val as f64).sum::<f64>() / typed.len().max(1) as f64;
            out.push_str(&format!(
                "\n# typed &[DateVal] (borrowed: {}): mean {mean:.3}\n",
                matches!(typed, std::borrow::Cow::Borrowed(_))
            ));
        }
    }

    if let Some(info) = categorical {
        let name = &info.name;
        out.push_str(&format!(
            "\n# get({pid}, {name}) with dictionary names, then codes\n"
        ));
        let dx = repo.signal(pid, name)?;
        write_signal(&mut out, cat, info, pid, &dx, false)?;
        write_signal(&mut out, cat, info, pid, &dx, true)?;

        let section = repo.section(name)?;
        // DIABETES_ALL in the bundled repository; elsewhere the patient's first value's name.
        let set = if section.code("DIABETES_ALL").is_some() {
            Some("DIABETES_ALL".to_string())
        } else {
            dx.iter()
                .next()
                .and_then(|e| section.name(e.value(0).as_i64() as i32))
                .map(str::to_string)
        };
        if let Some(set) = set {
            let lut = section
                .set_lookup_table(&[set.as_str()])
                .map_err(|u| anyhow::anyhow!("unknown sets {u:?}"))?;
            let mut hits = 0;
            for &p in repo.pids() {
                let d = repo.signal(p, info.sid)?;
                if d.iter().any(|e| lut.contains(e.value(0).as_i64() as i32)) {
                    hits += 1;
                }
            }
            out.push_str(&format!(
                "\n# patients with any {name} in set {set}: {hits} of {}\n",
                repo.pids().len()
            ));
        }
    }

    let t = Instant::now();
    let mut elements = 0usize;
    let mut lookups = 0usize;
    // About a million lookups at most, whatever the repository's size.
    let per_round = (repo.pids().len() * cat.signals().len()).max(1);
    let rounds = (1_000_000 / per_round).clamp(1, 100);
    let pids = &repo.pids()[..repo
        .pids()
        .len()
        .min(1_000_000 / cat.signals().len().max(1))];
    for _ in 0..rounds {
        for &p in pids {
            for s in cat.signals() {
                elements += repo.get_bytes(p, s.sid)?.len() / s.layout.size();
                lookups += 1;
            }
        }
    }
    let el = t.elapsed();
    out.push_str(&format!(
        "\n# {lookups} lookups over (pid, signal) pairs, {elements} elements: {:.1} ns per lookup\n",
        el.as_nanos() as f64 / lookups.max(1) as f64
    ));
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
