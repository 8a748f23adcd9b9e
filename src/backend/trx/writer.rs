//! The TRX container writer: stored zip, deflate zip or folder, loadable by trx-python 0.6.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Map, Value as Json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::dtype::{is_valid_name, Dtype, Role};
use super::reader::{backend_error, Form};
use super::TrxError;
use crate::atomic::{AtomicDir, AtomicFile};
use crate::error::{Error, InputError, Result};

/// Alignment of stored zip members' data (trx-python does not need it; numpy and our reader
/// get aligned arrays for free). Set through the zip "data stream alignment" extra field, which
/// readers skip because they take the data offset from the local header.
const ZIP_ALIGNMENT: u16 = 64;

/// Fills one array's bytes into a writer.
pub type Fill<'a> = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + 'a>;

enum Payload<'a> {
    Bytes(Cow<'a, [u8]>),
    Stream(Fill<'a>),
}

struct Pending<'a> {
    member: String,
    len_bytes: u64,
    payload: Payload<'a>,
}

/// Builds a TRX: header counts first, then arrays (as bytes or as a fill callback so large
/// arrays are streamed), then [`TrxWriter::write`] to a zip or folder, atomically.
///
/// Every array is checked against the counts before anything is written; streamlines may be
/// empty (equal consecutive offsets): unlike trx-python's `save`, nothing is resized away.
pub struct TrxWriter<'a> {
    nb_streamlines: u64,
    nb_vertices: u64,
    header: Map<String, Json>,
    arrays: Vec<Pending<'a>>,
    has_positions: bool,
    has_offsets: bool,
    groups: Vec<String>,
    dpg_groups: Vec<String>,
}

impl std::fmt::Debug for TrxWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrxWriter")
            .field("nb_streamlines", &self.nb_streamlines)
            .field("nb_vertices", &self.nb_vertices)
            .field(
                "arrays",
                &self.arrays.iter().map(|a| &a.member).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// An [`Error::InvalidInput`] for the TRX being built: `source` at `context`.
fn invalid(context: impl Into<String>, source: TrxError) -> Error {
    InputError::Trx {
        context: context.into(),
        source,
    }
    .into()
}

/// The bytes a fill callback must write for `rows × dim` items of `dtype`: an error, not an
/// overflow, past `u64`.
fn streamed_len(what: &str, rows: u64, dim: u64, dtype: Dtype) -> Result<u64> {
    let want = rows as u128 * dim as u128 * dtype.itemsize() as u128;
    u64::try_from(want).map_err(|_| {
        invalid(
            what,
            TrxError::ArraySize {
                bytes: u64::MAX,
                expected: want,
            },
        )
    })
}

impl<'a> TrxWriter<'a> {
    /// A TRX of `nb_streamlines` streamlines and `nb_vertices` vertices, with identity
    /// `VOXEL_TO_RASMM` and `DIMENSIONS` `[1, 1, 1]` (set them with [`TrxWriter::header_key`]).
    pub fn new(nb_streamlines: u64, nb_vertices: u64) -> TrxWriter<'a> {
        let mut header = Map::new();
        header.insert("DIMENSIONS".into(), serde_json::json!([1, 1, 1]));
        header.insert(
            "VOXEL_TO_RASMM".into(),
            serde_json::json!([
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0]
            ]),
        );
        header.insert("NB_VERTICES".into(), nb_vertices.into());
        header.insert("NB_STREAMLINES".into(), nb_streamlines.into());
        TrxWriter {
            nb_streamlines,
            nb_vertices,
            header,
            arrays: Vec::new(),
            has_positions: false,
            has_offsets: false,
            groups: Vec::new(),
            dpg_groups: Vec::new(),
        }
    }

    /// Sets a header key (kept by trx-python's load and save).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for `NB_VERTICES` / `NB_STREAMLINES` (given to
    /// [`TrxWriter::new`]).
    pub fn header_key(&mut self, key: &str, value: Json) -> Result<()> {
        if key == "NB_VERTICES" || key == "NB_STREAMLINES" {
            return Err(invalid(
                format!("header key {key}"),
                TrxError::HeaderKey {
                    key: if key == "NB_VERTICES" {
                        "NB_VERTICES"
                    } else {
                        "NB_STREAMLINES"
                    },
                    what: "set by TrxWriter::new".into(),
                },
            ));
        }
        self.header.insert(key.into(), value);
        Ok(())
    }

    fn push(&mut self, member: String, len_bytes: u64, payload: Payload<'a>) -> Result<()> {
        if self.arrays.iter().any(|a| a.member == member) {
            return Err(invalid(member, TrxError::AddedTwice));
        }
        self.arrays.push(Pending {
            member,
            len_bytes,
            payload,
        });
        Ok(())
    }

    /// Positions (`NB_VERTICES × 3` elements of `dtype`, little-endian).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the byte count is not `NB_VERTICES × 3 × itemsize`.
    pub fn positions(&mut self, dtype: Dtype, bytes: impl Into<Cow<'a, [u8]>>) -> Result<()> {
        let bytes = bytes.into();
        self.check_len("positions", bytes.len() as u64, self.nb_vertices, 3, dtype)?;
        self.has_positions = true;
        let member = format!("positions.3.{}", dtype.name());
        self.push(member, bytes.len() as u64, Payload::Bytes(bytes))
    }

    /// Positions written by `fill`, which must write exactly `NB_VERTICES × 3 × itemsize` bytes.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a non-float dtype.
    pub fn positions_with(&mut self, dtype: Dtype, fill: Fill<'a>) -> Result<()> {
        let len = streamed_len("positions", self.nb_vertices, 3, dtype)?;
        self.check_len("positions", len, self.nb_vertices, 3, dtype)?;
        self.has_positions = true;
        let member = format!("positions.3.{}", dtype.name());
        self.push(member, len, Payload::Stream(fill))
    }

    /// Offsets from streamline lengths (`NB_STREAMLINES` of them, summing to `NB_VERTICES`):
    /// `N+1` entries with the sentinel, uint32 while the total fits, else uint64.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the counts disagree with the header.
    pub fn lengths(&mut self, lengths: &[u64]) -> Result<()> {
        if lengths.len() as u64 != self.nb_streamlines {
            return Err(invalid(
                "lengths",
                TrxError::Count {
                    found: lengths.len() as u64,
                    expected: self.nb_streamlines,
                },
            ));
        }
        let sum: u128 = lengths.iter().map(|&l| l as u128).sum();
        if sum != self.nb_vertices as u128 {
            return Err(invalid(
                "lengths",
                TrxError::LastOffset {
                    found: sum as i128,
                    expected: self.nb_vertices,
                },
            ));
        }
        let total = self.nb_vertices;
        let wide = total > u32::MAX as u64;
        let mut bytes = Vec::with_capacity((lengths.len() + 1) * if wide { 8 } else { 4 });
        let mut at = 0u64;
        for l in std::iter::once(&0).chain(lengths) {
            at += l;
            if wide {
                bytes.extend_from_slice(&at.to_le_bytes());
            } else {
                bytes.extend_from_slice(&(at as u32).to_le_bytes());
            }
        }
        self.has_offsets = true;
        let dtype = if wide { Dtype::U64 } else { Dtype::U32 };
        let member = format!("offsets.{}", dtype.name());
        self.push(member, bytes.len() as u64, Payload::Bytes(bytes.into()))
    }

    fn check_len(&self, what: &str, len: u64, rows: u64, dim: u64, dtype: Dtype) -> Result<()> {
        let want = rows as u128 * dim as u128 * dtype.itemsize() as u128;
        if want != len as u128 {
            return Err(invalid(
                format!(
                    "{what} ({rows} × {dim} × {}-byte {})",
                    dtype.itemsize(),
                    dtype.name()
                ),
                TrxError::ArraySize {
                    bytes: len,
                    expected: want,
                },
            ));
        }
        Ok(())
    }

    fn member_for(&self, role: &Role, name: &str, dim: u64, dtype: Dtype) -> Result<String> {
        if !is_valid_name(name) {
            return Err(invalid(
                "array name (names may not be empty or contain '.', '/', '\\')",
                TrxError::InvalidName(name.to_string()),
            ));
        }
        if dim == 0 {
            return Err(invalid(
                format!("array {name}"),
                TrxError::InvalidDim("0".into()),
            ));
        }
        let file = if dim == 1 {
            format!("{name}.{}", dtype.name())
        } else {
            format!("{name}.{dim}.{}", dtype.name())
        };
        Ok(match role {
            Role::Dps => format!("dps/{file}"),
            Role::Dpv => format!("dpv/{file}"),
            Role::Group => format!("groups/{name}.{}", dtype.name()),
            Role::Dpg(g) => {
                if !is_valid_name(g) {
                    return Err(invalid("group name", TrxError::InvalidName(g.clone())));
                }
                format!("dpg/{g}/{file}")
            }
            Role::Positions | Role::Offsets => {
                return Err(invalid(
                    name,
                    TrxError::WrongCall("positions and offsets: use positions() / lengths()"),
                ))
            }
        })
    }

    fn rows_for(&self, role: &Role) -> u64 {
        match role {
            Role::Dps => self.nb_streamlines,
            Role::Dpv => self.nb_vertices,
            _ => 1,
        }
    }

    /// A dps (`NB_STREAMLINES × dim`), dpv (`NB_VERTICES × dim`) or dpg (`1 × dim`) array.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a dotted name or a wrong byte count.
    pub fn array(
        &mut self,
        role: Role,
        name: &str,
        dim: u64,
        dtype: Dtype,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        let bytes = bytes.into();
        let member = self.member_for(&role, name, dim, dtype)?;
        let rows = if matches!(role, Role::Dpg(_)) {
            1
        } else {
            self.rows_for(&role)
        };
        if role == Role::Group {
            return Err(invalid(
                member,
                TrxError::WrongCall("use group() for groups"),
            ));
        }
        self.check_len(&member, bytes.len() as u64, rows, dim, dtype)?;
        if let Role::Dpg(g) = &role {
            self.dpg_groups.push(g.clone());
        }
        self.push(member, bytes.len() as u64, Payload::Bytes(bytes))
    }

    /// A dps or dpv array written by `fill` (exactly rows × dim × itemsize bytes).
    ///
    /// # Errors
    /// As [`TrxWriter::array`].
    pub fn array_with(
        &mut self,
        role: Role,
        name: &str,
        dim: u64,
        dtype: Dtype,
        fill: Fill<'a>,
    ) -> Result<()> {
        let member = self.member_for(&role, name, dim, dtype)?;
        let rows = match role {
            Role::Dps | Role::Dpv => self.rows_for(&role),
            _ => {
                return Err(invalid(
                    member,
                    TrxError::WrongCall("array_with takes dps or dpv arrays"),
                ))
            }
        };
        let len = streamed_len(&member, rows, dim, dtype)?;
        self.push(member, len, Payload::Stream(fill))
    }

    /// A group: streamline indices, written as uint32 (uint64 past 2^32 streamlines).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an index ≥ `NB_STREAMLINES` or a dotted name.
    pub fn group(&mut self, name: &str, indices: &[u64]) -> Result<()> {
        if let Some((entry, &bad)) = indices
            .iter()
            .enumerate()
            .find(|(_, &i)| i >= self.nb_streamlines)
        {
            return Err(invalid(
                format!("group {name}"),
                TrxError::GroupIndex {
                    entry: entry as u64,
                    value: bad as i128,
                    nb_streamlines: self.nb_streamlines,
                },
            ));
        }
        let wide = self.nb_streamlines > u32::MAX as u64;
        let dtype = if wide { Dtype::U64 } else { Dtype::U32 };
        let member = self.member_for(&Role::Group, name, 1, dtype)?;
        let mut bytes = Vec::with_capacity(indices.len() * dtype.itemsize());
        for &i in indices {
            if wide {
                bytes.extend_from_slice(&i.to_le_bytes());
            } else {
                bytes.extend_from_slice(&(i as u32).to_le_bytes());
            }
        }
        self.groups.push(name.to_string());
        self.push(member, bytes.len() as u64, Payload::Bytes(bytes.into()))
    }

    /// Writes the TRX to `path` as `form` (temporary name, then rename).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for missing positions/offsets or dpg of an undeclared group;
    /// [`Error::Io`] / [`Error::Open`]; [`Error::Format`] if a fill callback writes the wrong
    /// number of bytes.
    pub fn write(self, path: &Path, form: Form) -> Result<()> {
        let empty = self.nb_streamlines == 0 && self.nb_vertices == 0;
        if !empty && !self.has_offsets {
            return Err(invalid(
                "offsets (call lengths())",
                TrxError::Missing("offsets"),
            ));
        }
        if self.nb_vertices > 0 && !self.has_positions {
            return Err(invalid("positions", TrxError::Missing("positions")));
        }
        if let Some(g) = self.dpg_groups.iter().find(|g| !self.groups.contains(g)) {
            return Err(invalid("dpg", TrxError::UndeclaredGroup(g.clone())));
        }
        let header = serde_json::to_vec(&Json::Object(self.header.clone()))
            .map_err(|e| invalid("header", TrxError::HeaderJson(e.to_string())))?;
        let mut arrays = self.arrays;
        if empty {
            arrays.retain(|a| {
                !a.member.starts_with("positions.") && !a.member.starts_with("offsets.")
            });
        }
        match form {
            Form::Directory => write_dir(path, &header, arrays),
            Form::StoredZip => write_zip(path, &header, arrays, false),
            Form::DeflateZip => write_zip(path, &header, arrays, true),
        }
    }
}

/// Counts bytes going through, to check fill callbacks.
struct Counting<'w> {
    inner: &'w mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn emit(path: &Path, a: Pending<'_>, out: &mut dyn Write) -> Result<()> {
    let io_err = |source| Error::Io {
        path: path.into(),
        source,
    };
    let mut counting = Counting { inner: out, n: 0 };
    match a.payload {
        Payload::Bytes(b) => counting.write_all(&b).map_err(io_err)?,
        Payload::Stream(fill) => fill(&mut counting).map_err(io_err)?,
    }
    if counting.n != a.len_bytes {
        return Err(backend_error(
            path,
            format!("writing {}", a.member),
            TrxError::FillSize {
                written: counting.n,
                expected: a.len_bytes,
            },
        ));
    }
    Ok(())
}

fn write_dir(path: &Path, header: &[u8], arrays: Vec<Pending<'_>>) -> Result<()> {
    let dir = AtomicDir::create(path)?;
    let root = dir.path().to_path_buf();
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    fs::write(root.join("header.json"), header).map_err(io_err(&root.join("header.json")))?;
    for a in arrays {
        let file = root.join(&a.member);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        let f = fs::File::create(&file).map_err(|source| Error::Open {
            path: file.clone(),
            source,
        })?;
        let mut w = io::BufWriter::with_capacity(1 << 20, f);
        emit(&file, a, &mut w)?;
        w.flush().map_err(io_err(&file))?;
    }
    dir.commit()
}

fn write_zip(path: &Path, header: &[u8], arrays: Vec<Pending<'_>>, deflate: bool) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let mut zip = ZipWriter::new_stream(file);
    let zerr = |member: &str, e: zip::result::ZipError| {
        backend_error(
            path,
            format!("writing {member}"),
            TrxError::Zip(e.to_string()),
        )
    };
    let options = |len: u64| {
        let o = SimpleFileOptions::default()
            .large_file(len >= u32::MAX as u64 / 2)
            .unix_permissions(0o644);
        if deflate {
            o.compression_method(CompressionMethod::Deflated)
        } else {
            o.compression_method(CompressionMethod::Stored)
                .with_alignment(ZIP_ALIGNMENT)
        }
    };
    zip.start_file("header.json", options(header.len() as u64))
        .map_err(|e| zerr("header.json", e))?;
    zip.write_all(header).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    for a in arrays {
        let member = a.member.clone();
        zip.start_file(member.as_str(), options(a.len_bytes))
            .map_err(|e| zerr(&member, e))?;
        emit(path, a, &mut zip)?;
    }
    let stream = zip.finish().map_err(|e| zerr("central directory", e))?;
    stream.into_inner().commit()
}
