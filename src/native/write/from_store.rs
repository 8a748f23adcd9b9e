//! [`write_mode3`]: any [`SignalStore`] written as a MODE 3 repository through the one
//! [`Mode3Writer`].

use crate::error::InputError;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::store::SignalStore;

use super::metadata::{check_metadata, relative_inside, Mode3Options};
use super::mode3::Mode3Writer;

/// Checks that `out` may be replaced ([`crate::target::check_target`]): absent, empty, or a
/// previous repository `<name>.repository` holding nothing else, unless `force`.
pub(crate) fn check_target(out: &Path, config_name: &str, prefix: &str, force: bool) -> Result<()> {
    let kind = crate::target::OutputKind::Repository {
        config: Some(config_name),
        prefix,
        files: &[],
    };
    crate::target::check_target(out, kind, force)
}

/// Writes any store as a MODE 3 repository in the directory `out` (created, or replaced if
/// it holds `<name>.repository`), byte for byte as the original loader writes the same
/// content. Returns the config path.
///
/// # Errors
/// [`Error::PartialElements`](crate::Error::PartialElements) for vectors not whole elements; [`Error::InvalidInput`](crate::Error::InvalidInput) (a pid beyond `i32`, `out` not a
/// repository directory), I/O errors naming the file; the store's read errors. On error
/// nothing at `out` has changed.
///
/// # Examples
/// ```
/// use inframed::native::writer::{write_mode3, Mode3Options};
/// use inframed::{Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let out = tempfile::tempdir().unwrap();
/// let options = Mode3Options::new("copy", repo.catalog())?;
/// let config = write_mode3(&repo, &out.path().join("copy"), &options)?;
/// assert_eq!(Repository::open(config)?.pids(), repo.pids());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn write_mode3(store: &dyn SignalStore, out: &Path, options: &Mode3Options) -> Result<PathBuf> {
    write_mode3_staged(store, out, options).map_err(|e| e.in_target(out))
}

/// [`write_mode3`] itself: errors may still name the staging directory.
fn write_mode3_staged(
    store: &dyn SignalStore,
    out: &Path,
    options: &Mode3Options,
) -> Result<PathBuf> {
    let config_name = format!("{}.repository", options.name);
    check_target(out, &config_name, &options.prefix, options.force)?;
    if relative_inside(&out.join(&options.prefix), out).is_none() {
        return Err(InputError::NotRelative {
            what: "PREFIX",
            path: options.prefix.clone(),
        }
        .into());
    }
    let catalog = store.catalog();
    let w = Mode3Writer::create(out, catalog, &options.prefix)?;
    #[cfg(feature = "testing")]
    let w = w.fail_after(options.fail_after);
    let mut w = w;
    let meta = &options.metadata;
    // The catalog the written texts define must describe the same signals.
    check_metadata(meta, catalog)?;
    for (rel, bytes) in &meta.files {
        w.put(rel, bytes)?;
    }
    for info in catalog.signals() {
        let mut pushed = Ok(());
        store.scan(info.sid, &mut |pid, bytes| {
            if pushed.is_ok() {
                pushed = w.push(pid, info.sid, bytes);
            }
        })?;
        pushed?;
        w.finish_signal(info.sid)?;
    }
    for &pid in store.pids() {
        w.add_pid(pid)?;
    }
    if options.transpose {
        super::write_transpose_into(store, &w.staged_prefix(), w.budget())?;
    }
    let text = meta.config_text(&options.prefix);
    w.finish(Some((&config_name, text.as_bytes())))?;
    Ok(out.join(config_name))
}
