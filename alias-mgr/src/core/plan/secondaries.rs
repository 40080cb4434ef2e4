//! The same-subnet trap: with `promote_secondaries` off, deleting a
//! subnet's primary address deletes its secondaries too. The planner sets
//! the sysctl where alias-mgr manages IPv4 aliases, and refuses a removal
//! that would still take secondaries along.

use std::{collections::BTreeSet, net::IpAddr};

use super::{Action, Planner};

impl Planner<'_> {
    pub(super) fn manage_promote_secondaries(&mut self) {
        let promote_set = self.set_promote_secondaries();
        let blocked = self.primaries_taking_secondaries(&promote_set);
        // A conflict holds back what it names: the daemon heals around
        // conflicts, and this removal would take addresses it does not own.
        self.out.actions.retain(|action| {
            !matches!(action, Action::RemoveAddress { ifindex, address, .. }
                if blocked.contains(&(*ifindex, address.addr())))
        });
    }

    /// Turns the sysctl on where this run manages IPv4 aliases; returns
    /// the interfaces it turns it on for.
    fn set_promote_secondaries(&mut self) -> BTreeSet<String> {
        let mut promote_set = BTreeSet::new();
        for name in &self.interfaces_touched {
            let manages_v4 = self
                .wanted
                .values()
                .any(|(a, i)| i.name == *name && a.ip().is_ipv4() && self.in_scope(a.ip()))
                || self.out.actions.iter().any(|a| {
                    matches!(a, Action::RemoveAddress { interface, address, .. }
                    if interface == name && address.addr().is_ipv4())
                });
            let enabled = self.promote_secondaries(name);
            if manages_v4 && !enabled && self.desired.manage_promote_secondaries {
                promote_set.insert(name.to_string());
            }
        }
        for name in &promote_set {
            self.out.actions.push(Action::SetPromoteSecondaries {
                interface: name.clone(),
                enabled: true,
            });
        }
        promote_set
    }

    fn promote_secondaries(&self, interface: &str) -> bool {
        self.observed
            .promote_secondaries
            .get(interface)
            .copied()
            .unwrap_or(false)
    }

    /// Removals of IPv4 primaries whose secondaries would go with them,
    /// each reported as a conflict.
    fn primaries_taking_secondaries(
        &mut self,
        promote_set: &BTreeSet<String>,
    ) -> Vec<(u32, IpAddr)> {
        let mut blocked = Vec::new();
        let mut conflicts = Vec::new();
        for action in &self.out.actions {
            let Action::RemoveAddress {
                interface,
                ifindex,
                address,
                ..
            } = action
            else {
                continue;
            };
            let is_primary = self
                .live_at(*ifindex, address.addr())
                .is_some_and(|a| !a.secondary);
            if !address.addr().is_ipv4() || !is_primary {
                continue;
            }
            let staying: Vec<String> = self
                .live_by_subnet
                .get(&address.trunc())
                .filter(|a| {
                    a.ifindex == *ifindex
                        && a.secondary
                        && !self.removing.contains(&(a.ifindex, a.address.addr()))
                })
                .map(|a| a.address.to_string())
                .collect();
            let promote = self.promote_secondaries(interface) || promote_set.contains(interface);
            if !staying.is_empty() && !promote {
                conflicts.push(format!(
                    "removing {address} from {interface} would make the kernel delete {} too (net.ipv4.conf.{interface}.promote_secondaries is 0); set it to 1 or set promote_secondaries = true in [settings]",
                    staying.join(", ")
                ));
                blocked.push((*ifindex, address.addr()));
            }
        }
        self.out.conflicts.extend(conflicts);
        blocked
    }
}
