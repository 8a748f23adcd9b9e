//! The glzn `.taridx` binary index: 64-byte header, extension and crash-stem blocks, 32-byte
//! rows (all little-endian, packed); parsing with every check of TARIDX_FORMAT.md §10, encoding,
//! and the builder the writer and the tar scan share.

use hashbrown::{HashMap, HashSet};
use xxhash_rust::xxh64::xxh64;

use super::ItarError;

/// `magic` of a `.taridx`.
pub const MAGIC: &[u8; 8] = b"TARIDX\0\0";
/// Header bytes.
pub const HEADER_SIZE: usize = 64;
/// Row bytes.
pub const ROW_SIZE: usize = 32;
/// The major version this module reads and writes.
const MAJOR: u16 = 1;

/// One indexed tar member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Row {
    /// Shard id within the fold (rank of the shard suffix sorted as a string).
    pub fid: u16,
    /// Byte offset of the member's 512-byte tar header; the payload starts 512 bytes later.
    pub offset: u64,
    /// Payload bytes.
    pub size: u64,
    /// Index into [`TarIndex::extensions`].
    pub extid: u16,
    /// 0 = the canonical stem of `keyhash`; `k ≥ 1` = [`TarIndex::crash_stems`]`[k - 1]`.
    pub crashid: u32,
    /// `xxh64(stem, seed 0)`.
    pub keyhash: u64,
}

impl Row {
    fn decode(b: &[u8; ROW_SIZE]) -> Row {
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(x)
        };
        Row {
            fid: u16_at(0),
            offset: u64_at(2),
            size: u64_at(10),
            extid: u16_at(18),
            crashid: u32_at(20),
            keyhash: u64_at(24),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.fid.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.extid.to_le_bytes());
        out.extend_from_slice(&self.crashid.to_le_bytes());
        out.extend_from_slice(&self.keyhash.to_le_bytes());
    }
}

/// A decoded `.taridx`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TarIndex {
    /// Major version (1).
    pub major: u16,
    /// Minor version (a newer minor of major 1 is accepted).
    pub minor: u16,
    /// Number of distinct stems.
    pub n_stems: u64,
    /// Flags byte: bit 0 = rows contiguous by `(keyhash, crashid)`.
    pub flags: u8,
    /// Extensions by id (`''` is a valid extension: a member name without a dot).
    pub extensions: Vec<String>,
    /// Crash stems: `crash_stems[k - 1]` is the stem of crashid `k`.
    pub crash_stems: Vec<String>,
    /// Rows in file order.
    pub rows: Vec<Row>,
}

/// The 8-byte little-endian word at `o` (the caller checked the length).
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(x)
}

/// Splits a block on `\n` exactly; an empty block is `[]` when `count == 0`, else `[""]`.
fn split_block(
    block: &[u8],
    count: u64,
    name: &'static str,
    at: u64,
) -> Result<Vec<String>, (u64, ItarError)> {
    let text = std::str::from_utf8(block).map_err(|_| (at, ItarError::NotUtf8 { block: name }))?;
    let list: Vec<String> = if text.is_empty() && count == 0 {
        Vec::new()
    } else {
        text.split('\n').map(str::to_owned).collect()
    };
    let field = if name == "extension" {
        "n_ext"
    } else {
        "n_crash"
    };
    if list.len() as u64 != count {
        return Err((
            if name == "extension" { 32 } else { 36 },
            ItarError::Field {
                field,
                found: count,
                expected: list.len() as u64,
            },
        ));
    }
    let mut seen = HashSet::with_capacity(list.len());
    for s in &list {
        if !seen.insert(s.clone()) {
            return Err((
                at,
                ItarError::DuplicateName {
                    block: name,
                    name: s.clone(),
                },
            ));
        }
    }
    Ok(list)
}

impl TarIndex {
    /// Parses a `.taridx`: magic, major version, `rec_size`, `hdr_size`, block offsets, the
    /// `\n`-separated blocks against `n_ext` / `n_crash`, the row count against `n_rows`, and
    /// every row's `extid` and `crashid`.
    ///
    /// # Errors
    /// `(byte offset, error)` of the first problem.
    pub fn parse(b: &[u8]) -> Result<TarIndex, (u64, ItarError)> {
        let len = b.len() as u64;
        let h = b
            .get(..HEADER_SIZE)
            .ok_or((len, ItarError::UnexpectedEof))?;
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&h[..8]);
        if &magic != MAGIC {
            return Err((0, ItarError::Magic { found: magic }));
        }
        let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let (major, minor) = (u16_at(8), u16_at(10));
        if major != MAJOR {
            return Err((8, ItarError::Version { major, minor }));
        }
        let field = |o: u64, field, found: u64, expected: u64| {
            (
                o,
                ItarError::Field {
                    field,
                    found,
                    expected,
                },
            )
        };
        let rec_size = u16_at(12);
        if rec_size as usize != ROW_SIZE {
            return Err(field(12, "rec_size", rec_size.into(), ROW_SIZE as u64));
        }
        let hdr_size = u16_at(14);
        if hdr_size as usize != HEADER_SIZE {
            return Err(field(14, "hdr_size", hdr_size.into(), HEADER_SIZE as u64));
        }
        let n_stems = u64_at(h, 16);
        let n_rows = u64_at(h, 24);
        let n_ext = u64::from(u32_at(32));
        let n_crash = u64::from(u32_at(36));
        let off_crash = u64_at(h, 40);
        let off_arr = u64_at(h, 48);
        let flags = h[56];
        if off_crash < HEADER_SIZE as u64 || off_arr < off_crash || off_arr > len {
            return Err((
                40,
                ItarError::Offsets {
                    off_crash,
                    off_arr,
                    len,
                },
            ));
        }
        // Both offsets are ≤ len, which fits in usize.
        let (oc, oa) = (off_crash as usize, off_arr as usize);
        let extensions = split_block(&b[HEADER_SIZE..oc], n_ext, "extension", HEADER_SIZE as u64)?;
        let crash_stems = split_block(&b[oc..oa], n_crash, "crash", off_crash)?;
        let area = &b[oa..];
        if area.len() % ROW_SIZE != 0 {
            return Err((
                off_arr,
                ItarError::RowArea {
                    len: area.len() as u64,
                },
            ));
        }
        let found_rows = (area.len() / ROW_SIZE) as u64;
        if found_rows != n_rows {
            return Err(field(24, "n_rows", n_rows, found_rows));
        }
        let mut rows = Vec::with_capacity(area.len() / ROW_SIZE);
        for (i, chunk) in area.chunks_exact(ROW_SIZE).enumerate() {
            let at = off_arr + (i * ROW_SIZE) as u64;
            let row = Row::decode(chunk.try_into().expect("chunks_exact"));
            if usize::from(row.extid) >= extensions.len() {
                return Err((
                    at + 18,
                    ItarError::ExtId {
                        extid: row.extid,
                        n_ext: extensions.len(),
                    },
                ));
            }
            if row.crashid as usize > crash_stems.len() {
                return Err((
                    at + 20,
                    ItarError::CrashId {
                        crashid: row.crashid,
                        n_crash: crash_stems.len(),
                    },
                ));
            }
            rows.push(row);
        }
        Ok(TarIndex {
            major,
            minor,
            n_stems,
            flags,
            extensions,
            crash_stems,
            rows,
        })
    }

    /// Whether flag bit 0 (rows contiguous by `(keyhash, crashid)`) is set.
    pub fn contiguous(&self) -> bool {
        self.flags & 1 != 0
    }

    /// Byte offset of row `i` in the encoded file.
    pub fn row_offset(&self, i: usize) -> u64 {
        (HEADER_SIZE + self.blocks_len() + i * ROW_SIZE) as u64
    }

    fn blocks_len(&self) -> usize {
        self.extensions.join("\n").len() + self.crash_stems.join("\n").len()
    }

    /// Encodes the index as glzn's `iTarState.save` does (version 1.0).
    pub fn to_bytes(&self) -> Vec<u8> {
        let ext = self.extensions.join("\n");
        let crash = self.crash_stems.join("\n");
        let off_crash = (HEADER_SIZE + ext.len()) as u64;
        let off_arr = off_crash + crash.len() as u64;
        let mut out = Vec::with_capacity(off_arr as usize + self.rows.len() * ROW_SIZE);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&MAJOR.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&(ROW_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&(HEADER_SIZE as u16).to_le_bytes());
        out.extend_from_slice(&self.n_stems.to_le_bytes());
        out.extend_from_slice(&(self.rows.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.extensions.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.crash_stems.len() as u32).to_le_bytes());
        out.extend_from_slice(&off_crash.to_le_bytes());
        out.extend_from_slice(&off_arr.to_le_bytes());
        out.push(self.flags);
        out.extend_from_slice(&[0u8; 7]);
        out.extend_from_slice(ext.as_bytes());
        out.extend_from_slice(crash.as_bytes());
        for r in &self.rows {
            r.encode(&mut out);
        }
        out
    }
}

/// Number of runs of equal `(keyhash, crashid)` in row order.
pub(crate) fn runs(rows: &[Row]) -> u64 {
    if rows.is_empty() {
        return 0;
    }
    1 + rows
        .windows(2)
        .filter(|w| (w[0].keyhash, w[0].crashid) != (w[1].keyhash, w[1].crashid))
        .count() as u64
}

/// Builds a [`TarIndex`] member by member as glzn's writer and `_scan` do: extension ids in
/// order of first appearance, the first stem of a hash canonical, later different stems of the
/// same hash numbered 1, 2, … in the crash block.
#[derive(Debug, Default)]
pub(crate) struct IndexBuilder {
    ext_ids: HashMap<String, u16>,
    extensions: Vec<String>,
    canonical: HashMap<u64, String>,
    crash_ids: HashMap<String, u32>,
    crash_stems: Vec<String>,
    stems: HashSet<String>,
    rows: Vec<Row>,
}

impl IndexBuilder {
    /// The `(keyhash, crashid)` identity of `stem`, registering it.
    pub(crate) fn identity(&mut self, stem: &str) -> Result<(u64, u32), ItarError> {
        let keyhash = xxh64(stem.as_bytes(), 0);
        if !self.stems.contains(stem) {
            self.stems.insert(stem.to_owned());
        }
        let crashid = match self.canonical.get(&keyhash) {
            None => {
                self.canonical.insert(keyhash, stem.to_owned());
                0
            }
            Some(c) if c == stem => 0,
            Some(_) => match self.crash_ids.get(stem) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(self.crash_stems.len() + 1).map_err(|_| {
                        ItarError::Write {
                            reason: "more than 2^32 crash stems".into(),
                        }
                    })?;
                    self.crash_ids.insert(stem.to_owned(), id);
                    self.crash_stems.push(stem.to_owned());
                    id
                }
            },
        };
        Ok((keyhash, crashid))
    }

    /// The id of extension `ext`, registering it.
    pub(crate) fn extension(&mut self, ext: &str) -> Result<u16, ItarError> {
        if let Some(&id) = self.ext_ids.get(ext) {
            return Ok(id);
        }
        let id = u16::try_from(self.extensions.len()).map_err(|_| ItarError::Write {
            reason: "more than 65536 distinct extensions".into(),
        })?;
        self.ext_ids.insert(ext.to_owned(), id);
        self.extensions.push(ext.to_owned());
        Ok(id)
    }

    /// Adds a row for member `stem.ext` of shard `fid`.
    pub(crate) fn add(
        &mut self,
        fid: u16,
        offset: u64,
        size: u64,
        stem: &str,
        ext: &str,
    ) -> Result<(), ItarError> {
        let (keyhash, crashid) = self.identity(stem)?;
        let extid = self.extension(ext)?;
        self.rows.push(Row {
            fid,
            offset,
            size,
            extid,
            crashid,
            keyhash,
        });
        Ok(())
    }

    /// Rows added so far.
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The finished index (`n_stems` = distinct stems; flag bit 0 as glzn computes it).
    pub(crate) fn finish(self) -> TarIndex {
        let n_stems = self.stems.len() as u64;
        let contiguous = self.rows.len() < 2 || runs(&self.rows) == n_stems;
        TarIndex {
            major: MAJOR,
            minor: 0,
            n_stems,
            flags: u8::from(contiguous),
            extensions: self.extensions,
            crash_stems: self.crash_stems,
            rows: self.rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TarIndex {
        let mut b = IndexBuilder::default();
        for (i, stem) in ["a", "b", "c"].iter().enumerate() {
            b.add(0, i as u64 * 2048, 5, stem, "jpg").unwrap();
            b.add(0, i as u64 * 2048 + 1024, 1, stem, "cls").unwrap();
        }
        b.finish()
    }

    #[test]
    fn worked_example_sizes() {
        // The worked example of the format notes: 3 samples × {jpg, cls}.
        let idx = sample();
        let bytes = idx.to_bytes();
        assert_eq!(bytes.len(), 263);
        assert_eq!(&bytes[64..71], b"jpg\ncls");
        assert_eq!(u64_at(&bytes, 40), 71);
        assert_eq!(u64_at(&bytes, 48), 71);
        assert_eq!(bytes[56], 1);
        assert_eq!(idx.n_stems, 3);
        assert_eq!(TarIndex::parse(&bytes).unwrap(), idx);
        assert_eq!(idx.row_offset(1), 71 + 32);
        // Row 0's keyhash is xxh64("a"), the well-known value.
        assert_eq!(idx.rows[0].keyhash, 0xD24E_C4F1_A98C_6E5B);
    }

    #[test]
    fn symbolic_example_offsets() {
        let idx = TarIndex {
            major: 1,
            minor: 0,
            n_stems: 2,
            flags: 1,
            extensions: vec!["jpg".into(), "json".into()],
            crash_stems: vec!["duplicate_stem".into()],
            rows: vec![
                Row {
                    fid: 0,
                    offset: 0,
                    size: 1,
                    extid: 0,
                    crashid: 0,
                    keyhash: 7
                };
                3
            ],
        };
        let b = idx.to_bytes();
        assert_eq!((u64_at(&b, 40), u64_at(&b, 48), b.len()), (72, 86, 182));
        assert_eq!(TarIndex::parse(&b).unwrap(), idx);
    }

    #[test]
    fn empty_extension_and_empty_index() {
        let mut b = IndexBuilder::default();
        b.add(0, 0, 0, "noext", "").unwrap();
        let idx = b.finish();
        let bytes = idx.to_bytes();
        assert_eq!(u64_at(&bytes, 40), 64);
        assert_eq!(TarIndex::parse(&bytes).unwrap().extensions, [""]);
        let empty = IndexBuilder::default().finish();
        assert_eq!(TarIndex::parse(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn damage_is_reported_with_offsets() {
        let good = sample().to_bytes();
        let check = |edit: &dyn Fn(&mut Vec<u8>), want: (u64, ItarError)| {
            let mut b = good.clone();
            edit(&mut b);
            assert_eq!(TarIndex::parse(&b).unwrap_err(), want);
        };
        check(&|b| b.truncate(40), (40, ItarError::UnexpectedEof));
        check(
            &|b| b[0] = b'X',
            (
                0,
                ItarError::Magic {
                    found: *b"XARIDX\0\0",
                },
            ),
        );
        check(
            &|b| b[8] = 2,
            (8, ItarError::Version { major: 2, minor: 0 }),
        );
        check(
            &|b| b[12] = 16,
            (
                12,
                ItarError::Field {
                    field: "rec_size",
                    found: 16,
                    expected: 32,
                },
            ),
        );
        check(
            &|b| b[14] = 65,
            (
                14,
                ItarError::Field {
                    field: "hdr_size",
                    found: 65,
                    expected: 64,
                },
            ),
        );
        check(
            &|b| b.truncate(good.len() - 32),
            (
                24,
                ItarError::Field {
                    field: "n_rows",
                    found: 6,
                    expected: 5,
                },
            ),
        );
        check(
            &|b| b.truncate(good.len() - 3),
            (71, ItarError::RowArea { len: 189 }),
        );
        check(
            &|b| b[49] = 1,
            (
                40,
                ItarError::Offsets {
                    off_crash: 71,
                    off_arr: 71 + 256,
                    len: 263,
                },
            ),
        );
        check(
            &|b| b[32] = 3,
            (
                32,
                ItarError::Field {
                    field: "n_ext",
                    found: 3,
                    expected: 2,
                },
            ),
        );
        check(
            &|b| b[71 + 18] = 9,
            (71 + 18, ItarError::ExtId { extid: 9, n_ext: 2 }),
        );
        check(
            &|b| b[71 + 32 + 20] = 1,
            (
                71 + 32 + 20,
                ItarError::CrashId {
                    crashid: 1,
                    n_crash: 0,
                },
            ),
        );
        check(
            &|b| b[64..71].copy_from_slice(b"jpg\njpg"),
            (
                64,
                ItarError::DuplicateName {
                    block: "extension",
                    name: "jpg".into(),
                },
            ),
        );
        check(
            &|b| b[65] = 0xff,
            (64, ItarError::NotUtf8 { block: "extension" }),
        );
    }

    #[test]
    fn crash_ids_and_contiguity() {
        let mut b = IndexBuilder::default();
        // Force a "collision" by registering a different canonical stem under "b"'s hash.
        let hb = xxh64(b"b", 0);
        b.canonical.insert(hb, "other".into());
        b.add(0, 0, 1, "a", "x").unwrap();
        b.add(0, 1024, 1, "b", "x").unwrap();
        b.add(0, 2048, 1, "a", "y").unwrap();
        let idx = b.finish();
        assert_eq!(idx.crash_stems, ["b"]);
        assert_eq!(idx.rows[1].crashid, 1);
        assert_eq!(idx.flags & 1, 0, "a, b, a is interleaved");
        assert_eq!(idx.n_stems, 2);
    }
}
