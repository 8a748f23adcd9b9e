//! `shards.json`: the manifest of a set of pid-range shards.
//!
//! ```json
//! {
//!   "format": "inframed-shards",
//!   "version": 1,
//!   "catalog_crc32": "9a0b1c2d",
//!   "patients": 1000,
//!   "elements": 200000,
//!   "shards": [
//!     {"path": "shard-0000/shard-0000.repository", "first_pid": 1, "last_pid": 480,
//!      "patients": 480, "elements": 100012},
//!     …
//!   ]
//! }
//! ```
//!
//! Shard paths are relative to the manifest's folder. Ranges are inclusive, ascending and do
//! not overlap. `catalog_crc32` is [`catalog_checksum`] of every shard's config: a shard whose
//! signals file or dictionaries differ is refused at open.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ShardError};
use crate::text::config::RepositoryConfig;

/// The `format` value of every manifest.
pub const MANIFEST_FORMAT: &str = "inframed-shards";
/// The manifest version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's file name in a shard output folder.
pub const MANIFEST_NAME: &str = "shards.json";

/// One shard of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// The shard's repository config, relative to the manifest's folder.
    pub path: String,
    /// First pid of the shard (inclusive).
    pub first_pid: u32,
    /// Last pid of the shard (inclusive).
    pub last_pid: u32,
    /// Patients in the shard.
    pub patients: u64,
    /// Elements in the shard, every signal.
    pub elements: u64,
}

/// A parsed `shards.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// [`catalog_checksum`] of the shards, 8 lowercase hex digits.
    pub catalog_crc32: String,
    /// Patients in all shards.
    pub patients: u64,
    /// Elements in all shards.
    pub elements: u64,
    /// The shards, pid ranges ascending.
    pub shards: Vec<ShardEntry>,
}

impl Manifest {
    /// Reads and checks a manifest: format, version, ranges ascending and disjoint.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Parse`] with the JSON line for bad JSON;
    /// [`Error::Format`] naming the file, with a [`ShardError`], for a wrong format, version or
    /// ranges.
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = fs::read_to_string(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.into(),
            line: e.line(),
            what: "shard manifest",
            source: crate::text::ParseError::Other(e.to_string()),
        })?;
        let bad = |context: String, e: ShardError| Error::format(path, None, context, e);
        if m.format != MANIFEST_FORMAT {
            return Err(bad(
                "format".into(),
                ShardError::Format {
                    found: m.format.clone(),
                    expected: MANIFEST_FORMAT,
                },
            ));
        }
        if m.version != MANIFEST_VERSION {
            return Err(bad(
                "version".into(),
                ShardError::Version {
                    found: m.version,
                    supported: MANIFEST_VERSION,
                },
            ));
        }
        if m.shards.is_empty() {
            return Err(bad("shards".into(), ShardError::NoShards));
        }
        for (i, s) in m.shards.iter().enumerate() {
            let (first, last) = (s.first_pid, s.last_pid);
            if first > last {
                return Err(bad(
                    s.path.clone(),
                    ShardError::EmptyRange {
                        shard: i,
                        first,
                        last,
                    },
                ));
            }
            if i > 0 && m.shards[i - 1].last_pid >= first {
                return Err(bad(
                    s.path.clone(),
                    ShardError::Overlap {
                        shard: i,
                        first,
                        last,
                    },
                ));
            }
        }
        Ok(m)
    }

    /// The manifest as pretty JSON text (ending with a newline).
    pub fn to_text(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest serializes");
        s.push('\n');
        s
    }

    /// The absolute (or manifest-relative) path of shard `i`'s config.
    pub fn shard_path(&self, manifest: &Path, i: usize) -> PathBuf {
        manifest
            .parent()
            .unwrap_or(Path::new(""))
            .join(&self.shards[i].path)
    }
}

/// Whether `path` is a shard manifest: a text file whose first non-blank byte is `{` and that
/// names [`MANIFEST_FORMAT`] in its first 64 KiB (a repository config never starts with `{`).
pub fn is_manifest(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    if f.take(MANIFEST_HEAD as u64).read_to_end(&mut head).is_err() {
        return false;
    }
    is_manifest_text(&head)
}

/// How much of a file [`is_manifest`] looks at.
const MANIFEST_HEAD: usize = 64 << 10;

/// [`is_manifest`] of a file already read: `bytes` are the file's (only the first 64 KiB
/// count).
pub fn is_manifest_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(MANIFEST_HEAD)];
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{')
        && head
            .windows(MANIFEST_FORMAT.len())
            .any(|w| w == MANIFEST_FORMAT.as_bytes())
}

/// The catalog checksum of a repository config: CRC-32 of the bytes of its `DICTIONARY`
/// files (the signals file is one of them) in config order, each preceded by its length as
/// a little-endian `u64`, as 8 lowercase hex digits. Two shards with equal checksums define
/// the same signals and dictionaries.
///
/// # Errors
/// [`Error::Open`] naming an unreadable dictionary.
pub fn catalog_checksum(config: &RepositoryConfig) -> Result<String> {
    let mut h = crc32fast::Hasher::new();
    for path in &config.dictionaries {
        let bytes = fs::read(path).map_err(|source| Error::Open {
            path: path.clone(),
            source,
        })?;
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(format!("{:08x}", h.finalize()))
}
