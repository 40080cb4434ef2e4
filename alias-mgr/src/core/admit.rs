//! What `alias-mgr add` decides before it changes anything: the prefix of an
//! address given without one, whether a live address may be adopted, which
//! label the alias gets, and whether its routes make sense. Pure: it takes
//! what was observed and what the config declares, and returns a decision or
//! the refusal to print.

use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{
    check_alias_address, classful_prefix, validate_label, validate_label_for, AliasSpec, Interface,
    LiveAddress, RouteSpec,
};

/// The prefix an alias gets and, when it was not given, the note saying how
/// it was chosen (printed before anything else is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixChoice {
    pub prefix: u8,
    pub note: Option<String>,
}

/// The prefix for `ip` on `interface`: the one given, else the prefix of the
/// interface's narrowest subnet containing `ip`, else the classful default
/// (a host prefix on lo). Refuses addresses no prefix can make an alias.
pub fn choose_prefix(
    ip: IpAddr,
    given: Option<u8>,
    interface: &Interface,
    live: &[LiveAddress],
) -> Result<PrefixChoice, String> {
    // What no prefix can make an alias (multicast, loopback...), before one
    // is guessed for it.
    let host_prefix = host_prefix(ip);
    let checked_prefix = given.filter(|p| *p <= host_prefix).unwrap_or(host_prefix);
    check_alias_address(&IpNet::new(ip, checked_prefix).expect("prefix in range"))
        .map_err(|refused| refused.to_string())?;
    match given {
        Some(prefix) => Ok(PrefixChoice { prefix, note: None }),
        None => guess_prefix(ip, interface, live),
    }
}

fn host_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn guess_prefix(
    ip: IpAddr,
    interface: &Interface,
    live: &[LiveAddress],
) -> Result<PrefixChoice, String> {
    let covering = live
        .iter()
        .filter(|a| a.ifindex == interface.index && a.address.contains(&ip))
        .max_by_key(|a| a.address.prefix_len());
    let guessed = |prefix: u8, note: String| PrefixChoice {
        prefix,
        note: Some(note),
    };
    match (covering, classful_prefix(ip)) {
        // A service address on lo: a classful /8 there would make the whole
        // network local to this host.
        (None, _) if interface.name == "lo" => {
            let host_prefix = host_prefix(ip);
            Ok(guessed(host_prefix, format!("no prefix given; using /{host_prefix} (a host address: on lo a wider prefix makes the whole subnet local)")))
        }
        (Some(subnet), _) => Ok(guessed(
            subnet.address.prefix_len(),
            format!(
                "no prefix given; using /{} of {}'s subnet {}",
                subnet.address.prefix_len(),
                interface.name,
                subnet.address.trunc()
            ),
        )),
        (None, Some(classful)) => {
            let why = if ip.is_ipv4() {
                "the classful default, as ifconfig"
            } else {
                "the standard IPv6 subnet size"
            };
            Ok(guessed(
                classful,
                format!("no prefix given; using /{classful} ({why})"),
            ))
        }
        (None, None) => Err(format!(
            "{ip} has no classful default prefix; give one, e.g. {ip}/24"
        )),
    }
}

/// `ip` with its chosen prefix, checked as an alias address.
pub fn alias_address(ip: IpAddr, prefix: u8) -> Result<IpNet, String> {
    let address =
        IpNet::new(ip, prefix).map_err(|_| format!("invalid prefix length /{prefix} for {ip}"))?;
    check_alias_address(&address).map_err(|refused| refused.to_string())?;
    Ok(address)
}

/// What `add` was asked for besides the address.
#[derive(Debug, Clone, Default)]
pub struct AliasRequest {
    pub label: Option<String>,
    pub zone: Option<String>,
    pub routes: Vec<RouteSpec>,
    /// `--runtime`: live only, not recorded in the config.
    pub runtime: bool,
}

/// The state an admission is decided against: the interface and its live
/// addresses (`'live`), and the config's aliases (`'file`).
#[derive(Debug, Clone, Copy)]
pub struct Seen<'live, 'file> {
    pub interface: &'live Interface,
    pub live: &'live [LiveAddress],
    pub declared: &'file [AliasSpec],
    /// How messages name the config file.
    pub config: &'file str,
}

/// An alias `add` may create, or record as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission<'live> {
    pub alias: AliasSpec,
    /// A --runtime alias made permanent: recorded as it is, not re-added.
    pub adopted: Option<&'live LiveAddress>,
}

/// Whether `address` may become an alias on `seen.interface`, and as what.
pub fn admit<'live>(
    seen: &Seen<'live, '_>,
    address: IpNet,
    request: AliasRequest,
) -> Result<Admission<'live>, String> {
    let adopted = adoptable(seen, address, request.runtime)?;
    check_undeclared(seen, address.addr())?;
    let label = choose_label(seen, address.addr(), adopted, request.label)?;
    check_routes(address, &request.routes)?;
    Ok(Admission {
        alias: AliasSpec {
            interface: seen.interface.name.clone(),
            address,
            label,
            zone: request.zone,
            routes: request.routes,
            arp_probe_ms: None,
        },
        adopted,
    })
}

/// The live address to adopt when `address` is already up as a --runtime
/// alias here with the same prefix; a refusal when it is up any other way.
fn adoptable<'live>(
    seen: &Seen<'live, '_>,
    address: IpNet,
    runtime: bool,
) -> Result<Option<&'live LiveAddress>, String> {
    let ip = address.addr();
    let Some(existing) = seen.live.iter().find(|a| a.address.addr() == ip) else {
        return Ok(None);
    };
    let runtime_here = existing.runtime() && existing.ifindex == seen.interface.index && !runtime;
    if runtime_here && existing.address.prefix_len() == address.prefix_len() {
        Ok(Some(existing))
    } else if runtime_here {
        Err(format!(
            "{} is on {} for now (--runtime) with another prefix; to keep it as {address}, `alias-mgr del {} {ip} --runtime` first",
            existing.address, existing.interface, existing.interface
        ))
    } else if existing.owned() {
        Err(format!(
            "{} is already on {} (added by alias-mgr); see `alias-mgr list`, or `alias-mgr del {} {}` first",
            existing.address, existing.interface, existing.interface, ip
        ))
    } else {
        Err(format!(
            "{} is already on {} and is not managed by alias-mgr; remove it with `ip addr del {} dev {}` first",
            existing.address, existing.interface, existing.address, existing.interface
        ))
    }
}

fn check_undeclared(seen: &Seen<'_, '_>, ip: IpAddr) -> Result<(), String> {
    match seen.declared.iter().find(|a| a.ip() == ip) {
        Some(entry) => Err(format!(
            "{ip} is already declared in {} (on {}); run `alias-mgr apply` to create it, or `alias-mgr del {} {ip}`",
            seen.config, entry.interface, entry.interface
        )),
        None => Ok(()),
    }
}

/// An adopted IPv4 alias keeps the kernel's label (IPv6 labels live in the
/// file only); otherwise the requested label if free, else the next free one.
fn choose_label(
    seen: &Seen<'_, '_>,
    ip: IpAddr,
    adopted: Option<&LiveAddress>,
    requested: Option<String>,
) -> Result<Option<String>, String> {
    let iface = seen.interface;
    match (adopted, requested) {
        (Some(existing), Some(label))
            if ip.is_ipv4() && existing.label.as_deref() != Some(&label) =>
        {
            Err(format!(
                "{ip} is on {} for now (--runtime) labelled {}; keep that label (omit --label) or `alias-mgr del {} {ip} --runtime` first",
                iface.name,
                existing.label.as_deref().unwrap_or(&iface.name),
                iface.name
            ))
        }
        (Some(existing), _) if ip.is_ipv4() => Ok(existing.label.clone()),
        (_, Some(label)) => {
            validate_label_for(&label, &iface.name).map_err(|e| e.to_string())?;
            let taken = seen
                .live
                .iter()
                .any(|a| a.ifindex == iface.index && a.label.as_deref() == Some(&label))
                || seen
                    .declared
                    .iter()
                    .any(|a| a.interface == iface.name && a.label.as_deref() == Some(&label));
            if taken {
                return Err(format!(
                    "label {label} is already used on {}; pick another or omit --label",
                    iface.name
                ));
            }
            Ok(Some(label))
        }
        (_, None) => Ok(next_free_label(&iface.name, seen.live, seen.declared)),
    }
}

/// The first `IFACE:N` not used live or in the config; None when even
/// `IFACE:0` would not fit the kernel's 15 bytes (the kernel then shows the
/// interface name as the label).
pub fn next_free_label(
    interface: &str,
    live: &[LiveAddress],
    aliases: &[AliasSpec],
) -> Option<String> {
    (0..)
        .map(|n| format!("{interface}:{n}"))
        .take(10_000)
        .find(|candidate| {
            !live
                .iter()
                .any(|a| a.interface == interface && a.label.as_deref() == Some(candidate))
                && !aliases
                    .iter()
                    .any(|a| a.interface == interface && a.label.as_deref() == Some(candidate))
        })
        .filter(|label| validate_label(label).is_ok())
}

/// Routes must be of the alias's IP version and not go via the alias itself.
fn check_routes(address: IpNet, routes: &[RouteSpec]) -> Result<(), String> {
    let ip = address.addr();
    for route in routes {
        if route.gateway.is_some_and(|gw| gw.is_ipv4() != ip.is_ipv4())
            || route.destination.addr().is_ipv4() != ip.is_ipv4()
        {
            return Err(format!(
                "route {route} is not of the same IP version as {address}"
            ));
        }
        if route.gateway == Some(ip) {
            return Err(format!("route {route} goes via {ip}, the alias itself; give the gateway of that network (a router on {}), or omit @GATEWAY for a route straight onto the link", address.trunc()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        fixtures::{alias, interface, ip, live_on, route, AliasBuilder, LiveBuilder, FOREIGN},
        model::{OWNER_PROTO, RUNTIME_PROTO},
    };

    fn seen<'a>(
        iface: &'a Interface,
        live: &'a [LiveAddress],
        declared: &'a [AliasSpec],
    ) -> Seen<'a, 'a> {
        Seen {
            interface: iface,
            live,
            declared,
            config: "/etc/alias-mgr/alias-mgr.toml",
        }
    }

    #[test]
    fn a_given_prefix_is_kept_without_a_note() {
        let eth1 = interface("eth1", 2);
        let choice = choose_prefix(ip("192.168.0.7"), Some(25), &eth1, &[]).unwrap();
        assert_eq!(
            choice,
            PrefixChoice {
                prefix: 25,
                note: None
            }
        );
    }

    #[test]
    fn a_missing_prefix_is_the_narrowest_covering_subnets() {
        let eth1 = interface("eth1", 2);
        let other = interface("eth2", 3);
        let addresses = [
            live_on(&eth1, "10.0.0.1/8", FOREIGN),
            live_on(&eth1, "10.1.0.1/16", FOREIGN),
            live_on(&other, "10.1.2.1/24", FOREIGN),
        ];
        let choice = choose_prefix(ip("10.1.9.9"), None, &eth1, &addresses).unwrap();
        assert_eq!(choice.prefix, 16);
        assert_eq!(
            choice.note.as_deref(),
            Some("no prefix given; using /16 of eth1's subnet 10.1.0.0/16")
        );
    }

    #[test]
    fn a_missing_prefix_falls_back_to_classful_or_host_on_lo() {
        let eth1 = interface("eth1", 2);
        let choice = choose_prefix(ip("172.16.0.5"), None, &eth1, &[]).unwrap();
        assert_eq!(choice.prefix, 16);
        assert!(choice.note.unwrap().contains("classful default"));
        let choice = choose_prefix(ip("2001:db8::5"), None, &eth1, &[]).unwrap();
        assert_eq!(choice.prefix, 64);
        assert!(choice.note.unwrap().contains("standard IPv6 subnet size"));
        let lo = interface("lo", 1);
        let choice = choose_prefix(ip("10.53.0.1"), None, &lo, &[]).unwrap();
        assert_eq!(choice.prefix, 32);
        assert!(choice.note.unwrap().contains("a host address"));
        let err = choose_prefix(ip("240.0.0.1"), None, &eth1, &[]).unwrap_err();
        assert!(err.contains("no classful default prefix"), "{err}");
    }

    #[test]
    fn addresses_no_prefix_makes_an_alias_are_refused_before_guessing() {
        let eth1 = interface("eth1", 2);
        let err = choose_prefix(ip("224.0.0.1"), None, &eth1, &[]).unwrap_err();
        assert!(err.contains("multicast"), "{err}");
        // An out-of-range prefix is checked as a host address here and
        // refused with its own message later.
        assert!(choose_prefix(ip("192.168.0.1"), Some(40), &eth1, &[]).is_ok());
        let err = alias_address(ip("192.168.0.1"), 40).unwrap_err();
        assert_eq!(err, "invalid prefix length /40 for 192.168.0.1");
        let err = alias_address(ip("192.168.0.0"), 24).unwrap_err();
        assert!(err.contains("network address"), "{err}");
    }

    #[test]
    fn a_runtime_alias_with_the_same_prefix_is_adopted_with_its_label() {
        let eth1 = interface("eth1", 2);
        let addresses = [live_on(&eth1, "192.168.0.9/24", RUNTIME_PROTO).label("eth1:web")];
        let admission = admit(
            &seen(&eth1, &addresses, &[]),
            "192.168.0.9/24".parse().unwrap(),
            AliasRequest::default(),
        )
        .unwrap();
        assert_eq!(admission.adopted, Some(&addresses[0]));
        assert_eq!(admission.alias.label.as_deref(), Some("eth1:web"));
        assert_eq!(admission.alias.interface, "eth1");

        let err = admit(
            &seen(&eth1, &addresses, &[]),
            "192.168.0.9/24".parse().unwrap(),
            AliasRequest {
                label: Some("eth1:other".into()),
                ..AliasRequest::default()
            },
        )
        .unwrap_err();
        assert!(err.contains("labelled eth1:web"), "{err}");
    }

    #[test]
    fn live_addresses_that_cannot_be_adopted_are_refused() {
        let eth1 = interface("eth1", 2);
        let address: IpNet = "192.168.0.9/24".parse().unwrap();
        let refusal = |protocol: u8, existing: &str, runtime: bool| {
            let addresses = [live_on(&eth1, existing, protocol)];
            let request = AliasRequest {
                runtime,
                ..AliasRequest::default()
            };
            admit(&seen(&eth1, &addresses, &[]), address, request).unwrap_err()
        };
        let err = refusal(RUNTIME_PROTO, "192.168.0.9/16", false);
        assert!(err.contains("with another prefix"), "{err}");
        // Another --runtime add of a --runtime alias is not an adoption.
        let err = refusal(RUNTIME_PROTO, "192.168.0.9/24", true);
        assert!(err.contains("(added by alias-mgr)"), "{err}");
        let err = refusal(OWNER_PROTO, "192.168.0.9/24", false);
        assert!(err.contains("(added by alias-mgr)"), "{err}");
        let err = refusal(0, "192.168.0.9/24", false);
        assert!(err.contains("not managed by alias-mgr"), "{err}");
    }

    #[test]
    fn an_address_declared_in_the_config_is_refused() {
        let eth1 = interface("eth1", 2);
        let declared = [alias("eth2", "192.168.0.9/24")];
        let err = admit(
            &seen(&eth1, &[], &declared),
            "192.168.0.9/24".parse().unwrap(),
            AliasRequest::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "192.168.0.9 is already declared in /etc/alias-mgr/alias-mgr.toml (on eth2); run `alias-mgr apply` to create it, or `alias-mgr del eth2 192.168.0.9`"
        );
    }

    #[test]
    fn a_requested_label_must_be_valid_and_free() {
        let eth1 = interface("eth1", 2);
        let addresses = [live_on(&eth1, "192.168.0.1/24", FOREIGN).label("eth1:0")];
        let declared = [alias("eth1", "192.168.0.2/24").label("eth1:1")];
        let with_label = |label: &str| AliasRequest {
            label: Some(label.into()),
            ..AliasRequest::default()
        };
        let address: IpNet = "192.168.0.9/24".parse().unwrap();
        let seen = seen(&eth1, &addresses, &declared);
        for used in ["eth1:0", "eth1:1"] {
            let err = admit(&seen, address, with_label(used)).unwrap_err();
            assert!(err.contains("already used on eth1"), "{err}");
        }
        let err = admit(&seen, address, with_label("eth2:0")).unwrap_err();
        assert!(err.contains("must start with the interface name"), "{err}");
        let admission = admit(&seen, address, with_label("eth1:web")).unwrap();
        assert_eq!(admission.alias.label.as_deref(), Some("eth1:web"));
        // Without --label: the next one free live and in the config.
        let admission = admit(&seen, address, AliasRequest::default()).unwrap();
        assert_eq!(admission.alias.label.as_deref(), Some("eth1:2"));
        assert_eq!(admission.adopted, None);
    }

    #[test]
    fn next_label_skips_used_ones_and_gives_up_past_15_bytes() {
        let aliases = [alias("eth1", "192.168.0.1/24").label("eth1:0")];
        assert_eq!(
            next_free_label("eth1", &[], &aliases).as_deref(),
            Some("eth1:1")
        );
        assert_eq!(next_free_label("enx00e04c680001", &[], &[]), None);
    }

    #[test]
    fn routes_must_match_the_family_and_not_go_via_the_alias() {
        let address: IpNet = "192.168.0.9/24".parse().unwrap();
        let route = |text: &str| vec![route(text)];
        assert!(check_routes(address, &route("10.9.0.0/16@192.168.0.1")).is_ok());
        let err = check_routes(address, &route("2001:db8::/32")).unwrap_err();
        assert!(err.contains("not of the same IP version"), "{err}");
        let err = check_routes(address, &route("10.9.0.0/16@192.168.0.9")).unwrap_err();
        assert!(err.contains("the alias itself"), "{err}");
        assert!(err.contains("a router on 192.168.0.0/24"), "{err}");
    }
}
