//! The `--mapping FILE` of `convert --from-meds`: lines overriding the default code → signal
//! rule, in the spirit of the converter's `CODES` file (`<code> <signal>`).
//!
//! One rule a line, fields split by tabs or spaces, `#` starts a comment:
//!
//! ```text
//! PATTERN  SIGNAL  [numeric|category]
//! PATTERN  -
//! ```
//!
//! `PATTERN` is a whole code (`LOINC/718-7`) or a prefix ending in `*` (`ICD10CM/*`); an exact
//! pattern wins over prefixes, a longer prefix over a shorter one. `numeric`: the rows are
//! the values of the numeric signal `SIGNAL` (several codes may share it). `category`: the
//! code is a dictionary name (the whole code) of the categorical signal `SIGNAL`. Without a
//! kind: `numeric` when the code has numeric values, else `category`. `-` instead of a signal
//! drops the code's rows (counted in the import summary). Codes no rule matches follow the
//! default rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, ParseError, Result};

/// What a mapping line makes of the codes it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingKind {
    /// Values of a numeric signal.
    Numeric,
    /// Dictionary names of a categorical signal.
    Category,
    /// `numeric` when the code has numeric values, else `category`.
    Auto,
    /// The code's rows are dropped (and counted).
    Drop,
}

/// One line of a mapping file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingRule {
    /// 1-based line number in the file.
    pub line: usize,
    /// The whole code, or the prefix (without its `*`) when `prefix`.
    pub pattern: String,
    /// The pattern ended in `*`.
    pub prefix: bool,
    /// The signal the matched codes go to (empty for [`MappingKind::Drop`]).
    pub signal: String,
    /// What the matched codes become.
    pub kind: MappingKind,
}

/// A parsed mapping file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// The file read (named in errors).
    pub path: PathBuf,
    exact: BTreeMap<String, MappingRule>,
    /// Prefix rules, longest pattern first.
    prefixes: Vec<MappingRule>,
}

impl Mapping {
    /// Reads and checks a mapping file.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Parse`] naming `file:line` for a line with one field
    /// or more than three, an unknown kind, a `*` that does not end the pattern, a signal name
    /// holding a tab or `//`, or a pattern given twice.
    pub fn read(path: &Path) -> Result<Mapping> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Open {
            path: path.into(),
            source,
        })?;
        Mapping::parse(path, &text)
    }

    /// Parses the text of a mapping file read from `path` (named in errors).
    ///
    /// # Errors
    /// As [`Mapping::read`], without the I/O.
    ///
    /// # Examples
    /// ```
    /// use inframed::meds::{Mapping, MappingKind};
    /// let m = Mapping::parse("map.txt".as_ref(), "ICD10CM/*\tDIAGNOSIS\nLOINC/718-7 Hgb numeric\n")?;
    /// assert_eq!(m.rule("ICD10CM/E11.9").unwrap().signal, "DIAGNOSIS");
    /// assert_eq!(m.rule("LOINC/718-7").unwrap().kind, MappingKind::Numeric);
    /// assert!(m.rule("MEDS_BIRTH").is_none());
    /// # Ok::<_, inframed::Error>(())
    /// ```
    pub fn parse(path: &Path, text: &str) -> Result<Mapping> {
        let bad = |line: usize, what: String| Error::Parse {
            path: path.into(),
            line,
            what: "mapping rule",
            source: ParseError::Other(what),
        };
        let mut m = Mapping {
            path: path.into(),
            ..Default::default()
        };
        let mut prefixes: BTreeMap<String, MappingRule> = BTreeMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let body = raw.split('#').next().unwrap_or("");
            let f: Vec<&str> = body.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
            if f.is_empty() {
                continue;
            }
            if f.len() == 1 || f.len() > 3 {
                return Err(bad(
                    line,
                    format!(
                        "{} fields; a mapping line is PATTERN SIGNAL [numeric|category] or \
                         PATTERN -",
                        f.len()
                    ),
                ));
            }
            let (pattern, prefix) = match f[0].strip_suffix('*') {
                Some(p) => (p, true),
                None => (f[0], false),
            };
            if pattern.contains('*') {
                return Err(bad(
                    line,
                    format!("pattern {}: a * may only end a pattern", f[0]),
                ));
            }
            let kind = match (f[1], f.get(2).copied()) {
                ("-", None) => MappingKind::Drop,
                ("-", Some(k)) => {
                    return Err(bad(line, format!("a dropped code (-) takes no kind ({k})")))
                }
                (_, None) => MappingKind::Auto,
                (_, Some("numeric")) => MappingKind::Numeric,
                (_, Some("category")) => MappingKind::Category,
                (_, Some(k)) => {
                    return Err(bad(line, format!("kind {k}: expected numeric or category")))
                }
            };
            let signal = if kind == MappingKind::Drop { "" } else { f[1] };
            if signal.contains("//") {
                return Err(bad(
                    line,
                    format!("signal name {signal} holds //, the MEDS code separator"),
                ));
            }
            let rule = MappingRule {
                line,
                pattern: pattern.to_string(),
                prefix,
                signal: signal.to_string(),
                kind,
            };
            let table = if prefix { &mut prefixes } else { &mut m.exact };
            if let Some(old) = table.get(pattern) {
                return Err(bad(
                    line,
                    format!("pattern {} already given on line {}", f[0], old.line),
                ));
            }
            table.insert(pattern.to_string(), rule);
        }
        m.prefixes = prefixes.into_values().collect();
        m.prefixes
            .sort_by_key(|r| std::cmp::Reverse(r.pattern.len()));
        Ok(m)
    }

    /// The rule for `code`: its exact line, else the longest matching prefix.
    pub fn rule(&self, code: &str) -> Option<&MappingRule> {
        self.exact
            .get(code)
            .or_else(|| self.prefixes.iter().find(|r| code.starts_with(&r.pattern)))
    }

    /// Every rule, in line order.
    pub fn rules(&self) -> Vec<&MappingRule> {
        let mut v: Vec<&MappingRule> = self.exact.values().chain(&self.prefixes).collect();
        v.sort_by_key(|r| r.line);
        v
    }
}
