//! Types shared by the TC classifier (built for `bpfel-unknown-none`) and by
//! userspace (`alias-mgr`, which enables the `user` feature for `aya::Pod`).
//!
//! Both sides compile this one file, so the map layout cannot drift apart.
#![no_std]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Name of the per-CPU hash map of counters, also its pin file name.
pub const COUNTERS_MAP: &str = "COUNTERS";
/// How many addresses the counters map can track.
pub const MAX_TRACKED_ADDRESSES: u32 = 16_384;
/// Program names, as userspace looks them up in the object.
/// `*_eth` parse an Ethernet header (with up to two VLAN tags) first;
/// `*_raw` are for interfaces without a link-layer header (tun, wireguard).
pub const PROG_INGRESS_ETH: &str = "ingress_eth";
pub const PROG_EGRESS_ETH: &str = "egress_eth";
pub const PROG_INGRESS_RAW: &str = "ingress_raw";
pub const PROG_EGRESS_RAW: &str = "egress_raw";

/// Map key: the address in IPv6 form. IPv4 addresses use the IPv4-mapped
/// form `::ffff:a.b.c.d`, so one map with one key size holds both families.
///
/// Aligned to 8 so the classifier builds it with two word stores on its
/// stack (the verifier rejects misaligned stack access) instead of a byte
/// loop.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct AddrKey {
    pub addr: [u8; 16],
}

impl AddrKey {
    pub const fn from_ipv4_octets(o: [u8; 4]) -> Self {
        let mapped = [0, 0, 0xff, 0xff, o[0], o[1], o[2], o[3]];
        Self::from_words([0, u64::from_ne_bytes(mapped)])
    }

    pub const fn from_ipv6_octets(addr: [u8; 16]) -> Self {
        Self { addr }
    }

    /// From the address's 16 bytes taken as two words in memory order. The
    /// classifier builds keys this way: as bytes, LLVM splits the key into
    /// sixteen values and stores them one at a time.
    pub const fn from_words(words: [u64; 2]) -> Self {
        // SAFETY: both are 16 bytes, AddrKey is aligned to 8 and every bit
        // pattern is a valid [u8; 16].
        unsafe { core::mem::transmute::<[u64; 2], Self>(words) }
    }

    /// The address this key stands for (mapped IPv4 comes back as IPv4).
    pub fn ip(&self) -> IpAddr {
        let v6 = Ipv6Addr::from(self.addr);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }
}

impl From<IpAddr> for AddrKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::from(v4),
            IpAddr::V6(v6) => Self::from_ipv6_octets(v6.octets()),
        }
    }
}

impl From<Ipv4Addr> for AddrKey {
    fn from(v4: Ipv4Addr) -> Self {
        Self::from_ipv4_octets(v4.octets())
    }
}

/// Per-address traffic, one copy per CPU in the map (summed by userspace).
///
/// A packet is a wire packet: a GSO/GRO super-packet counts as its segments.
/// A byte is a byte of the link-layer frame without FCS, as `ip -s link`
/// counts it (14-byte Ethernet header included); for a GSO/GRO super-packet
/// the headers every segment carries on the wire are counted once per segment.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

impl TrafficCounters {
    /// Adds another CPU's share (wrapping: counters are monotonic u64).
    pub fn accumulate(&mut self, other: &TrafficCounters) {
        self.rx_packets = self.rx_packets.wrapping_add(other.rx_packets);
        self.rx_bytes = self.rx_bytes.wrapping_add(other.rx_bytes);
        self.tx_packets = self.tx_packets.wrapping_add(other.tx_packets);
        self.tx_bytes = self.tx_bytes.wrapping_add(other.tx_bytes);
    }
}

// SAFETY: both are repr(C), made only of integers, with no padding.
#[cfg(feature = "user")]
unsafe impl aya::Pod for AddrKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for TrafficCounters {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_keys_use_the_mapped_form_and_round_trip() {
        let ip: IpAddr = "192.168.0.1".parse().unwrap();
        let key = AddrKey::from(ip);
        assert_eq!(&key.addr[..12], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(key.ip(), ip);
    }

    #[test]
    fn ipv6_keys_round_trip() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(AddrKey::from(ip).ip(), ip);
    }

    #[test]
    fn keys_built_from_words_read_off_a_packet_match_keys_built_from_bytes() {
        let v6: Ipv6Addr = "2001:db8::1:2".parse().unwrap();
        let octets = v6.octets();
        let words = [
            u64::from_ne_bytes(octets[..8].try_into().unwrap()),
            u64::from_ne_bytes(octets[8..].try_into().unwrap()),
        ];
        assert_eq!(
            AddrKey::from_words(words),
            AddrKey::from_ipv6_octets(octets)
        );
        let v4 = AddrKey::from_ipv4_octets([192, 0, 2, 7]);
        assert_eq!(v4.ip(), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn layout_has_no_padding() {
        assert_eq!(core::mem::size_of::<AddrKey>(), 16);
        assert_eq!(core::mem::size_of::<TrafficCounters>(), 32);
    }

    #[test]
    fn accumulate_sums_every_field() {
        let mut total = TrafficCounters::default();
        let one = TrafficCounters {
            rx_packets: 1,
            rx_bytes: 2,
            tx_packets: 3,
            tx_bytes: 4,
        };
        total.accumulate(&one);
        total.accumulate(&one);
        assert_eq!(
            total,
            TrafficCounters {
                rx_packets: 2,
                rx_bytes: 4,
                tx_packets: 6,
                tx_bytes: 8
            }
        );
    }
}
