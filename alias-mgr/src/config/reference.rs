//! Every key the config file may hold, with its type, default and meaning:
//! the validator takes its lists of valid keys from here and alias-mgr.toml(5)
//! is written from it, so the two cannot drift apart (a test holds the
//! settings' defaults to `Settings::default()`).

/// Where a key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Top,
    Settings,
    Alias,
    Zone,
}

impl Section {
    /// How the section is written in the file.
    pub fn heading(self) -> &'static str {
        match self {
            Section::Top => "top level",
            Section::Settings => "[settings]",
            Section::Alias => "[[alias]]",
            Section::Zone => "[zone.NAME]",
        }
    }
}

pub struct Key {
    pub section: Section,
    pub name: &'static str,
    pub kind: &'static str,
    /// The value when the key is left out ("required" when it may not be).
    pub default: &'static str,
    pub doc: &'static str,
}

const fn key(
    section: Section,
    name: &'static str,
    kind: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        doc,
    }
}

use Section::{Alias, Settings, Top, Zone};

pub const KEYS: &[Key] = &[
    key(Top, "settings", "table", "all defaults", "Settings for the whole host."),
    key(Top, "alias", "array of tables", "none", "One [[alias]] table per alias address."),
    key(Top, "zone", "table of tables", "none", "One [zone.NAME] table per firewall zone."),
    key(Settings, "promote_secondaries", "boolean", "true",
        "Set promote_secondaries on the interfaces alias-mgr manages, so removing a subnet's primary address keeps the other aliases of that subnet."),
    key(Settings, "counters", "boolean", "true",
        "Count each alias's RX/TX bytes and packets with the TC classifier (Linux >= 6.6 for TCX, a bpffs)."),
    key(Settings, "count_on_every_interface", "boolean", "false",
        "Run the classifier on every interface but loopback, so an alias's traffic is counted whichever interface it uses (Linux accepts a packet for a local address on any interface)."),
    key(Settings, "arp_probe_ms", "integer, 0 to 10000", "200",
        "RFC 5227 conflict detection before an IPv4 alias goes up: how long to wait for an answer to the ARP probes; 0 turns it off."),
    key(Settings, "announce_count", "integer", "3",
        "Gratuitous ARP / unsolicited neighbour advertisement rounds after an alias goes up; 0 sends none."),
    key(Settings, "announce_interval_ms", "integer", "1000",
        "Milliseconds between announcement rounds."),
    key(Settings, "announce_refresh_s", "integer", "0",
        "The daemon re-announces every alias this often (seconds; 0: never), for switches whose MAC tables age out quickly."),
    key(Alias, "interface", "string", "required",
        "The interface that carries the alias: its name, an altname or its MAC address."),
    key(Alias, "address", "string", "required",
        "ADDR/PREFIX, IPv4 or IPv6 (an IPv4 netmask such as /255.255.255.0 is accepted)."),
    key(Alias, "label", "string", "the next free IFACE:N (IPv4)",
        "The ifconfig-style label, IFACE or IFACE:SUFFIX, at most 15 bytes; the kernel keeps IPv4 labels only."),
    key(Alias, "zone", "string", "none",
        "The firewall zone the alias's subnet belongs to (a [zone.NAME] table)."),
    key(Alias, "routes", "array of strings", "none",
        "Routes that come and go with the alias: CIDR or CIDR@GATEWAY."),
    key(Alias, "arp_probe_ms", "integer, 0 to 10000", "[settings] arp_probe_ms",
        "This alias's own conflict detection wait."),
    key(Zone, "subnets", "array of strings", "none",
        "Subnets in the zone besides its aliases' own."),
    key(Zone, "input", "\"accept\", \"drop\" or \"reject\"", "\"drop\"",
        "What happens to new traffic from the zone to this host that no allow entry accepts."),
    key(Zone, "allow", "array of strings", "none",
        "Services the zone may reach on this host: tcp/PORT, udp/PORT, PROTO/FIRST-LAST, icmp, icmpv6."),
    key(Zone, "forward", "table of zone = verdict", "drop to every other zone",
        "Forwarding from this zone to others, as shorewall's policy file: { dmz = \"accept\" }; inside the zone it is accept."),
];

/// The valid key names of a section, in the order of [`KEYS`].
pub fn key_names(section: Section) -> Vec<&'static str> {
    KEYS.iter()
        .filter(|k| k.section == section)
        .map(|k| k.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::desired::Settings as SettingsValues;

    fn default_of(name: &str) -> &'static str {
        KEYS.iter()
            .find(|k| k.section == Settings && k.name == name)
            .map(|k| k.default)
            .unwrap()
    }

    #[test]
    fn the_settings_defaults_shown_are_the_defaults_applied() {
        let d = SettingsValues::default();
        assert_eq!(
            default_of("promote_secondaries"),
            d.promote_secondaries.to_string()
        );
        assert_eq!(default_of("counters"), d.counters.to_string());
        assert_eq!(
            default_of("count_on_every_interface"),
            d.count_on_every_interface.to_string()
        );
        assert_eq!(default_of("arp_probe_ms"), d.arp_probe_ms.to_string());
        assert_eq!(default_of("announce_count"), d.announce_count.to_string());
        assert_eq!(
            default_of("announce_interval_ms"),
            d.announce_interval_ms.to_string()
        );
        assert_eq!(
            default_of("announce_refresh_s"),
            d.announce_refresh_s.to_string()
        );
        assert_eq!(
            key_names(Settings).len(),
            7,
            "a setting without a default checked here"
        );
    }

    #[test]
    fn a_zone_input_left_out_is_drop() {
        assert_eq!(
            crate::core::zones::Verdict::default().to_string(),
            default_of_zone("input").trim_matches('"')
        );
    }

    fn default_of_zone(name: &str) -> &'static str {
        KEYS.iter()
            .find(|k| k.section == Zone && k.name == name)
            .map(|k| k.default)
            .unwrap()
    }
}
