//! Where pins can live: whether a path is on bpffs, mounting bpffs, whether
//! such a mount would outlive this process, and whether the kernel has TCX.

use std::{ffi::CString, fs, io, os::unix::ffi::OsStrExt, path::Path};

use super::{BpfError, Result};

const BPF_FS_MAGIC: i64 = 0xcafe4a11;

pub(super) fn require_tcx() -> Result<()> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim().to_string();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (6, 6) {
        return Err(BpfError::NoTcx { release });
    }
    Ok(())
}

pub(super) fn is_bpffs(path: &Path) -> bool {
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct; the path is NUL-terminated.
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(cpath.as_ptr(), &mut stat) == 0 && stat.f_type as i64 == BPF_FS_MAGIC
    }
}

/// Whether this process's mount namespace is the one its ancestors live in
/// (the init namespace, or a container's own). `ip netns exec` and
/// `unshare -m` give a command a namespace of its own that dies with it, so a
/// mount made there is lost. Ancestors that cannot be read (outside a PID
/// namespace, or hidden) are skipped, which keeps the plain behaviour:
/// mount and go on.
pub(super) fn mount_namespace_is_shared_with_ancestors() -> bool {
    use std::os::unix::fs::MetadataExt;
    let namespace = |pid: &str| {
        fs::metadata(format!("/proc/{pid}/ns/mnt"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let Some(own) = namespace("self") else {
        return true;
    };
    // PID 1's namespace lives as long as the system (or the container).
    if namespace("1") == Some(own) {
        return true;
    }
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": comm may contain spaces and ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(1)?.parse().ok()
    };
    // SAFETY: getppid cannot fail.
    let mut pid = unsafe { libc::getppid() } as u32;
    // Bounded: a PID chain ends at 1 or at the edge of a PID namespace (0).
    for _ in 0..64 {
        if pid == 0 {
            break;
        }
        if namespace(&pid.to_string()).is_some_and(|theirs| theirs != own) {
            return false;
        }
        if pid == 1 {
            break;
        }
        match parent_of(pid) {
            Some(parent) => pid = parent,
            None => break,
        }
    }
    true
}

pub(super) fn mount_bpffs(target: &Path) -> io::Result<()> {
    let target = CString::new(target.as_os_str().as_bytes())?;
    let fstype = CString::new("bpf").expect("no NUL");
    // SAFETY: all pointers are valid NUL-terminated strings.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
