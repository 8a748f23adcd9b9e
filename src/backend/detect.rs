//! Which reader a path needs, decided by its content; the extension is only a hint.
//!
//! | what | recognised by |
//! |---|---|
//! | `.iac` pack | `IATROC` at byte 0 |
//! | `.gnz` file | `GNZ1` at byte 0 |
//! | TRX zip | `PK\x03\x04` (or an empty zip's `PK\x05\x06`) whose central directory holds a root `header.json` |
//! | TRX folder | a folder holding `header.json` |
//! | `.taridx` | `TARIDX\0\0` at byte 0 |
//! | tar shard | `ustar` at byte 257 (POSIX, pax and GNU headers), or a valid v7 header checksum |
//! | gzip shard | `1f 8b` at byte 0 (`.tar.gz`, `.tgz`: read by the tar reader, which refuses it) |
//! | tar dataset | a folder holding a `.taridx` or tar shards, or a WebDataset brace list `a-{000..009}.tar` |
//! | repository config | text (UTF-8, no NUL bytes) |
//!
//! When the content decides, the extension is ignored; when it does not (a damaged file), a
//! container extension (`.iac`, `.gnz`, `.trx`, `.taridx`, `.tar`) picks the reader, so that the
//! error names the damage. Otherwise the error lists everything that was tried.

use std::fmt;
use std::io::Read;
use std::path::Path;

use super::Container;
use crate::error::{Error, Result};

/// What a path holds, as [`detect`] decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A container read by a backend.
    Container(Container),
    /// A repository config (`*.repository`), native layouts.
    Config,
}

impl Format {
    /// The format a `--format` name forces: `iac`, `gnz`, `trx`, `itar` (also `tar`,
    /// `webdataset`), `repository` (also `config`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "repository" | "config" => Some(Format::Config),
            "tar" | "webdataset" | "wds" => Some(Format::Container(Container::Itar)),
            other => Container::from_name(other).map(Format::Container),
        }
    }

    /// The names [`Format::from_name`] accepts, for messages.
    pub const NAMES: &'static str = "iac, gnz, trx, itar (tar, webdataset), repository";

    /// The container, if the format is one.
    pub fn container(self) -> Option<Container> {
        match self {
            Format::Container(c) => Some(c),
            Format::Config => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Container(Container::Iac) => "iac",
            Format::Container(Container::Gnz) => "gnz",
            Format::Container(Container::Trx) => "trx",
            Format::Container(Container::Itar) => "itar",
            Format::Config => "repository",
        })
    }
}

/// Bytes read from the start of a file to decide (a tar header is 512; text is checked on all).
const SNIFF: usize = 8192;

/// The container an extension suggests.
fn hint(path: &Path) -> Option<Container> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Some(Container::Itar);
    }
    match name.rsplit_once('.')?.1 {
        "iac" => Some(Container::Iac),
        "gnz" => Some(Container::Gnz),
        "trx" | "zip" => Some(Container::Trx),
        "taridx" | "tar" => Some(Container::Itar),
        _ => None,
    }
}

/// Whether `name` is a WebDataset brace list (`train-{000000..000009}.tar`).
pub(crate) fn is_brace_list(name: &str) -> bool {
    match (name.find('{'), name.find('}')) {
        (Some(a), Some(b)) if a < b => name[a + 1..b].contains(".."),
        _ => false,
    }
}

/// Decides what `path` holds (see the module table).
///
/// # Errors
/// [`Error::Open`] if the path cannot be read; [`Error::Unsupported`] listing every format
/// tried when nothing matches.
pub fn detect(path: &Path) -> Result<Format> {
    detect_reading(path, std::fs::metadata(path), false).map(|s| s.format)
}

/// What [`sniff`] found: the format and, for a repository config, the file's bytes.
#[derive(Debug)]
pub struct Sniff {
    /// As [`detect`] decides it.
    pub format: Format,
    /// The whole file when it is a repository config (text), read through the same open as
    /// the bytes that decided it; `None` otherwise.
    pub text: Option<Vec<u8>>,
}

/// [`detect`], keeping the whole file when it is a repository config, so that the config
/// need not be opened and read a second time. `meta` is `std::fs::metadata(path)`, taken by
/// a caller that needs it too (for the file's identity).
///
/// # Errors
/// As [`detect`]; [`Error::Open`] if the rest of a config cannot be read.
pub fn sniff(path: &Path, meta: std::io::Result<std::fs::Metadata>) -> Result<Sniff> {
    detect_reading(path, meta, true)
}

/// [`detect`] with the path's metadata given; `whole_text`: read the rest of a repository
/// config too.
fn detect_reading(
    path: &Path,
    meta: std::io::Result<std::fs::Metadata>,
    whole_text: bool,
) -> Result<Sniff> {
    let meta = match meta {
        Ok(m) => m,
        Err(source) => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if source.kind() == std::io::ErrorKind::NotFound && is_brace_list(name) {
                return Ok(container(Container::Itar));
            }
            return Err(Error::Open {
                path: path.into(),
                source,
            });
        }
    };
    let mut tried = Vec::new();
    let found = if meta.is_dir() {
        detect_dir(path, &mut tried)?.map(|format| Sniff { format, text: None })
    } else {
        detect_file(path, &mut tried, whole_text)?
    };
    if let Some(f) = found {
        return Ok(f);
    }
    if let Some(c) = hint(path) {
        return Ok(container(c));
    }
    Err(Error::Unsupported {
        path: path.into(),
        what: format!(
            "format: not a container or repository config (tried {}; --format NAME forces one of {})",
            tried.join("; "),
            Format::NAMES
        ),
    })
}

fn container(c: Container) -> Sniff {
    Sniff {
        format: Format::Container(c),
        text: None,
    }
}

fn detect_dir(path: &Path, tried: &mut Vec<String>) -> Result<Option<Format>> {
    let entries = std::fs::read_dir(path).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })?;
    let (mut header, mut taridx, mut tars) = (false, false, false);
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let lower = name.to_ascii_lowercase();
        header |= name == "header.json";
        taridx |= lower.ends_with(".taridx");
        tars |= lower.ends_with(".tar") || lower.ends_with(".tar.gz") || lower.ends_with(".tgz");
    }
    if header {
        return Ok(Some(Format::Container(Container::Trx)));
    }
    if taridx || tars {
        return Ok(Some(Format::Container(Container::Itar)));
    }
    tried.push("trx folder: no header.json".into());
    tried.push("tar dataset: no .taridx and no .tar shards".into());
    Ok(None)
}

/// Reads the head of a file and decides from it; `whole_text`: a repository config is read
/// to its end through the same open.
fn detect_file(path: &Path, tried: &mut Vec<String>, whole_text: bool) -> Result<Option<Sniff>> {
    let open_err = |source| Error::Open {
        path: path.into(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(open_err)?;
    let mut head = Vec::with_capacity(SNIFF);
    (&mut file)
        .take(SNIFF as u64)
        .read_to_end(&mut head)
        .map_err(open_err)?;
    let Some(format) = detect_head(path, &head, tried) else {
        return Ok(None);
    };
    let text = match format {
        Format::Config if whole_text => {
            // A head shorter than SNIFF ended at the end of the file.
            if head.len() == SNIFF {
                file.read_to_end(&mut head).map_err(open_err)?;
            }
            Some(head)
        }
        _ => None,
    };
    Ok(Some(Sniff { format, text }))
}

/// The format the first [`SNIFF`] bytes of a file show (`None`: none; `tried` says why).
fn detect_head(path: &Path, head: &[u8], tried: &mut Vec<String>) -> Option<Format> {
    let kind = |c| Some(Format::Container(c));
    if head.starts_with(b"IATROC") {
        return kind(Container::Iac);
    }
    tried.push("iac: no IATROC magic".into());
    if head.starts_with(b"GNZ1") {
        return kind(Container::Gnz);
    }
    tried.push("gnz: no GNZ1 magic".into());
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        match zip_has_header(path) {
            // A zip the zip reader cannot list is a damaged TRX: let its reader say why.
            None | Some(true) => return kind(Container::Trx),
            Some(false) => tried.push("trx: a zip without header.json at its root".into()),
        }
    } else {
        tried.push("trx: not a zip".into());
    }
    if head.starts_with(b"TARIDX\0\0") {
        return kind(Container::Itar);
    }
    if is_tar_header(head) {
        return kind(Container::Itar);
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return kind(Container::Itar);
    }
    tried.push("itar: no TARIDX magic, no tar header, not gzip".into());
    if head.is_empty() {
        tried.push("repository config: empty file".into());
        return None;
    }
    if is_text(head) {
        return Some(Format::Config);
    }
    tried.push("repository config: binary, not text".into());
    None
}

/// Whether a zip's central directory lists `header.json` at the root; `None` if it cannot be
/// read.
#[cfg(feature = "trx")]
fn zip_has_header(path: &Path) -> Option<bool> {
    let file = std::fs::File::open(path).ok()?;
    let archive = zip::ZipArchive::new(std::io::BufReader::new(file)).ok()?;
    let found = archive
        .file_names()
        .any(|n| n.is_ok_and(|n| n == "header.json"));
    Some(found)
}

/// Without the zip reader, any zip goes to the (disabled) TRX backend, which says so.
#[cfg(not(feature = "trx"))]
fn zip_has_header(_path: &Path) -> Option<bool> {
    None
}

/// A tar's first header: `ustar` at byte 257 (POSIX `ustar\0`, GNU `ustar  \0`), or a v7
/// header (no magic) whose checksum is right.
fn is_tar_header(head: &[u8]) -> bool {
    let Some(h) = head.get(..512) else {
        return false;
    };
    if &h[257..262] == b"ustar" {
        return true;
    }
    if h.iter().all(|&b| b == 0) {
        return false;
    }
    let digits: Vec<u8> = h[148..156]
        .iter()
        .copied()
        .filter(|b| (b'0'..=b'7').contains(b))
        .collect();
    let Some(stored) = std::str::from_utf8(&digits)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 8).ok())
    else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum();
    stored == sum
}

/// UTF-8 without NUL bytes (a multi-byte character cut at the sniff limit is allowed).
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() == SNIFF,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_braces() {
        assert_eq!(
            Format::from_name("TRX"),
            Some(Format::Container(Container::Trx))
        );
        assert_eq!(Format::from_name("config"), Some(Format::Config));
        assert_eq!(Format::from_name("parquet"), None);
        assert!(is_brace_list("train-{000000..000009}.tar"));
        assert!(!is_brace_list("train-{a}.tar"));
        assert_eq!(hint(Path::new("x/a.TAR.GZ")), Some(Container::Itar));
        assert_eq!(hint(Path::new("a.repository")), None);
    }

    #[test]
    fn tar_headers() {
        let mut h = [0u8; 512];
        h[..5].copy_from_slice(b"a.txt");
        assert!(!is_tar_header(&h)); // no magic, no checksum
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert!(is_tar_header(&h)); // v7 with a right checksum
        assert!(!is_tar_header(&h[..511]));
        assert!(!is_text(&h));
        assert!(is_text("MODE\t3\n".as_bytes()));
    }
}
