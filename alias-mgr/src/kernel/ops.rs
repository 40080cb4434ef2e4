//! The seam under the runner: everything a run reads from or does to the
//! kernel, as one narrow trait. [`super::System`] is the real kernel;
//! unit tests put an in-memory fake (`fake.rs`) in its place, so rollback,
//! partial failure, DAD waiting and verify-after-apply run without root.

use std::{collections::BTreeSet, net::IpAddr};

use anyhow::Result;
use serde_json::Value;

use crate::core::{
    model::{DadState, Interface, LiveAddress, LiveRoute},
    plan::Action,
    wire::{ArpConflict, ArpProbe, OnLink},
    zones::LiveTable,
};

/// One network namespace's addresses, routes, sysctls, classifier pins and
/// alias-mgr's nftables table. The runner only calls these; it never
/// reaches the kernel another way.
#[allow(async_fn_in_trait)] // used through generics in this crate only
pub trait KernelOps {
    async fn interfaces(&self) -> Result<Vec<Interface>>;
    async fn addresses(&self, interfaces: &[Interface]) -> Result<Vec<LiveAddress>>;
    async fn routes(&self) -> Result<Vec<LiveRoute>>;
    /// None when the kernel has no such address (any more).
    async fn dad_state(&self, ifindex: u32, ip: IpAddr) -> Result<Option<DadState>>;
    /// `net.ipv4.conf.IFACE.promote_secondaries`; None when unreadable.
    fn promote_secondaries(&self, interface: &str) -> Option<bool>;
    /// Why this system cannot count per address, if it cannot.
    fn counters_unavailable(&self) -> Option<String>;
    /// Addresses with a key in the counters map (empty without a map).
    fn tracked(&self) -> Result<BTreeSet<IpAddr>>;
    /// Interfaces with pinned classifier links, whether or not they exist.
    fn pinned_links(&self) -> Result<Vec<String>>;
    /// Which of `candidates` the links pinned for `pinned` (no such
    /// interface now) are attached to: the interface was renamed.
    fn links_moved_to(&self, pinned: &str, candidates: &[&str]) -> Result<Option<String>>;
    /// Whether the classifier runs on both hooks of `interface`.
    fn is_attached(&self, interface: &str) -> Result<bool>;
    /// Starts reading alias-mgr's nftables table now, for the next
    /// `zone_table` to collect: a command that will plan lets nft run
    /// while it reads its config. Loading a batch discards it.
    fn prefetch_zone_table(&self) {}
    /// alias-mgr's nftables table as loaded now (or as the prefetch found it).
    fn zone_table(&self) -> Result<LiveTable>;
    /// Loads an nft batch in one transaction, or with `check_only` only
    /// has nft check it against the live ruleset.
    fn load_zones(&self, batch: &Value, check_only: bool) -> Result<()>;
    /// Carries out one plan step.
    async fn run(&self, action: &Action) -> Result<()>;
    /// Carries out steps of one kind (see `together` in the runner) in
    /// order, one result each; the real kernel overlaps them. Counters
    /// steps stop at the first failure (counting is off from there): the
    /// steps after it have no result and did not run. Here: one by one.
    async fn run_together(&self, actions: &[&Action]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(actions.len());
        for action in actions {
            let result = self.run(action).await;
            let stop = result.is_err() && action.is_counters();
            results.push(result);
            if stop {
                break;
            }
        }
        results
    }
    /// Removes the classifier's pins (links, counters map, directories).
    fn remove_pins(&self) -> Result<()>;
    /// RFC 5227 probes for every IPv4 address of `probes` at once, for the
    /// longest wait among them; the conflicts seen.
    async fn probe_arp(&self, probes: &[ArpProbe]) -> Result<Vec<ArpConflict>>;
    /// One round of announcements: gratuitous ARP for IPv4, unsolicited
    /// neighbour advertisements for IPv6 (past DAD).
    async fn announce(&self, addresses: &[OnLink]) -> Result<()>;
    /// Changes the owner mark of a live address in place.
    async fn remark_address(&self, address: &LiveAddress, protocol: u8) -> Result<()>;
}
