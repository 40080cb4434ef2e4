//! The real kernel behind [`KernelOps`]: rtnetlink, sysctls, the
//! classifier's pins and `nft`.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    sync::{Mutex, PoisonError},
};

use std::time::Duration;

use anyhow::{Context, Result};
use futures::StreamExt;
use serde_json::Value;

use super::KernelOps;
use crate::{
    core::{
        model::{DadState, Interface, LiveAddress, LiveRoute},
        plan::Action,
        wire::{ArpConflict, ArpProbe, OnLink},
        zones::LiveTable,
    },
    sys::{
        arp,
        bpf::{Counters, LinkLayer, PinDir},
        ndisc,
        netlink::Netlink,
        nft, sysctl,
    },
};

/// What needs the classifier loaded: the first tracked address (which
/// creates the counters map) or an attach.
#[derive(Clone, Copy)]
enum ClassifierLoad<'a> {
    Track(IpAddr),
    Attach(&'a str, LinkLayer),
}

/// Runs `alias-mgr --pin-dir PINS counters track|attach ...` in a
/// short-lived child. Loading parses the
/// kernel's BTF, which aya does eagerly (about 17 MB at its peak): in the
/// child, the daemon at boot and an `apply` of 10,000 aliases never hold it
/// next to their plan. What the child creates is pinned, so it is ours once
/// it exits. A binary that cannot be run again (replaced on disk by an
/// upgrade) loads in this process instead.
async fn load_in_child(pins: &PinDir, load: ClassifierLoad<'_>) -> Result<()> {
    let in_process = || -> Result<()> {
        match load {
            ClassifierLoad::Track(ip) => pins.counters()?.track(ip).map(drop)?,
            ClassifierLoad::Attach(interface, layer) => pins.attach(interface, layer).map(drop)?,
        }
        Ok(())
    };
    let address;
    let args: [&str; 3] = match load {
        ClassifierLoad::Track(ip) => {
            address = ip.to_string();
            ["counters", "track", &address]
        }
        ClassifierLoad::Attach(interface, _) => ["counters", "attach", interface],
    };
    let Ok(exe) = std::env::current_exe() else {
        return in_process();
    };
    let spawned = tokio::process::Command::new(&exe)
        .arg("--pin-dir")
        .arg(pins.path())
        .args(args)
        .env("ALIAS_MGR_LOG", "error")
        .stdin(std::process::Stdio::null())
        .output()
        .await;
    let out = match spawned {
        Ok(out) => out,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return in_process(),
        Err(err) => return Err(err).with_context(|| format!("running {}", exe.display())),
    };
    if out.status.success() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "{}",
        child_error(&String::from_utf8_lossy(&out.stderr))
    ))
}

/// The child's error from its stderr: from its `alias-mgr: error:` line on,
/// so a multi-line error (a verifier log) keeps its first line, which says
/// what failed.
fn child_error(stderr: &str) -> &str {
    const PREFIX: &str = "alias-mgr: error: ";
    match stderr.find(PREFIX) {
        Some(at) => stderr[at + PREFIX.len()..].trim(),
        None => stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or("no error message"),
    }
}

/// This network namespace, as the process sees it, and a pin directory.
pub struct System {
    netlink: Netlink,
    pins: PinDir,
    /// A zone table listing started ahead (`prefetch_zone_table`) for the
    /// next `zone_table` to collect.
    listing: Mutex<Option<nft::PendingListing>>,
}

/// Netlink requests a batch keeps in flight: enough to hide the round
/// trip, within the socket's receive buffer for their acks.
const IN_FLIGHT: usize = 128;

impl System {
    /// Counters map updates through one handle on the pinned map (opening
    /// it costs more than an update); the first track of a new map creates
    /// it by loading the classifier, in a child.
    async fn update_counters(&self, actions: &[&Action]) -> Vec<Result<()>> {
        let mut results = Vec::with_capacity(actions.len());
        let mut counters = None;
        for action in actions {
            let result = self.update_counter(action, &mut counters).await;
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }

    /// One track or untrack through `counters`, opened on first use.
    async fn update_counter(&self, action: &Action, counters: &mut Option<Counters>) -> Result<()> {
        let map = match counters {
            Some(map) => map,
            None => match self.pins.existing_counters()? {
                Some(opened) => counters.insert(opened),
                // No map yet: this step makes it (loading the classifier).
                None => return self.run(action).await,
            },
        };
        match action {
            Action::Track { address } => map.track(*address).map(drop)?,
            Action::Untrack { address } => map.untrack(*address).map(drop)?,
            other => return self.run(other).await,
        }
        Ok(())
    }

    pub fn new(pins: PinDir) -> Result<Self> {
        Ok(Self {
            netlink: Netlink::connect()?,
            pins,
            listing: Mutex::default(),
        })
    }

    pub fn pins(&self) -> &PinDir {
        &self.pins
    }

    fn pending_listing(&self) -> std::sync::MutexGuard<'_, Option<nft::PendingListing>> {
        self.listing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub async fn interface(&self, name: &str) -> Result<Option<Interface>> {
        Ok(self.netlink.interface(name).await?)
    }
}

impl KernelOps for System {
    async fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.netlink.interfaces().await?)
    }

    async fn addresses(&self, interfaces: &[Interface]) -> Result<Vec<LiveAddress>> {
        Ok(self.netlink.addresses(interfaces).await?)
    }

    async fn routes(&self) -> Result<Vec<LiveRoute>> {
        Ok(self.netlink.routes().await?)
    }

    async fn dad_state(&self, ifindex: u32, ip: IpAddr) -> Result<Option<DadState>> {
        Ok(self.netlink.dad_state(ifindex, ip).await?)
    }

    fn promote_secondaries(&self, interface: &str) -> Option<bool> {
        sysctl::promote_secondaries(interface).ok()
    }

    fn counters_unavailable(&self) -> Option<String> {
        self.pins.unavailable_reason()
    }

    fn tracked(&self) -> Result<BTreeSet<IpAddr>> {
        Ok(match self.pins.existing_counters()? {
            Some(counters) => counters.tracked_addresses(),
            None => BTreeSet::new(),
        })
    }

    fn pinned_links(&self) -> Result<Vec<String>> {
        Ok(self.pins.attached_interfaces()?)
    }

    fn links_moved_to(&self, pinned: &str, candidates: &[&str]) -> Result<Option<String>> {
        Ok(self.pins.links_moved_to(pinned, candidates)?)
    }

    fn is_attached(&self, interface: &str) -> Result<bool> {
        Ok(self.pins.is_attached(interface)?)
    }

    fn prefetch_zone_table(&self) {
        // Not started (no nft): `zone_table` runs it again and says why.
        *self.pending_listing() = nft::start_listing().ok();
    }

    fn zone_table(&self) -> Result<LiveTable> {
        let prefetched = self.pending_listing().take();
        Ok(match prefetched {
            Some(listing) => listing.finish()?,
            None => nft::live_table()?,
        })
    }

    fn load_zones(&self, batch: &Value, check_only: bool) -> Result<()> {
        // A listing started before this load would show the table as it was.
        drop(self.pending_listing().take());
        Ok(nft::load(batch, check_only)?)
    }

    async fn run_together(&self, actions: &[&Action]) -> Vec<Result<()>> {
        let counters = |a: &&Action| matches!(a, Action::Track { .. } | Action::Untrack { .. });
        if actions.iter().all(counters) {
            return self.update_counters(actions).await;
        }
        // `buffered` polls them in order, so the requests leave in order.
        futures::stream::iter(actions)
            .map(|action| self.run(action))
            .buffered(IN_FLIGHT)
            .collect()
            .await
    }

    async fn run(&self, action: &Action) -> Result<()> {
        match action {
            Action::SetPromoteSecondaries { interface, enabled } => {
                sysctl::set_promote_secondaries(interface, *enabled)?;
            }
            Action::RemoveRoute {
                ifindex,
                route,
                protocol,
                ..
            } => self.netlink.del_route(*ifindex, route, *protocol).await?,
            Action::AddRoute {
                ifindex,
                route,
                source,
                protocol,
                ..
            } => {
                self.netlink
                    .add_route(*ifindex, route, *source, *protocol)
                    .await?
            }
            Action::RemoveAddress {
                ifindex, address, ..
            } => self.netlink.del_address(*ifindex, *address).await?,
            Action::AddAddress {
                ifindex,
                address,
                label,
                protocol,
                ..
            } => {
                self.netlink
                    .add_address(*ifindex, *address, label.as_deref(), *protocol)
                    .await?
            }
            Action::AdoptAddress {
                ifindex,
                address,
                label,
                protocol,
                ..
            } => {
                self.netlink
                    .remark_address(*ifindex, *address, label.as_deref(), *protocol)
                    .await?
            }
            Action::AdoptRoute {
                ifindex,
                route,
                source,
                protocol,
                ..
            } => {
                self.netlink
                    .replace_route(*ifindex, route, *source, *protocol)
                    .await?
            }
            Action::Track { address } => match self.pins.existing_counters()? {
                Some(mut counters) => {
                    counters.track(*address)?;
                }
                // The first one creates the map: by loading the classifier.
                None => load_in_child(&self.pins, ClassifierLoad::Track(*address)).await?,
            },
            Action::Untrack { address } => {
                if let Some(mut counters) = self.pins.existing_counters()? {
                    counters.untrack(*address)?;
                }
            }
            Action::Attach {
                interface,
                ethernet,
            } => {
                // The child's `counters attach` reads the link layer itself;
                // this one is for loading here when it cannot run.
                let layer = if *ethernet {
                    LinkLayer::Ethernet
                } else {
                    LinkLayer::RawIp
                };
                load_in_child(&self.pins, ClassifierLoad::Attach(interface, layer)).await?;
            }
            Action::Detach { interface, .. } | Action::ForgetLink { interface } => {
                self.pins.detach(interface)?;
            }
            Action::MoveLink { from, to } => self.pins.move_links(from, to)?,
        }
        Ok(())
    }

    async fn probe_arp(&self, probes: &[ArpProbe]) -> Result<Vec<ArpConflict>> {
        let targets: Vec<(arp::Target, &OnLink)> = probes
            .iter()
            .filter_map(|p| Some((arp_target(&p.on)?, &p.on)))
            .collect();
        let wait =
            Duration::from_millis(probes.iter().map(|p| p.wait_ms).max().unwrap_or(0).into());
        let sent: Vec<arp::Target> = targets.iter().map(|(t, _)| *t).collect();
        let seen = tokio::task::spawn_blocking(move || arp::probe(&sent, wait))
            .await
            .context("the ARP probe thread")?
            .context("probing for address conflicts (RFC 5227)")?;
        Ok(seen
            .into_iter()
            .filter_map(|conflict| {
                let (_, on) = targets
                    .iter()
                    .find(|(t, _)| t.ifindex == conflict.ifindex && t.ip == conflict.ip)?;
                Some(ArpConflict {
                    on: (*on).clone(),
                    other: conflict.mac,
                    probing: conflict.probing,
                })
            })
            .collect())
    }

    async fn announce(&self, addresses: &[OnLink]) -> Result<()> {
        let addresses = addresses.to_vec();
        tokio::task::spawn_blocking(move || announce_now(&addresses))
            .await
            .context("the announcement thread")?
    }

    fn remove_pins(&self) -> Result<()> {
        Ok(self.pins.remove_all()?)
    }

    async fn remark_address(&self, address: &LiveAddress, protocol: u8) -> Result<()> {
        self.netlink
            .remark_address(
                address.ifindex,
                address.address,
                address.label.as_deref(),
                protocol,
            )
            .await?;
        Ok(())
    }
}

/// One gratuitous ARP per IPv4 address, one unsolicited neighbour
/// advertisement per IPv6 one; every address is tried, the first failure
/// is returned.
fn announce_now(addresses: &[OnLink]) -> Result<()> {
    let ipv4: Vec<arp::Target> = addresses.iter().filter_map(arp_target).collect();
    let mut first_failure = arp::announce(&ipv4).context("sending gratuitous ARP").err();
    for on in addresses {
        if let IpAddr::V6(ip) = on.ip {
            if let Err(err) = ndisc::advertise(on.ifindex, on.mac, ip) {
                first_failure.get_or_insert(anyhow::anyhow!(
                    "sending a neighbour advertisement for {ip} on {}: {err}",
                    on.interface
                ));
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// What ARP needs of an IPv4 address on a link (None for IPv6).
fn arp_target(on: &OnLink) -> Option<arp::Target> {
    match on.ip {
        IpAddr::V4(ip) => Some(arp::Target {
            ifindex: on.ifindex,
            mac: on.mac,
            ip,
        }),
        IpAddr::V6(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::child_error;

    #[test]
    fn a_childs_multi_line_error_keeps_the_line_that_says_what_failed() {
        let stderr = "alias-mgr: error: loading the classifier: Verifier output: 0: r6 = r1\n\
                      260: R1 !read_ok\n: Permission denied (os error 13)\n";
        let error = child_error(stderr);
        assert!(
            error.starts_with("loading the classifier: Verifier output"),
            "{error}"
        );
        assert!(
            error.ends_with("Permission denied (os error 13)"),
            "{error}"
        );
    }

    #[test]
    fn without_the_error_prefix_the_last_line_is_the_reason() {
        assert_eq!(
            child_error("warning: x\nsomething broke\n\n"),
            "something broke"
        );
        assert_eq!(child_error(""), "no error message");
    }
}
