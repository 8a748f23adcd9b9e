//! Writing MODE 0–2 repositories (the original design's layouts).

use crate::error::InputError;
use std::path::{Component, Path, PathBuf};

use crate::atomic::AtomicDir;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::legacy::data::{encode_full_record, FULL_FORMAT, STRIPPED_FORMAT};
use crate::native::legacy::index::{encode_packet, index_file_header};
use crate::native::signal_paths;
use crate::native::write::{check_pid, check_target, put, Budget, ConfigText, Metadata, Out};
use crate::store::SignalStore;

/// What to write: MODE, data-file kind, file grouping, names.
#[derive(Clone, Debug)]
pub struct LegacyOptions {
    /// `MODE` 0, 1 (DATA/INDEX lines, multi-signal files) or 2 (one file pair per signal).
    pub mode: i32,
    /// Full data files (format word 0, per-pid records + `<data>.idx` sidecar of record
    /// starts) instead of stripped ones (format word 1).
    pub full: bool,
    /// Config file stem: `<name>.repository`.
    pub name: String,
    /// MODE 2: `PREFIX` (always written, see the default-prefix trap); MODE 0/1: stem of the
    /// data files, `<prefix>_<fno>.data`/`.idx`.
    pub prefix: String,
    /// MODE 0/1: the signals of each data file (file number = position), in the order their
    /// vectors follow each other in a pid's record. Empty: one file with every signal. A
    /// signal may be left out of every file only if it has no data.
    pub files: Vec<Vec<Sid>>,
    /// MODE 0/1: the file number and path stem (relative to the output, no extension) of each
    /// entry of `files`, as a convert config's `FNAMES` gives them (`<stem>.data` and
    /// `<stem>.idx`). Empty: file number = position, stem `<prefix>_<fno>`.
    pub file_names: Vec<(u16, String)>,
    /// Texts (signals file, dictionaries, description).
    pub metadata: Metadata,
    /// Test hook (feature `testing`): fail with an I/O error after this many bytes.
    #[cfg(feature = "testing")]
    pub fail_after: Option<u64>,
    /// Replace an `out` that is not a previous repository (default: refuse it,
    /// [`crate::Error::Occupied`]).
    pub force: bool,
}

impl LegacyOptions {
    /// MODE `mode` stripped files named after `name`, texts regenerated from `catalog`.
    ///
    /// # Errors
    /// As [`Metadata::from_catalog`].
    pub fn new(mode: i32, name: &str, catalog: &Catalog) -> Result<LegacyOptions> {
        let metadata = Metadata::from_catalog(name, catalog)?;
        let name = metadata.signals_files[0]
            .trim_end_matches(".signals")
            .to_string();
        Ok(LegacyOptions {
            mode,
            full: false,
            prefix: format!("data/{name}"),
            name,
            files: Vec::new(),
            file_names: Vec::new(),
            metadata,
            #[cfg(feature = "testing")]
            fail_after: None,
            force: false,
        })
    }
}

/// Writes `store` as a MODE 0, 1 or 2 repository in the directory `out` (created, or
/// replaced if it holds `<name>.repository`); returns the config path.
///
/// Vectors are written with exact byte positions; in full files, zero padding after a
/// record's table keeps every vector a whole number of elements after byte 4 when the file
/// holds one element size, so the original reader's position units (§8.5) cannot misplace
/// it. MODE 2 configs name `PREFIX` explicitly (the original writer does not, and its reader
/// then looks under `rep`) and also list the files as `DATA`/`INDEX` lines. These layouts
/// have no pid list: a patient without any element is not stored.
///
/// # Errors
/// [`Error::InvalidInput`] (mode not 0–2, a signal in no file or in two, a pid beyond `i32`,
/// data beyond what the 32-bit lengths hold); the store's read errors; I/O errors. On error
/// nothing at `out` has changed.
pub fn write_legacy(
    store: &dyn SignalStore,
    out: &Path,
    options: &LegacyOptions,
) -> Result<PathBuf> {
    let config_name = format!("{}.repository", options.name);
    // Check the options before touching the file system.
    legacy_groups(store, options)?;
    check_target(out, &config_name, &options.prefix, options.force)?;
    let dir = AtomicDir::create(out)?;
    write_legacy_into(store, dir.path(), options).map_err(|e| e.in_target(out))?;
    dir.commit()?;
    Ok(out.join(config_name))
}

/// One data file to write: (file number, data path, index path, signals in record order).
type Group = (u16, String, String, Vec<Sid>);

/// The data files `options` asks for, checked against the store's catalog.
fn legacy_groups(store: &dyn SignalStore, options: &LegacyOptions) -> Result<Vec<Group>> {
    if !(0..=2).contains(&options.mode) {
        return Err(InputError::OutOfRange {
            what: "legacy MODE",
            value: options.mode as i64,
            min: 0,
            max: 2,
        }
        .into());
    }
    let catalog = store.catalog();
    if options.mode == 2 {
        return Ok(catalog
            .signals()
            .iter()
            .enumerate()
            .map(|(pos, s)| {
                let (d, i) = signal_paths(Path::new(&options.prefix), &s.name);
                (
                    // In MODE 2 the file number of a signal is its position in the signals file.
                    pos as u16,
                    d.to_string_lossy().into_owned(),
                    i.to_string_lossy().into_owned(),
                    vec![s.sid],
                )
            })
            .collect());
    }
    let files = if options.files.is_empty() {
        vec![catalog.signals().iter().map(|s| s.sid).collect()]
    } else {
        options.files.clone()
    };
    let mut count = vec![0usize; catalog.signals().len()];
    for f in &files {
        for &sid in f {
            let pos = catalog.position(sid).ok_or(Error::UnknownSid { sid })?;
            count[pos] += 1;
        }
    }
    if let Some(i) = count.iter().position(|&c| c > 1) {
        return Err(InputError::SignalInFiles {
            signal: catalog.signals()[i].name.clone(),
            files: count[i],
        }
        .into());
    }
    for (i, _) in count.iter().enumerate().filter(|(_, &c)| c == 0) {
        let info = &catalog.signals()[i];
        for &pid in store.pids() {
            if !store.get_bytes(pid, info.sid)?.is_empty() {
                return Err(InputError::SignalInNoFile {
                    signal: info.name.clone(),
                    pid,
                }
                .into());
            }
        }
    }
    if files.len() > u16::MAX as usize + 1 {
        return Err(InputError::TooLarge {
            what: "data files (16-bit file numbers)".into(),
            found: files.len() as u64,
            limit: u16::MAX as u64 + 1,
        }
        .into());
    }
    if !options.file_names.is_empty() {
        if options.file_names.len() != files.len() {
            return Err(InputError::CountMismatch {
                what: "file names for the data files",
                found: options.file_names.len() as u64,
                expected: files.len() as u64,
            }
            .into());
        }
        let mut seen = std::collections::HashSet::new();
        for (fno, stem) in &options.file_names {
            if !seen.insert(*fno) {
                return Err(InputError::DuplicateFileNumber { number: *fno }.into());
            }
            if !plain_relative(stem) {
                return Err(InputError::NotRelative {
                    what: "data file name",
                    path: stem.clone(),
                }
                .into());
            }
        }
    }
    Ok(files
        .into_iter()
        .enumerate()
        .map(|(k, sids)| {
            let (fno, stem) = match options.file_names.get(k) {
                Some((fno, stem)) => (*fno, stem.clone()),
                None => (k as u16, format!("{}_{k}", options.prefix)),
            };
            (fno, format!("{stem}.data"), format!("{stem}.idx"), sids)
        })
        .collect())
}

/// Whether `p` is a non-empty relative path of normal components only (no `..`, no root).
fn plain_relative(p: &str) -> bool {
    let p = Path::new(p);
    !p.as_os_str().is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Writes the files of [`write_legacy`], config included, into the existing directory `root`
/// (a staging directory the caller publishes); returns the config's file name.
///
/// # Errors
/// As [`write_legacy`]; on error `root` may hold some of the files.
pub(crate) fn write_legacy_into(
    store: &dyn SignalStore,
    root: &Path,
    options: &LegacyOptions,
) -> Result<String> {
    let groups = legacy_groups(store, options)?;
    let catalog = store.catalog();
    let config_name = format!("{}.repository", options.name);
    #[cfg(feature = "testing")]
    let budget = Budget::new(options.fail_after);
    #[cfg(not(feature = "testing"))]
    let budget = Budget::default();
    options.metadata.write_files(root, &budget)?;
    let pids = store.pids();
    for &(fno, ref data_rel, ref index_rel, ref sids) in &groups {
        let infos = sids
            .iter()
            .map(|&s| catalog.by_sid(s))
            .collect::<Result<Vec<_>>>()?;
        // The reader's f_factor (§8.5) is set by the signals that have vectors in the file, not
        // by every signal assigned to it: align on those sizes.
        let mut sizes: Vec<usize> = Vec::new();
        for info in &infos {
            for &pid in pids {
                if !store.get_bytes(pid, info.sid)?.is_empty() {
                    sizes.push(info.layout.size());
                    break;
                }
            }
        }
        sizes.sort_unstable();
        sizes.dedup();
        let align = if sizes.len() == 1 { sizes[0] as u64 } else { 1 };
        let data_path = root.join(data_rel);
        let mut data = Out::create(&data_path, &budget)?;
        let mut index = Out::create(&root.join(index_rel), &budget)?;
        data.write(
            &(if options.full {
                FULL_FORMAT
            } else {
                STRIPPED_FORMAT
            })
            .to_le_bytes(),
        )?;
        index.write(&index_file_header())?;
        let mut starts: Vec<u8> = Vec::new();
        for &pid in pids {
            let mut vectors = Vec::new();
            for info in &infos {
                let b = store.get_bytes(pid, info.sid)?;
                if !b.is_empty() {
                    info.check_whole(pid, &b)?;
                    if b.len() > i32::MAX as usize {
                        return Err(InputError::TooLarge {
                            what: format!("pid {pid} signal {}: vector bytes", info.name),
                            found: b.len() as u64,
                            limit: i32::MAX as u64,
                        }
                        .into());
                    }
                    vectors.push((info.sid.0, b));
                }
            }
            if vectors.is_empty() {
                continue;
            }
            check_pid(pid)?;
            let refs: Vec<(u32, &[u8])> = vectors.iter().map(|(s, b)| (*s, &b[..])).collect();
            let start = data.position();
            let positions: Vec<u64> = if options.full {
                let (rec, positions) = encode_full_record(start, align, pid.0, &refs);
                starts.extend_from_slice(&start.to_le_bytes());
                data.write(&rec)?;
                positions
            } else {
                let mut at = start;
                let mut positions = Vec::with_capacity(refs.len());
                for (_, b) in &refs {
                    positions.push(at);
                    data.write(b)?;
                    at += b.len() as u64;
                }
                positions
            };
            let entries: Vec<(u32, u16, u64, u32)> = refs
                .iter()
                .zip(&positions)
                .map(|((sid, b), &pos)| (*sid, fno, pos, b.len() as u32))
                .collect();
            index.write(&encode_packet(pid.0, &entries))?;
        }
        data.finish()?;
        index.finish()?;
        if options.full {
            put(
                &PathBuf::from(format!("{}.idx", data_path.display())),
                &starts,
                &budget,
            )?;
        }
    }
    let meta = &options.metadata;
    let dictionaries: Vec<&str> = meta.files.iter().map(|(rel, _)| rel.as_str()).collect();
    let mut layout_lines: Vec<String> = Vec::new();
    for (fno, data_rel, _, _) in &groups {
        layout_lines.push(format!("DATA\t{fno}\t{data_rel}"));
    }
    for (_, _, index_rel, _) in &groups {
        layout_lines.push(format!("INDEX\t{index_rel}"));
    }
    let config = ConfigText {
        description: Some(meta.description.as_str()).filter(|d| !d.is_empty()),
        dir: ".",
        dictionaries: &dictionaries,
        signals: &meta.signals(),
        mode: options.mode as i64,
        prefix: (options.mode == 2).then_some(options.prefix.as_str()),
        layout_lines: &layout_lines,
        time_unit: meta.time_unit.code() as i64,
    }
    .to_text();
    put(&root.join(&config_name), config.as_bytes(), &budget)?;
    Ok(config_name)
}

/// Pids with at least one element in `store` (what a legacy repository keeps).
pub fn pids_with_data(store: &dyn SignalStore) -> Result<Vec<Pid>> {
    let mut out = Vec::new();
    for &pid in store.pids() {
        for s in store.catalog().signals() {
            if !store.get_bytes(pid, s.sid)?.is_empty() {
                out.push(pid);
                break;
            }
        }
    }
    Ok(out)
}
