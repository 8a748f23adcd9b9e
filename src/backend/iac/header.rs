//! The 64 KiB fixed header: magic, JSON length, version, header JSON (read and written).

use serde_json::{Map, Value};

use super::error::IacError;

/// `IATROC\0\x02`: all 8 bytes are the magic.
pub const MAGIC: [u8; 8] = *b"IATROC\x00\x02";
/// Size of the fixed header; the slide table starts here.
pub const HEADER_BYTES: u64 = 65536;
/// The on-disk format version (the u32 at offset 12).
pub const FORMAT_VERSION: u32 = 2;
/// Largest header JSON: 65536 − 16.
pub const MAX_HEADER_JSON: usize = HEADER_BYTES as usize - 16;

/// The layout keys of the header, checked against each other and the file size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackLayout {
    /// Slide table IPC stream length (it starts at 65536).
    pub slide_table_length: u64,
    /// Absolute start of the index table IPC stream.
    pub index_table_offset: u64,
    /// Index table IPC stream length.
    pub index_table_length: u64,
    /// Absolute start of the data segment.
    pub data_offset: u64,
    /// Data segment length.
    pub data_length: u64,
}

impl PackLayout {
    /// `[start, end)` of the slide table in the file.
    pub fn slide_span(&self) -> (u64, u64) {
        (HEADER_BYTES, HEADER_BYTES + self.slide_table_length)
    }

    /// `[start, end)` of the index table in the file.
    pub fn index_span(&self) -> (u64, u64) {
        (
            self.index_table_offset,
            self.index_table_offset + self.index_table_length,
        )
    }

    /// `[start, end)` of the data segment in the file.
    pub fn data_span(&self) -> (u64, u64) {
        (self.data_offset, self.data_offset + self.data_length)
    }
}

/// The header keys the original writers put besides the layout, typed (each `None` when
/// absent or of another JSON type; the full object stays available as JSON).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownKeys {
    /// `format` (`"IatroCache"`; not checked by readers).
    pub format: Option<String>,
    /// `version`, the JSON copy (the u32 at offset 12 is what is checked).
    pub version: Option<u64>,
    /// `num_slides`.
    pub num_slides: Option<u64>,
    /// `num_records`.
    pub num_records: Option<u64>,
    /// `payload_type` (`raw_bytes`, `clinical_text_pair`, …).
    pub payload_type: Option<String>,
    /// `codec` (absent means `none`).
    pub codec: Option<String>,
    /// `codec_params`.
    pub codec_params: Option<Map<String, Value>>,
    /// `feature_dim` (fixed-width packs).
    pub feature_dim: Option<u64>,
    /// `dtype` (fixed-width packs, a numpy name).
    pub dtype: Option<String>,
    /// `feature_record_bytes` (fixed-width packs).
    pub feature_record_bytes: Option<u64>,
    /// `text_schema_version` (clinical_text).
    pub text_schema_version: Option<u64>,
    /// `pair_schema_version` (clinical_text_pair).
    pub pair_schema_version: Option<u64>,
}

impl KnownKeys {
    /// Reads the known keys of a header object.
    pub fn of(h: &Map<String, Value>) -> KnownKeys {
        let s = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_string);
        let u = |k: &str| h.get(k).and_then(Value::as_u64);
        KnownKeys {
            format: s("format"),
            version: u("version"),
            num_slides: u("num_slides"),
            num_records: u("num_records"),
            payload_type: s("payload_type"),
            codec: s("codec"),
            codec_params: h.get("codec_params").and_then(Value::as_object).cloned(),
            feature_dim: u("feature_dim"),
            dtype: s("dtype"),
            feature_record_bytes: u("feature_record_bytes"),
            text_schema_version: u("text_schema_version"),
            pair_schema_version: u("pair_schema_version"),
        }
    }
}

/// An error at a byte offset of the file.
pub(crate) type AtOffset = (u64, IacError);

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// Validates the fixed header of a file of `bytes` exactly as the original native reader does,
/// in its order (size, magic, version, JSON length, JSON, layout keys, spans, equalities), and
/// returns the header object and its layout.
///
/// # Errors
/// The first failed check, with the byte offset it concerns.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<(Map<String, Value>, PackLayout), AtOffset> {
    let file_size = bytes.len() as u64;
    if file_size < HEADER_BYTES {
        return Err((file_size, IacError::TooSmall { len: file_size }));
    }
    let magic: [u8; 8] = match bytes.first_chunk::<8>() {
        Some(m) => *m,
        None => return Err((0, IacError::TooSmall { len: file_size })),
    };
    if magic != MAGIC {
        return Err((0, IacError::Magic(magic)));
    }
    let header_len = u32_at(bytes, 8).ok_or((8, IacError::TooSmall { len: file_size }))?;
    let version = u32_at(bytes, 12).ok_or((12, IacError::TooSmall { len: file_size }))?;
    if version != FORMAT_VERSION {
        return Err((12, IacError::Version(version)));
    }
    if header_len as usize > MAX_HEADER_JSON {
        return Err((8, IacError::HeaderLength(header_len)));
    }
    let json_bytes = bytes
        .get(16..16 + header_len as usize)
        .ok_or((16, IacError::TooSmall { len: file_size }))?;
    let text = std::str::from_utf8(json_bytes)
        .map_err(|e| (16 + e.valid_up_to() as u64, IacError::HeaderUtf8(e)))?;
    let value: Value = serde_json::from_str(text).map_err(|e| (16, IacError::HeaderJson(e)))?;
    let Value::Object(map) = value else {
        return Err((16, IacError::HeaderNotObject));
    };
    let get = |key: &'static str| -> Result<u64, AtOffset> {
        map.get(key)
            .and_then(Value::as_u64)
            .ok_or((16, IacError::MissingField(key)))
    };
    let header_bytes = get("header_bytes")?;
    let slide_table_offset = get("slide_table_offset")?;
    let slide_table_length = get("slide_table_length")?;
    let index_table_offset = get("index_table_offset")?;
    let index_table_length = get("index_table_length")?;
    let data_offset = get("data_offset")?;
    let data_length = get("data_length")?;
    let field = |field, found, expected| {
        (
            16,
            IacError::LayoutField {
                field,
                found,
                expected,
            },
        )
    };
    if header_bytes != HEADER_BYTES {
        return Err(field("header_bytes", header_bytes, HEADER_BYTES));
    }
    if slide_table_offset != HEADER_BYTES {
        return Err(field(
            "slide_table_offset",
            slide_table_offset,
            HEADER_BYTES,
        ));
    }
    let check_span = |segment, offset: u64, length: u64| match offset.checked_add(length) {
        Some(end) if end <= file_size => Ok(()),
        _ => Err((
            offset,
            IacError::SegmentOutOfBounds {
                segment,
                offset,
                length,
                file_size,
            },
        )),
    };
    check_span("slide_table", slide_table_offset, slide_table_length)?;
    check_span("index_table", index_table_offset, index_table_length)?;
    // Both spans are inside the file, so these sums cannot overflow.
    let expected_index = HEADER_BYTES + slide_table_length;
    if index_table_offset != expected_index {
        return Err(field(
            "index_table_offset",
            index_table_offset,
            expected_index,
        ));
    }
    let expected_data = index_table_offset + index_table_length;
    if data_offset != expected_data {
        return Err(field("data_offset", data_offset, expected_data));
    }
    check_span("data", data_offset, data_length)?;
    Ok((
        map,
        PackLayout {
            slide_table_length,
            index_table_offset,
            index_table_length,
            data_offset,
            data_length,
        },
    ))
}

/// `value` with every object's keys in byte-wise UTF-8 order, at every level (the original
/// parses into a `BTreeMap`).
pub(crate) fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(m.len());
            for k in keys {
                out.insert(k.clone(), sorted(&m[k]));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        v => v.clone(),
    }
}

/// The header JSON as the original writes it: keys sorted at every level, 2-space pretty
/// print, raw UTF-8, no trailing newline (`serde_json::to_vec_pretty` of a `BTreeMap`).
pub fn header_json_bytes(header: &Map<String, Value>) -> Vec<u8> {
    let value = sorted(&Value::Object(header.clone()));
    // Serializing a `Value` to memory cannot fail.
    serde_json::to_vec_pretty(&value).unwrap_or_default()
}

/// The 65536 bytes of the fixed header for `json` (already serialized).
///
/// # Errors
/// [`IacError::HeaderTooLarge`] above 65520 bytes.
pub(crate) fn fixed_header(json: &[u8]) -> Result<Vec<u8>, IacError> {
    if json.len() > MAX_HEADER_JSON {
        return Err(IacError::HeaderTooLarge(json.len()));
    }
    let mut out = Vec::with_capacity(HEADER_BYTES as usize);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(json);
    out.resize(HEADER_BYTES as usize, 0);
    Ok(out)
}

/// Inserts the container's layout keys into the caller's header (overwriting caller keys of
/// the same names), as the original writer does.
pub(crate) fn with_layout(
    caller: &Map<String, Value>,
    slide_len: u64,
    index_len: u64,
    data_len: u64,
    num_slides: u64,
    num_records: u64,
) -> Map<String, Value> {
    let mut h = caller.clone();
    let index_offset = HEADER_BYTES + slide_len;
    let pairs: [(&str, Value); 11] = [
        ("format", Value::from("IatroCache")),
        ("version", Value::from(FORMAT_VERSION)),
        ("header_bytes", Value::from(HEADER_BYTES)),
        ("slide_table_offset", Value::from(HEADER_BYTES)),
        ("slide_table_length", Value::from(slide_len)),
        ("index_table_offset", Value::from(index_offset)),
        ("index_table_length", Value::from(index_len)),
        ("data_offset", Value::from(index_offset + index_len)),
        ("data_length", Value::from(data_len)),
        ("num_slides", Value::from(num_slides)),
        ("num_records", Value::from(num_records)),
    ];
    for (k, v) in pairs {
        h.insert(k.to_string(), v);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(json: &str, version: u32) -> Vec<u8> {
        let mut f = fixed_header(json.as_bytes()).unwrap();
        f[12..16].copy_from_slice(&version.to_le_bytes());
        f
    }

    fn layout_json(slide: u64, index: u64, data: u64) -> String {
        let h = with_layout(&Map::new(), slide, index, data, 0, 0);
        String::from_utf8(header_json_bytes(&h)).unwrap()
    }

    #[test]
    fn valid_minimal_header() {
        let mut f = file_with(&layout_json(0, 0, 3), 2);
        f.extend_from_slice(b"abc");
        let (map, layout) = parse_header(&f).unwrap();
        assert_eq!(map["format"], "IatroCache");
        assert_eq!(layout.data_offset, HEADER_BYTES);
        assert_eq!(layout.data_span(), (HEADER_BYTES, HEADER_BYTES + 3));
        // Trailing bytes are accepted.
        f.extend_from_slice(b"trailing");
        assert!(parse_header(&f).is_ok());
    }

    #[test]
    fn each_check_in_order() {
        let ok = layout_json(0, 0, 0);
        assert!(matches!(
            parse_header(&[0u8; 100]),
            Err((100, IacError::TooSmall { len: 100 }))
        ));
        let mut f = file_with(&ok, 2);
        f[7] = 3;
        assert!(matches!(parse_header(&f), Err((0, IacError::Magic(_)))));
        let f = file_with(&ok, 3);
        assert!(matches!(parse_header(&f), Err((12, IacError::Version(3)))));
        let mut f = file_with(&ok, 2);
        f[8..12].copy_from_slice(&65521u32.to_le_bytes());
        assert!(matches!(
            parse_header(&f),
            Err((8, IacError::HeaderLength(65521)))
        ));
        // Length past the JSON: the zero padding is parsed and rejected.
        let mut f = file_with(&ok, 2);
        f[8..12].copy_from_slice(&(ok.len() as u32 + 1).to_le_bytes());
        assert!(matches!(
            parse_header(&f),
            Err((16, IacError::HeaderJson(_)))
        ));
        let f = file_with("[1]", 2);
        assert!(matches!(
            parse_header(&f),
            Err((16, IacError::HeaderNotObject))
        ));
        let mut f = file_with("{\"a\": \"\u{e9}\"}", 2);
        f[23] = 0xff;
        assert!(matches!(
            parse_header(&f),
            Err((23, IacError::HeaderUtf8(_)))
        ));
        let bad = ok.replace("\"data_length\": 0", "\"data_length\": -1");
        assert!(matches!(
            parse_header(&file_with(&bad, 2)),
            Err((16, IacError::MissingField("data_length")))
        ));
        let bad = ok.replace("\"header_bytes\": 65536", "\"header_bytes\": 4096");
        assert!(matches!(
            parse_header(&file_with(&bad, 2)),
            Err((
                16,
                IacError::LayoutField {
                    field: "header_bytes",
                    ..
                }
            ))
        ));
        let f = file_with(&layout_json(0, 0, 5), 2);
        assert!(matches!(
            parse_header(&f),
            Err((
                65536,
                IacError::SegmentOutOfBounds {
                    segment: "data",
                    length: 5,
                    ..
                }
            ))
        ));
        let bad = layout_json(0, 0, 0).replace(
            "\"index_table_offset\": 65536",
            "\"index_table_offset\": 65535",
        );
        assert!(matches!(
            parse_header(&file_with(&bad, 2)),
            Err((
                16,
                IacError::LayoutField {
                    field: "index_table_offset",
                    ..
                }
            ))
        ));
        let huge = layout_json(0, 0, 0).replace(
            "\"slide_table_length\": 0",
            "\"slide_table_length\": 18446744073709551615",
        );
        assert!(matches!(
            parse_header(&file_with(&huge, 2)),
            Err((
                _,
                IacError::SegmentOutOfBounds {
                    segment: "slide_table",
                    ..
                }
            ))
        ));
    }

    #[test]
    fn too_large_header_is_an_error() {
        let big = vec![b' '; MAX_HEADER_JSON + 1];
        assert!(matches!(
            fixed_header(&big),
            Err(IacError::HeaderTooLarge(65521))
        ));
        assert_eq!(fixed_header(&big[1..]).unwrap().len(), 65536);
    }
}
