//! `alias-mgr announce`: gratuitous ARP and unsolicited neighbour
//! advertisements for alias-mgr's addresses, in rounds; and the rest of
//! the announcement train after an add or apply, sent from a detached
//! process so the command returns at once (RHEL's ifup backgrounds its
//! second arping the same way).

use std::{
    net::IpAddr,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{bail, Result};

use super::output::{say, say_warning};
use crate::{
    config::ConfigFile,
    core::{
        desired::Settings,
        model::{DadState, LiveAddress},
        wire::OnLink,
    },
    kernel::{Applied, Kernel},
    sys::bpf::PinDir,
};

/// How many rounds, how far apart, after how long (None: the settings').
pub(super) struct Train {
    pub count: Option<u32>,
    pub interval_ms: Option<u32>,
    pub after_ms: u32,
}

/// After a run: says what went on the wire, and starts the rest of the
/// train in the background.
pub(super) fn follow_up(file: &ConfigFile, applied: &Applied) {
    if applied.announced.is_empty() {
        return;
    }
    let settings = file.config().settings;
    let rest = settings.announce_count.saturating_sub(1);
    let interval = settings.announce_interval_ms;
    let more = if rest > 0 {
        format!("; {rest} more round(s), {interval} ms apart, in the background")
    } else {
        String::new()
    };
    let ipv4 = applied
        .announced
        .iter()
        .filter(|on| on.ip.is_ipv4())
        .count();
    let how = match (ipv4, applied.announced.len() - ipv4) {
        (_, 0) => "gratuitous ARP",
        (0, _) => "unsolicited neighbour advertisement",
        _ => "gratuitous ARP, unsolicited neighbour advertisement",
    };
    say!(
        "announced {} address(es) on the LAN ({how}){more}",
        applied.announced.len()
    );
    if rest == 0 {
        return;
    }
    if let Err(err) = start_background(file.path(), &applied.announced, rest, interval) {
        say_warning!(
            "the later announcements were not started ({err}); `alias-mgr announce` sends them"
        );
    }
}

fn start_background(config: &Path, addresses: &[OnLink], count: u32, interval: u32) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("--config")
        .arg(config)
        .args(["announce", "--count", &count.to_string()])
        .args(["--interval", &interval.to_string()])
        .args(["--after", &interval.to_string()])
        .args(addresses.iter().map(|on| on.ip.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group: a Ctrl-C meant for the shell's next
        // command does not cut the train short.
        .process_group(0);
    command.spawn()?;
    Ok(())
}

pub(super) async fn announce_command(
    config: &Path,
    pins: PinDir,
    targets: &[String],
    train: Train,
) -> Result<()> {
    // Without a file, the defaults: announcing needs nothing declared.
    let settings = match config.exists() {
        true => ConfigFile::load(config)?.config().settings,
        false => Settings::default(),
    };
    let count = train.count.unwrap_or(settings.announce_count);
    let interval = train.interval_ms.unwrap_or(settings.announce_interval_ms);
    // The ranges `[settings]` allows.
    if !(1..=100).contains(&count) {
        bail!("--count {count} is out of range: give 1 to 100 rounds");
    }
    if !(10..=60_000).contains(&interval) {
        bail!("--interval {interval} is out of range: give 10 to 60000 ms");
    }
    let kernel = Kernel::new(pins)?;
    tokio::time::sleep(Duration::from_millis(train.after_ms.into())).await;
    for round in 0..count {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(interval.into())).await;
        }
        let addresses = announceable(&kernel, targets).await?;
        if addresses.is_empty() {
            bail!("nothing to announce: none of those addresses is up on a link with carrier and past duplicate address detection (`alias-mgr list` shows them)");
        }
        kernel.announce(&addresses).await;
        say!(
            "round {} of {count}: announced {}",
            round + 1,
            addresses
                .iter()
                .map(|on| format!("{} on {}", on.ip, on.interface))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// alias-mgr's live addresses named by `targets` (interfaces or
/// addresses; all when empty) that can be announced now: on a link with
/// carrier, IPv6 past DAD.
async fn announceable(kernel: &Kernel, targets: &[String]) -> Result<Vec<OnLink>> {
    let (interfaces, addresses) = kernel.addresses().await?;
    let owned: Vec<_> = addresses.iter().filter(|a| a.owned()).collect();
    // An interface, a label (eth1:0) or an address, with or without prefix.
    let names = |target: &str, a: &LiveAddress| {
        let ip = target.split('/').next().unwrap_or(target);
        a.interface == target
            || a.label.as_deref() == Some(target)
            || ip.parse::<IpAddr>() == Ok(a.address.addr())
    };
    for target in targets {
        if owned.iter().any(|a| names(target, a)) {
            continue;
        }
        if interfaces.iter().any(|i| i.name == *target) {
            bail!("{target} has no address of alias-mgr's to announce; `alias-mgr list {target}` shows its addresses");
        }
        bail!("{target:?} is neither an interface, a label nor an address of alias-mgr's here; `alias-mgr list` shows them");
    }
    let wanted: Vec<&LiveAddress> = owned
        .into_iter()
        .filter(|a| targets.is_empty() || targets.iter().any(|t| names(t, a)))
        .collect();
    let tentative: Vec<String> = wanted
        .iter()
        .filter(|a| a.dad != DadState::Done)
        .map(|a| a.address.addr().to_string())
        .collect();
    if !tentative.is_empty() {
        say_warning!(
            "not announced: {} (IPv6 duplicate address detection not done)",
            tentative.join(", ")
        );
    }
    Ok(wanted
        .into_iter()
        .filter_map(|a| a.on_link(&interfaces))
        .collect())
}
