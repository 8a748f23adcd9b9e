//! Pid-range shards: a repository split into N standalone MODE 3 repositories by patient id,
//! with a manifest (`shards.json`) that [`crate::Repository::open`] reads as one store.
//!
//! - [`write_shards`] splits any [`crate::SignalStore`] into shards balanced by element count
//!   (not by patient count), each written by the one MODE 3 writer, in parallel.
//! - [`ShardedStore`] opens a manifest: `get` finds the shard through a small pid-bucket table
//!   (one load and one compare); `pids` and `scan` concatenate the shards in pid order. A missing shard, or one
//!   whose signals file and dictionaries differ from the manifest's checksum, is an error
//!   naming it.
//!
//! Each shard is an ordinary repository: the original tools, `inframed`, and a Spark worker
//! (`python/inframed/spark.py`) open it alone. See `docs/scale-out.md`.

mod manifest;
mod router;
mod store;
mod target;
mod write;

pub use crate::error::ShardError;
pub use manifest::{
    catalog_checksum, is_manifest, is_manifest_text, Manifest, ShardEntry, MANIFEST_FORMAT,
    MANIFEST_NAME, MANIFEST_VERSION,
};
pub use store::ShardedStore;
pub use target::check_shards_target;
pub use write::{balance, element_counts, source_metadata, write_shards, ShardOptions};
