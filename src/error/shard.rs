//! What is wrong with a shard manifest or one of its shards (carried by
//! [`FormatError::Shard`](crate::FormatError::Shard)).

/// What is wrong with a shard manifest (`shards.json`) or a shard it lists. The
/// [`Error::Format`](crate::Error::Format) that carries it names the manifest or the shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// The manifest's `format` field is not a shard manifest's.
    #[error("format {found:?}, expected {expected:?}")]
    Format {
        /// What the manifest says.
        found: String,
        /// What a shard manifest says.
        expected: &'static str,
    },
    /// A manifest version this build does not read.
    #[error("shard manifest version {found}, this build reads {supported}")]
    Version {
        /// The manifest's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A manifest that lists no shard.
    #[error("a shard manifest without shards")]
    NoShards,
    /// A shard whose first pid is after its last.
    #[error("shard {shard}: first pid {first} after last pid {last}")]
    EmptyRange {
        /// The shard's position in the manifest.
        shard: usize,
        /// Its first pid.
        first: u32,
        /// Its last pid.
        last: u32,
    },
    /// A shard's pid range overlaps or precedes the one before it.
    #[error("shard {shard}: pid range [{first}, {last}] overlaps or precedes the one before")]
    Overlap {
        /// The shard's position in the manifest.
        shard: usize,
        /// Its first pid.
        first: u32,
        /// Its last pid.
        last: u32,
    },
    /// A shard of another catalog.
    #[error("shard {shard}: catalog checksum {found}, the manifest's is {expected}: a shard of another catalog")]
    Catalog {
        /// The shard's position in the manifest.
        shard: usize,
        /// The shard's catalog checksum (hex, as in the manifest).
        found: String,
        /// The manifest's.
        expected: String,
    },
    /// A shard whose signals differ from the first shard's.
    #[error("shard {shard}: signals differ from the first shard's")]
    Signals {
        /// The shard's position in the manifest.
        shard: usize,
    },
    /// A shard holding pids outside its manifest range.
    #[error("shard {shard}: pids {lo}..={hi} outside the manifest's range [{first}, {last}]")]
    PidsOutside {
        /// The shard's position in the manifest.
        shard: usize,
        /// Its lowest pid.
        lo: u32,
        /// Its highest pid.
        hi: u32,
        /// The manifest's first pid for it.
        first: u32,
        /// The manifest's last pid for it.
        last: u32,
    },
}
