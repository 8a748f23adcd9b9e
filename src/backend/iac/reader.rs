//! `Pack`: an opened `.iac` file (header, tables, record addressing), read from a map.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::codec::Codec;
use super::error::IacError;
use super::header::{parse_header, KnownKeys, PackLayout};
use super::table::IpcTable;
use crate::error::Result;
use crate::mmap::{self, Bytes};

/// Per-record addressing of a variable-record pack (the `offset`/`length`/`crc32` columns).
#[derive(Debug)]
struct Records {
    /// Payload start relative to the data segment.
    offsets: Vec<u64>,
    /// Stored payload length.
    lengths: Vec<u32>,
    /// CRC-32 of the stored bytes, when the index has a `crc32` column.
    crcs: Option<Vec<u32>>,
}

/// An opened IatroCache pack: the header (JSON object and its layout), both tables, and the
/// records, memory-mapped.
///
/// Opening validates what the original reader validates, in its order: size, magic, version,
/// header JSON (exactly `header_len` bytes), layout keys and region bounds, both IPC tables
/// and their row counts, and, when the index table has an `offset` column, every record's
/// span. CRCs are checked by [`Pack::verify`] and [`Pack::check_crc`], not on reads.
///
/// # Examples
/// ```
/// # fn main() -> inframed::Result<()> {
/// use inframed::backend::iac::{build_pack, Codec, IpcTable, Pack};
/// use std::sync::Arc;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.iac");
/// let keys = arrow_array::StringArray::from(vec!["a", "b"]);
/// let index = IpcTable::from_batch(
///     arrow_array::RecordBatch::try_from_iter([("key", Arc::new(keys) as _)]).unwrap(),
/// );
/// let slides = IpcTable::empty(Arc::new(arrow_schema::Schema::empty()));
/// let header = serde_json::json!({"payload_type": "raw_bytes", "codec": "none"});
/// build_pack(&path, header.as_object().unwrap(), &slides, &index, [&b"first"[..], b"second"], false)?;
/// let pack = Pack::open(&path)?;
/// assert_eq!(pack.num_records(), 2);
/// assert_eq!(&pack.read_payload(1)?[..], b"second");
/// assert_eq!(pack.codec(), &Codec::None);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pack {
    path: PathBuf,
    bytes: Bytes,
    header: Map<String, Value>,
    layout: PackLayout,
    codec: Codec,
    slide: IpcTable,
    index: IpcTable,
    records: Option<Records>,
}

impl Pack {
    /// Maps and opens the pack at `path`.
    ///
    /// # Errors
    /// [`crate::Error::Open`]; [`crate::Error::Format`] with an [`IacError`] naming the byte
    /// offset, table or row of the first damage.
    pub fn open(path: impl AsRef<Path>) -> Result<Pack> {
        let path = path.as_ref();
        Pack::from_mapped(path.to_path_buf(), mmap::map(path)?)
    }

    /// Opens a pack held in memory (errors name `<memory>`).
    ///
    /// # Errors
    /// As [`Pack::open`].
    pub fn from_bytes(data: impl AsRef<[u8]> + Send + Sync + 'static) -> Result<Pack> {
        Pack::from_mapped(PathBuf::from("<memory>"), Bytes::from_owned(data))
    }

    fn from_mapped(path: PathBuf, bytes: Bytes) -> Result<Pack> {
        let all = bytes.as_slice();
        let (header, layout) =
            parse_header(all).map_err(|(off, e)| e.at_byte(&path, off, "header"))?;
        let table = |name: &'static str, (start, end): (u64, u64)| -> Result<IpcTable> {
            let ctx = || format!("{name} (bytes {start}..{end})");
            // The spans were checked against the file size by `parse_header`.
            let span = all
                .get(start as usize..end as usize)
                .ok_or_else(|| IacError::Metadata("span".into()).at(&path, ctx()))?;
            IpcTable::from_ipc_stream(span).map_err(|e| e.at(&path, ctx()))
        };
        let slide = table("slide table", layout.slide_span())?;
        let index = table("index table", layout.index_span())?;
        for (key, rows) in [
            ("num_slides", slide.num_rows()),
            ("num_records", index.num_rows()),
        ] {
            let declared = header
                .get(key)
                .and_then(Value::as_u64)
                .ok_or_else(|| IacError::MissingField(key).at(&path, "header"))?;
            if declared != rows as u64 {
                return Err(IacError::RowCount {
                    key,
                    header: declared,
                    table: rows as u64,
                }
                .at(&path, "header"));
            }
        }
        let records = Self::records(&index, &layout).map_err(|(ctx, e)| e.at(&path, ctx))?;
        let codec = Codec::from_header(&header);
        Ok(Pack {
            path,
            bytes,
            header,
            layout,
            codec,
            slide,
            index,
            records,
        })
    }

    fn records(
        index: &IpcTable,
        layout: &PackLayout,
    ) -> std::result::Result<Option<Records>, (String, IacError)> {
        let col = |name: &str| {
            index
                .u64_column(name)
                .map_err(|e| (format!("index table column {name}"), e))
        };
        let Some(offsets) = col("offset")? else {
            return Ok(None);
        };
        let lengths = col("length")?.ok_or_else(|| {
            (
                "index table".to_string(),
                IacError::Column {
                    column: "length".into(),
                    problem: "missing (the table has an offset column)".into(),
                },
            )
        })?;
        let narrow = |name: &str, v: Vec<u64>| {
            v.into_iter()
                .enumerate()
                .map(|(row, x)| {
                    u32::try_from(x).map_err(|_| {
                        (
                            format!("row {row}"),
                            IacError::Column {
                                column: name.into(),
                                problem: format!("{x} does not fit uint32"),
                            },
                        )
                    })
                })
                .collect::<std::result::Result<Vec<u32>, _>>()
        };
        let lengths = narrow("length", lengths)?;
        let crcs = match col("crc32")? {
            Some(c) => Some(narrow("crc32", c)?),
            None => None,
        };
        for (row, (&offset, &length)) in offsets.iter().zip(&lengths).enumerate() {
            let inside = offset
                .checked_add(length as u64)
                .is_some_and(|end| end <= layout.data_length);
            if !inside {
                return Err((
                    format!("row {row}"),
                    IacError::PayloadOutOfBounds {
                        row: row as u64,
                        offset,
                        length: length as u64,
                        data_length: layout.data_length,
                    },
                ));
            }
        }
        Ok(Some(Records {
            offsets,
            lengths,
            crcs,
        }))
    }

    /// The file (or `<memory>`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header JSON object (layout keys and the writer's own keys).
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The other keys the original writers use, typed.
    pub fn known_keys(&self) -> KnownKeys {
        KnownKeys::of(&self.header)
    }

    /// The layout keys, validated.
    pub fn layout(&self) -> &PackLayout {
        &self.layout
    }

    /// The record codec (`codec` / `codec_params` of the header; none when absent).
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// The header's `payload_type`, if any.
    pub fn payload_type(&self) -> Option<&str> {
        self.header.get("payload_type").and_then(Value::as_str)
    }

    /// The slide table.
    pub fn slide_table(&self) -> &IpcTable {
        &self.slide
    }

    /// The index (record) table.
    pub fn index_table(&self) -> &IpcTable {
        &self.index
    }

    /// Rows of the index table.
    pub fn num_records(&self) -> usize {
        self.index.num_rows()
    }

    /// Whether records are addressable by row (the index table has an `offset` column).
    pub fn is_variable(&self) -> bool {
        self.records.is_some()
    }

    /// The whole data segment.
    pub fn data_segment(&self) -> &[u8] {
        let (start, end) = self.layout.data_span();
        // Checked against the file size at open.
        self.bytes
            .as_slice()
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// The size of the whole file in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }

    /// A row given Python-style (`-1` is the last record).
    ///
    /// # Errors
    /// [`IacError::RowOutOfRange`].
    pub fn resolve_row(&self, row: i64) -> Result<usize> {
        let n = self.num_records() as i64;
        let r = if row < 0 { row + n } else { row };
        if (0..n).contains(&r) {
            Ok(r as usize)
        } else {
            Err(IacError::RowOutOfRange {
                row,
                records: n as u64,
            }
            .at(&self.path, format!("row {row}")))
        }
    }

    fn record_parts(&self, row: usize) -> Result<&Records> {
        let records = self
            .records
            .as_ref()
            .ok_or_else(|| IacError::NotVariable.at(&self.path, format!("row {row}")))?;
        if row >= records.offsets.len() {
            return Err(IacError::RowOutOfRange {
                row: row as i64,
                records: records.offsets.len() as u64,
            }
            .at(&self.path, format!("row {row}")));
        }
        Ok(records)
    }

    /// `(offset relative to the data segment, stored length)` of a record.
    ///
    /// # Errors
    /// [`IacError::NotVariable`], [`IacError::RowOutOfRange`].
    pub fn record_span(&self, row: usize) -> Result<(u64, u32)> {
        let r = self.record_parts(row)?;
        Ok((r.offsets[row], r.lengths[row]))
    }

    /// The index table's CRC-32 of a record (`None` without a `crc32` column).
    ///
    /// # Errors
    /// As [`Pack::record_span`].
    pub fn crc32(&self, row: usize) -> Result<Option<u32>> {
        let r = self.record_parts(row)?;
        Ok(r.crcs.as_ref().map(|c| c[row]))
    }

    /// The stored (possibly compressed) bytes of a record, borrowed from the map.
    ///
    /// # Errors
    /// As [`Pack::record_span`].
    #[inline]
    pub fn read_stored(&self, row: usize) -> Result<&[u8]> {
        let (offset, length) = self.record_span(row)?;
        self.stored_at(row, offset, length)
    }

    #[inline]
    pub(crate) fn stored_at(&self, row: usize, offset: u64, length: u32) -> Result<&[u8]> {
        let start = self.layout.data_offset + offset;
        self.bytes
            .as_slice()
            .get(start as usize..start as usize + length as usize)
            .ok_or_else(|| {
                IacError::PayloadOutOfBounds {
                    row: row as u64,
                    offset,
                    length: length as u64,
                    data_length: self.layout.data_length,
                }
                .at(&self.path, format!("row {row}"))
            })
    }

    /// The decoded payload of a record: borrowed from the map for codec `none`, decoded
    /// (owned) for brotli and zstd.
    ///
    /// # Errors
    /// As [`Pack::record_span`]; [`IacError::Decode`] naming the row for a damaged stream.
    pub fn read_payload(&self, row: usize) -> Result<Cow<'_, [u8]>> {
        self.read_payload_limited(row, None)
    }

    /// [`Pack::read_payload`] with the decoded size bounded by `limit`.
    pub(crate) fn read_payload_limited(
        &self,
        row: usize,
        limit: Option<u64>,
    ) -> Result<Cow<'_, [u8]>> {
        let stored = self.read_stored(row)?;
        self.decode(row, stored, limit)
    }

    pub(crate) fn decode<'a>(
        &self,
        row: usize,
        stored: &'a [u8],
        limit: Option<u64>,
    ) -> Result<Cow<'a, [u8]>> {
        if self.codec.is_identity() {
            return Ok(Cow::Borrowed(stored));
        }
        self.codec
            .decode(stored, limit)
            .map(Cow::Owned)
            .map_err(|source| {
                IacError::Decode {
                    row: row as u64,
                    codec: self.codec.name().to_string(),
                    source,
                }
                .at(&self.path, format!("row {row}"))
            })
    }

    /// A fixed-width record (packs without an `offset` column whose header has
    /// `feature_record_bytes`): bytes `row*size..(row+1)*size` of the data segment.
    ///
    /// # Errors
    /// [`IacError::MissingField`] without `feature_record_bytes`; [`IacError::PayloadOutOfBounds`].
    pub fn read_fixed(&self, row: usize) -> Result<&[u8]> {
        let size = self
            .header
            .get("feature_record_bytes")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                IacError::MissingField("feature_record_bytes").at(&self.path, "header")
            })?;
        let data = self.data_segment();
        let span = (row as u64)
            .checked_mul(size)
            .and_then(|s| Some((s, s.checked_add(size)?)));
        match span {
            Some((s, e)) if e <= data.len() as u64 => Ok(&data[s as usize..e as usize]),
            _ => Err(IacError::PayloadOutOfBounds {
                row: row as u64,
                offset: (row as u64).saturating_mul(size),
                length: size,
                data_length: data.len() as u64,
            }
            .at(&self.path, format!("row {row}"))),
        }
    }

    /// Checks a record's stored bytes against the index table's `crc32` (no-op without one).
    ///
    /// # Errors
    /// [`IacError::Crc`] naming the row.
    pub fn check_crc(&self, row: usize) -> Result<()> {
        let Some(want) = self.crc32(row)? else {
            return Ok(());
        };
        let got = crc32fast::hash(self.read_stored(row)?);
        if got != want {
            let (offset, _) = self.record_span(row)?;
            return Err(IacError::Crc {
                row: row as u64,
                stored: want,
                computed: got,
            }
            .at(
                &self.path,
                format!("row {row}, byte {}", self.layout.data_offset + offset),
            ));
        }
        Ok(())
    }

    /// Every check: each record's CRC-32 and, for brotli and zstd packs, that each record
    /// decodes (the layout, tables and spans were checked at open).
    ///
    /// # Errors
    /// The first damaged record.
    pub fn verify(&self) -> Result<()> {
        if !self.is_variable() {
            return Ok(());
        }
        let decodable = matches!(self.codec, Codec::Brotli { .. } | Codec::Zstd { .. });
        for row in 0..self.num_records() {
            self.check_crc(row)?;
            if decodable {
                self.read_payload(row)?;
            }
        }
        Ok(())
    }
}
