//! [`add_signal`]: one more signal in an existing MODE 3 repository, in place and safely for
//! readers that have it open.

use crate::error::InputError;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::atomic::{leftover_warning, temporaries_in, temporaries_of, Staged};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::pids::PidList;
use crate::native::transpose::pid_idx_path;
use crate::native::{pids_path, signal_paths, write_pids};
use crate::native::{NativeConfig, NativeStore};
use crate::store::SignalStore;
use crate::text::config::{fixed_signal_name, RepositoryConfig};
use crate::text::signals::SignalsFile;

use super::memory::sort_by_time;
use super::metadata::sanitize;
use super::mode3::{check_pid, SignalFile};
use super::out::{put, Budget, Out};
use super::transpose::{check_transpose_targets, chunk_plan, stage_transpose};

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
    /// Replace files already at this signal's paths (`<PREFIX>_<name>.data`/`.idx`,
    /// `dicts/dict.<name>`) although no `SIGNAL` file names the signal: files an interrupted
    /// `add_signal` left, or a signal a later `LOAD_ONLY` convert's signals file dropped.
    /// Off by default: then such a file is refused ([`Error::Occupied`]), since nothing
    /// proves inframed wrote it.
    pub force: bool,
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
            force: false,
        }
    }

    /// This signal with [`NewSignal::force`] set: files at its paths are replaced.
    pub fn forced(mut self) -> NewSignal {
        self.force = true;
        self
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
/// (and dictionary) are written as new files first, and the pid list, the config (if a
/// dictionary was added), the signals file and a by-pid transpose rebuilt for the new signal
/// set under temporary names; then, by renames only, the old transpose's `.pid_idx` is
/// removed, the pid list, config and signals file (which publishes the signal) are renamed
/// into place, and last the new transpose (chunks, then `.pid_idx`). Readers that opened the
/// repository before keep their view; readers opening after see the signal (and, between the
/// two renames of the transpose, no transpose: patients are read signal by signal).
///
/// Returns warnings naming what an earlier, interrupted `add_signal` left (temporaries
/// `<file>.tmp.<pid>.<n>` beside the files it writes; files of a signal no `SIGNAL` file
/// names), which it never removes.
///
/// Vectors are sorted by time (stable); pids not yet in `_all_pids.list` are added to it.
///
/// A config with several `SIGNAL` lines: the signal line is appended to the **last** `SIGNAL`
/// file (the one [`RepositoryConfig::signals`](crate::text::config::RepositoryConfig::signals)
/// names); its name and sid must be new across all of them.
///
/// # Errors
/// [`Error::InvalidInput`] (name, file name or sid already used; bad type field; partial
/// elements), [`Error::Unsupported`] (not MODE 3), [`Error::Occupied`] (a file named like a
/// transpose file that is not one; without [`NewSignal::force`], a file already at one of
/// the signal's paths), I/O errors. On error (a full disk included) the
/// repository is unchanged for readers, its transpose included (files written before the
/// failure are removed when unreferenced).
pub fn add_signal(
    config: impl AsRef<Path>,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
) -> Result<Vec<String>> {
    add_signal_inner(config.as_ref(), signal, elements, None)
}

/// [`add_signal`] with a fault-injection budget (tests; feature `testing`).
#[cfg(feature = "testing")]
pub fn add_signal_with(
    config_path: &Path,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
    fail_after: Option<u64>,
) -> Result<Vec<String>> {
    add_signal_inner(config_path, signal, elements, fail_after)
}

fn add_signal_inner(
    config_path: &Path,
    signal: &NewSignal,
    elements: impl IntoIterator<Item = (Pid, Vec<u8>)>,
    fail_after: Option<u64>,
) -> Result<Vec<String>> {
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
    let leftovers = leftovers(&config, config_path, &catalog, &prefix, &fixed);
    if let Some(s) = catalog
        .signals()
        .iter()
        .find(|s| fixed_signal_name(&s.name) == fixed || s.sid == signal.sid)
    {
        return Err(InputError::SignalClash {
            name: signal.name.clone(),
            sid: signal.sid,
            existing: s.name.clone(),
            existing_sid: s.sid,
        }
        .into());
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
        .ok_or_else(|| Error::Internal {
            what: "the new signal's line, parsed back",
            detail: format!("signal {} is not in it", signal.name),
        })?;
    // Elements, per pid, time-sorted.
    let mut by_pid: BTreeMap<Pid, Vec<u8>> = BTreeMap::new();
    for (pid, bytes) in elements {
        check_pid(pid)?;
        info.check_whole(pid, &bytes)?;
        if !bytes.is_empty() {
            by_pid.entry(pid).or_default().extend_from_slice(&bytes);
        }
    }
    let budget = Budget::new(fail_after);
    let (data_path, idx_path) = signal_paths(&prefix, &signal.name);
    let dict_path = signal
        .dictionary
        .as_ref()
        .map(|_| config.metadata_dir.join(dict_rel(&fixed)));
    // No signal names these paths, but something is there: never replaced unasked.
    if !signal.force {
        let taken = [Some(&data_path), Some(&idx_path), dict_path.as_ref()];
        if let Some(path) = taken.into_iter().flatten().find(|p| p.exists()) {
            return Err(Error::Occupied {
                path: path.clone(),
                what: format!(
                    "a file of signal {}, which no SIGNAL file names (left by an interrupted \
                     add_signal, a LOAD_ONLY convert whose signals file dropped the signal, or \
                     written by someone else)",
                    signal.name
                ),
                kind: "a file this add_signal wrote (NewSignal::force is the --force)",
            });
        }
    }
    let list_path = pids_path(&prefix);
    // The pid list with the new signal's patients (`None`: no new patient).
    let all_pids: Option<Vec<Pid>> = {
        let list = PidList::parse(&list_path, crate::mmap::map(&list_path)?)?;
        let old: &[Pid] = list.as_slice();
        by_pid
            .keys()
            .any(|p| old.binary_search(p).is_err())
            .then(|| {
                let mut all: BTreeSet<Pid> = old.iter().copied().collect();
                all.extend(by_pid.keys().copied());
                all.into_iter().collect()
            })
    };
    // A by-pid transpose is rebuilt for the new signal set: its files must be ours.
    let transpose = pid_idx_path(&prefix).exists();
    if transpose {
        let n = match &all_pids {
            Some(p) => chunk_plan(p).2,
            None => {
                let list = PidList::parse(&list_path, crate::mmap::map(&list_path)?)?;
                chunk_plan(list.as_slice()).2
            }
        };
        check_transpose_targets(&prefix, n, false)?;
    }
    let mut created: Vec<PathBuf> = Vec::new();
    let mut staged = Staged::default();
    let result = (|| -> Result<()> {
        // 1. Files nothing names yet: the dictionary (unless already listed), the signal's
        // `.data`/`.idx`, renamed into place; the pid list, the config, the signals file and
        // the transpose staged under temporary names. A full disk or a kill here leaves every
        // published file as it was.
        let mut config_text = None;
        if let (Some(dict), Some(path)) = (&signal.dictionary, &dict_path) {
            let rel = dict_rel(&fixed);
            let path = path.clone();
            // Already listed (an earlier attempt failed after publishing the config; with
            // `force` only): the section is unused until the signal exists.
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
        let mut file = SignalFile::start(&info, Out::atomic(&data_path, &budget)?)?;
        for (pid, bytes) in &by_pid {
            file.push(*pid, &sort_by_time(&info.layout, bytes))?;
        }
        let (data, idx_bytes) = file.into_parts();
        data.commit()?;
        created.push(data_path.clone());
        let mut idx = Out::atomic(&idx_path, &budget)?;
        idx.write(&idx_bytes)?;
        idx.commit()?;
        created.push(idx_path.clone());
        let stage = |staged: &mut Staged, target: &Path, bytes: &[u8]| -> Result<()> {
            let tmp = staged.name(target);
            put(&tmp, bytes, &budget)
        };
        if let Some(all) = &all_pids {
            stage(&mut staged, &list_path, &write_pids(all))?;
        }
        if let Some(text) = &config_text {
            stage(&mut staged, config_path, text.as_bytes())?;
        }
        stage(&mut staged, &signals_path, &new_text)?;
        let new_transpose = if transpose {
            let files: Vec<(&Path, &str)> = texts.iter().map(|(p, t)| (*p, t.as_str())).collect();
            let signals = SignalsFile::parse_files(&files, config.time_unit)?;
            let catalog = Catalog::new(signals, Default::default(), config.time_unit)?;
            let store = NativeStore::open(catalog, &prefix, Vec::new())?;
            let view = NewPids {
                store: &store,
                pids: all_pids.as_deref(),
            };
            Some(stage_transpose(&view, &prefix, &budget)?)
        } else {
            None
        };
        // 2. The publish, renames only: the old `.pid_idx` goes first (a reader opening
        // from now until the new one is in place reads patients signal by signal), then the
        // pid list, the config, the signals file (which publishes the signal) and the new
        // transpose, chunks before its `.pid_idx`.
        if let Some(t) = &new_transpose {
            t.retire_old()?;
        }
        staged.publish(&list_path)?;
        // Past this point the new files may be referenced: keep them whatever happens.
        created.clear();
        staged.publish(config_path)?;
        staged.publish(&signals_path)?;
        if let Some(t) = new_transpose {
            t.publish()?;
        }
        Ok(())
    })();
    if result.is_err() {
        for p in &created {
            let _ = fs::remove_file(p);
        }
    }
    result.map(|()| leftovers)
}

/// A store with another pid list (the new one, not yet published).
#[derive(Debug)]
struct NewPids<'a> {
    store: &'a NativeStore,
    pids: Option<&'a [Pid]>,
}

impl SignalStore for NewPids<'_> {
    fn catalog(&self) -> &Catalog {
        self.store.catalog()
    }
    fn pids(&self) -> &[Pid] {
        self.pids.unwrap_or_else(|| self.store.pids())
    }
    fn get_bytes(&self, pid: Pid, sid: Sid) -> Result<Cow<'_, [u8]>> {
        self.store.get_bytes(pid, sid)
    }
}

/// What an earlier, killed `add_signal` left, as warnings (named, never removed: they may
/// belong to one still running): temporaries (`<name>.tmp.<pid>.<n>`) beside the files
/// `add_signal` writes (under `PREFIX`, the config, the signals files, `dicts/dict.*`), and
/// the files of a signal that no `SIGNAL` file names (`<PREFIX>_<name>.data`/`.idx`, its
/// unlisted `dicts/dict.<name>`), except those of `current`, which this run replaces.
fn leftovers(
    config: &RepositoryConfig,
    config_path: &Path,
    catalog: &Catalog,
    prefix: &Path,
    current: &str,
) -> Vec<String> {
    let mut temps: Vec<PathBuf> = Vec::new();
    let dir = crate::atomic::parent_of(prefix);
    let name = prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let head = format!("{name}_");
    temps.extend(temporaries_in(&dir, |b| b.starts_with(&head)));
    temps.extend(temporaries_of(config_path));
    for f in &config.signals_files {
        temps.extend(temporaries_of(f));
    }
    let dicts = config.metadata_dir.join("dicts");
    temps.extend(temporaries_in(&dicts, |b| b.starts_with("dict.")));
    temps.sort();
    temps.dedup();
    let mut out: Vec<String> = temps
        .iter()
        .map(|p| leftover_warning(p, "add_signal"))
        .collect();
    // Files of a signal nothing names.
    let orphans = unlisted_signal_files(prefix, catalog, current);
    for (sig, mut files) in orphans {
        let dict = dicts.join(format!("dict.{}", sanitize(&sig)));
        if dict.is_file() && !config.dictionaries.contains(&dict) {
            files.push(dict);
        }
        files.sort();
        for f in files {
            out.push(format!(
                "{}: a file of signal {sig}, which no SIGNAL file names: left by an \
                 interrupted (or concurrent) add_signal, or kept by a LOAD_ONLY convert whose \
                 signals file dropped it; safe to remove when no add_signal is running",
                f.display()
            ));
        }
    }
    out
}

/// The files of signals that `catalog` does not name, by signal (file name form): the
/// `<PREFIX>_<name>.data`/`.idx` beside `prefix`, except those of `except`. Shared by
/// `add_signal` (as leftovers) and a `LOAD_ONLY` convert (files it kept).
pub(crate) fn unlisted_signal_files(
    prefix: &Path,
    catalog: &Catalog,
    except: &str,
) -> BTreeMap<String, Vec<PathBuf>> {
    let dir = crate::atomic::parent_of(prefix);
    let head = format!(
        "{}_",
        prefix
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let known: BTreeSet<String> = catalog
        .signals()
        .iter()
        .map(|s| fixed_signal_name(&s.name))
        .chain([except.to_string()])
        .collect();
    let mut orphans: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&head) else {
            continue;
        };
        let Some(sig) = rest
            .strip_suffix(".data")
            .or_else(|| rest.strip_suffix(".idx"))
        else {
            continue;
        };
        if !sig.is_empty() && !known.contains(sig) {
            orphans.entry(sig.into()).or_default().push(e.path());
        }
    }
    orphans
}

/// The path of a new signal's dictionary, relative to the metadata directory.
fn dict_rel(fixed: &str) -> String {
    format!("dicts/dict.{}", sanitize(fixed))
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
