//! Streams of `RecordBatch`es: a signal over patients, one patient's signal, a whole patient.

use std::ops::Deref;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, RecordBatch, RecordBatchOptions, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};

use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::store::SignalStore;

use super::columns::column;
use super::schema::{column_specs, schema_of, ColumnSpec};
use super::ArrowOptions;

/// A signal over a list of patients as a stream of `RecordBatch`es of at most
/// [`ArrowOptions::batch_rows`] rows, pids ascending (in the order given), each patient's
/// elements time-sorted. Only one batch is in memory at a time.
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
/// [`Error::UnknownSignal`]; [`Error::InvalidInput`] for pids not ascending.
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
    let (specs, fields) = column_specs(catalog, info, options);
    let schema = schema_of(info, fields);
    let pids = match pids {
        Some(p) => {
            if p.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::InvalidInput {
                    what: "the pid list of an Arrow view must be strictly ascending".into(),
                });
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
/// assert_eq!(batch.num_rows(), repo.get(Pid(1025), "Hemoglobin")?.len());
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
    let (specs, fields) = column_specs(catalog, info, options);
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
        let (specs, fields) = column_specs(catalog, info, options);
        let schema = schema_of(info, fields);
        out.push((
            info.name.clone(),
            build(&schema, &specs, info.layout.size(), &[(pid, &bytes)])?,
        ));
    }
    Ok(out)
}

fn arrow_err(e: ArrowError) -> Error {
    Error::InvalidInput {
        what: format!("cannot build an Arrow batch: {e}"),
    }
}

/// One batch from `(pid, elements)` segments.
pub(crate) fn build(
    schema: &SchemaRef,
    specs: &[ColumnSpec],
    size: usize,
    segs: &[(Pid, &[u8])],
) -> Result<RecordBatch> {
    let n: usize = segs.iter().map(|(_, b)| b.len() / size).sum();
    let mut pid = Vec::with_capacity(n);
    for (p, b) in segs {
        pid.resize(pid.len() + b.len() / size, p.0 as i32);
    }
    let bytes: Vec<&[u8]> = segs.iter().map(|(_, b)| *b).collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(specs.len() + 1);
    columns.push(Arc::new(Int32Array::from(pid)));
    for spec in specs {
        columns.push(column(spec, &bytes, size, n));
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
        let mut held = Vec::new();
        let mut rows = 0usize;
        while rows < self.batch_rows && self.next < self.pids.len() {
            let pid = self.pids[self.next];
            let bytes = store.get_bytes(pid, self.sid)?;
            let total = bytes.len() / self.size;
            let take = (total - self.skip.min(total)).min(self.batch_rows - rows);
            if take > 0 {
                held.push((pid, bytes, self.skip, take));
                rows += take;
            }
            if self.skip + take >= total {
                self.next += 1;
                self.skip = 0;
            } else {
                self.skip += take;
            }
        }
        if rows == 0 {
            return Ok(None);
        }
        let size = self.size;
        let segs: Vec<(Pid, &[u8])> = held
            .iter()
            .map(|(p, b, from, take)| (*p, &b[from * size..(from + take) * size]))
            .collect();
        build(&self.schema, &self.specs, size, &segs).map(Some)
    }
}

impl<S> Iterator for SignalBatches<S>
where
    S: Deref,
    S::Target: SignalStore,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.next = self.pids.len();
                Some(Err(e))
            }
        }
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
