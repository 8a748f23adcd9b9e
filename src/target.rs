//! The one rule every writer follows before it replaces anything: the target must be absent,
//! empty, or a previous output of the same kind, recognised by its content; anything else is
//! refused with [`Error::Occupied`] naming what is there, unless the caller forces it.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::text::config::RepositoryConfig;

/// What a writer is about to put at its target path: how a previous output of the same kind
/// is recognised, and which of the files inside a folder it may replace.
#[derive(Clone, Copy, Debug)]
pub enum OutputKind<'a> {
    /// A native repository folder (MODE 0–3, written by `export` or `convert`).
    Repository {
        /// The config file name the writer writes (`<name>.repository`); `None` for a
        /// conversion without `CONFIG`, recognised by `<PREFIX>_all_pids.list`.
        config: Option<&'a str>,
        /// `PREFIX`, relative to the folder.
        prefix: &'a str,
        /// Further files (relative paths) the writer writes, e.g. copied dictionaries.
        files: &'a [String],
    },
    /// An IatroCache `.iac` file (magic `IATROC`).
    Iac,
    /// A `GNZ1` aligned-array file.
    Gnz,
    /// A TRX zip (a zip holding `header.json`).
    TrxZip,
    /// A TRX folder (`header.json` and the TRX array folders).
    TrxDir,
    /// An indexed-tar dataset folder (`.tar` shards and `TARIDX` indexes).
    Itar,
    /// One file of a by-pid transpose (`__pids__<k>.pid_data` or `__pids__all.pid_idx`).
    Transpose,
    /// The lookup sidecar of a MODE 3 repository (`<PREFIX>_inframed.lookup`, magic
    /// `INFRLKUP`).
    LookupSidecar,
    /// A Parquet / Arrow IPC / MEDS export folder, recognised by its `inframed_export.json`
    /// manifest; it may hold `.parquet`, `.arrow` and `.json` files.
    Export,
}

impl OutputKind<'_> {
    /// What the writer writes, for messages.
    pub fn what(&self) -> &'static str {
        match self {
            OutputKind::Repository { .. } => "a repository folder",
            OutputKind::Iac => "an IatroCache (.iac) file",
            OutputKind::Gnz => "a GNZ1 file",
            OutputKind::TrxZip => "a TRX zip",
            OutputKind::TrxDir => "a TRX folder",
            OutputKind::Itar => "an indexed-tar dataset folder",
            OutputKind::Transpose => "a by-pid transpose file",
            OutputKind::LookupSidecar => "an inframed lookup sidecar",
            OutputKind::Export => "an inframed Parquet/Arrow/MEDS export folder",
        }
    }
}

/// Checks that `target` may be replaced by an output of `kind`: it is absent, an empty file,
/// a folder holding nothing but empty folders, or a previous output of the same kind
/// recognised by content (a folder only when every file in it is one such an output has).
/// With `force`, anything but a symbolic link may be replaced.
///
/// # Errors
/// [`Error::Occupied`] naming the target and what is there; [`Error::Open`] if it cannot be
/// read.
pub fn check_target(target: &Path, kind: OutputKind<'_>, force: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Open {
                path: target.into(),
                source,
            })
        }
        Ok(m) => m,
    };
    let occupied = |what: String| Error::Occupied {
        path: target.into(),
        what,
        kind: kind.what(),
    };
    if meta.file_type().is_symlink() {
        return Err(occupied("a symbolic link".into()));
    }
    if force {
        return Ok(());
    }
    let open = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Open { path, source }
    };
    let dir_kind = matches!(
        kind,
        OutputKind::Repository { .. } | OutputKind::TrxDir | OutputKind::Itar | OutputKind::Export
    );
    if meta.is_file() {
        if meta.len() == 0 {
            return Ok(());
        }
        let ok = match kind {
            OutputKind::Iac => starts_with(target, b"IATROC").map_err(open(target))?,
            OutputKind::Gnz => starts_with(target, b"GNZ1").map_err(open(target))?,
            OutputKind::TrxZip => zip_holds(target, b"header.json").map_err(open(target))?,
            OutputKind::Transpose => is_transpose_file(target).map_err(open(target))?,
            // The sidecar's magic (`native::lookup::LOOKUP_MAGIC`, a layer above this one).
            OutputKind::LookupSidecar => starts_with(target, b"INFRLKUP").map_err(open(target))?,
            _ => false,
        };
        return if ok {
            Ok(())
        } else {
            Err(occupied(format!(
                "a file of {} bytes starting {}",
                meta.len(),
                head_text(target)
            )))
        };
    }
    if !meta.is_dir() {
        return Err(occupied("neither a file nor a folder".into()));
    }
    let files = files_under(target).map_err(open(target))?;
    if files.is_empty() {
        return Ok(());
    }
    let refuse = |first: &Path| {
        occupied(format!(
            "a folder of {} files, among them {}",
            files.len(),
            first.display()
        ))
    };
    if !dir_kind {
        return Err(refuse(&files[0]));
    }
    let ours = |rel: &Path| -> Result<bool> {
        Ok(match kind {
            OutputKind::TrxDir => trx_member(rel),
            OutputKind::Itar => match rel.extension().and_then(|e| e.to_str()) {
                Some("tar") => rel.components().count() == 1,
                Some("taridx") => {
                    rel.components().count() == 1
                        && starts_with(&target.join(rel), b"TARIDX").map_err(open(target))?
                }
                _ => false,
            },
            OutputKind::Export => matches!(
                rel.extension().and_then(|e| e.to_str()),
                Some("parquet" | "arrow" | "json")
            ),
            _ => false,
        })
    };
    let allowed: Vec<PathBuf>;
    let mut prefixes: Vec<String> = Vec::new();
    match kind {
        OutputKind::Repository {
            config,
            prefix,
            files: written,
        } => {
            // Recognised by a config that parses (the one we write) or the pid list of PREFIX.
            let mut list: Vec<PathBuf> = written.iter().map(PathBuf::from).collect();
            let mut recognised = false;
            if let Some(name) = config {
                let path = target.join(name);
                if path.is_file() {
                    let c = RepositoryConfig::read(&path).map_err(|_| {
                        occupied(format!("a folder whose {name} is not a repository config"))
                    })?;
                    recognised = true;
                    list.push(PathBuf::from(name));
                    let rel = |p: &Path| p.strip_prefix(&c.dir).ok().map(Path::to_path_buf);
                    list.extend(c.dictionaries.iter().filter_map(|p| rel(p)));
                    list.extend(c.signals.iter().filter_map(|p| rel(p)));
                    list.extend(c.data.iter().filter_map(|(_, p)| rel(p)));
                    list.extend(c.index.iter().filter_map(|p| rel(p)));
                    list.extend(c.sfiles.iter().filter_map(|p| rel(p)));
                    if let Some(p) = rel(&c.prefix_path()) {
                        prefixes.push(normal(p).to_string_lossy().into_owned());
                    }
                }
            }
            let pids = target.join(format!("{prefix}_all_pids.list"));
            recognised |= pids.is_file();
            if !recognised {
                return Err(refuse(&files[0]));
            }
            prefixes.push(normal(PathBuf::from(prefix)).to_string_lossy().into_owned());
            allowed = list.into_iter().map(normal).collect();
        }
        _ => allowed = Vec::new(),
    }
    let marker = match kind {
        OutputKind::TrxDir => Some("header.json"),
        OutputKind::Export => Some(EXPORT_MANIFEST),
        _ => None,
    };
    if let Some(m) = marker {
        if !target.join(m).is_file() {
            return Err(refuse(&files[0]));
        }
    }
    if matches!(kind, OutputKind::Itar)
        && !files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "taridx"))
    {
        return Err(refuse(&files[0]));
    }
    for rel in &files {
        let text = rel.to_string_lossy();
        let ok = allowed.contains(rel)
            || prefixes.iter().any(|p| under_prefix(&text, p))
            || (rel.components().count() == 1 && text.ends_with(".convert_errors"))
            || ours(rel)?;
        if !ok {
            return Err(occupied(format!(
                "a folder holding {}, which {} does not have",
                rel.display(),
                kind.what()
            )));
        }
    }
    Ok(())
}

/// The manifest file of an [`OutputKind::Export`] folder.
pub const EXPORT_MANIFEST: &str = "inframed_export.json";

/// `rel` is a file of PREFIX `p`: `<p>_…` or `<p>.…`.
fn under_prefix(rel: &str, p: &str) -> bool {
    rel.strip_prefix(p)
        .is_some_and(|rest| rest.starts_with('_') || rest.starts_with('.'))
}

/// `p` without `.` components.
fn normal(p: PathBuf) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Every file (and symbolic link) under `dir`, relative to it, sorted; folders holding
/// nothing are not listed.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for e in fs::read_dir(root.join(rel))? {
            let e = e?;
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                walk(root, &r, out)?;
            } else {
                out.push(r);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn starts_with(path: &Path, magic: &[u8]) -> std::io::Result<bool> {
    let mut head = vec![0u8; magic.len()];
    let mut f = fs::File::open(path)?;
    Ok(f.read_exact(&mut head).is_ok() && head == magic)
}

/// The first bytes of a file, for messages: text where printable, else hex.
fn head_text(path: &Path) -> String {
    let mut head = [0u8; 8];
    let n = fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{}", hex.join(""))
    }
}

/// A zip (local header magic) whose central directory (in the last 1 MiB) names `member`.
fn zip_holds(path: &Path, member: &[u8]) -> std::io::Result<bool> {
    if !starts_with(path, b"PK\x03\x04")? {
        return Ok(false);
    }
    let mut f = fs::File::open(path)?;
    let len = f.metadata()?.len();
    let tail = len.min(1 << 20);
    f.seek(SeekFrom::Start(len - tail))?;
    let mut buf = Vec::with_capacity(tail as usize);
    f.take(tail).read_to_end(&mut buf)?;
    // A central directory entry: signature, 42 bytes, then the name.
    Ok(buf.windows(4).enumerate().any(|(i, w)| {
        w == b"PK\x01\x02"
            && buf
                .get(i + 46..i + 46 + member.len())
                .is_some_and(|n| n == member)
    }))
}

/// The first word of every by-pid transpose record (`native::transpose::PID_RECORD_MAGIC`,
/// which is defined as this constant, so that this lowest layer needs nothing from `native`).
pub(crate) const TRANSPOSE_RECORD_MAGIC: u64 = 0x0024_8ace_1357_9bdf;

/// A `.pid_data` chunk starting with a patient record's magic, or a `.pid_idx` beside a
/// recognised chunk 0.
fn is_transpose_file(path: &Path) -> std::io::Result<bool> {
    let magic = TRANSPOSE_RECORD_MAGIC.to_le_bytes();
    let name = path.to_string_lossy();
    if name.ends_with(".pid_data") {
        return starts_with(path, &magic);
    }
    match name.strip_suffix("all.pid_idx") {
        Some(stem) => {
            let chunk = PathBuf::from(format!("{stem}0.pid_data"));
            Ok(chunk.is_file() && starts_with(&chunk, &magic)?)
        }
        None => Ok(false),
    }
}

/// A path a TRX folder has: `header.json`, `positions.*`, `offsets.*`, or a file in `dps/`,
/// `dpv/`, `groups/`, `dpg/`.
fn trx_member(rel: &Path) -> bool {
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    let first = parts.next().unwrap_or_default();
    let deeper = parts.next().is_some();
    if deeper {
        return matches!(first.as_ref(), "dps" | "dpv" | "groups" | "dpg");
    }
    first == "header.json" || first.starts_with("positions.") || first.starts_with("offsets.")
}

/// Warnings naming what an earlier, killed writer of `target` left beside it:
/// `<target>.tmp.<pid>.<n>` (a staging directory or file, an old tree being removed) and,
/// with `iac_buffers`, the `.iac` payload buffers `.iac-data.tmp.<6 letters>` in the target's
/// folder. `writer` names it in the message (e.g. `"export"`). Call it before writing, so
/// that the writer's own temporaries are not listed; nothing is removed.
pub fn leftover_warnings(target: &Path, writer: &str, iac_buffers: bool) -> Vec<String> {
    let mut left = crate::atomic::temporaries_of(target);
    if iac_buffers {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        left.extend(crate::atomic::tempfiles_in(&dir, &[".iac-data.tmp."]));
    }
    left.iter()
        .map(|p| crate::atomic::leftover_warning(p, writer))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_empty_and_foreign() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        check_target(&p, OutputKind::Gnz, false).unwrap();
        fs::write(&p, b"").unwrap();
        check_target(&p, OutputKind::Gnz, false).unwrap();
        fs::write(&p, b"GNZ1....").unwrap();
        check_target(&p, OutputKind::Gnz, false).unwrap();
        let e = check_target(&p, OutputKind::Iac, false).unwrap_err();
        assert!(e.to_string().contains("\"GNZ1....\""), "{e}");
        check_target(&p, OutputKind::Iac, true).unwrap();
        fs::remove_file(&p).unwrap();
        fs::create_dir_all(p.join("a/b")).unwrap();
        check_target(&p, OutputKind::TrxDir, false).unwrap();
        fs::write(p.join("a/b/notes.txt"), b"mine").unwrap();
        let e = check_target(&p, OutputKind::TrxDir, false).unwrap_err();
        assert!(e.to_string().contains("notes.txt"), "{e}");
        fs::write(p.join("header.json"), b"{}").unwrap();
        let e = check_target(&p, OutputKind::TrxDir, false).unwrap_err();
        assert!(e.to_string().contains("a/b/notes.txt"), "{e}");
        fs::remove_dir_all(p.join("a")).unwrap();
        fs::create_dir(p.join("dps")).unwrap();
        fs::write(p.join("dps/patient.uint32"), b"1234").unwrap();
        check_target(&p, OutputKind::TrxDir, false).unwrap();
    }
}
