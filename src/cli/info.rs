//! `inframed info`.

use std::io::{self, Write};

use inframed::SignalStore;

use crate::cli::{print_warnings, RepoArgs};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(flatten)]
    repo: RepoArgs,
}

pub(crate) fn run(a: Args) -> anyhow::Result<()> {
    let forced = a
        .repo
        .format
        .as_deref()
        .and_then(inframed::backend::Format::from_name)
        .and_then(inframed::backend::Format::container);
    let repo = match a.repo.open() {
        Ok(r) => r,
        // A container another tool wrote: describe the container itself.
        Err(e)
            if e.downcast_ref::<inframed::Error>()
                .is_some_and(inframed::backend::is_foreign) =>
        {
            eprintln!("note: {e}: describing the container");
            let mut out = io::stdout().lock();
            inframed::backend::describe_container(&a.repo.repo, forced, &mut out)?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
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
    let mut stdout = io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    // A container without patient signals (an `.iac` pack of another payload type): describe
    // the container too.
    let container = forced.or_else(|| inframed::backend::Container::of(&a.repo.repo));
    if container.is_some() && repo.catalog().signals().is_empty() && a.repo.stack.is_empty() {
        inframed::backend::describe_container(&a.repo.repo, container, &mut stdout)?;
    }
    Ok(())
}
