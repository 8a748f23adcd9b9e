//! The TRX backend's errors (the source of [`Error::Format`](crate::Error::Format) for a TRX file).

/// What is wrong in a TRX (the `source` of [`crate::Error::Format`], as [`crate::FormatError::Trx`]; the error's path and context name
/// the file, the member and the byte offset).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrxError {
    /// The zip structure cannot be read.
    #[error("invalid zip: {0}")]
    Zip(String),
    /// A member's local file header is missing or damaged.
    #[error("{0}")]
    LocalHeader(&'static str),
    /// A member's data runs past the end of the file.
    #[error("data {start}..{end} beyond end of file ({len} bytes)")]
    OutOfBounds {
        /// First byte.
        start: u64,
        /// End byte (exclusive).
        end: u64,
        /// File length.
        len: u64,
    },
    /// A compression method other than stored or deflate (or encryption).
    #[error("unsupported compression {0}")]
    Compression(String),
    /// A compressed member does not inflate (bad stream, CRC or size).
    #[error("cannot inflate: {0}")]
    Inflate(String),
    /// A member's CRC-32 does not match its data.
    #[error("crc32 {found:#010x}, expected {expected:#010x}")]
    Crc {
        /// Computed over the data.
        found: u32,
        /// Stored in the central directory.
        expected: u32,
    },
    /// No `header.json` at the root.
    #[error("there is no header.json")]
    MissingHeader,
    /// `header.json` is not a JSON object.
    #[error("invalid header.json: {0}")]
    HeaderJson(String),
    /// A required header key is missing or of the wrong type.
    #[error("header key {key}: {what}")]
    HeaderKey {
        /// The key.
        key: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A file name is not `<name>[.<dim>].<dtype>` (names may not contain dots).
    #[error("invalid array file name {0:?} (expected <name>[.<dim>].<dtype>, no dots in names)")]
    InvalidName(String),
    /// The dimension part of a file name is not a positive integer.
    #[error("invalid dimension {0:?}")]
    InvalidDim(String),
    /// A dtype extension numpy does not know.
    #[error("unknown dtype extension {0:?}")]
    UnknownDtype(String),
    /// A non-numeric dtype (bytes, str, void, datetime, object).
    #[error("unsupported dtype extension {0:?} (TRX arrays are numeric)")]
    UnsupportedDtype(String),
    /// A dtype that is not allowed for this array.
    #[error("dtype {dtype} not allowed here: expected {want}")]
    WrongDtype {
        /// The dtype found.
        dtype: &'static str,
        /// What is allowed.
        want: &'static str,
    },
    /// Byte count not a multiple of the item size.
    #[error("{bytes} bytes is not a multiple of the item size {itemsize}")]
    WrongSize {
        /// Bytes stored.
        bytes: u64,
        /// Item size of the dtype.
        itemsize: u64,
    },
    /// Element count disagrees with the header counts.
    #[error("{found} elements, expected {expected} (from header.json counts)")]
    Count {
        /// Elements stored.
        found: u64,
        /// Elements the header implies.
        expected: u64,
    },
    /// Wrong dimension for the array's role.
    #[error("dimension {found}, expected {expected}")]
    Dim {
        /// In the file name.
        found: u64,
        /// Required.
        expected: u64,
    },
    /// A required array is missing.
    #[error("missing essential array {0}")]
    Missing(&'static str),
    /// Two members give the same array (e.g. `positions.3.float16` and `positions.3.float32`).
    #[error("duplicate array (also in {0})")]
    Duplicate(String),
    /// `offsets[0]` is not 0.
    #[error("offsets[0] is {0}, expected 0")]
    FirstOffset(i128),
    /// Offsets decrease.
    #[error("offsets not monotone at entry {index}: {prev} then {next}")]
    OffsetsNotMonotone {
        /// Entry index.
        index: u64,
        /// Previous value.
        prev: i128,
        /// This value.
        next: i128,
    },
    /// The last offset is not `NB_VERTICES`.
    #[error("last offset is {found}, expected NB_VERTICES {expected}")]
    LastOffset {
        /// Stored.
        found: i128,
        /// `NB_VERTICES`.
        expected: u64,
    },
    /// A group lists a streamline that does not exist.
    #[error(
        "group entry {entry}: streamline {value} out of range (NB_STREAMLINES {nb_streamlines})"
    )]
    GroupIndex {
        /// Entry index in the group.
        entry: u64,
        /// The value stored.
        value: i128,
        /// `NB_STREAMLINES`.
        nb_streamlines: u64,
    },
    /// `dpg/<group>/…` without `groups/<group>.*`.
    #[error("an undeclared group ({0}) has data_per_group")]
    UndeclaredGroup(String),
    /// An index past the end.
    #[error("index {index} out of range (length {len})")]
    IndexOutOfRange {
        /// Asked for.
        index: u64,
        /// Length.
        len: u64,
    },
    /// No array of that name.
    #[error("no array {0:?}")]
    NoSuchArray(String),
    /// A fill callback wrote the wrong number of bytes.
    #[error("{written} bytes written, expected {expected}")]
    FillSize {
        /// Written.
        written: u64,
        /// Declared.
        expected: u64,
    },
    /// `TrxWriter`: an array was added twice.
    #[error("array added twice")]
    AddedTwice,
    /// `TrxWriter`: an array's bytes are not rows × dim ×
    /// itemsize.
    #[error("{bytes} bytes, expected {expected}")]
    ArraySize {
        /// Bytes given.
        bytes: u64,
        /// Bytes the counts and dtype require.
        expected: u128,
    },
    /// `TrxWriter`: a method used for an array it does not
    /// write (the message names the right one).
    #[error("{0}")]
    WrongCall(&'static str),
    /// The TRX holds no inframed patient repository (no `INFRAMED` header key).
    #[error("not an inframed patient file (header.json has no INFRAMED key)")]
    NotPatientFile,
    /// The patient mapping is inconsistent (described).
    #[error("patient mapping: {0}")]
    Mapping(String),
}
