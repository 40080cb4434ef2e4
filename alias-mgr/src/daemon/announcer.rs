//! The daemon's announcements: the rest of the train after a reconcile
//! added addresses, a whole train for every alias of a link that came
//! back (carrier regained, interface re-created: peers may have dropped
//! or mis-learned its entries), and the optional periodic refresh for
//! switches whose MAC tables age out before the hosts' caches do.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    core::{
        desired::Settings,
        model::{DadState, Interface, LiveAddress},
        wire::OnLink,
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
}

impl Announcer {
    pub(super) fn start(pins: PinDir) -> Self {
        let (refresh_s, watched) = watch::channel(0);
        tokio::spawn(refresh(pins.clone(), watched));
        Self {
            pins,
            on_the_wire: None,
            refresh_s,
        }
    }

    /// After a reconcile: sends the rest of the trains it started, and a
    /// train for the aliases of links that came back.
    pub(super) fn after_reconcile(
        &mut self,
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
        let now: HashMap<u32, bool> = interfaces
            .iter()
            .map(|i| (i.index, i.on_the_wire().is_some()))
            .collect();
        let came_back: HashSet<u32> = match &self.on_the_wire {
            None => HashSet::new(),
            Some(before) => now
                .iter()
                .filter(|(index, up)| **up && !before.get(index).copied().unwrap_or(false))
                .map(|(index, _)| *index)
                .collect(),
        };
        self.on_the_wire = Some(now);
        if settings.announce_count == 0 {
            return;
        }
        let interval = Duration::from_millis(settings.announce_interval_ms.into());
        let just_added: HashSet<IpAddr> = applied.announced.iter().map(|on| on.ip).collect();
        if !applied.announced.is_empty() && settings.announce_count > 1 {
            let rounds = settings.announce_count - 1;
            self.train(applied.announced.clone(), rounds, interval, interval);
        }
        let returning: Vec<OnLink> = announceable(interfaces, addresses)
            .filter(|on| came_back.contains(&on.ifindex) && !just_added.contains(&on.ip))
            .collect();
        if !returning.is_empty() {
            info!(
                "link back on {}: announcing its {} alias(es)",
                names(&returning),
                returning.len()
            );
            self.train(returning, settings.announce_count, Duration::ZERO, interval);
        }
    }

    fn train(&self, addresses: Vec<OnLink>, rounds: u32, first: Duration, interval: Duration) {
        tokio::spawn(send_train(
            self.pins.clone(),
            addresses,
            rounds,
            first,
            interval,
        ));
    }
}

async fn send_train(
    pins: PinDir,
    addresses: Vec<OnLink>,
    rounds: u32,
    first: Duration,
    interval: Duration,
) {
    for round in 0..rounds {
        tokio::time::sleep(if round == 0 { first } else { interval }).await;
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
async fn refresh(pins: PinDir, mut refresh_s: watch::Receiver<u32>) {
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
        .filter(|a| a.owned() && a.dad == DadState::Done)
        .filter_map(|a| {
            let interface = interfaces.iter().find(|i| i.index == a.ifindex)?;
            Some(OnLink {
                interface: interface.name.clone(),
                ifindex: interface.index,
                mac: interface.on_the_wire()?,
                ip: a.address.addr(),
            })
        })
}

fn names(addresses: &[OnLink]) -> String {
    let mut names: Vec<&str> = addresses.iter().map(|on| on.interface.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(", ")
}
