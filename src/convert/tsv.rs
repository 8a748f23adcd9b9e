//! Export rows: one input line → element bytes, with the original loader's number and time
//! parsing (C++ `stoi`/`stof` prefix semantics, `convert_datetime_safe`) and our date validation.

use std::fmt;

use chrono::NaiveDate;

pub(crate) use crate::convert::cnum::{c_stod, c_stof, c_stof_plain, c_stoi, c_stoll, c_stoull};
use crate::layout::{ChannelType, Layout, MAX_ELEMENT_SIZE};
use crate::text::dict::Section;
use crate::time::TimeUnit;

/// Why a line was dropped. The tag names are the original loader's where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// Fewer than 3 tab-separated fields (not counted as a bad line, as in the original).
    TooFewFields,
    /// The first field is not an integer pid (not counted as bad, as in the original).
    BadPid,
    /// The code (field 2) is neither a signal nor a `CODES` entry (not counted as bad).
    UnrecognizedSignal,
    /// A `CODES` entry names a signal that is not in the signals file (not counted as bad).
    NoSidForSignal,
    /// A categorical string is not in the signal's dictionary section (counted against
    /// `allowed_unknown_category_cnt`).
    MissingFromDictionary,
    /// A channel does not parse or does not fit (counted as a bad line).
    BadFileFormat,
    /// A pid lower than an earlier pid of the same file (dropped with `--drop-unsorted`).
    UnsortedPid,
}

impl Tag {
    /// The tag as written in the error file.
    pub fn as_str(self) -> &'static str {
        match self {
            Tag::TooFewFields => "TOO_FEW_FIELDS_IN_LINE",
            Tag::BadPid => "BAD_PID_FORMAT",
            Tag::UnrecognizedSignal => "UNRECOGNIZED_SIGNAL",
            Tag::NoSidForSignal => "NO_SID_FOR_SIGNAL",
            Tag::MissingFromDictionary => "MISSING_FROM_DICTIONARY",
            Tag::BadFileFormat => "BAD_FILE_FORMAT",
            Tag::UnsortedPid => "UNSORTED_PID",
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dropped line: its tag and the reason, without location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// The kind.
    pub tag: Tag,
    /// What exactly (the field, the signal).
    pub reason: String,
}

pub(crate) fn line_error(tag: Tag, reason: impl Into<String>) -> LineError {
    LineError {
        tag,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Times.

/// How time texts are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimeRules {
    /// `SAFE_MODE`: a year before 1900 is an error (else it becomes 19000101, as the original).
    pub safe_mode: bool,
    /// Validate calendar dates with chrono (`20230231` is an error). Off: the original's
    /// behaviour (digits taken as they are, month/day not checked).
    pub validate: bool,
}

/// Days from 1900-01-01 to `yyyymmdd`, as the original's tables give them for month 0..=12
/// (month 0 = the start of the year, "for lazy people"), with day 0 allowed.
fn days_since_1900(date: i32) -> Option<i64> {
    let (y, m, d) = (date / 10000, (date / 100) % 100, date % 100);
    if !(1900..=3000).contains(&y) || !(0..=12).contains(&m) {
        return None;
    }
    let start = NaiveDate::from_ymd_opt(y, m.max(1) as u32, 1)?;
    let epoch = NaiveDate::from_ymd_opt(1900, 1, 1)?;
    Some((start - epoch).num_days() + d as i64 - 1)
}

/// [`crate::time::is_valid_date`] for the 8-digit dates of `parse_time`'s fast path (years
/// 1900–9999), without chrono: the Gregorian month lengths.
#[cfg(test)]
fn valid_yyyymmdd(date: i32) -> bool {
    valid_ymd(date / 10000, (date / 100) % 100, date % 100)
}

/// Whether day `d` of month `m` of year `y` exists (Gregorian).
#[inline(always)]
fn valid_ymd(y: i32, m: i32, d: i32) -> bool {
    const DAYS: [i32; 13] = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let Some(&days) = usize::try_from(m).ok().and_then(|m| DAYS.get(m)) else {
        return false;
    };
    let leap = || (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    (1..=days).contains(&d) || (m == 2 && d == 29 && leap())
}

/// The fast path of [`parse_time`] in the date unit: a plain `YYYYMMDD` text of a year from
/// 1900 (and, with `rules.validate`, a real date); `None` for anything else.
///
/// The eight bytes as one word: all digits when every byte's high nibble is 3, also after
/// adding 6 (which lifts `:`–`?` to `@`–`E`); then each byte's digit value, and neighbours
/// paired (`10 × d[i] + d[i+1]` in bytes 0, 2, 4, 6: the year's halves, month and day) in one
/// multiply, with no carry between bytes (at most 99 in each).
#[inline(always)]
fn plain_date(text: &str, rules: TimeRules) -> Option<i32> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    let b: [u8; 8] = text.as_bytes().try_into().ok()?;
    let w = u64::from_le_bytes(b);
    if w & HIGH != ZEROS || w.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    let v = w - ZEROS;
    let pairs = (v * 10 + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pair = |k: u32| ((pairs >> (16 * k)) & 0xff) as i32;
    let (y, m, d) = (pair(0) * 100 + pair(1), pair(2), pair(3));
    (y >= 1900 && (!rules.validate || valid_ymd(y, m, d))).then_some(y * 10000 + m * 100 + d)
}

/// `MedTime::convert_datetime_safe(unit, text)`: spaces, `-` and `:` removed, at most 12
/// characters kept, the date is `stoi` of the first 8; Minutes add `HH` and `MI`. With
/// `rules.validate` the date must be a real calendar date (and `HH` < 24, `MI` < 60).
pub(crate) fn parse_time(unit: TimeUnit, text: &str, rules: TimeRules) -> Result<i64, String> {
    if unit == TimeUnit::Date {
        if let Some(date) = plain_date(text, rules) {
            return Ok(date as i64);
        }
    }
    let mut s: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'-' | b':'))
        .collect();
    s.truncate(12);
    let s = String::from_utf8(s).map_err(|_| format!("not a time: {text:?}"))?;
    let head = s.get(..s.len().min(8)).unwrap_or("");
    let mut date = c_stoi(head).ok_or_else(|| format!("not a time: {text:?}"))?;
    if date / 10000 < 1900 {
        if rules.safe_mode {
            return Err(format!("date before 1900: {text:?}"));
        }
        date = 19000101;
    }
    if rules.validate && !crate::time::is_valid_date(date as i64) {
        return Err(format!("not a valid date: {text:?}"));
    }
    let hh_mi = |from: usize| -> Result<i64, String> {
        match s.get(from..from + 2) {
            Some(t) => c_stoi(t)
                .map(i64::from)
                .ok_or_else(|| format!("bad time of day in {text:?}")),
            None => Ok(0),
        }
    };
    let days = || days_since_1900(date).ok_or_else(|| format!("date out of range: {text:?}"));
    Ok(match unit {
        TimeUnit::Date => date as i64,
        TimeUnit::Years => (date / 10000 - 1900) as i64,
        TimeUnit::Months => (((date / 10000) - 1900) * 12 + (date % 10000) / 100 - 1) as i64,
        TimeUnit::Days => days()?,
        TimeUnit::Hours => days()? * 24,
        TimeUnit::Minutes => {
            let (h, m) = (hh_mi(8)?, hh_mi(10)?);
            if rules.validate && (!(0..24).contains(&h) || !(0..60).contains(&m)) {
                return Err(format!("not a valid time of day: {text:?}"));
            }
            days()? * 1440 + h * 60 + m
        }
        TimeUnit::Undefined | TimeUnit::DateTimeString => {
            return Err(format!("time unit {} cannot be loaded", unit.code()))
        }
    })
}

// ---------------------------------------------------------------------------------------
// Channels.

/// How one channel's text becomes bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ChannelParse {
    /// A time channel of `c/s/i/l/us`: `convert_datetime_safe` in this unit.
    Time(TimeUnit),
    /// A categorical value channel: a name of this section (index into the plan's sections).
    Categorical(usize),
    /// A number as the channel type's C++ parser reads it.
    Number,
}

/// One channel of a signal's plan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelPlan {
    pub ty: ChannelType,
    pub offset: usize,
    pub parse: ChannelParse,
}

/// How to build one signal's elements from text.
#[derive(Clone, Debug)]
pub(crate) struct SignalPlan {
    pub name: String,
    pub size: usize,
    pub layout: Layout,
    pub time: Vec<ChannelPlan>,
    pub value: Vec<ChannelPlan>,
    /// `time` then `value`: the order of a line's fields.
    pub channels: Vec<ChannelPlan>,
}

/// An element buffer (the largest element allowed).
pub(crate) type ElementBuf = [u8; MAX_ELEMENT_SIZE];

impl SignalPlan {
    /// The plan of a signal: time channels of `c/s/i/l/us` as times in `unit`, others as
    /// numbers (the 1.2.1 loader); categorical value channels through `section`.
    pub(crate) fn new(
        name: &str,
        layout: &Layout,
        categorical: &[bool],
        unit: TimeUnit,
        section: Option<usize>,
    ) -> SignalPlan {
        let time: Vec<ChannelPlan> = layout
            .time_channels()
            .iter()
            .map(|c| ChannelPlan {
                ty: c.ty,
                offset: c.offset,
                parse: match c.ty {
                    ChannelType::I8
                    | ChannelType::I16
                    | ChannelType::I32
                    | ChannelType::I64
                    | ChannelType::U16 => ChannelParse::Time(unit),
                    _ => ChannelParse::Number,
                },
            })
            .collect();
        let value: Vec<ChannelPlan> = layout
            .value_channels()
            .iter()
            .enumerate()
            .map(|(i, c)| ChannelPlan {
                ty: c.ty,
                offset: c.offset,
                parse: match (categorical.get(i).copied().unwrap_or(false), section) {
                    (true, Some(s)) => ChannelParse::Categorical(s),
                    (true, None) => ChannelParse::Categorical(usize::MAX),
                    _ => ChannelParse::Number,
                },
            })
            .collect();
        SignalPlan {
            name: name.to_string(),
            size: layout.size(),
            layout: layout.clone(),
            channels: time.iter().chain(&value).copied().collect(),
            time,
            value,
        }
    }

    /// Number of text fields an element takes.
    pub(crate) fn n_fields(&self) -> usize {
        self.time.len() + self.value.len()
    }
}

fn put(ty: ChannelType, out: &mut [u8], v: Num) -> Result<(), String> {
    let range = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!("{v} does not fit channel type {}", ty.letter()))
        }
    };
    if let Num::Float(f) = v {
        if !f.is_finite() {
            return Err(format!("{f} does not fit channel type {}", ty.letter()));
        }
    }
    // The original assigns a float to an integer channel with a C cast (truncation); only
    // integer channels need it (a 128-bit conversion per value otherwise).
    let int = || match v {
        Num::Int(i) => i,
        Num::Float(f) => f.trunc() as i128,
    };
    match ty {
        ChannelType::F32 => {
            let f = match v {
                Num::Int(i) => i as f32,
                Num::Float(f) => f as f32,
            };
            out[..4].copy_from_slice(&f.to_le_bytes());
        }
        ChannelType::F64 => {
            let f = match v {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            out[..8].copy_from_slice(&f.to_le_bytes());
        }
        ChannelType::I8 => {
            let int = int();
            range(i8::try_from(int).is_ok())?;
            out[0] = int as i8 as u8;
        }
        ChannelType::U8 => {
            let int = int();
            range(u8::try_from(int).is_ok())?;
            out[0] = int as u8;
        }
        ChannelType::I16 => {
            let int = int();
            range(i16::try_from(int).is_ok())?;
            out[..2].copy_from_slice(&(int as i16).to_le_bytes());
        }
        ChannelType::U16 => {
            let int = int();
            range(u16::try_from(int).is_ok())?;
            out[..2].copy_from_slice(&(int as u16).to_le_bytes());
        }
        ChannelType::I32 => {
            let int = int();
            range(i32::try_from(int).is_ok())?;
            out[..4].copy_from_slice(&(int as i32).to_le_bytes());
        }
        ChannelType::U32 => {
            let int = int();
            range(u32::try_from(int).is_ok())?;
            out[..4].copy_from_slice(&(int as u32).to_le_bytes());
        }
        ChannelType::I64 => {
            let int = int();
            range(i64::try_from(int).is_ok())?;
            out[..8].copy_from_slice(&(int as i64).to_le_bytes());
        }
        ChannelType::U64 => {
            let int = int();
            range(u64::try_from(int).is_ok())?;
            out[..8].copy_from_slice(&(int as u64).to_le_bytes());
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Num {
    Int(i128),
    Float(f64),
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// A number as the channel type's C++ parser reads it: `stoi` for `c/s/i/uc/us`, `stoul` /
/// `stoull` for `ui/ul`, `stoll` for `l`, `stof` / `stod` for `f` / `d`.
fn number(ty: ChannelType, text: &str) -> Result<Num, String> {
    let bad = || {
        format!(
            "invalid {} argument [{text}]",
            match ty {
                ChannelType::F32 => "stof",
                ChannelType::F64 => "stod",
                ChannelType::I64 => "stoll",
                ChannelType::U32 | ChannelType::U64 => "stoull",
                _ => "stoi",
            }
        )
    };
    match ty {
        ChannelType::F32 => c_stof(text).map(|f| Num::Float(f as f64)).ok_or_else(bad),
        ChannelType::F64 => c_stod(text).map(Num::Float).ok_or_else(bad),
        ChannelType::I64 => c_stoll(text).map(|i| Num::Int(i as i128)).ok_or_else(bad),
        ChannelType::U32 | ChannelType::U64 => {
            c_stoull(text).map(|i| Num::Int(i as i128)).ok_or_else(bad)
        }
        _ => c_stoi(text).map(|i| Num::Int(i as i128)).ok_or_else(bad),
    }
}

/// The fast paths of [`parse_channel`] for the usual channels (a plain `YYYYMMDD` date into
/// `i`, a plain decimal into `f`, plain digits into `i`), inlined into the converter's line
/// loop: writes what the general path writes for the same text and returns `true`; `false`
/// for anything else (an error included), which then takes the general path.
#[inline(always)]
fn fast_channel(c: &ChannelPlan, text: &str, rules: TimeRules, out: &mut [u8]) -> bool {
    let bytes = match (c.parse, c.ty) {
        (ChannelParse::Time(TimeUnit::Date), ChannelType::I32) => {
            plain_date(text, rules).map(i32::to_le_bytes)
        }
        (ChannelParse::Number, ChannelType::F32) => c_stof_plain(text).map(f32::to_le_bytes),
        (ChannelParse::Number, ChannelType::I32) => c_stoi(text).map(i32::to_le_bytes),
        _ => None,
    };
    match (bytes, out.get_mut(c.offset..c.offset + 4)) {
        (Some(b), Some(slot)) => {
            slot.copy_from_slice(&b);
            true
        }
        _ => false,
    }
}

/// Parses one channel's text into `out` (the element's bytes).
#[inline(never)]
pub(crate) fn parse_channel(
    c: &ChannelPlan,
    text: &str,
    sections: &[&Section],
    rules: TimeRules,
    signal: &str,
    out: &mut [u8],
) -> Result<(), LineError> {
    if fast_channel(c, text, rules, out) {
        return Ok(());
    }
    let slot = &mut out[c.offset..];
    let bad = |reason: String| line_error(Tag::BadFileFormat, format!("{signal}: {reason}"));
    match c.parse {
        ChannelParse::Time(unit) => {
            let t = parse_time(unit, text, rules).map_err(bad)?;
            if c.ty == ChannelType::U16 && t < 0 {
                return Err(bad(format!("negative time {t} for an unsigned channel")));
            }
            put(c.ty, slot, Num::Int(t as i128)).map_err(bad)
        }
        ChannelParse::Categorical(s) => {
            let code = sections.get(s).and_then(|sec| sec.code(text));
            match code {
                Some(code) if code >= 0 => {
                    if matches!(
                        c.ty,
                        ChannelType::U32 | ChannelType::I64 | ChannelType::U64 | ChannelType::F64
                    ) {
                        return Err(bad(format!(
                            "categorical channel of type {} is not supported by the original loader",
                            c.ty.letter()
                        )));
                    }
                    put(c.ty, slot, Num::Int(code as i128)).map_err(bad)
                }
                _ => Err(line_error(
                    Tag::MissingFromDictionary,
                    format!("{signal}: {text:?} is not in its dictionary section"),
                )),
            }
        }
        ChannelParse::Number => {
            let v = number(c.ty, text).map_err(bad)?;
            if c.ty == ChannelType::U16 {
                if let Num::Int(i) = v {
                    if i < 0 {
                        return Err(bad(format!("negative value {i} for an unsigned channel")));
                    }
                }
            }
            put(c.ty, slot, v).map_err(bad)
        }
    }
}

/// Builds one element from the channel texts (`fields` = times then values) into `out`
/// (zeroed, the element's size).
pub(crate) fn encode_into(
    plan: &SignalPlan,
    fields: &[&str],
    sections: &[&Section],
    rules: TimeRules,
    out: &mut [u8],
) -> Result<(), LineError> {
    for (c, text) in plan.channels.iter().zip(fields) {
        if !fast_channel(c, text, rules, out) {
            parse_channel(c, text, sections, rules, &plan.name, out)?;
        }
    }
    Ok(())
}

/// Appends one element's bytes to `v`: the common element sizes as fixed-size copies (a
/// variable-length one is a `memcpy` call per element).
#[inline(always)]
pub(crate) fn push_element(v: &mut Vec<u8>, e: &[u8]) {
    #[inline(always)]
    fn fixed<const N: usize>(v: &mut Vec<u8>, e: &[u8]) {
        match <&[u8; N]>::try_from(e) {
            Ok(a) => v.extend_from_slice(a),
            Err(_) => v.extend_from_slice(e),
        }
    }
    match e.len() {
        4 => fixed::<4>(v, e),
        8 => fixed::<8>(v, e),
        12 => fixed::<12>(v, e),
        16 => fixed::<16>(v, e),
        _ => v.extend_from_slice(e),
    }
}

/// The fields of a line, without allocating for up to 8 of them.
pub(crate) struct Fields<'a> {
    fixed: [&'a str; 8],
    /// Number of fields; beyond 8 they are all in `more`.
    n: usize,
    more: Vec<&'a str>,
}

impl<'a> Fields<'a> {
    #[inline(always)]
    fn push(&mut self, part: &'a str) {
        if self.n < self.fixed.len() {
            self.fixed[self.n] = part;
        } else {
            self.spill(part);
        }
        self.n += 1;
    }

    #[cold]
    fn spill(&mut self, part: &'a str) {
        if self.more.is_empty() {
            self.more.extend_from_slice(&self.fixed);
        }
        self.more.push(part);
    }
}

impl<'a> std::ops::Deref for Fields<'a> {
    type Target = [&'a str];
    #[inline]
    fn deref(&self) -> &[&'a str] {
        if self.n <= self.fixed.len() {
            &self.fixed[..self.n]
        } else {
            &self.more
        }
    }
}

/// Splits an input line the original's way: on TAB; a line without any TAB on spaces.
///
/// Inline word-at-a-time search ([`cut_fields`]): the lines are short (a few dozen bytes, 4–6
/// fields), where the calls of a vectorised search per field (`memchr`, and `str::split`
/// before it) cost more than they save. Cutting a `str` at an ASCII byte always leaves whole
/// characters on both sides.
pub(crate) fn split_fields<'a>(line: &'a str) -> Fields<'a> {
    let mut f = Fields::new(line);
    f.split(line);
    f
}

impl<'a> Fields<'a> {
    /// No fields yet (an empty slice of `line` in every slot: not a constant `""`, whose 8
    /// copies are a `memcpy` call from a constant array).
    #[inline(always)]
    pub(crate) fn new(line: &'a str) -> Fields<'a> {
        let empty = &line[..0];
        Fields {
            fixed: [empty; 8],
            n: 0,
            more: Vec::new(),
        }
    }

    /// [`split_fields`] into these (new) fields: the hot path splits in the caller's frame,
    /// where returning the 160-byte `Fields` was a `memmove` call per line.
    #[inline(always)]
    pub(crate) fn split(&mut self, line: &'a str) {
        cut_fields(line, b'\t', self);
        if self.n == 1 {
            // No TAB: on spaces.
            self.n = 0;
            cut_fields(line, b' ', self);
        }
    }
}

/// Cuts `line` at every `sep` into `f`. Eight bytes at a time: the separators of a word
/// are the zero bytes of `word ^ sep…`, found exactly (no carry crosses a byte) as the
/// bytes whose high bit stays clear in `((x & 0x7f…) + 0x7f…) | x`.
#[inline(always)]
fn cut_fields<'a>(line: &'a str, sep: u8, f: &mut Fields<'a>) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = u64::from_le_bytes([sep; 8]);
    let mut start = 0;
    let mut base = 0;
    let mut chunks = line.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        let mut seps = !(((x & LOW7) + LOW7) | x) & HIGH;
        while seps != 0 {
            let i = base + (seps.trailing_zeros() / 8) as usize;
            f.push(&line[start..i]);
            start = i + 1;
            seps &= seps - 1;
        }
        base += 8;
    }
    for (k, &b) in chunks.remainder().iter().enumerate() {
        if b == sep {
            f.push(&line[start..base + k]);
            start = base + k + 1;
        }
    }
    f.push(&line[start..]);
}

/// `boost::trim` (C-locale white space) of a line.
pub(crate) fn trim_line(line: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = line.iter().position(|b| !is_space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |e| e + 1);
    &line[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_like_convert_datetime_safe() {
        let strict = TimeRules {
            safe_mode: true,
            validate: true,
        };
        let orig = TimeRules {
            safe_mode: true,
            validate: false,
        };
        let lax = TimeRules {
            safe_mode: false,
            validate: false,
        };
        assert_eq!(
            parse_time(TimeUnit::Date, "2011-02-03", strict),
            Ok(20110203)
        );
        assert_eq!(parse_time(TimeUnit::Date, "2010-13-45", orig), Ok(20101345));
        assert!(parse_time(TimeUnit::Date, "2010-13-45", strict).is_err());
        assert!(parse_time(TimeUnit::Date, "20230231", strict).is_err());
        assert_eq!(parse_time(TimeUnit::Date, "20240229", strict), Ok(20240229));
        assert!(parse_time(TimeUnit::Date, "18991231", orig).is_err());
        assert_eq!(parse_time(TimeUnit::Date, "18991231", lax), Ok(19000101));
        assert_eq!(parse_time(TimeUnit::Days, "19000102", strict), Ok(1));
        assert_eq!(parse_time(TimeUnit::Days, "20000101", strict), Ok(36524));
        assert_eq!(
            parse_time(TimeUnit::Hours, "1900-01-02 05:00", strict),
            Ok(24)
        );
        assert_eq!(
            parse_time(TimeUnit::Minutes, "1900-01-02 01:30", strict),
            Ok(1440 + 90)
        );
        assert!(parse_time(TimeUnit::Minutes, "1900-01-02 25:30", strict).is_err());
        assert_eq!(parse_time(TimeUnit::Years, "20070327", strict), Ok(107));
        assert_eq!(parse_time(TimeUnit::Months, "19000301", strict), Ok(2));
        assert!(parse_time(TimeUnit::Date, "abc", lax).is_err());
        assert!(parse_time(TimeUnit::Date, "2010", strict).is_err());
        assert!(parse_time(TimeUnit::Undefined, "20100101", strict).is_err());
    }

    #[test]
    fn fast_date_check_exhaustive() {
        for y in 1900..=2400 {
            for m in 0..=13 {
                for d in 0..=32 {
                    let date = y * 10000 + m * 100 + d;
                    assert_eq!(
                        valid_yyyymmdd(date),
                        crate::time::is_valid_date(date as i64),
                        "{date}"
                    );
                }
            }
        }
    }

    #[test]
    fn lines() {
        assert_eq!(&*split_fields("1\tA\t2 3"), ["1", "A", "2 3"]);
        assert_eq!(&*split_fields("1 A 2"), ["1", "A", "2"]);
        let long: String = (0..30)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join("\t");
        let f = split_fields(&long);
        assert_eq!(f.len(), 30);
        assert_eq!((f[0], f[23], f[24], f[29]), ("0", "23", "24", "29"));
        assert_eq!(trim_line(b" \t1\tA\r"), b"1\tA");
        assert_eq!(trim_line(b"  "), b"");
    }

    proptest::proptest! {
        /// The fast date check agrees with chrono's.
        #[test]
        fn fast_date_check_is_chrono(date in 19000000i32..=99999999) {
            proptest::prop_assert_eq!(
                valid_yyyymmdd(date),
                crate::time::is_valid_date(date as i64)
            );
        }

        /// The word-at-a-time date parse is the plain one: eight ASCII digits, read as a
        /// number, of a year from 1900, and (validating) a calendar date.
        #[test]
        fn plain_date_is_digits(text in "[0-9]{8}|[0-9]{4}[01][0-9][0-3][0-9]|[0-9:/ ]{6,10}|19[0-9a-f]{6}") {
            for validate in [false, true] {
                let rules = TimeRules { safe_mode: true, validate };
                let b = text.as_bytes();
                let want = (b.len() == 8 && b.iter().all(u8::is_ascii_digit))
                    .then(|| text.parse::<i32>().unwrap_or(0))
                    .filter(|&d| d / 10000 >= 1900 && (!validate || valid_yyyymmdd(d)));
                proptest::prop_assert_eq!(plain_date(&text, rules), want, "{}", text);
            }
        }

        /// The byte search splits exactly as `str::split` on the same separator does, for any
        /// text (multi-byte characters, empty fields, more than 24 fields).
        #[test]
        fn split_fields_is_str_split(line in "[a-zé€\t 0-9]{0,80}") {
            let sep = if line.contains('\t') { '\t' } else { ' ' };
            let want: Vec<&str> = line.split(sep).collect();
            proptest::prop_assert_eq!(&*split_fields(&line), &want[..]);
        }
    }
}
