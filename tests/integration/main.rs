//! Root-only integration tests: each builds its own network namespaces and
//! bpffs pin directory and removes them on drop, also when it fails.
mod aliases;
mod bad_input;
mod check;
mod cli_safety;
mod concurrency;
mod config_safety;
mod continuity;
mod counters;
mod crash;
mod daemon;
mod dropins;
mod fleet;
mod foreign;
mod forwarding;
mod lan;
mod scale;
mod semantics;
mod service;
mod tcx;
mod top;
mod util;
mod web;
mod zones;
