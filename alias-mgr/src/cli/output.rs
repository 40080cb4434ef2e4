//! Every line the CLI prints goes through here. `println!` panics when
//! stdout is gone (`alias-mgr add ... | head -1`) or full, which would end a
//! command that changes the system half-way; here the first failed write
//! stops the printing and nothing else: the command goes on and exits with
//! its own status. A reader that went away is nobody's problem (as SIGPIPE
//! ends `ls | head` quietly); any other failure is reported once at the end
//! ([`lost`]). Writes to stderr never fail a command either.

use std::{
    fmt,
    io::{self, Write},
    sync::{Mutex, PoisonError},
};

/// What became of stdout.
enum Stdout {
    Open,
    /// EPIPE: the reader closed its end.
    ReaderGone,
    /// Any other write error (ENOSPC, EIO...), as the OS said it.
    Failed(String),
}

static STDOUT: Mutex<Stdout> = Mutex::new(Stdout::Open);

/// Writes `text` to stdout unless an earlier write failed.
pub(super) fn print(text: &str) {
    let mut state = STDOUT.lock().unwrap_or_else(PoisonError::into_inner);
    if !matches!(*state, Stdout::Open) {
        return;
    }
    let mut out = io::stdout().lock();
    // Flushed at once, so a failure is seen here and not lost at exit.
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        *state = if err.kind() == io::ErrorKind::BrokenPipe {
            Stdout::ReaderGone
        } else {
            Stdout::Failed(err.to_string())
        };
    }
}

pub(super) fn line(args: fmt::Arguments) {
    print(&format!("{args}\n"));
}

/// A line to stderr; if stderr itself is gone there is nobody to tell.
pub(super) fn error_line(args: fmt::Arguments) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// Why output was lost, unless all was written or the reader left.
pub(super) fn lost() -> Option<String> {
    match &*STDOUT.lock().unwrap_or_else(PoisonError::into_inner) {
        Stdout::Failed(why) => Some(why.clone()),
        Stdout::Open | Stdout::ReaderGone => None,
    }
}

/// `println!` for the CLI: a line to stdout that never panics.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}

/// `alias-mgr: warning: ...` to stderr, never panicking.
macro_rules! say_warning {
    ($($arg:tt)*) => {
        $crate::cli::output::error_line(format_args!(
            "alias-mgr: warning: {}",
            format_args!($($arg)*)
        ))
    };
}

pub(super) use {say, say_warning};
