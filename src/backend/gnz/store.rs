//! The patient mapping: a whole repository in one GNZ file, served through `SignalStore`.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use hashbrown::HashMap;
use serde_json::{json, Map, Value};

use super::reader::{ArrayInfo, GnzFile};
use super::writer::GnzWriter;
use super::{backend_error, DType, GnzError, Order};
use crate::catalog::{Catalog, CatalogTexts};
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::layout::Layout;
use crate::store::{SignalStore, StoreDescription};
use crate::Warning;

/// `metadata["inframed"]["format"]` of a patient file.
pub const MAPPING_FORMAT: &str = "inframed-patients";
const MAPPING_VERSION: u64 = 1;
const PIDS: &str = "pids";

/// One signal's three arrays, as byte ranges of the file (checked at open).
#[derive(Debug)]
struct SignalArrays {
    name: String,
    size: usize,
    /// Patients with elements (`<SIG>.pids`).
    n: usize,
    /// Elements in all (`<SIG>.elements` length).
    count: u64,
    pids: Range<usize>,
    starts: Range<usize>,
    elements: Range<usize>,
}

#[derive(Debug)]
enum SidIndex {
    /// sid → position + 1 (0: unknown), for sids below 2^20.
    Dense(Vec<u32>),
    Map(HashMap<Sid, usize>),
}

#[derive(Debug)]
enum PidsView {
    Mapped(Range<usize>),
    Owned(Vec<Pid>),
}

/// A patient repository stored in a GNZ file (docs/DESIGN.md §4): a global `pids` array (`<i4`) and,
/// per signal, `<SIG>.pids` (`<i4`, patients with elements, ascending), `<SIG>.starts`
/// (`<u8`, n + 1 element indices) and `<SIG>.elements` (`|V<size>`, all elements, pid by pid),
/// with the catalog texts and numpy field lists in `metadata["inframed"]`.
///
/// Opening parses the header and checks each array's dtype, shape and two end values of
/// `starts` (O(signals)); `get_bytes` is a binary search in `<SIG>.pids` and a slice of the
/// map. [`SignalStore::verify`] checks every pid, start and element order.
///
/// # Examples
/// ```
/// use inframed::backend::{gnz, ExportOptions};
/// use inframed::{Pid, Repository};
/// let dir = tempfile::tempdir()?;
/// let out = dir.path().join("small.gnz");
/// let native = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// gnz::export(&native, &out, &ExportOptions::default())?;
/// let repo = Repository::open(&out)?;
/// assert_eq!(repo.signal(Pid(1025), "Hemoglobin")?.len(), native.signal(Pid(1025), "Hemoglobin")?.len());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct GnzStore {
    file: GnzFile,
    catalog: Catalog,
    warnings: Vec<Warning>,
    pids: PidsView,
    pids_offset: u64,
    sids: SidIndex,
    signals: Vec<SignalArrays>,
}

#[derive(serde::Deserialize)]
struct SignalEntry {
    name: String,
    sid: u32,
    spec: String,
    size: usize,
    pids: String,
    starts: String,
    elements: String,
}

fn range(a: &ArrayInfo) -> Range<usize> {
    a.offset as usize..(a.offset + a.nbytes) as usize
}

#[inline]
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    let at = i.checked_mul(8)?;
    let chunk = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(chunk.try_into().ok()?))
}

#[inline]
fn i32_at(b: &[u8], i: usize) -> Option<i32> {
    let at = i.checked_mul(4)?;
    let chunk = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_le_bytes(chunk.try_into().ok()?))
}

/// Position of `pid` in an ascending `<i4` array.
#[inline]
fn find_pid(pids: &[u8], pid: i32) -> Option<usize> {
    match bytemuck::try_cast_slice::<u8, i32>(pids) {
        // Little-endian target (cast.rs refuses big-endian builds).
        Ok(s) => s.binary_search(&pid).ok(),
        Err(_) => {
            let (mut lo, mut hi) = (0usize, pids.len() / 4);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match i32_at(pids, mid)?.cmp(&pid) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => return Some(mid),
                }
            }
            None
        }
    }
}

fn expect_array(
    file: &GnzFile,
    name: &str,
    dtype: &str,
    len: Option<u64>,
) -> Result<(ArrayInfo, u64)> {
    let a = file.info(name)?;
    let found = format!("{} {}", a.dtype, a.shape_text());
    let ok_len = a.shape.len() == 1 && len.map_or(true, |n| a.shape[0] == n);
    if a.dtype.as_str() != dtype || !ok_len {
        let shape = len.map_or("(n,)".to_string(), |n| format!("({n},)"));
        return Err(backend_error(
            file.path(),
            format!("array {name:?}"),
            GnzError::MappingArray {
                expected: format!("{dtype} {shape}"),
                found,
            },
        ));
    }
    let n = a.shape[0];
    Ok((a.clone(), n))
}

impl GnzStore {
    /// Opens a GNZ patient file.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Format`] with a [`GnzError`] for a damaged container, a
    /// file without `metadata["inframed"]`, or arrays whose dtype, shape or ends contradict
    /// the mapping; [`Error::Parse`] for invalid catalog texts.
    pub fn open(path: impl AsRef<Path>) -> Result<GnzStore> {
        GnzStore::from_file(GnzFile::open(path)?)
    }

    /// A store over a GNZ patient file held in memory.
    ///
    /// # Errors
    /// As [`GnzStore::open`].
    pub fn from_bytes(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<GnzStore> {
        GnzStore::from_file(GnzFile::from_bytes(data)?)
    }

    /// The container underneath.
    pub fn file(&self) -> &GnzFile {
        &self.file
    }

    /// A store over an opened container.
    ///
    /// # Errors
    /// As [`GnzStore::open`].
    pub fn from_file(file: GnzFile) -> Result<GnzStore> {
        let path = file.path().to_path_buf();
        let meta_err = |e| backend_error(&path, "metadata \"inframed\"", e);
        let m = match file.metadata().get("inframed") {
            Some(Value::Object(m)) => m,
            _ => return Err(meta_err(GnzError::NotAPatientFile)),
        };
        let format = m.get("format").and_then(Value::as_str);
        let version = m.get("version").and_then(Value::as_u64);
        if format != Some(MAPPING_FORMAT) || version != Some(MAPPING_VERSION) {
            let found = format!(
                "format {}, version {}",
                m.get("format").unwrap_or(&Value::Null),
                m.get("version").unwrap_or(&Value::Null)
            );
            return Err(meta_err(GnzError::MappingVersion(found)));
        }
        let texts: CatalogTexts = match m.get("catalog") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| meta_err(GnzError::Json(format!("catalog: {e}"))))?,
            None => return Err(meta_err(GnzError::MissingKey("catalog"))),
        };
        let entries: Vec<SignalEntry> = match m.get("signals") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| meta_err(GnzError::Json(format!("signals: {e}"))))?,
            None => return Err(meta_err(GnzError::MissingKey("signals"))),
        };
        let (catalog, warnings) = Catalog::from_texts(&path, &texts)?;

        let (pids_info, _) = expect_array(&file, PIDS, "<i4", None)?;
        let pids_range = range(&pids_info);
        let pids_bytes = file.bytes().get(pids_range.clone()).unwrap_or(&[]);
        let pids = match bytemuck::try_cast_slice::<u8, Pid>(pids_bytes) {
            Ok(_) => PidsView::Mapped(pids_range),
            Err(_) => PidsView::Owned(bytemuck::pod_collect_to_vec(pids_bytes)),
        };

        let by_name: HashMap<&str, &SignalEntry> =
            entries.iter().map(|e| (e.name.as_str(), e)).collect();
        if by_name.len() != entries.len() || entries.len() != catalog.signals().len() {
            let extra = entries
                .iter()
                .find(|e| catalog.signal(&e.name).is_err())
                .map_or_else(|| "<duplicate>".to_string(), |e| e.name.clone());
            return Err(meta_err(GnzError::SignalMismatch(extra)));
        }
        let mut signals = Vec::with_capacity(entries.len());
        for info in catalog.signals() {
            let e = by_name
                .get(info.name.as_str())
                .filter(|e| {
                    e.sid == info.sid.0
                        && e.size == info.layout.size()
                        && e.spec == info.layout.spec()
                })
                .ok_or_else(|| meta_err(GnzError::SignalMismatch(info.name.clone())))?;
            signals.push(Self::check_signal(&file, e, &info.layout)?);
        }
        let max_sid = catalog.signals().iter().map(|s| s.sid.0).max().unwrap_or(0);
        let sids = if max_sid < 1 << 20 {
            let mut dense = vec![0u32; max_sid as usize + 1];
            for (i, s) in catalog.signals().iter().enumerate() {
                dense[s.sid.0 as usize] = i as u32 + 1;
            }
            SidIndex::Dense(dense)
        } else {
            SidIndex::Map(
                catalog
                    .signals()
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.sid, i))
                    .collect(),
            )
        };
        Ok(GnzStore {
            pids_offset: pids_info.offset,
            file,
            catalog,
            warnings,
            pids,
            sids,
            signals,
        })
    }

    fn check_signal(file: &GnzFile, e: &SignalEntry, layout: &Layout) -> Result<SignalArrays> {
        let size = layout.size();
        let (p, n) = expect_array(file, &e.pids, "<i4", None)?;
        let (s, _) = expect_array(file, &e.starts, "<u8", Some(n + 1))?;
        let (el, count) = expect_array(file, &e.elements, &format!("|V{size}"), None)?;
        let starts = file.raw_of(&s);
        let field = |i: u64, field, found: u64, expected: u64| {
            backend_error(
                file.path(),
                format!(
                    "array {:?} element {i} (byte {})",
                    e.starts,
                    s.offset + 8 * i
                ),
                GnzError::MappingField {
                    field,
                    found: found as i64,
                    expected: expected as i64,
                },
            )
        };
        let first = u64_at(starts, 0).unwrap_or(0);
        if first != 0 {
            return Err(field(0, "first start", first, 0));
        }
        let last = u64_at(starts, n as usize).unwrap_or(0);
        if last != count {
            return Err(field(n, "last start", last, count));
        }
        Ok(SignalArrays {
            name: e.name.clone(),
            size,
            n: n as usize,
            count,
            pids: range(&p),
            starts: range(&s),
            elements: range(&el),
        })
    }

    #[inline]
    fn position(&self, sid: Sid) -> Result<usize> {
        let pos = match &self.sids {
            SidIndex::Dense(d) => d.get(sid.0 as usize).and_then(|&x| x.checked_sub(1)),
            SidIndex::Map(m) => m.get(&sid).map(|&i| i as u32),
        };
        pos.map(|p| p as usize).ok_or(Error::UnknownSid { sid })
    }

    fn corrupt(&self, offset: u64, what: DecodeError) -> Error {
        Error::corrupt(self.file.path(), offset, what)
    }

    fn verify_signal(&self, s: &SignalArrays, all: &[Pid]) -> Result<()> {
        let bytes = self.file.bytes();
        let part = |r: &Range<usize>| bytes.get(r.clone()).unwrap_or(&[]);
        let (pids, starts, elements) = (part(&s.pids), part(&s.starts), part(&s.elements));
        let info = self.catalog.signal(&s.name)?;
        let layout = &info.layout;
        let mut prev_pid: Option<i32> = None;
        let mut prev_start = 0u64;
        for i in 0..s.n {
            let pid_at = s.pids.start as u64 + 4 * i as u64;
            let pid = i32_at(pids, i).unwrap_or(-1);
            if pid < 0 || all.binary_search(&Pid(pid as u32)).is_err() {
                return Err(self.corrupt(pid_at, DecodeError::PidNotInList { pid: pid as i64 }));
            }
            if let Some(p) = prev_pid.filter(|&p| p >= pid) {
                return Err(Error::corrupt(
                    self.file.path(),
                    pid_at,
                    DecodeError::NotAscending {
                        what: "signal pids",
                        prev: p as i64,
                        next: pid as i64,
                    },
                ));
            }
            prev_pid = Some(pid);
            let start_at = s.starts.start as u64 + 8 * (i as u64 + 1);
            let end = u64_at(starts, i + 1).unwrap_or(0);
            if end < prev_start || end > s.count {
                return Err(self.corrupt(
                    start_at,
                    DecodeError::ElementRange {
                        pid: pid as u32,
                        from: prev_start as i64,
                        to: end as i64,
                        count: s.count,
                    },
                ));
            }
            let vector = elements
                .get(prev_start as usize * s.size..end as usize * s.size)
                .unwrap_or(&[]);
            let elems: Vec<&[u8]> = vector.chunks_exact(s.size).collect();
            for (k, w) in elems.windows(2).enumerate() {
                if layout.cmp_time(w[0], w[1]).is_gt() {
                    let at = s.elements.start as u64 + (prev_start + k as u64 + 1) * s.size as u64;
                    return Err(self.corrupt(
                        at,
                        DecodeError::TimeOrder {
                            pid: pid as u32,
                            sid: info.sid.0,
                            element: k as u64 + 1,
                        },
                    ));
                }
            }
            prev_start = end;
        }
        Ok(())
    }
}

impl SignalStore for GnzStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    #[inline]
    fn pids(&self) -> &[Pid] {
        match &self.pids {
            PidsView::Mapped(r) => {
                bytemuck::cast_slice(self.file.bytes().get(r.clone()).unwrap_or(&[]))
            }
            PidsView::Owned(v) => v,
        }
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let s = &self.signals[self.position(sid)?];
        let Ok(key) = i32::try_from(pid.0) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let bytes = self.file.bytes();
        let Some(i) = bytes.get(s.pids.clone()).and_then(|p| find_pid(p, key)) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let starts = bytes.get(s.starts.clone()).unwrap_or(&[]);
        let (from, to) = (u64_at(starts, i), u64_at(starts, i + 1));
        let slice = match (from, to) {
            (Some(a), Some(b)) if a <= b && b <= s.count => {
                let base = s.elements.start;
                bytes.get(base + a as usize * s.size..base + b as usize * s.size)
            }
            _ => None,
        };
        slice.map(Cow::Borrowed).ok_or_else(|| {
            self.corrupt(
                s.starts.start as u64 + 8 * i as u64,
                DecodeError::ElementRange {
                    pid: pid.0,
                    from: from.map_or(-1, |x| x as i64),
                    to: to.map_or(-1, |x| x as i64),
                    count: s.count,
                },
            )
        })
    }

    fn describe(&self) -> StoreDescription {
        StoreDescription {
            format: "GNZ1 aligned arrays (inframed patient mapping)".into(),
            files: vec![(
                self.file.path().to_path_buf(),
                self.file.bytes().len() as u64,
            )],
        }
    }

    fn verify(&self) -> Result<()> {
        let all = self.pids();
        for (i, w) in all.windows(2).enumerate() {
            let (a, b) = (w[0].0 as i32, w[1].0 as i32);
            if a < 0 || a >= b {
                return Err(Error::corrupt(
                    self.file.path(),
                    self.pids_offset + 4 * i as u64,
                    DecodeError::NotAscending {
                        what: "pids",
                        prev: a as i64,
                        next: b as i64,
                    },
                ));
            }
        }
        if let Some(p) = all.last().filter(|p| (p.0 as i32) < 0) {
            return Err(self.corrupt(
                self.pids_offset + 4 * (all.len() as u64 - 1),
                DecodeError::Negative {
                    field: "pid",
                    value: p.0 as i32 as i64,
                },
            ));
        }
        for s in &self.signals {
            self.verify_signal(s, all)?;
        }
        Ok(())
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// numpy's dict form of a structured dtype (`np.dtype(d)` accepts it as is): named channels at
/// their offsets, padding left out, `itemsize` the element size.
fn numpy_dtype(layout: &Layout) -> Value {
    let (mut names, mut formats, mut offsets) = (vec![], vec![], vec![]);
    let mut at = 0usize;
    for (name, ty) in layout.numpy_fields() {
        let size = DType::parse(&ty).map_or(1, |d| d.itemsize());
        if !name.starts_with("_pad") {
            names.push(Value::from(name));
            formats.push(Value::from(ty));
            offsets.push(Value::from(at));
        }
        at += size;
    }
    json!({"names": names, "formats": formats, "offsets": offsets, "itemsize": layout.size()})
}

/// Writes `store` as a GNZ patient file at `out` (temporary file, then rename): arrays in the
/// order `pids`, then per signal in catalog order `<SIG>.pids`, `<SIG>.starts`,
/// `<SIG>.elements`. Element bytes are copied from `get_bytes`, pid by pid, straight into the
/// file.
///
/// # Errors
/// Errors of the store; [`Error::Open`] / [`Error::Io`]; [`GnzError::PidOutOfRange`];
/// [`Error::PartialElements`] when the store returns a partial element.
pub(crate) fn export_store(store: &dyn SignalStore, out: &Path) -> Result<()> {
    let catalog = store.catalog();
    let pids = store.pids();
    let mut all = Vec::with_capacity(pids.len());
    for &p in pids {
        all.push(
            i32::try_from(p.0)
                .map_err(|_| backend_error(out, "array \"pids\"", GnzError::PidOutOfRange(p.0)))?,
        );
    }
    let mut w = GnzWriter::new();
    let mut entries = Vec::new();
    let mut plans = Vec::new();
    w.add::<i32>(PIDS, &[all.len() as u64], &all)?;
    for info in catalog.signals() {
        let size = info.layout.size();
        let (mut sig_pids, mut starts) = (Vec::new(), vec![0u64]);
        let mut total = 0u64;
        for (&pid, &key) in pids.iter().zip(&all) {
            let bytes = store.get_bytes(pid, info.sid)?;
            info.check_whole(pid, &bytes)?;
            let len = bytes.len();
            if len > 0 {
                total += (len / size) as u64;
                sig_pids.push(key);
                starts.push(total);
            }
        }
        let names = [".pids", ".starts", ".elements"].map(|x| format!("{}{x}", info.name));
        w.add::<i32>(&names[0], &[sig_pids.len() as u64], &sig_pids)?;
        w.add::<u64>(&names[1], &[starts.len() as u64], &starts)?;
        w.reserve(&names[2], &format!("|V{size}"), &[total], Order::C)?;
        let fields: Vec<Value> = info
            .layout
            .numpy_fields()
            .into_iter()
            .map(|(n, t)| json!([n, t]))
            .collect();
        entries.push(json!({
            "name": info.name, "sid": info.sid.0, "spec": info.layout.spec(), "size": size,
            "count": total, "patients": sig_pids.len(), "fields": fields,
            "numpy_dtype": numpy_dtype(&info.layout),
            "pids": names[0], "starts": names[1], "elements": names[2],
        }));
        plans.push((info.sid, names[2].clone(), sig_pids));
    }
    let texts = serde_json::to_value(catalog.to_texts()?).map_err(|e| Error::Internal {
        what: "catalog texts to JSON",
        detail: e.to_string(),
    })?;
    let mut meta = Map::new();
    meta.insert(
        "inframed".into(),
        json!({
            "format": MAPPING_FORMAT, "version": MAPPING_VERSION, "pids": PIDS,
            "catalog": texts, "signals": entries,
        }),
    );
    w.set_metadata(meta);
    let mut fw = w.create(out)?;
    for (sid, name, sig_pids) in plans {
        let mut at = 0u64;
        for key in sig_pids {
            let bytes = store.get_bytes(Pid(key as u32), sid)?;
            fw.fill(&name, at, &bytes)?;
            at += bytes.len() as u64;
        }
    }
    fw.commit()
}
