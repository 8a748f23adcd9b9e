//! Arrow views of a repository: signals and patients as typed `RecordBatch`es, streamed in
//! bounded batches, and the Parquet / Arrow IPC exports built on them.
//!
//! A signal becomes a table with one row per element:
//!
//! | column | type |
//! |---|---|
//! | `pid` | `int32` |
//! | `time0`, `time1`, … (one per time channel) | `date32` for `YYYYMMDD` dates and days, `timestamp[us]` for minutes and hours, the channel's own integer type otherwise |
//! | `value0`, `value1`, … (one per value channel) | the channel's own type (`int8` … `uint64`, `float32`, `float64`) |
//! | categorical value channels | `dictionary<int16, utf8>` holding the dictionary name of each code (`int32` keys for a dictionary of 32,768 names or more) |
//! | `time0_raw`, `value0_raw`, … (with [`ArrowOptions::raw`]) | the stored integer, for converted time channels and categorical channels |
//!
//! With [`ArrowNaming::Medpython`] the channel columns are instead medpython's `get_sig`
//! columns ([`medpython_names`]: `time0…`, `val0…`), each the stored number in its own type
//! (what the Python package's `to_arrow` streams).
//!
//! A date that is not a real calendar date (`0`, `20230231`) and a categorical code without a
//! dictionary name are null in the converted column; the raw column keeps the stored number.
//!
//! **Copies.** The elements are packed (`T(i),V(f)` is 8 bytes, channels interleaved, often
//! misaligned), so each column is de-interleaved exactly once: `columns::gather` reads every
//! channel of the batch's elements straight from the store's bytes (borrowed from the map for
//! the native layouts) into the Arrow buffer of that column. Nothing else is copied: the
//! buffers are handed to Arrow as they are, and the dictionary values of a categorical column
//! are built once per stream and shared by every batch.
//!
//! ```
//! use inframed::arrow::{signal_batches, ArrowOptions};
//! use inframed::Repository;
//!
//! let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
//! let mut rows = 0;
//! for batch in signal_batches(&repo, "Hemoglobin", None, &ArrowOptions::default())? {
//!     let batch = batch?;
//!     assert_eq!(batch.schema().field(1).name(), "time0");
//!     rows += batch.num_rows();
//! }
//! assert!(rows > 0);
//! # Ok::<_, inframed::Error>(())
//! ```

mod batches;
pub(crate) mod columns;
pub(crate) mod events;
pub mod export;
mod schema;

use std::path::PathBuf;

pub use arrow_array::{RecordBatch, RecordBatchReader};
pub use arrow_schema::{ArrowError, SchemaRef};

pub use batches::{patient_batches, signal_batch, signal_batches, ArrowReader, SignalBatches};
pub use columns::{date_to_days, days_to_date, time_to_micros};
pub use events::{long_batches, LongBatches};
pub use schema::{medpython_names, signal_schema};

use crate::error::{Error, Result};

/// Options of the Arrow views.
#[derive(Clone, Debug)]
pub struct ArrowOptions {
    /// Upper bound on the rows of one batch (default 65 536). A patient with more elements is
    /// split across batches.
    pub batch_rows: usize,
    /// Also emit the stored integers of converted time channels and categorical channels
    /// (`time0_raw`, `value0_raw`, …). Ignored with [`ArrowNaming::Medpython`], whose
    /// columns are all stored numbers.
    pub raw: bool,
    /// Which names and types the channel columns get (default [`ArrowNaming::Native`]).
    pub naming: ArrowNaming,
    /// Accept a pid list in any order, repeats included, streamed in the order given (what
    /// medpython's `get_sig(pids=…)` does). Default `false`: the list must be strictly
    /// ascending, as the exports and MEDS need.
    pub pids_any_order: bool,
}

/// The names and types of a signal's channel columns (the `pid` column is `int32` in both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArrowNaming {
    /// `time0…`, `value0…` with converted times (`date32`, `timestamp[us]`) and categorical
    /// values as `dictionary<int16, utf8>` (`int32` keys past 32,767 names) (see the module docs).
    #[default]
    Native,
    /// medpython's `get_sig` columns: the names of [`medpython_names`] (`time0…`, `val0…`;
    /// `date`, `val` … for legacy type numbers 1 and 3), every channel the stored number in
    /// its own type (`int32` dates stay `YYYYMMDD`, categorical codes stay codes), never null.
    Medpython,
}

impl Default for ArrowOptions {
    fn default() -> Self {
        ArrowOptions {
            batch_rows: 65_536,
            raw: false,
            naming: ArrowNaming::Native,
            pids_any_order: false,
        }
    }
}

impl ArrowOptions {
    /// With this batch size (at least 1).
    pub fn with_batch_rows(mut self, rows: usize) -> ArrowOptions {
        self.batch_rows = rows.max(1);
        self
    }

    /// With or without the raw columns.
    pub fn with_raw(mut self, raw: bool) -> ArrowOptions {
        self.raw = raw;
        self
    }

    /// With these column names and types.
    pub fn with_naming(mut self, naming: ArrowNaming) -> ArrowOptions {
        self.naming = naming;
        self
    }

    /// With or without the strictly-ascending check of a pid list (see
    /// [`ArrowOptions::pids_any_order`]).
    pub fn with_pids_any_order(mut self, any: bool) -> ArrowOptions {
        self.pids_any_order = any;
        self
    }
}

/// An Arrow or Parquet error as ours, naming the file and where in it.
pub(crate) fn backend_error(
    path: impl Into<PathBuf>,
    context: impl Into<String>,
    source: impl Into<crate::error::FormatError>,
) -> Error {
    Error::format(path, None, context, source)
}

/// `Iterator::next` of a batch stream that ends at its first error: `batch` is the stream's
/// next batch (`Ok(None)` at its end); on an error, `stop` ends the stream (so that it yields
/// `None` from then on) and the error is yielded, once.
pub(crate) fn fuse_on_error<T>(batch: Result<Option<T>>, stop: impl FnOnce()) -> Option<Result<T>> {
    match batch {
        Ok(Some(b)) => Some(Ok(b)),
        Ok(None) => None,
        Err(e) => {
            stop();
            Some(Err(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of `0, 1, …` that fails at `fail` unless stopped, using the helper as the
    /// three batch streams do.
    struct Counting {
        next: u32,
        fail: u32,
        end: u32,
    }

    impl Iterator for Counting {
        type Item = Result<u32>;

        fn next(&mut self) -> Option<Self::Item> {
            let batch = if self.next >= self.end {
                Ok(None)
            } else if self.next == self.fail {
                Err(Error::Internal {
                    what: "a test stream",
                    detail: format!("fails at {}", self.next),
                })
            } else {
                self.next += 1;
                Ok(Some(self.next - 1))
            };
            fuse_on_error(batch, || self.next = self.end)
        }
    }

    #[test]
    fn a_stream_ends_after_its_first_error() {
        let mut s = Counting {
            next: 0,
            fail: 2,
            end: 5,
        };
        assert_eq!(s.next().unwrap().unwrap(), 0);
        assert_eq!(s.next().unwrap().unwrap(), 1);
        let e = s.next().unwrap().unwrap_err();
        assert!(e.to_string().contains("fails at 2"), "{e}");
        assert!(s.next().is_none());
        assert!(s.next().is_none());
        let ok: Vec<u32> = Counting {
            next: 0,
            fail: 9,
            end: 3,
        }
        .map(|r| r.unwrap())
        .collect();
        assert_eq!(ok, [0, 1, 2]);
    }
}
