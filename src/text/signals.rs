//! Signals file (`<name>.signals`): `GENERIC_SIGNAL_TYPE` aliases and `SIGNAL` lines.

use std::path::Path;

use crate::error::Result;
use crate::ids::Sid;
use crate::layout::Layout;
use crate::text::{lines, parse_error, parse_int, parse_ranged, ParseError};
use crate::time::TimeUnit;

/// The largest sid the original tools accept, plus one (`MAX_SID_NUMBER`).
pub const MAX_SID: u32 = 100_000;

/// One signal of the signals file.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalInfo {
    /// Name, e.g. `Hemoglobin`.
    pub name: String,
    /// Signal id.
    pub sid: Sid,
    /// The type field as written (`16:my_SDateVal`, `1`, `T(i),V(f)`).
    pub type_text: String,
    /// The element layout the type field resolves to.
    pub layout: Layout,
    /// Description field (ETL puts comma-separated tags here).
    pub description: String,
    /// Per value channel: holds dictionary codes of the section named after the signal.
    pub categorical: Vec<bool>,
    /// The categorical bitmap as written (may be empty).
    pub bitmap_text: String,
    /// Units field as written (`|`-separated per value channel).
    pub units: String,
    /// Time unit of the time channels (the signal's own, else the repository's).
    pub time_unit: TimeUnit,
    /// The time-unit field as written (empty if absent).
    pub time_unit_text: String,
}

impl SignalInfo {
    /// Checks that `bytes`, a vector of this signal for `pid` handed to a writer, is a whole
    /// number of elements: the one such check of every writer.
    ///
    /// # Errors
    /// [`crate::Error::PartialElements`].
    #[inline]
    pub fn check_whole(&self, pid: crate::ids::Pid, bytes: &[u8]) -> Result<()> {
        let element = self.layout.size();
        if bytes.len() % element != 0 {
            return Err(crate::error::Error::PartialElements {
                pid,
                sid: self.sid,
                signal: self.name.clone(),
                bytes: bytes.len(),
                element,
            });
        }
        Ok(())
    }

    /// Whether value channel `ch` is categorical.
    pub fn is_categorical(&self, ch: usize) -> bool {
        self.categorical.get(ch).copied().unwrap_or(false)
    }

    /// The `SIGNAL` line of this signal, its type written as in the source when it still
    /// resolves to the same layout (else as `16:<spec>`).
    pub(crate) fn signals_line(&self, aliases: &[(String, String)]) -> String {
        let type_text = match resolve_type(&self.type_text, aliases) {
            Ok(l) if l == self.layout => self.type_text.clone(),
            _ => format!("16:{}", self.layout.spec()),
        };
        let mut line = format!(
            "SIGNAL\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name, self.sid, type_text, self.description, self.bitmap_text, self.units
        );
        if !self.time_unit_text.is_empty() {
            line.push('\t');
            line.push_str(&self.time_unit_text);
        }
        line
    }
}

/// A parsed signals file, or several read into one table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignalsFile {
    /// `GENERIC_SIGNAL_TYPE alias spec` lines, in order.
    pub generic_types: Vec<(String, String)>,
    /// `SIGNAL` lines, in order.
    pub signals: Vec<SignalInfo>,
    /// Lines with unknown keywords, `(line, keyword)`: always empty now that such lines are
    /// errors (as in the original); kept so that callers reporting it still build.
    pub ignored: Vec<(usize, String)>,
}

/// Resolves a type field: `0..15`, `16:<alias|spec>`, or a bare alias or spec.
pub(crate) fn resolve_type(
    field: &str,
    aliases: &[(String, String)],
) -> Result<Layout, ParseError> {
    let field = field.trim();
    let by_alias = |name: &str| -> Result<Layout, ParseError> {
        if let Some((_, spec)) = aliases.iter().rev().find(|(a, _)| a == name) {
            return Ok(Layout::parse(spec)?);
        }
        Layout::parse(name).map_err(|e| match e {
            crate::error::LayoutError::Syntax(_) => ParseError::UnknownAlias(name.to_string()),
            e => ParseError::Layout(e),
        })
    };
    if let Some(rest) = field.strip_prefix("16:") {
        return by_alias(rest);
    }
    if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        let n = parse_int(field)?;
        if n == 16 {
            return Err(ParseError::Other("type 16 needs ':<alias or spec>'".into()));
        }
        return Ok(Layout::legacy(n)?);
    }
    by_alias(field)
}

/// Where a signal was defined: file and line.
#[derive(Clone, Debug)]
struct Origin<'a> {
    path: &'a Path,
    line: usize,
    index: usize,
}

/// Whether two definitions of one name or sid say the same thing (the type may be written as
/// an alias in one file and as a spec in another).
fn same_definition(a: &SignalInfo, b: &SignalInfo) -> bool {
    a.name == b.name
        && a.sid == b.sid
        && a.layout == b.layout
        && a.description == b.description
        && a.categorical == b.categorical
        && a.units == b.units
        && a.time_unit == b.time_unit
}

impl SignalsFile {
    /// Parses signals-file text; `path` names the file in errors. `default_unit` is the
    /// repository `TIMEUNIT`, used for signals without their own.
    ///
    /// Keywords are matched as the original reader matches them: by **prefix** (a first field
    /// starting with `GENERIC_SIGNAL_TYPE` with at least 3 fields is an alias line; else one
    /// starting with `SIGNAL` with at least 4 fields is a signal line). Any other line (a bare
    /// name, an unknown keyword, a `SIGNAL` line without a type) is an error, as the original
    /// throws "can't parse line" on it.
    ///
    /// # Errors
    /// [`crate::Error::Parse`] naming `path:line`: an unparsable line, too few fields, bad sid,
    /// unknown type or alias, bad bitmap or time unit, a name or sid defined twice with
    /// different content.
    pub fn parse(path: &Path, text: &str, default_unit: TimeUnit) -> Result<SignalsFile> {
        Self::parse_files(&[(path, text)], default_unit)
    }

    /// Reads every signals file of a repository config (its `SIGNAL` lines, in order) into one
    /// table, as the original does. `GENERIC_SIGNAL_TYPE` aliases are local to their file.
    /// A name or sid defined again with the same content is kept once; with different content
    /// it is an error naming both lines.
    ///
    /// # Errors
    /// [`crate::Error::Open`] for an unreadable file; as [`SignalsFile::parse_files`].
    pub fn read_files(paths: &[std::path::PathBuf], default_unit: TimeUnit) -> Result<SignalsFile> {
        Self::read_files_keeping(paths, default_unit).map(|(s, _)| s)
    }

    /// [`SignalsFile::read_files`], also giving each file's bytes as read, in order (a signals
    /// file is a dictionary too: its reader need not open it again).
    ///
    /// # Errors
    /// As [`SignalsFile::read_files`].
    pub(crate) fn read_files_keeping(
        paths: &[std::path::PathBuf],
        default_unit: TimeUnit,
    ) -> Result<(SignalsFile, Vec<Vec<u8>>)> {
        let bytes = paths
            .iter()
            .map(|p| {
                std::fs::read(p).map_err(|source| crate::Error::Open {
                    path: p.clone(),
                    source,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let signals = {
            let texts: Vec<_> = bytes.iter().map(|b| crate::text::decode(b)).collect();
            let files: Vec<(&Path, &str)> = paths
                .iter()
                .zip(&texts)
                .map(|(p, t)| (p.as_path(), t.as_ref()))
                .collect();
            Self::parse_files(&files, default_unit)?
        };
        Ok((signals, bytes))
    }

    /// Parses several signals files, `(path, text)` in order, into one table (see
    /// [`SignalsFile::read_files`]).
    ///
    /// # Errors
    /// As [`SignalsFile::parse`].
    pub fn parse_files(files: &[(&Path, &str)], default_unit: TimeUnit) -> Result<SignalsFile> {
        let mut out = SignalsFile::default();
        let mut names: hashbrown::HashMap<String, Origin<'_>> = hashbrown::HashMap::new();
        let mut sids: hashbrown::HashMap<u32, Origin<'_>> = hashbrown::HashMap::new();
        for &(path, text) in files {
            let mut aliases: Vec<(String, String)> = Vec::new();
            for (n, line) in lines(text) {
                let f: Vec<&str> = line.split('\t').collect();
                if f[0].starts_with("GENERIC_SIGNAL_TYPE") && f.len() >= 3 {
                    Layout::parse(f[2])
                        .map_err(|e| parse_error(path, n, "GENERIC_SIGNAL_TYPE spec", e.into()))?;
                    aliases.push((f[1].to_string(), f[2].to_string()));
                    out.generic_types.push((f[1].to_string(), f[2].to_string()));
                    continue;
                }
                if !(f[0].starts_with("SIGNAL") && f.len() >= 4) {
                    let (what, expected) = if f[0].starts_with("GENERIC_SIGNAL_TYPE") {
                        ("GENERIC_SIGNAL_TYPE line", 3)
                    } else if f[0].starts_with("SIGNAL") {
                        ("SIGNAL line", 4)
                    } else {
                        return Err(parse_error(
                            path,
                            n,
                            "line",
                            ParseError::Other(format!(
                                "{:?} is neither a GENERIC_SIGNAL_TYPE nor a SIGNAL line \
                                 (the original cannot parse it either)",
                                f[0]
                            )),
                        ));
                    };
                    return Err(parse_error(
                        path,
                        n,
                        what,
                        ParseError::TooFewFields {
                            expected,
                            found: f.len(),
                        },
                    ));
                }
                let info = parse_signal(path, n, &f, &aliases, default_unit)?;
                let here = Origin {
                    path,
                    line: n,
                    index: out.signals.len(),
                };
                let by_name = names.get(&info.name).cloned();
                let by_sid = sids.get(&info.sid.0).cloned();
                let mut duplicate = false;
                for (prior, what) in [(by_name, "signal name"), (by_sid, "signal id")] {
                    let Some(prior) = prior else { continue };
                    if same_definition(&out.signals[prior.index], &info) {
                        duplicate = true;
                        continue;
                    }
                    return Err(parse_error(
                        path,
                        n,
                        what,
                        ParseError::Other(format!(
                            "{} defined again with different content (first at {}:{})",
                            match what {
                                "signal name" => format!("name {:?}", info.name),
                                _ => format!("sid {}", info.sid),
                            },
                            prior.path.display(),
                            prior.line
                        )),
                    ));
                }
                if duplicate {
                    continue;
                }
                names.insert(info.name.clone(), here.clone());
                sids.insert(info.sid.0, here);
                out.signals.push(info);
            }
        }
        Ok(out)
    }
}

/// One `SIGNAL` line (at least 4 fields) into a [`SignalInfo`].
fn parse_signal(
    path: &Path,
    n: usize,
    f: &[&str],
    aliases: &[(String, String)],
    default_unit: TimeUnit,
) -> Result<SignalInfo> {
    let name = f[1].to_string();
    if name.is_empty() {
        return Err(parse_error(path, n, "signal name", ParseError::Empty));
    }
    let sid = parse_ranged(f[2], 0, MAX_SID as i64 - 1)
        .map_err(|e| parse_error(path, n, "signal id", e))? as u32;
    let layout = resolve_type(f[3], aliases).map_err(|e| parse_error(path, n, "signal type", e))?;
    let field = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");
    let bitmap = field(5);
    if !bitmap.bytes().all(|b| b == b'0' || b == b'1') {
        return Err(parse_error(
            path,
            n,
            "categorical bitmap",
            ParseError::Bitmap(bitmap.into()),
        ));
    }
    let time_unit_text = field(7);
    let time_unit = if time_unit_text.is_empty() {
        default_unit
    } else {
        let code = parse_int(time_unit_text).map_err(|e| parse_error(path, n, "time unit", e))?;
        TimeUnit::from_code(code).map_err(|e| parse_error(path, n, "time unit", e.into()))?
    };
    let categorical = (0..layout.value_channels().len())
        .map(|i| bitmap.as_bytes().get(i) == Some(&b'1'))
        .collect();
    Ok(SignalInfo {
        name,
        sid: Sid(sid),
        type_text: f[3].to_string(),
        layout,
        description: field(4).to_string(),
        categorical,
        bitmap_text: bitmap.to_string(),
        units: field(6).to_string(),
        time_unit,
        time_unit_text: time_unit_text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETL: &str =
        "GENERIC_SIGNAL_TYPE\tmy_SInt\tV(i)\nGENERIC_SIGNAL_TYPE\tmy_SDateVal\tT(i),V(f)\n\
GENERIC_SIGNAL_TYPE\tmy_DateRangeInt2\tT(i,i),V(i,i)\n\
SIGNAL\tGENDER\t100\t16:my_SInt\tdemographic,singleton\t1\t\n\
SIGNAL\tBDATE\t102\t16:my_SInt\tdemographic,singleton,date\t0\tdate\t\n\
SIGNAL\tADMISSION\t2003\t16:my_DateRangeInt2\tcategorical\t11\t\n\
SIGNAL\tHemoglobin\t1000\t16:my_SDateVal\tlabs,cbc\t0\tg/dL\t\n";

    #[test]
    fn etl_form() {
        let s = SignalsFile::parse(Path::new("s.signals"), ETL, TimeUnit::Date).unwrap();
        assert_eq!(s.signals.len(), 4);
        assert_eq!(s.signals[0].categorical, [true]);
        assert_eq!(s.signals[2].categorical, [true, true]);
        assert_eq!(s.signals[2].layout.size(), 16);
        assert_eq!(s.signals[3].units, "g/dL");
        assert_eq!(s.signals[1].units, "date");
    }

    #[test]
    fn rewritten_form_and_legacy_numbers() {
        let t = "SIGNAL\tHemoglobin\t1000\t1\tlab\t0\tg/dL\nSIGNAL\tX\t5\tT(l),V(f),p,p,p,p\tx\t0\t\t6\nSIGNAL\tY\t6\t16:T(i),V(i)\n";
        let s = SignalsFile::parse(Path::new("s"), t, TimeUnit::Date).unwrap();
        assert_eq!(s.signals[0].layout.spec(), "T(i),V(f)");
        assert_eq!(s.signals[1].time_unit, TimeUnit::Minutes);
        assert_eq!(s.signals[1].layout.size(), 16);
        assert_eq!(s.signals[2].layout.spec(), "T(i),V(i)");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("SIGNAL\tA\t1\t16\n", 1),
            ("SIGNAL\tA\t1\t16:nope\n", 1),
            ("SIGNAL\tA\t1\t1\nSIGNAL\tA\t2\t1\n", 2),
            ("SIGNAL\tA\t1\t1\nSIGNAL\tB\t1\t1\n", 2),
            ("\nSIGNAL\tA\tx\t1\n", 2),
            ("SIGNAL\tA\t100000\t1\n", 1),
            ("SIGNAL\tA\t1\t1\td\t2\n", 1),
            ("SIGNAL\tA\t1\t1\td\t0\t\t99\n", 1),
            ("SIGNAL\tA\t1\n", 1),
            ("SIGNAL\tA\t1\t17\n", 1),
        ] {
            let e = SignalsFile::parse(Path::new("s.signals"), text, TimeUnit::Date).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("s.signals:{line}:")),
                "{text:?}: {e}"
            );
        }
    }
}
