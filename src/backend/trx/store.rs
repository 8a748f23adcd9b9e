//! The patient mapping: a repository stored in a TRX, one streamline per (patient, signal)
//! series, and [`TrxStore`] reading it back behind [`SignalStore`].
//!
//! Layout (docs/trx.md §"Patient mapping"):
//! - streamlines sorted by patient, then by the signal's catalog position; only non-empty series;
//! - `positions.3.float64` rows `(time channel 0, value channel 0, value channel 1)`, NaN where
//!   the layout has no such channel (for viewers and numpy users);
//! - `dpv/element_<size>.<size>.uint8`: the exact element bytes, one array per element size in
//!   use (rows of signals of another size are zero), so every layout round-trips losslessly
//!   and `get_bytes` lends a slice of the map;
//! - `dps/patient.uint32`, `dps/signal.uint32` (the sid);
//! - `groups/<escaped signal name>.uint32`: the series of each signal;
//! - header key [`MAPPING_KEY`]: catalog texts (signals file, dictionaries), the signal table,
//!   patients without any series.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::dtype::{Dtype, Role};
use super::reader::{backend_error, Array, Form, TrxFile};
use super::writer::TrxWriter;
use super::TrxError;
use crate::catalog::{Catalog, CatalogTexts};
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::layout::Layout;
use crate::store::{verify_elements, SignalStore, StoreDescription};
use crate::Warning;

/// The header.json key holding the mapping's metadata.
pub const MAPPING_KEY: &str = "INFRAMED";
const MAPPING_FORMAT: &str = "inframed-patients";
const MAPPING_VERSION: u32 = 1;

/// The mapping's header.json object.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Mapping {
    format: String,
    version: u32,
    /// Streamline order, for humans.
    order: String,
    /// What the three positions columns hold.
    columns: Vec<String>,
    catalog: CatalogTexts,
    signals: Vec<SignalEntry>,
    /// Patients of the repository that have no series at all (ascending).
    pids_without_data: Vec<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SignalEntry {
    name: String,
    sid: u32,
    spec: String,
    size: usize,
    /// The dpv array holding the element bytes (`element_<size>`).
    element_array: String,
    /// The group array name (the signal name, escaped).
    group: String,
    /// Number of series (streamlines) of this signal.
    series: u64,
    /// numpy structured dtype of one element (`[name, type]` pairs), to `.view()` the dpv rows.
    numpy_fields: Vec<(String, String)>,
}

/// A group file name for a signal name: characters TRX names cannot hold (`.`, `/`, `\`) and
/// `%` itself are percent-escaped (`Urine/Creatinine` → `Urine%2FCreatinine`), as are control
/// characters; the rest is kept.
pub fn group_name_for(signal: &str) -> String {
    let mut out = String::with_capacity(signal.len());
    for c in signal.chars() {
        if matches!(c, '.' | '/' | '\\' | '%') || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn element_array_name(size: usize) -> String {
    format!("element_{size}")
}

/// Per catalog signal, what the store needs at `get_bytes`.
#[derive(Debug)]
struct SignalSlot {
    size: usize,
    /// Index of the dpv element array in `TrxFile::arrays`; `None` if the signal has no series.
    elements: Option<usize>,
}

/// A patient repository stored in a TRX (zip or folder): opening reads the header, the zip
/// directory and checks offsets and groups (O(members + series)); `get_bytes` is a binary
/// search over `dps/patient` and a slice of the element array in place (borrowed from the map;
/// from the inflate cache for deflated zips).
#[derive(Debug)]
pub struct TrxStore {
    file: TrxFile,
    catalog: Catalog,
    /// sid → index into `slots` + 1 (0: no such sid).
    by_sid: Vec<u32>,
    slots: Vec<SignalSlot>,
    patient: usize,
    signal: usize,
    patient_dtype: Dtype,
    signal_dtype: Dtype,
    extra_pids: Vec<Pid>,
    pids: OnceLock<Vec<Pid>>,
    warnings: Vec<Warning>,
}

fn mapping_error(path: &Path, context: impl Into<String>, what: impl Into<String>) -> Error {
    backend_error(path, context.into(), TrxError::Mapping(what.into()))
}

impl TrxStore {
    /// Opens a TRX written by [`export`](crate::backend::trx::export) (any form).
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Format`] with [`TrxError::NotPatientFile`],
    /// [`TrxError::Mapping`] or a container error; [`Error::Parse`] for bad catalog texts.
    ///
    /// # Examples
    /// ```
    /// use inframed::backend::{trx, ExportOptions};
    /// use inframed::{Repository, SignalStore, SignalStoreExt};
    /// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let out = dir.path().join("patients.trx");
    /// trx::export(&repo, &out, &ExportOptions::default())?;
    /// let store = trx::TrxStore::open(&out)?;
    /// let pid = store.pids()[0];
    /// let hgb = store.signal(pid, "Hemoglobin")?;
    /// println!("{} Hemoglobin values", hgb.len());
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<TrxStore> {
        Self::from_file(TrxFile::open(path)?)
    }

    /// A store over a TRX zip held in memory (named `<memory>` in errors), as every store has
    /// one (`GnzStore::from_bytes`, `IacStore::from_bytes`, …).
    ///
    /// # Errors
    /// As [`TrxStore::open`].
    pub fn from_bytes(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<TrxStore> {
        Self::from_file(TrxFile::from_zip_bytes("<memory>", data)?)
    }

    /// A store over an already opened TRX.
    ///
    /// # Errors
    /// As [`TrxStore::open`].
    pub fn from_file(file: TrxFile) -> Result<TrxStore> {
        let path = file.path().to_path_buf();
        let ctx = format!("header.json key {MAPPING_KEY}");
        let value = file
            .header()
            .json
            .get(MAPPING_KEY)
            .ok_or_else(|| backend_error(&path, ctx.clone(), TrxError::NotPatientFile))?;
        let mapping: Mapping = serde_json::from_value(value.clone())
            .map_err(|e| mapping_error(&path, &ctx, e.to_string()))?;
        if mapping.format != MAPPING_FORMAT || mapping.version != MAPPING_VERSION {
            return Err(mapping_error(
                &path,
                &ctx,
                format!(
                    "format {:?} version {} (this build reads {MAPPING_FORMAT:?} version {MAPPING_VERSION})",
                    mapping.format, mapping.version
                ),
            ));
        }
        let (catalog, warnings) = Catalog::from_texts(&path, &mapping.catalog)?;
        if catalog.signals().len() != mapping.signals.len() {
            return Err(mapping_error(
                &path,
                &ctx,
                format!(
                    "{} signals in the table, {} in the signals file",
                    mapping.signals.len(),
                    catalog.signals().len()
                ),
            ));
        }
        let array_index = |key: &str| file.arrays().iter().position(|a| a.key() == key);
        let mut slots = Vec::with_capacity(catalog.signals().len());
        let mut total_series = 0u64;
        for (info, entry) in catalog.signals().iter().zip(&mapping.signals) {
            let at = format!("{ctx} signal {}", entry.name);
            if entry.name != info.name
                || entry.sid != info.sid.0
                || entry.size != info.layout.size()
            {
                return Err(mapping_error(
                    &path,
                    at,
                    format!(
                        "table says {} sid {} size {}, signals file says {} sid {} size {}",
                        entry.name,
                        entry.sid,
                        entry.size,
                        info.name,
                        info.sid,
                        info.layout.size()
                    ),
                ));
            }
            total_series += entry.series;
            let elements = if entry.series == 0 {
                None
            } else {
                let key = format!("dpv/{}", entry.element_array);
                let i = array_index(&key).ok_or_else(|| {
                    backend_error(&path, at.clone(), TrxError::NoSuchArray(key.clone()))
                })?;
                let a = &file.arrays()[i];
                if a.name.dtype != Dtype::U8 || a.name.dim != entry.size as u64 {
                    return Err(mapping_error(
                        &path,
                        format!("member {}", a.member),
                        format!(
                            "element array must be uint8 with dimension {} (the element size)",
                            entry.size
                        ),
                    ));
                }
                Some(i)
            };
            slots.push(SignalSlot {
                size: entry.size,
                elements,
            });
        }
        if total_series != file.nb_streamlines() {
            return Err(mapping_error(
                &path,
                &ctx,
                format!(
                    "signal table counts {total_series} series, NB_STREAMLINES is {}",
                    file.nb_streamlines()
                ),
            ));
        }
        let integer_dps = |name: &str| -> Result<usize> {
            let key = format!("dps/{name}");
            let i = array_index(&key).ok_or_else(|| {
                backend_error(&path, key.clone(), TrxError::NoSuchArray(key.clone()))
            })?;
            let a = &file.arrays()[i];
            if !matches!(
                a.name.dtype,
                Dtype::U32 | Dtype::I64 | Dtype::U64 | Dtype::I32
            ) || a.name.dim != 1
            {
                return Err(backend_error(
                    &path,
                    format!("member {}", a.member),
                    TrxError::WrongDtype {
                        dtype: a.name.dtype.name(),
                        want: "one column of uint32 (or int32/int64/uint64)",
                    },
                ));
            }
            Ok(i)
        };
        let patient = integer_dps("patient")?;
        let signal = integer_dps("signal")?;
        let by_sid = catalog.dense_slots();
        let mut extra_pids: Vec<Pid> = mapping.pids_without_data.iter().map(|&p| Pid(p)).collect();
        extra_pids.sort_unstable();
        extra_pids.dedup();
        let patient_dtype = file.arrays()[patient].name.dtype;
        let signal_dtype = file.arrays()[signal].name.dtype;
        let mut all_warnings = file.warnings().to_vec();
        all_warnings.extend(warnings);
        Ok(TrxStore {
            file,
            catalog,
            by_sid,
            slots,
            patient,
            signal,
            patient_dtype,
            signal_dtype,
            extra_pids,
            pids: OnceLock::new(),
            warnings: all_warnings,
        })
    }

    /// The container.
    pub fn file(&self) -> &TrxFile {
        &self.file
    }

    fn array(&self, i: usize) -> &Array {
        &self.file.arrays()[i]
    }

    #[inline]
    fn dps_value(&self, array: usize, bytes: &[u8], i: u64) -> i128 {
        self.array(array)
            .name
            .dtype
            .read_int(bytes, i as usize)
            .unwrap_or(-1)
    }

    /// The streamline of `(pid, sid)`, if any: a binary search for `(pid, catalog position)`
    /// over `dps/patient` and `dps/signal` (the export order; `verify` checks it).
    #[inline]
    fn find(&self, pid: Pid, pos: usize) -> Result<Option<u64>> {
        let patients = self.file.bytes(self.array(self.patient))?;
        let signals = self.file.bytes(self.array(self.signal))?;
        let (pd, sd) = (self.patient_dtype, self.signal_dtype);
        let key_at = |i: u64| -> (i128, usize) {
            let p = pd.read_int_fast(patients, i as usize).unwrap_or(-1);
            let s = sd.read_int_fast(signals, i as usize).unwrap_or(-1);
            let pos = usize::try_from(s)
                .ok()
                .and_then(|s| self.by_sid.get(s))
                .map_or(usize::MAX, |&slot| (slot as usize).wrapping_sub(1));
            (p, pos)
        };
        let want = (pid.0 as i128, pos);
        let (mut lo, mut hi) = (0u64, self.file.nb_streamlines());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match key_at(mid).cmp(&want) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    fn compute_pids(&self) -> Result<Vec<Pid>> {
        let patients = self.file.bytes(self.array(self.patient))?;
        let mut out: Vec<Pid> = Vec::new();
        for i in 0..self.file.nb_streamlines() {
            let v = self.dps_value(self.patient, patients, i);
            let pid = u32::try_from(v).map_err(|_| {
                mapping_error(
                    self.file.path(),
                    format!("dps/patient entry {i}"),
                    format!("patient id {v} is not a u32"),
                )
            })?;
            if out.last() != Some(&Pid(pid)) {
                out.push(Pid(pid));
            }
        }
        out.extend(self.extra_pids.iter().copied());
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn verify_mapping(&self) -> Result<()> {
        let path = self.file.path();
        let patients = self.file.bytes(self.array(self.patient))?;
        let signals = self.file.bytes(self.array(self.signal))?;
        let n = self.file.nb_streamlines();
        let mut per_signal: Vec<Vec<u64>> = vec![Vec::new(); self.slots.len()];
        let mut prev: Option<(i128, usize)> = None;
        for i in 0..n {
            let at = |what: String| mapping_error(path, format!("streamline {i}"), what);
            let p = self.dps_value(self.patient, patients, i);
            if u32::try_from(p).is_err() {
                return Err(at(format!("patient id {p} is not a u32")));
            }
            let s = self.dps_value(self.signal, signals, i);
            let pos = u32::try_from(s)
                .ok()
                .and_then(|s| self.by_sid.get(s as usize))
                .filter(|&&slot| slot > 0)
                .map(|&slot| slot as usize - 1)
                .ok_or_else(|| at(format!("signal id {s} is not in the catalog")))?;
            if let Some((pp, ppos)) = prev {
                if (p, pos) <= (pp, ppos) {
                    return Err(at(format!(
                        "series not sorted by (patient, signal): ({pp}, #{ppos}) then ({p}, #{pos})"
                    )));
                }
            }
            prev = Some((p, pos));
            if self.extra_pids.binary_search(&Pid(p as u32)).is_ok() {
                return Err(at(format!("patient {p} is listed as having no data")));
            }
            let r = self.file.streamline_range(i)?;
            if r.is_empty() {
                return Err(at("empty series".into()));
            }
            per_signal[pos].push(i);
        }
        for ((info, slot), series) in self
            .catalog
            .signals()
            .iter()
            .zip(&self.slots)
            .zip(&per_signal)
        {
            if slot.elements.is_none() && !series.is_empty() {
                return Err(mapping_error(
                    path,
                    format!("signal {}", info.name),
                    format!("{} series but the table says none", series.len()),
                ));
            }
            let group = group_name_for(&info.name);
            match self.file.group(&group) {
                Ok(members) if &members == series => {}
                Ok(_) => {
                    return Err(mapping_error(
                        path,
                        format!("groups/{group}"),
                        "group does not list exactly the series of its signal",
                    ))
                }
                Err(e) => return Err(e),
            }
            for &i in series {
                self.check_positions(i, &info.layout, &info.name)?;
            }
        }
        Ok(())
    }

    /// The positions rows of streamline `i` must equal its elements' channels.
    fn check_positions(&self, i: u64, layout: &Layout, name: &str) -> Result<()> {
        let rows = self.file.streamline(i)?;
        let bytes = self.series_bytes(i, layout.size(), self.slot_of(name))?;
        for (r, e) in bytes.chunks_exact(layout.size()).enumerate() {
            let want = columns(layout, e);
            for (c, w) in want.iter().enumerate() {
                let got = rows.get_f64(r, c).unwrap_or(f64::NAN);
                let same = (got.is_nan() && w.is_nan()) || got == *w;
                if !same {
                    return Err(mapping_error(
                        self.file.path(),
                        format!("streamline {i} vertex {r}"),
                        format!("positions column {c} is {got}, element of {name} gives {w}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn slot_of(&self, name: &str) -> Option<usize> {
        self.catalog
            .signal(name)
            .ok()
            .and_then(|s| self.catalog.position(s.sid))
            .and_then(|p| self.slots[p].elements)
    }

    #[inline]
    fn series_bytes(&self, i: u64, size: usize, elements: Option<usize>) -> Result<&[u8]> {
        let Some(e) = elements else {
            return Ok(&[]);
        };
        let a = self.array(e);
        let data = self.file.bytes(a)?;
        let r = self.file.streamline_range(i)?;
        let (from, to) = (r.start * size as u64, r.end * size as u64);
        data.get(from as usize..to as usize).ok_or_else(|| {
            backend_error(
                self.file.path(),
                format!("member {}", a.member),
                TrxError::OutOfBounds {
                    start: from,
                    end: to,
                    len: data.len() as u64,
                },
            )
        })
    }
}

/// The three positions columns of one element.
fn columns(layout: &Layout, e: &[u8]) -> [f64; 3] {
    let read = |ch: Option<&crate::layout::Channel>| {
        ch.map_or(f64::NAN, |c| c.ty.read(&e[c.offset..]).as_f64())
    };
    let (t, v) = (layout.time_channels(), layout.value_channels());
    [read(t.first()), read(v.first()), read(v.get(1))]
}

impl SignalStore for TrxStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        // Lazily: open stays O(members + series) without this pass. A damaged dps/patient
        // (ids beyond u32) yields the ids that decode; `verify` reports the damage.
        self.pids.get_or_init(|| {
            self.compute_pids().unwrap_or_else(|_| {
                let mut v = self.extra_pids.clone();
                if let Ok(b) = self.file.bytes(self.array(self.patient)) {
                    for i in 0..self.file.nb_streamlines() {
                        if let Ok(p) = u32::try_from(self.dps_value(self.patient, b, i)) {
                            v.push(Pid(p));
                        }
                    }
                }
                v.sort_unstable();
                v.dedup();
                v
            })
        })
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let pos = match self.by_sid.get(sid.0 as usize) {
            Some(&slot) if slot > 0 => slot as usize - 1,
            _ => return Err(Error::UnknownSid { sid }),
        };
        let slot = &self.slots[pos];
        if slot.elements.is_none() {
            return Ok(Cow::Borrowed(&[]));
        }
        match self.find(pid, pos)? {
            None => Ok(Cow::Borrowed(&[])),
            Some(i) => Ok(Cow::Borrowed(self.series_bytes(
                i,
                slot.size,
                slot.elements,
            )?)),
        }
    }

    fn describe(&self) -> StoreDescription {
        let form = match self.file.form() {
            Form::StoredZip => "stored zip",
            Form::DeflateZip => "deflate zip",
            Form::Directory => "directory",
        };
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut files: Vec<(PathBuf, u64)> =
            vec![(self.file.path().into(), size(self.file.path()))];
        if self.file.form() == Form::Directory {
            files.extend(
                self.file
                    .arrays()
                    .iter()
                    .map(|a| (self.file.path().join(&a.member), a.size)),
            );
        }
        StoreDescription {
            format: format!("TRX patient file ({form}, one streamline per patient-signal series)"),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        self.file.verify_checksums()?;
        self.compute_pids()?;
        self.verify_mapping()?;
        verify_elements(self)
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// One series of an export.
struct Series {
    pid: Pid,
    pos: usize,
    len: u64,
}

/// Writes `store` as a TRX patient file.
pub(super) fn export(store: &dyn SignalStore, out: &Path, form: Form) -> Result<()> {
    let catalog = store.catalog();
    let infos = catalog.signals();
    let mut series = Vec::new();
    let mut counts = vec![0u64; infos.len()];
    let mut pids_without_data = Vec::new();
    for &pid in store.pids() {
        let before = series.len();
        for (pos, info) in infos.iter().enumerate() {
            let bytes = store.get_bytes(pid, info.sid)?;
            info.check_whole(pid, &bytes)?;
            let size = info.layout.size();
            if !bytes.is_empty() {
                series.push(Series {
                    pid,
                    pos,
                    len: (bytes.len() / size) as u64,
                });
                counts[pos] += 1;
            }
        }
        if series.len() == before {
            pids_without_data.push(pid.0);
        }
    }
    let nb_streamlines = series.len() as u64;
    let nb_vertices: u64 = series.iter().map(|s| s.len).sum();
    let mut sizes: Vec<usize> = infos
        .iter()
        .zip(&counts)
        .filter(|(_, &c)| c > 0)
        .map(|(i, _)| i.layout.size())
        .collect();
    sizes.sort_unstable();
    sizes.dedup();

    let mut w = TrxWriter::new(nb_streamlines, nb_vertices);
    let mapping = Mapping {
        format: MAPPING_FORMAT.into(),
        version: MAPPING_VERSION,
        order: "patient ascending, then signal in catalog order; non-empty series only".into(),
        columns: vec![
            "time channel 0".into(),
            "value channel 0".into(),
            "value channel 1".into(),
        ],
        catalog: catalog.to_texts()?,
        signals: infos
            .iter()
            .zip(&counts)
            .map(|(i, &c)| SignalEntry {
                name: i.name.clone(),
                sid: i.sid.0,
                spec: i.layout.spec().to_string(),
                size: i.layout.size(),
                element_array: element_array_name(i.layout.size()),
                group: group_name_for(&i.name),
                series: c,
                numpy_fields: i.layout.numpy_fields(),
            })
            .collect(),
        pids_without_data,
    };
    let json = serde_json::to_value(&mapping)
        .map_err(|e| mapping_error(out, "header.json", e.to_string()))?;
    w.header_key(MAPPING_KEY, json)?;
    w.header_key("COLUMNS", serde_json::json!(["time", "value", "value2"]))?;
    w.header_key(
        "SIGNAL_NAMES",
        serde_json::Value::from(infos.iter().map(|i| i.name.clone()).collect::<Vec<_>>()),
    )?;

    let io_err = |e: Error| std::io::Error::other(e.to_string());
    let series_ref = &series;
    w.positions_with(
        Dtype::F64,
        Box::new(move |out: &mut dyn Write| {
            let mut buf = Vec::with_capacity(1 << 16);
            for s in series_ref {
                let info = &infos[s.pos];
                let bytes = store.get_bytes(s.pid, info.sid).map_err(io_err)?;
                for e in bytes.chunks_exact(info.layout.size()) {
                    for v in columns(&info.layout, e) {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                }
                if buf.len() >= 1 << 16 {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            out.write_all(&buf)
        }),
    )?;
    w.lengths(&series.iter().map(|s| s.len).collect::<Vec<_>>())?;
    for &size in &sizes {
        w.array_with(
            Role::Dpv,
            &element_array_name(size),
            size as u64,
            Dtype::U8,
            Box::new(move |out: &mut dyn Write| {
                let zeros = vec![0u8; 1 << 16];
                for s in series_ref {
                    let info = &infos[s.pos];
                    if info.layout.size() == size {
                        out.write_all(&store.get_bytes(s.pid, info.sid).map_err(io_err)?)?;
                    } else {
                        let mut left = s.len as usize * size;
                        while left > 0 {
                            let k = left.min(zeros.len());
                            out.write_all(&zeros[..k])?;
                            left -= k;
                        }
                    }
                }
                Ok(())
            }),
        )?;
    }
    let patient: Vec<u8> = series.iter().flat_map(|s| s.pid.0.to_le_bytes()).collect();
    w.array(Role::Dps, "patient", 1, Dtype::U32, patient)?;
    let signal: Vec<u8> = series
        .iter()
        .flat_map(|s| infos[s.pos].sid.0.to_le_bytes())
        .collect();
    w.array(Role::Dps, "signal", 1, Dtype::U32, signal)?;
    let mut groups: Vec<Vec<u64>> = vec![Vec::new(); infos.len()];
    for (i, s) in series.iter().enumerate() {
        groups[s.pos].push(i as u64);
    }
    for (info, members) in infos.iter().zip(&groups) {
        w.group(&group_name_for(&info.name), members)?;
    }
    w.write(out, form)
}
