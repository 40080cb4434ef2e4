//! The scrape-time collector: where a scrape reads from ([`Sources`]: the
//! pinned counters map and nft on a real system), and the [`Exporter`] that
//! reads them all once per scrape and logs a source that starts or stops
//! failing.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Instant,
};

use alias_ebpf::TrafficCounters;
use anyhow::Result;
use prometheus::{
    core::{Collector, Desc},
    proto::MetricFamily,
};

use super::{
    families::Family,
    index::AddressIndex,
    process::ProcessStats,
    scrape::{Scrape, COLLECTORS},
    stats::{DaemonStats, StatsSnapshot},
};
use crate::{
    core::zones::counter_name,
    logging::{log, Level},
    sys::bpf::PinDir,
    sys::nft::ZoneCounter,
};

/// Where a scrape reads from: the pinned map and nft on a real system,
/// fixed values in unit tests.
pub trait Sources: Send + Sync + 'static {
    /// Every tracked address with its counters summed over the CPUs (empty
    /// when no counters map is pinned yet).
    fn traffic(&self) -> Result<Vec<(IpAddr, TrafficCounters)>>;
    /// alias-mgr's nftables zone counters (empty without zones).
    fn zones(&self) -> Result<Vec<ZoneCounter>>;
    /// Why per-address counters cannot work here, if they cannot.
    fn counters_unavailable(&self) -> Option<String> {
        None
    }
}

/// The real sources: the pinned counters map and `nft`.
pub struct KernelSources {
    pins: PinDir,
}

impl KernelSources {
    pub fn new(pins: PinDir) -> Self {
        Self { pins }
    }
}

impl Sources for KernelSources {
    fn traffic(&self) -> Result<Vec<(IpAddr, TrafficCounters)>> {
        match self.pins.existing_counters()? {
            Some(counters) => Ok(counters.read_all()?.into_iter().collect()),
            None => Ok(Vec::new()),
        }
    }

    fn zones(&self) -> Result<Vec<ZoneCounter>> {
        Ok(crate::sys::nft::zone_counters()?)
    }

    fn counters_unavailable(&self) -> Option<String> {
        self.pins.unavailable_reason()
    }
}

/// The collector: reads the sources at scrape time. Register it with a
/// `prometheus::Registry`, or serve it with the web server through
/// [`MetricsEndpoint`](super::MetricsEndpoint).
pub struct Exporter {
    sources: Box<dyn Sources>,
    index: RwLock<Arc<AddressIndex>>,
    stats: DaemonStats,
    descs: Vec<Desc>,
    /// Whether each collector failed in the previous scrape: a failure is
    /// logged when it starts and when it ends, not on every scrape.
    failing: [AtomicBool; 3],
    /// Each zone counter's last reading, by counter name: what Prometheus
    /// has seen, so what a re-created table must start from.
    zone_counts: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl Exporter {
    pub fn new(sources: Box<dyn Sources>) -> Self {
        let descs = Family::ALL
            .iter()
            .filter_map(|family| {
                let def = family.def();
                Desc::new(
                    def.name.into(),
                    def.help.into(),
                    def.labels.iter().map(|l| l.to_string()).collect(),
                    HashMap::new(),
                )
                .ok()
            })
            .collect();
        Self {
            sources,
            index: RwLock::new(Arc::new(AddressIndex::default())),
            stats: DaemonStats::new(),
            descs,
            failing: Default::default(),
            zone_counts: Mutex::default(),
        }
    }

    /// Remembers zone counter readings (a counter not in them keeps its
    /// last value: a table flushed a moment ago is read as empty).
    pub fn saw_zone_counts(&self, counters: &[ZoneCounter]) {
        let mut seen = self.zone_counts.lock().unwrap_or_else(|p| p.into_inner());
        for c in counters {
            let name = counter_name(&c.zone, c.direction, c.verdict);
            seen.insert(name, (c.packets, c.bytes));
        }
    }

    pub fn zone_counts_seen(&self) -> BTreeMap<String, (u64, u64)> {
        self.zone_counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn stats(&self) -> &DaemonStats {
        &self.stats
    }

    pub fn set_index(&self, index: AddressIndex) {
        let index = Arc::new(index);
        match self.index.write() {
            Ok(mut slot) => *slot = index,
            Err(poisoned) => *poisoned.into_inner() = index,
        }
    }

    fn index(&self) -> Arc<AddressIndex> {
        match self.index.read() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads every source once. Blocking (bpf syscalls, runs nft): call it
    /// off the async runtime's threads.
    pub fn scrape(&self) -> Scrape {
        let index = self.index();
        let started = Instant::now();
        let traffic = self.sources.traffic();
        let traffic_took = started.elapsed();
        let started = Instant::now();
        let zones = if index.zones {
            self.sources.zones()
        } else {
            Ok(Vec::new())
        };
        let zones_took = started.elapsed();
        if let Ok(zones) = &zones {
            self.saw_zone_counts(zones);
        }
        let started = Instant::now();
        let process = ProcessStats::read();
        let process_took = started.elapsed();

        let errors = [
            traffic.as_ref().err().map(|e| format!("{e:#}")),
            zones.as_ref().err().map(|e| format!("{e:#}")),
            process.as_ref().err().map(|e| format!("{e:#}")),
        ];
        for ((name, error), failing) in COLLECTORS.iter().zip(&errors).zip(&self.failing) {
            let was_failing = failing.swap(error.is_some(), Ordering::Relaxed);
            match (error, was_failing) {
                (Some(error), false) => log(
                    Level::Warning,
                    format_args!("scrape: reading {name} failed (reported as alias_mgr_scrape_collector_success 0 until it works again): {error}"),
                ),
                (None, true) => log(Level::Info, format_args!("scrape: reading {name} works again")),
                _ => {}
            }
        }
        Scrape {
            index,
            counters_off: self.sources.counters_unavailable(),
            traffic: traffic.ok(),
            zones: zones.ok(),
            process: process.ok(),
            durations: [traffic_took, zones_took, process_took],
            stats: StatsSnapshot::of(&self.stats),
            info_order: Default::default(),
        }
    }
}

impl Collector for Exporter {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.scrape().families().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use crate::core::fixtures::ip;
    use crate::metrics::fixtures::{counters, exporter, text, CONFIG};
    use std::path::Path;

    #[test]
    fn without_zones_in_the_config_nft_is_not_asked() {
        struct NoNft;
        impl Sources for NoNft {
            fn traffic(&self) -> Result<Vec<(IpAddr, TrafficCounters)>> {
                Ok(vec![])
            }
            fn zones(&self) -> Result<Vec<ZoneCounter>> {
                anyhow::bail!("`nft` was not found")
            }
        }
        let exporter = Exporter::new(Box::new(NoNft));
        let file = ConfigFile::parse(
            Path::new("t.toml"),
            "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
        )
        .unwrap();
        exporter.set_index(AddressIndex::build(file.config(), &[], &[]));
        let text = text(&exporter);
        assert!(text.contains(r#"alias_mgr_scrape_collector_success{collector="zones"} 1"#));
        // With zones it is, and its failure is reported.
        let file = ConfigFile::parse(Path::new("t.toml"), CONFIG).unwrap();
        exporter.set_index(AddressIndex::build(file.config(), &[], &[]));
        let text = exporter.scrape().to_text().unwrap();
        assert!(text.contains(r#"alias_mgr_scrape_collector_success{collector="zones"} 0"#));
    }

    #[test]
    fn the_collector_works_in_a_registry() {
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(exporter(Some(vec![(
                ip("192.0.2.1"),
                counters(1),
            )]))))
            .unwrap();
        let families = registry.gather();
        assert!(families
            .iter()
            .any(|f| f.name() == "alias_mgr_receive_bytes_total"));
    }
}
