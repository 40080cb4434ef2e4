//! Counters: a map key for each wanted address, the classifier on each
//! interface that carries one; keys and classifiers nobody needs go, and
//! link pins of vanished interfaces are forgotten.

use std::collections::BTreeMap;

use super::{Action, Planner, Scope};
use crate::core::model::Interface;

/// Loopback: local traffic between the host's own addresses, not the
/// LAN's; an Ethernet-framed link whose MAC is all zero.
fn is_loopback(iface: &Interface) -> bool {
    iface.ethernet
        && iface
            .mac
            .as_deref()
            .is_none_or(|mac| mac.split(':').all(|b| b == "00"))
}

impl Planner<'_> {
    pub(super) fn plan_counters(&mut self) {
        self.attach_where_wanted();
        self.untrack_unwanted();
        self.detach_unneeded();
        for name in &self.observed.orphaned_links {
            self.out.actions.push(Action::ForgetLink {
                interface: name.clone(),
            });
        }
        for (from, to) in &self.observed.moved_links {
            self.out.actions.push(Action::MoveLink {
                from: from.clone(),
                to: to.clone(),
            });
        }
    }

    fn attach_where_wanted(&mut self) {
        if !self.counting {
            return;
        }
        let mut to_attach: BTreeMap<&str, bool> = BTreeMap::new();
        let wanted = self
            .wanted
            .iter()
            .filter(|(ip, _)| !self.conflicted.contains(ip) && self.in_scope(**ip));
        for (_, (_, iface)) in wanted {
            to_attach.insert(&iface.name, iface.ethernet);
        }
        if self.counts_everywhere() {
            for iface in self.observed.interfaces.iter().filter(|i| !is_loopback(i)) {
                to_attach.insert(&iface.name, iface.ethernet);
            }
        }
        for (name, ethernet) in to_attach {
            if !self.observed.attached.contains(name) {
                self.out.actions.push(Action::Attach {
                    interface: name.to_string(),
                    ethernet,
                });
            }
        }
    }

    /// `count_on_every_interface`, while there is an alias to count.
    fn counts_everywhere(&self) -> bool {
        self.desired.count_everywhere && self.counting && !self.wanted.is_empty()
    }

    fn untrack_unwanted(&mut self) {
        let desired = self.desired;
        for ip in &self.observed.tracked {
            let unwanted = !desired.counters
                || (!self.wanted.contains_key(ip)
                    && !self.kept.contains_key(ip)
                    && !self.declared.contains(ip)
                    && !desired.keep_counting.iter().any(|a| a.ip() == *ip));
            if self.in_scope(*ip) && unwanted {
                self.out.actions.push(Action::Untrack { address: *ip });
            }
        }
    }

    /// Whether `name` holds owned addresses of aliases that wait for their
    /// interface (renamed away under the config): they are left in place,
    /// so they go on being counted.
    fn counts_pending_aliases(&self, name: &str) -> bool {
        self.observed
            .addresses
            .iter()
            .any(|a| a.interface == name && self.pending_ips.contains(&a.address.addr()))
    }

    fn detach_unneeded(&mut self) {
        let (desired, scope) = (self.desired, self.scope);
        for name in &self.observed.attached {
            let still_needed = desired.aliases.iter().any(|a| {
                &a.interface == name
                    && (scope == Scope::All
                        || scope != Scope::Alias(a.ip())
                        || self.wanted.contains_key(&a.ip()))
            }) || self.kept.values().any(|iface| iface == name)
                || desired.keep_counting.iter().any(|a| &a.interface == name)
                || self.counts_pending_aliases(name)
                || (self.counts_everywhere()
                    && self.interface(name).is_some_and(|i| !is_loopback(i)));
            let relevant = scope == Scope::All || self.interfaces_touched.contains(name.as_str());
            if relevant && (!still_needed || !desired.counters) {
                let ethernet = self.interface(name).map(|i| i.ethernet).unwrap_or(true);
                self.out.actions.push(Action::Detach {
                    interface: name.clone(),
                    ethernet,
                });
            }
        }
    }
}
