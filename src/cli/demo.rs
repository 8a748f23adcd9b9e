//! `inframed demo`: opens the bundled example repository and runs sample queries.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use inframed::element::DateVal;
use inframed::{Pid, Repository, SignalStore};

use crate::cli::format::write_signal;

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The example repository config (default: the bundled testdata repository).
    #[arg(long)]
    repo: Option<PathBuf>,
}

fn bundled() -> PathBuf {
    let rel = PathBuf::from("testdata/inframed/small/repo/small.repository");
    if rel.exists() {
        return rel;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let path = a.repo.unwrap_or_else(bundled);
    let t = Instant::now();
    let repo = Repository::open(&path).with_context(|| "opening the example repository")?;
    let opened = t.elapsed();
    let mut out = String::new();
    let cat = repo.catalog();
    out.push_str(&format!(
        "opened {} in {:?}: {} patients, {} signals\n\n",
        path.display(),
        opened,
        repo.pids().len(),
        cat.signals().len()
    ));

    let pid = Pid(1025);
    out.push_str(&format!(
        "# get({pid}, Hemoglobin): pid, signal, date, value\n"
    ));
    let info = cat.signal("Hemoglobin")?;
    let hgb = repo.get(pid, "Hemoglobin")?;
    write_signal(&mut out, cat, info, pid, &hgb, false);

    out.push_str("\n# the same, 2011-2013 only (binary search on time)\n");
    write_signal(
        &mut out,
        cat,
        info,
        pid,
        &hgb.range(20110101, 20131231),
        false,
    );

    let typed = repo.get_as::<DateVal>(pid, "Hemoglobin")?;
    let mean = typed.iter().map(|e| e.val as f64).sum::<f64>() / typed.len().max(1) as f64;
    out.push_str(&format!(
        "\n# typed &[DateVal] (borrowed: {}): mean {mean:.3}\n",
        matches!(typed, std::borrow::Cow::Borrowed(_))
    ));

    out.push_str(&format!(
        "\n# get({pid}, DIAGNOSIS) with dictionary names, then codes\n"
    ));
    let dx_info = cat.signal("DIAGNOSIS")?;
    let dx = repo.get(pid, "DIAGNOSIS")?;
    write_signal(&mut out, cat, dx_info, pid, &dx, false);
    write_signal(&mut out, cat, dx_info, pid, &dx, true);

    let section = repo.section("DIAGNOSIS")?;
    let lut = section
        .set_lookup_table(&["DIABETES_ALL"])
        .map_err(|u| anyhow::anyhow!("unknown sets {u:?}"))?;
    let mut diabetic = 0;
    for &p in repo.pids() {
        let d = repo.get(p, "DIAGNOSIS")?;
        if d.iter().any(|e| lut.contains(e.value(0).as_i64() as i32)) {
            diabetic += 1;
        }
    }
    out.push_str(&format!(
        "\n# patients with any DIAGNOSIS in set DIABETES_ALL: {diabetic} of {}\n",
        repo.pids().len()
    ));

    let t = Instant::now();
    let mut elements = 0usize;
    let mut lookups = 0usize;
    for _ in 0..100 {
        for &p in repo.pids() {
            for s in cat.signals() {
                elements += repo.get_bytes(p, s.sid)?.len() / s.layout.size();
                lookups += 1;
            }
        }
    }
    let el = t.elapsed();
    out.push_str(&format!(
        "\n# {lookups} lookups over every (pid, signal), {elements} elements: {:.1} ns per lookup\n",
        el.as_nanos() as f64 / lookups as f64
    ));
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
