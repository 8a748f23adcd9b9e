//! What a killed writer leaves behind, found on the next run so that it can be named (never
//! removed: the file may belong to a writer still running, and no writer removes what it did
//! not write).
//!
//! Only names our writers create are matched:
//! - `<name>.tmp.<pid>.<n>` ([`super::temp_name`]: every [`super::AtomicFile`],
//!   [`super::AtomicDir`] and staged file), with decimal `<pid>` and `<n>`;
//! - `<prefix><6 letters or digits>`, the names `tempfile` gives with one of our prefixes
//!   (`.inframed-sort`, `.iac-data.tmp.`, …).
//!
//! A temporary of the current process (its pid) is never listed: it is this run's own.

use std::fs;
use std::path::{Path, PathBuf};

/// `name` as `<base>.tmp.<pid>.<n>` ([`super::temp_name`]): `(base, pid)`.
fn temp_base(name: &str) -> Option<(&str, u32)> {
    let (rest, n) = name.rsplit_once('.')?;
    let (rest, pid) = rest.rsplit_once('.')?;
    let base = rest.strip_suffix(".tmp")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if base.is_empty() || !digits(n) || !digits(pid) {
        return None;
    }
    Some((base, pid.parse().ok()?))
}

/// `name` is `<prefix>` and 6 ASCII letters or digits (a `tempfile` name).
fn is_tempfile_name(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|r| r.len() == 6 && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The directory `target` is in (`.` for a bare name).
pub(crate) fn parent_of(target: &Path) -> PathBuf {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Entries of `dir` (files or directories) named `<base>.tmp.<pid>.<n>` of another process,
/// where `base` satisfies `ours`; sorted. An unreadable or absent `dir` gives none.
pub fn temporaries_in(dir: &Path, ours: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let me = std::process::id();
    matching(dir, |n| {
        temp_base(n).is_some_and(|(base, pid)| pid != me && ours(base))
    })
}

/// The temporaries a killed writer of `target` left beside it: `<target>.tmp.<pid>.<n>`
/// (a staging directory, a file being written, an old tree being removed).
pub fn temporaries_of(target: &Path) -> Vec<PathBuf> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    temporaries_in(&parent_of(target), |base| base == name)
}

/// Entries of `dir` named `<prefix>` and 6 letters or digits, for one of `prefixes` (the
/// temporary files and directories made with `tempfile` under those prefixes); sorted.
pub fn tempfiles_in(dir: &Path, prefixes: &[&str]) -> Vec<PathBuf> {
    matching(dir, |n| prefixes.iter().any(|p| is_tempfile_name(n, p)))
}

fn matching(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| keep(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// The warning naming a leftover of an interrupted `writer` (e.g. `"conversion"`).
pub fn leftover_warning(path: &Path, writer: &str) -> String {
    format!(
        "{}: temporary output of an interrupted (or concurrent) {writer}; \
         safe to remove when no {writer} is running",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_match() {
        assert_eq!(temp_base("out.tmp.123.0"), Some(("out", 123)));
        assert_eq!(temp_base("a.b.tmp.7.12"), Some(("a.b", 7)));
        for n in [
            "out.tmp",
            "out.tmp.1",
            "out.tmp.x.1",
            "out.tmp.1.",
            ".tmp.1.2",
            "out.tmp.1.2.bak",
            "out.tmpx.1.2",
            "out.1.2",
        ] {
            assert_eq!(temp_base(n), None, "{n}");
        }
        assert!(is_tempfile_name(".inframed-sortAb12Z9", ".inframed-sort"));
        assert!(!is_tempfile_name(".inframed-sort-mine", ".inframed-sort"));
        assert!(!is_tempfile_name(".inframed-sortAb12Z", ".inframed-sort"));
    }

    #[test]
    fn leftovers_beside_a_target() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let me = std::process::id();
        for n in [
            "out",
            "out.tmp.4000001.0",
            "out.tmp.4000001.1",
            "out.tmp.notes",
            "out2.tmp.4000001.0",
            "out.tmp.4000001.0.old",
        ] {
            fs::write(d.path().join(n), b"").unwrap();
        }
        fs::create_dir(d.path().join("out.tmp.4000002.3")).unwrap();
        fs::write(d.path().join(format!("out.tmp.{me}.0")), b"").unwrap();
        let names: Vec<String> = temporaries_of(&out)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "out.tmp.4000001.0",
                "out.tmp.4000001.1",
                "out.tmp.4000002.3"
            ]
        );
        fs::write(d.path().join(".iac-data.tmp.aB3xY9"), b"").unwrap();
        fs::write(d.path().join(".iac-data.tmp.mine.txt"), b"").unwrap();
        assert_eq!(
            tempfiles_in(d.path(), &[".iac-data.tmp."]),
            [d.path().join(".iac-data.tmp.aB3xY9")]
        );
        let w = leftover_warning(&d.path().join("out.tmp.4000001.0"), "export");
        assert!(w.contains("out.tmp.4000001.0: temporary output of an interrupted"));
        assert!(
            w.contains("safe to remove when no export is running"),
            "{w}"
        );
    }
}
