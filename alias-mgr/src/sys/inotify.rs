//! Watching the config file with inotify(7), through the inotify crate
//! (the only importer): the daemon applies an edit when it happens, not at
//! the next netlink event or periodic reconcile.
//!
//! The watch is on the file's directory, not the file: `alias-mgr add` and
//! most editors save by renaming a new file over the old one, which a watch
//! on the old inode would never see. The drop-in directory (`conf.d`) is
//! watched too, from when it exists.

use std::{
    ffi::{OsStr, OsString},
    io,
    path::{Path, PathBuf},
};

use futures::StreamExt;
use inotify::{EventMask, EventStream, Inotify, WatchDescriptor, WatchMask};

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
    /// The watches of the file's directories: losing one ends the watch.
    dirs: Vec<WatchDescriptor>,
    /// The drop-in directory (`conf.d` next to the file) and its watch,
    /// once it exists: any `*.toml` in it is part of the config.
    drop_ins: PathBuf,
    drop_in_watch: Option<WatchDescriptor>,
}

impl FileWatch {
    /// Watches `path` (its directory must exist) and the directory of its
    /// drop-ins. A symlinked config is saved into its target's directory,
    /// so that one is watched too.
    pub fn new(path: &Path, drop_ins: &Path) -> io::Result<Self> {
        let inotify = Inotify::init()?;
        let mut names = Vec::new();
        let mut dirs = Vec::new();
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
            dirs.push(inotify.watches().add(dir, events())?);
            names.push(name.to_os_string());
        }
        let drop_ins = drop_ins.to_path_buf();
        // Its appearing or going is a change of the config too.
        names.extend(drop_ins.file_name().map(OsStr::to_os_string));
        let drop_in_watch = inotify.watches().add(&drop_ins, events()).ok();
        let events = inotify.into_event_stream(vec![0u8; 4096])?;
        Ok(Self {
            events,
            names,
            dirs,
            drop_ins,
            drop_in_watch,
        })
    }

    /// Waits until the watched file is written, replaced, created or
    /// removed (events for other files in the directory are skipped). A
    /// queue overflow counts as a change (one may have been lost); a watch
    /// the kernel dropped (the directory is gone) is an error.
    pub async fn changed(&mut self) -> io::Result<()> {
        while let Some(event) = self.events.next().await {
            let event = event?;
            let name: Option<&OsStr> = event.name.as_deref();
            let in_drop_ins = self.drop_in_watch.as_ref() == Some(&event.wd);
            if in_drop_ins {
                if event.mask.contains(EventMask::IGNORED) {
                    // conf.d went away: the main file's directory says so.
                    self.drop_in_watch = None;
                    continue;
                }
                if name.is_some_and(|n| n.to_string_lossy().ends_with(".toml")) {
                    return Ok(());
                }
                continue;
            }
            if event.mask.contains(EventMask::IGNORED) {
                if self.dirs.contains(&event.wd) {
                    return Err(io::Error::other(
                        "the config's directory was removed or unmounted",
                    ));
                }
                // A conf.d watch given up for a newer one.
                continue;
            }
            if name.is_some() && name == self.drop_ins.file_name() {
                // Made, replaced or moved away: watch whatever is there now
                // (a `mv` gives no IGNORED: the old watch follows the old
                // directory).
                if let Some(old) = self.drop_in_watch.take() {
                    let _ = self.events.watches().remove(old);
                }
                self.drop_in_watch = self.events.watches().add(&self.drop_ins, events()).ok();
            }
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
        let mut watch = FileWatch::new(&path, &dir.join("conf.d")).unwrap();

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

        // conf.d made after the watch started: its making is a change, and
        // from then on a drop-in written there is one; other files are not.
        std::fs::create_dir(dir.join("conf.d")).unwrap();
        within(&mut watch, "conf.d appearing is seen").await;
        std::fs::write(dir.join("conf.d/README"), "x").unwrap();
        std::fs::write(dir.join("conf.d/10-web.toml"), "# web").unwrap();
        within(&mut watch, "a drop-in written is seen").await;
        // conf.d replaced by another directory (no IGNORED for a rename):
        // the new one is watched.
        std::fs::create_dir(dir.join("conf.d.new")).unwrap();
        std::fs::rename(dir.join("conf.d"), dir.join("conf.d.old")).unwrap();
        within(&mut watch, "conf.d moved away is seen").await;
        std::fs::rename(dir.join("conf.d.new"), dir.join("conf.d")).unwrap();
        within(&mut watch, "a new conf.d is seen").await;
        std::fs::write(dir.join("conf.d/20-db.toml"), "# db").unwrap();
        within(&mut watch, "a drop-in in the new conf.d is seen").await;
        // One write is several events: let those pass first.
        while tokio::time::timeout(std::time::Duration::from_millis(100), watch.changed())
            .await
            .is_ok()
        {}
        std::fs::write(dir.join("conf.d.old/30-old.toml"), "# old").unwrap();
        let quiet =
            tokio::time::timeout(std::time::Duration::from_millis(200), watch.changed()).await;
        assert!(quiet.is_err(), "the old directory is no longer watched");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    async fn within(watch: &mut FileWatch, what: &str) {
        tokio::time::timeout(std::time::Duration::from_secs(2), watch.changed())
            .await
            .expect(what)
            .unwrap();
    }
}
