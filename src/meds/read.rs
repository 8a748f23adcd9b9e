//! Reading MEDS data files: the schema check, and readers of one row group's rows in batches
//! (one per row group, so that row groups can be decoded on several threads), naming the file
//! and row group in every error.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{DataType, Schema, TimeUnit as ArrowTimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use crate::arrow::backend_error;
use crate::error::{Error, Result};

/// Rows decoded per batch: small enough that the buffers of a batch (16 bytes a row per
/// column) stay under the allocator's mmap threshold and are reused instead of faulted in
/// anew for every batch (16 384 rows cost the 100k import a second of page faults).
const BATCH_ROWS: usize = 4_096;

/// Every `*.parquet` under `dir/data`, sorted by path.
pub(crate) fn data_files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(d).map_err(|source| Error::Open {
            path: d.into(),
            source,
        })?;
        for e in entries {
            let e = e.map_err(|source| Error::Open {
                path: d.into(),
                source,
            })?;
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
        Ok(())
    }
    let data = dir.join("data");
    let mut out = Vec::new();
    walk(&data, &mut out)?;
    out.sort();
    if out.is_empty() {
        return Err(Error::convert(
            data,
            "MEDS data",
            crate::error::ConvertError::NoMedsData,
        ));
    }
    Ok(out)
}

/// Where the columns this reader uses are in a file.
#[derive(Clone, Debug)]
pub(crate) struct Columns {
    /// Extra time columns `time1`, `time2`, … present (their numbers).
    pub(crate) times: Vec<usize>,
    /// Extra value columns `value<i>` present (their numbers).
    pub(crate) values: Vec<usize>,
}

fn schema_error(path: &Path, what: String) -> Error {
    Error::Unsupported {
        path: path.into(),
        what: format!("not a MEDS data file: {what}"),
    }
}

fn is_time(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(..) | DataType::Date32)
}

fn is_number(t: &DataType) -> bool {
    t.is_numeric()
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Checks the MEDS columns of a file's schema.
fn check_schema(path: &Path, schema: &Schema) -> Result<(Vec<usize>, Columns)> {
    let col = |name: &str, ok: fn(&DataType) -> bool, want: &str| -> Result<usize> {
        let (i, f) = schema
            .column_with_name(name)
            .ok_or_else(|| schema_error(path, format!("no column {name}")))?;
        if !ok(f.data_type()) {
            return Err(schema_error(
                path,
                format!("column {name} is {}, expected {want}", f.data_type()),
            ));
        }
        Ok(i)
    };
    let mut roots = vec![
        col(
            "subject_id",
            |t| matches!(t, DataType::Int64 | DataType::Int32),
            "int64",
        )?,
        col("time", is_time, "timestamp[us]")?,
        col("code", is_text, "string")?,
        col(
            "numeric_value",
            |t| matches!(t, DataType::Float32 | DataType::Float64),
            "float32",
        )?,
    ];
    let mut columns = Columns {
        times: Vec::new(),
        values: Vec::new(),
    };
    for (i, f) in schema.fields().iter().enumerate() {
        let n = f.name();
        if let Some(k) = n.strip_prefix("time").and_then(|k| k.parse::<usize>().ok()) {
            if k >= 1 && is_time(f.data_type()) {
                columns.times.push(k);
                roots.push(i);
            }
        } else if n == "text_value" && is_text(f.data_type()) {
            roots.push(i);
        } else if let Some(k) = n
            .strip_prefix("value")
            .and_then(|k| k.parse::<usize>().ok())
        {
            if is_number(f.data_type()) {
                columns.values.push(k);
                roots.push(i);
            }
        }
    }
    Ok((roots, columns))
}

/// The `code` column, downcast once per batch.
#[derive(Debug)]
enum Codes {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
}

impl Codes {
    fn of(a: &ArrayRef) -> Codes {
        match a.data_type() {
            DataType::Utf8 => Codes::Utf8(a.as_string::<i32>().clone()),
            DataType::LargeUtf8 => Codes::Large(a.as_string::<i64>().clone()),
            // The schema check admits only the three string types.
            _ => Codes::View(a.as_string_view().clone()),
        }
    }
}

/// One decoded batch.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) subject: Vec<Option<i64>>,
    pub(crate) time: Vec<Option<i64>>,
    pub(crate) numeric: Vec<Option<f64>>,
    code: Codes,
    /// The `text_value` column, when the file has one.
    text: Option<ArrayRef>,
    pub(crate) times: Vec<Vec<Option<i64>>>,
    pub(crate) values: Vec<Vec<Option<f64>>>,
}

impl Chunk {
    pub(crate) fn len(&self) -> usize {
        self.subject.len()
    }

    /// Row `i` has a non-null `text_value`.
    pub(crate) fn has_text(&self, i: usize) -> bool {
        self.text.as_ref().is_some_and(|t| !t.is_null(i))
    }

    pub(crate) fn code(&self, i: usize) -> Option<&str> {
        match &self.code {
            Codes::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            Codes::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            Codes::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }
}

/// Microseconds since 1970 of a time column (null where null).
fn micros(a: &dyn Array) -> Vec<Option<i64>> {
    fn scaled<T: arrow_array::ArrowPrimitiveType<Native = i64>>(
        a: &dyn Array,
        f: impl Fn(i64) -> Option<i64>,
    ) -> Vec<Option<i64>> {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.and_then(&f))
            .collect()
    }
    match a.data_type() {
        DataType::Timestamp(ArrowTimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(a, |v| v.checked_mul(1_000_000))
        }
        DataType::Timestamp(ArrowTimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(a, |v| v.checked_mul(1000))
        }
        DataType::Timestamp(ArrowTimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(a, Some)
        }
        DataType::Timestamp(ArrowTimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(a, |v| Some(v.div_euclid(1000)))
        }
        _ => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| d.map(|d| d as i64 * 86_400_000_000))
            .collect(),
    }
}

fn numbers(a: &dyn Array) -> Vec<Option<f64>> {
    use arrow_array::types::*;
    macro_rules! prim {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .iter()
                .map(|v| v.map(|v| v as f64))
                .collect()
        };
    }
    match a.data_type() {
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        _ => vec![None; a.len()],
    }
}

/// One data file: its checked schema, the projection of the MEDS columns and where its row
/// groups start. Shared (behind an `Arc`) by the readers of its row groups, which may decode
/// on different threads.
pub(crate) struct FileMeta {
    pub(crate) path: PathBuf,
    meta: ArrowReaderMetadata,
    mask: ProjectionMask,
    pub(crate) columns: Columns,
    /// First row of each row group.
    starts: Vec<u64>,
}

impl FileMeta {
    /// Opens `path`, reads its footer and checks its schema.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Format`] for a file that is not Parquet (truncated, no
    /// footer); [`Error::Unsupported`] for missing or mistyped MEDS columns.
    pub(crate) fn open(path: &Path) -> Result<Arc<FileMeta>> {
        let file = File::open(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| backend_error(path, "reading the Parquet footer", e))?;
        let (roots, columns) = check_schema(path, meta.schema())?;
        let mut starts = Vec::new();
        let mut at = 0u64;
        for rg in meta.metadata().row_groups() {
            starts.push(at);
            at += rg.num_rows().max(0) as u64;
        }
        let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
        Ok(Arc::new(FileMeta {
            path: path.into(),
            meta,
            mask,
            columns,
            starts,
        }))
    }

    /// Row groups of the file.
    pub(crate) fn row_groups(&self) -> usize {
        self.starts.len()
    }

    /// `(row group, row within it)` of file row `row`.
    pub(crate) fn locate(&self, row: u64) -> (usize, u64) {
        let g = self.starts.partition_point(|&s| s <= row).saturating_sub(1);
        (g, row - self.starts.get(g).copied().unwrap_or(0))
    }

    /// A reader of row group `g` (its own file handle), batch by batch.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Format`] naming the file and row group.
    pub(crate) fn group(self: &Arc<Self>, g: usize) -> Result<GroupReader> {
        let file = File::open(&self.path).map_err(|source| Error::Open {
            path: self.path.clone(),
            source,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_row_groups(vec![g])
            .with_projection(self.mask.clone())
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| backend_error(&self.path, format!("opening row group {g}"), e))?;
        Ok(GroupReader {
            file: Arc::clone(self),
            reader,
            group: g,
            row: self.starts[g],
        })
    }
}

/// The rows of one row group, batch by batch, with the file row of each batch's first row.
pub(crate) struct GroupReader {
    pub(crate) file: Arc<FileMeta>,
    reader: ParquetRecordBatchReader,
    group: usize,
    /// File row of the next batch's first row.
    row: u64,
}

impl GroupReader {
    /// The next batch and the file row of its first row.
    ///
    /// # Errors
    /// [`Error::Format`] naming the file and row group (a damaged page, a wrong type).
    pub(crate) fn next_chunk(&mut self) -> Result<Option<(u64, Chunk)>> {
        let first = self.row;
        let batch = match self.reader.next() {
            None => return Ok(None),
            Some(Err(e)) => {
                return Err(backend_error(
                    &self.file.path,
                    format!("decoding row group {} (rows from {first})", self.group),
                    e,
                ));
            }
            Some(Ok(b)) => b,
        };
        self.row += batch.num_rows() as u64;
        Ok(Some((first, self.decode(&batch))))
    }

    fn decode(&self, b: &RecordBatch) -> Chunk {
        let get = |n: &str| b.column_by_name(n).expect("projected column").clone();
        let subject = get("subject_id");
        let subject = match subject.data_type() {
            DataType::Int32 => subject
                .as_primitive::<Int32Type>()
                .iter()
                .map(|v| v.map(i64::from))
                .collect(),
            _ => subject.as_primitive::<Int64Type>().iter().collect(),
        };
        let numeric = get("numeric_value");
        let numeric = match numeric.data_type() {
            DataType::Float32 => numeric
                .as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(f64::from))
                .collect(),
            _ => numeric.as_primitive::<Float64Type>().iter().collect(),
        };
        Chunk {
            subject,
            time: micros(get("time").as_ref()),
            numeric,
            code: Codes::of(&get("code")),
            text: b.column_by_name("text_value").cloned(),
            times: self
                .file
                .columns
                .times
                .iter()
                .map(|k| micros(get(&format!("time{k}")).as_ref()))
                .collect(),
            values: self
                .file
                .columns
                .values
                .iter()
                .map(|k| numbers(get(&format!("value{k}")).as_ref()))
                .collect(),
        }
    }
}
