//! The shell commands hooks run, one parser per tool: `ip addr|route`,
//! net-tools `ifconfig` and `route`.

use std::net::IpAddr;

use super::collected::{parse_address, set_prefix};
use crate::core::{
    model::RouteSpec,
    parse::{max_prefix, parse_netmask, MaskForms},
};

/// What a hook command means for the import.
pub(super) enum Hook {
    /// `ip route add`, `route add`.
    Route(Result<ParsedRoute, String>),
    /// `ip addr add`, `ifconfig eth1:6 ADDRESS`, `ifconfig eth1 inet6 add`.
    Address(Result<ParsedAddress, String>),
    /// Deletes a route or an address (`ip addr del`, `route del`,
    /// `ifconfig eth1:6 down`).
    Remove,
    Other,
}

pub(super) struct ParsedRoute {
    pub(super) spec: RouteSpec,
    /// The device the command names, checked against the stanza's.
    pub(super) dev: Option<String>,
    /// Parts dropped on the way (metric, ...), for warnings.
    pub(super) notes: Vec<String>,
}

/// An address a hook command adds, before the alias rules are applied.
pub(super) struct ParsedAddress {
    pub(super) ip: IpAddr,
    pub(super) prefix: Option<u8>,
    /// The device the command names; `eth1:6` stands for eth1 with that label.
    pub(super) dev: Option<String>,
    pub(super) label: Option<String>,
    /// `ip` or `ifconfig`: what a missing prefix length defaults to.
    pub(super) tool: &'static str,
    /// Parts dropped on the way (broadcast, flags, ...), for warnings.
    pub(super) notes: Vec<String>,
}

pub(super) fn next_value<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    keyword: &str,
) -> Result<&'a str, String> {
    args.next()
        .ok_or_else(|| format!("`{keyword}` without a value"))
}

fn default_route_error() -> String {
    "a default route; an alias doesn't set the default gateway".to_string()
}

/// `ip [-4|-6] route add|replace|append PREFIX [via GW] [dev DEV] [metric N]`,
/// `ip [-4|-6] addr add|replace ADDRESS[/LEN] dev DEV [label LABEL] ...` and
/// their `del`s. Objects and `add` may be abbreviated as `ip` allows.
pub(super) fn parse_ip_command(args: &[&str]) -> Hook {
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match *arg {
            "-4" | "-6" => index += 1,
            "-f" | "-family" => index += 2,
            other if other.starts_with('-') => return Hook::Other,
            _ => break,
        }
    }
    let Some(object) = args.get(index).filter(|object| !object.is_empty()) else {
        return Hook::Other;
    };
    let verb = args.get(index + 1).copied();
    let rest = args.get(index + 2..).unwrap_or_default();
    if "route".starts_with(object) {
        match verb {
            Some("add" | "replace" | "append") => Hook::Route(parse_ip_route_args(rest)),
            Some("del" | "delete") => Hook::Remove,
            _ => Hook::Other,
        }
    } else if "address".starts_with(object) {
        match verb {
            Some(verb) if (!verb.is_empty() && "add".starts_with(verb)) || verb == "replace" => {
                Hook::Address(parse_ip_address_args(rest))
            }
            Some("del" | "delete" | "flush") => Hook::Remove,
            _ => Hook::Other,
        }
    } else {
        Hook::Other
    }
}

/// The arguments of `ip addr add`.
fn parse_ip_address_args(args: &[&str]) -> Result<ParsedAddress, String> {
    let mut address = None;
    let mut dev = None;
    let mut label = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "dev" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "label" => label = Some(next_value(&mut args, arg)?.to_string()),
            "local" if address.is_none() => address = Some(next_value(&mut args, arg)?),
            "broadcast" | "brd" => {
                let value = next_value(&mut args, arg)?;
                if !matches!(value, "+" | "-") {
                    notes.push(format!(
                        "{arg} {value} dropped; alias-mgr sets no broadcast address"
                    ));
                }
            }
            "scope" => {
                let value = next_value(&mut args, arg)?;
                if !matches!(value, "global" | "universe" | "0") {
                    notes.push(format!("scope {value} dropped"));
                }
            }
            "valid_lft" | "preferred_lft" => {
                let value = next_value(&mut args, arg)?;
                if value != "forever" {
                    notes.push(format!("{arg} {value} dropped; aliases do not expire"));
                }
            }
            "metric" | "priority" | "proto" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!("{arg} {value} dropped"));
            }
            "nodad" | "noprefixroute" | "home" | "mngtmpaddr" | "optimistic" | "autojoin" => {
                notes.push(format!("{arg} dropped"));
            }
            _ if address.is_none() && looks_like_address(arg) => address = Some(arg),
            other => return Err(format!("`{other}` has no equivalent in an alias")),
        }
    }
    let address = address.ok_or("no address")?;
    let (ip, prefix) = parse_address(address)?;
    Ok(ParsedAddress {
        ip,
        prefix,
        dev,
        label,
        tool: "ip",
        notes,
    })
}

/// net-tools `ifconfig IFACE[:N] [inet|inet6] [add] ADDRESS[/LEN] [netmask M]
/// [broadcast B] [up]`; `ifconfig IFACE [inet6] del ADDRESS` and
/// `ifconfig IFACE[:N] down` remove one.
pub(super) fn parse_ifconfig_command(args: &[&str]) -> Hook {
    let Some((&dev, rest)) = args.split_first() else {
        return Hook::Other;
    };
    if dev.starts_with('-') {
        return Hook::Other;
    }
    let rest = match rest.split_first() {
        Some((&("inet" | "inet6"), tail)) => tail,
        _ => rest,
    };
    let rest = match rest {
        ["add", tail @ ..] => tail,
        ["del", ..] | ["down"] => return Hook::Remove,
        _ => rest,
    };
    match rest.split_first() {
        Some((&address, options)) if looks_like_address(address) => {
            Hook::Address(parse_ifconfig_args(dev, address, options))
        }
        _ => Hook::Other,
    }
}

fn parse_ifconfig_args(dev: &str, address: &str, args: &[&str]) -> Result<ParsedAddress, String> {
    let (ip, mut prefix) = parse_address(address)?;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "netmask" => {
                let value = next_value(&mut args, arg)?;
                if ip.is_ipv6() {
                    return Err("`netmask` is for IPv4; IPv6 takes ADDRESS/LEN".to_string());
                }
                let forms = MaskForms {
                    hex: true,
                    v4_length: false,
                };
                set_prefix(&mut prefix, parse_netmask(value, false, forms)?, "netmask")?;
            }
            "broadcast" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "broadcast {value} dropped; alias-mgr sets no broadcast address"
                ));
            }
            "up" => {}
            "mtu" | "metric" | "txqueuelen" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "{arg} {value} dropped; it is an interface setting, not the alias's"
                ));
            }
            "arp" | "-arp" | "promisc" | "-promisc" | "allmulti" | "-allmulti" | "multicast" => {
                notes.push(format!(
                    "{arg} dropped; it is an interface setting, not the alias's"
                ));
            }
            other => return Err(format!("`{other}` has no equivalent in an alias")),
        }
    }
    Ok(ParsedAddress {
        ip,
        prefix,
        dev: Some(dev.to_string()),
        label: None,
        tool: "ifconfig",
        notes,
    })
}

fn looks_like_address(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/'))
}

fn parse_ip_route_args(args: &[&str]) -> Result<ParsedRoute, String> {
    let mut destination = None;
    let mut gateway = None;
    let mut dev = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "via" => {
                let mut value = next_value(&mut args, arg)?;
                if matches!(value, "inet" | "inet6") {
                    value = next_value(&mut args, arg)?;
                }
                gateway = Some(value);
            }
            "dev" | "oif" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "metric" | "preference" | "priority" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "{arg} {value} dropped; alias routes have no metric"
                ));
            }
            "proto" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "proto {value} dropped; alias-mgr marks its routes as its own"
                ));
            }
            "unicast" if destination.is_none() => {}
            "default" => return Err(default_route_error()),
            _ if destination.is_none() && looks_like_address(arg) => destination = Some(arg),
            other => {
                return Err(format!(
                    "`{other}` has no equivalent in an alias route (CIDR[@GATEWAY])"
                ))
            }
        }
    }
    let destination = destination.ok_or("no destination")?;
    let spec = route_spec(destination, None, gateway)?;
    Ok(ParsedRoute { spec, dev, notes })
}

/// net-tools `route [-A inet6] add [-net|-host] TARGET [netmask M] [gw GW] [dev] DEV`.
pub(super) fn parse_nettools_command(args: &[&str]) -> Hook {
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match *arg {
            "-A" => index += 2,
            "-4" | "-6" | "-n" | "-v" | "-e" | "-F" | "--inet" | "--inet6" => index += 1,
            _ => break,
        }
    }
    match args.get(index).copied() {
        Some("add") => Hook::Route(parse_nettools_args(&args[index + 1..])),
        Some("del" | "delete") => Hook::Remove,
        _ => Hook::Other,
    }
}

fn parse_nettools_args(args: &[&str]) -> Result<ParsedRoute, String> {
    let mut target = None;
    let mut net = false;
    let mut host = false;
    let mut mask = None;
    let mut gateway = None;
    let mut dev: Option<String> = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "-net" => {
                net = true;
                target = Some(next_value(&mut args, arg)?);
            }
            "-host" => {
                host = true;
                target = Some(next_value(&mut args, arg)?);
            }
            // The addresses already say which family it is.
            "-A" => {
                next_value(&mut args, arg)?;
            }
            "default" => return Err(default_route_error()),
            "netmask" => {
                let value = next_value(&mut args, arg)?;
                let forms = MaskForms {
                    hex: false,
                    v4_length: false,
                };
                mask = Some(parse_netmask(value, false, forms)?);
            }
            "gw" | "gateway" => gateway = Some(next_value(&mut args, arg)?),
            "dev" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "metric" | "mss" | "window" | "irtt" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!("{arg} {value} dropped; alias routes have none"));
            }
            _ if target.is_none() && looks_like_address(arg) => target = Some(arg),
            // net-tools takes a trailing bare word as the device.
            _ if target.is_some() && dev.is_none() && !arg.starts_with('-') => {
                dev = Some(arg.to_string())
            }
            other => {
                return Err(format!(
                    "`{other}` has no equivalent in an alias route (CIDR[@GATEWAY])"
                ))
            }
        }
    }
    let target = target.ok_or("no destination")?;
    if mask.is_some() && (host || target.contains(':')) {
        return Err(format!("netmask does not apply to {target}"));
    }
    if net && mask.is_none() && !target.contains('/') {
        return Err(format!("-net {target} has no netmask"));
    }
    let spec = route_spec(target, mask, gateway)?;
    Ok(ParsedRoute { spec, dev, notes })
}

/// Builds the spec through [`RouteSpec`]'s own parser so imported routes
/// obey the same rules (no host bits, one IP version) as configured ones.
/// A destination without a length is a host route, as `ip` and `route` take it.
fn route_spec(
    destination: &str,
    mask: Option<u8>,
    gateway: Option<&str>,
) -> Result<RouteSpec, String> {
    let cidr = if destination.contains('/') {
        if mask.is_some() {
            return Err(format!("{destination} has both a /length and a netmask"));
        }
        destination.to_string()
    } else {
        let ip: IpAddr = destination
            .parse()
            .map_err(|_| format!("{destination:?} is not an address or CIDR"))?;
        format!("{ip}/{}", mask.unwrap_or(max_prefix(ip)))
    };
    let text = match gateway {
        Some(gateway) => format!("{cidr}@{gateway}"),
        None => cidr,
    };
    text.parse()
}
