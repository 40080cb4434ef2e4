//! `[settings]` and `[zone.NAME]` tables, and the rule that a subnet
//! belongs to one zone only.

use std::{collections::BTreeMap, net::IpAddr};

use ipnet::IpNet;
use toml_edit::Item;

use super::{aliases::AliasAt, key_span, value_span, Checker, Span};
use crate::config::{
    error::shown,
    reference::{key_names, Section},
    ConfigError,
};
use crate::core::{
    desired::{Settings, ARP_PROBE_MS},
    model::AliasSpec,
    names::validate_zone_name,
    parse::max_prefix,
    zones::{Service, Verdict, ZoneSpec},
};

impl Checker<'_> {
    pub(super) fn settings(&self, item: &Item, span: Span) -> Result<Settings, ConfigError> {
        let Some(table) = item.as_table_like() else {
            return Err(self.error(
                &span,
                format!(
                    "settings must be a table ([settings]), found {}",
                    item.type_name()
                ),
            ));
        };
        self.check_keys(table, &key_names(Section::Settings), "in [settings]")?;
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
        settings.count_on_every_interface = flag(
            "count_on_every_interface",
            settings.count_on_every_interface,
        )?;
        let number = |key, range, unit, default| -> Result<u32, ConfigError> {
            Ok(self.integer(table, key, range, unit)?.unwrap_or(default))
        };
        settings.arp_probe_ms = number("arp_probe_ms", ARP_PROBE_MS, "ms", settings.arp_probe_ms)?;
        settings.announce_count = number(
            "announce_count",
            0..=100,
            "announcements",
            settings.announce_count,
        )?;
        settings.announce_interval_ms = number(
            "announce_interval_ms",
            10..=60_000,
            "ms",
            settings.announce_interval_ms,
        )?;
        settings.announce_refresh_s = number(
            "announce_refresh_s",
            0..=86_400,
            "s",
            settings.announce_refresh_s,
        )?;
        Ok(settings)
    }

    /// The zones and, for each, where its extra subnets are written.
    pub(super) fn zones(
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
            validate_zone_name(name)
                .map_err(|e| self.error(&key_span(zones, name), e.to_string()))?;
            let quoted = shown(name);
            let Some(table) = item.as_table_like() else {
                return Err(self.error(
                    &value_span(zones, name),
                    format!(
                        "zone {quoted} must be a table ([zone.{name}]), found {}",
                        item.type_name()
                    ),
                ));
            };
            self.check_keys(
                table,
                &key_names(Section::Zone),
                &format!("in [zone.{name}]"),
            )?;
            let mut subnets = Vec::new();
            let mut subnet_spans = Vec::new();
            for (text, span) in self.strings(table, "subnets", "[\"10.50.0.0/16\"]")? {
                subnets.push(
                    parse_subnet(text)
                        .map_err(|m| self.error(&span, format!("zone {quoted}: {m}")))?,
                );
                subnet_spans.push(span);
            }
            let input = match self.string(table, "input", "\"drop\"")? {
                None => Verdict::default(),
                Some((text, span)) => text
                    .parse()
                    .map_err(|m| self.error(&span, format!("input of zone {quoted}: {m}")))?,
            };
            let allow = self
                .strings(table, "allow", "[\"tcp/22\"]")?
                .into_iter()
                .map(|(text, span)| {
                    text.parse()
                        .map_err(|m| self.error(&span, format!("allow of zone {quoted}: {m}")))
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
                format!(
                    "forward of zone {} must be a table such as {{ dmz = \"accept\" }}, found {}",
                    shown(zone),
                    item.type_name()
                ),
            ));
        };
        let mut forward = BTreeMap::new();
        let zone = shown(zone);
        for (target, _) in table.iter() {
            if !names.contains(&target) {
                // Checked as a name first, so the table named is short.
                let message = match validate_zone_name(target) {
                    Err(why) => format!("forward of zone {zone}: {why}"),
                    Ok(()) => format!(
                        "zone {zone} forwards to zone {} but no [zone.{target}] table exists; add one or drop the entry",
                        shown(target)
                    ),
                };
                return Err(self.error(&key_span(table, target), message));
            }
            let (text, span) = self
                .string(table, target, "\"accept\"")?
                .unwrap_or_default();
            let verdict = text.parse().map_err(|m| {
                self.error(
                    &span,
                    format!("forward from zone {zone} to {}: {m}", shown(target)),
                )
            })?;
            forward.insert(target.to_string(), verdict);
        }
        Ok(forward)
    }

    /// A subnet in two zones would make the zone of its traffic ambiguous.
    pub(super) fn check_overlaps(
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
                        "zone {} {} overlaps zone {} {} at {}; a subnet can belong to one zone only: change one of them or put both in the same zone",
                        shown(second.zone),
                        second.what,
                        shown(first.zone),
                        first.what,
                        self.place(&first.span)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A zone subnet: a network, so host bits must be zero.
fn parse_subnet(text: &str) -> Result<IpNet, String> {
    let quoted = shown(text);
    match text.parse::<IpNet>() {
        Ok(net) if net.addr() != net.network() => Err(format!(
            "subnet {quoted} has host bits set; write the network {}",
            net.trunc()
        )),
        Ok(net) => Ok(net),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => Err(format!(
                "subnet {quoted} has no prefix length; write a CIDR such as {ip}/{}",
                max_prefix(ip)
            )),
            Err(_) => Err(format!(
                "subnet {quoted} is not a CIDR such as 10.50.0.0/16"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

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
}
