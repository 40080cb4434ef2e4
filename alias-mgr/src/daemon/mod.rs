//! `alias-mgr daemon`: serves Prometheus metrics and keeps the kernel matching
//! the config.
//!
//! The daemon is thin: every reconcile is `alias-mgr apply` except that
//! `--runtime` aliases stay and a conflict holds back only its own entry
//! ([`Kernel::heal`], under the same lock as the CLI), run
//! - at startup;
//! - after netlink notifications (someone ran `ip addr del` on an owned alias,
//!   an interface with pending aliases appeared), changes to alias-mgr's
//!   nftables table (`nft monitor`) and to the config file (inotify),
//!   debounced so a burst of changes costs one reconcile: [`DEBOUNCE`] after
//!   the last notification, at most [`MAX_DELAY`] after the first;
//! - periodically, as a safety net (`--reconcile-interval`, default 60 s);
//! - on SIGHUP, which also re-reads the config.
//!
//! Each reconcile first re-reads the config file if it changed (so edits made
//! by `alias-mgr add`/`del` while the daemon runs are honoured, never fought;
//! a file written in place is read once it has been still for [`SETTLE`]);
//! a file that does not parse leaves the previous config in force and is
//! reported in the log and in `alias_mgr_config_last_reload_success`.
//! SIGTERM and SIGINT stop the daemon and leave addresses, routes, zones and
//! the pinned counters in place. With `Type=notify`, systemd is told READY=1
//! once the first reconcile is done.

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::OsStr,
    fmt,
    hash::{DefaultHasher, Hash, Hasher},
    io,
    net::SocketAddr,
    os::unix::{ffi::OsStrExt, net::UnixDatagram},
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use anyhow::{anyhow, Context, Result};
use futures::{Stream, StreamExt};
use tokio::{
    net::TcpListener,
    signal::unix::{signal, SignalKind},
    sync::watch,
    time::{sleep_until, Instant},
};

use crate::{
    config::{ConfigError, ConfigFile},
    kernel::Kernel,
    logging::{error, info, log, warning, Level},
    metrics::{self, AddressIndex, Exporter, KernelSources, Trigger},
    sys::bpf::{ClassifierLog, PinDir},
    sys::inotify::FileWatch,
    sys::memory::release_free_memory,
    sys::netlink::{self, Change},
    sys::nft,
};

/// The default listen address. Port 16100: the Prometheus project's registry
/// of exporter ports (9100-9999) has been full since 2023, so any port in it
/// may belong to another exporter on the same host; 16100 lies outside it,
/// below Linux's ephemeral range (32768-60999, so an outgoing connection
/// never holds it) and is no well-known service's. Loopback only by default:
/// the metrics name the host's addresses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:16100";
/// Quiet time after a netlink notification before reconciling.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// Longest wait after the first notification of a burst that never ends.
pub const MAX_DELAY: Duration = Duration::from_millis(800);
/// Reloads of the table in a row, each set off by `nft monitor`, after which
/// the table is taken to be fought over (another tool rewriting it, or a
/// ruleset nft reads back differently): the monitor is then ignored for
/// [`NFT_FIGHT_PAUSE`], and the periodic reconcile carries on.
const NFT_FIGHT_RELOADS: u32 = 3;
const NFT_FIGHT_PAUSE: Duration = Duration::from_secs(60);
/// How long a config file written in place must stay still before it is
/// read: an editor or `cat >` may be half-way through it.
pub const SETTLE: Duration = Duration::from_secs(1);
/// How long after the notification stream broke to subscribe again.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);
/// Identical reconcile errors are logged at most this often.
const REPEAT_ERROR_EVERY: Duration = Duration::from_secs(300);
/// Longest list of changes logged for one reconcile.
const MAX_LOGGED_CHANGES: usize = 20;

#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub pins: PinDir,
    pub listen: SocketAddr,
    /// None: no periodic reconcile (netlink events and SIGHUP still trigger one).
    pub reconcile_interval: Option<Duration>,
}

/// How often the classifier's log rings are read. The classifier logs at
/// most one warning per second per CPU, far below what a ring holds.
const CLASSIFIER_LOG_EVERY: Duration = Duration::from_secs(1);

/// Where the warnings the classifier logs with aya-log go: the daemon's log,
/// tagged with the interface, and the warnings metric.
struct ClassifierLogSink {
    interface: String,
    exporter: Arc<Exporter>,
}

impl log::Log for ClassifierLogSink {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let level = match record.level() {
            log::Level::Error | log::Level::Warn => Level::Warning,
            _ => Level::Info,
        };
        if level == Level::Warning {
            self.exporter.stats().classifier_warning();
        }
        log(
            level,
            format_args!("classifier on {}: {}", self.interface, record.args()),
        );
    }

    fn flush(&self) {}
}

/// Sends a state change to systemd (sd_notify(3)); nothing without
/// $NOTIFY_SOCKET. A plain datagram: no library needed.
fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(err) = send_notify(&path, state) {
        warning!(
            "telling systemd {:?} through {}: {err}",
            state.lines().next().unwrap_or(""),
            path.to_string_lossy()
        );
    }
}

fn send_notify(path: &OsStr, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &address)?;
        }
        None => {
            socket.send_to(state.as_bytes(), Path::new(path))?;
        }
    }
    Ok(())
}

type Changes = Pin<Box<dyn Stream<Item = Change> + Send>>;

fn subscribe() -> Result<Changes> {
    let stream =
        netlink::watch().context("subscribing to netlink link/address/route notifications")?;
    Ok(Box::pin(stream))
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

/// Notifications being debounced into one reconcile.
#[derive(Debug, Clone, Copy)]
struct Burst {
    first: Instant,
    last: Instant,
    /// What the reconcile is labelled with: the config file or the nftables
    /// table when either took part (a netlink event is their usual echo).
    trigger: Trigger,
}

impl Burst {
    fn add(burst: &mut Option<Burst>, trigger: Trigger) {
        let now = Instant::now();
        let rank = |t: Trigger| match t {
            Trigger::Config => 2,
            Trigger::Nftables => 1,
            _ => 0,
        };
        *burst = Some(match *burst {
            None => Burst {
                first: now,
                last: now,
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

    /// [`DEBOUNCE`] after the last notification, at most [`MAX_DELAY`]
    /// after the first.
    fn due(&self) -> Instant {
        (self.last + DEBOUNCE).min(self.first + MAX_DELAY)
    }
}

/// What re-reading the config found.
enum Reload {
    /// The file is as it was last read.
    Unchanged,
    /// A new version is in force.
    Reloaded,
    /// A new version did not load; the previous config stays in force.
    Failed(anyhow::Error),
    /// The file is being written in place; read it after this long.
    Deferred(Duration),
}

struct Daemon {
    options: Options,
    exporter: Arc<Exporter>,
    /// The config in force: the last version of the file that loaded.
    config: ConfigFile,
    /// Hash of what the file held (or the read error) when last read.
    fingerprint: u64,
    /// Device and inode of the file when last read.
    identity: Option<(u64, u64)>,
    /// A reconcile put off until the config file settles, and its trigger.
    deferred: Option<(Instant, Trigger)>,
    /// The log rings of the attached classifier instances, by ring map id.
    classifier_logs: BTreeMap<u32, ClassifierLog<ClassifierLogSink>>,
    /// Attached program id -> its log ring (None: built before the
    /// classifier logged), so each program is looked up once, not at every
    /// reconcile (a lookup walks every BPF program on the host).
    log_ring_of: BTreeMap<u32, Option<u32>>,
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
}

/// The config file's text as read (or why it could not be: a missing file
/// is an error, never an empty config) and a hash of it, to tell whether it
/// changed without parsing it.
struct ConfigText {
    fingerprint: u64,
    text: io::Result<String>,
    /// Device and inode: `alias-mgr add` and most editors replace the file
    /// with a rename (a new inode, complete at once); a write in place keeps it.
    identity: Option<(u64, u64)>,
    modified: Option<std::time::SystemTime>,
}

impl ConfigText {
    /// How long to wait before trusting a file that changed less than
    /// [`SETTLE`] ago, unless it replaced the previous file (a rename: a new
    /// inode, complete at once). A file that was missing before may be
    /// being written now, so it is waited for too.
    fn unsettled(&self, previous_identity: Option<(u64, u64)>) -> Option<Duration> {
        let replaced = previous_identity.is_some() && self.identity != previous_identity;
        if self.identity.is_none() || replaced {
            return None;
        }
        let age = self.modified?.elapsed().ok()?;
        SETTLE.checked_sub(age).filter(|wait| !wait.is_zero())
    }
}

fn read_config(path: &Path) -> ConfigText {
    use std::{io::Read as _, os::unix::fs::MetadataExt};
    // One open file for both the identity and the text, so they belong to
    // the same file even while it is being replaced. A missing file is an
    // error (see parse_config), not an empty config.
    let (metadata, text) = match std::fs::File::open(path) {
        Ok(mut file) => {
            let metadata = file.metadata().ok();
            let mut text = String::new();
            let read = file.read_to_string(&mut text).map(|_| text);
            (metadata, read)
        }
        Err(err) => (None, Err(err)),
    };
    let mut hasher = DefaultHasher::new();
    match &text {
        Ok(text) => text.hash(&mut hasher),
        Err(err) => err.to_string().hash(&mut hasher),
    }
    ConfigText {
        fingerprint: hasher.finish(),
        text,
        identity: metadata.as_ref().map(|m| (m.dev(), m.ino())),
        modified: metadata.and_then(|m| m.modified().ok()),
    }
}

fn parse_config(path: &Path, text: io::Result<String>) -> Result<ConfigFile> {
    match text {
        Ok(text) => ConfigFile::parse(path, &text).map_err(anyhow::Error::new),
        // Read as "no aliases", a moved file or a mistyped path would remove
        // every alias.
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(anyhow!(
            "{} does not exist (moved or deleted?); put it back, or write an empty file to manage no aliases",
            path.display()
        )),
        Err(source) => Err(anyhow::Error::new(ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })),
    }
}

/// Runs the daemon until SIGTERM or SIGINT. Fails only at startup: the port
/// is taken, the config does not load, or netlink refuses the subscription.
pub async fn run(options: Options) -> Result<()> {
    // Before anything else: SIGHUP's default action would end the process.
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    let listener = TcpListener::bind(options.listen).await.map_err(|err| {
        let hint = match err.kind() {
            io::ErrorKind::AddrInUse => {
                "; another process (another alias-mgr daemon?) has the port: stop it or pick another port with --listen ADDR:PORT"
            }
            io::ErrorKind::AddrNotAvailable => {
                "; no interface has that address: use 127.0.0.1 or an address of this host"
            }
            _ => "",
        };
        anyhow!("cannot listen on {}: {err}{hint}", options.listen)
    })?;
    let listening = listener.local_addr().unwrap_or(options.listen);

    let read = read_config(&options.config);
    let (fingerprint, identity) = (read.fingerprint, read.identity);
    let config = parse_config(&options.config, read.text).context("loading the config")?;
    let exporter = Arc::new(Exporter::new(Box::new(KernelSources::new(
        options.pins.clone(),
    ))));
    exporter.stats().config_loaded(true);
    let mut changes = Some(subscribe()?);
    // Both only make healing faster; without them, the periodic reconcile
    // and SIGHUP still work.
    let mut config_watch = FileWatch::new(&options.config)
        .map_err(|err| {
            warning!(
                "not watching {} ({err}); edits are read at the next reconcile, or at once on SIGHUP",
                options.config.display()
            )
        })
        .ok();
    let mut table_monitor = nft::TableMonitor::start()
        .map_err(|err| {
            warning!("not following nftables changes ({err:#}); a hand edit of the zone table is repaired by the periodic reconcile")
        })
        .ok();

    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(metrics::serve(listener, exporter.clone(), async move {
        let mut stopped = stopped;
        // Also resolves when the sender is gone.
        let _ = stopped.wait_for(|stop| *stop).await;
    }));
    info!(
        "daemon started: metrics on http://{listening}/metrics, config {}, pins {}",
        options.config.display(),
        options.pins.path().display()
    );

    let mut daemon = Daemon {
        exporter,
        config,
        fingerprint,
        identity,
        deferred: None,
        classifier_logs: BTreeMap::new(),
        log_ring_of: BTreeMap::new(),
        nft_reloads_in_a_row: 0,
        nft_ignored_until: None,
        missing_interfaces: BTreeSet::new(),
        last_error: None,
        last_pending: Vec::new(),
        listening,
        options,
    };
    daemon.reconcile(Trigger::Startup).await;
    notify("READY=1");

    let far_future = || Instant::now() + Duration::from_secs(86_400 * 365);
    let mut classifier_log_timer = tokio::time::interval(CLASSIFIER_LOG_EVERY);
    classifier_log_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut periodic = daemon.options.reconcile_interval.map(|every| {
        let mut timer = tokio::time::interval_at(Instant::now() + every, every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    });
    let mut burst: Option<Burst> = None;
    let mut resubscribe_at = far_future();
    let mut monitor_restart_at = far_future();
    loop {
        let due = burst.map_or_else(far_future, |b| b.due());
        let deferred_due = daemon.deferred.map_or_else(far_future, |(at, _)| at);
        tokio::select! {
            _ = terminate.recv() => {
                info!("SIGTERM: stopping");
                break;
            }
            _ = interrupt.recv() => {
                info!("SIGINT: stopping");
                break;
            }
            _ = hangup.recv() => {
                info!("SIGHUP: re-reading {} and reconciling", daemon.options.config.display());
                burst = None;
                daemon.reconcile(Trigger::Reload).await;
            }
            change = next_change(&mut changes) => match change {
                Some(change) => {
                    daemon.exporter.stats().netlink_event(change);
                    Burst::add(&mut burst, Trigger::Netlink);
                }
                None => {
                    warning!("the netlink notification stream ended; subscribing again");
                    changes = None;
                    resubscribe_at = Instant::now() + RESUBSCRIBE_DELAY;
                }
            },
            changed = next_config_change(&mut config_watch) => {
                if let Err(err) = changed {
                    warning!("watching the config file failed ({err}); edits are read at the next reconcile");
                    config_watch = None;
                } else {
                    Burst::add(&mut burst, Trigger::Config);
                }
            }
            changed = next_table_change(&mut table_monitor) => {
                let ignored = daemon
                    .nft_ignored_until
                    .is_some_and(|until| Instant::now() < until);
                if changed.is_none() {
                    warning!("nft monitor ended; starting it again in 5 s");
                    table_monitor = None;
                    monitor_restart_at = Instant::now() + Duration::from_secs(5);
                } else if ignored {
                    // A fight over the table: the periodic reconcile goes on.
                } else {
                    Burst::add(&mut burst, Trigger::Nftables);
                }
            }
            () = sleep_until(monitor_restart_at), if table_monitor.is_none() => {
                match nft::TableMonitor::start() {
                    Ok(monitor) => {
                        table_monitor = Some(monitor);
                        monitor_restart_at = far_future();
                        // A change meanwhile went unseen.
                        Burst::add(&mut burst, Trigger::Nftables);
                    }
                    Err(err) => {
                        warning!("starting nft monitor again: {err:#}; trying again in 5 s");
                        monitor_restart_at = Instant::now() + Duration::from_secs(5);
                    }
                }
            }
            () = sleep_until(resubscribe_at), if changes.is_none() => {
                match subscribe() {
                    Ok(stream) => {
                        changes = Some(stream);
                        resubscribe_at = far_future();
                        // Whatever happened meanwhile went unseen.
                        Burst::add(&mut burst, Trigger::Netlink);
                    }
                    Err(err) => {
                        warning!("{err:#}; trying again in 5 s (periodic reconciles go on)");
                        resubscribe_at = Instant::now() + Duration::from_secs(5);
                    }
                }
            }
            () = sleep_until(deferred_due), if daemon.deferred.is_some() => {
                if let Some((_, trigger)) = daemon.deferred.take() {
                    daemon.reconcile(trigger).await;
                }
            }
            () = sleep_until(due), if burst.is_some() => {
                if let Some(done) = burst.take() {
                    daemon.reconcile(done.trigger).await;
                }
            }
            _ = classifier_log_timer.tick() => daemon.drain_classifier_logs(),
            _ = tick(&mut periodic) => {
                daemon.reconcile(Trigger::Periodic).await;
            }
        }
    }
    notify("STOPPING=1");
    let _ = stop.send(true);
    if tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .is_err()
    {
        warning!("the metrics server did not stop within 2 s");
    }
    info!("stopped; addresses, routes, zones and counters stay in place");
    Ok(())
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(timer) => {
            timer.tick().await;
        }
        None => std::future::pending().await,
    }
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
    /// Re-reads the config (always when `force`, else only if the file
    /// changed) under the caller's lock.
    fn refresh_config(&mut self, force: bool) -> Reload {
        let read = read_config(&self.options.config);
        if !force && read.fingerprint == self.fingerprint {
            // Same text, maybe a new inode (`sed -i` renames even when it
            // changes nothing): remember it, or the next in-place edit
            // would look like a replacement and not be waited for.
            self.identity = read.identity;
            return Reload::Unchanged;
        }
        // SIGHUP means "the file is ready"; a change found on our own may be
        // a half-written file, which applied would remove aliases.
        if let Some(wait) = read.unsettled(self.identity).filter(|_| !force) {
            return Reload::Deferred(wait);
        }
        self.fingerprint = read.fingerprint;
        self.identity = read.identity;
        match parse_config(&self.options.config, read.text) {
            Ok(config) => {
                self.config = config;
                info!("loaded {}", self.options.config.display());
                Reload::Reloaded
            }
            Err(err) => Reload::Failed(err),
        }
    }

    /// One `alias-mgr apply`, with the outcome logged and counted. Never
    /// fails: the next trigger tries again.
    async fn reconcile(&mut self, trigger: Trigger) {
        let config_path = self.options.config.clone();
        let lock = match tokio::task::spawn_blocking(move || crate::lock::lock(&config_path)).await
        {
            Ok(Ok(lock)) => lock,
            Ok(Err(err)) => return self.failed(trigger, err),
            Err(err) => return self.failed(trigger, anyhow!("taking the run lock: {err}")),
        };
        let reload = self.refresh_config(trigger == Trigger::Reload);
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
                return;
            }
            Reload::Reloaded | Reload::Unchanged => self.deferred = None,
        }
        let kernel = match Kernel::new(self.options.pins.clone()) {
            Ok(kernel) => kernel,
            Err(err) => {
                self.publish_reload(&reload);
                return self.failed(trigger, err);
            }
        };
        // `heal`: `apply` that leaves --runtime aliases alone (deliberate, not drift).
        match kernel.heal(&self.config).await {
            Ok(plan) => {
                // Formatted lazily: a first apply of 10,000 aliases is 20,000 actions.
                let count = plan.actions.len() + plan.zone_changes.len();
                self.watch_for_table_fight(trigger, !plan.zone_changes.is_empty());
                // An interface with pending aliases appearing is what the
                // config asked for, not drift.
                let was_missing = |a: &crate::core::plan::Action| {
                    a.interface()
                        .is_some_and(|name| self.missing_interfaces.contains(name))
                };
                let only_appeared = plan.zone_changes.is_empty()
                    && plan.actions.iter().any(was_missing)
                    && plan
                        .actions
                        .iter()
                        .all(|a| a.interface().is_none() || was_missing(a));
                let drift = count > 0
                    && matches!(reload, Reload::Unchanged)
                    && matches!(
                        trigger,
                        Trigger::Netlink | Trigger::Periodic | Trigger::Nftables
                    )
                    && !only_appeared;
                self.missing_interfaces = plan.missing_interfaces.clone();
                self.exporter.stats().reconciled(trigger, count, drift);
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
                if plan.pending != self.last_pending {
                    if !plan.pending.is_empty() {
                        info!("{} alias(es) pending:", plan.pending.len());
                    }
                    log_capped(
                        plan.pending.iter().map(|p| p as &dyn fmt::Display),
                        plan.pending.len(),
                    );
                    self.last_pending = plan.pending;
                }
            }
            Err(err) => self.failed(trigger, err),
        }
        self.refresh_index(&kernel).await;
        self.follow_classifier_logs();
        // Published only now, so a scrape that sees the reload also sees its
        // result applied.
        self.publish_reload(&reload);
        drop(lock);
        drop(kernel);
        release_free_memory();
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

    /// Follows the log ring of every classifier instance attached under the
    /// pin dir, and lets go of those no longer attached.
    fn follow_classifier_logs(&mut self) {
        let pins = &self.options.pins;
        let attached = match pins.attached_interfaces() {
            Ok(names) => names,
            Err(err) => {
                return warning!("listing attached interfaces for the classifier log: {err}")
            }
        };
        // Ring id -> (a program using it, its interface).
        let mut current = BTreeMap::new();
        let mut ring_of = BTreeMap::new();
        for interface in attached {
            let ids = match pins.program_ids(&interface) {
                Ok(ids) => ids,
                Err(err) => {
                    warning!("classifier log of {interface}: {err}");
                    continue;
                }
            };
            // A program from before the classifier logged has no ring:
            // nothing to read, and nothing to warn about at every reconcile.
            for id in ids {
                let ring = match self.log_ring_of.get(&id) {
                    Some(known) => *known,
                    None => crate::sys::bpf::log_ring_id(id),
                };
                ring_of.insert(id, ring);
                if let Some(ring) = ring {
                    current.entry(ring).or_insert((id, interface.clone()));
                }
            }
        }
        self.log_ring_of = ring_of;
        // Read what is left before letting go of a ring.
        self.drain_classifier_logs();
        self.classifier_logs
            .retain(|ring, _| current.contains_key(ring));
        for (ring, (program, interface)) in current {
            if self.classifier_logs.contains_key(&ring) {
                continue;
            }
            let sink = ClassifierLogSink {
                interface: interface.clone(),
                exporter: self.exporter.clone(),
            };
            match ClassifierLog::follow(program, sink) {
                Ok(log) => {
                    self.classifier_logs.insert(ring, log);
                }
                Err(err) => warning!("classifier log of {interface}: {err}"),
            }
        }
        self.drain_classifier_logs();
    }

    fn drain_classifier_logs(&mut self) {
        for log in self.classifier_logs.values_mut() {
            if let Err(err) = log.drain() {
                warning!("{err}");
            }
        }
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

    /// Rebuilds the labels the metrics join with the counters.
    async fn refresh_index(&self, kernel: &Kernel) {
        match kernel.addresses().await {
            Ok((interfaces, addresses)) => self.exporter.set_index(AddressIndex::build(
                self.config.config(),
                &interfaces,
                &addresses,
            )),
            Err(err) => warning!("reading addresses for the metrics labels: {err:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_written_in_place_just_now_is_waited_for() {
        use std::time::SystemTime;
        let text = |identity, age: u64| ConfigText {
            fingerprint: 0,
            text: Ok(String::new()),
            identity,
            modified: SystemTime::now().checked_sub(Duration::from_millis(age)),
        };
        let wait = text(Some((1, 2)), 300).unsettled(Some((1, 2))).unwrap();
        assert!(wait <= SETTLE - Duration::from_millis(300), "{wait:?}");
        // Replaced (a new inode): complete at once.
        assert_eq!(text(Some((1, 3)), 0).unsettled(Some((1, 2))), None);
        // Still for longer than SETTLE.
        assert_eq!(text(Some((1, 2)), 1500).unsettled(Some((1, 2))), None);
        // Missing file: nothing to wait for.
        assert_eq!(text(None, 0).unsettled(None), None);
        // Created where there was none: maybe half-written, waited for.
        assert!(text(Some((1, 4)), 100).unsettled(None).is_some());
    }

    #[test]
    fn config_changes_are_seen_by_fingerprint_and_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("alias-mgr-daemon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("alias-mgr.toml");
        let _ = std::fs::remove_file(&path);

        // Missing: an error naming the file and the fix, never "no aliases".
        let missing = read_config(&path);
        let err = format!("{:#}", parse_config(&path, missing.text).unwrap_err());
        assert!(
            err.contains("alias-mgr.toml") && err.contains("does not exist"),
            "{err}"
        );
        assert_eq!(read_config(&path).fingerprint, missing.fingerprint);

        std::fs::write(
            &path,
            "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
        )
        .unwrap();
        let good = read_config(&path);
        assert_ne!(good.fingerprint, missing.fingerprint);
        assert_eq!(
            parse_config(&path, good.text)
                .unwrap()
                .config()
                .aliases
                .len(),
            1
        );

        std::fs::write(&path, "[[alias]]\ninterface = 3\n").unwrap();
        let bad = read_config(&path);
        assert_ne!(bad.fingerprint, good.fingerprint);
        let err = format!("{:#}", parse_config(&path, bad.text).unwrap_err());
        assert!(err.contains("alias-mgr.toml:2:"), "{err}");

        // A directory where the file should be: a read error, reported with the path.
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = format!(
            "{:#}",
            parse_config(&path, read_config(&path).text).unwrap_err()
        );
        assert!(err.contains("alias-mgr.toml"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_sends_one_datagram_to_the_socket() {
        let dir = std::env::temp_dir().join(format!("alias-mgr-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        send_notify(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        // Abstract sockets ("@name") as systemd may hand out.
        let name = format!("alias-mgr-test-{}", std::process::id());
        let address = {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
        };
        let abstract_receiver = UnixDatagram::bind_addr(&address).unwrap();
        send_notify(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = abstract_receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
