//! `inframed info`.

use std::io::{self, Write};

use inframed::{SignalStore, SignalStoreExt};

use crate::cli::{print_warnings, RepoArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let repo = a.repo.open()?;
    print_warnings(&repo);
    let mut out = String::new();
    let d = repo.describe();
    out.push_str(&format!("layout\t{}\n", d.format));
    out.push_str(&format!("patients\t{}\n", repo.pids().len()));
    if let (Some(first), Some(last)) = (repo.pids().first(), repo.pids().last()) {
        out.push_str(&format!("pid range\t{first}..{last}\n"));
    }
    out.push_str(&format!("time unit\t{:?}\n", repo.catalog().time_unit()));
    out.push_str("signals\n#name\tsid\tspec\tbytes\ttime_unit\tpatients\telements\tlayer\n");
    for info in repo.catalog().signals() {
        let (layer, _) = repo.resolve(&info.name)?;
        let (mut patients, mut elements) = (0u64, 0u64);
        for &pid in repo.pids() {
            let n = repo.signal(pid, info.sid)?.len() as u64;
            patients += (n > 0) as u64;
            elements += n;
        }
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{:?}\t{patients}\t{elements}\t{}\n",
            info.name,
            info.sid,
            info.layout,
            info.layout.size(),
            info.time_unit,
            repo.layers()[layer].path.display()
        ));
    }
    out.push_str("files\n");
    let mut total = 0;
    for (path, size) in &d.files {
        total += size;
        out.push_str(&format!("{}\t{size}\n", path.display()));
    }
    out.push_str(&format!("total bytes\t{total}\n"));
    io::stdout().lock().write_all(out.as_bytes())?;
    Ok(())
}
