//! The conversion itself: parallel parsing of input blocks, the streaming k-way merge by pid,
//! per-(pid, signal) sort and de-duplication, FORCE_SIGNAL, thresholds, and the atomic output.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use hashbrown::HashMap;
use rayon::prelude::*;

use crate::atomic::{link_tree, AtomicDir};
use crate::catalog::Catalog;
use crate::convert::config::{under, ConvertConfig, InputKind};
use crate::convert::sort::{std_sort, unique_bytes, Comparator};
use crate::convert::tsv::{
    c_stoi, encode, line_error, parse_channel, parse_time, split_fields, trim_line, ElementBuf,
    LineError, SignalPlan, Tag, TimeRules,
};
use crate::convert::{
    ConvertError, ConvertOptions, ConvertReport, FileStats, Progress, UnsortedPolicy,
};
use crate::error::{Error, Result};
use crate::ids::Pid;
use crate::native::index::{write_index, STRIPPED_FORMAT};
use crate::native::{pids_path, signal_paths, write_pids};
use crate::text::dict::{Dictionaries, Section};
use crate::text::signals::SignalsFile;
use crate::text::{read_text, ParseError};
use crate::time::TimeUnit;

pub(super) fn backend(path: &Path, context: impl Into<String>, e: ConvertError) -> Error {
    Error::Backend {
        path: path.into(),
        context: context.into(),
        source: Box::new(e),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing context.

/// The signals the special exports feed (serials into the catalog).
#[derive(Clone, Copy, Debug, Default)]
struct Specials {
    byear: Option<usize>,
    gender: Option<usize>,
    death: Option<usize>,
    stage: Option<usize>,
    location: Option<usize>,
}

struct Ctx<'a> {
    plans: Vec<SignalPlan>,
    sections: Vec<&'a Section>,
    /// code → signal serial (`None`: a CODES entry naming an unknown signal).
    codes: HashMap<String, Option<usize>>,
    load: Vec<bool>,
    rules: TimeRules,
    specials: Specials,
}

/// What one line gave.
enum Outcome {
    /// Elements `recs[start..start + n]` of the piece.
    Recs { start: u32, n: u32 },
    /// A signal outside LOAD_ONLY.
    Skip,
    /// Dropped.
    Err(Box<LineError>),
}

struct LineOut {
    /// 1-based line number in the input file.
    line: u64,
    /// The pid, or -1 when the line has none (too few fields, bad pid).
    pid: i64,
    outcome: Outcome,
}

/// The parsed lines of a run of whole text lines.
struct Piece {
    lines: Vec<LineOut>,
    /// `(serial, offset into bytes)`.
    recs: Vec<(u32, u32)>,
    bytes: Vec<u8>,
}

struct Block {
    pieces: Vec<Piece>,
    bytes: u64,
}

impl Ctx<'_> {
    fn push(&self, piece: &mut Piece, serial: usize, elem: &ElementBuf) {
        let size = self.plans[serial].size;
        piece.recs.push((serial as u32, piece.bytes.len() as u32));
        piece.bytes.extend_from_slice(&elem[..size]);
    }

    fn pid(field: &str) -> Option<u32> {
        c_stoi(field).and_then(|p| u32::try_from(p).ok())
    }

    /// Parses one trimmed line of `kind` into `piece`; returns `(pid, outcome)`.
    fn line(&self, kind: InputKind, text: &str, piece: &mut Piece) -> (i64, Outcome) {
        let start = piece.recs.len() as u32;
        let fields = split_fields(text);
        let min_fields = if kind == InputKind::Registry { 4 } else { 3 };
        if fields.len() < min_fields {
            let e = line_error(
                Tag::TooFewFields,
                format!("{} fields, at least {min_fields} needed", fields.len()),
            );
            return (-1, Outcome::Err(Box::new(e)));
        }
        let Some(pid) = Self::pid(fields[0]) else {
            let e = line_error(Tag::BadPid, format!("pid {:?} is not a pid", fields[0]));
            return (-1, Outcome::Err(Box::new(e)));
        };
        let result = match kind {
            InputKind::Data => self.data_line(&fields, piece),
            InputKind::Registry => self.registry_line(&fields, piece),
            InputKind::Demographics => self.demographics_line(&fields, piece),
            InputKind::Deaths => self.deaths_line(&fields, piece),
        };
        let outcome = match result {
            Ok(true) => Outcome::Recs {
                start,
                n: piece.recs.len() as u32 - start,
            },
            Ok(false) => Outcome::Skip,
            Err(e) => {
                // Nothing of a bad line is kept (a registry line may have pushed one element).
                piece.recs.truncate(start as usize);
                Outcome::Err(Box::new(e))
            }
        };
        (pid as i64, outcome)
    }

    fn data_line(&self, f: &[&str], piece: &mut Piece) -> Result<bool, LineError> {
        let serial = match self.codes.get(f[1]) {
            None => return Err(line_error(Tag::UnrecognizedSignal, f[1].to_string())),
            Some(None) => {
                return Err(line_error(
                    Tag::NoSidForSignal,
                    format!("code {} maps to a signal not in the signals file", f[1]),
                ))
            }
            Some(Some(s)) => *s,
        };
        if !self.load[serial] {
            return Ok(false);
        }
        let plan = &self.plans[serial];
        let need = plan.n_fields();
        if f.len() < 2 + need {
            return Err(line_error(
                Tag::BadFileFormat,
                format!(
                    "{}: expecting {} time channels and {} value channels, but only {} fields",
                    plan.name,
                    plan.time.len(),
                    plan.value.len(),
                    f.len()
                ),
            ));
        }
        let elem = encode(plan, &f[2..2 + need], &self.sections, self.rules)?;
        self.push(piece, serial, &elem);
        Ok(true)
    }

    /// An element of `serial` from a time text (channel 0, if any) and a value text (channel 0).
    fn special(
        &self,
        serial: usize,
        time: Option<&str>,
        value: &str,
        piece: &mut Piece,
    ) -> Result<bool, LineError> {
        if !self.load[serial] {
            return Ok(false);
        }
        let plan = &self.plans[serial];
        let mut out = [0u8; crate::layout::MAX_ELEMENT_SIZE];
        if let (Some(t), Some(c)) = (time, plan.time.first()) {
            parse_channel(c, t, &self.sections, self.rules, &plan.name, &mut out)?;
        }
        if let Some(c) = plan.value.first() {
            parse_channel(c, value, &self.sections, self.rules, &plan.name, &mut out)?;
        }
        self.push(piece, serial, &out);
        Ok(true)
    }

    fn registry_line(&self, f: &[&str], piece: &mut Piece) -> Result<bool, LineError> {
        if f.len() != 4 {
            return Err(line_error(
                Tag::BadFileFormat,
                format!("registry lines have 4 fields, not {}", f.len()),
            ));
        }
        let (Some(location), Some(stage)) = (self.specials.location, self.specials.stage) else {
            return Ok(false);
        };
        let a = self.special(location, Some(f[2]), f[3], piece)?;
        let b = self.special(stage, Some(f[2]), f[1], piece)?;
        Ok(a || b)
    }

    fn demographics_line(&self, f: &[&str], piece: &mut Piece) -> Result<bool, LineError> {
        let (Some(byear), Some(gender)) = (self.specials.byear, self.specials.gender) else {
            return Ok(false);
        };
        let a = self.special(byear, None, f[1], piece)?;
        let categorical = self.plans[gender]
            .value
            .first()
            .is_some_and(|c| matches!(c.parse, crate::convert::tsv::ChannelParse::Categorical(_)));
        let g = if categorical {
            f[2]
        } else {
            match f[2] {
                "M" | "m" | "1" => "1",
                "F" | "f" | "2" => "2",
                other => {
                    return Err(line_error(
                        Tag::BadFileFormat,
                        format!("GENDER: {other:?} is not M or F"),
                    ))
                }
            }
        };
        let b = self.special(gender, None, g, piece)?;
        Ok(a || b)
    }

    fn deaths_line(&self, f: &[&str], piece: &mut Piece) -> Result<bool, LineError> {
        if f[1] != "DEATH" {
            return Err(line_error(Tag::UnrecognizedSignal, f[1].to_string()));
        }
        let Some(death) = self.specials.death else {
            return Ok(false);
        };
        if !self.load[death] {
            return Ok(false);
        }
        let plan = &self.plans[death];
        if !plan.time.is_empty() {
            return self.special(death, Some(f[2]), "1", piece);
        }
        // No time channel (ETL's `V(i)` DEATH): the date is the value, validated as a time.
        let unit = match plan.time.first().map(|c| c.parse) {
            Some(crate::convert::tsv::ChannelParse::Time(u)) => u,
            _ => TimeUnit::Date,
        };
        let t = parse_time(unit, f[2], self.rules)
            .map_err(|r| line_error(Tag::BadFileFormat, format!("DEATH: {r}")))?;
        self.special(death, None, &t.to_string(), piece)
    }
}

/// Parses the whole lines of `text` (line numbers from `base_line`, 1-based; with `numbered`,
/// each line starts with its own number, as `--sort` writes them).
fn parse_piece(
    ctx: &Ctx<'_>,
    kind: InputKind,
    text: &[u8],
    base_line: u64,
    numbered: bool,
) -> Piece {
    let mut piece = Piece {
        lines: Vec::with_capacity(text.len() / 24),
        recs: Vec::with_capacity(text.len() / 24),
        bytes: Vec::with_capacity(text.len() / 3),
    };
    let mut body = text;
    if body.last() == Some(&b'\n') {
        body = &body[..body.len() - 1];
    }
    if text.is_empty() {
        return piece;
    }
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let mut line_no = base_line + i as u64;
        let mut raw = raw;
        if numbered {
            let sep = raw
                .iter()
                .position(|&b| b == crate::convert::external::NUMBER_SEP)
                .unwrap_or(0);
            line_no = std::str::from_utf8(&raw[..sep])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(line_no);
            raw = raw.get(sep + 1..).unwrap_or(&[]);
        }
        let line = trim_line(raw);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let text: Cow<'_, str> = match std::str::from_utf8(line) {
            Ok(s) => Cow::Borrowed(s),
            // 8-bit text (Latin-1 dictionaries are read the same way).
            Err(_) => Cow::Owned(line.iter().map(|&b| b as char).collect()),
        };
        let (pid, outcome) = ctx.line(kind, &text, &mut piece);
        piece.lines.push(LineOut {
            line: line_no,
            pid,
            outcome,
        });
    }
    piece
}

const PIECE_BYTES: usize = 256 << 10;

/// Reads `path` block by block, parses each block in parallel and sends it.
fn produce(
    ctx: &Ctx<'_>,
    pool: &rayon::ThreadPool,
    kind: InputKind,
    path: &Path,
    numbered: bool,
    block_bytes: usize,
    tx: std::sync::mpsc::SyncSender<Result<Block>>,
) {
    let run = || -> Result<()> {
        let mut file = File::open(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        crate::text::skip_bom(&mut file).map_err(io_err(path))?;
        let mut carry: Vec<u8> = Vec::new();
        let mut next_line: u64 = 1;
        let mut eof = false;
        while !eof {
            let mut buf = std::mem::take(&mut carry);
            let want = buf.len() + block_bytes;
            buf.reserve(block_bytes);
            while buf.len() < want {
                let n = (&mut file)
                    .take((want - buf.len()) as u64)
                    .read_to_end(&mut buf)
                    .map_err(io_err(path))?;
                if n == 0 {
                    eof = true;
                    break;
                }
            }
            let cut = if eof {
                buf.len()
            } else {
                match buf.iter().rposition(|&b| b == b'\n') {
                    Some(p) => p + 1,
                    None => {
                        carry = buf; // a line longer than a block: read on
                        continue;
                    }
                }
            };
            carry = buf[cut..].to_vec();
            buf.truncate(cut);
            // Pieces at line boundaries, each with its first line number.
            let mut ranges = Vec::new();
            let mut at = 0;
            while at < buf.len() {
                let mut end = (at + PIECE_BYTES).min(buf.len());
                if end < buf.len() {
                    end = buf[end..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(buf.len(), |p| end + p + 1);
                }
                ranges.push(at..end);
                at = end;
            }
            let pieces: Vec<Piece> = pool.install(|| {
                let counts: Vec<u64> = ranges
                    .par_iter()
                    .map(|r| buf[r.clone()].iter().filter(|&&b| b == b'\n').count() as u64)
                    .collect();
                let mut bases = Vec::with_capacity(ranges.len());
                for c in &counts {
                    bases.push(next_line);
                    next_line += c;
                }
                ranges
                    .par_iter()
                    .zip(bases.par_iter())
                    .map(|(r, &base)| parse_piece(ctx, kind, &buf[r.clone()], base, numbered))
                    .collect()
            });
            if tx
                .send(Ok(Block {
                    pieces,
                    bytes: cut as u64,
                }))
                .is_err()
            {
                return Ok(()); // the merge stopped
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.send(Err(e));
    }
}

// ---------------------------------------------------------------------------------------
// The merge.

struct Cursor {
    rx: Receiver<Result<Block>>,
    block: Option<Block>,
    piece: usize,
    pos: usize,
    done: bool,
    /// The pid of the next line with a pid (the original's `pid_in_file`).
    fpid: Option<u32>,
    stats: FileStats,
}

impl Cursor {
    /// Makes sure a line is available; `false` at the end of the file.
    fn ready(&mut self, bytes_read: &mut u64) -> Result<bool> {
        loop {
            if let Some(b) = &self.block {
                while self.piece < b.pieces.len() {
                    if self.pos < b.pieces[self.piece].lines.len() {
                        return Ok(true);
                    }
                    self.piece += 1;
                    self.pos = 0;
                }
            }
            if self.done {
                return Ok(false);
            }
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    *bytes_read += b.bytes;
                    self.block = Some(b);
                    self.piece = 0;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    self.done = true;
                    self.block = None;
                }
            }
        }
    }

    fn current(&self) -> (&Piece, &LineOut) {
        let b = self.block.as_ref().expect("ready");
        let p = &b.pieces[self.piece];
        (p, &p.lines[self.pos])
    }
}

/// One signal's output: its `.data` file and the `(pid, count)` list for its `.idx`.
struct SignalOut {
    data: BufWriter<File>,
    path: PathBuf,
    entries: Vec<(u32, u32)>,
    total: u64,
}

struct Merge<'a> {
    ctx: &'a Ctx<'a>,
    cfg: &'a ConvertConfig,
    options: &'a ConvertOptions,
    catalog: &'a Catalog,
    cursors: Vec<Cursor>,
    names: Vec<PathBuf>,
    comparators: Vec<Comparator>,
    acc: Vec<Vec<u8>>,
    touched: Vec<usize>,
    order: Vec<u32>,
    scratch: Vec<u8>,
    outs: Vec<Option<SignalOut>>,
    forced: Vec<(String, usize)>,
    missing_forced: Vec<u64>,
    missing_dict: u64,
    pids: Vec<Pid>,
    pids_read: u64,
    errors: BufWriter<File>,
    error_lines: u64,
    bytes_read: u64,
    bytes_total: u64,
    lines: u64,
    warnings: Vec<String>,
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
                        acc.extend_from_slice(&piece.bytes[off as usize..off as usize + size]);
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
                pids: self.pids.len() as u64,
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
                scratch.extend_from_slice(el(i));
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
            let bytes = std::mem::take(&mut self.acc[serial]);
            if let Some(out) = self.outs[serial].as_mut() {
                out.total += n as u64;
                if out.total > u32::MAX as u64 {
                    return Err(backend(
                        &out.path,
                        format!("pid {pid}"),
                        ConvertError::TooManyElements(self.ctx.plans[serial].name.clone()),
                    ));
                }
                out.data.write_all(&bytes).map_err(io_err(&out.path))?;
                out.entries.push((pid, n as u32));
            }
            let mut bytes = bytes;
            bytes.clear();
            self.acc[serial] = bytes;
        }
        self.pids.push(Pid(pid));
        if let Some(limit) = self.options.fail_after_pids {
            if self.pids.len() as u64 >= limit {
                return Err(backend(
                    &self.cfg.path,
                    format!("pid {pid}"),
                    ConvertError::Injected(limit),
                ));
            }
        }
        Ok(())
    }

    /// The original's `test_for_load_error`.
    fn test(&mut self, final_test: bool) -> Result<()> {
        let t = &self.options.thresholds;
        let safe = self.cfg.safe_mode != 0;
        if safe && self.missing_dict > t.allowed_unknown_category_cnt {
            return Err(backend(
                &self.cfg.path,
                "dictionary misses",
                ConvertError::DictionaryMisses {
                    count: self.missing_dict,
                    allowed: t.allowed_unknown_category_cnt,
                },
            ));
        }
        for (k, (name, _)) in self.forced.iter().enumerate() {
            let count = self.missing_forced[k];
            let over_ratio = self.pids_read > 0
                && (count as f64 / self.pids_read as f64)
                    > t.allowed_missing_pids_from_forced_ratio as f64;
            let over_count = t.allowed_missing_pids_from_forced_cnt > 0
                && count > t.allowed_missing_pids_from_forced_cnt;
            if safe && (over_ratio || over_count) {
                return Err(backend(
                    &self.cfg.path,
                    format!("FORCE_SIGNAL {name}"),
                    ConvertError::MissingForced {
                        signal: name.clone(),
                        count,
                        pids: self.pids_read,
                        ratio: t.allowed_missing_pids_from_forced_ratio,
                        max_count: t.allowed_missing_pids_from_forced_cnt,
                    },
                ));
            }
        }
        for (i, c) in self.cursors.iter().enumerate() {
            let s = &c.stats;
            // Lines of signals this load leaves out on purpose (LOAD_ONLY, SFILES) are not
            // input errors: the ratios are over the other lines. (The original counts them as
            // relevant and unparsed, so a LOAD_ONLY load of a file holding mostly other
            // signals is refused there.) Without such lines this is the original's formula.
            let relevant = s.relevant - s.skipped;
            let ratio = (s.parsed + 1) as f32 / (relevant + 1) as f32;
            let bad_ratio = (s.bad_format + 1) as f32 / (relevant + 1) as f32;
            let low = ratio < t.min_parsed_line_ratio;
            let high = bad_ratio > t.max_bad_line_ratio;
            if !(low || high) {
                continue;
            }
            let e = if high {
                ConvertError::BadRatio {
                    bad: s.bad_format,
                    relevant,
                    max: t.max_bad_line_ratio,
                }
            } else {
                ConvertError::ParsedRatio {
                    parsed: s.parsed,
                    relevant,
                    min: t.min_parsed_line_ratio,
                }
            };
            if relevant > t.ratio_min_lines {
                return Err(backend(&self.names[i], "load refused", e));
            }
            // The +1 smoothing flags every small file; warn only about real losses.
            let lost = if high {
                s.bad_format > 0
            } else {
                s.parsed < relevant
            };
            if final_test && lost {
                self.warnings.push(format!(
                    "{}: {e} (a small file: not fatal)",
                    self.names[i].display()
                ));
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
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

// ---------------------------------------------------------------------------------------
// Output staging.

/// Where output files are written before they are published.
struct Staging {
    dir: Option<AtomicDir>,
    /// LOAD_ONLY: the staging directory starts as hard links to (or copies of) every file of
    /// the existing OUTDIR, so a file about to be written is unlinked first (never truncated
    /// in place: its inode is the live repository's).
    linked: bool,
}

impl Staging {
    /// The path to write `rel` (relative to OUTDIR) to now.
    fn path(&mut self, rel: &str) -> Result<PathBuf> {
        let p = self.dir.as_ref().expect("not committed").path().join(rel);
        if self.linked {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path: p, source: e })
                }
                _ => {}
            }
        }
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|source| Error::Open {
                path: parent.into(),
                source,
            })?;
        }
        Ok(p)
    }

    /// Publishes the staged directory as OUTDIR in one step.
    fn commit(&mut self) -> Result<()> {
        self.dir.take().expect("not committed").commit()
    }
}

/// `name` if it is a plain relative path (no `..`, not absolute), else `dicts/<file name>`.
pub(super) fn output_rel(name: &str) -> String {
    let p = Path::new(name);
    let plain = !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if plain {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    } else {
        let file = p
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "dict".into());
        format!("dicts/{file}")
    }
}

// ---------------------------------------------------------------------------------------
// The entry point.

/// Converts the inputs named by the convert config at `config` into a repository in its
/// `OUTDIR` (or `options.outdir`), as the original loader's `create_rep` does. For `MODE 3` the
/// `.data`, `.idx` and `_all_pids.list` files are byte-identical to the original's for the same
/// input (with [`ConvertOptions::original`]; by default we also validate dates and refuse
/// unsorted files). The signals file and the dictionaries are copied, and the `.repository`
/// config is written when the convert config names `CONFIG`. `MODE 0`–`2` write the original
/// design's layouts (`FNAMES`/`SFILES` for 0 and 1; docs/convert.md), which 1.2.1 crashes on.
///
/// The output is atomic: the repository is built in a temporary sibling directory and swapped
/// into place in one step; a failed or interrupted load leaves `OUTDIR` exactly as it was. With
/// `LOAD_ONLY` the staging directory starts as links to the existing repository, which keeps
/// every other signal. Leftovers of a killed conversion beside `OUTDIR` are named in
/// [`ConvertReport::warnings`].
///
/// # Errors
/// [`Error::Open`] / [`Error::Parse`] for the config, signals file, dictionaries and inputs;
/// [`Error::Backend`] with a [`ConvertError`] for a refused load (thresholds, an unsorted file,
/// an unknown forced signal, an output directory that is not a repository); [`Error::Io`].
pub fn convert(config: &Path, options: &ConvertOptions) -> Result<ConvertReport> {
    let cfg = ConvertConfig::read(config)?;
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    let stale = stale_temporaries(&outdir);
    let mut report = match cfg.mode {
        3 => convert_cfg(config, &cfg, options, None),
        0..=2 => crate::convert::legacy::convert_legacy(config, &cfg, options),
        m => Err(backend(config, "MODE", ConvertError::Mode(m))),
    }?;
    for p in stale {
        report.warnings.push(format!(
            "{}: temporary output of an interrupted (or concurrent) conversion; \
             remove it when no conversion is running",
            p.display()
        ));
    }
    Ok(report)
}

/// Temporary entries beside `outdir` that a killed conversion leaves behind (a finished or
/// failed one removes its own): the staging directory `<OUTDIR>.tmp.<pid>.<n>`, the legacy
/// load's, `--sort`'s and the error file's temporaries.
fn stale_temporaries(outdir: &Path) -> Vec<PathBuf> {
    let Some(name) = outdir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let staging = format!("{name}.tmp.");
    let mut out: Vec<PathBuf> = fs::read_dir(sibling_dir(outdir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&staging)
                || [".inframed-legacy", ".inframed-sort", ".inframed-errors"]
                    .iter()
                    .any(|p| n.starts_with(p))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The signals file and dictionaries of `cfg`, read as the original reads them, as a catalog
/// (with the dictionaries' warnings).
pub(super) fn read_catalog(config: &Path, cfg: &ConvertConfig) -> Result<(Catalog, Vec<String>)> {
    if cfg.signals.len() != 1 {
        return Err(backend(
            config,
            "SIGNAL",
            ConvertError::SignalsFiles(cfg.signals.len()),
        ));
    }
    let unit = TimeUnit::from_code(cfg.time_unit as i64).map_err(|e| Error::Parse {
        path: config.into(),
        line: 0,
        what: "TIMEUNIT",
        source: ParseError::Time(e),
    })?;
    let signals_path = under(&cfg.dir, &cfg.signals[0]);
    let signals_text = read_text(&signals_path)?;
    let signals = SignalsFile::parse(&signals_path, &signals_text, unit)?;
    let mut dicts = Dictionaries::default();
    let mut warnings = Vec::new();
    for d in &cfg.dictionaries {
        let p = under(&cfg.dir, d);
        for w in dicts.load(&p, &read_text(&p)?)? {
            warnings.push(w.to_string());
        }
    }
    Ok((Catalog::new(signals, dicts, unit)?, warnings))
}

/// The output directory a (non-`LOAD_ONLY`) conversion may replace: absent, empty (or holding
/// only empty directories), or holding the repository `cfg` names.
pub(super) fn check_outdir(outdir: &Path, cfg: &ConvertConfig, force: bool) -> Result<()> {
    let files: Vec<String> = cfg.dictionaries.iter().map(|d| output_rel(d)).collect();
    let kind = crate::atomic::OutputKind::Repository {
        config: cfg.config_name.as_deref(),
        prefix: &cfg.prefix,
        files: &files,
    };
    crate::atomic::check_target(outdir, kind, force)?;
    if let Some(parent) = outdir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| Error::Open {
            path: parent.into(),
            source,
        })?;
    }
    Ok(())
}

/// Where a failed load leaves its error file when none was asked for: `<OUTDIR>.convert_errors`
/// beside the (untouched) output directory.
pub(super) fn failed_error_path(outdir: &Path) -> PathBuf {
    let name = outdir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repository".into());
    outdir.with_file_name(format!("{name}.convert_errors"))
}

/// The directory beside `outdir` for temporary files (the same file system, so renames work).
pub(super) fn sibling_dir(outdir: &Path) -> PathBuf {
    outdir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// [`convert`] for a MODE 3 config already read; `only` (the legacy path's SFILES) restricts
/// the signals loaded.
pub(super) fn convert_cfg(
    config: &Path,
    cfg: &ConvertConfig,
    options: &ConvertOptions,
    only: Option<&[String]>,
) -> Result<ConvertReport> {
    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = options.threads {
            b = b.num_threads(n.max(1));
        }
        b.build().map_err(|e| Error::InvalidInput {
            what: format!("cannot start worker threads: {e}"),
        })?
    };
    // Signals and dictionaries, read as the original reads them.
    let (catalog, warnings) = read_catalog(config, cfg)?;

    // Plans, codes, load set, forced and special signals.
    let serial_of = |name: &str| catalog.signals().iter().position(|s| s.name == name);
    let mut sections: Vec<&Section> = Vec::new();
    let mut plans = Vec::new();
    for s in catalog.signals() {
        let section = if s.categorical.iter().any(|&c| c) {
            catalog.section_of(&s.name).map(|sec| {
                sections.push(sec);
                sections.len() - 1
            })
        } else {
            None
        };
        plans.push(SignalPlan::new(
            &s.name,
            &s.layout,
            &s.categorical,
            s.time_unit,
            section,
        ));
    }
    let mut codes: HashMap<String, Option<usize>> = HashMap::new();
    for (i, s) in catalog.signals().iter().enumerate() {
        codes.insert(s.name.clone(), Some(i));
    }
    if let Some(p) = &cfg.codes {
        for (code, name) in crate::convert::config::read_codes(p)? {
            codes.insert(code, serial_of(&name));
        }
    }
    let mut forced = Vec::new();
    for name in &cfg.forced {
        let serial = serial_of(name).ok_or_else(|| {
            backend(
                config,
                "FORCE_SIGNAL",
                ConvertError::UnknownSignal {
                    list: "FORCE_SIGNAL",
                    name: name.clone(),
                },
            )
        })?;
        forced.push((name.clone(), serial));
    }
    let load_only = !cfg.load_only.is_empty();
    let mut load = vec![!load_only; plans.len()];
    if load_only {
        for name in cfg.load_only.iter().chain(cfg.forced.iter()) {
            let serial = serial_of(name).ok_or_else(|| {
                backend(
                    config,
                    "LOAD_ONLY",
                    ConvertError::UnknownSignal {
                        list: "LOAD_ONLY",
                        name: name.clone(),
                    },
                )
            })?;
            load[serial] = true;
        }
    }
    if let Some(only) = only {
        for (serial, s) in catalog.signals().iter().enumerate() {
            load[serial] &= only.contains(&s.name);
        }
    }
    let mut specials = Specials::default();
    let need = |input: &'static str, signal: &'static str| {
        serial_of(signal).map(Some).ok_or_else(|| {
            backend(
                config,
                input,
                ConvertError::MissingSpecialSignal { input, signal },
            )
        })
    };
    for i in &cfg.inputs {
        match i.kind {
            InputKind::Registry => {
                specials.stage = need("REGISTRY", "Cancer_Stage")?;
                specials.location = need("REGISTRY", "Cancer_Location")?;
            }
            InputKind::Demographics => {
                specials.byear = need("DEMOGRAPHICS", "BYEAR")?;
                specials.gender = need("DEMOGRAPHICS", "GENDER")?;
            }
            InputKind::Deaths => specials.death = need("DEATHS", "DEATH")?,
            InputKind::Data => {}
        }
    }
    let ctx = Ctx {
        plans,
        sections,
        codes,
        load,
        rules: TimeRules {
            safe_mode: cfg.safe_mode != 0,
            validate: options.validate_dates,
        },
        specials,
    };

    // Inputs (sorted first with --sort).
    let sort_dir;
    let mut input_paths: Vec<PathBuf> = cfg.inputs.iter().map(|i| i.path.clone()).collect();
    let mut bytes_total = 0;
    for p in &input_paths {
        bytes_total += fs::metadata(p)
            .map_err(|source| Error::Open {
                path: p.clone(),
                source,
            })?
            .len();
    }
    let outdir = options.outdir.clone().unwrap_or_else(|| cfg.outdir.clone());
    if options.unsorted == UnsortedPolicy::Sort {
        let d = tempfile::Builder::new()
            .prefix(".inframed-sort")
            .tempdir_in(
                outdir
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )
            .map_err(|source| Error::Open {
                path: outdir.clone(),
                source,
            })?;
        let mut sorted = Vec::new();
        for (k, p) in input_paths.iter().enumerate() {
            sorted.push(crate::convert::external::sort_file(
                p,
                &d.path().join(format!("{k}.sorted")),
                options.block_bytes.unwrap_or(64 << 20),
            )?);
        }
        input_paths = sorted;
        sort_dir = Some(d);
    } else {
        sort_dir = None;
    }

    // The output directory.
    let config_name = cfg.config_name.clone();
    let staging = if load_only {
        let has_repo = config_name
            .as_ref()
            .is_some_and(|c| outdir.join(c).is_file())
            || pids_path(&outdir.join(&cfg.prefix)).is_file();
        if !has_repo {
            return Err(backend(
                &outdir,
                "LOAD_ONLY",
                ConvertError::LoadOnlyWithoutRepository,
            ));
        }
        let dir = AtomicDir::create(&outdir)?;
        link_tree(&outdir, dir.path())?;
        Staging {
            dir: Some(dir),
            linked: true,
        }
    } else {
        check_outdir(&outdir, cfg, options.force)?;
        Staging {
            dir: Some(AtomicDir::create(&outdir)?),
            linked: false,
        }
    };
    let mut staging = staging;
    let stem = config_name
        .as_deref()
        .map(|c| c.strip_suffix(".repository").unwrap_or(c).to_string())
        .unwrap_or_else(|| "repository".into());
    let error_tmp_dir = sibling_dir(&outdir);
    let error_tmp = tempfile::Builder::new()
        .prefix(".inframed-errors")
        .tempfile_in(&error_tmp_dir)
        .map_err(|source| Error::Open {
            path: error_tmp_dir.clone(),
            source,
        })?;

    let numbered = options.unsorted == UnsortedPolicy::Sort;
    let result = {
        run_load(
            &ctx,
            &pool,
            numbered,
            cfg,
            options,
            &catalog,
            &input_paths,
            bytes_total,
            forced,
            &mut staging,
            &error_tmp,
        )
    };
    drop(sort_dir);
    let error_lines = result.as_ref().map_or(0, |r| r.error_lines);
    let had_errors = fs::metadata(error_tmp.path()).is_ok_and(|m| m.len() > 0);
    match result {
        Ok(mut report) => {
            // Texts: signals file and dictionaries (byte copies), the repository config.
            let mut rels: Vec<String> = Vec::new();
            for d in &cfg.dictionaries {
                let rel = output_rel(d);
                if !rels.contains(&rel) {
                    let bytes = fs::read(under(&cfg.dir, d)).map_err(|source| Error::Open {
                        path: under(&cfg.dir, d),
                        source,
                    })?;
                    let p = staging.path(&rel)?;
                    fs::write(&p, bytes).map_err(io_err(&p))?;
                }
                rels.push(rel);
            }
            if let Some(name) = &config_name {
                let text = repository_config_text(cfg, &rels, &outdir);
                let p = staging.path(name)?;
                fs::write(&p, text).map_err(io_err(&p))?;
                report.config = Some(outdir.join(name));
            }
            // The error file.
            report.error_lines = error_lines;
            if had_errors {
                let target = match &options.error_file {
                    Some(p) => p.clone(),
                    None => {
                        let rel = format!("{stem}.convert_errors");
                        let p = staging.path(&rel)?;
                        fs::copy(error_tmp.path(), &p).map_err(io_err(&p))?;
                        outdir.join(rel)
                    }
                };
                if options.error_file.is_some() {
                    crate::atomic::write_atomic(
                        &target,
                        &fs::read(error_tmp.path()).map_err(io_err(error_tmp.path()))?,
                    )?;
                }
                report.error_file = Some(target);
            }
            staging.commit()?;
            report.outdir = outdir;
            report.warnings.splice(0..0, warnings);
            Ok(report)
        }
        Err(e) => {
            drop(staging);
            if had_errors {
                let target = options
                    .error_file
                    .clone()
                    .unwrap_or_else(|| failed_error_path(&outdir));
                let bytes = fs::read(error_tmp.path()).map_err(io_err(error_tmp.path()))?;
                crate::atomic::write_atomic(&target, &bytes)?;
            }
            Err(e)
        }
    }
}

/// The `.repository` text MedConvert's `create_repository_config` writes for MODE 3.
fn repository_config_text(cfg: &ConvertConfig, dict_rels: &[String], outdir: &Path) -> String {
    let mut out = String::new();
    if !cfg.description.is_empty() {
        out.push_str(&format!("DESCRIPTION\t{}\n", cfg.description));
    }
    if cfg.relative {
        out.push_str("DIR\t.\n");
    } else {
        let abs = std::path::absolute(outdir).unwrap_or_else(|_| outdir.to_path_buf());
        out.push_str(&format!("DIR\t{}\n", abs.display()));
    }
    for rel in dict_rels {
        out.push_str(&format!("DICTIONARY\t{rel}\n"));
    }
    out.push_str(&format!("SIGNAL\t{}\n", output_rel(&cfg.signals[0])));
    out.push_str(&format!("MODE\t{}\n", cfg.mode));
    out.push_str(&format!("PREFIX\t{}\n", cfg.prefix));
    out.push_str(&format!("TIMEUNIT\t{}\n", cfg.time_unit));
    out
}

#[allow(clippy::too_many_arguments)]
fn run_load(
    ctx: &Ctx<'_>,
    pool: &rayon::ThreadPool,
    numbered: bool,
    cfg: &ConvertConfig,
    options: &ConvertOptions,
    catalog: &Catalog,
    inputs: &[PathBuf],
    bytes_total: u64,
    forced: Vec<(String, usize)>,
    staging: &mut Staging,
    error_tmp: &tempfile::NamedTempFile,
) -> Result<ConvertReport> {
    let n_inputs = inputs.len().max(1);
    let block_bytes = options
        .block_bytes
        .unwrap_or(((32usize << 20) / n_inputs).clamp(256 << 10, 4 << 20));
    // One .data file per loaded signal.
    let mut outs: Vec<Option<SignalOut>> = Vec::new();
    let mut idx_paths: Vec<Option<PathBuf>> = Vec::new();
    for (serial, info) in catalog.signals().iter().enumerate() {
        if !ctx.load[serial] {
            outs.push(None);
            idx_paths.push(None);
            continue;
        }
        let (data_rel, idx_rel) = signal_paths(Path::new(&cfg.prefix), &info.name);
        let data_path = staging.path(&data_rel.to_string_lossy())?;
        let idx_path = staging.path(&idx_rel.to_string_lossy())?;
        let f = File::create(&data_path).map_err(|source| Error::Open {
            path: data_path.clone(),
            source,
        })?;
        let mut data = BufWriter::with_capacity(256 << 10, f);
        data.write_all(&STRIPPED_FORMAT.to_le_bytes())
            .map_err(io_err(&data_path))?;
        outs.push(Some(SignalOut {
            data,
            path: data_path,
            entries: Vec::new(),
            total: 0,
        }));
        idx_paths.push(Some(idx_path));
    }
    let errors = BufWriter::new(error_tmp.reopen().map_err(io_err(error_tmp.path()))?);
    let names: Vec<PathBuf> = cfg.inputs.iter().map(|i| i.path.clone()).collect();

    let report = std::thread::scope(|scope| -> Result<ConvertReport> {
        let mut cursors = Vec::new();
        for (k, path) in inputs.iter().enumerate() {
            let (tx, rx) = sync_channel(1);
            let kind = cfg.inputs[k].kind;
            scope.spawn(move || produce(ctx, pool, kind, path, numbered, block_bytes, tx));
            cursors.push(Cursor {
                rx,
                block: None,
                piece: 0,
                pos: 0,
                done: false,
                fpid: None,
                stats: FileStats {
                    path: names[k].clone(),
                    ..FileStats::default()
                },
            });
        }
        let mut m = Merge {
            ctx,
            cfg,
            options,
            catalog,
            cursors,
            names: names.clone(),
            comparators: ctx
                .plans
                .iter()
                .map(|p| Comparator::new(&p.layout))
                .collect(),
            acc: vec![Vec::new(); ctx.plans.len()],
            touched: Vec::new(),
            order: Vec::new(),
            scratch: Vec::new(),
            outs,
            missing_forced: vec![0; forced.len()],
            forced,
            missing_dict: 0,
            pids: Vec::new(),
            pids_read: 0,
            errors,
            error_lines: 0,
            bytes_read: 0,
            bytes_total,
            lines: 0,
            warnings: Vec::new(),
        };
        let result = m.run();
        // Stop the producers whatever happened (dropping the receivers ends them).
        let cursors = std::mem::take(&mut m.cursors);
        let files: Vec<FileStats> = cursors.iter().map(|c| c.stats.clone()).collect();
        drop(cursors);
        m.errors.flush().map_err(io_err(error_tmp.path()))?;
        result?;
        // Close the .data files and write the .idx files and the pid list.
        let mut signals = Vec::new();
        for (serial, out) in m.outs.iter_mut().enumerate() {
            let Some(out) = out.take() else { continue };
            let info = &m.catalog.signals()[serial];
            let SignalOut {
                data,
                path,
                entries,
                total,
            } = out;
            let f = data.into_inner().map_err(|e| Error::Io {
                path: path.clone(),
                source: e.into_error(),
            })?;
            f.sync_all().map_err(io_err(&path))?;
            let idx_path = idx_paths[serial].as_ref().expect("loaded signal");
            let idx = write_index(info.sid.0 as i32, info.layout.size() as u32, &entries);
            fs::write(idx_path, idx).map_err(io_err(idx_path))?;
            signals.push((info.name.clone(), total));
        }
        if !load_only(cfg) {
            let rel = pids_path(Path::new(&cfg.prefix));
            let p = staging.path(&rel.to_string_lossy())?;
            fs::write(&p, write_pids(&m.pids)).map_err(io_err(&p))?;
        }
        Ok(ConvertReport {
            pids_read: m.pids_read.saturating_sub(1),
            pids_written: m.pids.len() as u64,
            files,
            signals,
            missing_forced: m
                .forced
                .iter()
                .zip(&m.missing_forced)
                .map(|((n, _), &c)| (n.clone(), c))
                .collect(),
            dictionary_misses: m.missing_dict,
            warnings: std::mem::take(&mut m.warnings),
            error_lines: m.error_lines,
            ..ConvertReport::default()
        })
    })?;
    Ok(report)
}

fn load_only(cfg: &ConvertConfig) -> bool {
    !cfg.load_only.is_empty()
}
