//! The run lock: one alias-mgr run that changes things at a time.

use std::{
    fs::{self, File},
    io,
    os::fd::AsRawFd,
    path::Path,
};

use anyhow::{Context, Result};

/// Serializes runs that change things: an exclusive flock next to the config.
pub struct RunLock {
    _file: File,
}

pub fn lock(config: &Path) -> Result<RunLock> {
    let dir = config
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)
        .with_context(|| format!("creating config directory {}", dir.display()))?;
    let name = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = dir.join(format!(".{name}.lock"));
    let file =
        File::create(&path).with_context(|| format!("opening lock file {}", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "alias-mgr: waiting for another alias-mgr run to finish ({})",
            path.display()
        );
        // SAFETY: as above, blocking this time.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(RunLock { _file: file })
}
