//! What one scrape read, turned into Prometheus families one at a time: one
//! builder per group of families (address info, traffic, zones, the
//! daemon's counters, the scrape's own health, the process).

use std::{
    net::IpAddr,
    ops::Range,
    sync::{Arc, OnceLock},
    time::Duration,
};

use alias_ebpf::TrafficCounters;
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

use super::{
    families::{Def, Family, Kind},
    index::{AddressEntry, AddressIndex, AddressState},
    process::ProcessStats,
    stats::{StatsSnapshot, Trigger},
};
use crate::{sys::netlink::Change, sys::nft::ZoneCounter};

/// The sources a scrape reads, for the success/duration metrics and logs.
pub(super) const COLLECTORS: [&str; 3] = ["counters", "zones", "process"];

/// What one scrape read; turned into families one at a time.
pub struct Scrape {
    pub(super) index: Arc<AddressIndex>,
    /// Why per-address counters cannot work here, if they cannot.
    pub(super) counters_off: Option<String>,
    /// None when the source failed (its families are left out).
    pub(super) traffic: Option<Vec<(IpAddr, TrafficCounters)>>,
    pub(super) zones: Option<Vec<ZoneCounter>>,
    pub(super) process: Option<ProcessStats>,
    pub(super) durations: [Duration; 3],
    pub(super) stats: StatsSnapshot,
    /// The declared or owned addresses in order, for `address_info`
    /// (sorted once, however many pieces it is sent in).
    pub(super) info_order: OnceLock<Vec<IpAddr>>,
}

/// Per-address families are built and sent this many samples at a time,
/// so a scrape of 10,000 addresses never holds a family of 10,000 (about
/// 6 MB of label strings each).
pub const PIECE_SAMPLES: usize = 500;

/// A part of the exposition, as [`Scrape::pieces`] yields them.
pub(super) enum Piece {
    /// A whole family, through the prometheus crate's model.
    Whole(MetricFamily),
    /// Samples `range` of a per-address family, written as text directly;
    /// `first` adds the family's header lines.
    Addresses {
        family: Family,
        range: Range<usize>,
        first: bool,
    },
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

/// `range` of `items`, cut to what there is.
fn clamp<T>(items: &[T], range: Range<usize>) -> &[T] {
    let end = range.end.min(items.len());
    &items[range.start.min(end)..end]
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

    /// The families in pieces, each built when the iterator reaches it:
    /// the per-address ones [`PIECE_SAMPLES`] samples at a time, as text
    /// ([`Scrape::write_piece`]), the rest whole.
    pub(super) fn pieces(&self) -> impl Iterator<Item = Piece> + '_ {
        Family::ALL.into_iter().flat_map(move |family| {
            let samples = self.per_address_samples(family);
            let count = samples.map_or(1, |n| n.div_ceil(PIECE_SAMPLES).max(1));
            (0..count).filter_map(move |piece| match samples {
                None => self.build(family).map(Piece::Whole),
                Some(_) => {
                    let start = piece * PIECE_SAMPLES;
                    Some(Piece::Addresses {
                        family,
                        range: start..start + PIECE_SAMPLES,
                        first: piece == 0,
                    })
                }
            })
        })
    }

    /// Appends the text of an [`Piece::Addresses`] piece to `out`.
    pub(super) fn write_piece(&self, piece: &Piece, out: &mut String) {
        if let Piece::Addresses {
            family,
            range,
            first,
        } = piece
        {
            self.write_address_piece(*family, range.clone(), *first, out);
        }
    }

    /// How many samples a per-address family has (None: another family).
    fn per_address_samples(&self, family: Family) -> Option<usize> {
        match family {
            Family::AddressInfo => Some(self.info_order().len()),
            Family::ReceiveBytes
            | Family::ReceivePackets
            | Family::TransmitBytes
            | Family::TransmitPackets => Some(self.traffic.as_ref().map_or(0, Vec::len)),
            _ => None,
        }
    }

    fn build(&self, family: Family) -> Option<MetricFamily> {
        let mut out = Builder::new(family);
        match family {
            Family::BuildInfo => out.push(&[env!("CARGO_PKG_VERSION")], 1.0),
            Family::AddressInfo => self.address_info(&mut out, 0..usize::MAX),
            Family::ReceiveBytes
            | Family::ReceivePackets
            | Family::TransmitBytes
            | Family::TransmitPackets => self.traffic_family(family, &mut out, 0..usize::MAX),
            Family::TrackedAddresses => {
                if let Some(traffic) = &self.traffic {
                    out.push(&[], traffic.len() as f64);
                }
            }
            Family::TrackedAddressesLimit => {
                out.push(&[], f64::from(alias_ebpf::MAX_TRACKED_ADDRESSES))
            }
            Family::CountersAvailable => match &self.counters_off {
                None => out.push(&[""], 1.0),
                Some(reason) => out.push(&[reason], 0.0),
            },
            Family::ZonePackets | Family::ZoneBytes => self.zone_family(family, &mut out),
            Family::Reconciles | Family::ReconcileErrors | Family::ReconcileChanges => {
                self.by_trigger_family(family, &mut out)
            }
            Family::DriftEvents
            | Family::ClassifierWarnings
            | Family::Conflicts
            | Family::LastReconcileSuccess
            | Family::LastReconcileSuccessTimestamp => {
                self.reconcile_outcome_family(family, &mut out)
            }
            Family::ConfigReloads
            | Family::ConfigReloadErrors
            | Family::ConfigLastReloadSuccess
            | Family::ConfigLastReloadSuccessTimestamp => self.config_family(family, &mut out),
            Family::NetlinkEvents => {
                for (change, count) in Change::ALL.iter().zip(self.stats.netlink_events) {
                    out.push(&[change.as_str()], count as f64);
                }
            }
            Family::ScrapeCollectorSuccess | Family::ScrapeCollectorDuration => {
                self.collector_family(family, &mut out)
            }
            Family::ProcessCpuSeconds
            | Family::ProcessResidentMemory
            | Family::ProcessVirtualMemory
            | Family::ProcessStartTime
            | Family::ProcessOpenFds
            | Family::ProcessMaxFds => self.process_family(family, &mut out),
        }
        out.finish()
    }

    /// Every address alias-mgr declares or owns, in address order.
    pub(super) fn info_order(&self) -> &[IpAddr] {
        self.info_order.get_or_init(|| {
            let mut order: Vec<IpAddr> = self
                .index
                .entries
                .iter()
                .filter(|(_, e)| e.state.is_some())
                .map(|(ip, _)| *ip)
                .collect();
            order.sort_unstable();
            order
        })
    }

    /// `range` of the addresses alias-mgr declares or owns, in order, with
    /// their index entry and state: the samples of `address_info`.
    pub(super) fn info_samples(
        &self,
        range: Range<usize>,
    ) -> impl Iterator<Item = (&IpAddr, &AddressEntry, AddressState)> {
        clamp(self.info_order(), range).iter().filter_map(|ip| {
            let entry = self.index.entries.get(ip)?;
            Some((ip, entry, entry.state?))
        })
    }

    /// `range` of one per-address traffic family's samples: the address,
    /// its index entry (none for an address on no interface), the count.
    pub(super) fn traffic_samples(
        &self,
        family: Family,
        range: Range<usize>,
    ) -> impl Iterator<Item = (&IpAddr, Option<&AddressEntry>, u64)> {
        let traffic = clamp(self.traffic.as_deref().unwrap_or_default(), range);
        traffic.iter().map(move |(ip, counters)| {
            let value = match family {
                Family::ReceiveBytes => counters.rx_bytes,
                Family::ReceivePackets => counters.rx_packets,
                Family::TransmitBytes => counters.tx_bytes,
                _ => counters.tx_packets,
            };
            (ip, self.index.entries.get(ip), value)
        })
    }

    fn address_info(&self, out: &mut Builder, range: Range<usize>) {
        for (ip, entry, state) in self.info_samples(range) {
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

    fn traffic_family(&self, family: Family, out: &mut Builder, range: Range<usize>) {
        for (ip, entry, value) in self.traffic_samples(family, range) {
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

    fn zone_family(&self, family: Family, out: &mut Builder) {
        for zone in self.zones.as_deref().unwrap_or_default() {
            let value = if family == Family::ZonePackets {
                zone.packets
            } else {
                zone.bytes
            };
            out.push(&[&zone.zone, zone.direction, zone.verdict], value as f64);
        }
    }

    /// The reconcile counters, one sample per trigger.
    fn by_trigger_family(&self, family: Family, out: &mut Builder) {
        let values = match family {
            Family::Reconciles => &self.stats.reconciles,
            Family::ReconcileErrors => &self.stats.reconcile_errors,
            _ => &self.stats.reconcile_changes,
        };
        for trigger in Trigger::ALL {
            out.push(&[trigger.as_str()], values[trigger.index()] as f64);
        }
    }

    /// Drift, warnings, conflicts and how the last reconcile went (nothing
    /// for its success before the first one).
    fn reconcile_outcome_family(&self, family: Family, out: &mut Builder) {
        let stats = &self.stats;
        let value = match family {
            Family::DriftEvents => stats.drift_events as f64,
            Family::ClassifierWarnings => stats.classifier_warnings as f64,
            Family::Conflicts => stats.conflicts as f64,
            Family::LastReconcileSuccess => match stats.last_reconcile_success {
                Some(ok) => bool_value(ok),
                None => return,
            },
            _ => stats.last_reconcile_success_time,
        };
        out.push(&[], value);
    }

    fn config_family(&self, family: Family, out: &mut Builder) {
        let stats = &self.stats;
        let value = match family {
            Family::ConfigReloads => stats.config_reloads as f64,
            Family::ConfigReloadErrors => stats.config_reload_errors as f64,
            Family::ConfigLastReloadSuccess => bool_value(stats.config_last_reload_success),
            _ => stats.config_last_reload_success_time,
        };
        out.push(&[], value);
    }

    /// Whether each source could be read, and how long reading it took.
    fn collector_family(&self, family: Family, out: &mut Builder) {
        if family == Family::ScrapeCollectorSuccess {
            let ok = [
                self.traffic.is_some(),
                self.zones.is_some(),
                self.process.is_some(),
            ];
            for (name, ok) in COLLECTORS.iter().zip(ok) {
                out.push(&[name], bool_value(ok));
            }
        } else {
            for (name, took) in COLLECTORS.iter().zip(self.durations) {
                out.push(&[name], took.as_secs_f64());
            }
        }
    }

    /// Nothing when /proc/self could not be read (or the fd limit is unlimited).
    fn process_family(&self, family: Family, out: &mut Builder) {
        let Some(process) = &self.process else {
            return;
        };
        let value = match family {
            Family::ProcessCpuSeconds => process.cpu_seconds,
            Family::ProcessResidentMemory => process.resident_bytes,
            Family::ProcessVirtualMemory => process.virtual_bytes,
            Family::ProcessStartTime => process.start_time,
            Family::ProcessOpenFds => process.open_fds,
            _ => match process.max_fds {
                Some(max) => max,
                None => return,
            },
        };
        out.push(&[], value);
    }

    /// The whole exposition as text (tests).
    #[cfg(test)]
    pub fn to_text(&self) -> anyhow::Result<String> {
        use anyhow::Context as _;
        let mut text = String::new();
        let encoder = prometheus::TextEncoder::new();
        for family in self.families() {
            encoder
                .encode_utf8(std::slice::from_ref(&family), &mut text)
                .context("encoding metrics")?;
        }
        Ok(text)
    }
}

#[cfg(test)]
#[path = "scrape_tests.rs"]
mod tests;
