//! Pass 1 of the MEDS import: what every code looks like (numeric or not, timed or static,
//! with a time of day or not, which extra columns it fills), and the check that subjects are
//! ascending within each file. Row groups are scanned in parallel (each task holds one
//! decoded batch); their tables are merged in file and row-group order, and the first error
//! in that order is the one reported, whatever the threads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::error::{Error, Result};

use super::read::{Chunk, FileMeta};

/// What pass 1 learned of one code.
#[derive(Clone, Debug, Default)]
pub(super) struct CodeStats {
    pub(super) timed: u64,
    pub(super) timeless: u64,
    pub(super) numeric: u64,
    pub(super) time_of_day: bool,
    /// Highest extra time column (`time<k>`) holding a value.
    pub(super) max_time: usize,
    /// Extra value columns (`value<k>`) holding a value.
    pub(super) values: BTreeSet<usize>,
}

impl CodeStats {
    fn merge(&mut self, o: CodeStats) {
        self.timed += o.timed;
        self.timeless += o.timeless;
        self.numeric += o.numeric;
        self.time_of_day |= o.time_of_day;
        self.max_time = self.max_time.max(o.max_time);
        self.values.extend(o.values);
    }
}

/// Why a row cannot be read at all (before its code is looked at).
pub(super) fn row_problem(c: &Chunk, i: usize) -> Option<&'static str> {
    let Some(s) = c.subject[i] else {
        return Some("null subject_id");
    };
    if !(0..=i32::MAX as i64).contains(&s) {
        return Some("subject_id beyond the formats' 32-bit pid range");
    }
    match c.code(i) {
        None => Some("null code"),
        Some(code) if code.is_empty() || code.contains(['\t', '\n', '\r']) => {
            Some("empty code, or a code holding a tab or line break")
        }
        _ => None,
    }
}

/// The error of a subject lower than the one before it in the same file.
fn unsorted(file: &FileMeta, row: u64, subject: i64, last: i64) -> Error {
    let (g, row) = file.locate(row);
    Error::convert(
        &file.path,
        format!("row group {g} row {row}"),
        crate::error::ConvertError::MedsUnsorted {
            subject,
            previous: last,
        },
    )
}

/// One row group's share of pass 1.
#[derive(Default)]
struct GroupScan {
    stats: HashMap<String, CodeStats>,
    /// The first good row's subject and file row.
    first: Option<(i64, u64)>,
    /// The last good row's subject.
    last: Option<i64>,
    /// A subject lower than the one before it inside the group (the scan stopped there).
    unsorted: Option<Error>,
}

fn scan_group(file: &Arc<FileMeta>, g: usize) -> Result<GroupScan> {
    let mut out = GroupScan::default();
    let mut r = file.group(g)?;
    while let Some((first, c)) = r.next_chunk()? {
        for i in 0..c.len() {
            if row_problem(&c, i).is_some() {
                continue;
            }
            let subject = c.subject[i].expect("checked");
            let row = first + i as u64;
            match out.last {
                Some(l) if subject < l => {
                    out.unsorted = Some(unsorted(file, row, subject, l));
                    return Ok(out);
                }
                None => out.first = Some((subject, row)),
                _ => {}
            }
            out.last = Some(subject);
            let code = c.code(i).expect("checked");
            let s = match out.stats.get_mut(code) {
                Some(s) => s,
                None => out.stats.entry(code.to_string()).or_default(),
            };
            match c.time[i] {
                Some(t) => {
                    s.timed += 1;
                    s.time_of_day |= t.rem_euclid(86_400_000_000) != 0;
                }
                None => s.timeless += 1,
            }
            if c.numeric[i].is_some() {
                s.numeric += 1;
            }
            for (j, &k) in file.columns.times.iter().enumerate() {
                if c.times[j][i].is_some() {
                    s.max_time = s.max_time.max(k);
                    s.time_of_day |= c.times[j][i].is_some_and(|t| t % 86_400_000_000 != 0);
                }
            }
            for (j, &k) in file.columns.values.iter().enumerate() {
                if c.values[j][i].is_some() {
                    s.values.insert(k);
                }
            }
        }
    }
    Ok(out)
}

/// Pass 1 over every row group of `files`, `threads` at a time on `pool` (in the calling
/// thread without one): the code table, and subjects ascending within each file.
pub(super) fn scan(
    files: &[Arc<FileMeta>],
    pool: Option<&rayon::ThreadPool>,
) -> Result<BTreeMap<String, CodeStats>> {
    let tasks: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, m)| (0..m.row_groups()).map(move |g| (f, g)))
        .collect();
    let window = pool.map_or(1, |p| 2 * p.current_num_threads());
    let mut stats: BTreeMap<String, CodeStats> = BTreeMap::new();
    // The last good subject of each file so far.
    let mut last: Vec<Option<i64>> = vec![None; files.len()];
    for part in tasks.chunks(window) {
        let results: Vec<Result<GroupScan>> = match pool {
            Some(p) => p.install(|| {
                part.par_iter()
                    .map(|&(f, g)| scan_group(&files[f], g))
                    .collect()
            }),
            None => part
                .iter()
                .map(|&(f, g)| scan_group(&files[f], g))
                .collect(),
        };
        for (&(f, _), r) in part.iter().zip(results) {
            let r = r?;
            if let (Some((subject, row)), Some(l)) = (r.first, last[f]) {
                if subject < l {
                    return Err(unsorted(&files[f], row, subject, l));
                }
            }
            if let Some(e) = r.unsorted {
                return Err(e);
            }
            if r.last.is_some() {
                last[f] = r.last;
            }
            for (code, s) in r.stats {
                match stats.get_mut(&code) {
                    Some(t) => t.merge(s),
                    None => {
                        stats.insert(code, s);
                    }
                }
            }
        }
    }
    Ok(stats)
}
