//! Test fixtures shared by the metrics tests: fixed sources, a config with
//! an address in every state, and an exporter over them.

use std::{net::IpAddr, path::Path};

use alias_ebpf::TrafficCounters;
use anyhow::{Context, Result};

use super::{collector::Sources, index::AddressIndex, Exporter};
use crate::{
    config::ConfigFile,
    core::model::{Interface, LiveAddress},
    sys::nft::ZoneCounter,
};

struct Fake {
    traffic: Option<Vec<(IpAddr, TrafficCounters)>>,
    zones: Vec<ZoneCounter>,
}

impl Sources for Fake {
    fn traffic(&self) -> Result<Vec<(IpAddr, TrafficCounters)>> {
        self.traffic
            .clone()
            .context("opening pinned map /sys/fs/bpf/x/COUNTERS: permission denied")
    }

    fn zones(&self) -> Result<Vec<ZoneCounter>> {
        Ok(self.zones.clone())
    }
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub(super) fn counters(n: u64) -> TrafficCounters {
    TrafficCounters {
        rx_packets: n,
        rx_bytes: n * 100,
        tx_packets: n + 1,
        tx_bytes: (n + 1) * 100,
    }
}

fn interface(index: u32, name: &str) -> Interface {
    Interface {
        index,
        name: name.into(),
        mac: None,
        ethernet: true,
        up: true,
        carrier: true,
    }
}

const OWNED: u8 = crate::core::model::OWNER_PROTO;
const RUNTIME: u8 = crate::core::model::RUNTIME_PROTO;
const FOREIGN: u8 = 0;

fn live(interface: &str, cidr: &str, label: Option<&str>, protocol: u8) -> LiveAddress {
    LiveAddress {
        interface: interface.into(),
        ifindex: 2,
        address: cidr.parse().unwrap(),
        label: label.map(String::from),
        broadcast: None,
        secondary: false,
        protocol,
        dad: Default::default(),
    }
}

pub(super) const CONFIG: &str = r#"
[[alias]]
interface = "eth1"
address = "192.0.2.1/24"
label = "eth1:0"
zone = "lab"

[[alias]]
interface = "eth1"
address = "2001:db8::1/64"
label = "eth1:v6"
zone = "lab"

[[alias]]
interface = "eth9"
address = "198.51.100.1/24"

[[alias]]
interface = "eth1"
address = "192.0.2.7/24"

[[alias]]
interface = "eth1"
address = "192.0.2.8/24"

[zone.lab]
input = "accept"
"#;

pub(super) fn index() -> AddressIndex {
    let file = ConfigFile::parse(Path::new("test.toml"), CONFIG).unwrap();
    AddressIndex::build(
        file.config(),
        &[interface(1, "lo"), interface(2, "eth1")],
        &[
            live("eth1", "192.0.2.1/24", Some("eth1:0"), OWNED),
            live("eth1", "2001:db8::1/64", None, OWNED),
            live("eth1", "192.0.2.8/24", Some("eth1"), FOREIGN),
            live("eth1", "192.0.2.50/24", Some("eth1:5"), RUNTIME),
            live("eth1", "192.0.2.60/24", Some("eth1:6"), OWNED),
            live("eth1", "203.0.113.9/24", Some("eth1"), FOREIGN),
        ],
    )
}

pub(super) fn exporter(traffic: Option<Vec<(IpAddr, TrafficCounters)>>) -> Exporter {
    let exporter = Exporter::new(Box::new(Fake {
        traffic,
        zones: vec![
            ZoneCounter {
                zone: "lab".into(),
                direction: "input",
                verdict: "accept",
                packets: 7,
                bytes: 700,
            },
            ZoneCounter {
                zone: "lab".into(),
                direction: "input",
                verdict: "drop",
                packets: 2,
                bytes: 120,
            },
        ],
    }));
    exporter.set_index(index());
    exporter
}

pub(super) fn text(exporter: &Exporter) -> String {
    exporter.scrape().to_text().unwrap()
}
