//! Writing MODE 0–2 repositories (the original design's layouts).

use std::path::{Path, PathBuf};

use crate::atomic::AtomicDir;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::ids::{Pid, Sid};
use crate::native::legacy::data::{encode_full_record, FULL_FORMAT, STRIPPED_FORMAT};
use crate::native::legacy::index::{encode_packet, index_file_header};
use crate::native::signal_paths;
use crate::native::writer::{check_elements, check_pid, check_target, put, Budget, Metadata, Out};
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
    /// vectors follow each other in a pid's record. Empty: one file with every signal.
    pub files: Vec<Vec<Sid>>,
    /// Texts (signals file, dictionaries, description).
    pub metadata: Metadata,
    /// Test hook: fail with an I/O error after this many bytes.
    #[doc(hidden)]
    pub fail_after: Option<u64>,
}

impl LegacyOptions {
    /// MODE `mode` stripped files named after `name`, texts regenerated from `catalog`.
    pub fn new(mode: i32, name: &str, catalog: &Catalog) -> LegacyOptions {
        let metadata = Metadata::from_catalog(name, catalog);
        let name = metadata
            .signals_file
            .trim_end_matches(".signals")
            .to_string();
        LegacyOptions {
            mode,
            full: false,
            prefix: format!("data/{name}"),
            name,
            files: Vec::new(),
            metadata,
            fail_after: None,
        }
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
    if !(0..=2).contains(&options.mode) {
        return Err(Error::InvalidInput {
            what: format!("legacy MODE must be 0, 1 or 2, not {}", options.mode),
        });
    }
    let catalog = store.catalog();
    // Groups: (data path, index path, signals).
    let groups: Vec<(String, String, Vec<Sid>)> = if options.mode == 2 {
        catalog
            .signals()
            .iter()
            .map(|s| {
                let (d, i) = signal_paths(Path::new(&options.prefix), &s.name);
                (
                    d.to_string_lossy().into_owned(),
                    i.to_string_lossy().into_owned(),
                    vec![s.sid],
                )
            })
            .collect()
    } else {
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
        if let Some(i) = count.iter().position(|&c| c != 1) {
            return Err(Error::InvalidInput {
                what: format!(
                    "signal {} is in {} data files (each signal must be in exactly one)",
                    catalog.signals()[i].name,
                    count[i]
                ),
            });
        }
        if files.len() > u16::MAX as usize + 1 {
            return Err(Error::InvalidInput {
                what: "more data files than 16-bit file numbers".into(),
            });
        }
        files
            .into_iter()
            .enumerate()
            .map(|(k, sids)| {
                (
                    format!("{}_{k}.data", options.prefix),
                    format!("{}_{k}.idx", options.prefix),
                    sids,
                )
            })
            .collect()
    };
    let config_name = format!("{}.repository", options.name);
    check_target(out, &config_name)?;
    let budget = Budget::new(options.fail_after);
    let dir = AtomicDir::create(out)?;
    let root = dir.path().to_path_buf();
    options.metadata.write_files(&root, &budget)?;
    let pids = store.pids();
    for (k, (data_rel, index_rel, sids)) in groups.iter().enumerate() {
        // In MODE 2 the file number of a signal is its position in the signals file.
        let fno = if options.mode == 2 {
            catalog.position(sids[0]).unwrap_or(0)
        } else {
            k
        } as u16;
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
                    check_elements(info, pid, &b)?;
                    if b.len() > i32::MAX as usize {
                        return Err(Error::InvalidInput {
                            what: format!("pid {pid} signal {}: vector beyond 2 GiB", info.name),
                        });
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
    let mut config = String::new();
    let meta = &options.metadata;
    config.push_str(&format!("DESCRIPTION\t{}\n", meta.description));
    config.push_str("DIR\t.\n");
    for (rel, _) in &meta.files {
        config.push_str(&format!("DICTIONARY\t{rel}\n"));
    }
    config.push_str(&format!("SIGNAL\t{}\n", meta.signals_file));
    config.push_str(&format!("MODE\t{}\n", options.mode));
    if options.mode == 2 {
        config.push_str(&format!("PREFIX\t{}\n", options.prefix));
    }
    for (k, (data_rel, _, sids)) in groups.iter().enumerate() {
        let fno = if options.mode == 2 {
            catalog.position(sids[0]).unwrap_or(0)
        } else {
            k
        };
        config.push_str(&format!("DATA\t{fno}\t{data_rel}\n"));
    }
    for (_, index_rel, _) in &groups {
        config.push_str(&format!("INDEX\t{index_rel}\n"));
    }
    config.push_str(&format!("TIMEUNIT\t{}\n", meta.time_unit.code()));
    put(&root.join(&config_name), config.as_bytes(), &budget)?;
    dir.commit()?;
    Ok(out.join(config_name))
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
