//! The clinical-text adapters of `iatro-iac-adapters`: `clinical_text_pair` (paired source /
//! compressed text) and `clinical_text` (single text) packs, one brotli block per patient.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array, UInt8Array};
use hashbrown::HashMap;
use serde_json::{Map, Value};

use super::codec::{Codec, BROTLI_DEFAULT_LGWIN};
use super::error::IacError;
use super::header::sorted;
use super::reader::Pack;
use super::table::IpcTable;
use super::writer::build_pack;
use crate::error::Result;

/// `payload_type` of paired-text packs.
pub const TEXT_PAIR_PAYLOAD_TYPE: &str = "clinical_text_pair";
/// `payload_type` of single-text packs.
pub const TEXT_PAYLOAD_TYPE: &str = "clinical_text";

/// Per-document metadata shared by both adapters (defaults as the original: empty strings,
/// `episode_index` −1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocMeta {
    /// Document id (required).
    pub doc_id: String,
    /// Caller-defined document type.
    pub doc_type: String,
    /// Caller-defined encounter label.
    pub encounter: String,
    /// Document category.
    pub doc_category: String,
    /// Provenance.
    pub source: String,
    /// Timestamp or sortable label.
    pub doc_timestamp: String,
    /// Caller-defined grouping; −1 = unassigned.
    pub episode_index: i64,
}

impl DocMeta {
    /// Metadata with this id and every other field at its default.
    pub fn new(doc_id: impl Into<String>) -> DocMeta {
        DocMeta {
            doc_id: doc_id.into(),
            doc_type: String::new(),
            encounter: String::new(),
            doc_category: String::new(),
            source: String::new(),
            doc_timestamp: String::new(),
            episode_index: -1,
        }
    }

    fn to_manifest(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("doc_id".into(), Value::from(self.doc_id.as_str()));
        m.insert(
            "doc_category".into(),
            Value::from(self.doc_category.as_str()),
        );
        m.insert("doc_type".into(), Value::from(self.doc_type.as_str()));
        m.insert("encounter".into(), Value::from(self.encounter.as_str()));
        m.insert(
            "doc_timestamp".into(),
            Value::from(self.doc_timestamp.as_str()),
        );
        m.insert("episode_index".into(), Value::from(self.episode_index));
        m.insert("source".into(), Value::from(self.source.as_str()));
        m
    }

    fn from_manifest(
        entry: &Map<String, Value>,
        doc: usize,
    ) -> std::result::Result<DocMeta, String> {
        let text = |k: &str| -> std::result::Result<String, String> {
            match entry.get(k) {
                None => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(v) => Err(format!("doc {doc}: {k} is {v}, not a string")),
            }
        };
        let doc_id = match entry.get("doc_id") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(format!("doc {doc}: missing or invalid doc_id")),
        };
        let episode_index = match entry.get("episode_index") {
            None => -1,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| format!("doc {doc}: episode_index is {v}, not an integer"))?,
        };
        Ok(DocMeta {
            doc_id,
            doc_type: text("doc_type")?,
            encounter: text("encounter")?,
            doc_category: text("doc_category")?,
            source: text("source")?,
            doc_timestamp: text("doc_timestamp")?,
            episode_index,
        })
    }
}

/// One paired document: the source text and its compressed (distilled) text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicalTextPairDoc {
    /// Metadata.
    pub meta: DocMeta,
    /// Source text.
    pub source_text: String,
    /// Compressed (summary) text — unrelated to brotli.
    pub compressed_text: String,
}

/// All paired documents of one patient (one record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientTextPairs {
    /// Patient id.
    pub patient_id: String,
    /// Institution.
    pub institution: String,
    /// Documents in order.
    pub docs: Vec<ClinicalTextPairDoc>,
}

/// One document of a `clinical_text` pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicalDoc {
    /// Metadata.
    pub meta: DocMeta,
    /// The text.
    pub text: String,
}

/// All documents of one patient in a `clinical_text` pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientText {
    /// Patient id.
    pub patient_id: String,
    /// Institution.
    pub institution: String,
    /// Documents in order.
    pub docs: Vec<ClinicalDoc>,
}

/// `json.dumps(..., ensure_ascii=False, sort_keys=True)`: one line, `", "` and `": "`.
struct PythonSeparators;

impl serde_json::ser::Formatter for PythonSeparators {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

fn python_json(value: &Value) -> Vec<u8> {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonSeparators);
    // Serializing a `Value` to memory cannot fail.
    let _ = sorted(value).serialize(&mut ser);
    out
}

fn block(manifest: Value, text: &[u8]) -> Vec<u8> {
    let m = python_json(&manifest);
    let mut out = Vec::with_capacity(4 + m.len() + text.len());
    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
    out.extend_from_slice(&m);
    out.extend_from_slice(text);
    out
}

/// The decompressed block of a paired-text patient, as the original encodes it.
pub fn encode_patient_pairs(p: &PatientTextPairs) -> Vec<u8> {
    let mut text = Vec::new();
    let mut docs = Vec::with_capacity(p.docs.len());
    for d in &p.docs {
        let mut m = d.meta.to_manifest();
        m.insert("source_offset".into(), Value::from(text.len()));
        m.insert("source_length".into(), Value::from(d.source_text.len()));
        text.extend_from_slice(d.source_text.as_bytes());
        m.insert("compressed_offset".into(), Value::from(text.len()));
        m.insert(
            "compressed_length".into(),
            Value::from(d.compressed_text.len()),
        );
        text.extend_from_slice(d.compressed_text.as_bytes());
        docs.push(Value::Object(m));
    }
    let manifest = serde_json::json!({
        "pair_schema_version": 1,
        "patient_id": p.patient_id,
        "institution": p.institution,
        "docs": docs,
    });
    block(manifest, &text)
}

/// The decompressed block of a single-text patient, as the original encodes it.
pub fn encode_patient_text(p: &PatientText) -> Vec<u8> {
    let mut text = Vec::new();
    let mut docs = Vec::with_capacity(p.docs.len());
    for d in &p.docs {
        let mut m = d.meta.to_manifest();
        m.insert("offset".into(), Value::from(text.len()));
        m.insert("length".into(), Value::from(d.text.len()));
        text.extend_from_slice(d.text.as_bytes());
        docs.push(Value::Object(m));
    }
    let manifest = serde_json::json!({
        "text_schema_version": 1,
        "patient_id": p.patient_id,
        "institution": p.institution,
        "docs": docs,
    });
    block(manifest, &text)
}

/// Splits a block into its manifest and text region.
fn split_block(payload: &[u8]) -> std::result::Result<(Map<String, Value>, &[u8]), String> {
    let (len, rest) = payload
        .split_first_chunk::<4>()
        .ok_or("payload too short for manifest length prefix")?;
    let len = u32::from_le_bytes(*len) as usize;
    let manifest = rest
        .get(..len)
        .ok_or_else(|| format!("manifest overruns payload: {} > {}", 4 + len, payload.len()))?;
    let value: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("manifest JSON: {e}"))?;
    let Value::Object(m) = value else {
        return Err("manifest is not a JSON object".into());
    };
    Ok((m, &rest[len..]))
}

fn docs_of(m: &Map<String, Value>) -> std::result::Result<&[Value], String> {
    match m.get("docs") {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err("docs is not a list".into()),
    }
}

fn text_at(
    region: &[u8],
    entry: &Map<String, Value>,
    doc: usize,
    off_key: &str,
    len_key: &str,
) -> std::result::Result<String, String> {
    let num = |k: &str| {
        entry
            .get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("doc {doc}: missing or invalid {k}"))
    };
    let (off, len) = (num(off_key)?, num(len_key)?);
    let bytes = off
        .checked_add(len)
        .and_then(|end| region.get(off as usize..end as usize))
        .ok_or_else(|| {
            format!(
                "doc {doc}: {off_key}={off} {len_key}={len} outside the {}-byte text region",
                region.len()
            )
        })?;
    String::from_utf8(bytes.to_vec()).map_err(|e| format!("doc {doc}: invalid UTF-8 text: {e}"))
}

fn header_string(m: &Map<String, Value>, k: &str) -> String {
    m.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Decodes a paired-text block (the decompressed payload).
///
/// # Errors
/// A description of the first problem (length prefix, manifest JSON, a document's span or
/// UTF-8).
pub fn decode_patient_pairs(payload: &[u8]) -> std::result::Result<PatientTextPairs, String> {
    let (m, region) = split_block(payload)?;
    let mut docs = Vec::new();
    for (i, entry) in docs_of(&m)?.iter().enumerate() {
        let entry = entry
            .as_object()
            .ok_or_else(|| format!("doc {i} is not an object"))?;
        docs.push(ClinicalTextPairDoc {
            meta: DocMeta::from_manifest(entry, i)?,
            source_text: text_at(region, entry, i, "source_offset", "source_length")?,
            compressed_text: text_at(region, entry, i, "compressed_offset", "compressed_length")?,
        });
    }
    Ok(PatientTextPairs {
        patient_id: header_string(&m, "patient_id"),
        institution: header_string(&m, "institution"),
        docs,
    })
}

/// Decodes a single-text block (the decompressed payload).
///
/// # Errors
/// As [`decode_patient_pairs`].
pub fn decode_patient_text(payload: &[u8]) -> std::result::Result<PatientText, String> {
    let (m, region) = split_block(payload)?;
    let mut docs = Vec::new();
    for (i, entry) in docs_of(&m)?.iter().enumerate() {
        let entry = entry
            .as_object()
            .ok_or_else(|| format!("doc {i} is not an object"))?;
        docs.push(ClinicalDoc {
            meta: DocMeta::from_manifest(entry, i)?,
            text: text_at(region, entry, i, "offset", "length")?,
        });
    }
    Ok(PatientText {
        patient_id: header_string(&m, "patient_id"),
        institution: header_string(&m, "institution"),
        docs,
    })
}

/// A clinical-text pack opened for reading by patient id (the original's
/// `ClinicalTextPairReader` / `ClinicalTextReader`; which one is chosen by
/// [`TextPackReader::open_pairs`] or [`TextPackReader::open_single`]).
#[derive(Debug)]
pub struct TextPackReader {
    pack: Pack,
    by_patient: HashMap<String, usize>,
    order: Vec<String>,
}

impl TextPackReader {
    /// Opens a `clinical_text_pair` pack.
    ///
    /// # Errors
    /// As [`Pack::open`]; [`IacError::PayloadType`] for another payload type;
    /// [`IacError::Column`] without a `patient_id` string column.
    pub fn open_pairs(path: impl AsRef<Path>) -> Result<TextPackReader> {
        TextPackReader::from_pack(Pack::open(path)?, TEXT_PAIR_PAYLOAD_TYPE)
    }

    /// Opens a `clinical_text` pack.
    ///
    /// # Errors
    /// As [`TextPackReader::open_pairs`].
    pub fn open_single(path: impl AsRef<Path>) -> Result<TextPackReader> {
        TextPackReader::from_pack(Pack::open(path)?, TEXT_PAYLOAD_TYPE)
    }

    /// Wraps an opened pack that must be of `payload_type`.
    ///
    /// # Errors
    /// As [`TextPackReader::open_pairs`].
    pub fn from_pack(pack: Pack, payload_type: &'static str) -> Result<TextPackReader> {
        if pack.payload_type() != Some(payload_type) {
            return Err(IacError::PayloadType {
                found: pack.payload_type().unwrap_or_default().to_string(),
                expected: payload_type,
            }
            .at(pack.path(), "header"));
        }
        let mut by_patient = HashMap::new();
        let mut order = Vec::new();
        let bad = |problem: String| {
            IacError::Column {
                column: "patient_id".into(),
                problem,
            }
            .at(pack.path(), "index table")
        };
        let idx = pack.index_table();
        let col = idx
            .column_index("patient_id")
            .ok_or_else(|| bad("missing".into()))?;
        let mut row = 0usize;
        for b in idx.batches() {
            let c = b.column(col);
            let strings = c
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| bad(format!("type {} is not string", c.data_type())))?;
            for v in strings.iter() {
                if let Some(id) = v {
                    // A repeated id maps to its last row, as the original's dict does.
                    if by_patient.insert(id.to_string(), row).is_none() {
                        order.push(id.to_string());
                    }
                }
                row += 1;
            }
        }
        Ok(TextPackReader {
            pack,
            by_patient,
            order,
        })
    }

    /// The pack.
    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// Patient ids in first-appearance order.
    pub fn patient_ids(&self) -> &[String] {
        &self.order
    }

    fn row_of(&self, patient_id: &str) -> Result<usize> {
        self.by_patient.get(patient_id).copied().ok_or_else(|| {
            IacError::UnknownPatient(patient_id.to_string())
                .at(self.pack.path(), format!("patient {patient_id:?}"))
        })
    }

    fn decoded<T>(
        &self,
        row: usize,
        decode: fn(&[u8]) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let payload = self.pack.read_payload(row)?;
        decode(&payload)
            .map_err(|e| IacError::TextBlock(e).at(self.pack.path(), format!("row {row}")))
    }

    /// The paired documents of record `row`.
    ///
    /// # Errors
    /// Read and decode errors naming the row.
    pub fn read_pairs_at(&self, row: usize) -> Result<PatientTextPairs> {
        self.decoded(row, decode_patient_pairs)
    }

    /// The paired documents of a patient.
    ///
    /// # Errors
    /// [`IacError::UnknownPatient`]; as [`TextPackReader::read_pairs_at`].
    pub fn read_patient_pairs(&self, patient_id: &str) -> Result<PatientTextPairs> {
        self.read_pairs_at(self.row_of(patient_id)?)
    }

    /// The documents of record `row` of a `clinical_text` pack.
    ///
    /// # Errors
    /// Read and decode errors naming the row.
    pub fn read_text_at(&self, row: usize) -> Result<PatientText> {
        self.decoded(row, decode_patient_text)
    }

    /// The documents of a patient of a `clinical_text` pack.
    ///
    /// # Errors
    /// [`IacError::UnknownPatient`]; as [`TextPackReader::read_text_at`].
    pub fn read_patient_text(&self, patient_id: &str) -> Result<PatientText> {
        self.read_text_at(self.row_of(patient_id)?)
    }
}

fn placeholder_slides(slide_id: &str) -> Result<IpcTable> {
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("slide_idx", Arc::new(UInt8Array::from(vec![0u8]))),
        ("slide_id", Arc::new(StringArray::from(vec![slide_id]))),
        ("patient_id", Arc::new(StringArray::from(vec![""]))),
    ];
    nullable_batch(cols)
}

/// A batch whose fields are all nullable (pyarrow's default).
fn nullable_batch(cols: Vec<(&str, ArrayRef)>) -> Result<IpcTable> {
    let batch =
        RecordBatch::try_from_iter_with_nullable(cols.into_iter().map(|(n, c)| (n, c, true)))
            .map_err(|e| IacError::Arrow(e).at(Path::new("<memory>"), "table"))?;
    Ok(IpcTable::from_batch(batch))
}

fn brotli_for(quality: u32, path: &Path) -> Result<Codec> {
    let c = Codec::Brotli {
        quality,
        lgwin: BROTLI_DEFAULT_LGWIN,
    };
    // Rejects a quality out of 0..=11 before writing anything.
    c.encode(b"").map_err(|e| e.at(path, "codec"))?;
    Ok(c)
}

/// Writes a `clinical_text_pair` pack (the original's `build_clinical_text_pair_pack`): one
/// brotli(quality, lgwin 24) record per patient; header `pair_schema_version: 1` +
/// `extra_header`.
///
/// # Errors
/// [`crate::Error::InvalidInput`] for no patients; codec and write errors.
pub fn build_clinical_text_pair_pack(
    path: impl AsRef<Path>,
    patients: &[PatientTextPairs],
    quality: u32,
    extra_header: Option<&Map<String, Value>>,
    overwrite: bool,
) -> Result<()> {
    let path = path.as_ref();
    if patients.is_empty() {
        return Err(crate::error::InputError::Empty {
            what: "patients to pack",
        }
        .into());
    }
    let codec = brotli_for(quality, path)?;
    let bytes = |f: fn(&ClinicalTextPairDoc) -> usize| -> Vec<u64> {
        patients
            .iter()
            .map(|p| p.docs.iter().map(|d| f(d) as u64).sum())
            .collect()
    };
    let index = nullable_batch(vec![
        (
            "patient_id",
            Arc::new(StringArray::from_iter_values(
                patients.iter().map(|p| &p.patient_id),
            )),
        ),
        (
            "institution",
            Arc::new(StringArray::from_iter_values(
                patients.iter().map(|p| &p.institution),
            )),
        ),
        (
            "num_docs",
            Arc::new(UInt32Array::from_iter_values(
                patients.iter().map(|p| p.docs.len() as u32),
            )),
        ),
        (
            "source_raw_bytes",
            Arc::new(UInt64Array::from(bytes(|d| d.source_text.len()))),
        ),
        (
            "compressed_raw_bytes",
            Arc::new(UInt64Array::from(bytes(|d| d.compressed_text.len()))),
        ),
    ])?;
    let mut header = Map::new();
    header.insert("payload_type".into(), Value::from(TEXT_PAIR_PAYLOAD_TYPE));
    header.extend(codec.header_keys());
    header.insert("pair_schema_version".into(), Value::from(1));
    if let Some(extra) = extra_header {
        header.extend(extra.clone());
    }
    let mut payloads = Vec::with_capacity(patients.len());
    for (i, p) in patients.iter().enumerate() {
        payloads.push(
            codec
                .encode(&encode_patient_pairs(p))
                .map_err(|e| e.at(path, format!("record {i}")))?,
        );
    }
    build_pack(
        path,
        &header,
        &placeholder_slides(TEXT_PAIR_PAYLOAD_TYPE)?,
        &index,
        payloads,
        overwrite,
    )
}

/// Writes a `clinical_text` pack (the original's `build_clinical_text_pack`): one
/// brotli(quality, lgwin 24) record per patient; header `text_schema_version: 1`. Records
/// are encoded and streamed one at a time.
///
/// # Errors
/// As [`build_clinical_text_pair_pack`].
pub fn build_clinical_text_pack(
    path: impl AsRef<Path>,
    patients: &[PatientText],
    quality: u32,
    overwrite: bool,
) -> Result<()> {
    let path = path.as_ref();
    if patients.is_empty() {
        return Err(crate::error::InputError::Empty {
            what: "patients to pack",
        }
        .into());
    }
    let codec = brotli_for(quality, path)?;
    let index = nullable_batch(vec![
        (
            "patient_id",
            Arc::new(StringArray::from_iter_values(
                patients.iter().map(|p| &p.patient_id),
            )),
        ),
        (
            "institution",
            Arc::new(StringArray::from_iter_values(
                patients.iter().map(|p| &p.institution),
            )),
        ),
        (
            "num_docs",
            Arc::new(UInt32Array::from_iter_values(
                patients.iter().map(|p| p.docs.len() as u32),
            )),
        ),
    ])?;
    let mut header = Map::new();
    header.insert("payload_type".into(), Value::from(TEXT_PAYLOAD_TYPE));
    header.extend(codec.header_keys());
    header.insert("text_schema_version".into(), Value::from(1));
    let mut w = super::writer::PackWriter::create(path, overwrite)?;
    for (i, p) in patients.iter().enumerate() {
        let stored = codec
            .encode(&encode_patient_text(p))
            .map_err(|e| e.at(path, format!("record {i}")))?;
        w.append_payload(&stored)?;
    }
    w.finish(&header, &placeholder_slides(TEXT_PAYLOAD_TYPE)?, &index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_python_json() {
        let mut meta = DocMeta::new("d1");
        meta.doc_type = "入院\"记录\"\n".into();
        let p = PatientTextPairs {
            patient_id: "P".into(),
            institution: "医院".into(),
            docs: vec![ClinicalTextPairDoc {
                meta,
                source_text: "源".into(),
                compressed_text: "ab".into(),
            }],
        };
        let b = encode_patient_pairs(&p);
        let n = u32::from_le_bytes(b[..4].try_into().unwrap()) as usize;
        let manifest = std::str::from_utf8(&b[4..4 + n]).unwrap();
        // Python: json.dumps(m, ensure_ascii=False, sort_keys=True)
        assert_eq!(
            manifest,
            "{\"docs\": [{\"compressed_length\": 2, \"compressed_offset\": 3, \"doc_category\": \"\", \
             \"doc_id\": \"d1\", \"doc_timestamp\": \"\", \"doc_type\": \"入院\\\"记录\\\"\\n\", \
             \"encounter\": \"\", \"episode_index\": -1, \"source\": \"\", \"source_length\": 3, \
             \"source_offset\": 0}], \"institution\": \"医院\", \"pair_schema_version\": 1, \
             \"patient_id\": \"P\"}"
        );
        assert_eq!(&b[4 + n..], "源ab".as_bytes());
        assert_eq!(decode_patient_pairs(&b).unwrap(), p);
    }

    #[test]
    fn damaged_blocks_are_errors() {
        let p = PatientText {
            patient_id: "P".into(),
            institution: String::new(),
            docs: vec![ClinicalDoc {
                meta: DocMeta::new("a"),
                text: "hello".into(),
            }],
        };
        let b = encode_patient_text(&p);
        assert_eq!(decode_patient_text(&b).unwrap(), p);
        assert!(decode_patient_text(&b[..3]).is_err());
        assert!(decode_patient_text(&b[..b.len() - 1])
            .unwrap_err()
            .contains("outside"));
        let mut bad = b.clone();
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_patient_text(&bad).unwrap_err().contains("overruns"));
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] = 0xff;
        assert!(decode_patient_text(&bad).unwrap_err().contains("UTF-8"));
    }
}
