//! Streams of `RecordBatch`es: a signal over patients, one patient's signal, a whole patient.

use crate::error::InputError;
use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::store::SignalStore;

use super::columns::column;
use super::schema::{column_specs, schema_of, ColumnSpec};
use super::{fuse_on_error, ArrowOptions};

/// A signal over a list of patients as a stream of `RecordBatch`es of at most
/// [`ArrowOptions::batch_rows`] rows, pids ascending (in the order given; any order with
/// [`ArrowOptions::pids_any_order`]), each patient's elements time-sorted. Only one batch is
/// in memory at a time.
///
/// `S` is anything that derefs to a store: `&Repository`, `Arc<Repository>`,
/// `&dyn SignalStore`. An owning `S` (`Arc`) makes the stream `'static`, as the Arrow C stream
/// interface needs ([`SignalBatches::into_reader`]).
#[derive(Debug)]
pub struct SignalBatches<S> {
    store: S,
    sid: Sid,
    size: usize,
    specs: Arc<Vec<ColumnSpec>>,
    schema: SchemaRef,
    pids: Vec<Pid>,
    next: usize,
    /// Elements of `pids[next]` already emitted (a patient larger than a batch).
    skip: usize,
    batch_rows: usize,
}

/// The stream of signal `name` over `pids` (every patient of the store when `None`).
///
/// # Errors
/// [`Error::UnknownSignal`]; [`Error::InvalidInput`] for pids not strictly ascending (unless
/// [`ArrowOptions::pids_any_order`]).
pub fn signal_batches<S>(
    store: S,
    name: &str,
    pids: Option<Vec<Pid>>,
    options: &ArrowOptions,
) -> Result<SignalBatches<S>>
where
    S: Deref,
    S::Target: SignalStore,
{
    let catalog = store.catalog();
    let info = catalog.signal(name)?;
    let (specs, fields) = column_specs(catalog, info, options)?;
    let schema = schema_of(info, fields);
    let pids = match pids {
        Some(p) => {
            if !options.pids_any_order {
                InputError::check_ascending(&p)?;
            }
            p
        }
        None => store.pids().to_vec(),
    };
    let (sid, size) = (info.sid, info.layout.size());
    Ok(SignalBatches {
        store,
        sid,
        size,
        specs: Arc::new(specs),
        schema,
        pids,
        next: 0,
        skip: 0,
        batch_rows: options.batch_rows.max(1),
    })
}

/// One patient's vector of signal `name` as one `RecordBatch` (a patient's vector is small;
/// use [`signal_batches`] with one pid to bound it anyway).
///
/// # Errors
/// As [`signal_batches`]; the store's read errors.
///
/// # Examples
/// ```
/// use inframed::arrow::{signal_batch, ArrowOptions};
/// use inframed::{Pid, Repository};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let batch = signal_batch(&repo, Pid(1025), "Hemoglobin", &ArrowOptions::default())?;
/// assert_eq!(batch.num_rows(), repo.signal(Pid(1025), "Hemoglobin")?.len());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn signal_batch<T: SignalStore + ?Sized>(
    store: &T,
    pid: Pid,
    name: &str,
    options: &ArrowOptions,
) -> Result<RecordBatch> {
    let catalog = store.catalog();
    let info = catalog.signal(name)?;
    let (specs, fields) = column_specs(catalog, info, options)?;
    let schema = schema_of(info, fields);
    let bytes = store.get_bytes(pid, info.sid)?;
    build(&schema, &specs, info.layout.size(), &[(pid, &bytes)])
}

/// A whole patient: `(signal name, batch)` for every signal the patient has elements of, in
/// catalog order.
///
/// # Errors
/// The store's read errors.
pub fn patient_batches<T: SignalStore + ?Sized>(
    store: &T,
    pid: Pid,
    options: &ArrowOptions,
) -> Result<Vec<(String, RecordBatch)>> {
    let catalog = store.catalog();
    let mut out = Vec::new();
    for info in catalog.signals() {
        let bytes = store.get_bytes(pid, info.sid)?;
        if bytes.is_empty() {
            continue;
        }
        let (specs, fields) = column_specs(catalog, info, options)?;
        let schema = schema_of(info, fields);
        out.push((
            info.name.clone(),
            build(&schema, &specs, info.layout.size(), &[(pid, &bytes)])?,
        ));
    }
    Ok(out)
}

fn arrow_err(e: ArrowError) -> Error {
    Error::Internal {
        what: "building an Arrow batch",
        detail: e.to_string(),
    }
}

/// One batch from `(pid, elements)` segments.
pub(crate) fn build(
    schema: &SchemaRef,
    specs: &[ColumnSpec],
    size: usize,
    segs: &[(Pid, &[u8])],
) -> Result<RecordBatch> {
    let counts: Vec<(Pid, usize)> = segs.iter().map(|(p, b)| (*p, b.len() / size)).collect();
    let bytes: Vec<&[u8]> = segs.iter().map(|(_, b)| *b).collect();
    build_from(schema, specs, size, &counts, &bytes)
}

/// The element bytes of a batch as they are read: runs of vectors that are adjacent inside
/// the store's [`SignalStore::signal_region`] merged into one slice of it (consecutive
/// patients' vectors follow each other in a MODE 3 `.data` file, so a batch of thousands of
/// patients becomes a few slices and each column one tight loop instead of one short loop
/// per patient); a vector outside the region, or an owned copy, stays a run of its own.
struct Runs<'a> {
    region: Option<&'a [u8]>,
    runs: Vec<Run<'a>>,
}

enum Run<'a> {
    /// `region[start..end]`.
    Region(usize, usize),
    Slice(&'a [u8]),
    Owned(Vec<u8>),
}

impl<'a> Runs<'a> {
    fn new(region: Option<&'a [u8]>) -> Runs<'a> {
        Runs {
            region,
            runs: Vec::new(),
        }
    }

    /// Appends `bytes[from..to]` of one patient's vector.
    fn push(&mut self, bytes: Cow<'a, [u8]>, from: usize, to: usize) {
        let b = match bytes {
            Cow::Borrowed(b) => &b[from..to],
            Cow::Owned(mut v) => {
                v.truncate(to);
                v.drain(..from);
                self.runs.push(Run::Owned(v));
                return;
            }
        };
        if let Some(region) = self.region {
            let start = (b.as_ptr() as usize).wrapping_sub(region.as_ptr() as usize);
            if start <= region.len() && b.len() <= region.len() - start {
                match self.runs.last_mut() {
                    Some(Run::Region(_, end)) if *end == start => *end = start + b.len(),
                    _ => self.runs.push(Run::Region(start, start + b.len())),
                }
                return;
            }
        }
        self.runs.push(Run::Slice(b));
    }

    fn slices(&self) -> Vec<&[u8]> {
        self.runs
            .iter()
            .map(|r| match r {
                Run::Region(a, e) => &self.region.expect("a region run has its region")[*a..*e],
                Run::Slice(b) => b,
                Run::Owned(v) => v.as_slice(),
            })
            .collect()
    }
}

/// One batch of `counts` (pid, elements) in order, whose element bytes are `bytes`.
fn build_from(
    schema: &SchemaRef,
    specs: &[ColumnSpec],
    size: usize,
    counts: &[(Pid, usize)],
    bytes: &[&[u8]],
) -> Result<RecordBatch> {
    let n: usize = counts.iter().map(|&(_, k)| k).sum();
    let mut pid = Vec::with_capacity(n);
    for &(p, k) in counts {
        pid.resize(pid.len() + k, p.0 as i32);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(specs.len() + 1);
    columns.push(Arc::new(Int32Array::from(pid)));
    for spec in specs {
        columns.push(column(spec, bytes, size, n).map_err(arrow_err)?);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(n)),
    )
    .map_err(arrow_err)
}

impl<S> SignalBatches<S>
where
    S: Deref,
    S::Target: SignalStore,
{
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The stream as an Arrow [`RecordBatchReader`] (errors become
    /// `ArrowError::ExternalError` holding our [`Error`]), e.g. for
    /// `arrow_array::ffi_stream::FFI_ArrowArrayStream::new`.
    pub fn into_reader(self) -> ArrowReader<Self> {
        ArrowReader {
            schema: self.schema.clone(),
            inner: self,
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let store = &*self.store;
        let size = self.size;
        // 16 bytes per patient and a few runs: the scratch of a batch (it was 64 bytes per
        // patient in three vectors, each a fresh allocation the kernel faults in).
        let mut counts: Vec<(Pid, usize)> = Vec::new();
        let mut runs = Runs::new(store.signal_region(self.sid));
        let mut rows = 0usize;
        while rows < self.batch_rows && self.next < self.pids.len() {
            let pid = self.pids[self.next];
            let bytes = store.get_bytes(pid, self.sid)?;
            let total = bytes.len() / size;
            let (skip, take) = (
                self.skip,
                (total - self.skip.min(total)).min(self.batch_rows - rows),
            );
            if skip + take >= total {
                self.next += 1;
                self.skip = 0;
            } else {
                self.skip += take;
            }
            if take > 0 {
                runs.push(bytes, skip * size, (skip + take) * size);
                counts.push((pid, take));
                rows += take;
            }
        }
        if rows == 0 {
            return Ok(None);
        }
        build_from(&self.schema, &self.specs, size, &counts, &runs.slices()).map(Some)
    }
}

impl<S> Iterator for SignalBatches<S>
where
    S: Deref,
    S::Target: SignalStore,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.next_batch();
        fuse_on_error(batch, || self.next = self.pids.len())
    }
}

/// A stream of our batches as an Arrow [`RecordBatchReader`].
#[derive(Debug)]
pub struct ArrowReader<I> {
    schema: SchemaRef,
    inner: I,
}

impl<I> ArrowReader<I> {
    /// Wraps any iterator of `Result<RecordBatch>` with its schema.
    pub fn new(schema: SchemaRef, inner: I) -> ArrowReader<I> {
        ArrowReader { schema, inner }
    }
}

impl<I: Iterator<Item = Result<RecordBatch>>> Iterator for ArrowReader<I> {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .next()
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl<I: Iterator<Item = Result<RecordBatch>>> RecordBatchReader for ArrowReader<I> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
        UInt32Type, UInt64Type, UInt8Type,
    };
    use arrow_array::Array;
    use arrow_schema::DataType;

    use super::*;
    use crate::arrow::ArrowNaming;
    use crate::Repository;

    const GOLDEN: &str = "testdata/inframed/small/repo/small.repository";

    /// Vectors adjacent in the region merge into one run; a gap, a slice outside the
    /// region and an owned copy (cut to `from..to`) each start a run of their own.
    #[test]
    fn runs_merge_only_what_is_adjacent_in_the_region() {
        let region: Vec<u8> = (0..32).collect();
        let other = [100u8, 101, 102, 103];
        let mut runs = Runs::new(Some(&region));
        runs.push(Cow::Borrowed(&region[0..8]), 0, 8);
        runs.push(Cow::Borrowed(&region[8..16]), 4, 8); // 12..16: not adjacent to 0..8
        runs.push(Cow::Borrowed(&region[16..24]), 0, 8); // adjacent to 12..16
        runs.push(Cow::Borrowed(&other[..]), 0, 4);
        runs.push(Cow::Owned(vec![1, 2, 3, 4, 5, 6]), 2, 5);
        runs.push(Cow::Borrowed(&region[24..32]), 0, 8); // after other runs: its own
        let want: [&[u8]; 5] = [
            &region[0..8],
            &region[12..24],
            &other[..],
            &[3, 4, 5],
            &region[24..32],
        ];
        assert_eq!(runs.slices(), want);
        let mut plain = Runs::new(None);
        plain.push(Cow::Borrowed(&region[0..8]), 0, 8);
        plain.push(Cow::Borrowed(&region[8..16]), 0, 8);
        assert_eq!(plain.slices(), [&region[0..8], &region[8..16]]);
    }

    /// Value `i` of a numeric column as f64 (the fixture's JSON numbers).
    fn number(a: &dyn Array, i: usize) -> f64 {
        macro_rules! at {
            ($t:ty) => {
                a.as_primitive::<$t>().value(i) as f64
            };
        }
        match a.data_type() {
            DataType::Int8 => at!(Int8Type),
            DataType::Int16 => at!(Int16Type),
            DataType::Int32 => at!(Int32Type),
            DataType::Int64 => at!(Int64Type),
            DataType::UInt8 => at!(UInt8Type),
            DataType::UInt16 => at!(UInt16Type),
            DataType::UInt32 => at!(UInt32Type),
            DataType::UInt64 => at!(UInt64Type),
            DataType::Float32 => at!(Float32Type),
            DataType::Float64 => at!(Float64Type),
            t => panic!("not a stored number: {t}"),
        }
    }

    /// Medpython naming reproduces what medpython 1.2.1's `get_sig` returned on the golden
    /// repository (testdata/inframed/small/expected.json): names, rows, no nulls.
    #[test]
    fn medpython_naming_equals_medpython_get_sig() {
        let repo = Repository::open(GOLDEN).unwrap();
        let text = std::fs::read_to_string("testdata/inframed/small/expected.json").unwrap();
        let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
        let options = ArrowOptions::default()
            .with_batch_rows(7)
            .with_naming(ArrowNaming::Medpython);
        let signals = expected["signals"].as_object().unwrap();
        assert!(signals.len() > 10);
        for (name, sig) in signals {
            let want_cols: Vec<&str> = sig["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let stream = signal_batches(&repo, name, None, &options).unwrap();
            let cols: Vec<String> = stream
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            assert_eq!(cols, want_cols, "{name}");
            let mut rows = Vec::new();
            for b in stream {
                let b = b.unwrap();
                assert!(b.num_rows() <= 7);
                for i in 0..b.num_rows() {
                    let row: Vec<f64> = b
                        .columns()
                        .iter()
                        .map(|c| {
                            assert_eq!(c.null_count(), 0);
                            number(c.as_ref(), i)
                        })
                        .collect();
                    rows.push(row);
                }
            }
            let want: Vec<Vec<f64>> = sig["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect()
                })
                .collect();
            assert_eq!(rows, want, "{name}");
        }
    }

    #[test]
    fn pids_in_any_order_only_when_asked() {
        let repo = Repository::open(GOLDEN).unwrap();
        let order = vec![Pid(30000), Pid(1025), Pid(30000)];
        let strict = ArrowOptions::default();
        let err = signal_batches(&repo, "Glucose", Some(order.clone()), &strict).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    source: InputError::PidsNotAscending {
                        prev: Pid(30000),
                        next: Pid(1025),
                        ..
                    }
                }
            ),
            "{err}"
        );
        let any = strict.with_pids_any_order(true).with_batch_rows(3);
        let mut pids = Vec::new();
        for b in signal_batches(&repo, "Glucose", Some(order.clone()), &any).unwrap() {
            let b = b.unwrap();
            assert!(b.num_rows() <= 3);
            pids.extend(
                b.column(0)
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
        let mut want = Vec::new();
        for p in &order {
            let n = repo.signal(*p, "Glucose").unwrap().len();
            assert!(n > 0);
            want.resize(want.len() + n, p.0 as i32);
        }
        assert_eq!(pids, want);
    }
}
