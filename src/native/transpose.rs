//! The by-pid transpose of a MODE 3 repository: `<PREFIX>__pids__<k>.pid_data` (one
//! self-contained record per patient) and `<PREFIX>__pids__all.pid_idx` (a `MedSparseVec`
//! of 24-byte `PidIdxRec` over pids), as `MedPidRepository::create` writes them.
//!
//! A record: `u64 magic 0x00248ace13579bdf | i32 pid | i32 nsigs | nsigs × {i32 sid, i32 pos
//! (bytes from the record start), i32 len (elements)}` (sids ascending, non-empty signals
//! only), then the vectors in the same order. Reading one patient's whole record is one
//! contiguous slice of one chunk file.

use std::borrow::Cow;
use std::fs;
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::config::NativeConfig;
use crate::native::pids::{verify_pids, PidList};
use crate::native::pids_path;
use crate::native::sparse::{i32_at, u32_at, u64_at, write_sparse_with_min, Sparse};
use crate::native::write::{check_pid, Budget, Out};
use crate::store::{SignalStore, StoreDescription};

/// Magic number at the start of every patient record (`PID_REC_MAGIC_NUM`).
pub const PID_RECORD_MAGIC: u64 = crate::atomic::TRANSPOSE_RECORD_MAGIC;
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

/// One patient's whole record: `(sid, element bytes)` per non-empty signal, sids ascending.
/// Borrowed from the map when read from a transpose.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientRecord<'a> {
    pid: Pid,
    signals: Vec<(Sid, Cow<'a, [u8]>)>,
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

/// The mapped transpose files of one repository.
#[derive(Debug)]
pub struct Transpose {
    idx: Bytes,
    idx_path: PathBuf,
    sparse: Sparse,
    chunks: Vec<(PathBuf, Bytes)>,
    /// sid → element size (0: not a signal of the catalog).
    sizes: Vec<u32>,
}

fn corrupt(path: &Path) -> impl Fn((u64, DecodeError)) -> Error + '_ {
    move |(offset, source)| Error::corrupt(path, offset, source)
}

impl Transpose {
    /// Opens the transpose under `prefix` (`DIR/<PREFIX>`), or `None` if there is no
    /// `.pid_idx`. Maps the index and every chunk file `0, 1, …` that exists (as the original
    /// reader does); checks the index layout (O(1)).
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Corrupt`] naming the `.pid_idx` and the offset.
    pub fn open(prefix: &Path, catalog: &Catalog) -> Result<Option<Transpose>> {
        let idx_path = pid_idx_path(prefix);
        if !idx_path.exists() {
            return Ok(None);
        }
        let idx = mmap::map(&idx_path)?;
        let mut chunks = Vec::new();
        for k in 0.. {
            let p = chunk_path(prefix, k);
            if !p.exists() {
                break;
            }
            let b = mmap::map(&p)?;
            chunks.push((p, b));
        }
        Self::assemble(catalog, idx, idx_path, chunks).map(Some)
    }

    /// A transpose over in-memory files (paths in errors are `<memory>/…`).
    ///
    /// # Errors
    /// As [`Transpose::open`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        catalog: &Catalog,
        idx: D,
        chunks: Vec<D>,
    ) -> Result<Transpose> {
        let chunks = chunks
            .into_iter()
            .enumerate()
            .map(|(k, d)| {
                (
                    PathBuf::from(format!("<memory>/__pids__{k}.pid_data")),
                    Bytes::from_owned(d),
                )
            })
            .collect();
        Self::assemble(
            catalog,
            Bytes::from_owned(idx),
            PathBuf::from("<memory>/__pids__all.pid_idx"),
            chunks,
        )
    }

    fn assemble(
        catalog: &Catalog,
        idx: Bytes,
        idx_path: PathBuf,
        chunks: Vec<(PathBuf, Bytes)>,
    ) -> Result<Transpose> {
        let sparse =
            Sparse::parse(idx.as_slice(), 0, PID_IDX_ENTRY_LEN).map_err(corrupt(&idx_path))?;
        let max_sid = catalog
            .signals()
            .iter()
            .map(|s| s.sid.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut sizes = vec![0u32; max_sid];
        for s in catalog.signals() {
            sizes[s.sid.0 as usize] = s.layout.size() as u32;
        }
        Ok(Transpose {
            idx,
            idx_path,
            sparse,
            chunks,
            sizes,
        })
    }

    /// The index entry of `pid`, if the transpose has a record for it.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the `.pid_idx`.
    #[inline]
    pub fn entry(&self, pid: Pid) -> Result<Option<PidIdxEntry>> {
        let b = self.idx.as_slice();
        let Some(ind) = self
            .sparse
            .find(b, pid.0)
            .map_err(corrupt(&self.idx_path))?
        else {
            return Ok(None);
        };
        Ok(Some(self.entry_at(ind)))
    }

    fn entry_at(&self, ind: usize) -> PidIdxEntry {
        let b = self.idx.as_slice();
        let off = self.sparse.data_at(ind);
        // In bounds: `Sparse::parse` checked n_data × 24 bytes.
        PidIdxEntry {
            fnum: u32_at(b, off).unwrap_or(0) as u16,
            pos: u64_at(b, off + 8).unwrap_or(0),
            byte_len: u32_at(b, off + 16).unwrap_or(0),
            idx: i32_at(b, off + 20).unwrap_or(0),
        }
    }

    /// The raw record of `pid`: one contiguous slice of its chunk file.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the entry names a missing chunk or a range past its end.
    #[inline]
    pub fn record_bytes(&self, pid: Pid) -> Result<Option<(&Path, u64, &[u8])>> {
        let Some(e) = self.entry(pid)? else {
            return Ok(None);
        };
        self.slice_of(e, pid).map(Some)
    }

    /// The record bytes an entry points at.
    fn slice_of(&self, e: PidIdxEntry, pid: Pid) -> Result<(&Path, u64, &[u8])> {
        let Some((path, chunk)) = self.chunks.get(e.fnum as usize) else {
            return Err(Error::Inconsistent {
                path: self.idx_path.clone(),
                source: DecodeError::Missing(format!(
                    "chunk {} of pid {pid} ({} chunk files found)",
                    e.fnum,
                    self.chunks.len()
                )),
            });
        };
        let c = chunk.as_slice();
        let end = e.pos.checked_add(e.byte_len as u64);
        match end.and_then(|end| c.get(e.pos as usize..end as usize)) {
            Some(r) => Ok((path, e.pos, r)),
            None => Err(Error::corrupt(
                path,
                e.pos,
                DecodeError::OutOfBounds {
                    start: e.pos,
                    end: e.pos.saturating_add(e.byte_len as u64),
                    len: c.len() as u64,
                },
            )),
        }
    }

    /// One patient's whole record, borrowed from the map (`None`: no record).
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the chunk file and the byte offset of a damaged header.
    pub fn record(&self, pid: Pid) -> Result<Option<PatientRecord<'_>>> {
        let Some((path, at, r)) = self.record_bytes(pid)? else {
            return Ok(None);
        };
        let header = parse_header(r, pid).map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
        let mut signals = Vec::with_capacity(header.nsigs);
        for i in 0..header.nsigs {
            let (sid, bytes) = self
                .vector(r, i, header.nsigs)
                .map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
            signals.push((sid, Cow::Borrowed(bytes)));
        }
        Ok(Some(PatientRecord { pid, signals }))
    }

    /// Entry `i` of a record's table: the sid and its vector.
    fn vector<'r>(
        &self,
        r: &'r [u8],
        i: usize,
        nsigs: usize,
    ) -> Result<(Sid, &'r [u8]), (u64, DecodeError)> {
        let off = RECORD_HEADER_LEN + 12 * i;
        let sid = i32_at(r, off).ok_or((off as u64, DecodeError::UnexpectedEof))?;
        let pos = i32_at(r, off + 4).ok_or((off as u64 + 4, DecodeError::UnexpectedEof))?;
        let len = i32_at(r, off + 8).ok_or((off as u64 + 8, DecodeError::UnexpectedEof))?;
        let size = usize::try_from(sid)
            .ok()
            .and_then(|s| self.sizes.get(s).copied())
            .unwrap_or(0);
        if size == 0 {
            return Err((
                off as u64,
                DecodeError::Other(format!("sid {sid} is not a signal of the repository")),
            ));
        }
        let table_end = RECORD_HEADER_LEN + 12 * nsigs;
        if pos < 0 || (pos as usize) < table_end || len < 0 {
            return Err((
                off as u64 + 4,
                DecodeError::Field {
                    field: "vector position",
                    found: pos as i64,
                    expected: table_end as i64,
                },
            ));
        }
        let start = pos as usize;
        let end = (len as usize)
            .checked_mul(size as usize)
            .and_then(|n| n.checked_add(start));
        match end.and_then(|end| r.get(start..end)) {
            Some(v) => Ok((Sid(sid as u32), v)),
            None => Err((
                off as u64 + 8,
                DecodeError::OutOfBounds {
                    start: start as u64,
                    end: start as u64 + len as u64 * size as u64,
                    len: r.len() as u64,
                },
            )),
        }
    }

    /// The elements of `(pid, sid)` from the record (binary search over its table).
    ///
    /// # Errors
    /// As [`Transpose::record`].
    pub fn get(&self, pid: Pid, sid: Sid) -> Result<&[u8]> {
        let Some((path, at, r)) = self.record_bytes(pid)? else {
            return Ok(&[]);
        };
        let h = parse_header(r, pid).map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
        let (mut lo, mut hi) = (0usize, h.nsigs);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let s = i32_at(r, RECORD_HEADER_LEN + 12 * mid).unwrap_or(i32::MAX) as i64;
            match s.cmp(&(sid.0 as i64)) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let (_, v) = self
                        .vector(r, mid, h.nsigs)
                        .map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
                    return Ok(v);
                }
            }
        }
        Ok(&[])
    }

    /// Pids with a record, ascending (a full scan of the bitmap).
    pub fn pids(&self) -> Vec<Pid> {
        self.sparse
            .keys(self.idx.as_slice())
            .map(|(p, _)| Pid(p))
            .collect()
    }

    /// Full check: index counts, every entry (chunk, range, `idx`), every record header
    /// (magic, pid, sids ascending and known, vectors inside the record and adjacent), records
    /// of a chunk back to back in pid order.
    ///
    /// # Errors
    /// The first damage, naming the file and byte offset.
    pub fn verify(&self) -> Result<()> {
        let b = self.idx.as_slice();
        self.sparse
            .verify(b, false)
            .map_err(corrupt(&self.idx_path))?;
        let mut next_pos: Vec<u64> = vec![0; self.chunks.len()];
        for (pid, ind) in self.sparse.keys(b) {
            let pid = Pid(pid);
            let e = self.entry_at(ind);
            let entry_off = self.sparse.data_at(ind) as u64;
            if e.idx != -1 {
                return Err(Error::corrupt(
                    &self.idx_path,
                    entry_off + 20,
                    DecodeError::Field {
                        field: "idx",
                        found: e.idx as i64,
                        expected: -1,
                    },
                ));
            }
            let (path, at, r) = self.slice_of(e, pid)?;
            let expect = next_pos[e.fnum as usize];
            if at != expect {
                return Err(Error::corrupt(
                    &self.idx_path,
                    entry_off + 8,
                    DecodeError::Field {
                        field: "record position",
                        found: at as i64,
                        expected: expect as i64,
                    },
                ));
            }
            next_pos[e.fnum as usize] = at + r.len() as u64;
            let h = parse_header(r, pid).map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
            let mut expect_pos = (RECORD_HEADER_LEN + 12 * h.nsigs) as u64;
            let mut prev_sid = -1i64;
            for i in 0..h.nsigs {
                let (sid, v) = self
                    .vector(r, i, h.nsigs)
                    .map_err(|(o, e)| Error::corrupt(path, at + o, e))?;
                let off = (RECORD_HEADER_LEN + 12 * i) as u64;
                if sid.0 as i64 <= prev_sid {
                    return Err(Error::corrupt(
                        path,
                        at + off,
                        DecodeError::NotAscending {
                            what: "record sids",
                            prev: prev_sid,
                            next: sid.0 as i64,
                        },
                    ));
                }
                prev_sid = sid.0 as i64;
                let pos = (v.as_ptr() as usize - r.as_ptr() as usize) as u64;
                if pos != expect_pos || v.is_empty() {
                    return Err(Error::corrupt(
                        path,
                        at + off + 4,
                        DecodeError::Field {
                            field: "vector position",
                            found: pos as i64,
                            expected: expect_pos as i64,
                        },
                    ));
                }
                expect_pos += v.len() as u64;
            }
            if expect_pos != r.len() as u64 {
                return Err(Error::corrupt(
                    &self.idx_path,
                    entry_off + 16,
                    DecodeError::Field {
                        field: "record byte_len",
                        found: r.len() as i64,
                        expected: expect_pos as i64,
                    },
                ));
            }
        }
        for (k, (path, c)) in self.chunks.iter().enumerate() {
            if next_pos[k] != c.as_slice().len() as u64 {
                return Err(Error::corrupt(
                    path,
                    next_pos[k],
                    DecodeError::Other(format!(
                        "{} bytes after the last indexed record",
                        c.as_slice().len() as u64 - next_pos[k]
                    )),
                ));
            }
        }
        Ok(())
    }

    /// The files, with sizes.
    pub fn files(&self) -> Vec<(PathBuf, u64)> {
        let mut v = vec![(self.idx_path.clone(), self.idx.as_slice().len() as u64)];
        v.extend(
            self.chunks
                .iter()
                .map(|(p, b)| (p.clone(), b.as_slice().len() as u64)),
        );
        v
    }
}

struct Header {
    nsigs: usize,
}

/// Checks magic, pid and the table size of a record.
fn parse_header(r: &[u8], pid: Pid) -> Result<Header, (u64, DecodeError)> {
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

// ---------------------------------------------------------------------------------------
// A store over the transpose alone.

/// A MODE 3 repository read through its by-pid transpose only (`.pid_idx` + `.pid_data`,
/// the catalog and `_all_pids.list`): what `MedPidRepository` reads.
#[derive(Debug)]
pub struct TransposeStore {
    catalog: Catalog,
    pids: PidList,
    pids_path: PathBuf,
    transpose: Transpose,
}

impl TransposeStore {
    /// Opens the transpose of the MODE 3 repository `config`.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`], [`Error::Corrupt`]; [`Error::Unsupported`] when the
    /// repository has no transpose or is not MODE 3.
    pub fn open(config: impl AsRef<Path>) -> Result<TransposeStore> {
        let NativeConfig {
            catalog, prefix, ..
        } = NativeConfig::read_mode3(config.as_ref(), "by-pid transpose of")?;
        let transpose = Transpose::open(&prefix, &catalog)?.ok_or_else(|| Error::Unsupported {
            path: pid_idx_path(&prefix),
            what: "repository without a by-pid transpose (run `inframed index`)".into(),
        })?;
        let pids_path = pids_path(&prefix);
        let pids = PidList::parse(&pids_path, mmap::map(&pids_path)?)?;
        Ok(TransposeStore {
            catalog,
            pids,
            pids_path,
            transpose,
        })
    }

    /// The transpose.
    pub fn transpose(&self) -> &Transpose {
        &self.transpose
    }
}

impl SignalStore for TransposeStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        self.pids.as_slice()
    }

    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.catalog.by_sid(sid)?;
        Ok(Cow::Borrowed(self.transpose.get(pid, sid)?))
    }

    fn describe(&self) -> StoreDescription {
        let mut files = vec![(
            self.pids_path.clone(),
            fs::metadata(&self.pids_path).map(|m| m.len()).unwrap_or(0),
        )];
        files.extend(self.transpose.files());
        StoreDescription {
            format: "InfraMed by-pid transpose (.pid_data/.pid_idx)".into(),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        verify_pids(&self.pids_path, self.pids())?;
        self.transpose.verify()?;
        crate::store::verify_elements(self)
    }
}

// ---------------------------------------------------------------------------------------
// Writing.

/// The chunk plan of `create_index`: `first = pids[0] − 1`, `last = pids[n−1] + 1`,
/// `jump = max(1,000,000, (last − first) / 10)`; chunk k holds pids in
/// `[first + k·jump, first + (k+1)·jump)`, and `(last − first) / jump + 1` chunk files are
/// written (empty ones included). Returns `(first, jump, chunk count)`.
pub fn chunk_plan(pids: &[Pid]) -> (i64, i64, usize) {
    let (Some(a), Some(b)) = (pids.first(), pids.last()) else {
        return (0, MIN_CHUNK_PIDS, 0);
    };
    let first = a.0 as i64 - 1;
    let last = b.0 as i64 + 1;
    let jump = MIN_CHUNK_PIDS.max((last - first) / 10);
    (first, jump, ((last - first) / jump + 1) as usize)
}

/// A `.pid_idx` entry as written: `u16 fnum | 6 zero bytes | u64 pos | u32 byte_len | i32 idx`.
fn pid_idx_entry(fnum: u16, pos: u64, byte_len: u32, idx: i32) -> [u8; PID_IDX_ENTRY_LEN] {
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
        return Err(Error::InvalidInput {
            what: format!("pid {pid}: record of {total} bytes exceeds the i32 positions"),
        });
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

/// Writes the transpose of `store` under `prefix`, in a directory being built (chunks
/// first, the `.pid_idx` last).
pub(crate) fn write_transpose_into(
    store: &dyn SignalStore,
    prefix: &Path,
    budget: &Budget,
) -> Result<()> {
    write_transpose_with(store, prefix, budget, |path, budget| {
        Out::create(path, budget).map(Sink::Plain)
    })
    .map(|_| ())
}

enum Sink {
    Plain(Out<std::io::BufWriter<std::fs::File>>),
    Atomic(Out<crate::atomic::AtomicFile>),
    Memory(Vec<u8>),
}

impl Sink {
    fn write(&mut self, b: &[u8]) -> Result<()> {
        match self {
            Sink::Plain(o) => o.write(b),
            Sink::Atomic(o) => o.write(b),
            Sink::Memory(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
        }
    }
    /// Finishes the file; returns the bytes of an in-memory one.
    fn done(self) -> Result<Option<Vec<u8>>> {
        match self {
            Sink::Plain(o) => o.finish().map(|_| None),
            Sink::Atomic(o) => o.commit().map(|_| None),
            Sink::Memory(v) => Ok(Some(v)),
        }
    }
}

/// Writes chunk files then the `.pid_idx`; returns the bytes of in-memory sinks, in that
/// order.
fn write_transpose_with(
    store: &dyn SignalStore,
    prefix: &Path,
    budget: &Budget,
    open: impl Fn(&Path, &Budget) -> Result<Sink>,
) -> Result<Vec<Vec<u8>>> {
    let mut memory = Vec::new();
    let catalog = store.catalog();
    let mut sigs: Vec<(Sid, usize)> = catalog
        .signals()
        .iter()
        .map(|s| (s.sid, s.layout.size()))
        .collect();
    sigs.sort_unstable();
    let pids = store.pids();
    for &p in pids.iter() {
        check_pid(p)?;
    }
    let (first, jump, n_chunks) = chunk_plan(pids);
    if n_chunks > u16::MAX as usize + 1 {
        return Err(Error::InvalidInput {
            what: "too many transpose chunks".into(),
        });
    }
    let mut keys = Vec::with_capacity(pids.len());
    let mut entries = Vec::with_capacity(pids.len() * PID_IDX_ENTRY_LEN);
    let mut at = 0usize;
    for k in 0..n_chunks {
        let end = first + (k as i64 + 1) * jump;
        let mut out = open(&chunk_path(prefix, k), budget)?;
        let mut pos = 0u64;
        while at < pids.len() && (pids[at].0 as i64) < end {
            let pid = pids[at];
            at += 1;
            let mut vectors = Vec::new();
            for &(sid, size) in &sigs {
                let b = store.get_bytes(pid, sid)?;
                if !b.is_empty() {
                    vectors.push((sid, b, size));
                }
            }
            let refs: Vec<(Sid, &[u8], usize)> =
                vectors.iter().map(|(s, b, z)| (*s, &b[..], *z)).collect();
            let rec = encode_record(pid, &refs)?;
            out.write(&rec)?;
            keys.push(pid.0);
            entries.extend_from_slice(&pid_idx_entry(k as u16, pos, rec.len() as u32, -1));
            pos += rec.len() as u64;
        }
        memory.extend(out.done()?);
    }
    let mut idx = Vec::new();
    let min = u32::try_from(first.max(0)).unwrap_or(0);
    write_sparse_with_min(&mut idx, min, &keys, &pid_idx_entry(0, 0, 0, 0), &entries);
    let mut out = open(&pid_idx_path(prefix), budget)?;
    out.write(&idx)?;
    memory.extend(out.done()?);
    Ok(memory)
}

/// Builds (or rebuilds) the by-pid transpose of the MODE 3 repository `config` in place
/// (`inframed index`): chunk files first, then the `.pid_idx` (each renamed into place), then
/// stale chunk files beyond the new count are removed. Readers of the repository are not
/// affected; a reader of the old transpose keeps its maps.
///
/// # Errors
/// [`Error::Unsupported`] for a non-MODE 3 repository; read and I/O errors.
pub fn build_transpose(config: impl AsRef<Path>) -> Result<()> {
    build_transpose_with(config.as_ref(), None)
}

/// [`build_transpose`] that, with `force`, also replaces files of the transpose's names that
/// are not transpose files (by default they are refused: [`Error::Occupied`]).
///
/// # Errors
/// As [`build_transpose`].
pub fn build_transpose_forced(config: impl AsRef<Path>, force: bool) -> Result<()> {
    build_transpose_inner(config.as_ref(), None, force)
}

/// [`build_transpose`] with a fault-injection budget (tests).
#[doc(hidden)]
pub fn build_transpose_with(config_path: &Path, fail_after: Option<u64>) -> Result<()> {
    build_transpose_inner(config_path, fail_after, false)
}

fn build_transpose_inner(config_path: &Path, fail_after: Option<u64>, force: bool) -> Result<()> {
    let NativeConfig {
        catalog,
        warnings,
        prefix,
        ..
    } = NativeConfig::read_mode3(config_path, "by-pid transpose of")?;
    let store = crate::native::NativeStore::open(catalog, &prefix, warnings)?;
    let budget = Budget::new(fail_after);
    // Every file replaced or removed below must be a transpose file (or absent, or empty).
    let (_, _, n) = chunk_plan(store.pids());
    let stale = (n..)
        .map(|k| chunk_path(&prefix, k))
        .take_while(|p| p.exists());
    let chunks: Vec<PathBuf> = (0..n)
        .map(|k| chunk_path(&prefix, k))
        .chain(stale)
        .collect();
    let kind = crate::atomic::OutputKind::Transpose;
    for p in chunks.iter().chain([&pid_idx_path(&prefix)]) {
        crate::atomic::check_target(p, kind, force)?;
    }
    write_transpose_with(&store, &prefix, &budget, |path, budget| {
        Out::atomic(path, budget).map(Sink::Atomic)
    })?;
    for p in &chunks[n..] {
        fs::remove_file(p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Removes a transpose (the `.pid_idx` first, so no reader finds an index without chunks).
pub(crate) fn remove_transpose(prefix: &Path) -> Result<()> {
    let idx = pid_idx_path(prefix);
    if idx.exists() {
        fs::remove_file(&idx).map_err(|source| Error::Io { path: idx, source })?;
    }
    for k in 0.. {
        let p = chunk_path(prefix, k);
        if !p.exists() {
            break;
        }
        fs::remove_file(&p).map_err(|source| Error::Io { path: p, source })?;
    }
    Ok(())
}

/// Serializes the transpose of `store` in memory: `(.pid_idx bytes, chunk files)`.
///
/// # Errors
/// The store's read errors; [`Error::InvalidInput`] for pids beyond `i32`.
pub fn transpose_bytes(store: &dyn SignalStore) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let budget = Budget::new(None);
    let mut files = write_transpose_with(store, Path::new("<memory>"), &budget, |_, _| {
        Ok(Sink::Memory(Vec::new()))
    })?;
    let idx = files.pop().unwrap_or_default();
    Ok((idx, files))
}
