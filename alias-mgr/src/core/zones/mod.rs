//! Firewall zones, pure: as declared here (a zone's subnets, its input and
//! forward policies and the services it may reach, with their text forms);
//! `ruleset` renders them into alias-mgr's nftables table and its
//! one-transaction batch; `live` reads the kernel's copy back and diffs it.
//! Uses only the core's model; `sys::nft` is what talks to nft.

use std::{collections::BTreeMap, fmt, str::FromStr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::text::shown;

pub const SERVICE_FORMS: &str =
    "tcp/PORT, udp/PORT, tcp/FIRST-LAST, udp/FIRST-LAST, tcp or udp (every port), icmp, icmpv6";

/// `[zone.NAME]`: a firewall zone, made of subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneSpec {
    pub name: String,
    /// Extra networks beyond those of the zone's aliases.
    pub subnets: Vec<IpNet>,
    /// Policy for traffic from the zone to this host.
    pub input: Verdict,
    /// Services of this host the zone may reach whatever `input` says.
    pub allow: Vec<Service>,
    /// Policy for traffic forwarded from this zone to another; unlisted
    /// zones get `drop`.
    pub forward: BTreeMap<String, Verdict>,
}

/// What a firewall policy does with a packet.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    #[default]
    Drop,
    Reject,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "accept",
            Verdict::Drop => "drop",
            Verdict::Reject => "reject",
        })
    }
}

impl FromStr for Verdict {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "accept" => Ok(Verdict::Accept),
            "drop" => Ok(Verdict::Drop),
            "reject" => Ok(Verdict::Reject),
            _ => Err(format!(
                "{} is not a verdict; use \"accept\", \"drop\" or \"reject\"",
                shown(text)
            )),
        }
    }
}

/// A service of this host a zone may reach: `tcp/22`, `udp/53`,
/// `tcp/8000-8080`, `tcp` (every port), `icmp`, `icmpv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service {
    pub protocol: ServiceProtocol,
    /// Inclusive port range; None means every port (always None for ICMP).
    pub ports: Option<(u16, u16)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProtocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
}

impl fmt::Display for ServiceProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceProtocol::Tcp => "tcp",
            ServiceProtocol::Udp => "udp",
            ServiceProtocol::Icmp => "icmp",
            ServiceProtocol::Icmpv6 => "icmpv6",
        })
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ports {
            None => write!(f, "{}", self.protocol),
            Some((first, last)) if first == last => write!(f, "{}/{first}", self.protocol),
            Some((first, last)) => write!(f, "{}/{first}-{last}", self.protocol),
        }
    }
}

impl FromStr for Service {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| {
            format!(
                "service {}: {why}; the accepted forms are {SERVICE_FORMS}",
                shown(text)
            )
        };
        let (name, ports) = match text.split_once('/') {
            Some((name, ports)) => (name, Some(ports)),
            None => (text, None),
        };
        let protocol = match name.to_ascii_lowercase().as_str() {
            "tcp" => ServiceProtocol::Tcp,
            "udp" => ServiceProtocol::Udp,
            "icmp" => ServiceProtocol::Icmp,
            "icmpv6" => ServiceProtocol::Icmpv6,
            _ => return Err(bad(format!("unknown protocol {}", shown(name)))),
        };
        let ports = match ports {
            None => None,
            Some(_) if matches!(protocol, ServiceProtocol::Icmp | ServiceProtocol::Icmpv6) => {
                return Err(bad(format!("{protocol} has no ports")))
            }
            Some(ports) => {
                let (first, last) = ports.split_once('-').unwrap_or((ports, ports));
                let (first, last) = (
                    parse_port(first).map_err(bad)?,
                    parse_port(last).map_err(bad)?,
                );
                if first > last {
                    return Err(bad(format!(
                        "port range {first}-{last} is reversed; write {last}-{first}"
                    )));
                }
                Some((first, last))
            }
        };
        Ok(Service { protocol, ports })
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    if text.is_empty() {
        return Err("the port number is missing".into());
    }
    let port: u64 = text
        .parse()
        .map_err(|_| format!("{} is not a port number", shown(text)))?;
    match u16::try_from(port) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("port {port} is outside 1..=65535")),
    }
}

impl Serialize for Service {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Service {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod live;
mod ruleset;

pub use live::*;
pub use ruleset::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_verdicts_round_trip() {
        for text in [
            "tcp/22",
            "udp/53",
            "tcp/8000-8080",
            "icmp",
            "icmpv6",
            "tcp",
            "udp/1-65535",
        ] {
            assert_eq!(text.parse::<Service>().unwrap().to_string(), text);
        }
        assert_eq!(
            "tcp/22-22".parse::<Service>().unwrap().to_string(),
            "tcp/22"
        );
        assert_eq!(
            "icmpv6".parse::<Service>().unwrap(),
            Service {
                protocol: ServiceProtocol::Icmpv6,
                ports: None
            }
        );
        for verdict in [Verdict::Accept, Verdict::Drop, Verdict::Reject] {
            assert_eq!(verdict.to_string().parse::<Verdict>().unwrap(), verdict);
            assert_eq!(
                serde_json::to_string(&verdict).unwrap(),
                format!("\"{verdict}\"")
            );
        }
        assert_eq!(
            serde_json::to_string(&"tcp/1-2".parse::<Service>().unwrap()).unwrap(),
            "\"tcp/1-2\""
        );
    }
}
