//! The directory a writer builds before publishing it in one step.

use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic::{link_tree, AtomicDir};
use crate::error::{Error, Result};

/// Where output files are written before they are published: a temporary sibling of the
/// target ([`AtomicDir`]), renamed over it by [`Staging::commit`]; dropped uncommitted, it is
/// removed and the target is unchanged.
#[derive(Debug)]
pub(crate) struct Staging {
    dir: AtomicDir,
    /// The staging directory started as hard links to (or copies of) every file of the
    /// existing target, so a file about to be written is unlinked first (never truncated in
    /// place: its inode is the live repository's).
    linked: bool,
}

impl Staging {
    /// An empty staging directory for `out`.
    pub(crate) fn new(out: &Path) -> Result<Staging> {
        Ok(Staging {
            dir: AtomicDir::create(out)?,
            linked: false,
        })
    }

    /// A staging directory for `out` that starts as links to every file of `out` (an update
    /// that rewrites some files and keeps the others).
    pub(crate) fn linked(out: &Path) -> Result<Staging> {
        let dir = AtomicDir::create(out)?;
        link_tree(out, dir.path())?;
        Ok(Staging { dir, linked: true })
    }

    /// The staging directory.
    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The path to write `rel` (relative to the target) to now, its parent directories made.
    pub(crate) fn path(&self, rel: &str) -> Result<PathBuf> {
        let p = self.dir.path().join(rel);
        if self.linked {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path: p, source: e })
                }
                _ => {}
            }
        }
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|source| Error::Open {
                path: parent.into(),
                source,
            })?;
        }
        Ok(p)
    }

    /// Publishes the staged directory as the target in one step.
    pub(crate) fn commit(self) -> Result<()> {
        self.dir.commit()
    }
}
