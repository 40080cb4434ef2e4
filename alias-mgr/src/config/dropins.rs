//! Drop-in files: `conf.d/*.toml` next to the main file, merged after it in
//! lexical order (systemd's convention), so config management can own one
//! file per role. The validator sees them as one text, the main file first;
//! a [`Segments`] table maps its positions back to each file and line.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use toml_edit::ImDocument;

use super::{
    error::{line_col, LineStarts},
    ConfigError,
};

/// The directory of drop-ins, next to the main file.
pub const DROP_IN_DIR: &str = "conf.d";

/// The drop-in directory of the main file `main`.
pub fn dir(main: &Path) -> PathBuf {
    main.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(DROP_IN_DIR)
}

/// A drop-in file as read.
#[derive(Debug, Clone)]
pub struct Part {
    pub path: PathBuf,
    pub text: String,
    /// When it was last written, as read (None for an edit not saved yet).
    pub modified: Option<std::time::SystemTime>,
}

/// The drop-in files in `dir`, in the order they merge in: `*.toml` by
/// file name (hidden files and others left out); none when there is no
/// such directory.
pub fn paths_in(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let dir = dir.to_path_buf();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(ConfigError::Io {
                path: dir,
                action: "reading the drop-in directory",
                error,
            })
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            !name.starts_with('.') && name.ends_with(".toml")
        })
        .collect();
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// The drop-ins of `main`, read (with the same checks as the main file).
pub fn read(main: &Path) -> Result<Vec<Part>, ConfigError> {
    read_in(&dir(main))
}

/// The drop-ins in `dir`, read.
pub fn read_in(dir: &Path) -> Result<Vec<Part>, ConfigError> {
    paths_in(dir)?
        .into_iter()
        .map(|path| {
            super::read_file(&path).map(|read| Part {
                modified: read.metadata.modified().ok(),
                path,
                text: read.text,
            })
        })
        .collect()
}

/// Where each file starts in the combined text.
#[derive(Debug, Clone, Default)]
pub struct Segments {
    /// (file, byte offset, line) of each file's first byte, in order; the
    /// main file's is (main, 0, 1).
    starts: Vec<(PathBuf, usize, usize)>,
}

impl Segments {
    /// The file and its own line and column of `offset` in `combined`.
    pub fn place(&self, combined: &str, offset: usize) -> (&Path, usize, usize) {
        let (line, column) = line_col(combined, offset);
        let (path, _, first) = self
            .starts
            .iter()
            .rev()
            .find(|(_, start, _)| *start <= offset)
            .expect("the main file starts at 0");
        (path, line - first + 1, column)
    }

    /// The index of the file `offset` is in (0: the main file, or the
    /// only one when there is no table) and its line there.
    pub(super) fn file_and_line(&self, lines: &LineStarts, offset: usize) -> (usize, usize) {
        let line = lines.line(offset);
        match self
            .starts
            .iter()
            .rposition(|(_, start, _)| *start <= offset)
        {
            Some(index) => (index, line - self.starts[index].2 + 1),
            None => (0, line),
        }
    }

    /// Whether there are drop-ins (then messages name files, not just lines).
    pub fn several(&self) -> bool {
        self.starts.len() > 1
    }
}

/// The main file's text and the drop-ins' as one text, each drop-in on
/// lines of its own, with where each begins.
pub fn combine(main: &Path, text: &str, parts: &[Part]) -> (String, Segments) {
    let mut combined =
        String::with_capacity(text.len() + parts.iter().map(|p| p.text.len() + 1).sum::<usize>());
    combined.push_str(text);
    let mut starts = vec![(main.to_path_buf(), 0, 1)];
    let mut newlines = text.matches('\n').count();
    for part in parts {
        if !combined.is_empty() && !combined.ends_with('\n') {
            combined.push('\n');
            newlines += 1;
        }
        starts.push((part.path.clone(), combined.len(), newlines + 1));
        // A byte order mark is allowed at a file's start only.
        let own = part.text.strip_prefix('\u{feff}').unwrap_or(&part.text);
        combined.push_str(own);
        newlines += own.matches('\n').count();
    }
    (combined, Segments { starts })
}

/// What concatenation cannot say on its own: a drop-in's top-level value
/// would join the previous file's last table, and a `[settings]` or a zone
/// in two files is TOML's "duplicate key" without the first file's name.
pub fn check_parts(main: &Path, text: &str, parts: &[Part]) -> Result<(), ConfigError> {
    let mut settings: Option<(PathBuf, usize)> = None;
    let mut zones: Vec<(String, PathBuf, usize)> = Vec::new();
    let files = std::iter::once((main, text))
        .chain(parts.iter().map(|p| (p.path.as_path(), p.text.as_str())));
    for (index, (path, text)) in files.enumerate() {
        let doc =
            ImDocument::parse(text).map_err(|e| super::error::syntax_error(path, text, &e))?;
        let root = doc.as_table();
        let lines = LineStarts::of(text);
        for (key, item) in root.iter() {
            let at = root.key(key).and_then(|k| k.span()).map_or(0, |s| s.start);
            let (line, column) = lines.line_col(text, at);
            // `a.b = 1` parses as a dotted table, but joins the previous
            // table all the same.
            let dotted = item.as_table().is_some_and(toml_edit::Table::is_dotted);
            if index > 0 && (dotted || (!item.is_table() && !item.is_array_of_tables())) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: format!("{key} = ... at the top of a drop-in would join the previous file's last table; write it under a table header ([settings], [[alias]], [zone.NAME])"),
                });
            }
            if key == "settings" {
                if let Some((first, first_line)) = &settings {
                    return Err(ConfigError::Invalid {
                        path: path.to_path_buf(),
                        line,
                        column,
                        message: format!("[settings] is already in {}, line {first_line}; settings go in one file only: merge them there", first.display()),
                    });
                }
                settings = Some((path.to_path_buf(), line));
            }
        }
        let Some(declared) = root.get("zone").and_then(|z| z.as_table_like()) else {
            continue;
        };
        for (name, item) in declared.iter() {
            let at = item
                .span()
                .or_else(|| declared.key(name).and_then(|k| k.span()));
            let (line, column) = lines.line_col(text, at.map_or(0, |s| s.start));
            if let Some((_, first, first_line)) = zones.iter().find(|(n, _, _)| n == name) {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line,
                    column,
                    message: format!("zone {name:?} is already declared in {}, line {first_line}; declare a zone in one file only", first.display()),
                });
            }
            zones.push((name.to_string(), path.to_path_buf(), line));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use crate::config::ConfigFile;

    /// A main file and drop-ins in a fresh directory; removed on drop.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str, main: &str, drop_ins: &[(&str, &str)]) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("alias-mgr-dropins-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("conf.d")).unwrap();
            std::fs::write(dir.join("alias-mgr.toml"), main).unwrap();
            for (name, text) in drop_ins {
                std::fs::write(dir.join("conf.d").join(name), text).unwrap();
            }
            Dir(dir)
        }

        fn main(&self) -> std::path::PathBuf {
            self.0.join("alias-mgr.toml")
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ZONES: &str = "[zone.lab]\ninput = \"drop\"\n";
    const WEB: &str = "# the web role\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.10/24\"\nzone = \"lab\"\n";

    #[test]
    fn drop_ins_merge_after_the_main_file_in_lexical_order() {
        let db = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.20/24\"\n";
        let dir = Dir::new(
            "order",
            ZONES,
            &[
                ("20-db.toml", db),
                ("10-web.toml", WEB),
                ("notes.txt", "x"),
                (".hidden.toml", "x"),
            ],
        );
        let file = ConfigFile::load(&dir.main()).unwrap();
        let aliases = &file.config().aliases;
        assert_eq!(aliases.len(), 2);
        assert_eq!(aliases[0].ip(), "192.0.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(
            aliases[0].zone.as_deref(),
            Some("lab"),
            "a zone of the main file"
        );
        let (path, line) = file.declared_at(1).unwrap();
        assert!(
            path.ends_with("conf.d/20-db.toml") && line == 1,
            "{path:?}:{line}"
        );
        let (path, line) = file.declared_at(0).unwrap();
        assert!(
            path.ends_with("conf.d/10-web.toml") && line == 2,
            "{path:?}:{line}"
        );
    }

    #[test]
    fn a_clash_across_files_names_both_files_and_lines() {
        let again = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.10/24\"\n";
        let dir = Dir::new(
            "clash",
            ZONES,
            &[("10-web.toml", WEB), ("20-again.toml", again)],
        );
        let err = ConfigFile::load(&dir.main()).unwrap_err().to_string();
        assert!(err.contains("conf.d/20-again.toml:3:11:"), "{err}");
        assert!(err.contains("conf.d/10-web.toml line 4"), "{err}");

        let zone_again = "[zone.lab]\ninput = \"accept\"\n";
        let dir = Dir::new("zone", ZONES, &[("30-zone.toml", zone_again)]);
        let err = ConfigFile::load(&dir.main()).unwrap_err().to_string();
        assert!(
            err.contains("30-zone.toml:1:") && err.contains("already declared in"),
            "{err}"
        );
        assert!(err.contains("alias-mgr.toml, line 1"), "{err}");
    }

    #[test]
    fn errors_in_a_drop_in_are_at_its_own_lines() {
        let bad = "\n\n[[alias]]\ninterface = \"eth1\"\naddres = \"192.0.2.30/24\"\n";
        let dir = Dir::new("lines", ZONES, &[("10-bad.toml", bad)]);
        let err = ConfigFile::load(&dir.main()).unwrap_err().to_string();
        assert!(err.contains("conf.d/10-bad.toml:5:1: unknown key"), "{err}");
        let syntax = Dir::new("syntax", ZONES, &[("10-bad.toml", "[[alias]\n")]);
        let err = ConfigFile::load(&syntax.main()).unwrap_err().to_string();
        assert!(err.contains("conf.d/10-bad.toml:1:"), "{err}");
        let dotted = Dir::new(
            "dotted",
            ZONES,
            &[("10-dotted.toml", "forward.dmz = \"accept\"\n")],
        );
        let err = ConfigFile::load(&dotted.main()).unwrap_err().to_string();
        assert!(
            err.contains("10-dotted.toml:1:1:") && err.contains("table header"),
            "{err}"
        );
        let bom = format!("\u{feff}{WEB}");
        let marked = Dir::new("bom", ZONES, &[("10-bom.toml", bom.as_str())]);
        assert_eq!(
            ConfigFile::load(&marked.main())
                .unwrap()
                .config()
                .aliases
                .len(),
            1
        );
        let loose = Dir::new("loose", ZONES, &[("10-loose.toml", "alias = []\n")]);
        let err = ConfigFile::load(&loose.main()).unwrap_err().to_string();
        assert!(
            err.contains("10-loose.toml:1:1:") && err.contains("table header"),
            "{err}"
        );
    }

    #[test]
    fn removing_an_entry_edits_the_file_that_declares_it() {
        let dir = Dir::new("remove", ZONES, &[("10-web.toml", WEB)]);
        let mut file = ConfigFile::load(&dir.main()).unwrap();
        assert!(file.remove_alias("eth1", "192.0.2.10".parse().unwrap()));
        file.save().unwrap();
        let web = std::fs::read_to_string(dir.0.join("conf.d/10-web.toml")).unwrap();
        assert!(!web.contains("192.0.2.10"), "{web}");
        assert_eq!(
            std::fs::read_to_string(dir.main()).unwrap(),
            ZONES,
            "the main file is left as it was"
        );
        assert!(ConfigFile::load(&dir.main())
            .unwrap()
            .config()
            .aliases
            .is_empty());
    }
}
