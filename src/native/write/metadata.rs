//! The texts of a MODE 3 repository (description, signals file, dictionaries, config) and the
//! names and options of one to write.

use crate::error::{InputError, MetadataProblem};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::text::config::RepositoryConfig;
use crate::text::dict::DictEvent;
use crate::text::signals::SignalsFile;
use crate::time::TimeUnit;

use super::out::{put, Budget};

/// The text files of a repository besides its binary data: description, time unit, the
/// signals file and the dictionaries, with the relative paths the config names them by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// `DESCRIPTION` (the original keeps only its first word).
    pub description: String,
    /// `TIMEUNIT`.
    pub time_unit: TimeUnit,
    /// Relative paths of the signals files (one `SIGNAL` line each, in the config's order;
    /// the original reads every one of them as one table); each must be one of `files`.
    pub signals_files: Vec<String>,
    /// `(relative path, bytes)` of the signals file and every dictionary, in `DICTIONARY`
    /// order (the original loader lists the signals file first).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Metadata {
    /// Texts regenerated from a catalog: `<name>.signals`, then one `dicts/dict.<section>`
    /// per dictionary section (a `DEFAULT` section that only repeats the signals file is
    /// left out: the signals file is read as a dictionary anyway).
    ///
    /// # Errors
    /// An invalid dictionary of the catalog ([`Catalog::dictionaries`]: a repository's are
    /// parsed on first use, here).
    pub fn from_catalog(name: &str, catalog: &Catalog) -> Result<Metadata> {
        let signals_file = format!("{}.signals", sanitize(name));
        let mut files = vec![(signals_file.clone(), catalog.signals_text().into_bytes())];
        let mut used = BTreeSet::new();
        for section in catalog.dictionaries()?.sections() {
            let only_signals = section.events().iter().all(|e| match e {
                DictEvent::Def(code, n) => catalog
                    .signal(n)
                    .is_ok_and(|s| s.sid.0 as i64 == *code as i64),
                DictEvent::Set(..) => false,
            });
            if only_signals {
                continue;
            }
            let base = format!("dicts/dict.{}", sanitize(&section.names()[0]));
            let mut rel = base.clone();
            let mut n = 1;
            while !used.insert(rel.clone()) {
                n += 1;
                rel = format!("{base}_{n}");
            }
            files.push((rel, section.to_text().into_bytes()));
        }
        Ok(Metadata {
            description: name.to_string(),
            time_unit: catalog.time_unit(),
            signals_files: vec![signals_file],
            files,
        })
    }

    /// The texts of an existing repository config, copied byte for byte. Paths outside the
    /// config's metadata directory are re-homed under `dicts/`. Every `SIGNAL` file is kept
    /// (a config with several lists them all, as the original reads them all); a `SIGNAL`
    /// file that is not also a `DICTIONARY` is copied too, after the dictionaries.
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`] (the config), [`Error::Unsupported`] (no `SIGNAL` line).
    pub fn from_config(config: &RepositoryConfig) -> Result<Metadata> {
        if config.signals_files.is_empty() {
            return Err(Error::Unsupported {
                path: config.path.clone(),
                what: "repository config without a SIGNAL line".into(),
            });
        }
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut rels: Vec<(&Path, String)> = Vec::new();
        let extra = config
            .signals_files
            .iter()
            .filter(|s| !config.dictionaries.contains(s));
        for path in config.dictionaries.iter().chain(extra) {
            let mut rel = relative_inside(path, &config.metadata_dir).unwrap_or_else(|| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "dict".into());
                format!("dicts/{}", sanitize(&name))
            });
            while files.iter().any(|(r, _)| *r == rel) {
                rel.push('_');
            }
            let bytes = fs::read(path).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
            rels.push((path, rel.clone()));
            files.push((rel, bytes));
        }
        let signals_files = config
            .signals_files
            .iter()
            .filter_map(|s| rels.iter().find(|(p, _)| p == s).map(|(_, r)| r.clone()))
            .collect();
        let description = config
            .description
            .split(['\t', ' '])
            .next()
            .unwrap_or("")
            .to_string();
        Ok(Metadata {
            description,
            time_unit: config.time_unit,
            signals_files,
            files,
        })
    }

    /// The `.repository` text MedConvert writes for MODE 3 (`DIR .`).
    pub fn config_text(&self, prefix: &str) -> String {
        let dictionaries: Vec<&str> = self.files.iter().map(|(rel, _)| rel.as_str()).collect();
        ConfigText {
            description: Some(&self.description),
            dir: ".",
            dictionaries: &dictionaries,
            signals: &self.signals(),
            mode: 3,
            prefix: Some(prefix),
            layout_lines: &[],
            time_unit: self.time_unit.code() as i64,
        }
        .to_text()
    }

    /// The signals files' relative paths, as `&str`s (for [`ConfigText::signals`]).
    pub(crate) fn signals(&self) -> Vec<&str> {
        self.signals_files.iter().map(String::as_str).collect()
    }

    pub(crate) fn write_files(&self, dir: &Path, budget: &Budget) -> Result<()> {
        for (rel, bytes) in &self.files {
            put(&dir.join(rel), bytes, budget)?;
        }
        Ok(())
    }
}

/// The lines of a `.repository` config, as MedConvert's `create_repository_config` writes
/// them: the one config-text writer of every writer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConfigText<'a> {
    /// `DESCRIPTION` (no line when `None`).
    pub description: Option<&'a str>,
    /// `DIR` (`.` for a relocatable repository).
    pub dir: &'a str,
    /// One `DICTIONARY` line each.
    pub dictionaries: &'a [&'a str],
    /// One `SIGNAL` line each, in order.
    pub signals: &'a [&'a str],
    /// `MODE`.
    pub mode: i64,
    /// `PREFIX` (no line when `None`).
    pub prefix: Option<&'a str>,
    /// Lines of a legacy layout after `PREFIX` (`DATA <fno> <file>`, `INDEX <file>`).
    pub layout_lines: &'a [String],
    /// `TIMEUNIT` code.
    pub time_unit: i64,
}

impl ConfigText<'_> {
    /// The config text.
    pub(crate) fn to_text(self) -> String {
        let mut out = String::new();
        if let Some(d) = self.description {
            out.push_str(&format!("DESCRIPTION\t{d}\n"));
        }
        out.push_str(&format!("DIR\t{}\n", self.dir));
        for rel in self.dictionaries {
            out.push_str(&format!("DICTIONARY\t{rel}\n"));
        }
        for rel in self.signals {
            out.push_str(&format!("SIGNAL\t{rel}\n"));
        }
        out.push_str(&format!("MODE\t{}\n", self.mode));
        if let Some(p) = self.prefix {
            out.push_str(&format!("PREFIX\t{p}\n"));
        }
        for line in self.layout_lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!("TIMEUNIT\t{}\n", self.time_unit));
        out
    }
}

/// `path` relative to `base` when it lies inside it, with only normal components.
pub(crate) fn relative_inside(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// A file-name-safe form of a name (letters, digits, `_-.%#` kept; others become `_`).
pub(crate) fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.%#".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// Names and options of a MODE 3 repository to write.
#[derive(Clone, Debug)]
pub struct Mode3Options {
    /// Config file stem: `<name>.repository`.
    pub name: String,
    /// `PREFIX`, relative to the output directory (default `data/<name>_rep`).
    pub prefix: String,
    /// Texts (signals file, dictionaries, description).
    pub metadata: Metadata,
    /// Also write the by-pid transpose (`__pids__<k>.pid_data` + `__pids__all.pid_idx`).
    pub transpose: bool,
    /// Test hook (feature `testing`): fail with an I/O error after this many bytes.
    #[cfg(feature = "testing")]
    pub fail_after: Option<u64>,
    /// Replace an `out` that is not a previous repository (default: refuse it,
    /// [`Error::Occupied`]).
    pub force: bool,
}

impl Mode3Options {
    /// Options for a repository `<name>.repository` with texts regenerated from `catalog`.
    ///
    /// # Errors
    /// As [`Metadata::from_catalog`].
    pub fn new(name: &str, catalog: &Catalog) -> Result<Mode3Options> {
        let name = sanitize(name);
        Ok(Mode3Options {
            prefix: format!("data/{name}_rep"),
            metadata: Metadata::from_catalog(&name, catalog)?,
            name,
            transpose: false,
            #[cfg(feature = "testing")]
            fail_after: None,
            force: false,
        })
    }

    /// Options that reproduce an existing config's name, `PREFIX` and texts byte for byte.
    ///
    /// # Errors
    /// As [`Metadata::from_config`].
    pub fn from_config(config: &RepositoryConfig) -> Result<Mode3Options> {
        let name = config
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        let prefix = if relative_inside(&config.prefix_path(), &config.dir).is_some() {
            config.prefix.clone()
        } else {
            format!("data/{}_rep", sanitize(&name))
        };
        Ok(Mode3Options {
            name: sanitize(&name),
            prefix,
            metadata: Metadata::from_config(config)?,
            transpose: false,
            #[cfg(feature = "testing")]
            fail_after: None,
            force: false,
        })
    }
}

/// The signals files of `meta`, read together as one table, must define the catalog's
/// signals (name, sid, layout).
pub(crate) fn check_metadata(meta: &Metadata, catalog: &Catalog) -> Result<()> {
    let mut texts: Vec<(&Path, String)> = Vec::new();
    for rel in &meta.signals_files {
        let (_, text) = meta
            .files
            .iter()
            .find(|(r, _)| r == rel)
            .ok_or_else(|| InputError::Metadata(MetadataProblem::MissingFile(rel.clone())))?;
        texts.push((Path::new(rel), String::from_utf8_lossy(text).into_owned()));
    }
    let names = meta.signals_files.join(", ");
    if texts.is_empty() {
        return Err(InputError::Metadata(MetadataProblem::NoSignalsFile).into());
    }
    let files: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let parsed = SignalsFile::parse_files(&files, meta.time_unit)?;
    let same = parsed.signals.len() == catalog.signals().len()
        && parsed.signals.iter().all(|s| {
            catalog
                .signal(&s.name)
                .is_ok_and(|c| c.sid == s.sid && c.layout == s.layout)
        });
    if !same {
        return Err(InputError::Metadata(MetadataProblem::SignalsDiffer(names)).into());
    }
    Ok(())
}
