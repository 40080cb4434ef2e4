//! Reading the config file and deciding when to reload it: a hash tells
//! whether it changed without parsing it; a file written in place is read
//! only once it has been still for [`SETTLE`]; a version that does not load
//! leaves the previous one in force.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::Path,
    time::Duration,
};

use anyhow::{anyhow, Context, Result};

use crate::{
    config::{
        dropins::{self, Part},
        read_file, ConfigError, ConfigFile, FileText,
    },
    logging::info,
};

/// How long a config file written in place must stay still before it is
/// read: an editor or `cat >` may be half-way through it.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What re-reading the config found.
pub(super) enum Reload {
    /// The file is as it was last read.
    Unchanged,
    /// A new version is in force.
    Reloaded,
    /// A new version did not load; the previous config stays in force.
    Failed(anyhow::Error),
    /// The file is being written in place; read it after this long.
    Deferred(Duration),
}

/// The config in force (the last version of the file that loaded) and what
/// the file looked like when last read.
pub(super) struct LoadedConfig {
    file: ConfigFile,
    /// Hash of what the file held (or the read error) when last read.
    fingerprint: u64,
    /// Device and inode of the file when last read.
    identity: Option<(u64, u64)>,
}

impl LoadedConfig {
    /// The first load, at startup: a config that does not load is fatal.
    pub(super) fn load(path: &Path) -> Result<Self> {
        let read = read_config(path);
        let (fingerprint, identity) = (read.fingerprint, read.identity);
        let file = parse_config(path, read).context("loading the config")?;
        Ok(Self {
            file,
            fingerprint,
            identity,
        })
    }

    pub(super) fn file(&self) -> &ConfigFile {
        &self.file
    }

    /// Re-reads the config at `path` (always when `force`, else only if the
    /// file changed); the caller holds the run lock.
    pub(super) fn refresh(&mut self, path: &Path, force: bool) -> Reload {
        let read = read_config(path);
        if !force && read.fingerprint == self.fingerprint {
            // Same text, maybe a new inode (`sed -i` renames even when it
            // changes nothing): remember it, or the next in-place edit
            // would look like a replacement and not be waited for.
            self.identity = read.identity;
            return Reload::Unchanged;
        }
        // SIGHUP means "the file is ready"; a change found on our own may be
        // a half-written file, which applied would remove aliases.
        let unsettled = read
            .unsettled(self.identity)
            .or_else(|| read.drop_in_unsettled());
        if let Some(wait) = unsettled.filter(|_| !force) {
            return Reload::Deferred(wait);
        }
        self.fingerprint = read.fingerprint;
        self.identity = read.identity;
        match parse_config(path, read) {
            Ok(file) => {
                self.file = file;
                info!("loaded {}", path.display());
                Reload::Reloaded
            }
            Err(err) => Reload::Failed(err),
        }
    }
}

/// The config file's text as read (or why it could not be: a missing file
/// is an error, never an empty config) and a hash of it, to tell whether it
/// changed without parsing it.
struct ConfigText {
    fingerprint: u64,
    text: Result<String, ConfigError>,
    /// The conf.d drop-ins, read with it (part of the fingerprint).
    drop_ins: Result<Vec<Part>, ConfigError>,
    /// Device and inode: `alias-mgr add` and most editors replace the file
    /// with a rename (a new inode, complete at once); a write in place keeps it.
    identity: Option<(u64, u64)>,
    modified: Option<std::time::SystemTime>,
}

impl ConfigText {
    /// How long to wait before trusting a file that changed less than
    /// [`SETTLE`] ago, unless it replaced the previous file (a rename: a new
    /// inode, complete at once). A file that was missing before may be
    /// being written now, so it is waited for too.
    /// How long to wait for a drop-in written less than [`SETTLE`] ago
    /// (`cat > conf.d/x.toml` truncates first: applied at once, it would
    /// remove that file's aliases until the write is done).
    fn drop_in_unsettled(&self) -> Option<Duration> {
        let parts = self.drop_ins.as_ref().ok()?;
        let youngest = parts
            .iter()
            .filter_map(|p| p.modified?.elapsed().ok())
            .min()?;
        SETTLE.checked_sub(youngest).filter(|wait| !wait.is_zero())
    }

    fn unsettled(&self, previous_identity: Option<(u64, u64)>) -> Option<Duration> {
        let replaced = previous_identity.is_some() && self.identity != previous_identity;
        if self.identity.is_none() || replaced {
            return None;
        }
        let age = self.modified?.elapsed().ok()?;
        SETTLE.checked_sub(age).filter(|wait| !wait.is_zero())
    }
}

fn read_config(path: &Path) -> ConfigText {
    use std::os::unix::fs::MetadataExt;
    // The config module's reader (regular files only, bounded, and as root
    // only one no other user can change) takes the identity and the text
    // from one open file, so they belong to the same file even while it is
    // being replaced. A missing file is an error (see parse_config), not an
    // empty config.
    let (metadata, text) = match read_file(path) {
        Ok(FileText { text, metadata }) => (Some(metadata), Ok(text)),
        Err(err) => (None, Err(err)),
    };
    let drop_ins = dropins::read(path);
    let mut hasher = DefaultHasher::new();
    match &text {
        Ok(text) => text.hash(&mut hasher),
        Err(err) => err.to_string().hash(&mut hasher),
    }
    match &drop_ins {
        Ok(parts) => parts
            .iter()
            .for_each(|p| (&p.path, &p.text).hash(&mut hasher)),
        Err(err) => err.to_string().hash(&mut hasher),
    }
    ConfigText {
        fingerprint: hasher.finish(),
        text,
        drop_ins,
        identity: metadata.as_ref().map(|m| (m.dev(), m.ino())),
        modified: metadata.and_then(|m| m.modified().ok()),
    }
}

fn parse_config(path: &Path, read: ConfigText) -> Result<ConfigFile> {
    match read.text {
        Ok(text) => ConfigFile::parse_with_drop_ins(path, text, read.drop_ins?)
            .map_err(anyhow::Error::new),
        // Read as "no aliases", a moved file or a mistyped path would remove
        // every alias.
        Err(err) if err.is_not_found() => Err(anyhow!(
            "{} does not exist (moved or deleted?); put it back, or write an empty file to manage no aliases",
            path.display()
        )),
        Err(err) => Err(anyhow::Error::new(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_written_in_place_just_now_is_waited_for() {
        use std::time::SystemTime;
        let text = |identity, age: u64| ConfigText {
            fingerprint: 0,
            text: Ok(String::new()),
            drop_ins: Ok(Vec::new()),
            identity,
            modified: SystemTime::now().checked_sub(Duration::from_millis(age)),
        };
        let wait = text(Some((1, 2)), 300).unsettled(Some((1, 2))).unwrap();
        assert!(wait <= SETTLE - Duration::from_millis(300), "{wait:?}");
        // Replaced (a new inode): complete at once.
        assert_eq!(text(Some((1, 3)), 0).unsettled(Some((1, 2))), None);
        // Still for longer than SETTLE.
        assert_eq!(text(Some((1, 2)), 1500).unsettled(Some((1, 2))), None);
        // Missing file: nothing to wait for.
        assert_eq!(text(None, 0).unsettled(None), None);
        // Created where there was none: maybe half-written, waited for.
        assert!(text(Some((1, 4)), 100).unsettled(None).is_some());
    }

    #[test]
    fn a_drop_in_written_just_now_is_waited_for() {
        use std::time::SystemTime;
        let with_drop_in = |age: u64| ConfigText {
            fingerprint: 0,
            text: Ok(String::new()),
            drop_ins: Ok(vec![Part {
                path: "conf.d/10-web.toml".into(),
                text: String::new(),
                modified: SystemTime::now().checked_sub(Duration::from_millis(age)),
            }]),
            identity: None,
            modified: None,
        };
        assert!(with_drop_in(100).drop_in_unsettled().is_some());
        assert_eq!(with_drop_in(1500).drop_in_unsettled(), None);
    }

    #[test]
    fn config_changes_are_seen_by_fingerprint_and_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("alias-mgr-daemon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alias-mgr.toml");
        let _ = std::fs::remove_file(&path);

        // Missing: an error naming the file and the fix, never "no aliases".
        let missing = read_config(&path);
        let missing_fingerprint = missing.fingerprint;
        let err = format!("{:#}", parse_config(&path, missing).unwrap_err());
        assert!(
            err.contains("alias-mgr.toml") && err.contains("does not exist"),
            "{err}"
        );
        assert_eq!(read_config(&path).fingerprint, missing_fingerprint);

        std::fs::write(
            &path,
            "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
        )
        .unwrap();
        let good = read_config(&path);
        let good_fingerprint = good.fingerprint;
        assert_ne!(good_fingerprint, missing_fingerprint);
        assert_eq!(parse_config(&path, good).unwrap().config().aliases.len(), 1);

        std::fs::write(&path, "[[alias]]\ninterface = 3\n").unwrap();
        let bad = read_config(&path);
        assert_ne!(bad.fingerprint, good_fingerprint);
        let err = format!("{:#}", parse_config(&path, bad).unwrap_err());
        assert!(err.contains("alias-mgr.toml:2:"), "{err}");

        // The daemon reads through the config module's checks: as root a
        // file others may write is refused (the previous config stays).
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&path, "").unwrap();
        let mode = |m| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m));
        mode(0o664).unwrap();
        let read = parse_config(&path, read_config(&path));
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let err = format!("{:#}", read.unwrap_err());
            assert!(
                err.contains(&format!("run `chmod go-w {}`", path.display())),
                "{err}"
            );
        } else {
            read.unwrap();
        }
        mode(0o644).unwrap();

        // A directory where the file should be: refused, naming it.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = format!("{:#}", parse_config(&path, read_config(&path)).unwrap_err());
        assert!(
            err.contains("alias-mgr.toml is a directory, not a regular file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
