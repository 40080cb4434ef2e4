//! `alias-mgr list`: every address of the interface(s), or of one label,
//! with what the config says of it and its counters, as a table or as JSON
//! (`list --json`).

use std::{
    collections::BTreeMap,
    io::{self, Write},
    net::IpAddr,
    path::Path,
};

use alias_ebpf::TrafficCounters;
use anyhow::{bail, Result};
use serde::Serialize;

use super::{
    common::interface_and_label,
    output::{self, say, say_warning},
};
use crate::{
    config::ConfigFile,
    core::model::{AliasSpec, DadState, Interface, LiveAddress},
    core::resolve::find_interface,
    kernel::Kernel,
    sys::bpf::PinDir,
};

#[derive(Debug, Serialize)]
struct ListRow {
    interface: String,
    ifindex: u32,
    /// "inet" or "inet6", as `ip -j addr` says.
    family: &'static str,
    address: IpAddr,
    prefix_len: u8,
    label: Option<String>,
    zone: Option<String>,
    owned: bool,
    declared: bool,
    /// The interface as the config writes it (a name, an altname or a
    /// MAC), when the address is declared.
    config_interface: Option<String>,
    /// FILE:LINE of its `[[alias]]`: the main file or a conf.d drop-in.
    declared_in: Option<String>,
    /// Added with --runtime (live only).
    runtime: bool,
    secondary: bool,
    /// IPv6 duplicate address detection: done, tentative or failed.
    dad: DadState,
    /// IFA_PROTO: 161 (0xa1) added by alias-mgr, 162 (0xa2) with --runtime.
    protocol: u8,
    broadcast: Option<IpAddr>,
    mac: Option<String>,
    rx_bytes: Option<u64>,
    rx_packets: Option<u64>,
    tx_bytes: Option<u64>,
    tx_packets: Option<u64>,
}

/// `interface` is an interface (eth1) or, as `del` takes it, a label (eth1:0).
pub(super) async fn list(
    config: &Path,
    pins: PinDir,
    interface: Option<&str>,
    json: bool,
) -> Result<()> {
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let (interfaces, addresses) = kernel.addresses().await?;
    let (only, label) = match interface.map(interface_and_label).transpose()? {
        Some((name, label)) => (Some(name), label),
        None => (None, None),
    };
    if let Some(name) = only {
        if !interfaces.iter().any(|i| i.name == name) {
            bail!("interface {name:?} does not exist; check the name with `ip link`");
        }
    }
    let pins = kernel.system().pins();
    let counters = match (pins.unavailable_reason(), pins.existing_counters()) {
        // On stderr, so `--json` stays one document.
        (Some(reason), _) if file.config().settings.counters => {
            say_warning!("per-address counters are off: {reason}");
            BTreeMap::new()
        }
        (Some(_), _) | (None, Ok(None)) => BTreeMap::new(),
        (None, Ok(Some(counters))) => counters.read_all()?,
        (None, Err(err)) => {
            say_warning!("counters unavailable: {err}");
            BTreeMap::new()
        }
    };
    let declared_in: Vec<Option<String>> = (0..file.config().aliases.len())
        .map(|i| {
            file.declared_at(i)
                .map(|(path, line)| format!("{}:{line}", path.display()))
        })
        .collect();
    let observed = Listed {
        interfaces: &interfaces,
        addresses: &addresses,
        declared: &file.config().aliases,
        declared_in: &declared_in,
        counters: &counters,
    };
    let rows = observed.rows(only, label);
    if let (Some(name), Some(label), true) = (only, label, rows.is_empty()) {
        bail!("no address labelled {label:?} on {name:?}; see `alias-mgr list {name:?}`");
    }
    if json {
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut table = Vec::new();
    write_table(&mut table, &rows, &interfaces)?;
    output::print(&String::from_utf8_lossy(&table));
    Ok(())
}

/// What the rows are made of.
struct Listed<'a> {
    interfaces: &'a [Interface],
    addresses: &'a [LiveAddress],
    declared: &'a [AliasSpec],
    /// Where each of `declared` is written (FILE:LINE), when known.
    declared_in: &'a [Option<String>],
    counters: &'a BTreeMap<IpAddr, TrafficCounters>,
}

impl Listed<'_> {
    /// One row per live address (of interface `only` and with `label`, if
    /// given: the kernel's label for IPv4, the config's for IPv6).
    fn rows(&self, only: Option<&str>, label: Option<&str>) -> Vec<ListRow> {
        let mut rows: Vec<ListRow> = self
            .addresses
            .iter()
            .filter(|a| only.is_none_or(|n| n == a.interface))
            .map(|live| self.row(live))
            .filter(|row| label.is_none_or(|l| row.label.as_deref() == Some(l)))
            .collect();
        // The dump lists IPv4 before IPv6: group each interface's rows together,
        // in interface order, keeping the kernel's order within one.
        rows.sort_by_key(|row| {
            self.interfaces
                .iter()
                .position(|i| i.name == row.interface)
                .unwrap_or(usize::MAX)
        });
        rows
    }

    fn row(&self, live: &LiveAddress) -> ListRow {
        let ip = live.address.addr();
        let index = self.declared.iter().position(|a| {
            a.ip() == ip
                && find_interface(&a.interface, self.interfaces)
                    .is_some_and(|i| i.index == live.ifindex)
        });
        let entry = index.map(|i| &self.declared[i]);
        let count = self.counters.get(&ip);
        let mac = self
            .interfaces
            .iter()
            .find(|i| i.index == live.ifindex)
            .and_then(|i| i.mac.clone());
        ListRow {
            interface: live.interface.clone(),
            ifindex: live.ifindex,
            family: if ip.is_ipv4() { "inet" } else { "inet6" },
            address: ip,
            prefix_len: live.address.prefix_len(),
            label: if ip.is_ipv4() {
                live.label.clone()
            } else {
                entry.and_then(|e| e.label.clone())
            },
            zone: entry.and_then(|e| e.zone.clone()),
            owned: live.owned(),
            declared: entry.is_some(),
            config_interface: entry.map(|e| e.interface.clone()),
            declared_in: index.and_then(|i| self.declared_in.get(i).cloned().flatten()),
            runtime: live.runtime(),
            secondary: live.secondary,
            dad: live.dad,
            protocol: live.protocol,
            broadcast: live.broadcast,
            mac,
            rx_bytes: count.map(|c| c.rx_bytes),
            rx_packets: count.map(|c| c.rx_packets),
            tx_bytes: count.map(|c| c.tx_bytes),
            tx_packets: count.map(|c| c.tx_packets),
        }
    }
}

/// The table: a header line per interface, then a line per address (two
/// with counters).
fn write_table(out: &mut impl Write, rows: &[ListRow], interfaces: &[Interface]) -> io::Result<()> {
    let mut current = None;
    for row in rows {
        if current != Some(&row.interface) {
            let iface = interfaces.iter().find(|i| i.name == row.interface);
            let state = if iface.is_some_and(|i| i.up) {
                "UP"
            } else {
                "DOWN"
            };
            writeln!(
                out,
                "{}  HWaddr {}  {state}",
                row.interface,
                row.mac.as_deref().unwrap_or("-")
            )?;
            current = Some(&row.interface);
        }
        write_row(out, row)?;
    }
    Ok(())
}

fn write_row(out: &mut impl Write, row: &ListRow) -> io::Result<()> {
    let family = if row.address.is_ipv4() {
        "inet "
    } else {
        "inet6"
    };
    let owner = match (row.owned, row.declared, row.runtime) {
        (false, ..) => "foreign",
        (true, true, _) => "alias-mgr",
        (true, false, true) => "alias-mgr (runtime)",
        (true, false, false) => "alias-mgr, not in the config",
    };
    let dad = match row.dad {
        DadState::Done => "",
        DadState::Tentative => ", tentative",
        DadState::Failed => ", DAD FAILED: another host has it",
    };
    write!(
        out,
        "  {:<15} {family} {:<28}",
        row.label.as_deref().unwrap_or(&row.interface),
        format!("{}/{}", row.address, row.prefix_len)
    )?;
    if let Some(brd) = row.broadcast {
        write!(out, " brd {brd:<15}")?;
    }
    if let Some(zone) = &row.zone {
        write!(out, " zone {zone}")?;
    }
    write!(
        out,
        " [{owner}{}{dad}]",
        if row.secondary { ", secondary" } else { "" }
    )?;
    match (row.rx_packets, row.rx_bytes, row.tx_packets, row.tx_bytes) {
        (Some(rp), Some(rb), Some(tp), Some(tb)) => writeln!(
            out,
            "\n      RX packets {rp} bytes {rb}  TX packets {tp} bytes {tb}"
        ),
        _ => writeln!(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        fixtures::{
            alias, interface, ip, live_on, AliasBuilder, InterfaceBuilder, LiveBuilder, FOREIGN,
        },
        model::{OWNER_PROTO, RUNTIME_PROTO},
    };

    fn fixture() -> (Vec<Interface>, Vec<LiveAddress>, Vec<AliasSpec>) {
        let eth1 = interface("eth1", 2).mac("02:00:00:00:00:02");
        let eth2 = interface("eth2", 3).mac("02:00:00:00:00:03").down();
        let addresses = vec![
            live_on(&eth1, "192.168.0.1/24", OWNER_PROTO).label("eth1:0"),
            live_on(&eth2, "10.0.0.1/8", FOREIGN),
            live_on(&eth1, "2001:db8::1/64", RUNTIME_PROTO),
        ];
        let declared = vec![alias("eth1", "192.168.0.1/24").label("eth1:0").zone("dmz")];
        (vec![eth1, eth2], addresses, declared)
    }

    #[test]
    fn rows_join_live_addresses_with_config_and_counters_grouped_by_interface() {
        let (interfaces, addresses, declared) = fixture();
        let counters = BTreeMap::from([(
            ip("192.168.0.1"),
            TrafficCounters {
                rx_packets: 1,
                rx_bytes: 2,
                tx_packets: 3,
                tx_bytes: 4,
            },
        )]);
        let listed = Listed {
            interfaces: &interfaces,
            addresses: &addresses,
            declared: &declared,
            declared_in: &[],
            counters: &counters,
        };
        let rows = listed.rows(None, None);
        let order: Vec<_> = rows
            .iter()
            .map(|r| (r.interface.as_str(), r.family))
            .collect();
        assert_eq!(
            order,
            [("eth1", "inet"), ("eth1", "inet6"), ("eth2", "inet")]
        );
        let first = &rows[0];
        assert!(first.owned && first.declared && !first.runtime);
        assert_eq!(first.zone.as_deref(), Some("dmz"));
        assert_eq!(first.label.as_deref(), Some("eth1:0"));
        assert_eq!(first.mac.as_deref(), Some("02:00:00:00:00:02"));
        assert_eq!(
            (
                first.rx_packets,
                first.rx_bytes,
                first.tx_packets,
                first.tx_bytes
            ),
            (Some(1), Some(2), Some(3), Some(4))
        );
        assert!(rows[1].runtime && !rows[1].declared);
        assert_eq!(rows[1].rx_bytes, None);
        assert!(!rows[2].owned);
        assert_eq!(listed.rows(Some("eth2"), None).len(), 1);
        let labelled = listed.rows(Some("eth1"), Some("eth1:0"));
        assert_eq!(labelled.len(), 1);
        assert_eq!(labelled[0].address, ip("192.168.0.1"));
        assert!(listed.rows(Some("eth1"), Some("eth1:9")).is_empty());
    }

    #[test]
    fn the_table_shows_owner_state_and_counters() {
        let (interfaces, addresses, declared) = fixture();
        let counters = BTreeMap::new();
        let listed = Listed {
            interfaces: &interfaces,
            addresses: &addresses,
            declared: &declared,
            declared_in: &[],
            counters: &counters,
        };
        let mut out = Vec::new();
        write_table(&mut out, &listed.rows(None, None), &interfaces).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "eth1  HWaddr 02:00:00:00:00:02  UP");
        assert!(
            lines[1].starts_with("  eth1:0          inet  192.168.0.1/24"),
            "{text}"
        );
        assert!(lines[1].ends_with(" zone dmz [alias-mgr]"), "{text}");
        assert!(lines[2].ends_with("[alias-mgr (runtime)]"), "{text}");
        assert_eq!(lines[3], "eth2  HWaddr 02:00:00:00:00:03  DOWN");
        assert!(lines[4].ends_with("[foreign]"), "{text}");
        assert_eq!(lines.len(), 5);
    }
}
