//! The daemon's loop: start-up ([`run`]), then one reconcile per event, each
//! counted, logged and reported to systemd.

use std::{
    collections::{BTreeSet, HashSet},
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::{anyhow, Result};
use tokio::time::Instant;

use super::{
    announcer::Announcer,
    classifier_log::ClassifierLogs,
    events::{Event, Events, Signals},
    notify::{notify, watchdog_every},
    reload::{LoadedConfig, Reload, SETTLE},
    serving::{listen, warn_if_exposed, MetricsServer},
    Options,
};
use crate::{
    core::{
        model::AliasSpec,
        plan::{Action, Plan, Seen},
    },
    kernel::{Applied, Kernel},
    lock::RunLock,
    logging::{error, info, warning},
    metrics::{AddressIndex, Exporter, KernelSources, Trigger},
    runtime_state::RuntimeState,
    sys::memory::release_free_memory,
    web::WebSettings,
};

/// Reloads of the table in a row, each set off by `nft monitor`, after which
/// the table is taken to be fought over (another tool rewriting it, or a
/// ruleset nft reads back differently): the monitor is then ignored for
/// [`NFT_FIGHT_PAUSE`], and the periodic reconcile carries on.
const NFT_FIGHT_RELOADS: u32 = 3;
const NFT_FIGHT_PAUSE: Duration = Duration::from_secs(60);
/// Identical reconcile errors are logged at most this often.
const REPEAT_ERROR_EVERY: Duration = Duration::from_secs(300);
/// Longest list of changes logged for one reconcile.
const MAX_LOGGED_CHANGES: usize = 20;

/// Runs the daemon until SIGTERM or SIGINT. Fails only at startup: the port
/// is taken, the config does not load, or netlink refuses the subscription.
pub async fn run(options: Options) -> Result<()> {
    // Before anything else: SIGHUP's default action would end the process.
    let signals = Signals::install()?;
    // Before the port: a second daemon is told who runs, not that the port is taken.
    let _instance = crate::lock::daemon_lock(options.pins.path(), &options.config)?;
    let web = Arc::new(match &options.web_config {
        Some(path) => WebSettings::load(path).map_err(|err| anyhow!("{err}"))?,
        None => WebSettings::plain(),
    });
    let listener = listen(options.listen).await?;
    let listening = listener.local_addr().unwrap_or(options.listen);
    let (tls, auth) = web.tls_and_auth();
    warn_if_exposed(listening, (tls, auth), options.web_config.is_some());

    crate::sys::memory::tune_for_daemon();
    let config = LoadedConfig::load(&options.config)?;
    // The parser's document is gone: its pages need not stay resident
    // under the first reconcile.
    release_free_memory();
    let exporter = Arc::new(Exporter::new(Box::new(KernelSources::new(
        options.pins.clone(),
    ))));
    exporter.stats().config_loaded(true);
    // The zone counters as they stand: a table flushed before the first
    // scrape is re-created from these (a previous daemon's scrapes saw no more).
    // Without zones there is no table (and nft need not be installed).
    if !config.file().config().zones.is_empty() {
        if let Ok(counters) = crate::sys::nft::zone_counters() {
            exporter.saw_zone_counts(&counters);
        }
    }
    let mut events = Events::start(signals, &options.config, exporter.clone())?;
    let scheme = if tls { "https" } else { "http" };
    let server = MetricsServer::start(listener, web, exporter.clone());
    info!(
        "daemon started: metrics on {scheme}://{listening}/metrics, config {}, pins {}",
        options.config.display(),
        options.pins.path().display()
    );

    let mut daemon = Daemon::new(options, exporter, config, listening);
    daemon.reconcile(Trigger::Startup).await;
    notify("READY=1");
    events.start_timers(daemon.options.reconcile_interval, watchdog_every());
    daemon.follow(&mut events).await;

    notify("STOPPING=1");
    server.stop().await;
    info!("stopped; addresses, routes, zones and counters stay in place");
    Ok(())
}

struct Daemon {
    options: Options,
    exporter: Arc<Exporter>,
    config: LoadedConfig,
    /// A reconcile put off until the config file settles, and its trigger.
    deferred: Option<(Instant, Trigger)>,
    classifier_logs: ClassifierLogs,
    /// Interfaces the config named that did not exist at the last reconcile.
    missing_interfaces: BTreeSet<String>,
    /// Table reloads in a row that `nft monitor` set off. Our own loads are
    /// reported too; their echo costs one reconcile that finds nothing to
    /// do, so only a reload answering a reload means a fight.
    nft_reloads_in_a_row: u32,
    /// Until when `nft monitor` is not listened to (see [`NFT_FIGHT_RELOADS`]).
    nft_ignored_until: Option<Instant>,
    last_error: Option<(String, Instant)>,
    last_pending: Vec<String>,
    listening: SocketAddr,
    /// Aliases held back because another host answered ARP for them.
    arp_conflicts: HashSet<IpAddr>,
    /// Owned IPv4 addresses up (and not in conflict) after the last
    /// reconcile, by link (put back without a probe if deleted), and the
    /// zone counters' last values (restored if the table is flushed).
    seen: Seen,
    /// The `del --runtime` removals honoured (and logged) so far.
    logged_for_now: BTreeSet<IpAddr>,
    /// Conflicts of the last reconcile's plan (those above included).
    plan_conflicts: usize,
    announcer: Announcer,
}

/// Logs the first [`MAX_LOGGED_CHANGES`] of `count` items, one per line.
fn log_capped<'a>(items: impl Iterator<Item = &'a dyn fmt::Display>, count: usize) {
    for item in items.take(MAX_LOGGED_CHANGES) {
        info!("  {item}");
    }
    if count > MAX_LOGGED_CHANGES {
        info!("  ... and {} more", count - MAX_LOGGED_CHANGES);
    }
}

impl Daemon {
    fn new(
        options: Options,
        exporter: Arc<Exporter>,
        config: LoadedConfig,
        listening: SocketAddr,
    ) -> Self {
        Self {
            exporter,
            config,
            deferred: None,
            classifier_logs: ClassifierLogs::default(),
            nft_reloads_in_a_row: 0,
            nft_ignored_until: None,
            missing_interfaces: BTreeSet::new(),
            last_error: None,
            last_pending: Vec::new(),
            listening,
            arp_conflicts: HashSet::new(),
            seen: Seen::default(),
            logged_for_now: BTreeSet::new(),
            plan_conflicts: 0,
            announcer: Announcer::start(options.pins.clone()),
            options,
        }
    }

    /// Answers events until told to stop.
    async fn follow(&mut self, events: &mut Events) {
        loop {
            let deferred = self.deferred.map(|(at, _)| at);
            match events.next(deferred, self.nft_ignored_until).await {
                Event::Stop => break,
                Event::Reload => {
                    info!(
                        "SIGHUP: re-reading {} and reconciling",
                        self.options.config.display()
                    );
                    self.reconcile(Trigger::Reload).await;
                }
                Event::Reconcile(trigger) => self.reconcile(trigger).await,
                Event::Deferred => {
                    if let Some((_, trigger)) = self.deferred.take() {
                        self.reconcile(trigger).await;
                    }
                }
                Event::DrainClassifierLogs => self.classifier_logs.drain(),
                Event::Watchdog => notify("WATCHDOG=1"),
                Event::Nothing => {}
            }
        }
    }

    /// One `alias-mgr apply`, with the outcome logged and counted. Never
    /// fails: the next trigger tries again.
    async fn reconcile(&mut self, trigger: Trigger) {
        let Some(lock) = self.take_lock(trigger).await else {
            return;
        };
        let Some(reload) = self.reload_config(trigger) else {
            return;
        };
        let kernel = match Kernel::new(self.options.pins.clone()) {
            Ok(kernel) => kernel,
            Err(err) => {
                self.publish_reload(&reload);
                return self.failed(trigger, err);
            }
        };
        // `heal`: `apply` that leaves --runtime aliases alone (deliberate, not drift).
        // What scrapes read last: what Prometheus has seen, so what a
        // re-created table must not fall below.
        self.seen.zone_counts = self.exporter.zone_counts_seen();
        let removed_for_now = self.removed_for_now();
        let heal = kernel.heal(self.config.file(), &self.seen, &removed_for_now);
        let applied = match heal.await {
            Ok((plan, applied)) => {
                let held_before = std::mem::replace(
                    &mut self.arp_conflicts,
                    applied.held_back.iter().map(|c| c.on.ip).collect(),
                );
                self.record(trigger, &reload, plan, &held_before);
                applied
            }
            Err(err) => {
                self.failed(trigger, err);
                Applied::default()
            }
        };
        // The plan and the kernel's state it was made from are gone; the
        // index built next need not sit on top of their pages.
        release_free_memory();
        self.refresh_index(&kernel, &applied).await;
        self.classifier_logs
            .follow(&self.options.pins, &self.exporter);
        // Published only now, so a scrape that sees the reload also sees its
        // result applied.
        self.publish_reload(&reload);
        drop(lock);
        drop(kernel);
        release_free_memory();
        self.notify_status(trigger);
    }

    /// Declared aliases `del --runtime` took out, as recorded under /run
    /// (read under the run lock, so never half a CLI run's record); those
    /// whose entry was edited or dropped since are over, and said so.
    fn removed_for_now(&mut self) -> Vec<AliasSpec> {
        let config = &self.options.config;
        let aliases = &self.config.file().config().aliases;
        let mut state = RuntimeState::load(config);
        let before = state.clone();
        if state.prune(aliases) {
            if let Err(err) = state.save(config) {
                warning!("{err:#}");
            }
        }
        for over in before.removed.iter().filter(|r| !state.removed.contains(r)) {
            info!(
                "{} on {}: the --runtime removal is over (its entry in the config changed); applying the config",
                over.address, over.interface
            );
        }
        let (removed, _) = state.split(aliases);
        let now: BTreeSet<IpAddr> = removed.iter().map(AliasSpec::ip).collect();
        for ip in now.difference(&self.logged_for_now) {
            info!("{ip}: removed for now by `del --runtime`; left out until the next `alias-mgr apply`, an edit of its entry, or a reboot");
        }
        self.logged_for_now = now;
        removed
    }

    /// The run lock the CLI takes too; None (counted as a failure) if it
    /// cannot be had.
    async fn take_lock(&mut self, trigger: Trigger) -> Option<RunLock> {
        let config_path = self.options.config.clone();
        match tokio::task::spawn_blocking(move || crate::lock::lock(&config_path)).await {
            Ok(Ok(lock)) => Some(lock),
            Ok(Err(err)) => {
                self.failed(trigger, err);
                None
            }
            Err(err) => {
                self.failed(trigger, anyhow!("taking the run lock: {err}"));
                None
            }
        }
    }

    /// Re-reads the config (always on SIGHUP); None when the file is being
    /// written in place and the reconcile is put off until it settles.
    fn reload_config(&mut self, trigger: Trigger) -> Option<Reload> {
        let reload = self
            .config
            .refresh(&self.options.config, trigger == Trigger::Reload);
        match &reload {
            Reload::Failed(err) => {
                self.deferred = None;
                error!("config not reloaded, the previous one stays in force: {err:#}")
            }
            Reload::Deferred(wait) => {
                if self.deferred.is_none() {
                    info!(
                        "{} is being written in place; reconciling once it has been still for {} s",
                        self.options.config.display(),
                        SETTLE.as_secs()
                    );
                }
                self.deferred = Some((Instant::now() + *wait, trigger));
                return None;
            }
            Reload::Reloaded | Reload::Unchanged => self.deferred = None,
        }
        Some(reload)
    }

    /// Counts and logs what a successful reconcile did.
    fn record(
        &mut self,
        trigger: Trigger,
        reload: &Reload,
        plan: Plan,
        held_before: &HashSet<IpAddr>,
    ) {
        // Formatted lazily: a first apply of 10,000 aliases is 20,000 actions.
        let count = plan.actions.len() + plan.zone_changes.len();
        self.watch_for_table_fight(trigger, !plan.zone_changes.is_empty());
        // A config event whose file turned out unchanged (an earlier
        // reconcile of the burst read it already) repairs drift like any
        // other trigger; only the start and an explicit SIGHUP never do.
        let drift = count > 0
            && matches!(reload, Reload::Unchanged)
            && !matches!(trigger, Trigger::Startup | Trigger::Reload)
            && !self.only_interfaces_appeared(&plan)
            && !only_held_back_taken(&plan, held_before)
            && !self.only_counting_followed_interfaces(&plan);
        self.missing_interfaces = plan.missing_interfaces.clone();
        self.exporter.stats().reconciled(trigger, count, drift);
        self.plan_conflicts = plan.conflicts.len();
        self.exporter.stats().conflicts(plan.conflicts.len());
        if plan.conflicts.is_empty() {
            self.last_error = None;
        } else {
            self.failed_quietly(
                "",
                format!(
                    "{} config entr(ies) left alone, everything else reconciled:\n{}",
                    plan.conflicts.len(),
                    plan.conflicts.join("\n")
                ),
            );
        }
        if count > 0 {
            let what = if drift { "drift repaired" } else { "applied" };
            info!(
                "reconcile ({}): {what}: {count} change(s)",
                trigger.as_str()
            );
            let actions = plan.actions.iter().map(|a| a as &dyn fmt::Display);
            let zones = plan.zone_changes.iter().map(|z| z as &dyn fmt::Display);
            log_capped(actions.chain(zones), count);
        }
        self.log_pending(plan.pending);
    }

    /// With `count_on_every_interface`, an interface that comes or goes
    /// gets or loses the classifier: what the config asked for, not drift.
    fn only_counting_followed_interfaces(&self, plan: &Plan) -> bool {
        self.config
            .file()
            .config()
            .settings
            .count_on_every_interface
            && plan.zone_changes.is_empty()
            && plan
                .actions
                .iter()
                .all(|a| matches!(a, Action::Attach { .. } | Action::Detach { .. }))
    }

    /// Whether the plan only adds the aliases of interfaces that were
    /// missing: what the config asked for, not drift.
    fn only_interfaces_appeared(&self, plan: &Plan) -> bool {
        let was_missing = |a: &Action| {
            a.interface()
                .is_some_and(|name| self.missing_interfaces.contains(name))
        };
        plan.zone_changes.is_empty()
            && plan.actions.iter().any(was_missing)
            && plan
                .actions
                .iter()
                .all(|a| a.interface().is_none() || was_missing(a))
    }

    /// Logs the pending aliases when they differ from the last reconcile's.
    fn log_pending(&mut self, pending: Vec<String>) {
        if pending != self.last_pending {
            if !pending.is_empty() {
                info!("{} alias(es) pending:", pending.len());
            }
            log_capped(
                pending.iter().map(|p| p as &dyn fmt::Display),
                pending.len(),
            );
            self.last_pending = pending;
        }
    }

    fn notify_status(&self, trigger: Trigger) {
        notify(&format!(
            "STATUS=metrics on {}; last reconcile ({}) {}",
            self.listening,
            trigger.as_str(),
            if self.last_error.is_none() {
                "succeeded"
            } else {
                "failed, see the log"
            }
        ));
    }

    /// Counts reloads of the table set off by `nft monitor`, and stops
    /// listening to it for a while when they answer each other.
    fn watch_for_table_fight(&mut self, trigger: Trigger, reloaded: bool) {
        if trigger != Trigger::Nftables || !reloaded {
            self.nft_reloads_in_a_row = 0;
            return;
        }
        self.nft_reloads_in_a_row += 1;
        if self.nft_reloads_in_a_row >= NFT_FIGHT_RELOADS {
            warning!(
                "the nftables table {} {} changed after each of the last {} reloads (another tool rewriting it?); not following its changes for {} s",
                crate::core::zones::FAMILY,
                crate::core::zones::TABLE,
                self.nft_reloads_in_a_row,
                NFT_FIGHT_PAUSE.as_secs()
            );
            self.nft_ignored_until = Some(Instant::now() + NFT_FIGHT_PAUSE);
            self.nft_reloads_in_a_row = 0;
        }
    }

    fn publish_reload(&self, reload: &Reload) {
        match reload {
            Reload::Reloaded => self.exporter.stats().config_loaded(true),
            Reload::Failed(_) => self.exporter.stats().config_loaded(false),
            Reload::Unchanged | Reload::Deferred(_) => {}
        }
    }

    fn failed(&mut self, trigger: Trigger, err: anyhow::Error) {
        self.exporter.stats().reconcile_failed(trigger);
        let prefix = format!("reconcile ({}) failed: ", trigger.as_str());
        self.failed_quietly(&prefix, format!("{err:#}"));
    }

    /// Logs `prefix` and `text`, but the same `text` at most every
    /// [`REPEAT_ERROR_EVERY`], whatever triggered it.
    fn failed_quietly(&mut self, prefix: &str, text: String) {
        let repeated = self
            .last_error
            .as_ref()
            .is_some_and(|(last, at)| *last == text && at.elapsed() < REPEAT_ERROR_EVERY);
        if !repeated {
            error!("{prefix}{text}");
            self.last_error = Some((text, Instant::now()));
        }
    }

    /// Rebuilds the labels the metrics join with the counters, and
    /// announces what the reconcile added and what came back.
    async fn refresh_index(&mut self, kernel: &Kernel, applied: &Applied) {
        match kernel.addresses().await {
            Ok((interfaces, addresses)) => {
                let settings = self.config.file().config().settings;
                self.announcer
                    .after_reconcile(kernel, &settings, applied, &interfaces, &addresses)
                    .await;
                let mut conflicts = self.arp_conflicts.clone();
                conflicts.extend(self.announcer.suspects());
                self.seen.held_here = addresses
                    .iter()
                    .filter(|live| live.owned() && live.address.addr().is_ipv4())
                    .map(|live| (live.ifindex, live.address.addr()))
                    .filter(|(_, ip)| !conflicts.contains(ip))
                    .collect();
                let config = self.config.file().config();
                let mut index = AddressIndex::build(config, &interfaces, &addresses);
                index.mark_conflicts(&conflicts);
                index.mark_removed(&self.logged_for_now);
                self.exporter.set_index(index);
                self.exporter
                    .stats()
                    .conflicts(self.plan_conflicts + conflicts.len() - self.arp_conflicts.len());
            }
            Err(err) => warning!("reading addresses for the metrics labels: {err:#}"),
        }
    }
}

/// Whether the plan only adds aliases held back for an ARP conflict that
/// is over: what the config asked for all along, not drift.
fn only_held_back_taken(plan: &Plan, held_before: &HashSet<IpAddr>) -> bool {
    let taken = |action: &Action| match action {
        Action::AddAddress { address, .. } => held_before.contains(&address.addr()),
        Action::AddRoute { source, .. } => held_before.contains(source),
        Action::Track { address } => held_before.contains(address),
        Action::Attach { .. } => true,
        _ => false,
    };
    !held_before.is_empty() && plan.zone_changes.is_empty() && plan.actions.iter().all(taken)
}
