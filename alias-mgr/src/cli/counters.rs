//! `alias-mgr counters`: low-level access to the classifier (attach,
//! detach) and its counters map (track, untrack, show).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use super::{output::say, CountersCommand};
use crate::{kernel::Kernel, sys::bpf::LinkLayer, sys::bpf::PinDir};

pub(super) async fn counters_command(pins: PinDir, command: CountersCommand) -> Result<()> {
    match command {
        CountersCommand::Attach { interface } => {
            let kernel = Kernel::new(pins)?;
            let Some(iface) = kernel.system().interface(&interface).await? else {
                bail!("interface {interface:?} does not exist; check the name with `ip link`");
            };
            let layer = if iface.ethernet {
                LinkLayer::Ethernet
            } else {
                LinkLayer::RawIp
            };
            let outcome = kernel.system().pins().attach(&interface, layer)?;
            say!("{interface:?}: {}", format!("{outcome:?}").to_lowercase());
        }
        CountersCommand::Detach { interface } => {
            let detached = pins.detach(&interface)?;
            // A renamed or removed interface's pins still detach; a typo
            // must not read as "was not attached".
            if !detached && !super::import::interface_exists(&interface) {
                bail!(
                    "interface {interface:?} does not exist and has no classifier pinned in {}; check the name with `ip link`",
                    pins.path().display()
                );
            }
            say!(
                "{interface:?}: {}",
                if detached {
                    "detached"
                } else {
                    "was not attached"
                }
            );
        }
        CountersCommand::Track { address } => {
            let added = pins.counters()?.track(address)?;
            say!(
                "{address}: {}",
                if added { "tracked" } else { "already tracked" }
            );
        }
        CountersCommand::Untrack { address } => {
            let removed = match pins.existing_counters()? {
                Some(mut counters) => counters.untrack(address)?,
                None => false,
            };
            say!(
                "{address}: {}",
                if removed {
                    "untracked"
                } else {
                    "was not tracked"
                }
            );
        }
        CountersCommand::Show { json } => show(&pins, json)?,
    }
    Ok(())
}

/// Every tracked address's counters, as a table or as JSON.
fn show(pins: &PinDir, json: bool) -> Result<()> {
    let all = match pins.existing_counters()? {
        Some(counters) => counters.read_all()?,
        None => BTreeMap::new(),
    };
    if json {
        let rows: Vec<_> = all
            .iter()
            .map(|(ip, c)| {
                serde_json::json!({
                    "address": ip, "rx_packets": c.rx_packets, "rx_bytes": c.rx_bytes,
                    "tx_packets": c.tx_packets, "tx_bytes": c.tx_bytes,
                })
            })
            .collect();
        say!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for (ip, c) in &all {
            say!(
                "{ip:<40} RX packets {} bytes {}  TX packets {} bytes {}",
                c.rx_packets,
                c.rx_bytes,
                c.tx_packets,
                c.tx_bytes
            );
        }
    }
    Ok(())
}
