//! The daemon's announcements: the rest of the train after a reconcile
//! added addresses, a whole train for every alias of a link that came
//! back (carrier regained, interface re-created: peers may have dropped
//! or mis-learned its entries), and the optional periodic refresh for
//! switches whose MAC tables age out before the hosts' caches do.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    core::{
        desired::Settings,
        model::{Interface, LiveAddress},
        wire::{ArpConflict, OnLink},
    },
    kernel::{Applied, Kernel},
    logging::{info, warning},
    sys::bpf::PinDir,
};

pub(super) struct Announcer {
    pins: PinDir,
    /// Whether each interface (by index) was on the wire at the last look;
    /// None before the first look, when nothing has "come back".
    on_the_wire: Option<HashMap<u32, bool>>,
    /// `announce_refresh_s` in force, watched by the refresh task.
    refresh_s: watch::Sender<u32>,
    /// Aliases up here that another host answered a probe for when their
    /// link came back.
    suspects: Vec<ArpConflict>,
    /// Shared with the trains and the refresh task.
    wire: SharedWire,
}

impl Announcer {
    pub(super) fn start(pins: PinDir) -> Self {
        let (refresh_s, watched) = watch::channel(0);
        let wire = SharedWire::default();
        tokio::spawn(refresh(pins.clone(), watched, wire.clone()));
        Self {
            pins,
            on_the_wire: None,
            refresh_s,
            suspects: Vec::new(),
            wire,
        }
    }

    /// After a reconcile: sends the rest of the trains it started, and,
    /// for links that came back, probes their IPv4 aliases (they went up
    /// while nobody could answer a probe) and announces those nobody
    /// else answers for.
    pub(super) async fn after_reconcile(
        &mut self,
        kernel: &Kernel,
        settings: &Settings,
        applied: &Applied,
        interfaces: &[Interface],
        addresses: &[LiveAddress],
    ) {
        let every = settings.announce_refresh_s;
        self.refresh_s.send_if_modified(|current| {
            let changed = *current != every;
            *current = every;
            changed
        });
        let came_back = self.links_back(interfaces);
        let just_added: HashSet<IpAddr> = applied.announced.iter().map(|on| on.ip).collect();
        let mut returning: Vec<OnLink> = announceable(interfaces, addresses)
            .filter(|on| came_back.contains(&on.ifindex) && !just_added.contains(&on.ip))
            .collect();
        self.probe_again(kernel, settings, addresses).await;
        if settings.arp_probe_ms > 0 && !returning.is_empty() {
            self.probe_returning(kernel, settings, &mut returning).await;
        }
        if settings.announce_count == 0 {
            return;
        }
        let interval = Duration::from_millis(settings.announce_interval_ms.into());
        if !applied.announced.is_empty() && settings.announce_count > 1 {
            let rounds = settings.announce_count - 1;
            self.train(applied.announced.clone(), rounds, interval, interval);
        }
        if !returning.is_empty() {
            info!(
                "link back on {}: announcing its {} alias(es)",
                names(&returning),
                returning.len()
            );
            self.train(returning, settings.announce_count, Duration::ZERO, interval);
        }
    }

    /// Interfaces (by index) on the wire now that were not at the last look.
    fn links_back(&mut self, interfaces: &[Interface]) -> HashSet<u32> {
        let now: HashMap<u32, bool> = interfaces
            .iter()
            .map(|i| (i.index, i.on_the_wire().is_some()))
            .collect();
        let came_back = match &self.on_the_wire {
            None => HashSet::new(),
            Some(before) => now
                .iter()
                .filter(|(index, up)| **up && !before.get(index).copied().unwrap_or(false))
                .map(|(index, _)| *index)
                .collect(),
        };
        if let (Some(before), Ok(mut wire)) = (&self.on_the_wire, self.wire.lock()) {
            let went_off = before
                .iter()
                .filter(|(index, up)| **up && !now.get(index).copied().unwrap_or(false));
            for (index, _) in went_off {
                *wire.offline.entry(*index).or_default() += 1;
            }
        }
        self.on_the_wire = Some(now);
        came_back
    }

    /// Probes the IPv4 aliases of links that came back; one another host
    /// answers for is not announced (that would take the address from it)
    /// and is reported as a conflict until it is free again.
    async fn probe_returning(
        &mut self,
        kernel: &Kernel,
        settings: &Settings,
        returning: &mut Vec<OnLink>,
    ) {
        let ipv4: Vec<OnLink> = returning
            .iter()
            .filter(|on| on.ip.is_ipv4())
            .cloned()
            .collect();
        for conflict in kernel.probe_live(&ipv4, settings.arp_probe_ms).await {
            warning!("link back: {conflict}; it stays up but is not announced, and is reported as a conflict until that host lets it go");
            returning.retain(|on| on.ip != conflict.on.ip);
            self.suspects.push(conflict);
        }
        self.share_suspects();
    }

    fn share_suspects(&self) {
        if let Ok(mut wire) = self.wire.lock() {
            wire.taken = self.suspects.iter().map(|c| c.on.ip).collect();
        }
    }

    /// Re-probes the aliases found taken after a link came back: those
    /// nobody answers for any more (or gone) are no conflict now.
    async fn probe_again(
        &mut self,
        kernel: &Kernel,
        settings: &Settings,
        addresses: &[LiveAddress],
    ) {
        if self.suspects.is_empty() {
            return;
        }
        let still_up: Vec<OnLink> = self
            .suspects
            .iter()
            .filter(|c| {
                addresses
                    .iter()
                    .any(|a| a.ifindex == c.on.ifindex && a.address.addr() == c.on.ip)
            })
            .map(|c| c.on.clone())
            .collect();
        let taken = kernel
            .probe_live(&still_up, settings.arp_probe_ms.max(1))
            .await;
        self.suspects = taken;
        self.share_suspects();
    }

    /// Addresses up here that another host answered an ARP probe for.
    pub(super) fn suspects(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.suspects.iter().map(|c| c.on.ip)
    }

    fn train(&self, addresses: Vec<OnLink>, rounds: u32, first: Duration, interval: Duration) {
        let wire = self.wire.clone();
        let offline_at_start = wire.lock().map(|w| w.offline.clone()).unwrap_or_default();
        tokio::spawn(send_train(
            self.pins.clone(),
            addresses,
            (rounds, first, interval),
            wire,
            offline_at_start,
        ));
    }
}

/// What the trains and the refresh must not announce over: links that
/// went off the wire since (counted per ifindex: their aliases are probed
/// again when they come back), and addresses another host answered for.
#[derive(Default)]
struct WireState {
    offline: HashMap<u32, u64>,
    taken: HashSet<IpAddr>,
}

type SharedWire = Arc<Mutex<WireState>>;

/// Those of `addresses` that may still be announced: not taken by another
/// host and, for a train (`offline_at_start`), on links that have not gone
/// off the wire since it started.
fn still_ours(
    wire: &SharedWire,
    addresses: &[OnLink],
    offline_at_start: Option<&HashMap<u32, u64>>,
) -> Vec<OnLink> {
    let Ok(wire) = wire.lock() else {
        return Vec::new();
    };
    addresses
        .iter()
        .filter(|on| {
            offline_at_start
                .is_none_or(|start| wire.offline.get(&on.ifindex) == start.get(&on.ifindex))
        })
        .filter(|on| !wire.taken.contains(&on.ip))
        .cloned()
        .collect()
}

async fn send_train(
    pins: PinDir,
    addresses: Vec<OnLink>,
    (rounds, first, interval): (u32, Duration, Duration),
    wire: SharedWire,
    offline_at_start: HashMap<u32, u64>,
) {
    for round in 0..rounds {
        tokio::time::sleep(if round == 0 { first } else { interval }).await;
        let addresses = still_ours(&wire, &addresses, Some(&offline_at_start));
        if addresses.is_empty() {
            return;
        }
        let result = match Kernel::new(pins.clone()) {
            Ok(kernel) => kernel.announce_still_live(&addresses).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) => return warning!("announcing aliases: {err:#}"),
        }
    }
}

/// Re-announces every alias each `announce_refresh_s` (when not 0); a
/// changed setting restarts the wait.
async fn refresh(pins: PinDir, mut refresh_s: watch::Receiver<u32>, wire: SharedWire) {
    loop {
        let every = *refresh_s.borrow_and_update();
        let wait = async {
            match every {
                0 => std::future::pending().await,
                s => tokio::time::sleep(Duration::from_secs(s.into())).await,
            }
        };
        tokio::select! {
            changed = refresh_s.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return, // the daemon is stopping
            },
            () = wait => {}
        }
        let Ok(kernel) = Kernel::new(pins.clone()) else {
            continue;
        };
        match kernel.addresses().await {
            Ok((interfaces, addresses)) => {
                let all: Vec<OnLink> = announceable(&interfaces, &addresses).collect();
                let all = still_ours(&wire, &all, None);
                if !all.is_empty() {
                    kernel.announce(&all).await;
                }
            }
            Err(err) => warning!("reading addresses for the announcement refresh: {err:#}"),
        }
    }
}

/// alias-mgr's addresses that can be announced now.
fn announceable<'a>(
    interfaces: &'a [Interface],
    addresses: &'a [LiveAddress],
) -> impl Iterator<Item = OnLink> + 'a {
    addresses
        .iter()
        .filter(|a| a.owned())
        .filter_map(|a| a.on_link(interfaces))
}

fn names(addresses: &[OnLink]) -> String {
    let mut names: Vec<&str> = addresses.iter().map(|on| on.interface.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}
