//! `Repository`: opens a config or a container, resolves signal names, stacks stores.

use crate::error::InputError;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hashbrown::HashMap;

use crate::catalog::{Catalog, SignalInfo};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::transpose::{PatientRecord, Transpose};
use crate::native::{LegacyStore, NativeConfig, NativeStore};
use crate::signal::Signal;
use crate::store::{SignalKey, SignalStore, SignalStoreExt, StoreDescription};
use crate::text::config::RepositoryConfig;
use crate::text::dict::{Dictionaries, Section};
use crate::Warning;

mod generation;

use generation::{open_one_generation, sniff, Kind, Sniffed};

/// One store of a repository, with the path it was opened from.
#[derive(Debug)]
pub struct Layer {
    /// Config or container path.
    pub path: PathBuf,
    /// The store.
    pub store: Box<dyn SignalStore>,
}

/// A repository: one store, or several stacked (raw data, then calculated or cleaned signals).
/// A signal name or sid resolves to the **last** layer that defines it.
///
/// Opening is lazy and cheap: files are opened, and a MODE 3 signal's files are mapped and
/// their headers checked on the signal's first read (a damaged file's error comes then, at
/// every read of that signal); no element is read at open.
/// Reads take no locks; a `Repository` is `Send + Sync` and can be shared across threads.
///
/// Files must not be modified in place while a repository is open (they are memory-mapped):
/// write new files and rename them over the old ones, as inframed's writers and the original
/// tools do.
///
/// While inframed writers update a repository (`LOAD_ONLY` convert, `add_signal`, `inframed
/// index`), every read through one open `Repository` comes from one complete generation of
/// it: an open that overlaps a directory swap is made again (see docs/reliability.md), and
/// maps already made keep the old files alive.
///
/// # Examples
/// ```
/// use inframed::{Pid, Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// assert_eq!(repo.pids().len(), 40);
/// // One patient's Hemoglobin: time channel 0 is a YYYYMMDD date, value channel 0 the result.
/// let hgb = repo.signal(Pid(1025), "Hemoglobin")?;
/// assert_eq!(hgb.time(0, 0).as_i64(), 20100101);
/// assert_eq!(hgb.value(0, 0).as_f64(), 12.0);
/// // A stack: later layers override signals by name.
/// let stacked = Repository::open_stacked(&[
///     "testdata/inframed/small/repo/small.repository",
///     "testdata/inframed/small/repo/small.repository",
/// ])?;
/// assert_eq!(stacked.layers().len(), 2);
/// # Ok::<_, inframed::Error>(())
/// ```
#[derive(Debug)]
pub struct Repository {
    layers: Vec<Layer>,
    merged: Option<Catalog>,
    route: HashMap<Sid, usize>,
    pids: OnceLock<Vec<Pid>>,
    warnings: Vec<Warning>,
    /// Per layer, its by-pid transpose (opened with the stores by [`Repository::open`], or on
    /// the first `patient` call).
    transposes: OnceLock<Vec<Option<Transpose>>>,
    /// Signal name → catalog position for the by-name lookups, built on the first one.
    names: OnceLock<NameIndex>,
}

impl Repository {
    /// Opens a repository config (`*.repository`) or a container (`.iac`, `.gnz`, `.trx`,
    /// an indexed-tar dataset).
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`] (`file:line`), [`Error::Corrupt`] (`file`, byte
    /// offset), [`Error::Unsupported`].
    ///
    /// # Examples
    /// ```
    /// use inframed::{Pid, Repository};
    /// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
    /// let hgb = repo.signal(Pid(1025), "Hemoglobin")?;
    /// for e in hgb.iter() {
    ///     println!("{} {}", e.time(0), e.value(0));
    /// }
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Repository> {
        open_one_generation(&[path.as_ref()], None, Repository::from_sniffed)
    }

    /// Opens `path` read as `format` (`--format`) instead of the format its content shows.
    ///
    /// # Errors
    /// As [`Repository::open`] (the forced reader's errors).
    pub fn open_as(path: impl AsRef<Path>, format: crate::backend::Format) -> Result<Repository> {
        open_one_generation(&[path.as_ref()], Some(format), Repository::from_sniffed)
    }

    /// Opens several repositories stacked in order (later ones override signals by name).
    ///
    /// # Errors
    /// As [`Repository::open`]; [`Error::InvalidInput`] when two layers give one sid to
    /// different signal names.
    pub fn open_stacked<P: AsRef<Path>>(paths: &[P]) -> Result<Repository> {
        if paths.is_empty() {
            return Err(InputError::Empty {
                what: "repository given",
            }
            .into());
        }
        let paths: Vec<&Path> = paths.iter().map(AsRef::as_ref).collect();
        open_one_generation(&paths, None, Repository::from_sniffed)
    }

    /// The repository of the paths [`open_one_generation`] read, in order, with their by-pid
    /// transposes opened now rather than on the first [`Repository::patient`] call, so that
    /// they belong to the same generation of the files as the stores. A transpose that fails
    /// to open is left to `patient`, which reports the error.
    fn from_sniffed(sniffed: Vec<Sniffed>) -> Result<Repository> {
        let mut prefixes = Vec::with_capacity(sniffed.len());
        let mut layers = Vec::with_capacity(sniffed.len());
        for s in sniffed {
            prefixes.push(s.transpose_prefix());
            layers.push(open_layer_sniffed(s)?);
        }
        let repo = Repository::from_layers(layers)?;
        if let Ok(t) = repo
            .layers
            .iter()
            .zip(&prefixes)
            .map(|(l, p)| match p {
                Some(p) => Transpose::open(p, l.store.catalog()),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()
        {
            let _ = repo.transposes.set(t);
        }
        Ok(repo)
    }

    /// A repository over stores already opened.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when two layers give one sid to different signal names.
    pub fn from_layers(layers: Vec<Layer>) -> Result<Repository> {
        let mut merged: Option<Catalog> = None;
        let mut route = HashMap::new();
        let mut warnings = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            warnings.extend(l.store.warnings().iter().cloned());
            for s in l.store.catalog().signals() {
                route.insert(s.sid, i);
            }
            if i > 0 {
                let m = merged.get_or_insert_with(|| layers[0].store.catalog().clone());
                m.stack(l.store.catalog())?;
            }
        }
        Ok(Repository {
            layers,
            merged,
            route,
            pids: OnceLock::new(),
            warnings,
            transposes: OnceLock::new(),
            names: OnceLock::new(),
        })
    }

    /// The layers, bottom first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The signal named `name` and the index of the layer that serves it.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`].
    pub fn resolve(&self, name: &str) -> Result<(usize, &SignalInfo)> {
        let info = self.catalog().signal(name)?;
        Ok((self.route[&info.sid], info))
    }

    /// One patient's vector of a signal (by name or sid) as a [`Signal`] view, time-sorted,
    /// borrowed from the map: [`SignalStoreExt::signal`], here so that no trait import is
    /// needed.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] / [`Error::UnknownSid`]; [`Error::Corrupt`] if the index points
    /// outside the data.
    #[inline]
    pub fn signal(&self, pid: Pid, signal: impl SignalKey) -> Result<Signal<'_>> {
        if let Some(info) = signal.name().and_then(|n| self.by_name(n)) {
            let bytes = self.get_bytes(pid, info.sid)?;
            return Signal::new(bytes, &info.layout, pid, info.sid);
        }
        SignalStoreExt::signal(self, pid, signal)
    }

    /// The signal named `name` through [`NameIndex`] (`None`: unknown, the caller then asks
    /// the catalog, which gives the error).
    #[inline]
    fn by_name(&self, name: &str) -> Option<&SignalInfo> {
        let catalog = self.catalog();
        let names = self.names.get_or_init(|| NameIndex::new(catalog));
        names.find(name, catalog.signals())
    }

    /// One patient's vector of a signal (by name or sid) as a typed slice of `#[repr(C)]`
    /// elements (see [`crate::element`]), borrowed from the map where aligned, copied
    /// otherwise: [`SignalStoreExt::get`], here so that no trait import is needed.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] / [`Error::UnknownSid`]; [`Error::WrongType`] if `T` is not
    /// the signal's layout.
    #[inline]
    pub fn get<T: crate::element::Element>(
        &self,
        pid: Pid,
        signal: impl SignalKey,
    ) -> Result<Cow<'_, [T]>> {
        match signal.name().and_then(|n| self.by_name(n)) {
            Some(info) => SignalStoreExt::get::<T>(self, pid, info.sid),
            None => SignalStoreExt::get::<T>(self, pid, signal),
        }
    }

    /// The dictionaries of every layer (later layers' definitions read after earlier ones'),
    /// parsed on the first call: an open maps the dictionary files and parses none of them.
    ///
    /// # Errors
    /// [`Error::Parse`] naming `file:line` of an invalid dictionary line (the error an eager
    /// parse at open gave), at every call.
    pub fn dictionaries(&self) -> Result<&Dictionaries> {
        self.catalog().dictionaries()
    }

    /// The dictionary section of a categorical signal.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] if the signal has no section; as
    /// [`Repository::dictionaries`] for an invalid dictionary.
    pub fn section(&self, signal: &str) -> Result<&Section> {
        self.catalog()
            .section_of(signal)?
            .ok_or_else(|| Error::UnknownSignal {
                name: signal.into(),
            })
    }

    /// One patient's whole record: `(sid, elements)` for every non-empty signal, sids
    /// ascending, each signal from the layer that serves it. A layer with a by-pid transpose
    /// (`inframed index`) serves its part in one contiguous read of its `.pid_data`, borrowed
    /// from the map; other layers are read signal by signal. An unknown pid gives an empty
    /// record.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file and offset of a damaged record or index.
    ///
    /// # Examples
    /// ```
    /// use inframed::{Pid, Repository, SignalStore};
    /// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
    /// let rec = repo.patient(Pid(1025))?;
    /// let hgb = repo.catalog().signal("Hemoglobin")?.sid;
    /// assert_eq!(rec.get(hgb), &repo.signal(Pid(1025), "Hemoglobin")?.bytes()[..]);
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn patient(&self, pid: Pid) -> Result<PatientRecord<'_>> {
        let transposes = match self.transposes.get() {
            Some(t) => t,
            None => {
                let t = self
                    .layers
                    .iter()
                    .map(open_transpose)
                    .collect::<Result<Vec<_>>>()?;
                let _ = self.transposes.set(t);
                self.transposes.get().expect("just set")
            }
        };
        let mut parts: Vec<PatientRecord<'_>> = Vec::with_capacity(self.layers.len());
        for (layer, t) in self.layers.iter().zip(transposes) {
            let rec = match t {
                Some(t) => t.record(pid)?.unwrap_or_default(),
                None => {
                    let mut sigs = Vec::new();
                    for s in layer.store.catalog().signals() {
                        sigs.push((s.sid, layer.store.get_bytes(pid, s.sid)?));
                    }
                    PatientRecord::new(pid, sigs)
                }
            };
            parts.push(rec);
        }
        if parts.len() == 1 {
            let rec = parts.pop().expect("one layer");
            return Ok(PatientRecord::new(pid, rec.signals().to_vec()));
        }
        let mut sigs = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            for (sid, bytes) in part.signals() {
                if self.route.get(sid) == Some(&i) {
                    sigs.push((*sid, bytes.clone()));
                }
            }
        }
        Ok(PatientRecord::new(pid, sigs))
    }
}

impl Repository {
    /// `get_bytes` over stacked layers: the layer that defines `sid`. Kept out of line so
    /// that the one-layer path stays small.
    #[inline(never)]
    fn get_bytes_layered(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let layer = *self.route.get(&sid).ok_or(Error::UnknownSid { sid })?;
        self.layers[layer].store.get_bytes(pid, sid)
    }
}

impl SignalStore for Repository {
    fn catalog(&self) -> &Catalog {
        self.merged
            .as_ref()
            .unwrap_or_else(|| self.layers[0].store.catalog())
    }

    fn pids(&self) -> &[Pid] {
        if self.layers.len() == 1 {
            return self.layers[0].store.pids();
        }
        self.pids.get_or_init(|| {
            let mut all: Vec<Pid> = self
                .layers
                .iter()
                .flat_map(|l| l.store.pids().iter().copied())
                .collect();
            all.sort_unstable();
            all.dedup();
            all
        })
    }

    /// One layer: its store's `get_bytes`, nothing else (small, so that it inlines into the
    /// caller's loop and a lookup makes one call, the store's); several: see
    /// `get_bytes_layered`.
    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        match self.layers.as_slice() {
            [one] => one.store.get_bytes(pid, sid),
            _ => self.get_bytes_layered(pid, sid),
        }
    }

    fn signal_region(&self, sid: Sid) -> Option<&[u8]> {
        if self.layers.len() == 1 {
            return self.layers[0].store.signal_region(sid);
        }
        let layer = *self.route.get(&sid)?;
        self.layers[layer].store.signal_region(sid)
    }

    /// Batched lookups (see [`SignalStore::get_many`]): a one-layer repository hands the
    /// whole batch to its store (the native store overlaps the keys' cache misses); stacked
    /// layers look keys up one by one.
    fn get_many<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        if self.layers.len() == 1 {
            return self.layers[0].store.get_many(keys, out);
        }
        out.clear();
        out.reserve(keys.len());
        for &(pid, sid) in keys {
            out.push(self.get_bytes(pid, sid)?);
        }
        Ok(())
    }

    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> Result<()> {
        let layer = *self.route.get(&sid).ok_or(Error::UnknownSid { sid })?;
        self.layers[layer].store.scan(sid, visit)
    }

    fn describe(&self) -> StoreDescription {
        let mut d = StoreDescription::default();
        for l in &self.layers {
            let x = l.store.describe();
            d.format = if d.format.is_empty() {
                x.format
            } else {
                format!("{} + {}", d.format, x.format)
            };
            d.files.extend(x.files);
        }
        d
    }

    /// Also parses the dictionaries (an open leaves them to first use).
    fn verify(&self) -> Result<()> {
        self.catalog().dictionaries()?;
        for l in &self.layers {
            l.store.verify()?;
        }
        Ok(())
    }

    /// Each layer's own steps; with several layers, layer `i` of `n` covers the `i`-th n-th
    /// of one scale (1,000 steps per layer).
    fn verify_with(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.catalog().dictionaries()?;
        if let [one] = self.layers.as_slice() {
            return one.store.verify_with(progress);
        }
        const STEPS: u64 = 1000;
        let total = STEPS * self.layers.len() as u64;
        for (i, l) in self.layers.iter().enumerate() {
            let base = STEPS * i as u64;
            l.store.verify_with(&mut |done, of| {
                progress(base + done.min(of) * STEPS / of.max(1), total)
            })?;
        }
        progress(total, total);
        Ok(())
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// A signal name → catalog position table for [`Repository::signal`] by name, answering
/// exactly what [`Catalog::signal`] answers (built from it) without a string hash or a
/// `memcmp` call: open addressing over a multiply of the name's first and last 8 bytes and
/// its length; a name of at most 16 bytes is compared as those two words, a longer one byte
/// for byte.
#[derive(Debug)]
struct NameIndex {
    /// `(first word, last word, length, position + 1)`; position 0 is an empty slot.
    slots: Vec<(u64, u64, u32, u32)>,
    shift: u32,
}

impl NameIndex {
    fn new(catalog: &Catalog) -> NameIndex {
        let signals = catalog.signals();
        let bits = (signals.len() * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(3);
        let mut t = NameIndex {
            slots: vec![(0, 0, 0, 0); 1 << bits],
            shift: 64 - bits,
        };
        let mask = t.slots.len() - 1;
        for (pos, s) in signals.iter().enumerate() {
            // Only names the catalog resolves to this very entry (it always does: names are
            // unique in a catalog; the check keeps the table a pure cache of it).
            let resolves = catalog
                .signal(&s.name)
                .is_ok_and(|found| std::ptr::eq(found, s));
            let (Ok(len), Ok(pos1)) = (u32::try_from(s.name.len()), u32::try_from(pos + 1)) else {
                continue;
            };
            if !resolves {
                continue;
            }
            let (a, z) = words(s.name.as_bytes());
            let mut i = t.home(a, z, len);
            while t.slots[i].3 != 0 {
                i = (i + 1) & mask;
            }
            t.slots[i] = (a, z, len, pos1);
        }
        t
    }

    #[inline]
    fn home(&self, a: u64, z: u64, len: u32) -> usize {
        let h = (a ^ z.rotate_left(29) ^ u64::from(len)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> self.shift) as usize
    }

    #[inline]
    fn find<'c>(&self, name: &str, signals: &'c [SignalInfo]) -> Option<&'c SignalInfo> {
        let b = name.as_bytes();
        let len = u32::try_from(b.len()).ok()?;
        let (a, z) = words(b);
        let mask = self.slots.len() - 1;
        let mut i = self.home(a, z, len);
        loop {
            let (sa, sz, slen, pos1) = self.slots[i];
            if pos1 == 0 {
                return None;
            }
            if (sa, sz, slen) == (a, z, len) {
                let info = signals.get(pos1 as usize - 1)?;
                if b.len() <= 16 || info.name.as_bytes() == b {
                    return Some(info);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

/// The first and the last 8 bytes of `b` as little-endian words (zero-extended when shorter):
/// with the length they determine a name of at most 16 bytes.
#[inline(always)]
fn words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        let first: [u8; 8] = b[..8].try_into().unwrap_or_default();
        let last: [u8; 8] = b[n - 8..].try_into().unwrap_or_default();
        return (u64::from_le_bytes(first), u64::from_le_bytes(last));
    }
    let mut w = [0u8; 8];
    w[..n].copy_from_slice(b);
    (u64::from_le_bytes(w), 0)
}

/// Opens one path as a store: a container or a repository config, decided by content
/// ([`crate::backend::detect()`]).
///
/// # Errors
/// As [`Repository::open`].
pub fn open_layer(path: &Path) -> Result<Layer> {
    open_layer_as(path, None)
}

/// Opens one path as a store in `format` (`--format`), or detected by content when `None`.
///
/// # Errors
/// As [`Repository::open`].
pub fn open_layer_as(path: &Path, format: Option<crate::backend::Format>) -> Result<Layer> {
    open_layer_sniffed(sniff(path, format))
}

/// Opens one path as a store from what [`sniff`] read of it (no second read of a config).
fn open_layer_sniffed(sniffed: Sniffed) -> Result<Layer> {
    let path = sniffed.path;
    let store = match sniffed.kind? {
        Kind::Container(kind) => crate::backend::open_container(kind, &path)?,
        Kind::Manifest => Box::new(crate::shard::ShardedStore::open(&path)?),
        Kind::Config(config) => config_store(NativeConfig::from_config(*config)?)?,
    };
    Ok(Layer { path, store })
}

/// Reads a repository config, its signals file and dictionaries into a [`Catalog`].
///
/// # Errors
/// [`Error::Open`], [`Error::Parse`].
pub fn read_catalog(config: &RepositoryConfig) -> Result<(Catalog, Vec<Warning>)> {
    Catalog::load(config)
}

/// Opens a repository config as a native store: MODE 3 as a [`NativeStore`], MODE 0–2 as a
/// [`LegacyStore`].
///
/// # Errors
/// As [`Repository::open`].
pub fn open_config(path: &Path) -> Result<Box<dyn SignalStore>> {
    config_store(NativeConfig::read(path)?)
}

/// The store of a config read: MODE 3 native, MODE 0–2 legacy.
fn config_store(native: NativeConfig) -> Result<Box<dyn SignalStore>> {
    let NativeConfig {
        config,
        catalog,
        warnings,
        prefix,
    } = native;
    match config.mode {
        3 => Ok(Box::new(NativeStore::open(catalog, &prefix, warnings)?)),
        _ => Ok(Box::new(LegacyStore::open(&config, catalog, warnings)?)),
    }
}

/// The by-pid transpose of a layer, if it is a MODE 3 config that has one.
fn open_transpose(layer: &Layer) -> Result<Option<Transpose>> {
    if crate::backend::Container::of(&layer.path).is_some()
        || crate::shard::is_manifest(&layer.path)
    {
        return Ok(None);
    }
    let config = RepositoryConfig::read(&layer.path)?;
    if config.mode != 3 {
        return Ok(None);
    }
    Transpose::open(&config.prefix_path(), layer.store.catalog())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::dict::Dictionaries;
    use crate::text::signals::SignalsFile;
    use crate::TimeUnit;

    /// The name table answers what the catalog answers, for short names, names of 8 and 16
    /// bytes, long names that share their first and last 8 bytes and length, and misses.
    #[test]
    fn name_index_agrees_with_the_catalog() {
        let names = [
            "A",
            "BP",
            "Hemoglobin",
            "12345678",
            "1234567812345678",
            "Lab_Hemoglobin_Blood_x_Result",
            "Lab_Hemoglobin_Blood_y_Result",
            "Lab_Hemoglobin_Blood_z_Result",
        ];
        let text: String = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("SIGNAL\t{n}\t{}\tT(i),V(f)\n", 100 + i))
            .collect();
        let s = SignalsFile::parse(Path::new("t.signals"), &text, TimeUnit::Date).unwrap();
        let catalog = Catalog::new(s, Dictionaries::default(), TimeUnit::Date).unwrap();
        let index = NameIndex::new(&catalog);
        for n in names {
            let found = index.find(n, catalog.signals()).expect(n);
            assert!(std::ptr::eq(found, catalog.signal(n).unwrap()), "{n}");
        }
        for miss in [
            "",
            "a",
            "Hemoglobim",
            "1234567",
            "123456781234567",
            "12345678123456780",
            "Lab_Hemoglobin_Blood_w_Result",
            "Hemoglobin ",
        ] {
            assert!(index.find(miss, catalog.signals()).is_none(), "{miss:?}");
        }
    }
}
