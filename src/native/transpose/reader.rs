//! The mapped transpose files of one repository: records by pid, verification.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::*;
use crate::catalog::Catalog;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::sparse::{i32_at, u32_at, u64_at, Sparse};

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

/// Maps `path`, or `None` when it does not exist (as a `Path::exists` check made first would
/// say, without its `stat` when the file is there): an open that fails as not found is
/// `None`, another failure is `None` only if `exists` is false, the error otherwise.
fn map_if_exists(path: &Path) -> Result<Option<Bytes>> {
    match mmap::absent_is_none(mmap::map(path)) {
        Err(_) if !path.exists() => Ok(None),
        r => r,
    }
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
        let Some(idx) = map_if_exists(&idx_path)? else {
            return Ok(None);
        };
        let mut chunks = Vec::new();
        for k in 0.. {
            let p = chunk_path(prefix, k);
            let Some(b) = map_if_exists(&p)? else {
                break;
            };
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
            return Err((off as u64, DecodeError::UnknownSid { sid: sid as i64 }));
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
                    DecodeError::TrailingBytes {
                        bytes: c.as_slice().len() as u64 - next_pos[k],
                    },
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
