//! Writing MODE 3 repositories: [`RepositoryWriter`] (elements held in memory),
//! [`write_mode3`] (any [`SignalStore`]) and [`add_signal`] (one more signal in place).
//!
//! Every writer is atomic. A new repository is built in a temporary sibling directory and
//! renamed into place ([`AtomicDir`]); a signal added to an existing repository goes to new
//! files first, and the renamed signals file publishes it last. A failure at any point leaves
//! the previous repository readable and unchanged.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use crate::atomic::{AtomicDir, AtomicFile};
use crate::catalog::{Catalog, SignalInfo};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::index::{write_index, STRIPPED_FORMAT};
use crate::native::pids::PidList;
use crate::native::{pids_path, signal_paths, write_pids};
use crate::repository::read_catalog;
use crate::store::SignalStore;
use crate::text::config::{fixed_signal_name, RepositoryConfig};
use crate::text::dict::DictEvent;
use crate::text::signals::SignalsFile;
use crate::time::TimeUnit;

/// The text files of a repository besides its binary data: description, time unit, the
/// signals file and the dictionaries, with the relative paths the config names them by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// `DESCRIPTION` (the original keeps only its first word).
    pub description: String,
    /// `TIMEUNIT`.
    pub time_unit: TimeUnit,
    /// Relative path of the signals file (the `SIGNAL` line); must be one of `files`.
    pub signals_file: String,
    /// `(relative path, bytes)` of the signals file and every dictionary, in `DICTIONARY`
    /// order (the original loader lists the signals file first).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    /// Texts regenerated from a catalog: `<name>.signals`, then one `dicts/dict.<section>`
    /// per dictionary section (a `DEFAULT` section that only repeats the signals file is
    /// left out: the signals file is read as a dictionary anyway).
    pub fn from_catalog(name: &str, catalog: &Catalog) -> Metadata {
        let signals_file = format!("{}.signals", sanitize(name));
        let mut files = vec![(signals_file.clone(), catalog.signals_text().into_bytes())];
        let mut used = BTreeSet::new();
        for section in catalog.dictionaries().sections() {
            let only_signals = section.events().iter().all(|e| match e {
                DictEvent::Def(code, n) => catalog
                    .signal(n)
                    .is_ok_and(|s| s.sid.0 as i64 == *code as i64),
                DictEvent::Set(..) => false,
            });
            if only_signals {
                continue;
            }
            let base = format!("dicts/dict.{}", sanitize(&section.names()[0]));
            let mut rel = base.clone();
            let mut n = 1;
            while !used.insert(rel.clone()) {
                n += 1;
                rel = format!("{base}_{n}");
            }
            files.push((rel, section.to_text().into_bytes()));
        }
        Metadata {
            description: name.to_string(),
            time_unit: catalog.time_unit(),
            signals_file,
            files,
        }
    }

    /// The texts of an existing repository config, copied byte for byte. Paths outside the
    /// config's metadata directory are re-homed under `dicts/`.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`] (the config), [`Error::Unsupported`] (no `SIGNAL` line).
    pub fn from_config(config: &RepositoryConfig) -> Result<Metadata> {
        let signals = config.signals.as_ref().ok_or_else(|| Error::Unsupported {
            path: config.path.clone(),
            what: "repository config without a SIGNAL line".into(),
        })?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut signals_file = None;
        for path in &config.dictionaries {
            let mut rel = relative_inside(path, &config.metadata_dir).unwrap_or_else(|| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "dict".into());
                format!("dicts/{}", sanitize(&name))
            });
            while files.iter().any(|(r, _)| *r == rel) {
                rel.push('_');
            }
            let bytes = fs::read(path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
            if path == signals {
                signals_file = Some(rel.clone());
            }
            files.push((rel, bytes));
        }
        let signals_file = signals_file.ok_or_else(|| Error::Unsupported {
            path: config.path.clone(),
            what: "SIGNAL file missing from the dictionary list".into(),
        })?;
        let description = config
            .description
            .split(['\t', ' '])
            .next()
            .unwrap_or("")
            .to_string();
        Ok(Metadata {
            description,
            time_unit: config.time_unit,
            signals_file,
            files,
        })
    }

    /// The `.repository` text MedConvert writes for MODE 3 (`DIR .`).
    pub fn config_text(&self, prefix: &str) -> String {
        let mut out = String::new();
        out.push_str(&format!("DESCRIPTION\t{}\n", self.description));
        out.push_str("DIR\t.\n");
        for (rel, _) in &self.files {
            out.push_str(&format!("DICTIONARY\t{rel}\n"));
        }
        out.push_str(&format!("SIGNAL\t{}\n", self.signals_file));
        out.push_str("MODE\t3\n");
        out.push_str(&format!("PREFIX\t{prefix}\n"));
        out.push_str(&format!("TIMEUNIT\t{}\n", self.time_unit.code()));
        out
    }

    pub(crate) fn write_files(&self, dir: &Path, budget: &Budget) -> Result<()> {
        for (rel, bytes) in &self.files {
            let mut out = Out::create(&dir.join(rel), budget)?;
            out.write(bytes)?;
            out.finish()?;
        }
        Ok(())
    }
}

/// `path` relative to `base` when it lies inside it, with only normal components.
fn relative_inside(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A file-name-safe form of a name (letters, digits, `_-.%#` kept; others become `_`).
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.%#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------
// Output with a byte budget (fault injection for tests).

/// Bytes left before an injected failure (`None`: no fault injection).
#[derive(Debug, Default)]
pub(crate) struct Budget(Option<Cell<u64>>);

impl Budget {
    pub(crate) fn new(fail_after: Option<u64>) -> Budget {
        Budget(fail_after.map(Cell::new))
    }

    /// How many of `n` bytes may be written; `Err` once the budget is spent.
    fn take(&self, n: usize) -> io::Result<usize> {
        match &self.0 {
            None => Ok(n),
            Some(left) => {
                let l = left.get();
                if l == 0 && n > 0 {
                    return Err(io::Error::other("injected fault: write budget exhausted"));
                }
                let k = (n as u64).min(l);
                left.set(l - k);
                Ok(k as usize)
            }
        }
    }
}

/// A file being written, named in errors, counting against a [`Budget`].
pub(crate) struct Out<'b, W: Write> {
    inner: W,
    path: PathBuf,
    budget: &'b Budget,
    written: u64,
}

impl<'b> Out<'b, BufWriter<File>> {
    /// Creates `path` (and its parent directories) inside a directory being built.
    pub(crate) fn create(path: &Path, budget: &'b Budget) -> Result<Self> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| Error::Open {
                path: parent.into(),
                source,
            })?;
        }
        let f = File::create(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        Ok(Out {
            inner: BufWriter::with_capacity(1 << 16, f),
            path: path.into(),
            budget,
            written: 0,
        })
    }

    /// Flushes and syncs the file.
    pub(crate) fn finish(self) -> Result<()> {
        let path = self.path;
        let f = self.inner.into_inner().map_err(|e| Error::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(|source| Error::Io { path, source })
    }
}

impl<'b> Out<'b, AtomicFile> {
    /// Starts an atomic replacement of `path`.
    pub(crate) fn atomic(path: &Path, budget: &'b Budget) -> Result<Self> {
        Ok(Out {
            inner: AtomicFile::create(path)?,
            path: path.into(),
            budget,
            written: 0,
        })
    }

    /// Renames the finished file into place.
    pub(crate) fn commit(self) -> Result<()> {
        self.inner.commit()
    }
}

impl<W: Write> Out<'_, W> {
    /// Writes all of `bytes`, or fails naming the file (an injected fault writes a prefix
    /// first, like a real short write would).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let io_err = |path: &Path, source| Error::Io {
            path: path.into(),
            source,
        };
        let k = self
            .budget
            .take(bytes.len())
            .map_err(|e| io_err(&self.path, e))?;
        self.inner
            .write_all(&bytes[..k])
            .map_err(|e| io_err(&self.path, e))?;
        self.written += k as u64;
        if k < bytes.len() {
            let _ = self.inner.flush();
            return Err(io_err(
                &self.path,
                io::Error::other("injected fault: write budget exhausted"),
            ));
        }
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn position(&self) -> u64 {
        self.written
    }
}

/// Writes a whole file inside a directory being built.
pub(crate) fn put(path: &Path, bytes: &[u8], budget: &Budget) -> Result<()> {
    let mut out = Out::create(path, budget)?;
    out.write(bytes)?;
    out.finish()
}

// ---------------------------------------------------------------------------------------
// Sources of elements.

/// Elements of signals, pid by pid.
pub(crate) trait Elements {
    /// Calls `f` for every pid with elements of `sid`, pids ascending, elements time-sorted.
    fn for_each(&self, sid: Sid, f: &mut dyn FnMut(Pid, &[u8]) -> Result<()>) -> Result<()>;
}

/// Where a writer takes a whole repository from: a store, or the in-memory writer.
pub(crate) trait Source: Elements {
    fn catalog(&self) -> &Catalog;
    /// Every pid of the repository, ascending.
    fn all_pids(&self) -> Cow<'_, [Pid]>;
    /// The elements of `(pid, sid)`, time-sorted.
    fn get(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>>;
}

impl Source for &dyn SignalStore {
    fn catalog(&self) -> &Catalog {
        SignalStore::catalog(*self)
    }
    fn all_pids(&self) -> Cow<'_, [Pid]> {
        Cow::Borrowed(self.pids())
    }
    fn get(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.get_bytes(pid, sid)
    }
}

impl Elements for &dyn SignalStore {
    fn for_each(&self, sid: Sid, f: &mut dyn FnMut(Pid, &[u8]) -> Result<()>) -> Result<()> {
        for &pid in self.pids() {
            let b = self.get_bytes(pid, sid)?;
            if !b.is_empty() {
                f(pid, &b)?;
            }
        }
        Ok(())
    }
}

/// Checks that `pid` fits the `i32` pid fields of the original formats.
pub(crate) fn check_pid(pid: Pid) -> Result<()> {
    if pid.0 > i32::MAX as u32 {
        return Err(Error::InvalidInput {
            what: format!("pid {pid} does not fit the formats' 32-bit signed pid fields"),
        });
    }
    Ok(())
}

/// Checks a vector of `sid` for whole elements.
pub(crate) fn check_elements(info: &SignalInfo, pid: Pid, bytes: &[u8]) -> Result<()> {
    if bytes.len() % info.layout.size() != 0 {
        return Err(Error::InvalidInput {
            what: format!(
                "pid {pid} signal {}: {} bytes is not a whole number of {}-byte elements",
                info.name,
                bytes.len(),
                info.layout.size()
            ),
        });
    }
    Ok(())
}

/// Writes `<prefix>_<SIG>.data` and `.idx` of one signal into a directory being built.
fn write_signal_pair<S: Source + ?Sized>(
    source: &S,
    info: &SignalInfo,
    prefix: &Path,
    budget: &Budget,
) -> Result<()> {
    let (data_path, idx_path) = signal_paths(prefix, &info.name);
    let mut data = Out::create(&data_path, budget)?;
    let entries = stream_signal(source, info, &mut data)?;
    data.finish()?;
    put(
        &idx_path,
        &write_index(info.sid.0 as i32, info.layout.size() as u32, &entries),
        budget,
    )
}

/// Writes the format word and every vector of `info` to `data`; returns `(pid, count)`.
fn stream_signal<S: Elements + ?Sized, W: Write>(
    source: &S,
    info: &SignalInfo,
    data: &mut Out<'_, W>,
) -> Result<Vec<(u32, u32)>> {
    data.write(&STRIPPED_FORMAT.to_le_bytes())?;
    let size = info.layout.size() as u64;
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    source.for_each(info.sid, &mut |pid, bytes| {
        check_pid(pid)?;
        check_elements(info, pid, bytes)?;
        let n = bytes.len() as u64 / size;
        total += n;
        if total > u32::MAX as u64 {
            return Err(Error::InvalidInput {
                what: format!(
                    "signal {}: more than 2^32-1 elements, beyond what a MODE 3 .idx addresses",
                    info.name
                ),
            });
        }
        if entries.last().is_some_and(|&(p, _)| p >= pid.0) {
            return Err(Error::InvalidInput {
                what: format!("signal {}: pids not ascending at {pid}", info.name),
            });
        }
        entries.push((pid.0, n as u32));
        data.write(bytes)
    })?;
    Ok(entries)
}

/// Names and options of a MODE 3 repository to write.
#[derive(Clone, Debug)]
pub struct Mode3Options {
    /// Config file stem: `<name>.repository`.
    pub name: String,
    /// `PREFIX`, relative to the output directory (default `data/<name>_rep`).
    pub prefix: String,
    /// Texts (signals file, dictionaries, description).
    pub metadata: Metadata,
    /// Also write the by-pid transpose (`__pids__<k>.pid_data` + `__pids__all.pid_idx`).
    pub transpose: bool,
    /// Test hook: fail with an I/O error after this many bytes.
    #[doc(hidden)]
    pub fail_after: Option<u64>,
    /// Replace an `out` that is not a previous repository (default: refuse it,
    /// [`Error::Occupied`]).
    pub force: bool,
}

impl Mode3Options {
    /// Options for a repository `<name>.repository` with texts regenerated from `catalog`.
    pub fn new(name: &str, catalog: &Catalog) -> Mode3Options {
        let name = sanitize(name);
        Mode3Options {
            prefix: format!("data/{name}_rep"),
            metadata: Metadata::from_catalog(&name, catalog),
            name,
            transpose: false,
            fail_after: None,
            force: false,
        }
    }

    /// Options that reproduce an existing config's name, `PREFIX` and texts byte for byte.
    ///
    /// # Errors
    /// As [`Metadata::from_config`].
    pub fn from_config(config: &RepositoryConfig) -> Result<Mode3Options> {
        let name = config
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        let prefix = if relative_inside(&config.prefix_path(), &config.dir).is_some() {
            config.prefix.clone()
        } else {
            format!("data/{}_rep", sanitize(&name))
        };
        Ok(Mode3Options {
            name: sanitize(&name),
            prefix,
            metadata: Metadata::from_config(config)?,
            transpose: false,
            fail_after: None,
            force: false,
        })
    }
}

/// Checks that `out` may be replaced ([`crate::atomic::check_target`]): absent, empty, or a
/// previous repository `<name>.repository` holding nothing else, unless `force`.
pub(crate) fn check_target(out: &Path, config_name: &str, prefix: &str, force: bool) -> Result<()> {
    let kind = crate::atomic::OutputKind::Repository {
        config: Some(config_name),
        prefix,
        files: &[],
    };
    crate::atomic::check_target(out, kind, force)
}

pub(crate) fn write_mode3_source<S: Source + ?Sized>(
    source: &S,
    out: &Path,
    options: &Mode3Options,
) -> Result<PathBuf> {
    let config_name = format!("{}.repository", options.name);
    check_target(out, &config_name, &options.prefix, options.force)?;
    if relative_inside(&out.join(&options.prefix), out).is_none() {
        return Err(Error::InvalidInput {
            what: format!("PREFIX {:?} must be a relative path", options.prefix),
        });
    }
    let budget = Budget::new(options.fail_after);
    let dir = AtomicDir::create(out)?;
    let root = dir.path().to_path_buf();
    let meta = &options.metadata;
    // The catalog the written texts define must describe the same signals.
    check_metadata(meta, source.catalog())?;
    meta.write_files(&root, &budget)?;
    let prefix = root.join(&options.prefix);
    let catalog = source.catalog();
    for info in catalog.signals() {
        write_signal_pair(source, info, &prefix, &budget)?;
    }
    let pids = source.all_pids();
    for &p in pids.iter() {
        check_pid(p)?;
    }
    put(&pids_path(&prefix), &write_pids(&pids), &budget)?;
    if options.transpose {
        crate::native::transpose::write_transpose_source(source, &prefix, &budget)?;
    }
    put(
        &root.join(&config_name),
        meta.config_text(&options.prefix).as_bytes(),
        &budget,
    )?;
    dir.commit()?;
    Ok(out.join(config_name))
}

/// The signals file of `meta` must define the catalog's signals (name, sid, layout).
fn check_metadata(meta: &Metadata, catalog: &Catalog) -> Result<()> {
    let (_, text) = meta
        .files
        .iter()
        .find(|(r, _)| *r == meta.signals_file)
        .ok_or_else(|| Error::InvalidInput {
            what: format!(
                "signals file {} not among the metadata files",
                meta.signals_file
            ),
        })?;
    let text: String = String::from_utf8_lossy(text).into_owned();
    let parsed = SignalsFile::parse(Path::new(&meta.signals_file), &text, meta.time_unit)?;
    let same = parsed.signals.len() == catalog.signals().len()
        && parsed.signals.iter().all(|s| {
            catalog
                .signal(&s.name)
                .is_ok_and(|c| c.sid == s.sid && c.layout == s.layout)
        });
    if !same {
        return Err(Error::InvalidInput {
            what: format!(
                "signals file {} does not define the signals being written",
                meta.signals_file
            ),
        });
    }
    Ok(())
}

/// Writes any store as a MODE 3 repository in the directory `out` (created, or replaced if
/// it holds `<name>.repository`), byte for byte as the original loader writes the same
/// content. Returns the config path.
///
/// # Errors
/// [`Error::InvalidInput`] (a pid beyond `i32`, vectors not whole elements, `out` not a
/// repository directory), I/O errors naming the file; the store's read errors. On error
/// nothing at `out` has changed.
///
/// # Examples
/// ```
/// use inframed::native::writer::{write_mode3, Mode3Options};
/// use inframed::{Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let out = tempfile::tempdir().unwrap();
/// let options = Mode3Options::new("copy", repo.catalog());
/// let config = write_mode3(&repo, &out.path().join("copy"), &options)?;
/// assert_eq!(Repository::open(config)?.pids(), repo.pids());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn write_mode3(store: &dyn SignalStore, out: &Path, options: &Mode3Options) -> Result<PathBuf> {
    write_mode3_source(&store, out, options)
}

// ---------------------------------------------------------------------------------------
// In-memory writer.

/// Builds a MODE 3 repository from elements given in memory, then writes it atomically.
///
/// Vectors are sorted by their time channels (stable: equal times keep the order given);
/// elements are not de-duplicated. Every signal of the catalog gets its file pair, the empty
/// form for a signal without elements, as the original loader does.
///
/// # Examples
/// ```
/// use inframed::native::writer::RepositoryWriter;
/// use inframed::{Pid, Repository, Sid, SignalStore};
/// let raw = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let mut w = RepositoryWriter::new("mini", raw.catalog().clone());
/// let hgb = raw.catalog().signal("Hemoglobin")?.sid;
/// w.add(Pid(7), hgb, &[&20200101i32.to_le_bytes()[..], &13.5f32.to_le_bytes()].concat())?;
/// let out = tempfile::tempdir().unwrap();
/// let config = w.write(&out.path().join("mini"))?;
/// let repo = Repository::open(config)?;
/// assert_eq!(repo.get(Pid(7), "Hemoglobin")?.len(), 1);
/// # Ok::<_, inframed::Error>(())
/// ```
#[derive(Debug)]
pub struct RepositoryWriter {
    catalog: Catalog,
    options: Mode3Options,
    elements: BTreeMap<(Sid, Pid), Vec<u8>>,
    pids: BTreeSet<Pid>,
}

impl RepositoryWriter {
    /// A writer of `<name>.repository` over `catalog`'s signals (texts regenerated from it).
    pub fn new(name: &str, catalog: Catalog) -> RepositoryWriter {
        let options = Mode3Options::new(name, &catalog);
        RepositoryWriter {
            catalog,
            options,
            elements: BTreeMap::new(),
            pids: BTreeSet::new(),
        }
    }

    /// A writer that reproduces the config, signals file and dictionaries of an existing
    /// repository config (name, `PREFIX`, texts byte for byte), with no elements yet.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`] of the config and its texts.
    pub fn from_config(config: impl AsRef<Path>) -> Result<RepositoryWriter> {
        let config = RepositoryConfig::read(config.as_ref())?;
        let (catalog, _) = read_catalog(&config)?;
        Ok(RepositoryWriter {
            options: Mode3Options::from_config(&config)?,
            catalog,
            elements: BTreeMap::new(),
            pids: BTreeSet::new(),
        })
    }

    /// Replaces the options (name, prefix, texts, transpose).
    pub fn with_options(mut self, options: Mode3Options) -> RepositoryWriter {
        self.options = options;
        self
    }

    /// The options.
    pub fn options_mut(&mut self) -> &mut Mode3Options {
        &mut self.options
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Test hook: the next [`RepositoryWriter::write`] fails after `bytes` bytes.
    #[doc(hidden)]
    pub fn fail_after(mut self, bytes: u64) -> RepositoryWriter {
        self.options.fail_after = Some(bytes);
        self
    }

    /// Appends elements (whole elements of the signal's layout, little-endian) to `(pid, sid)`.
    ///
    /// # Errors
    /// [`Error::UnknownSid`]; [`Error::InvalidInput`] for a partial element or a pid beyond
    /// `i32`.
    pub fn add(&mut self, pid: Pid, sid: Sid, elements: &[u8]) -> Result<()> {
        let info = self.catalog.by_sid(sid)?;
        check_elements(info, pid, elements)?;
        check_pid(pid)?;
        self.pids.insert(pid);
        if !elements.is_empty() {
            self.elements
                .entry((sid, pid))
                .or_default()
                .extend_from_slice(elements);
        }
        Ok(())
    }

    /// Adds a patient to `_all_pids.list` even if it has no elements.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a pid beyond `i32`.
    pub fn add_pid(&mut self, pid: Pid) -> Result<()> {
        check_pid(pid)?;
        self.pids.insert(pid);
        Ok(())
    }

    /// Writes the repository into the directory `out` (created, or replaced if it holds
    /// this writer's `<name>.repository`); returns the config path.
    ///
    /// # Errors
    /// As [`write_mode3`]. On error nothing at `out` has changed.
    pub fn write(&self, out: &Path) -> Result<PathBuf> {
        write_mode3_source(self, out, &self.options)
    }
}

impl Source for RepositoryWriter {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }
    fn all_pids(&self) -> Cow<'_, [Pid]> {
        Cow::Owned(self.pids.iter().copied().collect())
    }
    fn get(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let layout = &self.catalog.by_sid(sid)?.layout;
        Ok(match self.elements.get(&(sid, pid)) {
            Some(b) => sort_by_time(layout, b),
            None => Cow::Borrowed(&[]),
        })
    }
}

impl Elements for RepositoryWriter {
    fn for_each(&self, sid: Sid, f: &mut dyn FnMut(Pid, &[u8]) -> Result<()>) -> Result<()> {
        let layout = &self.catalog.by_sid(sid)?.layout;
        for ((_, pid), bytes) in self.elements.range((sid, Pid(0))..=(sid, Pid(u32::MAX))) {
            f(*pid, &sort_by_time(layout, bytes))?;
        }
        Ok(())
    }
}

/// The elements sorted by time channels, stably; borrowed when already sorted.
pub(crate) fn sort_by_time<'a>(layout: &crate::layout::Layout, bytes: &'a [u8]) -> Cow<'a, [u8]> {
    let size = layout.size();
    let sorted = bytes
        .chunks_exact(size)
        .zip(bytes.chunks_exact(size).skip(1))
        .all(|(a, b)| layout.cmp_time(a, b).is_le());
    if sorted {
        return Cow::Borrowed(bytes);
    }
    let mut elems: Vec<&[u8]> = bytes.chunks_exact(size).collect();
    elems.sort_by(|a, b| layout.cmp_time(a, b));
    Cow::Owned(elems.concat())
}

// ---------------------------------------------------------------------------------------
// Adding a signal to an existing repository.

/// A signal to add to an existing repository (a calculated or cleaned signal).
#[derive(Clone, Debug)]
pub struct NewSignal {
    /// Name (must be new, and its file name form too).
    pub name: String,
    /// Signal id (must be new; < 100,000 for the original tools).
    pub sid: Sid,
    /// Type field as in the signals file: `16:<spec or alias>`, a legacy number, or a spec.
    pub type_field: String,
    /// Description field.
    pub description: String,
    /// Categorical bitmap (`0`/`1` per value channel; empty: none).
    pub categorical: String,
    /// Units field.
    pub units: String,
    /// Dictionary text (a `SECTION <name>` with its `DEF`s) for categorical channels; written
    /// as `dicts/dict.<name>` and added to the config.
    pub dictionary: Option<String>,
}

impl NewSignal {
    /// A non-categorical signal of the given type field (e.g. `16:T(i),V(f)`).
    pub fn new(name: &str, sid: Sid, type_field: &str) -> NewSignal {
        NewSignal {
            name: name.into(),
            sid,
            type_field: type_field.into(),
            description: String::new(),
            categorical: String::new(),
            units: String::new(),
            dictionary: None,
        }
    }

    fn line(&self) -> String {
        format!(
            "SIGNAL\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name, self.sid, self.type_field, self.description, self.categorical, self.units
        )
    }
}

/// Adds `signal` with `elements` (per pid, whole elements) to the MODE 3 repository of
/// `config`, atomically and safely for readers that have it open: the `.data`/`.idx` pair
/// (and dictionary, pid list) are written as new files first, then the config (if a
/// dictionary was added) and finally the signals file are replaced by rename. Readers that
/// opened the repository before keep their view; readers opening after see the signal.
/// A by-pid transpose, which would no longer hold every signal, is removed (rebuild it with
/// [`crate::native::transpose::build_transpose`]).
///
/// Vectors are sorted by time (stable); pids not yet in `_all_pids.list` are added to it.
///
/// # Errors
/// [`Error::InvalidInput`] (name, file name or sid already used; bad type field; partial
/// elements), [`Error::Unsupported`] (not MODE 3), I/O errors. On error the repository is
/// unchanged for readers (files written before the failure are removed when unreferenced).
pub fn add_signal(
    config: impl AsRef<Path>,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
) -> Result<()> {
    add_signal_with(config.as_ref(), signal, elements, None)
}

/// [`add_signal`] with a fault-injection budget (tests).
#[doc(hidden)]
pub fn add_signal_with(
    config_path: &Path,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
    fail_after: Option<u64>,
) -> Result<()> {
    let config = RepositoryConfig::read(config_path)?;
    if config.mode != 3 {
        return Err(Error::Unsupported {
            path: config_path.into(),
            what: format!("adding a signal to a MODE {} repository", config.mode),
        });
    }
    let signals_path = config.signals.clone().ok_or_else(|| Error::Unsupported {
        path: config_path.into(),
        what: "repository config without a SIGNAL line".into(),
    })?;
    let (catalog, _) = read_catalog(&config)?;
    let fixed = fixed_signal_name(&signal.name);
    if let Some(s) = catalog
        .signals()
        .iter()
        .find(|s| fixed_signal_name(&s.name) == fixed || s.sid == signal.sid)
    {
        return Err(Error::InvalidInput {
            what: format!(
                "signal {} (sid {}) clashes with existing signal {} (sid {})",
                signal.name, signal.sid, s.name, s.sid
            ),
        });
    }
    // The new signals file must parse, with the new signal resolved like the others.
    let old_text = fs::read(&signals_path).map_err(|source| Error::Open {
        path: signals_path.clone(),
        source,
    })?;
    let mut new_text = old_text.clone();
    if !new_text.is_empty() && !new_text.ends_with(b"\n") {
        new_text.push(b'\n');
    }
    new_text.extend_from_slice(signal.line().as_bytes());
    new_text.push(b'\n');
    let parsed = SignalsFile::parse(
        &signals_path,
        &String::from_utf8_lossy(&new_text),
        config.time_unit,
    )?;
    let info = parsed
        .signals
        .into_iter()
        .find(|s| s.name == signal.name)
        .ok_or_else(|| Error::InvalidInput {
            what: format!("signal {} did not parse", signal.name),
        })?;
    // Elements, per pid, time-sorted.
    let mut by_pid: BTreeMap<Pid, Vec<u8>> = BTreeMap::new();
    for (pid, bytes) in elements {
        check_pid(pid)?;
        check_elements(&info, pid, &bytes)?;
        if !bytes.is_empty() {
            by_pid.entry(pid).or_default().extend_from_slice(&bytes);
        }
    }
    let budget = Budget::new(fail_after);
    let prefix = config.prefix_path();
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        let mut config_text = None;
        if let Some(dict) = &signal.dictionary {
            let rel = format!("dicts/dict.{}", sanitize(&fixed));
            let path = config.metadata_dir.join(&rel);
            // Already listed (an earlier attempt failed after publishing the config): the
            // section is unused until the signal exists, so replacing the file is safe.
            let listed = config.dictionaries.contains(&path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|source| Error::Open {
                    path: parent.into(),
                    source,
                })?;
            }
            let mut out = Out::atomic(&path, &budget)?;
            out.write(dict.as_bytes())?;
            out.commit()?;
            if !listed {
                created.push(path);
                config_text = Some(with_dictionary_line(config_path, &rel)?);
            }
        }
        let (data_path, idx_path) = signal_paths(&prefix, &signal.name);
        let source = Single {
            info: &info,
            by_pid: &by_pid,
        };
        let mut data = Out::atomic(&data_path, &budget)?;
        let entries = stream_signal(&source, &info, &mut data)?;
        data.commit()?;
        created.push(data_path);
        let mut idx = Out::atomic(&idx_path, &budget)?;
        idx.write(&write_index(
            info.sid.0 as i32,
            info.layout.size() as u32,
            &entries,
        ))?;
        idx.commit()?;
        created.push(idx_path);
        // Pids not yet in the list.
        let list_path = pids_path(&prefix);
        let list = PidList::parse(&list_path, crate::mmap::map(&list_path)?)?;
        let old: &[Pid] = list.as_slice();
        if by_pid.keys().any(|p| old.binary_search(p).is_err()) {
            let mut all: BTreeSet<Pid> = old.iter().copied().collect();
            all.extend(by_pid.keys().copied());
            let all: Vec<Pid> = all.into_iter().collect();
            let mut out = Out::atomic(&list_path, &budget)?;
            out.write(&write_pids(&all))?;
            out.commit()?;
        }
        drop(list);
        crate::native::transpose::remove_transpose(&prefix)?;
        // Past this point the new files are referenced: keep them whatever happens.
        created.clear();
        if let Some(text) = config_text {
            let mut out = Out::atomic(config_path, &budget)?;
            out.write(text.as_bytes())?;
            out.commit()?;
        }
        let mut out = Out::atomic(&signals_path, &budget)?;
        out.write(&new_text)?;
        out.commit()
    })();
    if result.is_err() {
        for p in &created {
            let _ = fs::remove_file(p);
        }
    }
    result
}

/// The config text with `DICTIONARY <rel>` added after the last `DICTIONARY` line.
fn with_dictionary_line(config_path: &Path, rel: &str) -> Result<String> {
    let text = crate::text::read_text(config_path)?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let line = format!("DICTIONARY\t{rel}\n");
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("DICTIONARY\t"))
        .map_or(lines.len(), |i| i + 1);
    if at == lines.len() && lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.push("\n");
    }
    lines.insert(at.min(lines.len()), &line);
    Ok(lines.concat())
}

/// One signal's elements, as a [`Source`].
struct Single<'a> {
    info: &'a SignalInfo,
    by_pid: &'a BTreeMap<Pid, Vec<u8>>,
}

impl Elements for Single<'_> {
    fn for_each(&self, _sid: Sid, f: &mut dyn FnMut(Pid, &[u8]) -> Result<()>) -> Result<()> {
        for (pid, bytes) in self.by_pid {
            f(*pid, &sort_by_time(&self.info.layout, bytes))?;
        }
        Ok(())
    }
}
