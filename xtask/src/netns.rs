//! Shell helpers for the demo and the benchmarks over testkit's guards
//! (shared with the integration tests): commands in the root or a named
//! network namespace, namespaces deleted and processes stopped on drop.

use anyhow::Result;
pub use testkit::{Netns, Process};

/// Runs a command; its stdout, or an error with what it printed.
pub fn sh(args: &[&str]) -> Result<String> {
    Ok(testkit::sh(args)?)
}

/// Runs a command in network namespace `ns`. `nsenter --net` keeps the
/// mount namespace (`ip netns exec` would remount /sys and hide bpffs).
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String> {
    let netns = format!("--net=/run/netns/{ns}");
    let mut full = vec!["nsenter", netns.as_str()];
    full.extend_from_slice(args);
    sh(&full)
}
