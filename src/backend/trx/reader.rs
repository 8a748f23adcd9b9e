//! The TRX container reader: zip (stored or deflate) and folder forms, `header.json`, arrays.

use std::io::{Cursor, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hashbrown::HashMap;
use serde_json::{Map, Value as Json};
use zip::read::ZipArchiveMetadata;
use zip::{CompressionMethod, ZipArchive, ZipReadOptions};

use super::dtype::{classify, ArrayName, Dtype, NotArray, Role};
use super::TrxError;
use crate::error::{Error, Result};
use crate::mmap::{self, Bytes};
use crate::Warning;

/// Size of a zip local file header before its name and extra field.
const LOCAL_HEADER_LEN: usize = 30;
const LOCAL_HEADER_SIGNATURE: [u8; 4] = *b"PK\x03\x04";

/// How a TRX is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A zip whose members are all stored: arrays are read in place from the map.
    StoredZip,
    /// A zip with at least one compressed member: those members are inflated on first use.
    DeflateZip,
    /// A plain directory: each array file is mapped.
    Directory,
}

/// The parsed `header.json`: the counts are authoritative (as in trx-python); every other key
/// is kept in [`Header::json`].
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// `NB_VERTICES`.
    pub nb_vertices: u64,
    /// `NB_STREAMLINES`.
    pub nb_streamlines: u64,
    /// The whole JSON object, in file order.
    pub json: Map<String, Json>,
}

impl Header {
    /// Parses `header.json`: an object with `VOXEL_TO_RASMM` (16 numbers, flat or 4×4),
    /// `DIMENSIONS` (numbers), `NB_VERTICES` and `NB_STREAMLINES` (non-negative integers).
    ///
    /// # Errors
    /// [`TrxError::HeaderJson`], [`TrxError::HeaderKey`].
    pub fn parse(text: &[u8]) -> std::result::Result<Header, TrxError> {
        let json: Json =
            serde_json::from_slice(text).map_err(|e| TrxError::HeaderJson(e.to_string()))?;
        let Json::Object(json) = json else {
            return Err(TrxError::HeaderJson("not a JSON object".into()));
        };
        let key = |k: &'static str| {
            json.get(k).ok_or(TrxError::HeaderKey {
                key: k,
                what: "missing".into(),
            })
        };
        let count = |k: &'static str| {
            key(k)?.as_u64().ok_or_else(|| TrxError::HeaderKey {
                key: k,
                what: format!(
                    "{} is not a non-negative integer",
                    key(k).unwrap_or(&Json::Null)
                ),
            })
        };
        let nb_vertices = count("NB_VERTICES")?;
        let nb_streamlines = count("NB_STREAMLINES")?;
        let mut numbers = Vec::new();
        flatten_numbers(key("VOXEL_TO_RASMM")?, &mut numbers).map_err(|what| {
            TrxError::HeaderKey {
                key: "VOXEL_TO_RASMM",
                what,
            }
        })?;
        if numbers.len() != 16 {
            return Err(TrxError::HeaderKey {
                key: "VOXEL_TO_RASMM",
                what: format!("{} numbers, expected 16 (a 4×4 matrix)", numbers.len()),
            });
        }
        let mut dims = Vec::new();
        flatten_numbers(key("DIMENSIONS")?, &mut dims).map_err(|what| TrxError::HeaderKey {
            key: "DIMENSIONS",
            what,
        })?;
        Ok(Header {
            nb_vertices,
            nb_streamlines,
            json,
        })
    }
}

fn flatten_numbers(v: &Json, out: &mut Vec<f64>) -> std::result::Result<(), String> {
    match v {
        Json::Number(n) => {
            out.push(n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        Json::Array(items) => items.iter().try_for_each(|x| flatten_numbers(x, out)),
        other => Err(format!("{other} is not a number")),
    }
}

/// Where an array's bytes live.
#[derive(Debug)]
enum Source {
    /// A range of the zip map (stored member).
    Zip(Range<usize>),
    /// A mapped file of a directory TRX.
    File(Bytes),
    /// A compressed zip member: central-directory index, inflated once on first use.
    Inflate {
        index: usize,
        cache: OnceLock<std::result::Result<Vec<u8>, TrxError>>,
    },
}

/// One array of a TRX (a zip member or a file of the folder).
#[derive(Debug)]
pub struct Array {
    /// Path inside the TRX, `/`-separated (`dps/algo.uint8`).
    pub member: String,
    /// Parsed name.
    pub name: ArrayName,
    /// Element count (bytes / itemsize).
    pub len: u64,
    /// Stored size in bytes (uncompressed).
    pub size: u64,
    /// Byte offset of the data in the container file (0 for a directory file).
    pub data_offset: u64,
    /// Zip compression method (`Stored` for folders).
    pub compressed: bool,
    source: Source,
}

impl Array {
    /// The lookup key: `positions`, `offsets`, `dps/<n>`, `dpv/<n>`, `groups/<n>`,
    /// `dpg/<g>/<n>`.
    pub fn key(&self) -> String {
        key_of(&self.name.role, &self.name.base)
    }

    /// Shape as trx-python loads it: `(len / dim, dim)` (`(len,)` for groups and offsets).
    pub fn shape(&self) -> Vec<u64> {
        match self.name.role {
            Role::Group | Role::Offsets => vec![self.len],
            _ => vec![self.len / self.name.dim.max(1), self.name.dim],
        }
    }
}

fn key_of(role: &Role, base: &str) -> String {
    match role {
        Role::Positions => "positions".into(),
        Role::Offsets => "offsets".into(),
        Role::Dps => format!("dps/{base}"),
        Role::Dpv => format!("dpv/{base}"),
        Role::Group => format!("groups/{base}"),
        Role::Dpg(g) => format!("dpg/{g}/{base}"),
    }
}

/// Rows of a 2-D array (positions, dps or dpv) for one streamline: `bytes` hold
/// `rows × cols` elements of `dtype`, little-endian and possibly unaligned.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    /// The raw bytes (borrowed from the map or the inflate cache).
    pub bytes: &'a [u8],
    /// Element type.
    pub dtype: Dtype,
    /// Columns per row.
    pub cols: usize,
}

impl<'a> Rows<'a> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.bytes.len() / (self.dtype.itemsize() * self.cols.max(1))
    }

    /// True if there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `(row, col)` as `f64` (`None` out of range or for undecodable types).
    pub fn get_f64(&self, row: usize, col: usize) -> Option<f64> {
        if col >= self.cols {
            return None;
        }
        self.dtype
            .read_f64(self.bytes, row.checked_mul(self.cols)? + col)
    }

    /// Every element as `f64`, row-major.
    pub fn to_f64(&self) -> Vec<f64> {
        let n = self.bytes.len() / self.dtype.itemsize();
        (0..n)
            .map(|i| self.dtype.read_f64(self.bytes, i).unwrap_or(f64::NAN))
            .collect()
    }
}

/// The offsets array, decoded lazily from its bytes.
#[derive(Clone, Copy, Debug)]
struct Offsets {
    array: usize,
    dtype: Dtype,
}

/// An open TRX: header, arrays, offsets and groups checked at open.
///
/// Opening reads the zip central directory (or walks the folder), one local header per member,
/// `header.json`, and validates offsets (first 0, non-decreasing, last = `NB_VERTICES`) and
/// group indices (in range): O(members + streamlines + group entries), never positions or
/// per-vertex data. Arrays of stored zips and folders are lent from the map in place
/// (unaligned); compressed members are inflated once, on first use.
#[derive(Debug)]
pub struct TrxFile {
    path: PathBuf,
    form: Form,
    zip: Option<(Bytes, Arc<ZipArchiveMetadata>)>,
    header: Header,
    header_text: Vec<u8>,
    arrays: Vec<Array>,
    by_key: HashMap<String, usize>,
    positions: Option<usize>,
    offsets: Option<Offsets>,
    warnings: Vec<Warning>,
}

impl TrxFile {
    /// Opens a TRX zip file or folder.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Backend`] with a [`TrxError`] naming the member and byte.
    ///
    /// # Examples
    /// ```
    /// use inframed::backend::trx::TrxFile;
    /// let trx = TrxFile::open("testdata/trx/a_stored.trx")?;
    /// let first = trx.streamline(0)?;
    /// println!("{} vertices, first x = {:?}", first.len(), first.get_f64(0, 0));
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<TrxFile> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        if meta.is_dir() {
            Self::open_dir(path)
        } else {
            Self::open_zip(path.to_path_buf(), mmap::map(path)?)
        }
    }

    /// Opens a TRX zip held in memory; `origin` names it in errors.
    ///
    /// # Errors
    /// As [`TrxFile::open`].
    pub fn from_zip_bytes(
        origin: impl Into<PathBuf>,
        data: impl AsRef<[u8]> + Send + Sync + 'static,
    ) -> Result<TrxFile> {
        Self::open_zip(origin.into(), Bytes::from_owned(data))
    }

    fn open_zip(path: PathBuf, map: Bytes) -> Result<TrxFile> {
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

    fn open_dir(path: &Path) -> Result<TrxFile> {
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

    /// Where errors about `member` at `offset` (bytes from the start of its data) point.
    fn member_error(&self, member: &str, data_offset: u64, offset: u64, e: TrxError) -> Error {
        match self.form {
            Form::Directory => backend_error(&self.path.join(member), format!("byte {offset}"), e),
            _ => backend_error(
                &self.path,
                format!(
                    "member {member} at byte {}",
                    data_offset.saturating_add(offset)
                ),
                e,
            ),
        }
    }

    fn add_member(
        &mut self,
        member: String,
        size: u64,
        data_offset: u64,
        compressed: bool,
        source: Source,
        directory: bool,
    ) -> Result<()> {
        let name = match classify(&member) {
            Ok(Ok(name)) => name,
            Ok(Err(NotArray::Json)) => return Ok(()),
            Ok(Err(NotArray::Stray)) => {
                self.warnings.push(Warning {
                    path: self.path.clone(),
                    line: 0,
                    message: format!("{member} is not part of a valid TRX structure; ignored"),
                });
                return Ok(());
            }
            Err(e) => return Err(self.member_error(&member, data_offset, 0, e)),
        };
        let itemsize = name.dtype.itemsize() as u64;
        let len = if size % itemsize == 0 {
            size / itemsize
        } else if directory && size == 1 {
            // trx-python treats a 1-byte file as an empty array (its empty-memmap placeholder).
            0
        } else {
            return Err(self.member_error(
                &member,
                data_offset,
                size,
                TrxError::WrongSize {
                    bytes: size,
                    itemsize,
                },
            ));
        };
        let array = Array {
            member,
            name,
            len,
            size,
            data_offset,
            compressed,
            source,
        };
        let key = array.key();
        if let Some(&other) = self.by_key.get(&key) {
            let first = self.arrays[other].member.clone();
            return Err(self.member_error(
                &array.member,
                data_offset,
                0,
                TrxError::Duplicate(first),
            ));
        }
        self.by_key.insert(key, self.arrays.len());
        self.arrays.push(array);
        Ok(())
    }

    /// Checks every array against the header counts, then offsets and groups.
    fn finish(&mut self) -> Result<()> {
        let (nv, ns) = (self.header.nb_vertices, self.header.nb_streamlines);
        // Essential arrays first (positions, offsets), then dps, dpv, groups, dpg: the first
        // error reported is the most telling one, whatever the member order.
        let mut order: Vec<usize> = (0..self.arrays.len()).collect();
        order.sort_by(|&a, &b| self.arrays[a].name.role.cmp(&self.arrays[b].name.role));
        for i in order {
            let a = &self.arrays[i];
            let (dim, len, dtype) = (a.name.dim, a.len, a.name.dtype);
            let expect = |expected: Option<u64>, need_dim: Option<u64>| -> Option<TrxError> {
                if let Some(d) = need_dim {
                    if dim != d {
                        return Some(TrxError::Dim {
                            found: dim,
                            expected: d,
                        });
                    }
                }
                match expected {
                    Some(e) if e != len => Some(TrxError::Count {
                        found: len,
                        expected: e,
                    }),
                    _ => None,
                }
            };
            let problem = match &a.name.role {
                Role::Positions => expect(nv.checked_mul(3), Some(3)),
                Role::Offsets => {
                    if !dtype.is_integer() || dtype == Dtype::Bool {
                        Some(TrxError::WrongDtype {
                            dtype: dtype.name(),
                            want: "an integer type (uint32 or uint64)",
                        })
                    } else {
                        expect(ns.checked_add(1), Some(1))
                    }
                }
                Role::Dps => expect(ns.checked_mul(dim), None),
                Role::Dpv => expect(nv.checked_mul(dim), None),
                Role::Group => {
                    if !dtype.is_integer() || dtype == Dtype::Bool {
                        Some(TrxError::WrongDtype {
                            dtype: dtype.name(),
                            want: "an integer type (uint32)",
                        })
                    } else {
                        expect(None, Some(1))
                    }
                }
                Role::Dpg(g) => {
                    if !self.by_key.contains_key(&format!("groups/{g}")) {
                        Some(TrxError::UndeclaredGroup(g.clone()))
                    } else {
                        expect(Some(dim), None)
                    }
                }
            };
            if let Some(e) = problem {
                let (m, d) = (a.member.clone(), a.data_offset);
                return Err(self.member_error(&m, d, 0, e));
            }
            match a.name.role {
                Role::Positions => {
                    if !dtype.is_decodable() {
                        let (m, d) = (a.member.clone(), a.data_offset);
                        return Err(self.member_error(
                            &m,
                            d,
                            0,
                            TrxError::WrongDtype {
                                dtype: dtype.name(),
                                want: "a real number type",
                            },
                        ));
                    }
                    self.positions = Some(i)
                }
                Role::Offsets => self.offsets = Some(Offsets { array: i, dtype }),
                _ => {}
            }
        }
        let needs_arrays = ns > 0 || nv > 0;
        if needs_arrays && self.offsets.is_none() {
            return Err(backend_error(
                &self.path,
                "offsets".into(),
                TrxError::Missing("offsets"),
            ));
        }
        if nv > 0 && self.positions.is_none() {
            return Err(backend_error(
                &self.path,
                "positions".into(),
                TrxError::Missing("positions"),
            ));
        }
        self.check_offsets()?;
        self.check_groups()?;
        Ok(())
    }

    fn check_offsets(&self) -> Result<()> {
        let Some(o) = self.offsets else {
            return Ok(());
        };
        let a = &self.arrays[o.array];
        let bytes = self.bytes(a)?;
        let isz = o.dtype.itemsize() as u64;
        let err = |i: u64, e| self.member_error(&a.member, a.data_offset, i * isz, e);
        let mut prev: i128 = 0;
        for i in 0..a.len {
            let v = o.dtype.read_int(bytes, i as usize).unwrap_or(-1);
            if i == 0 && v != 0 {
                return Err(err(0, TrxError::FirstOffset(v)));
            }
            if v < prev {
                return Err(err(
                    i,
                    TrxError::OffsetsNotMonotone {
                        index: i,
                        prev,
                        next: v,
                    },
                ));
            }
            prev = v;
        }
        if a.len > 0 && prev != self.header.nb_vertices as i128 {
            return Err(err(
                a.len - 1,
                TrxError::LastOffset {
                    found: prev,
                    expected: self.header.nb_vertices,
                },
            ));
        }
        Ok(())
    }

    fn check_groups(&self) -> Result<()> {
        let ns = self.header.nb_streamlines as i128;
        for a in self.arrays.iter().filter(|a| a.name.role == Role::Group) {
            let bytes = self.bytes(a)?;
            let dtype = a.name.dtype;
            for i in 0..a.len {
                let v = dtype.read_int(bytes, i as usize).unwrap_or(-1);
                if v < 0 || v >= ns {
                    return Err(self.member_error(
                        &a.member,
                        a.data_offset,
                        i * dtype.itemsize() as u64,
                        TrxError::GroupIndex {
                            entry: i,
                            value: v,
                            nb_streamlines: self.header.nb_streamlines,
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    /// The file or folder path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stored zip, deflate zip or folder.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `header.json` as stored.
    pub fn header_bytes(&self) -> &[u8] {
        &self.header_text
    }

    /// `NB_STREAMLINES`.
    pub fn nb_streamlines(&self) -> u64 {
        self.header.nb_streamlines
    }

    /// `NB_VERTICES`.
    pub fn nb_vertices(&self) -> u64 {
        self.header.nb_vertices
    }

    /// Every array, in member order (zip) or path order (folder).
    pub fn arrays(&self) -> &[Array] {
        &self.arrays
    }

    /// Non-fatal findings (files outside the TRX tree, skipped as trx-python does).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// An array by key (`positions`, `offsets`, `dps/algo`, `dpv/fa`, `groups/AF_L`,
    /// `dpg/AF_L/mean`) or by member name (`dps/algo.uint8`).
    pub fn array(&self, name: &str) -> Option<&Array> {
        if let Some(&i) = self.by_key.get(name) {
            return Some(&self.arrays[i]);
        }
        self.arrays.iter().find(|a| a.member == name)
    }

    fn named(&self, role: &str, name: &str) -> Result<&Array> {
        let key = format!("{role}/{name}");
        self.by_key
            .get(&key)
            .map(|&i| &self.arrays[i])
            .ok_or_else(|| backend_error(&self.path, key.clone(), TrxError::NoSuchArray(key)))
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

    /// Vertex offset of streamline `i` (`i ≤ NB_STREAMLINES`; `i = NB_STREAMLINES` gives the
    /// sentinel). Offsets were validated at open.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    #[inline]
    pub fn offset(&self, i: u64) -> Result<u64> {
        let out_of_range = || {
            backend_error(
                &self.path,
                "offsets".into(),
                TrxError::IndexOutOfRange {
                    index: i,
                    len: self.header.nb_streamlines + 1,
                },
            )
        };
        let Some(o) = self.offsets else {
            return if i == 0 { Ok(0) } else { Err(out_of_range()) };
        };
        let a = &self.arrays[o.array];
        let bytes = self.bytes(a)?;
        match o
            .dtype
            .read_int_fast(bytes, usize::try_from(i).unwrap_or(usize::MAX))
        {
            Some(v) => Ok(v as u64),
            None => Err(out_of_range()),
        }
    }

    /// Vertex range of streamline `i`.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`] for `i ≥ NB_STREAMLINES`.
    #[inline]
    pub fn streamline_range(&self, i: u64) -> Result<Range<u64>> {
        let out_of_range = || {
            backend_error(
                &self.path,
                "streamline".into(),
                TrxError::IndexOutOfRange {
                    index: i,
                    len: self.header.nb_streamlines,
                },
            )
        };
        if i >= self.header.nb_streamlines {
            return Err(out_of_range());
        }
        let Some(o) = self.offsets else {
            return Err(out_of_range());
        };
        let bytes = self.bytes(&self.arrays[o.array])?;
        let i = usize::try_from(i).unwrap_or(usize::MAX);
        match (
            o.dtype.read_int_fast(bytes, i),
            o.dtype.read_int_fast(bytes, i.saturating_add(1)),
        ) {
            (Some(a), Some(b)) => Ok(a as u64..b as u64),
            _ => Err(out_of_range()),
        }
    }

    /// Number of vertices of every streamline (`offsets[i+1] - offsets[i]`).
    ///
    /// # Errors
    /// As [`TrxFile::bytes`] for the offsets array.
    pub fn lengths(&self) -> Result<Vec<u64>> {
        (0..self.header.nb_streamlines)
            .map(|i| self.streamline_range(i).map(|r| r.end - r.start))
            .collect()
    }

    fn rows<'a>(&'a self, a: &'a Array, rows: Range<u64>) -> Result<Rows<'a>> {
        let cols = a.name.dim as usize;
        let row_bytes = (a.name.dtype.itemsize() * cols) as u64;
        let bytes = self.bytes(a)?;
        let (from, to) = (rows.start * row_bytes, rows.end * row_bytes);
        let slice = bytes.get(from as usize..to as usize).ok_or_else(|| {
            self.member_error(
                &a.member,
                a.data_offset,
                from,
                TrxError::OutOfBounds {
                    start: from,
                    end: to,
                    len: bytes.len() as u64,
                },
            )
        })?;
        Ok(Rows {
            bytes: slice,
            dtype: a.name.dtype,
            cols,
        })
    }

    /// The positions of streamline `i` (its vertices × 3), in place.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    pub fn streamline(&self, i: u64) -> Result<Rows<'_>> {
        let r = self.streamline_range(i)?;
        match self.positions {
            Some(p) => self.rows(&self.arrays[p], r),
            None => Ok(Rows {
                bytes: &[],
                dtype: Dtype::F32,
                cols: 3,
            }),
        }
    }

    /// The whole positions array (`NB_VERTICES × 3`).
    ///
    /// # Errors
    /// As [`TrxFile::bytes`].
    pub fn positions(&self) -> Result<Rows<'_>> {
        match self.positions {
            Some(p) => self.rows(&self.arrays[p], 0..self.header.nb_vertices),
            None => Ok(Rows {
                bytes: &[],
                dtype: Dtype::F32,
                cols: 3,
            }),
        }
    }

    /// The dps array `name`: one row per streamline.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dps(&self, name: &str) -> Result<Rows<'_>> {
        let a = self.named("dps", name)?;
        self.rows(a, 0..self.header.nb_streamlines)
    }

    /// The dpv array `name`: one row per vertex.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dpv(&self, name: &str) -> Result<Rows<'_>> {
        let a = self.named("dpv", name)?;
        self.rows(a, 0..self.header.nb_vertices)
    }

    /// The rows of dpv array `name` for streamline `i`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dpv_of(&self, name: &str, i: u64) -> Result<Rows<'_>> {
        let a = self.named("dpv", name)?;
        let r = self.streamline_range(i)?;
        self.rows(a, r)
    }

    /// The streamline indices of group `name` (validated in range at open).
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn group(&self, name: &str) -> Result<Vec<u64>> {
        let a = self.named("groups", name)?;
        let bytes = self.bytes(a)?;
        Ok((0..a.len as usize)
            .map(|i| a.name.dtype.read_int(bytes, i).unwrap_or(0) as u64)
            .collect())
    }

    /// Group names, in array order.
    pub fn group_names(&self) -> Vec<&str> {
        self.arrays
            .iter()
            .filter(|a| a.name.role == Role::Group)
            .map(|a| a.name.base.as_str())
            .collect()
    }

    /// The dpg array `name` of group `group` (`1 × dim`).
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`].
    pub fn dpg(&self, group: &str, name: &str) -> Result<Rows<'_>> {
        let a = self.named(&format!("dpg/{group}"), name)?;
        self.rows(a, 0..1)
    }

    /// A view of the streamlines `indices` (any order, repeats allowed), as trx-python's
    /// `select(indices, keep_group=True)`: nothing is copied.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`] for an index ≥ `NB_STREAMLINES`.
    pub fn select(&self, indices: &[u64]) -> Result<Selection<'_>> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.header.nb_streamlines) {
            return Err(backend_error(
                &self.path,
                "select".into(),
                TrxError::IndexOutOfRange {
                    index: bad,
                    len: self.header.nb_streamlines,
                },
            ));
        }
        Ok(Selection {
            file: self,
            indices: indices.to_vec(),
        })
    }
}

/// A selection of streamlines of a [`TrxFile`] (see [`TrxFile::select`]).
#[derive(Debug)]
pub struct Selection<'a> {
    file: &'a TrxFile,
    indices: Vec<u64>,
}

impl<'a> Selection<'a> {
    /// Number of selected streamlines.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True if nothing is selected.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The original index of selected streamline `j`.
    pub fn index(&self, j: usize) -> Option<u64> {
        self.indices.get(j).copied()
    }

    /// Positions of selected streamline `j`.
    ///
    /// # Errors
    /// [`TrxError::IndexOutOfRange`].
    pub fn streamline(&self, j: usize) -> Result<Rows<'a>> {
        self.file.streamline(self.original(j)?)
    }

    /// Number of vertices of the selection.
    ///
    /// # Errors
    /// As [`TrxFile::streamline_range`].
    pub fn nb_vertices(&self) -> Result<u64> {
        self.indices.iter().try_fold(0u64, |n, &i| {
            let r = self.file.streamline_range(i)?;
            Ok(n + (r.end - r.start))
        })
    }

    /// Row `j` of dps array `name`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dps(&self, name: &str, j: usize) -> Result<Rows<'a>> {
        let i = self.original(j)?;
        let a = self.file.named("dps", name)?;
        self.file.rows(a, i..i + 1)
    }

    /// The dpv rows of selected streamline `j`.
    ///
    /// # Errors
    /// [`TrxError::NoSuchArray`], [`TrxError::IndexOutOfRange`].
    pub fn dpv(&self, name: &str, j: usize) -> Result<Rows<'a>> {
        self.file.dpv_of(name, self.original(j)?)
    }

    /// Groups remapped to positions in the selection, as trx-python does: the first position of
    /// each member that is selected; groups with no selected member are left out.
    ///
    /// # Errors
    /// As [`TrxFile::group`].
    pub fn groups(&self) -> Result<Vec<(String, Vec<u64>)>> {
        let mut first: HashMap<u64, u64> = HashMap::new();
        for (j, &i) in self.indices.iter().enumerate() {
            first.entry(i).or_insert(j as u64);
        }
        let mut out = Vec::new();
        for name in self.file.group_names() {
            let mut members: Vec<u64> = self
                .file
                .group(name)?
                .iter()
                .filter_map(|i| first.get(i).copied())
                .collect();
            members.sort_unstable();
            members.dedup();
            if !members.is_empty() {
                out.push((name.to_string(), members));
            }
        }
        Ok(out)
    }

    fn original(&self, j: usize) -> Result<u64> {
        self.index(j).ok_or_else(|| {
            backend_error(
                &self.file.path,
                "selection".into(),
                TrxError::IndexOutOfRange {
                    index: j as u64,
                    len: self.indices.len() as u64,
                },
            )
        })
    }
}

/// `Error::Backend` for this backend.
pub(crate) fn backend_error(path: &Path, context: String, e: TrxError) -> Error {
    Error::Backend {
        path: path.into(),
        context,
        source: Box::new(e),
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

/// Inflates member `index` (checking its CRC-32).
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
