//! `ItarStore`: a patient repository stored in one fold of an indexed-tar dataset, and the
//! export that writes it.
//!
//! Mapping: sample key = pid zero-padded to `key_width` (10) digits; one member
//! `<pid>.<signal ext>` per non-empty `(pid, signal)`, a `.npy` of the signal's numpy record
//! dtype whose data starts on a 64-byte boundary of the shard; the sample `__meta__` holds
//! `__meta__.json` (signals file, dictionaries, signal → extension) and `__meta__.pids.npy`
//! (every pid, `<u4`, ascending).

use crate::error::InputError;
use std::borrow::Cow;
use std::path::Path;

use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

use super::npy;
use super::reader::{fold_names, split_name, Fold, Member};
use super::writer::{FoldWriter, WriterOptions};
use super::{backend_error, ItarError};
use crate::atomic::AtomicDir;
use crate::catalog::{Catalog, CatalogTexts};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::store::{verify_elements, SignalStore, StoreDescription};
use crate::Warning;

/// The sample key of the metadata members.
pub const META_KEY: &str = "__meta__";
const META_JSON: &str = "json";
const META_PIDS: &str = "pids.npy";
const FORMAT: &str = "inframed-itar";
const VERSION: u32 = 1;
/// Digits of a pid key: every `u32` fits, so lexical order is numeric order.
const KEY_WIDTH: usize = 10;
const PID_DTYPE: &str = "<u4";

/// `__meta__.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: String,
    version: u32,
    key_width: usize,
    n_pids: u64,
    catalog: CatalogTexts,
    signals: Vec<MetaSignal>,
}

/// One signal of `__meta__.json`.
#[derive(Debug, Serialize, Deserialize)]
struct MetaSignal {
    name: String,
    sid: u32,
    spec: String,
    ext: String,
    dtype: Vec<(String, String)>,
}

/// A signal's lookup data.
#[derive(Debug)]
struct Slot {
    /// Extension id in the fold (`None`: no patient has this signal).
    extid: Option<u16>,
    ext: String,
    size: usize,
    /// npy dictionary prefix of this signal's dtype, for the fast header check.
    prefix: Vec<u8>,
    /// Position in the catalog.
    pos: usize,
}

/// Where the pid list lives.
#[derive(Debug)]
enum PidList {
    /// Borrowed from the mapped shard: `(fid, byte range)`.
    Mapped(u16, std::ops::Range<usize>),
    /// Copied (the bytes were not 4-aligned).
    Owned(Vec<Pid>),
}

/// A patient repository in an indexed-tar dataset. Opening maps the shards, parses the index,
/// reads the two `__meta__` members, hashes every pid key of the pid list and resolves every
/// index row to its `(pid, signal)` (a row that belongs to no listed pid or signal is an error);
/// `get_bytes` is one probe of that table, a check of the npy header prefix, and a slice of the
/// map.
#[derive(Debug)]
pub struct ItarStore {
    fold: Fold,
    catalog: Catalog,
    warnings: Vec<Warning>,
    pids: PidList,
    /// sid → index into `slots` + 1 (0: unknown sid).
    by_sid: Vec<u32>,
    slots: Vec<Slot>,
    /// `pid << 16 | extid` → where the member's payload is.
    members: HashMap<u64, Location>,
    key_width: usize,
}

/// A member's payload in its shard.
#[derive(Clone, Copy, Debug)]
struct Location {
    start: usize,
    end: usize,
    fid: u16,
    row: u32,
}

#[inline]
fn member_key(pid: Pid, extid: u16) -> u64 {
    (u64::from(pid.0) << 16) | u64::from(extid)
}

/// Writes `pid` zero-padded to `width` digits into `buf`; returns the digits.
#[inline]
fn pid_key(pid: u32, width: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = pid;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let width = width.min(buf.len());
    while buf.len() - i < width {
        i -= 1;
        buf[i] = b'0';
    }
    &buf[i..]
}

impl ItarStore {
    /// Opens a patient dataset: a folder with one fold (its `.taridx`, or its shards scanned
    /// when there is no index), or a `.taridx` file.
    ///
    /// # Errors
    /// [`ItarError::SeveralFolds`] / [`ItarError::NotADataset`] for a folder; as
    /// [`Fold::open`] and [`ItarStore::from_fold`].
    pub fn open(path: &Path) -> Result<ItarStore> {
        let fold = if path.is_dir() {
            let names = fold_names(path)?;
            match names.as_slice() {
                [] => return Err(backend_error(path, "folder", ItarError::NotADataset)),
                [one] => Fold::open_dir(path, one)?,
                _ => {
                    return Err(backend_error(
                        path,
                        "folder",
                        ItarError::SeveralFolds { folds: names },
                    ))
                }
            }
        } else {
            Fold::open_path(path)?
        };
        ItarStore::from_fold(fold)
    }

    /// A store over in-memory files: `.taridx` bytes and shards in fid order.
    ///
    /// # Errors
    /// As [`Fold::from_bytes`] and [`ItarStore::from_fold`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        taridx: D,
        shards: Vec<D>,
    ) -> Result<ItarStore> {
        ItarStore::from_fold(Fold::from_bytes("patients", Some(taridx), shards)?)
    }

    /// Reads the patient metadata of an opened fold.
    ///
    /// # Errors
    /// [`Error::Format`] with [`ItarError::NotPatientDataset`] (no `__meta__.json`) or
    /// [`ItarError::Meta`] (bad JSON, another
    /// format, signals that disagree with the catalog, a pid list of the wrong length or type)
    /// naming the index and the member; [`Error::Parse`] for invalid catalog texts.
    pub fn from_fold(fold: Fold) -> Result<ItarStore> {
        let origin = fold.index_path().to_path_buf();
        let meta_err = |member: &str, reason: String| {
            backend_error(
                &origin,
                format!("member {META_KEY}.{member}"),
                ItarError::Meta { reason },
            )
        };
        let json = fold.find(META_KEY, META_JSON)?.ok_or_else(|| {
            backend_error(
                &origin,
                format!("member {META_KEY}.{META_JSON}"),
                ItarError::NotPatientDataset,
            )
        })?;
        let meta: Meta = serde_json::from_slice(json.data)
            .map_err(|e| meta_err(META_JSON, format!("invalid JSON: {e}")))?;
        if meta.format != FORMAT || meta.version != VERSION {
            return Err(meta_err(
                META_JSON,
                format!(
                    "format {:?} version {} (this reader reads {FORMAT:?} version {VERSION})",
                    meta.format, meta.version
                ),
            ));
        }
        if meta.key_width == 0 || meta.key_width > 20 {
            return Err(meta_err(META_JSON, format!("key_width {}", meta.key_width)));
        }
        let (catalog, catalog_warnings) = Catalog::from_texts(&origin, &meta.catalog)?;
        // What folding the shards found (duplicate members, pax headers), then the catalog's.
        let mut warnings: Vec<Warning> = fold.warnings().to_vec();
        warnings.extend(catalog_warnings);
        let mut slots = Vec::with_capacity(meta.signals.len());
        let mut seen_ext = HashSet::new();
        for s in &meta.signals {
            let info = catalog.by_sid(Sid(s.sid)).map_err(|_| {
                meta_err(
                    META_JSON,
                    format!(
                        "signal {} (sid {}) is not in the signals file",
                        s.name, s.sid
                    ),
                )
            })?;
            if info.name != s.name || info.layout.spec() != s.spec {
                return Err(meta_err(
                    META_JSON,
                    format!(
                        "signal sid {} is {} {} in the signals file, {} {} in the member list",
                        s.sid,
                        info.name,
                        info.layout.spec(),
                        s.name,
                        s.spec
                    ),
                ));
            }
            if !seen_ext.insert(s.ext.as_str()) || s.ext == META_JSON {
                return Err(meta_err(
                    META_JSON,
                    format!("extension {:?} used twice", s.ext),
                ));
            }
            slots.push(Slot {
                extid: fold.extension_id(&s.ext),
                ext: s.ext.clone(),
                size: info.layout.size(),
                prefix: npy::header_prefix(&info.layout.numpy_fields()).into_bytes(),
                pos: catalog.position(info.sid).unwrap_or(0),
            });
        }
        if slots.len() != catalog.signals().len() {
            return Err(meta_err(
                META_JSON,
                format!(
                    "{} signals in the member list, {} in the signals file",
                    slots.len(),
                    catalog.signals().len()
                ),
            ));
        }
        let max_sid = catalog
            .signals()
            .iter()
            .map(|s| s.sid.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut by_sid = vec![0u32; max_sid];
        for (i, s) in meta.signals.iter().enumerate() {
            by_sid[s.sid as usize] = i as u32 + 1;
        }
        let pids = Self::pid_list(&fold, meta.n_pids).map_err(|r| meta_err(META_PIDS, r))?;
        let members = Self::resolve_rows(&fold, &pids, &slots, meta.key_width)?;
        Ok(ItarStore {
            fold,
            catalog,
            warnings,
            pids,
            by_sid,
            slots,
            members,
            key_width: meta.key_width,
        })
    }

    /// Maps every index row to `(pid, extension)`: the identity `(xxh64(key), crash id)` of
    /// each listed pid and of `__meta__`, then one pass over the rows.
    fn resolve_rows(
        fold: &Fold,
        pids: &PidList,
        slots: &[Slot],
        key_width: usize,
    ) -> Result<HashMap<u64, Location>> {
        let pid_slice: &[Pid] = match pids {
            PidList::Mapped(fid, range) => fold
                .shard_bytes(*fid)
                .and_then(|b| b.get(range.clone()))
                .map_or(&[], bytemuck::cast_slice),
            PidList::Owned(v) => v,
        };
        let index_path = fold.index_path();
        let mut owner: HashMap<(u64, u32), Option<Pid>> =
            HashMap::with_capacity(pid_slice.len() + 1);
        owner.insert(fold.identity(META_KEY.as_bytes()), None);
        let mut buf = [0u8; 20];
        for &pid in pid_slice {
            let key = pid_key(pid.0, key_width, &mut buf);
            if let Some(other) = owner.insert(fold.identity(key), Some(pid)) {
                return Err(backend_error(
                    index_path,
                    format!("pid {pid}"),
                    ItarError::Meta {
                        reason: format!(
                            "pid {pid} has the key hash of {} and no crash entry (or is listed twice)",
                            other.map_or(META_KEY.to_string(), |p| p.to_string())
                        ),
                    },
                ));
            }
        }
        let mut slot_of_ext: Vec<Option<u16>> = vec![None; fold.index().extensions.len()];
        for s in slots {
            if let Some(e) = s.extid {
                slot_of_ext[usize::from(e)] = Some(e);
            }
        }
        let rows = &fold.index().rows;
        let mut members = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let ctx = || format!("row {i} (byte {})", fold.index().row_offset(i));
            let pid = match owner.get(&(r.keyhash, r.crashid)) {
                None => {
                    return Err(backend_error(
                        index_path,
                        ctx(),
                        ItarError::Meta {
                            reason: format!(
                                "key hash {:#018x} (crash id {}) is neither a pid of the pid list nor {META_KEY}",
                                r.keyhash, r.crashid
                            ),
                        },
                    ))
                }
                Some(None) => continue,
                Some(Some(pid)) => *pid,
            };
            let Some(extid) = slot_of_ext.get(usize::from(r.extid)).copied().flatten() else {
                return Err(backend_error(
                    index_path,
                    ctx(),
                    ItarError::Meta {
                        reason: format!(
                            "pid {pid}: extension {:?} names no signal",
                            fold.index().extensions[usize::from(r.extid)]
                        ),
                    },
                ));
            };
            let m = fold.member(i).ok_or_else(|| {
                backend_error(
                    index_path,
                    ctx(),
                    ItarError::Mismatch {
                        what: "row outside its shard".into(),
                    },
                )
            })?;
            let start = m.data.as_ptr() as usize
                - fold.shard_bytes(r.fid).map_or(0, |b| b.as_ptr() as usize);
            members.insert(
                member_key(pid, extid),
                Location {
                    start,
                    end: start + m.data.len(),
                    fid: r.fid,
                    row: i as u32,
                },
            );
        }
        Ok(members)
    }

    fn pid_list(fold: &Fold, n_pids: u64) -> Result<PidList, String> {
        let m = fold
            .find(META_KEY, META_PIDS)
            .map_err(|e| e.to_string())?
            .ok_or("missing")?;
        let h = npy::parse(m.data)?;
        if h.descr != [(String::new(), PID_DTYPE.to_string())] || h.shape != [n_pids] {
            return Err(format!(
                "dtype {:?} shape {:?}, expected {PID_DTYPE:?} ({n_pids},)",
                h.descr, h.shape
            ));
        }
        let data = &m.data[h.data_offset..];
        if data.len() as u64 != n_pids * 4 {
            return Err(format!("{} data bytes for {n_pids} pids", data.len()));
        }
        if bytemuck::try_cast_slice::<u8, Pid>(data).is_ok() {
            let shard = fold.shard_bytes(m.entry.fid).ok_or("no shard")?;
            let start = data.as_ptr() as usize - shard.as_ptr() as usize;
            Ok(PidList::Mapped(m.entry.fid, start..start + data.len()))
        } else {
            Ok(PidList::Owned(bytemuck::pod_collect_to_vec(data)))
        }
    }

    /// The fold the store reads.
    pub fn fold(&self) -> &Fold {
        &self.fold
    }

    /// The member extension of a signal (`hemoglobin.npy`).
    ///
    /// # Errors
    /// [`Error::UnknownSid`].
    pub fn extension(&self, sid: Sid) -> Result<&str> {
        Ok(&self.slot(sid)?.ext)
    }

    #[inline]
    fn slot(&self, sid: Sid) -> Result<&Slot> {
        match self.by_sid.get(sid.0 as usize) {
            Some(&i) if i > 0 => Ok(&self.slots[i as usize - 1]),
            _ => Err(Error::UnknownSid { sid }),
        }
    }

    /// The element bytes of a signal member: the fast header check, else a full parse.
    #[inline]
    fn elements<'a>(&'a self, slot: &Slot, payload: &'a [u8], row: u32) -> Result<&'a [u8]> {
        if let Some((off, n)) = npy::fast(payload, &slot.prefix) {
            let data = &payload[off..];
            if n.checked_mul(slot.size as u64) == Some(data.len() as u64) {
                return Ok(data);
            }
        }
        let m = self
            .fold
            .member(row as usize)
            .ok_or_else(|| self.outside(row))?;
        self.elements_slow(slot, m)
    }

    #[cold]
    fn outside(&self, row: u32) -> Error {
        backend_error(
            self.fold.index_path(),
            format!("row {row}"),
            ItarError::Mismatch {
                what: "row outside its shard".into(),
            },
        )
    }

    #[cold]
    fn elements_slow<'a>(&self, slot: &Slot, m: Member<'a>) -> Result<&'a [u8]> {
        let layout = &self.catalog.signals()[slot.pos].layout;
        let check = || -> Result<usize, String> {
            let h = npy::parse(m.data)?;
            npy::descr_matches(&h.descr, layout)?;
            let [n] = h.shape.as_slice() else {
                return Err(format!("shape {:?} is not one-dimensional", h.shape));
            };
            let have = (m.data.len() - h.data_offset) as u64;
            if n.checked_mul(slot.size as u64) != Some(have) {
                return Err(format!(
                    "shape ({n},) of {}-byte elements but {have} data bytes",
                    slot.size
                ));
            }
            Ok(h.data_offset)
        };
        match check() {
            Ok(off) => Ok(&m.data[off..]),
            Err(reason) => Err(backend_error(
                m.shard,
                format!(
                    "member {} (row {}, byte {})",
                    slot.ext, m.row, m.entry.offset
                ),
                ItarError::Npy { reason },
            )),
        }
    }
}

impl SignalStore for ItarStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        match &self.pids {
            PidList::Mapped(fid, range) => self
                .fold
                .shard_bytes(*fid)
                .and_then(|b| b.get(range.clone()))
                .map_or(&[], bytemuck::cast_slice),
            PidList::Owned(v) => v,
        }
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let slot = self.slot(sid)?;
        let Some(extid) = slot.extid else {
            return Ok(Cow::Borrowed(&[]));
        };
        let Some(loc) = self.members.get(&member_key(pid, extid)) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let payload = self
            .fold
            .shard_bytes(loc.fid)
            .and_then(|b| b.get(loc.start..loc.end))
            .ok_or_else(|| self.outside(loc.row))?;
        Ok(Cow::Borrowed(self.elements(slot, payload, loc.row)?))
    }

    fn describe(&self) -> StoreDescription {
        let mut files = vec![(
            self.fold.index_path().to_path_buf(),
            std::fs::metadata(self.fold.index_path()).map_or(0, |m| m.len()),
        )];
        files.extend(self.fold.shard_files());
        StoreDescription {
            format: format!(
                "indexed tar (WebDataset shards + glzn .taridx), fold {}",
                self.fold.name()
            ),
            files,
        }
    }

    /// The fold's checks ([`Fold::verify`]), then every member: `__meta__` or a pid key of the
    /// pid list with a known signal extension and an npy header of that signal's dtype and
    /// length; then the generic element checks.
    fn verify(&self) -> Result<()> {
        self.fold.verify()?;
        let names = self.fold.member_names()?;
        let by_ext: HashMap<&str, &Slot> = self.slots.iter().map(|s| (s.ext.as_str(), s)).collect();
        let pids = self.pids();
        for (row, name) in names.iter().enumerate() {
            let entry = &self.fold.index().rows[row];
            let shard = self
                .fold
                .shard_path(entry.fid)
                .unwrap_or(self.fold.index_path());
            let fail = |reason: String| {
                backend_error(
                    shard,
                    format!("member {name} (row {row}, byte {})", entry.offset),
                    ItarError::Meta { reason },
                )
            };
            let (key, ext) = split_name(name);
            if key == META_KEY {
                if ext != META_JSON && ext != META_PIDS {
                    return Err(fail(format!("unknown metadata member {ext:?}")));
                }
                continue;
            }
            let pid = (key.len() == self.key_width && key.bytes().all(|b| b.is_ascii_digit()))
                .then(|| key.parse::<u32>().ok())
                .flatten()
                .ok_or_else(|| {
                    fail(format!("key {key:?} is not a {}-digit pid", self.key_width))
                })?;
            if pids.binary_search(&Pid(pid)).is_err() {
                return Err(fail(format!("pid {pid} is not in the pid list")));
            }
            let slot = by_ext
                .get(ext.as_str())
                .ok_or_else(|| fail(format!("extension {ext:?} names no signal")))?;
            let m = self
                .fold
                .member(row)
                .ok_or_else(|| fail("outside its shard".into()))?;
            self.elements_slow(slot, m)?;
        }
        verify_elements(self)
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// A member-name-safe extension for each signal, in catalog order: the name lowercased with
/// characters other than `a-z 0-9 - _` as `_`, at most 64 bytes, `_<sid>` added on a clash,
/// then `.npy`.
fn signal_exts(catalog: &Catalog) -> Vec<String> {
    let mut taken = HashSet::new();
    catalog
        .signals()
        .iter()
        .map(|s| {
            let mut base: String = s
                .name
                .chars()
                .map(|c| {
                    let c = c.to_ascii_lowercase();
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            base.truncate(64);
            if base.is_empty() {
                base = "signal".into();
            }
            let mut ext = format!("{base}.npy");
            let mut k = 1;
            while taken.contains(&ext) {
                ext = if k == 1 {
                    format!("{base}_{}.npy", s.sid)
                } else {
                    format!("{base}_{}_{k}.npy", s.sid)
                };
                k += 1;
            }
            taken.insert(ext.clone());
            ext
        })
        .collect()
}

/// Writes a whole store as a patient dataset (fold `patients`) in folder `out` (the body of
/// [`crate::backend::itar::export`]).
pub(crate) fn export_fold(
    store: &dyn SignalStore,
    out: &Path,
    writer: WriterOptions,
    force: bool,
) -> Result<()> {
    crate::target::check_target(out, crate::target::OutputKind::Itar, force)?;
    let catalog = store.catalog();
    let pids = store.pids();
    InputError::check_ascending(pids)?;
    let exts = signal_exts(catalog);
    let prefixes: Vec<String> = catalog
        .signals()
        .iter()
        .map(|s| npy::header_prefix(&s.layout.numpy_fields()))
        .collect();
    let meta = Meta {
        format: FORMAT.into(),
        version: VERSION,
        key_width: KEY_WIDTH,
        n_pids: pids.len() as u64,
        catalog: catalog.to_texts()?,
        signals: catalog
            .signals()
            .iter()
            .zip(&exts)
            .map(|(s, ext)| MetaSignal {
                name: s.name.clone(),
                sid: s.sid.0,
                spec: s.layout.spec().to_owned(),
                ext: ext.clone(),
                dtype: s.layout.numpy_fields(),
            })
            .collect(),
    };
    let meta_json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Internal {
        what: "dataset metadata to JSON",
        detail: e.to_string(),
    })?;
    let mut pid_npy = npy::header(&npy::plain_prefix(PID_DTYPE), pids.len() as u64);
    for p in pids {
        pid_npy.extend_from_slice(&p.0.to_le_bytes());
    }

    let dir = AtomicDir::create(out)?;
    let mut w = FoldWriter::create(dir.path(), "patients", writer)?;
    w.write(
        META_KEY,
        &[(META_JSON, &meta_json[..]), (META_PIDS, &pid_npy[..])],
    )?;
    let mut buf = [0u8; 20];
    for &pid in pids {
        let mut members: Vec<(&str, Vec<u8>)> = Vec::new();
        for ((info, ext), prefix) in catalog.signals().iter().zip(&exts).zip(&prefixes) {
            let bytes = store.get_bytes(pid, info.sid)?;
            if bytes.is_empty() {
                continue;
            }
            info.check_whole(pid, &bytes)?;
            let size = info.layout.size();
            let mut m = npy::header(prefix, (bytes.len() / size) as u64);
            m.extend_from_slice(&bytes);
            members.push((ext, m));
        }
        if members.is_empty() {
            continue;
        }
        let key = std::str::from_utf8(pid_key(pid.0, KEY_WIDTH, &mut buf)).expect("digits");
        let refs: Vec<(&str, &[u8])> = members.iter().map(|(e, m)| (*e, &m[..])).collect();
        w.write(key, &refs)?;
    }
    w.finish()?;
    dir.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_keys_are_fixed_width() {
        let mut b = [0u8; 20];
        assert_eq!(pid_key(0, 10, &mut b), b"0000000000");
        assert_eq!(pid_key(1025, 10, &mut b), b"0000001025");
        assert_eq!(pid_key(u32::MAX, 10, &mut b), b"4294967295");
        assert_eq!(pid_key(123, 2, &mut b), b"123");
    }
}
