//! Converts legacy alias configuration into [`AliasSpec`]s for `alias-mgr
//! import`: Debian ifupdown (`/etc/network/interfaces`), Darwin `/etc/iftab`
//! and NetBSD `/etc/ifaliases`.
//!
//! Pure text in, specs out: the caller reads the file and prints or merges the
//! result, so all of this is testable without a machine to configure. The
//! files an ifupdown `source` line names are read through [`Files`], which
//! the tests keep in memory. What
//! cannot be carried over (gateways, dynamic methods, unknown hook commands)
//! becomes a warning, because someone migrating wants the rest imported; what
//! is wrong in the file itself is an error naming its line, because guessing
//! there would silently change which addresses the machine answers on.
//!
//! Here: `lines` (logical lines: continuations, comments, where a line is),
//! `sources` (ifupdown's `source` lines followed), `stanzas` (ifupdown's
//! stanzas grouped, templates inherited), `collected` (the
//! aliases found so far: duplicates, the shared alias rules, warnings in line
//! order), one file per format (`ifupdown`, `iftab`, `ifaliases`), and for
//! ifupdown's hook commands `hook` (what a command adds to its stanza) and
//! `commands` (the `ip`, `ifconfig` and `route` parsers). Uses only `core`:
//! the model and the parsers of `core::parse` that the config file uses too.

mod collected;
mod commands;
mod hook;
mod ifaliases;
mod iftab;
mod ifupdown;
mod lines;
mod sources;
mod stanzas;

use std::{fmt, path::Path, str::FromStr};

use crate::core::model::AliasSpec;

pub use ifaliases::parse_ifaliases;
pub use iftab::parse_iftab;
pub use ifupdown::parse_ifupdown;
pub use sources::{Files, RealFiles};

/// The legacy formats `alias-mgr import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportFormat {
    /// Debian `/etc/network/interfaces`.
    Ifupdown,
    /// Darwin (NeXT heritage) `/etc/iftab`.
    Iftab,
    /// NetBSD `/etc/ifaliases`.
    Ifaliases,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::Ifupdown,
        ImportFormat::Iftab,
        ImportFormat::Ifaliases,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Ifupdown => "ifupdown",
            ImportFormat::Iftab => "iftab",
            ImportFormat::Ifaliases => "ifaliases",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ImportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| {
                format!("unknown import format {text:?}; expected ifupdown, iftab or ifaliases")
            })
    }
}

/// What a file yielded: the aliases, in file order, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub aliases: Vec<AliasSpec>,
    /// One entry per thing skipped or guessed, each starting "line N: "
    /// (ifupdown: "FILE:N: ", as it reads several files).
    pub warnings: Vec<String>,
}

/// A line the importer refuses, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct ImportError {
    pub source_name: String,
    /// 1-based; for a continued line, its first physical line.
    pub line: usize,
    pub message: String,
}

/// Parses `text`, the file at `path`, as `format`; only ifupdown reads
/// other files (those its `source` lines name), through `files`.
pub fn parse(
    format: ImportFormat,
    path: &Path,
    text: &str,
    files: &dyn Files,
) -> Result<Imported, ImportError> {
    let source_name = path.display().to_string();
    match format {
        ImportFormat::Ifupdown => parse_ifupdown(path, text, files),
        ImportFormat::Iftab => parse_iftab(&source_name, text),
        ImportFormat::Ifaliases => parse_ifaliases(&source_name, text),
    }
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::test_util::*;

    // --- format names -------------------------------------------------------

    #[test]
    fn format_names_round_trip() {
        for format in ImportFormat::ALL {
            assert_eq!(format.to_string().parse::<ImportFormat>(), Ok(format));
        }
        assert_eq!("iftab".parse::<ImportFormat>(), Ok(ImportFormat::Iftab));
        let err = "netplan".parse::<ImportFormat>().unwrap_err();
        assert!(err.contains("ifupdown, iftab or ifaliases"), "{err}");
    }

    #[test]
    fn parse_dispatches_on_format() {
        let none = MemFiles::default();
        let f = Path::new("f");
        let imported = parse(ImportFormat::Ifaliases, f, "10.0.0.1 wm0 255.0.0.0", &none).unwrap();
        assert_eq!(imported.aliases[0].address, net("10.0.0.1/8"));
        let imported = parse(
            ImportFormat::Iftab,
            f,
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias",
            &none,
        )
        .unwrap();
        assert_eq!(imported.aliases[0].interface, "en0");
        let imported = parse(
            ImportFormat::Ifupdown,
            f,
            "iface a:1 inet static\naddress 10.0.0.1/8",
            &none,
        )
        .unwrap();
        assert_eq!(imported.aliases[0].label.as_deref(), Some("a:1"));
    }

    #[test]
    fn error_displays_file_and_line() {
        let err = ifaliases_err("\n\nbogus wm0");
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("ifaliases:3: "), "{err}");
    }
}

#[cfg(test)]
mod fuzz_tests;
