//! What can go wrong with the config file, and where: the file, line and
//! column of a byte offset, as every message names them.

use std::{
    io,
    path::{Path, PathBuf},
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The OS error is part of the message and not also the error's
    /// `source()`: with both, `{:#}` chains print it twice.
    #[error("{action} {path}: {error}")]
    Io {
        path: PathBuf,
        action: &'static str,
        error: io::Error,
    },
    /// Running as root, a file or directory someone else could change:
    /// they would choose the addresses and firewall root sets up.
    #[error("refusing {path}: {problem}")]
    Untrusted { path: PathBuf, problem: String },
    /// A FIFO, socket, device or directory where the file should be.
    #[error("{path} is {kind}, not a regular file; point --config at the config file (a symlink to one is fine)")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is {size} bytes, over the {} MiB a config file may have; check that --config names the config file", MAX_CONFIG_BYTES >> 20)]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path}:{line}:{column}: the byte at offset {offset} is not UTF-8; the config must be UTF-8 text: remove that byte or convert the file (e.g. with iconv)")]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
        offset: usize,
    },
    #[error("{path}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid TOML, but not a valid alias-mgr config; the message names the
    /// problem and the fix.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// An entry alias-mgr was asked to add would make the file invalid.
    #[error("{path}: cannot add this entry: {message}")]
    NewEntry { path: PathBuf, message: String },
    /// Imported entries that contradict entries of the file (or each
    /// other); nothing was merged.
    #[error("{path}: nothing was imported: {message}")]
    Clash { path: PathBuf, message: String },
}

/// The largest config file read: far beyond any real one (10,000 aliases
/// are about 1 MiB), small enough to hold in memory without a second thought.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

impl ConfigError {
    /// Whether the file does not exist (a new config for `add`, an error
    /// for `plan`, `apply` and the daemon).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ConfigError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound)
    }
}

pub(super) fn io_error<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> ConfigError + 'p {
    move |error| ConfigError::Io {
        path: path.to_path_buf(),
        action,
        error,
    }
}

pub(super) use crate::core::text::{shown, SHOWN_MAX};

pub(super) fn syntax_error(path: &Path, text: &str, error: &toml_edit::TomlError) -> ConfigError {
    let offset = error.span().map_or(0, |s| s.start);
    let (line, column) = line_col(text, offset);
    let mut message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if message.is_empty() {
        // toml_edit names no reason for some errors (`a=`, a lone CR).
        message = unexplained_syntax_error(text, offset);
    }
    // toml_edit quotes keys in backticks (`duplicate key `...``), whole.
    let message = message
        .split('`')
        .enumerate()
        .map(|(i, part)| match part.char_indices().nth(SHOWN_MAX) {
            Some((cut, _)) if i % 2 == 1 => format!("{}… ({} bytes)", &part[..cut], part.len()),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("`");
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// What is wrong at `offset` when the TOML parser does not say.
fn unexplained_syntax_error(text: &str, offset: usize) -> String {
    let found = text.get(offset..).and_then(|rest| rest.chars().next());
    let what = match found {
        None => "the file ends here".to_string(),
        Some('\r') => "a carriage return without a newline after it".to_string(),
        Some('\n') => "the line ends here".to_string(),
        Some(c) => format!("{c:?} is not expected here"),
    };
    format!("{what}; TOML lines are `key = value` (a string in quotes, a number, true/false or [list]), `[table]` or `[[alias]]`")
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..char_floor(text, offset)];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[start..].chars().count() + 1,
    )
}

/// Where each line of a text starts, to number many offsets with one pass
/// over the text: [`line_col`] scans from the start on every call, which
/// for every entry of a large file is quadratic.
pub(super) struct LineStarts(Vec<usize>);

impl LineStarts {
    pub(super) fn of(text: &str) -> Self {
        Self(text.match_indices('\n').map(|(at, _)| at).collect())
    }

    /// 1-based line of a byte offset, as [`line_col`] numbers it.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }

    /// 1-based line and column of a byte offset of `text` (the text these
    /// were made of), as [`line_col`] gives them.
    pub(super) fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = char_floor(text, offset);
        let line = self.line(offset);
        let start = match line {
            1 => 0,
            n => self.0[n - 2] + 1,
        };
        (line, text[start..offset].chars().count() + 1)
    }
}

/// The largest char boundary of `text` at or before `offset`.
fn char_floor(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

    #[test]
    fn line_starts_number_every_offset_as_line_col_does() {
        let text = "a\n\nbc\néd\n\n";
        let lines = super::LineStarts::of(text);
        for offset in 0..=text.len() + 2 {
            let expected = super::line_col(text, offset);
            assert_eq!(lines.line_col(text, offset), expected, "{offset}");
            if text.is_char_boundary(offset.min(text.len())) {
                assert_eq!(lines.line(offset), expected.0, "{offset}");
            }
        }
    }

    #[test]
    fn syntax_errors_carry_the_position() {
        let err = parse("# c\n[[alias]\n").unwrap_err();
        let ConfigError::Syntax {
            line,
            column,
            ref message,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!((line, column), (2, 8));
        assert!(!message.is_empty() && !message.contains('\n'));
        assert!(
            err.to_string()
                .starts_with("test.toml:2:8: TOML syntax error: "),
            "{err}"
        );

        let err = parse(&one_alias(
            "address = \"10.0.0.1/8\"\naddress = \"10.0.0.2/8\"",
        ))
        .unwrap_err();
        let ConfigError::Syntax {
            line, ref message, ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(line, 4);
        assert!(message.contains("duplicate key"), "{message}");
    }

    #[test]
    fn long_keys_in_syntax_errors_are_cut() {
        let key = "k".repeat(1 << 20);
        let err = parse(&format!("{key} = 1\n{key} = 2\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.len() < 300, "{} bytes: {}", text.len(), &text[..300]);
        assert!(text.contains("duplicate key"), "{text}");
        assert!(text.contains("(1048576 bytes)"), "{text}");
    }

    #[test]
    fn invalid_errors_display_file_line_and_column() {
        let err = parse(&one_alias("address = \"192.168.0.1\"")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.toml:3:11: address \"192.168.0.1\" has no prefix length; write it as 192.168.0.1/24"
        );
    }
}
