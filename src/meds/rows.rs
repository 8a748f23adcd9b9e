//! Pass 2 of the MEDS import, the per-row half: each decoded batch is turned into a
//! [`Prepared`] batch (for every row: its subject and what becomes of it, with the element
//! bytes and error lines ready) by [`prepare`], on a worker thread when there is a pool.
//! A [`Cursor`] walks one data file's prepared batches in row order, with several row groups
//! of the file decoding at once, each a few batches ahead ([`Ahead`]); jobs never block, the
//! calling thread waits only for the row group it merges. The merge by subject, which writes, stays on the calling thread and
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

/// How far a cursor reads ahead: row groups open at once, batches one job decodes before it
/// hands them over, and batches a row group may hold ready before it waits for the merge.
/// A file holds at most `groups × (ready + job)` prepared batches.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ahead {
    pub(super) groups: usize,
    pub(super) job: usize,
    pub(super) ready: usize,
}

impl Ahead {
    /// For `files` data files on `threads` threads: with few files, `threads` row groups of
    /// each decode at once, 4 batches a job, 16 ready; with many (or one thread), one row
    /// group, one batch a job, one ready (about what a single-threaded merge holds).
    pub(super) fn new(files: usize, threads: usize) -> Ahead {
        if threads > 1 && files <= 8 {
            Ahead {
                groups: threads,
                job: 4,
                ready: 16,
            }
        } else {
            Ahead {
                groups: 1,
                job: 1,
                ready: 1,
            }
        }
    }
}

/// A row group's reader after one job, the batches it read, and whether the group is done
/// (or the error that stopped it, after those batches).
struct Step {
    reader: GroupReader,
    batches: Vec<Prepared>,
    end: bool,
    error: Option<Error>,
}

fn step(mut reader: GroupReader, plan: &Plan, job: usize) -> Step {
    let mut batches = Vec::new();
    let (mut end, mut error) = (false, None);
    while batches.len() < job {
        match reader.next_chunk() {
            Ok(Some((first, chunk))) => {
                let file = Arc::clone(&reader.file);
                batches.push(prepare(&file, first, &chunk, plan));
            }
            Ok(None) => {
                end = true;
                break;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Step {
        reader,
        batches,
        end,
        error,
    }
}

/// Where a row group's reading stands.
enum State {
    /// Nothing in flight (no pool: the next job runs in the calling thread).
    Idle(GroupReader),
    /// A job running on the pool.
    Running(mpsc::Receiver<Step>),
    /// Every batch read.
    End,
    /// The error that stopped the group, reported once its ready batches are merged.
    Failed(Error),
}

/// A row group in a cursor's queue: its state and the batches ready for the merge.
struct Slot {
    state: State,
    ready: VecDeque<Prepared>,
}

impl Slot {
    fn absorb(&mut self, s: Step) {
        self.ready.extend(s.batches);
        self.state = match (s.error, s.end) {
            (Some(e), _) => State::Failed(e),
            (None, true) => State::End,
            (None, false) => State::Idle(s.reader),
        };
    }
}

/// One data file being merged: its prepared batches in row order, and its row counts.
pub(super) struct Cursor<'a> {
    pub(super) file: Arc<FileMeta>,
    plan: Arc<Plan>,
    pool: Option<&'a rayon::ThreadPool>,
    ahead: Ahead,
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
    /// A cursor over `file`; with a pool, row groups decode ahead as `ahead` says.
    pub(super) fn new(
        file: Arc<FileMeta>,
        plan: Arc<Plan>,
        pool: Option<&'a rayon::ThreadPool>,
        ahead: Ahead,
    ) -> Cursor<'a> {
        let ahead = match pool {
            Some(_) => Ahead {
                groups: ahead.groups.max(1),
                job: ahead.job.max(1),
                ready: ahead.ready.max(1),
            },
            None => Ahead::new(1, 1),
        };
        Cursor {
            file,
            plan,
            pool,
            ahead,
            next_group: 0,
            slots: VecDeque::new(),
            cur: None,
            pos: 0,
            rows: 0,
            bad: 0,
            done: false,
        }
    }

    fn gone(&self) -> Error {
        Error::Io {
            path: self.file.path.clone(),
            source: std::io::Error::other("a decoding thread stopped without an answer"),
        }
    }

    /// Opens row groups up to `ahead.groups`; with a pool, collects finished jobs and starts
    /// the next job of every group that has room for its batches. Never blocks.
    fn advance(&mut self) {
        while self.slots.len() < self.ahead.groups && self.next_group < self.file.row_groups() {
            let g = self.next_group;
            self.next_group += 1;
            let state = match self.file.group(g) {
                Ok(r) => State::Idle(r),
                Err(e) => State::Failed(e),
            };
            self.slots.push_back(Slot {
                state,
                ready: VecDeque::new(),
            });
        }
        let Some(pool) = self.pool else { return };
        let path = &self.file.path;
        for slot in &mut self.slots {
            if let State::Running(rx) = &slot.state {
                match rx.try_recv() {
                    Ok(s) => slot.absorb(s),
                    Err(mpsc::TryRecvError::Empty) => {}
                    Err(mpsc::TryRecvError::Disconnected) => {
                        slot.state = State::Failed(Error::Io {
                            path: path.clone(),
                            source: std::io::Error::other(
                                "a decoding thread stopped without an answer",
                            ),
                        });
                    }
                }
            }
            if slot.ready.len() < self.ahead.ready && matches!(slot.state, State::Idle(_)) {
                let State::Idle(r) = std::mem::replace(&mut slot.state, State::End) else {
                    unreachable!("matched Idle")
                };
                let (tx, rx) = mpsc::sync_channel(1);
                let plan = Arc::clone(&self.plan);
                let job = self.ahead.job;
                pool.spawn(move || {
                    // The cursor may be gone (an error elsewhere): nothing to tell then.
                    let _ = tx.send(step(r, &plan, job));
                });
                slot.state = State::Running(rx);
            }
        }
    }

    /// The next prepared batch of the file, `None` at its end.
    fn next_batch(&mut self) -> Result<Option<Prepared>> {
        loop {
            self.advance();
            let Some(head) = self.slots.front_mut() else {
                return Ok(None);
            };
            if let Some(p) = head.ready.pop_front() {
                // Room again: the head's next job starts before this batch is merged.
                self.advance();
                return Ok(Some(p));
            }
            match std::mem::replace(&mut head.state, State::End) {
                State::End => {
                    self.slots.pop_front();
                }
                State::Failed(e) => return Err(e),
                State::Idle(r) => {
                    let s = step(r, &self.plan, self.ahead.job);
                    head.absorb(s);
                }
                State::Running(rx) => match rx.recv() {
                    Ok(s) => head.absorb(s),
                    Err(_) => return Err(self.gone()),
                },
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
