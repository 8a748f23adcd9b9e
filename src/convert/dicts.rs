//! `--build-dicts`: dictionaries for categorical values that have none. A first pass over the
//! `DATA`/`DATA_S` files collects the distinct strings of every categorical value channel that
//! its section does not define; one dictionary file per such signal is written (the original's
//! format, `SECTION\t<signal>` then `DEF\t<code>\t<name>`), added to the config's dictionaries,
//! and the load runs as if it had been there (so it is copied into the output as
//! `dicts/built.<signal>.dict` and listed in the repository config).
//!
//! Codes are deterministic: the new names sorted (byte order), numbered from one above the
//! largest code of the signal's section, or from 1 when that is below 1 (or the section has
//! none). A signal without its own section (the original then falls back to the first
//! section) gets a section of its own holding the fallback codes of the values that had one,
//! so no value changes its code; the new codes start above those.

use crate::error::ConvertError;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use hashbrown::HashMap;

use crate::catalog::Catalog;
use crate::convert::config::{read_codes, ConvertConfig, InputKind};
use crate::convert::output::{io_err, output_rel};
use crate::convert::tsv::{split_fields, trim_line};
use crate::error::{Error, Result};

/// The file name (under `dicts/` in the output) of the dictionary built for `signal`.
pub(super) fn built_name(signal: &str) -> String {
    let safe: String = signal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("built.{safe}.dict")
}

/// One categorical signal to collect: its position in the fields after pid and code.
struct Target {
    signal: String,
    /// Field indices (from the code field's successor) of categorical value channels.
    fields: Vec<usize>,
    /// Distinct values seen.
    seen: BTreeSet<String>,
}

/// The dictionary texts `(file name, text)` for the categorical values of `cfg`'s DATA files
/// that `catalog` does not define, one per signal with such values, in signals-file order.
pub(super) fn build(cfg: &ConvertConfig, catalog: &Catalog) -> Result<Vec<(String, String)>> {
    let mut targets: Vec<Target> = Vec::new();
    let mut of_code: HashMap<String, usize> = HashMap::new();
    let mut by_signal: HashMap<String, usize> = HashMap::new();
    for s in catalog.signals() {
        let n_time = s.layout.time_channels().len();
        let fields: Vec<usize> = s
            .categorical
            .iter()
            .take(s.layout.value_channels().len())
            .enumerate()
            .filter(|(_, &c)| c)
            .map(|(i, _)| n_time + i)
            .collect();
        if !fields.is_empty() {
            by_signal.insert(s.name.clone(), targets.len());
            of_code.insert(s.name.clone(), targets.len());
            targets.push(Target {
                signal: s.name.clone(),
                fields,
                seen: BTreeSet::new(),
            });
        }
    }
    if let Some(p) = &cfg.codes {
        for (code, name) in read_codes(p)? {
            match by_signal.get(&name) {
                Some(&t) => of_code.insert(code, t),
                None => of_code.remove(&code),
            };
        }
    }
    for input in cfg.inputs.iter().filter(|i| i.kind == InputKind::Data) {
        collect(&input.path, &of_code, &mut targets)?;
    }
    let taken: Vec<String> = cfg.dictionaries.iter().map(|d| output_rel(d)).collect();
    let mut out = Vec::new();
    for t in targets {
        let own = catalog.dictionaries()?.section(&t.signal);
        let section = match own {
            Some(s) => Some(s),
            None => catalog.section_of(&t.signal)?,
        };
        let known = |v: &str| section.and_then(|s| s.code(v)).filter(|&c| c >= 0);
        let mut lines: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        let mut fresh: Vec<&String> = Vec::new();
        for v in &t.seen {
            match known(v) {
                // Already mapped by its own section: nothing to add.
                Some(_) if own.is_some() => {}
                // Mapped only through the fallback section: keep that code in the new section.
                Some(c) => lines.entry(c).or_default().push(v.clone()),
                None => fresh.push(v),
            }
        }
        if fresh.is_empty() {
            continue; // every value has a code already
        }
        let max = match own {
            Some(s) => s.codes().last().copied(),
            None => lines.keys().next_back().copied(),
        }
        .unwrap_or(0);
        let first = max.saturating_add(1).max(1);
        if ((i32::MAX - first) as usize) < fresh.len() {
            return Err(Error::convert(
                &cfg.path,
                "--build-dicts",
                ConvertError::DictionaryFull {
                    signal: t.signal.clone(),
                    names: fresh.len(),
                    max,
                },
            ));
        }
        for (code, v) in (first..).zip(fresh) {
            lines.entry(code).or_default().push(v.clone());
        }
        let name = built_name(&t.signal);
        if taken.contains(&format!("dicts/{name}")) {
            return Err(Error::convert(
                &cfg.path,
                "--build-dicts",
                ConvertError::DictionaryNameTaken(name),
            ));
        }
        let mut text = format!("SECTION\t{}\n", t.signal);
        for (code, names) in &lines {
            for n in names {
                text.push_str(&format!("DEF\t{code}\t{n}\n"));
            }
        }
        out.push((name, text));
    }
    Ok(out)
}

/// Adds the categorical values of the DATA file at `path` to `targets`.
fn collect(path: &PathBuf, of_code: &HashMap<String, usize>, targets: &mut [Target]) -> Result<()> {
    let file = fs::File::open(path).map_err(|source| Error::Open {
        path: path.clone(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        if reader.read_until(b'\n', &mut raw).map_err(io_err(path))? == 0 {
            return Ok(());
        }
        let line = trim_line(&raw);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(line) {
            Ok(s) => s.into(),
            // 8-bit text, read as the load reads it.
            Err(_) => line.iter().map(|&b| b as char).collect::<String>().into(),
        };
        let f = split_fields(&text);
        if f.len() < 3 {
            continue;
        }
        let Some(&t) = of_code.get(f[1]) else {
            continue;
        };
        let target = &mut targets[t];
        for &i in &target.fields {
            // A name must survive the dictionary reader (which trims lines and splits on tabs).
            if let Some(v) = f.get(2 + i).filter(|v| !v.is_empty() && v.trim() == **v) {
                if !target.seen.contains(*v) {
                    target.seen.insert(v.to_string());
                }
            }
        }
    }
}
