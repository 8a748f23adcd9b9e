//! `MedSparseVec`: the popcount-indexed sparse bitmap over pids shared by `.idx` (u32 entries)
//! and `.pid_idx` (24-byte entries).

use crate::error::DecodeError;

/// Magic of every serialized `MedSparseVec`.
pub const SPARSE_MAGIC: u64 = 0x0102_0304_0506_0708;

#[inline]
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
}
#[inline]
pub(crate) fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    b.get(off..off + 4)
        .map(|s| i32::from_le_bytes(s.try_into().expect("4 bytes")))
}
#[inline]
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    b.get(off..off + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
}

/// Offsets of a parsed sparse vector inside its file (all bounds checked at parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sparse {
    /// File offset of the `sv_len` field.
    pub start: usize,
    /// Smallest key.
    pub min: u32,
    /// Largest key.
    pub max_key: u32,
    /// File offset of `def_val`.
    pub def_off: usize,
    /// File offset of `counts[0]`.
    pub counts_off: usize,
    /// Number of counts (`n_words + 1`).
    pub n_counts: usize,
    /// File offset of `words[0]`.
    pub words_off: usize,
    /// Number of 64-bit words.
    pub n_words: usize,
    /// File offset of `data[0]`.
    pub data_off: usize,
    /// Number of data entries (present keys + 1).
    pub n_data: usize,
    /// Bytes per data entry.
    pub elem: usize,
}

fn need(b: &[u8], off: usize, len: usize) -> Result<(), (u64, DecodeError)> {
    match off.checked_add(len) {
        Some(end) if end <= b.len() => Ok(()),
        _ => Err((
            off as u64,
            DecodeError::OutOfBounds {
                start: off as u64,
                end: off as u64 + len as u64,
                len: b.len() as u64,
            },
        )),
    }
}

fn count_field(b: &[u8], off: usize) -> Result<usize, (u64, DecodeError)> {
    need(b, off, 4)?;
    Ok(u32_at(b, off).expect("checked") as usize)
}

impl Sparse {
    /// Parses the sparse vector starting at `start` (its `sv_len` field) and ending at the end
    /// of `b`, with data entries of `elem` bytes. O(1): checks sizes and header fields only.
    ///
    /// # Errors
    /// `(offset, what)` of the first inconsistency.
    pub fn parse(b: &[u8], start: usize, elem: usize) -> Result<Sparse, (u64, DecodeError)> {
        need(b, start, 28)?;
        let sv_len = u64_at(b, start).expect("checked");
        let rest = (b.len() - start) as u64;
        if sv_len != rest {
            return Err((
                start as u64,
                DecodeError::Field {
                    field: "sv_len",
                    found: sv_len as i64,
                    expected: rest as i64,
                },
            ));
        }
        let magic = u64_at(b, start + 8).expect("checked");
        if magic != SPARSE_MAGIC {
            return Err((
                (start + 8) as u64,
                DecodeError::Magic {
                    found: magic,
                    expected: SPARSE_MAGIC,
                },
            ));
        }
        let min = u32_at(b, start + 16).expect("checked");
        let max_key =
            u32_at(b, start + 28).ok_or((start as u64 + 28, DecodeError::UnexpectedEof))?;
        let def_off = start + 32;
        need(b, def_off, elem)?;
        let n_counts_off = def_off + elem;
        let n_counts = count_field(b, n_counts_off)?;
        let counts_off = n_counts_off + 4;
        need(b, counts_off, n_counts.saturating_mul(4))?;
        let n_words_off = counts_off + 4 * n_counts;
        let n_words = count_field(b, n_words_off)?;
        let words_off = n_words_off + 4;
        need(b, words_off, n_words.saturating_mul(8))?;
        if n_counts != n_words + 1 {
            return Err((
                n_counts_off as u64,
                DecodeError::Field {
                    field: "n_counts",
                    found: n_counts as i64,
                    expected: n_words as i64 + 1,
                },
            ));
        }
        if n_words > 0 {
            if max_key < min {
                return Err((
                    start as u64 + 28,
                    DecodeError::Field {
                        field: "max_key",
                        found: max_key as i64,
                        expected: min as i64,
                    },
                ));
            }
            let expected = (((max_key - min) >> 6) + 1) as usize;
            if n_words != expected {
                return Err((
                    n_words_off as u64,
                    DecodeError::Field {
                        field: "n_words",
                        found: n_words as i64,
                        expected: expected as i64,
                    },
                ));
            }
        }
        let n_data_off = words_off + 8 * n_words;
        let n_data = count_field(b, n_data_off)?;
        let data_off = n_data_off + 4;
        need(b, data_off, n_data.saturating_mul(elem))?;
        let end = data_off + n_data * elem;
        if end != b.len() {
            return Err((
                end as u64,
                DecodeError::Field {
                    field: "file size",
                    found: b.len() as i64,
                    expected: end as i64,
                },
            ));
        }
        if n_data == 0 {
            return Err((
                n_data_off as u64,
                DecodeError::Field {
                    field: "n_data",
                    found: 0,
                    expected: 1,
                },
            ));
        }
        Ok(Sparse {
            start,
            min,
            max_key,
            def_off,
            counts_off,
            n_counts,
            words_off,
            n_words,
            data_off,
            n_data,
            elem,
        })
    }

    /// The data index (≥ 1) of `key`, or `None` if absent.
    ///
    /// # Errors
    /// `(offset, what)` when the counts point past the data (a corrupt file).
    #[inline]
    pub fn find(&self, b: &[u8], key: u32) -> Result<Option<usize>, (u64, DecodeError)> {
        match self.slot(key) {
            Some((w, bit)) => self.find_at(b, w, bit),
            None => Ok(None),
        }
    }

    /// Where `key` would be: `(word index, bit within the word)`, or `None` when it is outside
    /// `min..=max_key` (so certainly absent). The first half of [`Sparse::find`], reading
    /// nothing from the file: batched lookups prefetch [`Sparse::word_offsets`] between the
    /// two halves.
    #[inline]
    pub fn slot(&self, key: u32) -> Option<(usize, u32)> {
        if key < self.min || key > self.max_key || self.n_words == 0 {
            return None;
        }
        let m = key - self.min;
        Some(((m >> 6) as usize, m & 63))
    }

    /// File offsets of the bitmap word and the count that [`Sparse::find_at`] reads for word
    /// `w`.
    #[inline]
    pub fn word_offsets(&self, w: usize) -> (usize, usize) {
        (self.words_off + 8 * w, self.counts_off + 4 * w)
    }

    /// The second half of [`Sparse::find`]: the data index of the key at `(w, bit)` (from
    /// [`Sparse::slot`]), or `None` if its bit is clear.
    ///
    /// # Errors
    /// As [`Sparse::find`].
    #[inline]
    pub fn find_at(
        &self,
        b: &[u8],
        w: usize,
        bit: u32,
    ) -> Result<Option<usize>, (u64, DecodeError)> {
        let word = u64_at(b, self.words_off + 8 * w).unwrap_or(0);
        let k = word >> (63 - bit);
        if k & 1 == 0 {
            return Ok(None);
        }
        let count = u32_at(b, self.counts_off + 4 * w).unwrap_or(u32::MAX) as usize;
        let ind = count + k.count_ones() as usize;
        if ind >= self.n_data {
            return Err((
                (self.counts_off + 4 * w) as u64,
                DecodeError::Field {
                    field: "counts",
                    found: ind as i64,
                    expected: self.n_data as i64 - 1,
                },
            ));
        }
        Ok(Some(ind))
    }

    /// File offset of data entry `ind`.
    #[inline]
    pub fn data_at(&self, ind: usize) -> usize {
        self.data_off + ind * self.elem
    }

    /// Present keys in ascending order, with their data index (a full scan, for verify,
    /// export and whole-signal scans): set bits are found with `leading_zeros`, so the cost is
    /// one step per word plus one per key.
    pub fn keys<'b>(&self, b: &'b [u8]) -> impl Iterator<Item = (u32, usize)> + 'b {
        let s = *self;
        let mut ind = 0usize;
        (0..s.n_words)
            .flat_map(move |w| {
                let mut word = u64_at(b, s.words_off + 8 * w).unwrap_or(0);
                std::iter::from_fn(move || {
                    if word == 0 {
                        return None;
                    }
                    let bit = word.leading_zeros();
                    word &= !(1u64 << (63 - bit));
                    Some((w, bit))
                })
            })
            .map(move |(w, bit)| {
                ind += 1;
                (s.min + (w as u32) * 64 + bit, ind)
            })
    }

    /// Full check of counts against the bitmap popcounts (verify). With `strict_ends` (`.idx`,
    /// not `.pid_idx`, whose `min_val` is one below its first pid and whose default value is a
    /// record): `min_val` and `max_key` must be keys, and `max_val`, `max_set`, `def_val` 0.
    /// Returns the number of keys.
    ///
    /// # Errors
    /// `(offset, what)` of the first inconsistency.
    pub fn verify(&self, b: &[u8], strict_ends: bool) -> Result<usize, (u64, DecodeError)> {
        if strict_ends {
            // Written as 0 by the original (unused fields and the u32 default value).
            for (off, field) in [
                (self.start + 20, "max_val"),
                (self.start + 24, "max_set"),
                (self.def_off, "def_val"),
            ] {
                let v = u32_at(b, off).expect("checked at parse");
                if v != 0 {
                    return Err((
                        off as u64,
                        DecodeError::Field {
                            field,
                            found: v as i64,
                            expected: 0,
                        },
                    ));
                }
            }
        }
        let mut total: u64 = 0;
        for w in 0..self.n_counts {
            let off = self.counts_off + 4 * w;
            let c = u32_at(b, off).expect("checked at parse") as u64;
            if c != total {
                return Err((
                    off as u64,
                    DecodeError::Field {
                        field: "counts",
                        found: c as i64,
                        expected: total as i64,
                    },
                ));
            }
            if w < self.n_words {
                total += u64_at(b, self.words_off + 8 * w)
                    .expect("checked at parse")
                    .count_ones() as u64;
            }
        }
        if total + 1 != self.n_data as u64 {
            return Err((
                (self.data_off - 4) as u64,
                DecodeError::Field {
                    field: "n_data",
                    found: self.n_data as i64,
                    expected: total as i64 + 1,
                },
            ));
        }
        if strict_ends && total == 0 && (self.min != 0 || self.max_key != 0) {
            return Err((
                self.start as u64 + 16,
                if self.min != 0 {
                    DecodeError::Field {
                        field: "min_val of an empty index",
                        found: self.min as i64,
                        expected: 0,
                    }
                } else {
                    DecodeError::Field {
                        field: "max_key of an empty index",
                        found: self.max_key as i64,
                        expected: 0,
                    }
                },
            ));
        }
        if strict_ends && total > 0 {
            let first = u64_at(b, self.words_off).expect("checked");
            let m = self.max_key - self.min;
            let last = u64_at(b, self.words_off + 8 * (self.n_words - 1)).expect("checked");
            if first >> 63 == 0 || (last >> (63 - (m & 63))) & 1 == 0 {
                return Err((
                    self.words_off as u64,
                    if first >> 63 == 0 {
                        DecodeError::AbsentBound {
                            field: "min_val",
                            key: self.min as u64,
                        }
                    } else {
                        DecodeError::AbsentBound {
                            field: "max_key",
                            key: self.max_key as u64,
                        }
                    },
                ));
            }
        }
        Ok(total as usize)
    }
}

/// Serializes a sparse vector over ascending `keys` with one `elem`-byte entry each
/// (`def_val` and the dummy `data[0]` are `def`), exactly as `MedSparseVec::serialize`, with
/// `min_val` = the first key (0 when empty).
pub fn write_sparse(out: &mut Vec<u8>, keys: &[u32], def: &[u8], entries: &[u8]) {
    write_sparse_with_min(out, keys.first().copied().unwrap_or(0), keys, def, entries)
}

/// [`write_sparse`] with an explicit `min_val` ≤ the first key (`.pid_idx` uses first pid − 1).
pub fn write_sparse_with_min(
    out: &mut Vec<u8>,
    min: u32,
    keys: &[u32],
    def: &[u8],
    entries: &[u8],
) {
    debug_assert_eq!(entries.len(), keys.len() * def.len());
    let max = keys.last().copied().unwrap_or(min);
    let n_words = if keys.is_empty() {
        0
    } else {
        (((max - min) >> 6) + 1) as usize
    };
    let mut words = vec![0u64; n_words];
    for &k in keys {
        let m = k - min;
        words[(m >> 6) as usize] |= 1u64 << (63 - (m & 63));
    }
    let start = out.len();
    out.extend_from_slice(&0u64.to_le_bytes()); // sv_len, patched below
    out.extend_from_slice(&SPARSE_MAGIC.to_le_bytes());
    out.extend_from_slice(&min.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // max_val (unused)
    out.extend_from_slice(&0i32.to_le_bytes()); // max_set (unused)
    out.extend_from_slice(&max.to_le_bytes());
    out.extend_from_slice(def);
    out.extend_from_slice(&((n_words + 1) as u32).to_le_bytes());
    let mut total = 0u32;
    out.extend_from_slice(&total.to_le_bytes());
    for w in &words {
        total += w.count_ones();
        out.extend_from_slice(&total.to_le_bytes());
    }
    out.extend_from_slice(&(n_words as u32).to_le_bytes());
    for w in &words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out.extend_from_slice(&((keys.len() + 1) as u32).to_le_bytes());
    out.extend_from_slice(def);
    out.extend_from_slice(entries);
    let sv_len = (out.len() - start) as u64;
    out[start..start + 8].copy_from_slice(&sv_len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(keys: &[u32]) -> Vec<u8> {
        let entries: Vec<u8> = (0..keys.len() as u32)
            .flat_map(|i| (i * 10).to_le_bytes())
            .collect();
        let mut out = Vec::new();
        write_sparse(&mut out, keys, &0u32.to_le_bytes(), &entries);
        out
    }

    #[test]
    fn lookup_matches_keys() {
        let keys = [1025u32, 1026, 1088, 1089, 1200, 5000, 5063, 5064];
        let b = build(&keys);
        let s = Sparse::parse(&b, 0, 4).unwrap();
        assert_eq!(s.verify(&b, true), Ok(keys.len()));
        for (i, &k) in keys.iter().enumerate() {
            let ind = s.find(&b, k).unwrap().unwrap();
            assert_eq!(ind, i + 1);
            assert_eq!(u32_at(&b, s.data_at(ind)), Some(i as u32 * 10));
        }
        for k in [0, 1024, 1027, 1087, 4999, 5065, u32::MAX] {
            assert_eq!(s.find(&b, k), Ok(None), "{k}");
        }
        assert_eq!(s.keys(&b).map(|x| x.0).collect::<Vec<_>>(), keys);
    }

    #[test]
    fn truncation_and_flips_are_errors() {
        let b = build(&[3, 70, 500]);
        for cut in 0..b.len() {
            assert!(Sparse::parse(&b[..cut], 0, 4).is_err(), "cut {cut}");
        }
        for i in 0..b.len() {
            for bit in [0x01u8, 0x80] {
                let mut c = b.clone();
                c[i] ^= bit;
                if let Ok(s) = Sparse::parse(&c, 0, 4) {
                    let _ = s.verify(&c, true);
                    for k in 0..600 {
                        let _ = s.find(&c, k);
                    }
                }
            }
        }
    }
}
