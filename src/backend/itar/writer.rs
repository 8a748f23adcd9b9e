//! Writing datasets as glzn's `iTarDatasetWriter` does: per fold, USTAR shards
//! `<fold>_<nnnn>.tar` (a new shard when the sample or byte limit is reached, checked before a
//! sample), members `<key>.<ext>`, and `<fold>.taridx`; every file written to a temporary
//! name and renamed into place.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::HashSet;

use super::index::IndexBuilder;
use super::{backend_error, ItarError};
use crate::atomic::{write_atomic, AtomicFile};
use crate::error::{Error, Result};

/// Python `tarfile`'s record size: a closed shard is padded to a multiple of it.
const RECORD: u64 = 10240;

/// Options of [`DatasetWriter`] / [`FoldWriter`], defaults as glzn's writer.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Start a new shard once a shard holds this many samples (default 100000).
    pub shard_max_files: u64,
    /// Start a new shard once a shard holds this many bytes (default 3e9).
    pub shard_max_size: u64,
    /// Digits of the shard number (`%04d`: 4).
    pub shard_digits: usize,
    /// Number of the first shard (default 0).
    pub start: u64,
    /// Member modification time in seconds since 1970 (`None`: now, as glzn).
    pub mtime: Option<u64>,
    /// Member owner name (glzn: the user's login name).
    pub username: String,
    /// Member group name (default `defaultgroup`).
    pub groupname: String,
    /// Member mode (default `0o444`).
    pub mode: u32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            shard_max_files: 100_000,
            shard_max_size: 3_000_000_000,
            shard_digits: 4,
            start: 0,
            mtime: None,
            username: std::env::var("USER").unwrap_or_else(|_| "inframed".into()),
            groupname: "defaultgroup".into(),
            mode: 0o444,
        }
    }
}

/// A writer that counts the bytes it passes on.
struct Counting<W> {
    inner: W,
    pos: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct ShardWriter {
    builder: tar::Builder<Counting<AtomicFile>>,
    path: PathBuf,
    samples: u64,
}

impl ShardWriter {
    fn bytes_written(&self) -> u64 {
        self.builder.get_ref().pos
    }

    fn finish(self) -> Result<()> {
        let io_err = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        let mut w = self.builder.into_inner().map_err(io_err)?;
        let rem = w.pos % RECORD;
        if rem != 0 {
            let pad = vec![0u8; (RECORD - rem) as usize];
            w.write_all(&pad).map_err(io_err)?;
        }
        w.inner.commit()
    }
}

fn bad_name(name: &str, reason: &'static str) -> ItarError {
    ItarError::BadName {
        name: name.into(),
        reason,
    }
}

/// Checks a sample key: non-empty, flat, no `.`, no whitespace or NUL (glzn's loader splits
/// crash stems on whitespace).
fn check_key(key: &str) -> Result<(), ItarError> {
    if key.is_empty() {
        return Err(bad_name(key, "empty sample key"));
    }
    if key.contains(['/', '\\']) {
        return Err(bad_name(
            key,
            "sample key must be flat (no path separators)",
        ));
    }
    if key.contains('.') {
        return Err(bad_name(key, "sample key cannot contain dots"));
    }
    if key.chars().any(|c| c.is_whitespace() || c == '\0') {
        return Err(bad_name(key, "sample key cannot contain whitespace or NUL"));
    }
    Ok(())
}

/// Normalizes an extension as glzn (`.JPG` → `jpg`) and checks it.
fn normalize_ext(ext: &str) -> Result<String, ItarError> {
    let e = ext.strip_prefix('.').unwrap_or(ext).to_lowercase();
    if e.is_empty() {
        return Err(bad_name(ext, "extension cannot be empty"));
    }
    if e.contains(['/', '\\']) {
        return Err(bad_name(ext, "extension must be flat (no path separators)"));
    }
    if e.chars().any(|c| c.is_whitespace() || c == '\0') {
        return Err(bad_name(ext, "extension cannot contain whitespace or NUL"));
    }
    Ok(e)
}

/// Writes one fold: shards and, on [`FoldWriter::finish`], its `.taridx`.
pub struct FoldWriter {
    root: PathBuf,
    fold: String,
    options: WriterOptions,
    shard: Option<ShardWriter>,
    shards_opened: u64,
    builder: IndexBuilder,
    keys: HashSet<String>,
    mtime: u64,
    written: Vec<PathBuf>,
}

impl std::fmt::Debug for FoldWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoldWriter")
            .field("root", &self.root)
            .field("fold", &self.fold)
            .field("shards", &self.shards_opened)
            .field("samples", &self.keys.len())
            .finish()
    }
}

impl FoldWriter {
    /// Starts fold `fold` in the existing folder `root`.
    ///
    /// # Errors
    /// [`Error::Format`] with [`ItarError::BadName`] for a fold name that is empty, not flat or
    /// contains the `_` delimiter.
    pub fn create(root: &Path, fold: &str, options: WriterOptions) -> Result<FoldWriter> {
        let check = || -> Result<(), ItarError> {
            if fold.is_empty() {
                return Err(bad_name(fold, "empty fold name"));
            }
            if fold.contains('_') {
                return Err(bad_name(
                    fold,
                    "fold name cannot contain the shard delimiter '_'",
                ));
            }
            if fold.contains(['/', '\\', '\0']) {
                return Err(bad_name(fold, "fold name must be flat"));
            }
            if options.shard_digits == 0 || options.shard_digits > 9 {
                return Err(ItarError::Write {
                    reason: format!("{} shard digits", options.shard_digits),
                });
            }
            Ok(())
        };
        check().map_err(|e| backend_error(root, format!("fold {fold}"), e))?;
        let mtime = options.mtime.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        Ok(FoldWriter {
            root: root.to_path_buf(),
            fold: fold.to_owned(),
            options,
            shard: None,
            shards_opened: 0,
            builder: IndexBuilder::default(),
            keys: HashSet::new(),
            mtime,
            written: Vec::new(),
        })
    }

    fn open_shard(&mut self) -> Result<()> {
        if let Some(s) = self.shard.take() {
            s.finish()?;
        }
        let idx = self.options.start + self.shards_opened;
        let suffix = format!("{idx:0width$}", width = self.options.shard_digits);
        if suffix.len() > self.options.shard_digits || self.shards_opened > u64::from(u16::MAX) {
            return Err(backend_error(
                &self.root,
                format!("fold {}", self.fold),
                ItarError::Write {
                    reason: format!(
                        "shard number {idx} does not fit {} digits or 65536 shards (readers rank shards by name)",
                        self.options.shard_digits
                    ),
                },
            ));
        }
        let path = self.root.join(format!("{}_{suffix}.tar", self.fold));
        let file = AtomicFile::create(&path)?;
        self.shard = Some(ShardWriter {
            builder: tar::Builder::new(Counting {
                inner: file,
                pos: 0,
            }),
            path: path.clone(),
            samples: 0,
        });
        self.written.push(path);
        self.shards_opened += 1;
        Ok(())
    }

    /// Writes one sample: members `<key>.<ext>` in the order given, consecutively in one shard.
    ///
    /// # Errors
    /// [`Error::Format`] with [`ItarError::BadName`] (empty key, key with `/`, `\`, `.` or
    /// whitespace, empty extension, name over 100 bytes), [`ItarError::Duplicate`] (an extension
    /// twice in the sample) or [`ItarError::Write`] (a key written before, no members);
    /// [`Error::Io`] naming the shard.
    pub fn write(&mut self, key: &str, members: &[(&str, &[u8])]) -> Result<()> {
        let ctx = format!("sample {key:?}");
        let fail = |e| backend_error(&self.root, ctx.clone(), e);
        check_key(key).map_err(fail)?;
        if members.is_empty() {
            return Err(fail(ItarError::Write {
                reason: "a sample needs at least one member".into(),
            }));
        }
        if self.keys.contains(key) {
            return Err(fail(ItarError::Write {
                reason: "sample key written before (samples must be contiguous)".into(),
            }));
        }
        let mut names = Vec::with_capacity(members.len());
        for (i, (ext, _)) in members.iter().enumerate() {
            let ext = normalize_ext(ext).map_err(fail)?;
            let name = format!("{key}.{ext}");
            if name.len() > 100 {
                return Err(fail(bad_name(
                    &name,
                    "member name over 100 bytes (would need a long-name header)",
                )));
            }
            if let Some(j) = names.iter().position(|(e, _): &(String, String)| *e == ext) {
                return Err(fail(ItarError::Duplicate {
                    name,
                    first: j as u64,
                    second: i as u64,
                }));
            }
            names.push((ext, name));
        }
        let full = self.shard.as_ref().map_or(true, |s| {
            s.samples >= self.options.shard_max_files
                || s.bytes_written() >= self.options.shard_max_size
        });
        if full {
            self.open_shard()?;
        }
        self.keys.insert(key.to_owned());
        let fid = (self.shards_opened - 1) as u16;
        let (mode, mtime) = (self.options.mode, self.mtime);
        let (user, group) = (
            self.options.username.clone(),
            self.options.groupname.clone(),
        );
        let shard = self.shard.as_mut().expect("opened above");
        for ((ext, name), (_, data)) in names.iter().zip(members) {
            let offset = shard.bytes_written();
            let io_err = |source| Error::Io {
                path: shard.path.clone(),
                source,
            };
            let mut h = tar::Header::new_ustar();
            h.set_path(name).map_err(io_err)?;
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(mtime);
            h.set_entry_type(tar::EntryType::Regular);
            // Names longer than the 32-byte fields are cut, as tarfile would refuse them.
            h.set_username(truncate(&user, 31)).map_err(io_err)?;
            h.set_groupname(truncate(&group, 31)).map_err(io_err)?;
            h.set_cksum();
            shard
                .builder
                .append(&h, *data)
                .map_err(|source| Error::Io {
                    path: shard.path.clone(),
                    source,
                })?;
            self.builder
                .add(fid, offset, data.len() as u64, key, ext)
                .map_err(|e| backend_error(&shard.path, ctx.clone(), e))?;
        }
        shard.samples += 1;
        Ok(())
    }

    /// Closes the last shard and writes `<fold>.taridx`; returns the files written (shards, then
    /// the index). A fold without samples writes nothing, as glzn.
    ///
    /// # Errors
    /// [`Error::Io`] / [`Error::Open`] naming the file.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        let Some(shard) = self.shard.take() else {
            return Ok(Vec::new());
        };
        shard.finish()?;
        let index = std::mem::take(&mut self.builder).finish();
        let path = self.root.join(format!("{}.taridx", self.fold));
        write_atomic(&path, &index.to_bytes())?;
        self.written.push(path);
        Ok(std::mem::take(&mut self.written))
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A dataset folder with one [`FoldWriter`] per fold (glzn's `iTarDatasetWriter`, writing into
/// the folder itself rather than `loc/dataset_name`).
#[derive(Debug)]
pub struct DatasetWriter {
    root: PathBuf,
    options: WriterOptions,
    folds: Vec<FoldWriter>,
}

impl DatasetWriter {
    /// Starts a dataset in folder `root` (created if missing).
    ///
    /// # Errors
    /// [`Error::Open`] if the folder cannot be created.
    pub fn create(root: &Path, options: WriterOptions) -> Result<DatasetWriter> {
        std::fs::create_dir_all(root).map_err(|source| Error::Open {
            path: root.into(),
            source,
        })?;
        Ok(DatasetWriter {
            root: root.to_path_buf(),
            options,
            folds: Vec::new(),
        })
    }

    /// The writer of fold `name`, started on first use.
    ///
    /// # Errors
    /// As [`FoldWriter::create`].
    pub fn fold(&mut self, name: &str) -> Result<&mut FoldWriter> {
        let i = match self.folds.iter().position(|f| f.fold == name) {
            Some(i) => i,
            None => {
                self.folds
                    .push(FoldWriter::create(&self.root, name, self.options.clone())?);
                self.folds.len() - 1
            }
        };
        Ok(&mut self.folds[i])
    }

    /// Finishes every fold; returns the files written.
    ///
    /// # Errors
    /// As [`FoldWriter::finish`].
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for f in self.folds {
            out.extend(f.finish()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::itar::{Fold, ItarError};

    fn opts() -> WriterOptions {
        WriterOptions {
            mtime: Some(1_700_000_000),
            username: "test".into(),
            ..WriterOptions::default()
        }
    }

    fn backend_kind(e: Error) -> ItarError {
        match e {
            Error::Format { source, .. } => match *source {
                crate::FormatError::Itar(e) => e,
                other => panic!("{other}"),
            },
            other => panic!("{other}"),
        }
    }

    #[test]
    fn name_rules() {
        let d = tempfile::tempdir().unwrap();
        let mut w = FoldWriter::create(d.path(), "train", opts()).unwrap();
        let bad = |w: &mut FoldWriter, key: &str, ext: &str| {
            backend_kind(w.write(key, &[(ext, b"x")]).unwrap_err())
        };
        for (key, ext) in [
            ("", "txt"),
            ("a/b", "txt"),
            ("a\\b", "txt"),
            ("a.b", "txt"),
            ("a b", "txt"),
            ("k", ""),
            ("k", "."),
            ("k", "x/y"),
            ("k", "a b"),
        ] {
            assert!(
                matches!(bad(&mut w, key, ext), ItarError::BadName { .. }),
                "{key:?}.{ext:?}"
            );
        }
        let long = "k".repeat(97);
        assert!(matches!(
            bad(&mut w, &long, "txt"),
            ItarError::BadName { .. }
        ));
        // Exactly 100 bytes is allowed.
        w.write(&"k".repeat(96), &[("txt", b"x")]).unwrap();
        assert!(matches!(
            backend_kind(w.write("d", &[("a", b"1"), (".A", b"2")]).unwrap_err()),
            ItarError::Duplicate { .. }
        ));
        w.write("once", &[("txt", b"x")]).unwrap();
        assert!(matches!(
            bad(&mut w, "once", "json"),
            ItarError::Write { .. }
        ));
        assert!(matches!(
            backend_kind(w.write("empty", &[]).unwrap_err()),
            ItarError::Write { .. }
        ));
        for fold in ["", "a_b", "a/b"] {
            assert!(
                FoldWriter::create(d.path(), fold, opts()).is_err(),
                "{fold:?}"
            );
        }
    }

    #[test]
    fn shards_roll_over_before_a_sample() {
        let d = tempfile::tempdir().unwrap();
        let mut ds = DatasetWriter::create(
            d.path(),
            WriterOptions {
                shard_max_files: 2,
                ..opts()
            },
        )
        .unwrap();
        let f = ds.fold("train").unwrap();
        for i in 0..5 {
            f.write(&format!("s{i}"), &[("cls", b"1"), ("JPG", &[i as u8; 700])])
                .unwrap();
        }
        let files = ds.finish().unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "train_0000.tar",
                "train_0001.tar",
                "train_0002.tar",
                "train.taridx"
            ]
        );
        for p in &files[..3] {
            assert_eq!(std::fs::metadata(p).unwrap().len() % RECORD, 0);
        }
        let fold = Fold::open(&d.path().join("train.taridx")).unwrap();
        fold.verify().unwrap();
        assert_eq!(fold.index().extensions, ["cls", "jpg"]);
        assert_eq!(fold.index().n_stems, 5);
        assert!(fold.index().contiguous());
        let m = fold.find("s3", "jpg").unwrap().unwrap();
        assert_eq!(m.entry.fid, 1);
        assert_eq!(m.data, &[3u8; 700][..]);
        assert!(fold.find("s3", "png").unwrap().is_none());
        assert!(fold.find("s9", "jpg").unwrap().is_none());
        // The scan path rebuilds the same index.
        let scanned = Fold::scan(d.path(), "missing");
        assert!(scanned.is_err());
        std::fs::remove_file(d.path().join("train.taridx")).unwrap();
        let scanned = Fold::scan(d.path(), "train").unwrap();
        assert_eq!(scanned.index(), fold.index());
        scanned.write_index().unwrap();
        assert_eq!(
            Fold::open(&d.path().join("train.taridx")).unwrap().index(),
            fold.index()
        );
    }
}
