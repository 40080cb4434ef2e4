//! Counter continuity: with traffic flowing, the daemon is stopped 20 times
//! (SIGTERM and SIGKILL by turns) and restarted, with an `apply` between
//! restarts; no exported counter ever goes down, and the totals are the
//! traffic sent, as ping counts it, including what passed while no daemon ran.

use std::{
    io::Read,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use crate::{
    daemon::{counting_lab, Daemon},
    util::{assert_never_backwards, delta, write, Process},
};

const HOST4: &str = "192.0.2.1";
const RESTARTS: usize = 20;
const PINGS: usize = 1000;

#[test]
fn counters_never_go_backwards_across_20_restarts_and_reapplies() {
    let lab = counting_lab();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let mut daemon = Daemon::start(&lab, &[]);
    lab.host.settle("eth1");
    let start = daemon.metrics().traffic(HOST4);
    // About 10 s of pings, outlasting the restarts below.
    let mut ping = Process(
        lab.peer
            .command("ping")
            .args(["-c", &PINGS.to_string(), "-i", "0.01", "-q", HOST4])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut seen = vec![start];
    for restart in 0..RESTARTS {
        seen.push(daemon.metrics().traffic(HOST4));
        if restart % 2 == 0 {
            let (status, log) = daemon.stop();
            assert!(status.success(), "{status}\n{log}");
        } else {
            drop(daemon); // SIGKILL
        }
        if restart % 2 == 1 {
            lab.ok(&["apply"]);
        }
        daemon = Daemon::start(&lab, &[]);
    }
    let mut out = String::new();
    ping.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let finished = Instant::now() + Duration::from_secs(30);
    while ping.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < finished, "ping did not finish");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(out.contains(&format!("{PINGS} received")), "{out}");
    let last = daemon.metrics().traffic(HOST4);
    seen.push(last);
    assert_never_backwards(&seen, RESTARTS / 2);
    let counted = delta(last, start);
    assert_eq!(
        (counted.0, counted.2),
        (PINGS as u64, PINGS as u64),
        "every echo request and reply, also those while no daemon ran"
    );
    // Ethernet 14 + IPv4 20 + ICMP 8 + ping's 56 bytes of data.
    assert_eq!(counted.1, PINGS as u64 * (14 + 20 + 8 + 56));
    assert_eq!(counted.3, PINGS as u64 * (14 + 20 + 8 + 56));
}
