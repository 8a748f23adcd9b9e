//! One generation of a repository's files per open: the paths read once per attempt
//! ([`sniff`]), their identities compared before and after ([`open_one_generation`]).

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use crate::backend::{Container, Format};
use crate::error::{Error, Result};
use crate::native::transpose::pid_idx_path;
use crate::text::config::RepositoryConfig;

/// How many times [`open_one_generation`] opens again when a writer replaced the repository
/// while it was being opened.
const OPEN_ATTEMPTS: usize = 64;

/// One path of an open as [`sniff`] read it: what it holds, decided once, with the parsed
/// config of a repository config, for the open ([`super::open_layer_sniffed`]), the
/// identities [`open_one_generation`] watches and the by-pid transpose.
#[derive(Debug)]
pub(crate) struct Sniffed {
    /// The path.
    pub(crate) path: PathBuf,
    /// What it holds, or the error its open gives.
    pub(crate) kind: Result<Kind>,
}

/// What a sniffed path holds.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A container of this kind.
    Container(Container),
    /// A shard manifest ([`crate::shard::is_manifest`]).
    Manifest,
    /// A repository config, parsed.
    Config(Box<RepositoryConfig>),
}

impl Sniffed {
    /// The files besides the path whose identities decide the generation: a repository
    /// config's signals files and by-pid transpose index.
    fn derived(&self) -> Vec<PathBuf> {
        match &self.kind {
            Ok(Kind::Config(c)) => {
                let mut out = c.signals_files.clone();
                out.push(pid_idx_path(&c.prefix_path()));
                out
            }
            _ => Vec::new(),
        }
    }

    /// The `PREFIX` path of a MODE 3 config (the one kind of layer with a by-pid transpose).
    pub(crate) fn transpose_prefix(&self) -> Option<PathBuf> {
        match &self.kind {
            Ok(Kind::Config(c)) if c.mode == 3 => Some(c.prefix_path()),
            _ => None,
        }
    }
}

/// Reads `path` once: its format (as [`crate::backend::detect()`] decides it, or `forced`),
/// whether it is a shard manifest (as [`crate::shard::is_manifest`]) and, for a repository
/// config, the config (as [`RepositoryConfig::read`]), all from one open and read of the
/// file. A forced container is not read.
pub(crate) fn sniff(path: &Path, forced: Option<Format>) -> Sniffed {
    sniff_with(path, forced, std::fs::metadata(path))
}

/// [`sniff`] with the path's metadata taken by the caller.
fn sniff_with(path: &Path, forced: Option<Format>, meta: io::Result<Metadata>) -> Sniffed {
    let kind = (|| {
        let text = match forced {
            Some(Format::Container(c)) => return Ok(Kind::Container(c)),
            Some(Format::Config) => std::fs::read(path).map_err(|source| Error::Open {
                path: path.into(),
                source,
            })?,
            None => match crate::backend::sniff(path, meta)? {
                crate::backend::Sniff {
                    format: Format::Container(c),
                    ..
                } => return Ok(Kind::Container(c)),
                crate::backend::Sniff { text, .. } => text.unwrap_or_default(),
            },
        };
        if crate::shard::is_manifest_text(&text) {
            return Ok(Kind::Manifest);
        }
        RepositoryConfig::from_bytes(path, &text).map(|c| Kind::Config(Box::new(c)))
    })();
    Sniffed {
        path: path.to_path_buf(),
        kind,
    }
}

/// Runs `open` over `paths` read once by [`sniff`] (with `forced`) until none of the files
/// that decide a repository's generation was replaced during the run.
///
/// Why: a repository is many files (config, signals file, dictionaries, a `.data`/`.idx`
/// pair per signal, the pid list, the by-pid transpose), opened by path at different
/// moments, and writers replace them while readers open:
/// - a `LOAD_ONLY` convert (and every directory writer, [`crate::atomic::AtomicDir`]) swaps
///   the whole directory in one step (`renameat2(RENAME_EXCHANGE)`): a swap between two of
///   the opens would give a catalog of the old tree with vectors of the new, or an `.idx` of
///   one with the `.data` of the other;
/// - `add_signal` renames new data files, then the signals file into place, and replaces the
///   transpose (old `.pid_idx` removed first, new `.pid_idx` last); `inframed index` renames
///   chunk files, then the `.pid_idx`: an open that reads the signals file before and the
///   transpose after would mix them.
///
/// So the identity (device, inode) of each path, of its parent directory and, for a
/// repository config, of its signals files and `.pid_idx` is taken before and after the open;
/// when one changed (or appeared, or went), the open is thrown away (maps of the old files
/// included) and made again, at most [`OPEN_ATTEMPTS`] times. The result of an attempt
/// during which nothing changed is the answer (an error included); after the last attempt
/// its result is returned whatever happened. Writers publish the files these identities do
/// not cover (data files of a new signal, transpose chunks) before the files that name them
/// (docs/reliability.md).
///
/// Each attempt, in this order: the identities of the paths (whose `stat` also tells the
/// sniff a file from a folder) and of their parents; the paths read ([`sniff`]: the config
/// text the open then uses, read after its identity was taken, so that a config replaced
/// after the read shows as a changed identity); the identities of the files the configs
/// name; `open`; all the identities again.
pub(crate) fn open_one_generation<T>(
    paths: &[&Path],
    forced: Option<Format>,
    mut open: impl FnMut(Vec<Sniffed>) -> Result<T>,
) -> Result<T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The paths' metadata gives their identities and, to the sniff, their kind (file or
        // folder): one `stat` each.
        let metas: Vec<io::Result<Metadata>> = paths.iter().map(std::fs::metadata).collect();
        let mut watched: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
        let mut before: Vec<Option<(u64, u64)>> = metas.iter().map(identity).collect();
        let parents: Vec<PathBuf> = paths
            .iter()
            .map(|p| match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            })
            .collect();
        before.extend(identities(&parents));
        watched.extend(parents);
        let sniffed: Vec<Sniffed> = paths
            .iter()
            .zip(metas)
            .map(|(p, m)| sniff_with(p, forced, m))
            .collect();
        // Made once per attempt: a config replaced during the open (which could name other
        // signals files) shows as its own new identity.
        let derived: Vec<PathBuf> = sniffed.iter().flat_map(Sniffed::derived).collect();
        before.extend(identities(&derived));
        watched.extend(derived);
        let result = open(sniffed);
        if identities(&watched) == before || attempt >= OPEN_ATTEMPTS {
            return result;
        }
    }
}

/// (device, inode) of each of `files`, `None` where absent.
fn identities(files: &[PathBuf]) -> Vec<Option<(u64, u64)>> {
    files
        .iter()
        .map(|f| identity(&std::fs::metadata(f)))
        .collect()
}

/// (device, inode) of a file by its metadata, `None` where absent.
fn identity(meta: &io::Result<Metadata>) -> Option<(u64, u64)> {
    let m = meta.as_ref().ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        // No inode number: the modification time stands in for it.
        let t = m.modified().ok()?;
        let t = t.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some((t.as_secs(), u64::from(t.subsec_nanos())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config (MODE 3, naming `signals`) at `dir/r.repository`, written to a new inode.
    fn write_config(dir: &Path, description: &str, signals: &str) -> PathBuf {
        let path = dir.join("r.repository");
        let tmp = dir.join("r.repository.tmp");
        let text = format!("DESCRIPTION\t{description}\nSIGNAL\t{signals}\nMODE\t3\n");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    fn description(s: &Sniffed) -> String {
        match &s.kind {
            Ok(Kind::Config(c)) => c.description.clone(),
            other => panic!("not a config: {other:?}"),
        }
    }

    /// A config replaced after the attempt read it (while its open runs) is read again: the
    /// answer is the new config's, never the stale text of the first read.
    #[test]
    fn a_config_replaced_during_the_open_is_read_again() {
        let t = tempfile::tempdir().unwrap();
        let path = write_config(t.path(), "old", "a.signals");
        let mut attempts = 0;
        let got = open_one_generation(&[&path], None, |sniffed| {
            attempts += 1;
            if attempts == 1 {
                write_config(t.path(), "new", "a.signals");
            }
            Ok(description(&sniffed[0]))
        })
        .unwrap();
        assert_eq!((got.as_str(), attempts), ("new", 2));
    }

    /// A signals file (named by the config read in the attempt) replaced, appearing or going
    /// during the open makes the attempt start again; an open during which nothing changed
    /// is the answer.
    #[test]
    fn the_files_a_config_names_are_watched() {
        let t = tempfile::tempdir().unwrap();
        let path = write_config(t.path(), "r", "a.signals");
        let signals = t.path().join("a.signals");
        let mut attempts = 0;
        open_one_generation(&[&path], None, |_| {
            attempts += 1;
            if attempts == 1 {
                std::fs::write(&signals, "x").unwrap(); // appears
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(attempts, 2);
        attempts = 0;
        open_one_generation(&[&path], None, |_| {
            attempts += 1;
            if attempts == 1 {
                std::fs::write(t.path().join("b"), "y").unwrap();
                std::fs::rename(t.path().join("b"), &signals).unwrap(); // replaced
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(attempts, 2);
        // A config naming another signals file: that one is watched, not the old.
        let path = write_config(t.path(), "r", "c.signals");
        attempts = 0;
        open_one_generation(&[&path], None, |_| {
            attempts += 1;
            std::fs::remove_file(&signals).ok(); // not named any more: no new attempt
            Ok(())
        })
        .unwrap();
        assert_eq!(attempts, 1);
    }

    /// The sniff decides as the public functions do, from one read.
    #[test]
    fn sniff_agrees_with_detect_is_manifest_and_read() {
        let t = tempfile::tempdir().unwrap();
        let path = write_config(t.path(), "d", "a.signals");
        let s = sniff(&path, None);
        assert_eq!(
            crate::backend::detect(&path).unwrap(),
            crate::backend::Format::Config
        );
        assert!(!crate::shard::is_manifest(&path));
        match s.kind {
            Ok(Kind::Config(c)) => assert_eq!(*c, RepositoryConfig::read(&path).unwrap()),
            other => panic!("{other:?}"),
        }
        let manifest = t.path().join("m.json");
        std::fs::write(
            &manifest,
            format!(" {{\"format\": \"{}\"}}", crate::shard::MANIFEST_FORMAT),
        )
        .unwrap();
        assert!(crate::shard::is_manifest(&manifest));
        assert!(matches!(sniff(&manifest, None).kind, Ok(Kind::Manifest)));
        assert!(matches!(
            sniff(&manifest, Some(Format::Config)).kind,
            Ok(Kind::Manifest)
        ));
        assert!(matches!(
            sniff(&path, Some(Format::Container(Container::Gnz))).kind,
            Ok(Kind::Container(Container::Gnz))
        ));
    }
}
