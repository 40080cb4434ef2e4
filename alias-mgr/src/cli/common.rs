//! What several commands share: the desired state from the config, printing
//! a plan, the "in sync" message, restoring after a failed save, and the refusal
//! to run the converging commands and `del` against a missing config.

use std::{fs, io, net::IpAddr, path::Path};

use anyhow::{bail, Context, Result};

use super::output;
use crate::{
    config::{ConfigError, ConfigFile},
    core::model::AliasSpec,
    core::names::split_label,
    core::plan::{Desired, Plan, Scope},
    kernel::Kernel,
};

/// Where each declared alias is written, for `--json` output: the main file
/// or a conf.d drop-in, with the line of its `[[alias]]`.
pub(super) fn declarations(file: &ConfigFile) -> serde_json::Value {
    let entries = file.config().aliases.iter().enumerate().map(|(i, alias)| {
        let declared_in = file
            .declared_at(i)
            .map(|(path, line)| format!("{}:{line}", path.display()));
        serde_json::json!({
            "interface": alias.interface,
            "address": alias.address.to_string(),
            "declared_in": declared_in,
        })
    });
    serde_json::Value::Array(entries.collect())
}

/// The desired state the config file asks for, with `aliases` in place of
/// its own list (commands pass the list as it will be after their edit).
pub(super) fn desired<'a>(file: &'a ConfigFile, aliases: &'a [AliasSpec]) -> Desired<'a> {
    Desired {
        aliases,
        ..Desired::of(file.config())
    }
}

/// ifconfig's `eth1:0` as interface and label; `:0` names no interface
/// (it would read as `interface "" does not exist`).
pub(super) fn interface_and_label(name: &str) -> Result<(&str, Option<&str>)> {
    let (interface, label) = split_label(name);
    if interface.is_empty() && label.is_some() {
        bail!("{name:?} has no interface before ':'; write a label as IFACE:SUFFIX such as eth1:0");
    }
    Ok((interface, label))
}

/// The plan as text, written at once: a line per write is a syscall per
/// step, 20,000 of them for 10,000 aliases.
pub(super) fn print_plan(plan: &Plan) {
    use std::fmt::Write as _;
    let mut text = String::new();
    for note in &plan.notes {
        let _ = writeln!(text, "note: {note}");
    }
    for pending in &plan.pending {
        let _ = writeln!(text, "pending: {pending}");
    }
    for action in &plan.actions {
        let _ = writeln!(text, "{action}");
    }
    for change in &plan.zone_changes {
        let _ = writeln!(text, "{change}");
    }
    output::print(&text);
}

/// After a failed save the file on disk is as it was: this alias's part of
/// the kernel (address, routes, counters and the zone table) converges back
/// to it. `--runtime` aliases stay: an adopted one is still marked so.
pub(super) async fn restore(
    kernel: &Kernel,
    original: &ConfigFile,
    ip: IpAddr,
    failure: ConfigError,
) -> anyhow::Error {
    let desired = Desired {
        keep_runtime: true,
        ..desired(original, &original.config().aliases)
    };
    let converged = async {
        let (_, plan) = kernel.plan(&desired, Scope::Alias(ip)).await?;
        kernel.apply(&desired, Scope::Alias(ip), &plan).await
    };
    let context = match converged.await {
        Ok(_) => "saving the config failed; the live change was rolled back".to_string(),
        Err(e) => format!("saving the config failed and rolling back also failed ({e:#})"),
    };
    anyhow::Error::new(failure).context(context)
}

/// What an empty plan means: all done, or all done that can be done now.
pub(super) fn in_sync_message(config: &Path, plan: &Plan) -> String {
    match plan.pending.len() {
        0 => format!("nothing to do: the kernel matches {}", config.display()),
        waiting => format!(
            "nothing to do now: the kernel matches {} but for the {waiting} pending item(s) above",
            config.display()
        ),
    }
}

/// `plan`, `apply` and the daemon make the kernel match the file, removing
/// what it does not list: a mistyped --config or a deleted file must not
/// read as "manage nothing".
pub(crate) fn require_config(config: &Path) -> Result<()> {
    if missing(config)? {
        bail!(
            "config {} does not exist; check --config (or ALIAS_MGR_CONFIG), or create it: `alias-mgr add` writes it, and an empty file means no aliases (apply then removes every alias alias-mgr added)",
            config.display()
        );
    }
    Ok(())
}

/// `del` removes an entry of the file and plans against the rest of it: a
/// missing file has no entry, and its "rest" would be nothing at all.
pub(super) fn require_config_to_delete(config: &Path) -> Result<()> {
    if missing(config)? {
        bail!(
            "config {} does not exist, so there is nothing to delete from it; check --config (or ALIAS_MGR_CONFIG)",
            config.display()
        );
    }
    Ok(())
}

/// Whether `config` does not exist (as opposed to existing, or failing to
/// be looked at).
pub(super) fn missing(config: &Path) -> Result<bool> {
    match fs::metadata(config) {
        Ok(_) => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(err) => Err(err).with_context(|| format!("reading config {}", config.display())),
    }
}
