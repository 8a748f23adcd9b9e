//! The streaming k-way merge by pid: every file's lines of the next pid, then that patient's
//! vectors sorted, de-duplicated, FORCE_SIGNAL applied and pushed to the [`Mode3Writer`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::convert::blocks::Cursor;
use crate::convert::config::ConvertConfig;
use crate::convert::output::{backend, io_err};
use crate::convert::parse::{Ctx, Outcome};
use crate::convert::sort::{std_sort, unique_bytes, Comparator};
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
    pub(super) comparators: Vec<Comparator>,
    pub(super) acc: Vec<Vec<u8>>,
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
                        let acc = &mut self.acc[serial];
                        if acc.is_empty() {
                            self.touched.push(serial);
                        }
                        push_element(acc, &piece.bytes[off as usize..off as usize + size]);
                    }
                    cursor.pos += 1;
                }
                Outcome::Skip => {
                    cursor.stats.skipped += 1;
                    cursor.pos += 1;
                }
                Outcome::Err(e) => {
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
            let elems = &self.acc[serial];
            let n = elems.len() / size;
            let order = &mut self.order;
            order.clear();
            order.extend(0..n as u32);
            let cmp = &self.comparators[serial];
            let el = |i: &u32| &elems[*i as usize * size..(*i as usize + 1) * size];
            std_sort(order, &|a, b| cmp.less(el(a), el(b)));
            unique_bytes(order, elems, size);
            // Rewrite the vector in its final order (kept in acc for writing).
            let scratch = &mut self.scratch;
            scratch.clear();
            for i in order.iter() {
                push_element(scratch, el(i));
            }
            counts.push((serial, order.len()));
            std::mem::swap(&mut self.acc[serial], &mut self.scratch);
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
