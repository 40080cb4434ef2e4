//! The planner: desired aliases + observed kernel state -> the actions that
//! make the kernel match. Pure: no I/O, unit-tested without root. Uses only
//! the core's model and zones. One file per section, each a part of one
//! `Planner` pass: `addresses`, `routes`, `secondaries` (the same-subnet
//! trap), `counters`; `action` is a step, its inverse and its order.
//!
//! Rules that make it safe to run at any time, from any state:
//! - only addresses and routes marked with [`crate::core::model::OWNER_PROTO`] are ever removed or
//!   changed; a foreign one in the way is a conflict, never touched;
//! - removals of routes come before removals of addresses (the kernel drops
//!   routes whose source address vanishes), counters are forgotten last, so a
//!   failure part-way loses no count;
//! - an IPv4 primary is never removed while `promote_secondaries` is off and
//!   secondaries share its subnet (the kernel would delete them all).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    net::IpAddr,
};

use ipnet::IpNet;

use serde::Serialize;

use crate::core::{
    desired::Config,
    model::{AliasSpec, Interface, LiveAddress, LiveRoute},
    wire::{ArpProbe, OnLink},
    zones::ZoneSpec,
};

mod action;
mod addresses;
mod counters;
#[cfg(test)]
mod lan_tests;
mod routes;
mod secondaries;

pub use action::Action;
pub(crate) use action::ATTACH_RANK;

/// What the kernel holds now, as far as planning needs it.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub interfaces: Vec<Interface>,
    pub addresses: Vec<LiveAddress>,
    pub routes: Vec<LiveRoute>,
    /// `promote_secondaries` of the interfaces that matter (missing = unknown, treated as off).
    pub promote_secondaries: BTreeMap<String, bool>,
    /// Addresses with a key in the counters map.
    pub tracked: BTreeSet<IpAddr>,
    /// Interfaces where the classifier is attached on both hooks.
    pub attached: BTreeSet<String>,
    /// Link pins named after interfaces that no longer exist (deleted, or
    /// renamed: then the link still counts on the renamed interface).
    pub orphaned_links: BTreeSet<String>,
    /// Link pins of renamed interfaces: old name -> the new one, where
    /// the links are attached and counting (listed in `attached` too).
    pub moved_links: BTreeMap<String, String>,
    /// Why this kernel cannot run the classifier (e.g. no TCX), if so.
    pub counters_unavailable: Option<String>,
}

/// What the config asks for.
#[derive(Debug, Clone, Copy)]
pub struct Desired<'a> {
    pub aliases: &'a [AliasSpec],
    /// Turn on promote_secondaries where alias-mgr manages IPv4 aliases.
    pub manage_promote_secondaries: bool,
    /// Firewall zones; their members come from `aliases`.
    pub zones: &'a [ZoneSpec],
    /// Aliases (of `aliases`) to add with the runtime mark (`--runtime`).
    pub runtime: &'a [IpAddr],
    /// Leave runtime-marked addresses and routes that are not in `aliases`
    /// alone (drift healing), instead of removing them (`apply`).
    pub keep_runtime: bool,
    /// Aliases taken out only for now (`del --runtime`; the next `apply`
    /// brings them back): their counters and classifier stay, so no count
    /// is lost.
    pub keep_counting: &'a [AliasSpec],
    /// Count each alias's traffic (`[settings] counters`).
    pub counters: bool,
    /// Count on every interface but loopback, not only those carrying
    /// aliases (`[settings] count_on_every_interface`): traffic for an
    /// alias may arrive anywhere (Linux is a weak host).
    pub count_everywhere: bool,
    /// `[settings] arp_probe_ms`: IPv4 conflict detection before an add.
    pub arp_probe_ms: u32,
    /// Take over live addresses (and their routes) that match a declared
    /// entry exactly, in place, instead of calling them conflicts.
    pub adopt: bool,
    /// Announce added addresses on the LAN (`[settings] announce_count` > 0).
    pub announce: bool,
    /// What the daemon saw before this run (nothing, for the CLI).
    pub seen: &'a Seen,
}

/// What the daemon remembers between reconciles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// IPv4 addresses (by link index) this host held after the previous
    /// reconcile: put back without an ARP probe (the host answered for
    /// them until they were deleted; a link that went away and came back is
    /// probed by the daemon as a whole).
    pub held_here: BTreeSet<(u32, IpAddr)>,
    /// The zone counters' last values (packets, bytes) by counter name: a
    /// table flushed by someone else is re-created with them.
    pub zone_counts: BTreeMap<String, (u64, u64)>,
}

/// For runs that saw nothing before (every CLI command).
pub static NOTHING_SEEN: Seen = Seen {
    held_here: BTreeSet::new(),
    zone_counts: BTreeMap::new(),
};

impl<'a> Desired<'a> {
    /// Everything the file declares, as `apply` converges to it.
    pub fn of(config: &'a Config) -> Self {
        let settings = &config.settings;
        Desired {
            aliases: &config.aliases,
            manage_promote_secondaries: settings.promote_secondaries,
            zones: &config.zones,
            runtime: &[],
            keep_runtime: false,
            keep_counting: &[],
            counters: settings.counters,
            count_everywhere: settings.count_on_every_interface,
            arp_probe_ms: settings.arp_probe_ms,
            adopt: false,
            announce: settings.announce_count > 0,
            seen: &NOTHING_SEEN,
        }
    }
}

/// Which part of the state a run may change: everything (`apply`) or only
/// what belongs to one alias (`add`/`del` leave every other address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Alias(IpAddr),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Problems that block the run: foreign state in the way.
    pub conflicts: Vec<String>,
    /// Aliases waiting for an interface that does not exist (yet).
    pub pending: Vec<String>,
    /// Things worth telling the user that need no action.
    pub notes: Vec<String>,
    /// What reloading alias-mgr's nftables table would change (filled in
    /// by the caller, which reads the live table).
    pub zone_changes: Vec<String>,
    /// The nft batch that makes those changes, in one transaction.
    #[serde(skip)]
    pub zone_batch: Option<serde_json::Value>,
    /// The zone table as nft listed it for this plan (None: not listed).
    /// A run that loads no batch leaves it so, and checks against it.
    #[serde(skip)]
    pub zone_table_seen: Option<crate::core::zones::LiveTable>,
    /// IPv6 addresses this plan adds on links where duplicate address
    /// detection runs: the run waits for it (and fails on a duplicate)
    /// before going on, as (ifindex, address).
    #[serde(skip)]
    pub await_dad: Vec<(u32, IpAddr)>,
    /// Interfaces the config names that do not exist (their aliases are
    /// pending): when one appears, adding them is no drift.
    #[serde(skip)]
    pub missing_interfaces: BTreeSet<String>,
    /// IPv4 addresses to probe for (RFC 5227) before anything changes.
    #[serde(skip)]
    pub arp_probes: Vec<ArpProbe>,
    /// Addresses this plan adds on links that are on the wire: announced
    /// (gratuitous ARP, unsolicited NA) once they are up.
    #[serde(skip)]
    pub announce: Vec<OnLink>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.zone_changes.is_empty()
    }
}

/// Plans in the order of the sections below; each section reads what the
/// earlier ones decided (which addresses are wanted, which go).
pub fn plan(desired: &Desired, observed: &Observed, scope: Scope) -> Plan {
    let mut planner = Planner::new(desired, observed, scope);
    planner.note_counters_unavailable();
    planner.collect_wanted();
    planner.plan_wanted_aliases();
    planner.remove_unwanted_routes();
    planner.keep_runtime_aliases();
    planner.remove_unwanted_addresses();
    planner.manage_promote_secondaries();
    planner.plan_counters();
    planner.finish()
}

/// The planner's working state: the inputs and what earlier sections decided.
struct Planner<'p> {
    desired: &'p Desired<'p>,
    observed: &'p Observed,
    scope: Scope,
    out: Plan,
    /// Counters wanted and possible on this kernel.
    counting: bool,
    /// Desired aliases whose interface exists, keyed by address.
    wanted: BTreeMap<IpAddr, (&'p AliasSpec, &'p Interface)>,
    /// Runtime aliases that drift healing leaves in place, with their interface.
    kept: BTreeMap<IpAddr, &'p str>,
    interfaces_touched: BTreeSet<&'p str>,
    /// Wanted addresses someone else holds.
    conflicted: BTreeSet<IpAddr>,
    /// Addresses being removed, as (ifindex, address).
    removing: BTreeSet<(u32, IpAddr)>,
    /// Live addresses by address and by subnet (network and prefix): the
    /// sections look them up per alias, which must not cost a scan of all
    /// addresses each at 10,000 aliases.
    live_by_ip: ByKey<'p, IpAddr>,
    live_by_subnet: ByKey<'p, IpNet>,
    /// Wanted aliases by subnet.
    wanted_by_subnet: HashMap<IpNet, Vec<(&'p AliasSpec, &'p Interface)>>,
    /// Declared addresses, and those whose interface is missing.
    declared: HashSet<IpAddr>,
    pending_ips: HashSet<IpAddr>,
}

impl<'p> Planner<'p> {
    fn new(desired: &'p Desired<'p>, observed: &'p Observed, scope: Scope) -> Self {
        Planner {
            desired,
            observed,
            scope,
            out: Plan::default(),
            // Counters off by choice: what exists is removed. Impossible on
            // this kernel: nothing is touched, and the user is told.
            counting: desired.counters && observed.counters_unavailable.is_none(),
            wanted: BTreeMap::new(),
            kept: BTreeMap::new(),
            interfaces_touched: BTreeSet::new(),
            conflicted: BTreeSet::new(),
            removing: BTreeSet::new(),
            live_by_ip: ByKey::new(&observed.addresses, |a| a.address.addr()),
            live_by_subnet: ByKey::new(&observed.addresses, |a| a.address.trunc()),
            wanted_by_subnet: HashMap::new(),
            declared: desired.aliases.iter().map(AliasSpec::ip).collect(),
            pending_ips: HashSet::new(),
        }
    }

    /// The live address `ip` on interface `ifindex`.
    fn live_at(&self, ifindex: u32, ip: IpAddr) -> Option<&'p LiveAddress> {
        self.live_by_ip.get(&ip).find(|a| a.ifindex == ifindex)
    }

    fn in_scope(&self, ip: IpAddr) -> bool {
        self.scope == Scope::All || self.scope == Scope::Alias(ip)
    }

    fn interface(&self, name: &str) -> Option<&'p Interface> {
        self.observed.interfaces.iter().find(|i| i.name == name)
    }

    fn note_counters_unavailable(&mut self) {
        if let (true, Some(reason)) = (self.desired.counters, &self.observed.counters_unavailable) {
            self.out.notes.push(format!(
                "per-address counters are off: {reason}; addresses, routes and zones are managed all the same (set counters = false in [settings] to silence this)"
            ));
        }
    }

    /// Desired aliases whose interface exists; the others are pending.
    fn collect_wanted(&mut self) {
        for alias in self.desired.aliases {
            match self.interface(&alias.interface) {
                Some(iface) => {
                    self.wanted.insert(alias.ip(), (alias, iface));
                }
                None => {
                    self.pending_ips.insert(alias.ip());
                    if self.in_scope(alias.ip()) {
                        self.pending_interface(alias);
                    }
                }
            }
        }
        for entry in self.wanted.values() {
            let subnet = entry.0.address.trunc();
            self.wanted_by_subnet
                .entry(subnet)
                .or_default()
                .push(*entry);
        }
    }

    fn pending_interface(&mut self, alias: &AliasSpec) {
        self.out.missing_interfaces.insert(alias.interface.clone());
        self.out.pending.push(format!(
            "{} on {}: interface {} does not exist; the alias is added when it appears and `alias-mgr apply` runs",
            alias.address, alias.interface, alias.interface
        ));
        // The kernel keeps an interface's addresses across a rename.
        if let Some(moved) = self
            .observed
            .addresses
            .iter()
            .find(|a| a.owned() && a.address.addr() == alias.ip())
        {
            self.out.notes.push(format!(
                "{} is declared for {}, which does not exist, but {} carries it (added by alias-mgr): if {} was renamed, change interface = \"{}\" to \"{}\" in the config; until then the address is left alone",
                alias.address, alias.interface, moved.interface, alias.interface, alias.interface, moved.interface
            ));
        }
    }

    /// Runtime aliases that drift healing leaves in place, with their counters.
    fn keep_runtime_aliases(&mut self) {
        let keep_runtime = self.desired.keep_runtime;
        self.kept = self
            .observed
            .addresses
            .iter()
            .filter(|a| keep_runtime && a.runtime() && !self.wanted.contains_key(&a.address.addr()))
            .map(|a| (a.address.addr(), a.interface.as_str()))
            .collect();
    }

    /// Secondaries go before primaries, so no removal triggers a promotion
    /// of an address that is about to go too.
    fn finish(mut self) -> Plan {
        let mut actions = std::mem::take(&mut self.out.actions);
        let by_ip = &self.live_by_ip;
        let secondary = |action: &Action| match action {
            Action::RemoveAddress {
                ifindex, address, ..
            } => by_ip
                .get(&address.addr())
                .find(|a| a.ifindex == *ifindex)
                .is_some_and(|a| a.secondary),
            _ => false,
        };
        // Cached keys: a stable sort of the actions themselves would copy
        // half of them aside (a megabyte at 10,000 aliases).
        actions.sort_by_cached_key(|a| (a.rank(), !secondary(a)));
        self.out.actions = actions;
        // A plan may be held through a whole run: no doubling slack.
        self.out.actions.shrink_to_fit();
        self.out.arp_probes.shrink_to_fit();
        self.out.announce.shrink_to_fit();
        self.out
    }
}

/// Live addresses grouped by a key, in one sorted Vec: a map of Vecs
/// costs two allocations an address, megabytes at 10,000.
struct ByKey<'p, K> {
    entries: Vec<(K, &'p LiveAddress)>,
}

impl<'p, K: Ord + Copy> ByKey<'p, K> {
    fn new(addresses: &'p [LiveAddress], key: impl Fn(&LiveAddress) -> K) -> Self {
        let mut entries: Vec<(K, &LiveAddress)> = addresses.iter().map(|a| (key(a), a)).collect();
        // Stable: addresses of one key stay in the kernel's order.
        entries.sort_by_key(|(k, _)| *k);
        Self { entries }
    }

    /// The addresses under `key`, in the kernel's order.
    fn get<'s>(&'s self, key: &K) -> impl Iterator<Item = &'p LiveAddress> + 's {
        let key = *key;
        let start = self.entries.partition_point(|(k, _)| *k < key);
        self.entries[start..]
            .iter()
            .take_while(move |(k, _)| *k == key)
            .map(|(_, address)| *address)
    }
}

fn push_unique(actions: &mut Vec<Action>, action: Action) {
    if !actions.contains(&action) {
        actions.push(action);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        fixtures::*,
        model::{DadState, OWNER_PROTO, RUNTIME_PROTO},
    };

    #[test]
    fn addresses_by_key_come_back_in_the_kernels_order() {
        let addresses = [
            live("eth1", 2, "10.0.0.5/24", 0),
            live("eth2", 3, "10.0.1.1/24", 0),
            live("eth0", 1, "10.0.0.5/24", 0),
        ];
        let by_ip = ByKey::new(&addresses, |a| a.address.addr());
        let on: Vec<&str> = by_ip
            .get(&"10.0.0.5".parse().unwrap())
            .map(|a| a.interface.as_str())
            .collect();
        assert_eq!(on, ["eth1", "eth0"]);
        assert_eq!(by_ip.get(&"10.0.0.6".parse().unwrap()).count(), 0);
        let by_subnet = ByKey::new(&addresses, |a| a.address.trunc());
        assert_eq!(by_subnet.get(&net("10.0.1.0/24")).count(), 1);
    }

    /// eth1 with its foreign primary plus an owned, counted 192.168.0.1/24.
    fn observed_with_counted_alias() -> Observed {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", OWNER_PROTO));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        observed
    }

    fn observed_eth1() -> Observed {
        Observed {
            interfaces: vec![interface("eth1", 2)],
            addresses: vec![live("eth1", 2, "192.168.1.1/24", FOREIGN)],
            promote_secondaries: [("eth1".to_string(), true)].into(),
            ..Default::default()
        }
    }

    fn desired(aliases: &[AliasSpec]) -> Desired<'_> {
        Desired {
            aliases,
            manage_promote_secondaries: true,
            zones: &[],
            runtime: &[],
            keep_runtime: false,
            keep_counting: &[],
            counters: true,
            count_everywhere: false,
            arp_probe_ms: 200,
            adopt: false,
            announce: true,
            seen: &crate::core::plan::NOTHING_SEEN,
        }
    }

    #[test]
    fn new_alias_is_added_tracked_and_counted() {
        let aliases = [alias("eth1", "192.168.0.1/24")
            .label("eth1:0")
            .routes(&["10.9.0.0/16@192.168.0.254"])];
        let plan = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "+ address 192.168.0.1/24 dev eth1 label eth1:0",
                "+ route 10.9.0.0/16@192.168.0.254 dev eth1 src 192.168.0.1",
                "+ classifier on eth1 (TCX ingress+egress)",
                "+ counters for 192.168.0.1",
            ]
        );
        assert!(plan.conflicts.is_empty());
    }

    #[test]
    fn converged_state_plans_nothing() {
        let aliases = [alias("eth1", "192.168.0.1/24")
            .label("eth1:0")
            .routes(&["10.9.0.0/16@192.168.0.254"])];
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", OWNER_PROTO).label("eth1:0"));
        observed.routes.push(owned_route(
            "10.9.0.0/16",
            "192.168.0.254",
            2,
            "192.168.0.1",
        ));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert!(plan.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn foreign_address_is_a_conflict_and_never_removed() {
        let aliases = [alias("eth1", "192.168.1.1/24")];
        let plan = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        assert_eq!(plan.conflicts.len(), 1, "{plan:?}");
        assert!(plan.conflicts[0].contains("not added by alias-mgr"));
        assert!(!plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::RemoveAddress { .. } | Action::AddAddress { .. })));
        // And with an empty config, the foreign primary stays.
        let plan = super::plan(&desired(&[]), &observed_eth1(), Scope::All);
        assert!(plan.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn owned_address_not_in_config_is_removed_with_its_routes_and_counters() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", OWNER_PROTO));
        observed.routes.push(owned_route(
            "10.9.0.0/16",
            "192.168.0.254",
            2,
            "192.168.0.1",
        ));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let plan = plan(&desired(&[]), &observed, Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "- route 10.9.0.0/16@192.168.0.254 dev eth1",
                "- address 192.168.0.1/24 dev eth1",
                "- counters for 192.168.0.1",
                "- classifier on eth1",
            ]
        );
    }

    #[test]
    fn same_subnet_alias_turns_on_promote_secondaries_and_says_so() {
        let mut observed = observed_eth1();
        observed.promote_secondaries.insert("eth1".into(), false);
        let aliases = [alias("eth1", "192.168.1.27/24").label("eth1:0")];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert_eq!(
            plan.actions[0].to_string(),
            "~ sysctl net.ipv4.conf.eth1.promote_secondaries = 1"
        );
        assert!(
            plan.notes.iter().any(|n| n.contains("secondary")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn a_subnet_already_on_another_interface_is_a_warning_with_the_fix() {
        let mut observed = observed_eth1();
        observed.interfaces.push(interface("en0", 3));
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", FOREIGN));
        let aliases = [alias("en0", "192.168.0.2/24")];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        let warning = plan
            .notes
            .iter()
            .find(|n| n.contains("ARP flux"))
            .unwrap_or_else(|| panic!("{:?}", plan.notes));
        assert!(warning.contains("192.168.0.2/24 on en0"), "{warning}");
        assert!(warning.contains("also on eth1 (192.168.0.1)"), "{warning}");
        assert!(warning.contains("arp_ignore=1"), "{warning}");
        assert!(plan.conflicts.is_empty());
        // Two declared aliases of one subnet on two interfaces: each warned.
        let both = [alias("eth1", "10.7.0.1/24"), alias("en0", "10.7.0.2/24")];
        let plan = super::plan(&desired(&both), &observed, Scope::All);
        let flux: Vec<_> = plan
            .notes
            .iter()
            .filter(|n| n.contains("ARP flux"))
            .collect();
        assert_eq!(flux.len(), 2, "{flux:?}");
        // A different subnet on the other interface is no warning.
        let apart = [alias("en0", "10.8.0.2/24")];
        let plan = super::plan(&desired(&apart), &observed, Scope::All);
        assert!(!plan.notes.iter().any(|n| n.contains("ARP flux")));
    }

    #[test]
    fn removing_a_primary_with_secondaries_needs_promote_secondaries() {
        let mut observed = observed_eth1();
        observed.promote_secondaries.insert("eth1".into(), false);
        observed.addresses = vec![
            live("eth1", 2, "192.168.1.1/24", OWNER_PROTO),
            live("eth1", 2, "192.168.1.2/24", FOREIGN).secondary(),
        ];
        let unmanaged = Desired {
            aliases: &[],
            manage_promote_secondaries: false,
            zones: &[],
            runtime: &[],
            keep_runtime: false,
            keep_counting: &[],
            counters: true,
            count_everywhere: false,
            arp_probe_ms: 200,
            adopt: false,
            announce: true,
            seen: &crate::core::plan::NOTHING_SEEN,
        };
        let plan = plan(&unmanaged, &observed, Scope::All);
        assert_eq!(plan.conflicts.len(), 1, "{plan:?}");
        assert!(plan.conflicts[0].contains("192.168.1.2/24"));
        // The conflict holds its removal back, also for the daemon, which
        // heals around conflicts.
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::RemoveAddress { .. })),
            "{plan:?}"
        );
        let managed = super::plan(&desired(&[]), &observed, Scope::All);
        assert!(managed.conflicts.is_empty(), "{managed:?}");
        assert_eq!(
            managed.actions[0].to_string(),
            "~ sysctl net.ipv4.conf.eth1.promote_secondaries = 1"
        );
    }

    #[test]
    fn prefix_change_of_an_owned_alias_replaces_it() {
        let observed = observed_with_counted_alias();
        let aliases = [alias("eth1", "192.168.0.1/16")];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "- address 192.168.0.1/24 dev eth1",
                "+ address 192.168.0.1/16 dev eth1"
            ]
        );
    }

    #[test]
    fn missing_interface_is_pending_not_an_error() {
        let aliases = [alias("eth9", "192.168.0.1/24")];
        let plan = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.pending.len(), 1);
    }

    #[test]
    fn alias_scope_leaves_other_owned_addresses_alone() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.5.5/24", OWNER_PROTO));
        let aliases = [alias("eth1", "192.168.0.1/24")];
        let plan = plan(
            &desired(&aliases),
            &observed,
            Scope::Alias("192.168.0.1".parse().unwrap()),
        );
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::RemoveAddress { .. })),
            "{:?}",
            plan.actions
        );
    }

    #[test]
    fn changed_route_gateway_replaces_the_owned_route() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", OWNER_PROTO));
        observed.routes.push(owned_route(
            "10.9.0.0/16",
            "192.168.0.253",
            2,
            "192.168.0.1",
        ));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let aliases = [alias("eth1", "192.168.0.1/24").routes(&["10.9.0.0/16@192.168.0.254"])];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "- route 10.9.0.0/16@192.168.0.253 dev eth1",
                "+ route 10.9.0.0/16@192.168.0.254 dev eth1 src 192.168.0.1"
            ]
        );
    }

    #[test]
    fn ipv6_labels_are_not_compared() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "2001:db8::5/64", OWNER_PROTO));
        observed.tracked.insert("2001:db8::5".parse().unwrap());
        observed.attached.insert("eth1".into());
        let aliases = [alias("eth1", "2001:db8::5/64").label("eth1:v6")];
        assert!(plan(&desired(&aliases), &observed, Scope::All).is_empty());
    }

    #[test]
    fn drift_healing_keeps_runtime_aliases_that_apply_removes() {
        let mut observed = observed_eth1();
        let mut runtime = live("eth1", 2, "192.168.7.1/24", OWNER_PROTO);
        runtime.protocol = RUNTIME_PROTO;
        observed.addresses.push(runtime);
        observed.tracked.insert("192.168.7.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let healing = Desired {
            keep_runtime: true,
            keep_counting: &[],
            ..desired(&[])
        };
        assert!(plan(&healing, &observed, Scope::All).is_empty());
        let text: Vec<String> = plan(&desired(&[]), &observed, Scope::All)
            .actions
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "- address 192.168.7.1/24 dev eth1",
                "- counters for 192.168.7.1",
                "- classifier on eth1"
            ]
        );
    }

    #[test]
    fn runtime_aliases_are_added_with_the_runtime_mark() {
        let aliases = [alias("eth1", "192.168.0.1/24").routes(&["10.9.0.0/16@192.168.0.254"])];
        let runtime = ["192.168.0.1".parse().unwrap()];
        let wanted = Desired {
            runtime: &runtime,
            ..desired(&aliases)
        };
        let plan = plan(&wanted, &observed_eth1(), Scope::All);
        assert!(plan.actions.iter().any(
            |a| matches!(a, Action::AddAddress { protocol, .. } if *protocol == RUNTIME_PROTO)
        ));
        assert!(plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { protocol, .. } if *protocol == RUNTIME_PROTO)));
        assert!(plan.actions[0].to_string().ends_with("(runtime)"));
    }

    #[test]
    fn orphaned_link_pins_are_forgotten_before_anything_is_attached() {
        let mut observed = observed_eth1();
        observed.orphaned_links.insert("eth7".into());
        let aliases = [alias("eth1", "192.168.0.1/24")];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert_eq!(
            plan.actions[0],
            Action::ForgetLink {
                interface: "eth7".into()
            }
        );
        assert!(plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Attach { interface, .. } if interface == "eth1")));
    }

    #[test]
    fn counters_off_by_setting_are_removed_and_off_by_kernel_are_left() {
        let observed = observed_with_counted_alias();
        let aliases = [alias("eth1", "192.168.0.1/24")];
        let off = Desired {
            counters: false,
            count_everywhere: false,
            ..desired(&aliases)
        };
        let text: Vec<String> = plan(&off, &observed, Scope::All)
            .actions
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(text, ["- counters for 192.168.0.1", "- classifier on eth1"]);

        let mut old_kernel = observed_eth1();
        old_kernel.counters_unavailable = Some("kernel 6.1 has no TCX".into());
        let plan = plan(&desired(&aliases), &old_kernel, Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["+ address 192.168.0.1/24 dev eth1"]);
        assert!(
            plan.notes.iter().any(|n| n.contains("no TCX")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn every_action_inverts_back() {
        let actions = [
            Action::Track {
                address: "192.0.2.1".parse().unwrap(),
            },
            Action::SetPromoteSecondaries {
                interface: "eth1".into(),
                enabled: true,
            },
            Action::Attach {
                interface: "eth1".into(),
                ethernet: true,
            },
        ];
        for action in actions {
            assert_eq!(action.inverse().inverse(), action);
            assert_ne!(action.inverse(), action);
        }
    }

    #[test]
    fn routes_wait_for_a_down_interface_instead_of_failing_the_run() {
        let mut observed = observed_eth1();
        observed.interfaces = vec![interface("eth1", 2).down()];
        let aliases = [alias("eth1", "192.168.0.1/24").routes(&["10.9.0.0/16@192.168.0.254"])];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert!(plan.conflicts.is_empty());
        assert!(plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddAddress { .. })));
        assert!(!plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { .. })));
        assert!(
            plan.pending
                .iter()
                .any(|p| p.contains("10.9.0.0/16") && p.contains("eth1 is down")),
            "{:?}",
            plan.pending
        );
    }

    #[test]
    fn ipv6_routes_wait_for_carrier_and_new_ipv6_addresses_await_dad() {
        let aliases = [alias("eth1", "2001:db8::1/64").routes(&["2001:db8:9::/48@2001:db8::fe"])];
        let plan_up = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        assert_eq!(plan_up.await_dad, vec![(2, "2001:db8::1".parse().unwrap())]);
        assert!(plan_up
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { .. })));

        let mut no_carrier = observed_eth1();
        no_carrier.interfaces[0].carrier = false;
        let plan = plan(&desired(&aliases), &no_carrier, Scope::All);
        assert!(
            plan.await_dad.is_empty(),
            "DAD cannot finish without carrier"
        );
        assert!(!plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { .. })));
        assert!(
            plan.pending.iter().any(|p| p.contains("no carrier")),
            "{:?}",
            plan.pending
        );

        // IPv4 needs no carrier for its routes.
        let v4 = [alias("eth1", "192.168.0.1/24").routes(&["10.9.0.0/16@192.168.0.254"])];
        let plan = super::plan(&desired(&v4), &no_carrier, Scope::All);
        assert!(plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { .. })));
        assert!(plan.await_dad.is_empty());
    }

    #[test]
    fn a_failed_dad_is_reported_and_its_routes_wait() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "2001:db8::2/64", OWNER_PROTO).dad(DadState::Failed));
        let aliases = [alias("eth1", "2001:db8::2/64").routes(&["2001:db8:9::/48@2001:db8::fe"])];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("failed duplicate address detection")),
            "{:?}",
            plan.notes
        );
        assert!(!plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::AddRoute { .. })));
    }

    #[test]
    fn aliases_of_a_renamed_interface_are_named_and_left_alone() {
        let mut observed = observed_eth1();
        observed.interfaces[0].name = "lan0".into();
        for address in &mut observed.addresses {
            address.interface = "lan0".into();
        }
        observed
            .addresses
            .push(live("lan0", 2, "192.168.0.1/24", OWNER_PROTO));
        let aliases = [alias("eth1", "192.168.0.1/24")];
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("renamed") && n.contains("\"lan0\"")),
            "{:?}",
            plan.notes
        );
        assert!(!plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::RemoveAddress { .. })));
    }
}
