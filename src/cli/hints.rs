//! Errors that help a newcomer: the closest signal names to a misspelt one, the config inside a
//! directory given as REPO, and the exit codes other than 2.

use std::fmt;
use std::path::{Path, PathBuf};

use inframed::{Catalog, SignalInfo};

/// Exit code: `get` asked for a pid that is not in the repository.
pub(crate) const EXIT_UNKNOWN_PID: u8 = 3;
/// Exit code: `get` asked for a pid that is in the repository but has no elements of the
/// signal (or none inside `--from`/`--to`).
pub(crate) const EXIT_NO_ELEMENTS: u8 = 4;

/// An error with its own exit code (instead of 2); `main` prints it as any other.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The process exit code.
    pub code: u8,
    /// What to print after `error: `.
    pub message: String,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The signal `name`, or an error naming up to three close names and saying that names are
/// case-sensitive.
pub(crate) fn signal<'a>(catalog: &'a Catalog, name: &str) -> anyhow::Result<&'a SignalInfo> {
    if let Ok(info) = catalog.signal(name) {
        return Ok(info);
    }
    let names: Vec<&str> = catalog.signals().iter().map(|s| s.name.as_str()).collect();
    let close = closest(name, &names);
    let hint = if close.is_empty() {
        "`inframed info REPO` lists them".to_string()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    anyhow::bail!("unknown signal {name:?} (names are case-sensitive; {hint})")
}

/// Up to three of `names` closest to `wanted`: case-insensitive equality first, then by edit
/// distance (case-insensitive) within a third of the name's length (at least 2), then names
/// containing it.
pub(crate) fn closest<'a>(wanted: &str, names: &[&'a str]) -> Vec<&'a str> {
    let w = wanted.to_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = names
        .iter()
        .filter_map(|&n| {
            let l = n.to_lowercase();
            let d = if l == w {
                0
            } else {
                let d = edit_distance(&w, &l);
                if d <= limit {
                    d
                } else if !w.is_empty() && (l.contains(&w) || w.contains(&l)) {
                    limit + 1
                } else {
                    return None;
                }
            };
            Some((d, n))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The path to open for a REPO argument: `path` itself, unless it is a directory that is not a
/// container (no TRX `header.json`, no tar shards) — then the one `*.repository` config inside
/// it; with several, an error listing them; with none, the path as given (the library's error
/// then says what was tried).
pub(crate) fn repo_path(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_dir() || inframed::backend::detect(path).is_ok() {
        return Ok(path.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(path.to_path_buf());
    };
    let mut configs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "repository"))
        .collect();
    configs.sort();
    match configs.len() {
        0 => Ok(path.to_path_buf()),
        1 => Ok(configs.pop().expect("one")),
        _ => anyhow::bail!(
            "{} is a directory holding {} repository configs; give one of them: {}",
            path.display(),
            configs.len(),
            configs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names() {
        let names = ["Hemoglobin", "GENDER", "BDATE", "DIAGNOSIS", "Glucose"];
        assert_eq!(closest("hemoglobin", &names), ["Hemoglobin"]);
        assert_eq!(closest("Hemoglobn", &names), ["Hemoglobin"]);
        assert_eq!(closest("gender", &names), ["GENDER"]);
        assert_eq!(closest("DIAG", &names), ["DIAGNOSIS"]);
        assert!(closest("xyzzy_nothing", &names).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
