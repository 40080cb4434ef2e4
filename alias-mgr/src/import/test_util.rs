//! What the importers' tests share: the entry points with a fixed source
//! name, and short ways to write the expected specs.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
};

use super::{
    parse_ifaliases, parse_iftab, parse_ifupdown, sources::normalise, Files, ImportError, Imported,
};
pub(super) use crate::core::fixtures::{net, route};
use crate::core::{
    fixtures::{alias, AliasBuilder},
    model::AliasSpec,
};

/// Files in memory: path -> contents; directories are the paths' parents.
#[derive(Default)]
pub(super) struct MemFiles(pub(super) BTreeMap<PathBuf, String>);

impl MemFiles {
    pub(super) fn new(files: &[(&str, &str)]) -> Self {
        MemFiles(
            files
                .iter()
                .map(|(path, text)| (PathBuf::from(path), text.to_string()))
                .collect(),
        )
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.0
            .keys()
            .any(|file| file != path && file.starts_with(path))
    }
}

impl Files for MemFiles {
    fn read(&self, path: &Path) -> io::Result<String> {
        let path = &normalise(path);
        match self.0.get(path) {
            Some(text) => Ok(text.clone()),
            None if self.is_dir(path) => Err(io::ErrorKind::IsADirectory.into()),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>> {
        let dir = &normalise(dir);
        if self.0.contains_key(dir) {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        let mut names: Vec<(String, bool)> = self
            .0
            .keys()
            .filter_map(|file| file.strip_prefix(dir).ok())
            .filter_map(|rest| {
                let mut parts = rest.components();
                let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
                Some((first, parts.next().is_some()))
            })
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(names)
    }
}

/// Parses `/etc/network/interfaces` as `text` with `others` beside it.
pub(super) fn ifupdown_with(text: &str, others: &[(&str, &str)]) -> Result<Imported, ImportError> {
    let path = Path::new("/etc/network/interfaces");
    parse_ifupdown(path, text, &MemFiles::new(others))
}

pub(super) fn ifupdown(text: &str) -> Imported {
    parse_ifupdown(Path::new("interfaces"), text, &MemFiles::default()).unwrap()
}

pub(super) fn ifupdown_err(text: &str) -> ImportError {
    parse_ifupdown(Path::new("interfaces"), text, &MemFiles::default()).unwrap_err()
}

pub(super) fn iftab(text: &str) -> Imported {
    parse_iftab("iftab", text).unwrap()
}

pub(super) fn iftab_err(text: &str) -> ImportError {
    parse_iftab("iftab", text).unwrap_err()
}

pub(super) fn ifaliases(text: &str) -> Imported {
    parse_ifaliases("ifaliases", text).unwrap()
}

pub(super) fn ifaliases_err(text: &str) -> ImportError {
    parse_ifaliases("ifaliases", text).unwrap_err()
}

pub(super) fn has_warning(imported: &Imported, needle: &str) -> bool {
    imported.warnings.iter().any(|w| w.contains(needle))
}

/// An imported alias as the importers build it: no zone, no routes.
pub(super) fn spec(interface: &str, address: &str, label: Option<&str>) -> AliasSpec {
    match label {
        Some(label) => alias(interface, address).label(label),
        None => alias(interface, address),
    }
}
