//! Per-interface sysctls under /proc/sys/net (per network namespace: the
//! values seen are those of the namespace the process is in).

use std::{fs, io, path::PathBuf};

fn promote_path(interface: &str) -> PathBuf {
    PathBuf::from(format!(
        "/proc/sys/net/ipv4/conf/{interface}/promote_secondaries"
    ))
}

/// `net.ipv4.conf.IFACE.promote_secondaries`: with 0, deleting an interface's
/// primary IPv4 address deletes every secondary of its subnet with it.
pub fn promote_secondaries(interface: &str) -> io::Result<bool> {
    let path = promote_path(interface);
    let text = fs::read_to_string(&path)
        .map_err(|err| io::Error::new(err.kind(), format!("reading {}: {err}", path.display())))?;
    Ok(text.trim() != "0")
}

pub fn set_promote_secondaries(interface: &str, enabled: bool) -> io::Result<()> {
    let path = promote_path(interface);
    fs::write(&path, if enabled { "1\n" } else { "0\n" })
        .map_err(|err| io::Error::new(err.kind(), format!("writing {}: {err}", path.display())))
}
