//! The stanzas of `/etc/network/interfaces` as ifupdown's reader
//! (config.c) groups them: `iface` stanzas with their options, templates
//! they inherit, and the stanza keywords that configure no address.

use std::collections::HashSet;

use super::{hook::is_hook, hook::StanzaOption, lines::Ctx, sources::Item, ImportError};

/// One `iface` stanza with its option lines, still unparsed; those of the
/// stanza it inherits come first.
pub(super) struct Stanza {
    pub(super) line: usize,
    pub(super) name: String,
    pub(super) family: Option<String>,
    pub(super) method: Option<String>,
    pub(super) options: Vec<StanzaOption>,
    /// How many of the first `options` come from the inherited stanza.
    inherited: usize,
    /// The stanza it inherits from (`inherits NAME`), by index.
    parent: Option<usize>,
}

#[derive(Default)]
pub(super) struct Stanzas {
    pub(super) list: Vec<Stanza>,
    /// The names `auto` and `allow-*` lines bring up.
    brought_up: HashSet<String>,
}

impl Stanzas {
    /// The first stanza inheriting stanza `index` when nothing brings
    /// `index` up itself: it is then only a template, as interfaces(5)'s
    /// INTERFACE TEMPLATES uses one.
    pub(super) fn template_user(&self, index: usize) -> Option<&Stanza> {
        if self.brought_up.contains(&self.list[index].name) {
            return None;
        }
        self.list.iter().find(|stanza| stanza.parent == Some(index))
    }
}

/// A `mapping` stanza: its patterns and the logical names of its `map` lines.
struct Mapping {
    line: usize,
    patterns: String,
    logical: Vec<String>,
}

enum Current {
    Nothing,
    Iface,
    Mapping,
}

/// Groups the option lines under their stanza. Options outside an `iface`
/// or `mapping` stanza are what ifupdown itself rejects as misplaced.
pub(super) fn collect_stanzas(
    ctx: &Ctx<'_>,
    items: &[Item],
    warnings: &mut Vec<String>,
) -> Result<Stanzas, ImportError> {
    let mut out = Stanzas::default();
    let mut mappings: Vec<Mapping> = Vec::new();
    let mut current = Current::Nothing;
    for item in items {
        let (line, content) = match item {
            Item::Break => {
                current = Current::Nothing;
                continue;
            }
            Item::Line(line, content) => (*line, content.as_str()),
        };
        let (word, rest) = content
            .split_once(char::is_whitespace)
            .map_or((content, ""), |(word, rest)| (word, rest.trim()));
        let brings_up = word == "auto" || (word.starts_with("allow-") && word.len() > 6);
        match word {
            "iface" => {
                let stanza = iface_stanza(ctx, &out.list, line, content, rest, warnings)?;
                out.list.push(stanza);
                current = Current::Iface;
            }
            "mapping" => {
                mappings.push(Mapping {
                    line,
                    patterns: rest.to_string(),
                    logical: Vec::new(),
                });
                current = Current::Mapping;
            }
            // Alone inside an iface stanza these mark that stanza and keep it
            // open; with names they end it (config.c).
            _ if brings_up || word == "no-auto-down" || word == "no-scripts" => {
                match (&current, out.list.last()) {
                    (Current::Iface, Some(stanza)) if rest.is_empty() => {
                        if brings_up {
                            out.brought_up.insert(stanza.name.clone());
                        }
                    }
                    _ => {
                        if brings_up {
                            out.brought_up
                                .extend(rest.split_whitespace().map(str::to_string));
                        }
                        current = Current::Nothing;
                    }
                }
            }
            "rename" => current = Current::Nothing,
            _ => match current {
                Current::Iface => {
                    if let Some(stanza) = out.list.last_mut() {
                        add_option(ctx, stanza, line, word, rest, warnings);
                    }
                }
                // `script` and `map` lines say nothing about addresses.
                Current::Mapping => {
                    if let (Some(mapping), "map") = (mappings.last_mut(), word) {
                        mapping
                            .logical
                            .extend(rest.split_whitespace().last().map(str::to_string));
                    }
                }
                Current::Nothing => {
                    return Err(ctx.err(
                        line,
                        format!("option `{word}` outside a stanza; options belong after an `iface NAME inet static` line"),
                    ))
                }
            },
        }
    }
    warnings.extend(mappings.iter().map(mapping_warning));
    Ok(out)
}

/// A mapping says at ifup time which stanza configures an interface.
fn mapping_warning(mapping: &Mapping) -> String {
    let logical = if mapping.logical.is_empty() {
        "none named by `map` lines".to_string()
    } else {
        mapping.logical.join(", ")
    };
    format!(
        "line {}: mapping {} skipped: its script picks the logical interface when ifup runs, which alias-mgr does not follow; the stanzas of the logical interfaces it maps to ({logical}) are imported as interfaces of those names, so check their interface =",
        mapping.line, mapping.patterns
    )
}

/// An option line of an iface stanza. Options other than hook commands are
/// single-valued, so one the stanza inherited is replaced.
fn add_option(
    ctx: &Ctx<'_>,
    stanza: &mut Stanza,
    line: usize,
    key: &str,
    value: &str,
    warnings: &mut Vec<String>,
) {
    let inherited = stanza.options[..stanza.inherited]
        .iter()
        .position(|option| option.key == key);
    if let Some(index) = inherited.filter(|_| !is_hook(key)) {
        let old = stanza.options.remove(index);
        stanza.inherited -= 1;
        warnings.push(format!(
            "line {line}: {}: `{key} {value}` replaces `{key} {}` inherited from {}; ifupdown itself would join both into one value (for `address`, configuring the inherited one), so check which the host has",
            stanza.name,
            old.value,
            ctx.at(old.line)
        ));
    }
    stanza.options.push(StanzaOption {
        line,
        key: key.to_string(),
        value: value.to_string(),
    });
}

/// `iface NAME FAMILY METHOD`, where FAMILY and METHOD may come from an
/// earlier stanza: `iface NAME [FAMILY [METHOD]] inherits OTHER`.
fn iface_stanza(
    ctx: &Ctx<'_>,
    earlier: &[Stanza],
    line: usize,
    content: &str,
    rest: &str,
    warnings: &mut Vec<String>,
) -> Result<Stanza, ImportError> {
    let malformed = || {
        ctx.err(
            line,
            format!("malformed stanza `{content}`; expected `iface NAME FAMILY METHOD` such as `iface eth1:0 inet static`, or `iface NAME inherits OTHER`"),
        )
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (name, tail) = words.split_first().ok_or_else(malformed)?;
    // ifupdown looks for the keyword where FAMILY, METHOD or an extra word is.
    let keyword = tail.iter().take(3).position(|word| *word == "inherits");
    let (fixed, inherits) = match keyword {
        Some(at) => (&tail[..at], Some(&tail[at + 1..])),
        None => (tail, None),
    };
    let (family, method) = match fixed {
        [] => (None, None),
        [family] if inherits.is_some() => (Some(family.to_string()), None),
        [family, method, extra @ ..] => {
            if let Some(extra) = extra.first() {
                warnings.push(format!(
                    "line {line}: `{extra}` after the method ignored, as ifupdown ignores it"
                ));
            }
            (Some(family.to_string()), Some(method.to_string()))
        }
        [_] => return Err(malformed()),
    };
    let mut stanza = Stanza {
        line,
        name: name.to_string(),
        family,
        method,
        options: Vec::new(),
        inherited: 0,
        parent: None,
    };
    let Some(inherits) = inherits else {
        return Ok(stanza);
    };
    let Some(other) = inherits.first() else {
        return Err(ctx.err(
            line,
            "`inherits` needs the name of the stanza to inherit, such as `iface eth1 inet static inherits base`",
        ));
    };
    // ifupdown takes the first stanza of that name (and family, if given)
    // defined so far.
    let parent = earlier.iter().position(|candidate| {
        candidate.name == *other && (stanza.family.is_none() || candidate.family == stanza.family)
    });
    let Some(parent) = parent else {
        let family = stanza.family.as_deref().unwrap_or("FAMILY");
        return Err(ctx.err(
            line,
            format!("`inherits {other}`: no `iface {other} {family} ...` stanza before this line; ifupdown needs the inherited stanza defined first"),
        ));
    };
    let from = &earlier[parent];
    stanza.family = stanza.family.or_else(|| from.family.clone());
    stanza.method = stanza.method.or_else(|| from.method.clone());
    stanza.options = from.options.clone();
    stanza.inherited = stanza.options.len();
    stanza.parent = Some(parent);
    Ok(stanza)
}

#[cfg(test)]
mod tests {
    use crate::{core::model::AliasSpec, import::test_util::*};

    #[test]
    fn mapping_configures_nothing_and_names_its_logical_interfaces() {
        let imported = ifupdown(
            "mapping eth0\n  script /usr/local/sbin/map-scheme\n  map HOME eth0-home\n  map WORK eth0-work\n\
             iface eth0-home inet static\n address 192.168.1.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n",
        );
        assert_eq!(
            imported.aliases,
            vec![spec("eth1", "192.168.0.1/24", Some("eth1:0"))]
        );
        assert_eq!(imported.warnings.len(), 2, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with(
            "interfaces:1: mapping eth0 skipped: its script picks the logical interface"
        ));
        assert!(imported.warnings[0].contains("(eth0-home, eth0-work)"));
        // The `script` and `map` lines are not read as an interface's options.
        assert!(imported.warnings[1]
            .starts_with("interfaces:6: eth0-home 192.168.1.1/24 is the interface's primary"));
    }

    #[test]
    fn inherits_applies_the_template_unless_overridden() {
        let imported = ifupdown(
            "iface base inet static\n netmask 255.255.0.0\n up ip route add 10.9.0.0/16 via 192.168.0.254\n\
             iface eth1:0 inet static inherits base\n address 192.168.0.1\n\
             iface eth1:1 inherits base\n address 192.168.7.1\n netmask 24\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                AliasSpec {
                    routes: vec![route("10.9.0.0/16@192.168.0.254")],
                    ..spec("eth1", "192.168.0.1/16", Some("eth1:0"))
                },
                // Its hook commands run for each stanza inheriting them, but
                // the route can go with one alias only.
                spec("eth1", "192.168.7.1/24", Some("eth1:1")),
            ]
        );
        let w = &imported.warnings;
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(w[1], "interfaces:7: route 10.9.0.0/16@192.168.0.254 not imported with 192.168.7.1/24; it stays with 192.168.0.1/16 (interfaces:5), as the kernel holds one route per destination");
        assert!(
            w[0].starts_with(
                "interfaces:1: base is a template (eth1:0 inherits it at interfaces:4)"
            ),
            "{w:?}"
        );
        assert!(w[2].starts_with("interfaces:8: eth1:1: `netmask 24` replaces `netmask 255.255.0.0` inherited from interfaces:2"), "{w:?}");
    }

    #[test]
    fn an_inherited_stanza_that_is_brought_up_is_imported_itself() {
        let imported = ifupdown(
            "auto eth1\niface eth1 inet static\n address 192.168.1.1/24\n\
             iface eth1 inet static inherits eth1\n address 192.168.1.2/24\n",
        );
        // The second stanza's own address replaces the inherited one.
        assert_eq!(imported.aliases, vec![spec("eth1", "192.168.1.2/24", None)]);
    }

    #[test]
    fn inherits_needs_an_earlier_stanza() {
        let err = ifupdown_err("iface eth1:0 inet static inherits base\niface base inet static\n");
        assert_eq!(err.line, 1);
        assert!(
            err.message
                .contains("no `iface base inet ...` stanza before this line"),
            "{err}"
        );
        // Another family is another stanza.
        let err = ifupdown_err("iface base inet6 static\niface eth1:0 inet static inherits base\n");
        assert_eq!(err.line, 2);
        let err = ifupdown_err("iface eth1:0 inet static inherits\n");
        assert!(err.message.contains("needs the name"), "{err}");
    }

    #[test]
    fn stanza_keywords_are_not_errors() {
        let imported = ifupdown(
            "auto lo eth1\nallow-hotplug eth1\nallow-auto eth1\nno-auto-down eth1\nno-scripts eth1\nrename eth5=eth1\n\
             iface eth1:0 inet static\n auto\n allow-hotplug\n no-auto-down\n no-scripts\n address 192.168.0.1/24\n\
             iface eth1:1 inet static extra\n address 192.168.0.2/24\n",
        );
        assert_eq!(imported.aliases.len(), 2);
        assert_eq!(
            imported.warnings,
            ["interfaces:13: `extra` after the method ignored, as ifupdown ignores it"]
        );
        // With names they end the stanza, as in ifupdown.
        let err = ifupdown_err("iface eth1:0 inet static\nauto eth1:0\n address 192.168.0.1/24\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("outside a stanza"), "{err}");
    }

    #[test]
    fn netmask_beside_a_prefix_length() {
        // Agreeing: as if one were given.
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 10.0.0.1/24\n netmask 255.255.255.0\n\
             iface eth1:6 inet6 static\n address 2001:db8::5/64\n netmask 64\n\
             iface eth2 inet static\n address 10.2.0.1/16\n netmask 255.255.0.0\n",
        );
        assert_eq!(imported.aliases[0].address, net("10.0.0.1/24"));
        assert_eq!(imported.aliases[1].address, net("2001:db8::5/64"));
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        // Contradicting: an error naming both lines, in alias and primary alike.
        for text in [
            "iface eth1:0 inet static\n address 10.0.0.1/24\n\n netmask 255.255.0.0\n",
            "iface eth1 inet static\n address 10.0.0.1/24\n\n netmask 16\n",
        ] {
            let err = ifupdown_err(text);
            assert_eq!(err.line, 4, "{err}");
            assert_eq!(
                err.message,
                "netmask gives /16 but the address on interfaces:2 gives /24; make them agree (ifupdown would use the netmask)"
            );
        }
    }

    #[test]
    fn each_stanza_of_an_interface_adds_an_address() {
        // The first of a family is the primary; later ones add addresses,
        // as `ip addr add` does for each; inet and inet6 count apart.
        let imported = ifupdown(
            "iface eth1 inet6 static\n address 2001:db8::1/64\n\
             iface eth1 inet static\n address 192.168.1.1/24\n\
             iface eth1 inet static\n address 192.168.1.2/24\n\
             iface eth1 inet static\n address 10.1.0.1/16\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                spec("eth1", "192.168.1.2/24", None),
                spec("eth1", "10.1.0.1/16", None)
            ]
        );
        assert_eq!(imported.warnings.len(), 2, "{:?}", imported.warnings);
    }
}
