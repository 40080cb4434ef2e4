//! The run lock: one alias-mgr run that changes things at a time, per
//! config file.
//!
//! The lock lives under /run (a tmpfs, writable even when /etc is mounted
//! read-only, as on appliances and at early boot), keyed by the config's
//! absolute path, so two spellings of one file (a symlink, `./x.toml`) share
//! one lock and two config files do not block each other.

use std::{
    fs::{self, File},
    io::{self, Write},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

/// Where the locks live.
const RUN_DIR: &str = "/run/alias-mgr";

/// Held for the length of a run; the kernel drops the lock with the file.
pub struct RunLock {
    _file: File,
}

/// Takes the lock of `config`, waiting (and saying so) while another run
/// holds it.
pub fn lock(config: &Path) -> Result<RunLock> {
    let dir = Path::new(RUN_DIR);
    fs::create_dir_all(dir)
        .with_context(|| format!("creating the lock directory {}", dir.display()))?;
    let path = dir.join(lock_name(&absolute(config)));
    let file =
        File::create(&path).with_context(|| format!("opening lock file {}", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        // Not eprintln!: a closed stderr must not panic a run.
        let _ = writeln!(
            io::stderr(),
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

/// The config's path with its directory resolved (symlinks, `..`); the
/// file itself may not exist yet, and a symlinked file is followed.
fn absolute(config: &Path) -> PathBuf {
    if let Ok(path) = fs::canonicalize(config) {
        return path;
    }
    let dir = match config.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    match config.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    }
}

/// `NAME.HASH.lock`: the file name to read, a hash of the whole path to
/// keep two `alias-mgr.toml` in different directories apart.
fn lock_name(config: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    // FNV-1a: stable across runs and builds (std's hasher is not).
    let hash = config
        .as_os_str()
        .as_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
        });
    let name: String = config
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(64)
        .collect();
    format!("{name}.{hash:016x}.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_has_one_lock_name_and_two_files_two() {
        let dir = std::env::temp_dir().join(format!("am-lock-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        let direct = absolute(&dir.join("alias-mgr.toml"));
        let roundabout = absolute(&dir.join("sub/../alias-mgr.toml"));
        assert_eq!(lock_name(&direct), lock_name(&roundabout));
        let other = absolute(&dir.join("sub/alias-mgr.toml"));
        assert_ne!(lock_name(&direct), lock_name(&other));
        assert!(lock_name(&direct).starts_with("alias-mgr.toml."));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlinked_config_shares_the_lock_of_its_target() {
        let dir = std::env::temp_dir().join(format!("am-lock-link-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("real.toml");
        fs::write(&target, "").unwrap();
        let link = dir.join("link.toml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(lock_name(&absolute(&link)), lock_name(&absolute(&target)));
        fs::remove_dir_all(&dir).unwrap();
    }
}
