//! Readiness, status and the watchdog for systemd (`Type=notify`,
//! `WatchdogSec=`, sd_notify(3)): a plain datagram to $NOTIFY_SOCKET.
//! Hand-written on purpose: the sd-notify crate sends on a blocking socket,
//! so a manager (or harness) that stops reading would stall the daemon's
//! loop, its healing and the watchdog with it; this never blocks.

use std::{
    ffi::OsStr,
    io,
    os::unix::{ffi::OsStrExt, net::UnixDatagram},
    path::Path,
};

use crate::logging::warning;

/// Sends a state change to systemd (sd_notify(3)); nothing without
/// $NOTIFY_SOCKET.
pub(super) fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    // READY=1 and STOPPING=1 matter (a lost READY fails a Type=notify
    // start): a full queue gets a short, bounded wait. A status line or a
    // watchdog ping systemd has not read yet is not worth waiting for.
    let tries = if state.starts_with("STATUS=") || state == "WATCHDOG=1" {
        1
    } else {
        50
    };
    let mut sent = send_notify(&path, state);
    for _ in 1..tries {
        match &sent {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                sent = send_notify(&path, state);
            }
            _ => break,
        }
    }
    match sent {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::WouldBlock && tries == 1 => {}
        Err(err) => warning!(
            "telling systemd {:?} through {}: {err}",
            state.lines().next().unwrap_or(""),
            path.to_string_lossy()
        ),
    }
}

/// How often to send WATCHDOG=1: half the manager's `WatchdogSec=`
/// (sd_watchdog_enabled(3): WATCHDOG_USEC, for this pid if WATCHDOG_PID
/// is set); None when no watchdog is asked for.
pub(super) fn watchdog_every() -> Option<std::time::Duration> {
    watchdog_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn watchdog_from(usec: Option<&str>, pid: Option<&str>, own: u32) -> Option<std::time::Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if pid.is_some_and(|pid| pid.trim().parse::<u32>().ok() != Some(own)) {
        return None;
    }
    Some(std::time::Duration::from_micros(usec / 2))
}

/// Never blocks: a receiver whose queue is full (a reader that stopped
/// reading) must not stall the daemon's loop, metrics and healing with it.
fn send_notify(path: &OsStr, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    socket.set_nonblocking(true)?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &address)?;
        }
        None => {
            socket.send_to(state.as_bytes(), Path::new(path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_at_half_its_interval_for_this_pid_only() {
        let every = |usec, pid| watchdog_from(usec, pid, 42);
        assert_eq!(
            every(Some("30000000"), None),
            Some(std::time::Duration::from_secs(15))
        );
        assert_eq!(
            every(Some("30000000"), Some("42")),
            Some(std::time::Duration::from_secs(15))
        );
        assert_eq!(every(Some("30000000"), Some("41")), None);
        assert_eq!(every(Some("0"), None), None);
        assert_eq!(every(Some("soon"), None), None);
        assert_eq!(every(None, Some("42")), None);
    }

    #[test]
    fn notify_sends_one_datagram_to_the_socket() {
        let dir = std::env::temp_dir().join(format!("alias-mgr-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let receiver = UnixDatagram::bind(&path).unwrap();
        send_notify(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        // Abstract sockets ("@name") as systemd may hand out.
        let name = format!("alias-mgr-test-{}", std::process::id());
        let address = {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()
        };
        let abstract_receiver = UnixDatagram::bind_addr(&address).unwrap();
        send_notify(OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
        let n = abstract_receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reader_that_stopped_reading_never_blocks_the_sender() {
        let dir =
            std::env::temp_dir().join(format!("alias-mgr-notify-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let _receiver = UnixDatagram::bind(&path).unwrap();
        // Far past the queue (net.unix.max_dgram_qlen, 10 by default): a
        // blocking send would hang this test.
        let results: Vec<io::Result<()>> = (0..1000)
            .map(|n| send_notify(path.as_os_str(), &format!("STATUS={n}")))
            .collect();
        assert!(results
            .iter()
            .any(|r| matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
