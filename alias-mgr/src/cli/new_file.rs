//! `add` and `import --write` with a config file that does not exist start
//! it. So does a mistyped --config, and the next `apply` of that new file
//! would remove everything of alias-mgr's it does not list; so while the
//! kernel holds state no such file would declare, they refuse, name that
//! state and the file it likely belongs to, and say how to start a file on
//! purpose.

use std::{net::IpAddr, path::Path};

use anyhow::{bail, Result};

use super::DEFAULT_CONFIG;
use crate::{
    core::{model::OWNER_PROTO, plan::Observed, zones},
    kernel::Kernel,
};

/// How many addresses a message names before it counts the rest.
const NAMED: usize = 3;

/// alias-mgr's state in the kernel and the pin directory.
pub(super) struct Held<'a> {
    pub observed: &'a Observed,
    /// Whether alias-mgr's nftables table is loaded.
    pub table: bool,
    pub pin_dir: &'a Path,
}

impl<'a> Held<'a> {
    /// What `kernel` holds, given what the caller observed of it.
    pub(super) fn of(observed: &'a Observed, kernel: &'a Kernel) -> Self {
        Held {
            observed,
            table: kernel.zone_table_loaded(),
            pin_dir: kernel.system().pins().path(),
        }
    }
}

/// Refuses to start `config` declaring `aliases` (interface, address)
/// while `held` has state that file would not declare.
pub(super) fn check(config: &Path, held: &Held, aliases: &[(&str, IpAddr)]) -> Result<()> {
    let found = held.undeclared(aliases);
    if !found.is_empty() {
        let default = Path::new(DEFAULT_CONFIG);
        let default_exists = config != default && default.exists();
        bail!("{}", refusal(config, &found, default_exists));
    }
    Ok(())
}

impl Held<'_> {
    /// What a file declaring only `aliases` would not declare: owned
    /// addresses (not `--runtime` ones: those are no file's), the nftables
    /// table, counters and classifiers pinned for other aliases.
    fn undeclared(&self, aliases: &[(&str, IpAddr)]) -> Vec<String> {
        let observed = self.observed;
        let declares_ip = |ip: &IpAddr| aliases.iter().any(|(_, declared)| declared == ip);
        let declares_interface = |name: &str| aliases.iter().any(|(i, _)| *i == name);
        let addresses: Vec<String> = observed
            .addresses
            .iter()
            .filter(|a| a.protocol == OWNER_PROTO)
            .filter(|a| !aliases.contains(&(a.interface.as_str(), a.address.addr())))
            .map(|a| format!("{} on {}", a.address, a.interface))
            .collect();
        let mut found = named(addresses, "address(es)");
        if self.table {
            found.push(format!("nftables table {} {}", zones::FAMILY, zones::TABLE));
        }
        let runtime = || observed.addresses.iter().filter(|a| a.runtime());
        let counted: Vec<String> = observed
            .tracked
            .iter()
            .filter(|t| !declares_ip(t) && !runtime().any(|a| a.address.addr() == **t))
            .map(ToString::to_string)
            .collect();
        let classified: Vec<String> = observed
            .attached
            .iter()
            .filter(|name| !declares_interface(name) && !runtime().any(|a| &a.interface == *name))
            .cloned()
            .collect();
        let mut pinned = Vec::new();
        if !counted.is_empty() {
            pinned.push(format!("counters for {}", joined(&named(counted, "more"))));
        }
        if !classified.is_empty() {
            pinned.push(format!("the classifier on {}", joined(&classified)));
        }
        if !pinned.is_empty() {
            found.push(format!(
                "{} pinned in {}",
                joined(&pinned),
                self.pin_dir.display()
            ));
        }
        found
    }
}

/// The first few of `items`, then how many more.
fn named(mut items: Vec<String>, more: &str) -> Vec<String> {
    if items.len() > NAMED {
        let rest = items.len() - NAMED;
        items.truncate(NAMED);
        items.push(format!("{rest} more {more}"));
    }
    items
}

/// "a", "a and b", "a, b and c".
fn joined(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    }
}

fn refusal(config: &Path, found: &[String], default_exists: bool) -> String {
    let likely = if default_exists {
        format!("the default {DEFAULT_CONFIG}")
    } else {
        "the file that declared them".to_string()
    };
    format!(
        "config {} does not exist, and alias-mgr holds {} that a new file there would not declare (its next `alias-mgr apply` would remove them): give {likely} with --config (or ALIAS_MGR_CONFIG); to start a new file anyway, create it empty first: `touch {config:?}`",
        config.display(),
        joined(found),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        fixtures::{interface, ip, live},
        model::RUNTIME_PROTO,
    };

    fn observed() -> Observed {
        Observed {
            interfaces: vec![interface("eth1", 2), interface("eth2", 3)],
            addresses: vec![
                live("eth1", 2, "192.168.0.1/24", OWNER_PROTO),
                live("eth1", 2, "10.0.0.1/8", 0),
                live("eth2", 3, "192.168.9.1/24", RUNTIME_PROTO),
            ],
            tracked: [ip("192.168.0.1"), ip("192.168.9.1")].into(),
            attached: ["eth1".to_string(), "eth2".to_string()].into(),
            ..Observed::default()
        }
    }

    #[test]
    fn owned_addresses_the_table_and_their_pins_are_named_runtime_ones_are_not() {
        let observed = observed();
        let held = Held {
            observed: &observed,
            table: true,
            pin_dir: Path::new("/sys/fs/bpf/alias-mgr"),
        };
        assert_eq!(
            held.undeclared(&[("eth1", ip("192.168.5.1"))]),
            [
                "192.168.0.1/24 on eth1",
                "nftables table inet alias_mgr",
                "counters for 192.168.0.1 pinned in /sys/fs/bpf/alias-mgr"
            ]
        );
        // On eth3, eth1's classifier would not be the new file's either.
        let found = held.undeclared(&[("eth3", ip("192.168.5.1"))]);
        assert_eq!(
            found[2],
            "counters for 192.168.0.1 and the classifier on eth1 pinned in /sys/fs/bpf/alias-mgr"
        );
        // The one alias the new file declares is no reason to refuse.
        let no_table = Held {
            table: false,
            ..held
        };
        assert!(no_table
            .undeclared(&[("eth1", ip("192.168.0.1"))])
            .is_empty());
    }

    #[test]
    fn many_addresses_are_counted_not_listed() {
        let mut observed = Observed::default();
        for n in 1..=5 {
            let cidr = format!("192.168.{n}.1/24");
            observed.addresses.push(live("eth1", 2, &cidr, OWNER_PROTO));
        }
        let held = Held {
            observed: &observed,
            table: false,
            pin_dir: Path::new("/p"),
        };
        assert_eq!(
            joined(&held.undeclared(&[("eth1", ip("10.0.0.1"))])),
            "192.168.1.1/24 on eth1, 192.168.2.1/24 on eth1, 192.168.3.1/24 on eth1 and 2 more address(es)"
        );
    }

    #[test]
    fn the_refusal_names_the_likely_file_and_the_deliberate_way() {
        let found = ["192.168.0.1/24 on eth1".to_string()];
        let config = Path::new("/tmp/typo.toml");
        let message = refusal(config, &found, true);
        assert_eq!(
            message,
            "config /tmp/typo.toml does not exist, and alias-mgr holds 192.168.0.1/24 on eth1 that a new file there would not declare (its next `alias-mgr apply` would remove them): give the default /etc/alias-mgr/alias-mgr.toml with --config (or ALIAS_MGR_CONFIG); to start a new file anyway, create it empty first: `touch \"/tmp/typo.toml\"`"
        );
        assert!(refusal(config, &found, false).contains("give the file that declared them with"));
    }
}
