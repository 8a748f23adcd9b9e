//! [`RepositoryWriter`]: a MODE 3 repository from elements given in memory.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::Result;
use crate::ids::{Pid, Sid};
use crate::layout::Layout;
use crate::native::NativeConfig;
use crate::store::SignalStore;

use super::from_store::write_mode3;
use super::metadata::Mode3Options;
use super::mode3::check_pid;

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
/// let mut w = RepositoryWriter::new("mini", raw.catalog().clone())?;
/// let hgb = raw.catalog().signal("Hemoglobin")?.sid;
/// w.add(Pid(7), hgb, &[&20200101i32.to_le_bytes()[..], &13.5f32.to_le_bytes()].concat())?;
/// let out = tempfile::tempdir().unwrap();
/// let config = w.write(&out.path().join("mini"))?;
/// let repo = Repository::open(config)?;
/// assert_eq!(repo.signal(Pid(7), "Hemoglobin")?.len(), 1);
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
    ///
    /// # Errors
    /// As [`Mode3Options::new`] (an invalid dictionary of a catalog read from files).
    pub fn new(name: &str, catalog: Catalog) -> Result<RepositoryWriter> {
        let options = Mode3Options::new(name, &catalog)?;
        Ok(RepositoryWriter {
            catalog,
            options,
            elements: BTreeMap::new(),
            pids: BTreeSet::new(),
        })
    }

    /// A writer that reproduces the config, signals file and dictionaries of an existing
    /// repository config (name, `PREFIX`, texts byte for byte), with no elements yet.
    ///
    /// # Errors
    /// [`Error::Open`](crate::Error::Open), [`Error::Parse`](crate::Error::Parse) of the config and its texts.
    pub fn from_config(config: impl AsRef<Path>) -> Result<RepositoryWriter> {
        let NativeConfig {
            config, catalog, ..
        } = NativeConfig::read(config.as_ref())?;
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

    /// Test hook (feature `testing`): the next [`RepositoryWriter::write`] fails after
    /// `bytes` bytes.
    #[cfg(feature = "testing")]
    pub fn fail_after(mut self, bytes: u64) -> RepositoryWriter {
        self.options.fail_after = Some(bytes);
        self
    }

    /// Appends elements (whole elements of the signal's layout, little-endian) to `(pid, sid)`.
    ///
    /// # Errors
    /// [`Error::UnknownSid`](crate::Error::UnknownSid); [`Error::PartialElements`](crate::Error::PartialElements) for a partial element; [`Error::InvalidInput`](crate::Error::InvalidInput) for a pid beyond
    /// `i32`.
    pub fn add(&mut self, pid: Pid, sid: Sid, elements: &[u8]) -> Result<()> {
        let info = self.catalog.by_sid(sid)?;
        info.check_whole(pid, elements)?;
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
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a pid beyond `i32`.
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
        let view = MemoryView {
            catalog: &self.catalog,
            pids: self.pids.iter().copied().collect(),
            elements: &self.elements,
        };
        write_mode3(&view, out, &self.options)
    }
}

/// The writer's elements as a store (vectors sorted by time on the way out).
#[derive(Debug)]
struct MemoryView<'a> {
    catalog: &'a Catalog,
    pids: Vec<Pid>,
    elements: &'a BTreeMap<(Sid, Pid), Vec<u8>>,
}

impl SignalStore for MemoryView<'_> {
    fn catalog(&self) -> &Catalog {
        self.catalog
    }

    fn pids(&self) -> &[Pid] {
        &self.pids
    }

    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let layout = &self.catalog.by_sid(sid)?.layout;
        Ok(match self.elements.get(&(sid, pid)) {
            Some(b) => sort_by_time(layout, b),
            None => Cow::Borrowed(&[]),
        })
    }

    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> Result<()> {
        let layout = &self.catalog.by_sid(sid)?.layout;
        for ((_, pid), bytes) in self.elements.range((sid, Pid(0))..=(sid, Pid(u32::MAX))) {
            visit(*pid, &sort_by_time(layout, bytes));
        }
        Ok(())
    }
}

/// The elements sorted by time channels, stably; borrowed when already sorted.
pub(crate) fn sort_by_time<'a>(layout: &Layout, bytes: &'a [u8]) -> Cow<'a, [u8]> {
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
