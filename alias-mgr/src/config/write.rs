//! Replacing the file on disk atomically: a temp file next to it, synced,
//! then renamed over it, so readers see the old file or the new one.

use std::{
    fs,
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use super::error::{io_error, ConfigError};

/// Writes `text` to `path` (the file a symlink there points to) atomically,
/// even across a crash. Keeps the old file's permissions (0644 for a new
/// file) and, when allowed, its owner.
pub(super) fn replace_file(path: &Path, text: &str) -> Result<(), ConfigError> {
    let target = follow_symlink(path);
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // 0755 at most (the umask may take more): a directory others can
    // write would make root refuse the file in it.
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)
        .map_err(io_error("creating the directory", &dir))?;
    let old = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error("reading", &target)(e)),
    };
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = target
        .file_name()
        .map_or_else(|| "alias-mgr.toml".into(), |n| n.to_string_lossy());
    let mut temp = TempFile {
        path: dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )),
        renamed: false,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp.path)
        .map_err(io_error("writing", &temp.path))?;
    if let (Some(old), Ok(new)) = (&old, file.metadata()) {
        // Only root may give a file away; when we cannot, the file
        // becomes ours, which still works, so the error is ignored.
        if (old.uid(), old.gid()) != (new.uid(), new.gid()) {
            let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
        }
    }
    // Set explicitly (and after chown, which may clear mode bits): the
    // umask must not change the mode users chose.
    let mode = old
        .as_ref()
        .map_or(0o644, |m| m.permissions().mode() & 0o7777);
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_error("writing", &temp.path))?;
    file.write_all(text.as_bytes())
        .map_err(io_error("writing", &temp.path))?;
    file.sync_all().map_err(io_error("writing", &temp.path))?;
    drop(file);
    fs::rename(&temp.path, &target).map_err(io_error("replacing", &target))?;
    temp.renamed = true;
    // The rename itself is only durable once the directory is synced.
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing the directory", &dir))
}

/// Deletes the temp file of an unfinished `save`.
struct TempFile {
    path: PathBuf,
    renamed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Saving through a symlink (e.g. into a config-management checkout) must
/// replace the file it points to, not the link.
fn follow_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use crate::config::test_util::*;

    #[test]
    fn missing_file_loads_empty_and_save_creates_it() {
        let dir = temp_dir("new");
        let path = dir.join("sub").join("alias-mgr.toml");
        let mut file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.config(), &Config::default());
        assert_eq!(file.render(), "");
        file.add_alias(&alias("eth1", "10.0.0.1/8")).unwrap();
        file.save().unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        let loaded = ConfigFile::load(&path).unwrap();
        assert_eq!(loaded.render(), file.render());
        assert_eq!(loaded.config(), file.config());
        let entries: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["alias-mgr.toml"], "temp files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn save_replaces_atomically_and_keeps_permissions() {
        let dir = temp_dir("keep");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alias-mgr.toml");
        fs::write(&path, EXAMPLE).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let inode = fs::metadata(&path).unwrap().ino();

        let mut file = ConfigFile::load(&path).unwrap();
        assert!(file.remove_alias("eth1", ip("2001:db8::1")));
        file.save().unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_ne!(
            meta.ino(),
            inode,
            "the file must be replaced by rename, not rewritten"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), file.render());
        assert!(fs::read_to_string(&path)
            .unwrap()
            .contains("# the lab network, behind the router at .254"));
        let entries: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["alias-mgr.toml"], "temp files left behind");

        // A broken file is reported with its path and position.
        fs::write(&path, "[[alias]]\ninterface = 1\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{}:2:13: interface must be a string",
                path.display()
            )),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn os_errors_are_named_once() {
        let dir = temp_dir("io");
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        fs::write(&file, "").unwrap();
        // A path through a file: ENOTDIR, for root too.
        let path = file.join("alias-mgr.toml");
        let err = ConfigFile::load(&path).unwrap_err();
        assert!(
            matches!(err, ConfigError::Io { ref path, .. } if path == &file.join("alias-mgr.toml")),
            "{err:?}"
        );
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(
            chain,
            format!("reading {}: Not a directory (os error 20)", path.display())
        );
        let err = ConfigFile::parse(&path, "").unwrap().save().unwrap_err();
        let chain = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(chain.matches("os error").count(), 1, "{chain}");
        assert!(
            chain.starts_with(&format!("creating the directory {}: ", file.display())),
            "{chain}"
        );

        let denied = ConfigError::Io {
            path: path.clone(),
            action: "reading",
            error: std::io::Error::from_raw_os_error(13),
        };
        let chain = format!("{:#}", anyhow::Error::from(denied));
        assert_eq!(chain.matches("Permission denied").count(), 1, "{chain}");
        assert_eq!(chain.matches("os error 13").count(), 1, "{chain}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
