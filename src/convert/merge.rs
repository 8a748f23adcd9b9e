//! The streaming k-way merge by pid: every file's lines of the next pid, then that patient's
//! vectors sorted, de-duplicated, FORCE_SIGNAL applied and pushed to the [`Mode3Writer`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::convert::blocks::Cursor;
use crate::convert::config::ConvertConfig;
use crate::convert::output::{backend, io_err};
use crate::convert::parse::{Ctx, Outcome};
use crate::convert::sort::sort_unique_into;
use crate::convert::tsv::{push_element, Tag};
use crate::convert::{ConvertError, ConvertOptions, Progress, UnsortedPolicy};
use crate::error::Result;
use crate::ids::{Pid, Sid};
use crate::native::signal_paths;
use crate::native::write::Mode3Writer;

pub(super) struct Merge<'a> {
    pub(super) ctx: &'a Ctx<'a>,
    pub(super) cfg: &'a ConvertConfig,
    pub(super) options: &'a ConvertOptions,
    pub(super) cursors: Vec<Cursor>,
    pub(super) names: Vec<PathBuf>,
    /// Per signal: the current patient's elements in input order.
    pub(super) acc: Vec<Vec<u8>>,
    /// Per signal: the sorted group of the patient's first run (used when it is the only one).
    pub(super) sorted: Vec<Vec<u8>>,
    /// Per signal: how many runs gave the patient's elements (2 also for any other source).
    pub(super) runs: Vec<u32>,
    pub(super) touched: Vec<usize>,
    pub(super) order: Vec<u32>,
    pub(super) scratch: Vec<u8>,
    /// The repository being written (every loaded signal).
    pub(super) writer: Mode3Writer,
    /// Catalog serial → sid.
    pub(super) sids: Vec<Sid>,
    pub(super) forced: Vec<(String, usize)>,
    pub(super) missing_forced: Vec<u64>,
    pub(super) missing_dict: u64,
    pub(super) pids_written: u64,
    pub(super) pids_read: u64,
    pub(super) errors: BufWriter<File>,
    pub(super) error_lines: u64,
    pub(super) bytes_read: u64,
    pub(super) bytes_total: u64,
    pub(super) lines: u64,
    pub(super) warnings: Vec<String>,
}

impl Merge<'_> {
    fn log(&mut self, file: usize, line: u64, tag: Tag, reason: &str) -> Result<()> {
        self.error_lines += 1;
        writeln!(
            self.errors,
            "{}:{line}: {} {reason}",
            self.names[file].display(),
            tag.as_str()
        )
        .map_err(io_err(&self.names[file]))
    }

    /// Consumes the lines of `file` that belong to pid `c_pid` (`None`: the priming round),
    /// stopping at the first line of a later pid.
    fn take(&mut self, file: usize, c_pid: Option<u32>) -> Result<()> {
        loop {
            let mut br = self.bytes_read;
            let ready = self.cursors[file].ready(&mut br)?;
            if br != self.bytes_read {
                self.bytes_read = br;
                self.report();
            }
            if !ready {
                self.cursors[file].fpid = None;
                return Ok(());
            }
            if self.take_run(file, c_pid) {
                continue;
            }
            let (_, lo) = self.cursors[file].current();
            let line_no = lo.line;
            let pid = lo.pid;
            if pid >= 0 {
                let pid = pid as u32;
                match c_pid {
                    Some(c) if pid < c => {
                        // A pid lower than the file's current one.
                        match self.options.unsorted {
                            UnsortedPolicy::Drop | UnsortedPolicy::Sort => {
                                self.cursors[file].stats.relevant += 1;
                                self.cursors[file].stats.other_dropped += 1;
                                self.cursors[file].pos += 1;
                                self.lines += 1;
                                self.log(
                                    file,
                                    line_no,
                                    Tag::UnsortedPid,
                                    &format!("pid {pid} after pid {c}: line dropped"),
                                )?;
                                continue;
                            }
                            UnsortedPolicy::Error => {
                                return Err(backend(
                                    &self.names[file],
                                    format!("line {line_no}"),
                                    ConvertError::Unsorted { pid, previous: c },
                                ));
                            }
                        }
                    }
                    Some(c) if pid == c => {}
                    _ => {
                        self.cursors[file].fpid = Some(pid);
                        return Ok(());
                    }
                }
            }
            // A line of this pid, or one without a pid.
            self.lines += 1;
            let cursor = &mut self.cursors[file];
            cursor.stats.relevant += 1;
            let block = cursor.block.as_ref().expect("ready");
            let piece = &block.pieces[cursor.piece];
            let lo = &piece.lines[cursor.pos];
            match &lo.outcome {
                Outcome::Recs { start, n } => {
                    cursor.stats.parsed += 1;
                    for &(serial, off) in &piece.recs[*start as usize..(*start + *n) as usize] {
                        let serial = serial as usize;
                        let size = self.ctx.plans[serial].size;
                        if self.runs[serial] == 0 {
                            self.touched.push(serial);
                        }
                        // Not a run's group: the pid's vector is sorted by the merge.
                        self.runs[serial] = 2;
                        let acc = &mut self.acc[serial];
                        push_element(acc, &piece.bytes[off as usize..off as usize + size]);
                    }
                    cursor.pos += 1;
                }
                Outcome::Skip => {
                    cursor.stats.skipped += 1;
                    cursor.pos += 1;
                }
                &Outcome::Err(i) => {
                    let e = &piece.errors[i as usize];
                    let (tag, reason) = (e.tag, e.reason.clone());
                    match tag {
                        Tag::BadFileFormat => cursor.stats.bad_format += 1,
                        Tag::MissingFromDictionary => {
                            cursor.stats.missing_from_dictionary += 1;
                            self.missing_dict += 1;
                        }
                        _ => cursor.stats.other_dropped += 1,
                    }
                    cursor.pos += 1;
                    self.log(file, line_no, tag, &reason)?;
                }
            }
        }
    }

    /// Consumes the run at the cursor of `file` (the worker's grouping of the lines of one pid)
    /// when it belongs to pid `c_pid`; `false` when the cursor is not at a run of that pid
    /// (the line-by-line path then takes the line).
    fn take_run(&mut self, file: usize, c_pid: Option<u32>) -> bool {
        let cursor = &mut self.cursors[file];
        let Some(block) = cursor.block.as_ref() else {
            return false;
        };
        let piece = &block.pieces[cursor.piece];
        while piece
            .runs
            .get(cursor.run)
            .is_some_and(|r| (r.first as usize) < cursor.pos)
        {
            cursor.run += 1;
        }
        let Some(run) = piece.runs.get(cursor.run) else {
            return false;
        };
        if run.first as usize != cursor.pos || Some(run.pid) != c_pid {
            return false;
        }
        let (lines, skipped) = (run.lines as u64, run.skipped as u64);
        cursor.stats.relevant += lines;
        cursor.stats.parsed += lines - skipped;
        cursor.stats.skipped += skipped;
        self.lines += lines;
        for g in &piece.groups[run.groups.0 as usize..run.groups.1 as usize] {
            let serial = g.serial as usize;
            let count = &mut self.runs[serial];
            if *count == 0 {
                self.touched.push(serial);
                self.sorted[serial]
                    .extend_from_slice(&piece.sorted[g.sorted.0 as usize..g.sorted.1 as usize]);
            }
            *count = count.saturating_add(1);
            self.acc[serial].extend_from_slice(&piece.raw[g.raw.0 as usize..g.raw.1 as usize]);
        }
        cursor.pos += run.lines as usize;
        cursor.run += 1;
        true
    }

    fn report(&self) {
        if let Some(p) = &self.options.progress {
            p(&Progress {
                bytes_read: self.bytes_read,
                bytes_total: self.bytes_total,
                lines: self.lines,
                pids: self.pids_written,
                sorting: false,
            });
        }
    }

    /// Sorts, de-duplicates, applies FORCE_SIGNAL and writes one patient.
    fn finish_pid(&mut self, pid: u32) -> Result<()> {
        let mut counts: Vec<(usize, usize)> = Vec::with_capacity(self.touched.len());
        let touched = std::mem::take(&mut self.touched);
        for &serial in &touched {
            let size = self.ctx.plans[serial].size;
            // The vector in its final order, kept in acc for writing: the worker's sorted
            // group when one run gave it all, else sorted here (the same sort of the same
            // elements in the same order).
            if self.runs[serial] == 1 {
                std::mem::swap(&mut self.acc[serial], &mut self.sorted[serial]);
            } else {
                self.scratch.clear();
                sort_unique_into(
                    &self.ctx.comparators[serial],
                    &self.acc[serial],
                    size,
                    &mut self.order,
                    &mut self.scratch,
                );
                std::mem::swap(&mut self.acc[serial], &mut self.scratch);
            }
            self.sorted[serial].clear();
            self.runs[serial] = 0;
            counts.push((serial, self.acc[serial].len() / size));
        }
        for (k, (name, serial)) in self.forced.iter().enumerate() {
            let n = counts
                .iter()
                .find(|(s, _)| s == serial)
                .map_or(0, |&(_, n)| n);
            if n != 1 {
                self.missing_forced[k] += 1;
                self.error_lines += 1;
                writeln!(
                    self.errors,
                    "pid {pid}: MISSING_FORCED_SIGNAL {name} has {n} elements after de-duplication, needs exactly 1: patient dropped"
                )
                .map_err(io_err(&self.cfg.path))?;
                for &s in &touched {
                    self.acc[s].clear();
                }
                return Ok(());
            }
        }
        for (serial, n) in counts {
            if self.ctx.load[serial] {
                let sid = self.sids[serial];
                if self.writer.elements(sid) + n as u64 > u32::MAX as u64 {
                    let name = &self.ctx.plans[serial].name;
                    let (data, _) = signal_paths(&self.writer.staged_prefix(), name);
                    return Err(backend(
                        &data,
                        format!("pid {pid}"),
                        ConvertError::TooManyElements(name.clone()),
                    ));
                }
                self.writer.push(Pid(pid), sid, &self.acc[serial])?;
            }
            self.acc[serial].clear();
        }
        self.writer.add_pid(Pid(pid))?;
        self.pids_written += 1;
        #[cfg(feature = "testing")]
        if let Some(limit) = self.options.fail_after_pids {
            if self.pids_written >= limit {
                return Err(backend(
                    &self.cfg.path,
                    format!("pid {pid}"),
                    ConvertError::Injected(limit),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn run(&mut self) -> Result<()> {
        // Priming round: every file up to its first line with a pid (the original's pid -1).
        for f in 0..self.cursors.len() {
            self.take(f, None)?;
        }
        self.pids_read = 1;
        while let Some(c_pid) = self.cursors.iter().filter_map(|c| c.fpid).min() {
            for f in 0..self.cursors.len() {
                if self.cursors[f].fpid == Some(c_pid) {
                    self.take(f, Some(c_pid))?;
                }
            }
            self.finish_pid(c_pid)?;
            self.pids_read += 1;
            let every = self.options.thresholds.check_every_pids;
            if every > 0 && self.pids_read % every == 0 {
                self.test(false)?;
            }
        }
        self.report();
        self.test(true)
    }
}
