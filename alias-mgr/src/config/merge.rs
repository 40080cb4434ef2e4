//! Merging imported aliases into the file: an entry already there is
//! skipped, one that contradicts an entry there (or another imported one)
//! stops the whole import, so nothing the user had or asked for is dropped
//! without a word.

use std::fmt::Write as _;

use toml_edit::{ImDocument, Table};

use super::{
    edit::find_alias,
    error::{line_col, shown, syntax_error, ConfigError},
    ConfigFile,
};
use crate::core::model::AliasSpec;

/// How an imported alias relates to one already declared. What the
/// imported one leaves unset (label, zone, routes) it does not contradict:
/// merging it would lose nothing.
#[derive(Debug, PartialEq, Eq)]
enum Relation {
    Unrelated,
    /// Says nothing the declared one does not (an exact duplicate, or one
    /// with less).
    Duplicate,
    /// Cannot both hold; why.
    Clash(&'static str),
}

fn relation(declared: &AliasSpec, imported: &AliasSpec) -> Relation {
    if declared.ip() != imported.ip() {
        let same_label = declared.interface == imported.interface
            && declared.label.is_some()
            && declared.label == imported.label;
        return match same_label {
            true => Relation::Clash("same label on the same interface"),
            false => Relation::Unrelated,
        };
    }
    if declared.interface != imported.interface {
        Relation::Clash("same address, another interface")
    } else if declared.address.prefix_len() != imported.address.prefix_len() {
        Relation::Clash("same address, another prefix length")
    } else if imported.label.is_some() && declared.label != imported.label {
        Relation::Clash("same address, another label")
    } else if imported.zone.is_some() && declared.zone != imported.zone {
        Relation::Clash("same address, another zone")
    } else if !imported.routes.iter().all(|r| declared.routes.contains(r)) {
        Relation::Clash("same address, routes not listed for it")
    } else {
        Relation::Duplicate
    }
}

/// `10.0.0.1/24 on eth1 (label "eth1:0", zone "lab", routes ...)`.
fn describe(alias: &AliasSpec) -> String {
    let mut text = format!("{} on {}", alias.address, alias.interface);
    let mut extra = Vec::new();
    if let Some(label) = &alias.label {
        extra.push(format!("label {}", shown(label)));
    }
    if let Some(zone) = &alias.zone {
        extra.push(format!("zone {}", shown(zone)));
    }
    if !alias.routes.is_empty() {
        let routes: Vec<String> = alias.routes.iter().map(ToString::to_string).collect();
        extra.push(format!("routes {}", routes.join(", ")));
    }
    if !extra.is_empty() {
        let _ = write!(text, " ({})", extra.join(", "));
    }
    text
}

impl ConfigFile {
    /// Adds the imported aliases the file does not declare yet and returns
    /// how many that was; duplicates (of the file's entries or of each
    /// other, see [`Relation::Duplicate`]) are skipped. All or nothing: an entry that clashes with
    /// another (same address, other prefix, label, interface, zone or
    /// routes; or a label another address has on that interface) is an
    /// error naming both, and `self` is unchanged.
    pub fn merge_aliases(&mut self, aliases: &[AliasSpec]) -> Result<usize, ConfigError> {
        let text = self.text.as_str();
        let doc = ImDocument::parse(text).map_err(|e| syntax_error(&self.path, text, &e))?;
        let line = |alias: &AliasSpec| {
            find_alias(&doc, &alias.interface, alias.ip())
                .and_then(Table::span)
                .map(|span| line_col(text, span.start).0)
        };
        let mut new: Vec<AliasSpec> = Vec::new();
        let mut clashes = Vec::new();
        for alias in aliases {
            let (mut duplicate, before) = (false, clashes.len());
            // The line is looked up only for a clash: finding it scans the file.
            let declared = self.config.aliases.iter().map(|a| (a, true));
            for (old, in_file) in declared.chain(new.iter().map(|a| (a, false))) {
                match relation(old, alias) {
                    Relation::Unrelated => {}
                    Relation::Duplicate => duplicate = true,
                    Relation::Clash(why) => clashes.push(format!(
                        "imported {} clashes with {} ({}): {why}",
                        describe(alias),
                        match in_file.then(|| line(old)).flatten() {
                            Some(n) => format!("line {n}"),
                            None => "another imported entry".into(),
                        },
                        describe(old)
                    )),
                }
            }
            if !duplicate && clashes.len() == before {
                new.push(alias.clone());
            }
        }
        if !clashes.is_empty() {
            return Err(ConfigError::Clash {
                path: self.path.clone(),
                message: format!(
                    "{}; make the file and the imported entries agree (edit or remove one of each pair), then import again",
                    clashes.join("; ")
                ),
            });
        }
        if !new.is_empty() {
            *self = self.with_appended(&new)?;
        }
        Ok(new.len())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;
    use crate::core::{fixtures::AliasBuilder, model::AliasSpec};

    fn labelled(interface: &str, address: &str, label: &str) -> AliasSpec {
        alias(interface, address).label(label)
    }

    fn clash_message(file: &mut ConfigFile, imported: &[AliasSpec]) -> String {
        let before = file.render();
        let err = file.merge_aliases(imported).unwrap_err();
        assert_eq!(file.render(), before, "a clash must change nothing");
        match err {
            ConfigError::Clash { .. } => err.to_string(),
            other => panic!("expected a clash, got {other:?}"),
        }
    }

    #[test]
    fn clashes_are_errors_naming_both_entries_and_nothing_is_merged() {
        // EXAMPLE: 192.168.0.1/24 on eth1 label eth1:0 at line 8.
        let mut file = parse(EXAMPLE).unwrap();
        let fine = alias("eth2", "10.70.0.1/16");
        for (imported, why) in [
            (
                alias("eth1", "192.168.0.1/16"),
                "same address, another prefix length",
            ),
            (
                alias("eth2", "192.168.0.1/24"),
                "same address, another interface",
            ),
            (
                labelled("eth1", "192.168.0.1/24", "eth1:7"),
                "same address, another label",
            ),
            (
                labelled("eth1", "192.168.0.9/24", "eth1:0"),
                "same label on the same interface",
            ),
        ] {
            let message = clash_message(&mut file, &[fine.clone(), imported.clone()]);
            let head = format!(
                "test.toml: nothing was imported: imported {} on {}",
                imported.address, imported.interface
            );
            assert!(message.starts_with(&head), "{message}");
            assert!(
                message.contains(&format!(
                    " clashes with line 8 (192.168.0.1/24 on eth1 (label \"eth1:0\", zone \"lab\", routes 10.9.0.0/16@192.168.0.254, 198.51.100.0/24)): {why}; make the file and the imported entries agree"
                )),
                "{message}"
            );
        }
        // Routes the file does not list, a zone it does not give.
        let mut routed = alias("eth1", "2001:db8::1/64");
        routed.routes = vec!["2001:db8:9::/48".parse().unwrap()];
        let message = clash_message(&mut file, &[routed]);
        assert!(message.contains("clashes with line 15 (2001:db8::1/64 on eth1): same address, routes not listed for it"), "{message}");
        let mut zoned = alias("eth1", "2001:db8::1/64");
        zoned.zone = Some("dmz".into());
        assert!(clash_message(&mut file, &[zoned]).contains("another zone"));

        // Two imported entries that contradict each other; every clash is named.
        let message = clash_message(
            &mut file,
            &[
                alias("eth3", "10.80.0.1/16"),
                alias("eth3", "10.80.0.1/24"),
                alias("eth1", "192.168.0.1/25"),
            ],
        );
        assert!(message.contains("imported 10.80.0.1/24 on eth3 clashes with another imported entry (10.80.0.1/16 on eth3): same address, another prefix length"), "{message}");
        assert!(
            message.contains("imported 192.168.0.1/25 on eth1 clashes with line 8"),
            "{message}"
        );
        assert_eq!(file.config().aliases.len(), 2);
    }

    #[test]
    fn duplicates_are_skipped_and_the_rest_merged() {
        let mut file = parse(EXAMPLE).unwrap();
        let mut exact = labelled("eth1", "192.168.0.1/24", "eth1:0");
        exact.zone = Some("lab".into());
        exact.routes = vec!["198.51.100.0/24".parse().unwrap()];
        let imported = [
            exact,
            // Less than the file says (no label, zone or routes): loses nothing.
            alias("eth1", "192.168.0.1/24"),
            alias("eth1", "2001:db8::1/64"),
            alias("eth2", "10.70.0.1/16"),
            alias("eth2", "10.70.0.1/16"),
        ];
        let before = file.render();
        assert_eq!(file.merge_aliases(&imported).unwrap(), 1);
        let block = "[[alias]]\ninterface = \"eth2\"\naddress = \"10.70.0.1/16\"\n";
        assert_eq!(
            file.render()
                .replacen(block, "", 1)
                .replace("\n\n\n", "\n\n"),
            before
        );
        assert_eq!(file.config().aliases.len(), 3);
        let once = file.render();
        assert_eq!(file.merge_aliases(&imported).unwrap(), 0);
        assert_eq!(file.render(), once);
    }
}
