//! Plain data shared by the planner, the config file and the kernel-facing
//! modules. No I/O here.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr},
    str::FromStr,
};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{
    text::shown,
    wire::{Mac, OnLink},
};

// The label checks live with the other parsers; kept reachable here, where
// the rest of an alias's rules are.
pub use super::names::{validate_label, validate_label_for};

/// The value alias-mgr puts in IFA_PROTO of the addresses and in the protocol
/// of the routes it adds, so it can tell its own from everybody else's.
/// (Linux >= 6.1 stores IFA_PROTO; 0..3 are the kernel's own values.)
pub const OWNER_PROTO: u8 = 0xa1;
/// The mark of addresses and routes added with `--runtime`: alias-mgr's too,
/// but not in the config file. `apply` removes them (it converges to the
/// file); the daemon's drift healing leaves them alone; a reboot clears them.
pub const RUNTIME_PROTO: u8 = 0xa2;

/// Longest label the kernel accepts (IFNAMSIZ 16 with the NUL).
pub const MAX_LABEL_LEN: usize = 15;

/// One alias as the config file declares it: the desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasSpec {
    pub interface: String,
    /// The address with its prefix length, e.g. 192.168.0.1/24.
    pub address: IpNet,
    /// IPv4 label (`eth1:0`); kept for IPv6 too, but only in the config.
    pub label: Option<String>,
    pub zone: Option<String>,
    pub routes: Vec<RouteSpec>,
    /// IPv4 conflict detection wait for this alias (ms), in place of
    /// `[settings] arp_probe_ms`; 0 turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_probe_ms: Option<u32>,
}

impl AliasSpec {
    pub fn ip(&self) -> IpAddr {
        self.address.addr()
    }
}

/// An extra route that comes and goes with its alias: `CIDR[@GATEWAY]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSpec {
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
}

impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.gateway {
            Some(gateway) => write!(f, "{}@{}", self.destination, gateway),
            None => write!(f, "{}", self.destination),
        }
    }
}

impl FromStr for RouteSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (dest, gateway) = match text.split_once('@') {
            Some((dest, gateway)) => (dest, Some(gateway)),
            None => (text, None),
        };
        let destination: IpNet = dest.trim().parse().map_err(|_| {
            format!(
                "route {}: {} is not a CIDR such as 10.9.0.0/16",
                shown(text),
                shown(dest)
            )
        })?;
        if destination.network() != destination.addr() {
            return Err(format!(
                "route {}: {destination} has host bits set; did you mean {}?",
                shown(text),
                destination.trunc()
            ));
        }
        let gateway = match gateway {
            None => None,
            Some(gw) => {
                let gw: IpAddr = gw.trim().parse().map_err(|_| {
                    format!(
                        "route {}: gateway {} is not an IP address",
                        shown(text),
                        shown(gw)
                    )
                })?;
                if gw.is_ipv4() != destination.addr().is_ipv4() {
                    return Err(format!(
                        "route {}: gateway and destination are of different IP versions",
                        shown(text)
                    ));
                }
                Some(gw)
            }
        };
        Ok(RouteSpec {
            destination,
            gateway,
        })
    }
}

impl Serialize for RouteSpec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RouteSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub index: u32,
    pub name: String,
    /// Hardware address, shared by every alias on the interface.
    pub mac: Option<String>,
    /// The NIC's burnt-in MAC (IFLA_PERM_ADDRESS), where it has one: it
    /// survives a MAC change, and tells a NIC from the VLANs on it.
    pub permanent_mac: Option<String>,
    /// Linux altnames (`ip link property add dev eth1 altname lan`).
    pub altnames: Vec<String>,
    /// Whether frames start with an Ethernet header (Ethernet, veth, bridges,
    /// loopback); false for interfaces without one (tun, wireguard).
    pub ethernet: bool,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// Up with carrier (IFF_LOWER_UP): IPv6 duplicate address detection
    /// only runs, and finishes, on such a link.
    pub carrier: bool,
}

impl Interface {
    /// The MAC ARP and neighbour discovery speak for, if the link has
    /// one they can (not loopback, not a tunnel).
    pub fn link_mac(&self) -> Option<Mac> {
        let mac: Mac = self.mac.as_deref()?.parse().ok()?;
        (self.ethernet && mac.is_usable()).then_some(mac)
    }

    /// Up with carrier and a MAC: frames sent now reach the LAN.
    pub fn on_the_wire(&self) -> Option<Mac> {
        (self.up && self.carrier).then(|| self.link_mac()).flatten()
    }
}

/// IPv6 duplicate address detection of one address (IPv4: always Done).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DadState {
    /// Still probing: the address cannot be a route's source yet.
    Tentative,
    /// Another host on the link has this address.
    Failed,
    #[default]
    Done,
}

/// An address as the kernel reports it: the live state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveAddress {
    pub interface: String,
    pub ifindex: u32,
    pub address: IpNet,
    pub label: Option<String>,
    pub broadcast: Option<IpAddr>,
    /// IFA_F_SECONDARY: another address of the interface covers the subnet.
    pub secondary: bool,
    /// IFA_PROTO, 0 when unset.
    pub protocol: u8,
    pub dad: DadState,
}

impl LiveAddress {
    pub fn owned(&self) -> bool {
        self.protocol == OWNER_PROTO || self.protocol == RUNTIME_PROTO
    }

    pub fn runtime(&self) -> bool {
        self.protocol == RUNTIME_PROTO
    }

    /// The address as the wire messages about it need it, if its interface
    /// is on the wire now (up, carrier, a MAC) and it is past DAD.
    pub fn on_link(&self, interfaces: &[Interface]) -> Option<OnLink> {
        if self.dad != DadState::Done {
            return None;
        }
        let interface = interfaces.iter().find(|i| i.index == self.ifindex)?;
        Some(OnLink {
            interface: interface.name.clone(),
            ifindex: interface.index,
            mac: interface.on_the_wire()?,
            ip: self.address.addr(),
        })
    }
}

/// A route of the main table as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveRoute {
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
    pub ifindex: Option<u32>,
    pub protocol: u8,
    pub preferred_source: Option<IpAddr>,
}

impl LiveRoute {
    pub fn owned(&self) -> bool {
        self.protocol == OWNER_PROTO || self.protocol == RUNTIME_PROTO
    }

    pub fn runtime(&self) -> bool {
        self.protocol == RUNTIME_PROTO
    }
}

/// The ifconfig default for an address given without a netmask: the classful
/// mask for IPv4 (A /8, B /16, C /24), /64 for IPv6. None for class D/E.
pub fn classful_prefix(ip: IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) => match v4.octets()[0] {
            0..=127 => Some(8),
            128..=191 => Some(16),
            192..=223 => Some(24),
            _ => None,
        },
        IpAddr::V6(_) => Some(64),
    }
}

/// Why an address cannot be an alias; each names the case and, shown,
/// what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedAddress {
    #[error("{address}: {} is the unspecified address, which means \"no address\" and cannot be assigned: give the alias's own address, such as {}", address.addr(), example(address))]
    Unspecified { address: IpNet },
    #[error("{address}: {} is a multicast address; hosts join multicast groups rather than own them: give a unicast address, such as {}", address.addr(), example(address))]
    Multicast { address: IpNet },
    #[error("{address}: {} is a loopback address, and loopback addresses already answer on lo: give an address of the interface's subnet, such as {}", address.addr(), example(address))]
    Loopback { address: IpNet },
    #[error("{address}: 255.255.255.255 is the limited broadcast address (every host on the link): give a host address, such as {}", example(address))]
    LimitedBroadcast { address: IpNet },
    #[error("{address} is an IPv4-mapped IPv6 address (::ffff:a.b.c.d), which only stands for an IPv4 peer in sockets and never appears on the wire: add the IPv4 address {suggestion} instead")]
    Ipv4Mapped { address: IpNet, suggestion: String },
    #[error("{address}: /0 would make the whole Internet on-link: give the subnet's real prefix, e.g. /{real} ({}/{real})", address.addr(), real = if address.addr().is_ipv4() { 24 } else { 64 })]
    WholeInternet { address: IpNet },
    /// The network or broadcast address of its subnet (`which`), with the
    /// nearest host address.
    #[error("{address} is the {which} address of {}, not a host address: pick a host address inside it, such as {host}/{}", address.trunc(), address.prefix_len())]
    NotAHost {
        address: IpNet,
        which: &'static str,
        host: Ipv4Addr,
    },
}

impl RefusedAddress {
    /// Whether the prefix length, not the address, is what is refused: a
    /// guessed prefix is then worth naming.
    pub fn caused_by_prefix(&self) -> bool {
        matches!(
            self,
            RefusedAddress::WholeInternet { .. } | RefusedAddress::NotAHost { .. }
        )
    }
}

fn example(address: &IpNet) -> &'static str {
    match address {
        IpNet::V4(_) => "192.168.0.1/24",
        IpNet::V6(_) => "2001:db8::1/64",
    }
}

/// What may be an alias address: the one rule set for the config file, the
/// importers and the CLI.
pub fn check_alias_address(address: &IpNet) -> Result<(), RefusedAddress> {
    let ip = address.addr();
    let address = *address;
    if ip.is_unspecified() {
        return Err(RefusedAddress::Unspecified { address });
    }
    if ip.is_multicast() {
        return Err(RefusedAddress::Multicast { address });
    }
    if ip.is_loopback() {
        return Err(RefusedAddress::Loopback { address });
    }
    match (address, ip) {
        (_, IpAddr::V4(v4)) if v4.is_broadcast() => {
            return Err(RefusedAddress::LimitedBroadcast { address });
        }
        (IpNet::V6(net), IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                let suggestion = match net.prefix_len() {
                    len @ 97..=128 => format!("{v4}/{}", len - 96),
                    _ => v4.to_string(),
                };
                return Err(RefusedAddress::Ipv4Mapped {
                    address,
                    suggestion,
                });
            }
        }
        _ => {}
    }
    if address.prefix_len() == 0 {
        return Err(RefusedAddress::WholeInternet { address });
    }
    if let IpNet::V4(net) = address {
        // /31 (RFC 3021) and /32 have neither.
        if net.prefix_len() <= 30 {
            let (network, broadcast) = (u32::from(net.network()), u32::from(net.broadcast()));
            let (which, host) = match u32::from(net.addr()) {
                a if a == network => ("network", network + 1),
                a if a == broadcast => ("broadcast", broadcast - 1),
                _ => return Ok(()),
            };
            return Err(RefusedAddress::NotAHost {
                address,
                which,
                host: Ipv4Addr::from(host),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_spec_parses_with_and_without_gateway() {
        let r: RouteSpec = "10.9.0.0/16@192.168.0.254".parse().unwrap();
        assert_eq!(r.destination.to_string(), "10.9.0.0/16");
        assert_eq!(r.gateway, Some("192.168.0.254".parse().unwrap()));
        assert_eq!(r.to_string(), "10.9.0.0/16@192.168.0.254");
        let r: RouteSpec = "2001:db8:1::/48".parse().unwrap();
        assert_eq!(r.gateway, None);
    }

    #[test]
    fn route_spec_rejects_host_bits_and_mixed_families() {
        let err = "10.9.0.1/16".parse::<RouteSpec>().unwrap_err();
        assert!(err.contains("10.9.0.0/16"), "{err}");
        assert!("10.9.0.0/16@2001:db8::1".parse::<RouteSpec>().is_err());
        assert!("bogus".parse::<RouteSpec>().is_err());
    }

    #[test]
    fn classful_defaults_match_ifconfig() {
        assert_eq!(classful_prefix("10.1.2.3".parse().unwrap()), Some(8));
        assert_eq!(classful_prefix("172.16.0.1".parse().unwrap()), Some(16));
        assert_eq!(classful_prefix("192.168.0.1".parse().unwrap()), Some(24));
        assert_eq!(classful_prefix("224.0.0.1".parse().unwrap()), None);
        assert_eq!(classful_prefix("2001:db8::1".parse().unwrap()), Some(64));
    }

    fn address_error(text: &str) -> String {
        check_alias_address(&text.parse().unwrap())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn refusals_name_their_kind_and_whether_the_prefix_causes_them() {
        let refused = |text: &str| check_alias_address(&text.parse().unwrap()).unwrap_err();
        assert_eq!(
            refused("192.168.0.0/24"),
            RefusedAddress::NotAHost {
                address: "192.168.0.0/24".parse().unwrap(),
                which: "network",
                host: "192.168.0.1".parse().unwrap(),
            }
        );
        assert!(refused("192.168.0.255/24").caused_by_prefix());
        assert!(refused("10.0.0.1/0").caused_by_prefix());
        assert!(matches!(
            refused("224.0.0.1/4"),
            RefusedAddress::Multicast { .. }
        ));
        assert!(!refused("127.0.0.2/8").caused_by_prefix());
        assert!(!refused("::ffff:192.0.2.1/128").caused_by_prefix());
    }

    #[test]
    fn ordinary_and_link_local_addresses_are_aliases() {
        for ok in [
            "192.168.0.1/24",
            "192.168.0.254/24",
            "10.1.1.3/16",
            "192.168.0.0/31",
            "192.168.0.1/31",
            "192.168.0.0/32",
            "192.168.0.255/32",
            "169.254.10.1/16",
            "2001:db8::1/64",
            "2001:db8::/64",
            "fe80::1/64",
            "203.0.113.7/32",
        ] {
            assert_eq!(check_alias_address(&ok.parse().unwrap()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn special_addresses_are_refused_by_name() {
        for (text, needle) in [
            ("0.0.0.0/24", "unspecified"),
            ("::/64", "unspecified"),
            ("224.0.0.1/24", "multicast"),
            ("239.1.2.3/32", "multicast"),
            ("ff02::1/64", "multicast"),
            ("127.0.0.1/8", "loopback addresses already answer on lo"),
            ("127.1.2.3/32", "loopback addresses already answer on lo"),
            ("::1/128", "loopback addresses already answer on lo"),
            ("255.255.255.255/32", "limited broadcast"),
        ] {
            let err = address_error(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(err.contains("such as"), "{text} names no fix: {err}");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_name_the_ipv4_address() {
        let err = address_error("::ffff:10.1.1.3/120");
        assert!(err.contains("IPv4-mapped"), "{err}");
        assert!(
            err.ends_with("add the IPv4 address 10.1.1.3/24 instead"),
            "{err}"
        );
        let err = address_error("::ffff:192.0.2.1/64");
        assert!(
            err.ends_with("add the IPv4 address 192.0.2.1 instead"),
            "{err}"
        );
    }

    #[test]
    fn prefix_zero_is_refused() {
        let err = address_error("10.1.1.3/0");
        assert!(
            err.contains(
                "/0 would make the whole Internet on-link: give the subnet's real prefix, e.g. /24"
            ),
            "{err}"
        );
        assert!(err.contains("10.1.1.3/24"), "{err}");
        assert!(address_error("2001:db8::1/0").contains("e.g. /64"));
    }

    #[test]
    fn network_and_broadcast_addresses_are_refused_up_to_slash_30() {
        assert_eq!(
            address_error("192.168.0.0/24"),
            "192.168.0.0/24 is the network address of 192.168.0.0/24, not a host address: pick a host address inside it, such as 192.168.0.1/24"
        );
        assert_eq!(
            address_error("192.168.0.255/24"),
            "192.168.0.255/24 is the broadcast address of 192.168.0.0/24, not a host address: pick a host address inside it, such as 192.168.0.254/24"
        );
        assert!(address_error("10.0.0.4/30").contains("network address of 10.0.0.4/30"));
        assert!(address_error("10.0.0.7/30").contains("broadcast address of 10.0.0.4/30"));
        assert!(check_alias_address(&"10.0.0.5/30".parse().unwrap()).is_ok());
    }
}
