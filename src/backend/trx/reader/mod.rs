//! The TRX container reader: zip (stored or deflate) and folder forms, `header.json`, arrays.
//!
//! [`TrxFile`] and its array table are here; each job has its file: `archive` (the zip and
//! folder forms: central directory, local headers, member bytes, inflation, CRC-32),
//! `header` (`header.json`), `validate` (array sizes, offsets and groups, checked at open),
//! `typed` (offsets, streamlines, positions, dps / dpv / groups / dpg as [`Rows`]) and
//! `select` ([`Selection`]).

mod archive;
mod header;
mod select;
mod typed;
mod validate;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hashbrown::HashMap;
use zip::read::ZipArchiveMetadata;

use super::dtype::{classify, ArrayName, Dtype, NotArray, Role};
use super::TrxError;
use crate::error::{Error, Result};
use crate::mmap::{self, Bytes};
use crate::Warning;

pub use header::Header;
pub use select::Selection;
pub use typed::Rows;

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
    /// [`Error::Open`]; [`Error::Format`] with a [`TrxError`] naming the member and byte.
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

    /// Where errors about `member` at `offset` (bytes from the start of its data) point.
    fn member_error(&self, member: &str, data_offset: u64, offset: u64, e: TrxError) -> Error {
        match self.form {
            Form::Directory => {
                backend_error_at(&self.path.join(member), offset, format!("byte {offset}"), e)
            }
            _ => {
                let at = data_offset.saturating_add(offset);
                backend_error_at(&self.path, at, format!("member {member} at byte {at}"), e)
            }
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
}

/// [`Error::Format`] for this backend.
pub(crate) fn backend_error(path: &Path, context: String, e: TrxError) -> Error {
    Error::format(path, None, context, e)
}

/// [`Error::Format`] for this backend at byte `offset` of `path` (`context` names the member
/// when `path` is the archive).
pub(crate) fn backend_error_at(path: &Path, offset: u64, context: String, e: TrxError) -> Error {
    Error::format(path, Some(offset), context, e)
}
