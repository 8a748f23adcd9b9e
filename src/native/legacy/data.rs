//! Legacy data files. Format word `1` (stripped): element vectors back to back. Format word
//! `0` (full): per-pid records `u64 MED_MAGIC_NUM | i32 pid | i32 ns | ns × {i32 sid, i32 pos
//! from the record start} | vectors`, with a `<data file>.idx` sidecar of `u64` record starts.
//! Vector lengths live only in the INDEX files.

use crate::error::DecodeError;
use crate::native::legacy::index::MED_MAGIC;
use crate::native::sparse::{i32_at, u64_at};

/// Format word of a full data file.
pub const FULL_FORMAT: i32 = 0;
/// Format word of a stripped data file.
pub const STRIPPED_FORMAT: i32 = 1;
/// Bytes of a full record header before its `(sid, pos)` table.
pub const RECORD_HEADER_LEN: usize = 16;

/// Encodes one full record at absolute file offset `start` of a file whose vectors must sit
/// a whole number of `align` bytes after byte 4 (`align` = the file's single element size, or
/// 1): zero padding after the table keeps them there, so the original reader's position
/// units (docs/formats/inframed.md §8.5) never truncate an offset. Returns the record and
/// the absolute position of each vector.
pub fn encode_full_record(
    start: u64,
    align: u64,
    pid: u32,
    vectors: &[(u32, &[u8])],
) -> (Vec<u8>, Vec<u64>) {
    let table = RECORD_HEADER_LEN + 8 * vectors.len();
    let mut first = start + table as u64;
    if align > 1 {
        let rem = (first - 4) % align;
        if rem != 0 {
            first += align - rem;
        }
    }
    let pad = (first - start) as usize - table;
    let mut r = Vec::with_capacity(table + pad + vectors.iter().map(|v| v.1.len()).sum::<usize>());
    r.extend_from_slice(&MED_MAGIC.to_le_bytes());
    r.extend_from_slice(&(pid as i32).to_le_bytes());
    r.extend_from_slice(&(vectors.len() as i32).to_le_bytes());
    let mut rel = (table + pad) as u64;
    let mut positions = Vec::with_capacity(vectors.len());
    for (sid, bytes) in vectors {
        r.extend_from_slice(&(*sid as i32).to_le_bytes());
        r.extend_from_slice(&(rel as i32).to_le_bytes());
        positions.push(start + rel);
        rel += bytes.len() as u64;
    }
    r.resize(table + pad, 0);
    for (_, bytes) in vectors {
        r.extend_from_slice(bytes);
    }
    (r, positions)
}

/// A full record's header: pid and `(sid, pos from record start)` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullRecordHeader {
    /// Patient.
    pub pid: u32,
    /// `(sid, byte position from the record start)`.
    pub table: Vec<(u32, u64)>,
}

/// Parses the header of the full record at `start`.
///
/// # Errors
/// `(absolute offset, what)`.
pub fn parse_full_header(b: &[u8], start: usize) -> Result<FullRecordHeader, (u64, DecodeError)> {
    let at = start as u64;
    let magic = u64_at(b, start).ok_or((at, DecodeError::UnexpectedEof))?;
    if magic != MED_MAGIC {
        return Err((
            at,
            DecodeError::Magic {
                found: magic,
                expected: MED_MAGIC,
            },
        ));
    }
    let pid = i32_at(b, start + 8).ok_or((at + 8, DecodeError::UnexpectedEof))?;
    let ns = i32_at(b, start + 12).ok_or((at + 12, DecodeError::UnexpectedEof))?;
    if pid < 0 {
        return Err((
            at + 8,
            DecodeError::Field {
                field: "record pid",
                found: pid as i64,
                expected: 0,
            },
        ));
    }
    let table_end = start as i64 + RECORD_HEADER_LEN as i64 + 8 * ns as i64;
    if ns < 0 || table_end > b.len() as i64 {
        return Err((
            at + 12,
            DecodeError::Field {
                field: "ns",
                found: ns as i64,
                expected: (b.len().saturating_sub(start + RECORD_HEADER_LEN) / 8) as i64,
            },
        ));
    }
    let mut table = Vec::with_capacity(ns as usize);
    for i in 0..ns as usize {
        let off = start + RECORD_HEADER_LEN + 8 * i;
        let sid = i32_at(b, off).unwrap_or(-1);
        let pos = i32_at(b, off + 4).unwrap_or(-1);
        if sid < 0 || pos < 0 {
            return Err((
                off as u64,
                if sid < 0 {
                    DecodeError::Negative {
                        field: "sid",
                        value: sid as i64,
                    }
                } else {
                    DecodeError::Negative {
                        field: "vector position",
                        value: pos as i64,
                    }
                },
            ));
        }
        table.push((sid as u32, pos as u64));
    }
    Ok(FullRecordHeader {
        pid: pid as u32,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_full_record() {
        // docs/formats/inframed.md §8.4: format 0 | magic | pid 1025 | ns 1 | sid 1000 | pos 24.
        let v = [0xb7u8, 0x3f, 0x32, 0x01, 0, 0, 0x58, 0x41];
        let (r, pos) = encode_full_record(4, 8, 1025, &[(1000, &v)]);
        let mut want = Vec::new();
        want.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_le_bytes());
        want.extend_from_slice(&1025i32.to_le_bytes());
        want.extend_from_slice(&1i32.to_le_bytes());
        want.extend_from_slice(&1000i32.to_le_bytes());
        want.extend_from_slice(&24i32.to_le_bytes());
        want.extend_from_slice(&v);
        assert_eq!(r, want);
        assert_eq!(pos, [28]);
        let mut file = 0i32.to_le_bytes().to_vec();
        file.extend(&r);
        let h = parse_full_header(&file, 4).unwrap();
        assert_eq!(h.table, [(1000, 24)]);
    }

    #[test]
    fn pads_16_byte_elements_to_whole_element_offsets() {
        let v = [7u8; 16];
        let (r, pos) = encode_full_record(4, 16, 1, &[(2003, &v)]);
        assert_eq!((pos[0] - 4) % 16, 0);
        assert_eq!(r.len(), 32 + 16);
        let (r2, pos2) = encode_full_record(4 + r.len() as u64, 16, 2, &[(2003, &v)]);
        assert_eq!((pos2[0] - 4) % 16, 0);
        assert_eq!(r2.len(), 48);
    }
}
