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

/// A user's text for a message: Debug-quoted and, when long, cut after
/// about [`SHOWN_MAX`] bytes with its full length, so a pasted megabyte
/// does not flood the terminal and the log.
pub(super) fn shown(text: &str) -> String {
    if text.len() <= SHOWN_MAX {
        let whole = format!("{text:?}");
        if whole.len() <= SHOWN_MAX + 2 {
            return whole;
        }
    }
    let mut cut = String::new();
    for (at, c) in text.char_indices() {
        // Each character as `{:?}` escapes it inside a string.
        let one = format!("{:?}", &text[at..at + c.len_utf8()]);
        let escaped = &one[1..one.len() - 1];
        if cut.len() + escaped.len() > SHOWN_MAX {
            break;
        }
        cut.push_str(escaped);
    }
    format!("\"{cut}\"… ({} bytes)", text.len())
}

const SHOWN_MAX: usize = 64;

pub(super) fn syntax_error(path: &Path, text: &str, error: &toml_edit::TomlError) -> ConfigError {
    let (line, column) = line_col(text, error.span().map_or(0, |s| s.start));
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
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

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[start..].chars().count() + 1,
    )
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

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
    fn shown_quotes_and_cuts_long_values() {
        use crate::config::error::shown;
        assert_eq!(shown("eth1:0"), "\"eth1:0\"");
        assert_eq!(shown("it's \"x\"\n"), format!("{:?}", "it's \"x\"\n"));
        let long = "a".repeat(1 << 20);
        assert_eq!(
            shown(&long),
            format!("\"{}\"… (1048576 bytes)", "a".repeat(64))
        );
        // Escapes count: 64 bytes of output, not 64 characters of input.
        let controls = "\u{1}".repeat(100);
        assert_eq!(
            shown(&controls),
            format!("\"{}\"… (100 bytes)", "\\u{1}".repeat(12))
        );
        // Never cut inside a character.
        let wide = "é".repeat(100);
        assert_eq!(shown(&wide), format!("\"{}\"… (200 bytes)", "é".repeat(32)));
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
