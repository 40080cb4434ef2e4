//! The aliases of one import as they are found: each checked against the
//! others (duplicate addresses and labels), with the shared alias rules and
//! the warnings put back in input line order.

use std::{
    collections::{hash_map::Entry, HashMap},
    net::IpAddr,
};

use ipnet::IpNet;

use super::{lines::Ctx, ImportError};
use crate::core::{
    model::{check_alias_address, classful_prefix, AliasSpec, RouteSpec},
    parse::{self, AddressError},
};

/// `ADDRESS`, `ADDRESS/LEN` or `ADDRESS/NETMASK` as the formats write it,
/// host bits kept; the shared parser's message, said of the whole text.
pub(super) fn parse_address(text: &str) -> Result<(IpAddr, Option<u8>), String> {
    parse::parse_address(text).map_err(|err| match err {
        AddressError::NotAnAddress(message) => message,
        AddressError::Prefix(message) => {
            format!("{text:?} has an invalid prefix length: {message}")
        }
    })
}

/// What ifconfig would have used for an address without a netmask.
pub(super) fn default_prefix(ip: IpAddr) -> Result<u8, String> {
    classful_prefix(ip).ok_or_else(|| {
        format!("{ip} has no netmask and no classful default (class D/E); add a netmask")
    })
}

/// Records a prefix length from one more source on the line, refusing a
/// contradiction rather than picking one silently.
pub(super) fn set_prefix(slot: &mut Option<u8>, value: u8, source: &str) -> Result<(), String> {
    match *slot {
        Some(old) if old != value => Err(format!(
            "{source} gives /{value} but the line already gives /{old}; make them agree"
        )),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn duplicate_address(ctx: &Ctx<'_>, ip: IpAddr, first: usize, line: usize) -> String {
    format!(
        "address {ip} is duplicated: it appears on {} and {}; each address may appear once",
        ctx.at(first),
        ctx.at(line)
    )
}

/// The aliases of one import as they come, checked against each other the
/// way the config file will check them, so a clash is reported at the input
/// file's lines rather than at a line of the generated config.
#[derive(Default)]
pub(super) struct Collected {
    pub(super) aliases: Vec<AliasSpec>,
    /// First line of each address, and which alias it became (None for an
    /// address that is not imported, such as an iftab primary).
    ips: HashMap<IpAddr, (usize, Option<usize>)>,
    /// Interface and label -> the alias using it and the line giving it.
    labels: HashMap<(String, String), (usize, usize)>,
}

impl Collected {
    /// The address that has `label` on `interface` so far, with the line
    /// giving it.
    pub(super) fn label_user(&self, interface: &str, label: &str) -> Option<(IpAddr, usize)> {
        self.labels
            .get(&(interface.to_string(), label.to_string()))
            .map(|&(index, line)| (self.aliases[index].ip(), line))
    }

    /// Notes an address that is not imported but that no alias may repeat.
    pub(super) fn claim(
        &mut self,
        ctx: &Ctx<'_>,
        ip: IpAddr,
        line: usize,
    ) -> Result<(), ImportError> {
        match self.ips.entry(ip) {
            Entry::Occupied(first) => {
                Err(ctx.err(line, duplicate_address(ctx, ip, first.get().0, line)))
            }
            Entry::Vacant(slot) => {
                slot.insert((line, None));
                Ok(())
            }
        }
    }

    /// Adds `spec`, found at `address_line` with its label given at
    /// `label_line`; `what` names what gave the label ("stanza", "line").
    ///
    /// The same alias again (address, interface and label) is skipped with a
    /// warning, any routes it adds going to the first; any other reuse of
    /// the address, or of the label on the interface, is an error.
    pub(super) fn add(
        &mut self,
        ctx: &Ctx<'_>,
        spec: AliasSpec,
        (address_line, label_line): (usize, usize),
        what: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let ip = spec.ip();
        if let Some(&(first_line, index)) = self.ips.get(&ip) {
            let first = index.map(|index| &mut self.aliases[index]);
            let Some(first) = first.filter(|first| {
                first.interface == spec.interface
                    && first.address == spec.address
                    && first.label == spec.label
            }) else {
                return Err(ctx.err(
                    address_line,
                    duplicate_address(ctx, ip, first_line, address_line),
                ));
            };
            let before = first.routes.len();
            for route in spec.routes {
                if !first.routes.contains(&route) {
                    first.routes.push(route);
                }
            }
            let label = spec
                .label
                .as_deref()
                .map(|label| format!(" label {label}"))
                .unwrap_or_default();
            let routes = if first.routes.len() > before {
                " (with the routes of both)"
            } else {
                ""
            };
            warnings.push(format!(
                "line {address_line}: {} on {}{label} repeats {}; imported once{routes}",
                spec.address,
                spec.interface,
                ctx.at(first_line)
            ));
            return Ok(());
        }
        let spec = self.without_taken_routes(ctx, spec, address_line, warnings);
        if let Some(label) = &spec.label {
            match self.labels.entry((spec.interface.clone(), label.clone())) {
                Entry::Occupied(first) => {
                    let (index, first_line) = *first.get();
                    return Err(ctx.err(
                        label_line,
                        format!(
                            "label {label} is already used by {} ({}); give this {what} another label",
                            self.aliases[index].ip(),
                            ctx.at(first_line)
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert((self.aliases.len(), label_line));
                }
            }
        }
        self.ips
            .insert(ip, (address_line, Some(self.aliases.len())));
        self.aliases.push(spec);
        Ok(())
    }
}

impl Collected {
    /// `spec` without the routes an earlier alias already has: the kernel
    /// holds one route per destination, and ifupdown's second `ip route add`
    /// of it fails, so it stays with the first.
    fn without_taken_routes(
        &self,
        ctx: &Ctx<'_>,
        mut spec: AliasSpec,
        address_line: usize,
        warnings: &mut Vec<String>,
    ) -> AliasSpec {
        spec.routes.retain(|route| {
            let Some(first) = self.aliases.iter().find(|alias| {
                alias.routes.iter().any(|other| other.destination == route.destination)
            }) else {
                return true;
            };
            let line = self.ips.get(&first.ip()).map_or(0, |(line, _)| *line);
            warnings.push(format!(
                "line {address_line}: route {route} not imported with {}; it stays with {} ({}), as the kernel holds one route per destination",
                spec.address,
                first.address,
                ctx.at(line)
            ));
            false
        });
        spec
    }
}

/// Puts warnings in input line order (stable: one line's warnings keep
/// their order), whatever order the parser found them in.
pub(super) fn sort_by_line(warnings: &mut [String]) {
    warnings.sort_by_key(|warning| {
        warning
            .strip_prefix("line ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|number| number.parse::<usize>().ok())
            .unwrap_or(0)
    });
}

pub(super) const PRIMARY_NOT_IMPORTED: &str = "is the interface's primary address, not an alias: not imported (alias-mgr manages aliases; the primary stays with the system's network config)";

/// The shared alias-address rules. `guess` says where a prefix length the
/// file did not state came from; it is added to a refusal that the prefix
/// causes (e.g. a classful /24 making .255 the broadcast address).
pub(super) fn check_address(address: &IpNet, guess: Option<String>) -> Result<(), String> {
    check_alias_address(address).map_err(|refused| match guess {
        Some(guess) if refused.caused_by_prefix() => format!("{refused} ({guess})"),
        _ => refused.to_string(),
    })
}

pub(super) fn classful_guess(prefix: u8) -> String {
    format!("/{prefix} is the classful default for an address without a netmask; if the subnet is another one, add its netmask")
}

pub(super) fn alias(
    interface: &str,
    address: IpNet,
    label: Option<String>,
    routes: Vec<RouteSpec>,
) -> AliasSpec {
    AliasSpec {
        interface: interface.to_string(),
        address,
        label,
        zone: None,
        routes,
        arp_probe_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, AliasBuilder};
    use crate::import::test_util::*;

    // --- the shared alias rules ------------------------------------------------

    #[test]
    fn ifupdown_long_label_suggests_one_from_the_interface() {
        let err = ifupdown_err("\niface enp0s31f6:webserver inet static\n address 10.0.0.1/8\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("is 19 bytes"), "{err}");
        assert!(err.message.ends_with("such as enp0s31f6:webse"), "{err}");
        assert!(!err.message.contains("eth1"), "{err}");
    }

    #[test]
    fn ifupdown_refused_addresses_point_at_the_address_line() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 192.168.0.255/24\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("broadcast address of 192.168.0.0/24"),
            "{err}"
        );
        assert!(!err.message.contains("classful"), "{err}");

        let err = ifupdown_err(
            "iface eth1:0 inet static\n netmask 255.255.255.0\n address 192.168.0.0\n",
        );
        assert_eq!(err.line, 3);
        assert!(err.message.contains("network address"), "{err}");

        let err = ifupdown_err("iface lo:1 inet static\n address 127.0.0.2/8\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message
                .contains("loopback addresses already answer on lo"),
            "{err}"
        );

        let err = ifupdown_err("iface eth1:6 inet6 static\n address ::ffff:10.1.1.3/120\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message
                .ends_with("add the IPv4 address 10.1.1.3/24 instead"),
            "{err}"
        );

        let err = ifupdown_err("iface eth1:0 inet static\n address 10.1.1.3/0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("/0 would make"), "{err}");

        // Link-local is fine.
        let imported = ifupdown("iface eth1:0 inet static\n address 169.254.3.4/16\n");
        assert_eq!(imported.aliases[0].address, net("169.254.3.4/16"));
    }

    #[test]
    fn ifupdown_classful_default_is_named_when_it_causes_the_refusal() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 192.168.0.0\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("network address of 192.168.0.0/24"),
            "{err}"
        );
        assert!(err.message.contains("/24 is the classful default"), "{err}");
    }

    #[test]
    fn iftab_refused_addresses_name_their_line() {
        let err = iftab_err("en0 inet 192.168.1.1 netmask 255.255.255.0\nen0 inet 224.0.0.9 netmask 255.255.255.0 alias\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("multicast"), "{err}");

        // The Mac same-subnet rule turns .255/32 into the subnet's broadcast.
        let err = iftab_err(
            "en0 inet 10.0.0.1 netmask 255.255.255.0\nen0 inet 10.0.0.255 netmask 255.255.255.255 alias\n",
        );
        assert_eq!(err.line, 2);
        assert!(err.message.contains("broadcast address"), "{err}");
        assert!(err.message.contains("same-subnet rule"), "{err}");

        let err = iftab_err("en0 inet 172.16.255.255 alias\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("/16 is the classful default"), "{err}");
    }

    #[test]
    fn ifaliases_refused_addresses_name_their_line() {
        let err = ifaliases_err("10.0.0.1 wm0\n192.168.1.255 wm0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("broadcast address"), "{err}");
        assert!(err.message.contains("/24 is the classful default"), "{err}");

        let err = ifaliases_err("127.0.0.2 wm0 255.0.0.0\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("loopback"), "{err}");
        assert!(!err.message.contains("classful"), "{err}");

        let err = ifaliases_err("0.0.0.0 wm0 255.255.255.0\n");
        assert!(err.message.contains("unspecified"), "{err}");

        let imported = ifaliases("192.168.1.255 wm0 255.255.255.255\n");
        assert_eq!(imported.aliases[0].address, net("192.168.1.255/32"));
    }

    // --- duplicates within one import ------------------------------------------

    #[test]
    fn ifupdown_duplicate_label_of_a_stanza_is_dropped_with_a_warning() {
        // ifupdown gives both addresses label eth1:0; alias-mgr's labels are
        // unique per interface, so the second comes without one.
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.2/24\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                spec("eth1", "192.168.0.1/24", Some("eth1:0")),
                spec("eth1", "192.168.0.2/24", None)
            ]
        );
        assert_eq!(
            imported.warnings,
            ["interfaces:4: eth1:0: label eth1:0 is already used by 192.168.0.1 (interfaces:1); imported without a label, as labels are unique per interface in alias-mgr"]
        );

        // A command giving a label a stanza already has.
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1 inet manual\n up ip addr add 192.168.0.2/24 dev eth1 label eth1:0\n",
        );
        assert_eq!(err.line, 4);
        assert_eq!(
            err.to_string(),
            "interfaces:4: label eth1:0 is already used by 192.168.0.1 (interfaces:1); give this line another label"
        );
    }

    #[test]
    fn ifupdown_duplicate_address_from_a_command_names_both_lines() {
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1 inet manual\n up ip addr add 192.168.0.1/24 dev eth1 label eth1:5\n",
        );
        assert_eq!(err.line, 4);
        assert!(
            err.message.contains("interfaces:2 and interfaces:4"),
            "{err}"
        );
        // Another prefix is another alias, not a repeat.
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.1/16\n",
        );
        assert_eq!(err.line, 4);
        assert!(
            err.message.contains("interfaces:2 and interfaces:4"),
            "{err}"
        );
    }

    #[test]
    fn ifupdown_exact_duplicate_is_skipped_with_a_warning() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             \tup ip route add 10.1.0.0/16 via 192.168.0.254\n\
             iface eth1:0 inet static\n address 192.168.0.1\n netmask 255.255.255.0\n\
             \tup ip route add 10.2.0.0/16 via 192.168.0.254\n\
             iface eth1 inet manual\n up ifconfig eth1:0 192.168.0.1 netmask 255.255.255.0\n",
        );
        assert_eq!(
            imported.aliases,
            vec![alias("eth1", "192.168.0.1/24")
                .label("eth1:0")
                .routes(&["10.1.0.0/16@192.168.0.254", "10.2.0.0/16@192.168.0.254"])]
        );
        assert_eq!(
            imported.warnings,
            vec![
                "interfaces:5: 192.168.0.1/24 on eth1 label eth1:0 repeats interfaces:2; imported once (with the routes of both)".to_string(),
                "interfaces:9: 192.168.0.1/24 on eth1 label eth1:0 repeats interfaces:2; imported once".to_string(),
            ]
        );
    }

    #[test]
    fn imported_aliases_merge_into_a_config() {
        let imported = ifupdown(
            "iface eth1 inet static\n address 192.168.1.1/24\n\
             up ip addr add 192.168.5.1/24 dev eth1 label eth1:5\n\
             up ifconfig eth1:6 192.168.6.1 netmask 255.255.255.0\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n",
        );
        let mut file =
            crate::config::ConfigFile::parse(std::path::Path::new("<imported>"), "").unwrap();
        assert_eq!(file.merge_aliases(&imported.aliases).unwrap(), 3);
    }

    #[test]
    fn iftab_and_ifaliases_exact_duplicates_are_skipped_with_a_warning() {
        let imported = iftab(
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias\n\
             en0 inet 10.0.0.1 netmask 0xff000000 alias\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec!["line 2: 10.0.0.1/8 on en0 repeats line 1; imported once".to_string()]
        );
        let err = iftab_err(
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias\n\
             en0 inet 10.0.0.1 netmask 255.255.0.0 alias\n",
        );
        assert_eq!(err.line, 2);
        assert!(err.message.contains("line 1 and line 2"), "{err}");

        let imported = ifaliases("10.0.0.1 wm0 255.0.0.0\n10.0.0.1/8 wm0\n");
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec!["line 2: 10.0.0.1/8 on wm0 repeats line 1; imported once".to_string()]
        );
        let err = ifaliases_err("10.0.0.1 wm0 255.0.0.0\n10.0.0.1 wm0 255.255.0.0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("line 1 and line 2"), "{err}");
    }

    // --- primaries, broadcast, warning order ----------------------------------

    #[test]
    fn iftab_primary_and_broadcast_warn() {
        let imported = iftab(
            "en0 inet 192.168.32.27 netmask 255.255.255.0 broadcast 192.168.32.255\n\
             en0 inet 192.168.32.28 netmask 255.255.255.0 broadcast 192.168.32.255 alias\n\
             en1 inet 10.1.1.1\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec![
                format!("line 1: en0 192.168.32.27/24 {PRIMARY_NOT_IMPORTED}"),
                "line 2: en0 192.168.32.28: `broadcast 192.168.32.255` not imported; alias-mgr sets no broadcast address".to_string(),
                format!("line 3: en1 10.1.1.1 {PRIMARY_NOT_IMPORTED}"),
            ]
        );
    }

    #[test]
    fn ifupdown_primary_warning_shows_the_netmask_or_the_text() {
        let imported = ifupdown(
            "iface eth1 inet static\n address 192.168.1.1\n netmask 255.255.0.0\n\
             iface eth2 inet static\n address 10.0.0.1\n\
             iface eth3 inet static\n address bogus\n",
        );
        assert_eq!(
            imported.warnings,
            vec![
                format!("interfaces:2: eth1 192.168.1.1/16 {PRIMARY_NOT_IMPORTED}"),
                format!("interfaces:5: eth2 10.0.0.1 {PRIMARY_NOT_IMPORTED}"),
                format!("interfaces:7: eth3 bogus {PRIMARY_NOT_IMPORTED}"),
            ]
        );
    }

    #[test]
    fn warnings_come_in_line_order() {
        // In the order the files are read, then by line.
        let imported = ifupdown_with(
            "iface eth1:0 inet static\n\
             \taddress 192.168.0.1\n\
             \tgateway 192.168.0.254\n\
             source eth2\n\
             iface eth1:1 inet static\n\
             \taddress 192.168.0.2/24\n\
             \tup echo hello\n",
            &[(
                "/etc/network/eth2",
                "iface eth2:0 inet static\n address 10.0.0.1\n",
            )],
        )
        .unwrap();
        let lines: Vec<&str> = imported
            .warnings
            .iter()
            .map(|w| w.split(": ").next().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "/etc/network/interfaces:1",
                "/etc/network/interfaces:3",
                "/etc/network/interfaces:7",
                "/etc/network/eth2:1"
            ]
        );

        let mut warnings = vec![
            "line 10: b".to_string(),
            "line 2: a".to_string(),
            "line 10: a".to_string(),
            "line 1: c".to_string(),
        ];
        sort_by_line(&mut warnings);
        assert_eq!(
            warnings,
            ["line 1: c", "line 2: a", "line 10: b", "line 10: a"]
        );
    }
}
