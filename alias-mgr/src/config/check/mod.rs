//! The validator: a parsed TOML document in, the [`Config`] it declares out,
//! or the first problem with the file, line and column of the key or value
//! at fault and what to write instead.
//!
//! Here: the checker and what every table shares (unknown keys with a
//! suggestion, typed values); `aliases` (addresses, labels, routes,
//! duplicates) and `zones` (settings, zones, forwards, overlapping subnets).
//! The text parsers (addresses, interface names, labels) are `core::parse`'s,
//! the same the CLI and the importers use. Uses only `core`.

mod aliases;
mod zones;

use std::{ops::Range, path::Path};

use toml_edit::{ImDocument, Item, Key, TableLike};

use super::dropins::Segments;
use super::error::{line_col, shown, ConfigError};
use super::reference::{key_names, Section};
use crate::core::desired::{Config, Settings};

/// No value of this file is near this long (an IPv6 route with its
/// gateway is under 100 bytes); a longer one is refused before the parsers,
/// whose messages quote what they were given, see it.
const MAX_VALUE_BYTES: usize = 256;

/// Validates a parsed document; `text` is what it was parsed from. The
/// document is dropped before the whole-file checks: at 10,000 aliases it
/// is most of the memory a daemon ever holds (about 1.3 KB per alias).
pub(super) fn validate(
    path: &Path,
    text: &str,
    segments: &Segments,
    doc: ImDocument<&str>,
) -> Result<Config, ConfigError> {
    Checker {
        path,
        text,
        segments,
    }
    .config(doc)
}

/// A byte range in the text; None where toml_edit keeps none (implicit
/// tables), which reports as line 1.
pub(super) type Span = Option<Range<usize>>;

struct Checker<'a> {
    path: &'a Path,
    /// The main file's text, then the drop-ins' (see `segments`).
    text: &'a str,
    segments: &'a Segments,
}

impl Checker<'_> {
    pub(super) fn error(&self, span: &Span, message: impl Into<String>) -> ConfigError {
        let offset = span.as_ref().map_or(0, |s| s.start);
        let (path, line, column) = if self.segments.several() {
            self.segments.place(self.text, offset)
        } else {
            let (line, column) = line_col(self.text, offset);
            (self.path, line, column)
        };
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Where `span` is, for a message about another entry: `line N`, or
    /// `FILE line N` when drop-ins are in play.
    pub(super) fn place(&self, span: &Span) -> String {
        let offset = span.as_ref().map_or(0, |s| s.start);
        if !self.segments.several() {
            return format!("line {}", line_col(self.text, offset).0);
        }
        let (path, line, _) = self.segments.place(self.text, offset);
        format!("{} line {line}", path.display())
    }

    fn config(&self, doc: ImDocument<&str>) -> Result<Config, ConfigError> {
        let root = doc.as_table();
        self.check_keys(root, &key_names(Section::Top), "at the top level")?;
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
        drop(doc);
        self.check_duplicates(&aliases, &at)?;
        self.check_overlaps(&zones, &zone_spans, &aliases, &at)?;
        Ok(Config {
            settings,
            aliases,
            zones,
        })
    }

    /// Typo protection: a misspelt key would otherwise be silently ignored.
    pub(super) fn check_keys(
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
                    "unknown key {} {place}; {hint}valid keys are: {}",
                    shown(name),
                    valid.join(", ")
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn string<'t>(
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
            Some(text) => self.bounded(key, text, &span).map(|()| Some((text, span))),
            None => Err(self.error(
                &span,
                format!(
                    "{key} must be a string such as {example}, found {}",
                    item.type_name()
                ),
            )),
        }
    }

    /// An integer key within `range` (a unit such as "ms" in the message).
    pub(super) fn integer(
        &self,
        table: &dyn TableLike,
        key: &str,
        range: std::ops::RangeInclusive<u32>,
        unit: &str,
    ) -> Result<Option<u32>, ConfigError> {
        let Some(item) = table.get(key) else {
            return Ok(None);
        };
        let span = value_span(table, key);
        let (low, high) = (range.start(), range.end());
        let Some(value) = item.as_integer() else {
            return Err(self.error(
                &span,
                format!(
                    "{key} must be a whole number of {unit} from {low} to {high}, found {}",
                    item.type_name()
                ),
            ));
        };
        match u32::try_from(value) {
            Ok(value) if range.contains(&value) => Ok(Some(value)),
            _ => Err(self.error(
                &span,
                format!("{key} = {value} is out of range: use {low} to {high} ({unit})"),
            )),
        }
    }

    pub(super) fn strings<'t>(
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
                Some(text) => self
                    .bounded(key, text, &value.span())
                    .map(|()| (text, value.span())),
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

    /// Refuses a value longer than any this file has, naming it cut short.
    fn bounded(&self, key: &str, text: &str, span: &Span) -> Result<(), ConfigError> {
        if text.len() <= MAX_VALUE_BYTES {
            return Ok(());
        }
        Err(self.error(
            span,
            format!(
                "{key} {} is too long: no {key} needs more than {MAX_VALUE_BYTES} bytes; check the file for a pasted or corrupted value",
                shown(text)
            ),
        ))
    }
}

pub(super) fn key_span(table: &dyn TableLike, key: &str) -> Span {
    table.key(key).and_then(Key::span)
}

/// The span of `key`'s value, or of the key where the value has none.
pub(super) fn value_span(table: &dyn TableLike, key: &str) -> Span {
    table
        .get(key)
        .and_then(Item::span)
        .or_else(|| key_span(table, key))
}

/// The valid key nearest to a typo, if it is near enough to be a guess:
/// two edits, or a quarter of the key for long keys (so the singular
/// `promote_secondary` still finds `promote_secondaries`), or a shortened
/// key (`promote`).
fn closest<'v>(name: &str, valid: &[&'v str]) -> Option<&'v str> {
    let name = name.to_ascii_lowercase();
    let cutoff = |v: &str| 2.max(v.chars().count() / 4);
    let near = valid
        .iter()
        // The distance is at least the difference in length: a pasted
        // megabyte is not compared character by character.
        .filter(|v| name.chars().count() <= v.chars().count() + cutoff(v))
        .map(|v| (edit_distance(&name, v), *v))
        .filter(|(d, v)| *d <= cutoff(v))
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

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

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
            message
                .ends_with("valid keys are: interface, address, label, zone, routes, arp_probe_ms"),
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

    /// A megabyte pasted into any key or value: one short message that
    /// still says what is wrong and where.
    #[test]
    fn long_keys_and_values_are_not_echoed_whole() {
        let huge = "x".repeat(1 << 20);
        let alias = |line: &str| {
            format!("[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\n{line}\n")
        };
        for (text, needle) in [
            (
                alias(&format!("label = \"eth1:{huge}\"")),
                "label \"eth1:xxx",
            ),
            (alias(&format!("label = \"{huge}\"")), "label \"xxx"),
            (alias(&format!("{huge} = 1")), "unknown key \"xxx"),
            (alias(&format!("zone = \"{huge}\"")), "zone \"xxx"),
            (alias(&format!("routes = [\"{huge}\"]")), "routes \"xxx"),
            (
                format!("[[alias]]\ninterface = \"{huge}\"\n"),
                "interface \"xxx",
            ),
            (
                one_alias(&format!("address = \"{huge}/8\"")),
                "address \"xxx",
            ),
            (format!("[zone.{huge}]\n"), "zone name \"xxx"),
            (
                format!("[zone.a]\nforward = {{ {huge} = \"accept\" }}\n"),
                "zone name \"xxx",
            ),
            (
                format!("[zone.a]\nallow = [\"tcp/{huge}\"]\n"),
                "allow \"tcp/xxx",
            ),
            (
                format!("[zone.a]\nsubnets = [\"{huge}\"]\n"),
                "subnets \"xxx",
            ),
            (format!("[settings]\n{huge} = true\n"), "unknown key \"xxx"),
        ] {
            let err = parse(&text).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, ConfigError::Invalid { .. }), "{message:.300}");
            assert!(
                message.len() < 300,
                "{} bytes: {message:.400}",
                message.len()
            );
            assert!(message.contains(needle), "{needle}: {message}");
            assert!(message.contains("bytes"), "{message}");
        }
        // Under the limit, the parsers' own messages, quoted whole.
        let (_, _, message) = invalid(&alias(&format!("label = \"eth1:{}\"", "x".repeat(200))));
        assert!(
            message.contains("the kernel allows at most 15"),
            "{message}"
        );
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
            message.ends_with("valid keys are: promote_secondaries, counters, count_on_every_interface, arp_probe_ms, announce_count, announce_interval_ms, announce_refresh_s"),
            "{message}"
        );
    }
}
