//! [`add_signal`]: one more signal in an existing MODE 3 repository, in place and safely for
//! readers that have it open.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::pids::PidList;
use crate::native::NativeConfig;
use crate::native::{pids_path, signal_paths, write_pids};
use crate::text::config::fixed_signal_name;
use crate::text::signals::SignalsFile;

use super::memory::sort_by_time;
use super::metadata::sanitize;
use super::mode3::{check_elements, check_pid, SignalFile};
use super::out::{Budget, Out};

/// A signal to add to an existing repository (a calculated or cleaned signal).
#[derive(Clone, Debug)]
pub struct NewSignal {
    /// Name (must be new, and its file name form too).
    pub name: String,
    /// Signal id (must be new; < 100,000 for the original tools).
    pub sid: Sid,
    /// Type field as in the signals file: `16:<spec or alias>`, a legacy number, or a spec.
    pub type_field: String,
    /// Description field.
    pub description: String,
    /// Categorical bitmap (`0`/`1` per value channel; empty: none).
    pub categorical: String,
    /// Units field.
    pub units: String,
    /// Dictionary text (a `SECTION <name>` with its `DEF`s) for categorical channels; written
    /// as `dicts/dict.<name>` and added to the config.
    pub dictionary: Option<String>,
}

impl NewSignal {
    /// A non-categorical signal of the given type field (e.g. `16:T(i),V(f)`).
    pub fn new(name: &str, sid: Sid, type_field: &str) -> NewSignal {
        NewSignal {
            name: name.into(),
            sid,
            type_field: type_field.into(),
            description: String::new(),
            categorical: String::new(),
            units: String::new(),
            dictionary: None,
        }
    }

    fn line(&self) -> String {
        format!(
            "SIGNAL\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name, self.sid, self.type_field, self.description, self.categorical, self.units
        )
    }
}

/// Adds `signal` with `elements` (per pid, whole elements) to the MODE 3 repository of
/// `config`, atomically and safely for readers that have it open: the `.data`/`.idx` pair
/// (and dictionary, pid list) are written as new files first, then the config (if a
/// dictionary was added) and finally the signals file are replaced by rename. Readers that
/// opened the repository before keep their view; readers opening after see the signal.
/// A by-pid transpose, which would no longer hold every signal, is removed (rebuild it with
/// [`crate::native::write::build_transpose`]).
///
/// Vectors are sorted by time (stable); pids not yet in `_all_pids.list` are added to it.
///
/// A config with several `SIGNAL` lines: the signal line is appended to the **last** `SIGNAL`
/// file (the one [`RepositoryConfig::signals`](crate::text::config::RepositoryConfig::signals)
/// names); its name and sid must be new across all of them.
///
/// # Errors
/// [`Error::InvalidInput`] (name, file name or sid already used; bad type field; partial
/// elements), [`Error::Unsupported`] (not MODE 3), I/O errors. On error the repository is
/// unchanged for readers (files written before the failure are removed when unreferenced).
pub fn add_signal(
    config: impl AsRef<Path>,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
) -> Result<()> {
    add_signal_with(config.as_ref(), signal, elements, None)
}

/// [`add_signal`] with a fault-injection budget (tests).
#[doc(hidden)]
pub fn add_signal_with(
    config_path: &Path,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
    fail_after: Option<u64>,
) -> Result<()> {
    let NativeConfig {
        config,
        catalog,
        prefix,
        ..
    } = NativeConfig::read_mode3(config_path, "adding a signal to")?;
    // A config may list several SIGNAL files (the original reads them all as one table):
    // the new signal is appended to the last one, the file the original's `SIGNAL` keeps
    // as "the" signals file, and the catalog of every file is checked for clashes.
    let signals_path = config.signals.clone().ok_or_else(|| Error::Unsupported {
        path: config_path.into(),
        what: "repository config without a SIGNAL line".into(),
    })?;
    let fixed = fixed_signal_name(&signal.name);
    if let Some(s) = catalog
        .signals()
        .iter()
        .find(|s| fixed_signal_name(&s.name) == fixed || s.sid == signal.sid)
    {
        return Err(Error::InvalidInput {
            what: format!(
                "signal {} (sid {}) clashes with existing signal {} (sid {})",
                signal.name, signal.sid, s.name, s.sid
            ),
        });
    }
    // The new signals file must parse, with the new signal resolved like the others.
    let old_text = fs::read(&signals_path).map_err(|source| Error::Open {
        path: signals_path.clone(),
        source,
    })?;
    let mut new_text = old_text.clone();
    if !new_text.is_empty() && !new_text.ends_with(b"\n") {
        new_text.push(b'\n');
    }
    new_text.extend_from_slice(signal.line().as_bytes());
    new_text.push(b'\n');
    // Every SIGNAL file, the last one with the new line: one table, as the catalog reads it
    // (a name or sid defined in an earlier file is refused there too).
    let mut texts: Vec<(&Path, String)> = Vec::new();
    for path in &config.signals_files {
        let text = if *path == signals_path {
            String::from_utf8_lossy(&new_text).into_owned()
        } else {
            crate::text::read_text(path)?
        };
        texts.push((path.as_path(), text));
    }
    let files: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let parsed = SignalsFile::parse_files(&files, config.time_unit)?;
    let info = parsed
        .signals
        .into_iter()
        .find(|s| s.name == signal.name)
        .ok_or_else(|| Error::InvalidInput {
            what: format!("signal {} did not parse", signal.name),
        })?;
    // Elements, per pid, time-sorted.
    let mut by_pid: BTreeMap<Pid, Vec<u8>> = BTreeMap::new();
    for (pid, bytes) in elements {
        check_pid(pid)?;
        check_elements(&info, pid, &bytes)?;
        if !bytes.is_empty() {
            by_pid.entry(pid).or_default().extend_from_slice(&bytes);
        }
    }
    let budget = Budget::new(fail_after);
    let mut created: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        let mut config_text = None;
        if let Some(dict) = &signal.dictionary {
            let rel = format!("dicts/dict.{}", sanitize(&fixed));
            let path = config.metadata_dir.join(&rel);
            // Already listed (an earlier attempt failed after publishing the config): the
            // section is unused until the signal exists, so replacing the file is safe.
            let listed = config.dictionaries.contains(&path);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|source| Error::Open {
                    path: parent.into(),
                    source,
                })?;
            }
            let mut out = Out::atomic(&path, &budget)?;
            out.write(dict.as_bytes())?;
            out.commit()?;
            if !listed {
                created.push(path);
                config_text = Some(with_dictionary_line(config_path, &rel)?);
            }
        }
        let (data_path, idx_path) = signal_paths(&prefix, &signal.name);
        let mut file = SignalFile::start(&info, Out::atomic(&data_path, &budget)?)?;
        for (pid, bytes) in &by_pid {
            file.push(*pid, &sort_by_time(&info.layout, bytes))?;
        }
        let (data, idx_bytes) = file.into_parts();
        data.commit()?;
        created.push(data_path);
        let mut idx = Out::atomic(&idx_path, &budget)?;
        idx.write(&idx_bytes)?;
        idx.commit()?;
        created.push(idx_path);
        // Pids not yet in the list.
        let list_path = pids_path(&prefix);
        let list = PidList::parse(&list_path, crate::mmap::map(&list_path)?)?;
        let old: &[Pid] = list.as_slice();
        if by_pid.keys().any(|p| old.binary_search(p).is_err()) {
            let mut all: BTreeSet<Pid> = old.iter().copied().collect();
            all.extend(by_pid.keys().copied());
            let all: Vec<Pid> = all.into_iter().collect();
            let mut out = Out::atomic(&list_path, &budget)?;
            out.write(&write_pids(&all))?;
            out.commit()?;
        }
        drop(list);
        super::remove_transpose(&prefix)?;
        // Past this point the new files are referenced: keep them whatever happens.
        created.clear();
        if let Some(text) = config_text {
            let mut out = Out::atomic(config_path, &budget)?;
            out.write(text.as_bytes())?;
            out.commit()?;
        }
        let mut out = Out::atomic(&signals_path, &budget)?;
        out.write(&new_text)?;
        out.commit()
    })();
    if result.is_err() {
        for p in &created {
            let _ = fs::remove_file(p);
        }
    }
    result
}

/// The config text with `DICTIONARY <rel>` added after the last `DICTIONARY` line.
fn with_dictionary_line(config_path: &Path, rel: &str) -> Result<String> {
    let text = crate::text::read_text(config_path)?;
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let line = format!("DICTIONARY\t{rel}\n");
    let at = lines
        .iter()
        .rposition(|l| l.starts_with("DICTIONARY\t"))
        .map_or(lines.len(), |i| i + 1);
    if at == lines.len() && lines.last().is_some_and(|l| !l.ends_with('\n')) {
        lines.push("\n");
    }
    lines.insert(at.min(lines.len()), &line);
    Ok(lines.concat())
}
