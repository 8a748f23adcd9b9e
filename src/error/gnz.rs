//! The GNZ backend's errors (the source of [`Error::Format`](crate::Error::Format) for a GNZ file).

/// What is wrong with a GNZ file, or with a request to read or write one. Carried by
/// [`crate::Error::Format`] (as [`crate::FormatError::Gnz`]), whose context names the byte
/// offset or array.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GnzError {
    /// Fewer than the 8 preamble bytes.
    #[error("truncated preamble: file has {len} bytes, needs 8")]
    TruncatedPreamble {
        /// File length.
        len: u64,
    },
    /// The first four bytes are not `GNZ1`.
    #[error("bad magic {found:02x?}, expected \"GNZ1\"")]
    BadMagic {
        /// What is there.
        found: [u8; 4],
    },
    /// `8 + header_len` is past the end of the file.
    #[error("header length {header_len} goes beyond the end of the file ({file_len} bytes)")]
    HeaderBeyondEof {
        /// The preamble's length field.
        header_len: u64,
        /// File length.
        file_len: u64,
    },
    /// The header is not valid UTF-8 JSON.
    #[error("bad header JSON: {0}")]
    Json(String),
    /// A value that must be a JSON object is not.
    #[error("{0} is not a JSON object")]
    NotAnObject(&'static str),
    /// A required key is absent.
    #[error("missing key {0:?}")]
    MissingKey(&'static str),
    /// A key holds a value of the wrong JSON type.
    #[error("key {key:?} is not {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `version` is not `1` (or `"1.0.0"`).
    #[error("unsupported version {0}")]
    Version(String),
    /// Not a numpy `dtype.str` inframed can map.
    #[error("unsupported dtype {0:?}")]
    UnsupportedDtype(String),
    /// `order` is not `"C"` or `"F"`.
    #[error("bad order {0}, expected \"C\" or \"F\"")]
    BadOrder(String),
    /// `prod(shape) × itemsize` or `offset + nbytes` overflows 64 bits.
    #[error("array size overflows")]
    SizeOverflow,
    /// An offset that is not a multiple of 4096.
    #[error("offset {offset} is not 4096-aligned")]
    Misaligned {
        /// The offset.
        offset: u64,
    },
    /// An array starts inside the header pages.
    #[error("offset {offset} is inside the header (data starts at {data_start})")]
    OffsetInHeader {
        /// The offset.
        offset: u64,
        /// First byte after the header pages.
        data_start: u64,
    },
    /// An array ends past the end of the file.
    #[error(
        "array bytes {offset}..{offset}+{nbytes} go beyond the end of the file ({file_len} bytes)"
    )]
    BeyondEof {
        /// Start.
        offset: u64,
        /// Length.
        nbytes: u64,
        /// File length.
        file_len: u64,
    },
    /// Two arrays share bytes.
    #[error("overlaps array {other:?} at byte {offset}")]
    Overlap {
        /// The other array.
        other: String,
        /// Start of this array.
        offset: u64,
    },
    /// No array of that name.
    #[error("no array {0:?}")]
    NoSuchArray(String),
    /// Typed access with a Rust type that is not the array's dtype.
    #[error("dtype {dtype} cannot be read as {requested}")]
    TypeMismatch {
        /// The array's dtype.
        dtype: String,
        /// The Rust type asked for.
        requested: &'static str,
    },
    /// The writer was given two arrays of one name.
    #[error("duplicate array name")]
    DuplicateArray,
    /// Data of the wrong length for the declared shape and dtype.
    #[error("{found} bytes given, shape and dtype need {expected}")]
    DataLength {
        /// `prod(shape) × itemsize`.
        expected: u64,
        /// Bytes given.
        found: u64,
    },
    /// A chunk written past the end of its reserved array.
    #[error("chunk {start}..{end} is outside the array's {nbytes} bytes")]
    ChunkOutOfRange {
        /// First byte of the chunk inside the array.
        start: u64,
        /// End of the chunk.
        end: u64,
        /// Array size.
        nbytes: u64,
    },
    /// The header JSON is longer than the u32 length field allows.
    #[error("header of {0} bytes does not fit the u32 length field")]
    HeaderTooLarge(u64),
    /// `metadata` has no `inframed` object: a GNZ file, but not a patient repository.
    #[error("not an inframed patient file (no metadata key \"inframed\")")]
    NotAPatientFile,
    /// The patient mapping's `format` or `version` is not one this reader knows.
    #[error("unsupported patient mapping {0}")]
    MappingVersion(String),
    /// A mapping array has the wrong dtype or shape.
    #[error("expected {expected}, found {found}")]
    MappingArray {
        /// What the mapping requires.
        expected: String,
        /// What the header says.
        found: String,
    },
    /// A value of the mapping contradicts another.
    #[error("{field} is {found}, expected {expected}")]
    MappingField {
        /// What was checked.
        field: &'static str,
        /// Value found.
        found: i64,
        /// Value expected (or the bound violated).
        expected: i64,
    },
    /// The mapping's signal list and its catalog disagree about a signal.
    #[error("signal {0:?} is not described in both the catalog and the signal list")]
    SignalMismatch(String),
    /// A pid that does not fit the `<i4` pid arrays.
    #[error("pid {0} does not fit a signed 32-bit pid array")]
    PidOutOfRange(u32),
}
