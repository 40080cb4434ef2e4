//! Shell helpers shared by the demo and the benchmarks: commands in the
//! root or a named network namespace, and a child process stopped on drop.

use std::process::{Child, Command};

use anyhow::{bail, Context, Result};

/// Runs a command; its stdout, or an error with its stderr.
pub fn sh(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command in network namespace `ns`. `nsenter --net` keeps the
/// mount namespace (`ip netns exec` would remount /sys and hide bpffs).
pub fn in_ns(ns: &str, args: &[&str]) -> Result<String> {
    let netns = format!("--net=/run/netns/{ns}");
    let mut full = vec!["nsenter", netns.as_str()];
    full.extend_from_slice(args);
    sh(&full)
}

/// A background process (the daemon), sent SIGTERM and reaped on drop.
pub struct Background(pub Child);

impl Drop for Background {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}
