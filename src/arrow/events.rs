//! The long layout: every signal of a patient in one table (`pid, signal, time0, …`), rows
//! sorted by pid, then time (rows without a time first), then catalog order. Shared by the
//! Parquet `--layout long` export and the MEDS export.

use crate::error::InputError;
use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, TimestampMicrosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit as ArrowTimeUnit};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::layout::Layout;
use crate::store::SignalStore;
use crate::time::TimeUnit;

use super::columns::{read_int, time_to_micros};
use super::{fuse_on_error, ArrowOptions};

/// What the long layout needs to know of one signal.
#[derive(Debug, Clone)]
pub(crate) struct SignalPlan {
    pub(crate) sid: Sid,
    pub(crate) name: String,
    pub(crate) layout: Layout,
    pub(crate) time_unit: TimeUnit,
    /// Per value channel: categorical?
    pub(crate) categorical: Vec<bool>,
    /// code → dictionary name (categorical signals).
    pub(crate) names: hashbrown::HashMap<i64, String>,
}

/// Every signal of a catalog, in catalog order.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) signals: Vec<SignalPlan>,
    pub(crate) max_time: usize,
    pub(crate) max_value: usize,
}

impl Plan {
    pub(crate) fn of(catalog: &Catalog) -> Result<Plan> {
        let mut signals = Vec::new();
        for info in catalog.signals() {
            let categorical: Vec<bool> = (0..info.layout.value_channels().len())
                .map(|i| info.is_categorical(i) && !info.layout.value_channels()[i].ty.is_float())
                .collect();
            let mut names = hashbrown::HashMap::new();
            if categorical.iter().any(|&c| c) {
                if let Some(section) = catalog.section_of(&info.name)? {
                    for code in section.codes() {
                        if let Some(n) = section.name(code) {
                            names.insert(code as i64, n.to_string());
                        }
                    }
                }
            }
            signals.push(SignalPlan {
                sid: info.sid,
                name: info.name.clone(),
                layout: info.layout.clone(),
                time_unit: info.time_unit,
                categorical,
                names,
            });
        }
        let max_time = signals
            .iter()
            .map(|s| s.layout.time_channels().len())
            .max()
            .unwrap_or(0);
        let max_value = signals
            .iter()
            .map(|s| s.layout.value_channels().len())
            .max()
            .unwrap_or(0);
        Ok(Plan {
            signals,
            max_time,
            max_value,
        })
    }
}

/// One event: signal index in the plan, element index in that signal's vector, sort key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) signal: usize,
    pub(crate) element: usize,
    pub(crate) time: Option<i64>,
}

/// One patient's vectors (one per planned signal, borrowed from the store where it can) and
/// its events.
type PatientEvents<'s> = (Vec<Cow<'s, [u8]>>, Vec<Event>);

/// One patient's vectors (borrowed from the store where it can) and its events, sorted by
/// time (timeless first), then signal order, then element order.
pub(crate) fn patient_events<'s, T: SignalStore + ?Sized>(
    store: &'s T,
    plan: &Plan,
    pid: Pid,
) -> Result<PatientEvents<'s>> {
    let mut vectors = Vec::with_capacity(plan.signals.len());
    let mut events = Vec::new();
    for (i, s) in plan.signals.iter().enumerate() {
        let bytes = store.get_bytes(pid, s.sid)?;
        let size = s.layout.size();
        let t0 = s.layout.time_channels().first().copied();
        for (j, e) in bytes.chunks_exact(size).enumerate() {
            let time = t0.and_then(|c| time_to_micros(s.time_unit, read_int(c.ty, &e[c.offset..])));
            events.push(Event {
                signal: i,
                element: j,
                time,
            });
        }
        vectors.push(bytes);
    }
    // Stable: equal keys keep signal then element order.
    events.sort_by_key(|e| (e.time.is_some(), e.time));
    Ok((vectors, events))
}

/// The long layout as a stream of batches.
#[derive(Debug)]
pub struct LongBatches<S> {
    store: S,
    plan: Plan,
    schema: SchemaRef,
    signal_names: ArrayRef,
    pids: Vec<Pid>,
    next: usize,
    batch_rows: usize,
    /// Rows of a patient larger than a batch, waiting (pid, encoded rows).
    pending: Vec<Row>,
}

#[derive(Clone, Debug)]
struct Row {
    pid: Pid,
    signal: i32,
    times: Vec<Option<i64>>,
    values: Vec<Option<f64>>,
    names: Vec<Option<String>>,
}

/// Every signal of every patient (or of `pids`, ascending) in one long table: `pid`,
/// `signal` (dictionary of signal names), `time0`… (`timestamp[us]`, null for timeless
/// signals), `value0`… (`float64`), `value0_name`… (the dictionary name of a categorical
/// channel). Batches hold at most [`ArrowOptions::batch_rows`] rows.
///
/// # Errors
/// [`Error::InvalidInput`] for pids not ascending.
pub fn long_batches<S>(
    store: S,
    pids: Option<Vec<Pid>>,
    options: &ArrowOptions,
) -> Result<LongBatches<S>>
where
    S: Deref,
    S::Target: SignalStore,
{
    let plan = Plan::of(store.catalog())?;
    let mut fields = vec![
        Field::new("pid", DataType::Int32, false),
        Field::new(
            "signal",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            false,
        ),
    ];
    for i in 0..plan.max_time {
        fields.push(Field::new(
            format!("time{i}"),
            DataType::Timestamp(ArrowTimeUnit::Microsecond, None),
            true,
        ));
    }
    for i in 0..plan.max_value {
        fields.push(Field::new(format!("value{i}"), DataType::Float64, true));
    }
    for i in 0..plan.max_value {
        fields.push(Field::new(format!("value{i}_name"), DataType::Utf8, true));
    }
    let pids = match pids {
        Some(p) => {
            InputError::check_ascending(&p)?;
            p
        }
        None => store.pids().to_vec(),
    };
    let signal_names: ArrayRef = Arc::new(StringArray::from_iter_values(
        plan.signals.iter().map(|s| s.name.as_str()),
    ));
    Ok(LongBatches {
        store,
        schema: Arc::new(Schema::new(fields)),
        plan,
        signal_names,
        pids,
        next: 0,
        batch_rows: options.batch_rows.max(1),
        pending: Vec::new(),
    })
}

impl<S> LongBatches<S>
where
    S: Deref,
    S::Target: SignalStore,
{
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn rows_of(&self, pid: Pid) -> Result<Vec<Row>> {
        let (vectors, events) = patient_events(&*self.store, &self.plan, pid)?;
        let mut rows = Vec::with_capacity(events.len());
        for ev in events {
            let s = &self.plan.signals[ev.signal];
            let size = s.layout.size();
            let e = &vectors[ev.signal][ev.element * size..(ev.element + 1) * size];
            let mut times = vec![None; self.plan.max_time];
            for (i, c) in s.layout.time_channels().iter().enumerate() {
                times[i] = time_to_micros(s.time_unit, read_int(c.ty, &e[c.offset..]));
            }
            let mut values = vec![None; self.plan.max_value];
            let mut names = vec![None; self.plan.max_value];
            for (i, c) in s.layout.value_channels().iter().enumerate() {
                let v = c.ty.read(&e[c.offset..]);
                values[i] = Some(v.as_f64());
                if s.categorical[i] {
                    names[i] = s.names.get(&v.as_i64()).cloned();
                }
            }
            rows.push(Row {
                pid,
                signal: ev.signal as i32,
                times,
                values,
                names,
            });
        }
        Ok(rows)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut rows = std::mem::take(&mut self.pending);
        while rows.len() < self.batch_rows && self.next < self.pids.len() {
            let pid = self.pids[self.next];
            self.next += 1;
            rows.extend(self.rows_of(pid)?);
        }
        if rows.len() > self.batch_rows {
            self.pending = rows.split_off(self.batch_rows);
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.build(&rows).map(Some)
    }

    fn build(&self, rows: &[Row]) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::new();
        cols.push(Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.pid.0 as i32),
        )));
        let keys = Int32Array::from_iter_values(rows.iter().map(|r| r.signal));
        cols.push(Arc::new(DictionaryArray::<Int32Type>::new(
            keys,
            self.signal_names.clone(),
        )));
        for i in 0..self.plan.max_time {
            let mut b = TimestampMicrosecondBuilder::with_capacity(rows.len());
            for r in rows {
                b.append_option(r.times[i]);
            }
            cols.push(Arc::new(b.finish()));
        }
        for i in 0..self.plan.max_value {
            let mut b = Float64Builder::with_capacity(rows.len());
            for r in rows {
                b.append_option(r.values[i]);
            }
            cols.push(Arc::new(b.finish()));
        }
        for i in 0..self.plan.max_value {
            let it = rows.iter().map(|r| r.names[i].as_deref());
            cols.push(Arc::new(StringArray::from_iter(it)));
        }
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| Error::Internal {
            what: "building an Arrow batch",
            detail: e.to_string(),
        })
    }
}

impl<S> Iterator for LongBatches<S>
where
    S: Deref,
    S::Target: SignalStore,
{
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.next_batch();
        fuse_on_error(batch, || {
            self.next = self.pids.len();
            self.pending.clear();
        })
    }
}
