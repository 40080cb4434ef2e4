//! The declarative config file: one TOML document that people edit by hand
//! and that `alias-mgr add`/`del` edit too.
//!
//! Parsing goes through [`toml_edit::ImDocument`] so that every error names
//! the file, line and column of the offending key or value. Edits are made on
//! the text itself, at positions taken from those spans: everything outside
//! the edited lines stays byte-for-byte as the user wrote it (comments, blank
//! lines, quoting, CRLF line ends). Every edit is re-parsed and re-validated
//! before it is accepted, so a [`ConfigFile`] always holds a valid document.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    io::{self, Write},
    net::IpAddr,
    ops::Range,
    os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use ipnet::IpNet;
use toml_edit::{ImDocument, Item, Key, Table, TableLike};

use crate::core::{
    desired::{Config, Settings},
    model::{
        check_alias_address, classful_prefix, validate_label_for, AliasSpec, RouteSpec,
        MAX_LABEL_LEN,
    },
    zones::{Service, Verdict, ZoneSpec},
};

const TOP_KEYS: &[&str] = &["settings", "alias", "zone"];
const SETTINGS_KEYS: &[&str] = &["promote_secondaries", "counters"];
const ALIAS_KEYS: &[&str] = &["interface", "address", "label", "zone", "routes"];
const ZONE_KEYS: &[&str] = &["subnets", "input", "allow", "forward"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading/writing {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}:{line}:{column}: TOML syntax error: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid TOML, but not a valid alias-mgr config; the message names the
    /// problem and the fix.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// An entry alias-mgr was asked to add would make the file invalid.
    #[error("{path}: cannot add this entry: {message}")]
    NewEntry { path: PathBuf, message: String },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The config file: its text exactly as on disk (or as it will be saved) and
/// what it declares.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    text: String,
    config: Config,
}

impl ConfigFile {
    /// Reads and validates `path`. A missing file is an empty config, so the
    /// first `alias-mgr add` needs no setup; `save` creates it.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        match fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Self::parse(path, ""),
            Err(e) => Err(io_error(path)(e)),
        }
    }

    /// Validates `text`; `path` is only used in messages and by `save`.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
        let doc = ImDocument::parse(text).map_err(|e| syntax_error(path, text, &e))?;
        let config = Checker { path, text }.config(&doc)?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            text: text.to_owned(),
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends an `[[alias]]` table after the last one. On any error (e.g.
    /// the address is already declared) `self` is left unchanged.
    pub fn add_alias(&mut self, alias: &AliasSpec) -> Result<(), ConfigError> {
        *self = self.with_appended(std::slice::from_ref(alias))?;
        Ok(())
    }

    /// Removes the `[[alias]]` table of `ip` on `interface` together with
    /// the comment lines directly above its header; false if there is none.
    pub fn remove_alias(&mut self, interface: &str, ip: IpAddr) -> bool {
        let Ok(doc) = ImDocument::parse(self.text.as_str()) else {
            return false;
        };
        let Some(span) = find_alias(&doc, interface, ip).and_then(Table::span) else {
            return false;
        };
        let text = cut_table(&self.text, span);
        // Removing an alias cannot make the file invalid; if it somehow
        // did, keeping the old state is the safe answer.
        match Self::parse(&self.path, &text) {
            Ok(file) => {
                *self = file;
                true
            }
            Err(_) => false,
        }
    }

    /// Adds the aliases whose interface and address are not declared yet and
    /// returns how many that was. All or nothing: on error `self` is
    /// unchanged.
    pub fn merge_aliases(&mut self, aliases: &[AliasSpec]) -> Result<usize, ConfigError> {
        let mut new: Vec<AliasSpec> = Vec::new();
        for alias in aliases {
            let same = |a: &AliasSpec| a.interface == alias.interface && a.ip() == alias.ip();
            if !self.config.aliases.iter().any(same) && !new.iter().any(same) {
                new.push(alias.clone());
            }
        }
        if !new.is_empty() {
            *self = self.with_appended(&new)?;
        }
        Ok(new.len())
    }

    /// The file's text, as `save` would write it.
    pub fn render(&self) -> String {
        self.text.clone()
    }

    /// Replaces the file atomically: readers see the old or the new file,
    /// never a half-written one, even after a crash. Keeps the old file's
    /// permissions (0644 for a new file) and, when allowed, its owner.
    pub fn save(&self) -> Result<(), ConfigError> {
        let target = follow_symlink(&self.path);
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let old = match fs::metadata(&target) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(&target)(e)),
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
            .map_err(io_error(&temp.path))?;
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
            .map_err(io_error(&temp.path))?;
        file.write_all(self.text.as_bytes())
            .map_err(io_error(&temp.path))?;
        file.sync_all().map_err(io_error(&temp.path))?;
        drop(file);
        fs::rename(&temp.path, &target).map_err(io_error(&target))?;
        temp.renamed = true;
        // The rename itself is only durable once the directory is synced.
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(&dir))
    }

    /// A copy of `self` with `aliases` appended as `[[alias]]` tables, or the
    /// validation error of the result.
    fn with_appended(&self, aliases: &[AliasSpec]) -> Result<ConfigFile, ConfigError> {
        let text = &self.text;
        let doc =
            ImDocument::parse(text.as_str()).map_err(|e| syntax_error(&self.path, text, &e))?;
        let at = alias_insertion_point(text, &doc);
        let blocks: Vec<String> = aliases.iter().map(alias_block).collect();
        // The file itself was valid: a problem is the new entries', and a
        // line number would point into text that is not on disk.
        Self::parse(&self.path, &insert_blocks(text, at, &blocks)).map_err(|err| match err {
            ConfigError::Invalid { path, message, .. } => ConfigError::NewEntry { path, message },
            other => other,
        })
    }
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

fn syntax_error(path: &Path, text: &str, error: &toml_edit::TomlError) -> ConfigError {
    let (line, column) = line_col(text, error.span().map_or(0, |s| s.start));
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let start = line_start(text, offset);
    (
        before.matches('\n').count() + 1,
        before[start..].chars().count() + 1,
    )
}

// ---- text editing -------------------------------------------------------

/// Start of the line holding byte `pos`.
fn line_start(text: &str, pos: usize) -> usize {
    text[..pos].rfind('\n').map_or(0, |i| i + 1)
}

/// Just past the newline ending the line holding byte `pos`.
fn line_end(text: &str, pos: usize) -> usize {
    text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1)
}

/// Start of the line before the one starting at `start`.
fn prev_line(text: &str, start: usize) -> Option<usize> {
    (start > 0).then(|| line_start(text, start - 1))
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// New lines follow the file's convention.
fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

fn find_alias<'d>(doc: &'d ImDocument<&str>, interface: &str, ip: IpAddr) -> Option<&'d Table> {
    doc.get("alias")?.as_array_of_tables()?.iter().find(|t| {
        t.get("interface").and_then(Item::as_str) == Some(interface)
            && t.get("address")
                .and_then(Item::as_str)
                .and_then(|a| parse_address(a).ok())
                .map(|n| n.addr())
                == Some(ip)
    })
}

/// The text without the table at `span`. Comment lines right above the
/// header go too (they describe the entry) unless they open the file, where
/// they are more likely the file's own header. One blank line around the
/// hole goes as well, so removing what `add_alias` added restores the file.
fn cut_table(text: &str, span: Range<usize>) -> String {
    let mut start = line_start(text, span.start);
    let mut above = start;
    while let Some(prev) = prev_line(text, above) {
        if !is_comment(&text[prev..above]) {
            break;
        }
        above = prev;
    }
    if above > 0 {
        start = above;
    }
    let mut end = line_end(text, span.end);
    let prev_blank = prev_line(text, start).map(|p| is_blank(&text[p..start]));
    if end < text.len() && is_blank(&text[end..line_end(text, end)]) && prev_blank != Some(false) {
        end = line_end(text, end);
    } else if end == text.len() && prev_blank == Some(true) {
        start = prev_line(text, start).unwrap_or(start);
    }
    format!("{}{}", &text[..start], &text[end..])
}

/// Where new aliases go: after the last `[[alias]]` table (and the comment
/// lines right below it, which are usually its commented-out keys), or at
/// the end of the file when there is none.
fn alias_insertion_point(text: &str, doc: &ImDocument<&str>) -> usize {
    let last = doc
        .get("alias")
        .and_then(Item::as_array_of_tables)
        .and_then(|a| a.iter().last())
        .and_then(Table::span);
    let Some(span) = last else {
        return text.len();
    };
    let at = line_end(text, span.end);
    let mut pos = at;
    while pos < text.len() && is_comment(&text[pos..line_end(text, pos)]) {
        pos = line_end(text, pos);
    }
    // A comment block that runs into the next header belongs to that header.
    if pos > at && (pos == text.len() || is_blank(&text[pos..line_end(text, pos)])) {
        pos
    } else {
        at
    }
}

/// `blocks` inserted at `at`, each preceded by a blank line (except at the
/// very top) and followed by one when more text follows.
fn insert_blocks(text: &str, at: usize, blocks: &[String]) -> String {
    let nl = newline(text);
    let (before, after) = text.split_at(at);
    let mut out =
        String::with_capacity(text.len() + blocks.iter().map(|b| b.len() + 2).sum::<usize>());
    out.push_str(before);
    if !before.is_empty() && !before.ends_with('\n') {
        out.push_str(nl);
    }
    for block in blocks {
        let ends_blank = prev_line(&out, out.len()).is_some_and(|p| is_blank(&out[p..]));
        if !out.trim().is_empty() && !ends_blank {
            out.push_str(nl);
        }
        out.push_str(&block.replace('\n', nl));
    }
    if !after.is_empty() && !is_blank(&after[..line_end(after, 0)]) {
        out.push_str(nl);
    }
    out.push_str(after);
    out
}

/// One `[[alias]]` table, keys in the documented order, empty ones left out.
fn alias_block(alias: &AliasSpec) -> String {
    let mut table = Table::new();
    table.insert("interface", toml_edit::value(alias.interface.as_str()));
    table.insert("address", toml_edit::value(alias.address.to_string()));
    if let Some(label) = &alias.label {
        table.insert("label", toml_edit::value(label.as_str()));
    }
    if let Some(zone) = &alias.zone {
        table.insert("zone", toml_edit::value(zone.as_str()));
    }
    if !alias.routes.is_empty() {
        let routes: toml_edit::Array = alias.routes.iter().map(ToString::to_string).collect();
        table.insert("routes", toml_edit::value(routes));
    }
    let mut tables = toml_edit::ArrayOfTables::new();
    tables.push(table);
    let mut doc = toml_edit::DocumentMut::new();
    doc.insert("alias", Item::ArrayOfTables(tables));
    doc.to_string()
}

// ---- validation ---------------------------------------------------------

/// A byte range in the text; None where toml_edit keeps none (implicit
/// tables), which reports as line 1.
type Span = Option<Range<usize>>;

/// Where an alias's parts are, for errors found after parsing all of them.
struct AliasAt {
    address: Span,
    label: Span,
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn error(&self, span: &Span, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.as_ref().map_or(0, |s| s.start));
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    fn line(&self, span: &Span) -> usize {
        line_col(self.text, span.as_ref().map_or(0, |s| s.start)).0
    }

    fn config(&self, doc: &ImDocument<&str>) -> Result<Config, ConfigError> {
        let root = doc.as_table();
        self.check_keys(root, TOP_KEYS, "at the top level")?;
        let settings = match root.get("settings") {
            None => Settings::default(),
            Some(item) => self.settings(item, value_span(root, "settings"))?,
        };
        let (zones, zone_spans) = match root.get("zone") {
            None => (Vec::new(), Vec::new()),
            Some(item) => self.zones(item, value_span(root, "zone"))?,
        };
        let (aliases, at) = match root.get("alias") {
            None => (Vec::new(), Vec::new()),
            Some(item) => self.aliases(item, value_span(root, "alias"), &zones)?,
        };
        self.check_duplicates(&aliases, &at)?;
        self.check_overlaps(&zones, &zone_spans, &aliases, &at)?;
        Ok(Config {
            settings,
            aliases,
            zones,
        })
    }

    /// Typo protection: a misspelt key would otherwise be silently ignored.
    fn check_keys(
        &self,
        table: &dyn TableLike,
        valid: &[&str],
        place: &str,
    ) -> Result<(), ConfigError> {
        for (name, _) in table.iter() {
            if valid.contains(&name) {
                continue;
            }
            let hint = closest(name, valid)
                .map(|v| format!("did you mean {v:?}? "))
                .unwrap_or_default();
            return Err(self.error(
                &key_span(table, name),
                format!(
                    "unknown key {name:?} {place}; {hint}valid keys are: {}",
                    valid.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn string<'t>(
        &self,
        table: &'t dyn TableLike,
        key: &str,
        example: &str,
    ) -> Result<Option<(&'t str, Span)>, ConfigError> {
        let Some(item) = table.get(key) else {
            return Ok(None);
        };
        let span = value_span(table, key);
        match item.as_str() {
            Some(text) => Ok(Some((text, span))),
            None => Err(self.error(
                &span,
                format!(
                    "{key} must be a string such as {example}, found {}",
                    item.type_name()
                ),
            )),
        }
    }

    fn strings<'t>(
        &self,
        table: &'t dyn TableLike,
        key: &str,
        example: &str,
    ) -> Result<Vec<(&'t str, Span)>, ConfigError> {
        let Some(item) = table.get(key) else {
            return Ok(Vec::new());
        };
        let Some(array) = item.as_array() else {
            return Err(self.error(
                &value_span(table, key),
                format!(
                    "{key} must be an array of strings such as {example}, found {}",
                    item.type_name()
                ),
            ));
        };
        array
            .iter()
            .map(|value| match value.as_str() {
                Some(text) => Ok((text, value.span())),
                None => Err(self.error(
                    &value.span(),
                    format!(
                        "{key} must hold only strings such as {example}, found {}",
                        value.type_name()
                    ),
                )),
            })
            .collect()
    }

    fn settings(&self, item: &Item, span: Span) -> Result<Settings, ConfigError> {
        let Some(table) = item.as_table_like() else {
            return Err(self.error(
                &span,
                format!(
                    "settings must be a table ([settings]), found {}",
                    item.type_name()
                ),
            ));
        };
        self.check_keys(table, SETTINGS_KEYS, "in [settings]")?;
        let mut settings = Settings::default();
        let flag = |key: &str, default: bool| -> Result<bool, ConfigError> {
            match table.get(key) {
                None => Ok(default),
                Some(value) => value.as_bool().ok_or_else(|| {
                    self.error(
                        &value_span(table, key),
                        format!("{key} must be true or false, found {}", value.type_name()),
                    )
                }),
            }
        };
        settings.promote_secondaries = flag("promote_secondaries", settings.promote_secondaries)?;
        settings.counters = flag("counters", settings.counters)?;
        Ok(settings)
    }

    /// The zones and, for each, where its extra subnets are written.
    fn zones(
        &self,
        item: &Item,
        span: Span,
    ) -> Result<(Vec<ZoneSpec>, Vec<Vec<Span>>), ConfigError> {
        let Some(zones) = item.as_table_like() else {
            return Err(self.error(
                &span,
                format!(
                    "zone must hold one table per zone such as [zone.lab], found {}",
                    item.type_name()
                ),
            ));
        };
        let names: Vec<&str> = zones.iter().map(|(name, _)| name).collect();
        let (mut specs, mut spans) = (Vec::new(), Vec::new());
        for (name, item) in zones.iter() {
            validate_zone_name(name).map_err(|m| self.error(&key_span(zones, name), m))?;
            let Some(table) = item.as_table_like() else {
                return Err(self.error(
                    &value_span(zones, name),
                    format!(
                        "zone {name:?} must be a table ([zone.{name}]), found {}",
                        item.type_name()
                    ),
                ));
            };
            self.check_keys(table, ZONE_KEYS, &format!("in [zone.{name}]"))?;
            let mut subnets = Vec::new();
            let mut subnet_spans = Vec::new();
            for (text, span) in self.strings(table, "subnets", "[\"10.50.0.0/16\"]")? {
                subnets.push(
                    parse_subnet(text)
                        .map_err(|m| self.error(&span, format!("zone {name:?}: {m}")))?,
                );
                subnet_spans.push(span);
            }
            let input = match self.string(table, "input", "\"drop\"")? {
                None => Verdict::default(),
                Some((text, span)) => text
                    .parse()
                    .map_err(|m| self.error(&span, format!("input of zone {name:?}: {m}")))?,
            };
            let allow = self
                .strings(table, "allow", "[\"tcp/22\"]")?
                .into_iter()
                .map(|(text, span)| {
                    text.parse()
                        .map_err(|m| self.error(&span, format!("allow of zone {name:?}: {m}")))
                })
                .collect::<Result<Vec<Service>, _>>()?;
            let forward = match table.get("forward") {
                None => BTreeMap::new(),
                Some(item) => self.forward(name, item, value_span(table, "forward"), &names)?,
            };
            specs.push(ZoneSpec {
                name: name.to_string(),
                subnets,
                input,
                allow,
                forward,
            });
            spans.push(subnet_spans);
        }
        Ok((specs, spans))
    }

    fn forward(
        &self,
        zone: &str,
        item: &Item,
        span: Span,
        names: &[&str],
    ) -> Result<BTreeMap<String, Verdict>, ConfigError> {
        let Some(table) = item.as_table_like() else {
            return Err(self.error(
                &span,
                format!("forward of zone {zone:?} must be a table such as {{ dmz = \"accept\" }}, found {}", item.type_name()),
            ));
        };
        let mut forward = BTreeMap::new();
        for (target, _) in table.iter() {
            if !names.contains(&target) {
                return Err(self.error(
                    &key_span(table, target),
                    format!(
                        "zone {zone:?} forwards to zone {target:?} but no [zone.{target}] table exists; add one or drop the entry"
                    ),
                ));
            }
            let (text, span) = self
                .string(table, target, "\"accept\"")?
                .unwrap_or_default();
            let verdict = text.parse().map_err(|m| {
                self.error(
                    &span,
                    format!("forward from zone {zone:?} to {target:?}: {m}"),
                )
            })?;
            forward.insert(target.to_string(), verdict);
        }
        Ok(forward)
    }

    fn aliases(
        &self,
        item: &Item,
        span: Span,
        zones: &[ZoneSpec],
    ) -> Result<(Vec<AliasSpec>, Vec<AliasAt>), ConfigError> {
        let Some(tables) = item.as_array_of_tables() else {
            return Err(self.error(
                &span,
                format!(
                    "alias must be written as [[alias]] tables (double brackets), one per address; found {}",
                    item.type_name()
                ),
            ));
        };
        let mut aliases = Vec::new();
        let mut at = Vec::new();
        for table in tables.iter() {
            let (alias, where_) = self.alias(table, zones)?;
            aliases.push(alias);
            at.push(where_);
        }
        Ok((aliases, at))
    }

    fn alias(
        &self,
        table: &Table,
        zones: &[ZoneSpec],
    ) -> Result<(AliasSpec, AliasAt), ConfigError> {
        self.check_keys(table, ALIAS_KEYS, "in [[alias]]")?;
        let Some((interface, span)) = self.string(table, "interface", "\"eth1\"")? else {
            return Err(self.error(
                &table.span(),
                "[[alias]] has no interface; add interface = \"eth1\" (the device name)",
            ));
        };
        validate_interface(interface).map_err(|m| self.error(&span, m))?;
        let Some((address, address_span)) = self.string(table, "address", "\"192.168.0.1/24\"")?
        else {
            return Err(self.error(
                &table.span(),
                format!("[[alias]] on {interface} has no address; add address = \"192.168.0.1/24\" (address and prefix length)"),
            ));
        };
        let address = parse_address(address).map_err(|m| self.error(&address_span, m))?;
        check_alias_address(&address).map_err(|m| self.error(&address_span, m))?;
        let ip = address.addr();
        let label = self.string(table, "label", "\"eth1:0\"")?;
        if let Some((label, span)) = &label {
            validate_label_for(label, interface).map_err(|m| self.error(span, m))?;
        }
        let zone = self.string(table, "zone", "\"lab\"")?;
        if let Some((zone, span)) = &zone {
            if !zones.iter().any(|z| z.name == *zone) {
                return Err(self.error(
                    span,
                    format!("alias {ip} names zone {zone:?} but no [zone.{zone}] table exists; add one or drop the zone"),
                ));
            }
        }
        let mut routes: Vec<RouteSpec> = Vec::new();
        for (text, span) in self.strings(table, "routes", "[\"10.9.0.0/16@192.168.0.254\"]")? {
            let route: RouteSpec = text.parse().map_err(|m: String| self.error(&span, m))?;
            if route.destination.addr().is_ipv4() != ip.is_ipv4() {
                let message = match route.gateway {
                    Some(gateway) => format!(
                        "route {text:?}: gateway {gateway} is {} but alias {ip} is {}; use a gateway of the alias's IP version",
                        family(gateway),
                        family(ip)
                    ),
                    None => format!(
                        "route {text:?} is {} but alias {ip} is {}; list it under an alias of the same IP version",
                        family(route.destination.addr()),
                        family(ip)
                    ),
                };
                return Err(self.error(&span, message));
            }
            if route.gateway == Some(ip) {
                return Err(self.error(
                    &span,
                    format!("route {text:?} goes via {ip}, the alias itself; give a router on {} as the gateway, or drop @{ip} for a route straight onto the link", address.trunc()),
                ));
            }
            if routes.contains(&route) {
                return Err(self.error(
                    &span,
                    format!("route {route} is listed twice for alias {ip}; drop one"),
                ));
            }
            routes.push(route);
        }
        let alias = AliasSpec {
            interface: interface.to_string(),
            address,
            label: label.as_ref().map(|(l, _)| l.to_string()),
            zone: zone.as_ref().map(|(z, _)| z.to_string()),
            routes,
        };
        let label_span = label.and_then(|(_, span)| span);
        Ok((
            alias,
            AliasAt {
                address: address_span,
                label: label_span,
            },
        ))
    }

    fn check_duplicates(&self, aliases: &[AliasSpec], at: &[AliasAt]) -> Result<(), ConfigError> {
        let mut ips: HashMap<IpAddr, usize> = HashMap::new();
        let mut labels: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, alias) in aliases.iter().enumerate() {
            if let Some(&first) = ips.get(&alias.ip()) {
                return Err(self.error(
                    &at[i].address,
                    format!(
                        "address {} is already declared at line {} (on {}); an address can be declared only once: remove one of them",
                        alias.ip(),
                        self.line(&at[first].address),
                        aliases[first].interface
                    ),
                ));
            }
            ips.insert(alias.ip(), i);
            if let Some(label) = &alias.label {
                if let Some(&first) = labels.get(&(alias.interface.as_str(), label.as_str())) {
                    return Err(self.error(
                        &at[i].label,
                        format!(
                            "label {label:?} is already used on {} by {} at line {}; labels must be unique per interface: pick another one",
                            alias.interface,
                            aliases[first].ip(),
                            self.line(&at[first].label)
                        ),
                    ));
                }
                labels.insert((alias.interface.as_str(), label.as_str()), i);
            }
        }
        Ok(())
    }

    /// A subnet in two zones would make the zone of its traffic ambiguous.
    fn check_overlaps(
        &self,
        zones: &[ZoneSpec],
        zone_spans: &[Vec<Span>],
        aliases: &[AliasSpec],
        at: &[AliasAt],
    ) -> Result<(), ConfigError> {
        struct Net<'c> {
            zone: &'c str,
            net: IpNet,
            span: Span,
            what: String,
        }
        let mut nets: Vec<Net> = Vec::new();
        for (zone, spans) in zones.iter().zip(zone_spans) {
            for (net, span) in zone.subnets.iter().zip(spans) {
                nets.push(Net {
                    zone: &zone.name,
                    net: *net,
                    span: span.clone(),
                    what: format!("subnet {net}"),
                });
            }
        }
        for (alias, at) in aliases.iter().zip(at) {
            if let Some(zone) = &alias.zone {
                let net = alias.address.trunc();
                let what = format!("subnet {net} (of alias {})", alias.address);
                nets.push(Net {
                    zone,
                    net,
                    span: at.address.clone(),
                    what,
                });
            }
        }
        for (i, a) in nets.iter().enumerate() {
            for b in &nets[i + 1..] {
                if a.zone == b.zone || !(a.net.contains(&b.net) || b.net.contains(&a.net)) {
                    continue;
                }
                let start = |n: &Net| n.span.as_ref().map_or(0, |s| s.start);
                let (first, second) = if start(a) <= start(b) { (a, b) } else { (b, a) };
                return Err(self.error(
                    &second.span,
                    format!(
                        "zone {:?} {} overlaps zone {:?} {} at line {}; a subnet can belong to one zone only: change one of them or put both in the same zone",
                        second.zone,
                        second.what,
                        first.zone,
                        first.what,
                        self.line(&first.span)
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn key_span(table: &dyn TableLike, key: &str) -> Span {
    table.key(key).and_then(Key::span)
}

/// The span of `key`'s value, or of the key where the value has none.
fn value_span(table: &dyn TableLike, key: &str) -> Span {
    table
        .get(key)
        .and_then(Item::span)
        .or_else(|| key_span(table, key))
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// The valid key nearest to a typo, if it is near enough to be a guess:
/// two edits, or a quarter of the key for long keys (so the singular
/// `promote_secondary` still finds `promote_secondaries`), or a shortened
/// key (`promote`).
fn closest<'v>(name: &str, valid: &[&'v str]) -> Option<&'v str> {
    let name = name.to_ascii_lowercase();
    let near = valid
        .iter()
        .map(|v| (edit_distance(&name, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.chars().count() / 4))
        .min()
        .map(|(_, v)| v);
    near.or_else(|| {
        let mut prefixed = valid
            .iter()
            .filter(|v| name.chars().count() >= 4 && v.starts_with(name.as_str()));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn validate_interface(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("interface is empty; write the device name such as \"eth1\"".into());
    }
    if let Some((device, _)) = name.split_once(':') {
        return Err(format!(
            "interface {name:?} contains ':', which marks a label; write interface = {device:?} and label = {name:?}"
        ));
    }
    if name.len() > MAX_LABEL_LEN {
        return Err(format!(
            "interface {name:?} is {} bytes; Linux interface names have at most {MAX_LABEL_LEN}",
            name.len()
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c.is_control())
    {
        return Err(format!("interface {name:?} is not a valid Linux interface name (no whitespace or '/'); check `ip link`"));
    }
    Ok(())
}

fn validate_zone_name(name: &str) -> Result<(), String> {
    let valid = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "zone name {name:?} is invalid; use 1 to 32 letters, digits, '_' or '-', starting with a letter, such as \"lab\""
        ))
    }
}

/// An alias address: host bits are fine, the prefix length is required
/// because it decides the subnet route the kernel adds. IPv4 takes a
/// contiguous dotted netmask too (`10.1.1.3/255.255.0.0` is 10.1.1.3/16).
fn parse_address(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Err(match classful_prefix(ip) {
            Some(prefix) => {
                format!("address {text:?} has no prefix length; write it as {ip}/{prefix}")
            }
            None => format!("address {text:?} has no prefix length; add one, such as {ip}/32"),
        });
    }
    if let Some((ip, length)) = text.split_once('/') {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            let mask = length.parse::<std::net::Ipv4Addr>().ok();
            if let (IpAddr::V4(_), Some(mask)) = (ip, mask) {
                let bits = u32::from(mask);
                let ones = bits.leading_ones();
                if ones + bits.trailing_zeros() < 32 {
                    return Err(format!(
                        "address {text:?}: netmask {mask} is not contiguous (its one bits must come first, as in 255.255.255.0), so it stands for no prefix length: write the subnet's prefix length instead, such as {ip}/24"
                    ));
                }
                return IpNet::new(ip, ones as u8).map_err(|e| format!("address {text:?}: {e}"));
            }
            return Err(match (ip, mask) {
                (IpAddr::V6(_), Some(_)) => format!(
                    "address {text:?}: IPv6 takes a prefix length, not a netmask: write it as {ip}/64 (or the subnet's own prefix length)"
                ),
                (IpAddr::V4(_), _) => format!(
                    "address {text:?}: prefix length must be 0 to 32 (or a netmask such as 255.255.255.0), found {length:?}: write it as e.g. {ip}/24"
                ),
                (IpAddr::V6(_), None) => format!(
                    "address {text:?}: prefix length must be 0 to 128, found {length:?}: write it as e.g. {ip}/64"
                ),
            });
        }
    }
    Err(format!(
        "address {text:?} is not an IP address with a prefix length such as 192.168.0.1/24 or 2001:db8::1/64"
    ))
}

/// A zone subnet: a network, so host bits must be zero.
fn parse_subnet(text: &str) -> Result<IpNet, String> {
    match text.parse::<IpNet>() {
        Ok(net) if net.addr() != net.network() => Err(format!(
            "subnet {text:?} has host bits set; write the network {}",
            net.trunc()
        )),
        Ok(net) => Ok(net),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => Err(format!(
                "subnet {text:?} has no prefix length; write a CIDR such as {ip}/{}",
                if ip.is_ipv4() { 32 } else { 128 }
            )),
            Err(_) => Err(format!(
                "subnet {text:?} is not a CIDR such as 10.50.0.0/16"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::zones::ServiceProtocol;

    fn zone<'c>(config: &'c Config, name: &str) -> Option<&'c ZoneSpec> {
        config.zones.iter().find(|z| z.name == name)
    }

    const EXAMPLE: &str = r#"# alias-mgr desired state
# (hand-edited; alias-mgr keeps these comments)

[settings]
promote_secondaries = false   # managed by the distro

# the lab network, behind the router at .254
[[alias]]
interface = "eth1"
address = "192.168.0.1/24"
label = "eth1:0"
zone = "lab"
routes = ["10.9.0.0/16@192.168.0.254", "198.51.100.0/24"]

[[alias]]
interface = "eth1"
address = "2001:db8::1/64"   # v6 twin

# zones
[zone.lab]
subnets = ["10.50.0.0/16"]
input = "reject"
allow = ["tcp/22", "udp/53", "tcp/8000-8080", "icmp", "icmpv6"]
forward = { dmz = "accept" }

[zone.dmz]
subnets = ["203.0.113.0/24"]
"#;

    fn parse(text: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(Path::new("test.toml"), text)
    }

    /// Line, column and message of the Invalid error `text` must produce.
    fn invalid(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected an Invalid error, got {other:?}"),
        }
    }

    fn alias(interface: &str, address: &str) -> AliasSpec {
        AliasSpec {
            interface: interface.into(),
            address: address.parse().unwrap(),
            label: None,
            zone: None,
            routes: vec![],
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn one_alias(address_line: &str) -> String {
        format!("[[alias]]\ninterface = \"eth1\"\n{address_line}\n")
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir().join(format!(
            "alias-mgr-config-{tag}-{}-{nanos}",
            std::process::id()
        ))
    }

    #[test]
    fn parses_the_full_example() {
        let file = parse(EXAMPLE).unwrap();
        let config = file.config();
        assert!(!config.settings.promote_secondaries);
        assert_eq!(config.aliases.len(), 2);
        let first = &config.aliases[0];
        assert_eq!(first.interface, "eth1");
        assert_eq!(first.address, "192.168.0.1/24".parse::<IpNet>().unwrap());
        assert_eq!(first.label.as_deref(), Some("eth1:0"));
        assert_eq!(first.zone.as_deref(), Some("lab"));
        assert_eq!(first.routes.len(), 2);
        assert_eq!(first.routes[0].to_string(), "10.9.0.0/16@192.168.0.254");
        assert_eq!(first.routes[1].to_string(), "198.51.100.0/24");
        let second = &config.aliases[1];
        assert_eq!(second.ip(), ip("2001:db8::1"));
        assert_eq!(
            (
                second.label.as_ref(),
                second.zone.as_ref(),
                second.routes.len()
            ),
            (None, None, 0)
        );

        let lab = zone(config, "lab").unwrap();
        assert_eq!(lab.subnets, vec!["10.50.0.0/16".parse::<IpNet>().unwrap()]);
        assert_eq!(lab.input, Verdict::Reject);
        let allow: Vec<String> = lab.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            allow,
            ["tcp/22", "udp/53", "tcp/8000-8080", "icmp", "icmpv6"]
        );
        assert_eq!(
            lab.allow[2],
            Service {
                protocol: ServiceProtocol::Tcp,
                ports: Some((8000, 8080))
            }
        );
        assert_eq!(
            lab.forward,
            BTreeMap::from([("dmz".to_string(), Verdict::Accept)])
        );
        let dmz = zone(config, "dmz").unwrap();
        assert_eq!(
            (dmz.input, dmz.allow.len(), dmz.forward.len()),
            (Verdict::Drop, 0, 0)
        );
        assert!(zone(config, "wan").is_none());
        assert_eq!(file.render(), EXAMPLE);
        assert_eq!(file.path(), Path::new("test.toml"));
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let file = parse("").unwrap();
        assert_eq!(file.config(), &Config::default());
        assert!(file.config().settings.promote_secondaries);
        let file = parse("# nothing yet\n[settings]\n").unwrap();
        assert!(file.config().settings.promote_secondaries);
    }

    #[test]
    fn unknown_keys_are_reported_with_the_valid_ones() {
        let (line, column, message) =
            invalid("[[alias]]\ninterface = \"eth1\"\nadress = \"10.0.0.1/8\"\n");
        assert_eq!((line, column), (3, 1));
        assert!(
            message.starts_with("unknown key \"adress\" in [[alias]]; did you mean \"address\"?"),
            "{message}"
        );
        assert!(
            message.ends_with("valid keys are: interface, address, label, zone, routes"),
            "{message}"
        );

        let (line, column, message) = invalid("# top\n\n[aliases]\n");
        assert_eq!((line, column), (3, 2));
        assert!(
            message.contains("\"aliases\" at the top level; did you mean \"alias\"?"),
            "{message}"
        );
        assert!(message.contains("settings, alias, zone"), "{message}");

        let (line, column, message) = invalid("[settings]\n  promote = true\n");
        assert_eq!((line, column), (2, 3));
        assert!(
            message.contains("valid keys are: promote_secondaries, counters"),
            "{message}"
        );

        let (line, column, message) = invalid("[zone.lab]\ninptu = \"drop\"\n");
        assert_eq!((line, column), (2, 1));
        assert!(
            message.contains("in [zone.lab]; did you mean \"input\"?"),
            "{message}"
        );
        assert!(
            message.contains("subnets, input, allow, forward"),
            "{message}"
        );
    }

    #[test]
    fn wrong_types_are_reported() {
        let (line, column, message) = invalid(&one_alias("address = 5"));
        assert_eq!((line, column), (3, 11));
        assert_eq!(
            message,
            "address must be a string such as \"192.168.0.1/24\", found integer"
        );

        let (line, column, message) = invalid("[settings]\npromote_secondaries = \"yes\"\n");
        assert_eq!((line, column), (2, 23));
        assert_eq!(
            message,
            "promote_secondaries must be true or false, found string"
        );

        let (line, column, message) = invalid("[alias]\ninterface = \"eth1\"\n");
        assert_eq!((line, column), (1, 1));
        assert!(
            message.contains("[[alias]] tables (double brackets)"),
            "{message}"
        );

        let (_, _, message) = invalid("settings = 1\n");
        assert!(message.contains("settings must be a table"), "{message}");

        let (line, column, message) = invalid(&one_alias(
            "address = \"10.0.0.1/8\"\nroutes = \"10.9.0.0/16\"",
        ));
        assert_eq!((line, column), (4, 10));
        assert!(
            message.starts_with("routes must be an array of strings"),
            "{message}"
        );

        let (line, column, message) = invalid("[zone.lab]\nallow = [22]\n");
        assert_eq!((line, column), (2, 10));
        assert!(
            message.starts_with("allow must hold only strings"),
            "{message}"
        );
    }

    #[test]
    fn address_without_prefix_suggests_the_classful_one() {
        let (line, column, message) = invalid(&one_alias("address = \"192.168.0.1\""));
        assert_eq!((line, column), (3, 11));
        assert_eq!(
            message,
            "address \"192.168.0.1\" has no prefix length; write it as 192.168.0.1/24"
        );
        let (_, _, message) = invalid(&one_alias("address = \"10.1.2.3\""));
        assert!(message.ends_with("write it as 10.1.2.3/8"), "{message}");
        let (_, _, message) = invalid(&one_alias("address = \"2001:db8::5\""));
        assert!(message.ends_with("write it as 2001:db8::5/64"), "{message}");
    }

    #[test]
    fn invalid_addresses_are_rejected() {
        let (line, column, message) = invalid(&one_alias("address = \"10.0.0.1/33\""));
        assert_eq!((line, column), (3, 11));
        assert_eq!(
            message,
            "address \"10.0.0.1/33\": prefix length must be 0 to 32 (or a netmask such as 255.255.255.0), found \"33\": write it as e.g. 10.0.0.1/24"
        );
        let (_, _, message) = invalid(&one_alias("address = \"2001:db8::7/129\""));
        assert!(
            message.contains(
                "prefix length must be 0 to 128, found \"129\": write it as e.g. 2001:db8::7/64"
            ),
            "{message}"
        );
        let (_, _, message) = invalid(&one_alias("address = \"10.0.0.1/x\""));
        assert!(
            message.contains("prefix length must be 0 to 32"),
            "{message}"
        );
        let (_, _, message) = invalid(&one_alias("address = \"eth1\""));
        assert!(
            message.contains("is not an IP address with a prefix length"),
            "{message}"
        );
        // Host bits are what an alias address has.
        assert!(parse(&one_alias("address = \"10.0.0.1/8\"")).is_ok());
    }

    #[test]
    fn missing_required_keys_point_at_the_table() {
        let (line, column, message) = invalid("# x\n[[alias]]\naddress = \"10.0.0.1/8\"\n");
        assert_eq!((line, column), (2, 1));
        assert!(
            message.contains("has no interface; add interface = \"eth1\""),
            "{message}"
        );
        let (line, column, message) = invalid("[[alias]]\ninterface = \"eth1\"\n");
        assert_eq!((line, column), (1, 1));
        assert!(message.contains("on eth1 has no address"), "{message}");
    }

    #[test]
    fn bad_interfaces_and_labels_are_rejected() {
        let (line, column, message) =
            invalid("[[alias]]\ninterface = \"eth1:0\"\naddress = \"10.0.0.1/8\"\n");
        assert_eq!((line, column), (2, 13));
        assert!(
            message.contains("write interface = \"eth1\" and label = \"eth1:0\""),
            "{message}"
        );
        let (_, _, message) =
            invalid("[[alias]]\ninterface = \"enx00e04c6800011\"\naddress = \"10.0.0.1/8\"\n");
        assert!(message.contains("at most 15"), "{message}");
        let (_, _, message) =
            invalid("[[alias]]\ninterface = \"eth 1\"\naddress = \"10.0.0.1/8\"\n");
        assert!(
            message.contains("not a valid Linux interface name"),
            "{message}"
        );
        let (line, column, message) = invalid(
            "[[alias]]\ninterface = \"enx00e04c680001\"\naddress = \"10.0.0.1/8\"\nlabel = \"enx00e04c680001:0\"\n",
        );
        assert_eq!((line, column), (4, 9));
        assert!(message.contains("at most 15"), "{message}");
        assert!(message.contains("drop the label"), "{message}");
        assert!(!message.contains("eth1"), "{message}");
    }

    #[test]
    fn labels_must_start_with_the_interface_name() {
        let (line, column, message) =
            invalid(&one_alias("address = \"10.0.0.1/8\"\nlabel = \"web\""));
        assert_eq!((line, column), (4, 9));
        assert_eq!(
            message,
            "label \"web\" must start with the interface name: use eth1:web"
        );
        let (line, column, message) = invalid(
            "[[alias]]\ninterface = \"enp0s31f6\"\naddress = \"10.0.0.1/8\"\n  label = \"enp0s31f6:webserver\"\n",
        );
        assert_eq!((line, column), (4, 11));
        assert!(
            message.ends_with("use a shorter suffix, such as enp0s31f6:webse"),
            "{message}"
        );
        assert!(parse(&one_alias("address = \"10.0.0.1/8\"\nlabel = \"eth1:web\"")).is_ok());
        assert!(parse(&one_alias("address = \"10.0.0.1/8\"\nlabel = \"eth1\"")).is_ok());
    }

    #[test]
    fn bad_routes_are_rejected() {
        let (line, column, message) = invalid(&one_alias(
            "address = \"10.0.0.1/8\"\nroutes = [\"10.8.0.0/16\", \"10.9.0.1/16\"]",
        ));
        assert_eq!((line, column), (4, 26));
        assert!(message.contains("did you mean 10.9.0.0/16"), "{message}");

        let (line, column, message) = invalid(&one_alias(
            "address = \"2001:db8::1/64\"\nroutes = [\"10.9.0.0/16@10.0.0.1\"]",
        ));
        assert_eq!((line, column), (4, 11));
        assert_eq!(
            message,
            "route \"10.9.0.0/16@10.0.0.1\": gateway 10.0.0.1 is IPv4 but alias 2001:db8::1 is IPv6; use a gateway of the alias's IP version"
        );
        let (_, _, message) = invalid(&one_alias(
            "address = \"10.0.0.1/8\"\nroutes = [\"2001:db8:9::/48\"]",
        ));
        assert!(
            message.contains("is IPv6 but alias 10.0.0.1 is IPv4"),
            "{message}"
        );
        let (_, _, message) = invalid(&one_alias(
            "address = \"10.0.0.1/8\"\nroutes = [\"10.9.0.0/16\", \"10.9.0.0/16\"]",
        ));
        assert!(message.contains("listed twice"), "{message}");
    }

    #[test]
    fn duplicate_addresses_point_at_the_second_and_name_the_first() {
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n\n[[alias]]\ninterface = \"eth2\"\naddress = \"10.0.0.1/16\"\n";
        let (line, column, message) = invalid(text);
        assert_eq!((line, column), (7, 11));
        assert!(
            message.contains("address 10.0.0.1 is already declared at line 3 (on eth1)"),
            "{message}"
        );
    }

    #[test]
    fn duplicate_labels_on_one_interface_are_rejected() {
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\nlabel = \"eth1:0\"\n\n\
                    [[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\nlabel = \"eth1:0\"\n";
        let (line, column, message) = invalid(text);
        assert_eq!((line, column), (9, 9));
        assert!(
            message.contains("label \"eth1:0\" is already used on eth1 by 10.0.0.1 at line 4"),
            "{message}"
        );
        // Labels start with their interface's name, so the same label text
        // on another interface is refused for that, not as a duplicate.
        let (line, column, message) = invalid(&text.replacen(
            "interface = \"eth1\"\naddress = \"10.0.0.2/8\"",
            "interface = \"eth2\"\naddress = \"10.0.0.2/8\"",
            1,
        ));
        assert_eq!((line, column), (9, 9));
        assert!(
            message.contains("is for interface eth1, but the alias is on eth2"),
            "{message}"
        );
    }

    #[test]
    fn alias_zones_must_exist() {
        let (line, column, message) =
            invalid(&one_alias("address = \"192.168.0.1/24\"\nzone = \"lab\""));
        assert_eq!((line, column), (4, 8));
        assert_eq!(message, "alias 192.168.0.1 names zone \"lab\" but no [zone.lab] table exists; add one or drop the zone");
    }

    #[test]
    fn zone_names_forward_targets_and_verdicts_are_checked() {
        let (line, column, message) = invalid("[zone.1lab]\n");
        assert_eq!((line, column), (1, 7));
        assert!(
            message.contains("zone name \"1lab\" is invalid"),
            "{message}"
        );
        assert!(invalid(&format!("[zone.{}]\n", "a".repeat(33)))
            .2
            .contains("is invalid"));
        assert!(invalid("[zone.\"la b\"]\n").2.contains("is invalid"));
        assert!(parse("[zone.Lab_2-x]\n").is_ok());

        let (line, column, message) = invalid("[zone.lab]\nforward = { dmz = \"accept\" }\n");
        assert_eq!((line, column), (2, 13));
        assert_eq!(message, "zone \"lab\" forwards to zone \"dmz\" but no [zone.dmz] table exists; add one or drop the entry");

        let (line, column, message) = invalid("[zone.lab]\nforward = { lab = \"allow\" }\n");
        assert_eq!((line, column), (2, 19));
        assert!(
            message.contains("\"allow\" is not a verdict; use \"accept\", \"drop\" or \"reject\""),
            "{message}"
        );

        let (line, column, message) = invalid("[zone.lab]\ninput = \"ACCEPT\"\n");
        assert_eq!((line, column), (2, 9));
        assert!(
            message.starts_with("input of zone \"lab\": \"ACCEPT\" is not a verdict"),
            "{message}"
        );
    }

    #[test]
    fn bad_services_list_the_accepted_forms() {
        for (spec, why) in [
            ("tcp/99999", "port 99999 is outside 1..=65535"),
            ("tcp/0", "port 0 is outside 1..=65535"),
            ("sctp/1", "unknown protocol \"sctp\""),
            ("tcp/", "the port number is missing"),
            ("icmp/8", "icmp has no ports"),
            ("udp/ssh", "\"ssh\" is not a port number"),
            (
                "tcp/8080-8000",
                "port range 8080-8000 is reversed; write 8000-8080",
            ),
            ("tcp/80-", "the port number is missing"),
        ] {
            let (line, column, message) = invalid(&format!("[zone.lab]\nallow = [{spec:?}]\n"));
            assert_eq!((line, column), (2, 10), "{spec}");
            assert!(message.contains(why), "{spec}: {message}");
            assert!(
                message.contains("accepted forms are tcp/PORT, udp/PORT, tcp/FIRST-LAST"),
                "{message}"
            );
        }
    }

    #[test]
    fn zone_subnets_must_be_networks() {
        let (line, column, message) = invalid("[zone.lab]\nsubnets = [\"10.50.0.1/16\"]\n");
        assert_eq!((line, column), (2, 12));
        assert!(
            message.contains("has host bits set; write the network 10.50.0.0/16"),
            "{message}"
        );
        assert!(invalid("[zone.lab]\nsubnets = [\"10.50.0.0\"]\n")
            .2
            .contains("no prefix length"));
        assert!(invalid("[zone.lab]\nsubnets = [\"lab\"]\n")
            .2
            .contains("is not a CIDR"));
    }

    #[test]
    fn overlapping_zone_subnets_are_rejected() {
        let text =
            "[zone.lab]\nsubnets = [\"10.50.0.0/16\"]\n[zone.dmz]\nsubnets = [\"10.50.1.0/24\"]\n";
        let (line, column, message) = invalid(text);
        assert_eq!((line, column), (4, 12));
        assert!(
            message.starts_with("zone \"dmz\" subnet 10.50.1.0/24 overlaps zone \"lab\" subnet 10.50.0.0/16 at line 2"),
            "{message}"
        );

        // An alias's network belongs to its zone.
        let text =
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.50.3.4/24\"\nzone = \"dmz\"\n\n\
                    [zone.dmz]\n[zone.lab]\nsubnets = [\"10.50.0.0/16\"]\n";
        let (line, column, message) = invalid(text);
        assert_eq!((line, column), (8, 12));
        assert!(
            message.contains("zone \"lab\" subnet 10.50.0.0/16 overlaps zone \"dmz\""),
            "{message}"
        );
        assert!(
            message.contains("subnet 10.50.3.0/24 (of alias 10.50.3.4/24) at line 3"),
            "{message}"
        );

        // Two aliases of one subnet in different zones.
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/24\"\nzone = \"a\"\n\
                    [[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/24\"\nzone = \"b\"\n[zone.a]\n[zone.b]\n";
        let (line, _, message) = invalid(text);
        assert_eq!(line, 7);
        assert!(message.contains("zone \"b\""), "{message}");

        // Overlaps inside one zone, and disjoint zones, are fine.
        let text = "[zone.lab]\nsubnets = [\"10.50.0.0/16\", \"10.50.1.0/24\"]\n[zone.dmz]\nsubnets = [\"10.51.0.0/16\"]\n";
        assert!(parse(text).is_ok());
    }

    #[test]
    fn syntax_errors_carry_the_position() {
        let err = parse("# c\n[[alias]\n").unwrap_err();
        let ConfigError::Syntax {
            line,
            column,
            ref message,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!((line, column), (2, 8));
        assert!(!message.is_empty() && !message.contains('\n'));
        assert!(
            err.to_string()
                .starts_with("test.toml:2:8: TOML syntax error: "),
            "{err}"
        );

        let err = parse(&one_alias(
            "address = \"10.0.0.1/8\"\naddress = \"10.0.0.2/8\"",
        ))
        .unwrap_err();
        let ConfigError::Syntax {
            line, ref message, ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!(line, 4);
        assert!(message.contains("duplicate key"), "{message}");
    }

    #[test]
    fn invalid_errors_display_file_line_and_column() {
        let err = parse(&one_alias("address = \"192.168.0.1\"")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.toml:3:11: address \"192.168.0.1\" has no prefix length; write it as 192.168.0.1/24"
        );
    }

    #[test]
    fn add_alias_appends_after_the_last_alias_and_keeps_comments() {
        let mut file = parse(EXAMPLE).unwrap();
        let mut new = alias("eth2", "10.50.0.5/16");
        new.label = Some("eth2:0".into());
        new.zone = Some("lab".into());
        new.routes = vec!["10.60.0.0/16@10.50.0.254".parse().unwrap()];
        file.add_alias(&new).unwrap();
        let text = file.render();
        for line in EXAMPLE.lines() {
            assert!(text.contains(line), "lost {line:?} in\n{text}");
        }
        let block = "[[alias]]\ninterface = \"eth2\"\naddress = \"10.50.0.5/16\"\nlabel = \"eth2:0\"\nzone = \"lab\"\n\
                     routes = [\"10.60.0.0/16@10.50.0.254\"]\n";
        let expected = EXAMPLE.replace(
            "# v6 twin\n\n# zones",
            &format!("# v6 twin\n\n{block}\n# zones"),
        );
        assert_eq!(text, expected);
        assert_eq!(file.config().aliases.len(), 3);
        assert_eq!(file.config().aliases[2], new);
    }

    #[test]
    fn add_alias_to_an_empty_file() {
        let mut file = parse("").unwrap();
        file.add_alias(&alias("eth1", "10.0.0.1/8")).unwrap();
        assert_eq!(
            file.render(),
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n"
        );
        file.add_alias(&alias("eth1", "10.0.0.2/8")).unwrap();
        assert_eq!(file.config().aliases.len(), 2);
        assert!(file.render().ends_with(
            "10.0.0.1/8\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n"
        ));
    }

    #[test]
    fn add_alias_rejects_invalid_results_without_changing_anything() {
        let mut file = parse(EXAMPLE).unwrap();
        let before = file.clone();
        let err = file
            .add_alias(&alias("eth3", "192.168.0.1/24"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("address 192.168.0.1 is already declared at line 10 (on eth1)"),
            "{err}"
        );
        let mut zoned = alias("eth3", "192.168.9.1/24");
        zoned.zone = Some("wan".into());
        let err = file.add_alias(&zoned).unwrap_err();
        assert!(
            err.to_string().contains("no [zone.wan] table exists"),
            "{err}"
        );
        assert_eq!(file.render(), before.render());
        assert_eq!(file.config(), before.config());
    }

    #[test]
    fn remove_alias_keeps_everything_else() {
        let mut file = parse(EXAMPLE).unwrap();
        assert!(
            !file.remove_alias("eth2", ip("192.168.0.1")),
            "wrong interface"
        );
        assert!(!file.remove_alias("eth1", ip("192.168.0.9")));
        assert_eq!(file.render(), EXAMPLE);

        assert!(file.remove_alias("eth1", ip("192.168.0.1")));
        let text = file.render();
        let start = EXAMPLE.find("# the lab network").unwrap();
        let end = EXAMPLE
            .find("[[alias]]\ninterface = \"eth1\"\naddress = \"2001")
            .unwrap();
        assert_eq!(text, format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]));
        assert!(
            text.contains("# alias-mgr desired state")
                && text.contains("# v6 twin")
                && text.contains("# zones")
        );
        assert_eq!(file.config().aliases.len(), 1);

        assert!(file.remove_alias("eth1", ip("2001:db8::1")));
        assert!(file.config().aliases.is_empty());
        assert!(file.render().contains(
            "promote_secondaries = false   # managed by the distro\n\n# zones\n[zone.lab]"
        ));
    }

    #[test]
    fn remove_first_alias_keeps_the_file_header() {
        let text = "# my aliases\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n\n\
                    # second\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n";
        let mut file = parse(text).unwrap();
        assert!(file.remove_alias("eth1", ip("10.0.0.1")));
        assert_eq!(
            file.render(),
            "# my aliases\n\n# second\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.2/8\"\n"
        );
        let mut file = parse(text).unwrap();
        assert!(file.remove_alias("eth1", ip("10.0.0.2")));
        assert_eq!(
            file.render(),
            "# my aliases\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n"
        );
    }

    #[test]
    fn add_then_remove_restores_the_file_exactly() {
        let at_end =
            "# header\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\" # main\n";
        let commented = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n[zone.lab]\n";
        for original in [
            "",
            "# only a comment\n",
            "[settings]\n",
            EXAMPLE,
            at_end,
            commented,
        ] {
            let mut file = parse(original).unwrap();
            let mut new = alias("eth9", "10.99.0.1/24");
            new.label = Some("eth9:0".into());
            new.routes = vec!["10.98.0.0/16".parse().unwrap()];
            file.add_alias(&new).unwrap();
            assert_ne!(file.render(), original);
            assert!(file.remove_alias("eth9", ip("10.99.0.1")));
            assert_eq!(file.render(), original);
        }
    }

    #[test]
    fn added_aliases_follow_commented_keys_of_the_last_one() {
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n[zone.lab]\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth2", "10.0.0.2/8")).unwrap();
        assert_eq!(
            file.render(),
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# routes = []\n\n\
             [[alias]]\ninterface = \"eth2\"\naddress = \"10.0.0.2/8\"\n\n[zone.lab]\n"
        );
        // A comment running into the next header stays with that header.
        let text =
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n# zones:\n[zone.lab]\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth2", "10.0.0.2/8")).unwrap();
        assert!(
            file.render()
                .contains("10.0.0.2/8\"\n\n# zones:\n[zone.lab]\n"),
            "{}",
            file.render()
        );
    }

    #[test]
    fn crlf_files_stay_crlf() {
        let text = "# windows\r\n[[alias]]\r\ninterface = \"eth1\"\r\naddress = \"10.0.0.1/8\"\r\n";
        let mut file = parse(text).unwrap();
        file.add_alias(&alias("eth1", "10.0.0.2/8")).unwrap();
        let out = file.render();
        assert_eq!(
            out.matches('\n').count(),
            out.matches("\r\n").count(),
            "{out:?}"
        );
        assert!(out.starts_with(text));
        assert!(file.remove_alias("eth1", ip("10.0.0.2")));
        assert_eq!(file.render(), text);
    }

    #[test]
    fn merge_aliases_is_idempotent_and_atomic() {
        let mut file = parse(EXAMPLE).unwrap();
        let new = [
            alias("eth2", "10.70.0.1/16"),
            alias("eth1", "192.168.0.1/24"),
            alias("eth2", "10.70.0.1/16"),
        ];
        assert_eq!(file.merge_aliases(&new).unwrap(), 1);
        let once = file.render();
        assert_eq!(file.config().aliases.len(), 3);
        assert_eq!(file.merge_aliases(&new).unwrap(), 0);
        assert_eq!(file.render(), once);

        let two = [alias("eth3", "10.71.0.1/16"), alias("eth3", "10.72.0.1/16")];
        assert_eq!(file.merge_aliases(&two).unwrap(), 2);
        assert_eq!(file.config().aliases.len(), 5);
        assert!(file.render().contains(
            "10.71.0.1/16\"\n\n[[alias]]\ninterface = \"eth3\"\naddress = \"10.72.0.1/16\"\n"
        ));

        // 192.168.0.1 on another interface clashes: nothing is added.
        let before = file.render();
        let clash = [
            alias("eth4", "10.73.0.1/16"),
            alias("eth4", "192.168.0.1/24"),
        ];
        assert!(file.merge_aliases(&clash).is_err());
        assert_eq!(file.render(), before);
        assert_eq!(file.config().aliases.len(), 5);
    }

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
    fn unreadable_paths_are_io_errors() {
        let dir = temp_dir("io");
        fs::create_dir_all(&dir).unwrap();
        let err = ConfigFile::load(&dir).unwrap_err();
        assert!(
            matches!(err, ConfigError::Io { ref path, .. } if path == &dir),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("reading/writing {}: ", dir.display())),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dotted_netmasks_are_prefix_lengths() {
        let file = parse(&one_alias("address = \"10.1.1.3/255.255.0.0\"")).unwrap();
        assert_eq!(
            file.config().aliases[0].address,
            "10.1.1.3/16".parse::<IpNet>().unwrap()
        );
        let file = parse(&one_alias("address = \"10.1.1.3/255.255.255.255\"")).unwrap();
        assert_eq!(file.config().aliases[0].address.prefix_len(), 32);
        // The file keeps the user's spelling, and del still finds the alias.
        let mut file = parse(&one_alias("address = \"10.1.1.3/255.255.255.0\"")).unwrap();
        assert!(file.render().contains("10.1.1.3/255.255.255.0"));
        assert!(file.remove_alias("eth1", ip("10.1.1.3")));
        assert!(file.config().aliases.is_empty());
    }

    #[test]
    fn non_contiguous_and_ipv6_netmasks_are_refused() {
        let (line, column, message) = invalid(&one_alias("address = \"10.1.1.3/255.0.255.0\""));
        assert_eq!((line, column), (3, 11));
        assert!(
            message.contains("netmask 255.0.255.0 is not contiguous"),
            "{message}"
        );
        assert!(message.ends_with("such as 10.1.1.3/24"), "{message}");
        let (_, _, message) = invalid(&one_alias("address = \"2001:db8::1/255.255.0.0\""));
        assert!(
            message
                .contains("IPv6 takes a prefix length, not a netmask: write it as 2001:db8::1/64"),
            "{message}"
        );
        // A netmask of all zeros is /0, which no alias may have.
        let (_, _, message) = invalid(&one_alias("address = \"10.1.1.3/0.0.0.0\""));
        assert!(
            message.contains("/0 would make the whole Internet on-link"),
            "{message}"
        );
    }

    #[test]
    fn special_addresses_are_refused_at_their_position() {
        for (address, needle) in [
            ("0.0.0.0/24", "unspecified"),
            ("224.0.0.5/24", "multicast"),
            ("127.0.0.2/8", "loopback addresses already answer on lo"),
            ("::1/128", "loopback addresses already answer on lo"),
            ("255.255.255.255/32", "limited broadcast"),
            (
                "::ffff:10.1.1.3/120",
                "add the IPv4 address 10.1.1.3/24 instead",
            ),
            ("10.1.1.3/0", "/0 would make the whole Internet on-link"),
            ("192.168.0.0/24", "network address of 192.168.0.0/24"),
            ("192.168.0.255/24", "broadcast address of 192.168.0.0/24"),
        ] {
            let (line, column, message) = invalid(&one_alias(&format!("address = \"{address}\"")));
            assert_eq!((line, column), (3, 11), "{address}");
            assert!(message.contains(needle), "{address}: {message}");
        }
        assert!(parse(&one_alias("address = \"169.254.7.1/16\"")).is_ok());
        assert!(parse(&one_alias("address = \"fe80::7/64\"")).is_ok());
        assert!(parse(&one_alias("address = \"192.168.0.255/32\"")).is_ok());
    }

    #[test]
    fn add_alias_applies_the_address_and_label_rules() {
        let mut file = parse("").unwrap();
        let mut bad = alias("eth1", "192.168.0.1/24");
        bad.label = Some("web".into());
        let Err(ConfigError::NewEntry { message, .. }) = file.add_alias(&bad) else {
            panic!("label without the interface prefix accepted");
        };
        assert!(message.contains("use eth1:web"), "{message}");
        assert!(file.add_alias(&alias("eth1", "192.168.0.0/24")).is_err());
        assert_eq!(file.render(), "");
    }

    #[test]
    fn settings_typos_get_a_suggestion() {
        let (line, column, message) = invalid("[settings]\npromote_secondary = true\n");
        assert_eq!((line, column), (2, 1));
        assert!(
            message.starts_with(
                "unknown key \"promote_secondary\" in [settings]; did you mean \"promote_secondaries\"?"
            ),
            "{message}"
        );
        let (_, _, message) = invalid("[settings]\n  promote = true\n");
        assert!(
            message.contains("did you mean \"promote_secondaries\"?"),
            "{message}"
        );
        let (_, _, message) = invalid("[settings]\ncounter = false\n");
        assert!(message.contains("did you mean \"counters\"?"), "{message}");
        // Unrelated keys get the list but no guess.
        let (_, _, message) = invalid("[settings]\nmtu = 1500\n");
        assert!(!message.contains("did you mean"), "{message}");
        assert!(
            message.ends_with("valid keys are: promote_secondaries, counters"),
            "{message}"
        );
    }
}
