//! Names in an indexed-tar dataset: a member name's stem and extension, the fold of a shard
//! file name, the folds of a dataset folder and WebDataset brace lists.

use std::path::{Path, PathBuf};

use crate::backend::itar::ItarError;
use crate::error::{Error, Result};

/// The shard-name delimiter (`<fold>_<suffix>.tar`).
const DELIMITER: char = '_';

/// Splits a member name as glzn does: the basename after the last `/`, at its **first** `.`;
/// the extension lowercased (`''` without a dot).
pub fn split_name(name: &str) -> (String, String) {
    let base = name.rsplit('/').next().unwrap_or(name);
    match base.split_once('.') {
        Some((stem, ext)) => (stem.to_owned(), ext.to_lowercase()),
        None => (base.to_owned(), String::new()),
    }
}

/// The `(fold, suffix)` a shard file name belongs to, or `None` if it is not a shard
/// (`.tar`, or gzip-compressed `.tar.gz` / `.tgz`, which are refused on open):
/// - glzn: `<fold>_<suffix>.tar` (exactly one `_`);
/// - WebDataset: `<fold><sep><digits>.tar` with `sep` one of `-`, `_`, `.`
///   (`train-000000.tar`, `shard_name_0003.tar`);
/// - any other `<name>.tar` is a fold of its own.
pub fn shard_fold(file_name: &str) -> Option<(String, String)> {
    let lower = file_name.to_ascii_lowercase();
    let cut = [".tar", ".tar.gz", ".tgz"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map(|s| s.len())?;
    let base = &file_name[..file_name.len() - cut];
    if base.is_empty() {
        return None;
    }
    if let [f, suffix] = base.split(DELIMITER).collect::<Vec<_>>().as_slice() {
        if !f.is_empty() {
            return Some((f.to_string(), suffix.to_string()));
        }
    }
    let digits = base.len() - base.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 && digits < base.len() {
        let head = &base[..base.len() - digits];
        if let Some(f) = head.strip_suffix(['-', '_', '.']) {
            if !f.is_empty() {
                return Some((f.to_string(), base[head.len()..].to_string()));
            }
        }
    }
    Some((base.to_string(), String::new()))
}

/// The shards of fold `fold` in `dir`, sorted by suffix as a string (glzn's fid rule).
pub(super) fn shard_files(dir: &Path, fold: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.into(),
        source,
    })?;
    let mut found = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some((f, suffix)) = shard_fold(name) {
            if f == fold && e.path().is_file() {
                found.push((suffix, e.path()));
            }
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// The folds of a dataset folder: every `<fold>.taridx`, and every fold with shards
/// ([`shard_fold`]).
///
/// # Errors
/// [`Error::Open`] if the folder cannot be listed.
pub fn fold_names(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Open {
        path: dir.into(),
        source,
    })?;
    let mut names = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(f) = name.strip_suffix(".taridx") {
            names.push(f.to_owned());
        } else if let Some((f, _)) = shard_fold(name) {
            names.push(f);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Expands a WebDataset brace list: `{000..009}` (zero-padded to the first bound's width) and
/// `{a,b}`, several groups allowed.
///
/// # Errors
/// [`ItarError::Braces`] for an unbalanced or reversed range.
pub fn expand_braces(pattern: &str) -> std::result::Result<Vec<String>, ItarError> {
    let bad = |reason: &str| ItarError::Braces {
        pattern: pattern.into(),
        reason: reason.into(),
    };
    let Some(open) = pattern.find('{') else {
        return Ok(vec![pattern.to_string()]);
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or_else(|| bad("unbalanced '{'"))?;
    let (head, body, tail) = (
        &pattern[..open],
        &pattern[open + 1..close],
        &pattern[close + 1..],
    );
    let items: Vec<String> = if let Some((a, b)) = body.split_once("..") {
        let (x, y): (u64, u64) = match (a.parse(), b.parse()) {
            (Ok(x), Ok(y)) => (x, y),
            _ => return Err(bad("range bounds are not numbers")),
        };
        if x > y {
            return Err(bad("range runs backwards"));
        }
        if y - x > 1_000_000 {
            return Err(bad("range too large"));
        }
        (x..=y).map(|n| format!("{n:0w$}", w = a.len())).collect()
    } else {
        body.split(',').map(str::to_string).collect()
    };
    let rest = expand_braces(tail)?;
    let mut out = Vec::with_capacity(items.len() * rest.len());
    for i in &items {
        for r in &rest {
            out.push(format!("{head}{i}{r}"));
        }
    }
    Ok(out)
}

/// The folder holding `p` (`.` for a bare file name).
pub(super) fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(super) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_name_follows_glzn() {
        let s = |n: &str| {
            let (a, b) = split_name(n);
            (a, b)
        };
        assert_eq!(s("dir/x.txt"), ("x".into(), "txt".into()));
        assert_eq!(
            s("multi.dot.name.TXT"),
            ("multi".into(), "dot.name.txt".into())
        );
        assert_eq!(s("UPPER.JPG"), ("UPPER".into(), "jpg".into()));
        assert_eq!(s("noext"), ("noext".into(), "".into()));
        assert_eq!(s("a/b.c/d"), ("d".into(), "".into()));
    }
}
