//! Test fixtures shared by the metrics tests: fixed sources, a config with
//! an address in every state, and an exporter over them.

use std::{net::IpAddr, path::Path};

use alias_ebpf::TrafficCounters;
use anyhow::{Context, Result};

use super::{collector::Sources, index::AddressIndex, Exporter};
use crate::{
    config::ConfigFile,
    core::{
        fixtures::{interface, live, LiveBuilder, FOREIGN},
        model::{OWNER_PROTO, RUNTIME_PROTO},
    },
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

pub(super) fn counters(n: u64) -> TrafficCounters {
    TrafficCounters {
        rx_packets: n,
        rx_bytes: n * 100,
        tx_packets: n + 1,
        tx_bytes: (n + 1) * 100,
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
        &[interface("lo", 1), interface("eth1", 2)],
        &[
            live("eth1", 2, "192.0.2.1/24", OWNER_PROTO).label("eth1:0"),
            live("eth1", 2, "2001:db8::1/64", OWNER_PROTO),
            live("eth1", 2, "192.0.2.8/24", FOREIGN).label("eth1"),
            live("eth1", 2, "192.0.2.50/24", RUNTIME_PROTO).label("eth1:5"),
            live("eth1", 2, "192.0.2.60/24", OWNER_PROTO).label("eth1:6"),
            live("eth1", 2, "203.0.113.9/24", FOREIGN).label("eth1"),
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
