//! Slide and index tables: Arrow IPC *stream* bytes ⇄ schema + record batches.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::MetadataVersion;
use arrow_schema::{DataType, Schema, SchemaRef};

use super::error::IacError;

/// One table of a pack: its schema and record batches (none for a 0-row table; several for a
/// chunked table), as the IPC stream holds them.
#[derive(Clone, Debug)]
pub struct IpcTable {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

impl IpcTable {
    /// A table of these batches (all of `schema`).
    ///
    /// # Errors
    /// [`IacError::Column`] when a batch's schema differs from `schema`.
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<IpcTable, IacError> {
        for b in &batches {
            if b.schema().fields() != schema.fields() {
                return Err(IacError::Column {
                    column: String::new(),
                    problem: "record batch schema differs from the table schema".into(),
                });
            }
        }
        Ok(IpcTable { schema, batches })
    }

    /// A table of one batch.
    pub fn from_batch(batch: RecordBatch) -> IpcTable {
        IpcTable {
            schema: batch.schema(),
            batches: vec![batch],
        }
    }

    /// A 0-row table of `schema` (written as schema + end-of-stream, no batch).
    pub fn empty(schema: SchemaRef) -> IpcTable {
        IpcTable {
            schema,
            batches: Vec::new(),
        }
    }

    /// The schema (with its metadata).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The record batches in stream order.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Total rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Decodes an IPC stream (any number of batches, including none).
    ///
    /// # Errors
    /// [`IacError::Arrow`] for invalid IPC bytes.
    pub fn from_ipc_stream(bytes: &[u8]) -> Result<IpcTable, IacError> {
        check_stream(bytes)?;
        let decode = || -> Result<IpcTable, IacError> {
            let reader = StreamReader::try_new(bytes, None).map_err(IacError::Arrow)?;
            let schema = reader.schema();
            let batches = reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(IacError::Arrow)?;
            Ok(IpcTable { schema, batches })
        };
        // `check_stream` rejects the damage known to make arrow-ipc 60 panic; should some
        // other malformed body still do so, it is reported as an error, not a crash.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|_| {
            Err(ipc_err(
                "arrow-ipc could not decode a malformed stream".into(),
            ))
        })
    }

    /// Encodes as pyarrow does by default: IPC stream, metadata V5, 8-byte alignment, no body
    /// compression, one message per batch, end-of-stream marker.
    ///
    /// # Errors
    /// [`IacError::Arrow`].
    pub fn to_ipc_stream(&self) -> Result<Vec<u8>, IacError> {
        let options =
            IpcWriteOptions::try_new(8, false, MetadataVersion::V5).map_err(IacError::Arrow)?;
        let mut w = StreamWriter::try_new_with_options(Vec::new(), &self.schema, options)
            .map_err(IacError::Arrow)?;
        for b in &self.batches {
            w.write(b).map_err(IacError::Arrow)?;
        }
        w.finish().map_err(IacError::Arrow)?;
        w.into_inner().map_err(IacError::Arrow)
    }

    /// Position of the column `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.schema.index_of(name).ok()
    }

    /// The column `name` as non-negative integers, all batches concatenated.
    ///
    /// # Errors
    /// [`IacError::Column`] if it is not an integer column, holds nulls or negative values.
    pub fn u64_column(&self, name: &str) -> Result<Option<Vec<u64>>, IacError> {
        let Some(i) = self.column_index(name) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(self.num_rows());
        for b in &self.batches {
            append_u64(b.column(i), name, out.len(), &mut out)?;
        }
        Ok(Some(out))
    }

    /// This table with column `name` replaced in place (same position) by `values` as a
    /// nullable `ty` column (`UInt64` or `UInt32`), or appended if absent; the batch boundaries
    /// are kept (the original's `_replace_column`).
    pub(crate) fn replace_column(
        &self,
        name: &str,
        values: &[u64],
        ty: DataType,
    ) -> Result<IpcTable, IacError> {
        let field = arrow_schema::Field::new(name, ty.clone(), true);
        let pos = self.column_index(name);
        let mut fields: Vec<_> = self.schema.fields().iter().cloned().collect();
        match pos {
            Some(i) => fields[i] = Arc::new(field),
            None => fields.push(Arc::new(field)),
        }
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
        let build = |vals: &[u64]| -> Result<ArrayRef, IacError> {
            Ok(match ty {
                DataType::UInt64 => Arc::new(arrow_array::UInt64Array::from(vals.to_vec())),
                DataType::UInt32 => {
                    let v: Vec<u32> = vals
                        .iter()
                        .map(|&x| u32::try_from(x).map_err(|_| IacError::PayloadTooLarge(x)))
                        .collect::<Result<_, _>>()?;
                    Arc::new(arrow_array::UInt32Array::from(v))
                }
                _ => {
                    return Err(IacError::Column {
                        column: name.into(),
                        problem: format!("cannot write as {ty}"),
                    })
                }
            })
        };
        if self.batches.is_empty() {
            return if values.is_empty() {
                Ok(IpcTable::empty(schema))
            } else {
                Err(IacError::PayloadCount {
                    payloads: values.len() as u64,
                    rows: 0,
                })
            };
        }
        if values.len() != self.num_rows() {
            return Err(IacError::PayloadCount {
                payloads: values.len() as u64,
                rows: self.num_rows() as u64,
            });
        }
        let mut batches = Vec::with_capacity(self.batches.len());
        let mut at = 0usize;
        for b in &self.batches {
            let n = b.num_rows();
            let col = build(&values[at..at + n])?;
            at += n;
            let mut cols: Vec<ArrayRef> = b.columns().to_vec();
            match pos {
                Some(i) => cols[i] = col,
                None => cols.push(col),
            }
            batches.push(RecordBatch::try_new(schema.clone(), cols).map_err(IacError::Arrow)?);
        }
        Ok(IpcTable { schema, batches })
    }

    /// Row `row` as text cells (one per column), for `inframed ls`.
    pub fn row_cells(&self, mut row: usize) -> Vec<String> {
        for b in &self.batches {
            if row < b.num_rows() {
                return b.columns().iter().map(|c| format_cell(c, row)).collect();
            }
            row -= b.num_rows();
        }
        Vec::new()
    }
}

/// Largest decompressed size a compressed IPC buffer may declare (beyond it, the declared
/// size is taken as damage rather than allocated).
const MAX_DECOMPRESSED_BUFFER: i64 = 1 << 30;

/// The decompressed sizes all compressed buffers of one stream declare may add up to at most
/// this many times the stream's length (or [`MIN_DECOMPRESSED_BUDGET`]): `arrow-ipc` allocates
/// each declared size before decompressing, so a few bytes announcing gigabytes are refused.
const MAX_DECOMPRESSION_RATIO: u64 = 4096;

/// The least total decompressed size a stream may declare, whatever its length.
const MIN_DECOMPRESSED_BUDGET: u64 = 64 << 20;

fn ipc_err(what: String) -> IacError {
    IacError::Arrow(arrow_schema::ArrowError::IpcError(what))
}

/// Walks the messages of an IPC stream and checks what `arrow-ipc` trusts (and would panic
/// on): message and body spans inside the stream, every buffer inside its message body,
/// non-negative lengths and counts, sane declared sizes of compressed buffers.
fn check_stream(bytes: &[u8]) -> Result<(), IacError> {
    let mut pos = 0usize;
    let mut schema: Option<Schema> = None;
    let budget = (bytes.len() as u64)
        .saturating_mul(MAX_DECOMPRESSION_RATIO)
        .max(MIN_DECOMPRESSED_BUDGET);
    let mut declared_total = 0u64;
    let word = |at: usize| -> Result<i32, IacError> {
        bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(i32::from_le_bytes)
            .ok_or_else(|| ipc_err(format!("stream ends inside a message prefix at byte {at}")))
    };
    while pos < bytes.len() {
        let mut meta_len = word(pos)?;
        pos += 4;
        if meta_len == -1 {
            meta_len = word(pos)?;
            pos += 4;
        }
        if meta_len == 0 {
            return Ok(()); // end of stream
        }
        let meta_len = usize::try_from(meta_len)
            .map_err(|_| ipc_err(format!("negative metadata length at byte {}", pos - 4)))?;
        let meta = bytes
            .get(pos..pos.saturating_add(meta_len))
            .ok_or_else(|| {
                ipc_err(format!(
                    "message metadata at byte {pos} runs past the stream"
                ))
            })?;
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| ipc_err(format!("message at byte {pos}: {e}")))?;
        let body_start = pos + meta_len;
        let body_len = usize::try_from(message.bodyLength())
            .map_err(|_| ipc_err(format!("negative body length at byte {pos}")))?;
        let body = bytes
            .get(body_start..body_start.saturating_add(body_len))
            .ok_or_else(|| {
                ipc_err(format!(
                    "message body at byte {body_start} runs past the stream"
                ))
            })?;
        let mut fields = None;
        let batch = match message.header_type() {
            arrow_ipc::MessageHeader::Schema => {
                if let Some(fb) = message.header_as_schema() {
                    schema = Some(
                        arrow_ipc::convert::try_fb_to_schema(fb)
                            .map_err(|e| ipc_err(format!("schema at byte {pos}: {e}")))?,
                    );
                }
                None
            }
            arrow_ipc::MessageHeader::RecordBatch => {
                fields = schema.as_ref().map(|s| s.fields().clone());
                message.header_as_record_batch()
            }
            arrow_ipc::MessageHeader::DictionaryBatch => {
                message.header_as_dictionary_batch().and_then(|d| d.data())
            }
            _ => None,
        };
        if let Some(batch) = batch {
            let at = |what: &str| ipc_err(format!("record batch at byte {pos}: {what}"));
            if batch.length() < 0 {
                return Err(at("negative length"));
            }
            for node in batch.nodes().iter().flatten() {
                if node.length() < 0 || node.null_count() < 0 || node.null_count() > node.length() {
                    return Err(at("invalid field node"));
                }
            }
            let compressed = batch.compression().is_some();
            let mut spans = Vec::new();
            for b in batch.buffers().iter().flatten() {
                let (off, len) = (b.offset(), b.length());
                let span = usize::try_from(off)
                    .ok()
                    .zip(usize::try_from(len).ok())
                    .and_then(|(o, l)| body.get(o..o.checked_add(l)?));
                let span = span.ok_or_else(|| {
                    at(&format!(
                        "buffer {off}+{len} outside the {body_len}-byte body"
                    ))
                })?;
                if compressed && span.len() >= 8 {
                    let declared = i64::from_le_bytes(span[..8].try_into().unwrap_or([0; 8]));
                    if declared != -1 && !(0..=MAX_DECOMPRESSED_BUFFER).contains(&declared) {
                        return Err(at(&format!("compressed buffer declares {declared} bytes")));
                    }
                    declared_total = declared_total.saturating_add(declared.max(0) as u64);
                    if declared_total > budget {
                        return Err(at(&format!(
                            "compressed buffers declare {declared_total} bytes in all, more \
                             than {budget} for a {}-byte stream",
                            bytes.len()
                        )));
                    }
                }
                spans.push(span.len());
            }
            if let (Some(fields), false) = (fields, compressed) {
                let nodes: Vec<(usize, usize)> = batch
                    .nodes()
                    .iter()
                    .flatten()
                    .map(|n| (n.length() as usize, n.null_count() as usize))
                    .collect();
                check_flat_buffers(&fields, &nodes, &spans).map_err(|w| at(&w))?;
            }
        }
        pos = body_start + body_len;
    }
    Ok(())
}

/// For the leading flat columns (primitive, boolean, (large) string / binary, fixed-size
/// binary), checks each buffer's size against its field node, as `arrow-ipc` 60 does not before
/// viewing it as a typed slice (a size that is not a whole number of values panics there).
/// Stops at the first nested or other type, whose buffer layout it does not model.
fn check_flat_buffers(
    fields: &arrow_schema::Fields,
    nodes: &[(usize, usize)],
    buffers: &[usize],
) -> Result<(), String> {
    let mut b = 0usize;
    for (i, f) in fields.iter().enumerate() {
        let Some(&(len, nulls)) = nodes.get(i) else {
            return Err(format!("no field node for column {}", f.name()));
        };
        let mut next = || {
            let x = buffers.get(b).copied();
            b += 1;
            x.ok_or_else(|| format!("column {}: missing buffer", f.name()))
        };
        let bitmap = len.div_ceil(8);
        let need = |what: &str, have: usize, min: usize, unit: usize| {
            if have < min || (have > 0 && unit > 1 && have % unit != 0) {
                Err(format!(
                    "column {}: {what} buffer of {have} bytes for {len} values",
                    f.name()
                ))
            } else {
                Ok(())
            }
        };
        let fixed = match f.data_type() {
            DataType::Boolean => Some(0),
            DataType::FixedSizeBinary(w) if *w >= 0 => Some(*w as usize),
            t if t.is_primitive() => t.primitive_width(),
            _ => None,
        };
        let validity = |have: usize| {
            if have > 0 || nulls > 0 {
                need("validity", have, bitmap, 1)
            } else {
                Ok(())
            }
        };
        match f.data_type() {
            DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary => {
                let w = if matches!(f.data_type(), DataType::Utf8 | DataType::Binary) {
                    4
                } else {
                    8
                };
                validity(next()?)?;
                let offsets = next()?;
                if len > 0 || offsets > 0 {
                    need("offsets", offsets, (len + 1) * w, w)?;
                }
                next()?;
            }
            DataType::Boolean => {
                validity(next()?)?;
                need("values", next()?, bitmap, 1)?;
            }
            _ => match fixed {
                Some(w) => {
                    validity(next()?)?;
                    need("values", next()?, len.saturating_mul(w), w)?;
                }
                None => return Ok(()),
            },
        }
    }
    Ok(())
}

fn append_u64(col: &ArrayRef, name: &str, base: usize, out: &mut Vec<u64>) -> Result<(), IacError> {
    let bad = |problem: String| IacError::Column {
        column: name.into(),
        problem,
    };
    if col.null_count() > 0 {
        let row = (0..col.len()).find(|&r| col.is_null(r)).unwrap_or(0) + base;
        return Err(bad(format!("null at row {row}")));
    }
    macro_rules! signed {
        ($t:ty) => {{
            for (r, v) in col.as_primitive::<$t>().values().iter().enumerate() {
                let v = u64::try_from(*v)
                    .map_err(|_| bad(format!("negative value {v} at row {}", r + base)))?;
                out.push(v);
            }
        }};
    }
    macro_rules! unsigned {
        ($t:ty) => {{
            out.extend(
                col.as_primitive::<$t>()
                    .values()
                    .iter()
                    .map(|&v| u64::from(v)),
            );
        }};
    }
    match col.data_type() {
        DataType::Int8 => signed!(Int8Type),
        DataType::Int16 => signed!(Int16Type),
        DataType::Int32 => signed!(Int32Type),
        DataType::Int64 => signed!(Int64Type),
        DataType::UInt8 => unsigned!(UInt8Type),
        DataType::UInt16 => unsigned!(UInt16Type),
        DataType::UInt32 => unsigned!(UInt32Type),
        DataType::UInt64 => unsigned!(UInt64Type),
        other => return Err(bad(format!("type {other} is not an integer type"))),
    }
    Ok(())
}

/// Escapes tabs, newlines and backslashes so that one cell stays one field of a line.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// One cell as text: integers and floats as numbers, strings escaped, binary as `0x…` hex,
/// nulls as `null`; other types as `<type>`.
fn format_cell(col: &ArrayRef, row: usize) -> String {
    if col.is_null(row) {
        return "null".into();
    }
    macro_rules! num {
        ($t:ty) => {
            col.as_primitive::<$t>().value(row).to_string()
        };
    }
    match col.data_type() {
        DataType::Int8 => num!(Int8Type),
        DataType::Int16 => num!(Int16Type),
        DataType::Int32 => num!(Int32Type),
        DataType::Int64 => num!(Int64Type),
        DataType::UInt8 => num!(UInt8Type),
        DataType::UInt16 => num!(UInt16Type),
        DataType::UInt32 => num!(UInt32Type),
        DataType::UInt64 => num!(UInt64Type),
        DataType::Float16 => num!(Float16Type),
        DataType::Float32 => num!(Float32Type),
        DataType::Float64 => num!(Float64Type),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        DataType::Utf8 => escape(col.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => escape(col.as_string::<i64>().value(row)),
        DataType::Utf8View => escape(col.as_string_view().value(row)),
        DataType::Binary => hex(col.as_binary::<i32>().value(row)),
        DataType::LargeBinary => hex(col.as_binary::<i64>().value(row)),
        DataType::FixedSizeBinary(_) => hex(col.as_fixed_size_binary().value(row)),
        other => format!("<{other}>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, UInt8Array};

    fn two_batches() -> IpcTable {
        let b1 = RecordBatch::try_from_iter([
            (
                "k",
                Arc::new(StringArray::from(vec!["a\tb", "é"])) as ArrayRef,
            ),
            ("n", Arc::new(UInt8Array::from(vec![1, 2])) as ArrayRef),
        ])
        .unwrap();
        let b2 = b1.slice(1, 1);
        IpcTable::new(b1.schema(), vec![b1, b2]).unwrap()
    }

    #[test]
    fn ipc_round_trip_keeps_batches() {
        let t = two_batches();
        let bytes = t.to_ipc_stream().unwrap();
        assert_eq!(&bytes[..4], &[0xff; 4]);
        assert_eq!(
            &bytes[bytes.len() - 8..],
            &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]
        );
        let back = IpcTable::from_ipc_stream(&bytes).unwrap();
        assert_eq!(back.batches().len(), 2);
        assert_eq!(back.num_rows(), 3);
        assert_eq!(back.row_cells(2), vec!["é", "2"]);
        assert_eq!(back.row_cells(0), vec!["a\\tb", "1"]);
        assert_eq!(back.u64_column("n").unwrap().unwrap(), vec![1, 2, 2]);
        let empty = IpcTable::empty(t.schema().clone());
        let back = IpcTable::from_ipc_stream(&empty.to_ipc_stream().unwrap()).unwrap();
        assert_eq!((back.batches().len(), back.num_rows()), (0, 0));
    }

    #[test]
    fn replace_column_in_place_or_append() {
        let t = two_batches();
        let r = t.replace_column("n", &[7, 8, 9], DataType::UInt64).unwrap();
        assert_eq!(r.schema().field(1).data_type(), &DataType::UInt64);
        assert_eq!(r.u64_column("n").unwrap().unwrap(), vec![7, 8, 9]);
        assert_eq!(r.batches().len(), 2);
        let r = r.replace_column("x", &[1, 2, 3], DataType::UInt32).unwrap();
        assert_eq!(r.schema().fields().len(), 3);
        assert!(matches!(
            t.replace_column("x", &[1], DataType::UInt32),
            Err(IacError::PayloadCount {
                payloads: 1,
                rows: 3
            })
        ));
        assert!(matches!(t.u64_column("k"), Err(IacError::Column { .. })));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            IpcTable::from_ipc_stream(b"not arrow at all"),
            Err(IacError::Arrow(_))
        ));
        let bytes = two_batches().to_ipc_stream().unwrap();
        for cut in [3, 9, bytes.len() / 2] {
            assert!(
                IpcTable::from_ipc_stream(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }
}
