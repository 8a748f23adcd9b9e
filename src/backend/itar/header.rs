//! Bounds-checked tar header parsing over mapped bytes: USTAR fields, pax (`x`) and GNU
//! long-name (`L`) headers, and a header walk that lists a shard's regular members.

use super::ItarError;

/// A tar block.
pub(crate) const BLOCK: u64 = 512;

/// The 512-byte header at `offset`, if the whole block is inside `data`.
pub(crate) fn block_at(data: &[u8], offset: u64) -> Option<&[u8; 512]> {
    let start = usize::try_from(offset).ok()?;
    data.get(start..start.checked_add(512)?)?.try_into().ok()
}

/// The bytes of a NUL-terminated field.
fn c_str(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// A numeric header field: octal digits (spaces / NULs around them), or GNU base-256 when the
/// high bit of the first byte is set. An empty field is 0 (as Python's `tarfile` and glzn).
pub(crate) fn number(field: &[u8], name: &'static str) -> Result<u64, ItarError> {
    let bad = || ItarError::Number { field: name };
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first == 0xff {
                return Err(bad()); // negative
            }
            let mut v = u64::from(first & 0x7f);
            for &b in &field[1..] {
                v = v
                    .checked_mul(256)
                    .ok_or_else(bad)?
                    .checked_add(u64::from(b))
                    .ok_or_else(bad)?;
            }
            Ok(v)
        }
        _ => {
            let trimmed: &[u8] = {
                let s = field
                    .iter()
                    .position(|&b| b != b' ' && b != 0)
                    .unwrap_or(field.len());
                let rest = &field[s..];
                let e = rest
                    .iter()
                    .position(|&b| b == b' ' || b == 0)
                    .unwrap_or(rest.len());
                if rest[e..].iter().any(|&b| b != b' ' && b != 0) {
                    return Err(bad());
                }
                &rest[..e]
            };
            let mut v: u64 = 0;
            for &b in trimmed {
                if !(b'0'..=b'7').contains(&b) {
                    return Err(bad());
                }
                v = v
                    .checked_mul(8)
                    .ok_or_else(bad)?
                    .checked_add(u64::from(b - b'0'))
                    .ok_or_else(bad)?;
            }
            Ok(v)
        }
    }
}

/// Checks the header checksum (unsigned sum, or the signed sum some old tars wrote).
pub(crate) fn check_checksum(h: &[u8; 512]) -> Result<(), ItarError> {
    let stored = number(&h[148..156], "chksum")?;
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(ItarError::Checksum {
            stored,
            computed: unsigned,
        })
    }
}

/// Whether the block is all zeros (end of archive).
pub(crate) fn is_zero(h: &[u8; 512]) -> bool {
    h.iter().all(|&b| b == 0)
}

/// The `name` field up to its first NUL (what glzn reads: no prefix, no long names).
pub(crate) fn name_field(h: &[u8; 512]) -> &[u8] {
    c_str(&h[..100])
}

/// The full USTAR name: `prefix/name` when the header has the POSIX `ustar\0` magic and a
/// prefix, else the name field.
fn ustar_name(h: &[u8; 512]) -> String {
    let name = name_field(h);
    let prefix = c_str(&h[345..500]);
    if &h[257..263] == b"ustar\0" && !prefix.is_empty() {
        let mut full = prefix.to_vec();
        full.push(b'/');
        full.extend_from_slice(name);
        String::from_utf8_lossy(&full).into_owned()
    } else {
        String::from_utf8_lossy(name).into_owned()
    }
}

/// A regular file member found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScannedMember {
    /// Offset of the member's own 512-byte header (after any pax / long-name headers).
    pub offset: u64,
    /// Payload size.
    pub size: u64,
    /// Full name (pax `path`, GNU long name, or `prefix/name`), lossily decoded as UTF-8.
    pub name: String,
}

/// Parses the records of a pax extended header: `"<len> <key>=<value>\n"`; returns `path` and
/// `size` if present.
fn pax_records(data: &[u8]) -> Result<(Option<String>, Option<u64>), ItarError> {
    let bad = |reason| ItarError::Pax { reason };
    let (mut path, mut size) = (None, None);
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break; // trailing NUL padding written by some tools
        }
        let sp = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or(bad("record without length"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(bad("record length is not a number"))?;
        if len <= sp + 1 || len > rest.len() {
            return Err(bad("record length out of range"));
        }
        let record = &rest[sp + 1..len];
        let record = record
            .strip_suffix(b"\n")
            .ok_or(bad("record does not end with a newline"))?;
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or(bad("record without '='"))?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        match key {
            b"path" => path = Some(String::from_utf8_lossy(value).into_owned()),
            b"size" => {
                size = Some(
                    std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or(bad("size is not a number"))?,
                )
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok((path, size))
}

/// Walks the headers of a tar from byte 0 and lists its regular file members (typeflags `0`,
/// NUL and `7`). Pax `path`/`size` records and GNU long names apply to the next member;
/// directories, links, devices and the metadata headers themselves are skipped. Stops at the
/// first all-zero block or at the end of the data.
///
/// # Errors
/// `(byte offset, error)`: a partial header, a bad checksum or number field, member data past
/// the end, a malformed pax header.
pub(crate) fn scan(data: &[u8]) -> Result<Vec<ScannedMember>, (u64, ItarError)> {
    let len = data.len() as u64;
    let mut members = Vec::new();
    let mut off: u64 = 0;
    let (mut long_name, mut pax_path, mut pax_size): (Option<String>, Option<String>, Option<u64>) =
        (None, None, None);
    loop {
        if off == len {
            break; // no end-of-archive blocks: accepted, as glzn and tarfile do
        }
        let h = block_at(data, off).ok_or((off, ItarError::Truncated { what: "header" }))?;
        if is_zero(h) {
            break;
        }
        check_checksum(h).map_err(|e| (off + 148, e))?;
        let field_size = number(&h[124..136], "size").map_err(|e| (off + 124, e))?;
        let flag = h[156];
        let meta = matches!(flag, b'x' | b'g' | b'L' | b'K');
        let size = if meta {
            field_size
        } else {
            pax_size.take().unwrap_or(field_size)
        };
        let start = off + BLOCK;
        let end = start.checked_add(size).filter(|&e| e <= len).ok_or((
            off,
            ItarError::Truncated {
                what: "member data",
            },
        ))?;
        let payload = &data[start as usize..end as usize];
        match flag {
            b'x' => {
                let (p, s) = pax_records(payload).map_err(|e| (off, e))?;
                if p.is_some() {
                    pax_path = p;
                }
                if s.is_some() {
                    pax_size = s;
                }
            }
            b'L' => long_name = Some(String::from_utf8_lossy(c_str(payload)).into_owned()),
            b'g' | b'K' => {}
            b'0' | 0 | b'7' => {
                let name = pax_path
                    .take()
                    .or_else(|| long_name.take())
                    .unwrap_or_else(|| ustar_name(h));
                long_name = None;
                members.push(ScannedMember {
                    offset: off,
                    size,
                    name,
                });
            }
            _ => {
                // directory, link, device, fifo: not a sample member
                (long_name, pax_path, pax_size) = (None, None, None);
            }
        }
        let padded = size
            .checked_add(BLOCK - 1)
            .map(|s| s / BLOCK * BLOCK)
            .ok_or((
                off,
                ItarError::Truncated {
                    what: "member data",
                },
            ))?;
        off = start
            .checked_add(padded)
            .ok_or((
                off,
                ItarError::Truncated {
                    what: "member data",
                },
            ))?
            .min(len);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, size: u64, flag: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000444");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = flag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn member(out: &mut Vec<u8>, name: &str, data: &[u8], flag: u8) {
        out.extend_from_slice(&header(name, data.len() as u64, flag));
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    #[test]
    fn numbers() {
        assert_eq!(number(b"0000000017\0 ", "size"), Ok(15));
        assert_eq!(number(b"   17 \0", "size"), Ok(15));
        assert_eq!(number(b"\0\0\0", "size"), Ok(0));
        assert_eq!(
            number(b"0018", "size"),
            Err(ItarError::Number { field: "size" })
        );
        assert_eq!(
            number(b"01 2", "size"),
            Err(ItarError::Number { field: "size" })
        );
        assert_eq!(number(&[0x80, 0, 0, 1, 0], "size"), Ok(256));
        assert!(number(&[0xff, 0, 0], "size").is_err());
    }

    #[test]
    fn scan_pax_gnu_dirs_and_truncation() {
        let mut t = Vec::new();
        member(&mut t, "dir/", b"", b'5');
        member(&mut t, "a.txt", b"hello", b'0');
        let long = format!("{}.txt", "x".repeat(120));
        member(
            &mut t,
            "././@LongLink",
            format!("{long}\0").as_bytes(),
            b'L',
        );
        member(&mut t, &long[..100], b"L", b'0');
        let body = "path=pax/ü.name.json\n";
        let rec = format!("{} {body}", body.len() + 3);
        member(&mut t, "PaxHeaders/x", rec.as_bytes(), b'x');
        member(&mut t, "truncated", b"{}", b'0');
        let end = t.len();
        t.resize(end + 1024, 0);
        let m = scan(&t).unwrap();
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["a.txt", long.as_str(), "pax/ü.name.json"]);
        assert_eq!((m[0].offset, m[0].size), (512, 5));
        assert_eq!(m[1].offset, 512 * 5);
        // Truncated inside a header, then inside data.
        assert_eq!(
            scan(&t[..1000]).unwrap_err(),
            (512, ItarError::Truncated { what: "header" })
        );
        assert_eq!(
            scan(&t[..1026]).unwrap_err(),
            (
                512,
                ItarError::Truncated {
                    what: "member data"
                }
            )
        );
        // A flipped byte breaks the checksum.
        let mut bad = t.clone();
        bad[512 + 3] ^= 0x20;
        assert!(matches!(
            scan(&bad).unwrap_err(),
            (660, ItarError::Checksum { .. })
        ));
    }

    #[test]
    fn pax_errors() {
        assert!(pax_records(b"99 path=x\n").is_err());
        assert!(pax_records(b"9 pathx\n").is_err());
        assert!(pax_records(b"x path=x\n").is_err());
        assert_eq!(pax_records(b"11 size=12\n\0\0"), Ok((None, Some(12))));
    }
}
