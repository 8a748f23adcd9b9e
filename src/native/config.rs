//! Reading a repository config with its catalog and `PREFIX`: the sequence every native
//! reader and writer starts with.

use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::error::{Error, Result, Warning};
use crate::text::config::RepositoryConfig;

/// A repository config, the catalog its texts define, and its `PREFIX` path.
#[derive(Debug)]
pub struct NativeConfig {
    /// The config.
    pub config: RepositoryConfig,
    /// Its signals and dictionaries.
    pub catalog: Catalog,
    /// Non-fatal problems of the config and its texts.
    pub warnings: Vec<Warning>,
    /// `DIR` joined with `PREFIX`.
    pub prefix: PathBuf,
}

impl NativeConfig {
    /// Reads the config at `path` and its catalog ([`Catalog::load`]).
    ///
    /// # Errors
    /// [`Error::Open`], [`Error::Parse`], [`Error::Unsupported`] (no `SIGNAL` line).
    pub fn read(path: &Path) -> Result<NativeConfig> {
        Self::from_config(RepositoryConfig::read(path)?)
    }

    /// [`NativeConfig::read`] of a MODE 3 repository; `doing` names the operation in the
    /// error for another mode (`"adding a signal to"` gives "adding a signal to a MODE 1
    /// repository").
    ///
    /// # Errors
    /// As [`NativeConfig::read`]; [`Error::Unsupported`] for another mode (checked before the
    /// texts are read).
    pub fn read_mode3(path: &Path, doing: &str) -> Result<NativeConfig> {
        let config = RepositoryConfig::read(path)?;
        if config.mode != 3 {
            return Err(Error::Unsupported {
                path: config.path.clone(),
                what: format!("{doing} a MODE {} repository", config.mode),
            });
        }
        Self::from_config(config)
    }

    /// The catalog ([`Catalog::load`]) and `PREFIX` path of a config already read.
    ///
    /// # Errors
    /// As [`NativeConfig::read`], for the texts the config names.
    pub fn from_config(config: RepositoryConfig) -> Result<NativeConfig> {
        let (catalog, warnings) = Catalog::load(&config)?;
        let prefix = config.prefix_path();
        Ok(NativeConfig {
            config,
            catalog,
            warnings,
            prefix,
        })
    }
}
