//! Repository config (`<name>.repository`): TAB-separated directives.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::text::{lines, parse_error, parse_int, parse_ranged, read_text, ParseError};
use crate::time::TimeUnit;

/// A parsed repository config, paths resolved against `DIR` / `METADATA_DIR`.
#[derive(Clone, Debug, PartialEq)]
pub struct RepositoryConfig {
    /// The config file.
    pub path: PathBuf,
    /// `DESCRIPTION` (empty if absent).
    pub description: String,
    /// `DIR`, resolved (`.` or absent = the config's directory).
    pub dir: PathBuf,
    /// `METADATA_DIR`, resolved (defaults to `dir`).
    pub metadata_dir: PathBuf,
    /// `DICTIONARY` files in order, plus the `SIGNAL` file where it appears (each path once).
    pub dictionaries: Vec<PathBuf>,
    /// The last `SIGNAL` file (see [`RepositoryConfig::signals_files`] for all of them).
    pub signals: Option<PathBuf>,
    /// Every `SIGNAL` file, in config order (each path once): the original reads them all
    /// into one signal table.
    pub signals_files: Vec<PathBuf>,
    /// `MODE` (3 = per-signal stripped files). Absent: 3, or 0 when `DATA` lines are present.
    pub mode: i32,
    /// `PREFIX` as written (relative to `dir`); default `rep`.
    pub prefix: String,
    /// `TIMEUNIT` / `TIME_UNIT`; default Date.
    pub time_unit: TimeUnit,
    /// Legacy `DATA <fno> <path>` lines (resolved against `dir`), in file order.
    pub data: Vec<(u16, PathBuf)>,
    /// Legacy `INDEX <path>` lines (resolved against `dir`), in file order.
    pub index: Vec<PathBuf>,
    /// Legacy `SFILES <path>`.
    pub sfiles: Option<PathBuf>,
    /// Unknown keywords, `(line, keyword)`: ignored like the original does.
    pub ignored: Vec<(usize, String)>,
}

impl RepositoryConfig {
    /// Reads and parses a repository config file.
    ///
    /// # Errors
    /// [`crate::Error::Open`] if unreadable; [`crate::Error::Parse`] naming `path:line` for a
    /// directive with missing or invalid fields.
    pub fn read(path: &Path) -> Result<RepositoryConfig> {
        let text = read_text(path)?;
        Self::parse(path, &text)
    }

    /// Parses the bytes of the config file at `path`, already read (decoded as
    /// [`RepositoryConfig::read`] decodes them: a byte-order mark skipped, 8-bit text kept).
    ///
    /// # Errors
    /// As [`RepositoryConfig::parse`].
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<RepositoryConfig> {
        Self::parse(path, &crate::text::decode(bytes))
    }

    /// Parses config text; `path` names the file in errors and anchors relative paths.
    ///
    /// # Errors
    /// As [`RepositoryConfig::read`].
    pub fn parse(path: &Path, text: &str) -> Result<RepositoryConfig> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let mut dir: Option<String> = None;
        let mut metadata_dir: Option<String> = None;
        let mut dicts: Vec<String> = Vec::new();
        let mut signals: Option<String> = None;
        let mut signals_files: Vec<String> = Vec::new();
        let mut mode: Option<i32> = None;
        let mut prefix = String::from("rep");
        let mut time_unit = TimeUnit::Date;
        let mut data: Vec<(u16, String)> = Vec::new();
        let mut index: Vec<String> = Vec::new();
        let mut sfiles: Option<String> = None;
        let mut description = String::new();
        let mut ignored = Vec::new();

        for (n, line) in lines(text) {
            let fields: Vec<&str> = line.split('\t').collect();
            let keyword = fields[0];
            let arg = |what: &'static str| -> Result<String> {
                match fields.get(1) {
                    Some(v) if !v.is_empty() => Ok((*v).to_string()),
                    Some(_) => Err(parse_error(path, n, what, ParseError::Empty)),
                    None => Err(parse_error(
                        path,
                        n,
                        what,
                        ParseError::TooFewFields {
                            expected: 2,
                            found: fields.len(),
                        },
                    )),
                }
            };
            match keyword {
                "DESCRIPTION" => description = fields[1..].join("\t"),
                "DIR" => dir = Some(arg("DIR")?),
                "METADATA_DIR" => metadata_dir = Some(arg("METADATA_DIR")?),
                "DICTIONARY" => dicts.push(arg("DICTIONARY")?),
                "SIGNAL" => {
                    let s = arg("SIGNAL")?;
                    dicts.push(s.clone());
                    if !signals_files.contains(&s) {
                        signals_files.push(s.clone());
                    }
                    signals = Some(s);
                }
                "MODE" => {
                    let v = parse_ranged(&arg("MODE")?, 0, 3)
                        .map_err(|e| parse_error(path, n, "MODE", e))?;
                    mode = Some(v as i32);
                }
                "PREFIX" => prefix = arg("PREFIX")?,
                "TIMEUNIT" | "TIME_UNIT" => {
                    let code = parse_int(&arg("TIMEUNIT")?)
                        .map_err(|e| parse_error(path, n, "TIMEUNIT", e))?;
                    time_unit = TimeUnit::from_code(code)
                        .map_err(|e| parse_error(path, n, "TIMEUNIT", ParseError::Time(e)))?;
                }
                "DATA" => {
                    if fields.len() < 3 {
                        return Err(parse_error(
                            path,
                            n,
                            "DATA line (DATA <fno> <path>)",
                            ParseError::TooFewFields {
                                expected: 3,
                                found: fields.len(),
                            },
                        ));
                    }
                    let fno = parse_ranged(fields[1], 0, u16::MAX as i64)
                        .map_err(|e| parse_error(path, n, "DATA file number", e))?;
                    if fields[2].is_empty() {
                        return Err(parse_error(path, n, "DATA path", ParseError::Empty));
                    }
                    data.push((fno as u16, fields[2].to_string()));
                }
                "INDEX" => index.push(arg("INDEX")?),
                "SFILES" => sfiles = Some(arg("SFILES")?),
                other => ignored.push((n, other.to_string())),
            }
        }

        let resolve_dir = |d: Option<String>| -> PathBuf {
            match d.as_deref() {
                None | Some(".") => base.clone(),
                Some(d) => base.join(d),
            }
        };
        let dir = resolve_dir(dir);
        let metadata_dir = match metadata_dir {
            None => dir.clone(),
            some => resolve_dir(some),
        };
        let mut dictionaries: Vec<PathBuf> = Vec::new();
        for d in dicts {
            let p = metadata_dir.join(d);
            if !dictionaries.contains(&p) {
                dictionaries.push(p);
            }
        }
        let mode = mode.unwrap_or(if data.is_empty() { 3 } else { 0 });
        Ok(RepositoryConfig {
            path: path.to_path_buf(),
            description,
            signals: signals.map(|s| metadata_dir.join(s)),
            signals_files: signals_files.iter().map(|s| metadata_dir.join(s)).collect(),
            data: data.into_iter().map(|(f, p)| (f, dir.join(p))).collect(),
            index: index.into_iter().map(|p| dir.join(p)).collect(),
            sfiles: sfiles.map(|p| dir.join(p)),
            dir,
            metadata_dir,
            dictionaries,
            mode,
            prefix,
            time_unit,
            ignored,
        })
    }

    /// `DIR/<PREFIX>`: the stem of per-signal files.
    pub fn prefix_path(&self) -> PathBuf {
        self.dir.join(&self.prefix)
    }
}

/// The file-name form of a signal name: `/` → `_div_`, `:` → `_over_`, `%` → `_percent_`.
///
/// # Examples
/// ```
/// assert_eq!(inframed::text::config::fixed_signal_name("Eosinophils%"), "Eosinophils_percent_");
/// ```
pub fn fixed_signal_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '/' => out.push_str("_div_"),
            ':' => out.push_str("_over_"),
            '%' => out.push_str("_percent_"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_written_form() {
        let text = "DESCRIPTION\tSMALL\r\nDIR\t.\nDICTIONARY\tsmall.signals\nDICTIONARY\tdicts/dict.gender\n# c\n\nSIGNAL\tsmall.signals\nMODE\t3\nPREFIX\tdata/small_rep\nTIMEUNIT\t1\nFOO\tbar\n";
        let c = RepositoryConfig::parse(Path::new("/r/small.repository"), text).unwrap();
        assert_eq!(c.dir, PathBuf::from("/r"));
        assert_eq!(
            c.dictionaries,
            [
                PathBuf::from("/r/small.signals"),
                PathBuf::from("/r/dicts/dict.gender")
            ]
        );
        assert_eq!(c.signals, Some(PathBuf::from("/r/small.signals")));
        assert_eq!(c.signals_files, [PathBuf::from("/r/small.signals")]);
        assert_eq!(
            (c.mode, c.prefix.as_str(), c.time_unit),
            (3, "data/small_rep", TimeUnit::Date)
        );
        assert_eq!(c.ignored, [(11, "FOO".to_string())]);
        assert_eq!(c.prefix_path(), PathBuf::from("/r/data/small_rep"));
    }

    #[test]
    fn legacy_lines_and_errors() {
        let c = RepositoryConfig::parse(
            Path::new("x/a.repository"),
            "DATA\t1\td/b.data\nINDEX\td/b.idx\n",
        )
        .unwrap();
        assert_eq!(c.mode, 0);
        assert_eq!(c.data, [(1, PathBuf::from("x/d/b.data"))]);
        let e = RepositoryConfig::parse(Path::new("a.repository"), "MODE\t3\nDATA\tonly\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.repository:2: invalid DATA line (DATA <fno> <path>)"
        );
        let e = RepositoryConfig::parse(Path::new("a.repository"), "MODE\tx\n").unwrap_err();
        assert_eq!(e.to_string(), "a.repository:1: invalid MODE");
        assert!(RepositoryConfig::parse(Path::new("a"), "TIMEUNIT\t12\n").is_err());
        assert!(RepositoryConfig::parse(Path::new("a"), "PREFIX\t\n").is_err());
    }

    #[test]
    fn several_signal_lines_are_all_kept() {
        let text = "SIGNAL\ta.signals\nSIGNAL\tb.signals\nSIGNAL\ta.signals\n";
        let c = RepositoryConfig::parse(Path::new("/r/x.repository"), text).unwrap();
        assert_eq!(
            c.signals_files,
            [PathBuf::from("/r/a.signals"), PathBuf::from("/r/b.signals")]
        );
        assert_eq!(c.signals, Some(PathBuf::from("/r/a.signals")));
    }

    #[test]
    fn escapes_names() {
        assert_eq!(
            fixed_signal_name("Urine/Creat:x%#"),
            "Urine_div_Creat_over_x_percent_#"
        );
    }
}
