//! Element layouts: the generic spec `T(<types>),V(<types>)` and the legacy type numbers 0–15.

use std::cmp::Ordering;
use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::tag;
use nom::character::complete::{char, multispace0};
use nom::combinator::{all_consuming, map, opt, value};
use nom::multi::separated_list1;
use nom::sequence::{delimited, preceded};
use nom::{IResult, Parser};

/// Why a spec or type field is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The text is not `T(..),V(..)` of known letters.
    #[error("bad generic spec {0:?}")]
    Syntax(String),
    /// `D` (long double) is not supported: the original's own parser mishandles it.
    #[error("long double channels ('D') are not supported")]
    LongDouble,
    /// No channels at all, or only padding.
    #[error("spec {0:?} has no channels")]
    Empty(String),
    /// Larger than the 56 bytes the original tools allow.
    #[error("element of {0} bytes exceeds the 56-byte limit")]
    TooLarge(usize),
    /// A legacy type number outside 0–16.
    #[error("unknown signal type number {0}")]
    UnknownTypeNumber(i64),
}

/// The largest element the original tools allow (`MAX_COLLECTED_DATA_SIZE`).
pub const MAX_ELEMENT_SIZE: usize = 56;

/// The storage type of one channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ChannelType {
    /// `c`: i8
    I8,
    /// `s`: i16
    I16,
    /// `i`: i32
    I32,
    /// `l`: i64
    I64,
    /// `uc`: u8
    U8,
    /// `us`: u16
    U16,
    /// `ui`: u32
    U32,
    /// `ul`: u64
    U64,
    /// `f`: f32
    F32,
    /// `d`: f64
    F64,
}

impl ChannelType {
    /// The numpy type string of this channel type (`<i4`, `<f8`, `|u1`, ...), little-endian.
    pub fn numpy_type(self) -> &'static str {
        match self {
            ChannelType::I8 => "|i1",
            ChannelType::I16 => "<i2",
            ChannelType::I32 => "<i4",
            ChannelType::I64 => "<i8",
            ChannelType::U8 => "|u1",
            ChannelType::U16 => "<u2",
            ChannelType::U32 => "<u4",
            ChannelType::U64 => "<u8",
            ChannelType::F32 => "<f4",
            ChannelType::F64 => "<f8",
        }
    }

    /// Size in bytes.
    #[inline]
    pub const fn size(self) -> usize {
        match self {
            ChannelType::I8 | ChannelType::U8 => 1,
            ChannelType::I16 | ChannelType::U16 => 2,
            ChannelType::I32 | ChannelType::U32 | ChannelType::F32 => 4,
            ChannelType::I64 | ChannelType::U64 | ChannelType::F64 => 8,
        }
    }

    /// The letter(s) of the generic spec.
    pub const fn letter(self) -> &'static str {
        match self {
            ChannelType::I8 => "c",
            ChannelType::I16 => "s",
            ChannelType::I32 => "i",
            ChannelType::I64 => "l",
            ChannelType::U8 => "uc",
            ChannelType::U16 => "us",
            ChannelType::U32 => "ui",
            ChannelType::U64 => "ul",
            ChannelType::F32 => "f",
            ChannelType::F64 => "d",
        }
    }

    /// True for `f` and `d`.
    pub const fn is_float(self) -> bool {
        matches!(self, ChannelType::F32 | ChannelType::F64)
    }

    /// Reads one value from the start of `bytes` (unaligned, little-endian).
    ///
    /// # Panics
    /// If `bytes` is shorter than [`ChannelType::size`]; callers slice whole elements first.
    #[inline(always)]
    pub fn read(self, bytes: &[u8]) -> Value {
        #[inline(always)]
        fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
            let (head, _) = b.split_first_chunk::<N>().expect("channel inside element");
            *head
        }
        match self {
            ChannelType::I8 => Value::Int(i8::from_le_bytes(arr(bytes)) as i64),
            ChannelType::I16 => Value::Int(i16::from_le_bytes(arr(bytes)) as i64),
            ChannelType::I32 => Value::Int(i32::from_le_bytes(arr(bytes)) as i64),
            ChannelType::I64 => Value::Int(i64::from_le_bytes(arr(bytes))),
            ChannelType::U8 => Value::Int(u8::from_le_bytes(arr(bytes)) as i64),
            ChannelType::U16 => Value::Int(u16::from_le_bytes(arr(bytes)) as i64),
            ChannelType::U32 => Value::Int(u32::from_le_bytes(arr(bytes)) as i64),
            ChannelType::U64 => Value::UInt(u64::from_le_bytes(arr(bytes))),
            ChannelType::F32 => Value::F32(f32::from_le_bytes(arr(bytes))),
            ChannelType::F64 => Value::F64(f64::from_le_bytes(arr(bytes))),
        }
    }

    /// Writes `v` into the start of `out` (little-endian), converting as C would for
    /// in-range values. Out-of-range integers are an error.
    pub fn write(self, v: Value, out: &mut [u8]) -> Result<(), ValueError> {
        macro_rules! put_int {
            ($t:ty) => {{
                let x: $t = match v {
                    Value::Int(i) => <$t>::try_from(i).map_err(|_| ValueError::OutOfRange)?,
                    Value::UInt(u) => <$t>::try_from(u).map_err(|_| ValueError::OutOfRange)?,
                    Value::F32(_) | Value::F64(_) => return Err(ValueError::NotInteger),
                };
                out[..size_of::<$t>()].copy_from_slice(&x.to_le_bytes());
            }};
        }
        match self {
            ChannelType::I8 => put_int!(i8),
            ChannelType::I16 => put_int!(i16),
            ChannelType::I32 => put_int!(i32),
            ChannelType::I64 => put_int!(i64),
            ChannelType::U8 => put_int!(u8),
            ChannelType::U16 => put_int!(u16),
            ChannelType::U32 => put_int!(u32),
            ChannelType::U64 => put_int!(u64),
            ChannelType::F32 => out[..4].copy_from_slice(&(v.as_f64() as f32).to_le_bytes()),
            ChannelType::F64 => out[..8].copy_from_slice(&v.as_f64().to_le_bytes()),
        }
        Ok(())
    }
}

/// A value that does not fit a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Integer outside the channel type's range.
    #[error("value out of range for the channel type")]
    OutOfRange,
    /// A float given for an integer channel.
    #[error("non-integer value for an integer channel")]
    NotInteger,
}

/// One channel value, as stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// Any signed or unsigned integer up to 32 bits, and `l`.
    Int(i64),
    /// `ul`.
    UInt(u64),
    /// `f`.
    F32(f32),
    /// `d`.
    F64(f64),
}

impl Value {
    /// As f64 (exact for integers below 2^53 and all floats).
    #[inline]
    pub fn as_f64(self) -> f64 {
        match self {
            Value::Int(i) => i as f64,
            Value::UInt(u) => u as f64,
            Value::F32(f) => f as f64,
            Value::F64(f) => f,
        }
    }

    /// As i64, truncating floats toward zero (saturating).
    #[inline]
    pub fn as_i64(self) -> i64 {
        match self {
            Value::Int(i) => i,
            Value::UInt(u) => i64::try_from(u).unwrap_or(i64::MAX),
            Value::F32(f) => f as i64,
            Value::F64(f) => f as i64,
        }
    }

    /// Numeric total order (NaN sorts after every number, as `f64::total_cmp` of its magnitude).
    pub fn cmp_num(self, other: Value) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(&b),
            (Value::UInt(a), Value::UInt(b)) => a.cmp(&b),
            (Value::Int(a), Value::UInt(b)) => {
                if a < 0 {
                    Ordering::Less
                } else {
                    (a as u64).cmp(&b)
                }
            }
            (Value::UInt(_), Value::Int(_)) => other.cmp_num(self).reverse(),
            (a, b) => a.as_f64().total_cmp(&b.as_f64()),
        }
    }
}

impl fmt::Display for Value {
    /// Integers as integers; floats in the shortest form that reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => fmt::Display::fmt(i, f),
            Value::UInt(u) => fmt::Display::fmt(u, f),
            Value::F32(x) => fmt::Display::fmt(x, f),
            Value::F64(x) => fmt::Display::fmt(x, f),
        }
    }
}

/// One channel of an element: its type and byte offset inside the element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Channel {
    /// Storage type.
    pub ty: ChannelType,
    /// Byte offset inside the element.
    pub offset: usize,
}

/// The layout of one element: time channels, value channels, padding; packed, no alignment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    spec: String,
    time: Vec<Channel>,
    value: Vec<Channel>,
    size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Pad,
    Ty(ChannelType),
    LongDouble,
}

fn type_letter(input: &str) -> IResult<&str, Item> {
    alt((
        value(Item::Ty(ChannelType::U8), tag("uc")),
        value(Item::Ty(ChannelType::U16), tag("us")),
        value(Item::Ty(ChannelType::U32), tag("ui")),
        value(Item::Ty(ChannelType::U64), tag("ul")),
        value(Item::Ty(ChannelType::I8), char('c')),
        value(Item::Ty(ChannelType::I16), char('s')),
        value(Item::Ty(ChannelType::I32), char('i')),
        value(Item::Ty(ChannelType::I64), char('l')),
        value(Item::Ty(ChannelType::F32), char('f')),
        value(Item::Ty(ChannelType::F64), char('d')),
        value(Item::LongDouble, char('D')),
        value(Item::Pad, char('p')),
    ))
    .parse(input)
}

fn ws<'a, O>(
    inner: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
) -> impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>> {
    delimited(multispace0, inner, multispace0)
}

#[derive(Clone, Debug)]
enum Group {
    Time(Vec<Item>),
    Value(Vec<Item>),
    Pad,
}

fn group(input: &str) -> IResult<&str, Group> {
    let list = |input| {
        delimited(
            ws(char('(')),
            separated_list1(ws(char(',')), ws(type_letter)),
            ws(char(')')),
        )
        .parse(input)
    };
    alt((
        map(preceded(char('T'), list), Group::Time),
        map(preceded(char('V'), list), Group::Value),
        value(Group::Pad, char('p')),
    ))
    .parse(input)
}

fn spec(input: &str) -> IResult<&str, Vec<Group>> {
    all_consuming(delimited(
        multispace0,
        separated_list1(ws(char(',')), group),
        opt(multispace0),
    ))
    .parse(input)
}

impl Layout {
    /// Parses a generic spec such as `T(i),V(f)` or `T(i),p,p,p,p,V(s,s,s,s)`.
    ///
    /// # Errors
    /// [`LayoutError`] for unknown letters, `D`, no channels, or more than 56 bytes.
    ///
    /// # Examples
    /// ```
    /// let l = inframed::Layout::parse("T(i,i),V(i,i)")?;
    /// assert_eq!((l.size(), l.time_channels().len(), l.value_channels().len()), (16, 2, 2));
    /// # Ok::<_, inframed::LayoutError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Layout, LayoutError> {
        let (_, groups) = spec(text).map_err(|_| LayoutError::Syntax(text.to_string()))?;
        let mut out = Layout {
            spec: String::new(),
            time: vec![],
            value: vec![],
            size: 0,
        };
        let mut parts: Vec<String> = Vec::with_capacity(groups.len());
        for g in groups {
            let (items, is_time) = match g {
                Group::Pad => {
                    out.size += 1;
                    parts.push("p".into());
                    continue;
                }
                Group::Time(items) => (items, true),
                Group::Value(items) => (items, false),
            };
            let mut letters = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Item::Pad => {
                        out.size += 1;
                        letters.push("p");
                    }
                    Item::LongDouble => return Err(LayoutError::LongDouble),
                    Item::Ty(ty) => {
                        let ch = Channel {
                            ty,
                            offset: out.size,
                        };
                        out.size += ty.size();
                        letters.push(ty.letter());
                        if is_time {
                            out.time.push(ch)
                        } else {
                            out.value.push(ch)
                        }
                    }
                }
            }
            parts.push(format!(
                "{}({})",
                if is_time { 'T' } else { 'V' },
                letters.join(",")
            ));
        }
        if out.time.is_empty() && out.value.is_empty() {
            return Err(LayoutError::Empty(text.to_string()));
        }
        if out.size > MAX_ELEMENT_SIZE {
            return Err(LayoutError::TooLarge(out.size));
        }
        out.spec = parts.join(",");
        Ok(out)
    }

    /// The layout of a legacy type number 0–15 (§6.1 of the format notes).
    ///
    /// # Errors
    /// [`LayoutError::UnknownTypeNumber`] outside 0–15 (16 needs a spec).
    pub fn legacy(number: i64) -> Result<Layout, LayoutError> {
        let spec = legacy_spec(number).ok_or(LayoutError::UnknownTypeNumber(number))?;
        Layout::parse(spec)
    }

    /// The canonical spec text (no spaces), e.g. `T(i),V(f)`.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Element size in bytes, padding included.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Time channels in order.
    #[inline]
    pub fn time_channels(&self) -> &[Channel] {
        &self.time
    }

    /// Value channels in order.
    #[inline]
    pub fn value_channels(&self) -> &[Channel] {
        &self.value
    }

    /// Orders two elements (whole element byte slices) by their time channels, channel 0 first.
    #[inline]
    pub fn cmp_time(&self, a: &[u8], b: &[u8]) -> Ordering {
        for ch in &self.time {
            let o = ch
                .ty
                .read(&a[ch.offset..])
                .cmp_num(ch.ty.read(&b[ch.offset..]));
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }

    /// The numpy structured dtype of this layout as `(name, dtype string)` pairs with
    /// padding as `V1` fields: `t0, t1, …, v0, v1, …, _pad<offset>`.
    pub fn numpy_fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(usize, String, String)> = Vec::new();
        for (i, c) in self.time.iter().enumerate() {
            out.push((c.offset, format!("t{i}"), c.ty.numpy_type().to_string()));
        }
        for (i, c) in self.value.iter().enumerate() {
            out.push((c.offset, format!("v{i}"), c.ty.numpy_type().to_string()));
        }
        out.sort_by_key(|x| x.0);
        let mut fields = Vec::new();
        let mut at = 0;
        for (off, name, ty) in out {
            while at < off {
                fields.push((format!("_pad{at}"), "|V1".to_string()));
                at += 1;
            }
            at = off + numpy_size(&ty);
            fields.push((name, ty));
        }
        while at < self.size {
            fields.push((format!("_pad{at}"), "|V1".to_string()));
            at += 1;
        }
        fields
    }
}

fn numpy_size(ty: &str) -> usize {
    ty[2..].parse().unwrap_or(1)
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

/// The generic spec of legacy type numbers 0–15 (`SigType`).
pub fn legacy_spec(number: i64) -> Option<&'static str> {
    Some(match number {
        0 => "V(f)",
        1 => "T(i),V(f)",
        2 => "T(l),V(f),p,p,p,p",
        3 => "T(i,i),V(f)",
        4 => "T(l)",
        5 => "T(l,l),V(f),p,p,p,p",
        6 => "T(i),V(f,us),p,p",
        7 => "T(l),V(l)",
        8 => "T(i),V(s,s)",
        9 => "V(s,s)",
        10 => "V(s,s,s,s)",
        11 => "T(us),V(us)",
        12 => "T(i,i),V(f,f)",
        13 => "T(i),V(f,f)",
        14 => "T(l,l)",
        15 => "T(i),p,p,p,p,V(s,s,s,s)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_sizes_match_the_c_structs() {
        let sizes = [4, 8, 16, 12, 8, 24, 12, 16, 8, 4, 8, 4, 16, 12, 16, 16];
        for (n, size) in sizes.iter().enumerate() {
            assert_eq!(Layout::legacy(n as i64).unwrap().size(), *size, "type {n}");
        }
        assert_eq!(Layout::legacy(16), Err(LayoutError::UnknownTypeNumber(16)));
    }

    #[test]
    fn offsets_follow_text_order_with_padding() {
        let l = Layout::parse("T(i),p,p,p,p,V(s,s,s,s)").unwrap();
        assert_eq!(l.time_channels()[0].offset, 0);
        assert_eq!(
            l.value_channels()
                .iter()
                .map(|c| c.offset)
                .collect::<Vec<_>>(),
            [8, 10, 12, 14]
        );
        assert_eq!(l.spec(), "T(i),p,p,p,p,V(s,s,s,s)");
        let l = Layout::parse(" T( i , i ) , V(uc,us,ui,ul,d) ").unwrap();
        assert_eq!(l.spec(), "T(i,i),V(uc,us,ui,ul,d)");
        assert_eq!(l.size(), 8 + 1 + 2 + 4 + 8 + 8);
    }

    #[test]
    fn bad_specs_are_errors() {
        for bad in [
            "",
            "T()",
            "X(i)",
            "T(i",
            "T(q),V(f)",
            "p",
            "p,p",
            "T(i),V(f),",
            "V(d,d,d,d,d,d,d,d)",
        ] {
            assert!(Layout::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Layout::parse("V(D)"), Err(LayoutError::LongDouble));
    }

    #[test]
    fn numpy_fields_cover_padding() {
        let l = Layout::parse("T(i),V(f,us),p,p").unwrap();
        let f = l.numpy_fields();
        assert_eq!(f.len(), 5);
        assert_eq!(f[3].0, "_pad10");
    }

    #[test]
    fn values_display_shortest() {
        assert_eq!(Value::F32(13.5).to_string(), "13.5");
        assert_eq!(Value::F32(10.9).to_string(), "10.9");
        assert_eq!(Value::Int(-3).to_string(), "-3");
    }
}
