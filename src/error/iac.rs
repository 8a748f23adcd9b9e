//! The `.iac` backend's errors (the source of [`Error::Format`](crate::Error::Format) for a pack).

use arrow_schema::ArrowError;

/// What is wrong with an `.iac` pack (or with what was asked of it). Wrapped in
/// [`crate::Error::Format`] (as [`crate::FormatError::Iac`]), whose `path` names the file and `context` the place (byte offset,
/// table, row, member).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IacError {
    /// The file is shorter than the 65536-byte fixed header.
    #[error("file too small for IatroCache header ({len} bytes, need 65536)")]
    TooSmall {
        /// File length.
        len: u64,
    },
    /// The first 8 bytes are not `IATROC\0\x02`.
    #[error("bad magic {0:?}")]
    Magic([u8; 8]),
    /// The u32 at offset 12 is not 2.
    #[error("unsupported IatroCache version {0}")]
    Version(u32),
    /// The u32 at offset 8 exceeds 65520.
    #[error("invalid IatroCache header length {0}")]
    HeaderLength(u32),
    /// The header JSON is not UTF-8.
    #[error("invalid UTF-8 in IatroCache header")]
    HeaderUtf8(#[source] std::str::Utf8Error),
    /// The header JSON does not parse (or is not an object).
    #[error("invalid IatroCache header JSON")]
    HeaderJson(#[source] serde_json::Error),
    /// The header JSON is valid but not an object.
    #[error("IatroCache header JSON is not an object")]
    HeaderNotObject,
    /// A required layout key is missing, negative or not an integer.
    #[error("missing or invalid unsigned header field {0}")]
    MissingField(&'static str),
    /// A layout key has a value the format forbids.
    #[error("header field {field} is {found}, expected {expected}")]
    LayoutField {
        /// The key.
        field: &'static str,
        /// Its value.
        found: u64,
        /// The value the layout requires.
        expected: u64,
    },
    /// A region (slide table, index table, data segment) ends past the end of the file.
    #[error("{segment} segment outside file bounds: offset={offset} length={length} file_size={file_size}")]
    SegmentOutOfBounds {
        /// `slide_table`, `index_table` or `data`.
        segment: &'static str,
        /// Absolute start.
        offset: u64,
        /// Length.
        length: u64,
        /// File length.
        file_size: u64,
    },
    /// An Arrow IPC stream could not be decoded (or encoded).
    #[error("invalid Arrow IPC stream")]
    Arrow(#[source] ArrowError),
    /// A table's row count disagrees with the header's `num_slides` / `num_records`.
    #[error("{key} mismatch: header={header} table={table}")]
    RowCount {
        /// `num_slides` or `num_records`.
        key: &'static str,
        /// The header's count.
        header: u64,
        /// The table's rows.
        table: u64,
    },
    /// A column has a type or values the reader cannot use.
    #[error("column {column:?}: {problem}")]
    Column {
        /// Column name.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// A record's payload span leaves the data segment.
    #[error("payload span outside data segment at row {row}: offset={offset} length={length} data_length={data_length}")]
    PayloadOutOfBounds {
        /// Record row.
        row: u64,
        /// Offset relative to the data segment.
        offset: u64,
        /// Length.
        length: u64,
        /// Data segment length.
        data_length: u64,
    },
    /// A row index outside the index table.
    #[error("payload row out of range: {row} ({records} records)")]
    RowOutOfRange {
        /// Row asked for.
        row: i64,
        /// Record count.
        records: u64,
    },
    /// The pack has no `offset` column (a fixed-width pack): records are not addressable.
    #[error("variable index is not configured (the index table has no offset column)")]
    NotVariable,
    /// A stored payload's CRC-32 differs from the index table's `crc32`.
    #[error(
        "crc32 mismatch at row {row}: index says {stored:#010x}, payload has {computed:#010x}"
    )]
    Crc {
        /// Record row.
        row: u64,
        /// The index table's value.
        stored: u32,
        /// CRC-32 of the stored bytes.
        computed: u32,
    },
    /// A stored payload does not decode with the pack's codec.
    #[error("cannot decode row {row} with codec {codec}")]
    Decode {
        /// Record row.
        row: u64,
        /// Codec name.
        codec: String,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// A codec inframed cannot decode or encode (image codecs, user codecs) or bad parameters.
    #[error("unsupported codec {0}")]
    Codec(String),
    /// The serialized header JSON exceeds 65520 bytes.
    #[error("header JSON too large: {0} bytes")]
    HeaderTooLarge(usize),
    /// A payload is 4 GiB or larger.
    #[error("payload too large for uint32 length: {0} bytes")]
    PayloadTooLarge(u64),
    /// The writer got a different number of payloads than index rows.
    #[error("{payloads} payloads for {rows} index rows")]
    PayloadCount {
        /// Payloads appended.
        payloads: u64,
        /// Index table rows.
        rows: u64,
    },
    /// The pack is not of the payload type a reader expects.
    #[error("payload_type is {found:?}, not {expected:?}")]
    PayloadType {
        /// `payload_type` of the header (empty if absent).
        found: String,
        /// What the reader handles.
        expected: &'static str,
    },
    /// A patient pack's inframed metadata (catalog, schema version) is missing or invalid.
    #[error("invalid inframed metadata: {0}")]
    Metadata(String),
    /// Two records of a patient pack hold the same `(pid, sid)`.
    #[error("rows {first} and {second} both hold pid {pid} signal {sid}")]
    DuplicateRecord {
        /// Patient.
        pid: u32,
        /// Signal id.
        sid: u32,
        /// First row.
        first: u64,
        /// Second row.
        second: u64,
    },
    /// A record of a patient pack names a pid or sid the pack does not declare.
    #[error("row {row}: {what}")]
    UnknownKey {
        /// Record row.
        row: u64,
        /// What is unknown.
        what: String,
    },
    /// A record's byte length disagrees with its element count and layout.
    #[error("row {row}: {found} bytes, expected {expected} ({n} elements)")]
    RecordLength {
        /// Record row.
        row: u64,
        /// Bytes found (stored, or decoded).
        found: u64,
        /// `n` × element size.
        expected: u64,
        /// Element count of the `n` column.
        n: u64,
    },
    /// A clinical-text patient block is malformed.
    #[error("clinical text block: {0}")]
    TextBlock(String),
    /// No record for this patient id in a clinical-text pack.
    #[error("patient not in package: {0}")]
    UnknownPatient(String),
    /// The output exists and overwriting was not asked for.
    #[error("pack already exists")]
    Exists,
}
