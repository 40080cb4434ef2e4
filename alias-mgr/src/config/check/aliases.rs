//! `[[alias]]` tables: interface, address, label, zone and routes, then
//! addresses and labels declared twice.

use std::{collections::HashMap, net::IpAddr};

use ipnet::IpNet;
use toml_edit::{Item, Table};

use super::{Checker, Span};
use crate::config::{
    error::shown,
    reference::{key_names, Section},
    ConfigError,
};
use crate::core::{
    desired::ARP_PROBE_MS,
    model::{
        check_alias_address, classful_prefix, validate_label, validate_label_for, AliasSpec,
        RouteSpec,
    },
    names::{validate_interface, validate_zone_name},
    parse::{self, AddressError},
    wire::Mac,
    zones::ZoneSpec,
};

/// Where an alias's parts are, for errors found after parsing all of them.
pub(super) struct AliasAt {
    pub(super) address: Span,
    pub(super) label: Span,
    /// One per route, in order.
    pub(super) routes: Vec<Span>,
}

/// The keys an `[[alias]]` may have: looked up once, not per alias.
static ALIAS_KEYS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| key_names(Section::Alias));

impl Checker<'_> {
    pub(super) fn aliases(
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
        let mut aliases = Vec::with_capacity(tables.len());
        let mut at = Vec::with_capacity(tables.len());
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
        self.check_keys(table, &ALIAS_KEYS, "in [[alias]]")?;
        let Some((interface, span)) = self.string(table, "interface", "\"eth1\"")? else {
            return Err(self.error(
                &table.span(),
                "[[alias]] has no interface; add interface = \"eth1\" (the device name)",
            ));
        };
        // A MAC names the NIC whatever it is called (udev, a rename).
        let by_mac = Mac::parse(interface).is_some();
        if !by_mac {
            validate_interface(interface).map_err(|e| self.error(&span, e.to_string()))?;
        }
        let Some((address, address_span)) = self.string(table, "address", "\"192.168.0.1/24\"")?
        else {
            return Err(self.error(
                &table.span(),
                format!("[[alias]] on {interface} has no address; add address = \"192.168.0.1/24\" (address and prefix length)"),
            ));
        };
        let address = parse_alias_address(address).map_err(|m| self.error(&address_span, m))?;
        check_alias_address(&address)
            .map_err(|refused| self.error(&address_span, refused.to_string()))?;
        let ip = address.addr();
        let label = self.string(table, "label", "\"eth1:0\"")?;
        if let Some((label, span)) = &label {
            let checked = if by_mac {
                validate_label(label)
            } else {
                validate_label_for(label, interface)
            };
            checked.map_err(|e| self.error(span, e.to_string()))?;
        }
        let zone = self.string(table, "zone", "\"lab\"")?;
        if let Some((zone, span)) = &zone {
            if !zones.iter().any(|z| z.name == *zone) {
                // Checked as a name first, so the table named is short.
                let message = match validate_zone_name(zone) {
                    Err(why) => format!("alias {ip}: {why}"),
                    Ok(()) => format!("alias {ip} names zone {} but no [zone.{zone}] table exists; add one or drop the zone", shown(zone)),
                };
                return Err(self.error(span, message));
            }
        }
        let (routes, route_spans) = self.alias_routes(table, address)?;
        let arp_probe_ms = self.integer(table, "arp_probe_ms", ARP_PROBE_MS, "ms")?;
        let alias = AliasSpec {
            interface: interface.to_string(),
            address,
            label: label.as_ref().map(|(l, _)| l.to_string()),
            zone: zone.as_ref().map(|(z, _)| z.to_string()),
            routes,
            arp_probe_ms,
        };
        let label_span = label.and_then(|(_, span)| span);
        Ok((
            alias,
            AliasAt {
                address: address_span,
                label: label_span,
                routes: route_spans,
            },
        ))
    }

    /// The alias's `routes`: each of its IP version, not via the alias
    /// itself, listed once.
    fn alias_routes(
        &self,
        table: &Table,
        address: IpNet,
    ) -> Result<(Vec<RouteSpec>, Vec<Span>), ConfigError> {
        let ip = address.addr();
        let mut routes: Vec<RouteSpec> = Vec::new();
        let mut spans = Vec::new();
        for (text, span) in self.strings(table, "routes", "[\"10.9.0.0/16@192.168.0.254\"]")? {
            let route: RouteSpec = text.parse().map_err(|m: String| self.error(&span, m))?;
            let quoted = shown(text);
            if route.destination.addr().is_ipv4() != ip.is_ipv4() {
                let message = match route.gateway {
                    Some(gateway) => format!(
                        "route {quoted}: gateway {gateway} is {} but alias {ip} is {}; use a gateway of the alias's IP version",
                        family(gateway),
                        family(ip)
                    ),
                    None => format!(
                        "route {quoted} is {} but alias {ip} is {}; list it under an alias of the same IP version",
                        family(route.destination.addr()),
                        family(ip)
                    ),
                };
                return Err(self.error(&span, message));
            }
            if route.gateway == Some(ip) {
                return Err(self.error(
                    &span,
                    format!("route {quoted} goes via {ip}, the alias itself; give a router on {} as the gateway, or drop @{ip} for a route straight onto the link", address.trunc()),
                ));
            }
            if routes.contains(&route) {
                return Err(self.error(
                    &span,
                    format!("route {route} is listed twice for alias {ip}; drop one"),
                ));
            }
            routes.push(route);
            spans.push(span);
        }
        Ok((routes, spans))
    }

    pub(super) fn check_duplicates(
        &self,
        aliases: &[AliasSpec],
        at: &[AliasAt],
    ) -> Result<(), ConfigError> {
        self.check_shared_routes(aliases, at)?;
        let mut ips: HashMap<IpAddr, usize> = HashMap::with_capacity(aliases.len());
        let mut labels: HashMap<(&str, &str), usize> = HashMap::new();
        for (i, alias) in aliases.iter().enumerate() {
            if let Some(&first) = ips.get(&alias.ip()) {
                return Err(self.error(
                    &at[i].address,
                    format!(
                        "address {} is already declared at {} (on {}); an address can be declared only once: remove one of them",
                        alias.ip(),
                        self.place(&at[first].address),
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
                            "label {} is already used on {} by {} at {}; labels must be unique per interface: pick another one",
                            shown(label),
                            alias.interface,
                            aliases[first].ip(),
                            self.place(&at[first].label)
                        ),
                    ));
                }
                labels.insert((alias.interface.as_str(), label.as_str()), i);
            }
        }
        Ok(())
    }
}

impl Checker<'_> {
    /// The kernel keeps one route per destination (in the main table): two
    /// aliases declaring one would take it from each other at every run,
    /// so a destination belongs to one alias.
    fn check_shared_routes(
        &self,
        aliases: &[AliasSpec],
        at: &[AliasAt],
    ) -> Result<(), ConfigError> {
        let mut owners: HashMap<IpNet, (usize, usize)> = HashMap::new();
        for (i, alias) in aliases.iter().enumerate() {
            for (r, route) in alias.routes.iter().enumerate() {
                let Some(&(first, first_route)) = owners.get(&route.destination) else {
                    owners.insert(route.destination, (i, r));
                    continue;
                };
                let earlier = &aliases[first];
                if first == i {
                    return Err(self.error(
                        &at[i].routes[r],
                        format!(
                            "route {} is listed twice for alias {} (as {} and {}); the kernel holds one route per destination: keep one",
                            route.destination, alias.address, earlier.routes[first_route], route
                        ),
                    ));
                }
                return Err(self.error(
                    &at[i].routes[r],
                    format!(
                        "route {} of {} is also declared by {} on {} at {} (as {}); the kernel holds one route per destination, so it would move between them at every run: keep it under one alias",
                        route.destination,
                        alias.address,
                        earlier.address,
                        earlier.interface,
                        self.place(&at[first].routes[first_route]),
                        earlier.routes[first_route],
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// An alias address: host bits are fine, the prefix length is required
/// because it decides the subnet route the kernel adds. IPv4 takes a
/// contiguous dotted netmask too (`10.1.1.3/255.255.0.0` is 10.1.1.3/16).
fn parse_alias_address(text: &str) -> Result<IpNet, String> {
    // Built only for a message: this runs for every alias.
    let quoted = || shown(text);
    let (ip, prefix) = parse::parse_address(text).map_err(|err| match err {
        AddressError::NotAnAddress(message) => format!(
            "address {message} with a prefix length such as 192.168.0.1/24 or 2001:db8::1/64"
        ),
        AddressError::Prefix(message) => format!("address {}: {message}", quoted()),
    })?;
    let Some(prefix) = prefix else {
        return Err(match classful_prefix(ip) {
            Some(prefix) => {
                format!(
                    "address {} has no prefix length; write it as {ip}/{prefix}",
                    quoted()
                )
            }
            None => format!(
                "address {} has no prefix length; add one, such as {ip}/32",
                quoted()
            ),
        });
    };
    IpNet::new(ip, prefix).map_err(|e| format!("address {}: {e}", quoted()))
}

#[cfg(test)]
mod tests {
    use crate::config::test_util::*;

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
    fn a_route_declared_by_two_aliases_names_both() {
        let text = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\nroutes = [\"192.0.2.0/24@10.0.0.254\"]\n\n\
                    [[alias]]\ninterface = \"eth2\"\naddress = \"172.16.0.1/16\"\nroutes = [\"198.51.100.0/24\", \"192.0.2.0/24@172.16.0.254\"]\n";
        let (line, column, message) = invalid(text);
        assert_eq!((line, column), (9, 30));
        assert!(
            message.contains("route 192.0.2.0/24 of 172.16.0.1/16 is also declared by 10.0.0.1/8 on eth1 at line 4 (as 192.0.2.0/24@10.0.0.254)"),
            "{message}"
        );
        assert!(message.contains("keep it under one alias"), "{message}");
        // One alias naming one destination twice is told so, not "also
        // declared by" itself.
        let twice = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\nroutes = [\"192.0.2.0/24@10.0.0.254\", \"192.0.2.0/24@10.0.0.253\"]\n";
        let (_, _, message) = invalid(twice);
        assert!(
            message.contains("is listed twice for alias 10.0.0.1/8"),
            "{message}"
        );
        // Different destinations, or one alias's own list, are fine.
        let ok = "[[alias]]\ninterface = \"eth1\"\naddress = \"10.0.0.1/8\"\nroutes = [\"192.0.2.0/24@10.0.0.254\"]\n\n\
                  [[alias]]\ninterface = \"eth2\"\naddress = \"172.16.0.1/16\"\nroutes = [\"192.0.2.0/25@172.16.0.254\"]\n";
        assert!(ConfigFile::parse(Path::new("t.toml"), ok).is_ok());
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
}
