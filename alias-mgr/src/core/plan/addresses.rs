//! Addresses: adding the wanted ones (refusing foreign ones in the way),
//! re-adding those that differ, removing owned ones nobody wants.

use std::net::IpAddr;

use super::{Action, Planner, Scope};
use crate::core::{
    model::{AliasSpec, DadState, Interface, LiveAddress, OWNER_PROTO, RUNTIME_PROTO},
    wire::{ArpProbe, OnLink},
};

/// What the live addresses say about one wanted alias.
pub(super) struct LiveMatch {
    pub(super) need_add: bool,
    pub(super) in_conflict: bool,
    pub(super) dad: DadState,
}

impl Planner<'_> {
    /// Addresses and routes the config asks for.
    pub(super) fn plan_wanted_aliases(&mut self) {
        let wanted: Vec<_> = self
            .wanted
            .iter()
            .map(|(ip, entry)| (*ip, *entry))
            .collect();
        for (ip, (alias, iface)) in wanted {
            if !self.in_scope(ip) {
                continue;
            }
            let protocol = if self.desired.runtime.contains(&ip) {
                RUNTIME_PROTO
            } else {
                OWNER_PROTO
            };
            let mut found = self.match_live_addresses(ip, alias, iface);
            // Nothing of an alias whose address someone else holds: no routes
            // from that address, no counting of it.
            if found.in_conflict {
                self.conflicted.insert(ip);
                continue;
            }
            if found.need_add {
                found.dad = self.add_address(ip, alias, iface, protocol);
            } else if found.dad == DadState::Tentative
                && iface.up
                && iface.carrier
                && !alias.routes.is_empty()
            {
                // Up already, DAD running again (the link just got carrier):
                // its routes need the source past DAD, so the run waits.
                self.out.await_dad.push((iface.index, ip));
            }
            self.plan_routes_of(ip, alias, iface, protocol, &found);
            if self.counting && !self.observed.tracked.contains(&ip) {
                self.out.actions.push(Action::Track { address: ip });
            }
            self.interfaces_touched.insert(iface.name.as_str());
        }
    }

    fn match_live_addresses(
        &mut self,
        ip: IpAddr,
        alias: &AliasSpec,
        iface: &Interface,
    ) -> LiveMatch {
        let mut found = LiveMatch {
            need_add: true,
            in_conflict: false,
            dad: DadState::Done,
        };
        let on_ip: Vec<&LiveAddress> = self.live_by_ip.get(&ip).collect();
        for live in on_ip {
            let exact = live.ifindex == iface.index
                && live.address.prefix_len() == alias.address.prefix_len()
                && label_matches(alias, live);
            if !live.owned() && exact && self.desired.adopt {
                self.adopt_address(live);
                found.need_add = false;
                found.dad = live.dad;
            } else if !live.owned() {
                self.out
                    .conflicts
                    .push(foreign_in_the_way(alias, live, exact));
                found.need_add = false;
                found.in_conflict = true;
            } else if exact {
                found.need_add = false;
                found.dad = live.dad;
                if live.dad == DadState::Failed {
                    self.out.notes.push(format!(
                        "{} on {} failed duplicate address detection: another host on the link uses it, so it does not work here; pick another address, or once the other host has let it go run `alias-mgr del {} {ip}` and `alias-mgr apply` to try again",
                        alias.address, iface.name, iface.name
                    ));
                }
            } else {
                self.remove_address(live);
            }
        }
        found
    }

    /// Takes a foreign address that is exactly the declared alias over in
    /// place: only its owner mark changes, it is never absent.
    fn adopt_address(&mut self, live: &LiveAddress) {
        self.out.actions.push(Action::AdoptAddress {
            interface: live.interface.clone(),
            ifindex: live.ifindex,
            address: live.address,
            label: live.label.clone(),
            from: live.protocol,
            protocol: OWNER_PROTO,
        });
    }

    /// Adds `alias` and returns its DAD state once added.
    fn add_address(
        &mut self,
        ip: IpAddr,
        alias: &AliasSpec,
        iface: &Interface,
        protocol: u8,
    ) -> DadState {
        if ip.is_ipv4() {
            self.note_secondary(ip, alias, iface);
            self.note_subnet_on_other_interface(alias, iface);
        }
        if let Some(mac) = iface.on_the_wire() {
            let on = OnLink {
                interface: iface.name.clone(),
                ifindex: iface.index,
                mac,
                ip,
            };
            let wait_ms = alias.arp_probe_ms.unwrap_or(self.desired.arp_probe_ms);
            // An address already up on this link (re-added with another
            // prefix or label), or held here until a moment ago, is on the
            // wire already: nothing to probe.
            if ip.is_ipv4()
                && wait_ms > 0
                && self.live_at(iface.index, ip).is_none()
                && !self.desired.seen.held_here.contains(&(iface.index, ip))
            {
                self.out.arp_probes.push(ArpProbe {
                    on: on.clone(),
                    wait_ms,
                });
            }
            if self.desired.announce {
                self.out.announce.push(on);
            }
        }
        self.out.actions.push(Action::AddAddress {
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
        if ip.is_ipv4() {
            return DadState::Done;
        }
        if iface.up && iface.carrier {
            self.out.await_dad.push((iface.index, ip));
        }
        DadState::Tentative
    }

    fn note_secondary(&mut self, ip: IpAddr, alias: &AliasSpec, iface: &Interface) {
        if let Some(primary) = self
            .live_by_subnet
            .get(&alias.address.trunc())
            .find(|a| a.ifindex == iface.index && a.address.addr() != ip)
        {
            self.out.notes.push(format!(
                "{} shares subnet {} with {} on {}: it is added as a secondary address of that subnet",
                alias.address,
                alias.address.trunc(),
                primary.address.addr(),
                iface.name
            ));
        }
    }

    /// One IPv4 subnet on two interfaces gives two connected routes, and
    /// Linux answers ARP for any local address on every link (ARP flux):
    /// the LAN may send the other interface's traffic here. Legitimate on
    /// purpose (bonding-less multihoming), so a warning, with the knobs.
    fn note_subnet_on_other_interface(&mut self, alias: &AliasSpec, iface: &Interface) {
        let subnet = alias.address.trunc();
        let live_elsewhere = self
            .live_by_subnet
            .get(&subnet)
            .filter(|a| a.ifindex != iface.index)
            .map(|a| (a.interface.as_str(), a.address.addr()));
        let wanted_elsewhere = self
            .wanted_by_subnet
            .get(&subnet)
            .into_iter()
            .flatten()
            .filter(|(_, i)| i.index != iface.index)
            .map(|(a, i)| (i.name.as_str(), a.ip()));
        let mut others: Vec<String> = live_elsewhere
            .chain(wanted_elsewhere)
            .map(|(name, ip)| format!("{name} ({ip})"))
            .collect();
        others.sort();
        others.dedup();
        if others.is_empty() {
            return;
        }
        self.out.notes.push(format!(
            "warning: {} on {}: subnet {subnet} is also on {}: the kernel then holds a connected route for it on each interface and answers ARP for either address on both links (ARP flux); if that is deliberate, set net.ipv4.conf.all.arp_ignore=1 and net.ipv4.conf.all.arp_announce=2, otherwise give one side a /32 or move the alias",
            alias.address,
            iface.name,
            others.join(", ")
        ));
    }

    fn remove_address(&mut self, live: &LiveAddress) {
        self.removing.insert((live.ifindex, live.address.addr()));
        self.out.actions.push(Action::RemoveAddress {
            interface: live.interface.clone(),
            ifindex: live.ifindex,
            address: live.address,
            label: live.label.clone(),
            protocol: live.protocol,
        });
    }

    /// Owned addresses nobody wants any more.
    pub(super) fn remove_unwanted_addresses(&mut self) {
        let observed = self.observed;
        for live in observed.addresses.iter().filter(|a| a.owned()) {
            let ip = live.address.addr();
            if !self.in_scope(ip)
                || self.removing.contains(&(live.ifindex, ip))
                || self.kept.contains_key(&ip)
            {
                continue;
            }
            let still_wanted = self
                .wanted
                .get(&ip)
                .is_some_and(|(_, iface)| iface.index == live.ifindex);
            // An alias declared for a missing interface is pending, and
            // (renamed interface) its address is left alone.
            let pending = self.pending_ips.contains(&ip);
            if !still_wanted && !pending {
                self.interfaces_touched.insert(live.interface.as_str());
                self.remove_address(live);
            }
        }
    }

    /// Whether `ip` may be changed by this run (for routes without a source).
    pub(super) fn source_in_scope(&self, source: Option<IpAddr>) -> bool {
        source
            .map(|ip| self.in_scope(ip))
            .unwrap_or(self.scope == Scope::All)
    }
}

/// Why a foreign address blocks `alias`, with the difference spelled out
/// when it is on the same interface, and the way to take it over when it
/// is exactly the declared entry.
fn foreign_in_the_way(alias: &AliasSpec, live: &LiveAddress, exact: bool) -> String {
    let (address, device) = (live.address, &live.interface);
    let head = format!(
        "{address} is already on {device} and was not added by alias-mgr (protocol {})",
        live.protocol
    );
    if exact {
        return format!("{head}; it is exactly the declared entry: `alias-mgr apply --adopt` takes it over in place (no moment without it), or remove it with `ip addr del {address} dev {device}`");
    }
    let mut differences = Vec::new();
    if live.interface != alias.interface {
        differences.push(format!("the config puts it on {}", alias.interface));
    }
    if live.address.prefix_len() != alias.address.prefix_len() {
        differences.push(format!(
            "prefix /{} here, /{} in the config",
            live.address.prefix_len(),
            alias.address.prefix_len()
        ));
    }
    if live.interface == alias.interface && !label_matches(alias, live) {
        let shown_label = |label: Option<&str>| label.unwrap_or("none").to_string();
        differences.push(format!(
            "label {} here, {} in the config",
            shown_label(live.label.as_deref()),
            shown_label(alias.label.as_deref())
        ));
    }
    format!(
        "{head} and differs from the declared entry ({}); make the config match it and run `alias-mgr apply --adopt`, or remove it with `ip addr del {address} dev {device}`",
        differences.join("; ")
    )
}

fn label_matches(desired: &AliasSpec, live: &LiveAddress) -> bool {
    if live.address.addr().is_ipv6() {
        return true; // IPv6 has no labels in the kernel.
    }
    let live_label = live.label.as_deref().unwrap_or(&live.interface);
    let wanted = desired.label.as_deref().unwrap_or(&desired.interface);
    live_label == wanted || (live.owned() && renamed_with_its_interface(live_label, live, wanted))
}

/// Renaming an interface makes the kernel rewrite its addresses' labels
/// (`inetdev_changename`): the first address gets the new name bare, the
/// others `NEW:SUFFIX`, keeping the old label's `:SUFFIX`, or `NEW:K` (its
/// place in the list) for a label without one. A label the file wrote for
/// the old name (an alias named by MAC or altname) rewritten so is
/// tolerated: re-adding the address for it would only cut the alias off
/// for a moment. Any other difference, an edited label, is not.
fn renamed_with_its_interface(live_label: &str, live: &LiveAddress, wanted: &str) -> bool {
    let name = live.interface.as_str();
    if wanted == name || wanted.starts_with(&format!("{name}:")) {
        return false; // written for the live name: applied as written
    }
    if live_label == name {
        return true;
    }
    let Some(live_suffix) = live_label
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(':'))
    else {
        return false;
    };
    match wanted.split_once(':') {
        Some((_, suffix)) => live_suffix == suffix,
        None => !live_suffix.is_empty() && live_suffix.bytes().all(|b| b.is_ascii_digit()),
    }
}
