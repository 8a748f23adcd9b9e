//! The storage boundary: one object-safe trait implemented by the native store and every backend.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::cast;
use crate::catalog::{Catalog, SignalInfo};
use crate::element::Element;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::signal::Signal;
use crate::Warning;

/// What a store says about itself for `inframed info`.
#[derive(Clone, Debug, Default)]
pub struct StoreDescription {
    /// Layout or container name, e.g. `InfraMed MODE 3 (per-signal stripped)`.
    pub format: String,
    /// Files the store reads, with their sizes in bytes.
    pub files: Vec<(PathBuf, u64)>,
}

/// A read-only store of patient signals: every layout and container implements it.
///
/// Object safe: a [`crate::Repository`] holds `Box<dyn SignalStore>`. Implementations are
/// `Send + Sync` and take no locks on the read path.
///
/// # Examples
/// Code written against `&dyn SignalStore` reads every layout and container alike:
/// ```
/// use inframed::{Repository, SignalStore, SignalStoreExt};
/// fn elements(store: &dyn SignalStore, signal: &str) -> inframed::Result<usize> {
///     let sid = store.catalog().signal(signal)?.sid;
///     let mut n = 0;
///     for &pid in store.pids() {
///         n += store.signal(pid, sid)?.len(); // typed view over get_bytes
///     }
///     Ok(n)
/// }
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let total = elements(&repo, "Hemoglobin")?;
/// let mut scanned = 0;
/// let sid = repo.catalog().signal("Hemoglobin")?.sid;
/// repo.scan(sid, &mut |_pid, bytes| scanned += bytes.len() / 8)?; // T(i),V(f): 8 bytes
/// assert_eq!(total, scanned);
/// # Ok::<_, inframed::Error>(())
/// ```
pub trait SignalStore: Send + Sync + fmt::Debug {
    /// Signals held (name, sid, layout, time unit) and dictionaries.
    fn catalog(&self) -> &Catalog;

    /// Every patient of the store, ascending.
    fn pids(&self) -> &[Pid];

    /// The elements of `(pid, sid)`: time-sorted, little-endian, laid out as
    /// `catalog().kind(sid)`; empty if the patient has none.
    ///
    /// # Errors
    /// [`Error::UnknownSid`] for a sid not in the catalog; [`Error::Corrupt`] when the store's
    /// index points outside its data.
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>>;

    /// The one mapped region that holds every vector of signal `sid`, when the store keeps
    /// them so (the native store: the signal's `.data` file): every borrowed view
    /// [`SignalStore::get_bytes`] returns for `sid` lies inside it. A reader of many patients
    /// (the Arrow batches) uses it to merge vectors that are adjacent in the file into one
    /// slice, safely, as sub-slices of this one. Default `None`.
    fn signal_region(&self, sid: Sid) -> Option<&[u8]> {
        let _ = sid;
        None
    }

    /// Looks up many keys at once: `out` is cleared, then holds one vector per key of `keys`,
    /// in order, each exactly what [`SignalStore::get_bytes`] returns for it (empty for a
    /// patient without the signal). Stores override it to overlap the memory accesses of
    /// independent keys (the native MODE 3 store prefetches index words, then element
    /// starts, for a lane of keys before reading any); the default loops `get_bytes`.
    ///
    /// # Errors
    /// The error `get_bytes` gives for the first key that fails; `out` is then unspecified.
    fn get_many<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        out.clear();
        out.reserve(keys.len());
        for &(pid, sid) in keys {
            out.push(self.get_bytes(pid, sid)?);
        }
        Ok(())
    }

    /// Visits every patient's non-empty vector of `sid`, pids ascending: a whole-signal scan.
    /// The default looks each pid up; stores that keep a signal contiguous override it with a
    /// sequential walk.
    ///
    /// # Errors
    /// As [`SignalStore::get_bytes`].
    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> Result<()> {
        for &pid in self.pids() {
            let bytes = self.get_bytes(pid, sid)?;
            if !bytes.is_empty() {
                visit(pid, &bytes);
            }
        }
        Ok(())
    }

    /// Format name and files, for `info`.
    fn describe(&self) -> StoreDescription {
        StoreDescription::default()
    }

    /// Every structural check the store can make (sizes, offsets, sorted pids and times,
    /// checksums where the format has them). The default checks what the trait exposes:
    /// ascending pids, whole elements, time-sorted vectors.
    ///
    /// # Errors
    /// The first damage found.
    fn verify(&self) -> Result<()> {
        verify_elements(self)
    }

    /// [`SignalStore::verify`] that reports its progress as `progress(done, total)` steps
    /// (the CLI draws a bar from it; the library draws nothing). The default reports `0/1`,
    /// runs [`SignalStore::verify`], then reports `1/1` if it passed; stores with many
    /// parts (MODE 3: one step per signal) report each.
    ///
    /// # Errors
    /// As [`SignalStore::verify`].
    fn verify_with(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        progress(0, 1);
        self.verify()?;
        progress(1, 1);
        Ok(())
    }

    /// Non-fatal problems found at open (ignored config keywords, …). The dictionaries' own
    /// (dropped `SET` lines) come with their parse, on first use:
    /// [`crate::Catalog::dictionary_warnings`].
    fn warnings(&self) -> &[Warning] {
        &[]
    }
}

/// The generic part of `verify` for any store: pids strictly ascending, every vector a whole
/// number of elements and sorted by its time channels.
///
/// # Errors
/// [`Error::Corrupt`] naming the store's first file (or `<store>`), with pid and sid in the
/// message.
pub fn verify_elements<S: SignalStore + ?Sized>(store: &S) -> Result<()> {
    let where_ = || {
        store
            .describe()
            .files
            .first()
            .map(|f| f.0.clone())
            .unwrap_or_else(|| PathBuf::from("<store>"))
    };
    let pids = store.pids();
    for w in pids.windows(2) {
        if w[0] >= w[1] {
            return Err(Error::corrupt(
                where_(),
                0,
                DecodeError::NotAscending {
                    what: "pids",
                    prev: w[0].0 as i64,
                    next: w[1].0 as i64,
                },
            ));
        }
    }
    for info in store.catalog().signals() {
        let size = info.layout.size();
        for &pid in pids {
            let bytes = store.get_bytes(pid, info.sid)?;
            if bytes.len() % size != 0 {
                return Err(Error::corrupt(
                    where_(),
                    0,
                    DecodeError::PartialElements {
                        pid: pid.0,
                        sid: info.sid.0,
                        bytes: bytes.len() as u64,
                        element: size as u64,
                    },
                ));
            }
            let elems: Vec<&[u8]> = bytes.chunks_exact(size).collect();
            for (i, w) in elems.windows(2).enumerate() {
                if info.layout.cmp_time(w[0], w[1]).is_gt() {
                    return Err(Error::corrupt(
                        where_(),
                        0,
                        DecodeError::TimeOrder {
                            pid: pid.0,
                            sid: info.sid.0,
                            element: i as u64 + 1,
                        },
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A signal named by its name (`"Hemoglobin"`) or its id ([`Sid`]): the key of
/// [`SignalStoreExt::signal`] and [`SignalStoreExt::get`].
pub trait SignalKey {
    /// The signal in `catalog`.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] / [`Error::UnknownSid`].
    fn info<'c>(&self, catalog: &'c Catalog) -> Result<&'c SignalInfo>;

    /// The sid itself when the key is one: the lookup then uses it directly rather than
    /// waiting for the catalog's answer (the two run side by side, a few ns per call).
    #[inline]
    fn known_sid(&self) -> Option<Sid> {
        None
    }

    /// The name itself when the key is one: [`crate::Repository`] resolves it through its
    /// own name table (no string hash per call) before asking the catalog.
    #[inline]
    fn name(&self) -> Option<&str> {
        None
    }
}

impl SignalKey for Sid {
    #[inline]
    fn info<'c>(&self, catalog: &'c Catalog) -> Result<&'c SignalInfo> {
        catalog.by_sid(*self)
    }

    #[inline]
    fn known_sid(&self) -> Option<Sid> {
        Some(*self)
    }
}

impl SignalKey for &str {
    #[inline]
    fn info<'c>(&self, catalog: &'c Catalog) -> Result<&'c SignalInfo> {
        catalog.signal(self)
    }

    #[inline]
    fn name(&self) -> Option<&str> {
        Some(self)
    }
}

impl SignalKey for &String {
    #[inline]
    fn info<'c>(&self, catalog: &'c Catalog) -> Result<&'c SignalInfo> {
        catalog.signal(self)
    }

    #[inline]
    fn name(&self) -> Option<&str> {
        Some(self)
    }
}

/// Typed and view access for every store, `dyn` included: one name per verb, the signal
/// given by name or by sid ([`SignalKey`]).
///
/// # Examples
/// ```
/// use inframed::element::DateVal;
/// use inframed::{Pid, Repository, SignalStore, SignalStoreExt};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let hgb = repo.signal(Pid(1025), "Hemoglobin")?; // a view: channels by index
/// let sid = repo.catalog().signal("Hemoglobin")?.sid;
/// let typed = repo.get::<DateVal>(Pid(1025), sid)?; // typed elements, resolved once
/// assert_eq!(hgb.len(), typed.len());
/// # Ok::<_, inframed::Error>(())
/// ```
pub trait SignalStoreExt: SignalStore {
    /// One patient's vector of a signal as a typed slice: borrowed from the store where the
    /// bytes are aligned for `T`, copied otherwise.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] / [`Error::UnknownSid`]; [`Error::WrongType`] if `T` does not
    /// match the signal's layout; errors of [`SignalStore::get_bytes`].
    fn get<T: Element>(&self, pid: Pid, signal: impl SignalKey) -> Result<Cow<'_, [T]>> {
        let info = signal.info(self.catalog())?;
        let (sid, stored) = (signal.known_sid().unwrap_or(info.sid), &info.layout);
        if stored.spec() != T::SPEC {
            return Err(Error::WrongType {
                sid,
                stored: Box::new(stored.clone()),
                requested: T::SPEC,
            });
        }
        cast::elements(self.get_bytes(pid, sid)?, pid, sid)
    }

    /// One patient's vector of a signal as a [`Signal`] view (channels by index, time ranges,
    /// iterators), time-sorted, borrowed from the store.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`] / [`Error::UnknownSid`]; as [`SignalStore::get_bytes`].
    fn signal(&self, pid: Pid, signal: impl SignalKey) -> Result<Signal<'_>> {
        let info = signal.info(self.catalog())?;
        let sid = signal.known_sid().unwrap_or(info.sid);
        let bytes = self.get_bytes(pid, sid)?;
        Signal::new(bytes, &info.layout, pid, sid)
    }
}

impl<S: SignalStore + ?Sized> SignalStoreExt for S {}
