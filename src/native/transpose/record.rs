//! One patient's record of the transpose and one `.pid_idx` entry: parsing and encoding.

use crate::error::InputError;
use std::borrow::Cow;

use super::*;
use crate::error::{DecodeError, Result};
use crate::ids::{Pid, Sid};
use crate::native::sparse::{i32_at, u64_at};

/// One patient's whole record: `(sid, element bytes)` per non-empty signal, sids ascending.
/// Borrowed from the map when read from a transpose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientRecord<'a> {
    pub(super) pid: Pid,
    pub(super) signals: Vec<(Sid, Cow<'a, [u8]>)>,
}

impl<'a> PatientRecord<'a> {
    /// A record from `(sid, bytes)` pairs (sorted by sid here; empty vectors dropped).
    pub fn new(pid: Pid, mut signals: Vec<(Sid, Cow<'a, [u8]>)>) -> PatientRecord<'a> {
        signals.retain(|(_, b)| !b.is_empty());
        signals.sort_by_key(|s| s.0);
        PatientRecord { pid, signals }
    }

    /// The patient.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// `(sid, element bytes)` per non-empty signal, sids ascending.
    pub fn signals(&self) -> &[(Sid, Cow<'a, [u8]>)] {
        &self.signals
    }

    /// The elements of `sid` (empty if the patient has none).
    pub fn get(&self, sid: Sid) -> &[u8] {
        match self.signals.binary_search_by_key(&sid, |s| s.0) {
            Ok(i) => &self.signals[i].1,
            Err(_) => &[],
        }
    }

    /// Whether every vector is borrowed (zero-copy).
    pub fn is_borrowed(&self) -> bool {
        self.signals
            .iter()
            .all(|(_, b)| matches!(b, Cow::Borrowed(_)))
    }
}

/// A parsed `.pid_idx` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PidIdxEntry {
    /// Chunk file number.
    pub fnum: u16,
    /// Byte offset of the record in the chunk file.
    pub pos: u64,
    /// Byte length of the record.
    pub byte_len: u32,
    /// `-1` for real records (0 for the default and dummy entries).
    pub idx: i32,
}

pub(super) struct Header {
    pub(super) nsigs: usize,
}

/// Checks magic, pid and the table size of a record.
pub(super) fn parse_header(r: &[u8], pid: Pid) -> Result<Header, (u64, DecodeError)> {
    let magic = u64_at(r, 0).ok_or((0, DecodeError::UnexpectedEof))?;
    if magic != PID_RECORD_MAGIC {
        return Err((
            0,
            DecodeError::Magic {
                found: magic,
                expected: PID_RECORD_MAGIC,
            },
        ));
    }
    let p = i32_at(r, 8).ok_or((8, DecodeError::UnexpectedEof))?;
    if p as i64 != pid.0 as i64 {
        return Err((
            8,
            DecodeError::Field {
                field: "record pid",
                found: p as i64,
                expected: pid.0 as i64,
            },
        ));
    }
    let n = i32_at(r, 12).ok_or((12, DecodeError::UnexpectedEof))?;
    let table_end = (n as i64) * 12 + RECORD_HEADER_LEN as i64;
    if n < 0 || table_end > r.len() as i64 {
        return Err((
            12,
            DecodeError::Field {
                field: "nsigs",
                found: n as i64,
                expected: (r.len() as i64 - RECORD_HEADER_LEN as i64) / 12,
            },
        ));
    }
    Ok(Header { nsigs: n as usize })
}

/// A `.pid_idx` entry as written: `u16 fnum | 6 zero bytes | u64 pos | u32 byte_len | i32 idx`.
pub(crate) fn pid_idx_entry(
    fnum: u16,
    pos: u64,
    byte_len: u32,
    idx: i32,
) -> [u8; PID_IDX_ENTRY_LEN] {
    let mut e = [0u8; PID_IDX_ENTRY_LEN];
    e[0..2].copy_from_slice(&fnum.to_le_bytes());
    e[8..16].copy_from_slice(&pos.to_le_bytes());
    e[16..20].copy_from_slice(&byte_len.to_le_bytes());
    e[20..24].copy_from_slice(&idx.to_le_bytes());
    e
}

/// Builds one patient's record: header, table, vectors (signals by ascending sid).
pub fn encode_record(pid: Pid, signals: &[(Sid, &[u8], usize)]) -> Result<Vec<u8>> {
    let header = RECORD_HEADER_LEN + 12 * signals.len();
    let total: usize = header + signals.iter().map(|s| s.1.len()).sum::<usize>();
    if total > i32::MAX as usize {
        return Err(InputError::TooLarge {
            what: format!("pid {pid}: record bytes"),
            found: total as u64,
            limit: i32::MAX as u64,
        }
        .into());
    }
    let mut r = Vec::with_capacity(total);
    r.extend_from_slice(&PID_RECORD_MAGIC.to_le_bytes());
    r.extend_from_slice(&(pid.0 as i32).to_le_bytes());
    r.extend_from_slice(&(signals.len() as i32).to_le_bytes());
    let mut pos = header;
    for (sid, bytes, size) in signals {
        r.extend_from_slice(&(sid.0 as i32).to_le_bytes());
        r.extend_from_slice(&(pos as i32).to_le_bytes());
        r.extend_from_slice(&((bytes.len() / size) as i32).to_le_bytes());
        pos += bytes.len();
    }
    for (_, bytes, _) in signals {
        r.extend_from_slice(bytes);
    }
    Ok(r)
}
