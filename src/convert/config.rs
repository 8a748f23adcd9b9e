//! The convert config (`*.convert_config`) of the original loader, MedConvert.
//!
//! A different format from the repository config: each line is split on space **or** tab with
//! empty tokens kept (`A␣␣B` → `["A", "", "B"]`), lines of length ≤ 1 or starting with `#` are
//! skipped, lines with fewer than 2 fields are ignored and only `fields[1]` is used (so
//! `DESCRIPTION SMALL data` means `SMALL`). The last occurrence of a scalar key wins.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::text::{read_text, ParseError};

/// The kind of an input file, which decides how its lines are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// `DATA` / `DATA_S`: `pid<TAB>code<TAB>times…<TAB>values…`.
    Data,
    /// `REGISTRY` (the original design's cancer registry): `pid<TAB>stage<TAB>date<TAB>location`
    /// → `Cancer_Stage` and `Cancer_Location`.
    Registry,
    /// `DEMOGRAPHICS` (the original design): `pid<TAB>byear<TAB>gender(M/F)` → `BYEAR`, `GENDER`.
    Demographics,
    /// `DEATHS` (the original design): `pid<TAB>DEATH<TAB>date` → `DEATH`.
    Deaths,
}

/// One input file of the convert config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The path as written in the config (used in messages, like the original).
    pub name: String,
    /// The path to open (`DIR` prefixed to relative names).
    pub path: PathBuf,
    /// How its lines are read.
    pub kind: InputKind,
}

/// A parsed convert config. Paths are resolved the way MedConvert resolves them: `DIR .` is
/// the directory of the convert config; any other relative `DIR`, and `OUTDIR`, are relative
/// to the process's working directory; input names relative to `DIR`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvertConfig {
    /// The convert config file.
    pub path: PathBuf,
    /// `DESCRIPTION` (its first word, as the original keeps it).
    pub description: String,
    /// `RELATIVE` present: the output config says `DIR .`.
    pub relative: bool,
    /// `SAFE_MODE` (0 = off).
    pub safe_mode: i32,
    /// `MODE` (default 1, as `create_rep(fname)`).
    pub mode: i32,
    /// `PREFIX` (default `rep`).
    pub prefix: String,
    /// `CONFIG`: name of the `.repository` to write (none: no config is written).
    pub config_name: Option<String>,
    /// `SIGNAL`: the signals file, relative to `dir` as written.
    pub signals: Vec<String>,
    /// `DICTIONARY` (and `SIGNAL`) names in config order, relative to `dir` as written.
    pub dictionaries: Vec<String>,
    /// `FORCE_SIGNAL` names.
    pub forced: Vec<String>,
    /// `LOAD_ONLY` names.
    pub load_only: Vec<String>,
    /// The input directory (`DIR`, resolved).
    pub dir: PathBuf,
    /// `DIR` as written (empty if absent).
    pub dir_text: String,
    /// The output directory (`OUTDIR`, default `dir`).
    pub outdir: PathBuf,
    /// `OUTDIR` as written (empty if absent).
    pub outdir_text: String,
    /// Input files in the order the original opens them: `REGISTRY`, `DATA`, `DATA_S`, then
    /// the design's `DEMOGRAPHICS` and `DEATHS`.
    pub inputs: Vec<InputFile>,
    /// `CODES` file (resolved).
    pub codes: Option<PathBuf>,
    /// `FNAMES` file (resolved).
    pub fnames: Option<PathBuf>,
    /// `SFILES` file (resolved).
    pub sfiles: Option<PathBuf>,
    /// `TIMEUNIT` / `TIME_UNIT` code (default 1, Date).
    pub time_unit: i32,
}

/// The keywords [`ConvertConfig::parse`] reads; a line with any other first field is ignored,
/// as by the original loader (the CLI warns about it: [`ConvertConfig::unknown_keywords`]).
pub const KEYWORDS: &[&str] = &[
    "DIR",
    "OUTDIR",
    "CONFIG",
    "DICTIONARY",
    "SIGNAL",
    "CODES",
    "FNAMES",
    "SFILES",
    "REGISTRY",
    "DATA",
    "DATA_S",
    "DEMOGRAPHICS",
    "DEATHS",
    "MODE",
    "SAFE_MODE",
    "PREFIX",
    "RELATIVE",
    "TIMEUNIT",
    "TIME_UNIT",
    "DESCRIPTION",
    "FORCE_SIGNAL",
    "LOAD_ONLY",
];

/// Splits a line the way MedConvert splits a convert config line (space or tab, empty tokens kept).
pub(crate) fn split_any(line: &str) -> Vec<&str> {
    line.split([' ', '\t']).collect()
}

/// Lines as MedConvert reads its own config and the CODES/FNAMES/SFILES files: 1-based number,
/// a trailing `\r` removed, lines of length ≤ 1 or starting with `#` skipped.
pub(crate) fn config_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().filter_map(|(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        (line.len() > 1 && !line.starts_with('#')).then_some((i + 1, line))
    })
}

fn int_field(path: &Path, line: usize, what: &'static str, text: &str) -> Result<i32> {
    crate::convert::tsv::c_stoi(text).ok_or_else(|| Error::Parse {
        path: path.into(),
        line,
        what,
        source: ParseError::Integer(text.to_string()),
    })
}

/// Prefixes `dir` to a relative name (absolute names are kept).
pub(crate) fn under(dir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

impl ConvertConfig {
    /// Reads and parses a convert config.
    ///
    /// # Errors
    /// [`Error::Open`]; [`Error::Parse`] naming `path:line` for a non-integer `MODE`,
    /// `SAFE_MODE` or `TIMEUNIT`.
    pub fn read(path: &Path) -> Result<ConvertConfig> {
        let text = read_text(path)?;
        Self::parse(path, &text)
    }

    /// The `(line, keyword)` of every line of the convert config at `path` that the converter
    /// ignores because its keyword is not one of [`KEYWORDS`] (a typo such as `DAT`).
    ///
    /// # Errors
    /// [`Error::Open`].
    pub fn unknown_keywords(path: &Path) -> Result<Vec<(usize, String)>> {
        let text = read_text(path)?;
        Ok(config_lines(&text)
            .filter_map(|(n, line)| {
                let f = split_any(line);
                (f.len() >= 2 && !KEYWORDS.contains(&f[0])).then(|| (n, f[0].to_string()))
            })
            .collect())
    }

    /// Parses convert-config text; `path` is the config's own path (for `DIR .` and errors).
    ///
    /// # Errors
    /// As [`ConvertConfig::read`].
    pub fn parse(path: &Path, text: &str) -> Result<ConvertConfig> {
        let mut c = ConvertConfig {
            path: path.to_path_buf(),
            description: String::new(),
            relative: false,
            safe_mode: 0,
            mode: 1,
            prefix: "rep".into(),
            config_name: None,
            signals: Vec::new(),
            dictionaries: Vec::new(),
            forced: Vec::new(),
            load_only: Vec::new(),
            dir: PathBuf::from("."),
            dir_text: String::new(),
            outdir: PathBuf::new(),
            outdir_text: String::new(),
            inputs: Vec::new(),
            codes: None,
            fnames: None,
            sfiles: None,
            time_unit: 1,
        };
        let mut registry: Option<String> = None;
        let mut data: Vec<String> = Vec::new();
        let mut data_s: Vec<String> = Vec::new();
        let mut demographics: Vec<String> = Vec::new();
        let mut deaths: Vec<String> = Vec::new();
        let mut codes = None;
        let mut fnames = None;
        let mut sfiles = None;
        for (n, line) in config_lines(text) {
            let f = split_any(line);
            if f.len() < 2 {
                continue;
            }
            let v = f[1].to_string();
            let is_input = matches!(
                f[0],
                "DATA"
                    | "DATA_S"
                    | "REGISTRY"
                    | "DEMOGRAPHICS"
                    | "DEATHS"
                    | "CODES"
                    | "SIGNAL"
                    | "DICTIONARY"
                    | "FNAMES"
                    | "SFILES"
            );
            if is_input && v.is_empty() {
                // `DATA  x` (two separators): fields[1] is empty; the original would open DIR.
                return Err(Error::Parse {
                    path: path.into(),
                    line: n,
                    what: "file name (fields[1] is empty: two separators in a row?)",
                    source: ParseError::Empty,
                });
            }
            let list = |v: &str| -> Vec<String> { v.split(',').map(str::to_string).collect() };
            match f[0] {
                "DIR" => c.dir_text = v,
                "OUTDIR" => c.outdir_text = v,
                "CONFIG" => c.config_name = Some(v),
                "DICTIONARY" => c.dictionaries.push(v),
                "SIGNAL" => {
                    c.signals.push(v.clone());
                    c.dictionaries.push(v);
                }
                "CODES" => codes = Some(v),
                "FNAMES" => fnames = Some(v),
                "SFILES" => sfiles = Some(v),
                "REGISTRY" => registry = Some(v),
                "DATA" => data.push(v),
                "DATA_S" => data_s.push(v),
                "DEMOGRAPHICS" => demographics.push(v),
                "DEATHS" => deaths.push(v),
                "MODE" => c.mode = int_field(path, n, "MODE", &v)?,
                "SAFE_MODE" => c.safe_mode = int_field(path, n, "SAFE_MODE", &v)?,
                "PREFIX" => c.prefix = v,
                "RELATIVE" => c.relative = true,
                "TIMEUNIT" | "TIME_UNIT" => c.time_unit = int_field(path, n, "TIMEUNIT", &v)?,
                "DESCRIPTION" => c.description = v,
                "FORCE_SIGNAL" => c.forced.extend(list(&v)),
                "LOAD_ONLY" => c.load_only.extend(list(&v)),
                _ => {}
            }
        }
        c.dir = match c.dir_text.as_str() {
            "" => PathBuf::from("."),
            "." => match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            },
            d => PathBuf::from(d),
        };
        c.outdir = if c.outdir_text.is_empty() {
            c.dir.clone()
        } else {
            PathBuf::from(&c.outdir_text)
        };
        let dir = c.dir.clone();
        let input = |name: String, kind| InputFile {
            path: under(&dir, &name),
            name,
            kind,
        };
        c.inputs
            .extend(registry.map(|r| input(r, InputKind::Registry)));
        c.inputs
            .extend(data.into_iter().map(|d| input(d, InputKind::Data)));
        c.inputs
            .extend(data_s.into_iter().map(|d| input(d, InputKind::Data)));
        c.inputs.extend(
            demographics
                .into_iter()
                .map(|d| input(d, InputKind::Demographics)),
        );
        c.inputs
            .extend(deaths.into_iter().map(|d| input(d, InputKind::Deaths)));
        c.codes = codes.map(|p| under(&dir, &p));
        c.fnames = fnames.map(|p| under(&dir, &p));
        c.sfiles = sfiles.map(|p| under(&dir, &p));
        Ok(c)
    }
}

/// Reads a `CODES` file: lines `<code> <signal name>` (space or tab, ≥ 2 fields, later lines
/// win), as `(code, name)` pairs in file order.
///
/// # Errors
/// [`Error::Open`].
pub fn read_codes(path: &Path) -> Result<Vec<(String, String)>> {
    let text = read_text(path)?;
    Ok(config_lines(&text)
        .filter_map(|(_, line)| {
            let f = split_any(line);
            (f.len() >= 2).then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect())
}

/// Reads an `FNAMES` or `SFILES` file: lines `<fno> <name>` (space or tab, ≥ 2 fields), as
/// `(line number, fno, name)` in file order.
///
/// # Errors
/// [`Error::Open`]; [`Error::Parse`] for a line without both fields, or a file number that is
/// not an integer in 0..=65535.
pub fn read_numbered(path: &Path) -> Result<Vec<(usize, u16, String)>> {
    let text = read_text(path)?;
    let mut out = Vec::new();
    for (n, line) in config_lines(&text) {
        let f = split_any(line);
        if f.len() < 2 || f[1].is_empty() {
            return Err(Error::Parse {
                path: path.into(),
                line: n,
                what: "line (<file number> <name>)",
                source: ParseError::TooFewFields {
                    expected: 2,
                    found: f.iter().filter(|s| !s.is_empty()).count(),
                },
            });
        }
        let fno = int_field(path, n, "file number", f[0])?;
        let fno = u16::try_from(fno).map_err(|_| Error::Parse {
            path: path.into(),
            line: n,
            what: "file number",
            source: ParseError::Range {
                value: fno as i64,
                min: 0,
                max: u16::MAX as i64,
            },
        })?;
        out.push((n, fno, f[1].to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_original() {
        let text = "#\nDESCRIPTION\tSMALL data - full version\nRELATIVE \t1\nSAFE_MODE\t1\nMODE\t3\n\
PREFIX\tdata/small_rep\nCONFIG\tsmall.repository\nSIGNAL\tsmall.signals\nFORCE_SIGNAL\tGENDER,BDATE\n\
DIR\t.\nOUTDIR\t../repo\nDICTIONARY\tdicts/a\nDATA\tdata/x.tsv\nDATA_S\tdata/s.tsv\nREGISTRY\tr.tsv\n\
X\nTIMEUNIT\t1\r\n";
        let c = ConvertConfig::parse(Path::new("in/small.convert_config"), text).unwrap();
        assert_eq!(c.description, "SMALL");
        assert!(c.relative);
        assert_eq!((c.safe_mode, c.mode, c.time_unit), (1, 3, 1));
        assert_eq!(c.prefix, "data/small_rep");
        assert_eq!(c.dir, PathBuf::from("in"));
        assert_eq!(c.outdir, PathBuf::from("../repo"));
        assert_eq!(c.forced, ["GENDER", "BDATE"]);
        assert_eq!(c.dictionaries, ["small.signals", "dicts/a"]);
        let names: Vec<(&str, InputKind)> =
            c.inputs.iter().map(|i| (i.name.as_str(), i.kind)).collect();
        assert_eq!(
            names,
            [
                ("r.tsv", InputKind::Registry),
                ("data/x.tsv", InputKind::Data),
                ("data/s.tsv", InputKind::Data)
            ]
        );
        assert_eq!(c.inputs[1].path, PathBuf::from("in/data/x.tsv"));
    }

    #[test]
    fn defaults_and_errors() {
        let c = ConvertConfig::parse(Path::new("a.cfg"), "SIGNAL x.signals\n").unwrap();
        assert_eq!((c.mode, c.prefix.as_str()), (1, "rep"));
        assert_eq!(c.dir, PathBuf::from("."));
        assert_eq!(c.outdir, PathBuf::from("."));
        let e = ConvertConfig::parse(Path::new("a.cfg"), "#\nMODE\tthree\n").unwrap_err();
        assert_eq!(e.to_string(), "a.cfg:2: invalid MODE");
        let e = ConvertConfig::parse(Path::new("a.cfg"), "DATA  x.tsv\n").unwrap_err();
        assert!(
            e.to_string().starts_with("a.cfg:1: invalid file name"),
            "{e}"
        );
    }
}
