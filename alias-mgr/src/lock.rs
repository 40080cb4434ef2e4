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

/// `/run/alias-mgr/net-INODE.lock`. A user who may not create it (a
/// non-root `import --write` into a file of their own changes no kernel
/// state) locks in the temporary directory instead.
fn lock_path(namespace: u64) -> Result<PathBuf> {
    let name = format!("net-{namespace}.lock");
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
}
