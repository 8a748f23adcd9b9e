//! Entry points for the fuzz targets (`fuzz/`) and their replay test
//! (`tests/fuzz_regressions.rs`): the crate-private parsers, each fed raw bytes. Behind the
//! `fuzzing` feature; not a stable API. Every function returns what it parsed (or the error),
//! so a target can read the result, and must never panic on any input.

use std::path::Path;

use crate::catalog::Catalog;
use crate::convert::InputKind;
use crate::error::Result;
use crate::mmap::Bytes;
use crate::native::pids::PidList;

/// Parses `b` as a MODE 3 `.idx` (header and sparse-vector layout, O(1) checks); the
/// element size it records, or the offset and what is wrong.
pub fn native_index(b: &[u8]) -> std::result::Result<u32, (u64, crate::DecodeError)> {
    crate::native::index::SignalIndex::parse(b).map(|i| i.factor)
}

/// Parses the sparse vector of `b` starting at `start` with data entries of `elem` bytes,
/// then verifies it strictly; returns the number of keys verification counted, or the offset
/// and what is wrong.
pub fn sparse_vector(
    b: &[u8],
    start: usize,
    elem: usize,
) -> std::result::Result<usize, (u64, crate::DecodeError)> {
    crate::native::sparse::Sparse::parse(b, start, elem)?.verify(b, true)
}

/// Parses `b` as a `<PREFIX>_all_pids.list`; returns the pids.
///
/// # Errors
/// [`crate::Error::Corrupt`] naming `<memory>/f_all_pids.list` and the offset.
pub fn all_pids_list(b: &[u8]) -> Result<Vec<crate::Pid>> {
    let list = PidList::parse(
        Path::new("<memory>/f_all_pids.list"),
        Bytes::from_owned(b.to_vec()),
    )?;
    Ok(list.as_slice().to_vec())
}

/// What the full `.npy` header parser gave: (data offset, shape), or what is malformed.
pub type NpyParse = std::result::Result<(usize, Vec<u64>), String>;

/// Parses `b` as an `.npy` member: the full header parser, then the hot path's fast check
/// against `prefix` (the dictionary text up to the shape digits). Returns the header's data
/// offset and shape, and the fast path's `(offset, count)`.
#[cfg(feature = "itar")]
pub fn npy_header(b: &[u8], prefix: &[u8]) -> (NpyParse, Option<(usize, u64)>) {
    use crate::backend::itar::npy;
    let full = npy::parse(b).map(|h| (h.data_offset, h.shape));
    (full, npy::fast(b, prefix))
}

/// The `.npy` dictionary prefix the itar writer uses for a plain dtype such as `<u4` (a seed
/// for [`npy_header`]'s `prefix`).
#[cfg(feature = "itar")]
pub fn npy_plain_prefix(ty: &str) -> String {
    crate::backend::itar::npy::plain_prefix(ty)
}

/// Parses `text` as a whole MedConvert input file (`DATA` when `kind` is 0, then `REGISTRY`,
/// `DEMOGRAPHICS`, `DEATHS`; taken modulo 4) against `catalog`, codes being the signal names,
/// every signal loaded, dates validated. With `numbered`, each line starts with its line number
/// (as `--sort` writes them). Returns (lines, elements, dropped lines).
pub fn tsv_lines(
    catalog: &Catalog,
    kind: u8,
    text: &[u8],
    numbered: bool,
    safe_mode: bool,
) -> (usize, usize, usize) {
    let kind = match kind % 4 {
        0 => InputKind::Data,
        1 => InputKind::Registry,
        2 => InputKind::Demographics,
        _ => InputKind::Deaths,
    };
    crate::convert::fuzz_piece(catalog, kind, text, numbered, safe_mode)
}
