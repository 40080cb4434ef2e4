//! alias-mgr's table as the kernel holds it: read from nft's JSON listing
//! (counters with u64 precision), checked against what was loaded, and
//! told apart from the wanted ruleset as `plan`'s lines.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde_json::Value;

use super::{set_name, Ruleset, FAMILY, FINGERPRINT_PREFIX, TABLE};

/// What the kernel's copy of the table holds, parsed from `nft -j list table`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveTable {
    pub exists: bool,
    pub sets: BTreeMap<String, Vec<IpNet>>,
    pub chains: BTreeSet<String>,
    /// Counter name -> (packets, bytes), u64 (the nftables crate's own type is u32).
    pub counters: BTreeMap<String, (u64, u64)>,
    pub fingerprint: Option<String>,
    /// Chain name -> how many rules it holds.
    pub rules: BTreeMap<String, usize>,
}

/// Parses `nft -j list table inet alias_mgr` output with u64 counters.
pub fn parse_live(json: &Value) -> LiveTable {
    let mut live = LiveTable::default();
    for object in json["nftables"].as_array().into_iter().flatten() {
        live.absorb(object);
    }
    live
}

impl LiveTable {
    /// Takes in one object of a listing: a table, set, chain, counter or rule.
    fn absorb(&mut self, object: &Value) {
        if object.get("table").is_some() {
            self.exists = true;
        }
        if let Some(set) = object.get("set") {
            let name = set["name"].as_str().unwrap_or_default().to_string();
            self.sets.insert(name, parse_elems(&set["elem"]));
        }
        if let Some(chain) = object.get("chain") {
            self.chains
                .insert(chain["name"].as_str().unwrap_or_default().to_string());
        }
        if let Some(counter) = object.get("counter") {
            let name = counter["name"].as_str().unwrap_or_default().to_string();
            self.counters.insert(
                name,
                (
                    counter["packets"].as_u64().unwrap_or(0),
                    counter["bytes"].as_u64().unwrap_or(0),
                ),
            );
        }
        if let Some(rule) = object.get("rule") {
            let chain = rule["chain"].as_str().unwrap_or_default().to_string();
            *self.rules.entry(chain).or_default() += 1;
            if let Some(comment) = rule["comment"]
                .as_str()
                .and_then(|c| c.strip_prefix(FINGERPRINT_PREFIX))
            {
                self.fingerprint = Some(comment.to_string());
            }
        }
    }
}

fn parse_elems(elems: &Value) -> Vec<IpNet> {
    elems
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(parse_elem)
        .collect()
}

fn parse_elem(elem: &Value) -> Option<IpNet> {
    if let Some(prefix) = elem.get("prefix") {
        let addr = prefix["addr"].as_str()?.parse().ok()?;
        return IpNet::new(addr, prefix["len"].as_u64()? as u8).ok();
    }
    if let Some(range) = elem.get("range") {
        // nft prints an interval that is not a prefix as a range; keep it
        // visible as its first address.
        let first: std::net::IpAddr = range[0].as_str()?.parse().ok()?;
        return Some(IpNet::from(first));
    }
    let addr: std::net::IpAddr = elem.as_str()?.parse().ok()?;
    Some(IpNet::from(addr))
}

/// The table a batch leaves once nft has taken it (counters at 0), as
/// `nft -j list table` would show it: every batch flushes the table and
/// adds all it should hold.
pub fn table_loaded_by(batch: &Value) -> LiveTable {
    // Read straight from the batch's objects, with no listing built: at
    // 1,000 aliases a copy of every element cost more than the reading.
    let mut live = LiveTable::default();
    for command in batch["nftables"].as_array().into_iter().flatten() {
        if command.pointer("/delete/table").is_some() {
            live = LiveTable::default();
        }
        let Some(added) = command.get("add") else {
            continue;
        };
        match added.get("element") {
            // Elements fill the set added before them, as nft lists it.
            Some(element) => {
                let name = element["name"].as_str().unwrap_or_default();
                if let Some(set) = live.sets.get_mut(name) {
                    *set = parse_elems(&element["elem"]);
                }
            }
            None => live.absorb(added),
        }
    }
    live
}

/// Whether the live table still holds what `desired` loaded: the fingerprint
/// only says which ruleset was loaded, not that nobody edited it since. Every
/// chain with its number of rules, every set with its elements and every
/// counter must be there, and nothing else.
fn intact(desired: &Ruleset, live: &LiveTable) -> bool {
    let chains_match = desired.chains.len() == live.chains.len()
        && desired
            .chains
            .iter()
            .all(|(name, rules)| live.rules.get(name).copied().unwrap_or(0) == rules.len());
    let sets_match = desired.sets.len() == live.sets.len()
        && desired.sets.iter().all(|(name, (_, elements))| {
            let wanted: BTreeSet<&IpNet> = elements.iter().collect();
            live.sets
                .get(name)
                .is_some_and(|live| live.iter().collect::<BTreeSet<_>>() == wanted)
        });
    let counters_match = desired.counters.len() == live.counters.len()
        && desired
            .counters
            .iter()
            .all(|c| live.counters.contains_key(c));
    chains_match && sets_match && counters_match
}

/// Human lines for `plan`: what a reload would change. Empty when the kernel
/// already holds `desired`.
pub fn diff(desired: Option<&Ruleset>, live: &LiveTable) -> Vec<String> {
    let Some(desired) = desired else {
        return if live.exists {
            vec![format!(
                "- nftables table {FAMILY} {TABLE} (no zones configured)"
            )]
        } else {
            vec![]
        };
    };
    let loaded_by_us = live.fingerprint.as_deref() == Some(desired.fingerprint().as_str());
    if loaded_by_us && intact(desired, live) {
        return vec![];
    }
    if loaded_by_us {
        // Our table, edited by hand (`nft delete rule`, `nft flush set`...).
        return vec![format!(
            "~ reload nftables table {FAMILY} {TABLE} (changed outside alias-mgr: restoring its rules)"
        )];
    }
    let mut lines = Vec::new();
    if !live.exists {
        lines.push(format!("+ nftables table {FAMILY} {TABLE}"));
    }
    for (zone, nets) in &desired.members {
        let live_nets: BTreeSet<IpNet> = [true, false]
            .iter()
            .flat_map(|ipv4| {
                live.sets
                    .get(&set_name(zone, *ipv4))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        for net in nets.iter().filter(|n| !live_nets.contains(n)) {
            lines.push(format!("+ zone {zone}: {net}"));
        }
        for net in live_nets.iter().filter(|n| !nets.contains(n)) {
            lines.push(format!("- zone {zone}: {net}"));
        }
    }
    for chain in live
        .chains
        .iter()
        .filter(|c| c.starts_with("in_") && !desired.chains.contains_key(*c))
    {
        lines.push(format!("- zone {}", &chain[3..]));
    }
    // A new table is loaded whole: no separate reload line for it.
    if live.exists {
        lines.push(format!(
            "~ reload nftables table {FAMILY} {TABLE} (zone rules changed)"
        ));
    }
    lines
}
