//! The daemon's event sources: signals, the netlink change stream, the
//! config file watch, `nft monitor` on alias-mgr's table and the timers,
//! with the debounce that turns a burst of notifications into one
//! reconcile. A source that breaks is restarted here; the loop only sees
//! what to do next ([`Event`]).

use std::{io, path::Path, pin::Pin, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use futures::{Stream, StreamExt};
use tokio::{
    signal::unix::{signal, Signal, SignalKind},
    time::{sleep_until, Instant, Interval, MissedTickBehavior},
};

use super::classifier_log::CLASSIFIER_LOG_EVERY;
use crate::{
    logging::{info, warning},
    metrics::{Exporter, Trigger},
    sys::inotify::FileWatch,
    sys::netlink::{self, Change},
    sys::nft,
};

/// Quiet time after a netlink notification before reconciling.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// Longest wait after the first notification of a burst that never ends.
pub const MAX_DELAY: Duration = Duration::from_millis(800);
/// How long after the notification stream broke to subscribe again.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
/// How long after `nft monitor` ended, or failed to start, to start it again;
/// also how long after a failed resubscription to netlink to try again.
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// What the loop does next.
pub(super) enum Event {
    /// SIGTERM or SIGINT (already logged).
    Stop,
    /// SIGHUP: re-read the config and reconcile.
    Reload,
    Reconcile(Trigger),
    /// The config file may have settled: run the reconcile put off for it.
    Deferred,
    DrainClassifierLogs,
    /// Time to tell systemd's watchdog the loop is alive.
    Watchdog,
    /// A source broke or came back; nothing to do yet.
    Nothing,
}

/// The signals the daemon answers.
pub(super) struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    /// Installed before anything else: SIGHUP's default action would end
    /// the process.
    pub(super) fn install() -> Result<Self> {
        Ok(Self {
            hangup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }
}

type Changes = Pin<Box<dyn Stream<Item = Change> + Send>>;

fn subscribe() -> Result<Changes> {
    let stream =
        netlink::watch().context("subscribing to netlink link/address/route notifications")?;
    Ok(Box::pin(stream))
}

/// Every source the daemon listens to, and the notifications being debounced.
pub(super) struct Events {
    signals: Signals,
    exporter: Arc<Exporter>,
    /// None while broken, until `resubscribe_at`.
    changes: Option<Changes>,
    resubscribe_at: Instant,
    /// None when inotify refused, or after it failed.
    config_watch: Option<FileWatch>,
    /// None while not running, until `monitor_restart_at`.
    table_monitor: Option<nft::TableMonitor>,
    monitor_restart_at: Instant,
    /// None until [`Events::start_timers`].
    classifier_log_timer: Option<Interval>,
    periodic: Option<Interval>,
    /// WATCHDOG=1 pings, from this loop: a loop that hangs stops them.
    watchdog: Option<Interval>,
    debounce: Debounce,
}

impl Events {
    /// Subscribes to netlink (a failure is fatal) and starts the config
    /// watch and the table monitor (a failure of either is only logged).
    pub(super) fn start(signals: Signals, config: &Path, exporter: Arc<Exporter>) -> Result<Self> {
        let changes = Some(subscribe()?);
        // Both only make healing faster; without them, the periodic reconcile
        // and SIGHUP still work.
        let config_watch = FileWatch::new(config, &crate::config::dropins::dir(config))
            .map_err(|err| {
                warning!(
                    "not watching {} ({err}); edits are read at the next reconcile, or at once on SIGHUP",
                    config.display()
                )
            })
            .ok();
        let table_monitor = nft::TableMonitor::start()
            .map_err(|err| {
                warning!("not following nftables changes ({err:#}); a hand edit of the zone table is repaired by the periodic reconcile")
            })
            .ok();
        Ok(Self {
            signals,
            exporter,
            changes,
            resubscribe_at: far_future(),
            config_watch,
            table_monitor,
            monitor_restart_at: far_future(),
            classifier_log_timer: None,
            periodic: None,
            watchdog: None,
            debounce: Debounce::default(),
        })
    }

    /// Starts the timers; called once the startup reconcile is done, so the
    /// first periodic reconcile comes one interval after it.
    pub(super) fn start_timers(
        &mut self,
        reconcile_interval: Option<Duration>,
        watchdog_every: Option<Duration>,
    ) {
        self.watchdog = watchdog_every.map(|every| {
            let mut timer = tokio::time::interval(every);
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
            timer
        });
        let mut classifier_log_timer = tokio::time::interval(CLASSIFIER_LOG_EVERY);
        classifier_log_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.classifier_log_timer = Some(classifier_log_timer);
        self.periodic = reconcile_interval.map(|every| {
            let mut timer = tokio::time::interval_at(Instant::now() + every, every);
            timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
            timer
        });
    }

    /// Waits for the next thing to do. `deferred`: when the reconcile put
    /// off for the config file is due; `nft_ignored_until`: until when
    /// changes to the table are not followed (a fight over it).
    pub(super) async fn next(
        &mut self,
        deferred: Option<Instant>,
        nft_ignored_until: Option<Instant>,
    ) -> Event {
        let due = self.debounce.due();
        let deferred_due = deferred.unwrap_or_else(far_future);
        tokio::select! {
            _ = self.signals.terminate.recv() => {
                info!("SIGTERM: stopping");
                Event::Stop
            }
            _ = self.signals.interrupt.recv() => {
                info!("SIGINT: stopping");
                Event::Stop
            }
            _ = self.signals.hangup.recv() => {
                self.debounce.clear();
                Event::Reload
            }
            change = next_change(&mut self.changes) => self.netlink_changed(change),
            changed = next_config_change(&mut self.config_watch) => self.config_changed(changed),
            changed = next_table_change(&mut self.table_monitor) => {
                self.table_changed(changed, nft_ignored_until)
            }
            () = sleep_until(self.monitor_restart_at), if self.table_monitor.is_none() => {
                self.restart_table_monitor()
            }
            () = sleep_until(self.resubscribe_at), if self.changes.is_none() => self.resubscribe(),
            () = sleep_until(deferred_due), if deferred.is_some() => Event::Deferred,
            () = sleep_until(due.unwrap_or_else(far_future)), if due.is_some() => {
                match self.debounce.take() {
                    Some(trigger) => Event::Reconcile(trigger),
                    None => Event::Nothing,
                }
            }
            _ = tick(&mut self.classifier_log_timer) => Event::DrainClassifierLogs,
            _ = tick(&mut self.periodic) => Event::Reconcile(Trigger::Periodic),
            _ = tick(&mut self.watchdog) => Event::Watchdog,
        }
    }

    fn netlink_changed(&mut self, change: Option<Change>) -> Event {
        match change {
            Some(change) => {
                self.exporter.stats().netlink_event(change);
                self.debounce.add(Trigger::Netlink);
            }
            None => {
                warning!("the netlink notification stream ended; subscribing again");
                self.changes = None;
                self.resubscribe_at = Instant::now() + RESUBSCRIBE_DELAY;
            }
        }
        Event::Nothing
    }

    fn config_changed(&mut self, changed: io::Result<()>) -> Event {
        if let Err(err) = changed {
            warning!(
                "watching the config file failed ({err}); edits are read at the next reconcile"
            );
            self.config_watch = None;
        } else {
            self.debounce.add(Trigger::Config);
        }
        Event::Nothing
    }

    fn table_changed(&mut self, changed: Option<()>, ignored_until: Option<Instant>) -> Event {
        let ignored = ignored_until.is_some_and(|until| Instant::now() < until);
        if changed.is_none() {
            warning!("nft monitor ended; starting it again in 5 s");
            self.table_monitor = None;
            self.monitor_restart_at = Instant::now() + RESTART_DELAY;
        } else if ignored {
            // A fight over the table: the periodic reconcile goes on.
        } else {
            self.debounce.add(Trigger::Nftables);
        }
        Event::Nothing
    }

    fn restart_table_monitor(&mut self) -> Event {
        match nft::TableMonitor::start() {
            Ok(monitor) => {
                self.table_monitor = Some(monitor);
                self.monitor_restart_at = far_future();
                // A change meanwhile went unseen.
                self.debounce.add(Trigger::Nftables);
            }
            Err(err) => {
                warning!("starting nft monitor again: {err:#}; trying again in 5 s");
                self.monitor_restart_at = Instant::now() + RESTART_DELAY;
            }
        }
        Event::Nothing
    }

    fn resubscribe(&mut self) -> Event {
        match subscribe() {
            Ok(stream) => {
                self.changes = Some(stream);
                self.resubscribe_at = far_future();
                // Whatever happened meanwhile went unseen.
                self.debounce.add(Trigger::Netlink);
            }
            Err(err) => {
                warning!("{err:#}; trying again in 5 s (periodic reconciles go on)");
                self.resubscribe_at = Instant::now() + RESTART_DELAY;
            }
        }
        Event::Nothing
    }
}

/// A deadline that never comes, for a timer that is not armed.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

async fn next_change(changes: &mut Option<Changes>) -> Option<Change> {
    match changes {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

async fn next_config_change(watch: &mut Option<FileWatch>) -> io::Result<()> {
    match watch {
        Some(watch) => watch.changed().await,
        None => std::future::pending().await,
    }
}

async fn next_table_change(monitor: &mut Option<nft::TableMonitor>) -> Option<()> {
    match monitor {
        Some(monitor) => monitor.changed().await,
        None => std::future::pending().await,
    }
}

async fn tick(timer: &mut Option<Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Notifications turned into reconciles: the first after a quiet spell
/// starts one at once (an `ip addr del` is healed without waiting); those
/// that follow within [`DEBOUNCE`] of each other are coalesced into one more,
/// [`DEBOUNCE`] after the last and at most [`MAX_DELAY`] after the first.
#[derive(Debug, Default)]
struct Debounce {
    pending: Option<Burst>,
    last_notification: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Burst {
    first: Instant,
    last: Instant,
    /// Due at once: it started after a quiet spell.
    leading: bool,
    /// What the reconcile is labelled with: the config file or the nftables
    /// table when either took part (a netlink event is their usual echo).
    trigger: Trigger,
}

impl Debounce {
    fn add(&mut self, trigger: Trigger) {
        let now = Instant::now();
        let quiet = self
            .last_notification
            .is_none_or(|last| now.duration_since(last) > DEBOUNCE);
        self.last_notification = Some(now);
        let rank = |t: Trigger| match t {
            Trigger::Config => 2,
            Trigger::Nftables => 1,
            _ => 0,
        };
        self.pending = Some(match self.pending {
            None => Burst {
                first: now,
                last: now,
                leading: quiet,
                trigger,
            },
            Some(b) => Burst {
                last: now,
                trigger: if rank(trigger) > rank(b.trigger) {
                    trigger
                } else {
                    b.trigger
                },
                ..b
            },
        });
    }

    fn due(&self) -> Option<Instant> {
        self.pending.map(|b| match b.leading {
            true => b.first,
            false => (b.last + DEBOUNCE).min(b.first + MAX_DELAY),
        })
    }

    /// The reconcile that is due, taken.
    fn take(&mut self) -> Option<Trigger> {
        self.pending.take().map(|b| b.trigger)
    }

    fn clear(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_first_notification_is_due_at_once_and_a_burst_after_it_once() {
        let mut debounce = Debounce::default();
        let start = Instant::now();
        debounce.add(Trigger::Netlink);
        assert_eq!(debounce.due(), Some(start));
        assert_eq!(debounce.take(), Some(Trigger::Netlink));
        // Its echo and a burst, 10 ms apart: one reconcile, 200 ms after
        // the last of them.
        for _ in 0..5 {
            tokio::time::advance(Duration::from_millis(10)).await;
            debounce.add(Trigger::Netlink);
        }
        debounce.add(Trigger::Nftables);
        assert_eq!(debounce.due(), Some(Instant::now() + DEBOUNCE));
        // A burst that never ends is still served within MAX_DELAY.
        let first = Instant::now() - Duration::from_millis(40);
        for _ in 0..100 {
            tokio::time::advance(Duration::from_millis(50)).await;
            debounce.add(Trigger::Netlink);
        }
        assert_eq!(debounce.due(), Some(first + MAX_DELAY));
        assert_eq!(debounce.take(), Some(Trigger::Nftables));
        // After a quiet spell, at once again.
        tokio::time::advance(DEBOUNCE * 2).await;
        debounce.add(Trigger::Config);
        assert_eq!(debounce.due(), Some(Instant::now()));
        debounce.clear();
        assert_eq!(debounce.due(), None);
    }
}
