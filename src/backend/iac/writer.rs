//! Writing packs: payloads stream to a temporary data file beside the target, then header +
//! slide table + index table + data go to a second temporary file renamed onto the target.

use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use serde_json::{Map, Value};

use super::codec::Codec;
use super::error::IacError;
use super::header::{fixed_header, header_json_bytes, with_layout};
use super::table::IpcTable;
use crate::atomic::AtomicFile;
use crate::error::{Error, Result};

/// A pack being written (the original's `NativePackWriter`). Payloads are appended already
/// encoded; [`PackWriter::finish`] adds the `offset`/`length`/`crc32` columns to the caller's
/// index table and renames the finished file onto the target. Dropped unfinished, nothing
/// appears at the target and the temporary data file is removed.
#[derive(Debug)]
pub struct PackWriter {
    target: PathBuf,
    overwrite: bool,
    data: BufWriter<tempfile::NamedTempFile>,
    offsets: Vec<u64>,
    lengths: Vec<u64>,
    crcs: Vec<u64>,
    total: u64,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl PackWriter {
    /// Starts a pack at `target`; the payload data is buffered in a temporary file in the
    /// target's directory (as the original does: peak disk ≈ 2× data).
    ///
    /// # Errors
    /// [`IacError::Exists`] if `target` exists and `overwrite` is false; [`Error::Open`].
    pub fn create(target: impl AsRef<Path>, overwrite: bool) -> Result<PackWriter> {
        let target = target.as_ref().to_path_buf();
        if !overwrite && target.exists() {
            return Err(IacError::Exists.at(&target, "output"));
        }
        let dir = parent_dir(&target);
        let tmp = tempfile::Builder::new()
            .prefix(".iac-data.tmp.")
            .tempfile_in(&dir)
            .map_err(|source| Error::Open { path: dir, source })?;
        Ok(PackWriter {
            target,
            overwrite,
            data: BufWriter::with_capacity(1 << 20, tmp),
            offsets: Vec::new(),
            lengths: Vec::new(),
            crcs: Vec::new(),
            total: 0,
        })
    }

    /// Appends one stored payload (already encoded) as the next record.
    ///
    /// # Errors
    /// [`IacError::PayloadTooLarge`] at 4 GiB or more; [`Error::Io`].
    pub fn append_payload(&mut self, stored: &[u8]) -> Result<()> {
        let len = stored.len() as u64;
        if len > u32::MAX as u64 {
            return Err(IacError::PayloadTooLarge(len)
                .at(&self.target, format!("record {}", self.offsets.len())));
        }
        self.data.write_all(stored).map_err(io_err(&self.target))?;
        self.offsets.push(self.total);
        self.lengths.push(len);
        self.crcs.push(crc32fast::hash(stored) as u64);
        self.total += len;
        Ok(())
    }

    /// Records appended so far.
    pub fn num_records(&self) -> usize {
        self.offsets.len()
    }

    /// Finishes a variable-record pack: sets the `offset` (uint64), `length` (uint32) and
    /// `crc32` (uint32) columns of `index` (replaced in place when present, else appended in
    /// that order), merges the layout keys into `header` and renames the file into place.
    ///
    /// # Errors
    /// [`IacError::PayloadCount`] if `index` has a different number of rows; header too
    /// large; I/O errors.
    pub fn finish(
        self,
        header: &Map<String, Value>,
        slide: &IpcTable,
        index: &IpcTable,
    ) -> Result<()> {
        let at = |e: IacError| e.at(&self.target, "index table");
        let index = index
            .replace_column("offset", &self.offsets, DataType::UInt64)
            .and_then(|t| t.replace_column("length", &self.lengths, DataType::UInt32))
            .and_then(|t| t.replace_column("crc32", &self.crcs, DataType::UInt32))
            .map_err(at)?;
        self.write_out(header, slide, &index)
    }

    /// Finishes a pack whose data segment is the appended bytes verbatim, with the caller's
    /// index table stored as is (the original's `build_pack_data_segment`, fixed-width
    /// records).
    ///
    /// # Errors
    /// As [`PackWriter::finish`].
    pub fn finish_data_segment(
        self,
        header: &Map<String, Value>,
        slide: &IpcTable,
        index: &IpcTable,
    ) -> Result<()> {
        self.write_out(header, slide, index)
    }

    fn write_out(
        self,
        header: &Map<String, Value>,
        slide: &IpcTable,
        index: &IpcTable,
    ) -> Result<()> {
        let target = self.target;
        let slide_bytes = slide
            .to_ipc_stream()
            .map_err(|e| e.at(&target, "slide table"))?;
        let index_bytes = index
            .to_ipc_stream()
            .map_err(|e| e.at(&target, "index table"))?;
        let full = with_layout(
            header,
            slide_bytes.len() as u64,
            index_bytes.len() as u64,
            self.total,
            slide.num_rows() as u64,
            index.num_rows() as u64,
        );
        let fixed = fixed_header(&header_json_bytes(&full)).map_err(|e| e.at(&target, "header"))?;
        let mut data = self.data.into_inner().map_err(|e| Error::Io {
            path: target.clone(),
            source: e.into_error(),
        })?;
        data.rewind().map_err(io_err(data.path()))?;
        if !self.overwrite && target.exists() {
            return Err(IacError::Exists.at(&target, "output"));
        }
        let mut out = AtomicFile::create(&target)?;
        out.write_all(&fixed).map_err(io_err(&target))?;
        out.write_all(&slide_bytes).map_err(io_err(&target))?;
        out.write_all(&index_bytes).map_err(io_err(&target))?;
        let copied = io::copy(data.as_file_mut(), &mut out).map_err(io_err(&target))?;
        if copied != self.total {
            return Err(Error::Io {
                path: data.path().to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "data_length mismatch: expected={} copied={copied}",
                        self.total
                    ),
                ),
            });
        }
        out.commit()
    }
}

/// Writes a variable-record pack of `payloads` (stored as given, one record each, in order)
/// with the caller's header, slide and index tables: the original's `build_pack` and
/// `build_pack_streaming` (payloads are consumed one at a time, never held together).
///
/// # Errors
/// As [`PackWriter::finish`].
pub fn build_pack<I>(
    path: impl AsRef<Path>,
    header: &Map<String, Value>,
    slide: &IpcTable,
    index: &IpcTable,
    payloads: I,
    overwrite: bool,
) -> Result<()>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut w = PackWriter::create(path, overwrite)?;
    for p in payloads {
        w.append_payload(p.as_ref())?;
    }
    w.finish(header, slide, index)
}

/// Encodes each object with `codec` and writes the pack, with header
/// `{payload_type, codec, codec_params}` + `extra_header` (the original's
/// `VariableRecordPack.build`).
///
/// # Errors
/// [`IacError::Codec`] for a codec inframed cannot encode; as [`build_pack`].
#[allow(clippy::too_many_arguments)] // the original's signature, argument for argument
pub fn build_records<I>(
    path: impl AsRef<Path>,
    payload_type: &str,
    codec: &Codec,
    slide: &IpcTable,
    index: &IpcTable,
    objects: I,
    extra_header: Option<&Map<String, Value>>,
    overwrite: bool,
) -> Result<()>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let path = path.as_ref();
    let mut header = Map::new();
    header.insert("payload_type".into(), Value::from(payload_type));
    header.extend(codec.header_keys());
    if let Some(extra) = extra_header {
        header.extend(extra.clone());
    }
    let mut w = PackWriter::create(path, overwrite)?;
    for (i, obj) in objects.into_iter().enumerate() {
        let stored = codec
            .encode(obj.as_ref())
            .map_err(|e| e.at(path, format!("record {i}")))?;
        w.append_payload(&stored)?;
    }
    w.finish(&header, slide, index)
}

/// Writes a pack whose data segment is `data` verbatim and whose index table is stored as
/// given (the original's `build_pack_data_segment`).
///
/// # Errors
/// As [`PackWriter::finish`].
pub fn build_pack_data_segment(
    path: impl AsRef<Path>,
    header: &Map<String, Value>,
    slide: &IpcTable,
    index: &IpcTable,
    data: &[u8],
    overwrite: bool,
) -> Result<()> {
    let mut w = PackWriter::create(path, overwrite)?;
    w.data.write_all(data).map_err(io_err(&w.target))?;
    w.total = data.len() as u64;
    w.finish_data_segment(header, slide, index)
}
