//! Who may change the config: run as root, alias-mgr sets up addresses,
//! routes and the firewall from it, so, like sshd's StrictModes, it refuses
//! a file that a user other than root could write, or a directory where one
//! could replace it. Run as another user it changes nothing it could not
//! change anyway, so nothing is refused.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use super::error::ConfigError;

/// What is being judged: the rules differ for directories and symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    /// A symlink's mode means nothing; its owner could repoint it.
    Link,
}

/// Why a path is not to be trusted: whom its mode lets write it, and its
/// owner when that is neither root nor the running user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Distrust {
    pub(super) writable_by: Option<&'static str>,
    pub(super) owner: Option<u32>,
}

/// The decision, from the mode and owner of a path and the effective uid
/// of this process alone.
pub(super) fn judge(kind: Kind, mode: u32, owner: u32, euid: u32) -> Option<Distrust> {
    if euid != 0 {
        return None;
    }
    let owner = (owner != 0 && owner != euid).then_some(owner);
    // In a sticky directory only a file's owner (or the directory's) may
    // rename or delete it, so a root-owned sticky directory such as /tmp
    // lets nobody else replace root's file there.
    let sticky_root_dir = kind == Kind::Dir && mode & 0o1000 != 0 && owner.is_none();
    let writable_by = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        _ if kind == Kind::Link || sticky_root_dir => None,
        (true, true) => Some("group and others"),
        (true, false) => Some("group"),
        (false, true) => Some("others"),
        (false, false) => None,
    };
    (writable_by.is_some() || owner.is_some()).then_some(Distrust { writable_by, owner })
}

/// The refusal of `config` because of `path` (the file itself, its symlink
/// or a directory above it), with the commands that fix it.
fn refusal(config: &Path, path: &Path, kind: Kind, mode: u32, why: Distrust) -> ConfigError {
    let what = match kind {
        _ if path == config => "it".to_string(),
        Kind::File => format!("the file it names, {}", path.display()),
        Kind::Dir => format!("the directory {}", path.display()),
        Kind::Link => format!("the symlink {}", path.display()),
    };
    let mut faults = Vec::new();
    let mut fixes = Vec::new();
    if let Some(owner) = why.owner {
        faults.push(format!("owned by uid {owner}"));
        fixes.push(format!("`chown root {}`", path.display()));
    }
    if let Some(whom) = why.writable_by {
        faults.push(format!("writable by {whom} (mode {:04o})", mode & 0o7777));
        fixes.push(format!("`chmod go-w {}`", path.display()));
    }
    let problem = format!(
        "{what} is {}, so a user other than root could choose the addresses and firewall rules alias-mgr sets up as root; run {}",
        faults.join(" and "),
        fixes.join(" and ")
    );
    ConfigError::Untrusted {
        path: config.to_path_buf(),
        problem,
    }
}

/// Whether this process runs as root, where the checks apply.
pub(super) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks the file `config` was opened as (its metadata from the open file).
pub(super) fn check_file(config: &Path, meta: &fs::Metadata, euid: u32) -> Result<(), ConfigError> {
    let Some(why) = judge(Kind::File, meta.mode(), meta.uid(), euid) else {
        return Ok(());
    };
    // Through a symlink, the fix is for the file it names.
    let real = fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let real = match fs::symlink_metadata(config) {
        Ok(link) if link.file_type().is_symlink() => real,
        _ => config.to_path_buf(),
    };
    Err(refusal(config, &real, Kind::File, meta.mode(), why))
}

/// Checks what leads to `config`: the symlink it may be, and every
/// directory above the file it names (and above the symlink), up to `/`.
/// For a file that does not exist yet, the directories it would go in.
pub(super) fn check_path(config: &Path, euid: u32) -> Result<(), ConfigError> {
    if euid != 0 {
        return Ok(());
    }
    check_links_on_the_way(config, euid)?;
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(link) = fs::symlink_metadata(config) {
        if link.file_type().is_symlink() {
            if let Some(why) = judge(Kind::Link, link.mode(), link.uid(), euid) {
                return Err(refusal(config, config, Kind::Link, link.mode(), why));
            }
            dirs.extend(existing_dir(config));
        }
    }
    match fs::canonicalize(config) {
        Ok(real) => dirs.extend(real.parent().map(Path::to_path_buf)),
        Err(_) => dirs.extend(existing_dir(config)),
    }
    for dir in &dirs {
        for dir in dir.ancestors() {
            let Ok(meta) = fs::metadata(dir) else {
                continue;
            };
            if let Some(why) = judge(Kind::Dir, meta.mode(), meta.uid(), euid) {
                return Err(refusal(config, dir, Kind::Dir, meta.mode(), why));
            }
        }
    }
    Ok(())
}

/// Every symlink on the way to `config` as written (`/srv/x` in
/// `/srv/x/alias-mgr.toml`), and the directories that hold each: whoever
/// owns one could point it at another directory, and with it the file.
fn check_links_on_the_way(config: &Path, euid: u32) -> Result<(), ConfigError> {
    let Ok(absolute) = std::path::absolute(config) else {
        return Ok(()); // no cwd: the resolved path's checks still apply
    };
    let mut prefix = PathBuf::new();
    for part in absolute.components() {
        prefix.push(part);
        let Ok(meta) = fs::symlink_metadata(&prefix) else {
            break;
        };
        if !meta.file_type().is_symlink() {
            continue;
        }
        if let Some(why) = judge(Kind::Link, meta.mode(), meta.uid(), euid) {
            return Err(refusal(config, &prefix, Kind::Link, meta.mode(), why));
        }
        let holder = prefix.parent().and_then(|dir| fs::canonicalize(dir).ok());
        for dir in holder.iter().flat_map(|dir| dir.ancestors()) {
            let Ok(meta) = fs::metadata(dir) else {
                continue;
            };
            if let Some(why) = judge(Kind::Dir, meta.mode(), meta.uid(), euid) {
                return Err(refusal(config, dir, Kind::Dir, meta.mode(), why));
            }
        }
    }
    Ok(())
}

/// The nearest existing directory above `path`, resolved.
fn existing_dir(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }
        })
        .find_map(|dir| fs::canonicalize(dir).ok())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::test_util::{temp_dir, ConfigError, ConfigFile};

    const ROOT: u32 = 0;
    const USER: u32 = 1000;

    fn writable(by: &'static str) -> Option<Distrust> {
        Some(Distrust {
            writable_by: Some(by),
            owner: None,
        })
    }

    #[test]
    fn root_refuses_files_others_can_write_or_own() {
        assert_eq!(judge(Kind::File, 0o100644, ROOT, ROOT), None);
        assert_eq!(judge(Kind::File, 0o100600, ROOT, ROOT), None);
        assert_eq!(judge(Kind::File, 0o100664, ROOT, ROOT), writable("group"));
        assert_eq!(judge(Kind::File, 0o100646, ROOT, ROOT), writable("others"));
        assert_eq!(
            judge(Kind::File, 0o100666, ROOT, ROOT),
            writable("group and others")
        );
        assert_eq!(
            judge(Kind::File, 0o100664, USER, ROOT),
            Some(Distrust {
                writable_by: Some("group"),
                owner: Some(USER)
            })
        );
        assert_eq!(
            judge(Kind::File, 0o100644, USER, ROOT).and_then(|d| d.owner),
            Some(USER)
        );
        // Sticky means nothing on a file.
        assert_eq!(
            judge(Kind::File, 0o101666, ROOT, ROOT),
            writable("group and others")
        );
    }

    #[test]
    fn directories_may_be_sticky_and_root_owned_and_symlinks_only_owned() {
        assert_eq!(judge(Kind::Dir, 0o40755, ROOT, ROOT), None);
        assert_eq!(judge(Kind::Dir, 0o40775, ROOT, ROOT), writable("group"));
        assert_eq!(
            judge(Kind::Dir, 0o40777, ROOT, ROOT),
            writable("group and others")
        );
        // /tmp: others cannot replace root's file there.
        assert_eq!(judge(Kind::Dir, 0o41777, ROOT, ROOT), None);
        // ... unless the sticky directory is someone else's.
        assert!(judge(Kind::Dir, 0o41777, USER, ROOT)
            .is_some_and(|d| d.owner == Some(USER) && d.writable_by == Some("group and others")));
        assert_eq!(judge(Kind::Link, 0o120777, ROOT, ROOT), None);
        assert_eq!(
            judge(Kind::Link, 0o120777, USER, ROOT).and_then(|d| d.owner),
            Some(USER)
        );
    }

    /// `--config /srv/x/alias-mgr.toml` where /srv/x is a user's symlink to
    /// a root-owned directory: the user could point it elsewhere.
    #[test]
    fn a_symlinked_directory_on_the_way_is_judged_too() {
        let dir = temp_dir("trust-dirlink");
        let real = dir.join("real");
        fs::create_dir_all(&real).unwrap();
        for p in [&dir, &real] {
            fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::write(real.join("alias-mgr.toml"), "").unwrap();
        let link = dir.join("x");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let given = link.join("alias-mgr.toml");
        ConfigFile::load(&given).unwrap();
        if euid() == 0 {
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            let text = ConfigFile::load(&given).unwrap_err().to_string();
            assert!(
                text.contains(&format!("the symlink {}", link.display())),
                "{text}"
            );
            assert!(text.contains("uid 65534"), "{text}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn other_users_are_not_refused() {
        for kind in [Kind::File, Kind::Dir, Kind::Link] {
            assert_eq!(judge(kind, 0o100666, USER, USER), None);
            assert_eq!(judge(kind, 0o100666, ROOT, USER), None);
            assert_eq!(judge(kind, 0o100666, 2000, USER), None);
        }
    }

    /// The real files, as whoever runs the tests: root must be refused
    /// with the fix, anyone else must not be.
    #[test]
    fn loading_checks_the_file_its_symlink_and_its_directories() {
        let dir = temp_dir("trust");
        let conf = dir.join("conf");
        fs::create_dir_all(&conf).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o755)).unwrap();
        let path = conf.join("alias-mgr.toml");
        fs::write(&path, "").unwrap();
        let link = dir.join("link.toml");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let mode =
            |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        let root = euid() == 0;

        mode(&path, 0o644);
        ConfigFile::load(&path).unwrap();
        ConfigFile::load(&link).unwrap();

        mode(&path, 0o664);
        for (given, shown) in [(&path, "it"), (&link, "the file it names")] {
            match ConfigFile::load(given) {
                Err(err) if root => {
                    let text = err.to_string();
                    assert!(matches!(err, ConfigError::Untrusted { .. }), "{err:?}");
                    assert!(
                        text.starts_with(&format!("refusing {}: {shown}", given.display())),
                        "{text}"
                    );
                    assert!(text.contains("writable by group (mode 0664)"), "{text}");
                    assert!(
                        text.ends_with(&format!("run `chmod go-w {}`", path.display())),
                        "{text}"
                    );
                }
                Ok(_) if !root => {}
                other => panic!("root: {root}: {other:?}"),
            }
        }
        mode(&path, 0o644);

        if root {
            std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
            let text = ConfigFile::load(&path).unwrap_err().to_string();
            assert!(
                text.contains("it is owned by uid 65534, so a user other than root"),
                "{text}"
            );
            assert!(
                text.ends_with(&format!("run `chown root {}`", path.display())),
                "{text}"
            );
            std::os::unix::fs::chown(&path, Some(0), None).unwrap();
        }

        mode(&conf, 0o777);
        match ConfigFile::load(&path) {
            Err(err) if root => {
                let text = err.to_string();
                assert!(
                    text.contains(&format!(
                        "the directory {} is writable by group and others (mode 0777)",
                        conf.display()
                    )),
                    "{text}"
                );
                assert!(
                    text.ends_with(&format!("run `chmod go-w {}`", conf.display())),
                    "{text}"
                );
            }
            Ok(_) if !root => {}
            other => panic!("root: {root}: {other:?}"),
        }
        // The directory of a symlink counts too, and of a file not there yet.
        mode(&conf, 0o755);
        mode(&dir, 0o777);
        assert_eq!(ConfigFile::load(&link).is_err(), root);
        assert_eq!(ConfigFile::load(&dir.join("new.toml")).is_err(), root);
        // Sticky and root's: fine (owned by whoever runs the tests, so
        // only for root is this /tmp's case).
        mode(&dir, 0o1777);
        assert!(ConfigFile::load(&link).is_ok());
        mode(&dir, 0o755);
        fs::remove_dir_all(&dir).unwrap();
    }
}
