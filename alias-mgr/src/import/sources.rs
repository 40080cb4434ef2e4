//! ifupdown's `source` and `source-directory` lines: the files they include,
//! read in ifupdown's order into one sequence of logical lines numbered
//! across the files (see [`Ctx::Files`]).
//!
//! Where ifupdown is silent about a mistake that loses addresses (a missing
//! file it names, a cycle), this is an error naming the line instead.

use std::{
    collections::HashSet,
    io,
    path::{Component, Path, PathBuf},
};

use super::{
    lines::{logical_lines, Ctx},
    ImportError,
};

/// The file access the importer needs, so tests can use files in memory.
pub trait Files {
    fn read(&self, path: &Path) -> io::Result<String>;
    /// The names in directory `dir`, each with whether it is a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>>;
    /// The name that tells two paths to one file apart from two files.
    fn identity(&self, path: &Path) -> PathBuf {
        normalise(path)
    }
}

/// The machine's own files.
pub struct RealFiles;

/// No legacy network config comes near this; `/dev/zero` would never end.
const MAX_FILE_BYTES: u64 = 16 << 20;

impl Files for RealFiles {
    /// A regular file only (a FIFO would block, a device never end), at
    /// most 16 MiB, opened without blocking and checked again once open.
    fn read(&self, path: &Path) -> io::Result<String> {
        use std::{io::Read, os::unix::fs::OpenOptionsExt};
        let refuse = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let check = |meta: &std::fs::Metadata| {
            if meta.is_dir() {
                return Err(io::Error::from(io::ErrorKind::IsADirectory));
            }
            if !meta.is_file() {
                return Err(refuse(
                    "it is not a regular file (a FIFO, socket or device)".into(),
                ));
            }
            if meta.len() > MAX_FILE_BYTES {
                return Err(refuse(format!(
                    "it is {} bytes, over the 16 MiB an import reads",
                    meta.len()
                )));
            }
            Ok(())
        };
        check(&std::fs::metadata(path)?)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        check(&file.metadata()?)?;
        let mut text = String::new();
        file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
        Ok(text)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<(String, bool)>> {
        std::fs::read_dir(dir)?
            .map(|entry| {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                Ok((name, entry.path().is_dir()))
            })
            .collect()
    }

    /// Symlinks resolved, so a link back to a file being read is a cycle.
    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalise(path))
    }
}

/// A logical line of the files, or a point where ifupdown ends the current
/// stanza: the start and end of each file and after a `source` line.
pub(super) enum Item {
    Line(usize, String),
    Break,
}

/// Everything the `source` lines of one top file bring in.
pub(super) struct Read {
    /// Each file read, with the base of its positions ([`Ctx::Files`]).
    pub(super) files: Vec<(usize, String)>,
    pub(super) items: Vec<Item>,
    pub(super) warnings: Vec<String>,
}

/// Reads `text`, the file at `top`, and the files it sources, in order.
pub(super) fn read_all(top: &Path, text: &str, files: &dyn Files) -> Result<Read, ImportError> {
    let mut reader = Reader {
        files,
        read: Read {
            files: Vec::new(),
            items: Vec::new(),
            warnings: Vec::new(),
        },
        next_base: 0,
        chain: Vec::new(),
        seen: HashSet::new(),
    };
    reader.read_text(top, text)?;
    Ok(reader.read)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `source PATTERN`: the files it matches.
    Files,
    /// `source-directory PATTERN`: the run-parts names in the directories.
    Directory,
}

struct Reader<'f> {
    files: &'f dyn Files,
    read: Read,
    next_base: usize,
    /// The files being read, outermost first: identity and the position of
    /// the line in it that sources the next one.
    chain: Vec<(PathBuf, usize)>,
    seen: HashSet<PathBuf>,
}

impl Reader<'_> {
    fn err(&self, pos: usize, message: String) -> ImportError {
        Ctx::Files(&self.read.files).err(pos, message)
    }

    fn read_text(&mut self, path: &Path, text: &str) -> Result<(), ImportError> {
        let base = self.next_base;
        self.next_base += text.lines().count() + 1;
        self.read.files.push((base, path.display().to_string()));
        let identity = self.files.identity(path);
        self.seen.insert(identity.clone());
        self.chain.push((identity, 0));
        self.read.items.push(Item::Break);
        for (line, content) in logical_lines(text) {
            let pos = base + line;
            let (word, rest) = content
                .split_once(char::is_whitespace)
                .map_or((content.as_str(), ""), |(word, rest)| (word, rest.trim()));
            // ifupdown's own test: `source` exactly, `source-dir` as a prefix.
            let kind = match word {
                "source" => Kind::Files,
                _ if word.starts_with("source-dir") => Kind::Directory,
                _ => {
                    self.read.items.push(Item::Line(pos, content));
                    continue;
                }
            };
            self.source(path, pos, word, rest, kind)?;
            self.read.items.push(Item::Break);
        }
        self.chain.pop();
        self.read.items.push(Item::Break);
        Ok(())
    }

    /// One `source` or `source-directory` line of the file at `from`.
    fn source(
        &mut self,
        from: &Path,
        pos: usize,
        word: &str,
        rest: &str,
        kind: Kind,
    ) -> Result<(), ImportError> {
        if rest.is_empty() {
            return Err(self.err(
                pos,
                format!("`{word}` needs a path, such as `source /etc/network/interfaces.d/*`"),
            ));
        }
        if let Some(last) = self.chain.last_mut() {
            last.1 = pos;
        }
        for pattern in rest.split_whitespace() {
            check_pattern(pattern).map_err(|message| self.err(pos, message))?;
            // interfaces(5), INCLUDING OTHER FILES: "if a path doesn't have a
            // leading slash, it's considered relative to the directory
            // containing the file in which the keyword is placed".
            let path = match from.parent() {
                Some(dir) if !pattern.starts_with('/') => dir.join(pattern),
                _ => PathBuf::from(pattern),
            };
            let explicit = !has_wildcard(pattern);
            let matches = if explicit {
                vec![path]
            } else {
                expand(&path, self.files)
            };
            for found in matches {
                match kind {
                    Kind::Files => self.include(&found, pos, explicit)?,
                    Kind::Directory => self.include_directory(&found, pos, explicit)?,
                }
            }
        }
        Ok(())
    }

    fn include(&mut self, path: &Path, pos: usize, explicit: bool) -> Result<(), ImportError> {
        let shown = path.display();
        let identity = self.files.identity(path);
        if let Some(start) = self.chain.iter().position(|(id, _)| *id == identity) {
            let ctx = Ctx::Files(&self.read.files);
            let steps: Vec<String> = self.chain[start..]
                .iter()
                .map(|(_, line)| ctx.at(*line))
                .collect();
            return Err(self.err(
                pos,
                format!(
                    "`source` cycle: {} -> {shown}, a file already being read; remove the line that sources it again",
                    steps.join(" -> ")
                ),
            ));
        }
        if self.seen.contains(&identity) {
            self.read.warnings.push(format!(
                "line {pos}: {shown} was already read; skipped here, as ifupdown reads each file once"
            ));
            return Ok(());
        }
        match self.files.read(path) {
            Ok(text) => self.read_text(path, &text),
            Err(err) if err.kind() == io::ErrorKind::NotFound && !explicit => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Err(self.err(
                pos,
                format!("{shown} does not exist; fix the path or remove the line (ifupdown skips it without a word)"),
            )),
            Err(err) if err.kind() == io::ErrorKind::IsADirectory => {
                self.read.warnings.push(format!(
                    "line {pos}: {shown} is a directory, not read (ifupdown skips it too); `source-directory {shown}` reads the files in it"
                ));
                Ok(())
            }
            Err(err) => Err(self.err(pos, format!("cannot read {shown}: {err}; fix the path or remove the line"))),
        }
    }

    fn include_directory(
        &mut self,
        dir: &Path,
        pos: usize,
        explicit: bool,
    ) -> Result<(), ImportError> {
        let mut entries = match self.files.list(dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound && !explicit => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(self.err(
                    pos,
                    format!("directory {} does not exist; fix the path or remove the line (ifupdown skips it without a word)", dir.display()),
                ))
            }
            Err(err) => {
                return Err(self.err(pos, format!("cannot list directory {}: {err}", dir.display())))
            }
        };
        // ifupdown sorts with alphasort; in the C locale of boot, by byte.
        entries.sort();
        for (name, is_dir) in entries {
            let path = dir.join(&name);
            if !is_run_parts_name(&name) {
                self.read.warnings.push(format!(
                    "line {pos}: {} not read: `source-directory` reads only names of ASCII letters, digits, `_` and `-`, as ifupdown does",
                    path.display()
                ));
            } else if is_dir {
                self.read.warnings.push(format!(
                    "line {pos}: {} is a directory, not read (ifupdown skips it too)",
                    path.display()
                ));
            } else {
                self.include(&path, pos, false)?;
            }
        }
        Ok(())
    }
}

/// ifupdown expands the path with wordexp(3); alias-mgr does the wildcards
/// and refuses what would need a shell (variables, quotes, `~`), rather than
/// guess which files ifupdown read.
fn check_pattern(pattern: &str) -> Result<(), String> {
    const SHELL: &[char] = &[
        '$', '`', '\'', '"', '\\', '|', '&', ';', '<', '>', '(', ')', '{', '}',
    ];
    if pattern.starts_with('~') || pattern.contains(SHELL) {
        return Err(format!(
            "`{pattern}` needs shell expansion, which alias-mgr does not do; write the path out (wildcards `*`, `?` and `[...]` are fine)"
        ));
    }
    Ok(())
}

fn has_wildcard(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// The names run-parts accepts, which ifupdown's `source-directory` uses:
/// `^[a-zA-Z0-9_-]+$` (interfaces(5)).
fn is_run_parts_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The paths a wildcard pattern matches, sorted as glob(3) sorts them. A
/// name starting with `.` needs a `.` in the pattern, as in the shell.
fn expand(pattern: &Path, files: &dyn Files) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for component in pattern.components() {
        let text = component.as_os_str().to_string_lossy();
        if !matches!(component, Component::Normal(_)) || !has_wildcard(&text) {
            found.iter_mut().for_each(|path| path.push(component));
            continue;
        }
        let wanted: Vec<char> = text.chars().collect();
        found = found
            .iter()
            .flat_map(|dir| {
                let listed = if dir.as_os_str().is_empty() {
                    files.list(Path::new("."))
                } else {
                    files.list(dir)
                };
                let mut names: Vec<String> = listed
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(name, _)| name)
                    .filter(|name| !name.starts_with('.') || text.starts_with('.'))
                    .filter(|name| wildcard_match(&wanted, &name.chars().collect::<Vec<_>>()))
                    .collect();
                names.sort();
                names.into_iter().map(move |name| dir.join(name))
            })
            .collect();
    }
    found.sort_by_key(|path| path.as_os_str().to_os_string());
    found
}

/// fnmatch(3) without flags: `*`, `?` and `[...]` (`[!...]`, ranges).
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    match (pattern.split_first(), name.split_first()) {
        (None, _) => name.is_empty(),
        (Some(('*', rest)), _) => (0..=name.len()).any(|skip| wildcard_match(rest, &name[skip..])),
        (Some(_), None) => false,
        (Some(('?', rest)), Some((_, name_rest))) => wildcard_match(rest, name_rest),
        (Some(('[', rest)), Some((c, name_rest))) => match bracket(rest, *c) {
            Some((hit, after)) => hit && wildcard_match(after, name_rest),
            // Not closed: an ordinary `[`.
            None => *c == '[' && wildcard_match(rest, name_rest),
        },
        (Some((p, rest)), Some((c, name_rest))) => p == c && wildcard_match(rest, name_rest),
    }
}

/// Whether `c` is in the set a `[...]` stands for (`text` follows the `[`),
/// and the pattern after it; None if the set is not closed.
fn bracket(text: &[char], c: char) -> Option<(bool, &[char])> {
    let (negated, body) = match text.first() {
        Some('!' | '^') => (true, &text[1..]),
        _ => (false, text),
    };
    // A `]` first is a member, not the end.
    let close = body.iter().skip(1).position(|m| *m == ']')? + 1;
    let members = &body[..close];
    let mut hit = false;
    let mut index = 0;
    while index < members.len() {
        if index + 2 < members.len() && members[index + 1] == '-' {
            hit |= (members[index]..=members[index + 2]).contains(&c);
            index += 3;
        } else {
            hit |= members[index] == c;
            index += 1;
        }
    }
    Some((hit != negated, &body[close + 1..]))
}

/// `path` with `.` dropped and `..` taken back, without the file system.
pub(super) fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_ifupdown, test_util::*, Imported};

    /// Debian 12's default /etc/network/interfaces (its comments shortened).
    const DEBIAN_DEFAULT: &str = "# interfaces(5) file used by ifup(8) and ifdown(8)\n\
        \n\
        source /etc/network/interfaces.d/*\n\
        \n\
        # The loopback network interface\n\
        auto lo\n\
        iface lo inet loopback\n\
        \n\
        allow-hotplug eth0\n\
        iface eth0 inet dhcp\n";

    const ETH1: &str = "auto eth1\niface eth1 inet static\n    address 192.168.1.1/24\n\n\
        auto eth1:0\niface eth1:0 inet static\n    address 192.168.0.1/24\n";
    const ALIASES: &str = "iface eth1:1 inet static\n    address 192.168.0.2\n    netmask 24\n";

    fn labels(imported: &Imported) -> Vec<&str> {
        imported
            .aliases
            .iter()
            .map(|alias| alias.label.as_deref().unwrap_or("-"))
            .collect()
    }

    #[test]
    fn debian_default_file_reads_interfaces_d_in_sorted_order() {
        let imported = ifupdown_with(
            DEBIAN_DEFAULT,
            &[
                ("/etc/network/interfaces.d/zz-aliases", ALIASES),
                ("/etc/network/interfaces.d/eth1", ETH1),
                // `*` skips dot files, as the shell does.
                (
                    "/etc/network/interfaces.d/.eth1.swp",
                    "iface x:1 inet static\n",
                ),
            ],
        )
        .unwrap();
        assert_eq!(labels(&imported), ["eth1:0", "eth1:1"]);
        assert_eq!(imported.aliases[1].address, net("192.168.0.2/24"));
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with(
            "/etc/network/interfaces.d/eth1:3: eth1 192.168.1.1/24 is the interface's primary"
        ));
    }

    #[test]
    fn errors_name_the_sourced_file_and_its_line() {
        let bad = "iface eth1:1 inet static\n    address 192.168.0.300/24\n";
        let err = ifupdown_with(
            DEBIAN_DEFAULT,
            &[("/etc/network/interfaces.d/aliases", bad)],
        )
        .unwrap_err();
        assert_eq!(err.source_name, "/etc/network/interfaces.d/aliases");
        assert_eq!(err.line, 2);
        // An address twice, in two files: both places named.
        let err = ifupdown_with(
            "source interfaces.d/*\niface eth1:5 inet static\n address 192.168.0.1/24\n",
            &[("/etc/network/interfaces.d/eth1", ETH1)],
        )
        .unwrap_err();
        assert_eq!(
            (err.source_name.as_str(), err.line),
            ("/etc/network/interfaces", 3)
        );
        assert!(
            err.message
                .contains("on /etc/network/interfaces.d/eth1:7 and /etc/network/interfaces:3"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_are_relative_to_the_sourcing_file() {
        let imported = ifupdown_with(
            "source interfaces.d/eth1\n",
            &[
                ("/etc/network/interfaces.d/eth1", "source ../more/aliases\n"),
                ("/etc/network/more/aliases", ALIASES),
            ],
        )
        .unwrap();
        assert_eq!(labels(&imported), ["eth1:1"]);
    }

    #[test]
    fn a_glob_matching_nothing_is_not_an_error() {
        let imported = ifupdown_with(DEBIAN_DEFAULT, &[]).unwrap();
        assert_eq!(imported, Imported::default());
        let imported = ifupdown_with("source /nowhere/*/x[0-9]\n", &[]).unwrap();
        assert_eq!(imported, Imported::default());
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_at_the_sourcing_line() {
        let err = ifupdown_with("auto lo\n\nsource eth9\n", &[]).unwrap_err();
        assert_eq!(
            (err.source_name.as_str(), err.line),
            ("/etc/network/interfaces", 3)
        );
        assert!(
            err.message.starts_with("/etc/network/eth9 does not exist"),
            "{err}"
        );
        // Named in a sourced file: that file and line.
        let err = ifupdown_with(
            "source interfaces.d/*\n",
            &[(
                "/etc/network/interfaces.d/a",
                "\nsource /etc/network/eth9 /etc/network/b\n",
            )],
        )
        .unwrap_err();
        assert_eq!(
            (err.source_name.as_str(), err.line),
            ("/etc/network/interfaces.d/a", 2)
        );
        let err = ifupdown_with("source-directory /etc/network/nowhere\n", &[]).unwrap_err();
        assert!(
            err.message
                .contains("directory /etc/network/nowhere does not exist"),
            "{err}"
        );
    }

    #[test]
    fn a_cycle_is_refused_naming_the_chain() {
        let err = ifupdown_with(
            "auto lo\nsource interfaces.d/*\n",
            &[
                ("/etc/network/interfaces.d/a", "source b\n"),
                (
                    "/etc/network/interfaces.d/b",
                    "\n\nsource /etc/network/interfaces\n",
                ),
            ],
        )
        .unwrap_err();
        assert_eq!(
            (err.source_name.as_str(), err.line),
            ("/etc/network/interfaces.d/b", 3)
        );
        assert_eq!(
            err.message,
            "`source` cycle: /etc/network/interfaces:2 -> /etc/network/interfaces.d/a:1 -> \
             /etc/network/interfaces.d/b:3 -> /etc/network/interfaces, a file already being read; \
             remove the line that sources it again"
        );
        // A file sourcing itself, spelt another way.
        let err = ifupdown_with("source ./interfaces\n", &[]).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(
            err.message
                .contains("cycle: /etc/network/interfaces:1 -> /etc/network/./interfaces"),
            "{err}"
        );
    }

    #[test]
    fn a_file_sourced_twice_is_read_once() {
        let imported = ifupdown_with(
            "source a\nsource b\n",
            &[
                ("/etc/network/a", "source aliases\n"),
                ("/etc/network/b", "source aliases\n"),
                ("/etc/network/aliases", ALIASES),
            ],
        )
        .unwrap();
        assert_eq!(labels(&imported), ["eth1:1"]);
        assert_eq!(
            imported.warnings,
            ["/etc/network/b:1: /etc/network/aliases was already read; skipped here, as ifupdown reads each file once"]
        );
    }

    #[test]
    fn source_directory_reads_run_parts_names() {
        let imported = ifupdown_with(
            "source-directory interfaces.d\n",
            &[
                ("/etc/network/interfaces.d/zz-aliases", ALIASES),
                ("/etc/network/interfaces.d/eth1", ETH1),
                (
                    "/etc/network/interfaces.d/eth1.bak",
                    "iface eth1:7 inet static\n address 10.7.0.1/8\n",
                ),
                ("/etc/network/interfaces.d/sub/x", ALIASES),
            ],
        )
        .unwrap();
        assert_eq!(labels(&imported), ["eth1:0", "eth1:1"]);
        let w = &imported.warnings;
        assert!(
            has_warning(&imported, "interfaces:1: /etc/network/interfaces.d/eth1.bak not read: `source-directory` reads only names"),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:1: /etc/network/interfaces.d/sub is a directory, not read"
            ),
            "{w:?}"
        );
        // `source` of a directory reads nothing, as in ifupdown, and says so.
        let imported = ifupdown_with(
            "source interfaces.d\n",
            &[("/etc/network/interfaces.d/eth1", ETH1)],
        )
        .unwrap();
        assert!(imported.aliases.is_empty());
        assert!(
            has_warning(&imported, "is a directory, not read"),
            "{:?}",
            imported.warnings
        );
    }

    #[test]
    fn shell_expansion_is_refused() {
        for line in [
            "source $HOME/x",
            "source ~/x",
            "source \"a b\"",
            "source-directory `ls`",
            "source",
        ] {
            let err = ifupdown_with(&format!("auto lo\n{line}\n"), &[]).unwrap_err();
            assert_eq!(err.line, 2, "{line}: {err}");
        }
    }

    #[test]
    fn options_after_a_source_line_are_misplaced() {
        // ifupdown ends the stanza at a `source` line and at a file's end.
        let err = ifupdown_with(
            "iface eth1:0 inet static\nsource aliases\n address 192.168.0.1/24\n",
            &[("/etc/network/aliases", "")],
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("outside a stanza"), "{err}");
        let err = ifupdown_with(
            "iface eth1:0 inet static\nsource aliases\n",
            &[("/etc/network/aliases", " address 192.168.0.1/24\n")],
        )
        .unwrap_err();
        assert_eq!(err.source_name, "/etc/network/aliases");
    }

    #[test]
    fn wildcards_match_as_fnmatch_does() {
        let matches = |pattern: &str, name: &str| {
            wildcard_match(
                &pattern.chars().collect::<Vec<_>>(),
                &name.chars().collect::<Vec<_>>(),
            )
        };
        assert!(matches("*", "eth1"));
        assert!(matches("eth?", "eth1") && !matches("eth?", "eth10"));
        assert!(matches("*.cfg", "a.cfg") && !matches("*.cfg", "a.cfg~"));
        assert!(matches("eth[0-2]", "eth2") && !matches("eth[0-2]", "eth3"));
        assert!(matches("eth[!0-2]", "eth3") && !matches("eth[!0-2]", "eth1"));
        assert!(matches("[]x]", "]") && matches("a[", "a["));
        assert!(is_run_parts_name("eth1_a-B") && !is_run_parts_name("eth1.cfg"));
    }

    #[test]
    fn real_files_are_followed() {
        let root = std::env::temp_dir().join(format!("alias-mgr-import-{}", std::process::id()));
        let dir = root.join("interfaces.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("eth1"), ETH1).unwrap();
        std::fs::write(dir.join("aliases"), ALIASES).unwrap();
        std::fs::write(dir.join("loop"), "source ../interfaces\n").unwrap();
        let top = root.join("interfaces");
        let result = parse_ifupdown(&top, "source interfaces.d/[ae]*\n", &RealFiles);
        let cycle = parse_ifupdown(&top, "source-directory interfaces.d\n", &RealFiles);
        std::fs::remove_dir_all(&root).unwrap();
        let imported = result.unwrap();
        assert_eq!(labels(&imported), ["eth1:1", "eth1:0"]);
        assert!(
            imported.warnings[0].starts_with(&format!("{}:3: eth1 ", dir.join("eth1").display()))
        );
        let err = cycle.unwrap_err();
        assert_eq!(err.source_name, dir.join("loop").display().to_string());
        assert!(err.message.contains("cycle"), "{err}");
    }
}
