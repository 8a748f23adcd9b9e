//! The target rule for a shard output folder: absent, empty, or a previous shard output
//! (a `shards.json` that parses, and nothing but its shards' repositories beside it);
//! anything else is refused unless forced.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};
use crate::target::{check_target, OutputKind};

use super::manifest::{Manifest, MANIFEST_NAME};

const KIND: &str = "a shard output folder (shards.json and its shard repositories)";

/// Checks that `out` may be replaced by a shard output.
///
/// # Errors
/// [`Error::Occupied`] naming `out` and what is there; [`Error::Open`] if it cannot be read.
pub fn check_shards_target(out: &Path, force: bool) -> Result<()> {
    let meta = match fs::symlink_metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Open {
                path: out.into(),
                source,
            })
        }
        Ok(m) => m,
    };
    let occupied = |what: String| Error::Occupied {
        path: out.into(),
        what,
        kind: KIND,
    };
    if meta.file_type().is_symlink() {
        return Err(occupied("a symbolic link".into()));
    }
    if force {
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(occupied(format!("a file of {} bytes", meta.len())));
    }
    let open = |source| Error::Open {
        path: out.into(),
        source,
    };
    let entries: Vec<_> = fs::read_dir(out)
        .map_err(open)?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(open)?;
    let manifest_path = out.join(MANIFEST_NAME);
    if !manifest_path.is_file() {
        // Empty (or only empty folders) is fine: the repository rule says so for folders.
        for e in &entries {
            if !holds_no_files(&e.path()) {
                return Err(occupied(format!(
                    "a folder without {MANIFEST_NAME}, holding {}",
                    e.file_name().to_string_lossy()
                )));
            }
        }
        return Ok(());
    }
    let manifest = Manifest::read(&manifest_path).map_err(|e| {
        occupied(format!(
            "a {MANIFEST_NAME} that is not a shard manifest ({e})"
        ))
    })?;
    let shard_dirs: Vec<String> = manifest
        .shards
        .iter()
        .filter_map(|s| s.path.split('/').next().map(str::to_string))
        .collect();
    for e in &entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == MANIFEST_NAME {
            continue;
        }
        let i = shard_dirs.iter().position(|d| *d == name);
        let Some(i) = i else {
            return Err(occupied(format!(
                "a folder holding {name}, which its {MANIFEST_NAME} does not list"
            )));
        };
        let entry = &manifest.shards[i];
        let config = Path::new(&entry.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = config.strip_suffix(".repository").unwrap_or(&config);
        let prefix = super::write::shard_prefix(stem);
        let kind = OutputKind::Repository {
            config: Some(&config),
            prefix: &prefix,
            files: &[],
        };
        check_target(&e.path(), kind, false)
            .map_err(|err| occupied(format!("shard folder {name} that is not a shard ({err})")))?;
    }
    Ok(())
}

/// A folder with no files anywhere under it (only empty folders).
fn holds_no_files(p: &Path) -> bool {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::read_dir(p).is_ok_and(|rd| {
            rd.into_iter()
                .all(|e| e.is_ok_and(|e| holds_no_files(&e.path())))
        }),
        _ => false,
    }
}
