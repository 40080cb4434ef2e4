//! The daemon's own counters (reconciles by trigger, drift, config reloads,
//! netlink events), kept as plain atomics, and the snapshot a scrape takes
//! of them. These are the only values that start at 0 with each process.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::sys::netlink::Change;

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

pub(super) const TRIGGERS: usize = 6;

impl Trigger {
    pub(super) const ALL: [Trigger; TRIGGERS] = [
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

    pub(super) fn index(self) -> usize {
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
    pub(super) fn new() -> Self {
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

/// The daemon's counters as one scrape saw them.
pub(super) struct StatsSnapshot {
    pub(super) reconciles: [u64; TRIGGERS],
    pub(super) reconcile_errors: [u64; TRIGGERS],
    pub(super) reconcile_changes: [u64; TRIGGERS],
    pub(super) drift_events: u64,
    pub(super) classifier_warnings: u64,
    pub(super) conflicts: u64,
    pub(super) last_reconcile_success: Option<bool>,
    pub(super) last_reconcile_success_time: f64,
    pub(super) config_reloads: u64,
    pub(super) config_reload_errors: u64,
    pub(super) config_last_reload_success: bool,
    pub(super) config_last_reload_success_time: f64,
    pub(super) netlink_events: [u64; 4],
}

impl StatsSnapshot {
    pub(super) fn of(stats: &DaemonStats) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::fixtures::{exporter, text};

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
}
