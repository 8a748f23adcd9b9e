//! `<PREFIX>_all_pids.list`: `i32 n`, then `n × i32` pids ascending.

use std::path::Path;

use crate::error::{DecodeError, Error, Result};
use crate::ids::Pid;
use crate::mmap::Bytes;
use crate::native::sparse::i32_at;

/// The pid universe of a repository: borrowed from the map when aligned, else owned.
#[derive(Debug)]
pub(crate) enum PidList {
    Mapped(Bytes),
    Owned(Vec<Pid>),
}

impl PidList {
    /// Checks the count against the size (O(1)); keeps the map when the pids are 4-aligned.
    pub(crate) fn parse(path: &Path, bytes: Bytes) -> Result<PidList> {
        let b = bytes.as_slice();
        let n = i32_at(b, 0).ok_or_else(|| Error::corrupt(path, 0, DecodeError::UnexpectedEof))?;
        if n < 0 {
            return Err(Error::corrupt(
                path,
                0,
                DecodeError::Field {
                    field: "pid count",
                    found: n as i64,
                    expected: 0,
                },
            ));
        }
        let expected = 4 + 4 * n as u64;
        if b.len() as u64 != expected {
            return Err(Error::corrupt(
                path,
                b.len().min(expected as usize) as u64,
                DecodeError::Field {
                    field: "file size",
                    found: b.len() as i64,
                    expected: expected as i64,
                },
            ));
        }
        if bytemuck::try_cast_slice::<u8, Pid>(&b[4..]).is_ok() {
            Ok(PidList::Mapped(bytes))
        } else {
            Ok(PidList::Owned(bytemuck::pod_collect_to_vec(&b[4..])))
        }
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[Pid] {
        match self {
            PidList::Mapped(b) => bytemuck::cast_slice(&b.as_slice()[4..]),
            PidList::Owned(v) => v,
        }
    }
}

/// Serializes a pid list.
pub fn write_pids(pids: &[Pid]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * pids.len());
    out.extend_from_slice(&(pids.len() as i32).to_le_bytes());
    for p in pids {
        out.extend_from_slice(&(p.0 as i32).to_le_bytes());
    }
    out
}

/// Checks ascending, unique, non-negative pids (verify).
pub(crate) fn verify_pids(path: &Path, pids: &[Pid]) -> Result<()> {
    for (i, p) in pids.iter().enumerate() {
        if p.0 > i32::MAX as u32 {
            return Err(Error::corrupt(
                path,
                4 + 4 * i as u64,
                DecodeError::Field {
                    field: "pid",
                    found: p.0 as i32 as i64,
                    expected: 0,
                },
            ));
        }
        if i > 0 && pids[i - 1] >= *p {
            return Err(Error::corrupt(
                path,
                4 + 4 * i as u64,
                DecodeError::NotAscending {
                    what: "pids",
                    prev: pids[i - 1].0 as i64,
                    next: p.0 as i64,
                },
            ));
        }
    }
    Ok(())
}
