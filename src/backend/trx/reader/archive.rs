//! The container forms of a TRX: opening a zip (central directory, local headers, member
//! spans) or a folder (walked, each file mapped), lending member bytes (in place, or inflated
//! once within the declared size) and checking CRC-32s.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hashbrown::HashMap;
use zip::read::ZipArchiveMetadata;
use zip::{CompressionMethod, ZipArchive, ZipReadOptions};

use super::{backend_error, Array, Form, Header, Source, TrxFile};
use crate::backend::trx::TrxError;
use crate::error::{Error, Result};
use crate::mmap::{self, Bytes};

/// Size of a zip local file header before its name and extra field.
const LOCAL_HEADER_LEN: usize = 30;
const LOCAL_HEADER_SIGNATURE: [u8; 4] = *b"PK\x03\x04";

impl TrxFile {
    pub(super) fn open_zip(path: PathBuf, map: Bytes) -> Result<TrxFile> {
        let bytes = map.as_slice();
        let fail = |context: String, e: TrxError| backend_error(&path, context, e);
        let archive = ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| fail("zip central directory".into(), TrxError::Zip(e.to_string())))?;
        let zmeta = archive.metadata();
        drop(archive);
        let mut members = Vec::new();
        let mut header_member = None;
        let mut any_compressed = false;
        let mut warnings = Vec::new();
        for index in 0..zmeta.len() {
            let entry = zmeta
                .entry(index)
                .map_err(|e| fail(format!("zip entry {index}"), TrxError::Zip(e.to_string())))?;
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            if entry.is_dir() {
                continue;
            }
            let (size, csize, hstart) =
                (entry.size(), entry.compressed_size(), entry.header_start());
            let at = |e| fail(format!("member {name} (local header at byte {hstart})"), e);
            let method = entry.compression();
            let stored = method == CompressionMethod::Stored;
            if !stored && method != CompressionMethod::Deflated {
                return Err(at(TrxError::Compression(format!("{method:?}"))));
            }
            if entry.encrypted() {
                return Err(at(TrxError::Compression("encrypted".into())));
            }
            any_compressed |= !stored;
            let data_start = local_data_start(bytes, hstart).map_err(at)?;
            let end = data_start.saturating_add(csize);
            if end > bytes.len() as u64 {
                return Err(at(TrxError::OutOfBounds {
                    start: data_start,
                    end,
                    len: bytes.len() as u64,
                }));
            }
            if !stored {
                check_inflated_size(size, csize).map_err(at)?;
            }
            if stored && size != csize {
                return Err(at(TrxError::Zip(format!(
                    "stored member has size {size} but compressed size {csize}"
                ))));
            }
            let source = if stored {
                Source::Zip(data_start as usize..end as usize)
            } else {
                Source::Inflate {
                    index,
                    cache: OnceLock::new(),
                }
            };
            if name == "header.json" {
                header_member = Some((source, data_start));
                continue;
            }
            members.push((name, size, data_start, !stored, source));
        }
        let zip = (map, zmeta);
        let header_text: Vec<u8> = match header_member {
            None => return Err(fail("header.json".into(), TrxError::MissingHeader)),
            Some((Source::Zip(r), _)) => zip.0.as_slice()[r].to_vec(),
            Some((Source::Inflate { index, .. }, start)) => inflate(&zip, index)
                .map_err(|e| fail(format!("member header.json (data at byte {start})"), e))?,
            Some((Source::File(_), _)) => unreachable!("zip members are not files"),
        };
        let header = Header::parse(&header_text).map_err(|e| fail("header.json".into(), e))?;
        let mut file = TrxFile {
            path,
            form: if any_compressed {
                Form::DeflateZip
            } else {
                Form::StoredZip
            },
            zip: Some(zip),
            header,
            header_text,
            arrays: Vec::new(),
            by_key: HashMap::new(),
            positions: None,
            offsets: None,
            warnings: Vec::new(),
        };
        for (name, size, data_start, compressed, source) in members {
            file.add_member(name, size, data_start, compressed, source, false)?;
        }
        file.warnings.append(&mut warnings);
        file.finish()?;
        Ok(file)
    }

    pub(super) fn open_dir(path: &Path) -> Result<TrxFile> {
        let header_path = path.join("header.json");
        let text = std::fs::read(&header_path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                backend_error(path, "header.json".into(), TrxError::MissingHeader)
            } else {
                Error::Open {
                    path: header_path.clone(),
                    source,
                }
            }
        })?;
        let header = Header::parse(&text)
            .map_err(|e| backend_error(&header_path, "header.json".into(), e))?;
        let mut files = Vec::new();
        walk(path, "", &mut files)?;
        files.sort();
        let mut file = TrxFile {
            path: path.to_path_buf(),
            form: Form::Directory,
            zip: None,
            header,
            header_text: text,
            arrays: Vec::new(),
            by_key: HashMap::new(),
            positions: None,
            offsets: None,
            warnings: Vec::new(),
        };
        for rel in files {
            if rel == "header.json" {
                continue;
            }
            let full = path.join(&rel);
            let bytes = mmap::map(&full)?;
            let size = bytes.as_slice().len() as u64;
            file.add_member(rel, size, 0, false, Source::File(bytes), true)?;
        }
        file.finish()?;
        Ok(file)
    }

    /// The bytes of an array as stored (little-endian, possibly unaligned): borrowed from the
    /// map for stored members and folder files, from a once-filled cache for compressed ones.
    ///
    /// # Errors
    /// [`TrxError::Inflate`] (bad deflate stream or CRC) naming the member.
    pub fn bytes<'a>(&'a self, array: &'a Array) -> Result<&'a [u8]> {
        match &array.source {
            Source::Zip(r) => Ok(self
                .zip
                .as_ref()
                .and_then(|z| z.0.as_slice().get(r.clone()))
                .unwrap_or_default()),
            Source::File(b) => Ok(b.as_slice()),
            Source::Inflate { index, cache } => {
                let got = cache.get_or_init(|| match &self.zip {
                    Some(z) => inflate(z, *index).and_then(|v| {
                        if v.len() as u64 == array.size {
                            Ok(v)
                        } else {
                            Err(TrxError::Inflate(format!(
                                "{} bytes inflated, header says {}",
                                v.len(),
                                array.size
                            )))
                        }
                    }),
                    None => Err(TrxError::Inflate("no zip".into())),
                });
                got.as_deref()
                    .map_err(|e| self.member_error(&array.member, array.data_offset, 0, e.clone()))
            }
        }
    }

    /// Checks the zip CRC-32 of every member (stored members included): what `verify` adds to
    /// the checks made at open. Folders have no checksums.
    ///
    /// # Errors
    /// [`TrxError::Crc`] / [`TrxError::Inflate`] naming the member.
    pub fn verify_checksums(&self) -> Result<()> {
        let Some((map, meta)) = &self.zip else {
            return Ok(());
        };
        for index in 0..meta.len() {
            let entry = meta.entry(index).map_err(|e| {
                backend_error(
                    &self.path,
                    format!("zip entry {index}"),
                    TrxError::Zip(e.to_string()),
                )
            })?;
            if entry.is_dir() {
                continue;
            }
            let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
            let at = format!(
                "member {name} (local header at byte {})",
                entry.header_start()
            );
            let expected = entry.crc32();
            if entry.compression() == CompressionMethod::Stored {
                let start = local_data_start(map.as_slice(), entry.header_start())
                    .map_err(|e| backend_error(&self.path, at.clone(), e))?;
                let data = map
                    .as_slice()
                    .get(start as usize..(start + entry.size()) as usize)
                    .unwrap_or_default();
                let found = crc32fast::hash(data);
                if found != expected {
                    return Err(backend_error(
                        &self.path,
                        at,
                        TrxError::Crc { found, expected },
                    ));
                }
            } else {
                // Inflated only to count and check the CRC (the zip reader checks it at the
                // end of the stream), bounded by the declared size.
                inflate_bounded(map.as_slice(), meta, index, false)
                    .map_err(|e| backend_error(&self.path, at, e))?;
            }
        }
        Ok(())
    }
}

/// The data offset of a member from its **local** header (name and extra lengths read there,
/// not from the central directory).
fn local_data_start(bytes: &[u8], header_start: u64) -> std::result::Result<u64, TrxError> {
    let start = usize::try_from(header_start).map_err(|_| TrxError::LocalHeader("offset"))?;
    let head = start
        .checked_add(LOCAL_HEADER_LEN)
        .and_then(|end| bytes.get(start..end))
        .ok_or(TrxError::LocalHeader("truncated local file header"))?;
    if head[..4] != LOCAL_HEADER_SIGNATURE {
        return Err(TrxError::LocalHeader("invalid local file header signature"));
    }
    let name_len = u16::from_le_bytes([head[26], head[27]]) as u64;
    let extra_len = u16::from_le_bytes([head[28], head[29]]) as u64;
    Ok(header_start + LOCAL_HEADER_LEN as u64 + name_len + extra_len)
}

/// Deflate's largest expansion: a 258-byte match costs at least 2 bits, so one compressed
/// byte yields at most 1032 bytes. A member declaring more is damage, refused before any
/// allocation.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// A deflated member's declared size must be reachable from its compressed size.
fn check_inflated_size(size: u64, csize: u64) -> std::result::Result<(), TrxError> {
    // A few bytes of slack: block headers and the empty stream.
    let most = csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024);
    if size > most {
        return Err(TrxError::Inflate(format!(
            "declares {size} bytes inflated from {csize} compressed: more than deflate can \
             produce ({MAX_DEFLATE_RATIO}:1)"
        )));
    }
    Ok(())
}

/// Inflates member `index`, reading at most its declared size + 1 bytes (a stream inflating
/// to more is an error, never a larger allocation); `keep` false only counts the bytes.
fn inflate_bounded(
    data: &[u8],
    meta: &ZipArchiveMetadata,
    index: usize,
    keep: bool,
) -> std::result::Result<Vec<u8>, TrxError> {
    let entry = meta
        .entry(index)
        .map_err(|e| TrxError::Zip(e.to_string()))?;
    let size = entry.size();
    check_inflated_size(size, entry.compressed_size())?;
    let mut cursor = Cursor::new(data);
    let reader = entry
        .with_reader(&mut cursor, ZipReadOptions::new())
        .map_err(|e| TrxError::Inflate(e.to_string()))?;
    let mut limited = reader.take(size.saturating_add(1));
    let inflate_err = |e: std::io::Error| TrxError::Inflate(e.to_string());
    let (out, n) = if keep {
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        limited.read_to_end(&mut out).map_err(inflate_err)?;
        let n = out.len() as u64;
        (out, n)
    } else {
        let n = std::io::copy(&mut limited, &mut std::io::sink()).map_err(inflate_err)?;
        (Vec::new(), n)
    };
    if n > size {
        return Err(TrxError::Inflate(format!(
            "inflates to more than the {size} bytes the zip directory declares"
        )));
    }
    Ok(out)
}

fn inflate(
    zip: &(Bytes, Arc<ZipArchiveMetadata>),
    index: usize,
) -> std::result::Result<Vec<u8>, TrxError> {
    inflate_bounded(zip.0.as_slice(), &zip.1, index, true)
}

/// Files under `dir`, as `/`-separated paths relative to the TRX root.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.into(),
        source,
    })?;
    for e in entries {
        let e = e.map_err(|source| Error::Io {
            path: dir.into(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let ty = e.file_type().map_err(|source| Error::Io {
            path: e.path(),
            source,
        })?;
        if ty.is_dir() {
            walk(&e.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}
