//! The catalog of a store: its signals (name, sid, element layout, time unit) and dictionaries.

use crate::error::InputError;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;

use crate::error::{Error, Result};
use crate::ids::Sid;
use crate::layout::Layout;
use crate::text::config::RepositoryConfig;
use crate::text::dict::{Dictionaries, Section};
use crate::text::lazy_dict::LazyDictionaries;
pub use crate::text::signals::SignalInfo;
use crate::text::signals::SignalsFile;
use crate::time::TimeUnit;
use crate::Warning;

/// What a container stores to rebuild a [`Catalog`]: the signals file and one dictionary
/// text per section.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CatalogTexts {
    /// Repository time unit code.
    pub time_unit: i32,
    /// Signals-file text.
    pub signals: String,
    /// `(section name, dictionary text)`.
    pub dictionaries: Vec<(String, String)>,
}

/// Signals and dictionaries of a store.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    signals: Vec<SignalInfo>,
    by_name: HashMap<String, usize>,
    by_sid: HashMap<Sid, usize>,
    generic_types: Vec<(String, String)>,
    dictionaries: LazyDictionaries,
    time_unit: TimeUnit,
}

impl Catalog {
    /// A catalog of these signals and dictionaries.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if a name or sid repeats.
    pub fn new(
        signals: SignalsFile,
        dictionaries: Dictionaries,
        time_unit: TimeUnit,
    ) -> Result<Catalog> {
        Catalog::with_dictionaries(signals, LazyDictionaries::parsed(dictionaries), time_unit)
    }

    /// A catalog of these signals and dictionaries not parsed yet (see [`LazyDictionaries`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if a name or sid repeats.
    pub fn with_dictionaries(
        signals: SignalsFile,
        dictionaries: LazyDictionaries,
        time_unit: TimeUnit,
    ) -> Result<Catalog> {
        let mut c = Catalog {
            generic_types: signals.generic_types,
            dictionaries,
            time_unit,
            ..Default::default()
        };
        for s in signals.signals {
            c.insert(s, false)?;
        }
        Ok(c)
    }

    fn insert(&mut self, s: SignalInfo, replace: bool) -> Result<()> {
        if let Some(&i) = self.by_name.get(&s.name) {
            if !replace {
                return Err(InputError::DuplicateSignal { name: s.name }.into());
            }
            let old = &self.signals[i];
            if old.sid != s.sid && self.by_sid.get(&s.sid).is_some() {
                return Err(InputError::DuplicateSid { sid: s.sid }.into());
            }
            self.by_sid.remove(&old.sid);
            self.by_sid.insert(s.sid, i);
            self.signals[i] = s;
            return Ok(());
        }
        if let Some(&i) = self.by_sid.get(&s.sid) {
            return Err(InputError::SidConflict {
                sid: s.sid,
                first: self.signals[i].name.clone(),
                second: s.name,
            }
            .into());
        }
        self.by_name.insert(s.name.clone(), self.signals.len());
        self.by_sid.insert(s.sid, self.signals.len());
        self.signals.push(s);
        Ok(())
    }

    /// Adds the signals and dictionaries of `later` (a stacked store): a name already present
    /// is replaced by the later definition.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a sid names different signals in the two catalogs.
    pub fn stack(&mut self, later: &Catalog) -> Result<()> {
        for (alias, spec) in &later.generic_types {
            self.generic_types.retain(|(a, _)| a != alias);
            self.generic_types.push((alias.clone(), spec.clone()));
        }
        for s in &later.signals {
            self.insert(s.clone(), true)?;
        }
        self.dictionaries.stack(&later.dictionaries);
        Ok(())
    }

    /// Signals in file order.
    pub fn signals(&self) -> &[SignalInfo] {
        &self.signals
    }

    /// The signal of this name.
    ///
    /// # Errors
    /// [`Error::UnknownSignal`].
    pub fn signal(&self, name: &str) -> Result<&SignalInfo> {
        self.by_name
            .get(name)
            .map(|&i| &self.signals[i])
            .ok_or_else(|| Error::UnknownSignal { name: name.into() })
    }

    /// The signal with this sid.
    ///
    /// # Errors
    /// [`Error::UnknownSid`].
    pub fn by_sid(&self, sid: Sid) -> Result<&SignalInfo> {
        self.by_sid
            .get(&sid)
            .map(|&i| &self.signals[i])
            .ok_or(Error::UnknownSid { sid })
    }

    /// Position of the signal in [`Catalog::signals`].
    pub fn position(&self, sid: Sid) -> Option<usize> {
        self.by_sid.get(&sid).copied()
    }

    /// A dense sid → position table for hot-path lookups: `table[sid]` is the signal's index in
    /// [`Catalog::signals`] plus one, 0 for no such sid; its length is the largest sid + 1 (sids
    /// of the original tools are < 100,000).
    pub fn dense_slots(&self) -> Vec<u32> {
        let len = self
            .signals
            .iter()
            .map(|s| s.sid.0 as usize + 1)
            .max()
            .unwrap_or(0);
        let mut slots = vec![0u32; len];
        for (i, s) in self.signals.iter().enumerate() {
            slots[s.sid.0 as usize] = i as u32 + 1;
        }
        slots
    }

    /// The element layout of `sid`.
    ///
    /// # Errors
    /// [`Error::UnknownSid`].
    pub fn kind(&self, sid: Sid) -> Result<&Layout> {
        self.by_sid(sid).map(|s| &s.layout)
    }

    /// `GENERIC_SIGNAL_TYPE` aliases.
    pub fn generic_types(&self) -> &[(String, String)] {
        &self.generic_types
    }

    /// The dictionaries, parsed on the first call (an open maps the files and parses
    /// nothing: see [`LazyDictionaries`]).
    ///
    /// # Errors
    /// [`Error::Parse`] naming `file:line` of an invalid dictionary line, at every call.
    pub fn dictionaries(&self) -> Result<&Dictionaries> {
        self.dictionaries.get()
    }

    /// The warnings of the dictionaries' parse (`SET` lines naming undefined names, dropped
    /// as the original drops them), parsing them now if needed. Not part of the warnings an
    /// open returns, since an open no longer parses them.
    ///
    /// # Errors
    /// As [`Catalog::dictionaries`].
    pub fn dictionary_warnings(&self) -> Result<&[Warning]> {
        self.dictionaries.warnings()
    }

    /// The dictionary section of a signal's categorical channels: the section named after the
    /// signal, else section 0 (`DEFAULT`), as the original's `dict_section_id` does; `None`
    /// when there are no dictionaries.
    ///
    /// # Errors
    /// As [`Catalog::dictionaries`].
    pub fn section_of(&self, signal: &str) -> Result<Option<&Section>> {
        let d = self.dictionaries()?;
        Ok(d.section(signal).or_else(|| d.sections().first()))
    }

    /// Repository default time unit.
    pub fn time_unit(&self) -> TimeUnit {
        self.time_unit
    }

    /// The signals file text for this catalog (aliases, then one `SIGNAL` line per signal).
    pub fn signals_text(&self) -> String {
        let mut out = String::new();
        for (a, s) in &self.generic_types {
            out.push_str(&format!("GENERIC_SIGNAL_TYPE\t{a}\t{s}\n"));
        }
        for s in &self.signals {
            out.push_str(&s.signals_line(&self.generic_types));
            out.push('\n');
        }
        out
    }

    /// Texts to store inside a container (see [`Catalog::from_texts`]).
    ///
    /// # Errors
    /// As [`Catalog::dictionaries`].
    pub fn to_texts(&self) -> Result<CatalogTexts> {
        Ok(CatalogTexts {
            time_unit: self.time_unit.code(),
            signals: self.signals_text(),
            dictionaries: self.dictionaries()?.to_texts(),
        })
    }

    /// Rebuilds a catalog from [`CatalogTexts`]; `origin` names the container in errors
    /// (`<origin>#signals`, `<origin>#dict.<section>`). The dictionary texts are parsed on
    /// first use ([`Catalog::dictionaries`]; their warnings: [`Catalog::dictionary_warnings`]).
    ///
    /// # Errors
    /// [`Error::Parse`] for an invalid signals text.
    pub fn from_texts(origin: &Path, texts: &CatalogTexts) -> Result<(Catalog, Vec<Warning>)> {
        let unit = TimeUnit::from_code(texts.time_unit as i64).map_err(|e| Error::Parse {
            path: origin.into(),
            line: 0,
            what: "time unit",
            source: e.into(),
        })?;
        let sig_path = origin.join("#signals");
        let signals = SignalsFile::parse(&sig_path, &texts.signals, unit)?;
        let dicts = LazyDictionaries::texts(
            texts
                .dictionaries
                .iter()
                .map(|(name, text)| (origin.join(format!("#dict.{name}")), text.clone()))
                .collect(),
        );
        Ok((
            Catalog::with_dictionaries(signals, dicts, unit)?,
            Vec::new(),
        ))
    }
}

/// Loading a catalog from files: the one loader of the repository, the native writers, the
/// transpose and the converter.
impl Catalog {
    /// The signals file and dictionaries of a repository config, read as the original reads
    /// them (the dictionary files mapped, parsed on first use). Warnings: the config's and the
    /// signals file's ignored keywords (the dictionaries': [`Catalog::dictionary_warnings`]).
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a config without a `SIGNAL` line; [`Error::Open`],
    /// [`Error::Parse`] of the texts.
    pub fn load(config: &RepositoryConfig) -> Result<(Catalog, Vec<Warning>)> {
        let mut warnings: Vec<Warning> = config
            .ignored
            .iter()
            .map(|(line, kw)| Warning {
                path: config.path.clone(),
                line: *line,
                message: format!("unknown keyword {kw:?} ignored"),
            })
            .collect();
        if config.signals_files.is_empty() {
            return Err(Error::Unsupported {
                path: config.path.clone(),
                what: "repository config without a SIGNAL line".into(),
            });
        }
        // Every SIGNAL file, as the original reads them all.
        let (catalog, more) = Catalog::read(
            &config.signals_files,
            &config.dictionaries,
            config.time_unit,
        )?;
        warnings.extend(more);
        Ok((catalog, warnings))
    }

    /// Signals files (one table, read in order) and dictionary files (mapped now, parsed in
    /// order on first use) with the repository time unit. Warnings: the signals files'
    /// ignored keywords (named after the last file).
    ///
    /// # Errors
    /// [`Error::Open`] of a file, [`Error::Parse`] of the signals files.
    pub fn read(
        signals_paths: &[PathBuf],
        dictionaries: &[PathBuf],
        time_unit: TimeUnit,
    ) -> Result<(Catalog, Vec<Warning>)> {
        // Each signals file read once: parsed here, and kept as the text of the dictionary
        // it also is (not opened and mapped again).
        let (signals, read) = SignalsFile::read_files_keeping(signals_paths, time_unit)?;
        let signals_path = signals_paths
            .last()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""));
        let warnings: Vec<Warning> = signals
            .ignored
            .iter()
            .map(|(line, kw)| Warning {
                path: signals_path.to_path_buf(),
                line: *line,
                message: format!("unknown keyword {kw:?} ignored"),
            })
            .collect();
        let read = signals_paths
            .iter()
            .map(PathBuf::as_path)
            .zip(read)
            .collect();
        let dicts = LazyDictionaries::files_read(dictionaries, read)?;
        Ok((
            Catalog::with_dictionaries(signals, dicts, time_unit)?,
            warnings,
        ))
    }
}
