//! Reading the config file without trusting what is at its path: only a
//! regular file is read (a FIFO would block `plan` forever, a device could
//! stream without end), at most [`MAX_CONFIG_BYTES`] of it, as UTF-8, and,
//! when running as root, only one no other user can change (see `trust`).

use std::{
    fs::{self, File, FileType},
    io::Read,
    os::unix::fs::{FileTypeExt, OpenOptionsExt},
    path::Path,
};

use super::{
    error::{io_error, line_col, ConfigError, MAX_CONFIG_BYTES},
    trust,
};

/// What was read, and the metadata of the open file it came from (so the
/// two belong together even while the file is being replaced).
#[derive(Debug)]
pub struct FileText {
    pub text: String,
    pub metadata: fs::Metadata,
}

/// Reads the config at `path` (following symlinks). A missing file is an
/// `Io` error for which [`ConfigError::is_not_found`] holds.
pub fn read_file(path: &Path) -> Result<FileText, ConfigError> {
    let euid = trust::euid();
    trust::check_path(path, euid)?;
    // A stat first, to name what is there without opening it.
    let meta = fs::metadata(path).map_err(io_error("reading", path))?;
    check_meta(path, &meta)?;
    read_open(path, euid)
}

/// Opens and reads `path`, judging the open file itself: whatever was
/// swapped in after the stat, the checks apply to what is read.
fn read_open(path: &Path, euid: u32) -> Result<FileText, ConfigError> {
    // O_NONBLOCK: opening a FIFO for reading waits for a writer otherwise.
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_error("reading", path))?;
    let metadata = file.metadata().map_err(io_error("reading", path))?;
    check_meta(path, &metadata)?;
    trust::check_file(path, &metadata, euid)?;
    let bytes = read_at_most(file, metadata.len(), path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..offset]).unwrap_or_default();
        let (line, column) = line_col(valid, offset);
        ConfigError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
            offset,
        }
    })?;
    Ok(FileText { text, metadata })
}

/// The file's bytes, refused past the limit (it may have grown since the
/// stat).
fn read_at_most(file: File, size: u64, path: &Path) -> Result<Vec<u8>, ConfigError> {
    // Sized from the stat (one more byte to see the end) so a large file is
    // not read through a doubling buffer.
    let mut bytes = Vec::with_capacity(size.min(MAX_CONFIG_BYTES) as usize + 1);
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("reading", path))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

fn check_meta(path: &Path, meta: &fs::Metadata) -> Result<(), ConfigError> {
    if !meta.is_file() {
        return Err(ConfigError::NotRegular {
            path: path.to_path_buf(),
            kind: kind(meta.file_type()),
        });
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    Ok(())
}

fn kind(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

#[cfg(test)]
mod tests {
    use std::{
        ffi::CString,
        os::unix::{ffi::OsStrExt, fs::PermissionsExt},
        time::{Duration, Instant},
    };

    use super::*;
    use crate::config::test_util::{temp_dir, ConfigError, ConfigFile};

    fn made_dir(tag: &str) -> std::path::PathBuf {
        let dir = temp_dir(tag);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn mkfifo(path: &Path) {
        let name = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    }

    #[test]
    fn special_files_are_named_and_never_block() {
        let dir = made_dir("fifo");
        let fifo = dir.join("fifo.toml");
        mkfifo(&fifo);
        let started = Instant::now();
        let err = ConfigFile::load(&fifo).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a FIFO (named pipe), not a regular file; point --config at the config file (a symlink to one is fine)",
                fifo.display()
            )
        );
        // A FIFO swapped in after the stat: the open does not wait for a
        // writer, and what was opened is refused.
        let err = read_open(&fifo, trust::euid()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotRegular {
                    kind: "a FIFO (named pipe)",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let err = ConfigFile::load(&dir).unwrap_err();
        assert!(
            err.to_string()
                .contains(" is a directory, not a regular file"),
            "{err}"
        );
        let err = read_open(&dir, trust::euid()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotRegular {
                    kind: "a directory",
                    ..
                }
            ),
            "{err:?}"
        );
        let err = ConfigFile::load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is a character device, not a regular file; point --config at the config file (a symlink to one is fine)"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn huge_and_binary_files_get_one_clear_error() {
        let dir = made_dir("big");
        let path = dir.join("alias-mgr.toml");
        // Sparse: the size is what counts, nothing is written.
        let file = File::create(&path).unwrap();
        file.set_len(MAX_CONFIG_BYTES + 1).unwrap();
        let err = ConfigFile::load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is 16777217 bytes, over the 16 MiB a config file may have; check that --config names the config file",
                path.display()
            )
        );
        // At the limit it is read (and then is not TOML).
        file.set_len(MAX_CONFIG_BYTES).unwrap();
        assert!(matches!(
            ConfigFile::load(&path),
            Err(ConfigError::Syntax { .. })
        ));

        fs::write(&path, b"# caf\xc3\xa9\n[settings]\n# \xff\xfe\n").unwrap();
        let err = ConfigFile::load(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}:3:3: the byte at offset 21 is not UTF-8; the config must be UTF-8 text: remove that byte or convert the file (e.g. with iconv)",
                path.display()
            )
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
