//! The optional lookup sidecar `<PREFIX>_inframed.lookup` (`inframed index --lookup`): a
//! direct-addressed `(pid, signal) → (element start, count)` table derived from the `.idx`
//! files, so that a lookup is one cache miss instead of MODE 3's bitmap word + count and then
//! the dependent element-start entry. The MODE 3 files are never changed; a sidecar whose
//! fingerprints do not match the `.idx`/`.data` files open found is ignored with a warning.
//!
//! Layout (little-endian; docs/lookup-table.md):
//! - header, 64 bytes: magic `INFRLKUP`, version u32, columns u32, min pid u32, max pid u32,
//!   rows u64, buckets u64, buckets offset u64, cells offset u64, file length u64;
//! - per column (a signal with files), 64 bytes: the fingerprint of its files (sid, element
//!   size, `.idx` length, sparse `min`, `max_key`, `n_data`, `n_words`, `last_len`, crc32 of the
//!   `.idx`, `.data` length, `.idx` mtime in ns);
//! - buckets (64-aligned), one per 64 pids from the min pid, 16 bytes: the bitmap of pids that
//!   have a row (bit `pid & 63`, LSB first) and the row of the bucket's first such pid;
//! - cells (64-aligned), `rows × columns`, row-major, 8 bytes: element start u32, count u32
//!   (count 0: absent).
//!
//! A row per pid present in any signal (not per pid of the range) keeps the table small when
//! pids are sparse; the bucket directory is 0.25 byte per pid of the range, small enough to
//! stay cached, so a lookup's one miss is its cell.

use std::borrow::Cow;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::files::{SignalFiles, SignalSlot};
use crate::native::sparse::{u32_at, u64_at};
use crate::native::store::{elements, out_of_bounds, NativeStore, LANE};
use crate::Warning;

/// The sidecar's magic.
pub const LOOKUP_MAGIC: [u8; 8] = *b"INFRLKUP";
/// The sidecar's format version.
pub const LOOKUP_VERSION: u32 = 1;
/// Largest sidecar `inframed index --lookup` writes: 16 GiB.
pub const LOOKUP_MAX_BYTES: u64 = 16 << 30;
/// Largest sidecar relative to the `.idx` files it is derived from (with a 1 MiB floor).
pub const LOOKUP_MAX_RATIO: u64 = 4;
const RATIO_FLOOR: u64 = 1 << 20;
const HEADER: usize = 64;
const COLUMN: usize = 64;
const BUCKET: usize = 16;
const CELL: usize = 8;
/// Most columns a sidecar may declare (sids are < 100,000).
const MAX_COLUMNS: u64 = 100_000;

fn align64(x: u64) -> Option<u64> {
    x.checked_add(63).map(|v| v & !63)
}

/// `<prefix>_inframed.lookup`: no MODE 3 file ends in `.lookup`.
pub fn lookup_path(prefix: &Path) -> PathBuf {
    PathBuf::from(format!("{}_inframed.lookup", prefix.display()))
}

/// What a column was derived from: the `.idx` header fields open parses, the two files'
/// lengths and the `.idx` mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fingerprint {
    sid: u32,
    factor: u32,
    idx_len: u64,
    min: u32,
    max_key: u32,
    n_data: u32,
    n_words: u32,
    last_len: u32,
    data_len: u64,
    mtime_ns: u64,
}

/// The `.idx` mtime in ns since the epoch (0 when unknown or before the epoch).
fn mtime_ns(path: &Path) -> Option<u64> {
    let m = fs::metadata(path).ok()?.modified().ok()?;
    Some(
        m.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    )
}

impl Fingerprint {
    fn of(sid: Sid, f: &SignalFiles, mtime_ns: u64) -> Fingerprint {
        let sp = &f.index.sparse;
        Fingerprint {
            sid: sid.0,
            factor: f.index.factor,
            idx_len: f.idx.as_slice().len() as u64,
            min: sp.min,
            max_key: sp.max_key,
            n_data: sp.n_data as u32,
            n_words: sp.n_words as u32,
            last_len: f.index.last_len,
            data_len: f.data.as_slice().len() as u64,
            mtime_ns,
        }
    }

    fn write(&self, crc: u32, out: &mut Vec<u8>) {
        let at = out.len();
        for v in [self.sid, self.factor] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.idx_len.to_le_bytes());
        for v in [
            self.min,
            self.max_key,
            self.n_data,
            self.n_words,
            self.last_len,
            crc,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.data_len.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.resize(at + COLUMN, 0);
    }

    /// The fingerprint and crc of the column record at `off` (in bounds: checked by the
    /// caller).
    fn read(b: &[u8], off: usize) -> (Fingerprint, u32) {
        let w = |o| u32_at(b, off + o).unwrap_or(0);
        let d = |o| u64_at(b, off + o).unwrap_or(0);
        (
            Fingerprint {
                sid: w(0),
                factor: w(4),
                idx_len: d(8),
                min: w(16),
                max_key: w(20),
                n_data: w(24),
                n_words: w(28),
                last_len: w(32),
                data_len: d(40),
                mtime_ns: d(48),
            },
            w(36),
        )
    }
}

/// A mapped sidecar whose fingerprints matched the store's files.
#[derive(Debug)]
pub(super) struct LookupTable {
    bytes: Bytes,
    path: PathBuf,
    /// Its header, sizes checked against the file.
    h: Header,
    /// sid → 0: unknown sid, 1: a signal without files, `column + 2`.
    by_sid: Vec<u32>,
    /// column → position in the store's `files`.
    files: Vec<usize>,
}

/// The sidecar's parsed header (sizes checked against the file length).
#[derive(Debug)]
struct Header {
    n_cols: usize,
    min_pid: u32,
    n_rows: u64,
    n_buckets: usize,
    buckets_off: usize,
    cells_off: usize,
}

fn parse_header(b: &[u8]) -> std::result::Result<Header, String> {
    if b.len() < HEADER || b[..8] != LOOKUP_MAGIC {
        return Err("not an inframed lookup sidecar (no INFRLKUP magic)".into());
    }
    let version = u32_at(b, 8).unwrap_or(0);
    if version != LOOKUP_VERSION {
        return Err(format!(
            "lookup sidecar version {version}, not {LOOKUP_VERSION}"
        ));
    }
    let n_cols = u64::from(u32_at(b, 12).unwrap_or(0));
    let min_pid = u32_at(b, 16).unwrap_or(0);
    let n_rows = u64_at(b, 24).unwrap_or(0);
    let n_buckets = u64_at(b, 32).unwrap_or(0);
    let buckets_off = u64_at(b, 40).unwrap_or(0);
    let cells_off = u64_at(b, 48).unwrap_or(0);
    let file_len = u64_at(b, 56).unwrap_or(0);
    let expect_buckets = align64(HEADER as u64 + COLUMN as u64 * n_cols);
    let expect_cells = n_buckets
        .checked_mul(BUCKET as u64)
        .and_then(|n| n.checked_add(buckets_off))
        .and_then(align64);
    let expect_len = n_rows
        .checked_mul(n_cols)
        .and_then(|n| n.checked_mul(CELL as u64))
        .and_then(|n| n.checked_add(cells_off));
    if n_cols > MAX_COLUMNS
        || n_rows > u64::from(u32::MAX) + 1
        || Some(buckets_off) != expect_buckets
        || Some(cells_off) != expect_cells
        || Some(file_len) != expect_len
        || file_len != b.len() as u64
    {
        return Err(format!(
            "header sizes disagree with the file's {} bytes (truncated or damaged)",
            b.len()
        ));
    }
    Ok(Header {
        n_cols: n_cols as usize,
        min_pid,
        n_rows,
        n_buckets: n_buckets as usize,
        buckets_off: buckets_off as usize,
        cells_off: cells_off as usize,
    })
}

fn stale(path: &Path, why: String) -> Warning {
    Warning {
        path: path.to_path_buf(),
        line: 0,
        message: format!(
            "lookup sidecar ignored: {why}; lookups read the .idx files \
             (`inframed index --lookup` rebuilds it)"
        ),
    }
}

impl LookupTable {
    /// Maps the sidecar at `path` if there is one: `Ok(None)` when absent, `Err(warning)`
    /// when unreadable. [`LookupTable::check`] then decides whether it is used.
    pub(super) fn map(path: &Path) -> std::result::Result<Option<Bytes>, Warning> {
        let bytes = mmap::absent_is_none(mmap::map(path))
            .map_err(|e| stale(path, format!("cannot be read ({e})")))?;
        // Lookups read its cells at random all over: huge pages spare each one a page walk.
        if let Some(b) = &bytes {
            mmap::advise_huge_pages(b);
        }
        Ok(bytes)
    }

    /// The sidecar `bytes` (mapped from `path`) checked against the store's files (`slots`:
    /// sid → position in `files` + 1); `Err(warning)` when stale or damaged.
    pub(super) fn check(
        bytes: Bytes,
        path: &Path,
        slots: &[u32],
        files: &[Option<&SignalFiles>],
    ) -> std::result::Result<LookupTable, Warning> {
        let b = bytes.as_slice();
        let h = parse_header(b).map_err(|why| stale(path, why))?;
        let mut col_of_pos = vec![u32::MAX; files.len()];
        let mut cols = Vec::with_capacity(h.n_cols);
        let sid_pos = |sid: u32| {
            slots
                .get(sid as usize)
                .filter(|&&s| s > 0)
                .map(|&s| s as usize - 1)
        };
        for c in 0..h.n_cols {
            let (fp, _) = Fingerprint::read(b, HEADER + c * COLUMN);
            let pos = sid_pos(fp.sid)
                .filter(|&p| col_of_pos[p] == u32::MAX)
                .ok_or_else(|| {
                    stale(
                        path,
                        format!("column of sid {} is not a signal with files here", fp.sid),
                    )
                })?;
            let Some(f) = files[pos] else {
                return Err(stale(path, format!("signal {} has no files now", fp.sid)));
            };
            let now = Fingerprint::of(Sid(fp.sid), f, mtime_ns(&f.idx_path).unwrap_or(0));
            if now != fp {
                return Err(stale(
                    path,
                    format!("{} changed since it was built", f.idx_path.display()),
                ));
            }
            col_of_pos[pos] = c as u32;
            cols.push(pos);
        }
        if let Some(f) = files
            .iter()
            .zip(&col_of_pos)
            .find_map(|(f, &c)| f.filter(|_| c == u32::MAX))
        {
            return Err(stale(
                path,
                format!(
                    "{} has no column (added since it was built)",
                    f.idx_path.display()
                ),
            ));
        }
        let by_sid = slots
            .iter()
            .map(|&s| match s {
                0 => 0,
                s => match col_of_pos[s as usize - 1] {
                    u32::MAX => 1,
                    c => c + 2,
                },
            })
            .collect();
        Ok(LookupTable {
            bytes,
            path: path.to_path_buf(),
            h,
            by_sid,
            files: cols,
        })
    }

    /// The sidecar's path.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Its length in bytes.
    pub(super) fn len(&self) -> u64 {
        self.bytes.as_slice().len() as u64
    }

    /// 0: unknown sid, 1: a signal without files, else its column + 2.
    #[inline(always)]
    fn code(&self, sid: Sid) -> u32 {
        self.by_sid.get(sid.0 as usize).copied().unwrap_or(0)
    }

    /// The offset of `pid`'s bucket and its bit, `None` outside the table's pid range.
    #[inline(always)]
    fn bucket(&self, pid: u32) -> Option<(usize, u32)> {
        let m = pid.wrapping_sub(self.h.min_pid);
        let b = (m >> 6) as usize;
        (b < self.h.n_buckets).then(|| (self.h.buckets_off + b * BUCKET, m & 63))
    }

    /// The row of the pid at `(bucket offset, bit)`, `None` if it has none.
    #[inline(always)]
    fn row(&self, off: usize, bit: u32) -> Option<u64> {
        let e: &[u8; BUCKET] = self
            .bytes
            .as_slice()
            .get(off..off + BUCKET)?
            .try_into()
            .ok()?;
        let word = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
        if (word >> bit) & 1 == 0 {
            return None;
        }
        let base = u32::from_le_bytes(e[8..12].try_into().expect("4 bytes"));
        Some(u64::from(base) + u64::from((word & ((1u64 << bit) - 1)).count_ones()))
    }

    #[inline(always)]
    fn cell_off(&self, row: u64, col: u32) -> usize {
        self.h.cells_off + (row as usize * self.h.n_cols + col as usize) * CELL
    }

    /// `(start, count)` of the cell at `off`; a cell outside the file is corrupt (a bucket
    /// counted more rows than there are).
    #[inline(always)]
    fn cell(&self, off: usize) -> Result<(u32, u32)> {
        match u64_at(self.bytes.as_slice(), off) {
            Some(v) => Ok((v as u32, (v >> 32) as u32)),
            None => Err(Error::corrupt(
                &self.path,
                off as u64,
                DecodeError::OutOfBounds {
                    start: off as u64,
                    end: off as u64 + CELL as u64,
                    len: self.len(),
                },
            )),
        }
    }

    /// The row of `pid` (verify).
    fn row_of(&self, pid: u32) -> Option<u64> {
        self.bucket(pid).and_then(|(o, bit)| self.row(o, bit))
    }
}

impl NativeStore {
    /// `get_bytes` through the sidecar: sid → column, bucket → row, one 8-byte cell.
    #[inline(always)]
    pub(super) fn get_lookup(&self, t: &LookupTable, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let code = t.code(sid);
        if code < 2 {
            return if code == 0 {
                Err(Error::UnknownSid { sid })
            } else {
                Ok(Cow::Borrowed(&[]))
            };
        }
        let Some((b, bit)) = t.bucket(pid.0) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let Some(row) = t.row(b, bit) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let off = t.cell_off(row, code - 2);
        let cell = t.cell(off)?;
        self.cell_view(t, code - 2, off, cell)
    }

    /// The data slice of a cell of column `col` (at `off` in the sidecar).
    #[inline(always)]
    fn cell_view(
        &self,
        t: &LookupTable,
        col: u32,
        off: usize,
        (start, count): (u32, u32),
    ) -> Result<Cow<'_, [u8]>> {
        if count == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        let f = t
            .files
            .get(col as usize)
            .and_then(|&p| self.files[p].as_ref()?.loaded());
        let Some(f) = f else {
            return Ok(Cow::Borrowed(&[]));
        };
        let (data, factor) = (f.data.as_slice(), u64::from(f.index.factor));
        let (start, count) = (u64::from(start), u64::from(count));
        match elements(data, start, count, factor) {
            Some(v) => Ok(Cow::Borrowed(v)),
            None => Err(Error::corrupt(
                &t.path,
                off as u64,
                out_of_bounds(data, start, count, factor),
            )),
        }
    }

    /// `get_many` through the sidecar: each column's data and element size looked up once,
    /// then lanes of keys; a lane where a key fails is redone key by key for its error.
    #[inline(always)]
    pub(super) fn lanes_lookup<'s>(
        &'s self,
        t: &LookupTable,
        keys: &[(Pid, Sid)],
        out: &mut Vec<Cow<'s, [u8]>>,
    ) -> Result<()> {
        let cols: Vec<(&[u8], u64)> = t
            .files
            .iter()
            .map(|&p| {
                self.files[p]
                    .as_ref()
                    .and_then(SignalSlot::loaded)
                    .map_or((&[][..], 1), |f| {
                        (f.data.as_slice(), u64::from(f.index.factor))
                    })
            })
            .collect();
        for chunk in keys.chunks(LANE) {
            let done = out.len();
            if !Self::lane_lookup(t, &cols, chunk, out) {
                out.truncate(done);
                for &(pid, sid) in chunk {
                    out.push(self.get_lookup(t, pid, sid)?);
                }
            }
        }
        Ok(())
    }

    /// One lane of `get_many` through the sidecar: rows found and cells prefetched, then the
    /// views built. `false` when a key fails (the caller redoes the lane key by key).
    #[inline(always)]
    fn lane_lookup<'s>(
        t: &LookupTable,
        cols: &[(&'s [u8], u64)],
        keys: &[(Pid, Sid)],
        out: &mut Vec<Cow<'s, [u8]>>,
    ) -> bool {
        debug_assert!(keys.len() <= LANE);
        let b = t.bytes.as_slice();
        // Per key: (bucket then cell offset, bit, code; code 1 = empty): buckets prefetched,
        // then rows counted and cells prefetched.
        let mut at = [(0usize, 0u32, 1u32); LANE];
        for (i, &(pid, sid)) in keys.iter().enumerate() {
            let code = t.code(sid);
            if code == 0 {
                return false;
            }
            if code == 1 {
                continue;
            }
            if let Some((o, bit)) = t.bucket(pid.0) {
                mmap::prefetch(b, o);
                at[i] = (o, bit, code);
            }
        }
        for a in at.iter_mut().take(keys.len()) {
            if a.2 < 2 {
                continue;
            }
            match t.row(a.0, a.1) {
                Some(row) => {
                    a.0 = t.cell_off(row, a.2 - 2);
                    mmap::prefetch(b, a.0);
                }
                None => a.2 = 1,
            }
        }
        let mut views: [&'s [u8]; LANE] = [&[]; LANE];
        for (v, &(off, _, code)) in views.iter_mut().zip(&at).take(keys.len()) {
            if code < 2 {
                continue;
            }
            let Ok((start, count)) = t.cell(off) else {
                return false;
            };
            let Some(&(data, factor)) = cols.get(code as usize - 2) else {
                return false;
            };
            match elements(data, u64::from(start), u64::from(count), factor) {
                Some(d) => *v = d,
                None => return false,
            }
        }
        out.extend(views[..keys.len()].iter().map(|&v| Cow::Borrowed(v)));
        true
    }

    /// Checks every bucket and cell of the sidecar against the `.idx` files, and each
    /// `.idx`'s crc32 against the one recorded.
    pub(super) fn verify_lookup(&self, t: &LookupTable) -> Result<()> {
        let b = t.bytes.as_slice();
        let bad = |off: usize, field: &'static str, found: u64, expected: u64| {
            Error::corrupt(
                &t.path,
                off as u64,
                DecodeError::Field {
                    field,
                    found: found as i64,
                    expected: expected as i64,
                },
            )
        };
        let mut rows = 0u64;
        for k in 0..t.h.n_buckets {
            let off = t.h.buckets_off + k * BUCKET;
            let base = u64::from(u32_at(b, off + 8).unwrap_or(0));
            if base != rows {
                return Err(bad(off + 8, "bucket's first row", base, rows));
            }
            rows += u64::from(u64_at(b, off).unwrap_or(0).count_ones());
        }
        if rows != t.h.n_rows {
            return Err(bad(24, "rows", t.h.n_rows, rows));
        }
        for (col, &pos) in t.files.iter().enumerate() {
            let Some(f) = self.files[pos].as_ref().and_then(SignalSlot::loaded) else {
                continue;
            };
            let idx = f.idx.as_slice();
            let rec = HEADER + col * COLUMN;
            let (_, crc) = Fingerprint::read(b, rec);
            let now = crc32fast::hash(idx);
            if crc != now {
                return Err(Error::corrupt(
                    &t.path,
                    rec as u64 + 36,
                    DecodeError::Mismatch {
                        what: "crc32 of the .idx it was built from",
                        found: u64::from(crc),
                        expected: u64::from(now),
                    },
                ));
            }
            let mut n = 0u64;
            for (pid, (start, count)) in f.index.entries(idx) {
                let Some(row) = t.row_of(pid) else {
                    return Err(Error::corrupt(
                        &t.path,
                        t.h.buckets_off as u64,
                        DecodeError::PidNotListed {
                            pid,
                            list: t.path.clone(),
                        },
                    ));
                };
                let off = t.cell_off(row, col as u32);
                let (s, c) = t.cell(off)?;
                if u64::from(s) != start {
                    return Err(bad(off, "cell start", u64::from(s), start));
                }
                if u64::from(c) != count {
                    return Err(bad(off + 4, "cell count", u64::from(c), count));
                }
                n += 1;
            }
            let cells = (0..t.h.n_rows)
                .filter(|&r| t.cell(t.cell_off(r, col as u32)).is_ok_and(|c| c.1 != 0))
                .count() as u64;
            if cells != n {
                return Err(bad(rec, "non-empty cells of the column", cells, n));
            }
        }
        Ok(())
    }
}

/// Writes the lookup sidecar of the MODE 3 repository `config` (temporary + rename) and
/// returns its path and size. Refuses (before writing) a table over [`LOOKUP_MAX_BYTES`] or
/// over [`LOOKUP_MAX_RATIO`] × the `.idx` files, and a file of that name it did not write
/// unless `force`.
///
/// # Errors
/// As [`NativeStore::open`]; [`Error::Corrupt`] for an `.idx` that fails its structural
/// check; [`Error::Unsupported`] for a table too large; [`Error::Occupied`]; [`Error::Io`].
pub fn write_lookup(config: &Path, force: bool) -> Result<(PathBuf, u64)> {
    let crate::native::NativeConfig {
        catalog,
        warnings,
        prefix,
        ..
    } = crate::native::NativeConfig::read_mode3(config, "a lookup sidecar of")?;
    let path = lookup_path(&prefix);
    crate::target::check_target(&path, crate::target::OutputKind::LookupSidecar, force)?;
    let mut store = NativeStore::open(catalog, &prefix, warnings)?;
    store.drop_lookup();
    let image = build(&store, &path)?;
    let mut out = crate::atomic::AtomicFile::create(&path)?;
    out.write_all(&image).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    out.commit()?;
    Ok((path, image.len() as u64))
}

/// The sidecar's bytes for `store`.
fn build(store: &NativeStore, path: &Path) -> Result<Vec<u8>> {
    let cols: Vec<(Sid, &SignalFiles)> = store.signal_files()?;
    let mut idx_total = 0u64;
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for (_, f) in &cols {
        let idx = f.idx.as_slice();
        idx_total += idx.len() as u64;
        let keys = f
            .index
            .sparse
            .verify(idx, true)
            .map_err(|(o, e)| Error::corrupt(&f.idx_path, o, e))?;
        if keys > 0 {
            lo = lo.min(f.index.sparse.min);
            hi = hi.max(f.index.sparse.max_key);
        }
    }
    let n_buckets = if lo > hi {
        0
    } else {
        ((hi - lo) as usize >> 6) + 1
    };
    let mut words = vec![0u64; n_buckets];
    for (_, f) in &cols {
        for (pid, _) in f.index.entries(f.idx.as_slice()) {
            let m = pid - lo;
            words[(m >> 6) as usize] |= 1u64 << (m & 63);
        }
    }
    let n_rows: u64 = words.iter().map(|w| u64::from(w.count_ones())).sum();
    let n_cols = cols.len() as u64;
    let buckets_off = align64(HEADER as u64 + COLUMN as u64 * n_cols).unwrap_or(u64::MAX);
    let cells_off = align64(buckets_off + (BUCKET * n_buckets) as u64).unwrap_or(u64::MAX);
    let len = n_rows
        .saturating_mul(n_cols)
        .saturating_mul(CELL as u64)
        .saturating_add(cells_off);
    let cap = idx_total
        .saturating_mul(LOOKUP_MAX_RATIO)
        .clamp(RATIO_FLOOR, LOOKUP_MAX_BYTES);
    if len > cap || usize::try_from(len).is_err() {
        return Err(Error::Unsupported {
            path: path.into(),
            what: format!(
                "lookup sidecar of {len} bytes ({n_rows} patients × {n_cols} signals × 8): over \
                 the limit of {cap} bytes ({LOOKUP_MAX_RATIO}× the {idx_total} bytes of .idx \
                 files, at most {LOOKUP_MAX_BYTES}); the .idx lookups are used without it"
            ),
        });
    }
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&LOOKUP_MAGIC);
    for v in [LOOKUP_VERSION, n_cols as u32, lo.min(hi), hi] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [n_rows, n_buckets as u64, buckets_off, cells_off, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for &(sid, f) in &cols {
        let fp = Fingerprint::of(sid, f, mtime_ns(&f.idx_path).unwrap_or(0));
        fp.write(crc32fast::hash(f.idx.as_slice()), &mut out);
    }
    out.resize(buckets_off as usize, 0);
    let mut bases = Vec::with_capacity(n_buckets);
    let mut rows = 0u32;
    for w in &words {
        bases.push(rows);
        out.extend_from_slice(&w.to_le_bytes());
        out.extend_from_slice(&rows.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        rows = rows.wrapping_add(w.count_ones());
    }
    out.resize(len as usize, 0);
    let cells = &mut out[cells_off as usize..];
    for (col, (_, f)) in cols.iter().enumerate() {
        for (pid, (start, count)) in f.index.entries(f.idx.as_slice()) {
            let too_big = || Error::Unsupported {
                path: f.idx_path.clone(),
                what: format!("element range {start}+{count} beyond u32 in a lookup sidecar"),
            };
            let start = u32::try_from(start).map_err(|_| too_big())?;
            let count = u32::try_from(count).map_err(|_| too_big())?;
            let m = pid - lo;
            let k = (m >> 6) as usize;
            let row =
                bases[k] as usize + (words[k] & ((1u64 << (m & 63)) - 1)).count_ones() as usize;
            let at = (row * cols.len() + col) * CELL;
            cells[at..at + 4].copy_from_slice(&start.to_le_bytes());
            cells[at + 4..at + 8].copy_from_slice(&count.to_le_bytes());
        }
    }
    Ok(out)
}
