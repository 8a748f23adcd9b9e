//! MODE 3 `.idx`: a 20-byte `IndexTable` header and a `MedSparseVec<u32>` of element starts.

use crate::error::DecodeError;
use crate::native::sparse::{i32_at, u32_at, u64_at, write_sparse, Sparse};

/// Size of the `IndexTable` header before the sparse vector.
pub const INDEX_HEADER_LEN: usize = 20;
/// Byte offset of the first element in a `.data` file (after the format word).
pub const DATA_BASE: u64 = 4;
/// The format word of a stripped data file.
pub const STRIPPED_FORMAT: i32 = 1;

/// A parsed `.idx` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalIndex {
    /// Number of elements of the last indexed pid.
    pub last_len: u32,
    /// The signal id recorded in the file.
    pub sid: i32,
    /// Byte offset of the first element in `.data` (always 4).
    pub base: u64,
    /// Element size in bytes.
    pub factor: u32,
    /// The sparse vector of element starts.
    pub sparse: Sparse,
}

/// A `(start, count)` in elements, from the index.
pub type ElementRange = (u64, u64);

impl SignalIndex {
    /// Parses the header and sparse-vector layout of a `.idx` file (O(1) checks).
    ///
    /// # Errors
    /// `(offset, what)` of the first inconsistency.
    pub fn parse(b: &[u8]) -> Result<SignalIndex, (u64, DecodeError)> {
        if b.len() < INDEX_HEADER_LEN {
            return Err((b.len() as u64, DecodeError::UnexpectedEof));
        }
        let last_len = i32_at(b, 0).expect("checked");
        if last_len < 0 {
            return Err((
                0,
                DecodeError::Field {
                    field: "last_len",
                    found: last_len as i64,
                    expected: 0,
                },
            ));
        }
        let sid = i32_at(b, 4).expect("checked");
        let base = u64_at(b, 8).expect("checked");
        let factor = u32_at(b, 16).expect("checked");
        if factor == 0 {
            return Err((
                16,
                DecodeError::Field {
                    field: "factor",
                    found: 0,
                    expected: 1,
                },
            ));
        }
        let sparse = Sparse::parse(b, INDEX_HEADER_LEN, 4)?;
        Ok(SignalIndex {
            last_len: last_len as u32,
            sid,
            base,
            factor,
            sparse,
        })
    }

    /// `(first element, number of elements)` of `pid`, `None` if absent.
    ///
    /// # Errors
    /// `(offset, what)` when the index is inconsistent at that pid.
    #[inline]
    pub fn find(&self, b: &[u8], pid: u32) -> Result<Option<ElementRange>, (u64, DecodeError)> {
        match self.sparse.find(b, pid)? {
            Some(ind) => self.range_at(b, ind).map(Some),
            None => Ok(None),
        }
    }

    /// `(first element, number of elements)` of data entry `ind` (≥ 1, from
    /// [`Sparse::find`] or [`Sparse::find_at`]): the last step of [`SignalIndex::find`].
    ///
    /// # Errors
    /// `(offset, what)` when the element starts decrease there.
    ///
    /// [`Sparse::find`]: crate::native::sparse::Sparse::find
    /// [`Sparse::find_at`]: crate::native::sparse::Sparse::find_at
    #[inline]
    pub fn range_at(&self, b: &[u8], ind: usize) -> Result<ElementRange, (u64, DecodeError)> {
        let start = u32_at(b, self.sparse.data_at(ind)).unwrap_or(0) as u64;
        let end = if ind + 1 < self.sparse.n_data {
            u32_at(b, self.sparse.data_at(ind + 1)).unwrap_or(0) as u64
        } else {
            start + self.last_len as u64
        };
        if end < start {
            return Err((
                self.sparse.data_at(ind + 1) as u64,
                DecodeError::NotAscending {
                    what: "element starts",
                    prev: start as i64,
                    next: end as i64,
                },
            ));
        }
        Ok((start, end - start))
    }

    /// Every pid with its `(start, count)`, ascending (a full scan).
    pub fn entries<'b>(&self, b: &'b [u8]) -> impl Iterator<Item = (u32, ElementRange)> + 'b {
        let s = *self;
        s.sparse.keys(b).map(move |(pid, ind)| {
            let start = u32_at(b, s.sparse.data_at(ind)).unwrap_or(0) as u64;
            let end = if ind + 1 < s.sparse.n_data {
                u32_at(b, s.sparse.data_at(ind + 1)).unwrap_or(0) as u64
            } else {
                start + s.last_len as u64
            };
            (pid, (start, end.saturating_sub(start)))
        })
    }
}

/// Serializes a `.idx` for `entries = [(pid, element count)]` (pids ascending, counts ≥ 1),
/// byte for byte as MedConvert writes it. With no entries, writes the empty form the original
/// writes for a signal without data (one zero word, `min_val = max_key = 0`).
pub fn write_index(sid: i32, factor: u32, entries: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + entries.len() * 4 + entries.len() / 4);
    let last_len = entries.last().map_or(0, |e| e.1);
    out.extend_from_slice(&(last_len as i32).to_le_bytes());
    out.extend_from_slice(&sid.to_le_bytes());
    out.extend_from_slice(&DATA_BASE.to_le_bytes());
    out.extend_from_slice(&factor.to_le_bytes());
    let keys: Vec<u32> = entries.iter().map(|e| e.0).collect();
    let mut starts = Vec::with_capacity(entries.len() * 4);
    let mut at = 0u32;
    for &(_, n) in entries {
        starts.extend_from_slice(&at.to_le_bytes());
        at += n;
    }
    if keys.is_empty() {
        // The original's empty sparse vector still has one (zero) word over key 0.
        write_empty_sparse(&mut out);
    } else {
        write_sparse(&mut out, &keys, &0u32.to_le_bytes(), &starts);
    }
    out
}

fn write_empty_sparse(out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&crate::native::sparse::SPARSE_MAGIC.to_le_bytes());
    for _ in 0..5 {
        out.extend_from_slice(&0u32.to_le_bytes()); // min, max_val, max_set, max_key, def_val
    }
    out.extend_from_slice(&2u32.to_le_bytes()); // n_counts
    out.extend_from_slice(&[0u8; 8]); // counts [0, 0]
    out.extend_from_slice(&1u32.to_le_bytes()); // n_words
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // n_data
    out.extend_from_slice(&0u32.to_le_bytes()); // data[0]
    let sv_len = (out.len() - start) as u64;
    out[start..start + 8].copy_from_slice(&sv_len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let entries = [(1025u32, 5u32), (1143, 2), (1300, 1), (24178, 4)];
        let b = write_index(1000, 8, &entries);
        let idx = SignalIndex::parse(&b).unwrap();
        assert_eq!(
            (idx.last_len, idx.sid, idx.base, idx.factor),
            (4, 1000, 4, 8)
        );
        assert_eq!(idx.find(&b, 1143).unwrap(), Some((5, 2)));
        assert_eq!(idx.find(&b, 24178).unwrap(), Some((8, 4)));
        assert_eq!(idx.find(&b, 1144).unwrap(), None);
        let all: Vec<_> = idx.entries(&b).collect();
        assert_eq!(
            all,
            [
                (1025, (0, 5)),
                (1143, (5, 2)),
                (1300, (7, 1)),
                (24178, (8, 4))
            ]
        );
        assert_eq!(
            b.len(),
            68 + ((24178 - 1025) / 64 + 2) * 4 + ((24178 - 1025) / 64 + 1) * 8 + 5 * 4
        );
    }

    #[test]
    fn empty_form_is_88_bytes() {
        let b = write_index(1010, 8, &[]);
        assert_eq!(b.len(), 88);
        let idx = SignalIndex::parse(&b).unwrap();
        assert_eq!(idx.find(&b, 0).unwrap(), None);
        assert_eq!(idx.sparse.verify(&b, true), Ok(0));
    }
}
