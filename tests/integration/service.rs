//! The daemon's promises across other tools' actions: zone counters that
//! survive `nft flush ruleset` under traffic (checked against nft's own
//! counters and every scrape), and runtime changes made with the CLI while
//! the daemon runs.

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use crate::{
    daemon::{counting_lab, nft_counters, Daemon},
    util::{write, Process},
};

/// Zone `lab` drops what it does not allow: every UDP datagram to a closed
/// port is a new packet for the drop counter (nothing is established).
const DROPPING_ZONE: &str = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\nzone = \"lab\"\n\n[zone.lab]\ninput = \"drop\"\nallow = [\"icmp\"]\n";

/// UDP datagrams to 192.0.2.1:9 every 5 ms from the peer, until dropped.
const SENDER: &str = "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nwhile True:\n    s.sendto(b'x'*100,('192.0.2.1',9)); time.sleep(0.005)\n";

fn dropped(daemon: &Daemon) -> f64 {
    daemon.metrics().value(
        "alias_mgr_zone_packets_total",
        &[("zone", "lab"), ("direction", "input"), ("verdict", "drop")],
    )
}

fn nft_dropped(lab: &crate::util::Lab) -> Option<u64> {
    nft_counters(&lab.host)
        .into_iter()
        .find(|(name, _, _)| name == "in_lab_drop")
        .map(|(_, packets, _)| packets)
}

#[test]
fn zone_counters_survive_nft_flush_ruleset_under_traffic() {
    let lab = counting_lab();
    write(&lab.config_path(), DROPPING_ZONE);
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "0"]);
    let _sender = Process(
        lab.peer
            .command("python3")
            .args(["-c", SENDER])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 10 || seen.last() < Some(&50.0) {
        seen.push(dropped(&daemon));
        assert!(Instant::now() < deadline, "no drops counted: {seen:?}");
        thread::sleep(Duration::from_millis(100));
    }
    let before = nft_dropped(&lab).expect("the drop counter exists");

    // What restarting nftables.service does: everything goes.
    lab.host.sh(&["nft", "flush", "ruleset"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let restored = loop {
        if let Some(packets) = nft_dropped(&lab) {
            break packets;
        }
        assert!(
            Instant::now() < deadline,
            "the table was not re-created:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(20));
    };
    // nft's own counter starts from where it was, not from 0 (what the
    // daemon last saw is at most a scrape older than the flush).
    let last_scraped = *seen.last().unwrap() as u64;
    assert!(
        restored >= last_scraped && restored + 1000 >= before,
        "re-created at {restored}: last scraped {last_scraped}, {before} before the flush"
    );
    for _ in 0..15 {
        seen.push(dropped(&daemon));
        thread::sleep(Duration::from_millis(100));
    }
    for pair in seen.windows(2) {
        assert!(
            pair[1] >= pair[0],
            "the zone counter went backwards: {seen:?}"
        );
    }
    assert!(
        seen.last() > Some(&(before as f64)),
        "counting went on: {seen:?}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");
}

#[test]
fn runtime_changes_made_while_the_daemon_runs_hold_until_the_next_apply() {
    let lab = crate::util::Lab::new();
    let two = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.5/24\"\n";
    write(&lab.config_path(), two);
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "1"]);
    let pid = daemon.child.id();
    let reconciles = |d: &Daemon| {
        d.metrics()
            .value("alias_mgr_reconciles_total", &[("trigger", "periodic")])
    };
    let wait_reconciles = |d: &Daemon, more: f64| {
        let target = reconciles(d) + more;
        d.wait_for("periodic reconciles", |m| {
            m.value("alias_mgr_reconciles_total", &[("trigger", "periodic")]) >= target
        });
    };

    let said = lab.ok(&["del", "eth1", "192.0.2.5", "--runtime"]);
    assert!(
        said.contains(&format!(
            "the daemon (pid {pid}) keeps it out until the next `alias-mgr apply`"
        )),
        "{said}"
    );
    let said = lab.ok(&["add", "eth1", "192.0.2.9/24", "--runtime"]);
    assert!(
        said.contains(&format!("the daemon (pid {pid}) leaves it alone")),
        "{said}"
    );
    wait_reconciles(&daemon, 2.0);
    assert!(
        !lab.host.has_address("eth1", "192.0.2.5/24"),
        "the daemon put back a --runtime removal"
    );
    assert!(lab.host.has_address("eth1", "192.0.2.9/24"));
    let metrics = daemon.metrics();
    assert_eq!(
        metrics.value(
            "alias_mgr_address_info",
            &[("address", "192.0.2.5"), ("state", "removed")]
        ),
        1.0,
        "{}",
        metrics.text
    );
    assert!(daemon
        .log()
        .contains("192.0.2.5: removed for now by `del --runtime`"));

    // An edit of that alias's entry: the file has the last word again.
    let edited = lab.dir.join("edited.toml");
    write(
        &edited,
        &two.replace("192.0.2.5/24\"\n", "192.0.2.5/24\"\nlabel = \"eth1:5\"\n"),
    );
    std::fs::rename(&edited, lab.config_path()).unwrap();
    daemon.wait_for("the edited alias back", |_| {
        lab.host.has_address("eth1", "192.0.2.5/24")
    });

    // Removed again, then `apply`: the removal and the runtime add are over.
    lab.ok(&["del", "eth1", "192.0.2.5", "--runtime"]);
    wait_reconciles(&daemon, 1.0);
    assert!(!lab.host.has_address("eth1", "192.0.2.5/24"));
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.0.2.5/24"));
    assert!(!lab.host.has_address("eth1", "192.0.2.9/24"));
    wait_reconciles(&daemon, 2.0);
    assert!(
        lab.host.has_address("eth1", "192.0.2.5/24"),
        "{}",
        daemon.log()
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{log}");

    // Without a daemon the CLI says who brings it back.
    let said = lab.ok(&["del", "eth1", "192.0.2.5", "--runtime"]);
    assert!(
        said.contains("`alias-mgr apply` (or the next boot) brings it back"),
        "{said}"
    );
    lab.ok(&["apply"]);
}

#[test]
fn the_watchdog_is_pinged_from_the_loop_at_half_its_interval() {
    let lab = crate::util::Lab::new();
    write(&lab.config_path(), "");
    // WatchdogSec=1: a ping every 500 ms.
    let daemon = Daemon::start_with_env(&lab, &[], &[("WATCHDOG_USEC", "1000000")]);
    thread::sleep(Duration::from_millis(1600));
    let pings = daemon.notifications().matches("WATCHDOG=1").count();
    assert!((2..=5).contains(&pings), "{pings} pings in 1.6 s");
    // Meant for another process: none.
    let (status, _) = daemon.stop();
    assert!(status.success());
    let other = Daemon::start_with_env(
        &lab,
        &[],
        &[("WATCHDOG_USEC", "1000000"), ("WATCHDOG_PID", "1")],
    );
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(other.notifications().matches("WATCHDOG=1").count(), 0);
    other.stop();
}
