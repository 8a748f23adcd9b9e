//! Reading one fold of an indexed-tar dataset: find its shards, map them, load its `.taridx`
//! (or build the index by scanning the tars), look members up by `(key, extension)`.

use std::path::{Path, PathBuf};

use hashbrown::{HashMap, HashSet};
use xxhash_rust::xxh64::xxh64;

use super::header::{self, block_at, BLOCK};
use super::index::{runs, IndexBuilder, Row, TarIndex};
use super::{backend_error, ItarError};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::mmap::{self, Bytes};

/// The shard-name delimiter (`<fold>_<suffix>.tar`).
const DELIMITER: char = '_';

/// Splits a member name as glzn does: the basename after the last `/`, at its **first** `.`;
/// the extension lowercased (`''` without a dot).
pub fn split_name(name: &str) -> (String, String) {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.split_once('.') {
        Some((stem, ext)) => (stem.to_owned(), ext.to_lowercase()),
        None => (base.to_owned(), String::new()),
    }
}

/// One mapped shard.
#[derive(Debug)]
struct Shard {
    path: PathBuf,
    bytes: Bytes,
}

/// A member's payload, borrowed from the mapped shard.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    /// Row index in the fold's index.
    pub row: usize,
    /// The index row.
    pub entry: &'a Row,
    /// The shard file.
    pub shard: &'a Path,
    /// The payload (`[offset + 512, offset + 512 + size)` of the shard).
    pub data: &'a [u8],
}

/// One fold of a dataset: its shards (mapped) and its index, with a lookup table from
/// `(keyhash, crashid, extid)` to row built at open.
#[derive(Debug)]
pub struct Fold {
    name: String,
    index_path: PathBuf,
    shards: Vec<Shard>,
    index: TarIndex,
    ext_ids: HashMap<String, u16>,
    crash_ids: HashMap<String, u32>,
    lookup: HashMap<(u64, u32, u16), u32>,
    /// Rows that are not members: pax / GNU long-name headers and directories (glzn's parse
    /// path indexes every header).
    meta_rows: HashSet<u32>,
    /// Rows keyed (also) by the full name their pax / long-name header gives: row → stem.
    resolved: HashMap<u32, String>,
    /// What was tolerated at open (duplicates resolved as tar extraction does).
    warnings: Vec<String>,
}

/// The `(fold, suffix)` a shard file name belongs to, or `None` if it is not a shard
/// (`.tar`, or gzip-compressed `.tar.gz` / `.tgz`, which are refused on open):
/// - glzn: `<fold>_<suffix>.tar` (exactly one `_`);
/// - WebDataset: `<fold><sep><digits>.tar` with `sep` one of `-`, `_`, `.`
///   (`train-000000.tar`, `shard_name_0003.tar`);
/// - any other `<name>.tar` is a fold of its own.
pub fn shard_fold(file_name: &str) -> Option<(String, String)> {
    let lower = file_name.to_ascii_lowercase();
    let cut = [".tar", ".tar.gz", ".tgz"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map(|s| s.len())?;
    let base = &file_name[..file_name.len() - cut];
    if base.is_empty() {
        return None;
    }
    if let [f, suffix] = base.split(DELIMITER).collect::<Vec<_>>().as_slice() {
        if !f.is_empty() {
            return Some((f.to_string(), suffix.to_string()));
        }
    }
    let digits = base.len() - base.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < base.len() {
        let head = &base[..base.len() - digits];
        if let Some(f) = head.strip_suffix(['-', '_', '.']) {
            if !f.is_empty() {
                return Some((f.to_string(), base[head.len()..].to_string()));
            }
        }
    }
    Some((base.to_string(), String::new()))
}

/// The shards of fold `fold` in `dir`, sorted by suffix as a string (glzn's fid rule).
fn shard_files(dir: &Path, fold: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.into(),
        source,
    })?;
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((f, suffix)) = shard_fold(name) {
            if f == fold && e.path().is_file() {
                found.push((suffix, e.path()));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// The folds of a dataset folder: every `<fold>.taridx`, and every fold with shards
/// ([`shard_fold`]).
///
/// # Errors
/// [`Error::Open`] if the folder cannot be listed.
pub fn fold_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.into(),
        source,
    })?;
    let mut names = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(f) = name.strip_suffix(".taridx") {
            names.push(f.to_owned());
        } else if let Some((f, _)) = shard_fold(name) {
            names.push(f);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Expands a WebDataset brace list: `{000..009}` (zero-padded to the first bound's width) and
/// `{a,b}`, several groups allowed.
///
/// # Errors
/// [`ItarError::Braces`] for an unbalanced or reversed range.
pub fn expand_braces(pattern: &str) -> std::result::Result<Vec<String>, ItarError> {
    let bad = |reason: &str| ItarError::Braces {
        pattern: pattern.into(),
        reason: reason.into(),
    };
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or_else(|| bad("unbalanced '{'"))?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let items: Vec<String> = if let Some((a, b)) = body.split_once("..") {
        let (x, y): (u64, u64) = match (a.parse(), b.parse()) {
            (Ok(x), Ok(y)) => (x, y),
            _ => return Err(bad("range bounds are not numbers")),
        };
        if x > y {
            return Err(bad("range runs backwards"));
        }
        if y - x > 1_000_000 {
            return Err(bad("range too large"));
        }
        (x..=y).map(|n| format!("{n:0w$}", w = a.len())).collect()
    } else {
        body.split(',').map(str::to_string).collect()
    };
    let rest = expand_braces(tail)?;
    let mut out = Vec::with_capacity(items.len() * rest.len());
    for i in &items {
        for r in &rest {
            out.push(format!("{head}{i}{r}"));
        }
    }
    Ok(out)
}

/// Maps one shard, refusing gzip-compressed ones with a message that says how to decompress.
fn map_shard(path: PathBuf) -> Result<Shard> {
    let bytes = mmap::map(&path)?;
    if bytes.as_slice().starts_with(&[0x1f, 0x8b]) {
        let name = file_name(&path);
        let lower = name.to_ascii_lowercase();
        let stem = if lower.ends_with(".tar.gz") {
            name[..name.len() - 7].to_string()
        } else if lower.ends_with(".tgz") || lower.ends_with(".tar") {
            name[..name.len() - 4].to_string()
        } else {
            name.clone()
        };
        return Err(backend_error(
            &path,
            "byte 0",
            ItarError::Gzip { name, stem },
        ));
    }
    Ok(Shard { path, bytes })
}

impl Fold {
    /// Opens the fold of a `.taridx` file (fold = file stem; shards beside it).
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Corrupt`] / [`Error::Backend`] naming the index and the byte
    /// offset (header fields, blocks, rows) or the row (shard id, offset, bytes past the end of
    /// the shard, duplicate key and extension).
    pub fn open(taridx: &Path) -> Result<Fold> {
        let fold = taridx
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| {
                backend_error(
                    taridx,
                    "file name",
                    ItarError::BadName {
                        name: taridx.display().to_string(),
                        reason: "not a <fold>.taridx name",
                    },
                )
            })?
            .to_owned();
        let dir = parent_dir(taridx);
        let dir = dir.as_path();
        let bytes = mmap::map(taridx)?;
        let index = TarIndex::parse(bytes.as_slice())
            .map_err(|(off, e)| backend_error(taridx, format!("byte {off}"), e))?;
        let shards = Self::map_shards(dir, &fold)?;
        Self::assemble(fold, taridx.to_path_buf(), shards, index)
    }

    /// Opens a dataset path that is not a folder: a `.taridx` file (by its magic), one tar
    /// shard (indexed by scanning it), or a WebDataset brace list of shards
    /// (`train-{000000..000009}.tar`, scanned in list order).
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`]; [`ItarError::Braces`] for a list naming a file
    /// that does not exist.
    pub fn open_path(path: &Path) -> Result<Fold> {
        let name = file_name(path);
        if !path.exists() && crate::backend::detect::is_brace_list(&name) {
            let dir = parent_dir(path);
            let names = expand_braces(&name).map_err(|e| backend_error(path, "name", e))?;
            let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
            if let Some(missing) = files.iter().find(|f| !f.is_file()) {
                return Err(backend_error(
                    path,
                    "name",
                    ItarError::Braces {
                        pattern: name.clone(),
                        reason: format!("{} does not exist", missing.display()),
                    },
                ));
            }
            let fold = shard_fold(&names[0]).map_or(name.clone(), |(f, _)| f);
            let index_path = dir.join(format!("{fold}.taridx"));
            return Self::scan_files(fold, index_path, files);
        }
        let mut magic = [0u8; 8];
        let is_index = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && &magic == super::MAGIC;
        if is_index {
            return Fold::open(path);
        }
        let fold = shard_fold(&name).map_or_else(|| name.clone(), |(f, _)| f);
        let index_path = parent_dir(path).join(format!("{fold}.taridx"));
        Self::scan_files(fold, index_path, vec![path.to_path_buf()])
    }

    /// Opens fold `fold` of a dataset folder: from `<fold>.taridx` if present, else by scanning
    /// its shards ([`Fold::scan`]).
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`].
    pub fn open_dir(dir: &Path, fold: &str) -> Result<Fold> {
        let idx = dir.join(format!("{fold}.taridx"));
        if idx.is_file() {
            Fold::open(&idx)
        } else {
            Fold::scan(dir, fold)
        }
    }

    /// Builds the fold's index by scanning its shards in order, as glzn's parse path does
    /// (fid = shard rank, stem = basename up to the first `.`, extension ids by first
    /// appearance, crash stems), except that only regular file members become rows: pax and
    /// GNU long names name the member that follows them, and directories are skipped.
    /// [`Fold::write_index`] saves the result.
    ///
    /// # Errors
    /// [`Error::Backend`] naming the shard and byte offset of a damaged header;
    /// [`ItarError::NoShards`].
    pub fn scan(dir: &Path, fold: &str) -> Result<Fold> {
        let shards = Self::map_shards(dir, fold)?;
        Self::scan_shards(
            fold.to_owned(),
            dir.join(format!("{fold}.taridx")),
            shards,
            &mut |_| {},
        )
    }

    /// [`Fold::scan`] reporting progress: `progress(bytes)` after each shard, with the bytes of
    /// the shards scanned so far; returns the fold and the total bytes of its shards.
    ///
    /// # Errors
    /// As [`Fold::scan`].
    pub(crate) fn scan_with(dir: &Path, fold: &str, progress: &mut dyn FnMut(u64)) -> Result<Fold> {
        let shards = Self::map_shards(dir, fold)?;
        Self::scan_shards(
            fold.to_owned(),
            dir.join(format!("{fold}.taridx")),
            shards,
            progress,
        )
    }

    /// The bytes of fold `fold`'s shards in `dir` (what [`Fold::scan_with`] reports against).
    ///
    /// # Errors
    /// As [`Fold::scan`].
    pub(crate) fn shards_len(dir: &Path, fold: &str) -> Result<u64> {
        let mut total = 0;
        for f in shard_files(dir, fold)? {
            total += std::fs::metadata(&f)
                .map_err(|source| Error::Open {
                    path: f.clone(),
                    source,
                })?
                .len();
        }
        Ok(total)
    }

    /// [`Fold::scan`] over shard files given in fid order.
    fn scan_files(fold: String, index_path: PathBuf, files: Vec<PathBuf>) -> Result<Fold> {
        let shards = files
            .into_iter()
            .map(map_shard)
            .collect::<Result<Vec<_>>>()?;
        Self::scan_shards(fold, index_path, shards, &mut |_| {})
    }

    fn scan_shards(
        fold: String,
        index_path: PathBuf,
        shards: Vec<Shard>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Fold> {
        let mut b = IndexBuilder::default();
        let mut scanned = 0u64;
        let mut resolved = HashMap::new();
        for (fid, shard) in shards.iter().enumerate() {
            let fid = u16::try_from(fid).map_err(|_| {
                backend_error(
                    &shard.path,
                    "shard",
                    ItarError::ShardId {
                        fid: u16::MAX,
                        n_shards: shards.len(),
                    },
                )
            })?;
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| backend_error(&shard.path, format!("byte {off}"), e))?;
            for m in members {
                let (stem, ext) = split_name(&m.name);
                let long = block_at(shard.bytes.as_slice(), m.offset)
                    .is_some_and(|h| header::name_field(h) != m.name.as_bytes());
                if long {
                    // Named by a pax / long-name header: the header's own name field differs.
                    resolved.insert(b.len() as u32, stem.clone());
                }
                b.add(fid, m.offset, m.size, &stem, &ext)
                    .map_err(|e| backend_error(&shard.path, format!("byte {}", m.offset), e))?;
            }
            scanned += shard.bytes.as_slice().len() as u64;
            progress(scanned);
        }
        let index = b.finish();
        let mut fold = Self::assemble(fold, index_path, shards, index)?;
        fold.resolved.extend(resolved);
        Ok(fold)
    }

    /// A fold over in-memory files: the `.taridx` bytes (`None`: scan the shards) and the
    /// shards in fid order. Paths in errors are `<memory>/<fold>…`.
    ///
    /// # Errors
    /// As [`Fold::open`] and [`Fold::scan`].
    pub fn from_bytes<D: AsRef<[u8]> + Send + Sync + 'static>(
        fold: &str,
        taridx: Option<D>,
        shards: Vec<D>,
    ) -> Result<Fold> {
        let base = PathBuf::from("<memory>");
        let index_path = base.join(format!("{fold}.taridx"));
        let shards: Vec<Shard> = shards
            .into_iter()
            .enumerate()
            .map(|(i, d)| Shard {
                path: base.join(format!("{fold}_{i:04}.tar")),
                bytes: Bytes::from_owned(d),
            })
            .collect();
        let index = match taridx {
            Some(d) => TarIndex::parse(d.as_ref())
                .map_err(|(off, e)| backend_error(&index_path, format!("byte {off}"), e))?,
            None => {
                let mut b = IndexBuilder::default();
                for (fid, shard) in shards.iter().enumerate() {
                    let members = header::scan(shard.bytes.as_slice())
                        .map_err(|(off, e)| backend_error(&shard.path, format!("byte {off}"), e))?;
                    for m in members {
                        let (stem, ext) = split_name(&m.name);
                        b.add(fid as u16, m.offset, m.size, &stem, &ext)
                            .map_err(|e| backend_error(&shard.path, "scan", e))?;
                    }
                }
                b.finish()
            }
        };
        Self::assemble(fold.to_owned(), index_path, shards, index)
    }

    fn map_shards(dir: &Path, fold: &str) -> Result<Vec<Shard>> {
        let files = shard_files(dir, fold)?;
        if files.is_empty() {
            return Err(backend_error(
                dir,
                format!("fold {fold}"),
                ItarError::NoShards { fold: fold.into() },
            ));
        }
        files.into_iter().map(map_shard).collect()
    }

    /// Checks every row against its shard (fid, block alignment, bounds) and builds the lookup.
    fn assemble(
        name: String,
        index_path: PathBuf,
        shards: Vec<Shard>,
        index: TarIndex,
    ) -> Result<Fold> {
        let mut lookup = HashMap::with_capacity(index.rows.len());
        let empty_ext = index
            .extensions
            .iter()
            .position(|e| e.is_empty())
            .map(|p| p as u16);
        let mut meta_rows = HashSet::new();
        let mut resolve_shards: HashSet<u16> = HashSet::new();
        let mut warnings = Vec::new();
        for (i, r) in index.rows.iter().enumerate() {
            let ctx = || format!("row {i} (byte {})", index.row_offset(i));
            let shard = shards.get(usize::from(r.fid)).ok_or_else(|| {
                backend_error(
                    &index_path,
                    ctx(),
                    ItarError::ShardId {
                        fid: r.fid,
                        n_shards: shards.len(),
                    },
                )
            })?;
            if r.offset % BLOCK != 0 {
                return Err(backend_error(
                    &index_path,
                    ctx(),
                    ItarError::Unaligned { offset: r.offset },
                ));
            }
            let len = shard.bytes.as_slice().len() as u64;
            let end = r
                .offset
                .checked_add(BLOCK)
                .and_then(|s| s.checked_add(r.size));
            if !matches!(end, Some(e) if e <= len) {
                return Err(backend_error(
                    &index_path,
                    ctx(),
                    ItarError::PastEnd {
                        shard: file_name(&shard.path),
                        start: r.offset,
                        end: end.unwrap_or(u64::MAX),
                        len,
                    },
                ));
            }
            if Some(r.extid) == empty_ext {
                // A pax / long-name header or a directory, listed by glzn's parse path.
                let flag = block_at(shard.bytes.as_slice(), r.offset).map_or(b'0', |h| h[156]);
                if !matches!(flag, b'0' | 0 | b'7') {
                    meta_rows.insert(i as u32);
                    if matches!(flag, b'x' | b'L') {
                        resolve_shards.insert(r.fid);
                    }
                    continue;
                }
            }
            if let Some(first) = lookup.insert((r.keyhash, r.crashid, r.extid), i as u32) {
                let name = raw_name(shards[usize::from(r.fid)].bytes.as_slice(), r.offset);
                warnings.push(duplicate_warning(&name, first, i as u32));
            }
        }
        let ext_ids = index
            .extensions
            .iter()
            .enumerate()
            .map(|(i, e)| (e.clone(), i as u16))
            .collect();
        let crash_ids = index
            .crash_stems
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32 + 1))
            .collect();
        let mut fold = Fold {
            name,
            index_path,
            shards,
            index,
            ext_ids,
            crash_ids,
            lookup,
            meta_rows,
            resolved: HashMap::new(),
            warnings,
        };
        fold.resolve_long_names(&resolve_shards)?;
        Ok(fold)
    }

    /// Keys the members that follow pax / GNU long-name header rows by their full name too (an
    /// index built by glzn's parse path hashed the truncated `name` field), walking only the
    /// shards that have such rows.
    fn resolve_long_names(&mut self, shards: &HashSet<u16>) -> Result<()> {
        if shards.is_empty() {
            return Ok(());
        }
        let mut by_offset: HashMap<(u16, u64), u32> = HashMap::new();
        for (i, r) in self.index.rows.iter().enumerate() {
            if shards.contains(&r.fid) && !self.meta_rows.contains(&(i as u32)) {
                by_offset.insert((r.fid, r.offset), i as u32);
            }
        }
        let mut fids: Vec<u16> = shards.iter().copied().collect();
        fids.sort_unstable();
        for fid in fids {
            let shard = &self.shards[usize::from(fid)];
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| backend_error(&shard.path, format!("byte {off}"), e))?;
            for m in members {
                let Some(&row) = by_offset.get(&(fid, m.offset)) else {
                    continue;
                };
                let Some(h) = block_at(shard.bytes.as_slice(), m.offset) else {
                    continue;
                };
                if m.name.as_bytes() == header::name_field(h) {
                    continue;
                }
                let (stem, ext) = split_name(&m.name);
                let next = (self.index.extensions.len() + self.ext_ids.len()) as u16;
                let extid = *self.ext_ids.entry(ext).or_insert(next);
                let (keyhash, crashid) = self.identity(stem.as_bytes());
                if let Some(first) = self.lookup.insert((keyhash, crashid, extid), row) {
                    if first != row {
                        self.warnings.push(duplicate_warning(&m.name, first, row));
                    }
                }
                self.resolved.insert(row, stem);
            }
        }
        Ok(())
    }

    /// What was tolerated at open: duplicate members (the later row wins, as tar extraction
    /// does), one message each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether index row `row` is a pax / GNU long-name header or a directory rather than a
    /// member (such rows are never exposed as members).
    pub fn is_meta_row(&self, row: usize) -> bool {
        self.meta_rows.contains(&(row as u32))
    }

    /// Writes the fold's index as `<fold>.taridx` beside its shards (temp + rename).
    ///
    /// # Errors
    /// [`Error::Open`] / [`Error::Io`].
    pub fn write_index(&self) -> Result<()> {
        write_atomic(&self.index_path, &self.index.to_bytes())
    }

    /// The fold name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `.taridx` path (where it is or would be written).
    pub fn index_path(&self) -> &Path {
        &self.index_path
    }

    /// The decoded index.
    pub fn index(&self) -> &TarIndex {
        &self.index
    }

    /// Shard `fid`'s path.
    pub fn shard_path(&self, fid: u16) -> Option<&Path> {
        self.shards.get(usize::from(fid)).map(|s| s.path.as_path())
    }

    /// Shard paths and sizes in fid order.
    pub fn shard_files(&self) -> Vec<(PathBuf, u64)> {
        self.shards
            .iter()
            .map(|s| (s.path.clone(), s.bytes.as_slice().len() as u64))
            .collect()
    }

    /// The id of extension `ext` (lowercase, no leading dot).
    pub fn extension_id(&self, ext: &str) -> Option<u16> {
        self.ext_ids.get(ext).copied()
    }

    /// The `(keyhash, crashid)` identity of a stem.
    #[inline]
    pub fn identity(&self, stem: &[u8]) -> (u64, u32) {
        let crashid = if self.crash_ids.is_empty() {
            0
        } else {
            std::str::from_utf8(stem)
                .ok()
                .and_then(|s| self.crash_ids.get(s).copied())
                .unwrap_or(0)
        };
        (xxh64(stem, 0), crashid)
    }

    /// The row of `(stem identity, extid)` without any check of the tar header.
    #[inline]
    pub(crate) fn row_of(&self, keyhash: u64, crashid: u32, extid: u16) -> Option<usize> {
        self.lookup
            .get(&(keyhash, crashid, extid))
            .map(|&r| r as usize)
    }

    /// Row `row`'s member (bounds were checked at open).
    #[inline]
    pub fn member(&self, row: usize) -> Option<Member<'_>> {
        let entry = self.index.rows.get(row)?;
        let shard = self.shards.get(usize::from(entry.fid))?;
        let start = usize::try_from(entry.offset.checked_add(BLOCK)?).ok()?;
        let end = start.checked_add(usize::try_from(entry.size).ok()?)?;
        Some(Member {
            row,
            entry,
            shard: &shard.path,
            data: shard.bytes.as_slice().get(start..end)?,
        })
    }

    /// The mapped bytes of shard `fid`.
    pub(crate) fn shard_bytes(&self, fid: u16) -> Option<&[u8]> {
        self.shards
            .get(usize::from(fid))
            .map(|s| s.bytes.as_slice())
    }

    /// The raw 512-byte tar header of row `row`.
    pub(crate) fn header_of(&self, row: usize) -> Option<&[u8; 512]> {
        let entry = self.index.rows.get(row)?;
        let shard = self.shards.get(usize::from(entry.fid))?;
        block_at(shard.bytes.as_slice(), entry.offset)
    }

    /// Whether the tar header of `row` names a member with stem `stem`. A name field that fills
    /// all 100 bytes may be a truncated long name and is not checked.
    #[inline]
    pub(crate) fn header_has_stem(&self, row: usize, stem: &[u8]) -> bool {
        let Some(h) = self.header_of(row) else {
            return false;
        };
        let name = header::name_field(h);
        if name.len() == 100 {
            return true;
        }
        let base = match name.iter().rposition(|&b| b == b'/') {
            Some(p) => &name[p + 1..],
            None => name,
        };
        let found = match base.iter().position(|&b| b == b'.') {
            Some(p) => &base[..p],
            None => base,
        };
        found == stem
    }

    /// The member `stem.ext` (extension compared lowercased), if the fold has it. The tar header
    /// at the row must name the same stem (a different stem there is an absent key whose hash
    /// collides with a present one, as glzn's `filter_stems(verify=True)` decides).
    ///
    /// # Errors
    /// None at present (bounds were checked at open); kept for damaged-shard reporting.
    pub fn find(&self, stem: &str, ext: &str) -> Result<Option<Member<'_>>> {
        let Some(extid) = self.extension_id(&ext.to_lowercase()) else {
            return Ok(None);
        };
        let (keyhash, crashid) = self.identity(stem.as_bytes());
        let Some(row) = self.row_of(keyhash, crashid, extid) else {
            return Ok(None);
        };
        let named = match self.resolved.get(&(row as u32)) {
            Some(full) => full == stem || self.header_has_stem(row, stem.as_bytes()),
            None => self.header_has_stem(row, stem.as_bytes()),
        };
        if !named {
            return Ok(None);
        }
        Ok(self.member(row))
    }

    /// Every row's full member name in row order, read by walking the shards' headers (so pax
    /// and GNU long names are resolved).
    ///
    /// # Errors
    /// [`Error::Backend`] for a damaged shard or a row that points at no member header.
    pub fn member_names(&self) -> Result<Vec<String>> {
        let walked = self.walk()?;
        self.index
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                walked
                    .get(&(r.fid, r.offset))
                    .map(|m| m.0.clone())
                    .or_else(|| {
                        // glzn's parse path also indexes non-regular headers (directories…).
                        self.header_of(i)
                            .map(|h| String::from_utf8_lossy(header::name_field(h)).into_owned())
                    })
                    .ok_or_else(|| {
                        backend_error(
                            &self.index_path,
                            format!("row {i}"),
                            ItarError::Mismatch {
                                what: format!("no tar header at byte {}", r.offset),
                            },
                        )
                    })
            })
            .collect()
    }

    /// `(fid, header offset) → (name, size)` of every regular member of every shard.
    fn walk(&self) -> Result<HashMap<(u16, u64), (String, u64)>> {
        let mut out = HashMap::new();
        for (fid, shard) in self.shards.iter().enumerate() {
            let members = header::scan(shard.bytes.as_slice())
                .map_err(|(off, e)| backend_error(&shard.path, format!("byte {off}"), e))?;
            for m in members {
                out.insert((fid as u16, m.offset), (m.name, m.size));
            }
        }
        Ok(out)
    }

    /// Checks the index against the shards: every shard's headers walk cleanly (checksums,
    /// sizes, truncation); every row points at a header whose size, stem hash, crash id and
    /// extension match the row; every regular member has a row; `n_stems` and the contiguous
    /// flag are right.
    ///
    /// # Errors
    /// The first damage, naming the shard or index and the byte offset or row.
    pub fn verify(&self) -> Result<()> {
        let walked = self.walk()?;
        let mut canonical: HashMap<u64, String> = HashMap::new();
        let mut stems: HashSet<(u64, u32)> = HashSet::new();
        let mut indexed: HashSet<(u16, u64)> = HashSet::new();
        // Canonical stems are the crashid-0 stems; check each row's identity.
        for (i, r) in self.index.rows.iter().enumerate() {
            let ctx = || format!("row {i} (byte {})", self.index.row_offset(i));
            let mismatch =
                |what: String| backend_error(&self.index_path, ctx(), ItarError::Mismatch { what });
            let h = self
                .header_of(i)
                .ok_or_else(|| mismatch("no tar header at the row's offset".into()))?;
            let shard = &self.shards[usize::from(r.fid)].path;
            header::check_checksum(h)
                .map_err(|e| backend_error(shard, format!("byte {}", r.offset + 148), e))?;
            let raw = String::from_utf8_lossy(header::name_field(h)).into_owned();
            let name = match walked.get(&(r.fid, r.offset)) {
                Some((name, size)) => {
                    if *size != r.size {
                        return Err(mismatch(format!(
                            "size {} but the member {name} has {size} bytes",
                            r.size
                        )));
                    }
                    name.clone()
                }
                None => {
                    // A non-regular header (glzn's parse path indexes every header).
                    let size = header::number(&h[124..136], "size")
                        .map_err(|e| backend_error(shard, format!("byte {}", r.offset + 124), e))?;
                    if size != r.size {
                        return Err(mismatch(format!(
                            "size {} but the header says {size}",
                            r.size
                        )));
                    }
                    raw.clone()
                }
            };
            // The full name (pax / GNU long name resolved), or the raw name field as glzn's
            // parse path hashes it.
            let candidates = [split_name(&name), split_name(&raw)];
            let Some((stem, ext)) = candidates
                .iter()
                .find(|(stem, _)| xxh64(stem.as_bytes(), 0) == r.keyhash)
                .cloned()
            else {
                return Err(mismatch(format!(
                    "keyhash {:#018x} is not xxh64 of the member's stem {:?}",
                    r.keyhash, candidates[0].0
                )));
            };
            let want_ext = &self.index.extensions[usize::from(r.extid)];
            if *want_ext != ext {
                return Err(mismatch(format!(
                    "extension {want_ext:?} but the member is {name:?}"
                )));
            }
            if r.crashid == 0 {
                let c = canonical.entry(r.keyhash).or_insert_with(|| stem.clone());
                if *c != stem {
                    return Err(mismatch(format!(
                        "stems {c:?} and {stem:?} share a hash but neither is in the crash block"
                    )));
                }
            } else if self.index.crash_stems[r.crashid as usize - 1] != stem {
                return Err(mismatch(format!(
                    "crashid {} names {:?}, the member is {stem:?}",
                    r.crashid,
                    self.index.crash_stems[r.crashid as usize - 1]
                )));
            }
            stems.insert((r.keyhash, r.crashid));
            indexed.insert((r.fid, r.offset));
        }
        for ((fid, offset), (name, _)) in &walked {
            if !indexed.contains(&(*fid, *offset)) {
                return Err(backend_error(
                    &self.shards[usize::from(*fid)].path,
                    format!("byte {offset}"),
                    ItarError::Unindexed {
                        name: name.clone(),
                        offset: *offset,
                    },
                ));
            }
        }
        if stems.len() as u64 != self.index.n_stems {
            return Err(backend_error(
                &self.index_path,
                "byte 16",
                ItarError::Field {
                    field: "n_stems",
                    found: self.index.n_stems,
                    expected: stems.len() as u64,
                },
            ));
        }
        if self.index.contiguous() && runs(&self.index.rows) > self.index.n_stems {
            return Err(backend_error(
                &self.index_path,
                "byte 56",
                ItarError::NotContiguous,
            ));
        }
        Ok(())
    }
}

/// The warning for a member listed twice.
fn duplicate_warning(name: &str, first: u32, second: u32) -> String {
    format!(
        "duplicate member {name} (rows {first} and {second}): row {second} is read, as tar \
         extraction keeps the later one"
    )
}

/// The name field of the header at `offset`, for messages.
fn raw_name(shard: &[u8], offset: u64) -> String {
    block_at(shard, offset)
        .map(|h| String::from_utf8_lossy(header::name_field(h)).into_owned())
        .unwrap_or_else(|| format!("<header at byte {offset}>"))
}

/// The folder holding `p` (`.` for a bare file name).
fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_name_follows_glzn() {
        let s = |n: &str| {
            let (a, b) = split_name(n);
            (a, b)
        };
        assert_eq!(s("dir/x.txt"), ("x".into(), "txt".into()));
        assert_eq!(
            s("multi.dot.name.TXT"),
            ("multi".into(), "dot.name.txt".into())
        );
        assert_eq!(s("UPPER.JPG"), ("UPPER".into(), "jpg".into()));
        assert_eq!(s("noext"), ("noext".into(), "".into()));
        assert_eq!(s("a/b.c/d"), ("d".into(), "".into()));
    }
}
