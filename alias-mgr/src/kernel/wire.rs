//! The runner's part on the wire: RFC 5227 conflict detection before a
//! run changes anything, and the first round of announcements once its
//! addresses are up (the caller sends the rest of the train).

use std::{borrow::Cow, collections::HashSet, net::IpAddr};

use anyhow::Result;

use super::{DadFailure, Kernel, KernelOps};
use crate::{
    core::{
        plan::{Action, Plan},
        wire::{ArpConflict, ArpProbe, OnLink},
    },
    logging::warning,
};

/// What an applied run did on the wire.
#[derive(Debug, Default)]
pub struct Applied {
    /// Aliases another host answered ARP for: drift healing held them
    /// back (with their routes and counters) and applied the rest.
    pub held_back: Vec<ArpConflict>,
    /// Addresses announced once (gratuitous ARP, unsolicited NA).
    pub announced: Vec<OnLink>,
}

impl<K: KernelOps> Kernel<K> {
    /// Probes the plan's new IPv4 addresses. A conflict refuses the whole
    /// run before any change (the CLI), or (drift healing) takes only the
    /// conflicting aliases out of the plan. A probe that cannot be sent
    /// (an odd link type) is a warning: detection is a safety net, not a
    /// precondition.
    pub(super) async fn probe_first<'p>(
        &self,
        plan: &'p Plan,
        on_failure: DadFailure,
    ) -> Result<(Cow<'p, Plan>, Vec<ArpConflict>)> {
        if plan.arp_probes.is_empty() {
            return Ok((Cow::Borrowed(plan), Vec::new()));
        }
        let conflicts = match self.ops.probe_arp(&plan.arp_probes).await {
            Ok(conflicts) => conflicts,
            Err(err) => {
                warning!("address conflict detection skipped: {err:#}");
                Vec::new()
            }
        };
        if conflicts.is_empty() {
            return Ok((Cow::Borrowed(plan), conflicts));
        }
        if on_failure == DadFailure::RollBack {
            let lines: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
            anyhow::bail!(
                "nothing was changed: {} address(es) already in use on the link:\n  {}",
                conflicts.len(),
                lines.join("\n  ")
            );
        }
        let held: HashSet<IpAddr> = conflicts.iter().map(|c| c.on.ip).collect();
        let mut around = plan.clone();
        around.actions.retain(|action| !is_held_back(action, &held));
        around.announce.retain(|on| !held.contains(&on.ip));
        around.arp_probes.clear();
        Ok((Cow::Owned(around), conflicts))
    }

    /// Sends the first announcement of every address the run added, but
    /// those that failed DAD. A failure is a warning: the addresses are up.
    pub(super) async fn announce_added(
        &self,
        plan: &Plan,
        duplicates: &[(IpAddr, anyhow::Error)],
    ) -> Vec<OnLink> {
        let announced: Vec<OnLink> = plan
            .announce
            .iter()
            .filter(|on| !duplicates.iter().any(|(ip, _)| *ip == on.ip))
            .cloned()
            .collect();
        if !announced.is_empty() {
            if let Err(err) = self.ops.announce(&announced).await {
                warning!("announcing the new addresses to the LAN: {err:#}");
            }
        }
        announced
    }

    /// RFC 5227 probes for addresses already up here (their link came
    /// back): which another host answers for. A probe that cannot be sent
    /// is a warning and finds nothing.
    pub async fn probe_live(&self, addresses: &[OnLink], wait_ms: u32) -> Vec<ArpConflict> {
        if addresses.is_empty() {
            return Vec::new();
        }
        let probes: Vec<ArpProbe> = addresses
            .iter()
            .map(|on| ArpProbe {
                on: on.clone(),
                wait_ms,
            })
            .collect();
        self.ops.probe_arp(&probes).await.unwrap_or_else(|err| {
            warning!("address conflict detection skipped: {err:#}");
            Vec::new()
        })
    }

    /// One round of announcements of `addresses` (link up, a refresh, the
    /// rest of a train); a failure is a warning.
    pub async fn announce(&self, addresses: &[OnLink]) {
        if let Err(err) = self.ops.announce(addresses).await {
            warning!("announcing addresses to the LAN: {err:#}");
        }
    }
}

/// Whether `action` belongs to an alias held back for a conflict.
pub(super) fn is_held_back(action: &Action, held: &HashSet<IpAddr>) -> bool {
    match action {
        Action::AddAddress { address, .. } => held.contains(&address.addr()),
        Action::AddRoute { source, .. } => held.contains(source),
        Action::Track { address } => held.contains(address),
        _ => false,
    }
}

impl<K: KernelOps> Kernel<K> {
    /// One round for those of `addresses` still up where they were and
    /// still alias-mgr's (a later round of a train must not announce an
    /// address removed meanwhile).
    pub async fn announce_still_live(&self, addresses: &[OnLink]) -> Result<usize> {
        let interfaces = self.ops.interfaces().await?;
        let live = self.ops.addresses(&interfaces).await?;
        // As the link is now (its MAC may have changed meanwhile).
        let still: Vec<OnLink> = addresses
            .iter()
            .filter_map(|on| {
                live.iter()
                    .find(|a| a.owned() && a.ifindex == on.ifindex && a.address.addr() == on.ip)?
                    .on_link(&interfaces)
            })
            .collect();
        if !still.is_empty() {
            self.announce(&still).await;
        }
        Ok(still.len())
    }
}
