//! The indexed-tar backend's errors (the source of [`Error::Format`](crate::Error::Format) for a tar dataset).

/// What can be wrong with an indexed-tar dataset, its index, shards or members. Carried by
/// [`crate::Error::Format`] (as [`crate::FormatError::Itar`]), whose `path` names the file,
/// `offset` the byte where there is one and `context` the byte offset, row or member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItarError {
    /// The file ends before a structure is complete.
    #[error("unexpected end of file")]
    UnexpectedEof,
    /// The `.taridx` does not start with `TARIDX\0\0`.
    #[error("bad magic {found:?}, expected \"TARIDX\\0\\0\"")]
    Magic {
        /// The first 8 bytes.
        found: [u8; 8],
    },
    /// A `.taridx` major version other than 1.
    #[error("unsupported .taridx version {major}.{minor} (this reader reads major version 1)")]
    Version {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// A header count or size contradicts the file.
    #[error("header field {field} is {found}, expected {expected}")]
    Field {
        /// Field name.
        field: &'static str,
        /// Value in the file.
        found: u64,
        /// Value implied by the file.
        expected: u64,
    },
    /// `off_crash` / `off_arr` out of order or past the end.
    #[error(
        "block offsets out of order: off_crash {off_crash}, off_arr {off_arr}, file of {len} bytes"
    )]
    Offsets {
        /// `off_crash` field.
        off_crash: u64,
        /// `off_arr` field.
        off_arr: u64,
        /// Index file length.
        len: u64,
    },
    /// The row area is not a whole number of 32-byte rows.
    #[error("row area of {len} bytes is not a whole number of 32-byte rows")]
    RowArea {
        /// Bytes from `off_arr` to the end.
        len: u64,
    },
    /// The extension or crash block is not UTF-8.
    #[error("{block} block is not UTF-8")]
    NotUtf8 {
        /// `extension` or `crash`.
        block: &'static str,
    },
    /// An extension or crash stem is listed twice.
    #[error("{block} block lists {name:?} twice")]
    DuplicateName {
        /// `extension` or `crash`.
        block: &'static str,
        /// The repeated entry.
        name: String,
    },
    /// A row's `extid` is not an index into the extension block.
    #[error("extid {extid} out of range ({n_ext} extensions)")]
    ExtId {
        /// The row's extid.
        extid: u16,
        /// Number of extensions.
        n_ext: usize,
    },
    /// A row's `crashid` is past the crash block.
    #[error("crashid {crashid} out of range ({n_crash} crash stems)")]
    CrashId {
        /// The row's crashid.
        crashid: u32,
        /// Number of crash stems.
        n_crash: usize,
    },
    /// A row's `fid` names no shard of the fold.
    #[error("shard id {fid} but the fold has {n_shards} shards")]
    ShardId {
        /// The row's fid.
        fid: u16,
        /// Number of shards found.
        n_shards: usize,
    },
    /// A row's member lies (partly) past the end of its shard.
    #[error("member bytes {start}..{end} beyond the end of shard {shard} ({len} bytes)")]
    PastEnd {
        /// Shard file name.
        shard: String,
        /// Header offset.
        start: u64,
        /// End of the payload.
        end: u64,
        /// Shard length.
        len: u64,
    },
    /// A row's offset is not on a 512-byte tar block.
    #[error("offset {offset} is not on a 512-byte tar block")]
    Unaligned {
        /// The row's offset.
        offset: u64,
    },
    /// Two rows (or two members) with the same key and extension.
    #[error("duplicate member {name} (rows {first} and {second})")]
    Duplicate {
        /// `key.ext` (or the key hash when the name is unknown).
        name: String,
        /// First row.
        first: u64,
        /// Second row.
        second: u64,
    },
    /// A key, extension, fold or member name the format does not allow.
    #[error("invalid name {name:?}: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A tar header's checksum does not match its bytes.
    #[error("tar header checksum {stored} does not match the computed {computed}")]
    Checksum {
        /// Checksum field.
        stored: u64,
        /// Sum of the header bytes.
        computed: u64,
    },
    /// A numeric tar header field is not octal / base-256.
    #[error("invalid tar header field {field}")]
    Number {
        /// Field name.
        field: &'static str,
    },
    /// A tar ends inside a header or a member's data.
    #[error("tar truncated inside {what}")]
    Truncated {
        /// `header` or `member data`.
        what: &'static str,
    },
    /// A pax extended header is malformed.
    #[error("malformed pax extended header: {reason}")]
    Pax {
        /// What is wrong.
        reason: &'static str,
    },
    /// An index row does not describe the member at its offset.
    #[error("index row does not match the tar: {what}")]
    Mismatch {
        /// What differs.
        what: String,
    },
    /// A regular member of a shard has no index row.
    #[error("member {name} at byte {offset} is not in the index")]
    Unindexed {
        /// Member name.
        name: String,
        /// Header offset.
        offset: u64,
    },
    /// The `.taridx` rows are flagged contiguous but are not.
    #[error("rows flagged contiguous by key but keys are interleaved")]
    NotContiguous,
    /// A fold without shards.
    #[error("no shards {fold}_*.tar or {fold}-<n>.tar")]
    NoShards {
        /// Fold name.
        fold: String,
    },
    /// A folder with several `.taridx` files, opened as one patient dataset.
    #[error("several folds ({}); open one of their .taridx files", .folds.join(", "))]
    SeveralFolds {
        /// Fold names.
        folds: Vec<String>,
    },
    /// A folder without `.taridx` files or shards.
    #[error("not an indexed-tar dataset (no .taridx and no .tar shards)")]
    NotADataset,
    /// A gzip-compressed shard: no random access into it.
    #[error(
        "gzip-compressed shard: members cannot be read in place (no random access); \
         decompress it first, e.g. `gzip -dc {name} > {stem}.tar`, then open the .tar"
    )]
    Gzip {
        /// The shard's file name.
        name: String,
        /// The name without `.gz` / `.tgz`.
        stem: String,
    },
    /// A WebDataset brace list that names no file or cannot be expanded.
    #[error("brace list {pattern}: {reason}")]
    Braces {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A member asked for by name is not in the dataset.
    #[error("no member {name}")]
    NoMember {
        /// `key.ext` asked for.
        name: String,
    },
    /// A member asked for by name is in several folds of the folder.
    #[error("member {name} is in several folds ({})", .folds.join(", "))]
    Ambiguous {
        /// `key.ext` asked for.
        name: String,
        /// The folds holding it.
        folds: Vec<String>,
    },
    /// A `.npy` member is malformed or does not match its signal.
    #[error("npy: {reason}")]
    Npy {
        /// What is wrong.
        reason: String,
    },
    /// The dataset has no `__meta__.json` patient metadata member: a tar dataset, but not an
    /// inframed patient repository.
    #[error("patient metadata: missing: not an inframed patient dataset")]
    NotPatientDataset,
    /// The `__meta__.json` member is inconsistent.
    #[error("patient metadata: {reason}")]
    Meta {
        /// What is wrong.
        reason: String,
    },
    /// A sample or member cannot be written.
    #[error("cannot write: {reason}")]
    Write {
        /// Why.
        reason: String,
    },
}
