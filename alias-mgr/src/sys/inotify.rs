//! Watching the config file with inotify(7): the daemon applies an edit when
//! it happens, not at the next netlink event or periodic reconcile.
//!
//! The watch is on the file's directory, not the file: `alias-mgr add` and
//! most editors save by renaming a new file over the old one, which a watch
//! on the old inode would never see.

use std::{
    ffi::{CString, OsStr, OsString},
    io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

use tokio::io::unix::AsyncFd;

/// What changes the file: written, replaced by a rename, created, removed.
const EVENTS: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_CREATE
    | libc::IN_DELETE;

/// `struct inotify_event` without its name: wd, mask, cookie, len.
const EVENT_HEADER: usize = 16;

pub struct FileWatch {
    fd: AsyncFd<OwnedFd>,
    /// The config's file name, and its target's when it is a symlink.
    names: Vec<OsString>,
}

impl FileWatch {
    /// Watches `path` (its directory must exist). A symlinked config is
    /// saved into its target's directory, so that one is watched too.
    pub fn new(path: &Path) -> io::Result<Self> {
        // SAFETY: inotify_init1 takes flags only; the fd is owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut names = Vec::new();
        let target = std::fs::canonicalize(path).ok();
        for file in std::iter::once(path).chain(target.as_deref()) {
            let name = file
                .file_name()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            let dir_c = CString::new(dir.as_os_str().as_bytes())?;
            // SAFETY: a valid fd and NUL-terminated path. Watching the same
            // directory twice returns the same watch.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), dir_c.as_ptr(), EVENTS) } < 0 {
                return Err(io::Error::last_os_error());
            }
            names.push(name.to_os_string());
        }
        // SAFETY: the OwnedFd stays open, and the same, until the AsyncFd
        // that owns it is dropped.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self { fd, names })
    }

    /// Waits until the watched file is written, replaced, created or
    /// removed (events for other files in the directory are skipped). A
    /// queue overflow counts as a change (one may have been lost); a watch
    /// the kernel dropped (the directory is gone) is an error.
    pub async fn changed(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let mut guard = self.fd.readable().await?;
            let read = guard.try_io(|fd| {
                // SAFETY: reading into a buffer we own, at most its length.
                let n = unsafe {
                    libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            match read {
                Ok(Ok(n)) => {
                    for (mask, name) in events(&buf[..n]) {
                        if mask & libc::IN_IGNORED != 0 {
                            return Err(io::Error::other(
                                "the config's directory was removed or unmounted",
                            ));
                        }
                        if mask & libc::IN_Q_OVERFLOW != 0
                            || self.names.iter().any(|watched| watched.as_os_str() == name)
                        {
                            return Ok(());
                        }
                    }
                }
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => {}
            }
        }
    }
}

/// The (mask, name) of each event in a buffer of inotify events.
fn events(mut buf: &[u8]) -> impl Iterator<Item = (u32, &OsStr)> {
    std::iter::from_fn(move || {
        if buf.len() < EVENT_HEADER {
            return None;
        }
        let mask = u32::from_ne_bytes(buf[4..8].try_into().ok()?);
        let len = u32::from_ne_bytes(buf[12..16].try_into().ok()?) as usize;
        let end = (EVENT_HEADER + len).min(buf.len());
        let name = &buf[EVENT_HEADER..end];
        buf = &buf[end..];
        // The name is NUL-padded to an alignment boundary.
        let name = name.split(|b| *b == 0).next().unwrap_or_default();
        Some((mask, OsStr::from_bytes(name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, padded: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; EVENT_HEADER];
        bytes[4..8].copy_from_slice(&libc::IN_MODIFY.to_ne_bytes());
        bytes[12..16].copy_from_slice(&(padded as u32).to_ne_bytes());
        let mut name = name.as_bytes().to_vec();
        name.resize(padded, 0);
        bytes.extend(name);
        bytes
    }

    #[test]
    fn event_names_are_read_past_their_padding() {
        let mut buf = event(".alias-mgr.toml.lock", 32);
        buf.extend(event("alias-mgr.toml", 16));
        buf.extend(event("", 0));
        let names: Vec<&OsStr> = events(&buf).map(|(_, name)| name).collect();
        assert_eq!(names, [".alias-mgr.toml.lock", "alias-mgr.toml", ""]);
        assert!(events(&buf).all(|(mask, _)| mask == libc::IN_MODIFY));
    }

    #[tokio::test]
    async fn a_rename_over_the_file_is_seen_and_other_files_are_not() {
        let dir = std::env::temp_dir().join(format!("alias-mgr-inotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alias-mgr.toml");
        std::fs::write(&path, "").unwrap();
        let mut watch = FileWatch::new(&path).unwrap();

        std::fs::write(dir.join("other.toml"), "x").unwrap();
        let quiet =
            tokio::time::timeout(std::time::Duration::from_millis(200), watch.changed()).await;
        assert!(quiet.is_err(), "another file's change woke the watch");

        std::fs::write(dir.join("new.toml"), "# new").unwrap();
        std::fs::rename(dir.join("new.toml"), &path).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(2), watch.changed())
            .await
            .expect("the rename is seen")
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
