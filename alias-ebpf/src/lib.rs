//! Types shared by the TC classifier (built for `bpfel-unknown-none`) and by
//! userspace (`alias-mgr`, which enables the `user` feature for `aya::Pod`).
//!
//! Both sides compile this one file, so the map layout cannot drift apart.
#![no_std]

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The counters table is three maps, pinned by these names:
/// - `ADDR_INDEX`: an open-addressing (linear probing) hash table of
///   [`INDEX_SLOTS`] u64 slots, each empty, freed, or a tracked address's counter number with a
///   tag (see [`IndexSlot`]);
/// - `ADDR_KEYS`: the address of each counter number;
/// - `ADDR_COUNTERS`: the per-CPU counts of each counter number.
///
/// Arrays rather than a BPF hash map: the verifier inlines an array lookup
/// to a few instructions, where a hash lookup calls jhash and walks a
/// bucket list; and userspace maps the two shared arrays into memory, so
/// tracking an address is a few stores, not a syscall per key.
pub const INDEX_MAP: &str = "ADDR_INDEX";
pub const KEYS_MAP: &str = "ADDR_KEYS";
pub const COUNTERS_MAP: &str = "ADDR_COUNTERS";
/// The per-CPU hash map of counters of releases before the array table;
/// its counts are carried over, then its pin removed.
pub const LEGACY_COUNTERS_MAP: &str = "COUNTERS";
/// How many addresses the counters table can track.
pub const MAX_TRACKED_ADDRESSES: u32 = 16_384;
/// Slots in the index: four per address, so probes stay short even full.
/// Linear probing at that load makes a run of more than [`MAX_PROBES`]
/// taken slots about a one-in-10^5 event at 16,384 addresses (an address
/// that would need one is refused, with an error saying so). A power of
/// two, for masking.
pub const INDEX_SLOTS: u32 = 4 * MAX_TRACKED_ADDRESSES;
/// The farthest from its home slot an address is ever placed (userspace
/// refuses to place it farther), so a lookup, hit or miss, reads at most
/// this many slots whatever the traffic: about what one BPF hash lookup
/// costs, for a sender aiming at the longest run. A miss usually reads one.
pub const MAX_PROBES: u32 = 32;
/// BPF_F_MMAPABLE: the map can be mapped into userspace memory.
pub const MAP_MMAPABLE: u32 = 1 << 10;

/// One slot of the index, as a u64 (so a slot is read and written whole).
pub struct IndexSlot;

impl IndexSlot {
    /// Never used: probes stop here.
    pub const EMPTY: u64 = 0;
    /// Was used: probes go past it; an insert may reuse it.
    pub const FREED: u64 = u64::MAX;

    /// A used slot: the hash's tag (high half) and counter number + 1 (low
    /// half, so a used slot is never EMPTY, and never FREED as counter
    /// numbers stay far below u32::MAX - 1).
    pub const fn used(tag: u32, counter: u32) -> u64 {
        ((tag as u64) << 32) | (counter as u64 + 1)
    }

    /// The counter number of a used slot with this tag, else None.
    #[inline(always)]
    pub const fn counter_if_tagged(slot: u64, tag: u32) -> Option<u32> {
        let low = slot as u32;
        if (slot >> 32) as u32 == tag && low != 0 && low != u32::MAX {
            Some(low - 1)
        } else {
            None
        }
    }

    /// The counter number of a used slot (any tag), else None.
    pub const fn counter(slot: u64) -> Option<u32> {
        IndexSlot::counter_if_tagged(slot, (slot >> 32) as u32)
    }
}

/// Where an address's probe starts, and the tag that tells most other
/// addresses apart without reading their keys. A multiply-xorshift mix
/// (the murmur3 finalizer's constants): cheap in BPF, and every input bit
/// reaches the slot number, so addresses differing only in their last
/// octets still spread. Both sides call this one function.
#[inline(always)]
pub const fn slot_hash(words: [u64; 2]) -> (u32, u32) {
    let mut x = words[0].wrapping_mul(0xff51_afd7_ed55_8ccd) ^ words[1];
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 29;
    ((x as u32) & (INDEX_SLOTS - 1), (x >> 32) as u32)
}

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
    pub const fn words(&self) -> [u64; 2] {
        // SAFETY: as in from_words.
        unsafe { core::mem::transmute::<Self, [u64; 2]>(*self) }
    }

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
    fn slots_round_trip_and_never_collide_with_the_markers() {
        for (tag, counter) in [(0, 0), (u32::MAX, 0), (7, MAX_TRACKED_ADDRESSES - 1)] {
            let slot = IndexSlot::used(tag, counter);
            assert_ne!(slot, IndexSlot::EMPTY);
            assert_ne!(slot, IndexSlot::FREED);
            assert_eq!(IndexSlot::counter_if_tagged(slot, tag), Some(counter));
            assert_eq!(IndexSlot::counter_if_tagged(slot, tag ^ 1), None);
            assert_eq!(IndexSlot::counter(slot), Some(counter));
        }
        assert_eq!(IndexSlot::counter(IndexSlot::EMPTY), None);
        assert_eq!(IndexSlot::counter(IndexSlot::FREED), None);
        assert_eq!(
            IndexSlot::counter_if_tagged(IndexSlot::FREED, u32::MAX),
            None
        );
    }

    #[test]
    fn consecutive_addresses_spread_over_the_index() {
        // 4,096 addresses of one /20: their home slots must be nearly all
        // distinct, or probes would run long on the commonest layout.
        let mut homes = [0u8; INDEX_SLOTS as usize];
        for i in 0..4096u32 {
            let key = AddrKey::from(Ipv4Addr::from(0x0a00_0000 | i));
            let (home, _) = slot_hash(key.words());
            homes[home as usize] += 1;
        }
        let shared = homes.iter().filter(|&&n| n > 1).count();
        assert!(
            shared < 400,
            "{shared} slots are home to more than one address"
        );
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
