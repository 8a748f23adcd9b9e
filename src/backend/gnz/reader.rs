//! Reading a `GNZ1` container: preamble, JSON header, arrays at their recorded offsets.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::dtype::{DType, Scalar};
use super::json::replace_python_constants;
use super::{backend_error, GnzError, Order, ALIGN, MAGIC, PREAMBLE};
use crate::error::{Error, Result};
use crate::mmap::{self, Bytes};

/// One array of the header: name, numpy type, logical shape, memory order, absolute offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayInfo {
    /// Key in the header's `arrays` object.
    pub name: String,
    /// numpy `dtype.str`.
    pub dtype: DType,
    /// Logical shape (`[]` for a 0-d array of one element).
    pub shape: Vec<u64>,
    /// `C` (row-major) or `F` (column-major) byte layout.
    pub order: Order,
    /// Absolute file offset of the first byte.
    pub offset: u64,
    /// `prod(shape) × itemsize`.
    pub nbytes: u64,
}

impl ArrayInfo {
    /// Number of elements, `prod(shape)` (1 for a 0-d array); saturates at `u64::MAX` (only
    /// reachable for 0-byte item types such as `|V0`).
    pub fn len(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }

    /// True when the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape as numpy prints it: `()`, `(3,)`, `(2, 3)`.
    pub fn shape_text(&self) -> String {
        let parts: Vec<String> = self.shape.iter().map(u64::to_string).collect();
        match parts.len() {
            1 => format!("({},)", parts[0]),
            _ => format!("({})", parts.join(", ")),
        }
    }
}

/// A `GNZ1` container, memory-mapped (or in memory). Opening checks the preamble, parses the
/// header and checks every array's type, shape and bounds; no array byte is read.
#[derive(Debug)]
pub struct GnzFile {
    path: PathBuf,
    bytes: Bytes,
    header_len: u64,
    data_start: u64,
    version: Value,
    metadata: Map<String, Value>,
    /// Sorted by offset (on-disk order), empty arrays before a non-empty one at their offset.
    arrays: Vec<ArrayInfo>,
    by_name: HashMap<String, usize>,
}

impl GnzFile {
    /// Maps and opens `path`.
    ///
    /// # Errors
    /// [`crate::Error::Open`]; [`crate::Error::Format`] with a [`GnzError`] naming the byte
    /// offset or array for a damaged or unsupported file.
    ///
    /// # Examples
    /// ```
    /// use inframed::backend::gnz::GnzFile;
    /// let f = GnzFile::open("testdata/gnz/dtypes.gnz")?;
    /// let v = f.array::<f64>("f8")?;
    /// assert_eq!(v[2], 1e300);
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<GnzFile> {
        let path = path.as_ref();
        GnzFile::parse(path.to_path_buf(), mmap::map(path)?)
    }

    /// Opens a container held in memory (errors name `<memory>`).
    ///
    /// # Errors
    /// As [`GnzFile::open`].
    pub fn from_bytes(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<GnzFile> {
        GnzFile::parse(PathBuf::from("<memory>"), Bytes::from_owned(data))
    }

    fn parse(path: PathBuf, bytes: Bytes) -> Result<GnzFile> {
        let parsed = parse_header(bytes.as_slice());
        let h = parsed.map_err(|(at, e)| Error::format(&path, at.offset, at.text, e))?;
        Ok(GnzFile {
            path,
            bytes,
            header_len: h.header_len,
            data_start: h.data_start,
            version: h.version,
            metadata: h.metadata,
            arrays: h.arrays,
            by_name: h.by_name,
        })
    }

    /// The file (or `<memory>`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Length of the JSON text (the preamble's u32).
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// Where the header pages end: `ceil((8 + header_len) / 4096) × 4096`.
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// The header's `version` (`1`, or `"1.0.0"`).
    pub fn version(&self) -> &Value {
        &self.version
    }

    /// The header's `metadata` object. Non-finite floats Python wrote as `NaN` / `Infinity`
    /// read as `null`.
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.metadata
    }

    /// Every array, in on-disk order (ascending offsets).
    pub fn arrays(&self) -> &[ArrayInfo] {
        &self.arrays
    }

    /// The array `name`.
    ///
    /// # Errors
    /// [`GnzError::NoSuchArray`].
    pub fn info(&self, name: &str) -> Result<&ArrayInfo> {
        self.by_name
            .get(name)
            .map(|&i| &self.arrays[i])
            .ok_or_else(|| self.error(name, GnzError::NoSuchArray(name.to_string())))
    }

    fn error(&self, name: &str, e: GnzError) -> crate::Error {
        backend_error(&self.path, format!("array {name:?}"), e)
    }

    /// The array's bytes as stored (its dtype's byte order, its memory order).
    ///
    /// # Errors
    /// [`GnzError::NoSuchArray`].
    pub fn raw(&self, name: &str) -> Result<&[u8]> {
        let a = self.info(name)?;
        Ok(self.raw_of(a))
    }

    /// Bytes of an array already looked up (bounds were checked at open).
    pub fn raw_of(&self, a: &ArrayInfo) -> &[u8] {
        let (start, end) = (a.offset as usize, (a.offset + a.nbytes) as usize);
        self.bytes.as_slice().get(start..end).unwrap_or(&[])
    }

    /// The array's elements in memory order (row-major for `C`, column-major for `F`) as
    /// `T`: borrowed from the map when the dtype is little-endian (or 1-byte) and the bytes
    /// are aligned for `T` (always for a mapped file: offsets are 4096-aligned), byte-swapped
    /// into a copy for big-endian dtypes.
    ///
    /// # Errors
    /// [`GnzError::NoSuchArray`]; [`GnzError::TypeMismatch`] when `T` is not the dtype.
    pub fn array<T: Scalar>(&self, name: &str) -> Result<Cow<'_, [T]>> {
        let a = self.info(name)?;
        self.typed(a, self.raw_of(a))
    }

    /// The array's elements in logical row-major (C) order, whatever its memory order: a
    /// copy for `F` arrays of rank ≥ 2, else as [`GnzFile::array`].
    ///
    /// # Errors
    /// As [`GnzFile::array`].
    pub fn array_c_order<T: Scalar>(&self, name: &str) -> Result<Cow<'_, [T]>> {
        let a = self.info(name)?;
        let bytes = self.c_order_bytes(a);
        match bytes {
            Cow::Borrowed(b) => self.typed(a, b),
            Cow::Owned(b) => Ok(Cow::Owned(self.typed(a, &b)?.into_owned())),
        }
    }

    /// The array's bytes in logical row-major order (each element's bytes as stored).
    pub fn c_order_bytes(&self, a: &ArrayInfo) -> Cow<'_, [u8]> {
        let raw = self.raw_of(a);
        let trivial = a.shape.iter().filter(|&&d| d > 1).count() <= 1;
        if a.order == Order::C || trivial || a.nbytes == 0 {
            return Cow::Borrowed(raw);
        }
        Cow::Owned(fortran_to_c(raw, &a.shape, a.dtype.itemsize()))
    }

    fn typed<'a, T: Scalar>(&self, a: &ArrayInfo, raw: &'a [u8]) -> Result<Cow<'a, [T]>> {
        if !T::matches(&a.dtype) {
            return Err(self.error(
                &a.name,
                GnzError::TypeMismatch {
                    dtype: a.dtype.as_str().to_string(),
                    requested: T::NAME,
                },
            ));
        }
        if a.dtype.is_swapped() {
            let mut v = raw.to_vec();
            for c in v.chunks_exact_mut(size_of::<T>()) {
                c.reverse();
            }
            return Ok(Cow::Owned(bytemuck::pod_collect_to_vec(&v)));
        }
        match bytemuck::try_cast_slice::<u8, T>(raw) {
            Ok(s) => Ok(Cow::Borrowed(s)),
            Err(_) => Ok(Cow::Owned(bytemuck::pod_collect_to_vec(raw))),
        }
    }
}

/// Reorders column-major element bytes of `shape` into row-major order.
fn fortran_to_c(raw: &[u8], shape: &[u64], itemsize: usize) -> Vec<u8> {
    let n: u64 = shape.iter().product();
    let mut out = Vec::with_capacity(raw.len());
    // Column-major strides in elements.
    let mut strides = vec![1u64; shape.len()];
    for d in 1..shape.len() {
        strides[d] = strides[d - 1] * shape[d - 1];
    }
    let mut index = vec![0u64; shape.len()];
    let mut f_off = 0u64;
    for _ in 0..n {
        let at = f_off as usize * itemsize;
        out.extend_from_slice(raw.get(at..at + itemsize).unwrap_or(&[]));
        // Advance the row-major multi-index (last axis fastest), keeping f_off in step.
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            f_off += strides[d];
            if index[d] < shape[d] {
                break;
            }
            f_off -= strides[d] * shape[d];
            index[d] = 0;
        }
    }
    out
}

struct Header {
    header_len: u64,
    data_start: u64,
    version: Value,
    metadata: Map<String, Value>,
    arrays: Vec<ArrayInfo>,
    by_name: HashMap<String, usize>,
}

type HeaderError = (Place, GnzError);

/// Where in the file a header problem is: a byte offset (and its text), or a named part.
struct Place {
    offset: Option<u64>,
    text: String,
}

impl From<String> for Place {
    fn from(text: String) -> Place {
        Place { offset: None, text }
    }
}

fn at(offset: u64) -> Place {
    Place {
        offset: Some(offset),
        text: format!("byte {offset}"),
    }
}

fn parse_header(b: &[u8]) -> std::result::Result<Header, HeaderError> {
    let file_len = b.len() as u64;
    let Some((magic, rest)) = b.split_first_chunk::<4>() else {
        return Err((at(0), GnzError::TruncatedPreamble { len: file_len }));
    };
    let Some((len_bytes, _)) = rest.split_first_chunk::<4>() else {
        return Err((at(0), GnzError::TruncatedPreamble { len: file_len }));
    };
    if magic != MAGIC {
        return Err((at(0), GnzError::BadMagic { found: *magic }));
    }
    let header_len = u32::from_le_bytes(*len_bytes) as u64;
    let header_end = PREAMBLE + header_len;
    let Some(text) = b.get(PREAMBLE as usize..header_end as usize) else {
        return Err((
            at(4),
            GnzError::HeaderBeyondEof {
                header_len,
                file_len,
            },
        ));
    };
    let data_start = header_end.div_ceil(ALIGN).max(1) * ALIGN;
    let json_error = |e: serde_json::Error| {
        let offset = PREAMBLE + line_column_offset(text, e.line(), e.column());
        (at(offset), GnzError::Json(e.to_string()))
    };
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => match replace_python_constants(text) {
            Some(fixed) => serde_json::from_slice(&fixed).map_err(json_error)?,
            None => return Err(json_error(e)),
        },
    };
    let header_ctx = || Place::from(format!("header (bytes {PREAMBLE}..{header_end})"));
    let Value::Object(mut top) = value else {
        return Err((header_ctx(), GnzError::NotAnObject("header")));
    };
    let mut take = |key: &'static str| {
        top.remove(key)
            .ok_or_else(|| (header_ctx(), GnzError::MissingKey(key)))
    };
    let version = take("version")?;
    let metadata = take("metadata")?;
    let arrays_value = take("arrays")?;
    let version_ok = version.as_u64() == Some(1) || version.as_str() == Some("1.0.0");
    if !version_ok {
        return Err((header_ctx(), GnzError::Version(version.to_string())));
    }
    let Value::Object(metadata) = metadata else {
        return Err((header_ctx(), GnzError::NotAnObject("metadata")));
    };
    let Value::Object(entries) = arrays_value else {
        return Err((header_ctx(), GnzError::NotAnObject("arrays")));
    };
    let mut arrays = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let ctx = Place::from(format!("array {name:?}"));
        let a = parse_array(name, entry, data_start, file_len).map_err(|e| (ctx, e))?;
        arrays.push(a);
    }
    arrays.sort_by_key(|a| (a.offset, a.nbytes > 0));
    let mut last: Option<&ArrayInfo> = None;
    for a in arrays.iter().filter(|a| a.nbytes > 0) {
        if let Some(p) = last {
            if a.offset < p.offset + p.nbytes {
                return Err((
                    format!("array {:?}", a.name).into(),
                    GnzError::Overlap {
                        other: p.name.clone(),
                        offset: a.offset,
                    },
                ));
            }
        }
        last = Some(a);
    }
    let by_name = arrays
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.clone(), i))
        .collect();
    Ok(Header {
        header_len,
        data_start,
        version,
        metadata,
        arrays,
        by_name,
    })
}

fn parse_array(
    name: String,
    entry: Value,
    data_start: u64,
    file_len: u64,
) -> std::result::Result<ArrayInfo, GnzError> {
    let Value::Object(e) = entry else {
        return Err(GnzError::NotAnObject("array entry"));
    };
    let get = |key: &'static str| e.get(key).ok_or(GnzError::MissingKey(key));
    let dtype = get("dtype")?
        .as_str()
        .ok_or(GnzError::WrongType {
            key: "dtype",
            expected: "a string",
        })
        .and_then(DType::parse)?;
    let offset = get("offset")?.as_u64().ok_or(GnzError::WrongType {
        key: "offset",
        expected: "a non-negative integer",
    })?;
    let order = match get("order")?.as_str() {
        Some("C") => Order::C,
        Some("F") => Order::F,
        _ => return Err(GnzError::BadOrder(get("order")?.to_string())),
    };
    let shape_wrong = GnzError::WrongType {
        key: "shape",
        expected: "a list of non-negative integers",
    };
    let shape: Vec<u64> = match get("shape")? {
        Value::Array(dims) => dims
            .iter()
            .map(|d| d.as_u64().ok_or(shape_wrong.clone()))
            .collect::<std::result::Result<_, _>>()?,
        _ => return Err(shape_wrong),
    };
    let nbytes = shape
        .iter()
        .try_fold(dtype.itemsize() as u64, |acc, &d| acc.checked_mul(d))
        .ok_or(GnzError::SizeOverflow)?;
    if offset % ALIGN != 0 {
        return Err(GnzError::Misaligned { offset });
    }
    if offset < data_start {
        return Err(GnzError::OffsetInHeader { offset, data_start });
    }
    let end = offset.checked_add(nbytes).ok_or(GnzError::SizeOverflow)?;
    if end > file_len {
        return Err(GnzError::BeyondEof {
            offset,
            nbytes,
            file_len,
        });
    }
    Ok(ArrayInfo {
        name,
        dtype,
        shape,
        order,
        offset,
        nbytes,
    })
}

/// Byte offset in `text` of serde_json's 1-based line and column.
fn line_column_offset(text: &[u8], line: usize, column: usize) -> u64 {
    let mut line_start = 0usize;
    for _ in 1..line {
        match text[line_start..].iter().position(|&c| c == b'\n') {
            Some(p) => line_start += p + 1,
            None => break,
        }
    }
    (line_start + column.saturating_sub(1)).min(text.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_reorder() {
        // A 2x3 array [[0,1,2],[3,4,5]] stored column-major: 0 3 1 4 2 5.
        let raw = [0u8, 3, 1, 4, 2, 5];
        assert_eq!(fortran_to_c(&raw, &[2, 3], 1), vec![0, 1, 2, 3, 4, 5]);
        // 2x2x2: element (i,j,k) at F offset i + 2j + 4k holds value 4i + 2j + k.
        let mut f = [0u8; 8];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    f[i + 2 * j + 4 * k] = (4 * i + 2 * j + k) as u8;
                }
            }
        }
        assert_eq!(fortran_to_c(&f, &[2, 2, 2], 1), (0..8).collect::<Vec<u8>>());
        assert!(fortran_to_c(&[], &[0, 3], 4).is_empty());
    }

    #[test]
    fn zero_size_items_with_huge_shapes() {
        // `|V0` of shape 2^40 x 2^40 in F order: 0 bytes, no overflow, no endless re-layout.
        let hdr = r#"{"arrays": {"v": {"dtype": "|V0", "offset": 4096, "order": "F", "shape": [1099511627776, 1099511627776]}}, "metadata": {}, "version": 1}"#;
        let mut b = b"GNZ1".to_vec();
        b.extend_from_slice(&(hdr.len() as u32).to_le_bytes());
        b.extend_from_slice(hdr.as_bytes());
        b.resize(4096, 0);
        let f = GnzFile::from_bytes(b).unwrap();
        let a = f.info("v").unwrap();
        assert_eq!((a.nbytes, a.len()), (0, u64::MAX));
        assert!(f.c_order_bytes(a).is_empty());
    }

    #[test]
    fn json_error_offsets() {
        assert_eq!(line_column_offset(b"{\"a\": x}", 1, 7), 6);
        assert_eq!(line_column_offset(b"{\n\"a\": x}", 2, 6), 7);
    }
}
