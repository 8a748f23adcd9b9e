//! Dictionaries taken at open and parsed on first use.
//!
//! Dictionary files are the largest texts of a repository (10,000 `DEF` lines in the
//! synthetic set, hundreds of thousands in real ones) and most reads never need them: a
//! `get` of Hemoglobin does not. So a repository's open maps its dictionary files (a missing
//! one is still an error at open) and parses them the first time a caller asks for a name, a
//! code or a set. Mapping at open, not re-opening by path later, keeps the dictionaries of
//! the same generation of the files as the rest of the open (a writer that replaces the
//! repository afterwards renames new files over the names; the map holds the old ones).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{Result, Warning};
use crate::mmap::Bytes;
use crate::text::decode;
use crate::text::dict::Dictionaries;

/// Where one layer's dictionaries come from.
#[derive(Clone, Debug)]
enum Source {
    /// Built in memory.
    Parsed(Arc<Dictionaries>),
    /// Dictionary files mapped at open, read in order.
    Files(Arc<[(PathBuf, Bytes)]>),
    /// Texts held by a container: (the name its errors give, text), read in order.
    Texts(Arc<[(PathBuf, String)]>),
}

/// What the first use parsed.
#[derive(Debug)]
struct Parsed {
    dictionaries: Dictionaries,
    warnings: Vec<Warning>,
}

/// The dictionaries of a catalog: one source per stacked layer, parsed (and merged in layer
/// order, as [`Dictionaries::merge`] does) the first time they are asked for. Cloning is cheap
/// (the sources and the parse are shared).
#[derive(Clone, Debug, Default)]
pub struct LazyDictionaries {
    layers: Vec<Source>,
    parsed: OnceLock<Arc<Parsed>>,
}

impl LazyDictionaries {
    /// Dictionaries already parsed.
    pub fn parsed(dictionaries: Dictionaries) -> LazyDictionaries {
        LazyDictionaries {
            layers: vec![Source::Parsed(Arc::new(dictionaries))],
            parsed: OnceLock::new(),
        }
    }

    /// The dictionary files at `paths`, mapped now and parsed in order on first use.
    ///
    /// # Errors
    /// [`crate::Error::Open`] naming a file that cannot be opened or mapped.
    pub fn files(paths: &[PathBuf]) -> Result<LazyDictionaries> {
        Self::files_read(paths, Vec::new())
    }

    /// [`LazyDictionaries::files`] where some of the files were read already: `read` holds
    /// their `(path, bytes)`, used instead of opening and mapping those paths again.
    ///
    /// # Errors
    /// As [`LazyDictionaries::files`], for the other files.
    pub(crate) fn files_read(
        paths: &[PathBuf],
        mut read: Vec<(&Path, Vec<u8>)>,
    ) -> Result<LazyDictionaries> {
        let files = paths
            .iter()
            .map(|p| {
                let bytes = match read.iter().position(|(r, _)| *r == p.as_path()) {
                    Some(i) => Bytes::from_owned(read.swap_remove(i).1),
                    None => crate::mmap::map(p)?,
                };
                Ok((p.clone(), bytes))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LazyDictionaries {
            layers: vec![Source::Files(files.into())],
            parsed: OnceLock::new(),
        })
    }

    /// Dictionary texts (`(name in errors, text)`), parsed in order on first use.
    pub fn texts(texts: Vec<(PathBuf, String)>) -> LazyDictionaries {
        LazyDictionaries {
            layers: vec![Source::Texts(texts.into())],
            parsed: OnceLock::new(),
        }
    }

    /// Adds the dictionaries of a later layer: on first use they are read after these.
    pub fn stack(&mut self, later: &LazyDictionaries) {
        self.layers.extend(later.layers.iter().cloned());
        self.parsed = OnceLock::new();
    }

    /// The dictionaries, parsed now if this is the first use.
    ///
    /// # Errors
    /// [`crate::Error::Parse`] naming `file:line` of the first invalid line (the error a
    /// parse at open gave); returned again by every later call.
    pub fn get(&self) -> Result<&Dictionaries> {
        Ok(&self.parse()?.dictionaries)
    }

    /// The warnings the parse gave (`SET` lines naming undefined names), parsing now if this
    /// is the first use.
    ///
    /// # Errors
    /// As [`LazyDictionaries::get`].
    pub fn warnings(&self) -> Result<&[Warning]> {
        Ok(&self.parse()?.warnings)
    }

    fn parse(&self) -> Result<&Parsed> {
        if let Some(p) = self.parsed.get() {
            return Ok(p);
        }
        // A failed parse is not kept: the next call parses again and gives the same error
        // (failures are rare, and errors are not `Clone`).
        let p = Arc::new(self.parse_all()?);
        Ok(self.parsed.get_or_init(|| p))
    }

    fn parse_all(&self) -> Result<Parsed> {
        let mut warnings = Vec::new();
        let mut out: Option<Dictionaries> = None;
        for layer in &self.layers {
            let one = match layer {
                Source::Parsed(d) => Dictionaries::clone(d),
                Source::Files(files) => {
                    let mut d = Dictionaries::default();
                    for (path, bytes) in files.iter() {
                        warnings.extend(d.load(path, &decode(bytes.as_slice()))?);
                    }
                    d
                }
                Source::Texts(texts) => {
                    let mut d = Dictionaries::default();
                    for (path, text) in texts.iter() {
                        warnings.extend(d.load(path, text)?);
                    }
                    d
                }
            };
            match &mut out {
                None => out = Some(one),
                Some(d) => d.merge(&one),
            }
        }
        Ok(Parsed {
            dictionaries: out.unwrap_or_default(),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parse_error_comes_at_first_use_and_again_at_every_use() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.dict");
        std::fs::write(&p, "SECTION\tX\nDEF\tnot-a-number\tName\n").unwrap();
        let lazy = LazyDictionaries::files(std::slice::from_ref(&p)).unwrap();
        for _ in 0..2 {
            let e = lazy.get().unwrap_err().to_string();
            assert!(e.contains("bad.dict:2"), "{e}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_at_open() {
        let e = LazyDictionaries::files(&[PathBuf::from("/nonexistent/x.dict")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.dict"), "{e}");
    }

    #[test]
    fn files_are_read_as_mapped_at_open_not_by_name_later() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.dict");
        std::fs::write(&p, "SECTION\tX\nDEF\t1\tOld\n").unwrap();
        let lazy = LazyDictionaries::files(std::slice::from_ref(&p)).unwrap();
        // A writer replaces the file (a new file renamed over the name) after the open.
        let tmp = dir.path().join("a.dict.tmp");
        std::fs::write(&tmp, "SECTION\tX\nDEF\t1\tNew\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let d = lazy.get().unwrap();
        assert_eq!(d.section("X").unwrap().name(1), Some("Old"));
    }

    #[test]
    fn stacked_layers_merge_in_order_and_latin1_is_kept() {
        let mut a = LazyDictionaries::texts(vec![(
            PathBuf::from("a#dict.X"),
            "SECTION\tX\nDEF\t1\tOne\n".into(),
        )]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.dict");
        std::fs::write(
            &p,
            b"\xef\xbb\xbfSECTION\tX\nDEF\t1\tOne\nDEF\t2\tCaf\xe9\n",
        )
        .unwrap();
        a.stack(&LazyDictionaries::files(std::slice::from_ref(&p)).unwrap());
        let d = a.get().unwrap();
        let x = d.section("X").unwrap();
        assert_eq!(x.name(1), Some("One"));
        assert_eq!(x.name(2), Some("Caf\u{e9}"));
        assert!(a.warnings().unwrap().is_empty());
    }
}
