//! numpy `dtype.str` type strings (`<i4`, `|u1`, `|b1`, `|V8`, `>f8`, `<U5`, `<M8[ns]`, …).

use std::fmt;

use super::GnzError;

/// Byte order of a [`DType`]: the first character of `dtype.str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// `<`
    Little,
    /// `>`
    Big,
    /// `|`: byte order does not apply (1-byte types, bytes `S`, void `V`).
    NotApplicable,
}

/// A numpy scalar type as written by `dtype.str`: byte order, kind letter, item size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DType {
    text: String,
    order: ByteOrder,
    kind: char,
    itemsize: usize,
}

impl DType {
    /// Parses a `dtype.str` value.
    ///
    /// Accepted kinds: `b` (bool, 1 byte), `i`/`u` (1, 2, 4, 8), `f` (2, 4, 8, 16), `c` (8, 16,
    /// 32), `m`/`M` (8, optional `[unit]`), `S` and `V` (any size, `|`), `U` (UCS-4, 4 bytes a
    /// character). `|` is valid only where byte order does not matter.
    ///
    /// # Errors
    /// [`GnzError::UnsupportedDtype`] for anything else, including `O` (objects cannot be
    /// memory-mapped) and `=` (never produced by `dtype.str`).
    ///
    /// # Examples
    /// ```
    /// use inframed::backend::gnz::DType;
    /// let d = DType::parse("<f8")?;
    /// assert_eq!((d.kind(), d.itemsize()), ('f', 8));
    /// assert_eq!(DType::parse("|V12")?.itemsize(), 12);
    /// assert!(DType::parse("|i4").is_err());
    /// # Ok::<_, inframed::backend::gnz::GnzError>(())
    /// ```
    pub fn parse(text: &str) -> Result<DType, GnzError> {
        let bad = || GnzError::UnsupportedDtype(text.to_string());
        let mut chars = text.chars();
        let order = match chars.next() {
            Some('<') => ByteOrder::Little,
            Some('>') => ByteOrder::Big,
            Some('|') => ByteOrder::NotApplicable,
            _ => return Err(bad()),
        };
        let kind = chars.next().ok_or_else(bad)?;
        let rest = chars.as_str();
        let (digits, unit) = match rest.find('[') {
            Some(i) if matches!(kind, 'm' | 'M') && rest.ends_with(']') => {
                let unit = rest.get(i + 1..rest.len() - 1).ok_or_else(bad)?;
                if unit.is_empty() || !unit.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(bad());
                }
                (rest.get(..i).ok_or_else(bad)?, Some(unit))
            }
            _ => (rest, None),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 12 {
            return Err(bad());
        }
        let n: usize = digits.parse().map_err(|_| bad())?;
        let _ = unit;
        let itemsize = match kind {
            'b' if n == 1 => 1,
            'i' | 'u' if matches!(n, 1 | 2 | 4 | 8) => n,
            'f' if matches!(n, 2 | 4 | 8 | 16) => n,
            'c' if matches!(n, 8 | 16 | 32) => n,
            'm' | 'M' if n == 8 => 8,
            'S' | 'V' => n,
            'U' => n.checked_mul(4).ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        let order_matters = itemsize > 1 && !matches!(kind, 'S' | 'V');
        if order == ByteOrder::NotApplicable && order_matters {
            return Err(bad());
        }
        Ok(DType {
            text: text.to_string(),
            order,
            kind,
            itemsize,
        })
    }

    /// The `dtype.str` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The byte order character's meaning.
    pub fn byte_order(&self) -> ByteOrder {
        self.order
    }

    /// numpy's kind letter (`b i u f c m M S U V`).
    pub fn kind(&self) -> char {
        self.kind
    }

    /// Bytes per element.
    pub fn itemsize(&self) -> usize {
        self.itemsize
    }

    /// True when typed access must swap bytes (big-endian multi-byte types).
    pub fn is_swapped(&self) -> bool {
        self.order == ByteOrder::Big && self.itemsize > 1
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A Rust type that typed array access can lend: the fixed-size numbers numpy stores
/// (`i1`…`u8`, `f4`, `f8`); `u8` also reads `|b1` (numpy bools are one byte, 0 or 1).
pub trait Scalar: bytemuck::Pod + sealed::Sealed {
    /// numpy kind letter.
    const KIND: char;
    /// Rust type name, for errors.
    const NAME: &'static str;

    /// Whether arrays of `dtype` can be read as `Self`.
    fn matches(dtype: &DType) -> bool {
        dtype.kind() == Self::KIND && dtype.itemsize() == size_of::<Self>()
    }
}

macro_rules! scalar {
    ($($t:ty => $k:literal),*) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {
            const KIND: char = $k;
            const NAME: &'static str = stringify!($t);
        }
    )*};
}
scalar!(i8 => 'i', i16 => 'i', i32 => 'i', i64 => 'i', u16 => 'u', u32 => 'u', u64 => 'u',
        f32 => 'f', f64 => 'f');

impl sealed::Sealed for u8 {}
impl Scalar for u8 {
    const KIND: char = 'u';
    const NAME: &'static str = "u8";
    fn matches(dtype: &DType) -> bool {
        dtype.itemsize() == 1 && matches!(dtype.kind(), 'u' | 'b')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numpy_strings() {
        for (s, kind, size) in [
            ("<i4", 'i', 4),
            ("|u1", 'u', 1),
            ("|i1", 'i', 1),
            ("|b1", 'b', 1),
            (">f8", 'f', 8),
            ("<f2", 'f', 2),
            ("<c16", 'c', 16),
            ("|V8", 'V', 8),
            ("|V0", 'V', 0),
            ("|S5", 'S', 5),
            ("<U3", 'U', 12),
            ("<M8[ns]", 'M', 8),
            ("<m8", 'm', 8),
        ] {
            let d = DType::parse(s).unwrap();
            assert_eq!((d.kind(), d.itemsize(), d.as_str()), (kind, size, s), "{s}");
        }
        assert!(DType::parse(">i4").unwrap().is_swapped());
        assert!(!DType::parse("<i4").unwrap().is_swapped());
    }

    #[test]
    fn rejects_what_numpy_never_writes() {
        for s in [
            "",
            "<",
            "i4",
            "=i4",
            "|i4",
            "|f8",
            "<i3",
            "<O8",
            "|O",
            "<f",
            "<i+4",
            "<M8[",
            "<M8[]",
            "<i4[ns]",
            "<x4",
            "<b2",
            "<U99999999999999999999",
        ] {
            assert_eq!(
                DType::parse(s),
                Err(GnzError::UnsupportedDtype(s.into())),
                "{s}"
            );
        }
    }

    #[test]
    fn scalar_matching() {
        let d = |s| DType::parse(s).unwrap();
        assert!(i32::matches(&d("<i4")) && i32::matches(&d(">i4")));
        assert!(!i32::matches(&d("<u4")) && !i32::matches(&d("<f4")));
        assert!(u8::matches(&d("|b1")) && u8::matches(&d("|u1")) && !u8::matches(&d("|i1")));
        assert!(f64::matches(&d("<f8")) && !f64::matches(&d("|V8")));
    }
}
