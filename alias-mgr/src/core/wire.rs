//! The few link-layer messages alias-mgr puts on the wire, as bytes: ARP
//! (RFC 826, used as RFC 5227 says) and the IPv6 unsolicited neighbour
//! advertisement (RFC 4861 section 7.2.6). Pure: `sys::arp` and
//! `sys::ndisc` do the sending.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

use serde::Serialize;

/// A 48-bit hardware address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const ZERO: Mac = Mac([0; 6]);
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// Whether frames can be sent from it (not all zero, as on loopback).
    pub fn is_usable(&self) -> bool {
        *self != Mac::ZERO && *self != Mac::BROADCAST && self.0[0] & 1 == 0
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Mac {
    /// `52:54:00:12:34:56` (or with `-`), any case; None for anything
    /// else. Cheap on a non-MAC: every alias's interface name is tried.
    pub fn parse(text: &str) -> Option<Mac> {
        let mut mac = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for byte in &mut mac {
            let part = parts.next().filter(|p| {
                (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_hexdigit())
            })?;
            *byte = u8::from_str_radix(part, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(mac))
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Mac::parse(text)
            .ok_or_else(|| format!("{text:?} is not a MAC address such as 52:54:00:12:34:56"))
    }
}

/// One address on one link, as the messages about it need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnLink {
    pub interface: String,
    pub ifindex: u32,
    #[serde(serialize_with = "as_text")]
    pub mac: Mac,
    pub ip: IpAddr,
}

/// An IPv4 address to probe for before it goes up, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArpProbe {
    #[serde(flatten)]
    pub on: OnLink,
    pub wait_ms: u32,
}

/// Another host on the link answered for (or is probing for) an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArpConflict {
    #[serde(flatten)]
    pub on: OnLink,
    /// The other host's MAC.
    #[serde(serialize_with = "as_text")]
    pub other: Mac,
    /// True when the other host was probing (choosing the address now).
    pub probing: bool,
}

impl fmt::Display for ArpConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OnLink { interface, ip, .. } = &self.on;
        let how = if self.probing {
            "is probing for it right now (RFC 5227)"
        } else {
            "answered an ARP probe for it"
        };
        write!(
            f,
            "{ip} is in use on the link of {interface}: the host with MAC {} {how}; pick another address, or free it on that host (`ip neigh show {ip}` and the switch's MAC table find it)",
            self.other
        )
    }
}

fn as_text<S: serde::Serializer>(mac: &Mac, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(mac)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

/// An Ethernet/IPv4 ARP packet (without the Ethernet header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket {
    pub op: ArpOp,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

const ARP_LEN: usize = 28;

impl ArpPacket {
    pub fn encode(&self) -> [u8; ARP_LEN] {
        let mut bytes = [0u8; ARP_LEN];
        bytes[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
        bytes[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
        bytes[4] = 6;
        bytes[5] = 4;
        let op: u16 = match self.op {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
        };
        bytes[6..8].copy_from_slice(&op.to_be_bytes());
        bytes[8..14].copy_from_slice(&self.sender_mac.0);
        bytes[14..18].copy_from_slice(&self.sender_ip.octets());
        bytes[18..24].copy_from_slice(&self.target_mac.0);
        bytes[24..28].copy_from_slice(&self.target_ip.octets());
        bytes
    }

    /// None for anything but an Ethernet/IPv4 request or reply.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < ARP_LEN || bytes[0..6] != [0, 1, 8, 0, 6, 4] {
            return None;
        }
        let op = match u16::from_be_bytes([bytes[6], bytes[7]]) {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            _ => return None,
        };
        let mac = |at: usize| Mac(bytes[at..at + 6].try_into().expect("6 bytes"));
        let ip = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&bytes[at..at + 4]).expect("4"));
        Some(ArpPacket {
            op,
            sender_mac: mac(8),
            sender_ip: ip(14),
            target_mac: mac(18),
            target_ip: ip(24),
        })
    }

    /// The addresses its sender claims, RFC 5227 section 2.1.1: any packet
    /// whose sender address is X says X is in use; a probe (request from
    /// 0.0.0.0) for X says another host is choosing X now. The flag is
    /// true for a probe.
    pub fn claims(&self) -> Option<(Ipv4Addr, bool)> {
        if !self.sender_ip.is_unspecified() {
            return Some((self.sender_ip, false));
        }
        (self.op == ArpOp::Request && !self.target_ip.is_unspecified())
            .then_some((self.target_ip, true))
    }
}

impl ArpPacket {
    /// An RFC 5227 probe: who has `ip`? asked from 0.0.0.0.
    pub fn probe(own: Mac, ip: Ipv4Addr) -> Self {
        ArpPacket {
            op: ArpOp::Request,
            sender_mac: own,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: Mac::ZERO,
            target_ip: ip,
        }
    }

    /// An RFC 5227 announcement: `ip` is at `own`.
    pub fn announcement(own: Mac, ip: Ipv4Addr) -> Self {
        ArpPacket {
            op: ArpOp::Request,
            sender_mac: own,
            sender_ip: ip,
            target_mac: Mac::ZERO,
            target_ip: ip,
        }
    }
}

/// An unsolicited neighbour advertisement for `target` (to all nodes,
/// Override set, the target link-layer address option): peers replace a
/// cached MAC at once. The checksum is left 0: the kernel fills it in
/// for ICMPv6 raw sockets.
pub fn neighbour_advertisement(target: Ipv6Addr, mac: Mac) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[0] = 136; // Neighbor Advertisement
    bytes[4] = 0x20; // Override; neither Router nor Solicited
    bytes[8..24].copy_from_slice(&target.octets());
    bytes[24] = 2; // Target Link-Layer Address
    bytes[25] = 1; // in units of 8 bytes
    bytes[26..32].copy_from_slice(&mac.0);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: Mac = Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

    #[test]
    fn mac_parses_and_prints_both_separators_any_case() {
        let mac: Mac = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(mac, OWN);
        assert_eq!("52-54-00-12-34-56".parse::<Mac>().unwrap(), OWN);
        assert_eq!("52:54:0:12:34:56".parse::<Mac>().unwrap(), OWN);
        assert_eq!(OWN.to_string(), "52:54:00:12:34:56");
        for bad in [
            "",
            "52:54:00:12:34",
            "52:54:00:12:34:56:78",
            "52:54:00:12:34:5g",
            "525:4:00:12:34:56",
            "+5:54:00:12:34:56",
            "52:54:00:12:34:",
            "eth1",
        ] {
            assert_eq!(Mac::parse(bad), None, "{bad}");
            let err = bad.parse::<Mac>().unwrap_err();
            assert!(err.contains("is not a MAC address"), "{bad}: {err}");
        }
    }

    #[test]
    fn loopback_and_multicast_macs_cannot_send() {
        assert!(OWN.is_usable());
        assert!(!Mac::ZERO.is_usable());
        assert!(!Mac::BROADCAST.is_usable());
        assert!(!Mac([1, 0, 0x5e, 0, 0, 1]).is_usable());
    }

    #[test]
    fn arp_round_trips_and_probe_bytes_are_rfc_5227() {
        let probe = ArpPacket {
            op: ArpOp::Request,
            sender_mac: OWN,
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: Mac::ZERO,
            target_ip: Ipv4Addr::new(192, 168, 0, 50),
        };
        let bytes = probe.encode();
        assert_eq!(&bytes[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&bytes[14..18], &[0, 0, 0, 0]);
        assert_eq!(&bytes[24..28], &[192, 168, 0, 50]);
        assert_eq!(ArpPacket::decode(&bytes), Some(probe));
        assert_eq!(ArpPacket::decode(&bytes[..27]), None);
        let mut other_protocol = bytes;
        other_protocol[2] = 0x86;
        assert_eq!(ArpPacket::decode(&other_protocol), None);
    }

    #[test]
    fn claims_follow_rfc_5227() {
        let ip = Ipv4Addr::new(192, 168, 0, 50);
        let packet = |op, sender_ip, target_ip| ArpPacket {
            op,
            sender_mac: OWN,
            sender_ip,
            target_mac: Mac::ZERO,
            target_ip,
        };
        let zero = Ipv4Addr::UNSPECIFIED;
        let other = Ipv4Addr::new(192, 168, 0, 1);
        // A reply from the owner, a request the owner sends, an announcement.
        assert_eq!(packet(ArpOp::Reply, ip, zero).claims(), Some((ip, false)));
        assert_eq!(
            packet(ArpOp::Request, ip, other).claims(),
            Some((ip, false))
        );
        // A competing probe.
        assert_eq!(packet(ArpOp::Request, zero, ip).claims(), Some((ip, true)));
        // Someone asking who has X claims nothing about X.
        assert_eq!(
            packet(ArpOp::Request, other, ip).claims(),
            Some((other, false))
        );
        assert_eq!(packet(ArpOp::Reply, zero, ip).claims(), None);
    }

    #[test]
    fn neighbour_advertisement_has_override_and_the_mac() {
        let target: Ipv6Addr = "2001:db8::50".parse().unwrap();
        let bytes = neighbour_advertisement(target, OWN);
        assert_eq!(bytes[0], 136);
        assert_eq!(bytes[4] & 0xe0, 0x20);
        assert_eq!(&bytes[8..24], &target.octets());
        assert_eq!(&bytes[24..26], &[2, 1]);
        assert_eq!(&bytes[26..], &OWN.0);
    }
}
