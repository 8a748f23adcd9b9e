//! The IatroCache `.iac` backend: the container (read any v2 pack, write packs the original
//! `iatro-base-iac` reads), its clinical-text adapters, and the patient mapping (a whole
//! repository as one pack, read back through [`SignalStore`]).
//!
//! Facts: `docs/formats/iac.md`; decisions: `docs/iac.md`.
//!
//! - [`Pack`]: open and validate a pack, its header ([`Pack::header`], [`PackLayout`]), slide
//!   and index tables ([`IpcTable`]: Arrow record batches), [`Pack::read_stored`] and
//!   [`Pack::read_payload`] (zero-copy for codec `none`), [`Pack::verify`] (CRC-32s, decoding).
//! - [`PackWriter`], [`build_pack`], [`build_records`], [`build_pack_data_segment`]: writers.
//! - [`TextPackReader`], [`build_clinical_text_pair_pack`], [`build_clinical_text_pack`].
//! - [`IacStore`], [`export`]: the patient mapping.

mod codec;
mod error;
mod header;
mod reader;
mod store;
mod table;
mod text;
mod writer;

use crate::error::InputError;
use std::io::Write;
use std::path::Path;

pub use self::codec::{Codec, BROTLI_DEFAULT_LGWIN, BROTLI_DEFAULT_QUALITY, ZSTD_DEFAULT_LEVEL};
pub use self::error::{iac_error, IacError};
pub use self::header::{
    header_json_bytes, KnownKeys, PackLayout, FORMAT_VERSION, HEADER_BYTES, MAGIC, MAX_HEADER_JSON,
};
pub use self::reader::Pack;
use self::store::write_patient_pack;
pub use self::store::{
    CatalogBlock, IacStore, CATALOG_IN_KEY, CATALOG_IN_SLIDE_METADATA, CATALOG_KEY,
    PATIENT_PAYLOAD_TYPE, SCHEMA_VERSION, SCHEMA_VERSION_KEY,
};
pub use self::table::IpcTable;
pub use self::text::{
    build_clinical_text_pack, build_clinical_text_pair_pack, decode_patient_pairs,
    decode_patient_text, encode_patient_pairs, encode_patient_text, ClinicalDoc,
    ClinicalTextPairDoc, DocMeta, PatientText, PatientTextPairs, TextPackReader,
    TEXT_PAIR_PAYLOAD_TYPE, TEXT_PAYLOAD_TYPE,
};
pub use self::writer::{build_pack, build_pack_data_segment, build_records, PackWriter};

use crate::backend::ExportOptions;
use crate::error::{Error, Result};
use crate::store::SignalStore;

/// Opens an `.iac` pack as a store: a patient pack gives its repository; any other pack an
/// empty store with a warning (so `info` and `verify` check its container).
///
/// # Errors
/// As [`IacStore::open`].
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(IacStore::open(path)?))
}

/// Writes a whole store as one patient pack (`inframed export REPO out.iac --to iac
/// [--codec none|brotli[:Q[:LGWIN]]|zstd[:LEVEL]]`, default `none`): records encoded and
/// streamed to disk one at a time, pids ascending, signals in catalog order, empty vectors
/// skipped. A previous pack at `out` is replaced; anything else is refused without `force`.
///
/// # Errors
/// [`Error::Occupied`] for an `out` that is not a pack (without
/// `force`); [`IacError::Codec`] for an unknown codec; errors of the store; I/O errors naming
/// `out`.
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    crate::target::check_target(out, crate::target::OutputKind::Iac, options.force)?;
    let codec = match options.codec.as_deref() {
        None => Codec::None,
        Some(c) => Codec::parse(c).map_err(|e| e.at(out, "--codec"))?,
    };
    write_patient_pack(store, out, &codec)
}

/// `inframed ls`: a `#row` header line with the index table's column names, then one line per
/// record: row, then each column's value (tab-separated).
///
/// # Errors
/// As [`Pack::open`]; [`Error::Io`] writing `out`.
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let pack = Pack::open(path)?;
    let io = |source| Error::Io {
        path: "<stdout>".into(),
        source,
    };
    let index = pack.index_table();
    let mut line = String::from("#row");
    for f in index.schema().fields() {
        line.push('\t');
        line.push_str(f.name());
    }
    writeln!(out, "{line}").map_err(io)?;
    for row in 0..pack.num_records() {
        let mut line = row.to_string();
        for cell in index.row_cells(row) {
            line.push('\t');
            line.push_str(&cell);
        }
        writeln!(out, "{line}").map_err(io)?;
    }
    Ok(())
}

/// `inframed cat FILE ROW`: the decoded payload of record `ROW` (negative counts from the
/// end); for a fixed-width pack (no `offset` column), its `feature_record_bytes` record.
///
/// # Errors
/// [`Error::InvalidInput`] if `name` is not an integer; [`IacError::RowOutOfRange`]; read and
/// decode errors naming the row.
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let pack = Pack::open(path)?;
    let row: i64 = name.parse().map_err(|_| InputError::NotARow {
        name: name.to_string(),
    })?;
    let row = pack.resolve_row(row)?;
    let io = |source| Error::Io {
        path: "<stdout>".into(),
        source,
    };
    if pack.is_variable() {
        out.write_all(&pack.read_payload(row)?).map_err(io)
    } else {
        out.write_all(pack.read_fixed(row)?).map_err(io)
    }
}

/// `inframed verify` on any `.iac` pack (written by inframed or not): the layout, tables and
/// spans (checked at open), then every record's CRC-32 and, for brotli and zstd packs, that
/// each record decodes. Returns a one-line summary.
///
/// # Errors
/// The first damage, naming the row and byte offset.
pub fn verify_container(path: &Path) -> Result<String> {
    let pack = Pack::open(path)?;
    pack.verify()?;
    Ok(format!(
        "iac pack\t{} records\tcodec {}\t{} bytes",
        pack.num_records(),
        pack.codec().name(),
        pack.file_len()
    ))
}

/// `inframed info` on any `.iac` pack: header keys, layout spans, codec, payload type, record
/// count, then the records as [`ls`] lists them.
///
/// # Errors
/// As [`Pack::open`]; [`Error::Io`] writing `out`.
pub fn describe(path: &Path, out: &mut dyn Write) -> Result<()> {
    let pack = Pack::open(path)?;
    let layout = pack.layout();
    let mut text = String::new();
    text.push_str("container\tiac pack\n");
    text.push_str(&format!("bytes\t{}\n", pack.file_len()));
    text.push_str(&format!("codec\t{}\n", pack.codec().name()));
    text.push_str(&format!(
        "payload type\t{}\n",
        pack.payload_type().unwrap_or("-")
    ));
    text.push_str(&format!(
        "records\t{}\t{}\n",
        pack.num_records(),
        if pack.is_variable() {
            "variable"
        } else {
            "fixed width"
        }
    ));
    for (what, (start, end)) in [
        ("slide table", layout.slide_span()),
        ("index table", layout.index_span()),
        ("data segment", layout.data_span()),
    ] {
        text.push_str(&format!(
            "{what}\tbytes {start}..{end}\t{} bytes\n",
            end - start
        ));
    }
    let keys: Vec<&str> = pack.header().keys().map(String::as_str).collect();
    text.push_str(&format!("header keys\t{}\n", keys.join(" ")));
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: "<stdout>".into(),
        source,
    })?;
    ls(path, out)
}
