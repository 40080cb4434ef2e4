//! Log lines on stderr through the `log` facade and env_logger (the only
//! importer): under systemd (JOURNAL_STREAM set) each line starts with its
//! syslog priority (`<4>`), which journald turns into the entry's priority,
//! so `journalctl -p warning` works; elsewhere `alias-mgr: LEVEL:`. One
//! event per line: multi-line messages (conflict lists) are joined.
//!
//! Quiet by default: alias-mgr's own info and above, other crates'
//! warnings only. `ALIAS_MGR_LOG` takes env_logger's filter syntax
//! (`debug`, `warn`, `alias_mgr=debug,hyper=info`).

use std::{fmt, io::Write};

use log::LevelFilter;

/// The environment variable with the log filter.
pub const FILTER_VARIABLE: &str = "ALIAS_MGR_LOG";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

impl From<Level> for log::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Error => log::Level::Error,
            Level::Warning => log::Level::Warn,
            Level::Info => log::Level::Info,
        }
    }
}

/// Installs the logger; once, at program start. A second call (tests)
/// changes nothing.
pub fn init() {
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let mut builder = env_logger::Builder::new();
    match std::env::var(FILTER_VARIABLE) {
        // The user's filter alone, so `warn` and `off` are quieter too.
        Ok(filter) => builder.parse_filters(&filter),
        Err(_) => builder
            .filter_level(LevelFilter::Warn)
            .filter_module("alias_mgr", LevelFilter::Info),
    };
    let _ = builder
        .format(move |out, record| {
            let text = one_line(&record.args().to_string());
            // Other crates' lines say whose they are.
            let target = record.target();
            let source = match target.starts_with("alias_mgr") {
                true => String::new(),
                false => format!("[{}] ", target.split("::").next().unwrap_or(target)),
            };
            writeln!(out, "{}{source}{text}", prefix(record.level(), journal))
        })
        .try_init();
}

fn prefix(level: log::Level, journal: bool) -> &'static str {
    match (journal, level) {
        (true, log::Level::Error) => "<3>",
        (true, log::Level::Warn) => "<4>",
        (true, log::Level::Info) => "<6>",
        (true, _) => "<7>",
        (false, log::Level::Error) => "alias-mgr: error: ",
        (false, log::Level::Warn) => "alias-mgr: warning: ",
        (false, log::Level::Info) => "alias-mgr: ",
        (false, log::Level::Debug) => "alias-mgr: debug: ",
        (false, log::Level::Trace) => "alias-mgr: trace: ",
    }
}

/// A multi-line message as one line: "N conflict(s):" introduces a list,
/// so no "; " right after a colon.
fn one_line(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim_end().to_string();
    lines
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .fold(first, |joined, l| {
            let separator = if joined.ends_with(':') { " " } else { "; " };
            joined + separator + l
        })
}

/// One log event at `level`.
pub fn log(level: Level, message: fmt::Arguments<'_>) {
    log::log!(level.into(), "{message}");
}

// The caller's module is the target, so a filter can pick a layer
// (`ALIAS_MGR_LOG=alias_mgr::daemon=debug`).
macro_rules! info {
    ($($arg:tt)*) => { ::log::info!($($arg)*) };
}
macro_rules! warning {
    ($($arg:tt)*) => { ::log::warn!($($arg)*) };
}
macro_rules! error {
    ($($arg:tt)*) => { ::log::error!($($arg)*) };
}
macro_rules! debug {
    ($($arg:tt)*) => { ::log::debug!($($arg)*) };
}

pub(crate) use {debug, error, info, warning};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_join_into_one_line_with_journal_priorities() {
        assert_eq!(
            one_line("2 conflict(s):\n  a is foreign\n  b is foreign\n"),
            "2 conflict(s): a is foreign; b is foreign"
        );
        assert_eq!(one_line("one line"), "one line");
        assert_eq!(prefix(log::Level::Warn, true), "<4>");
        assert_eq!(prefix(log::Level::Error, false), "alias-mgr: error: ");
        assert_eq!(prefix(log::Level::Info, false), "alias-mgr: ");
    }
}
