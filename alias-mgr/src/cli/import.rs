//! `alias-mgr import`: legacy alias configuration (ifupdown, iftab,
//! ifaliases) as alias-mgr config, printed or merged into the file.

use std::{io, path::Path};

use anyhow::{anyhow, Result};

use super::{
    new_file::{self, Held},
    output::{self, say, say_warning},
};
use crate::{
    config::ConfigFile,
    core::model::AliasSpec,
    import::{self, ImportFormat},
    kernel::Kernel,
    lock::lock,
    sys::bpf::PinDir,
};

/// Whether this network namespace has an interface called `name`.
pub(super) fn interface_exists(name: &str) -> bool {
    std::ffi::CString::new(name).is_ok_and(|name| {
        // SAFETY: a valid NUL-terminated string; the call only reads it.
        unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
    })
}

/// Why the file to import cannot be read, and what to do about it.
fn unreadable(path: &Path, err: &io::Error) -> anyhow::Error {
    let path = path.display();
    match err.kind() {
        io::ErrorKind::NotFound => {
            anyhow!("{path} does not exist; check the path of the file to import (such as /etc/network/interfaces)")
        }
        io::ErrorKind::IsADirectory => {
            anyhow!(
                "{path} is a directory; give the file to import (such as /etc/network/interfaces)"
            )
        }
        io::ErrorKind::InvalidData => anyhow!(
            "{path} is not UTF-8 text; convert it first, e.g. `iconv -f latin1 -t utf-8 {path}`"
        ),
        io::ErrorKind::InvalidInput => {
            anyhow!("{path}: {err}; give the file to import (such as /etc/network/interfaces)")
        }
        _ => anyhow!("reading {path}: {err}"),
    }
}

/// A new file written by `--write` must not orphan what alias-mgr holds
/// (a mistyped --config): the same check as `add`'s.
async fn check_new_file(config: &Path, pins: PinDir, imported: &import::Imported) -> Result<()> {
    let kernel = Kernel::new(pins)?;
    let observed = kernel
        .observe(imported.aliases.iter().map(|a| a.interface.as_str()))
        .await?;
    let held = Held::of(&observed, &kernel);
    let declared: Vec<(&str, std::net::IpAddr)> = imported
        .aliases
        .iter()
        .map(|a| (a.interface.as_str(), a.ip()))
        .collect();
    new_file::check(config, &held, &declared)
}

/// How many of `aliases` are live here as addresses alias-mgr did not add
/// (0 when the kernel cannot be read: this is only advice).
async fn already_up(pins: PinDir, aliases: &[AliasSpec]) -> usize {
    let Ok(kernel) = Kernel::new(pins) else {
        return 0;
    };
    let Ok((_, live)) = kernel.addresses().await else {
        return 0;
    };
    aliases
        .iter()
        .filter(|alias| {
            live.iter().any(|a| {
                !a.owned() && a.address.addr() == alias.ip() && a.interface == alias.interface
            })
        })
        .count()
}

pub(super) async fn import_command(
    config: &Path,
    pins: PinDir,
    format: &str,
    path: &Path,
    write: bool,
) -> Result<()> {
    let format: ImportFormat = format.parse().map_err(|e| anyhow!("{e}"))?;
    let text =
        import::Files::read(&import::RealFiles, path).map_err(|err| unreadable(path, &err))?;
    let imported = import::parse(format, path, &text, &import::RealFiles)?;
    for warning in &imported.warnings {
        say_warning!("{warning}");
    }
    // iftab and ifaliases come from Darwin and NetBSD (en0, wm0), and an old
    // /etc/network/interfaces may predate predictable names (eth0 -> enp3s0).
    let unknown: std::collections::BTreeSet<&str> = imported
        .aliases
        .iter()
        .map(|a| a.interface.as_str())
        .filter(|name| !interface_exists(name))
        .collect();
    for name in unknown {
        say_warning!(
            "there is no interface {name:?} on this host (see `ip link`); change interface = {name:?} to the Linux interface that should carry its aliases before `alias-mgr apply` (until then they are pending)"
        );
    }
    if write {
        let _lock = lock(config)?;
        let created = !config.exists();
        if created {
            check_new_file(config, pins.clone(), &imported).await?;
        }
        let mut file = ConfigFile::load(config)?;
        let added = file.merge_aliases(&imported.aliases)?;
        file.save()?;
        if created {
            say!(
                "note: created {}; `alias-mgr apply` makes the kernel match it, which removes aliases alias-mgr added that it does not list (`alias-mgr plan` shows what would change)",
                config.display()
            );
        }
        say!(
            "merged {added} alias(es) into {} ({} already there); run `alias-mgr apply` to create them",
            config.display(),
            imported.aliases.len() - added
        );
        let up = already_up(pins, &imported.aliases).await;
        if up > 0 {
            say!(
                "{up} of them are already up, added by another tool or by hand: `alias-mgr plan --adopt` shows how `alias-mgr apply --adopt` takes them over in place (never down)"
            );
        }
    } else {
        let mut file = ConfigFile::parse(Path::new("<imported>"), "")?;
        file.merge_aliases(&imported.aliases)?;
        output::print(&file.render());
    }
    Ok(())
}
