//! The original design's layouts, MODE 0–2 (docs/formats/inframed.md §8, docs/native-layouts.md).
//!
//! - MODE 0/1: `DATA <fno> <path>` and `INDEX <path>` config lines; data files are full
//!   (format word 0, per-pid records) or stripped (format word 1); INDEX files hold per-pid
//!   packets of 18-byte `(sid, fno, pos, len)` entries with byte positions and lengths.
//! - MODE 2: one stripped (or full) data file and one INDEX file per signal,
//!   `DIR/<PREFIX>_<SIG>.data`/`.idx`, the signal's file number being its position in the
//!   signals file.
//!
//! [`LegacyStore`] reads both with exact byte positions (not the original reader's truncating
//! position units, §8.5; offsets it would misread are reported as warnings). Packet files
//! cannot be searched without a scan, so opening reads every INDEX entry once (never the
//! data); lookups are then a binary search.

pub mod data;
pub mod index;
pub mod writer;

pub use writer::{write_legacy, LegacyOptions};

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::catalog::Catalog;
use crate::error::{DecodeError, Error, Result};
use crate::ids::{Pid, Sid};
use crate::mmap::{self, Bytes};
use crate::native::legacy::data::{parse_full_header, FULL_FORMAT, STRIPPED_FORMAT};
use crate::native::legacy::index::{parse_index, IndexEntry};
use crate::native::signal_paths;
use crate::native::sparse::{i32_at, u64_at};
use crate::store::{SignalStore, StoreDescription};
use crate::text::config::RepositoryConfig;
use crate::Warning;

/// One mapped data file.
#[derive(Debug)]
struct DataFile {
    path: PathBuf,
    bytes: Bytes,
    format: i32,
}

/// One in-memory file of [`LegacyStore::from_bytes`], shared between the store's open and
/// its `verify` (which reads the optional `.data.idx` sidecars).
#[derive(Clone)]
struct Shared(Arc<dyn AsRef<[u8]> + Send + Sync>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().as_ref()
    }
}

/// Where a legacy store's files come from: the filesystem, or the bytes given to
/// [`LegacyStore::from_bytes`] by path.
enum Source {
    Disk,
    Memory(HashMap<PathBuf, Shared>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Disk => f.write_str("Disk"),
            Source::Memory(m) => write!(f, "Memory({} files)", m.len()),
        }
    }
}

impl Source {
    fn exists(&self, path: &Path) -> bool {
        match self {
            Source::Disk => path.exists(),
            Source::Memory(m) => m.contains_key(path),
        }
    }

    fn map(&self, path: &Path) -> Result<Bytes> {
        match self {
            Source::Disk => mmap::map(path),
            Source::Memory(m) => match m.get(path) {
                Some(s) => Ok(Bytes::from_owned(s.clone())),
                None => Err(Error::Open {
                    path: path.into(),
                    source: std::io::ErrorKind::NotFound.into(),
                }),
            },
        }
    }
}

/// Where one vector is.
#[derive(Clone, Copy, Debug)]
struct Loc {
    pid: u32,
    file: u32,
    pos: u64,
    len: u32,
}

/// A MODE 0, 1 or 2 repository: data files and INDEX files, memory-mapped.
#[derive(Debug)]
pub struct LegacyStore {
    catalog: Catalog,
    mode: i32,
    files: Vec<DataFile>,
    index_paths: Vec<PathBuf>,
    /// Per catalog signal, its vectors sorted by pid.
    locs: Vec<Vec<Loc>>,
    /// sid → catalog position + 1.
    slots: Vec<u32>,
    pids: Vec<Pid>,
    warnings: Vec<Warning>,
    source: Source,
}

impl LegacyStore {
    /// Opens the data and INDEX files of a MODE 0–2 `config` whose signals are `catalog`.
    ///
    /// MODE 0/1 follow the `DATA`/`INDEX` lines. MODE 2 derives `DIR/<PREFIX>_<SIG>.data`/`.idx`
    /// per signal (a signal with neither file is empty); when no such file exists but the
    /// config has `DATA`/`INDEX` lines (the original writer omits `PREFIX` for MODE 2, so its
    /// reader looks under the default prefix `rep`, §8.1), those lines are used instead, with a
    /// warning.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Corrupt`] naming the file and offset (bad magic, format word,
    /// packet fields, a vector outside its data file or not a whole number of elements);
    /// [`Error::Inconsistent`] (unknown file number or sid, a `(pid, sid)` indexed twice, a
    /// missing companion file).
    pub fn open(
        config: &RepositoryConfig,
        catalog: Catalog,
        warnings: Vec<Warning>,
    ) -> Result<LegacyStore> {
        Self::open_from(config, catalog, warnings, Source::Disk)
    }

    /// A store over in-memory files: `files` are `(path, bytes)` for the data and INDEX files
    /// the MODE 0–2 `config` names (and any `.data.idx` sidecar), by the paths it names them
    /// (`config.data`, `config.index`, or `DIR/<PREFIX>_<SIG>.data`/`.idx` for MODE 2); a
    /// relative path is taken relative to the config's directory. Same checks as
    /// [`LegacyStore::open`]; a file the config names but `files` lacks is
    /// [`Error::Open`] (not found).
    ///
    /// # Errors
    /// As [`LegacyStore::open`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        config: &RepositoryConfig,
        catalog: Catalog,
        files: Vec<(PathBuf, D)>,
    ) -> Result<LegacyStore> {
        let dir = config.path.parent().unwrap_or(Path::new(""));
        let files = files
            .into_iter()
            .map(|(p, d)| {
                let p = if p.is_relative() { dir.join(p) } else { p };
                (p, Shared(Arc::new(d)))
            })
            .collect();
        Self::open_from(config, catalog, Vec::new(), Source::Memory(files))
    }

    fn open_from(
        config: &RepositoryConfig,
        catalog: Catalog,
        mut warnings: Vec<Warning>,
        source: Source,
    ) -> Result<LegacyStore> {
        let mut files: Vec<DataFile> = Vec::new();
        let mut index_paths = Vec::new();
        // file number → position in `files`.
        let mut by_fno: HashMap<u32, u32> = HashMap::new();
        let mut per_signal_file = false;
        if config.mode == 2 {
            let prefix = config.prefix_path();
            let derived: Vec<(PathBuf, PathBuf)> = catalog
                .signals()
                .iter()
                .map(|s| signal_paths(&prefix, &s.name))
                .collect();
            let any = derived
                .iter()
                .any(|(d, i)| source.exists(d) || source.exists(i));
            if any || config.data.is_empty() {
                per_signal_file = true;
                for (pos, (d, i)) in derived.into_iter().enumerate() {
                    match (source.exists(&d), source.exists(&i)) {
                        (false, false) => continue,
                        (true, true) => {}
                        (has_d, _) => {
                            let (present, missing) = if has_d { (&d, &i) } else { (&i, &d) };
                            return Err(Error::Inconsistent {
                                path: present.clone(),
                                source: DecodeError::Missing(missing.display().to_string()),
                            });
                        }
                    }
                    by_fno.insert(pos as u32, files.len() as u32);
                    files.push(open_data(&d, &source)?);
                    index_paths.push(i);
                }
            } else {
                warnings.push(Warning {
                    path: config.path.clone(),
                    line: 0,
                    message: format!(
                        "MODE 2 files not found under PREFIX {:?}; using the DATA/INDEX lines \
                         (the original reader would look under its default prefix \"rep\")",
                        config.prefix
                    ),
                });
            }
        }
        if !per_signal_file {
            for (fno, path) in &config.data {
                if by_fno.insert(*fno as u32, files.len() as u32).is_some() {
                    return Err(Error::Inconsistent {
                        path: config.path.clone(),
                        source: DecodeError::Duplicate {
                            what: "DATA file number",
                            value: *fno as i64,
                        },
                    });
                }
                files.push(open_data(path, &source)?);
            }
            index_paths.extend(config.index.iter().cloned());
            if index_paths.is_empty() && !files.is_empty() {
                return Err(Error::Inconsistent {
                    path: config.path.clone(),
                    source: DecodeError::Missing("INDEX lines for the DATA files".into()),
                });
            }
        }

        let n_sig = catalog.signals().len();
        let mut locs: Vec<Vec<Loc>> = vec![Vec::new(); n_sig];
        let mut pids: Vec<Pid> = Vec::new();
        // (file, sid) → position of the signal's first vector in that file.
        let mut bases: HashMap<(u32, u32), u64> = HashMap::new();
        // (data file, entry, signal's first position, INDEX file) for the position-unit check.
        let mut trap_entries: Vec<(u32, IndexEntry, u64, usize)> = Vec::new();
        for (ii, ipath) in index_paths.iter().enumerate() {
            let bytes = source.map(ipath)?;
            let (packet_pids, entries) =
                parse_index(bytes.as_slice()).map_err(|(o, e)| Error::corrupt(ipath, o, e))?;
            pids.extend(packet_pids.into_iter().map(Pid));
            for e in entries {
                let slot = catalog.position(Sid(e.sid)).ok_or_else(|| {
                    Error::corrupt(
                        ipath,
                        e.offset,
                        DecodeError::UnknownSid { sid: e.sid as i64 },
                    )
                })?;
                let file = if per_signal_file {
                    // MODE 2: the index file's own data file; the entry's fno is not used.
                    let fno = catalog.signals().iter().position(|s| s.sid.0 == e.sid);
                    match fno.and_then(|f| by_fno.get(&(f as u32))) {
                        Some(&f) if f as usize == ii => f,
                        _ => {
                            return Err(Error::corrupt(
                                ipath,
                                e.offset,
                                DecodeError::ForeignEntry { sid: e.sid },
                            ))
                        }
                    }
                } else {
                    *by_fno
                        .get(&(e.fno as u32))
                        .ok_or_else(|| Error::Inconsistent {
                            path: ipath.clone(),
                            source: DecodeError::Missing(format!(
                                "DATA file number {} (entry at byte {})",
                                e.fno, e.offset
                            )),
                        })?
                };
                let df = &files[file as usize];
                let size = catalog.signals()[slot].layout.size() as u64;
                let len = df.bytes.as_slice().len() as u64;
                let end = e.pos.checked_add(e.len as u64);
                if e.pos < 4 || end.map_or(true, |end| end > len) {
                    return Err(Error::corrupt(
                        ipath,
                        e.offset + 6,
                        DecodeError::OutOfBounds {
                            start: e.pos,
                            end: e.pos.saturating_add(e.len as u64),
                            len,
                        },
                    ));
                }
                if e.len as u64 % size != 0 {
                    return Err(Error::corrupt(
                        ipath,
                        e.offset + 14,
                        DecodeError::Size {
                            size: e.len as u64,
                            header: 0,
                            element: size,
                        },
                    ));
                }
                let base = *bases.entry((file, e.sid)).or_insert(e.pos);
                trap_entries.push((file, e, base, ii));
                locs[slot].push(Loc {
                    pid: e.pid,
                    file,
                    pos: e.pos,
                    len: e.len,
                });
            }
        }
        // The original reader's position units (§8.5): f_factor = the element size when every
        // signal of the data file has the same size, else 1.
        let mut sizes: HashMap<u32, Option<u64>> = HashMap::new();
        for (file, e, _, _) in &trap_entries {
            let size = catalog.by_sid(Sid(e.sid))?.layout.size() as u64;
            let s = sizes.entry(*file).or_insert(Some(size));
            if *s != Some(size) {
                *s = None;
            }
        }
        let mut warned: hashbrown::HashSet<(u32, u32)> = hashbrown::HashSet::new();
        for (file, e, base, ii) in &trap_entries {
            let factor = sizes.get(file).copied().flatten().unwrap_or(1);
            if (e.pos < *base || (e.pos - base) % factor != 0) && warned.insert((*file, e.sid)) {
                warnings.push(Warning {
                    path: index_paths[*ii].clone(),
                    line: 0,
                    message: format!(
                        "pid {} sid {}: vector at byte {} of {} is not a whole number of {}-byte \
                         elements after the signal's first vector (byte {}); the original reader \
                         would read it from the wrong offset (inframed reads it exactly)",
                        e.pid,
                        e.sid,
                        e.pos,
                        files[*file as usize].path.display(),
                        factor,
                        base
                    ),
                });
            }
        }
        for (slot, l) in locs.iter_mut().enumerate() {
            l.sort_by_key(|x| x.pid);
            if let Some(w) = l.windows(2).find(|w| w[0].pid == w[1].pid) {
                return Err(Error::Inconsistent {
                    path: index_paths.first().cloned().unwrap_or_default(),
                    source: DecodeError::IndexedTwice {
                        pid: w[0].pid,
                        sid: catalog.signals()[slot].sid.0,
                    },
                });
            }
        }
        pids.sort_unstable();
        pids.dedup();
        let slots = catalog.dense_slots();
        Ok(LegacyStore {
            catalog,
            mode: config.mode,
            files,
            index_paths,
            locs,
            slots,
            pids,
            warnings,
            source,
        })
    }

    /// The config's MODE (0, 1 or 2).
    pub fn mode(&self) -> i32 {
        self.mode
    }

    fn verify_file(&self, file: u32) -> Result<()> {
        let df = &self.files[file as usize];
        let b = df.bytes.as_slice();
        // Vectors of this file, by position.
        let mut vecs: Vec<(u64, u32, u32, u32)> = Vec::new(); // (pos, len, pid, sid)
        for (slot, l) in self.locs.iter().enumerate() {
            let sid = self.catalog.signals()[slot].sid.0;
            vecs.extend(
                l.iter()
                    .filter(|x| x.file == file)
                    .map(|x| (x.pos, x.len, x.pid, sid)),
            );
        }
        vecs.sort_unstable();
        if df.format == STRIPPED_FORMAT {
            let mut at = 4u64;
            for &(pos, len, pid, sid) in &vecs {
                if pos != at {
                    return Err(Error::corrupt(
                        &df.path,
                        pos.min(at),
                        DecodeError::VectorPosition {
                            pid,
                            sid,
                            found: pos,
                            expected: at,
                        },
                    ));
                }
                at += len as u64;
            }
            if at != b.len() as u64 {
                return Err(Error::corrupt(
                    &df.path,
                    at,
                    DecodeError::TrailingBytes {
                        bytes: b.len() as u64 - at,
                    },
                ));
            }
            return Ok(());
        }
        // Full: walk the records; each table entry must match an INDEX entry.
        let by_key: HashMap<(u32, u32), (u64, u32)> = vecs
            .iter()
            .map(|&(pos, len, pid, sid)| ((pid, sid), (pos, len)))
            .collect();
        let mut starts = Vec::new();
        let mut seen = 0usize;
        let mut at = 4usize;
        while at < b.len() {
            starts.push(at as u64);
            let h = parse_full_header(b, at).map_err(|(o, e)| Error::corrupt(&df.path, o, e))?;
            let mut end = at + 16 + 8 * h.table.len();
            for (i, &(sid, rel)) in h.table.iter().enumerate() {
                let off = (at + 16 + 8 * i) as u64;
                let Some(&(pos, len)) = by_key.get(&(h.pid, sid)) else {
                    return Err(Error::corrupt(
                        &df.path,
                        off,
                        DecodeError::Unindexed { pid: h.pid, sid },
                    ));
                };
                if pos != at as u64 + rel {
                    return Err(Error::corrupt(
                        &df.path,
                        off + 4,
                        DecodeError::Field {
                            field: "record vector position",
                            found: (at as u64 + rel) as i64,
                            expected: pos as i64,
                        },
                    ));
                }
                seen += 1;
                end = end.max((pos + len as u64) as usize);
            }
            at = end;
        }
        if seen != vecs.len() {
            return Err(Error::Inconsistent {
                path: df.path.clone(),
                source: DecodeError::Mismatch {
                    what: "vectors its records list, of the INDEX entries pointing into it",
                    found: seen as u64,
                    expected: vecs.len() as u64,
                },
            });
        }
        let sidecar = PathBuf::from(format!("{}.idx", df.path.display()));
        if self.source.exists(&sidecar) {
            let s = self.source.map(&sidecar)?;
            let s = s.as_slice();
            if s.len() != 8 * starts.len() {
                return Err(Error::corrupt(
                    &sidecar,
                    s.len().min(8 * starts.len()) as u64,
                    DecodeError::Field {
                        field: "record count",
                        found: (s.len() / 8) as i64,
                        expected: starts.len() as i64,
                    },
                ));
            }
            for (i, &want) in starts.iter().enumerate() {
                let got = u64_at(s, 8 * i).unwrap_or(u64::MAX);
                if got != want {
                    return Err(Error::corrupt(
                        &sidecar,
                        8 * i as u64,
                        DecodeError::Field {
                            field: "record start",
                            found: got as i64,
                            expected: want as i64,
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

fn open_data(path: &Path, source: &Source) -> Result<DataFile> {
    let bytes = source.map(path)?;
    let format = i32_at(bytes.as_slice(), 0)
        .ok_or_else(|| Error::corrupt(path, 0, DecodeError::UnexpectedEof))?;
    if format != FULL_FORMAT && format != STRIPPED_FORMAT {
        return Err(Error::corrupt(path, 0, DecodeError::Version(format as i64)));
    }
    Ok(DataFile {
        path: path.into(),
        bytes,
        format,
    })
}

impl SignalStore for LegacyStore {
    fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn pids(&self) -> &[Pid] {
        &self.pids
    }

    #[inline]
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        let slot = match self.slots.get(sid.0 as usize) {
            Some(&s) if s > 0 => s as usize - 1,
            _ => return Err(Error::UnknownSid { sid }),
        };
        let l = &self.locs[slot];
        let Ok(i) = l.binary_search_by_key(&pid.0, |x| x.pid) else {
            return Ok(Cow::Borrowed(&[]));
        };
        let x = l[i];
        let b = self.files[x.file as usize].bytes.as_slice();
        // Bounds were checked at open.
        Ok(Cow::Borrowed(
            b.get(x.pos as usize..x.pos as usize + x.len as usize)
                .unwrap_or(&[]),
        ))
    }

    fn describe(&self) -> StoreDescription {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut files: Vec<(PathBuf, u64)> = self
            .files
            .iter()
            .map(|f| (f.path.clone(), f.bytes.as_slice().len() as u64))
            .collect();
        files.extend(self.index_paths.iter().map(|p| (p.clone(), size(p))));
        let kinds: Vec<&str> = {
            let mut k: Vec<&str> = self
                .files
                .iter()
                .map(|f| {
                    if f.format == FULL_FORMAT {
                        "full"
                    } else {
                        "stripped"
                    }
                })
                .collect();
            k.sort_unstable();
            k.dedup();
            k
        };
        StoreDescription {
            format: format!(
                "InfraMed MODE {} ({} data files + INDEX packets)",
                self.mode,
                kinds.join("/")
            ),
            files,
        }
    }

    fn verify(&self) -> Result<()> {
        for f in 0..self.files.len() {
            self.verify_file(f as u32)?;
        }
        crate::store::verify_elements(self)
    }

    fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}
