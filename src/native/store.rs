//! `NativeStore`: a MODE 3 repository (per-signal stripped `.data` + `.idx`, pid list).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::files::{check_signal, corrupt, SignalFiles, SignalSlot};
use crate::native::index::{SignalIndex, DATA_BASE, STRIPPED_FORMAT};
use crate::native::lookup::{lookup_path, LookupTable};
use crate::native::pids::{verify_pids, PidList};
use crate::native::pids_path;
use crate::native::scan::scan_words;
use crate::native::sparse::i32_at;
use crate::store::{SignalStore, StoreDescription};
use crate::Warning;

/// A MODE 3 repository: one `.data`/`.idx` pair per signal, memory-mapped. Opening opens the
/// files; a signal's first read maps them and checks headers and sizes (its errors, at every
/// read of that signal: src/native/files.rs); `get_bytes` is a popcount lookup and a slice of
/// the map. When the optional lookup sidecar `<PREFIX>_inframed.lookup` (`inframed index
/// --lookup`) is present and matches the files, lookups go through it instead
/// (docs/lookup-table.md).
#[derive(Debug)]
pub struct NativeStore {
    catalog: Catalog,
    pids: PidList,
    pids_path: PathBuf,
    /// sid → index into `files` + 1 (0: no such sid); dense, sids are < 100,000.
    slots: Vec<u32>,
    /// Per catalog signal; `None` when the signal has no files (an empty signal). Mapped
    /// and checked on first use.
    pub(super) files: Vec<Option<SignalSlot>>,
    /// The lookup sidecar, when present and matching the files.
    lookup: Option<LookupTable>,
    warnings: Vec<Warning>,
}

/// Keys per lane of a batched lookup: enough independent misses in flight to cover memory
/// latency (a core tracks about 20 outstanding lines), few enough that a lane's state stays in
/// registers and L1.
pub(super) const LANE: usize = 16;

/// The `count` elements of `factor` bytes from element `start` of a `.data` file (after its
/// 4-byte header), `None` past the end of `data` ([`out_of_bounds`] then says where).
#[inline(always)]
pub(super) fn elements(data: &[u8], start: u64, count: u64, factor: u64) -> Option<&[u8]> {
    let from = DATA_BASE + start * factor;
    data.get(from as usize..(from + count * factor) as usize)
}

/// The error of an [`elements`] call that found nothing: the byte range against the length.
#[cold]
pub(super) fn out_of_bounds(data: &[u8], start: u64, count: u64, factor: u64) -> DecodeError {
    let from = DATA_BASE + start * factor;
    DecodeError::OutOfBounds {
        start: from,
        end: from + count * factor,
        len: data.len() as u64,
    }
}

impl NativeStore {
    /// Opens the MODE 3 files of `catalog`'s signals under `prefix` (`DIR/<PREFIX>`).
    /// A signal whose two files are both absent is empty; one without the other is an error.
    /// Each signal's files are mapped and checked on its first read, which reports
    /// [`Error::Corrupt`] (header fields, sizes, element size ≠ layout) naming the file; with
    /// a lookup sidecar present, all of them are mapped and checked here.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Inconsistent`] naming the file; with a lookup sidecar,
    /// [`Error::Corrupt`] as above.
    pub fn open(catalog: Catalog, prefix: &Path, warnings: Vec<Warning>) -> Result<NativeStore> {
        let files = catalog
            .signals()
            .iter()
            .map(|info| SignalSlot::open(prefix, &info.name, info.sid, info.layout.size()))
            .collect::<Result<Vec<_>>>()?;
        let pids_path = pids_path(prefix);
        let pids = PidList::parse(&pids_path, mmap::map(&pids_path)?)?;
        let mut store = Self::assemble(catalog, pids, pids_path, files, warnings);
        let lookup = lookup_path(prefix);
        match LookupTable::map(&lookup) {
            Ok(None) => {}
            // The sidecar is checked against every signal's files: they are mapped now, and
            // their errors are the open's.
            Ok(Some(bytes)) => {
                let files = store.all_files()?;
                match LookupTable::check(bytes, &lookup, &store.slots, &files) {
                    Ok(table) => store.lookup = Some(table),
                    Err(w) => store.warnings.push(w),
                }
            }
            Err(w) => store.warnings.push(w),
        }
        Ok(store)
    }

    /// Stops using the lookup sidecar (lookups read the `.idx` files, as without one).
    pub fn drop_lookup(&mut self) {
        self.lookup = None;
    }

    /// The lookup sidecar in use, if any.
    pub fn lookup_sidecar(&self) -> Option<&Path> {
        self.lookup.as_ref().map(LookupTable::path)
    }

    /// The signals with files, in catalog order, mapped and checked.
    ///
    /// # Errors
    /// The first signal's error ([`SignalSlot::get`]).
    pub(super) fn signal_files(&self) -> Result<Vec<(Sid, &SignalFiles)>> {
        self.catalog
            .signals()
            .iter()
            .zip(&self.files)
            .filter_map(|(info, f)| Some(f.as_ref()?.get().map(|f| (info.sid, f))))
            .collect()
    }

    /// Every catalog signal's files (`None`: no files), mapped and checked.
    fn all_files(&self) -> Result<Vec<Option<&SignalFiles>>> {
        self.files
            .iter()
            .map(|f| f.as_ref().map(SignalSlot::get).transpose())
            .collect()
    }

    /// A store over in-memory files: `(sid, idx bytes, data bytes)` per signal with data, and
    /// the pid list bytes. The checks [`NativeStore::open`] leaves to each signal's first
    /// read are made here, for every signal; paths in errors are `<memory>/<name>.idx`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the file (header fields, sizes, element size ≠ layout, the
    /// pid list); [`Error::UnknownSid`] for a sid not in `catalog`.
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        catalog: Catalog,
        pids: D,
        signals: Vec<(Sid, D, D)>,
    ) -> Result<NativeStore> {
        let mut files: Vec<Option<SignalSlot>> = catalog.signals().iter().map(|_| None).collect();
        for (sid, idx, data) in signals {
            let pos = catalog.position(sid).ok_or(Error::UnknownSid { sid })?;
            let info = &catalog.signals()[pos];
            let base = PathBuf::from("<memory>").join(&info.name);
            let format = i32_at(data.as_ref(), 0);
            let (idx_path, data_path) = (base.with_extension("idx"), base.with_extension("data"));
            let size = info.layout.size();
            let index = check_signal(
                sid,
                size,
                idx.as_ref(),
                (data.as_ref(), format),
                &idx_path,
                &data_path,
            )?;
            let checked = SignalFiles {
                index,
                idx: Bytes::from_owned(idx),
                data: Bytes::from_owned(data),
                idx_path,
                data_path,
            };
            files[pos] = Some(SignalSlot::ready(checked, sid, size));
        }
        let pids_path = PathBuf::from("<memory>/all_pids.list");
        let pids = PidList::parse(&pids_path, Bytes::from_owned(pids))?;
        Ok(Self::assemble(catalog, pids, pids_path, files, Vec::new()))
    }

    fn assemble(
        catalog: Catalog,
        pids: PidList,
        pids_path: PathBuf,
        files: Vec<Option<SignalSlot>>,
        warnings: Vec<Warning>,
    ) -> NativeStore {
        let slots = catalog.dense_slots();
        NativeStore {
            catalog,
            pids,
            pids_path,
            slots,
            files,
            lookup: None,
            warnings,
        }
    }

    #[inline]
    pub(super) fn files(&self, sid: Sid) -> Result<Option<&SignalFiles>> {
        match self.slots.get(sid.0 as usize) {
            Some(&slot) if slot > 0 => match &self.files[slot as usize - 1] {
                Some(f) => f.get().map(Some),
                None => Ok(None),
            },
            _ => Err(Error::UnknownSid { sid }),
        }
    }

    /// The parsed `.idx` of a signal (`None` if it has no files).
    ///
    /// # Errors
    /// [`Error::UnknownSid`].
    pub fn index(&self, sid: Sid) -> Result<Option<&SignalIndex>> {
        Ok(self.files(sid)?.map(|f| &f.index))
    }

    /// The index lookup alone: `(first element, count)` of `(pid, sid)`, `None` if absent.
    ///
    /// # Errors
    /// [`Error::UnknownSid`]; [`Error::Corrupt`] when the index is inconsistent there.
    #[inline]
    pub fn locate(&self, pid: Pid, sid: Sid) -> Result<Option<(u64, u64)>> {
        let Some(f) = self.files(sid)? else {
            return Ok(None);
        };
        f.index
            .find(f.idx.as_slice(), pid.0)
            .map_err(corrupt(&f.idx_path))
    }

    /// Every element of a signal for all patients, as stored in its `.data` file (pids
    /// ascending): the bytes a whole-signal scan reads.
    ///
    /// # Errors
    /// [`Error::UnknownSid`].
    pub fn signal_bytes(&self, sid: Sid) -> Result<&[u8]> {
        Ok(self
            .files(sid)?
            .map_or(&[][..], |f| &f.data.as_slice()[DATA_BASE as usize..]))
    }

    /// One lane of [`SignalStore::get_many`]: three passes over the keys, each issuing the
    /// loads of every key before any is needed (bitmap word and count prefetched, then the
    /// element start entries prefetched, then the views built), so a lane's cache misses
    /// overlap. Returns `false` (with `out` possibly extended) when a key fails: the caller
    /// then redoes the lane key by key to report the error `get_bytes` gives.
    #[inline(always)]
    fn lane<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> bool {
        debug_assert!(keys.len() <= LANE);
        // Per key: its files (None: certainly empty) and the word/bit, then data index.
        let mut files: [Option<&SignalFiles>; LANE] = [None; LANE];
        let mut at = [(0usize, 0u32); LANE];
        for (i, &(pid, sid)) in keys.iter().enumerate() {
            let Ok(f) = self.files(sid) else {
                return false;
            };
            let Some(f) = f else { continue };
            let Some((w, bit)) = f.index.sparse.slot(pid.0) else {
                continue;
            };
            let idx = f.idx.as_slice();
            let (word, count) = f.index.sparse.word_offsets(w);
            mmap::prefetch(idx, word);
            mmap::prefetch(idx, count);
            files[i] = Some(f);
            at[i] = (w, bit);
        }
        let mut ind = [0usize; LANE];
        for i in 0..keys.len() {
            let Some(f) = files[i] else { continue };
            let idx = f.idx.as_slice();
            match f.index.sparse.find_at(idx, at[i].0, at[i].1) {
                Ok(Some(n)) => {
                    let start = f.index.sparse.data_at(n);
                    mmap::prefetch(idx, start);
                    mmap::prefetch(idx, start + 4);
                    ind[i] = n;
                }
                Ok(None) => files[i] = None,
                Err(_) => return false,
            }
        }
        for i in 0..keys.len() {
            let Some(f) = files[i] else {
                out.push(Cow::Borrowed(&[]));
                continue;
            };
            let Ok((start, count)) = f.index.range_at(f.idx.as_slice(), ind[i]) else {
                return false;
            };
            match elements(f.data.as_slice(), start, count, u64::from(f.index.factor)) {
                Some(b) => out.push(Cow::Borrowed(b)),
                None => return false,
            }
        }
        true
    }

    /// [`SignalStore::get_many`]'s loop over lanes of keys.
    #[inline(always)]
    fn lanes<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        if let Some(t) = &self.lookup {
            return self.lanes_lookup(t, keys, out);
        }
        for chunk in keys.chunks(LANE) {
            let done = out.len();
            if !self.lane(chunk, out) {
                out.truncate(done);
                for &(pid, sid) in chunk {
                    out.push(self.get_bytes(pid, sid)?);
                }
            }
        }
        Ok(())
    }

    /// [`NativeStore::lanes`] compiled with the `popcnt` instruction: the bitmap rank of each
    /// key is one instruction instead of the x86-64 baseline's dozen-instruction software
    /// popcount (a sixth of a key's work in a lane).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lanes_popcnt<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        self.lanes(keys, out)
    }

    fn verify_signal(&self, f: &SignalFiles, pos: usize) -> Result<()> {
        let info = &self.catalog.signals()[pos];
        let (idx, data) = (f.idx.as_slice(), f.data.as_slice());
        let format = i32_at(data, 0).expect("checked at open");
        if format != STRIPPED_FORMAT {
            return Err(Error::corrupt(
                &f.data_path,
                0,
                DecodeError::Version(format as i64),
            ));
        }
        let n_keys = f
            .index
            .sparse
            .verify(idx, true)
            .map_err(corrupt(&f.idx_path))?;
        let total = ((data.len() - 4) / info.layout.size()) as u64;
        let pids = self.pids();
        let size = info.layout.size();
        let mut expect_start = 0u64;
        for (n, (pid, (start, count))) in f.index.entries(idx).enumerate() {
            let entry_off = f.index.sparse.data_at(n + 1) as u64;
            if start != expect_start {
                return Err(Error::corrupt(
                    &f.idx_path,
                    entry_off,
                    DecodeError::Field {
                        field: "element start",
                        found: start as i64,
                        expected: expect_start as i64,
                    },
                ));
            }
            if count == 0 {
                return Err(Error::corrupt(
                    &f.idx_path,
                    entry_off,
                    DecodeError::EmptyEntry { pid },
                ));
            }
            expect_start = start + count;
            if expect_start > total {
                return Err(Error::corrupt(
                    &f.data_path,
                    data.len() as u64,
                    DecodeError::OutOfBounds {
                        start: 4 + start * size as u64,
                        end: 4 + expect_start * size as u64,
                        len: data.len() as u64,
                    },
                ));
            }
            if pids.binary_search(&Pid(pid)).is_err() {
                return Err(Error::Inconsistent {
                    path: f.idx_path.clone(),
                    source: DecodeError::PidNotListed {
                        pid,
                        list: self.pids_path.clone(),
                    },
                });
            }
            let from = 4 + start as usize * size;
            let elems = &data[from..from + count as usize * size];
            for i in 1..count as usize {
                let (a, b) = (
                    &elems[(i - 1) * size..i * size],
                    &elems[i * size..(i + 1) * size],
                );
                if info.layout.cmp_time(a, b).is_gt() {
                    return Err(Error::corrupt(
                        &f.data_path,
                        (from + i * size) as u64,
                        DecodeError::TimeOrder {
                            pid,
                            sid: info.sid.0,
                            element: i as u64,
                        },
                    ));
                }
            }
        }
        if n_keys > 0 && expect_start != total {
            return Err(Error::corrupt(
                &f.idx_path,
                0,
                DecodeError::Field {
                    field: "elements indexed",
                    found: expect_start as i64,
                    expected: total as i64,
                },
            ));
        }
        if n_keys == 0 && f.index.last_len != 0 {
            return Err(Error::corrupt(
                &f.idx_path,
                0,
                DecodeError::Field {
                    field: "last_len",
                    found: f.index.last_len as i64,
                    expected: 0,
                },
            ));
        }
        if n_keys == 0 && total != 0 {
            return Err(Error::corrupt(
                &f.data_path,
                4,
                DecodeError::Mismatch {
                    what: "elements of an index with no pid",
                    found: total,
                    expected: 0,
                },
            ));
        }
        Ok(())
    }
}

impl SignalStore for NativeStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    #[inline]
    fn pids(&self) -> &[Pid] {
        self.pids.as_slice()
    }

    #[inline(always)]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.get_bytes_inline(pid, sid)
    }

    fn signal_region(&self, sid: Sid) -> Option<&[u8]> {
        Some(self.files(sid).ok()??.data.as_slice())
    }

    // The one `unsafe` outside src/mmap.rs: calling the `popcnt` build of the lanes, on a CPU
    // that has the instruction.
    #[allow(unsafe_code)]
    fn get_many<'s>(&'s self, keys: &[(Pid, Sid)], out: &mut Vec<Cow<'s, [u8]>>) -> Result<()> {
        out.clear();
        out.reserve(keys.len());
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: `lanes_popcnt` is `lanes` compiled with the `popcnt` target feature,
            // nothing else; calling it is sound exactly when the CPU has `popcnt`, which the
            // runtime detection just above established.
            return unsafe { self.lanes_popcnt(keys, out) };
        }
        self.lanes(keys, out)
    }

    fn scan(&self, sid: Sid, visit: &mut dyn FnMut(Pid, &[u8])) -> Result<()> {
        match self.files(sid)? {
            Some(f) => scan_words(f, 0..f.index.sparse.n_words, visit),
            None => Ok(()),
        }
    }

    fn describe(&self) -> StoreDescription {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut files = vec![(self.pids_path.clone(), size(&self.pids_path))];
        for f in self.files.iter().flatten() {
            // A signal whose files fail their checks is listed by its files' sizes on disk.
            match f.get() {
                Ok(f) => {
                    files.push((f.data_path.clone(), f.data.as_slice().len() as u64));
                    files.push((f.idx_path.clone(), f.idx.as_slice().len() as u64));
                }
                Err(_) => {
                    files.push((f.data_path().to_path_buf(), size(f.data_path())));
                    files.push((f.idx_path().to_path_buf(), size(f.idx_path())));
                }
            }
        }
        if let Some(t) = &self.lookup {
            files.push((t.path().to_path_buf(), t.len()));
        }
        StoreDescription {
            format: "InfraMed MODE 3 (per-signal stripped .data/.idx)".into(),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        self.verify_with(&mut |_, _| {})
    }

    /// One step for the pid list, then one per signal with files, then one for the lookup
    /// sidecar if one is in use (every cell checked against the `.idx` files).
    fn verify_with(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let total = 1 + self.files.iter().flatten().count() as u64 + self.lookup.is_some() as u64;
        progress(0, total);
        verify_pids(&self.pids_path, self.pids())?;
        let mut done = 1;
        progress(done, total);
        for (pos, f) in self.files.iter().enumerate() {
            if let Some(f) = f {
                self.verify_signal(f.get()?, pos)?;
                done += 1;
                progress(done, total);
            }
        }
        if let Some(t) = &self.lookup {
            self.verify_lookup(t)?;
            progress(total, total);
        }
        Ok(())
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

impl NativeStore {
    /// [`SignalStore::get_bytes`] itself, inlined into its callers: the trait method for a
    /// `NativeStore`, and the sharded store's routed lookup, which then makes no
    /// second call (a nested call cost the routed lookup 10-15 %: benches/shards.rs).
    #[inline(always)]
    pub(crate) fn get_bytes_inline(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        if let Some(t) = &self.lookup {
            return self.get_lookup(t, pid, sid);
        }
        let Some(f) = self.files(sid)? else {
            return Ok(Cow::Borrowed(&[]));
        };
        let idx = f.idx.as_slice();
        let Some((start, count)) = f.index.find(idx, pid.0).map_err(corrupt(&f.idx_path))? else {
            return Ok(Cow::Borrowed(&[]));
        };
        let (data, factor) = (f.data.as_slice(), u64::from(f.index.factor));
        match elements(data, start, count, factor) {
            Some(b) => Ok(Cow::Borrowed(b)),
            None => Err(Error::corrupt(
                &f.idx_path,
                f.index.sparse.data_off as u64,
                out_of_bounds(data, start, count, factor),
            )),
        }
    }
}
