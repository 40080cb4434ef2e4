//! Watching the config file with inotify(7), through the inotify crate
//! (the only importer): the daemon applies an edit when it happens, not at
//! the next netlink event or periodic reconcile.
//!
//! The watch is on the file's directory, not the file: `alias-mgr add` and
//! most editors save by renaming a new file over the old one, which a watch
//! on the old inode would never see.

use std::{
    ffi::{OsStr, OsString},
    io,
    path::Path,
};

use futures::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchMask};

/// What changes the file: written, replaced by a rename, created, removed.
fn events() -> WatchMask {
    WatchMask::CLOSE_WRITE
        | WatchMask::MODIFY
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::CREATE
        | WatchMask::DELETE
}

pub struct FileWatch {
    events: EventStream<Vec<u8>>,
    /// The config's file name, and its target's when it is a symlink.
    names: Vec<OsString>,
}

impl FileWatch {
    /// Watches `path` (its directory must exist). A symlinked config is
    /// saved into its target's directory, so that one is watched too.
    pub fn new(path: &Path) -> io::Result<Self> {
        let inotify = Inotify::init()?;
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
            // Watching the same directory twice returns the same watch.
            inotify.watches().add(dir, events())?;
            names.push(name.to_os_string());
        }
        let events = inotify.into_event_stream(vec![0u8; 4096])?;
        Ok(Self { events, names })
    }

    /// Waits until the watched file is written, replaced, created or
    /// removed (events for other files in the directory are skipped). A
    /// queue overflow counts as a change (one may have been lost); a watch
    /// the kernel dropped (the directory is gone) is an error.
    pub async fn changed(&mut self) -> io::Result<()> {
        while let Some(event) = self.events.next().await {
            let event = event?;
            if event.mask.contains(EventMask::IGNORED) {
                return Err(io::Error::other(
                    "the config's directory was removed or unmounted",
                ));
            }
            let name: Option<&OsStr> = event.name.as_deref();
            if event.mask.contains(EventMask::Q_OVERFLOW)
                || name.is_some_and(|name| self.names.iter().any(|watched| watched == name))
            {
                return Ok(());
            }
        }
        Err(io::Error::other("the inotify event stream ended"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
