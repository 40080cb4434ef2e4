//! An in-memory kernel for the runner's unit tests: it applies plan steps
//! to plain state, records them, and fails the ones a test names, so
//! rollback, DAD waiting and verification run without root.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use super::KernelOps;
use crate::core::{
    model::{DadState, Interface, LiveAddress, LiveRoute},
    plan::Action,
    wire::{ArpConflict, ArpProbe, Mac, OnLink},
    zones::LiveTable,
};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct State {
    pub interfaces: Vec<Interface>,
    pub addresses: Vec<LiveAddress>,
    pub routes: Vec<LiveRoute>,
    pub promote_secondaries: BTreeMap<String, bool>,
    pub tracked: BTreeSet<IpAddr>,
    pub attached: BTreeSet<String>,
}

/// What a test makes the fake do besides obeying.
#[derive(Debug, Default)]
pub struct Faults {
    /// Steps (as `plan` prints them) that fail.
    pub failing: Vec<String>,
    /// Steps that report success but change nothing.
    pub ignored: Vec<String>,
    /// IPv6 addresses another host on the link already uses.
    pub duplicates: BTreeSet<IpAddr>,
    /// DAD polls a new IPv6 address stays tentative for.
    pub tentative_polls: usize,
    /// `nft` refuses the real load (not the check).
    pub refuse_zone_load: bool,
    /// Interfaces renamed since their links were pinned: old name -> new.
    pub renamed: BTreeMap<String, String>,
    /// IPv4 addresses another host on the link answers ARP for, with its MAC.
    pub arp_owners: BTreeMap<IpAddr, Mac>,
}

#[derive(Debug, Default)]
pub struct FakeKernel {
    pub state: RefCell<State>,
    pub faults: Faults,
    /// Every step run, in order, as `plan` prints them.
    pub log: RefCell<Vec<String>>,
    /// Every nft load, as its check_only flag.
    pub zone_loads: RefCell<Vec<bool>>,
    /// How many times the zone table was listed.
    pub zone_lists: std::cell::Cell<usize>,
    /// alias-mgr's nft table as the last load left it.
    zone_table: RefCell<LiveTable>,
    /// Every ARP probe run, as the addresses probed.
    pub probes: RefCell<Vec<Vec<IpAddr>>>,
    /// Every announcement round, as the addresses announced.
    pub announced: RefCell<Vec<Vec<IpAddr>>>,
    polls: RefCell<BTreeMap<IpAddr, usize>>,
}

impl FakeKernel {
    pub fn new(state: State, faults: Faults) -> Self {
        FakeKernel {
            state: RefCell::new(state),
            faults,
            ..Default::default()
        }
    }

    pub fn snapshot(&self) -> State {
        self.state.borrow().clone()
    }

    fn apply(&self, action: &Action) -> Result<()> {
        let mut state = self.state.borrow_mut();
        match action.clone() {
            Action::AddAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            } => {
                if state
                    .addresses
                    .iter()
                    .any(|a| a.address.addr() == address.addr())
                {
                    bail!("File exists");
                }
                let dad = if address.addr().is_ipv6() {
                    DadState::Tentative
                } else {
                    DadState::Done
                };
                state.addresses.push(LiveAddress {
                    interface,
                    ifindex,
                    address,
                    label,
                    broadcast: None,
                    secondary: false,
                    protocol,
                    dad,
                });
            }
            Action::RemoveAddress {
                ifindex, address, ..
            } => {
                let before = state.addresses.len();
                state
                    .addresses
                    .retain(|a| !(a.ifindex == ifindex && a.address == address));
                if state.addresses.len() == before {
                    bail!("Cannot assign requested address");
                }
                // As the kernel does: routes from a vanished source go too.
                state
                    .routes
                    .retain(|r| r.preferred_source != Some(address.addr()));
            }
            Action::AddRoute {
                ifindex,
                route,
                source,
                protocol,
                ..
            } => {
                let usable = state.addresses.iter().any(|a| {
                    a.address.addr() == source && a.ifindex == ifindex && a.dad == DadState::Done
                });
                if !usable {
                    bail!("Invalid argument: {source} is no usable source on ifindex {ifindex}");
                }
                state.routes.push(LiveRoute {
                    destination: route.destination,
                    gateway: route.gateway,
                    ifindex: Some(ifindex),
                    protocol,
                    preferred_source: Some(source),
                });
            }
            Action::RemoveRoute { route, .. } => {
                let before = state.routes.len();
                state.routes.retain(|r| r.destination != route.destination);
                if state.routes.len() == before {
                    bail!("No such process"); // the kernel's ESRCH
                }
            }
            Action::AdoptAddress {
                ifindex,
                address,
                protocol,
                ..
            } => {
                let live = state
                    .addresses
                    .iter_mut()
                    .find(|a| a.ifindex == ifindex && a.address == address)
                    .ok_or_else(|| anyhow!("Cannot assign requested address"))?;
                live.protocol = protocol;
            }
            Action::AdoptRoute {
                ifindex,
                route,
                source,
                protocol,
                ..
            } => {
                let live = state
                    .routes
                    .iter_mut()
                    .find(|r| r.destination == route.destination && r.ifindex == Some(ifindex))
                    .ok_or_else(|| anyhow!("No such process"))?;
                live.protocol = protocol;
                live.preferred_source = source;
            }
            Action::SetPromoteSecondaries { interface, enabled } => {
                state.promote_secondaries.insert(interface, enabled);
            }
            Action::Track { address } => {
                state.tracked.insert(address);
            }
            Action::Untrack { address } => {
                state.tracked.remove(&address);
            }
            Action::Attach { interface, .. } => {
                state.attached.insert(interface);
            }
            Action::Detach { interface, .. } | Action::ForgetLink { interface } => {
                state.attached.remove(&interface);
            }
            Action::MoveLink { from, to } => {
                if !state.attached.remove(&from) {
                    bail!("No such file or directory");
                }
                state.attached.insert(to);
            }
        }
        Ok(())
    }
}

impl KernelOps for FakeKernel {
    async fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.state.borrow().interfaces.clone())
    }

    async fn addresses(&self, _: &[Interface]) -> Result<Vec<LiveAddress>> {
        Ok(self.state.borrow().addresses.clone())
    }

    async fn routes(&self) -> Result<Vec<LiveRoute>> {
        Ok(self.state.borrow().routes.clone())
    }

    async fn dad_state(&self, ifindex: u32, ip: IpAddr) -> Result<Option<DadState>> {
        let mut state = self.state.borrow_mut();
        let Some(address) = state
            .addresses
            .iter_mut()
            .find(|a| a.ifindex == ifindex && a.address.addr() == ip)
        else {
            return Ok(None);
        };
        let mut polls = self.polls.borrow_mut();
        let polled = polls.entry(ip).or_default();
        *polled += 1;
        if address.dad == DadState::Tentative && *polled > self.faults.tentative_polls {
            address.dad = if self.faults.duplicates.contains(&ip) {
                DadState::Failed
            } else {
                DadState::Done
            };
        }
        Ok(Some(address.dad))
    }

    fn promote_secondaries(&self, interface: &str) -> Option<bool> {
        self.state
            .borrow()
            .promote_secondaries
            .get(interface)
            .copied()
    }

    fn counters_unavailable(&self) -> Option<String> {
        None
    }

    fn tracked(&self) -> Result<BTreeSet<IpAddr>> {
        Ok(self.state.borrow().tracked.clone())
    }

    fn pinned_links(&self) -> Result<Vec<String>> {
        Ok(self.state.borrow().attached.iter().cloned().collect())
    }

    fn links_moved_to(&self, pinned: &str, candidates: &[&str]) -> Result<Option<String>> {
        let moved = self.faults.renamed.get(pinned);
        Ok(moved
            .filter(|to| candidates.contains(&to.as_str()))
            .cloned())
    }

    fn is_attached(&self, interface: &str) -> Result<bool> {
        Ok(self.state.borrow().attached.contains(interface))
    }

    fn zone_table(&self) -> Result<LiveTable> {
        self.zone_lists.set(self.zone_lists.get() + 1);
        Ok(self.zone_table.borrow().clone())
    }

    fn load_zones(&self, batch: &Value, check_only: bool) -> Result<()> {
        self.zone_loads.borrow_mut().push(check_only);
        if self.faults.refuse_zone_load && !check_only {
            return Err(anyhow!("nft refused the zone ruleset"));
        }
        if !check_only {
            *self.zone_table.borrow_mut() = crate::core::zones::table_loaded_by(batch);
        }
        Ok(())
    }

    async fn run(&self, action: &Action) -> Result<()> {
        let step = action.to_string();
        self.log.borrow_mut().push(step.clone());
        if self.faults.failing.contains(&step) {
            bail!("injected failure");
        }
        if self.faults.ignored.contains(&step) {
            return Ok(());
        }
        self.apply(action)
    }

    async fn probe_arp(&self, probes: &[ArpProbe]) -> Result<Vec<ArpConflict>> {
        self.probes
            .borrow_mut()
            .push(probes.iter().map(|p| p.on.ip).collect());
        Ok(probes
            .iter()
            .filter_map(|p| {
                let other = *self.faults.arp_owners.get(&p.on.ip)?;
                Some(ArpConflict {
                    on: p.on.clone(),
                    other,
                    probing: false,
                })
            })
            .collect())
    }

    async fn announce(&self, addresses: &[OnLink]) -> Result<()> {
        self.announced
            .borrow_mut()
            .push(addresses.iter().map(|a| a.ip).collect());
        Ok(())
    }

    fn remove_pins(&self) -> Result<()> {
        self.log.borrow_mut().push("- pins".into());
        Ok(())
    }

    async fn remark_address(&self, address: &LiveAddress, protocol: u8) -> Result<()> {
        self.apply(&Action::AdoptAddress {
            interface: address.interface.clone(),
            ifindex: address.ifindex,
            address: address.address,
            label: address.label.clone(),
            from: address.protocol,
            protocol,
        })
    }
}
