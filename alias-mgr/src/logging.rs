//! The daemon's log lines on stderr: journald priorities under systemd,
//! `alias-mgr: LEVEL:` elsewhere, one event per line.

use std::{
    fmt,
    io::{self, Write},
    sync::OnceLock,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

/// One log line on stderr. Under systemd (JOURNAL_STREAM set) the line
/// starts with its syslog priority (`<3>`), which journald turns into the
/// entry's priority; elsewhere with `alias-mgr: LEVEL:`. Multi-line messages
/// (conflict lists) are joined so one event stays one line.
pub fn log(level: Level, message: fmt::Arguments<'_>) {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    let journal = *JOURNAL.get_or_init(|| std::env::var_os("JOURNAL_STREAM").is_some());
    let text = message.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim_end();
    let text =
        lines
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .fold(first.to_string(), |joined, l| {
                // "N conflict(s):" introduces a list: no "; " right after it.
                let separator = if joined.ends_with(':') { " " } else { "; " };
                joined + separator + l
            });
    let line = match (journal, level) {
        (true, Level::Error) => format!("<3>{text}"),
        (true, Level::Warning) => format!("<4>{text}"),
        (true, Level::Info) => format!("<6>{text}"),
        (false, Level::Error) => format!("alias-mgr: error: {text}"),
        (false, Level::Warning) => format!("alias-mgr: warning: {text}"),
        (false, Level::Info) => format!("alias-mgr: {text}"),
    };
    // A closed stderr must not take the daemon down (eprintln! would panic).
    let _ = writeln!(io::stderr().lock(), "{line}");
}

macro_rules! info {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Info, format_args!($($arg)*)) };
}
macro_rules! warning {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Warning, format_args!($($arg)*)) };
}
macro_rules! error {
    ($($arg:tt)*) => { $crate::logging::log($crate::logging::Level::Error, format_args!($($arg)*)) };
}

pub(crate) use {error, info, warning};
