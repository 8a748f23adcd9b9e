//! The `trx` backend: TRX tractography containers (a zip, stored or deflated, or a folder of
//! `name[.dim].dtype` arrays plus `header.json`), and patient repositories stored in them, one
//! streamline per (patient, signal) series. Facts: `docs/trx.md`.
//!
//! - [`TrxFile`]: the container reader (any TRX trx-python 0.6 loads, with stricter checks).
//! - [`TrxWriter`]: the container writer (stored zip, deflate zip or folder).
//! - [`TrxStore`]: a patient repository inside a TRX, behind [`SignalStore`].

mod dtype;
mod reader;
mod store;
mod writer;

use std::io::Write;
use std::path::Path;

pub use dtype::{split_file_name, ArrayName, Dtype, Role};
pub use reader::{Array, Form, Header, Rows, Selection, TrxFile};
pub use store::{group_name_for, TrxStore, MAPPING_KEY};
pub use writer::{Fill, TrxWriter};

use crate::backend::ExportOptions;
use crate::error::{Error, Result};
use crate::store::SignalStore;

pub use crate::error::TrxError;

/// Opens a TRX holding a patient repository (see [`TrxStore`]).
///
/// # Errors
/// [`Error::Open`]; [`Error::Format`] with a [`TrxError`].
pub fn open_store(path: &Path) -> Result<Box<dyn SignalStore>> {
    Ok(Box::new(TrxStore::open(path)?))
}

/// Writes a whole store as a TRX patient file: stored zip by default, deflate zip with
/// `options.deflate`, folder with `options.dir`.
///
/// # Errors
/// Store errors; [`Error::Io`]; [`Error::InvalidInput`] for a repository the mapping cannot
/// hold.
pub fn export(store: &dyn SignalStore, out: &Path, options: &ExportOptions) -> Result<()> {
    let kind = if options.dir {
        crate::target::OutputKind::TrxDir
    } else {
        crate::target::OutputKind::TrxZip
    };
    crate::target::check_target(out, kind, options.force)?;
    let form = if options.dir {
        Form::Directory
    } else if options.deflate {
        Form::DeflateZip
    } else {
        Form::StoredZip
    };
    store::export(store, out, form)
}

/// Lists the header counts and every array: key, dtype, shape, member, bytes (and
/// `deflated`).
///
/// # Errors
/// As [`TrxFile::open`].
pub fn ls(path: &Path, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    let form = form_name(trx.form());
    writeln!(
        out,
        "# {form}: NB_STREAMLINES {} NB_VERTICES {}",
        trx.nb_streamlines(),
        trx.nb_vertices()
    )
    .map_err(io)?;
    for a in trx.arrays() {
        let shape: Vec<String> = a.shape().iter().map(u64::to_string).collect();
        writeln!(
            out,
            "{}\t{}\t({})\t{}\t{}{}",
            a.key(),
            a.name.dtype.name(),
            shape.join(", "),
            a.member,
            a.size,
            if a.compressed { "\tdeflated" } else { "" }
        )
        .map_err(io)?;
    }
    for w in trx.warnings() {
        writeln!(out, "# warning: {}", w.message).map_err(io)?;
    }
    Ok(())
}

/// Writes one array's bytes as stored (inflated for deflated members): `name` is a key
/// (`positions`, `offsets`, `dps/algo`, `groups/AF_L`, `dpg/AF_L/mean`), a member name, or
/// `header.json`.
///
/// # Errors
/// As [`TrxFile::open`]; [`TrxError::NoSuchArray`].
pub fn cat(path: &Path, name: &str, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let io = |source| Error::Io {
        path: path.into(),
        source,
    };
    if name == "header.json" {
        return out.write_all(trx.header_bytes()).map_err(io);
    }
    let a = trx.array(name).ok_or_else(|| {
        reader::backend_error(path, name.into(), TrxError::NoSuchArray(name.into()))
    })?;
    out.write_all(trx.bytes(a)?).map_err(io)
}

/// `inframed verify` on any TRX (written by inframed or not): the zip directory, local headers,
/// member spans, `header.json`, array sizes and offsets (checked at open), then every member's
/// CRC-32 (deflated members inflated, bounded by their declared size). Returns a one-line
/// summary.
///
/// # Errors
/// The first damage, naming the member and byte offset.
pub fn verify_container(path: &Path) -> Result<String> {
    let trx = TrxFile::open(path)?;
    trx.verify_checksums()?;
    Ok(format!(
        "trx {}\t{} arrays\tNB_STREAMLINES {}\tNB_VERTICES {}",
        form_name(trx.form()),
        trx.arrays().len(),
        trx.nb_streamlines(),
        trx.nb_vertices()
    ))
}

/// `inframed info` on any TRX: form, counts, header keys, then the arrays as [`ls`] lists them
/// (key, dtype, shape, member, bytes, deflated).
///
/// # Errors
/// As [`TrxFile::open`]; [`Error::Io`] writing `out`.
pub fn describe(path: &Path, out: &mut dyn Write) -> Result<()> {
    let trx = TrxFile::open(path)?;
    let keys: Vec<&str> = trx.header().json.keys().map(String::as_str).collect();
    let total: u64 = trx.arrays().iter().map(|a| a.size).sum();
    let text = format!(
        "container\ttrx {}\narrays\t{}\narray bytes\t{total}\nheader keys\t{}\n",
        form_name(trx.form()),
        trx.arrays().len(),
        keys.join(" ")
    );
    out.write_all(text.as_bytes()).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    ls(path, out)
}

fn form_name(form: Form) -> &'static str {
    match form {
        Form::StoredZip => "stored zip",
        Form::DeflateZip => "deflate zip",
        Form::Directory => "directory",
    }
}
