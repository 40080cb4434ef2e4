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
pub mod dropins;
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
use dropins::{Part, Segments};
use edit::{alias_block, alias_insertion_point, cut_table, find_alias, insert_blocks};
use error::syntax_error;
use error::LineStarts;

/// The config file: its text exactly as on disk (or as it will be saved) and
/// what it declares.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    text: String,
    /// `conf.d/*.toml`, merged after the main file.
    drop_ins: Vec<Part>,
    /// Which file `save` writes: the main one (None) or a drop-in's index.
    edited: Option<usize>,
    config: Config,
    /// The file (0: the main one, n: drop-in n - 1) and line of each
    /// alias's `[[alias]]`, in `config`'s order.
    declared_at: Vec<(u32, u32)>,
}

impl ConfigFile {
    /// Reads (see [`read_file`]) and validates `path`. A missing file is an
    /// empty config, so the first `alias-mgr add` needs no setup; `save`
    /// creates it.
    /// With the drop-ins of `conf.d/` next to it (see [`dropins`]).
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        Self::load_with_drop_ins_in(path, &dropins::dir(path))
    }

    /// [`ConfigFile::load`] with the drop-ins of `dir` (a candidate file
    /// checked elsewhere against the real conf.d).
    pub fn load_with_drop_ins_in(path: &Path, dir: &Path) -> Result<ConfigFile, ConfigError> {
        let text = match read_file(path) {
            Ok(read) => read.text,
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e),
        };
        Self::parse_with(path, text, dropins::read_in(dir)?)
    }

    /// Validates `text` with `drop_ins` (as [`dropins::read`] returns them)
    /// merged after it; for a caller that read the main file itself.
    pub fn parse_with_drop_ins(
        path: &Path,
        text: String,
        drop_ins: Vec<Part>,
    ) -> Result<ConfigFile, ConfigError> {
        Self::parse_with(path, text, drop_ins)
    }

    /// Validates `text`; `path` is only used in messages and by `save`.
    pub fn parse(path: &Path, text: impl Into<String>) -> Result<ConfigFile, ConfigError> {
        Self::parse_with(path, text.into(), Vec::new())
    }

    /// Validates `text` with `drop_ins` merged after it.
    fn parse_with(
        path: &Path,
        text: String,
        drop_ins: Vec<Part>,
    ) -> Result<ConfigFile, ConfigError> {
        let combined;
        let (all, segments) = if drop_ins.is_empty() {
            (text.as_str(), Segments::default())
        } else {
            dropins::check_parts(path, &text, &drop_ins)?;
            let segments;
            (combined, segments) = dropins::combine(path, &text, &drop_ins);
            (combined.as_str(), segments)
        };
        let doc = ImDocument::parse(all).map_err(|e| {
            if !segments.several() {
                return syntax_error(path, all, &e);
            }
            // Each file parsed alone (check_parts): only a clash is left.
            let (file, line, column) = segments.place(all, e.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: file.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        let declared_at = alias_lines(&doc, all, &segments);
        let config = check::validate(path, all, &segments, doc)?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            text,
            drop_ins,
            edited: None,
            config,
            declared_at,
        })
    }

    /// The file and line that declare the alias at `index` of
    /// [`Config::aliases`].
    pub fn declared_at(&self, index: usize) -> Option<(&Path, usize)> {
        let (file, line) = *self.declared_at.get(index)?;
        let path = match file {
            0 => &self.path,
            n => &self.drop_ins.get(n as usize - 1)?.path,
        };
        Some((path.as_path(), line as usize))
    }

    /// The file `save` writes: the main one, or the drop-in last edited.
    pub fn edited_path(&self) -> &Path {
        match self.edited {
            Some(index) => &self.drop_ins[index].path,
            None => &self.path,
        }
    }

    /// The drop-in files merged into this config, in order.
    pub fn drop_in_paths(&self) -> impl Iterator<Item = &Path> {
        self.drop_ins.iter().map(|part| part.path.as_path())
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

    /// [`ConfigFile::add_alias`] into the drop-in `file` (a `*.toml` in the
    /// drop-in directory, created if new) instead of the main file.
    pub fn add_alias_to(&mut self, alias: &AliasSpec, file: &Path) -> Result<(), ConfigError> {
        let dir = dropins::dir(&self.path);
        // A bare NAME.toml is a drop-in's name.
        let bare = file.parent().is_some_and(|p| p.as_os_str().is_empty());
        let joined = dir.join(file);
        let file = if bare { joined.as_path() } else { file };
        let named = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let in_dir = file.parent().is_some_and(|p| same_dir(p, &dir));
        let Some(name) = named.filter(|n| in_dir && n.ends_with(".toml") && !n.starts_with('.'))
        else {
            return Err(ConfigError::NewEntry {
                path: file.to_path_buf(),
                message: format!(
                    "--file must name a drop-in: a NAME.toml in {}",
                    dir.display()
                ),
            });
        };
        let mut drop_ins = self.drop_ins.clone();
        let index = match drop_ins
            .iter()
            .position(|p| p.path.file_name() == file.file_name())
        {
            Some(index) => index,
            None => {
                drop_ins.push(Part {
                    path: dir.join(&name),
                    text: String::new(),
                    modified: None,
                });
                drop_ins.sort_by(|a, b| a.path.file_name().cmp(&b.path.file_name()));
                drop_ins
                    .iter()
                    .position(|p| p.path.file_name() == file.file_name())
                    .expect("just added")
            }
        };
        let text = &drop_ins[index].text;
        let doc = ImDocument::parse(text.as_str()).map_err(|e| syntax_error(file, text, &e))?;
        let at = alias_insertion_point(text, &doc);
        drop_ins[index].text = insert_blocks(text, at, &[alias_block(alias)]);
        let added =
            Self::parse_with(&self.path, self.text.clone(), drop_ins).map_err(|err| match err {
                ConfigError::Invalid { path, message, .. } => {
                    ConfigError::NewEntry { path, message }
                }
                other => other,
            })?;
        *self = ConfigFile {
            edited: Some(index),
            ..added
        };
        Ok(())
    }

    /// Removes the `[[alias]]` table of `ip` on `interface` together with
    /// the comment lines directly above its header; false if there is none.
    /// In whichever file declares it: the main file or a drop-in, which
    /// `save` then writes.
    pub fn remove_alias(&mut self, interface: &str, ip: IpAddr) -> bool {
        let texts = std::iter::once(&self.text).chain(self.drop_ins.iter().map(|p| &p.text));
        for (index, text) in texts.enumerate() {
            let Ok(doc) = ImDocument::parse(text.as_str()) else {
                continue;
            };
            let Some(span) = find_alias(&doc, interface, ip).and_then(Table::span) else {
                continue;
            };
            let cut = cut_table(text, span);
            let (mut main, mut drop_ins) = (self.text.clone(), self.drop_ins.clone());
            match index {
                0 => main = cut,
                n => drop_ins[n - 1].text = cut,
            }
            // Removing an alias cannot make the config invalid; if it
            // somehow did, keeping the old state is the safe answer.
            return match Self::parse_with(&self.path, main, drop_ins) {
                Ok(file) => {
                    *self = ConfigFile {
                        edited: index.checked_sub(1),
                        ..file
                    };
                    true
                }
                Err(_) => false,
            };
        }
        false
    }

    /// The file's text, as `save` would write it.
    pub fn render(&self) -> String {
        self.text.clone()
    }

    /// Replaces the file atomically: readers see the old or the new file,
    /// never a half-written one, even after a crash. Keeps the old file's
    /// permissions (0644 for a new file) and, when allowed, its owner.
    pub fn save(&self) -> Result<(), ConfigError> {
        match self.edited {
            None => write::replace_file(&self.path, &self.text),
            Some(index) => {
                // replace_file makes a missing conf.d, 0755 at most.
                let part = &self.drop_ins[index];
                write::replace_file(&part.path, &part.text)
            }
        }
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
        let appended = insert_blocks(text, at, &blocks);
        Self::parse_with(&self.path, appended, self.drop_ins.clone()).map_err(|err| match err {
            ConfigError::Invalid { path, message, .. } => ConfigError::NewEntry { path, message },
            other => other,
        })
    }
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod fuzz_tests;

/// The file (as [`ConfigFile::declared_at`] numbers them) and line of each
/// `[[alias]]` header of `doc`, parsed from `text`.
fn alias_lines(doc: &ImDocument<&str>, text: &str, segments: &Segments) -> Vec<(u32, u32)> {
    let Some(tables) = doc.get("alias").and_then(|a| a.as_array_of_tables()) else {
        return Vec::new();
    };
    let lines = LineStarts::of(text);
    tables
        .iter()
        .map(|table| {
            let offset = table.span().map_or(0, |s| s.start);
            let (file, line) = segments.file_and_line(&lines, offset);
            (file as u32, line as u32)
        })
        .collect()
}

/// Whether two directories are one (a relative and an absolute spelling).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}
