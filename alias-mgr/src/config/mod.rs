//! The declarative config file: one TOML document that people edit by hand
//! and that `alias-mgr add`/`del` edit too.
//!
//! Parsing goes through [`toml_edit::ImDocument`] so that every error names
//! the file, line and column of the offending key or value. Edits are made on
//! the text itself, at positions taken from those spans: everything outside
//! the edited lines stays byte-for-byte as the user wrote it (comments, blank
//! lines, quoting, CRLF line ends). Every edit is re-parsed and re-validated
//! before it is accepted, so a [`ConfigFile`] always holds a valid document.
//!
//! Here: `error` (ConfigError, positions), `read` (reading only a regular,
//! bounded UTF-8 file) and `trust` (as root, only one no other user can
//! change), `check` (the validator), `reference` (every key, its type,
//! default and meaning: the validator's key lists and alias-mgr.toml(5)),
//! `edit` (the comment-keeping text
//! edits), `merge` (imported entries) and `write` (the atomic save); this
//! file holds [`ConfigFile`], the entry points that tie them together.
//! Uses only `core`.

mod check;
mod edit;
mod error;
mod merge;
mod read;
pub mod reference;
mod trust;
mod write;

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use toml_edit::{ImDocument, Table};

pub use error::ConfigError;
pub use read::{read_file, FileText};

use crate::core::{desired::Config, model::AliasSpec};
use edit::{alias_block, alias_insertion_point, cut_table, find_alias, insert_blocks};
use error::syntax_error;

/// The config file: its text exactly as on disk (or as it will be saved) and
/// what it declares.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    text: String,
    config: Config,
}

impl ConfigFile {
    /// Reads (see [`read_file`]) and validates `path`. A missing file is an
    /// empty config, so the first `alias-mgr add` needs no setup; `save`
    /// creates it.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        match read_file(path) {
            Ok(read) => Self::parse(path, read.text),
            Err(e) if e.is_not_found() => Self::parse(path, ""),
            Err(e) => Err(e),
        }
    }

    /// Validates `text`; `path` is only used in messages and by `save`.
    pub fn parse(path: &Path, text: impl Into<String>) -> Result<ConfigFile, ConfigError> {
        let text = text.into();
        let doc = ImDocument::parse(text.as_str()).map_err(|e| syntax_error(path, &text, &e))?;
        let config = check::validate(path, &text, doc)?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            text,
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an `[[alias]]` table after the last one. On any error (e.g.
    /// the address is already declared) `self` is left unchanged.
    pub fn add_alias(&mut self, alias: &AliasSpec) -> Result<(), ConfigError> {
        *self = self.with_appended(std::slice::from_ref(alias))?;
        Ok(())
    }

    /// Removes the `[[alias]]` table of `ip` on `interface` together with
    /// the comment lines directly above its header; false if there is none.
    pub fn remove_alias(&mut self, interface: &str, ip: IpAddr) -> bool {
        let Ok(doc) = ImDocument::parse(self.text.as_str()) else {
            return false;
        };
        let Some(span) = find_alias(&doc, interface, ip).and_then(Table::span) else {
            return false;
        };
        let text = cut_table(&self.text, span);
        // Removing an alias cannot make the file invalid; if it somehow
        // did, keeping the old state is the safe answer.
        match Self::parse(&self.path, &text) {
            Ok(file) => {
                *self = file;
                true
            }
            Err(_) => false,
        }
    }

    /// The file's text, as `save` would write it.
    pub fn render(&self) -> String {
        self.text.clone()
    }

    /// Replaces the file atomically: readers see the old or the new file,
    /// never a half-written one, even after a crash. Keeps the old file's
    /// permissions (0644 for a new file) and, when allowed, its owner.
    pub fn save(&self) -> Result<(), ConfigError> {
        write::replace_file(&self.path, &self.text)
    }

    /// A copy of `self` with `aliases` appended as `[[alias]]` tables, or the
    /// validation error of the result.
    fn with_appended(&self, aliases: &[AliasSpec]) -> Result<ConfigFile, ConfigError> {
        let text = &self.text;
        let doc =
            ImDocument::parse(text.as_str()).map_err(|e| syntax_error(&self.path, text, &e))?;
        let at = alias_insertion_point(text, &doc);
        let blocks: Vec<String> = aliases.iter().map(alias_block).collect();
        // The file itself was valid: a problem is the new entries', and a
        // line number would point into text that is not on disk.
        Self::parse(&self.path, insert_blocks(text, at, &blocks)).map_err(|err| match err {
            ConfigError::Invalid { path, message, .. } => ConfigError::NewEntry { path, message },
            other => other,
        })
    }
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod fuzz_tests;
