//! Pass 2 of the MEDS import, the per-row half: each decoded batch is turned into a
//! [`Prepared`] batch (for every row: its subject and what becomes of it, with the element
//! bytes and error lines ready) by [`prepare`], on a worker thread when there is a pool.
//! A [`Cursor`] walks one data file's prepared batches in row order, keeping up to `depth`
//! batches in flight (the next batch of the current row group and the first batches of the
//! following ones). The merge by subject, which writes, stays on the calling thread and
//! consumes rows in the same order whatever the threads, so the output is the same.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc};

use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::time::TimeUnit;

use super::import::{CodeRole, SignalSpec};
use super::read::{Chunk, FileMeta, GroupReader};
use super::scan::row_problem;

/// The import's plan, shared by the workers: the signals and how each code's rows become
/// their elements.
pub(super) struct Plan {
    pub(super) signals: Vec<SignalSpec>,
    pub(super) roles: HashMap<String, CodeRole>,
}

/// What becomes of one row.
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome {
    /// Unreadable before its code is looked at (no subject to merge by): error line `.0`.
    Problem(u32),
    /// Cannot be stored: error line `.0`.
    Bad(u32),
    /// Dropped by a mapping line.
    Dropped,
    /// An element of signal `signal` with time key `key`, its bytes at `at`.
    Element { signal: u32, key: i64, at: u32 },
}

/// One row, prepared.
#[derive(Clone, Copy, Debug)]
pub(super) struct Row {
    /// The subject (meaningless for [`Outcome::Problem`]).
    pub(super) subject: i64,
    pub(super) outcome: Outcome,
    /// The row has a non-null `text_value` (counted, not stored).
    pub(super) text: bool,
    /// The signal whose time was truncated to the minute for this row.
    pub(super) rounded: Option<u32>,
}

/// One decoded batch, prepared.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    pub(super) rows: Vec<Row>,
    /// The element bytes of the rows, in row order.
    pub(super) bytes: Vec<u8>,
    /// The error lines of the rows that cannot be stored.
    pub(super) lines: Vec<String>,
}

/// Converts a time in µs since 1970 into `unit` (`Date` or `Minutes`); `None` outside `i32`.
fn stored_time(unit: TimeUnit, micros: i64) -> Option<(i32, bool)> {
    let dt = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    let v = unit.from_datetime(dt);
    let rounded = unit == TimeUnit::Minutes && micros.rem_euclid(60_000_000) != 0;
    i32::try_from(v).ok().map(|v| (v, rounded))
}

/// The error-file line of row `i`: file, row group, row, reason, then the row.
fn error_line(file: &FileMeta, first: u64, c: &Chunk, i: usize, why: &str) -> String {
    let (g, row) = file.locate(first + i as u64);
    let show = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    format!(
        "{}\trow group {g}\trow {row}\t{why}\t{}\t{}\t{}\t{}\n",
        file.path.display(),
        show(c.subject[i].map(|v| v.to_string())),
        show(c.time[i].map(|v| v.to_string())),
        show(c.code(i).map(str::to_string)),
        show(c.numeric[i].map(|v| v.to_string())),
    )
}

/// Appends the element of row `i` (a good row of a code with a role) to `e`; the reason
/// when it cannot be stored. Sets `rounded` when a time was truncated to the minute.
fn element(
    file: &FileMeta,
    c: &Chunk,
    i: usize,
    s: &SignalSpec,
    role: &CodeRole,
    e: &mut Vec<u8>,
    rounded: &mut bool,
) -> std::result::Result<i64, &'static str> {
    let mut key = 0i64;
    if s.timed {
        let Some(t) = c.time[i] else {
            return Err("null time for a code that is timed elsewhere");
        };
        let Some((v, r)) = stored_time(s.unit, t) else {
            return Err("time outside the 32-bit range of the signal's unit");
        };
        key = v as i64;
        e.extend_from_slice(&v.to_le_bytes());
        let mut round = r;
        for k in 1..s.times {
            let col = file.columns.times.iter().position(|&x| x == k);
            let v = match col.and_then(|j| c.times[j][i]) {
                None => 0,
                Some(t) => match stored_time(s.unit, t) {
                    Some((v, r)) => {
                        round |= r;
                        v
                    }
                    None => return Err("time outside the 32-bit range of the signal's unit"),
                },
            };
            e.extend_from_slice(&v.to_le_bytes());
        }
        *rounded = round;
    } else if c.time[i].is_some() {
        return Err("a time for a static code");
    }
    if let Some(cat) = role.category {
        e.extend_from_slice(&cat.to_le_bytes());
    }
    if s.numeric {
        let v = match c.numeric[i] {
            Some(v) => v as f32,
            None if role.needs_numeric => {
                return Err("no numeric_value for a code that has numeric values elsewhere")
            }
            None => f32::NAN,
        };
        e.extend_from_slice(&v.to_le_bytes());
    }
    for k in &s.values {
        let col = file.columns.values.iter().position(|x| x == k);
        let v = col.and_then(|j| c.values[j][i]).unwrap_or(0.0);
        e.extend_from_slice(&v.to_le_bytes());
    }
    Ok(key)
}

/// Every row of batch `c` (whose first row is file row `first`), prepared.
pub(super) fn prepare(file: &FileMeta, first: u64, c: &Chunk, plan: &Plan) -> Prepared {
    let mut p = Prepared {
        rows: Vec::with_capacity(c.len()),
        ..Default::default()
    };
    for i in 0..c.len() {
        let mut row = Row {
            subject: c.subject[i].unwrap_or(0),
            outcome: Outcome::Dropped,
            text: false,
            rounded: None,
        };
        if let Some(why) = row_problem(c, i) {
            row.outcome = Outcome::Problem(p.lines.len() as u32);
            p.lines.push(error_line(file, first, c, i, why));
            p.rows.push(row);
            continue;
        }
        row.text = c.has_text(i);
        let code = c.code(i).expect("checked");
        if let Some(role) = plan.roles.get(code) {
            let at = p.bytes.len();
            let mut rounded = false;
            let s = &plan.signals[role.signal];
            let r = element(file, c, i, s, role, &mut p.bytes, &mut rounded);
            if rounded {
                row.rounded = Some(role.signal as u32);
            }
            row.outcome = match r {
                Ok(key) => Outcome::Element {
                    signal: role.signal as u32,
                    key,
                    at: at as u32,
                },
                Err(why) => {
                    p.bytes.truncate(at);
                    p.lines.push(error_line(file, first, c, i, why));
                    Outcome::Bad(p.lines.len() as u32 - 1)
                }
            };
        }
        p.rows.push(row);
    }
    p
}

/// A row group's reader after one step, and the batch it read (`None`: the group is done).
type Step = (GroupReader, Result<Option<Prepared>>);

fn step(mut r: GroupReader, plan: &Plan) -> Step {
    let res = r.next_chunk().map(|c| {
        c.map(|(first, chunk)| {
            let file = Arc::clone(&r.file);
            prepare(&file, first, &chunk, plan)
        })
    });
    (r, res)
}

/// A row group in a cursor's queue.
enum Slot {
    /// Nothing in flight (no pool: the next step runs in the calling thread).
    Idle(GroupReader),
    /// A step running on the pool.
    Running(mpsc::Receiver<Step>),
    /// The group could not be opened: the error, reported when the cursor gets there.
    Failed(Error),
}

/// One data file being merged: its prepared batches in row order, and its row counts.
pub(super) struct Cursor<'a> {
    pub(super) file: Arc<FileMeta>,
    plan: Arc<Plan>,
    pool: Option<&'a rayon::ThreadPool>,
    /// Row groups open at once (each with at most one batch in flight).
    depth: usize,
    next_group: usize,
    slots: VecDeque<Slot>,
    /// The batch being merged.
    pub(super) cur: Option<Prepared>,
    /// The next row of `cur`.
    pub(super) pos: usize,
    /// Rows consumed.
    pub(super) rows: u64,
    /// Rows dropped into the error file.
    pub(super) bad: u64,
    done: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over `file`; with a pool, up to `depth` row groups decode ahead.
    pub(super) fn new(
        file: Arc<FileMeta>,
        plan: Arc<Plan>,
        pool: Option<&'a rayon::ThreadPool>,
        depth: usize,
    ) -> Cursor<'a> {
        Cursor {
            file,
            plan,
            pool,
            depth: if pool.is_some() { depth.max(1) } else { 1 },
            next_group: 0,
            slots: VecDeque::new(),
            cur: None,
            pos: 0,
            rows: 0,
            bad: 0,
            done: false,
        }
    }

    fn start(&self, r: GroupReader) -> Slot {
        match self.pool {
            None => Slot::Idle(r),
            Some(pool) => {
                let (tx, rx) = mpsc::sync_channel(1);
                let plan = Arc::clone(&self.plan);
                pool.spawn(move || {
                    // The cursor may be gone (an error elsewhere): nothing to tell then.
                    let _ = tx.send(step(r, &plan));
                });
                Slot::Running(rx)
            }
        }
    }

    fn fill(&mut self) {
        while self.slots.len() < self.depth && self.next_group < self.file.row_groups() {
            let g = self.next_group;
            self.next_group += 1;
            let slot = match self.file.group(g) {
                Ok(r) => self.start(r),
                Err(e) => Slot::Failed(e),
            };
            self.slots.push_back(slot);
        }
    }

    /// The next prepared batch of the file, `None` at its end.
    fn next_batch(&mut self) -> Result<Option<Prepared>> {
        loop {
            self.fill();
            let Some(head) = self.slots.pop_front() else {
                return Ok(None);
            };
            let (r, res) = match head {
                Slot::Failed(e) => return Err(e),
                Slot::Idle(r) => step(r, &self.plan),
                Slot::Running(rx) => rx.recv().map_err(|_| Error::Io {
                    path: self.file.path.clone(),
                    source: std::io::Error::other("a decoding thread stopped without an answer"),
                })?,
            };
            if let Some(p) = res? {
                let next = self.start(r);
                self.slots.push_front(next);
                return Ok(Some(p));
            }
        }
    }

    /// The subject of the next row that has one (reading on as needed), writing the
    /// unreadable rows before it to `errors`.
    pub(super) fn peek(
        &mut self,
        errors: &mut dyn FnMut(&str) -> Result<()>,
    ) -> Result<Option<i64>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let len = self.cur.as_ref().map_or(0, |p| p.rows.len());
            if self.pos >= len {
                self.cur = self.next_batch()?;
                self.pos = 0;
                if self.cur.is_none() {
                    self.done = true;
                }
                continue;
            }
            let p = self.cur.as_ref().expect("batch");
            let row = p.rows[self.pos];
            if let Outcome::Problem(l) = row.outcome {
                self.rows += 1;
                self.bad += 1;
                errors(&p.lines[l as usize])?;
                self.pos += 1;
                continue;
            }
            return Ok(Some(row.subject));
        }
    }
}
