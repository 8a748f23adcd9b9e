//! MEDS dataset → MODE 3 repository (`convert --from-meds`), in two streaming passes: the
//! first collects what every code looks like (numeric or not, timed or static, with a time
//! of day or not, which extra columns it fills), the second merges the data files by subject
//! and writes each subject's vectors through the one [`Mode3Writer`].
//!
//! Pass 1 scans row groups in parallel (src/meds/scan.rs); in pass 2 the row groups of each
//! file are decoded and prepared ahead on the worker threads (src/meds/rows.rs) while this
//! thread merges and writes, in an order that does not depend on the threads.
//!
//! Memory holds, per data file, the prepared batches its cursor reads ahead (`rows::Ahead`:
//! at most `threads × 20` batches of 4 096 rows with up to 8 files, 2 with more or without a
//! pool), one subject's events and the code table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hashbrown::HashMap;

use crate::catalog::{Catalog, CatalogTexts};
use crate::convert::{ConvertError, Thresholds};
use crate::error::{Error, ParseError, Result};
use crate::ids::{Pid, Sid};
use crate::native::write::Mode3Writer;
use crate::native::writer::{Metadata, Mode3Options};
use crate::time::TimeUnit;

use super::mapping::{Mapping, MappingKind};
use super::read::{data_files, FileMeta};
use super::rows::{Ahead, Cursor, Outcome, Plan};
use super::scan::{scan, CodeStats};
use super::{split_code, CODE_SEPARATOR};

/// Options of [`import_meds`].
#[derive(Clone, Debug)]
pub struct MedsImportOptions {
    /// Repository name: the config is `<name>.repository`, `PREFIX` `data/<name>_rep`
    /// (default `meds`).
    pub name: String,
    /// The converter's thresholds; `max_bad_line_ratio` and `ratio_min_lines` apply to each
    /// data file's rows.
    pub thresholds: Thresholds,
    /// Where to write the dropped rows (default: `<OUT>/<name>.convert_errors`, inside the
    /// repository).
    pub error_file: Option<PathBuf>,
    /// Replace `out` even when it is not a previous repository (never a symbolic link).
    pub force: bool,
    /// Rules overriding the default code → signal rule (`--mapping FILE`; default: none).
    pub mapping: Option<Mapping>,
    /// Threads decoding the data files (`--threads`; default: one per core). Row groups
    /// are decoded in parallel, at most this many per file ahead of the merge; the output
    /// is the same whatever the number.
    pub threads: Option<usize>,
}

impl Default for MedsImportOptions {
    fn default() -> Self {
        MedsImportOptions {
            name: "meds".into(),
            thresholds: Thresholds::default(),
            error_file: None,
            force: false,
            mapping: None,
            threads: None,
        }
    }
}

/// What [`import_meds`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MedsImportSummary {
    /// The repository config written.
    pub config: PathBuf,
    /// Subjects (patients) written.
    pub subjects: u64,
    /// Events (elements) written.
    pub events: u64,
    /// Rows dropped into the error file.
    pub bad_rows: u64,
    /// `(signal, elements)` of every signal, in catalog order.
    pub signals: Vec<(String, u64)>,
    /// `(signal, events)` whose time was truncated to the minute (a minutes signal fed
    /// seconds or microseconds).
    pub rounded: Vec<(String, u64)>,
    /// Rows of codes a mapping line drops (`PATTERN -`).
    pub dropped_rows: u64,
    /// Rows whose `text_value` was not null: the text is not stored (the row's code and
    /// numeric value are).
    pub text_values: u64,
    /// Small files over a threshold (not fatal), as the converter warns, and mapping lines
    /// that matched no code.
    pub warnings: Vec<String>,
}

/// One signal to write.
#[derive(Clone, Debug)]
pub(super) struct SignalSpec {
    pub(super) name: String,
    pub(super) sid: Sid,
    pub(super) timed: bool,
    pub(super) unit: TimeUnit,
    /// Time channels (≥ 1 when timed).
    pub(super) times: usize,
    pub(super) category: bool,
    pub(super) numeric: bool,
    /// Extra `value<k>` columns, as `d` channels after the others.
    pub(super) values: Vec<usize>,
    /// Dictionary name → code.
    pub(super) dict: BTreeMap<String, i32>,
}

impl SignalSpec {
    fn layout_spec(&self) -> String {
        let mut parts = Vec::new();
        if self.timed {
            parts.push(format!("T({})", vec!["i"; self.times].join(",")));
        }
        let mut v = Vec::new();
        if self.category {
            v.push("i");
        }
        if self.numeric {
            v.push("f");
        }
        v.extend(self.values.iter().map(|_| "d"));
        if !v.is_empty() {
            parts.push(format!("V({})", v.join(",")));
        }
        parts.join(",")
    }

    /// Bytes of one element.
    pub(super) fn size(&self) -> usize {
        4 * self.times * usize::from(self.timed)
            + 4 * usize::from(self.category)
            + 4 * usize::from(self.numeric)
            + 8 * self.values.len()
    }
}

/// How the rows of one code become elements.
#[derive(Clone, Debug)]
pub(super) struct CodeRole {
    pub(super) signal: usize,
    /// The dictionary code of a categorical signal's value.
    pub(super) category: Option<i32>,
    /// Rows must carry a numeric value (a numeric signal named after the code).
    pub(super) needs_numeric: bool,
}

/// Signals and codes from pass 1's table: the mapping's rules, then the default rule of
/// `docs/meds.md`. Also returns the mapping lines that matched no code.
///
/// # Errors
/// [`Error::Parse`] naming the mapping line: a code mapped `numeric` without numeric
/// values, or a `numeric` code sent to a signal that is categorical.
#[allow(clippy::type_complexity)]
fn plan(
    stats: &BTreeMap<String, CodeStats>,
    mapping: Option<&Mapping>,
) -> Result<(Vec<SignalSpec>, HashMap<String, CodeRole>, Vec<String>)> {
    // code → (signal name, dictionary name if categorical, line of an explicit numeric rule)
    let mut assign: Vec<(&str, String, Option<String>, Option<usize>)> = Vec::new();
    let mut groups: BTreeSet<String> = BTreeSet::new();
    let mut used: BTreeSet<usize> = BTreeSet::new();
    let bad = |m: &Mapping, line: usize, what: String| Error::Parse {
        path: m.path.clone(),
        line,
        what: "mapping rule",
        source: ParseError::Other(what),
    };
    for (code, s) in stats {
        if let Some((m, r)) = mapping.and_then(|m| m.rule(code).map(|r| (m, r))) {
            used.insert(r.line);
            let kind = match r.kind {
                MappingKind::Auto if s.numeric > 0 => MappingKind::Numeric,
                MappingKind::Auto => MappingKind::Category,
                k => k,
            };
            match kind {
                MappingKind::Drop => {}
                MappingKind::Numeric => {
                    if s.numeric == 0 {
                        return Err(bad(
                            m,
                            r.line,
                            format!("code {code} is mapped numeric but has no numeric_value"),
                        ));
                    }
                    let explicit = (r.kind == MappingKind::Numeric).then_some(r.line);
                    assign.push((code, r.signal.clone(), None, explicit));
                }
                _ => {
                    groups.insert(r.signal.clone());
                    assign.push((code, r.signal.clone(), Some(code.clone()), None));
                }
            }
            continue;
        }
        let by_sep = code
            .find(CODE_SEPARATOR)
            .filter(|&i| i > 0 && i + CODE_SEPARATOR.len() < code.len());
        if by_sep.is_some() || s.numeric == 0 {
            if let Some((sig, name)) = split_code(code) {
                groups.insert(sig.to_string());
                assign.push((code, sig.to_string(), Some(name.to_string()), None));
                continue;
            }
        }
        assign.push((code, code.clone(), None, None));
    }
    // A plain code sent to a categorical group joins the group under its own name.
    for a in &mut assign {
        if a.2.is_none() && groups.contains(&a.1) {
            if let (Some(line), Some(m)) = (a.3, mapping) {
                return Err(bad(
                    m,
                    line,
                    format!(
                        "code {} is mapped numeric to {}, a categorical signal (other codes \
                         are its dictionary names)",
                        a.0, a.1
                    ),
                ));
            }
            a.2 = Some(a.0.to_string());
        }
    }
    let unused = mapping.map_or_else(Vec::new, |m| {
        m.rules()
            .into_iter()
            .filter(|r| !used.contains(&r.line))
            .map(|r| {
                format!(
                    "{}:{}: mapping line matches no code of the data",
                    m.path.display(),
                    r.line
                )
            })
            .collect()
    });
    let mut by_name: BTreeMap<String, SignalSpec> = BTreeMap::new();
    for (code, sig, name, _) in &assign {
        let s = &stats[*code];
        let spec = by_name.entry(sig.clone()).or_insert_with(|| SignalSpec {
            name: sig.clone(),
            sid: Sid(0),
            timed: false,
            unit: TimeUnit::Date,
            times: 1,
            category: name.is_some(),
            numeric: false,
            values: Vec::new(),
            dict: BTreeMap::new(),
        });
        spec.timed |= s.timed > 0;
        if s.time_of_day {
            spec.unit = TimeUnit::Minutes;
        }
        spec.times = spec.times.max(s.max_time + 1);
        spec.numeric |= s.numeric > 0;
        for &v in &s.values {
            if !spec.values.contains(&v) {
                spec.values.push(v);
            }
        }
        if let Some(n) = name {
            spec.dict.insert(n.clone(), 0);
        }
    }
    let mut signals: Vec<SignalSpec> = by_name.into_values().collect();
    for s in &mut signals {
        // Extra value columns come after a numeric channel (NaN where a row has no
        // numeric_value, exported back as null), so that the first extra one is never
        // taken for numeric_value on the way back.
        if !s.numeric && !s.values.is_empty() {
            s.numeric = true;
        }
        // A static code without a value or a vocabulary prefix: a categorical signal of one
        // name, itself (it exports back as `CODE//CODE`).
        if !s.timed && !s.category && !s.numeric && s.values.is_empty() {
            s.category = true;
            s.dict.insert(s.name.clone(), 0);
        }
    }
    for (i, s) in signals.iter_mut().enumerate() {
        s.sid = Sid(100 + i as u32);
        s.values.sort_unstable();
        for (k, code) in s.dict.values_mut().enumerate() {
            *code = 1 + k as i32;
        }
    }
    let index: HashMap<String, usize> = signals
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let mut roles = HashMap::new();
    for (code, sig, name, _) in &assign {
        let i = index[sig.as_str()];
        let s = &signals[i];
        let category = s.category.then(|| s.dict[name.as_deref().unwrap_or(code)]);
        roles.insert(
            code.to_string(),
            CodeRole {
                signal: i,
                category,
                needs_numeric: !s.category && stats[*code].numeric > 0,
            },
        );
    }
    Ok((signals, roles, unused))
}

/// The signals file and dictionaries of the plan, as a catalog.
fn catalog_of(signals: &[SignalSpec]) -> Result<Catalog> {
    let mut text = String::new();
    let mut dicts = Vec::new();
    for s in signals {
        let bitmap = if s.category { "1" } else { "" };
        let unit = if s.timed {
            s.unit.code().to_string()
        } else {
            String::new()
        };
        text.push_str(&format!(
            "SIGNAL\t{}\t{}\t16:{}\tmeds\t{bitmap}\t\t{unit}\n",
            s.name,
            s.sid,
            s.layout_spec()
        ));
        if s.category {
            let mut d = format!("SECTION\t{}\n", s.name);
            for (name, code) in &s.dict {
                d.push_str(&format!("DEF\t{code}\t{name}\n"));
            }
            dicts.push((s.name.clone(), d));
        }
    }
    let texts = CatalogTexts {
        time_unit: TimeUnit::Date.code(),
        signals: text,
        dictionaries: dicts,
    };
    let (catalog, _) = Catalog::from_texts(Path::new("meds"), &texts)?;
    Ok(catalog)
}

/// One subject's elements of one signal: `(time key, arrival)` and the element bytes in
/// arrival order.
#[derive(Clone, Debug, Default)]
struct Pending {
    keys: Vec<(i64, u32)>,
    bytes: Vec<u8>,
}

/// Reads the MEDS dataset in `meds_dir` (`data/**/*.parquet`) and writes it as a MODE 3
/// repository in the folder `out` (created, or replaced when it holds a previous repository
/// of that name: the rule of [`crate::target::check_target`]), by the default code rule of
/// `docs/meds.md`. Rows that cannot be stored go to the error file; a file with more than
/// the converter's `max_bad_line_ratio` of them fails the import.
///
/// # Errors
/// [`Error::Occupied`]; [`Error::Open`], [`Error::Format`] (damaged Parquet, naming the file
/// and row group), [`Error::Unsupported`] (not a MEDS schema, naming the file and column),
/// [`Error::Parse`] for a bad mapping line, [`Error::Convert`] (subjects not ascending
/// within a file); the thresholds. On error
/// `out` is unchanged.
///
/// # Examples
/// ```
/// use inframed::meds::{export_meds, import_meds, MedsExportOptions, MedsImportOptions};
/// use inframed::{Repository, SignalStore};
/// let repo = Repository::open("testdata/inframed/small/repo/small.repository")?;
/// let tmp = tempfile::tempdir().unwrap();
/// export_meds(&repo, &tmp.path().join("meds"), &MedsExportOptions::default())?;
/// let s = import_meds(&tmp.path().join("meds"), &tmp.path().join("back"), &MedsImportOptions::default())?;
/// assert_eq!(Repository::open(&s.config)?.pids(), repo.pids());
/// # Ok::<_, inframed::Error>(())
/// ```
pub fn import_meds(
    meds_dir: &Path,
    out: &Path,
    options: &MedsImportOptions,
) -> Result<MedsImportSummary> {
    let names = Mode3Options::new(&options.name, &Catalog::default())?;
    let (name, prefix) = (names.name, names.prefix);
    let config_name = format!("{name}.repository");
    crate::native::write::check_target(out, &config_name, &prefix, options.force)?;
    let threads = match options.threads {
        Some(n) => n.max(1),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let pool = if threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|source| Error::ThreadPool { source })?,
        )
    } else {
        None
    };
    let files = data_files(meds_dir)?
        .iter()
        .map(|f| FileMeta::open(f))
        .collect::<Result<Vec<_>>>()?;
    let stats = scan(&files, pool.as_ref())?;
    let (signals, roles, unused) = plan(&stats, options.mapping.as_ref())?;
    drop(stats);
    let catalog = catalog_of(&signals)?;
    let meta = Metadata::from_catalog(&name, &catalog)?;
    let mut w = Mode3Writer::create(out, &catalog, &prefix)?;
    for (rel, bytes) in &meta.files {
        w.put(rel, bytes)?;
    }
    let err_path = match &options.error_file {
        Some(p) => p.clone(),
        None => w.stage_path(&format!("{name}.convert_errors"))?,
    };
    let err_file = File::create(&err_path).map_err(|source| Error::Open {
        path: err_path.clone(),
        source,
    })?;
    let mut err_out = BufWriter::new(err_file);
    let mut bad_rows = 0u64;
    let mut errors = |line: &str| -> Result<()> {
        bad_rows += 1;
        err_out
            .write_all(line.as_bytes())
            .map_err(|source| Error::Io {
                path: err_path.clone(),
                source,
            })
    };
    let plan = Arc::new(Plan { signals, roles });
    let signals = &plan.signals;
    let mut cursors: Vec<Cursor> = files
        .iter()
        .map(|f| {
            let ahead = Ahead::new(files.len(), threads);
            Cursor::new(Arc::clone(f), Arc::clone(&plan), pool.as_ref(), ahead)
        })
        .collect();
    let mut summary = MedsImportSummary {
        warnings: unused,
        ..Default::default()
    };
    let mut rounded = vec![0u64; signals.len()];
    let mut pending: Vec<Pending> = vec![Pending::default(); signals.len()];
    let mut sorted = Vec::new();
    loop {
        let mut next: Option<i64> = None;
        for c in &mut cursors {
            if let Some(s) = c.peek(&mut errors)? {
                next = Some(next.map_or(s, |n: i64| n.min(s)));
            }
        }
        let Some(subject) = next else { break };
        for c in &mut cursors {
            while c.peek(&mut errors)? == Some(subject) {
                let p = c.cur.as_ref().expect("a batch");
                let row = p.rows[c.pos];
                c.rows += 1;
                c.pos += 1;
                if row.text {
                    summary.text_values += 1;
                }
                if let Some(s) = row.rounded {
                    rounded[s as usize] += 1;
                }
                match row.outcome {
                    Outcome::Element { signal, key, at } => {
                        let size = signals[signal as usize].size();
                        let q = &mut pending[signal as usize];
                        q.keys.push((key, q.keys.len() as u32));
                        q.bytes
                            .extend_from_slice(&p.bytes[at as usize..at as usize + size]);
                    }
                    Outcome::Bad(l) => {
                        c.bad += 1;
                        errors(&p.lines[l as usize])?;
                    }
                    Outcome::Dropped => summary.dropped_rows += 1,
                    Outcome::Problem(_) => unreachable!("peek consumes unreadable rows"),
                }
            }
        }
        let pid = Pid(subject as u32);
        let mut any = false;
        for (k, p) in pending.iter_mut().enumerate() {
            if p.keys.is_empty() {
                continue;
            }
            summary.events += p.keys.len() as u64;
            if p.keys.windows(2).all(|w| w[0].0 <= w[1].0) {
                w.push(pid, signals[k].sid, &p.bytes)?;
            } else {
                // Stable by arrival: the key pairs are unique.
                p.keys.sort_unstable();
                let size = signals[k].size();
                sorted.clear();
                for &(_, at) in &p.keys {
                    let at = at as usize * size;
                    sorted.extend_from_slice(&p.bytes[at..at + size]);
                }
                w.push(pid, signals[k].sid, &sorted)?;
            }
            p.keys.clear();
            p.bytes.clear();
            any = true;
        }
        if any {
            w.add_pid(pid)?;
            summary.subjects += 1;
        }
    }
    err_out.flush().map_err(|source| Error::Io {
        path: err_path.clone(),
        source,
    })?;
    drop(err_out);
    summary.bad_rows = bad_rows;
    let t = &options.thresholds;
    for c in &cursors {
        let bad_ratio = (c.bad + 1) as f32 / (c.rows + 1) as f32;
        if bad_ratio <= t.max_bad_line_ratio || c.bad == 0 {
            continue;
        }
        let e = ConvertError::BadRatio {
            bad: c.bad,
            relevant: c.rows,
            max: t.max_bad_line_ratio,
        };
        if c.rows > t.ratio_min_lines {
            return Err(Error::convert(&c.file.path, "import refused", e));
        }
        summary.warnings.push(format!(
            "{}: {e} (a small file: not fatal)",
            c.file.path.display()
        ));
    }
    let text = meta.config_text(&prefix);
    summary.signals = w.finish(Some((&config_name, text.as_bytes())))?;
    summary.rounded = signals
        .iter()
        .zip(rounded)
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| (s.name.clone(), n))
        .collect();
    summary.config = out.join(config_name);
    Ok(summary)
}
