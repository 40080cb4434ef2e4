//! `alias-mgr del`: find the alias from an address or a label, refuse what
//! alias-mgr does not own, apply the removal, then save the config or roll
//! the live change back.

use std::{net::IpAddr, path::Path};

use crate::runtime_state::RuntimeState;
use anyhow::{anyhow, bail, Result};

use super::{
    common::{desired, interface_and_label, print_plan, require_config_to_delete, restore},
    output::say,
};
use crate::{
    config::ConfigFile,
    core::model::{AliasSpec, Interface, LiveAddress},
    core::plan::{Desired, Scope},
    kernel::Kernel,
    lock::lock,
    sys::bpf::PinDir,
};

pub(super) async fn del(
    config: &Path,
    pins: PinDir,
    target: &str,
    address: Option<&str>,
    runtime: bool,
) -> Result<()> {
    let (interface, label) = interface_and_label(target)?;
    let parsed = address.map(super::parse_address).transpose()?;
    let _lock = lock(config)?;
    require_config_to_delete(config)?;
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let observed = kernel.observe([interface]).await?;
    let target = Target {
        interface,
        interfaces: &observed.interfaces,
        live: &observed.addresses,
        declared: &file.config().aliases,
    };
    let ip = target
        .address(parsed.map(|(ip, _)| ip), label)
        .map_err(|e| anyhow!(e))?;
    let declared = target
        .check_removable(ip, &config.display().to_string())
        .map_err(|e| anyhow!(e))?;

    let (removed, aliases): (Vec<AliasSpec>, Vec<AliasSpec>) = file
        .config()
        .aliases
        .iter()
        .cloned()
        .partition(|a| a.interface == interface && a.ip() == ip);
    // Out for now only: the next apply brings it back, with its count.
    let keep_counting = if runtime { removed.as_slice() } else { &[] };
    let desired = Desired {
        keep_counting,
        ..desired(&file, &aliases)
    };
    let mut edited = file.clone();
    if !runtime && declared && !edited.remove_alias(interface, ip) {
        bail!(
            "{ip} on {interface:?} is declared in {}, but its [[alias]] table could not be found to remove; nothing was changed: remove it by hand, then run `alias-mgr apply`",
            config.display()
        );
    }
    let plan = kernel.plan_observed(&desired, &observed, Scope::Alias(ip))?;
    print_plan(&plan);
    kernel.apply(&desired, Scope::Alias(ip), &plan).await?;
    if !runtime && declared {
        if let Err(err) = edited.save() {
            return Err(restore(&kernel, &file, ip, err).await);
        }
    }
    say!(
        "removed {ip} from {interface:?}{}",
        if runtime {
            " (live only, --runtime)".to_string()
        } else if declared && edited.edited_path() != config {
            format!(" and its entry from {}", edited.edited_path().display())
        } else {
            String::new()
        }
    );
    if runtime && declared {
        say!("{}", hold_for_now(config, &removed));
    }
    Ok(())
}

/// Records a `--runtime` removal of a declared alias for the daemon, and
/// says what happens to it next.
fn hold_for_now(config: &Path, removed: &[AliasSpec]) -> String {
    let mut state = RuntimeState::load(config);
    for alias in removed {
        state.remove_for_now(alias);
    }
    let daemon = crate::lock::daemon_of(config);
    match (state.save(config), daemon) {
        (Ok(()), Some(pid)) => format!(
            "the daemon (pid {pid}) keeps it out until the next `alias-mgr apply`, an edit of its entry in {}, or a reboot",
            config.display()
        ),
        (Ok(()), None) => {
            "`alias-mgr apply` (or the next boot) brings it back; a daemon started meanwhile keeps it out".into()
        }
        (Err(err), Some(pid)) => format!(
            "warning: {err:#}: the daemon (pid {pid}) cannot know this removal is deliberate and will put the alias back"
        ),
        (Err(err), None) => format!(
            "warning: {err:#}: a daemon started later will put the alias back"
        ),
    }
}

/// What `del` decides against: the interface named, the observed state and
/// the config's aliases.
struct Target<'a> {
    interface: &'a str,
    interfaces: &'a [Interface],
    live: &'a [LiveAddress],
    declared: &'a [AliasSpec],
}

impl Target<'_> {
    /// The address a label names: the live label (IPv4) or the config's
    /// (both families).
    fn labelled(&self, label: &str) -> Option<IpAddr> {
        let interface = self.interface;
        self.live
            .iter()
            .find(|a| a.interface == interface && a.label.as_deref() == Some(label))
            .map(|a| a.address.addr())
            .or_else(|| {
                self.declared
                    .iter()
                    .find(|a| a.interface == interface && a.label.as_deref() == Some(label))
                    .map(|a| a.ip())
            })
    }

    /// The address to remove, from the address given, the label, or both
    /// (which must agree).
    fn address(&self, given: Option<IpAddr>, label: Option<&str>) -> Result<IpAddr, String> {
        let interface = self.interface;
        match (given, label) {
            (Some(ip), Some(label)) => match self.labelled(label) {
                Some(named) if named == ip => Ok(ip),
                Some(named) => Err(format!(
                    "{label:?} is {named}, not {ip}; give the label or the address alone"
                )),
                None => Err(format!(
                    "no alias labelled {label:?} on {interface:?}; give the address alone (`alias-mgr del {interface:?} {ip}`), see `alias-mgr list {interface:?}`"
                )),
            },
            (Some(ip), None) => Ok(ip),
            (None, Some(label)) => self.labelled(label).ok_or_else(|| {
                format!("no alias labelled {label:?} on {interface:?}; see `alias-mgr list {interface:?}`")
            }),
            (None, None) => Err(format!("which address? use `alias-mgr del {interface:?} ADDR`, or the alias's label alone, e.g. `alias-mgr del {:?}`", format!("{interface}:0"))),
        }
    }

    /// Refuses an address alias-mgr did not add or knows nothing of;
    /// otherwise whether the config declares it.
    fn check_removable(&self, ip: IpAddr, config: &str) -> Result<bool, String> {
        let interface = self.interface;
        let live_here = self
            .live
            .iter()
            .find(|a| a.interface == interface && a.address.addr() == ip);
        let declared = self
            .declared
            .iter()
            .any(|a| a.interface == interface && a.ip() == ip);
        if let Some(found) = live_here.filter(|a| !a.owned()) {
            return Err(format!(
                "{} on {interface:?} was not added by alias-mgr, which leaves it alone; remove it with `ip addr del {} dev {interface:?}`",
                found.address, found.address
            ));
        }
        if live_here.is_none() && !declared {
            if !self.interfaces.iter().any(|i| i.name == interface) {
                return Err(format!(
                    "interface {interface:?} does not exist and no alias {ip} is declared for it; check the name with `ip link`"
                ));
            }
            return Err(format!(
                "{ip} is neither on {interface:?} nor declared for it in {config}; see `alias-mgr list`"
            ));
        }
        Ok(declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        fixtures::{alias, interface, ip, live, AliasBuilder, LiveBuilder, FOREIGN},
        model::OWNER_PROTO,
    };

    #[test]
    fn labels_name_live_or_declared_addresses_and_must_agree_with_one_given() {
        let interfaces = [interface("eth1", 2)];
        let live = [live("eth1", 2, "192.168.0.1/24", OWNER_PROTO).label("eth1:0")];
        let declared = [alias("eth1", "2001:db8::1/64").label("eth1:v6")];
        let target = Target {
            interface: "eth1",
            interfaces: &interfaces,
            live: &live,
            declared: &declared,
        };
        assert_eq!(target.address(None, Some("eth1:0")), Ok(ip("192.168.0.1")));
        assert_eq!(target.address(None, Some("eth1:v6")), Ok(ip("2001:db8::1")));
        assert_eq!(
            target.address(Some(ip("192.168.0.1")), Some("eth1:0")),
            Ok(ip("192.168.0.1"))
        );
        assert_eq!(
            target.address(Some(ip("10.0.0.1")), None),
            Ok(ip("10.0.0.1"))
        );
        let err = target
            .address(Some(ip("192.168.0.2")), Some("eth1:0"))
            .unwrap_err();
        assert_eq!(
            err,
            r#""eth1:0" is 192.168.0.1, not 192.168.0.2; give the label or the address alone"#
        );
        let err = target.address(None, Some("eth1:9")).unwrap_err();
        assert!(
            err.starts_with(r#"no alias labelled "eth1:9" on "eth1""#),
            "{err}"
        );
        let err = target.address(None, None).unwrap_err();
        assert!(err.starts_with("which address?"), "{err}");
    }

    #[test]
    fn only_owned_or_declared_addresses_are_removable() {
        let interfaces = [interface("eth1", 2)];
        let live = [
            live("eth1", 2, "192.168.0.1/24", OWNER_PROTO),
            live("eth1", 2, "192.168.0.2/24", FOREIGN),
        ];
        let declared = [alias("eth1", "192.168.0.3/24")];
        let target = Target {
            interface: "eth1",
            interfaces: &interfaces,
            live: &live,
            declared: &declared,
        };
        let config = "/etc/alias-mgr/alias-mgr.toml";
        assert_eq!(target.check_removable(ip("192.168.0.1"), config), Ok(false));
        assert_eq!(target.check_removable(ip("192.168.0.3"), config), Ok(true));
        let err = target
            .check_removable(ip("192.168.0.2"), config)
            .unwrap_err();
        assert!(err.contains("was not added by alias-mgr"), "{err}");
        let err = target
            .check_removable(ip("192.168.0.4"), config)
            .unwrap_err();
        assert_eq!(
            err,
            r#"192.168.0.4 is neither on "eth1" nor declared for it in /etc/alias-mgr/alias-mgr.toml; see `alias-mgr list`"#
        );
        let gone = Target {
            interface: "eth9",
            ..target
        };
        let err = gone.check_removable(ip("192.168.0.1"), config).unwrap_err();
        assert_eq!(
            err,
            r#"interface "eth9" does not exist and no alias 192.168.0.1 is declared for it; check the name with `ip link`"#
        );
    }
}
