//! Classifying and parsing input lines: the parsing context (plans, codes, the load set,
//! special inputs) and the parse of a run of whole lines into elements.

use std::borrow::Cow;

use hashbrown::HashMap;

use crate::catalog::Catalog;
use crate::convert::config::InputKind;
use crate::convert::runs::{group_runs, Group, Run, Scratch};
use crate::convert::sort::Comparator;
use crate::convert::tsv::{
    c_stoi, encode_into, line_error, parse_channel, parse_time, push_element, ElementBuf, Fields,
    LineError, SignalPlan, Tag, TimeRules,
};
use crate::text::dict::Section;
use crate::time::TimeUnit;

/// The signals the special exports feed (serials into the catalog).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Specials {
    pub(super) byear: Option<usize>,
    pub(super) gender: Option<usize>,
    pub(super) death: Option<usize>,
    pub(super) stage: Option<usize>,
    pub(super) location: Option<usize>,
}

pub(super) struct Ctx<'a> {
    pub(super) plans: Vec<SignalPlan>,
    pub(super) sections: Vec<&'a Section>,
    /// code → signal serial (`None`: a CODES entry naming an unknown signal).
    pub(super) codes: CodeTable,
    pub(super) load: Vec<bool>,
    pub(super) rules: TimeRules,
    pub(super) specials: Specials,
    /// The original's element order of every signal (catalog order).
    pub(super) comparators: Vec<Comparator>,
}

/// Code (field 2 of a DATA line) → signal serial, looked up once per line: a direct-mapped
/// table on the code's length and end bytes in front of the map (a map probe and its hash
/// were ~8 % of the converter's CPU on the 100k export). Codes sharing a slot go to the map.
pub(super) struct CodeTable {
    map: HashMap<String, Option<usize>>,
    slots: Vec<Slot>,
}

#[derive(Clone)]
enum Slot {
    Empty,
    One(Box<str>, Option<usize>),
    Shared,
}

impl CodeTable {
    const SLOTS: usize = 1024;

    fn slot_of(code: &str) -> usize {
        let b = code.as_bytes();
        let (first, last) = (
            b.first().copied().unwrap_or(0) as usize,
            b.last().copied().unwrap_or(0) as usize,
        );
        let mid = b.get(b.len() / 2).copied().unwrap_or(0) as usize;
        (b.len() * 97 + first * 31 + mid * 7 + last * 131) % Self::SLOTS
    }

    /// The table of `map` (code → serial; `None`: a code naming an unknown signal).
    pub(super) fn new(map: HashMap<String, Option<usize>>) -> CodeTable {
        let mut slots = vec![Slot::Empty; Self::SLOTS];
        for (code, &serial) in &map {
            let slot = &mut slots[Self::slot_of(code)];
            *slot = match slot {
                Slot::Empty => Slot::One(code.as_str().into(), serial),
                _ => Slot::Shared,
            };
        }
        CodeTable { map, slots }
    }

    /// The entry of `code`: `None` when it is not a code.
    #[inline]
    pub(super) fn get(&self, code: &str) -> Option<&Option<usize>> {
        match &self.slots[Self::slot_of(code)] {
            Slot::Empty => None,
            Slot::One(k, serial) => short_eq(k.as_bytes(), code.as_bytes()).then_some(serial),
            Slot::Shared => self.map.get(code),
        }
    }
}

/// A zeroed element of the largest size.
const ZEROS: ElementBuf = [0; crate::layout::MAX_ELEMENT_SIZE];

/// `a == b` for short byte strings (the codes) without a `memcmp` call: two overlapping
/// 8- or 4-byte loads from each end, or the bytes one by one (up to 3).
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word8 = |s: &[u8], at: usize| s.get(at..at + 8).and_then(|w| <[u8; 8]>::try_from(w).ok());
    let word4 = |s: &[u8], at: usize| s.get(at..at + 4).and_then(|w| <[u8; 4]>::try_from(w).ok());
    match n {
        0 => true,
        // The first, middle and last bytes are all of them (a `memcmp` call otherwise).
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=8 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        9..=16 => word8(a, 0) == word8(b, 0) && word8(a, n - 8) == word8(b, n - 8),
        _ => a == b,
    }
}

/// What one line gave.
pub(super) enum Outcome {
    /// Elements `recs[start..start + n]` of the piece.
    Recs { start: u32, n: u32 },
    /// A signal outside LOAD_ONLY.
    Skip,
    /// Dropped: the error is `errors[i]` of the piece (an index, not a box: the lines then
    /// have nothing to drop, and clearing a recycled piece's lines is free).
    Err(u32),
}

pub(super) struct LineOut {
    /// 1-based line number in the input file.
    pub(super) line: u64,
    /// The pid, or -1 when the line has none (too few fields, bad pid).
    pub(super) pid: i64,
    pub(super) outcome: Outcome,
}

/// The parsed lines of a run of whole text lines.
#[derive(Default)]
pub(super) struct Piece {
    pub(super) lines: Vec<LineOut>,
    /// The errors of the dropped lines ([`Outcome::Err`]).
    pub(super) errors: Vec<LineError>,
    /// `(serial, offset into bytes)`.
    pub(super) recs: Vec<(u32, u32)>,
    pub(super) bytes: Vec<u8>,
    /// The lines cut into runs of one pid ([`group_runs`]).
    pub(super) runs: Vec<Run>,
    /// The runs' groups.
    pub(super) groups: Vec<Group>,
    /// The groups' elements in line order.
    pub(super) raw: Vec<u8>,
    /// The groups' elements sorted and de-duplicated.
    pub(super) sorted: Vec<u8>,
}

impl Piece {
    /// Keeps `e` as the error of a dropped line.
    #[cold]
    fn error(&mut self, e: LineError) -> Outcome {
        self.errors.push(e);
        Outcome::Err(self.errors.len() as u32 - 1)
    }
}

pub(super) struct Block {
    pub(super) pieces: Vec<Piece>,
    pub(super) bytes: u64,
}

/// Pieces the merge is done with, handed back to the parsers: their vectors keep their
/// capacity, so a load reuses a bounded set of buffers instead of asking the allocator (and
/// the kernel: fresh zeroed pages) for new ones per piece, ~2× the input size in all.
#[derive(Default)]
pub(super) struct Recycle(std::sync::Mutex<Vec<Piece>>);

impl Recycle {
    /// At most this many idle pieces are kept (the rest are freed).
    const KEEP: usize = 128;

    /// An empty piece, a used one when there is one.
    pub(super) fn get(&self) -> Piece {
        let piece = self.0.lock().ok().and_then(|mut v| v.pop());
        piece.unwrap_or_default()
    }

    /// Takes back the pieces of a block the merge has consumed.
    pub(super) fn put(&self, pieces: Vec<Piece>) {
        if let Ok(mut idle) = self.0.lock() {
            for mut p in pieces {
                if idle.len() >= Self::KEEP {
                    break;
                }
                p.lines.clear();
                p.errors.clear();
                p.recs.clear();
                p.bytes.clear();
                p.runs.clear();
                p.groups.clear();
                p.raw.clear();
                p.sorted.clear();
                idle.push(p);
            }
        }
    }
}

/// The parse plan of every signal of `catalog` (in catalog order) and the dictionary sections
/// its categorical channels read (each plan names its section by index).
///
/// # Errors
/// An invalid dictionary ([`Catalog::dictionaries`]).
pub(super) fn plans_of(
    catalog: &Catalog,
) -> crate::error::Result<(Vec<SignalPlan>, Vec<&Section>)> {
    let mut sections: Vec<&Section> = Vec::new();
    let mut plans = Vec::new();
    for s in catalog.signals() {
        let section = if s.categorical.iter().any(|&c| c) {
            catalog.section_of(&s.name)?.map(|sec| {
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
    Ok((plans, sections))
}

impl<'a> Ctx<'a> {
    /// The context the converter builds for `catalog` with every signal loaded, codes = signal
    /// names, no CODES file, and the special inputs' signals wherever the catalog has them (for
    /// the fuzz targets, `src/fuzzing.rs`).
    #[cfg(feature = "fuzzing")]
    pub(crate) fn for_catalog(catalog: &'a Catalog, safe_mode: bool) -> Ctx<'a> {
        let serial_of = |name: &str| catalog.signals().iter().position(|s| s.name == name);
        // The fuzz catalog's dictionaries are built in memory: nothing to parse, cannot fail.
        let (plans, sections) = plans_of(catalog).expect("in-memory dictionaries");
        let codes = CodeTable::new(
            catalog
                .signals()
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), Some(i)))
                .collect(),
        );
        Ctx {
            comparators: plans.iter().map(|p| Comparator::new(&p.layout)).collect(),
            load: vec![true; plans.len()],
            plans,
            sections,
            codes,
            rules: TimeRules {
                safe_mode,
                validate: true,
            },
            specials: Specials {
                byear: serial_of("BYEAR"),
                gender: serial_of("GENDER"),
                death: serial_of("DEATH"),
                stage: serial_of("Cancer_Stage"),
                location: serial_of("Cancer_Location"),
            },
        }
    }
}

impl Ctx<'_> {
    fn push(&self, piece: &mut Piece, serial: usize, elem: &ElementBuf) {
        let size = self.plans[serial].size;
        piece.recs.push((serial as u32, piece.bytes.len() as u32));
        push_element(&mut piece.bytes, &elem[..size]);
    }

    fn pid(field: &str) -> Option<u32> {
        c_stoi(field).and_then(|p| u32::try_from(p).ok())
    }

    /// Parses one trimmed line of `kind` into `piece`; returns `(pid, outcome)`.
    fn line(&self, kind: InputKind, text: &str, piece: &mut Piece) -> (i64, Outcome) {
        let start = piece.recs.len() as u32;
        let mut fields = Fields::new(text);
        fields.split(text);
        let min_fields = if kind == InputKind::Registry { 4 } else { 3 };
        if fields.len() < min_fields {
            let e = line_error(
                Tag::TooFewFields,
                format!("{} fields, at least {min_fields} needed", fields.len()),
            );
            return (-1, piece.error(e));
        }
        let Some(pid) = Self::pid(fields[0]) else {
            let e = line_error(Tag::BadPid, format!("pid {:?} is not a pid", fields[0]));
            return (-1, piece.error(e));
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
                piece.error(e)
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
        // Straight into the piece (no element buffer to copy); nothing kept on error.
        let at = piece.bytes.len();
        push_element(&mut piece.bytes, &ZEROS[..plan.size]);
        let fields = &f[2..2 + need];
        let out = &mut piece.bytes[at..];
        if let Err(e) = encode_into(plan, fields, &self.sections, self.rules, out) {
            piece.bytes.truncate(at);
            return Err(e);
        }
        piece.recs.push((serial as u32, at as u32));
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
/// `piece` is an empty piece to fill (a recycled one, [`Recycle`]); its lines are then cut
/// into runs ([`group_runs`]).
pub(super) fn parse_piece(
    ctx: &Ctx<'_>,
    kind: InputKind,
    mut piece: Piece,
    text: &[u8],
    base_line: u64,
    numbered: bool,
) -> Piece {
    piece.lines.reserve(text.len() / 24);
    piece.recs.reserve(text.len() / 24);
    piece.bytes.reserve(text.len() / 3);
    if text.is_empty() {
        return piece;
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    // The usual input is valid UTF-8 as a whole: checked once here, each line is then a
    // slice of it (its ends are next to ASCII bytes: the newline, trimmed white space).
    let whole = std::str::from_utf8(body).ok();
    let mut start = 0;
    for i in 0u64.. {
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |p| start + p);
        let mut line_no = base_line + i;
        let (mut lo, mut hi) = (start, end);
        start = end + 1;
        if numbered {
            let raw = &body[lo..hi];
            let sep = raw
                .iter()
                .position(|&b| b == crate::convert::external::NUMBER_SEP)
                .unwrap_or(0);
            line_no = std::str::from_utf8(&raw[..sep])
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(line_no);
            lo = (lo + sep + 1).min(hi);
        }
        let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
        while lo < hi && is_space(body[lo]) {
            lo += 1;
        }
        while hi > lo && is_space(body[hi - 1]) {
            hi -= 1;
        }
        let line = &body[lo..hi];
        if !(line.is_empty() || line[0] == b'#') {
            let text: Cow<'_, str> = match whole.and_then(|w| w.get(lo..hi)) {
                Some(s) => Cow::Borrowed(s),
                None => match std::str::from_utf8(line) {
                    Ok(s) => Cow::Borrowed(s),
                    // 8-bit text (Latin-1 dictionaries are read the same way).
                    Err(_) => Cow::Owned(line.iter().map(|&b| b as char).collect()),
                },
            };
            let (pid, outcome) = ctx.line(kind, &text, &mut piece);
            piece.lines.push(LineOut {
                line: line_no,
                pid,
                outcome,
            });
        }
        if end == body.len() {
            break;
        }
    }
    group_runs(ctx, &mut piece, &mut Scratch::default());
    piece
}

/// Parses `text` as a whole input file of `kind` against `catalog` (the fuzz targets'
/// entry, `tsv_lines` in `src/fuzzing.rs`); returns (lines, elements, dropped lines), after
/// checking that every kept line's elements lie inside the piece.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_piece(
    catalog: &Catalog,
    kind: InputKind,
    text: &[u8],
    numbered: bool,
    safe_mode: bool,
) -> (usize, usize, usize) {
    let ctx = Ctx::for_catalog(catalog, safe_mode);
    let piece = parse_piece(&ctx, kind, Piece::default(), text, 1, numbered);
    let mut dropped = 0;
    for l in &piece.lines {
        match &l.outcome {
            Outcome::Recs { start, n } => {
                let recs = &piece.recs[*start as usize..(*start + *n) as usize];
                for &(serial, off) in recs {
                    let size = ctx.plans[serial as usize].size;
                    assert!(off as usize + size <= piece.bytes.len());
                }
            }
            Outcome::Skip => {}
            Outcome::Err(_) => dropped += 1,
        }
    }
    (piece.lines.len(), piece.recs.len(), dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_eq_is_eq() {
        let words: Vec<String> = (0..40)
            .flat_map(|n| {
                [
                    "a".repeat(n),
                    format!("{}b", "a".repeat(n)),
                    format!("b{}", "a".repeat(n)),
                ]
            })
            .collect();
        for x in &words {
            for y in &words {
                assert_eq!(short_eq(x.as_bytes(), y.as_bytes()), x == y, "{x} {y}");
            }
        }
    }

    #[test]
    fn code_table_is_the_map() {
        // Enough codes (3,000 in 1,024 slots) that many share a slot.
        let mut map = HashMap::new();
        for i in 0..3000usize {
            map.insert(format!("C{i}"), (i % 7 != 0).then_some(i));
        }
        map.insert(String::new(), Some(1));
        let table = CodeTable::new(map.clone());
        for i in 0..6000usize {
            for probe in [format!("C{i}"), format!("X{i}"), format!("{i}C")] {
                assert_eq!(table.get(&probe), map.get(probe.as_str()), "{probe}");
            }
        }
        assert_eq!(table.get(""), Some(&Some(1)));
        assert_eq!(table.get("é"), None);
    }
}
