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
    match std::env::var(FILTER_VARIABLE).map(|filter| usable_filter(&filter)) {
        // The user's filter alone, so `warn` and `off` are quieter too.
        Ok(Ok(filter)) => builder.parse_filters(&filter),
        Ok(Err(bad)) => {
            // Not a logger yet: the one line goes straight to stderr.
            let _ = writeln!(
                std::io::stderr(),
                "alias-mgr: warning: {FILTER_VARIABLE}={bad:?} is not a log filter (off, error, warn, info, debug, trace, or module=level pairs); using the default"
            );
            default_filter(&mut builder)
        }
        Err(_) => default_filter(&mut builder),
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

fn default_filter(builder: &mut env_logger::Builder) -> &mut env_logger::Builder {
    builder
        .filter_level(LevelFilter::Warn)
        .filter_module("alias_mgr", LevelFilter::Info)
}

/// The filter with syslog's spelling `warning` (as `journalctl -p` takes
/// it) read as `warn`; a level word that is no level is refused rather
/// than silently hiding every line.
fn usable_filter(filter: &str) -> Result<String, String> {
    let levels = ["off", "error", "warn", "info", "debug", "trace"];
    let mut out = Vec::new();
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (module, level) = match directive.rsplit_once('=') {
            Some((module, level)) => (Some(module), level),
            None => (None, directive),
        };
        let level = match level.to_ascii_lowercase().as_str() {
            "warning" => "warn".to_string(),
            "err" => "error".to_string(),
            other if levels.contains(&other) => other.to_string(),
            // A bare word that is no level names a module (`alias_mgr`).
            _ if module.is_none() && level.contains(['_', ':']) => {
                out.push(directive.to_string());
                continue;
            }
            _ => return Err(filter.to_string()),
        };
        out.push(match module {
            Some(module) => format!("{module}={level}"),
            None => level,
        });
    }
    Ok(out.join(","))
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
    fn filters_take_syslog_spellings_and_refuse_what_is_no_level() {
        assert_eq!(usable_filter("warning").unwrap(), "warn");
        assert_eq!(usable_filter("WARN").unwrap(), "warn");
        assert_eq!(
            usable_filter("alias_mgr=debug, hyper=Warning").unwrap(),
            "alias_mgr=debug,hyper=warn"
        );
        assert_eq!(
            usable_filter("alias_mgr::daemon").unwrap(),
            "alias_mgr::daemon"
        );
        assert!(usable_filter("bogus").is_err());
        assert!(usable_filter("alias_mgr=loud").is_err());
    }

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
