//! The desired state as the config file declares it.

use serde::Serialize;

use super::{model::AliasSpec, zones::ZoneSpec};

/// The whole desired state, as declared by the file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Config {
    pub settings: Settings,
    pub aliases: Vec<AliasSpec>,
    pub zones: Vec<ZoneSpec>,
}

/// `[settings]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Whether alias-mgr sets `promote_secondaries` on the interfaces it
    /// manages, so deleting a primary address does not take its secondaries
    /// (the other aliases of the subnet) with it.
    pub promote_secondaries: bool,
    /// Whether alias-mgr counts each alias's traffic with its TC classifier
    /// (needs Linux >= 6.6 for TCX and a bpffs).
    pub counters: bool,
    /// Whether the classifier runs on every interface but loopback, so an
    /// alias's traffic is counted whichever interface it comes in or goes
    /// out by (Linux accepts a packet for any local address on any
    /// interface), not only on the interfaces that carry aliases.
    pub count_on_every_interface: bool,
    /// RFC 5227 conflict detection before an IPv4 alias goes up: how long
    /// a run waits for an answer to its ARP probes (all probed at once);
    /// 0 turns it off. An alias's own `arp_probe_ms` overrides it.
    pub arp_probe_ms: u32,
    /// Gratuitous ARP / unsolicited neighbour advertisements sent after an
    /// alias goes up (0: none), `announce_interval_ms` apart.
    pub announce_count: u32,
    pub announce_interval_ms: u32,
    /// The daemon re-announces every alias this often (s; 0: never), for
    /// switches whose MAC tables age out quickly.
    pub announce_refresh_s: u32,
}

/// What `arp_probe_ms` may be: 0 (off) up to 10 s, past RFC 5227's own
/// worst case (PROBE_WAIT + 3 probes, PROBE_MAX apart: about 7 s).
pub const ARP_PROBE_MS: std::ops::RangeInclusive<u32> = 0..=10_000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            promote_secondaries: true,
            counters: true,
            count_on_every_interface: false,
            // systemd-networkd and NetworkManager probe for 200 ms too.
            arp_probe_ms: 200,
            announce_count: 3,
            announce_interval_ms: 1000,
            announce_refresh_s: 0,
        }
    }
}
