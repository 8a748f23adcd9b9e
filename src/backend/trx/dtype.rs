//! TRX array names `<name>[.<dim>].<dtype>` and the numpy dtype strings trx-python accepts.

use super::TrxError;

/// The element type of a TRX array: what `np.dtype(ext)` gives for the file extension, or
/// `bit` (numpy bool, one byte per element). Always little-endian: trx-python reads every
/// array as little-endian whatever byte-order prefix the extension carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// `bool` / `bit` / `?` / `b1`: one byte, 0 or 1.
    Bool,
    /// `int8` (`b`, `i1`, `byte`).
    I8,
    /// `int16` (`h`, `i2`, `short`).
    I16,
    /// `int32` (`i`, `i4`, `intc`).
    I32,
    /// `int64` (`l`, `q`, `p`, `i8`, `int`, `long`, `intp`, …).
    I64,
    /// `uint8` (`B`, `u1`, `ubyte`).
    U8,
    /// `uint16` (`H`, `u2`, `ushort`).
    U16,
    /// `uint32` (`I`, `u4`, `uintc`).
    U32,
    /// `uint64` (`L`, `Q`, `P`, `u8`, `uint`, `ulong`, …).
    U64,
    /// `float16` (`e`, `f2`, `half`).
    F16,
    /// `float32` (`f`, `f4`, `single`).
    F32,
    /// `float64` (`d`, `f8`, `double`, `float`).
    F64,
    /// `float128` / `longdouble` (`g`, `f16`): 16 bytes of x87 extended precision; listed and
    /// catted, but its values are not decoded.
    F128,
    /// `complex64` (`F`, `c8`): listed and catted, values not decoded.
    C64,
    /// `complex128` (`D`, `c16`, `complex`): listed and catted, values not decoded.
    C128,
    /// `complex256` (`G`, `c32`): listed and catted, values not decoded.
    C256,
}

impl Dtype {
    /// Bytes per element.
    pub const fn itemsize(self) -> usize {
        match self {
            Dtype::Bool | Dtype::I8 | Dtype::U8 => 1,
            Dtype::I16 | Dtype::U16 | Dtype::F16 => 2,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::U64 | Dtype::F64 | Dtype::C64 => 8,
            Dtype::F128 | Dtype::C128 => 16,
            Dtype::C256 => 32,
        }
    }

    /// numpy's `dtype.kind`: `b`, `i`, `u`, `f` or `c`.
    pub const fn kind(self) -> char {
        match self {
            Dtype::Bool => 'b',
            Dtype::I8 | Dtype::I16 | Dtype::I32 | Dtype::I64 => 'i',
            Dtype::U8 | Dtype::U16 | Dtype::U32 | Dtype::U64 => 'u',
            Dtype::F16 | Dtype::F32 | Dtype::F64 | Dtype::F128 => 'f',
            Dtype::C64 | Dtype::C128 | Dtype::C256 => 'c',
        }
    }

    /// The extension writers use (numpy's `dtype.name`, and `bit` for bool).
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "bit",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
            Dtype::F16 => "float16",
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::F128 => "float128",
            Dtype::C64 => "complex64",
            Dtype::C128 => "complex128",
            Dtype::C256 => "complex256",
        }
    }

    /// True for the integer kinds (`i`, `u`) and bool.
    pub const fn is_integer(self) -> bool {
        matches!(self.kind(), 'i' | 'u' | 'b')
    }

    /// True for the types whose values [`Dtype::read_f64`] decodes.
    pub const fn is_decodable(self) -> bool {
        !matches!(self, Dtype::F128 | Dtype::C64 | Dtype::C128 | Dtype::C256)
    }

    /// Parses a file extension as trx-python does: `bit`, or any string `np.dtype()` accepts
    /// (names such as `float32`, `double`, `int`; character codes such as `f4`, `<u8`, `?`).
    ///
    /// # Errors
    /// [`TrxError::UnknownDtype`] for a string numpy rejects; [`TrxError::UnsupportedDtype`] for
    /// non-numeric dtypes numpy accepts (`S8`, `U2`, `V8`, `M8`, `m8`, `O`, …).
    pub fn parse(ext: &str) -> Result<Dtype, TrxError> {
        let unknown = || TrxError::UnknownDtype(ext.to_string());
        if ext == "bit" {
            return Ok(Dtype::Bool);
        }
        // Names are accepted without a byte-order prefix only.
        let by_name = match ext {
            "bool" | "bool_" => Some(Dtype::Bool),
            "byte" | "int8" => Some(Dtype::I8),
            "ubyte" | "uint8" => Some(Dtype::U8),
            "short" | "int16" => Some(Dtype::I16),
            "ushort" | "uint16" => Some(Dtype::U16),
            "intc" | "int32" => Some(Dtype::I32),
            "uintc" | "uint32" => Some(Dtype::U32),
            "int" | "int_" | "intp" | "long" | "longlong" | "int64" => Some(Dtype::I64),
            "uint" | "uintp" | "ulong" | "ulonglong" | "uint64" => Some(Dtype::U64),
            "half" | "float16" => Some(Dtype::F16),
            "single" | "float32" => Some(Dtype::F32),
            "double" | "float" | "float64" => Some(Dtype::F64),
            "longdouble" | "float128" => Some(Dtype::F128),
            "csingle" | "complex64" => Some(Dtype::C64),
            "complex" | "cdouble" | "complex128" => Some(Dtype::C128),
            "clongdouble" | "complex256" => Some(Dtype::C256),
            _ => None,
        };
        if let Some(d) = by_name {
            return Ok(d);
        }
        let code = ext.strip_prefix(['<', '>', '=', '|']).unwrap_or(ext);
        let by_code = match code {
            "?" | "b1" => Some(Dtype::Bool),
            "b" | "i1" => Some(Dtype::I8),
            "B" | "u1" => Some(Dtype::U8),
            "h" | "i2" => Some(Dtype::I16),
            "H" | "u2" => Some(Dtype::U16),
            "i" | "i4" => Some(Dtype::I32),
            "I" | "u4" => Some(Dtype::U32),
            "l" | "q" | "p" | "i8" => Some(Dtype::I64),
            "L" | "Q" | "P" | "u8" => Some(Dtype::U64),
            "e" | "f2" => Some(Dtype::F16),
            "f" | "f4" => Some(Dtype::F32),
            "d" | "f8" => Some(Dtype::F64),
            "g" | "f16" => Some(Dtype::F128),
            "F" | "c8" => Some(Dtype::C64),
            "D" | "c16" => Some(Dtype::C128),
            "G" | "c32" => Some(Dtype::C256),
            _ => None,
        };
        if let Some(d) = by_code {
            return Ok(d);
        }
        if is_non_numeric(ext, code) {
            return Err(TrxError::UnsupportedDtype(ext.to_string()));
        }
        Err(unknown())
    }

    /// Decodes element `i` of `bytes` (little-endian, unaligned) as `f64`; `None` past the end
    /// or for a type without decoding ([`Dtype::is_decodable`]).
    #[inline]
    pub fn read_f64(self, bytes: &[u8], i: usize) -> Option<f64> {
        let size = self.itemsize();
        let at = i.checked_mul(size)?;
        let b = bytes.get(at..at.checked_add(size)?)?;
        Some(match self {
            Dtype::Bool | Dtype::U8 => b[0] as f64,
            Dtype::I8 => b[0] as i8 as f64,
            Dtype::I16 => i16::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::U16 => u16::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::I32 => i32::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::U32 => u32::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::I64 => i64::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::U64 => u64::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::F16 => half::f16::from_le_bytes(b.try_into().ok()?).to_f64(),
            Dtype::F32 => f32::from_le_bytes(b.try_into().ok()?) as f64,
            Dtype::F64 => f64::from_le_bytes(b.try_into().ok()?),
            Dtype::F128 | Dtype::C64 | Dtype::C128 | Dtype::C256 => return None,
        })
    }

    /// [`Dtype::read_int`] with the common `uint32` / `uint64` cases inlined first (the hot path of
    /// offsets and id columns).
    #[inline(always)]
    pub fn read_int_fast(self, bytes: &[u8], i: usize) -> Option<i128> {
        match self {
            Dtype::U32 => {
                let at = i.checked_mul(4)?;
                let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
                Some(u32::from_le_bytes(b) as i128)
            }
            Dtype::U64 => {
                let at = i.checked_mul(8)?;
                let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
                Some(u64::from_le_bytes(b) as i128)
            }
            _ => self.read_int(bytes, i),
        }
    }

    /// Decodes element `i` of an integer (or bool) array as `i128`; `None` past the end or for
    /// a non-integer type.
    #[inline]
    pub fn read_int(self, bytes: &[u8], i: usize) -> Option<i128> {
        let size = self.itemsize();
        let at = i.checked_mul(size)?;
        let b = bytes.get(at..at.checked_add(size)?)?;
        Some(match self {
            Dtype::Bool | Dtype::U8 => b[0] as i128,
            Dtype::I8 => b[0] as i8 as i128,
            Dtype::I16 => i16::from_le_bytes(b.try_into().ok()?) as i128,
            Dtype::U16 => u16::from_le_bytes(b.try_into().ok()?) as i128,
            Dtype::I32 => i32::from_le_bytes(b.try_into().ok()?) as i128,
            Dtype::U32 => u32::from_le_bytes(b.try_into().ok()?) as i128,
            Dtype::I64 => i64::from_le_bytes(b.try_into().ok()?) as i128,
            Dtype::U64 => u64::from_le_bytes(b.try_into().ok()?) as i128,
            _ => return None,
        })
    }
}

/// numpy accepts these but they are not numeric arrays (bytes, str, void, datetime, object).
fn is_non_numeric(ext: &str, code: &str) -> bool {
    const NAMES: [&str; 11] = [
        "datetime64",
        "timedelta64",
        "object",
        "object_",
        "bytes",
        "bytes_",
        "str",
        "str_",
        "unicode",
        "void",
        "a",
    ];
    if NAMES.contains(&ext) || NAMES[..2].contains(&code) {
        return true;
    }
    let mut chars = code.chars();
    match chars.next() {
        Some('S' | 'U' | 'V' | 'a' | 'M' | 'm' | 'O') => chars.all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Where an array sits in the TRX tree.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// `positions.3.<dtype>` at the root.
    Positions,
    /// `offsets.<dtype>` at the root.
    Offsets,
    /// `dps/<name>[.<dim>].<dtype>`: data per streamline.
    Dps,
    /// `dpv/<name>[.<dim>].<dtype>`: data per vertex.
    Dpv,
    /// `groups/<name>.<dtype>`: streamline indices.
    Group,
    /// `dpg/<group>/<name>[.<dim>].<dtype>`: data per group.
    Dpg(String),
}

/// A parsed member path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayName {
    /// Where it sits.
    pub role: Role,
    /// The name without dimension and dtype (`positions`, `algo`, `AF_L`, `mean`).
    pub base: String,
    /// The dimension (1 when the file name has no middle part).
    pub dim: u64,
    /// The element type.
    pub dtype: Dtype,
}

/// What to do with a member path that is not a TRX array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotArray {
    /// A `.json` file other than `header.json` (ignored by trx-python).
    Json,
    /// A file outside the TRX tree (unknown folder, or an unknown root name with a non-dtype
    /// extension such as `notes.txt`): trx-python logs or skips it; so do we (a warning).
    Stray,
}

/// Splits a member's file name into `(base, dim, dtype)` as trx-python's
/// `_split_ext_with_dimensionality` does (2 or 3 dot-separated parts, integer dim).
///
/// # Errors
/// [`TrxError::InvalidName`], [`TrxError::InvalidDim`], dtype errors of [`Dtype::parse`].
pub fn split_file_name(file_name: &str) -> Result<(String, u64, Dtype), TrxError> {
    let parts: Vec<&str> = file_name.split('.').collect();
    let (base, dim, ext) = match parts.as_slice() {
        [base, ext] => (*base, None, *ext),
        [base, dim, ext] => (*base, Some(*dim), *ext),
        _ => return Err(TrxError::InvalidName(file_name.to_string())),
    };
    if base.is_empty() {
        return Err(TrxError::InvalidName(file_name.to_string()));
    }
    let dtype = Dtype::parse(ext)?;
    let dim = match dim {
        None => 1,
        Some(d) => match d.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return Err(TrxError::InvalidDim(d.to_string())),
        },
    };
    Ok((base.to_string(), dim, dtype))
}

/// Classifies a member path (`/`-separated, relative to the TRX root).
///
/// `Ok(Err(NotArray))` for files that are not arrays, `Err` for a file inside the TRX tree whose
/// name is invalid (dotted name, bad dimension, unknown dtype).
///
/// # Errors
/// As [`split_file_name`].
pub fn classify(path: &str) -> Result<Result<ArrayName, NotArray>, TrxError> {
    let parts: Vec<&str> = path.split('/').collect();
    let file = parts.last().copied().unwrap_or_default();
    if file.ends_with(".json") {
        return Ok(Err(NotArray::Json));
    }
    let role = match parts.as_slice() {
        [f] => {
            let stem = f.split('.').next().unwrap_or_default();
            match stem {
                "positions" => Role::Positions,
                "offsets" => Role::Offsets,
                _ => {
                    // trx-python: an unknown root file loads if its extension is a dtype (and is
                    // then logged as not part of the structure); otherwise it is skipped.
                    return Ok(Err(NotArray::Stray));
                }
            }
        }
        ["dps", _] => Role::Dps,
        ["dpv", _] => Role::Dpv,
        ["groups", _] => Role::Group,
        ["dpg", g, _] if !g.is_empty() => Role::Dpg((*g).to_string()),
        _ => return Ok(Err(NotArray::Stray)),
    };
    let (base, dim, dtype) = split_file_name(file)?;
    if (role == Role::Positions || role == Role::Offsets) && base != stem_of(file) {
        return Ok(Err(NotArray::Stray));
    }
    Ok(Ok(ArrayName {
        role,
        base,
        dim,
        dtype,
    }))
}

fn stem_of(file: &str) -> &str {
    file.split('.').next().unwrap_or_default()
}

/// Whether `name` can be an array, group or dpg folder name: non-empty, no `.` (the dtype
/// separator), no `/` or `\` (folders), no NUL.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['.', '/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_like_trx_python() {
        assert_eq!(
            split_file_name("positions.3.float16").unwrap(),
            ("positions".into(), 3, Dtype::F16)
        );
        assert_eq!(
            split_file_name("algo.uint8").unwrap(),
            ("algo".into(), 1, Dtype::U8)
        );
        assert_eq!(
            split_file_name("x.bit").unwrap(),
            ("x".into(), 1, Dtype::Bool)
        );
        assert_eq!(
            split_file_name("a.b.c.float32"),
            Err(TrxError::InvalidName("a.b.c.float32".into()))
        );
        assert_eq!(
            split_file_name("noext"),
            Err(TrxError::InvalidName("noext".into()))
        );
        assert_eq!(
            split_file_name("x.three.float32"),
            Err(TrxError::InvalidDim("three".into()))
        );
        assert_eq!(
            split_file_name("x.0.float32"),
            Err(TrxError::InvalidDim("0".into()))
        );
        assert_eq!(
            split_file_name("x.float33"),
            Err(TrxError::UnknownDtype("float33".into()))
        );
        assert_eq!(
            split_file_name("x.S8"),
            Err(TrxError::UnsupportedDtype("S8".into()))
        );
    }

    #[test]
    fn classify_tree() {
        let a = classify("dpg/AF_L/mean.3.float32").unwrap().unwrap();
        assert_eq!(a.role, Role::Dpg("AF_L".into()));
        assert_eq!((a.base.as_str(), a.dim), ("mean", 3));
        assert_eq!(classify("notes.txt").unwrap(), Err(NotArray::Stray));
        assert_eq!(classify("foo/x.float32").unwrap(), Err(NotArray::Stray));
        assert_eq!(classify("dpv/sub/x.float32").unwrap(), Err(NotArray::Stray));
        assert_eq!(classify("meta.json").unwrap(), Err(NotArray::Json));
        assert!(classify("dps/a.b.c.float32").is_err());
        assert!(classify("positions.3.float33").is_err());
    }

    #[test]
    fn reads_are_little_endian_and_bounded() {
        let b = [0x00, 0x3c, 0xff, 0xff];
        assert_eq!(Dtype::F16.read_f64(&b, 0), Some(1.0));
        assert_eq!(Dtype::I16.read_int(&b, 1), Some(-1));
        assert_eq!(Dtype::U16.read_int(&b, 1), Some(65535));
        assert_eq!(Dtype::U16.read_int(&b, 2), None);
        assert_eq!(Dtype::U32.read_int(&b, usize::MAX), None);
        assert_eq!(Dtype::C64.read_f64(&[0; 8], 0), None);
    }
}
