//! Parquet and Arrow IPC export of a repository: one file per signal (`wide`) or one long
//! table of every signal (`long`), written into a directory staged beside the target and
//! renamed into place.
//!
//! Rows are sorted by pid, then time. Parquet files carry page-level statistics, a page index
//! and `sorting_columns`, with row groups of [`TableOptions::row_group_rows`] rows, so a
//! `pid = x` filter in DuckDB, Polars or DataFusion skips the row groups (and pages) whose
//! `pid` range does not hold `x`. Arrow IPC files are uncompressed, so pyarrow, Polars and
//! DuckDB can memory-map them without a copy.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::atomic::AtomicDir;
use crate::error::{Error, Result};
use crate::store::SignalStore;
use crate::target::{check_target, OutputKind, EXPORT_MANIFEST};
use crate::text::config::fixed_signal_name;

use super::{backend_error, long_batches, signal_batches, ArrowOptions};

/// The manifest an export directory holds, by which a later export recognises it as its own
/// output (and may replace it).
pub const MANIFEST: &str = EXPORT_MANIFEST;

/// One file per signal, or one long table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TableLayout {
    /// `<signal>.parquet` / `<signal>.arrow` per signal, columns as [`super::signal_schema`].
    #[default]
    Wide,
    /// `events.parquet` / `events.arrow`: every signal, as [`super::long_batches`].
    Long,
}

impl TableLayout {
    /// `wide` or `long`.
    pub fn from_name(name: &str) -> Option<TableLayout> {
        match name {
            "wide" => Some(TableLayout::Wide),
            "long" => Some(TableLayout::Long),
            _ => None,
        }
    }
}

/// Options of [`export_parquet`] and [`export_ipc`].
#[derive(Clone, Debug)]
pub struct TableOptions {
    /// Wide or long.
    pub layout: TableLayout,
    /// Batch size and raw columns.
    pub arrow: ArrowOptions,
    /// Rows per Parquet row group (default 65 536).
    pub row_group_rows: usize,
    /// Only these signals (default: all).
    pub signals: Option<Vec<String>>,
    /// Replace `out` even when it is not a previous export (never a symbolic link).
    pub force: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            layout: TableLayout::Wide,
            arrow: ArrowOptions::default(),
            row_group_rows: 65_536,
            signals: None,
            force: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Parquet,
    Ipc,
}

impl Format {
    fn ext(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Ipc => "arrow",
        }
    }
}

/// Writes the repository as Parquet files into the directory `out` (created, or replaced when
/// it holds a previous export's [`MANIFEST`]: the rule of [`check_target`]). Returns the files
/// written.
///
/// # Errors
/// [`Error::Occupied`] when `out` holds something else; [`Error::UnknownSignal`]; I/O
/// errors naming the file; the store's read errors. On error `out` is unchanged.
///
/// # Examples
/// ```
/// use inframed::arrow::export::{export_parquet, TableOptions};
/// use inframed::Repository;
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let out = tempfile::tempdir().unwrap();
/// let files = export_parquet(&repo, &out.path().join("pq"), &TableOptions::default())?;
/// assert!(files.iter().any(|f| f.ends_with("Hemoglobin.parquet")));
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn export_parquet(
    store: &dyn SignalStore,
    out: &Path,
    options: &TableOptions,
) -> Result<Vec<PathBuf>> {
    export(store, out, options, Format::Parquet).map_err(|e| e.in_target(out))
}

/// Writes the repository as Arrow IPC files (the file format, uncompressed, memory-mappable)
/// into the directory `out`; as [`export_parquet`] otherwise.
///
/// # Errors
/// As [`export_parquet`].
pub fn export_ipc(
    store: &dyn SignalStore,
    out: &Path,
    options: &TableOptions,
) -> Result<Vec<PathBuf>> {
    export(store, out, options, Format::Ipc).map_err(|e| e.in_target(out))
}

fn export(
    store: &dyn SignalStore,
    out: &Path,
    options: &TableOptions,
    format: Format,
) -> Result<Vec<PathBuf>> {
    check_target(out, OutputKind::Export, options.force)?;
    let names: Vec<String> = match &options.signals {
        Some(s) => {
            for n in s {
                store.catalog().signal(n)?;
            }
            s.clone()
        }
        None => store
            .catalog()
            .signals()
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    };
    let dir = AtomicDir::create(out)?;
    let mut files = Vec::new();
    match options.layout {
        TableLayout::Wide => {
            for name in &names {
                let file = format!("{}.{}", fixed_signal_name(name), format.ext());
                let batches = signal_batches(store, name, None, &options.arrow)?;
                let schema = batches.schema();
                write_table(&dir.path().join(&file), schema, batches, options, format)?;
                files.push(file);
            }
        }
        TableLayout::Long => {
            let file = format!("events.{}", format.ext());
            let batches = long_batches(store, None, &options.arrow)?;
            let schema = batches.schema();
            write_table(&dir.path().join(&file), schema, batches, options, format)?;
            files.push(file);
        }
    }
    let manifest = serde_json::json!({
        "written_by": "inframed",
        "version": env!("CARGO_PKG_VERSION"),
        "format": format.ext(),
        "layout": match options.layout { TableLayout::Wide => "wide", TableLayout::Long => "long" },
        "sorted_by": ["pid", "time0"],
        "files": files,
    });
    let m = dir.path().join(MANIFEST);
    let text = serde_json::to_vec_pretty(&manifest).expect("json");
    fs::write(&m, text).map_err(|source| Error::Io { path: m, source })?;
    dir.commit()?;
    Ok(files.into_iter().map(|f| out.join(f)).collect())
}

/// Parquet writer properties: statistics per page, sorted by `pid` (then column 1, the time,
/// when `time_sorted`).
pub(crate) fn parquet_properties(row_group_rows: usize, time_sorted: bool) -> WriterProperties {
    let b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_created_by(format!("inframed {}", env!("CARGO_PKG_VERSION")));
    let mut sorting = vec![SortingColumn {
        column_idx: 0,
        descending: false,
        nulls_first: false,
    }];
    if time_sorted {
        sorting.push(SortingColumn {
            column_idx: 1,
            descending: false,
            nulls_first: true,
        });
    }
    b.set_sorting_columns(Some(sorting)).build()
}

pub(crate) fn write_table(
    path: &Path,
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch>>,
    options: &TableOptions,
    format: Format,
) -> Result<()> {
    let file = File::create(path).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })?;
    let w = BufWriter::with_capacity(1 << 20, file);
    let ctx = |what: &str| format!("writing {what}");
    match format {
        Format::Parquet => {
            let sorted = schema
                .fields()
                .get(1)
                .is_some_and(|f| f.name() == "time0" || f.name() == "time");
            let props = parquet_properties(options.row_group_rows, sorted);
            let mut writer = ArrowWriter::try_new(w, schema, Some(props))
                .map_err(|e| backend_error(path, ctx("the parquet header"), e))?;
            for b in batches {
                writer
                    .write(&b?)
                    .map_err(|e| backend_error(path, ctx("a row group"), e))?;
            }
            let w = writer
                .into_inner()
                .map_err(|e| backend_error(path, ctx("the parquet footer"), e))?;
            finish(path, w)
        }
        Format::Ipc => {
            let mut writer = arrow_ipc::writer::FileWriter::try_new(w, &schema)
                .map_err(|e| backend_error(path, ctx("the ipc header"), e))?;
            for b in batches {
                writer
                    .write(&b?)
                    .map_err(|e| backend_error(path, ctx("a record batch"), e))?;
            }
            writer
                .finish()
                .map_err(|e| backend_error(path, ctx("the ipc footer"), e))?;
            let w = writer
                .into_inner()
                .map_err(|e| backend_error(path, ctx("the ipc footer"), e))?;
            finish(path, w)
        }
    }
}

fn finish(path: &Path, w: BufWriter<File>) -> Result<()> {
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let mut w = w;
    w.flush().map_err(io)?;
    let f = w.into_inner().map_err(|e| io(e.into_error()))?;
    f.sync_all().map_err(io)
}
