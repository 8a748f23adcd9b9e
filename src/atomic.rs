//! Atomic output: write to a temporary name beside the target, then `rename` into place, so a
//! reader (or a crash) never sees a half-written file and live maps keep the old inode.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

mod leftovers;
pub(crate) use leftovers::parent_of;
pub use leftovers::{leftover_warning, tempfiles_in, temporaries_in, temporaries_of};

/// A file being written under a temporary name; [`AtomicFile::commit`] renames it into place.
/// Dropped without commit, the temporary file is removed and the target is untouched.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<BufWriter<File>>,
}

/// A temporary sibling name of `target`: `<name>.tmp.<pid>.<n>`.
pub fn temp_name(target: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!("{name}.tmp.{}.{n}", std::process::id()))
}

impl AtomicFile {
    /// Starts writing `target` (its directory must exist).
    ///
    /// # Errors
    /// [`Error::Open`] naming the temporary file.
    pub fn create(target: impl AsRef<Path>) -> Result<AtomicFile> {
        let target = target.as_ref().to_path_buf();
        let tmp = temp_name(&target);
        let file = File::create(&tmp).map_err(|source| Error::Open {
            path: tmp.clone(),
            source,
        })?;
        Ok(AtomicFile {
            tmp,
            target,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs and renames into place. On failure the temporary file is removed (a
    /// write that fails in the final flush, e.g. a full disk, leaves nothing behind).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn commit(mut self) -> Result<()> {
        let w = self.file.take().expect("not committed yet");
        let result = (|| {
            let f = w.into_inner().map_err(|e| Error::Io {
                path: self.tmp.clone(),
                source: e.into_error(),
            })?;
            f.sync_all().map_err(|source| Error::Io {
                path: self.tmp.clone(),
                source,
            })?;
            drop(f);
            fs::rename(&self.tmp, &self.target).map_err(|source| Error::Io {
                path: self.target.clone(),
                source,
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `target` atomically.
///
/// # Errors
/// [`Error::Open`] / [`Error::Io`] naming the file.
pub fn write_atomic(target: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(target)?;
    f.write_all(bytes).map_err(|source| Error::Io {
        path: f.target().to_path_buf(),
        source,
    })?;
    f.commit()
}

/// Files written and synced under temporary names ([`temp_name`]), renamed into place later,
/// one by one, by [`Staged::publish`]: a writer that must change several files prepares them
/// all first (where a full disk or a kill leaves the published files as they were), then
/// publishes them with renames only. Dropped, the files not yet published are removed.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// (temporary, target), in the order they were staged; `None` once published.
    files: Vec<Option<(PathBuf, PathBuf)>>,
}

impl Staged {
    /// Records that `tmp` (already created: it is removed on drop) will become `target`.
    pub(crate) fn push(&mut self, tmp: PathBuf, target: PathBuf) {
        self.files.push(Some((tmp, target)));
    }

    /// The temporary name of a new staged file for `target`, recorded.
    pub(crate) fn name(&mut self, target: &Path) -> PathBuf {
        let tmp = temp_name(target);
        self.push(tmp.clone(), target.to_path_buf());
        tmp
    }

    /// Renames the staged file of `target` into place (a no-op if none is staged).
    ///
    /// # Errors
    /// [`Error::Io`] naming the target.
    pub(crate) fn publish(&mut self, target: &Path) -> Result<()> {
        for slot in &mut self.files {
            if slot.as_ref().is_some_and(|(_, t)| t == target) {
                let (tmp, target) = slot.take().expect("checked");
                return fs::rename(&tmp, &target).map_err(|source| Error::Io {
                    path: target,
                    source,
                });
            }
        }
        Ok(())
    }

    /// Whether a file is staged for `target`.
    pub(crate) fn has(&self, target: &Path) -> bool {
        self.files.iter().flatten().any(|(_, t)| t == target)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (tmp, _) in self.files.iter().flatten() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// A directory built under a temporary name and renamed into place by
/// [`AtomicDir::commit`] (replacing an existing directory of that name: the old one is
/// renamed aside first, then removed). Dropped without commit, the temporary tree is removed.
#[derive(Debug)]
pub struct AtomicDir {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl AtomicDir {
    /// Creates the temporary directory beside `target`.
    ///
    /// # Errors
    /// [`Error::Open`] naming it.
    pub fn create(target: impl AsRef<Path>) -> Result<AtomicDir> {
        let target = target.as_ref().to_path_buf();
        let tmp = temp_name(&target);
        fs::create_dir_all(&tmp).map_err(|source| Error::Open {
            path: tmp.clone(),
            source,
        })?;
        Ok(AtomicDir {
            tmp,
            target,
            done: false,
        })
    }

    /// Where to write the files now.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the finished directory into place. An existing directory of that name is
    /// swapped out in one atomic step where the system has one (Linux `renameat2`
    /// `RENAME_EXCHANGE`), so a reader or a crash sees the old tree or the new one, never
    /// neither; elsewhere it is renamed aside first. The old tree is then removed (open maps
    /// of its files stay valid).
    ///
    /// # Errors
    /// [`Error::Io`] naming the target.
    pub fn commit(mut self) -> Result<()> {
        let io = |source| Error::Io {
            path: self.target.clone(),
            source,
        };
        if fs::symlink_metadata(&self.target).is_ok() {
            if exchange(&self.tmp, &self.target).is_ok() {
                // `tmp` now names the old tree.
                self.done = true;
                let _ = fs::remove_dir_all(&self.tmp);
                return Ok(());
            }
            let old = temp_name(&self.target);
            fs::rename(&self.target, &old).map_err(io)?;
            fs::rename(&self.tmp, &self.target).map_err(io)?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&self.tmp, &self.target).map_err(io)?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Swaps two paths atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// No atomic swap here: the caller falls back to two renames.
#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Fills the (existing, empty) directory `to` with the tree under `from`: a hard link to each
/// file (a copy where links are not possible, e.g. across file systems), the same symbolic
/// links, the same directories. Used to stage a changed copy of a live repository: a staged
/// file must be unlinked, never rewritten in place, before it is replaced.
///
/// # Errors
/// [`Error::Open`] / [`Error::Io`] naming the file; [`Error::Unsupported`] for an entry that
/// is neither a file, a directory nor a symbolic link.
pub fn link_tree(from: &Path, to: &Path) -> Result<()> {
    let open = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Open { path, source }
    };
    for entry in fs::read_dir(from).map_err(open(from))? {
        let entry = entry.map_err(open(from))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ty = entry.file_type().map_err(open(&src))?;
        if ty.is_dir() {
            fs::create_dir(&dst).map_err(open(&dst))?;
            link_tree(&src, &dst)?;
        } else if ty.is_file() {
            if fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).map_err(|source| Error::Io { path: dst, source })?;
            }
        } else if ty.is_symlink() {
            let target = fs::read_link(&src).map_err(open(&src))?;
            #[cfg(unix)]
            std::os::unix::fs::symlink(&target, &dst).map_err(open(&dst))?;
            #[cfg(not(unix))]
            fs::copy(&src, &dst).map_err(|source| Error::Io { path: dst, source })?;
        } else {
            return Err(Error::Unsupported {
                path: src.to_path_buf(),
                what: "file type (not a file, directory or symbolic link)".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_under_a_temp_sibling_name_the_target() {
        let target = Path::new("/data/out");
        let tmp = temp_name(target);
        let e = Error::Io {
            path: tmp.join("data/x.data"),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(
            e.in_target(target).path(),
            Some(Path::new("/data/out/data/x.data"))
        );
        let e = Error::Open {
            path: tmp.clone(),
            source: std::io::Error::other("x"),
        };
        assert_eq!(e.in_target(target).path(), Some(target));
        // Another file beside the target is left as it is.
        let other = Path::new("/data/out.tmp.notours/x");
        let e = Error::Open {
            path: other.into(),
            source: std::io::Error::other("x"),
        };
        assert_eq!(e.in_target(target).path(), Some(other));
    }

    use super::*;

    #[test]
    fn uncommitted_leaves_nothing() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("x.bin");
        fs::write(&target, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"new").unwrap();
        }
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        write_atomic(&target, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        let t = d.path().join("dir");
        {
            let a = AtomicDir::create(&t).unwrap();
            fs::write(a.path().join("f"), b"1").unwrap();
        }
        assert!(!t.exists());
        let a = AtomicDir::create(&t).unwrap();
        fs::write(a.path().join("f"), b"1").unwrap();
        a.commit().unwrap();
        assert_eq!(fs::read(t.join("f")).unwrap(), b"1");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
        // Replacing it: the old tree goes, nothing is left beside it.
        let kept = File::open(t.join("f")).unwrap();
        let a = AtomicDir::create(&t).unwrap();
        fs::write(a.path().join("g"), b"2").unwrap();
        a.commit().unwrap();
        assert_eq!(fs::read(t.join("g")).unwrap(), b"2");
        assert!(!t.join("f").exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 2);
        drop(kept);
    }

    #[test]
    fn linked_tree_stages_a_copy() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("repo");
        fs::create_dir_all(from.join("data/sub")).unwrap();
        fs::write(from.join("a"), b"a").unwrap();
        fs::write(from.join("data/sub/b"), b"b").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("a", from.join("l")).unwrap();
        let stage = AtomicDir::create(&from).unwrap();
        link_tree(&from, stage.path()).unwrap();
        assert_eq!(fs::read(stage.path().join("data/sub/b")).unwrap(), b"b");
        #[cfg(unix)]
        assert_eq!(
            fs::read_link(stage.path().join("l")).unwrap(),
            Path::new("a")
        );
        // Unlink before writing: the original keeps its bytes.
        fs::remove_file(stage.path().join("a")).unwrap();
        fs::write(stage.path().join("a"), b"new").unwrap();
        assert_eq!(fs::read(from.join("a")).unwrap(), b"a");
        stage.commit().unwrap();
        assert_eq!(fs::read(from.join("a")).unwrap(), b"new");
        assert_eq!(fs::read(from.join("data/sub/b")).unwrap(), b"b");
    }
}
