//! Prometheus exposition: a collector that reads alias-mgr's sources when
//! scraped, and the `/metrics` HTTP endpoint. The only module that uses the
//! `prometheus` crate.
//!
//! Nothing copies counters around: a scrape opens the pinned counters map,
//! asks nft for the zone counters and reads `/proc/self`, then builds the
//! families from what it read. Traffic counters therefore live in the kernel
//! (pinned maps and nftables) and never go backwards when the daemon restarts;
//! only the daemon's own counters (reconciles, drift) start at 0 with each
//! process, like every exporter's.
//!
//! Memory stays proportional to one family: [`Scrape::families`] builds the
//! families one at a time and the server writes each before building the next,
//! so 10,000 tracked addresses never hold five families of 10,000 samples.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    future::Future,
    io,
    net::IpAddr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alias_ebpf::TrafficCounters;
use anyhow::{Context, Result};
use prometheus::{
    core::{Collector, Desc},
    proto::{self, LabelPair, MetricFamily, MetricType},
    TextEncoder,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

use crate::{
    core::desired::Config,
    core::model::{Interface, LiveAddress},
    logging::{log, Level},
    sys::bpf::PinDir,
    sys::memory::release_free_memory,
    sys::netlink::Change,
    sys::nft::ZoneCounter,
};

/// The text exposition format (what `promtool check metrics` and every
/// Prometheus version read).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its name, help text, type and label names.
struct Def {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
}

const ADDRESS_LABELS: &[&str] = &["device", "address", "label", "zone"];
const ZONE_LABELS: &[&str] = &["zone", "direction", "verdict"];

macro_rules! def {
    ($name:expr, $kind:ident, $labels:expr, $help:expr) => {
        Def {
            name: $name,
            help: $help,
            kind: Kind::$kind,
            labels: $labels,
        }
    };
}

/// Every family alias-mgr exports, in exposition order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    BuildInfo,
    AddressInfo,
    ReceiveBytes,
    ReceivePackets,
    TransmitBytes,
    TransmitPackets,
    TrackedAddresses,
    TrackedAddressesLimit,
    ZonePackets,
    ZoneBytes,
    Reconciles,
    ReconcileErrors,
    ReconcileChanges,
    DriftEvents,
    ClassifierWarnings,
    Conflicts,
    LastReconcileSuccess,
    LastReconcileSuccessTimestamp,
    ConfigReloads,
    ConfigReloadErrors,
    ConfigLastReloadSuccess,
    ConfigLastReloadSuccessTimestamp,
    NetlinkEvents,
    ScrapeCollectorSuccess,
    ScrapeCollectorDuration,
    ProcessCpuSeconds,
    ProcessResidentMemory,
    ProcessVirtualMemory,
    ProcessStartTime,
    ProcessOpenFds,
    ProcessMaxFds,
}

impl Family {
    const ALL: [Family; 31] = [
        Family::BuildInfo,
        Family::AddressInfo,
        Family::ReceiveBytes,
        Family::ReceivePackets,
        Family::TransmitBytes,
        Family::TransmitPackets,
        Family::TrackedAddresses,
        Family::TrackedAddressesLimit,
        Family::ZonePackets,
        Family::ZoneBytes,
        Family::Reconciles,
        Family::ReconcileErrors,
        Family::ReconcileChanges,
        Family::DriftEvents,
        Family::ClassifierWarnings,
        Family::Conflicts,
        Family::LastReconcileSuccess,
        Family::LastReconcileSuccessTimestamp,
        Family::ConfigReloads,
        Family::ConfigReloadErrors,
        Family::ConfigLastReloadSuccess,
        Family::ConfigLastReloadSuccessTimestamp,
        Family::NetlinkEvents,
        Family::ScrapeCollectorSuccess,
        Family::ScrapeCollectorDuration,
        Family::ProcessCpuSeconds,
        Family::ProcessResidentMemory,
        Family::ProcessVirtualMemory,
        Family::ProcessStartTime,
        Family::ProcessOpenFds,
        Family::ProcessMaxFds,
    ];

    fn def(self) -> Def {
        match self {
            Family::BuildInfo => def!("alias_mgr_build_info", Gauge, &["version"],
                "alias-mgr build information; the value is always 1."),
            Family::AddressInfo => def!("alias_mgr_address_info", Gauge,
                &["device", "address", "prefix", "label", "zone", "state"],
                "Every address alias-mgr declares or owns; the value is always 1. state: applied (in the kernel as declared), pending (its interface does not exist), missing (not in the kernel yet), conflict (a foreign address is in the way), runtime (added with --runtime, not in the config), undeclared (alias-mgr's but no longer in the config: the next reconcile removes it)."),
            Family::ReceiveBytes => def!("alias_mgr_receive_bytes_total", Counter, ADDRESS_LABELS,
                "Bytes received for the address (link-layer frames without FCS, as ip -s link counts them), counted by the TC classifier since the address was first tracked."),
            Family::ReceivePackets => def!("alias_mgr_receive_packets_total", Counter, ADDRESS_LABELS,
                "Packets received for the address (wire packets: a GRO super-packet counts as its segments), counted by the TC classifier since the address was first tracked."),
            Family::TransmitBytes => def!("alias_mgr_transmit_bytes_total", Counter, ADDRESS_LABELS,
                "Bytes sent from the address (link-layer frames without FCS, as ip -s link counts them), counted by the TC classifier since the address was first tracked."),
            Family::TransmitPackets => def!("alias_mgr_transmit_packets_total", Counter, ADDRESS_LABELS,
                "Packets sent from the address (wire packets: a GSO super-packet counts as its segments), counted by the TC classifier since the address was first tracked."),
            Family::TrackedAddresses => def!("alias_mgr_tracked_addresses", Gauge, &[],
                "Addresses with counters in the pinned counters map."),
            Family::TrackedAddressesLimit => def!("alias_mgr_tracked_addresses_limit", Gauge, &[],
                "How many addresses the counters map can hold."),
            Family::ZonePackets => def!("alias_mgr_zone_packets_total", Counter, ZONE_LABELS,
                "Packets from a firewall zone accepted or dropped by alias-mgr's nftables table (direction input: to this host; forward: to another zone; rejects count as drops). Established and related traffic is accepted before the zone rules and not counted, so an accept is mostly a new connection's first packet."),
            Family::ZoneBytes => def!("alias_mgr_zone_bytes_total", Counter, ZONE_LABELS,
                "Bytes (IP packets) from a firewall zone accepted or dropped by alias-mgr's nftables table (direction input: to this host; forward: to another zone; rejects count as drops); like the packets, only what the zone rules decide (new connections), not established traffic."),
            Family::Reconciles => def!("alias_mgr_reconciles_total", Counter, &["trigger"],
                "Reconciles this daemon ran to completion, by trigger (startup, netlink event, periodic safety net, reload on SIGHUP, config file change, change to its nftables table)."),
            Family::ReconcileErrors => def!("alias_mgr_reconcile_errors_total", Counter, &["trigger"],
                "Reconciles that failed (a conflict, a kernel refusal, an unreadable pin directory...), by trigger; the daemon log says why."),
            Family::ReconcileChanges => def!("alias_mgr_reconcile_changes_total", Counter, &["trigger"],
                "Kernel changes (addresses, routes, counters, zone table) made by this daemon's reconciles, by trigger."),
            Family::DriftEvents => def!("alias_mgr_drift_events_total", Counter, &[],
                "Times the daemon found the kernel differing from an unchanged config (an owned alias deleted or changed by hand, an interface appearing with pending aliases) and changed it back."),
            Family::ClassifierWarnings => def!("alias_mgr_classifier_warnings_total", Counter, &[],
                "Warnings the eBPF classifier logged (aya-log) since the daemon started, e.g. a GSO packet whose per-segment headers could not all be counted in bytes; the daemon log has the text."),
            Family::Conflicts => def!("alias_mgr_conflicts", Gauge, &[],
                "Config entries the last reconcile had to leave alone because something alias-mgr does not own is in their way (a foreign address or route); the daemon log names them. Everything else is still reconciled."),
            Family::LastReconcileSuccess => def!("alias_mgr_last_reconcile_success", Gauge, &[],
                "Whether the last reconcile succeeded (1) or failed (0)."),
            Family::LastReconcileSuccessTimestamp => def!("alias_mgr_last_reconcile_success_timestamp_seconds", Gauge, &[],
                "Unix time of the last successful reconcile (0 before the first)."),
            Family::ConfigReloads => def!("alias_mgr_config_reloads_total", Counter, &[],
                "Times the daemon read a new version of the config file (at startup, on SIGHUP, or when the file changed before a reconcile), successfully or not."),
            Family::ConfigReloadErrors => def!("alias_mgr_config_reload_errors_total", Counter, &[],
                "Config reloads that failed; the daemon keeps the previous config in force and logs why."),
            Family::ConfigLastReloadSuccess => def!("alias_mgr_config_last_reload_success", Gauge, &[],
                "Whether the last config reload succeeded (1) or failed and the previous config is still in force (0)."),
            Family::ConfigLastReloadSuccessTimestamp => def!("alias_mgr_config_last_reload_success_timestamp_seconds", Gauge, &[],
                "Unix time of the last successful config reload."),
            Family::NetlinkEvents => def!("alias_mgr_netlink_events_total", Counter, &["kind"],
                "Kernel notifications handled, by kind (link, address, route, lost: the socket overflowed and a full reconcile followed). In a burst the ones beyond a queue of 256 are not counted: they would trigger the same reconcile."),
            Family::ScrapeCollectorSuccess => def!("alias_mgr_scrape_collector_success", Gauge, &["collector"],
                "Whether reading a source succeeded in this scrape (counters: the pinned BPF map; zones: nftables; process: /proc/self)."),
            Family::ScrapeCollectorDuration => def!("alias_mgr_scrape_collector_duration_seconds", Gauge, &["collector"],
                "How long reading a source took in this scrape."),
            Family::ProcessCpuSeconds => def!("process_cpu_seconds_total", Counter, &[],
                "Total user and system CPU time spent in seconds."),
            Family::ProcessResidentMemory => def!("process_resident_memory_bytes", Gauge, &[],
                "Resident memory size in bytes."),
            Family::ProcessVirtualMemory => def!("process_virtual_memory_bytes", Gauge, &[],
                "Virtual memory size in bytes."),
            Family::ProcessStartTime => def!("process_start_time_seconds", Gauge, &[],
                "Start time of the process since unix epoch in seconds."),
            Family::ProcessOpenFds => def!("process_open_fds", Gauge, &[],
                "Number of open file descriptors."),
            Family::ProcessMaxFds => def!("process_max_fds", Gauge, &[],
                "Maximum number of open file descriptors."),
        }
    }
}

/// What started a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    /// Netlink notifications (debounced).
    Netlink,
    /// The periodic safety net.
    Periodic,
    /// SIGHUP.
    Reload,
    /// The config file changed (inotify).
    Config,
    /// alias-mgr's nftables table changed (`nft monitor`).
    Nftables,
}

const TRIGGERS: usize = 6;

impl Trigger {
    const ALL: [Trigger; TRIGGERS] = [
        Trigger::Startup,
        Trigger::Netlink,
        Trigger::Periodic,
        Trigger::Reload,
        Trigger::Config,
        Trigger::Nftables,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Netlink => "netlink",
            Trigger::Periodic => "periodic",
            Trigger::Reload => "reload",
            Trigger::Config => "config",
            Trigger::Nftables => "nftables",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The daemon's own counters. Plain atomics: the daemon updates them without
/// knowing about Prometheus; a scrape reads them.
#[derive(Default)]
pub struct DaemonStats {
    reconciles: [AtomicU64; TRIGGERS],
    reconcile_errors: [AtomicU64; TRIGGERS],
    reconcile_changes: [AtomicU64; TRIGGERS],
    drift_events: AtomicU64,
    classifier_warnings: AtomicU64,
    conflicts: AtomicU64,
    /// 1, 0, or u64::MAX before the first reconcile.
    last_reconcile_success: AtomicU64,
    last_reconcile_success_time: AtomicU64,
    config_reloads: AtomicU64,
    config_reload_errors: AtomicU64,
    config_last_reload_success: AtomicBool,
    config_last_reload_success_time: AtomicU64,
    netlink_events: [AtomicU64; 4],
}

/// f64 seconds stored in an AtomicU64.
fn now_bits() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
        .to_bits()
}

impl DaemonStats {
    fn new() -> Self {
        let stats = Self::default();
        stats
            .last_reconcile_success
            .store(u64::MAX, Ordering::Relaxed);
        stats
    }

    /// A reconcile finished; `changes` kernel changes were made, and they
    /// repaired drift (the config had not changed) when `drift`.
    pub fn reconciled(&self, trigger: Trigger, changes: usize, drift: bool) {
        self.reconciles[trigger.index()].fetch_add(1, Ordering::Relaxed);
        self.reconcile_changes[trigger.index()].fetch_add(changes as u64, Ordering::Relaxed);
        if drift {
            self.drift_events.fetch_add(1, Ordering::Relaxed);
        }
        self.last_reconcile_success.store(1, Ordering::Relaxed);
        self.last_reconcile_success_time
            .store(now_bits(), Ordering::Relaxed);
    }

    pub fn reconcile_failed(&self, trigger: Trigger) {
        self.reconcile_errors[trigger.index()].fetch_add(1, Ordering::Relaxed);
        self.last_reconcile_success.store(0, Ordering::Relaxed);
    }

    pub fn config_loaded(&self, ok: bool) {
        self.config_reloads.fetch_add(1, Ordering::Relaxed);
        self.config_last_reload_success.store(ok, Ordering::Relaxed);
        if ok {
            self.config_last_reload_success_time
                .store(now_bits(), Ordering::Relaxed);
        } else {
            self.config_reload_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn netlink_event(&self, change: Change) {
        let at = Change::ALL.iter().position(|c| *c == change).unwrap_or(0);
        self.netlink_events[at].fetch_add(1, Ordering::Relaxed);
    }

    pub fn conflicts(&self, count: usize) {
        self.conflicts.store(count as u64, Ordering::Relaxed);
    }

    pub fn classifier_warning(&self) {
        self.classifier_warnings.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where an address stands between the config and the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressState {
    Applied,
    Pending,
    Missing,
    Conflict,
    Runtime,
    Undeclared,
}

impl AddressState {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressState::Applied => "applied",
            AddressState::Pending => "pending",
            AddressState::Missing => "missing",
            AddressState::Conflict => "conflict",
            AddressState::Runtime => "runtime",
            AddressState::Undeclared => "undeclared",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AddressEntry {
    /// Shared: thousands of aliases sit on a handful of interfaces and zones.
    device: Arc<str>,
    prefix: u8,
    label: Option<Box<str>>,
    zone: Option<Arc<str>>,
    /// None for a foreign address: it only names the device of a tracked one.
    state: Option<AddressState>,
}

/// The labels of every address: which device, label and zone it belongs to
/// and whether it is alias-mgr's. Built from the config in force and the
/// kernel's addresses after each reconcile; a scrape joins it with the
/// counters it reads.
#[derive(Debug, Default)]
pub struct AddressIndex {
    entries: HashMap<IpAddr, AddressEntry>,
    /// Whether the config in force has zones: without any, scrapes do not
    /// run nft (which need not even be installed then).
    zones: bool,
}

impl AddressIndex {
    pub fn build(config: &Config, interfaces: &[Interface], live: &[LiveAddress]) -> Self {
        let mut names: HashSet<Arc<str>> = HashSet::new();
        let mut intern = |name: &str| -> Arc<str> {
            if let Some(shared) = names.get(name) {
                return shared.clone();
            }
            let shared: Arc<str> = Arc::from(name);
            names.insert(shared.clone());
            shared
        };
        let mut entries = HashMap::with_capacity(live.len().max(config.aliases.len()));
        for address in live {
            let ip = address.address.addr();
            let entry = AddressEntry {
                device: intern(&address.interface),
                prefix: address.address.prefix_len(),
                label: address.label.as_deref().map(Box::from),
                zone: None,
                state: match (address.owned(), address.runtime()) {
                    (true, true) => Some(AddressState::Runtime),
                    (true, false) => Some(AddressState::Undeclared),
                    (false, _) => None,
                },
            };
            // The same address on two interfaces: alias-mgr's wins.
            match entries.get(&ip) {
                Some(AddressEntry { state: Some(_), .. }) => {}
                _ => {
                    entries.insert(ip, entry);
                }
            }
        }
        // By address, so 10,000 aliases are not 10,000 scans of the live list.
        let mut by_ip: HashMap<IpAddr, Vec<&LiveAddress>> = HashMap::with_capacity(live.len());
        for address in live {
            by_ip
                .entry(address.address.addr())
                .or_default()
                .push(address);
        }
        let existing: HashSet<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
        for alias in &config.aliases {
            let ip = alias.ip();
            let same_ip = by_ip.get(&ip).map(Vec::as_slice).unwrap_or_default();
            let here = same_ip
                .iter()
                .copied()
                .find(|a| a.interface == alias.interface);
            let elsewhere = same_ip.first().copied();
            let state = match (here, elsewhere) {
                (Some(a), _) if a.owned() => AddressState::Applied,
                (Some(_), _) => AddressState::Conflict,
                (None, Some(a)) if !a.owned() => AddressState::Conflict,
                _ if !existing.contains(alias.interface.as_str()) => AddressState::Pending,
                _ => AddressState::Missing,
            };
            // IPv4 labels live in the kernel; IPv6 ones only in the config.
            let label = match here {
                Some(a) if ip.is_ipv4() && a.label.is_some() => a.label.as_deref(),
                _ => alias.label.as_deref(),
            };
            entries.insert(
                ip,
                AddressEntry {
                    device: intern(&alias.interface),
                    prefix: alias.address.prefix_len(),
                    label: label.map(Box::from),
                    zone: alias.zone.as_deref().map(&mut intern),
                    state: Some(state),
                },
            );
        }
        Self {
            entries,
            zones: !config.zones.is_empty(),
        }
    }

    /// The state of `ip` if alias-mgr declares or owns it.
    #[cfg(test)]
    pub fn state(&self, ip: IpAddr) -> Option<AddressState> {
        self.entries.get(&ip).and_then(|e| e.state)
    }
}

/// Where a scrape reads from: the pinned map and nft on a real system,
/// fixed values in unit tests.
pub trait Sources: Send + Sync + 'static {
    /// Every tracked address with its counters summed over the CPUs (empty
    /// when no counters map is pinned yet).
    fn traffic(&self) -> Result<Vec<(IpAddr, TrafficCounters)>>;
    /// alias-mgr's nftables zone counters (empty without zones).
    fn zones(&self) -> Result<Vec<ZoneCounter>>;
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
}

/// The sources a scrape reads, for the success/duration metrics and logs.
const COLLECTORS: [&str; 3] = ["counters", "zones", "process"];

/// The collector: reads the sources at scrape time. Register it with a
/// `prometheus::Registry`, or serve it with [`serve`].
pub struct Exporter {
    sources: Box<dyn Sources>,
    index: RwLock<Arc<AddressIndex>>,
    stats: DaemonStats,
    descs: Vec<Desc>,
    /// Whether each collector failed in the previous scrape: a failure is
    /// logged when it starts and when it ends, not on every scrape.
    failing: [AtomicBool; 3],
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
        }
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
            traffic: traffic.ok(),
            zones: zones.ok(),
            process: process.ok(),
            durations: [traffic_took, zones_took, process_took],
            stats: StatsSnapshot::of(&self.stats),
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

/// The daemon's counters as one scrape saw them.
struct StatsSnapshot {
    reconciles: [u64; TRIGGERS],
    reconcile_errors: [u64; TRIGGERS],
    reconcile_changes: [u64; TRIGGERS],
    drift_events: u64,
    classifier_warnings: u64,
    conflicts: u64,
    last_reconcile_success: Option<bool>,
    last_reconcile_success_time: f64,
    config_reloads: u64,
    config_reload_errors: u64,
    config_last_reload_success: bool,
    config_last_reload_success_time: f64,
    netlink_events: [u64; 4],
}

impl StatsSnapshot {
    fn of(stats: &DaemonStats) -> Self {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        fn all<const N: usize>(a: &[AtomicU64; N]) -> [u64; N] {
            std::array::from_fn(|i| a[i].load(Ordering::Relaxed))
        }
        Self {
            reconciles: all(&stats.reconciles),
            reconcile_errors: all(&stats.reconcile_errors),
            reconcile_changes: all(&stats.reconcile_changes),
            drift_events: load(&stats.drift_events),
            classifier_warnings: load(&stats.classifier_warnings),
            conflicts: load(&stats.conflicts),
            last_reconcile_success: match load(&stats.last_reconcile_success) {
                u64::MAX => None,
                v => Some(v == 1),
            },
            last_reconcile_success_time: f64::from_bits(load(&stats.last_reconcile_success_time)),
            config_reloads: load(&stats.config_reloads),
            config_reload_errors: load(&stats.config_reload_errors),
            config_last_reload_success: stats.config_last_reload_success.load(Ordering::Relaxed),
            config_last_reload_success_time: f64::from_bits(load(
                &stats.config_last_reload_success_time,
            )),
            netlink_events: all(&stats.netlink_events),
        }
    }
}

/// What one scrape read; turned into families one at a time.
pub struct Scrape {
    index: Arc<AddressIndex>,
    /// None when the source failed (its families are left out).
    traffic: Option<Vec<(IpAddr, TrafficCounters)>>,
    zones: Option<Vec<ZoneCounter>>,
    process: Option<ProcessStats>,
    durations: [Duration; 3],
    stats: StatsSnapshot,
}

/// Collects one family's samples.
struct Builder {
    def: Def,
    family: MetricFamily,
}

impl Builder {
    fn new(family: Family) -> Self {
        let def = family.def();
        let mut built = MetricFamily::default();
        built.set_name(def.name.to_string());
        built.set_help(def.help.to_string());
        built.set_field_type(match def.kind {
            Kind::Counter => MetricType::COUNTER,
            Kind::Gauge => MetricType::GAUGE,
        });
        Self { def, family: built }
    }

    /// Adds a sample; `values` follow the family's label names.
    fn push(&mut self, values: &[&str], value: f64) {
        let labels = self
            .def
            .labels
            .iter()
            .zip(values)
            .map(|(name, value)| {
                let mut pair = LabelPair::default();
                pair.set_name(name.to_string());
                pair.set_value(value.to_string());
                pair
            })
            .collect();
        let mut metric = proto::Metric::from_label(labels);
        match self.def.kind {
            Kind::Counter => {
                let mut counter = proto::Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
            Kind::Gauge => {
                let mut gauge = proto::Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
        }
        self.family.mut_metric().push(metric);
    }

    /// The family, or None without samples (the text format has no empty families).
    fn finish(self) -> Option<MetricFamily> {
        (!self.family.get_metric().is_empty()).then_some(self.family)
    }
}

fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Scrape {
    /// The families, each built when the iterator reaches it.
    pub fn families(&self) -> impl Iterator<Item = MetricFamily> + '_ {
        Family::ALL
            .into_iter()
            .filter_map(|family| self.build(family))
    }

    fn build(&self, family: Family) -> Option<MetricFamily> {
        let mut out = Builder::new(family);
        let stats = &self.stats;
        match family {
            Family::BuildInfo => out.push(&[env!("CARGO_PKG_VERSION")], 1.0),
            Family::AddressInfo => {
                let mut rows: Vec<_> = self
                    .index
                    .entries
                    .iter()
                    .filter_map(|(ip, e)| e.state.map(|s| (ip, e, s)))
                    .collect();
                rows.sort_unstable_by_key(|(ip, _, _)| **ip);
                for (ip, entry, state) in rows {
                    out.push(
                        &[
                            &entry.device,
                            &ip.to_string(),
                            &entry.prefix.to_string(),
                            entry.label.as_deref().unwrap_or(""),
                            entry.zone.as_deref().unwrap_or(""),
                            state.as_str(),
                        ],
                        1.0,
                    );
                }
            }
            Family::ReceiveBytes
            | Family::ReceivePackets
            | Family::TransmitBytes
            | Family::TransmitPackets => {
                for (ip, counters) in self.traffic.as_deref().unwrap_or_default() {
                    let value = match family {
                        Family::ReceiveBytes => counters.rx_bytes,
                        Family::ReceivePackets => counters.rx_packets,
                        Family::TransmitBytes => counters.tx_bytes,
                        _ => counters.tx_packets,
                    };
                    let entry = self.index.entries.get(ip);
                    out.push(
                        &[
                            entry.map(|e| &*e.device).unwrap_or(""),
                            &ip.to_string(),
                            entry.and_then(|e| e.label.as_deref()).unwrap_or(""),
                            entry.and_then(|e| e.zone.as_deref()).unwrap_or(""),
                        ],
                        value as f64,
                    );
                }
            }
            Family::TrackedAddresses => {
                if let Some(traffic) = &self.traffic {
                    out.push(&[], traffic.len() as f64);
                }
            }
            Family::TrackedAddressesLimit => {
                out.push(&[], f64::from(alias_ebpf::MAX_TRACKED_ADDRESSES))
            }
            Family::ZonePackets | Family::ZoneBytes => {
                for zone in self.zones.as_deref().unwrap_or_default() {
                    let value = if family == Family::ZonePackets {
                        zone.packets
                    } else {
                        zone.bytes
                    };
                    out.push(&[&zone.zone, zone.direction, zone.verdict], value as f64);
                }
            }
            Family::Reconciles | Family::ReconcileErrors | Family::ReconcileChanges => {
                let values = match family {
                    Family::Reconciles => &stats.reconciles,
                    Family::ReconcileErrors => &stats.reconcile_errors,
                    _ => &stats.reconcile_changes,
                };
                for trigger in Trigger::ALL {
                    out.push(&[trigger.as_str()], values[trigger.index()] as f64);
                }
            }
            Family::DriftEvents => out.push(&[], stats.drift_events as f64),
            Family::ClassifierWarnings => out.push(&[], stats.classifier_warnings as f64),
            Family::Conflicts => out.push(&[], stats.conflicts as f64),
            Family::LastReconcileSuccess => {
                if let Some(ok) = stats.last_reconcile_success {
                    out.push(&[], bool_value(ok));
                }
            }
            Family::LastReconcileSuccessTimestamp => {
                out.push(&[], stats.last_reconcile_success_time)
            }
            Family::ConfigReloads => out.push(&[], stats.config_reloads as f64),
            Family::ConfigReloadErrors => out.push(&[], stats.config_reload_errors as f64),
            Family::ConfigLastReloadSuccess => {
                out.push(&[], bool_value(stats.config_last_reload_success))
            }
            Family::ConfigLastReloadSuccessTimestamp => {
                out.push(&[], stats.config_last_reload_success_time)
            }
            Family::NetlinkEvents => {
                for (change, count) in Change::ALL.iter().zip(stats.netlink_events) {
                    out.push(&[change.as_str()], count as f64);
                }
            }
            Family::ScrapeCollectorSuccess => {
                let ok = [
                    self.traffic.is_some(),
                    self.zones.is_some(),
                    self.process.is_some(),
                ];
                for (name, ok) in COLLECTORS.iter().zip(ok) {
                    out.push(&[name], bool_value(ok));
                }
            }
            Family::ScrapeCollectorDuration => {
                for (name, took) in COLLECTORS.iter().zip(self.durations) {
                    out.push(&[name], took.as_secs_f64());
                }
            }
            Family::ProcessCpuSeconds
            | Family::ProcessResidentMemory
            | Family::ProcessVirtualMemory
            | Family::ProcessStartTime
            | Family::ProcessOpenFds
            | Family::ProcessMaxFds => {
                let process = self.process.as_ref()?;
                let value = match family {
                    Family::ProcessCpuSeconds => process.cpu_seconds,
                    Family::ProcessResidentMemory => process.resident_bytes,
                    Family::ProcessVirtualMemory => process.virtual_bytes,
                    Family::ProcessStartTime => process.start_time,
                    Family::ProcessOpenFds => process.open_fds,
                    _ => process.max_fds?,
                };
                out.push(&[], value);
            }
        }
        out.finish()
    }

    /// The whole exposition as text (tests).
    #[cfg(test)]
    pub fn to_text(&self) -> Result<String> {
        let mut text = String::new();
        let encoder = TextEncoder::new();
        for family in self.families() {
            encoder
                .encode_utf8(std::slice::from_ref(&family), &mut text)
                .context("encoding metrics")?;
        }
        Ok(text)
    }
}

/// This process's resource use, read from /proc/self as the Go and Python
/// clients' process collectors do.
struct ProcessStats {
    cpu_seconds: f64,
    resident_bytes: f64,
    virtual_bytes: f64,
    start_time: f64,
    open_fds: f64,
    max_fds: Option<f64>,
}

impl ProcessStats {
    fn read() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
        // The command name (field 2) may contain spaces: fields start after its ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field N of proc(5) is at index N - 3 here.
        let field = |n: usize| -> Result<f64> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<f64>().ok())
                .with_context(|| format!("field {n} of /proc/self/stat"))
        };
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .context("btime in /proc/stat")?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .context("listing /proc/self/fd")?
            .count()
            // The directory being read holds one fd itself.
            .saturating_sub(1) as f64;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit fills the struct we own.
        let max_fds = (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
            && limit.rlim_cur != libc::RLIM_INFINITY)
            .then_some(limit.rlim_cur as f64);
        Ok(Self {
            cpu_seconds: (field(14)? + field(15)?) / ticks,
            resident_bytes: field(24)? * page.max(1) as f64,
            virtual_bytes: field(23)?,
            start_time: boot_time + field(22)? / ticks,
            open_fds,
            max_fds,
        })
    }
}

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sending a response may take (a scrape of 10,000 addresses is a
/// few MB).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Larger request heads are refused (Prometheus sends about 300 bytes).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;
/// The text is written in pieces of about this size.
const WRITE_CHUNK: usize = 64 * 1024;

const INDEX_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>alias-mgr</title></head>\n\
<body><h1>alias-mgr</h1>\n<p>Per-alias traffic counters, firewall zone counters and drift \
healing, for Prometheus.</p>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

/// Serves `GET /metrics` (and `/`, a pointer to it) on `listener` until
/// `shutdown` completes. A minimal HTTP/1.1 responder: one request per
/// connection, answered with `Connection: close`.
pub async fn serve(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // One scrape at a time keeps the memory a scrape needs bounded.
    let scrapes = Arc::new(Semaphore::new(1));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    log(Level::Warning, format_args!("metrics: accepting a connection: {err}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let exporter = exporter.clone();
        let scrapes = scrapes.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // A client that hangs up early is its own problem.
            let _ = handle(stream, &exporter, &scrapes).await;
        });
    }
}

/// A parsed request line.
#[derive(Debug, PartialEq, Eq)]
struct Request<'a> {
    method: &'a str,
    path: &'a str,
}

/// The request line of a complete request head, or None if malformed.
fn parse_request(head: &str) -> Option<Request<'_>> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    // Prometheus may add parameters; the path is what matters.
    let path = target.split(['?', '#']).next().unwrap_or(target);
    Some(Request { method, path })
}

async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_REQUEST_HEAD {
            return Ok(Some(Vec::new()));
        }
    }
}

fn response_head(status: &str, content_type: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n{extra}\r\n")
}

/// A complete small response. The bodies are this module's constants; the
/// index page is the only HTML one.
async fn simple(
    stream: &mut TcpStream,
    status: &str,
    extra: &str,
    body: &str,
    head_only: bool,
) -> io::Result<()> {
    let mut out = response_head(
        status,
        if body.starts_with('<') {
            "text/html; charset=utf-8"
        } else {
            "text/plain; charset=utf-8"
        },
        &format!("Content-Length: {}\r\n{extra}", body.len()),
    );
    if !head_only {
        out.push_str(body);
    }
    stream.write_all(out.as_bytes()).await?;
    stream.shutdown().await
}

async fn handle(
    mut stream: TcpStream,
    exporter: &Arc<Exporter>,
    scrapes: &Semaphore,
) -> io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) | Ok(Err(_)) => return Ok(()),
        Err(_) => {
            return simple(
                &mut stream,
                "408 Request Timeout",
                "",
                "request timeout\n",
                false,
            )
            .await
        }
    };
    let text = String::from_utf8_lossy(&head);
    let Some(request) = parse_request(&text) else {
        return simple(&mut stream, "400 Bad Request", "", "bad request\n", false).await;
    };
    let head_only = request.method == "HEAD";
    if request.method != "GET" && !head_only {
        return simple(
            &mut stream,
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "only GET and HEAD are supported\n",
            false,
        )
        .await;
    }
    match request.path {
        "/metrics" => {}
        "/" => return simple(&mut stream, "200 OK", "", INDEX_PAGE, head_only).await,
        _ => {
            return simple(
                &mut stream,
                "404 Not Found",
                "",
                "not found; metrics are at /metrics\n",
                head_only,
            )
            .await
        }
    }
    let _one_at_a_time = scrapes.acquire().await;
    let source = exporter.clone();
    let scrape = match tokio::task::spawn_blocking(move || source.scrape()).await {
        Ok(scrape) => scrape,
        Err(err) => {
            log(Level::Error, format_args!("metrics: scrape failed: {err}"));
            return simple(
                &mut stream,
                "500 Internal Server Error",
                "",
                "scrape failed\n",
                false,
            )
            .await;
        }
    };
    let sent = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream
            .write_all(response_head("200 OK", CONTENT_TYPE, "").as_bytes())
            .await?;
        if !head_only {
            write_families(&mut stream, &scrape).await?;
        }
        stream.shutdown().await
    })
    .await
    .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
    drop(scrape);
    release_free_memory();
    sent
}

/// Encodes and sends the families one by one (see the module docs).
async fn write_families(stream: &mut TcpStream, scrape: &Scrape) -> io::Result<()> {
    let encoder = TextEncoder::new();
    let mut text = String::with_capacity(WRITE_CHUNK + 4096);
    for family in scrape.families() {
        if let Err(err) = encoder.encode_utf8(std::slice::from_ref(&family), &mut text) {
            // Cannot happen with the families built here; skip rather than
            // cut the whole response.
            let _ = writeln!(
                text,
                "# alias-mgr: could not encode {}: {err}",
                family.name()
            );
        }
        drop(family);
        if text.len() >= WRITE_CHUNK {
            stream.write_all(text.as_bytes()).await?;
            text.clear();
        }
    }
    stream.write_all(text.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;
    use std::path::Path;

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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn counters(n: u64) -> TrafficCounters {
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

    const CONFIG: &str = r#"
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

    fn index() -> AddressIndex {
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

    fn exporter(traffic: Option<Vec<(IpAddr, TrafficCounters)>>) -> Exporter {
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

    fn text(exporter: &Exporter) -> String {
        exporter.scrape().to_text().unwrap()
    }

    #[test]
    fn every_family_has_a_valid_desc_and_help() {
        let exporter = exporter(Some(vec![]));
        assert_eq!(exporter.desc().len(), Family::ALL.len());
        for family in Family::ALL {
            let def = family.def();
            assert!(def.help.len() > 20, "{}", def.name);
            if matches!(def.kind, Kind::Counter) {
                assert!(def.name.ends_with("_total"), "{}", def.name);
            } else {
                assert!(!def.name.ends_with("_total"), "{}", def.name);
            }
        }
    }

    #[test]
    fn address_states_follow_config_and_kernel() {
        let index = index();
        assert_eq!(index.state(ip("192.0.2.1")), Some(AddressState::Applied));
        assert_eq!(index.state(ip("2001:db8::1")), Some(AddressState::Applied));
        assert_eq!(index.state(ip("198.51.100.1")), Some(AddressState::Pending));
        assert_eq!(index.state(ip("192.0.2.7")), Some(AddressState::Missing));
        assert_eq!(index.state(ip("192.0.2.8")), Some(AddressState::Conflict));
        assert_eq!(index.state(ip("192.0.2.50")), Some(AddressState::Runtime));
        assert_eq!(
            index.state(ip("192.0.2.60")),
            Some(AddressState::Undeclared)
        );
        // Foreign addresses only label counters.
        assert_eq!(index.state(ip("203.0.113.9")), None);
        assert_eq!(index.entries.len(), 8);
    }

    #[test]
    fn traffic_families_carry_device_label_and_zone() {
        let exporter = exporter(Some(vec![
            (ip("192.0.2.1"), counters(10)),
            (ip("2001:db8::1"), counters(3)),
            (ip("203.0.113.9"), counters(1)),
            (ip("198.18.0.1"), counters(0)),
        ]));
        let text = text(&exporter);
        for line in [
            r#"alias_mgr_receive_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 10"#,
            r#"alias_mgr_receive_bytes_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 1000"#,
            r#"alias_mgr_transmit_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 11"#,
            r#"alias_mgr_transmit_bytes_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 1100"#,
            // IPv6: the label comes from the config.
            r#"alias_mgr_receive_packets_total{device="eth1",address="2001:db8::1",label="eth1:v6",zone="lab"} 3"#,
            // A tracked foreign address: device and kernel label, no zone.
            r#"alias_mgr_receive_packets_total{device="eth1",address="203.0.113.9",label="eth1",zone=""} 1"#,
            // Tracked but on no interface.
            r#"alias_mgr_receive_packets_total{device="",address="198.18.0.1",label="",zone=""} 0"#,
            r#"alias_mgr_address_info{device="eth9",address="198.51.100.1",prefix="24",label="",zone="",state="pending"} 1"#,
            r#"alias_mgr_address_info{device="eth1",address="192.0.2.1",prefix="24",label="eth1:0",zone="lab",state="applied"} 1"#,
            r#"alias_mgr_address_info{device="eth1",address="192.0.2.50",prefix="24",label="eth1:5",zone="",state="runtime"} 1"#,
            r#"alias_mgr_zone_packets_total{zone="lab",direction="input",verdict="accept"} 7"#,
            r#"alias_mgr_zone_bytes_total{zone="lab",direction="input",verdict="drop"} 120"#,
            "alias_mgr_tracked_addresses 4",
            "alias_mgr_tracked_addresses_limit 16384",
            r#"alias_mgr_scrape_collector_success{collector="counters"} 1"#,
            r#"alias_mgr_reconciles_total{trigger="netlink"} 0"#,
            "alias_mgr_drift_events_total 0",
            &format!(
                r#"alias_mgr_build_info{{version="{}"}} 1"#,
                env!("CARGO_PKG_VERSION")
            ),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line} in:\n{text}"
            );
        }
        assert!(
            !text.contains("address=\"203.0.113.9\",prefix"),
            "foreign in info: {text}"
        );
        // Every family has HELP and TYPE lines.
        for family in Family::ALL {
            let name = family.def().name;
            let sampled = text.lines().any(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            });
            if sampled {
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
                assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
            }
        }
    }

    #[test]
    fn a_failing_source_is_reported_not_fatal() {
        let exporter = exporter(None);
        let text = text(&exporter);
        assert!(text.contains(r#"alias_mgr_scrape_collector_success{collector="counters"} 0"#));
        assert!(!text.contains("alias_mgr_receive_bytes_total{"), "{text}");
        assert!(!text.contains("alias_mgr_tracked_addresses "), "{text}");
        // Everything else is still there.
        assert!(text.contains("alias_mgr_zone_packets_total{"));
        assert!(text.contains("alias_mgr_address_info{"));
    }

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
    fn daemon_stats_appear_with_their_triggers() {
        let exporter = exporter(Some(vec![]));
        let stats = exporter.stats();
        stats.reconciled(Trigger::Startup, 3, false);
        stats.reconciled(Trigger::Netlink, 1, true);
        stats.reconcile_failed(Trigger::Periodic);
        stats.config_loaded(true);
        stats.config_loaded(false);
        stats.netlink_event(Change::Address);
        stats.netlink_event(Change::Address);
        stats.netlink_event(Change::Lost);
        let text = text(&exporter);
        for line in [
            r#"alias_mgr_reconciles_total{trigger="startup"} 1"#,
            r#"alias_mgr_reconciles_total{trigger="netlink"} 1"#,
            r#"alias_mgr_reconcile_errors_total{trigger="periodic"} 1"#,
            r#"alias_mgr_reconcile_changes_total{trigger="startup"} 3"#,
            "alias_mgr_drift_events_total 1",
            "alias_mgr_last_reconcile_success 0",
            "alias_mgr_config_reloads_total 2",
            "alias_mgr_config_reload_errors_total 1",
            "alias_mgr_config_last_reload_success 0",
            r#"alias_mgr_netlink_events_total{kind="address"} 2"#,
            r#"alias_mgr_netlink_events_total{kind="lost"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "no line {line} in:\n{text}"
            );
        }
        assert_eq!(stats.drift_events.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn process_metrics_are_read_from_proc() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_bytes > 1_000_000.0);
        assert!(stats.virtual_bytes >= stats.resident_bytes);
        assert!(stats.open_fds >= 3.0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(stats.start_time > now - 3600.0 && stats.start_time <= now + 1.0);
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

    #[test]
    fn request_lines_parse() {
        assert_eq!(
            parse_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request {
                method: "GET",
                path: "/metrics"
            })
        );
        assert_eq!(
            parse_request("GET /metrics?x=1 HTTP/1.0\r\n\r\n").map(|r| r.path),
            Some("/metrics")
        );
        assert_eq!(parse_request("GET /metrics\r\n\r\n"), None);
        assert_eq!(parse_request("\u{0}\u{1}garbage\r\n\r\n"), None);
        assert_eq!(parse_request("GET / SPDY/3\r\n\r\n"), None);
    }

    async fn get(addr: std::net::SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_server_answers_metrics_index_404_405_and_400() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let exporter = Arc::new(exporter(Some(vec![(ip("192.0.2.1"), counters(5))])));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, exporter, async {
            let _ = stopped.await;
        }));

        let metrics = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(
            metrics.contains("Content-Type: text/plain; version=0.0.4"),
            "{metrics}"
        );
        assert!(metrics.contains(
            r#"alias_mgr_receive_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 5"#
        ));
        let head = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && !head.contains("alias_mgr"),
            "{head}"
        );
        let index = get(addr, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(
            index.starts_with("HTTP/1.1 200 OK") && index.contains("href=\"/metrics\""),
            "{index}"
        );
        let missing = get(addr, "GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let post = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert!(
            post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"),
            "{post}"
        );
        let garbage = get(addr, "\x16\x03\x01 hello\r\n\r\n").await;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        let huge = get(addr, &format!("GET /{} HTTP/1.1\r\n", "a".repeat(40_000))).await;
        assert!(
            huge.starts_with("HTTP/1.1 400 "),
            "{}",
            &huge[..40.min(huge.len())]
        );
        // A client that connects and leaves does not stop the server.
        drop(TcpStream::connect(addr).await.unwrap());
        let again = get(addr, "GET /metrics HTTP/1.0\r\n\r\n").await;
        assert!(again.starts_with("HTTP/1.1 200 OK"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
    }
}
