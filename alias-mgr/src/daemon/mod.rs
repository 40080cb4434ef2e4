//! `alias-mgr daemon`: serves Prometheus metrics and keeps the kernel matching
//! the config.
//!
//! The daemon is thin: every reconcile is `alias-mgr apply` except that
//! `--runtime` aliases stay and a conflict holds back only its own entry
//! ([`Kernel::heal`](crate::kernel::Kernel::heal), under the same lock as
//! the CLI), run
//! - at startup;
//! - after netlink notifications (someone ran `ip addr del` on an owned alias,
//!   an interface with pending aliases appeared), changes to alias-mgr's
//!   nftables table (`nft monitor`) and to the config file (inotify),
//!   the first after a quiet spell at once, those following it coalesced
//!   into one more, [`DEBOUNCE`](events::DEBOUNCE) after the last
//!   notification, at most [`MAX_DELAY`](events::MAX_DELAY) after the first;
//! - periodically, as a safety net (`--reconcile-interval`, default 60 s);
//! - on SIGHUP, which also re-reads the config.
//!
//! Each reconcile first re-reads the config file if it changed (so edits made
//! by `alias-mgr add`/`del` while the daemon runs are honoured, never fought;
//! a file written in place is read once it has been still for
//! [`SETTLE`](reload::SETTLE));
//! a file that does not parse leaves the previous config in force and is
//! reported in the log and in `alias_mgr_config_last_reload_success`.
//! SIGTERM and SIGINT stop the daemon and leave addresses, routes, zones and
//! the pinned counters in place. With `Type=notify`, systemd is told READY=1
//! once the first reconcile is done.
//!
//! Uses `kernel` (reconciles under the run `lock`), `metrics` (the counters
//! it updates and the server it runs), `config`, `sys` and `logging`;
//! only `cli` uses it.
//! - `service`: [`run`], the loop and each reconcile's steps;
//! - `events`: signals, netlink, inotify, `nft monitor`, timers, debounce;
//! - `reload`: reading the config file, settling, reloads;
//! - `classifier_log`: following the eBPF classifier's log rings;
//! - `notify`: readiness, status and the watchdog for systemd;
//! - `serving`: the metrics port, its exposure warning, the web server task.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::sys::bpf::PinDir;

mod announcer;
mod classifier_log;
mod events;
mod notify;
mod reload;
mod service;
mod serving;

pub use service::run;

/// The default listen address. Port 16100: the Prometheus project's registry
/// of exporter ports (9100-9999) has been full since 2023, so any port in it
/// may belong to another exporter on the same host; 16100 lies outside it,
/// below Linux's ephemeral range (32768-60999, so an outgoing connection
/// never holds it) and is no well-known service's. Loopback only by default:
/// the metrics name the host's addresses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:16100";

#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub pins: PinDir,
    pub listen: SocketAddr,
    /// The exporter-toolkit web config (TLS, basic auth), if any.
    pub web_config: Option<PathBuf>,
    /// None: no periodic reconcile (netlink events and SIGHUP still trigger one).
    pub reconcile_interval: Option<Duration>,
}
