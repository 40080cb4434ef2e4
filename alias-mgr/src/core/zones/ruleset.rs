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
    add_all_zones_sets(&mut ruleset);
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
    add_sets_by_family(ruleset, &nets, |ipv4| set_name(&zone.name, ipv4));
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
/// zone and to the zones `forward` accepts, drop (or `forward`'s reject) to
/// the rest. Zones never overlap (the loader refuses it), so one rule per
/// zone with another verdict, then one catch-all over every zone's
/// addresses, decide as a rule per pair of zones would: 2 rules a zone at
/// 50 zones instead of 50.
fn zone_forward_chain(ruleset: &Ruleset, zone: &ZoneSpec, zones: &[ZoneSpec]) -> Vec<Vec<Value>> {
    let accept = counter_name(&zone.name, "forward", "accept");
    let drop = counter_name(&zone.name, "forward", "drop");
    let mut chain = Vec::new();
    let verdict_to = |other: &ZoneSpec| {
        if other.name == zone.name {
            Verdict::Accept
        } else {
            zone.forward
                .get(&other.name)
                .copied()
                .unwrap_or(Verdict::Drop)
        }
    };
    for other in zones.iter().filter(|o| verdict_to(o) != Verdict::Drop) {
        for ipv4 in [true, false] {
            let set = set_name(&other.name, ipv4);
            if ruleset.sets.contains_key(&set) {
                let mut rule = vec![addr_match(ipv4, "daddr", &set)];
                rule.extend(verdict_statements(verdict_to(other), &accept, &drop));
                chain.push(rule);
            }
        }
    }
    for ipv4 in [true, false] {
        let set = ALL_ZONES_SET[usize::from(!ipv4)];
        if ruleset.sets.contains_key(set) {
            let mut rule = vec![addr_match(ipv4, "daddr", set)];
            rule.extend(verdict_statements(Verdict::Drop, &accept, &drop));
            chain.push(rule);
        }
    }
    chain
}

/// Every zone's addresses, IPv4 then IPv6: what the forward chains' last
/// rule drops. Zone sets are `z_`-prefixed, so these names clash with none.
const ALL_ZONES_SET: [&str; 2] = ["all_zones_v4", "all_zones_v6"];

/// Adds the sets of all zones' addresses, one per family that has any.
fn add_all_zones_sets(ruleset: &mut Ruleset) {
    let every: Vec<IpNet> = ruleset.members.values().flatten().copied().collect();
    // Adjacent subnets of different zones merge here: one element.
    let every = IpNet::aggregate(&every);
    add_sets_by_family(ruleset, &every, |ipv4| {
        ALL_ZONES_SET[usize::from(!ipv4)].into()
    });
}

/// One set per family of `nets` that has any, named by `name(ipv4)`.
fn add_sets_by_family(ruleset: &mut Ruleset, nets: &[IpNet], name: impl Fn(bool) -> String) {
    for ipv4 in [true, false] {
        let family: Vec<IpNet> = nets
            .iter()
            .copied()
            .filter(|n| n.addr().is_ipv4() == ipv4)
            .collect();
        if !family.is_empty() {
            ruleset.sets.insert(name(ipv4), (ipv4, family));
        }
    }
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
        // Built as values, not through json!, which would serialize every
        // element into a copy.
        let element = json!({"family": FAMILY, "table": TABLE, "name": name});
        cmds.push(json!({"add": {"element": with(element, "elem", Value::Array(elem))}}));
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
            let object = json!({"family": FAMILY, "table": TABLE, "chain": name});
            let mut object = with(object, "expr", Value::Array(rule.clone()));
            if name == "input" && index == 0 {
                object["comment"] = json!(format!("{FINGERPRINT_PREFIX}{}", desired.fingerprint()));
            }
            cmds.push(json!({"add": {"rule": object}}));
        }
    }
    json!({"nftables": cmds})
}

/// `object` with `value` moved in at `key`.
fn with(mut object: Value, key: &str, value: Value) -> Value {
    object[key] = value;
    object
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
#[path = "ruleset_tests.rs"]
mod tests;
