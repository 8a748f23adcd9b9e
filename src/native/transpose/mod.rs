//! The by-pid transpose of a MODE 3 repository: `<PREFIX>__pids__<k>.pid_data` (one
//! self-contained record per patient) and `<PREFIX>__pids__all.pid_idx` (a `MedSparseVec`
//! of 24-byte `PidIdxRec` over pids), as `MedPidRepository::create` writes them.
//!
//! A record: `u64 magic 0x00248ace13579bdf | i32 pid | i32 nsigs | nsigs × {i32 sid, i32 pos
//! (bytes from the record start), i32 len (elements)}` (sids ascending, non-empty signals
//! only), then the vectors in the same order. Reading one patient's whole record is one
//! contiguous slice of one chunk file.
//!
//! The files of this module: `record` (one patient's record and a `.pid_idx` entry, both
//! directions), `reader` (the mapped files), `store` (a store over the transpose alone).
//! Building the files is the write side's: `native::write::build_transpose`.

use std::path::{Path, PathBuf};

mod reader;
mod record;
mod store;

pub use reader::Transpose;
use record::parse_header;
pub(crate) use record::pid_idx_entry;
pub use record::{encode_record, PatientRecord, PidIdxEntry};
pub use store::TransposeStore;

/// Magic number at the start of every patient record (`PID_REC_MAGIC_NUM`).
pub const PID_RECORD_MAGIC: u64 = crate::target::TRANSPOSE_RECORD_MAGIC;
/// Size of one `PidIdxRec` entry of `.pid_idx`.
pub const PID_IDX_ENTRY_LEN: usize = 24;
/// Bytes of a record header before its `(sid, pos, len)` table.
pub const RECORD_HEADER_LEN: usize = 16;
/// Smallest number of pids per chunk file (`create_index` uses at most 10 chunks above it).
pub const MIN_CHUNK_PIDS: i64 = 1_000_000;

/// `<prefix>__pids__<k>.pid_data`.
pub fn chunk_path(prefix: &Path, k: usize) -> PathBuf {
    PathBuf::from(format!("{}__pids__{k}.pid_data", prefix.display()))
}

/// `<prefix>__pids__all.pid_idx`.
pub fn pid_idx_path(prefix: &Path) -> PathBuf {
    PathBuf::from(format!("{}__pids__all.pid_idx", prefix.display()))
}
