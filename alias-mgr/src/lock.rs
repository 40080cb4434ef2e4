//! The run lock: one alias-mgr run that changes things at a time, per
//! network namespace.
//!
//! What a run changes (addresses, routes, alias-mgr's nftables table, the
//! classifier on the interfaces) belongs to the network namespace, whatever
//! config file a run was given: two files applied at once in one namespace
//! would fight, while runs in different namespaces share nothing. So the
//! lock is keyed by the namespace. It lives under /run (a tmpfs, writable
//! even when /etc is mounted read-only, as on appliances and at early boot).

use std::{
    fs::{self, File},
    io::{self, Write},
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::core::text::stable_hash;

/// Where the locks live.
const RUN_DIR: &str = "/run/alias-mgr";

/// Held for the length of a run; the kernel drops the lock with the file.
pub struct RunLock {
    _file: File,
}

/// Takes the lock of this process's network namespace, waiting (and
/// saying so) while another run holds it. Every config file shares its
/// namespace's lock, so `config` does not choose it.
pub fn lock(_config: &Path) -> Result<RunLock> {
    let namespace = fs::metadata("/proc/self/ns/net")
        .map(|meta| meta.ino())
        .context("reading this process's network namespace (/proc/self/ns/net)")?;
    let path = lock_path(namespace)?;
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

/// Held by a daemon for its whole life: one per pin directory and one per
/// config file, so a second daemon on either refuses instead of fighting
/// the first over the same counters or the same aliases.
pub struct DaemonLock {
    _files: Vec<File>,
}

/// Takes the daemon locks of `pins` and `config`, or names the daemon that
/// holds one (its pid is written in the lock file).
pub fn daemon_lock(pins: &Path, config: &Path) -> Result<DaemonLock> {
    let mut files = Vec::new();
    for (what, path) in [("pin directory", pins), ("config", config)] {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let lock = daemon_lock_path(&absolute)?;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .with_context(|| format!("opening lock file {}", lock.display()))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let holder = fs::read_to_string(&lock).unwrap_or_default();
            let holder = holder.trim();
            let pid = if holder.is_empty() { "unknown" } else { holder };
            anyhow::bail!(
                "another alias-mgr daemon (pid {pid}) already serves the {what} {}; stop it first (`systemctl stop alias-mgr`, or kill {pid}), or give this one its own --pin-dir and --config",
                absolute.display()
            );
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("writing {}", lock.display()))?;
        files.push(file);
    }
    Ok(DaemonLock { _files: files })
}

/// `/run/alias-mgr/daemon-HASH.pid`, HASH of the absolute path.
fn daemon_lock_path(absolute: &Path) -> Result<PathBuf> {
    let hash = stable_hash(absolute.as_os_str().as_encoded_bytes());
    run_file(&format!("daemon-{hash:016x}.pid"))
}

/// `/run/alias-mgr/net-INODE.lock`. A user who may not create it (a
/// non-root `import --write` into a file of their own changes no kernel
/// state) locks in the temporary directory instead.
fn lock_path(namespace: u64) -> Result<PathBuf> {
    run_file(&format!("net-{namespace}.lock"))
}

/// The pid of the daemon serving `config`, if one runs: its lock file is
/// held (a shared lock cannot be had) and names it.
pub fn daemon_of(config: &Path) -> Option<u32> {
    let absolute = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    let path = daemon_lock_path(&absolute).ok()?;
    let file = File::open(&path).ok()?;
    // SAFETY: flock on an fd we own; released when `file` drops.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        return None;
    }
    fs::read_to_string(&path).ok()?.trim().parse().ok()
}

/// A file of alias-mgr's under /run (see [`lock_path`] for non-root runs).
pub fn run_file(name: &str) -> Result<PathBuf> {
    match fs::create_dir_all(RUN_DIR) {
        Ok(()) => Ok(Path::new(RUN_DIR).join(name)),
        // SAFETY: geteuid has no preconditions.
        Err(err)
            if err.kind() == io::ErrorKind::PermissionDenied && unsafe { libc::geteuid() } != 0 =>
        {
            // SAFETY: as above.
            let uid = unsafe { libc::geteuid() };
            Ok(std::env::temp_dir().join(format!("alias-mgr-{uid}-{name}")))
        }
        Err(err) => Err(err).with_context(|| format!("creating the lock directory {RUN_DIR}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_in_one_namespace_take_turns() {
        let first = lock(Path::new("a.toml")).unwrap();
        let namespace = fs::metadata("/proc/self/ns/net").unwrap().ino();
        let path = lock_path(namespace).unwrap();
        let other = File::open(&path).unwrap();
        // SAFETY: flock on an fd we own.
        let busy = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(busy, 0, "a second lock of the namespace must wait");
        drop(first);
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0
        );
    }

    #[test]
    fn a_second_daemon_lock_on_the_same_pins_is_refused_with_the_pid() {
        let unique = |name: &str| {
            std::env::temp_dir().join(format!("lock-test-{name}-{}", std::process::id()))
        };
        let (pins, one, two) = (unique("pins"), unique("one.toml"), unique("two.toml"));
        let first = daemon_lock(&pins, &one).unwrap();
        let err = daemon_lock(&pins, &two)
            .err()
            .expect("the pin directory is taken");
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!(
                "daemon (pid {}) already serves the pin directory",
                std::process::id()
            )),
            "{text}"
        );
        assert_eq!(daemon_of(&one), Some(std::process::id()));
        drop(first);
        assert_eq!(daemon_of(&one), None);
        drop(daemon_lock(&pins, &two).unwrap());
        for path in [&pins, &one, &two] {
            let absolute = std::path::absolute(path).unwrap();
            let _ = fs::remove_file(daemon_lock_path(&absolute).unwrap());
        }
    }
}
