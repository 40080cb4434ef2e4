//! `alias-mgr add`: observe the interface, let [`crate::core::admit`]
//! decide, apply the plan, then save the config or roll the live change back.

use std::path::{Path, PathBuf};

use crate::runtime_state::RuntimeState;
use anyhow::{anyhow, bail, Result};

use super::{
    announce,
    common::{desired, interface_and_label, missing, print_plan, restore},
    new_file::{self, Held},
    output::{say, say_warning},
};
use crate::{
    config::ConfigFile,
    core::admit::{self, Admission, AliasRequest, Seen},
    core::model::{AliasSpec, LiveAddress, RouteSpec, OWNER_PROTO},
    core::plan::{Desired, Observed, Scope},
    kernel::Kernel,
    lock::lock,
    sys::bpf::PinDir,
};

/// The arguments of `add`, the netmask words already folded into `address`.
pub(super) struct AddRequest {
    pub interface: String,
    pub address: String,
    pub label: Option<String>,
    pub zone: Option<String>,
    pub routes: Vec<RouteSpec>,
    /// The drop-in to record the entry in (None: the main file).
    pub file: Option<PathBuf>,
    pub runtime: bool,
}

impl AddRequest {
    /// ifconfig's `eth1:0` names the interface and the label; a --label that
    /// says otherwise is refused.
    fn with_label_from_name(mut self) -> Result<Self> {
        if let (interface, Some(label)) = interface_and_label(&self.interface)? {
            if self.label.as_deref().is_some_and(|given| given != label) {
                bail!(
                    "{:?} names label {label:?} but --label says {:?}; give one of them",
                    self.interface,
                    self.label.as_deref().unwrap_or_default()
                );
            }
            self.label = Some(label.to_string());
            self.interface = interface.to_string();
        }
        Ok(self)
    }
}

pub(super) async fn add(config: &Path, pins: PinDir, request: AddRequest) -> Result<()> {
    let request = request.with_label_from_name()?;
    let _lock = lock(config)?;
    // A --runtime add writes no file, so it starts none.
    let starting = !request.runtime && missing(config)?;
    let mut file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    // One observation serves the checks below and the plan.
    let observed = kernel.observe([request.interface.as_str()]).await?;
    let Some(iface) = observed
        .interfaces
        .iter()
        .find(|i| i.name == request.interface)
    else {
        bail!(
            "interface {:?} does not exist; check the name with `ip link`",
            request.interface
        );
    };
    let live = &observed.addresses;

    let (ip, prefix) = super::parse_address(&request.address)?;
    if starting {
        let held = Held::of(&observed, &kernel);
        new_file::check(config, &held, &[(iface.name.as_str(), ip)])?;
    }
    let choice = admit::choose_prefix(ip, prefix, iface, live).map_err(|e| anyhow!(e))?;
    if let Some(note) = &choice.note {
        say!("note: {note}");
    }
    let address = admit::alias_address(ip, choice.prefix).map_err(|e| anyhow!(e))?;
    let config_name = file.path().display().to_string();
    let seen = Seen {
        interface: iface,
        live,
        declared: &file.config().aliases,
        config: &config_name,
    };
    let runtime = request.runtime;
    let alias_request = AliasRequest {
        label: request.label,
        zone: request.zone,
        routes: request.routes,
        runtime,
    };
    let Admission { alias, adopted } =
        admit::admit(&seen, address, alias_request).map_err(|e| anyhow!(e))?;

    let record_in = request.file.as_deref();
    apply_and_record(&kernel, &mut file, &observed, &alias, (runtime, record_in)).await?;
    if let Some(existing) = adopted {
        mark_as_owned(&kernel, existing).await;
    }
    say!(
        "{}",
        added_message(file.edited_path(), &alias, adopted.is_some(), runtime)
    );
    // Back in: a `del --runtime` of it no longer holds.
    let mut state = RuntimeState::load(config);
    if state.forget(&alias.interface, alias.ip()) {
        if let Err(err) = state.save(config) {
            say!("warning: {err:#}");
        }
    }
    if let (true, Some(pid)) = (runtime, crate::lock::daemon_of(config)) {
        say!("the daemon (pid {pid}) leaves it alone until the next `alias-mgr apply` or a reboot");
    }
    Ok(())
}

/// Adds `alias` to the file (which validates it before any change), applies
/// the plan for it, and saves the file unless `runtime`; when saving fails
/// the live change is rolled back.
async fn apply_and_record(
    kernel: &Kernel,
    file: &mut ConfigFile,
    observed: &Observed,
    alias: &AliasSpec,
    (runtime, record_in): (bool, Option<&Path>),
) -> Result<()> {
    let ip = alias.ip();
    // Validates zone names, duplicates and the rest before any change.
    let original = file.clone();
    let before = file.config().aliases.clone();
    match record_in {
        Some(drop_in) => file.add_alias_to(alias, drop_in)?,
        None => file.add_alias(alias)?,
    }
    let mut aliases = before;
    aliases.push(alias.clone());
    let runtime_ips = [ip];
    let desired = Desired {
        runtime: if runtime { &runtime_ips } else { &[] },
        ..desired(file, &aliases)
    };
    let plan = kernel.plan_observed(&desired, observed, Scope::Alias(ip))?;
    print_plan(&plan);
    let applied = kernel.apply(&desired, Scope::Alias(ip), &plan).await?;
    if !runtime {
        if let Err(err) = file.save() {
            return Err(restore(kernel, &original, ip, err).await);
        }
    }
    announce::follow_up(file, &applied);
    Ok(())
}

/// The kernel's mark follows the adoption: a later removal from the file
/// must read as "no longer wanted", not as a deliberate --runtime alias.
async fn mark_as_owned(kernel: &Kernel, existing: &LiveAddress) {
    if let Err(err) = kernel.remark_address(existing, OWNER_PROTO).await {
        say_warning!(
            "{err:#}; the kernel still marks {} as --runtime",
            existing.address.addr()
        );
    }
}

fn added_message(config: &Path, alias: &AliasSpec, adopted: bool, runtime: bool) -> String {
    let where_ = if runtime {
        "live only, --runtime".to_string()
    } else {
        format!("saved in {}", config.display())
    };
    format!(
        "{} {} on {:?}{} ({where_})",
        if adopted {
            "kept (no longer --runtime)"
        } else {
            "added"
        },
        alias.address,
        alias.interface,
        alias
            .label
            .as_deref()
            .map(|l| match alias.ip().is_ipv4() {
                true => format!(" as {l:?}"),
                // The kernel keeps no IPv6 label: it is the file's name for it.
                false => format!(" (labelled {l:?} in the file)"),
            })
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(interface: &str, label: Option<&str>) -> AddRequest {
        AddRequest {
            interface: interface.into(),
            address: "192.168.0.9/24".into(),
            label: label.map(Into::into),
            zone: None,
            routes: vec![],
            file: None,
            runtime: false,
        }
    }

    #[test]
    fn an_ifconfig_name_sets_the_label_unless_label_disagrees() {
        let named = request("eth1:web", None).with_label_from_name().unwrap();
        assert_eq!(
            (named.interface.as_str(), named.label.as_deref()),
            ("eth1", Some("eth1:web"))
        );
        let same = request("eth1:web", Some("eth1:web"))
            .with_label_from_name()
            .unwrap();
        assert_eq!(same.label.as_deref(), Some("eth1:web"));
        let err = request("eth1:web", Some("eth1:0"))
            .with_label_from_name()
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            r#""eth1:web" names label "eth1:web" but --label says "eth1:0"; give one of them"#
        );
        let plain = request("eth1", Some("eth1:0"))
            .with_label_from_name()
            .unwrap();
        assert_eq!(
            (plain.interface.as_str(), plain.label.as_deref()),
            ("eth1", Some("eth1:0"))
        );
    }

    #[test]
    fn the_summary_says_whether_the_alias_was_added_or_kept_and_where() {
        let alias = AliasSpec {
            interface: "eth1".into(),
            address: "192.168.0.9/24".parse().unwrap(),
            label: Some("eth1:0".into()),
            zone: None,
            routes: vec![],
            arp_probe_ms: None,
        };
        let config = Path::new("/etc/alias-mgr/alias-mgr.toml");
        assert_eq!(
            added_message(config, &alias, false, false),
            r#"added 192.168.0.9/24 on "eth1" as "eth1:0" (saved in /etc/alias-mgr/alias-mgr.toml)"#
        );
        assert_eq!(
            added_message(config, &alias, true, false),
            r#"kept (no longer --runtime) 192.168.0.9/24 on "eth1" as "eth1:0" (saved in /etc/alias-mgr/alias-mgr.toml)"#
        );
        let ipv6 = AliasSpec {
            address: "2001:db8::9/64".parse().unwrap(),
            ..alias.clone()
        };
        assert_eq!(
            added_message(config, &ipv6, false, false),
            r#"added 2001:db8::9/64 on "eth1" (labelled "eth1:0" in the file) (saved in /etc/alias-mgr/alias-mgr.toml)"#
        );
        let unlabelled = AliasSpec {
            label: None,
            ..alias
        };
        assert_eq!(
            added_message(config, &unlabelled, false, true),
            r#"added 192.168.0.9/24 on "eth1" (live only, --runtime)"#
        );
    }
}
