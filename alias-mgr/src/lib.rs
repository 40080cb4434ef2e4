//! alias-mgr: run one Linux box as several hosts on several subnets through
//! one network card.
//!
//! # Layout
//! State lives in the kernel and in one file; every command is a short,
//! stateless reconcile: read the config, observe the kernel, plan, apply.
//! - [`model`]: plain data (desired aliases, live addresses and routes).
//! - [`config`]: the declarative TOML file (parse, validate, edit keeping comments).
//! - [`import`]: reads ifupdown, Darwin iftab and NetBSD ifaliases files.
//! - [`plan`]: the pure planner: desired vs live state to a list of actions.
//! - [`netlink`]: addresses, routes and links over rtnetlink.
//! - [`zones`]: the pure zone planner: config -> nftables table contents, batch, diff.
//! - [`nft`]: alias-mgr's nftables table (zones) through `nft -j`.
//! - [`sysctl`]: the per-interface sysctls alias-mgr checks or sets.
//! - [`bpf`]: the TC classifier, its pinned counters map and TCX links (aya).
//! - [`apply`]: runs a plan against the kernel, rolling back on failure.
//! - [`cli`]: command-line parsing and the commands (thin; calls the rest).
//! - [`daemon`]: `alias-mgr daemon`: reconciles on netlink and nftables events,
//!   config file changes, SIGHUP and a timer.
//! - [`inotify`]: watches the config file for the daemon.
//! - [`metrics`]: the Prometheus collector (reads the pinned maps and nft when
//!   scraped) and the `/metrics` HTTP endpoint.
pub mod apply;
pub mod bpf;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod import;
pub mod inotify;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod nft;
pub mod plan;
pub mod sysctl;
pub mod zones;
