//! `.npy` members: a header that puts the element data on a 64-byte boundary, and a reader for
//! the header dictionary (`descr`, `fortran_order`, `shape`) numpy writes.

use crate::layout::{ChannelType, Layout};

/// npy magic.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The dictionary text up to the shape digits: `{'descr': [...], 'fortran_order': False,
/// 'shape': (`, as numpy's `write_array_header` formats it.
pub(crate) fn header_prefix(fields: &[(String, String)]) -> String {
    let descr: Vec<String> = fields
        .iter()
        .map(|(n, t)| format!("('{n}', '{t}')"))
        .collect();
    format!(
        "{{'descr': [{}], 'fortran_order': False, 'shape': (",
        descr.join(", ")
    )
}

/// The dictionary text up to the shape digits for a plain (non-structured) dtype such as `<u4`.
pub(crate) fn plain_prefix(ty: &str) -> String {
    format!("{{'descr': '{ty}', 'fortran_order': False, 'shape': (")
}

/// A complete npy header (magic, version, length, dictionary, padding, `\n`) for `n` elements,
/// padded so that its length is a multiple of 64 (version 1.0, or 2.0 past 65535 bytes).
pub(crate) fn header(prefix: &str, n: u64) -> Vec<u8> {
    let dict = format!("{prefix}{n},), }}");
    let (version, len_bytes) = if dict.len() + 1 + 10 <= 65535 {
        (1u8, 2usize)
    } else {
        (2u8, 4usize)
    };
    let fixed = 6 + 2 + len_bytes;
    let total = (fixed + dict.len() + 1).div_ceil(64) * 64;
    let hlen = total - fixed;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if len_bytes == 2 {
        out.extend_from_slice(&(hlen as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// A decoded npy header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpyHeader {
    /// Bytes before the data.
    pub data_offset: usize,
    /// Fields `(name, type string)`; one unnamed field for a plain dtype.
    pub descr: Vec<(String, String)>,
    /// Whether the array is Fortran-ordered.
    pub fortran_order: bool,
    /// Array shape.
    pub shape: Vec<u64>,
}

/// Fast path for the hot read: when the dictionary starts with `prefix` (the exact text this
/// crate and numpy write for the expected dtype), returns `(data offset, element count)`.
#[inline]
pub(crate) fn fast(payload: &[u8], prefix: &[u8]) -> Option<(usize, u64)> {
    if payload.get(..8)? != b"\x93NUMPY\x01\x00" {
        return None;
    }
    let hlen = u16::from_le_bytes([*payload.get(8)?, *payload.get(9)?]) as usize;
    let dict = payload.get(10..10 + hlen)?;
    let rest = dict.strip_prefix(prefix)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || rest.get(digits..digits + 2)? != b",)" {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &rest[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((10 + hlen, n))
}

/// Parses the npy preamble and header dictionary.
///
/// # Errors
/// A description of what is malformed.
pub(crate) fn parse(payload: &[u8]) -> Result<NpyHeader, String> {
    if payload.get(..6) != Some(MAGIC.as_slice()) {
        return Err("no \\x93NUMPY magic".into());
    }
    let major = *payload.get(6).ok_or("truncated preamble")?;
    let (hlen, fixed): (usize, usize) = match major {
        1 => (
            u16::from_le_bytes([
                *payload.get(8).ok_or("truncated preamble")?,
                *payload.get(9).ok_or("truncated preamble")?,
            ]) as usize,
            10,
        ),
        2 | 3 => {
            let b = payload.get(8..12).ok_or("truncated preamble")?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(format!("unsupported npy version {v}")),
    };
    let end = fixed
        .checked_add(hlen)
        .filter(|&e| e <= payload.len())
        .ok_or("header longer than the member")?;
    let text = std::str::from_utf8(&payload[fixed..end]).map_err(|_| "header is not UTF-8")?;
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let dict = p.value()?;
    let Lit::Dict(entries) = dict else {
        return Err("header is not a dict".into());
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (k, v) in entries {
        match (k.as_str(), v) {
            ("descr", Lit::Str(s)) => descr = Some(vec![(String::new(), s)]),
            ("descr", Lit::List(items)) => {
                let mut fields = Vec::new();
                for item in items {
                    match item {
                        Lit::Tuple(t) => match t.as_slice() {
                            [Lit::Str(n), Lit::Str(ty)] => fields.push((n.clone(), ty.clone())),
                            _ => {
                                return Err("unsupported descr field (sub-arrays or nesting)".into())
                            }
                        },
                        _ => return Err("descr field is not a tuple".into()),
                    }
                }
                descr = Some(fields);
            }
            ("fortran_order", Lit::Bool(b)) => fortran = Some(b),
            ("shape", Lit::Tuple(t)) => {
                shape = Some(
                    t.into_iter()
                        .map(|x| match x {
                            Lit::Int(i) => Ok(i),
                            _ => Err("shape is not a tuple of integers".to_string()),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            (k, _) => return Err(format!("unexpected header key or value {k:?}")),
        }
    }
    Ok(NpyHeader {
        data_offset: end,
        descr: descr.ok_or("no descr")?,
        fortran_order: fortran.ok_or("no fortran_order")?,
        shape: shape.ok_or("no shape")?,
    })
}

/// Whether a descr describes exactly the bytes of `layout`: every channel at its offset with
/// its type (any field names; padding as `V` fields) and the same item size.
pub(crate) fn descr_matches(descr: &[(String, String)], layout: &Layout) -> Result<(), String> {
    let mut channels: Vec<(usize, ChannelType)> = layout
        .time_channels()
        .iter()
        .chain(layout.value_channels())
        .map(|c| (c.offset, c.ty))
        .collect();
    channels.sort_by_key(|c| c.0);
    let mut at = 0usize;
    let mut found = Vec::new();
    for (name, ty) in descr {
        let (kind, size) = type_size(ty).ok_or_else(|| format!("field {name:?}: type {ty:?}"))?;
        if let Some(k) = kind {
            found.push((at, k));
        }
        at += size;
    }
    if at != layout.size() || found != channels {
        return Err(format!(
            "dtype {descr:?} does not match the signal layout {}",
            layout.spec()
        ));
    }
    Ok(())
}

/// `(channel type or None for void padding, size)` of a little-endian numpy type string.
fn type_size(ty: &str) -> Option<(Option<ChannelType>, usize)> {
    let (order, code) = match ty.as_bytes().first()? {
        b'<' | b'|' | b'=' => (true, &ty[1..]),
        b'>' => (false, &ty[1..]),
        _ => (true, ty),
    };
    let (letter, size) = code.split_at(1);
    let size: usize = size.parse().ok()?;
    let ct = match (letter, size) {
        ("V", n) => return Some((None, n)),
        ("i", 1) | ("b", 1) => ChannelType::I8,
        ("u", 1) | ("B", 1) => ChannelType::U8,
        _ if !order => return None, // big-endian
        ("i", 2) => ChannelType::I16,
        ("i", 4) => ChannelType::I32,
        ("i", 8) => ChannelType::I64,
        ("u", 2) => ChannelType::U16,
        ("u", 4) => ChannelType::U32,
        ("u", 8) => ChannelType::U64,
        ("f", 4) => ChannelType::F32,
        ("f", 8) => ChannelType::F64,
        _ => return None,
    };
    Some((Some(ct), size))
}

/// A Python literal of the npy header subset.
#[derive(Debug)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    List(Vec<Lit>),
    Tuple(Vec<Lit>),
    Dict(Vec<(String, Lit)>),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at header byte {}",
                c as char, self.i
            ))
        }
    }

    /// Items up to `close`, comma-separated, trailing comma allowed.
    fn seq(&mut self, close: u8) -> Result<Vec<Lit>, String> {
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(format!("expected ',' at header byte {}", self.i)),
            }
        }
    }

    fn value(&mut self) -> Result<Lit, String> {
        match self.peek().ok_or("header ends early")? {
            q @ (b'\'' | b'"') => {
                self.i += 1;
                let start = self.i;
                while self.s.get(self.i).is_some_and(|&b| b != q && b != b'\\') {
                    self.i += 1;
                }
                if self.s.get(self.i) != Some(&q) {
                    return Err("unterminated or escaped string in header".into());
                }
                let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Lit::Str(text))
            }
            b'[' => {
                self.i += 1;
                Ok(Lit::List(self.seq(b']')?))
            }
            b'(' => {
                self.i += 1;
                Ok(Lit::Tuple(self.seq(b')')?))
            }
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Lit::Dict(entries));
                    }
                    let Lit::Str(k) = self.value()? else {
                        return Err("dict key is not a string".into());
                    };
                    self.expect(b':')?;
                    let v = self.value()?;
                    entries.push((k, v));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected ',' at header byte {}", self.i)),
                    }
                }
            }
            b'0'..=b'9' => {
                let start = self.i;
                while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
                // numpy < 2 may write `3L` on Python 2.
                if self.s.get(self.i) == Some(&b'L') {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.trim_end_matches('L').parse().ok())
                    .map(Lit::Int)
                    .ok_or_else(|| "integer out of range".into())
            }
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(Lit::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(Lit::Bool(false))
            }
            c => Err(format!(
                "unexpected {:?} at header byte {}",
                c as char, self.i
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_aligned_and_parses() {
        let layout = Layout::parse("T(i),V(s,s)").unwrap();
        let prefix = header_prefix(&layout.numpy_fields());
        assert_eq!(
            prefix,
            "{'descr': [('t0', '<i4'), ('v0', '<i2'), ('v1', '<i2')], 'fortran_order': False, 'shape': ("
        );
        for n in [1u64, 9, 10, 123_456_789] {
            let h = header(&prefix, n);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            assert_eq!(fast(&h, prefix.as_bytes()), Some((h.len(), n)));
            let p = parse(&h).unwrap();
            assert_eq!((p.data_offset, p.shape.as_slice()), (h.len(), &[n][..]));
            assert!(!p.fortran_order);
            descr_matches(&p.descr, &layout).unwrap();
        }
    }

    #[test]
    fn foreign_spellings_and_mismatches() {
        let layout = Layout::parse("T(i),V(f)").unwrap();
        // numpy's own header for the same dtype, other spacing, version 2.
        let dict = b"{'descr':[('time','<i4'),('val','<f4')],'fortran_order':False,'shape':(3,)}\n";
        let mut h = b"\x93NUMPY\x02\x00".to_vec();
        h.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        h.extend_from_slice(dict);
        let p = parse(&h).unwrap();
        assert_eq!(p.shape, [3]);
        descr_matches(&p.descr, &layout).unwrap();
        assert!(fast(&h, header_prefix(&layout.numpy_fields()).as_bytes()).is_none());
        assert!(descr_matches(
            &[("a".into(), "<i4".into()), ("b".into(), "<i4".into())],
            &layout
        )
        .is_err());
        assert!(descr_matches(
            &[("a".into(), ">i4".into()), ("b".into(), "<f4".into())],
            &layout
        )
        .is_err());
        let padded = Layout::parse("T(c),p,V(s)").unwrap();
        descr_matches(
            &[
                ("a".into(), "|i1".into()),
                ("p".into(), "|V1".into()),
                ("b".into(), "<i2".into()),
            ],
            &padded,
        )
        .unwrap();
        for bad in [
            &b"\x93NUMPY\x01\x00\xff\x00{"[..],
            b"\x93NUMP",
            b"\x93NUMPY\x01\x00\x05\x00{'a':",
            b"\x93NUMPY\x09\x00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
