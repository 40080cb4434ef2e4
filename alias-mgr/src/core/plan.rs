//! The planner: desired aliases + observed kernel state -> the actions that
//! make the kernel match. Pure: no I/O, unit-tested without root.
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
    collections::{BTreeMap, BTreeSet},
    fmt,
    net::IpAddr,
};

use ipnet::IpNet;
use serde::Serialize;

use crate::{
    core::model::{
        AliasSpec, DadState, Interface, LiveAddress, LiveRoute, RouteSpec, OWNER_PROTO,
        RUNTIME_PROTO,
    },
    core::zones::ZoneSpec,
};

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
}

/// Which part of the state a run may change: everything (`apply`) or only
/// what belongs to one alias (`add`/`del` leave every other address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Alias(IpAddr),
}

const ADD_ADDRESS_RANK: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    SetPromoteSecondaries {
        interface: String,
        enabled: bool,
    },
    /// `protocol` (here and below) is the owner mark: OWNER_PROTO, or
    /// RUNTIME_PROTO for `--runtime` aliases.
    RemoveRoute {
        interface: String,
        ifindex: u32,
        route: RouteSpec,
        source: IpAddr,
        protocol: u8,
    },
    RemoveAddress {
        interface: String,
        ifindex: u32,
        address: IpNet,
        label: Option<String>,
        protocol: u8,
    },
    AddAddress {
        interface: String,
        ifindex: u32,
        address: IpNet,
        label: Option<String>,
        protocol: u8,
    },
    AddRoute {
        interface: String,
        ifindex: u32,
        route: RouteSpec,
        source: IpAddr,
        protocol: u8,
    },
    Track {
        address: IpAddr,
    },
    Attach {
        interface: String,
        ethernet: bool,
    },
    Untrack {
        address: IpAddr,
    },
    Detach {
        interface: String,
        ethernet: bool,
    },
    /// Removes a link pin whose interface is gone, before anything is
    /// attached, so a renamed interface is never counted twice.
    ForgetLink {
        interface: String,
    },
}

impl Action {
    /// The action that undoes this one (for rollback).
    pub fn inverse(&self) -> Action {
        match self.clone() {
            Action::SetPromoteSecondaries { interface, enabled } => Action::SetPromoteSecondaries {
                interface,
                enabled: !enabled,
            },
            Action::RemoveRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            } => Action::AddRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            },
            Action::AddRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            } => Action::RemoveRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            },
            Action::RemoveAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            } => Action::AddAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            },
            Action::AddAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            } => Action::RemoveAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            },
            Action::Track { address } => Action::Untrack { address },
            Action::Untrack { address } => Action::Track { address },
            Action::Attach {
                interface,
                ethernet,
            } => Action::Detach {
                interface,
                ethernet,
            },
            Action::Detach {
                interface,
                ethernet,
            } => Action::Attach {
                interface,
                ethernet,
            },
            // Nothing to restore: the pin pointed at no interface of that name.
            Action::ForgetLink { interface } => Action::ForgetLink { interface },
        }
    }

    /// The interface this step changes, if it is about one.
    pub fn interface(&self) -> Option<&str> {
        match self {
            Action::SetPromoteSecondaries { interface, .. }
            | Action::RemoveRoute { interface, .. }
            | Action::RemoveAddress { interface, .. }
            | Action::AddAddress { interface, .. }
            | Action::AddRoute { interface, .. }
            | Action::Attach { interface, .. }
            | Action::Detach { interface, .. }
            | Action::ForgetLink { interface } => Some(interface),
            Action::Track { .. } | Action::Untrack { .. } => None,
        }
    }

    /// Whether this step runs before (or is) the adding of addresses, in
    /// execution order: what may go before waiting for IPv6 DAD.
    pub fn up_to_addresses(&self) -> bool {
        self.rank() <= ADD_ADDRESS_RANK
    }

    /// Execution order: see the module docs.
    fn rank(&self) -> u8 {
        match self {
            Action::ForgetLink { .. } => 0,
            Action::SetPromoteSecondaries { .. } => 0,
            Action::RemoveRoute { .. } => 1,
            Action::RemoveAddress { .. } => 2,
            Action::AddAddress { .. } => ADD_ADDRESS_RANK,
            Action::AddRoute { .. } => 4,
            Action::Track { .. } => 5,
            Action::Attach { .. } => 6,
            Action::Untrack { .. } => 7,
            Action::Detach { .. } => 8,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetPromoteSecondaries { interface, enabled } => write!(
                f,
                "~ sysctl net.ipv4.conf.{interface}.promote_secondaries = {}",
                u8::from(*enabled)
            ),
            Action::RemoveRoute {
                interface, route, ..
            } => write!(f, "- route {route} dev {interface}"),
            Action::AddRoute {
                interface,
                route,
                source,
                ..
            } => {
                write!(f, "+ route {route} dev {interface} src {source}")
            }
            Action::RemoveAddress {
                interface,
                address,
                label,
                ..
            } => {
                write!(f, "- address {address} dev {interface}")?;
                label.iter().try_for_each(|l| write!(f, " label {l}"))
            }
            Action::AddAddress {
                interface,
                address,
                label,
                protocol,
                ..
            } => {
                write!(f, "+ address {address} dev {interface}")?;
                label.iter().try_for_each(|l| write!(f, " label {l}"))?;
                if *protocol == RUNTIME_PROTO {
                    write!(f, " (runtime)")?;
                }
                Ok(())
            }
            Action::Track { address } => write!(f, "+ counters for {address}"),
            Action::Untrack { address } => write!(f, "- counters for {address}"),
            Action::Attach { interface, .. } => {
                write!(f, "+ classifier on {interface} (TCX ingress+egress)")
            }
            Action::Detach { interface, .. } => write!(f, "- classifier on {interface}"),
            Action::ForgetLink { interface } => {
                write!(
                    f,
                    "- classifier link pinned for {interface} (no such interface now)"
                )
            }
        }
    }
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
    /// IPv6 addresses this plan adds on links where duplicate address
    /// detection runs: the run waits for it (and fails on a duplicate)
    /// before going on, as (ifindex, address).
    #[serde(skip)]
    pub await_dad: Vec<(u32, IpAddr)>,
    /// Interfaces the config names that do not exist (their aliases are
    /// pending): when one appears, adding them is no drift.
    #[serde(skip)]
    pub missing_interfaces: BTreeSet<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.zone_changes.is_empty()
    }
}

fn label_matches(desired: &AliasSpec, live: &LiveAddress) -> bool {
    if live.address.addr().is_ipv6() {
        return true; // IPv6 has no labels in the kernel.
    }
    let live_label = live.label.as_deref().unwrap_or(&live.interface);
    live_label == desired.label.as_deref().unwrap_or(&desired.interface)
}

fn push_unique(actions: &mut Vec<Action>, action: Action) {
    if !actions.contains(&action) {
        actions.push(action);
    }
}

fn remove_route(observed: &Observed, live: &LiveRoute) -> Action {
    let ifindex = live.ifindex.unwrap_or(0);
    Action::RemoveRoute {
        interface: observed
            .interfaces
            .iter()
            .find(|i| i.index == ifindex)
            .map(|i| i.name.clone())
            .unwrap_or_default(),
        ifindex,
        route: RouteSpec {
            destination: live.destination,
            gateway: live.gateway,
        },
        source: live.preferred_source.unwrap_or(live.destination.addr()),
        protocol: live.protocol,
    }
}

pub fn plan(desired: &Desired, observed: &Observed, scope: Scope) -> Plan {
    let mut out = Plan::default();
    let in_scope = |ip: IpAddr| scope == Scope::All || scope == Scope::Alias(ip);
    // Counters off by choice: what exists is removed. Impossible on this
    // kernel: nothing is touched, and the user is told.
    let counting = desired.counters && observed.counters_unavailable.is_none();
    if let (true, Some(reason)) = (desired.counters, &observed.counters_unavailable) {
        out.notes.push(format!(
            "per-address counters are off: {reason}; addresses, routes and zones are managed all the same (set counters = false in [settings] to silence this)"
        ));
    }
    let interface = |name: &str| observed.interfaces.iter().find(|i| i.name == name);

    // Desired aliases whose interface exists, keyed by address.
    let mut wanted: BTreeMap<IpAddr, (&AliasSpec, &Interface)> = BTreeMap::new();
    for alias in desired.aliases {
        match interface(&alias.interface) {
            Some(iface) => {
                wanted.insert(alias.ip(), (alias, iface));
            }
            None if in_scope(alias.ip()) => {
                out.missing_interfaces.insert(alias.interface.clone());
                out.pending.push(format!(
                    "{} on {}: interface {} does not exist; the alias is added when it appears and `alias-mgr apply` runs",
                    alias.address, alias.interface, alias.interface
                ));
                // The kernel keeps an interface's addresses across a rename.
                if let Some(moved) = observed
                    .addresses
                    .iter()
                    .find(|a| a.owned() && a.address.addr() == alias.ip())
                {
                    out.notes.push(format!(
                        "{} is declared for {}, which does not exist, but {} carries it (added by alias-mgr): if {} was renamed, change interface = \"{}\" to \"{}\" in the config; until then the address is left alone",
                        alias.address, alias.interface, moved.interface, alias.interface, alias.interface, moved.interface
                    ));
                }
            }
            None => {}
        }
    }

    let mut interfaces_touched: BTreeSet<&str> = BTreeSet::new();
    let mut conflicted: BTreeSet<IpAddr> = BTreeSet::new();
    let mut removing: BTreeSet<(u32, IpAddr)> = BTreeSet::new();

    // Addresses and routes the config asks for.
    for (&ip, &(alias, iface)) in &wanted {
        if !in_scope(ip) {
            continue;
        }
        let protocol = if desired.runtime.contains(&ip) {
            RUNTIME_PROTO
        } else {
            OWNER_PROTO
        };
        let mut need_add = true;
        let mut in_conflict = false;
        let mut dad = DadState::Done;
        for live in observed.addresses.iter().filter(|a| a.address.addr() == ip) {
            let same_iface = live.ifindex == iface.index;
            if !live.owned() {
                out.conflicts.push(format!(
                    "{} is already on {} and was not added by alias-mgr (protocol {}); remove it with `ip addr del {} dev {}` or leave it out of the config",
                    live.address, live.interface, live.protocol, live.address, live.interface
                ));
                need_add = false;
                in_conflict = true;
            } else if same_iface
                && live.address.prefix_len() == alias.address.prefix_len()
                && label_matches(alias, live)
            {
                need_add = false;
                dad = live.dad;
                if live.dad == DadState::Failed {
                    out.notes.push(format!(
                        "{} on {} failed duplicate address detection: another host on the link uses it, so it does not work here; pick another address, or once the other host has let it go run `alias-mgr del {} {ip}` and `alias-mgr apply` to try again",
                        alias.address, iface.name, iface.name
                    ));
                }
            } else {
                removing.insert((live.ifindex, ip));
                out.actions.push(Action::RemoveAddress {
                    interface: live.interface.clone(),
                    ifindex: live.ifindex,
                    address: live.address,
                    label: live.label.clone(),
                    protocol: live.protocol,
                });
            }
        }
        // Nothing of an alias whose address someone else holds: no routes
        // from that address, no counting of it.
        if in_conflict {
            conflicted.insert(ip);
            continue;
        }
        if need_add {
            if ip.is_ipv4() {
                if let Some(primary) = observed.addresses.iter().find(|a| {
                    a.ifindex == iface.index
                        && a.address.addr() != ip
                        && a.address.prefix_len() == alias.address.prefix_len()
                        && a.address.trunc() == alias.address.trunc()
                }) {
                    out.notes.push(format!(
                        "{} shares subnet {} with {} on {}: it is added as a secondary address of that subnet",
                        alias.address,
                        alias.address.trunc(),
                        primary.address.addr(),
                        iface.name
                    ));
                }
            }
            out.actions.push(Action::AddAddress {
                interface: iface.name.clone(),
                ifindex: iface.index,
                address: alias.address,
                label: if ip.is_ipv4() {
                    alias.label.clone()
                } else {
                    None
                },
                protocol,
            });
            if ip.is_ipv6() {
                dad = DadState::Tentative;
                if iface.up && iface.carrier {
                    out.await_dad.push((iface.index, ip));
                }
            }
        }
        // A route needs its gateway on-link (no connected route while the
        // interface is down) and an IPv6 source past DAD (which waits for
        // carrier): otherwise it waits, rather than failing the whole run.
        let routes_wait_for = if !iface.up {
            Some(format!("{} is down", iface.name))
        } else if dad == DadState::Failed {
            Some(format!("{ip} failed duplicate address detection"))
        } else if dad == DadState::Tentative && !iface.carrier {
            Some(format!(
                "{} has no carrier, so duplicate address detection of {ip} cannot finish",
                iface.name
            ))
        } else {
            None
        };
        for route in &alias.routes {
            let mut present = false;
            for live in observed
                .routes
                .iter()
                .filter(|r| r.destination == route.destination)
            {
                if !live.owned() {
                    out.conflicts.push(format!(
                        "route {} already exists (protocol {}) and was not added by alias-mgr; remove it with `ip route del {}` or drop it from {}'s routes",
                        live.destination, live.protocol, live.destination, alias.address
                    ));
                    present = true;
                } else if !need_add
                    && live.gateway == route.gateway
                    && live.ifindex == Some(iface.index)
                    && live.preferred_source == Some(ip)
                {
                    present = true;
                } else {
                    // Owned but different, or its alias is re-added (which drops it).
                    push_unique(&mut out.actions, remove_route(observed, live));
                }
            }
            if let (false, Some(why)) = (present, &routes_wait_for) {
                out.pending.push(format!(
                    "route {route} of {} on {}: {why}; it is added once that changes and `alias-mgr apply` runs (the daemon does it on its own)",
                    alias.address, iface.name
                ));
            } else if !present {
                out.actions.push(Action::AddRoute {
                    interface: iface.name.clone(),
                    ifindex: iface.index,
                    route: *route,
                    source: ip,
                    protocol,
                });
            }
        }
        if counting && !observed.tracked.contains(&ip) {
            out.actions.push(Action::Track { address: ip });
        }
        interfaces_touched.insert(iface.name.as_str());
    }

    // Owned routes nobody wants any more.
    let wanted_routes: BTreeSet<(IpNet, Option<IpAddr>, u32)> = wanted
        .values()
        .flat_map(|(alias, iface)| {
            alias
                .routes
                .iter()
                .map(|r| (r.destination, r.gateway, iface.index))
        })
        .collect();
    for live in observed.routes.iter().filter(|r| r.owned()) {
        let key = (live.destination, live.gateway, live.ifindex.unwrap_or(0));
        let source_in_scope = live
            .preferred_source
            .map(in_scope)
            .unwrap_or(scope == Scope::All);
        let kept = desired.keep_runtime && live.runtime();
        if !wanted_routes.contains(&key) && source_in_scope && !kept {
            push_unique(&mut out.actions, remove_route(observed, live));
        }
    }

    // Runtime aliases that drift healing leaves in place, with their counters.
    let kept: BTreeMap<IpAddr, &str> = observed
        .addresses
        .iter()
        .filter(|a| desired.keep_runtime && a.runtime() && !wanted.contains_key(&a.address.addr()))
        .map(|a| (a.address.addr(), a.interface.as_str()))
        .collect();

    // Owned addresses nobody wants any more.
    for live in observed.addresses.iter().filter(|a| a.owned()) {
        let ip = live.address.addr();
        if !in_scope(ip) || removing.contains(&(live.ifindex, ip)) || kept.contains_key(&ip) {
            continue;
        }
        let still_wanted = wanted
            .get(&ip)
            .is_some_and(|(_, iface)| iface.index == live.ifindex);
        if !still_wanted
            && !desired
                .aliases
                .iter()
                .any(|a| a.ip() == ip && interface(&a.interface).is_none())
        {
            removing.insert((live.ifindex, ip));
            interfaces_touched.insert(live.interface.as_str());
            out.actions.push(Action::RemoveAddress {
                interface: live.interface.clone(),
                ifindex: live.ifindex,
                address: live.address,
                label: live.label.clone(),
                protocol: live.protocol,
            });
        }
    }

    // promote_secondaries: set it where alias-mgr manages IPv4 aliases, and
    // refuse to remove a primary that would take its secondaries along.
    let mut promote_set: BTreeSet<String> = BTreeSet::new();
    for name in &interfaces_touched {
        let manages_v4 = wanted.values().any(|(a, i)| i.name == *name && a.ip().is_ipv4() && in_scope(a.ip()))
            || out.actions.iter().any(|a| matches!(a, Action::RemoveAddress { interface, address, .. } if interface == name && address.addr().is_ipv4()));
        let enabled = observed
            .promote_secondaries
            .get(*name)
            .copied()
            .unwrap_or(false);
        if manages_v4 && !enabled && desired.manage_promote_secondaries {
            promote_set.insert(name.to_string());
            out.actions.push(Action::SetPromoteSecondaries {
                interface: name.to_string(),
                enabled: true,
            });
        }
    }
    let mut blocked: Vec<(u32, IpAddr)> = Vec::new();
    for action in &out.actions {
        let Action::RemoveAddress {
            interface,
            ifindex,
            address,
            ..
        } = action
        else {
            continue;
        };
        if !address.addr().is_ipv4() {
            continue;
        }
        let Some(live) = observed
            .addresses
            .iter()
            .find(|a| a.ifindex == *ifindex && a.address.addr() == address.addr())
        else {
            continue;
        };
        if live.secondary {
            continue;
        }
        let staying: Vec<String> = observed
            .addresses
            .iter()
            .filter(|a| {
                a.ifindex == *ifindex
                    && a.secondary
                    && a.address.trunc() == address.trunc()
                    && !removing.contains(&(a.ifindex, a.address.addr()))
            })
            .map(|a| a.address.to_string())
            .collect();
        let promote = observed
            .promote_secondaries
            .get(interface)
            .copied()
            .unwrap_or(false)
            || promote_set.contains(interface);
        if !staying.is_empty() && !promote {
            out.conflicts.push(format!(
                "removing {address} from {interface} would make the kernel delete {} too (net.ipv4.conf.{interface}.promote_secondaries is 0); set it to 1 or set promote_secondaries = true in [settings]",
                staying.join(", ")
            ));
            blocked.push((*ifindex, address.addr()));
        }
    }
    // A conflict holds back what it names: the daemon heals around conflicts,
    // and this removal would take addresses it does not own with it.
    out.actions.retain(|action| {
        !matches!(action, Action::RemoveAddress { ifindex, address, .. }
            if blocked.contains(&(*ifindex, address.addr())))
    });

    // Counters: keys for wanted addresses, the classifier where they live.
    for (ip, (_, iface)) in wanted.iter().filter(|(ip, _)| !conflicted.contains(ip)) {
        if counting && in_scope(*ip) && !observed.attached.contains(&iface.name) {
            push_unique(
                &mut out.actions,
                Action::Attach {
                    interface: iface.name.clone(),
                    ethernet: iface.ethernet,
                },
            );
        }
    }
    for ip in &observed.tracked {
        let unwanted = !desired.counters
            || (!wanted.contains_key(ip)
                && !kept.contains_key(ip)
                && !desired.aliases.iter().any(|a| a.ip() == *ip)
                && !desired.keep_counting.iter().any(|a| a.ip() == *ip));
        if in_scope(*ip) && unwanted {
            out.actions.push(Action::Untrack { address: *ip });
        }
    }
    for name in &observed.attached {
        let still_needed = desired.aliases.iter().any(|a| {
            &a.interface == name
                && (scope == Scope::All
                    || scope != Scope::Alias(a.ip())
                    || wanted.contains_key(&a.ip()))
        }) || kept.values().any(|iface| iface == name)
            || desired.keep_counting.iter().any(|a| &a.interface == name);
        let relevant = scope == Scope::All || interfaces_touched.contains(name.as_str());
        if relevant && (!still_needed || !desired.counters) {
            let ethernet = interface(name).map(|i| i.ethernet).unwrap_or(true);
            out.actions.push(Action::Detach {
                interface: name.clone(),
                ethernet,
            });
        }
    }

    for name in &observed.orphaned_links {
        out.actions.push(Action::ForgetLink {
            interface: name.clone(),
        });
    }

    // Secondaries go before primaries, so no removal triggers a promotion
    // of an address that is about to go too.
    let secondary = |action: &Action| match action {
        Action::RemoveAddress {
            ifindex, address, ..
        } => observed
            .addresses
            .iter()
            .any(|a| a.ifindex == *ifindex && a.address.addr() == address.addr() && a.secondary),
        _ => false,
    };
    out.actions.sort_by_key(|a| (a.rank(), !secondary(a)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::OWNER_PROTO;

    fn eth(name: &str, index: u32) -> Interface {
        Interface {
            index,
            name: name.into(),
            mac: Some("02:00:00:00:00:01".into()),
            ethernet: true,
            up: true,
            carrier: true,
        }
    }

    fn live(iface: &str, index: u32, cidr: &str, owned: bool, secondary: bool) -> LiveAddress {
        LiveAddress {
            interface: iface.into(),
            ifindex: index,
            address: cidr.parse().unwrap(),
            label: None,
            broadcast: None,
            secondary,
            protocol: if owned { OWNER_PROTO } else { 0 },
            dad: Default::default(),
        }
    }

    fn alias(iface: &str, cidr: &str, label: Option<&str>, routes: &[&str]) -> AliasSpec {
        AliasSpec {
            interface: iface.into(),
            address: cidr.parse().unwrap(),
            label: label.map(Into::into),
            zone: None,
            routes: routes.iter().map(|r| r.parse().unwrap()).collect(),
        }
    }

    /// A route alias-mgr added on eth1 (index 2).
    fn owned_route(destination: &str, gateway: &str, source: &str) -> LiveRoute {
        LiveRoute {
            destination: destination.parse().unwrap(),
            gateway: Some(gateway.parse().unwrap()),
            ifindex: Some(2),
            protocol: OWNER_PROTO,
            preferred_source: Some(source.parse().unwrap()),
        }
    }

    /// eth1 with its foreign primary plus an owned, counted 192.168.0.1/24.
    fn observed_with_counted_alias() -> Observed {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.0.1/24", true, false));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        observed
    }

    fn observed_eth1() -> Observed {
        Observed {
            interfaces: vec![eth("eth1", 2)],
            addresses: vec![live("eth1", 2, "192.168.1.1/24", false, false)],
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
        }
    }

    #[test]
    fn new_alias_is_added_tracked_and_counted() {
        let aliases = [alias(
            "eth1",
            "192.168.0.1/24",
            Some("eth1:0"),
            &["10.9.0.0/16@192.168.0.254"],
        )];
        let plan = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        let text: Vec<String> = plan.actions.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "+ address 192.168.0.1/24 dev eth1 label eth1:0",
                "+ route 10.9.0.0/16@192.168.0.254 dev eth1 src 192.168.0.1",
                "+ counters for 192.168.0.1",
                "+ classifier on eth1 (TCX ingress+egress)",
            ]
        );
        assert!(plan.conflicts.is_empty());
    }

    #[test]
    fn converged_state_plans_nothing() {
        let aliases = [alias(
            "eth1",
            "192.168.0.1/24",
            Some("eth1:0"),
            &["10.9.0.0/16@192.168.0.254"],
        )];
        let mut observed = observed_eth1();
        let mut a = live("eth1", 2, "192.168.0.1/24", true, false);
        a.label = Some("eth1:0".into());
        observed.addresses.push(a);
        observed
            .routes
            .push(owned_route("10.9.0.0/16", "192.168.0.254", "192.168.0.1"));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let plan = plan(&desired(&aliases), &observed, Scope::All);
        assert!(plan.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn foreign_address_is_a_conflict_and_never_removed() {
        let aliases = [alias("eth1", "192.168.1.1/24", None, &[])];
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
            .push(live("eth1", 2, "192.168.0.1/24", true, false));
        observed
            .routes
            .push(owned_route("10.9.0.0/16", "192.168.0.254", "192.168.0.1"));
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
        let aliases = [alias("eth1", "192.168.1.27/24", Some("eth1:0"), &[])];
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
    fn removing_a_primary_with_secondaries_needs_promote_secondaries() {
        let mut observed = observed_eth1();
        observed.promote_secondaries.insert("eth1".into(), false);
        observed.addresses = vec![
            live("eth1", 2, "192.168.1.1/24", true, false),
            live("eth1", 2, "192.168.1.2/24", false, true),
        ];
        let unmanaged = Desired {
            aliases: &[],
            manage_promote_secondaries: false,
            zones: &[],
            runtime: &[],
            keep_runtime: false,
            keep_counting: &[],
            counters: true,
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
        let aliases = [alias("eth1", "192.168.0.1/16", None, &[])];
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
        let aliases = [alias("eth9", "192.168.0.1/24", None, &[])];
        let plan = plan(&desired(&aliases), &observed_eth1(), Scope::All);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.pending.len(), 1);
    }

    #[test]
    fn alias_scope_leaves_other_owned_addresses_alone() {
        let mut observed = observed_eth1();
        observed
            .addresses
            .push(live("eth1", 2, "192.168.5.5/24", true, false));
        let aliases = [alias("eth1", "192.168.0.1/24", None, &[])];
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
            .push(live("eth1", 2, "192.168.0.1/24", true, false));
        observed
            .routes
            .push(owned_route("10.9.0.0/16", "192.168.0.253", "192.168.0.1"));
        observed.tracked.insert("192.168.0.1".parse().unwrap());
        observed.attached.insert("eth1".into());
        let aliases = [alias(
            "eth1",
            "192.168.0.1/24",
            None,
            &["10.9.0.0/16@192.168.0.254"],
        )];
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
            .push(live("eth1", 2, "2001:db8::5/64", true, false));
        observed.tracked.insert("2001:db8::5".parse().unwrap());
        observed.attached.insert("eth1".into());
        let aliases = [alias("eth1", "2001:db8::5/64", Some("eth1:v6"), &[])];
        assert!(plan(&desired(&aliases), &observed, Scope::All).is_empty());
    }

    #[test]
    fn drift_healing_keeps_runtime_aliases_that_apply_removes() {
        let mut observed = observed_eth1();
        let mut runtime = live("eth1", 2, "192.168.7.1/24", true, false);
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
        let aliases = [alias(
            "eth1",
            "192.168.0.1/24",
            None,
            &["10.9.0.0/16@192.168.0.254"],
        )];
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
        let aliases = [alias("eth1", "192.168.0.1/24", None, &[])];
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
        let aliases = [alias("eth1", "192.168.0.1/24", None, &[])];
        let off = Desired {
            counters: false,
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
        observed.interfaces[0].up = false;
        observed.interfaces[0].carrier = false;
        let aliases = [alias(
            "eth1",
            "192.168.0.1/24",
            None,
            &["10.9.0.0/16@192.168.0.254"],
        )];
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
        let aliases = [alias(
            "eth1",
            "2001:db8::1/64",
            None,
            &["2001:db8:9::/48@2001:db8::fe"],
        )];
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
        let v4 = [alias(
            "eth1",
            "192.168.0.1/24",
            None,
            &["10.9.0.0/16@192.168.0.254"],
        )];
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
        let mut failed = live("eth1", 2, "2001:db8::2/64", true, false);
        failed.dad = DadState::Failed;
        observed.addresses.push(failed);
        let aliases = [alias(
            "eth1",
            "2001:db8::2/64",
            None,
            &["2001:db8:9::/48@2001:db8::fe"],
        )];
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
            .push(live("lan0", 2, "192.168.0.1/24", true, false));
        let aliases = [alias("eth1", "192.168.0.1/24", None, &[])];
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
