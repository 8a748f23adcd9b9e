//! The patient mapping: a whole repository as one pack (one record per `(pid, sid)`), and
//! `IacStore`, which reads it back through [`SignalStore`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::codec::Codec;
use super::error::IacError;
use super::header::{header_json_bytes, with_layout, MAX_HEADER_JSON};
use super::reader::Pack;
use super::table::IpcTable;
use super::writer::PackWriter;
use crate::catalog::{Catalog, CatalogTexts};
use crate::error::Result;
use crate::ids::{Pid, Sid};
use crate::store::{verify_elements, SignalStore, StoreDescription};
use crate::Warning;

/// `payload_type` of a patient pack.
pub const PATIENT_PAYLOAD_TYPE: &str = "inframed_patient_signals";
/// Header key of the patient-pack schema version.
pub const SCHEMA_VERSION_KEY: &str = "inframed_schema_version";
/// The patient-pack schema version written and read.
pub const SCHEMA_VERSION: u64 = 1;
/// Header key (and slide-table schema metadata key) of the catalog.
pub const CATALOG_KEY: &str = "inframed_catalog";
/// Header key saying where the catalog is when it did not fit the header.
pub const CATALOG_IN_KEY: &str = "inframed_catalog_in";
/// Value of [`CATALOG_IN_KEY`] when the catalog is in the slide table's schema metadata.
pub const CATALOG_IN_SLIDE_METADATA: &str = "slide_table.schema.metadata";

/// The catalog as stored in a patient pack: the signals file and dictionaries (enough to
/// rebuild the [`Catalog`]), plus each signal's numpy structured dtype for Python readers
/// (informational; the reader derives layouts from the signals text).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogBlock {
    /// Signals file, dictionaries, time unit.
    #[serde(flatten)]
    pub texts: CatalogTexts,
    /// Signal name → numpy field list `[[name, dtype], …]` of one element.
    #[serde(default)]
    pub numpy_dtypes: BTreeMap<String, Vec<(String, String)>>,
}

impl CatalogBlock {
    /// The block of a catalog.
    ///
    /// # Errors
    /// An invalid dictionary of the catalog ([`Catalog::dictionaries`]).
    pub fn of(catalog: &Catalog) -> Result<CatalogBlock> {
        Ok(CatalogBlock {
            texts: catalog.to_texts()?,
            numpy_dtypes: catalog
                .signals()
                .iter()
                .map(|s| (s.name.clone(), s.layout.numpy_fields()))
                .collect(),
        })
    }
}

/// A repository stored as an `.iac` patient pack (see `docs/iac.md`):
/// slide table = one row per patient (`pid: uint32`, ascending); index table = one row per
/// non-empty `(pid, sid)` vector (`pid`, `sid`, `n` elements: uint32; then `offset`, `length`,
/// `crc32`); payload = the vector's element bytes as in a MODE 3 `.data` file; the catalog in
/// the header key `inframed_catalog` (or, when too large for the 64 KiB header, in the slide
/// table's schema metadata under the same key).
///
/// `get_bytes` is one hash probe and, for codec `none`, a borrowed slice of the map.
#[derive(Debug)]
pub struct IacStore {
    pack: Pack,
    catalog: Catalog,
    pids: Vec<Pid>,
    /// `(pid << 32) | sid` → row.
    rows: HashMap<u64, u32>,
    /// Per row: the decoded length (`n` × element size) and `n`.
    expected: Vec<(u64, u64)>,
    warnings: Vec<Warning>,
}

#[inline]
fn key(pid: Pid, sid: Sid) -> u64 {
    ((pid.0 as u64) << 32) | sid.0 as u64
}

impl IacStore {
    /// Opens the patient pack at `path`.
    ///
    /// A pack of another `payload_type` opens as an empty store (no signals, no patients)
    /// with a warning, so that container-level `info` and `verify` work on any pack.
    ///
    /// # Errors
    /// As [`Pack::open`]; [`IacError::Metadata`], [`IacError::DuplicateRecord`],
    /// [`IacError::UnknownKey`], [`IacError::RecordLength`] naming the row.
    pub fn open(path: impl AsRef<Path>) -> Result<IacStore> {
        IacStore::from_pack(Pack::open(path)?)
    }

    /// A store over a pack held in memory.
    ///
    /// # Errors
    /// As [`IacStore::open`].
    pub fn from_bytes(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<IacStore> {
        IacStore::from_pack(Pack::from_bytes(data)?)
    }

    /// A store over an opened pack.
    ///
    /// # Errors
    /// As [`IacStore::open`].
    pub fn from_pack(pack: Pack) -> Result<IacStore> {
        let path = pack.path().to_path_buf();
        if pack.payload_type() != Some(PATIENT_PAYLOAD_TYPE) {
            let warnings = vec![Warning {
                path: path.clone(),
                line: 0,
                message: format!(
                    "payload_type {:?} holds no inframed patient signals: opened as an empty \
                     repository (container checks only)",
                    pack.payload_type().unwrap_or("")
                ),
            }];
            return Ok(IacStore {
                pack,
                catalog: Catalog::default(),
                pids: Vec::new(),
                rows: HashMap::new(),
                expected: Vec::new(),
                warnings,
            });
        }
        let meta = |what: String| IacError::Metadata(what).at(&path, "header");
        match pack
            .header()
            .get(SCHEMA_VERSION_KEY)
            .and_then(Value::as_u64)
        {
            Some(SCHEMA_VERSION) => {}
            other => {
                return Err(meta(format!(
                    "{SCHEMA_VERSION_KEY} is {other:?}, expected {SCHEMA_VERSION}"
                )))
            }
        }
        let block: CatalogBlock = match pack.header().get(CATALOG_KEY) {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| meta(format!("{CATALOG_KEY}: {e}")))?,
            None => {
                let text = pack
                    .slide_table()
                    .schema()
                    .metadata()
                    .get(CATALOG_KEY)
                    .ok_or_else(|| {
                        meta(format!(
                            "no {CATALOG_KEY} in the header nor in the slide table metadata"
                        ))
                    })?;
                serde_json::from_str(text).map_err(|e| {
                    IacError::Metadata(format!("{CATALOG_KEY}: {e}"))
                        .at(&path, "slide table schema metadata")
                })?
            }
        };
        let (catalog, warnings) = Catalog::from_texts(&path, &block.texts)?;

        let slide_col = |e: IacError| e.at(&path, "slide table column pid");
        let pids: Vec<Pid> = pack
            .slide_table()
            .u64_column("pid")
            .map_err(slide_col)?
            .ok_or_else(|| slide_col(IacError::Metadata("no pid column".into())))?
            .into_iter()
            .enumerate()
            .map(|(row, p)| {
                u32::try_from(p).map(Pid).map_err(|_| {
                    IacError::Metadata(format!("pid {p} does not fit uint32"))
                        .at(&path, format!("slide table row {row}"))
                })
            })
            .collect::<Result<_>>()?;
        if let Some(i) = pids.windows(2).position(|w| w[0] >= w[1]) {
            return Err(IacError::Metadata(format!(
                "pids not ascending: {} then {}",
                pids[i],
                pids[i + 1]
            ))
            .at(&path, format!("slide table row {}", i + 1)));
        }

        let index_col = |name: &'static str| -> Result<Vec<u64>> {
            let ctx = || format!("index table column {name}");
            pack.index_table()
                .u64_column(name)
                .map_err(|e| e.at(&path, ctx()))?
                .ok_or_else(|| IacError::Metadata(format!("no {name} column")).at(&path, ctx()))
        };
        let (pid_col, sid_col, n_col) = (index_col("pid")?, index_col("sid")?, index_col("n")?);
        if !pack.is_variable() {
            return Err(IacError::NotVariable.at(&path, "index table"));
        }
        let mut rows = HashMap::with_capacity(pid_col.len());
        let mut expected = Vec::with_capacity(pid_col.len());
        let identity = pack.codec().is_identity();
        for (row, ((&p, &s), &n)) in pid_col.iter().zip(&sid_col).zip(&n_col).enumerate() {
            let unknown = |what: String| {
                IacError::UnknownKey {
                    row: row as u64,
                    what,
                }
                .at(&path, format!("row {row}"))
            };
            let pid = u32::try_from(p)
                .ok()
                .map(Pid)
                .filter(|pid| pids.binary_search(pid).is_ok())
                .ok_or_else(|| unknown(format!("pid {p} is not in the slide table")))?;
            let info = u32::try_from(s)
                .ok()
                .and_then(|s| catalog.by_sid(Sid(s)).ok())
                .ok_or_else(|| unknown(format!("signal id {s} is not in the catalog")))?;
            let want = n
                .checked_mul(info.layout.size() as u64)
                .ok_or_else(|| unknown(format!("element count {n} overflows")))?;
            if identity {
                let (_, stored) = pack.record_span(row)?;
                if stored as u64 != want {
                    return Err(IacError::RecordLength {
                        row: row as u64,
                        found: stored as u64,
                        expected: want,
                        n,
                    }
                    .at(&path, format!("row {row}")));
                }
            }
            if let Some(first) = rows.insert(key(pid, info.sid), row as u32) {
                return Err(IacError::DuplicateRecord {
                    pid: pid.0,
                    sid: info.sid.0,
                    first: first as u64,
                    second: row as u64,
                }
                .at(&path, format!("row {row}")));
            }
            expected.push((want, n));
        }
        Ok(IacStore {
            pack,
            catalog,
            pids,
            rows,
            expected,
            warnings,
        })
    }

    /// The underlying pack.
    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// The index row holding `(pid, sid)`, if any.
    pub fn row_of(&self, pid: Pid, sid: Sid) -> Option<usize> {
        self.rows.get(&key(pid, sid)).map(|&r| r as usize)
    }

    fn decoded_checked(&self, row: usize) -> Result<Cow<'_, [u8]>> {
        let (want, n) = self.expected[row];
        let bytes = self.pack.read_payload_limited(row, Some(want))?;
        if bytes.len() as u64 != want {
            return Err(IacError::RecordLength {
                row: row as u64,
                found: bytes.len() as u64,
                expected: want,
                n,
            }
            .at(self.pack.path(), format!("row {row}")));
        }
        Ok(bytes)
    }
}

impl SignalStore for IacStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        &self.pids
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let Some(&row) = self.rows.get(&key(pid, sid)) else {
            self.catalog.by_sid(sid)?;
            return Ok(Cow::Borrowed(&[]));
        };
        let row = row as usize;
        if self.pack.codec().is_identity() {
            // Spans and lengths were checked at open.
            let (offset, length) = self.pack.record_span(row)?;
            return self.pack.stored_at(row, offset, length).map(Cow::Borrowed);
        }
        self.decoded_checked(row)
    }

    fn describe(&self) -> StoreDescription {
        StoreDescription {
            format: format!(
                "IatroCache v2 pack (payload_type {}, codec {}, {} records)",
                self.pack.payload_type().unwrap_or("none"),
                self.pack.codec().name(),
                self.pack.num_records()
            ),
            files: vec![(self.pack.path().to_path_buf(), self.pack.file_len())],
        }
    }

    fn verify(&self) -> Result<()> {
        self.pack.verify()?;
        if !self.pack.codec().is_identity() {
            for row in 0..self.expected.len() {
                self.decoded_checked(row)?;
            }
        }
        verify_elements(self)
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// Writes `store` as a patient pack at `out` with `codec` (replacing an existing file).
/// Records are encoded and streamed to disk one at a time: pids ascending, signals in catalog
/// order, empty vectors skipped.
///
/// # Errors
/// Errors of `store`; [`IacError::Codec`]; I/O errors naming `out`.
pub(crate) fn write_patient_pack(store: &dyn SignalStore, out: &Path, codec: &Codec) -> Result<()> {
    let catalog = store.catalog();
    let mut w = PackWriter::create(out, true)?;
    let (mut pid_col, mut sid_col, mut n_col) = (Vec::new(), Vec::new(), Vec::new());
    for &pid in store.pids() {
        for info in catalog.signals() {
            let bytes = store.get_bytes(pid, info.sid)?;
            if bytes.is_empty() {
                continue;
            }
            info.check_whole(pid, &bytes)?;
            let size = info.layout.size();
            let n = u32::try_from(bytes.len() / size).map_err(|_| {
                IacError::PayloadTooLarge(bytes.len() as u64)
                    .at(out, format!("pid {pid} signal {}", info.name))
            })?;
            let stored = codec
                .encode(&bytes)
                .map_err(|e| e.at(out, format!("pid {pid} signal {}", info.name)))?;
            w.append_payload(&stored)?;
            pid_col.push(pid.0);
            sid_col.push(info.sid.0);
            n_col.push(n);
        }
    }
    let u32_field = |name: &str| Field::new(name, DataType::UInt32, true);
    let index_schema = Arc::new(Schema::new(vec![
        u32_field("pid"),
        u32_field("sid"),
        u32_field("n"),
    ]));
    let arrow = |e| IacError::Arrow(e).at(out, "index table");
    let index = if pid_col.is_empty() {
        IpcTable::empty(index_schema)
    } else {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(pid_col)),
            Arc::new(UInt32Array::from(sid_col)),
            Arc::new(UInt32Array::from(n_col)),
        ];
        IpcTable::from_batch(RecordBatch::try_new(index_schema, cols).map_err(arrow)?)
    };

    let block = serde_json::to_value(CatalogBlock::of(catalog)?).map_err(|e| {
        IacError::Metadata(format!("cannot serialize the catalog: {e}")).at(out, "header")
    })?;
    let mut header = Map::new();
    header.insert("payload_type".into(), Value::from(PATIENT_PAYLOAD_TYPE));
    header.extend(codec.header_keys());
    header.insert(SCHEMA_VERSION_KEY.into(), Value::from(SCHEMA_VERSION));
    let slide_rows: Vec<u32> = store.pids().iter().map(|p| p.0).collect();
    let mut slide_meta = std::collections::HashMap::new();
    // Fits the 64 KiB header? (Layout numbers are at most 20 digits each: leave room.)
    let mut probe = header.clone();
    probe.insert(CATALOG_KEY.into(), block.clone());
    let probe = with_layout(&probe, u64::MAX, u64::MAX, u64::MAX, u64::MAX, u64::MAX);
    if header_json_bytes(&probe).len() <= MAX_HEADER_JSON {
        header.insert(CATALOG_KEY.into(), block);
    } else {
        header.insert(
            CATALOG_IN_KEY.into(),
            Value::from(CATALOG_IN_SLIDE_METADATA),
        );
        slide_meta.insert(CATALOG_KEY.to_string(), block.to_string());
    }
    let slide_schema = Arc::new(Schema::new_with_metadata(
        vec![u32_field("pid")],
        slide_meta,
    ));
    let slide = if slide_rows.is_empty() {
        IpcTable::empty(slide_schema)
    } else {
        let col: ArrayRef = Arc::new(UInt32Array::from(slide_rows));
        IpcTable::from_batch(RecordBatch::try_new(slide_schema, vec![col]).map_err(arrow)?)
    };
    w.finish(&header, &slide, &index)
}
