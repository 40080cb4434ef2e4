//! The metric families alias-mgr exports: name, help text, type and label
//! names of each, in exposition order. Only definitions; the values come
//! from [`super::scrape`].

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Counter,
    Gauge,
}

/// One metric family: its name, help text, type and label names.
pub(super) struct Def {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) kind: Kind,
    pub(super) labels: &'static [&'static str],
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
pub(super) enum Family {
    BuildInfo,
    AddressInfo,
    ReceiveBytes,
    ReceivePackets,
    TransmitBytes,
    TransmitPackets,
    TrackedAddresses,
    TrackedAddressesLimit,
    CountersAvailable,
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
    pub(super) const ALL: [Family; 32] = [
        Family::BuildInfo,
        Family::AddressInfo,
        Family::ReceiveBytes,
        Family::ReceivePackets,
        Family::TransmitBytes,
        Family::TransmitPackets,
        Family::TrackedAddresses,
        Family::TrackedAddressesLimit,
        Family::CountersAvailable,
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

    pub(super) fn def(self) -> Def {
        match self {
            Family::BuildInfo => def!("alias_mgr_build_info", Gauge, &["version"],
                "alias-mgr build information; the value is always 1."),
            Family::AddressInfo => def!("alias_mgr_address_info", Gauge,
                &["device", "address", "prefix", "label", "zone", "state"],
                "Every address alias-mgr declares or owns; the value is always 1. state: applied (in the kernel as declared), pending (its interface does not exist), missing (not in the kernel yet), conflict (a foreign address is in the way, or another host on the link answered its ARP probe), runtime (added with --runtime, not in the config), undeclared (alias-mgr's but no longer in the config: the next reconcile removes it)."),
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
            Family::CountersAvailable => def!("alias_mgr_counters_available", Gauge, &["reason"],
                "1 when per-address counters can work here; 0 with the reason when they cannot (no TCX, a pin directory off bpffs, ...), while addresses, routes and zones are managed all the same."),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::exporter;
    use prometheus::core::Collector;

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
}
