//! alias-mgr: run one Linux box as several hosts on several subnets through
//! one network card.
//!
//! # Layout
//! State lives in the kernel and in one file; every command is a short,
//! stateless reconcile: read the config, observe the kernel, plan, apply.
//! Layers, each using only those listed after it (no import cycles):
//! - `cli`: one file per command; `mod.rs` parses and dispatches.
//! - `daemon`: the reconcile loop, its event sources, reloads, readiness.
//! - `metrics`: the Prometheus families, the scrape-time collector, HTTP.
//! - `kernel`: carries out plans with rollback, DAD waits and verify, through
//!   one narrow trait (`KernelOps`) that the unit tests fake.
//! - `config` and `import`: the TOML file (load, validate, edit keeping
//!   comments) and the readers of other tools' files.
//! - `sys`: one module per outside system (netlink, nft, bpf, sysctl,
//!   inotify), each the only importer of its crate.
//! - `core`: pure model, the one parser per concept, the decisions of `add`,
//!   the planner and zone rendering; no I/O, unit-tested without root.
//! - `lock`, `runtime_state` and `logging`: the run and daemon locks, the
//!   `del --runtime` removals the daemon honours, the daemon's log lines.
//! - `web`: the HTTP edge (hyper, rustls, bcrypt, gzip), metrics-agnostic.
//!
//! The library keeps every module private: the binary needs only [`main`].
mod cli;
mod config;
mod core;
mod daemon;
mod import;
mod kernel;
mod lock;
mod logging;
mod metrics;
mod runtime_state;
mod sys;
mod web;

pub use cli::main;
