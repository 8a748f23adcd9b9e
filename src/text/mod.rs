//! Text formats of a repository: config, signals file, dictionaries. Line parsers whose errors
//! carry `path:line`.

pub mod config;
pub mod dict;
pub mod lazy_dict;
pub mod signals;

use std::path::Path;

use crate::error::{Error, Result};

pub use crate::error::ParseError;

/// The UTF-8 byte-order mark some editors put at the start of a text file.
pub(crate) const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Positions `file` (at its start) after a UTF-8 byte-order mark, if it has one, so the first
/// line of a TSV input reads like any other.
///
/// # Errors
/// The file's read or seek error.
pub(crate) fn skip_bom(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut head = [0u8; 3];
    let mut n = 0;
    while n < 3 {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    if head[..n] != *UTF8_BOM {
        file.seek(SeekFrom::Start(0))?;
    }
    Ok(())
}

/// Reads a whole text file, naming it in the error, as [`decode`] reads its bytes.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })?;
    Ok(decode(&bytes).into_owned())
}

/// A text file's bytes as text: a leading UTF-8 byte-order mark skipped; invalid UTF-8
/// (Latin-1 or other 8-bit text in old dictionaries) kept byte for byte as chars, so no name
/// is lost or merged.
pub(crate) fn decode(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => std::borrow::Cow::Owned(bytes.iter().map(|&b| b as char).collect()),
    }
}

/// Lines as the original tools see them: 1-based number, trailing `\r` removed, lines of
/// length ≤ 1 and `#` comments skipped.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().filter_map(|(i, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() <= 1 || line.starts_with('#') {
            None
        } else {
            Some((i + 1, line))
        }
    })
}

/// A parse error at `path:line`.
pub(crate) fn parse_error(
    path: &Path,
    line: usize,
    what: &'static str,
    source: ParseError,
) -> Error {
    Error::Parse {
        path: path.into(),
        line,
        what,
        source,
    }
}

pub(crate) fn parse_int(field: &str) -> Result<i64, ParseError> {
    field
        .trim()
        .parse::<i64>()
        .map_err(|_| ParseError::Integer(field.to_string()))
}

pub(crate) fn parse_ranged(field: &str, min: i64, max: i64) -> Result<i64, ParseError> {
    let value = parse_int(field)?;
    if value < min || value > max {
        return Err(ParseError::Range { value, min, max });
    }
    Ok(value)
}
