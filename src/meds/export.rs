//! Repository → MEDS dataset (`export --to meds`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit as ArrowTimeUnit};

use crate::arrow::columns::{read_int, time_to_micros};
use crate::arrow::events::{patient_events, Plan};
use crate::arrow::export::{write_table, Format, TableOptions};
use crate::arrow::fuse_on_error;
use crate::atomic::AtomicDir;
use crate::error::{Error, Result};
use crate::ids::Pid;
use crate::store::SignalStore;
use crate::target::{check_target, OutputKind, EXPORT_MANIFEST};

use super::{code_of, MEDS_VERSION};

/// Options of [`export_meds`].
#[derive(Clone, Debug)]
pub struct MedsExportOptions {
    /// `dataset_name` of `metadata/dataset.json` (default `inframed`).
    pub dataset_name: String,
    /// Subjects per `data/<k>.parquet` file (default 100 000).
    pub subjects_per_file: usize,
    /// Rows per Parquet row group and per batch in memory (default 65 536).
    pub row_group_rows: usize,
    /// `(pid, split)` rows of `metadata/subject_splits.parquet` (`train`, `tuning`,
    /// `held_out`, …); none written when `None`.
    pub splits: Option<Vec<(Pid, String)>>,
    /// Replace `out` even when it is not a previous export (never a symbolic link).
    pub force: bool,
}

impl Default for MedsExportOptions {
    fn default() -> Self {
        MedsExportOptions {
            dataset_name: "inframed".into(),
            subjects_per_file: 100_000,
            row_group_rows: 65_536,
            splits: None,
            force: false,
        }
    }
}

/// What [`export_meds`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MedsExportSummary {
    /// The data files, in subject order.
    pub data_files: Vec<PathBuf>,
    /// Rows (events) written.
    pub events: u64,
    /// Distinct codes (rows of `metadata/codes.parquet`).
    pub codes: usize,
    /// Elements whose first time channel is not a real time (an invalid date): written with
    /// a null time, as static rows.
    pub untimed: u64,
}

/// The columns of the data files: the four MEDS columns, then `time1`… for further time
/// channels and `value<i>` for every value channel that is neither the code's category nor
/// `numeric_value`.
fn data_schema(plan: &Plan) -> SchemaRef {
    let ts = DataType::Timestamp(ArrowTimeUnit::Microsecond, None);
    let mut fields = vec![
        Field::new("subject_id", DataType::Int64, false),
        Field::new("time", ts.clone(), true),
        Field::new("code", DataType::Utf8, false),
        Field::new("numeric_value", DataType::Float32, true),
    ];
    for t in 1..plan.max_time {
        fields.push(Field::new(format!("time{t}"), ts.clone(), true));
    }
    for v in 0..plan.max_value {
        fields.push(Field::new(format!("value{v}"), DataType::Float64, true));
    }
    Arc::new(Schema::new(fields))
}

/// Which value channel of a signal becomes the code, which `numeric_value`.
fn roles(plan: &Plan, s: usize) -> (Option<usize>, Option<usize>) {
    let cat = &plan.signals[s].categorical;
    let code = cat.iter().position(|&c| c);
    let numeric = cat.iter().position(|&c| !c);
    (code, numeric)
}

/// Builds the batches of one data file: the events of `pids`, at most `rows` per batch.
struct DataBatches<'a> {
    store: &'a dyn SignalStore,
    plan: &'a Plan,
    schema: SchemaRef,
    pids: &'a [Pid],
    next: usize,
    rows: usize,
    codes: &'a mut BTreeMap<String, String>,
    /// `(signal, category)` → code, so that a code is formatted once.
    cache: hashbrown::HashMap<(usize, i64), String>,
    events: u64,
    untimed: u64,
}

struct Builders {
    subject: Int64Builder,
    time: TimestampMicrosecondBuilder,
    code: StringBuilder,
    numeric: Float32Builder,
    times: Vec<TimestampMicrosecondBuilder>,
    values: Vec<Float64Builder>,
    len: usize,
}

impl Builders {
    fn new(plan: &Plan) -> Builders {
        Builders {
            subject: Int64Builder::new(),
            time: TimestampMicrosecondBuilder::new(),
            code: StringBuilder::new(),
            numeric: Float32Builder::new(),
            times: (1..plan.max_time)
                .map(|_| TimestampMicrosecondBuilder::new())
                .collect(),
            values: (0..plan.max_value).map(|_| Float64Builder::new()).collect(),
            len: 0,
        }
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.subject.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.code.finish()),
            Arc::new(self.numeric.finish()),
        ];
        cols.extend(
            self.times
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols.extend(
            self.values
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Internal {
            what: "building a MEDS batch",
            detail: e.to_string(),
        })
    }
}

impl DataBatches<'_> {
    fn push_patient(&mut self, b: &mut Builders, pid: Pid) -> Result<()> {
        let (vectors, events) = patient_events(self.store, self.plan, pid)?;
        for ev in events {
            let s = &self.plan.signals[ev.signal];
            let size = s.layout.size();
            let e = &vectors[ev.signal][ev.element * size..(ev.element + 1) * size];
            let (code_ch, num_ch) = roles(self.plan, ev.signal);
            let vals = s.layout.value_channels();
            let cat = code_ch.map(|c| read_int(vals[c].ty, &e[vals[c].offset..]));
            let key = (ev.signal, cat.unwrap_or(i64::MIN));
            if !self.cache.contains_key(&key) {
                let name = cat.map(|v| s.names.get(&v).cloned().unwrap_or_else(|| v.to_string()));
                let code = code_of(&s.name, name.as_deref());
                let description = match &name {
                    Some(n) => format!("{}: {n}", s.name),
                    None => s.name.clone(),
                };
                self.codes.insert(code.clone(), description);
                self.cache.insert(key, code);
            }
            let code = &self.cache[&key];
            if ev.time.is_none() && !s.layout.time_channels().is_empty() {
                self.untimed += 1;
            }
            b.subject.append_value(pid.0 as i64);
            b.time.append_option(ev.time);
            b.code.append_value(code);
            // NaN (a missing value) is a null numeric_value.
            b.numeric.append_option(
                num_ch
                    .map(|c| vals[c].ty.read(&e[vals[c].offset..]).as_f64() as f32)
                    .filter(|v| !v.is_nan()),
            );
            let times = s.layout.time_channels();
            for (t, tb) in b.times.iter_mut().enumerate() {
                let v = times
                    .get(t + 1)
                    .and_then(|c| time_to_micros(s.time_unit, read_int(c.ty, &e[c.offset..])));
                tb.append_option(v);
            }
            for (i, vb) in b.values.iter_mut().enumerate() {
                let extra = i < vals.len() && Some(i) != code_ch && Some(i) != num_ch;
                vb.append_option(extra.then(|| vals[i].ty.read(&e[vals[i].offset..]).as_f64()));
            }
            b.len += 1;
            self.events += 1;
        }
        Ok(())
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut b = Builders::new(self.plan);
        while b.len < self.rows && self.next < self.pids.len() {
            let pid = self.pids[self.next];
            self.next += 1;
            self.push_patient(&mut b, pid)?;
        }
        if b.len == 0 {
            return Ok(None);
        }
        b.finish(&self.schema).map(Some)
    }
}

impl Iterator for DataBatches<'_> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.next_batch();
        fuse_on_error(batch, || self.next = self.pids.len())
    }
}

/// Writes the store as a MEDS 0.4 dataset in the folder `out` (created, or replaced when it
/// holds a previous export of ours: the rule of [`check_target`]): `data/<k>.parquet` with
/// the subjects in pid order (each subject in one file, its events sorted by time, static
/// rows first), `metadata/dataset.json`, `metadata/codes.parquet`, and
/// `metadata/subject_splits.parquet` when splits are given. The code mapping is in
/// `docs/meds.md`.
///
/// # Errors
/// [`Error::Occupied`]; I/O and Parquet errors naming the file; the store's read errors. On
/// error `out` is unchanged.
///
/// # Examples
/// ```
/// use inframed::meds::{export_meds, MedsExportOptions};
/// use inframed::Repository;
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let out = tempfile::tempdir().unwrap();
/// let summary = export_meds(&repo, &out.path().join("meds"), &MedsExportOptions::default())?;
/// assert!(summary.events > 0);
/// assert!(out.path().join("meds/metadata/codes.parquet").is_file());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn export_meds(
    store: &dyn SignalStore,
    out: &Path,
    options: &MedsExportOptions,
) -> Result<MedsExportSummary> {
    export_meds_staged(store, out, options).map_err(|e| e.in_target(out))
}

/// [`export_meds`] itself: errors may still name the staging directory.
fn export_meds_staged(
    store: &dyn SignalStore,
    out: &Path,
    options: &MedsExportOptions,
) -> Result<MedsExportSummary> {
    check_target(out, OutputKind::Export, options.force)?;
    let plan = Plan::of(store.catalog())?;
    let schema = data_schema(&plan);
    let dir = AtomicDir::create(out)?;
    let mkdir = |rel: &str| {
        let p = dir.path().join(rel);
        fs::create_dir_all(&p).map_err(|source| Error::Open { path: p, source })
    };
    mkdir("data")?;
    mkdir("metadata")?;
    let table = TableOptions {
        row_group_rows: options.row_group_rows,
        ..TableOptions::default()
    };
    let mut codes = BTreeMap::new();
    let mut summary = MedsExportSummary::default();
    let mut files = Vec::new();
    for (k, pids) in store
        .pids()
        .chunks(options.subjects_per_file.max(1))
        .enumerate()
    {
        let rel = format!("data/{k}.parquet");
        let mut batches = DataBatches {
            store,
            plan: &plan,
            schema: schema.clone(),
            pids,
            next: 0,
            rows: options.row_group_rows.max(1),
            codes: &mut codes,
            cache: hashbrown::HashMap::new(),
            events: 0,
            untimed: 0,
        };
        write_table(
            &dir.path().join(&rel),
            schema.clone(),
            &mut batches,
            &table,
            Format::Parquet,
        )?;
        summary.events += batches.events;
        summary.untimed += batches.untimed;
        files.push(rel);
    }
    write_codes(&dir.path().join("metadata/codes.parquet"), &codes, &table)?;
    if let Some(splits) = &options.splits {
        write_splits(
            &dir.path().join("metadata/subject_splits.parquet"),
            splits,
            &table,
        )?;
    }
    let dataset = serde_json::json!({
        "dataset_name": options.dataset_name,
        "dataset_version": "1",
        "etl_name": "inframed",
        "etl_version": env!("CARGO_PKG_VERSION"),
        "meds_version": MEDS_VERSION,
        "created_at": now_iso8601(),
    });
    put_json(&dir.path().join("metadata/dataset.json"), &dataset)?;
    let manifest = serde_json::json!({
        "written_by": "inframed",
        "version": env!("CARGO_PKG_VERSION"),
        "format": "meds",
        "meds_version": MEDS_VERSION,
        "files": files,
    });
    put_json(&dir.path().join(EXPORT_MANIFEST), &manifest)?;
    dir.commit()?;
    summary.codes = codes.len();
    summary.data_files = files.iter().map(|f| out.join(f)).collect();
    Ok(summary)
}

fn put_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).expect("json");
    fs::write(path, text).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

/// The current UTC time as ISO 8601 (`2026-12-02T04:30:00Z`), without chrono's clock feature.
fn now_iso8601() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `metadata/codes.parquet`: `code`, `description`, `parent_codes` (empty lists).
fn write_codes(path: &Path, codes: &BTreeMap<String, String>, table: &TableOptions) -> Result<()> {
    let item = Field::new("item", DataType::Utf8, true);
    let schema = Arc::new(Schema::new(vec![
        Field::new("code", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, true),
        Field::new("parent_codes", DataType::List(Arc::new(item.clone())), true),
    ]));
    let mut code = StringBuilder::new();
    let mut desc = StringBuilder::new();
    let mut parents = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(item));
    for (c, d) in codes {
        code.append_value(c);
        desc.append_value(d);
        parents.append(true);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(code.finish()),
        Arc::new(desc.finish()),
        Arc::new(parents.finish()),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Internal {
        what: "cannot build the codes table",
        detail: e.to_string(),
    })?;
    write_table(
        path,
        schema,
        std::iter::once(Ok(batch)),
        table,
        Format::Parquet,
    )
}

/// `metadata/subject_splits.parquet`: `subject_id`, `split`.
fn write_splits(path: &Path, splits: &[(Pid, String)], table: &TableOptions) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("subject_id", DataType::Int64, false),
        Field::new("split", DataType::Utf8, false),
    ]));
    let mut id = Int64Builder::new();
    let mut split = StringBuilder::new();
    for (p, s) in splits {
        id.append_value(p.0 as i64);
        split.append_value(s);
    }
    let cols: Vec<ArrayRef> = vec![Arc::new(id.finish()), Arc::new(split.finish())];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| Error::Internal {
        what: "cannot build the splits table",
        detail: e.to_string(),
    })?;
    write_table(
        path,
        schema,
        std::iter::once(Ok(batch)),
        table,
        Format::Parquet,
    )
}
