//! The address index: which device, label and zone each address belongs to
//! and where it stands between the config and the kernel. Rebuilt after each
//! reconcile; a scrape joins it with the counters it reads.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use crate::{
    core::desired::Config,
    core::model::{Interface, LiveAddress},
    core::resolve::{find_interface, sharing_mac},
};

/// Where an address stands between the config and the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressState {
    Applied,
    Pending,
    Missing,
    Conflict,
    Runtime,
    /// Declared, but taken out for now by `del --runtime`.
    Removed,
    Undeclared,
}

impl AddressState {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressState::Applied => "applied",
            AddressState::Pending => "pending",
            AddressState::Missing => "missing",
            AddressState::Conflict => "conflict",
            AddressState::Runtime => "runtime",
            AddressState::Removed => "removed",
            AddressState::Undeclared => "undeclared",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct AddressEntry {
    /// Shared: thousands of aliases sit on a handful of interfaces and zones.
    pub(super) device: Arc<str>,
    pub(super) prefix: u8,
    pub(super) label: Option<Box<str>>,
    pub(super) zone: Option<Arc<str>>,
    /// None for a foreign address: it only names the device of a tracked one.
    pub(super) state: Option<AddressState>,
}

/// The labels of every address: which device, label and zone it belongs to
/// and whether it is alias-mgr's. Built from the config in force and the
/// kernel's addresses after each reconcile; a scrape joins it with the
/// counters it reads.
#[derive(Debug, Default)]
pub struct AddressIndex {
    pub(super) entries: HashMap<IpAddr, AddressEntry>,
    /// Whether the config in force has zones: without any, scrapes do not
    /// run nft (which need not even be installed then).
    pub(super) zones: bool,
}

/// Shares one copy of each device and zone name among the entries.
#[derive(Default)]
struct Names(HashSet<Arc<str>>);

impl Names {
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(name);
        self.0.insert(shared.clone());
        shared
    }
}

impl AddressIndex {
    pub fn build(config: &Config, interfaces: &[Interface], live: &[LiveAddress]) -> Self {
        let mut names = Names::default();
        let mut entries = HashMap::with_capacity(live.len().max(config.aliases.len()));
        index_live(&mut entries, &mut names, live);
        index_declared(&mut entries, &mut names, config, interfaces, live);
        Self {
            entries,
            zones: !config.zones.is_empty(),
        }
    }

    /// Declared aliases held back because another host on the link
    /// answered ARP for them: `conflict`, not `missing`.
    pub fn mark_conflicts(&mut self, held_back: &HashSet<IpAddr>) {
        for ip in held_back {
            if let Some(entry) = self.entries.get_mut(ip) {
                entry.state = Some(AddressState::Conflict);
            }
        }
    }

    /// Declared aliases `del --runtime` took out: `removed`, not `missing`.
    pub fn mark_removed(&mut self, removed: &BTreeSet<IpAddr>) {
        for ip in removed {
            if let Some(entry) = self.entries.get_mut(ip) {
                entry.state = Some(AddressState::Removed);
            }
        }
    }

    /// The state of `ip` if alias-mgr declares or owns it.
    #[cfg(test)]
    pub fn state(&self, ip: IpAddr) -> Option<AddressState> {
        self.entries.get(&ip).and_then(|e| e.state)
    }
}

/// Every address in the kernel: alias-mgr's (runtime or no longer declared)
/// and foreign ones, which only name the device of a tracked address.
fn index_live(
    entries: &mut HashMap<IpAddr, AddressEntry>,
    names: &mut Names,
    live: &[LiveAddress],
) {
    for address in live {
        let ip = address.address.addr();
        let entry = AddressEntry {
            device: names.intern(&address.interface),
            prefix: address.address.prefix_len(),
            label: address.label.as_deref().map(Box::from),
            zone: None,
            state: match (address.owned(), address.runtime()) {
                (true, true) => Some(AddressState::Runtime),
                (true, false) => Some(AddressState::Undeclared),
                (false, _) => None,
            },
        };
        // The same address on two interfaces: alias-mgr's wins.
        match entries.get(&ip) {
            Some(AddressEntry { state: Some(_), .. }) => {}
            _ => {
                entries.insert(ip, entry);
            }
        }
    }
}

/// Every alias the config declares, placed against the kernel's addresses;
/// a declared alias overrides what [`index_live`] found for its address.
fn index_declared(
    entries: &mut HashMap<IpAddr, AddressEntry>,
    names: &mut Names,
    config: &Config,
    interfaces: &[Interface],
    live: &[LiveAddress],
) {
    // By address, so 10,000 aliases are not 10,000 scans of the live list.
    let mut by_ip: HashMap<IpAddr, Vec<&LiveAddress>> = HashMap::with_capacity(live.len());
    for address in live {
        by_ip
            .entry(address.address.addr())
            .or_default()
            .push(address);
    }
    let existing: HashSet<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    for alias in &config.aliases {
        let ip = alias.ip();
        // An altname or MAC in the file: the device is its live name.
        let device = find_interface(&alias.interface, interfaces)
            .map_or(alias.interface.as_str(), |live| live.name.as_str());
        let same_ip = by_ip.get(&ip).map(Vec::as_slice).unwrap_or_default();
        let here = same_ip.iter().copied().find(|a| a.interface == device);
        let elsewhere = same_ip.first().copied();
        let state = match (here, elsewhere) {
            (Some(a), _) if a.owned() => AddressState::Applied,
            (Some(_), _) => AddressState::Conflict,
            (None, Some(a)) if !a.owned() => AddressState::Conflict,
            _ if !sharing_mac(&alias.interface, interfaces).is_empty() => AddressState::Conflict,
            _ if !existing.contains(device) => AddressState::Pending,
            _ => AddressState::Missing,
        };
        // IPv4 labels live in the kernel; IPv6 ones only in the config.
        let label = match here {
            Some(a) if ip.is_ipv4() && a.label.is_some() => a.label.as_deref(),
            _ => alias.label.as_deref(),
        };
        entries.insert(
            ip,
            AddressEntry {
                device: names.intern(device),
                prefix: alias.address.prefix_len(),
                label: label.map(Box::from),
                zone: alias.zone.as_deref().map(|zone| names.intern(zone)),
                state: Some(state),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::ip;
    use crate::metrics::fixtures::index;

    #[test]
    fn address_states_follow_config_and_kernel() {
        let index = index();
        assert_eq!(index.state(ip("192.0.2.1")), Some(AddressState::Applied));
        assert_eq!(index.state(ip("2001:db8::1")), Some(AddressState::Applied));
        assert_eq!(index.state(ip("198.51.100.1")), Some(AddressState::Pending));
        assert_eq!(index.state(ip("192.0.2.7")), Some(AddressState::Missing));
        assert_eq!(index.state(ip("192.0.2.8")), Some(AddressState::Conflict));
        assert_eq!(index.state(ip("192.0.2.50")), Some(AddressState::Runtime));
        assert_eq!(
            index.state(ip("192.0.2.60")),
            Some(AddressState::Undeclared)
        );
        // Foreign addresses only label counters.
        assert_eq!(index.state(ip("203.0.113.9")), None);
        assert_eq!(index.entries.len(), 8);
    }
}
