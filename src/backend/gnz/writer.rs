//! Writing a `GNZ1` container with the original writer's layout algorithm.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::dtype::{DType, Scalar};
use super::json::dumps_sorted;
use super::{backend_error, GnzError, Order, ALIGN, MAGIC, PREAMBLE};
use crate::atomic::temp_name;
use crate::error::{Error, Result};

#[derive(Debug)]
struct Planned {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    order: Order,
    nbytes: u64,
    /// `None`: reserved, filled later through [`GnzFileWriter::fill`].
    data: Option<Vec<u8>>,
}

/// The planned file: header text, offsets in insertion order, total size.
#[derive(Debug)]
struct Plan {
    header: String,
    offsets: Vec<u64>,
    total: u64,
}

/// Collects arrays and metadata, then lays them out as the original writer does: arrays in
/// insertion order from `pages × 4096`, each at a 4096-aligned offset (0-byte arrays do not
/// advance), `pages` grown until the sorted-key header fits.
///
/// # Examples
/// ```
/// use inframed::backend::gnz::{GnzFile, GnzWriter, Order};
/// let mut w = GnzWriter::new();
/// w.add::<f64>("x", &[2], &[1.5, -2.0])?;
/// w.reserve("y", "<i4", &[3], Order::C)?;
/// let f = GnzFile::from_bytes(w.to_bytes()?)?;
/// assert_eq!(&f.array::<f64>("x")?[..], &[1.5, -2.0]);
/// assert_eq!(&f.array::<i32>("y")?[..], &[0, 0, 0]);
/// # Ok::<_, inframed::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct GnzWriter {
    metadata: Map<String, Value>,
    arrays: Vec<Planned>,
}

fn writer_error(name: &str, e: GnzError) -> Error {
    backend_error(Path::new("<gnz writer>"), format!("array {name:?}"), e)
}

fn align_up(x: u64) -> Option<u64> {
    x.checked_add(ALIGN - 1).map(|v| v / ALIGN * ALIGN)
}

impl GnzWriter {
    /// An empty container (no arrays, empty metadata).
    pub fn new() -> GnzWriter {
        GnzWriter::default()
    }

    /// Sets the header's `metadata` object.
    pub fn set_metadata(&mut self, metadata: Map<String, Value>) {
        self.metadata = metadata;
    }

    fn plan_array(
        &mut self,
        name: &str,
        dtype: &str,
        shape: &[u64],
        order: Order,
        data: Option<Vec<u8>>,
    ) -> Result<()> {
        let err = |e| writer_error(name, e);
        if self.arrays.iter().any(|a| a.name == name) {
            return Err(err(GnzError::DuplicateArray));
        }
        let dtype = DType::parse(dtype).map_err(err)?;
        let nbytes = shape
            .iter()
            .try_fold(dtype.itemsize() as u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| err(GnzError::SizeOverflow))?;
        if let Some(d) = &data {
            if d.len() as u64 != nbytes {
                return Err(err(GnzError::DataLength {
                    expected: nbytes,
                    found: d.len() as u64,
                }));
            }
        }
        self.arrays.push(Planned {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            order,
            nbytes,
            data,
        });
        Ok(())
    }

    /// Adds an array given as raw bytes in `dtype`'s byte order and `order`'s memory order.
    ///
    /// # Errors
    /// [`GnzError::DuplicateArray`], [`GnzError::UnsupportedDtype`],
    /// [`GnzError::DataLength`] when `data` is not `prod(shape) × itemsize` bytes.
    pub fn add_array(
        &mut self,
        name: &str,
        dtype: &str,
        shape: &[u64],
        order: Order,
        data: impl Into<Vec<u8>>,
    ) -> Result<()> {
        self.plan_array(name, dtype, shape, order, Some(data.into()))
    }

    /// Adds a C-order array of little-endian numbers (`<i4`, `<f8`, `|u1`, …).
    ///
    /// # Errors
    /// As [`GnzWriter::add_array`].
    pub fn add<T: Scalar>(&mut self, name: &str, shape: &[u64], values: &[T]) -> Result<()> {
        let size = size_of::<T>();
        let dtype = if size == 1 {
            format!("|{}1", T::KIND)
        } else {
            format!("<{}{size}", T::KIND)
        };
        let mut bytes = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            bytes.extend_from_slice(bytemuck::bytes_of(v));
        }
        self.add_array(name, &dtype, shape, Order::C, bytes)
    }

    /// Reserves a streaming array: its header entry and bytes (zeros) are laid out now, and
    /// the caller fills it by chunks through [`GnzFileWriter::fill`] after
    /// [`GnzWriter::create`]. Capacity is fixed; unfilled bytes stay zero.
    ///
    /// # Errors
    /// [`GnzError::DuplicateArray`], [`GnzError::UnsupportedDtype`], [`GnzError::SizeOverflow`].
    pub fn reserve(&mut self, name: &str, dtype: &str, shape: &[u64], order: Order) -> Result<()> {
        self.plan_array(name, dtype, shape, order, None)
    }

    fn header_value(&self, offsets: &[u64]) -> Value {
        let mut arrays = Map::new();
        for (a, &offset) in self.arrays.iter().zip(offsets) {
            let mut e = Map::new();
            e.insert("dtype".into(), Value::from(a.dtype.as_str()));
            e.insert("offset".into(), Value::from(offset));
            e.insert("order".into(), Value::from(a.order.as_str()));
            e.insert("shape".into(), Value::from(a.shape.clone()));
            arrays.insert(a.name.clone(), Value::Object(e));
        }
        let mut top = Map::new();
        top.insert("arrays".into(), Value::Object(arrays));
        top.insert("metadata".into(), Value::Object(self.metadata.clone()));
        top.insert("version".into(), Value::from(1));
        Value::Object(top)
    }

    fn plan(&self) -> Result<Plan> {
        let overflow = || writer_error("<layout>", GnzError::SizeOverflow);
        let mut pages: u64 = 1;
        loop {
            let mut cursor = pages.checked_mul(ALIGN).ok_or_else(overflow)?;
            let mut offsets = Vec::with_capacity(self.arrays.len());
            for a in &self.arrays {
                offsets.push(cursor);
                cursor = cursor
                    .checked_add(a.nbytes)
                    .and_then(align_up)
                    .ok_or_else(overflow)?;
            }
            let header = dumps_sorted(&self.header_value(&offsets));
            let len = header.len() as u64;
            if len > u32::MAX as u64 {
                return Err(writer_error("<header>", GnzError::HeaderTooLarge(len)));
            }
            let need = (PREAMBLE + len).div_ceil(ALIGN).max(1);
            if need > pages {
                pages = need;
                continue;
            }
            return Ok(Plan {
                header,
                offsets,
                total: cursor,
            });
        }
    }

    /// The whole file in memory (reserved arrays zero).
    ///
    /// # Errors
    /// [`GnzError::SizeOverflow`], [`GnzError::HeaderTooLarge`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let plan = self.plan()?;
        let total = usize::try_from(plan.total)
            .map_err(|_| writer_error("<layout>", GnzError::SizeOverflow))?;
        let mut out = vec![0u8; total];
        let head = preamble(&plan.header);
        out[..head.len()].copy_from_slice(&head);
        for (a, &offset) in self.arrays.iter().zip(&plan.offsets) {
            if let Some(d) = &a.data {
                out[offset as usize..offset as usize + d.len()].copy_from_slice(d);
            }
        }
        Ok(out)
    }

    /// Lays the file out and writes header and added arrays to a temporary file beside `path`
    /// (sized to the final length, zeros elsewhere); fill reserved arrays, then
    /// [`GnzFileWriter::commit`] renames it into place.
    ///
    /// # Errors
    /// [`Error::Open`] / [`Error::Io`]; layout errors as [`GnzWriter::to_bytes`].
    pub fn create(self, path: impl AsRef<Path>) -> Result<GnzFileWriter> {
        let plan = self.plan()?;
        let target = path.as_ref().to_path_buf();
        let tmp = temp_name(&target);
        let file = File::create(&tmp).map_err(|source| Error::Open {
            path: tmp.clone(),
            source,
        })?;
        let mut w = GnzFileWriter {
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            tmp,
            target,
            pos: 0,
            arrays: HashMap::new(),
        };
        w.file_mut()
            .get_ref()
            .set_len(plan.total)
            .map_err(|source| w.io(source))?;
        let head = preamble(&plan.header);
        w.write_at(0, &head)?;
        for (a, &offset) in self.arrays.iter().zip(&plan.offsets) {
            w.arrays.insert(a.name.clone(), (offset, a.nbytes));
            if let Some(d) = &a.data {
                w.write_at(offset, d)?;
            }
        }
        Ok(w)
    }
}

fn preamble(header: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(PREAMBLE as usize + header.len());
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&(header.len() as u32).to_le_bytes());
    head.extend_from_slice(header.as_bytes());
    head
}

/// A GNZ file being written under a temporary name: fill reserved arrays by chunks, then
/// [`GnzFileWriter::commit`]. Dropped without commit, the temporary file is removed and the
/// target is untouched.
#[derive(Debug)]
pub struct GnzFileWriter {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    target: PathBuf,
    pos: u64,
    arrays: HashMap<String, (u64, u64)>,
}

impl GnzFileWriter {
    fn file_mut(&mut self) -> &mut BufWriter<File> {
        self.file.as_mut().expect("open until commit")
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            path: self.tmp.clone(),
            source,
        }
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.pos != offset {
            let r = self.file_mut().seek(SeekFrom::Start(offset));
            r.map_err(|source| self.io(source))?;
        }
        let r = self.file_mut().write_all(bytes);
        r.map_err(|source| self.io(source))?;
        self.pos = offset + bytes.len() as u64;
        Ok(())
    }

    /// Writes `bytes` into array `name` starting `at` bytes from its start. Chunks may come in
    /// any order; consecutive chunks are written without seeking.
    ///
    /// # Errors
    /// [`GnzError::NoSuchArray`], [`GnzError::ChunkOutOfRange`]; [`Error::Io`].
    pub fn fill(&mut self, name: &str, at: u64, bytes: &[u8]) -> Result<()> {
        let err = |e| backend_error(&self.target, format!("array {name:?}"), e);
        let &(offset, nbytes) = self
            .arrays
            .get(name)
            .ok_or_else(|| err(GnzError::NoSuchArray(name.to_string())))?;
        let end = at.checked_add(bytes.len() as u64);
        match end {
            Some(end) if end <= nbytes => self.write_at(offset + at, bytes),
            _ => Err(err(GnzError::ChunkOutOfRange {
                start: at,
                end: end.unwrap_or(u64::MAX),
                nbytes,
            })),
        }
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs and renames the file into place.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn commit(mut self) -> Result<()> {
        let w = self.file.take().expect("open until commit");
        let f = w.into_inner().map_err(|e| Error::Io {
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(|source| self.io(source))?;
        drop(f);
        fs::rename(&self.tmp, &self.target).map_err(|source| Error::Io {
            path: self.target.clone(),
            source,
        })
    }
}

impl Drop for GnzFileWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::gnz::GnzFile;

    #[test]
    fn empty_container_is_one_page() {
        let b = GnzWriter::new().to_bytes().unwrap();
        assert_eq!(b.len(), 4096);
        let text = br#"{"arrays": {}, "metadata": {}, "version": 1}"#;
        assert_eq!(&b[..4], b"GNZ1");
        assert_eq!(
            u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize,
            text.len()
        );
        assert_eq!(&b[8..8 + text.len()], text);
        assert!(b[8 + text.len()..].iter().all(|&x| x == 0));
    }

    #[test]
    fn layout_follows_insertion_order_and_skips_empty() {
        let mut w = GnzWriter::new();
        w.add::<u8>("z", &[5000], &[7; 5000]).unwrap();
        w.add::<f64>("e", &[0], &[]).unwrap();
        w.add::<i32>("a", &[1], &[-1]).unwrap();
        w.add::<i16>("last", &[0, 4], &[]).unwrap();
        let f = GnzFile::from_bytes(w.to_bytes().unwrap()).unwrap();
        let off = |n| f.info(n).unwrap().offset;
        assert_eq!(
            (off("z"), off("e"), off("a"), off("last")),
            (4096, 12288, 12288, 16384)
        );
        assert_eq!(f.bytes().len(), 16384);
    }

    #[test]
    fn writer_rejects_bad_input() {
        let mut w = GnzWriter::new();
        w.add::<i32>("a", &[2], &[1, 2]).unwrap();
        let kind = |e: Error| match e {
            Error::Format { source, .. } => match *source {
                crate::FormatError::Gnz(g) => g,
                other => panic!("{other}"),
            },
            other => panic!("{other}"),
        };
        assert_eq!(
            kind(w.add::<i32>("a", &[1], &[1]).unwrap_err()),
            GnzError::DuplicateArray
        );
        assert_eq!(
            kind(w.add::<i32>("b", &[3], &[1]).unwrap_err()),
            GnzError::DataLength {
                expected: 12,
                found: 4
            }
        );
        assert_eq!(
            kind(w.reserve("c", "|f8", &[1], Order::C).unwrap_err()),
            GnzError::UnsupportedDtype("|f8".into())
        );
        assert_eq!(
            kind(w.reserve("d", "<f8", &[u64::MAX, 2], Order::C).unwrap_err()),
            GnzError::SizeOverflow
        );
    }

    #[test]
    fn streaming_fill_and_drop_without_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("s.gnz");
        let mut w = GnzWriter::new();
        w.reserve("r", "<u2", &[600], Order::C).unwrap();
        w.add::<u8>("after", &[1], &[9]).unwrap();
        let mut fw = w.create(&target).unwrap();
        fw.fill("r", 2, &5u16.to_le_bytes()).unwrap();
        fw.fill("r", 0, &4u16.to_le_bytes()).unwrap();
        assert!(fw.fill("r", 1199, &[0, 0]).is_err());
        assert!(fw.fill("nope", 0, &[]).is_err());
        drop(fw);
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
