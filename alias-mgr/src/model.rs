//! Plain data shared by the planner, the config file and the kernel-facing
//! modules. No I/O here.

use std::{fmt, net::IpAddr, str::FromStr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

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
        let destination: IpNet = dest
            .trim()
            .parse()
            .map_err(|_| format!("route {text:?}: {dest:?} is not a CIDR such as 10.9.0.0/16"))?;
        if destination.network() != destination.addr() {
            return Err(format!(
                "route {text:?}: {destination} has host bits set; did you mean {}?",
                destination.trunc()
            ));
        }
        let gateway = match gateway {
            None => None,
            Some(gw) => {
                let gw: IpAddr = gw
                    .trim()
                    .parse()
                    .map_err(|_| format!("route {text:?}: gateway {gw:?} is not an IP address"))?;
                if gw.is_ipv4() != destination.addr().is_ipv4() {
                    return Err(format!(
                        "route {text:?}: gateway and destination are of different IP versions"
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
    /// Whether frames start with an Ethernet header (Ethernet, veth, bridges,
    /// loopback); false for interfaces without one (tun, wireguard).
    pub ethernet: bool,
    pub up: bool,
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
}

impl LiveAddress {
    pub fn owned(&self) -> bool {
        self.protocol == OWNER_PROTO || self.protocol == RUNTIME_PROTO
    }

    pub fn runtime(&self) -> bool {
        self.protocol == RUNTIME_PROTO
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

/// Checks a label the way the kernel will (length) plus what makes it
/// unusable in `ip`/`ifconfig` output (whitespace, '/', empty).
pub fn validate_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("label is empty".into());
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(format!(
            "label {label:?} is {} bytes; the kernel allows at most {MAX_LABEL_LEN} (IFNAMSIZ); use a shorter one such as eth1:0",
            label.len()
        ));
    }
    if label
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c.is_control())
    {
        return Err(format!(
            "label {label:?} contains whitespace, '/' or control characters"
        ));
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

    #[test]
    fn labels_over_15_bytes_are_rejected() {
        assert!(validate_label("eth1:0").is_ok());
        assert!(validate_label("enx00e04c680001").is_ok());
        let err = validate_label("enx00e04c680001:0").unwrap_err();
        assert!(err.contains("15"), "{err}");
        assert!(validate_label("eth 1").is_err());
        assert!(validate_label("").is_err());
    }
}
