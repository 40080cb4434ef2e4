//! Firewall zones, pure: the config's zones and aliases -> the contents of
//! alias-mgr's own nftables table, the JSON batch that loads it in one
//! transaction, and a readable diff against what the kernel holds.
//!
//! The table (`inet alias_mgr`) is only ever extended by that one batch:
//! - `input` / `forward` base chains (policy accept: alias-mgr only adds
//!   per-zone restrictions, any other firewall keeps its own say) that accept
//!   established and related traffic first, so reloads cut no connection, then
//!   jump by source address to the zone's chain;
//! - one interval set per zone and family with the zone's subnets;
//! - named counters per zone (`in_ZONE_accept`, `in_ZONE_drop`,
//!   `fwd_ZONE_accept`, `fwd_ZONE_drop`), which survive reloads because the
//!   batch flushes rules but re-adds counters (adding an existing one keeps it).
//!
//! Forwarding follows shorewall's policy file: from zone A to zone B the verdict
//! is `A.forward[B]` (default drop); inside one zone it is accept (counted as
//! the zone's forward accepts); to addresses in no zone alias-mgr has no say:
//! the host's own firewall decides.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde_json::{json, Value};

use super::{LiveTable, Service, ServiceProtocol, Verdict, ZoneSpec};
use crate::core::model::AliasSpec;

pub const TABLE: &str = "alias_mgr";
pub const FAMILY: &str = "inet";
pub(super) const FINGERPRINT_PREFIX: &str = "alias-mgr ruleset ";

/// What alias-mgr's table should hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Set name -> (IPv4?, elements).
    pub sets: BTreeMap<String, (bool, Vec<IpNet>)>,
    pub counters: BTreeSet<String>,
    /// Chain name -> its rules (each a list of nft JSON statements).
    pub chains: BTreeMap<String, Vec<Vec<Value>>>,
    /// Zone name -> its subnets, for display and diffs.
    pub members: BTreeMap<String, Vec<IpNet>>,
}

pub fn set_name(zone: &str, ipv4: bool) -> String {
    format!("z_{zone}_{}", if ipv4 { "v4" } else { "v6" })
}

pub fn counter_name(zone: &str, direction: &str, verdict: &str) -> String {
    let dir = if direction == "input" { "in" } else { "fwd" };
    format!("{dir}_{zone}_{verdict}")
}

fn matches(left: Value, right: Value) -> Value {
    json!({"match": {"op": "==", "left": left, "right": right}})
}

fn addr_match(ipv4: bool, field: &str, set: &str) -> Value {
    matches(
        json!({"payload": {"protocol": if ipv4 { "ip" } else { "ip6" }, "field": field}}),
        json!(format!("@{set}")),
    )
}

fn verdict_statements(verdict: Verdict, accept_counter: &str, drop_counter: &str) -> Vec<Value> {
    match verdict {
        Verdict::Accept => vec![json!({"counter": accept_counter}), json!({"accept": null})],
        Verdict::Drop => vec![json!({"counter": drop_counter}), json!({"drop": null})],
        Verdict::Reject => vec![json!({"counter": drop_counter}), json!({"reject": null})],
    }
}

fn service_match(service: &Service) -> Vec<Value> {
    let l4 = |proto: &str| matches(json!({"meta": {"key": "l4proto"}}), json!(proto));
    match (service.protocol, service.ports) {
        (ServiceProtocol::Icmp, _) => vec![l4("icmp")],
        (ServiceProtocol::Icmpv6, _) => vec![l4("ipv6-icmp")],
        (protocol, ports) => {
            let proto = if protocol == ServiceProtocol::Tcp {
                "tcp"
            } else {
                "udp"
            };
            match ports {
                None => vec![l4(proto)],
                Some((first, last)) => {
                    let right = if first == last {
                        json!(first)
                    } else {
                        json!({"range": [first, last]})
                    };
                    vec![matches(
                        json!({"payload": {"protocol": proto, "field": "dport"}}),
                        right,
                    )]
                }
            }
        }
    }
}

/// The table contents for these zones and the aliases assigned to them.
/// None when there is no zone: then alias-mgr's table should not exist.
pub fn render(zones: &[ZoneSpec], aliases: &[AliasSpec]) -> Option<Ruleset> {
    if zones.is_empty() {
        return None;
    }
    let mut ruleset = Ruleset::default();
    for zone in zones {
        add_members(&mut ruleset, zone, aliases);
    }
    let (input, forward) = base_chains(&ruleset, zones);
    for zone in zones {
        let zone_input = zone_input_chain(zone);
        ruleset
            .chains
            .insert(format!("in_{}", zone.name), zone_input);
        let zone_forward = zone_forward_chain(&ruleset, zone, zones);
        ruleset
            .chains
            .insert(format!("fwd_{}", zone.name), zone_forward);
    }
    ruleset.chains.insert("input".into(), input);
    ruleset.chains.insert("forward".into(), forward);
    Some(ruleset)
}

/// The zone's subnets (its own and its aliases'), one set per family, and
/// its four counters.
fn add_members(ruleset: &mut Ruleset, zone: &ZoneSpec, aliases: &[AliasSpec]) {
    let mut nets: Vec<IpNet> = zone.subnets.clone();
    nets.extend(
        aliases
            .iter()
            .filter(|a| a.zone.as_deref() == Some(&zone.name))
            .map(|a| a.address.trunc()),
    );
    // Interval sets refuse overlapping elements: merge them first.
    let nets = IpNet::aggregate(&nets);
    ruleset.members.insert(zone.name.clone(), nets.clone());
    for ipv4 in [true, false] {
        let family: Vec<IpNet> = nets
            .iter()
            .copied()
            .filter(|n| n.addr().is_ipv4() == ipv4)
            .collect();
        if !family.is_empty() {
            ruleset
                .sets
                .insert(set_name(&zone.name, ipv4), (ipv4, family));
        }
    }
    for direction in ["input", "forward"] {
        for verdict in ["accept", "drop"] {
            ruleset
                .counters
                .insert(counter_name(&zone.name, direction, verdict));
        }
    }
}

/// The `input` and `forward` base chains: established traffic, loopback
/// and neighbour discovery first, then a jump by source to each zone.
fn base_chains(ruleset: &Ruleset, zones: &[ZoneSpec]) -> (Vec<Vec<Value>>, Vec<Vec<Value>>) {
    let established = vec![
        json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}),
        json!({"accept": null}),
    ];
    // IPv6 neighbour discovery often uses global source addresses: a zone
    // policy must never break address resolution on its own subnet.
    let neighbour_discovery = vec![
        matches(
            json!({"payload": {"protocol": "icmpv6", "field": "type"}}),
            json!({"set": ["nd-neighbor-solicit", "nd-neighbor-advert", "nd-router-solicit", "nd-router-advert"]}),
        ),
        json!({"accept": null}),
    ];
    let loopback = vec![
        matches(json!({"meta": {"key": "iifname"}}), json!("lo")),
        json!({"accept": null}),
    ];
    let mut input = vec![established.clone(), loopback, neighbour_discovery];
    let mut forward = vec![established];
    for zone in zones {
        for ipv4 in [true, false] {
            let set = set_name(&zone.name, ipv4);
            if ruleset.sets.contains_key(&set) {
                input.push(vec![
                    addr_match(ipv4, "saddr", &set),
                    json!({"jump": {"target": format!("in_{}", zone.name)}}),
                ]);
                forward.push(vec![
                    addr_match(ipv4, "saddr", &set),
                    json!({"jump": {"target": format!("fwd_{}", zone.name)}}),
                ]);
            }
        }
    }
    (input, forward)
}

/// `in_ZONE`: the allowed services, then the zone's input policy.
fn zone_input_chain(zone: &ZoneSpec) -> Vec<Vec<Value>> {
    let accept = counter_name(&zone.name, "input", "accept");
    let drop = counter_name(&zone.name, "input", "drop");
    let mut chain: Vec<Vec<Value>> = zone
        .allow
        .iter()
        .map(|service| {
            let mut rule = service_match(service);
            rule.extend(verdict_statements(Verdict::Accept, &accept, &drop));
            rule
        })
        .collect();
    chain.push(verdict_statements(zone.input, &accept, &drop));
    chain
}

/// `fwd_ZONE`: by destination zone, shorewall's policy: accept inside the
/// zone, `forward[OTHER]` (default drop) to another.
fn zone_forward_chain(ruleset: &Ruleset, zone: &ZoneSpec, zones: &[ZoneSpec]) -> Vec<Vec<Value>> {
    let accept = counter_name(&zone.name, "forward", "accept");
    let drop = counter_name(&zone.name, "forward", "drop");
    let mut chain = Vec::new();
    for other in zones {
        let verdict = if other.name == zone.name {
            Verdict::Accept
        } else {
            zone.forward
                .get(&other.name)
                .copied()
                .unwrap_or(Verdict::Drop)
        };
        for ipv4 in [true, false] {
            let set = set_name(&other.name, ipv4);
            if ruleset.sets.contains_key(&set) {
                let mut rule = vec![addr_match(ipv4, "daddr", &set)];
                rule.extend(verdict_statements(verdict, &accept, &drop));
                chain.push(rule);
            }
        }
    }
    chain
}

impl Ruleset {
    /// A short hash of everything the batch would load: equal fingerprints
    /// mean the kernel already holds this ruleset.
    pub fn fingerprint(&self) -> String {
        let text =
            serde_json::to_string(&(&self.sets, &self.counters, &self.chains)).unwrap_or_default();
        format!("{:016x}", crate::core::text::stable_hash(text.as_bytes()))
    }
}

/// A set named in a delete or flush: the crate's schema wants its type even
/// there, and alias-mgr's set names say it.
fn set_ref(name: &str) -> Value {
    let set_type = if name.ends_with("_v6") {
        "ipv6_addr"
    } else {
        "ipv4_addr"
    };
    json!({"family": FAMILY, "table": TABLE, "name": name, "type": set_type})
}

fn table() -> Value {
    json!({"family": FAMILY, "name": TABLE})
}

/// The one-transaction nft JSON batch that turns `live` into `desired`
/// (or removes the table when `desired` is None). A counter the table lacks
/// is created with its value in `restore` (the last one seen, by name), so
/// a table flushed by someone else (`nft flush ruleset`, an nftables.service
/// restart) comes back without its counters going back to 0.
pub fn batch(
    desired: Option<&Ruleset>,
    live: &LiveTable,
    restore: &BTreeMap<String, (u64, u64)>,
) -> Value {
    let mut cmds = Vec::new();
    let Some(desired) = desired else {
        if live.exists {
            cmds.push(json!({"delete": {"table": table()}}));
        }
        return json!({"nftables": cmds});
    };
    cmds.push(json!({"add": {"table": table()}}));
    // Rules go first (so nothing references what is deleted next); sets,
    // chains and counters that stay are kept, with their counts.
    cmds.push(json!({"flush": {"table": table()}}));
    for chain in live
        .chains
        .iter()
        .filter(|c| !desired.chains.contains_key(*c))
    {
        cmds.push(json!({"delete": {"chain": {"family": FAMILY, "table": TABLE, "name": chain}}}));
    }
    for set in live.sets.keys().filter(|s| !desired.sets.contains_key(*s)) {
        cmds.push(json!({"delete": {"set": set_ref(set)}}));
    }
    for counter in live
        .counters
        .keys()
        .filter(|c| !desired.counters.contains(*c))
    {
        cmds.push(
            json!({"delete": {"counter": {"family": FAMILY, "table": TABLE, "name": counter}}}),
        );
    }
    for (name, (ipv4, nets)) in &desired.sets {
        let set = json!({"family": FAMILY, "table": TABLE, "name": name,
            "type": if *ipv4 { "ipv4_addr" } else { "ipv6_addr" }, "flags": ["interval"]});
        cmds.push(json!({"add": {"set": set}}));
        cmds.push(json!({"flush": {"set": set_ref(name)}}));
        let elem: Vec<Value> = nets
            .iter()
            .map(|n| json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix_len()}}))
            .collect();
        cmds.push(json!({"add": {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elem}}}));
    }
    for counter in &desired.counters {
        let mut add = json!({"family": FAMILY, "table": TABLE, "name": counter});
        // Adding a counter that exists keeps its count; only a missing one
        // takes the remembered value.
        if let (false, Some((packets, bytes))) =
            (live.counters.contains_key(counter), restore.get(counter))
        {
            add["packets"] = json!(packets);
            add["bytes"] = json!(bytes);
        }
        cmds.push(json!({"add": {"counter": add}}));
    }
    for name in desired.chains.keys() {
        let mut chain = json!({"family": FAMILY, "table": TABLE, "name": name});
        if name == "input" || name == "forward" {
            chain["type"] = json!("filter");
            chain["hook"] = json!(name);
            chain["prio"] = json!(0);
            chain["policy"] = json!("accept");
        }
        cmds.push(json!({"add": {"chain": chain}}));
    }
    for (name, rules) in &desired.chains {
        for (index, rule) in rules.iter().enumerate() {
            let mut object = json!({"family": FAMILY, "table": TABLE, "chain": name, "expr": rule});
            if name == "input" && index == 0 {
                object["comment"] = json!(format!("{FINGERPRINT_PREFIX}{}", desired.fingerprint()));
            }
            cmds.push(json!({"add": {"rule": object}}));
        }
    }
    json!({"nftables": cmds})
}

/// Notes for addresses of this host that alias-mgr does not manage but a
/// zone's subnet covers: a same-subnet alias put in a zone puts the whole
/// subnet, the primary's LAN (maybe the admin's) included, under its policy.
pub fn foreign_addresses_in_zones(
    ruleset: &Ruleset,
    addresses: &[crate::core::model::LiveAddress],
) -> Vec<String> {
    let mut notes = Vec::new();
    for (zone, nets) in &ruleset.members {
        for net in nets {
            for address in addresses.iter().filter(|a| {
                !a.owned() && !a.address.addr().is_loopback() && net.contains(&a.address.addr())
            }) {
                notes.push(format!(
                    "zone {zone} covers {net}, the subnet of {} on {} (not an alias): every host there gets zone {zone}'s policy toward this host; narrow the alias's prefix or leave it out of the zone if that is not meant",
                    address.address.addr(),
                    address.interface
                ));
            }
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, live, zone, AliasBuilder, ZoneBuilder, FOREIGN};
    use crate::core::model::OWNER_PROTO;
    use crate::core::zones::{diff, parse_live};

    #[test]
    fn no_zones_means_no_table() {
        assert!(render(&[], &[]).is_none());
        let live = LiveTable {
            exists: true,
            ..Default::default()
        };
        let removal = batch(None, &live, &BTreeMap::new());
        assert_eq!(removal["nftables"][0]["delete"]["table"]["name"], TABLE);
        assert_eq!(
            batch(None, &LiveTable::default(), &BTreeMap::new())["nftables"],
            json!([])
        );
    }

    #[test]
    fn zone_members_come_from_aliases_and_extra_subnets_merged() {
        let lab = zone("lab", Verdict::Drop)
            .allow(&["tcp/22", "icmp"])
            .subnets(&["10.50.0.0/16", "192.168.0.0/16"]);
        let aliases = [
            alias("eth1", "192.168.0.1/24").zone("lab"),
            alias("eth1", "2001:db8:1::1/64").zone("lab"),
        ];
        let ruleset = render(&[lab], &aliases).unwrap();
        assert_eq!(
            ruleset.sets["z_lab_v4"],
            (
                true,
                vec![
                    "10.50.0.0/16".parse().unwrap(),
                    "192.168.0.0/16".parse().unwrap()
                ]
            )
        );
        assert_eq!(
            ruleset.sets["z_lab_v6"].1,
            vec!["2001:db8:1::/64".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn input_chain_accepts_established_first_then_jumps_by_source() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop).allow(&["tcp/22"])],
            &[alias("eth1", "192.168.0.1/24").zone("lab")],
        )
        .unwrap();
        let input = &ruleset.chains["input"];
        assert_eq!(input[0][0]["match"]["left"]["ct"]["key"], "state");
        assert_eq!(input[3][1]["jump"]["target"], "in_lab");
        let zone_chain = &ruleset.chains["in_lab"];
        assert_eq!(zone_chain[0][0]["match"]["right"], 22);
        assert_eq!(zone_chain[0][2], json!({"accept": null}));
        assert_eq!(zone_chain.last().unwrap()[1], json!({"drop": null}));
        assert_eq!(
            zone_chain.last().unwrap()[0],
            json!({"counter": "in_lab_drop"})
        );
    }

    #[test]
    fn forward_matrix_defaults_to_drop_and_accepts_within_a_zone() {
        let zones = [
            zone("lab", Verdict::Drop).forward(&[("dmz", Verdict::Accept)]),
            zone("dmz", Verdict::Reject),
        ];
        let aliases = [
            alias("eth1", "192.168.0.1/24").zone("lab"),
            alias("eth1", "198.51.100.1/24").zone("dmz"),
        ];
        let ruleset = render(&zones, &aliases).unwrap();
        let lab = &ruleset.chains["fwd_lab"];
        let to = |rules: &Vec<Vec<Value>>, set: &str| {
            rules
                .iter()
                .find(|r| r[0]["match"]["right"] == format!("@{set}"))
                .cloned()
                .unwrap()
        };
        // Within the zone: accepted, and counted like any forward accept.
        assert_eq!(to(lab, "z_lab_v4")[1], json!({"counter": "fwd_lab_accept"}));
        assert_eq!(to(lab, "z_lab_v4")[2], json!({"accept": null}));
        assert_eq!(to(lab, "z_dmz_v4")[2], json!({"accept": null}));
        assert_eq!(
            to(&ruleset.chains["fwd_dmz"], "z_lab_v4")[2],
            json!({"drop": null})
        );
        assert_eq!(
            ruleset.chains["in_dmz"].last().unwrap()[1],
            json!({"reject": null})
        );
    }

    #[test]
    fn a_table_flushed_by_someone_else_gets_its_counters_back_with_their_values() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop)],
            &[alias("eth1", "192.168.0.1/24").zone("lab")],
        )
        .unwrap();
        let seen: BTreeMap<String, (u64, u64)> = [
            (
                "in_lab_accept".to_string(),
                (5_000_000_000, 9_000_000_000_000),
            ),
            ("in_lab_drop".to_string(), (7, 700)),
        ]
        .into();
        let adds = |live: &LiveTable| -> Vec<Value> {
            batch(Some(&ruleset), live, &seen)["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|cmd| cmd["add"].get("counter").cloned())
                .filter(|c| c["name"].as_str().unwrap().starts_with("in_lab"))
                .collect()
        };
        let gone = adds(&LiveTable::default());
        assert_eq!(gone[0]["packets"], json!(5_000_000_000u64));
        assert_eq!(gone[0]["bytes"], json!(9_000_000_000_000u64));
        assert_eq!(gone[1]["packets"], json!(7));
        // A counter still there keeps its own count: no value is given.
        let live = LiveTable {
            exists: true,
            counters: [("in_lab_accept".to_string(), (9, 900))].into(),
            ..Default::default()
        };
        let kept = adds(&live);
        assert!(kept[0].get("packets").is_none(), "{kept:?}");
        assert_eq!(kept[1]["packets"], json!(7));
    }

    #[test]
    fn batch_keeps_counters_and_deletes_what_is_gone() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop)],
            &[alias("eth1", "192.168.0.1/24").zone("lab")],
        )
        .unwrap();
        let live = LiveTable {
            exists: true,
            chains: ["input".to_string(), "in_old".to_string()].into(),
            sets: [("z_old_v4".to_string(), vec![])].into(),
            counters: [
                ("in_lab_accept".to_string(), (5, 500)),
                ("in_old_drop".to_string(), (1, 1)),
            ]
            .into(),
            fingerprint: None,
            rules: Default::default(),
        };
        let text = batch(Some(&ruleset), &live, &BTreeMap::new()).to_string();
        assert!(text.contains(r#"{"flush":{"table""#));
        assert!(
            text.contains(r#""delete":{"chain":{"family":"inet","name":"in_old""#),
            "{text}"
        );
        assert!(text.contains(r#""delete":{"counter":{"family":"inet","name":"in_old_drop""#));
        assert!(!text.contains(r#""delete":{"counter":{"family":"inet","name":"in_lab_accept""#));
        assert!(text.contains(&ruleset.fingerprint()));
    }

    #[test]
    fn parse_live_reads_u64_counters_sets_and_fingerprint() {
        let json = json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"table": {"family": "inet", "name": "alias_mgr", "handle": 1}},
            {"counter": {"family": "inet", "name": "in_lab_accept", "table": "alias_mgr", "handle": 2, "packets": 5_000_000_000u64, "bytes": 9_000_000_000_000u64}},
            {"set": {"family": "inet", "name": "z_lab_v4", "table": "alias_mgr", "type": "ipv4_addr", "flags": ["interval"],
                     "elem": [{"prefix": {"addr": "192.168.0.0", "len": 24}}, "10.0.0.1"]}},
            {"chain": {"family": "inet", "table": "alias_mgr", "name": "input", "handle": 3}},
            {"rule": {"family": "inet", "table": "alias_mgr", "chain": "input", "handle": 4, "comment": "alias-mgr ruleset 00ff", "expr": []}}
        ]});
        let live = parse_live(&json);
        assert!(live.exists);
        assert_eq!(
            live.counters["in_lab_accept"],
            (5_000_000_000, 9_000_000_000_000)
        );
        assert_eq!(
            live.sets["z_lab_v4"],
            vec![
                "192.168.0.0/24".parse::<IpNet>().unwrap(),
                "10.0.0.1/32".parse().unwrap()
            ]
        );
        assert_eq!(live.fingerprint.as_deref(), Some("00ff"));
    }

    #[test]
    fn diff_names_membership_changes_and_is_empty_when_in_sync() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop)],
            &[alias("eth1", "192.168.0.1/24").zone("lab")],
        )
        .unwrap();
        let lines = diff(Some(&ruleset), &LiveTable::default());
        assert!(
            lines.contains(&"+ zone lab: 192.168.0.0/24".to_string()),
            "{lines:?}"
        );
        assert!(diff(Some(&ruleset), &loaded(&ruleset)).is_empty());
    }

    /// The live table right after `ruleset` was loaded.
    fn loaded(ruleset: &Ruleset) -> LiveTable {
        LiveTable {
            exists: true,
            sets: ruleset
                .sets
                .iter()
                .map(|(name, (_, elements))| (name.clone(), elements.clone()))
                .collect(),
            chains: ruleset.chains.keys().cloned().collect(),
            counters: ruleset
                .counters
                .iter()
                .map(|c| (c.clone(), (0, 0)))
                .collect(),
            fingerprint: Some(ruleset.fingerprint()),
            rules: ruleset
                .chains
                .iter()
                .map(|(name, rules)| (name.clone(), rules.len()))
                .collect(),
        }
    }

    #[test]
    fn our_table_edited_by_hand_is_reloaded() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop).allow(&["icmp"])],
            &[alias("eth1", "192.168.0.1/24").zone("lab")],
        )
        .unwrap();
        let loaded = loaded(&ruleset);
        assert!(diff(Some(&ruleset), &loaded).is_empty());

        let mut rule_deleted = loaded.clone();
        *rule_deleted.rules.get_mut("in_lab").unwrap() -= 1;
        let mut element_deleted = loaded.clone();
        element_deleted.sets.get_mut("z_lab_v4").unwrap().clear();
        let mut counter_deleted = loaded.clone();
        counter_deleted.counters.remove("in_lab_drop");
        for edited in [rule_deleted, element_deleted, counter_deleted] {
            let lines = diff(Some(&ruleset), &edited);
            assert!(
                lines.len() == 1 && lines[0].contains("changed outside alias-mgr"),
                "{lines:?}"
            );
        }
    }

    #[test]
    fn a_zone_over_the_primarys_subnet_is_pointed_out() {
        let ruleset = render(
            &[zone("lab", Verdict::Drop)],
            &[alias("eth1", "192.168.1.50/24").zone("lab")],
        )
        .unwrap();
        let addresses = [
            live("eth1", 2, "192.168.1.1/24", FOREIGN),
            live("eth1", 2, "192.168.1.50/24", OWNER_PROTO),
            live("eth1", 2, "10.0.0.1/8", FOREIGN),
        ];
        let notes = foreign_addresses_in_zones(&ruleset, &addresses);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("192.168.1.1 on eth1"), "{notes:?}");
    }
}
