//! Legacy INDEX packet files: a 12-byte header (`u64 MED_MAGIC_NUM`, `i32 mode 0`), then one
//! packet per pid (`u64 magic | i32 pid | i32 nsig`) of 18-byte packed entries
//! `(i32 sid, u16 fno, u64 pos, i32 len)`, `pos` and `len` in **bytes**.

use crate::error::DecodeError;
use crate::native::sparse::{i32_at, u64_at};

/// `MED_MAGIC_NUM`: the header and packet magic of INDEX files (and of full-record headers).
pub const MED_MAGIC: u64 = 0x0123_4567_89ab_cdef;
/// Size of the file header.
pub const INDEX_FILE_HEADER_LEN: usize = 12;
/// Size of a packet header.
pub const PACKET_HEADER_LEN: usize = 16;
/// Size of one packed entry.
pub const ENTRY_LEN: usize = 18;

/// One entry of an INDEX file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexEntry {
    /// Patient.
    pub pid: u32,
    /// Signal id.
    pub sid: u32,
    /// Data file number.
    pub fno: u16,
    /// Absolute byte offset of the vector in the data file.
    pub pos: u64,
    /// Byte length of the vector.
    pub len: u32,
    /// Byte offset of this entry in the INDEX file (for error messages).
    pub offset: u64,
}

/// Parses a whole INDEX file. Packets must be in ascending pid order.
///
/// # Errors
/// `(offset, what)` of the first problem: short file, bad magic, mode ≠ 0, negative fields,
/// pids not ascending.
pub fn parse_index(b: &[u8]) -> Result<(Vec<u32>, Vec<IndexEntry>), (u64, DecodeError)> {
    let magic = u64_at(b, 0).ok_or((0, DecodeError::UnexpectedEof))?;
    if magic != MED_MAGIC {
        return Err((
            0,
            DecodeError::Magic {
                found: magic,
                expected: MED_MAGIC,
            },
        ));
    }
    let mode = i32_at(b, 8).ok_or((8, DecodeError::UnexpectedEof))?;
    if mode != 0 {
        return Err((8, DecodeError::Version(mode as i64)));
    }
    let mut at = INDEX_FILE_HEADER_LEN;
    let mut pids = Vec::new();
    let mut entries = Vec::new();
    let mut prev: Option<u32> = None;
    while at < b.len() {
        let m = u64_at(b, at).ok_or((at as u64, DecodeError::UnexpectedEof))?;
        if m != MED_MAGIC {
            return Err((
                at as u64,
                DecodeError::Magic {
                    found: m,
                    expected: MED_MAGIC,
                },
            ));
        }
        let pid = i32_at(b, at + 8).ok_or((at as u64 + 8, DecodeError::UnexpectedEof))?;
        let nsig = i32_at(b, at + 12).ok_or((at as u64 + 12, DecodeError::UnexpectedEof))?;
        if pid < 0 {
            return Err((
                at as u64 + 8,
                DecodeError::Field {
                    field: "pid",
                    found: pid as i64,
                    expected: 0,
                },
            ));
        }
        let pid = pid as u32;
        if let Some(p) = prev {
            if pid <= p {
                return Err((
                    at as u64 + 8,
                    DecodeError::NotAscending {
                        what: "packet pids",
                        prev: p as i64,
                        next: pid as i64,
                    },
                ));
            }
        }
        prev = Some(pid);
        let body = (nsig as i64) * ENTRY_LEN as i64;
        if nsig < 0 || (at + PACKET_HEADER_LEN) as i64 + body > b.len() as i64 {
            return Err((
                at as u64 + 12,
                DecodeError::Field {
                    field: "nsig",
                    found: nsig as i64,
                    expected: ((b.len() - (at + PACKET_HEADER_LEN).min(b.len())) / ENTRY_LEN)
                        as i64,
                },
            ));
        }
        pids.push(pid);
        at += PACKET_HEADER_LEN;
        for _ in 0..nsig {
            let e = &b[at..at + ENTRY_LEN];
            let sid = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let fno = u16::from_le_bytes([e[4], e[5]]);
            let pos = u64::from_le_bytes([e[6], e[7], e[8], e[9], e[10], e[11], e[12], e[13]]);
            let len = i32::from_le_bytes([e[14], e[15], e[16], e[17]]);
            if sid < 0 || len < 0 {
                let (off, field, found) = if sid < 0 {
                    (at, "sid", sid)
                } else {
                    (at + 14, "len", len)
                };
                return Err((
                    off as u64,
                    DecodeError::Field {
                        field,
                        found: found as i64,
                        expected: 0,
                    },
                ));
            }
            entries.push(IndexEntry {
                pid,
                sid: sid as u32,
                fno,
                pos,
                len: len as u32,
                offset: at as u64,
            });
            at += ENTRY_LEN;
        }
    }
    Ok((pids, entries))
}

/// The 12-byte INDEX file header.
pub fn index_file_header() -> [u8; INDEX_FILE_HEADER_LEN] {
    let mut h = [0u8; INDEX_FILE_HEADER_LEN];
    h[..8].copy_from_slice(&MED_MAGIC.to_le_bytes());
    h
}

/// One packet: header and `(sid, fno, pos, len)` entries.
pub fn encode_packet(pid: u32, entries: &[(u32, u16, u64, u32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PACKET_HEADER_LEN + ENTRY_LEN * entries.len());
    out.extend_from_slice(&MED_MAGIC.to_le_bytes());
    out.extend_from_slice(&(pid as i32).to_le_bytes());
    out.extend_from_slice(&(entries.len() as i32).to_le_bytes());
    for &(sid, fno, pos, len) in entries {
        out.extend_from_slice(&(sid as i32).to_le_bytes());
        out.extend_from_slice(&fno.to_le_bytes());
        out.extend_from_slice(&pos.to_le_bytes());
        out.extend_from_slice(&(len as i32).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `lg_Hemoglobin.idx` hexdump of docs/formats/inframed.md §8.3.
    const HGB: &str = "efcdab8967452301 00000000 efcdab8967452301 01040000 01000000 e8030000 \
                       0600 0400000000000000 28000000 efcdab8967452301 77040000 01000000 e8030000 \
                       0600 2c00000000000000 10000000";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn reads_the_documented_packets() {
        let b = hex(HGB);
        let (pids, e) = parse_index(&b).unwrap();
        assert_eq!(pids, [1025, 1143]);
        assert_eq!(
            e.iter()
                .map(|e| (e.pid, e.sid, e.fno, e.pos, e.len))
                .collect::<Vec<_>>(),
            [(1025, 1000, 6, 4, 40), (1143, 1000, 6, 44, 16)]
        );
        let mut w = index_file_header().to_vec();
        w.extend(encode_packet(1025, &[(1000, 6, 4, 40)]));
        w.extend(encode_packet(1143, &[(1000, 6, 44, 16)]));
        assert_eq!(w, b);
    }

    #[test]
    fn damage_is_an_error_at_its_offset() {
        let b = hex(HGB);
        for cut in 0..b.len() {
            if cut == 12 || cut == 46 {
                continue; // packet boundaries: a shorter valid file
            }
            assert!(parse_index(&b[..cut]).is_err(), "cut {cut}");
        }
        let mut c = b.clone();
        c[8] = 1;
        assert_eq!(parse_index(&c), Err((8, DecodeError::Version(1))));
        let mut c = b.clone();
        c[46] ^= 0xff;
        assert!(matches!(
            parse_index(&c),
            Err((46, DecodeError::Magic { .. }))
        ));
        let mut c = b.clone();
        c[54..58].copy_from_slice(&1000i32.to_le_bytes());
        assert!(matches!(
            parse_index(&c),
            Err((54, DecodeError::NotAscending { .. }))
        ));
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x80;
            let _ = parse_index(&c);
        }
    }
}
