//! On a live LAN: RFC 5227 probes refuse an address a peer holds, with
//! nothing changed; probes and announcements are on the wire, in that
//! order, and fix a peer's stale neighbour entry; `apply --adopt` takes
//! an ifupdown-style alias over under a ping flood without losing one
//! packet; the daemon holds back only the entry another host answers for.
//! The wire is watched from the peer namespace with an AF_PACKET socket.

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use crate::daemon::Daemon;
use crate::util::{write, Lab, Process};

/// Prints every ARP packet and ICMPv6 neighbour advertisement seen on
/// IFACE for SECONDS, one per line: `arp OP SHA SPA TPA` / `na SRC_MAC TARGET`.
const CAPTURE: &str = r#"
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.1)
print("ready", flush=True)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        frame, _ = s.recvfrom(2048)
    except socket.timeout:
        continue
    kind = struct.unpack("!H", frame[12:14])[0]
    if kind == 0x0806:
        op = struct.unpack("!H", frame[20:22])[0]
        print("arp", op, frame[22:28].hex(":"), socket.inet_ntoa(frame[28:32]),
              socket.inet_ntoa(frame[38:42]), flush=True)
    elif kind == 0x86dd and frame[20] == 58 and frame[54] == 136:
        print("na", frame[6:12].hex(":"),
              socket.inet_ntop(socket.AF_INET6, frame[62:78]), flush=True)
"#;

/// A capture running in the peer namespace; `lines` waits for its end.
struct Capture {
    process: Process,
}

impl Capture {
    fn start(lab: &Lab, seconds: f64) -> Capture {
        let mut child = lab
            .peer
            .command("python3")
            .args(["-c", CAPTURE, "eth0", &seconds.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        // Started only once its socket is bound.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 6];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        assert_eq!(&first, b"ready\n");
        child.stdout = Some(stdout);
        Capture {
            process: Process(child),
        }
    }

    fn lines(mut self) -> Vec<String> {
        let mut text = String::new();
        let mut stdout = self.process.0.stdout.take().unwrap();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text.lines().map(str::to_string).collect()
    }
}

fn mac_of(lab: &Lab) -> String {
    lab.host.json(&["ip", "-j", "link", "show", "dev", "eth1"])[0]["address"]
        .as_str()
        .unwrap()
        .to_string()
}

fn peer_mac(lab: &Lab) -> String {
    lab.peer.json(&["ip", "-j", "link", "show", "dev", "eth0"])[0]["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The peer's neighbour entry for `ip`: its MAC, if any.
fn peer_entry(lab: &Lab, ip: &str) -> Option<String> {
    let json = lab
        .peer
        .json(&["ip", "-j", "neigh", "show", ip, "dev", "eth0"]);
    json[0]["lladdr"].as_str().map(str::to_string)
}

/// Waits (bounded) until the peer's entry for `ip` is `mac`; how long it took.
fn peer_learns(lab: &Lab, ip: &str, mac: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while peer_entry(lab, ip).as_deref() != Some(mac) {
        assert!(
            started.elapsed() < within,
            "the peer still has {:?} for {ip}, not {mac}",
            peer_entry(lab, ip)
        );
        thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn an_address_a_peer_holds_is_refused_naming_its_mac_and_nothing_changes() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "192.0.2.50/24");
    let before = lab.host.addresses("eth1");
    let err = lab.fails(&["add", "eth1", "192.0.2.50/24"]);
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains(&format!(
            "the host with MAC {} answered an ARP probe",
            peer_mac(&lab)
        )),
        "{err}"
    );
    assert_eq!(lab.host.addresses("eth1"), before);
    assert!(
        !lab.config_text().contains("192.0.2.50"),
        "{}",
        lab.config_text()
    );
    // A free address of the same subnet goes in.
    lab.ok(&["add", "eth1", "192.0.2.51/24"]);
    assert!(lab.host.has_address("eth1", "192.0.2.51/24"));
    // `apply` is all or nothing too: the free alias beside it waits.
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.51/24\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.52/24\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.50/24\"\n",
    );
    let err = lab.fails(&["apply"]);
    assert!(
        err.contains("192.0.2.50 is in use on the link of eth1"),
        "{err}"
    );
    assert!(!lab.host.has_address("eth1", "192.0.2.52/24"));
    // Per alias, 0 turns detection off (the user's call: here it is taken).
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.50/24\"\narp_probe_ms = 0\n",
    );
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.0.2.50/24"));
}

#[test]
fn probes_then_announcements_go_on_the_wire_and_fix_a_stale_peer() {
    let lab = Lab::new();
    lab.address_peer();
    let host_mac = mac_of(&lab);
    let stale = "02:00:00:00:00:99";
    for ip in ["192.0.2.60", "2001:db8::60"] {
        lab.peer.sh(&[
            "ip", "neigh", "replace", ip, "lladdr", stale, "dev", "eth0", "nud", "stale",
        ]);
    }
    let capture = Capture::start(&lab, 4.5);
    let out = lab.ok(&["add", "eth1", "192.0.2.60/24"]);
    assert!(out.contains("announced 1 address(es) on the LAN"), "{out}");
    let took = peer_learns(&lab, "192.0.2.60", &host_mac, Duration::from_secs(1));
    println!("the peer's stale IPv4 entry was corrected {took:?} after add returned");
    lab.ok(&["add", "eth1", "2001:db8::60/64"]);
    peer_learns(&lab, "2001:db8::60", &host_mac, Duration::from_secs(1));
    let lines = capture.lines();
    let probe = format!("arp 1 {host_mac} 0.0.0.0 192.0.2.60");
    let announcement = format!("arp 1 {host_mac} 192.0.2.60 192.0.2.60");
    let probes: Vec<usize> = positions(&lines, &probe);
    let announcements: Vec<usize> = positions(&lines, &announcement);
    assert_eq!(probes.len(), 3, "RFC 5227 probes:\n{}", lines.join("\n"));
    assert_eq!(
        announcements.len(),
        3,
        "announcements:\n{}",
        lines.join("\n")
    );
    assert!(
        probes.iter().max() < announcements.iter().min(),
        "{lines:?}"
    );
    let advertisements = positions(&lines, &format!("na {host_mac} 2001:db8::60"));
    assert!(!advertisements.is_empty(), "{}", lines.join("\n"));
    // No IPv4 probe for the IPv6 alias.
    assert!(!lines
        .iter()
        .any(|l| l.contains("2001:db8::60") && l.starts_with("arp")));
}

fn positions(lines: &[String], wanted: &str) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.as_str() == wanted)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn adopting_an_ifupdown_alias_under_a_ping_flood_loses_nothing() {
    let lab = Lab::new();
    lab.address_peer();
    lab.host.sh(&[
        "ip",
        "addr",
        "add",
        "192.0.2.70/24",
        "dev",
        "eth1",
        "label",
        "eth1:7",
    ]);
    lab.host.sh(&[
        "ip",
        "route",
        "add",
        "10.70.0.0/16",
        "via",
        "192.0.2.254",
        "dev",
        "eth1",
    ]);
    // The migration path: the box's ifupdown file, imported.
    let interfaces = lab.dir.join("interfaces");
    write(
        &interfaces,
        "auto eth1:7\niface eth1:7 inet static\n    address 192.0.2.70\n    netmask 255.255.255.0\n    up ip route add 10.70.0.0/16 via 192.0.2.254 dev eth1\n",
    );
    let imported = lab.ok(&[
        "import",
        "ifupdown",
        interfaces.to_str().unwrap(),
        "--write",
    ]);
    assert!(
        imported.contains(
            "1 of them are already up, added by another tool or by hand: `alias-mgr plan --adopt`"
        ),
        "{imported}"
    );
    let refused = lab.alias_mgr(&["plan"]);
    let said = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success());
    assert!(
        said.contains("it is exactly the declared entry: `alias-mgr apply --adopt`"),
        "{said}"
    );
    let shown = lab.ok(&["plan", "--adopt"]);
    assert!(
        shown.contains("~ address 192.0.2.70/24 dev eth1: adopted in place"),
        "{shown}"
    );
    assert!(
        shown.contains("~ route 10.70.0.0/16@192.0.2.254 dev eth1: adopted in place"),
        "{shown}"
    );
    let flood = lab
        .peer
        .command("ping")
        .args(["-q", "-n", "-i", "0.002", "-c", "1500", "192.0.2.70"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The kernel's own account: a removal would show as a Deleted event,
    // however short the gap (too short, maybe, for the flood to notice).
    let monitor = lab
        .host
        .command("ip")
        .args(["-o", "monitor", "address", "route"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut monitor = Process(monitor);
    thread::sleep(Duration::from_millis(700));
    lab.ok(&["apply", "--adopt"]);
    let out = flood.wait_with_output().unwrap();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(monitor.id() as i32, libc::SIGTERM) };
    let mut events = String::new();
    let mut stdout = monitor.0.stdout.take().unwrap();
    std::io::Read::read_to_string(&mut stdout, &mut events).unwrap();
    assert!(
        events.contains("192.0.2.70/24"),
        "the re-mark is an address event:\n{events}"
    );
    assert!(!events.contains("Deleted"), "{events}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("1500 packets transmitted, 1500 received"),
        "{summary}"
    );
    let listed = lab.host.json(&[
        env!("CARGO_BIN_EXE_alias-mgr"),
        "--config",
        lab.config_path().to_str().unwrap(),
        "--pin-dir",
        lab.pin_dir.to_str().unwrap(),
        "list",
        "--json",
    ]);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "192.0.2.70")
        .unwrap()
        .clone();
    assert_eq!(row["protocol"], 161, "{row}");
    assert_eq!(row["label"], "eth1:7", "{row}");
    let route = lab
        .host
        .routes("-4")
        .into_iter()
        .find(|r| r["dst"] == "10.70.0.0/16")
        .unwrap();
    assert_eq!(route["protocol"], "161", "{route}");
    assert_eq!(route["prefsrc"], "192.0.2.70", "{route}");
    let settled = lab.ok(&["plan"]);
    assert!(settled.contains("nothing to do"), "{settled}");
}

#[test]
fn the_daemon_holds_back_only_the_entry_another_host_answers_for() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "192.0.2.50/24");
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.50/24\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.51/24\"\n",
    );
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "1"]);
    let state = |address: &str| {
        let metrics = daemon.metrics();
        let found = metrics
            .text
            .lines()
            .find(|l| {
                l.starts_with("alias_mgr_address_info")
                    && l.contains(&format!("address=\"{address}\""))
            })
            .unwrap_or_default()
            .to_string();
        found
    };
    daemon.wait_for("the free alias applied", |m| {
        m.text.contains("address=\"192.0.2.51\"") && m.value("alias_mgr_conflicts", &[]) == 1.0
    });
    assert!(
        state("192.0.2.50").contains("state=\"conflict\""),
        "{}",
        state("192.0.2.50")
    );
    assert!(
        state("192.0.2.51").contains("state=\"applied\""),
        "{}",
        state("192.0.2.51")
    );
    assert!(lab.host.has_address("eth1", "192.0.2.51/24"));
    assert!(!lab.host.has_address("eth1", "192.0.2.50/24"));
    // Once the other host lets it go, the next (periodic) reconcile takes it.
    lab.peer
        .sh(&["ip", "addr", "del", "192.0.2.50/24", "dev", "eth0"]);
    let taken = daemon.wait_for("the freed alias applied", |m| {
        m.value("alias_mgr_conflicts", &[]) == 0.0
    });
    assert!(lab.host.has_address("eth1", "192.0.2.50/24"));
    // What the file asked for all along: no drift.
    assert_eq!(taken.value("alias_mgr_drift_events_total", &[]), 0.0);
    let (_, log) = daemon.stop();
    assert!(log.contains(&peer_mac(&lab)), "{log}");
}

#[test]
fn counting_follows_a_renamed_interface_without_a_gap() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "192.0.2.2/24");
    lab.quiet_link(&[("192.0.2.80", "192.0.2.2")]);
    lab.ok(&["add", "eth1", "192.0.2.80/24"]);
    lab.peer
        .sh(&["ping", "-c", "4", "-i", "0.01", "-s", "100", "192.0.2.80"]);
    let before = lab.counters("192.0.2.80");
    assert_eq!((before.0, before.2), (4, 4), "{before:?}");
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    lab.host.sh(&["ip", "link", "set", "eth1", "name", "lan0"]);
    lab.host.sh(&["ip", "link", "set", "lan0", "up"]);
    // Counted while nobody has run alias-mgr yet: the links went along.
    lab.peer
        .sh(&["ping", "-c", "3", "-i", "0.01", "-s", "100", "192.0.2.80"]);
    let out = lab.ok(&["apply"]);
    assert!(
        out.contains("~ classifier links pinned for eth1 follow the interface, renamed lan0"),
        "{out}"
    );
    assert!(lab.pin_dir.join("links/ingress/lan0").exists());
    assert!(!lab.pin_dir.join("links/ingress/eth1").exists());
    lab.peer
        .sh(&["ping", "-c", "5", "-i", "0.01", "-s", "100", "192.0.2.80"]);
    let after = lab.counters("192.0.2.80");
    // Exactly 8: no gap across the rename, and not 16 (a second
    // classifier attached beside the renamed one would count each twice).
    assert_eq!(
        (after.0 - before.0, after.2 - before.2),
        (8, 8),
        "{after:?}"
    );
    // The address stays, waiting for the config to name its interface.
    assert!(lab.host.has_address("lan0", "192.0.2.80/24"));
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("eth1"), "{plan}");
}

#[test]
fn an_alias_named_by_mac_or_altname_follows_its_nic_across_a_rename() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "192.0.2.2/24");
    let mac = mac_of(&lab);
    write(
        &lab.config_path(),
        &format!(
            "[[alias]]\ninterface = \"{mac}\"\naddress = \"192.0.2.90/24\"\nlabel = \"eth1:9\"\n\n[[alias]]\ninterface = \"{mac}\"\naddress = \"2001:db8::90/64\"\n"
        ),
    );
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.0.2.90/24"));
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    lab.host.sh(&["ip", "link", "set", "eth1", "name", "lan0"]);
    lab.host.sh(&["ip", "link", "set", "lan0", "up"]);
    // The kernel flushed the IPv6 alias with the link; the file names the NIC.
    assert!(!lab.host.has_address("lan0", "2001:db8::90/64"));
    let plan = lab.ok(&["plan"]);
    assert!(
        plan.contains(&format!("interface {mac} is lan0 here")),
        "{plan}"
    );
    assert!(
        plan.contains("+ address 2001:db8::90/64 dev lan0"),
        "{plan}"
    );
    assert!(!plan.contains("- address"), "{plan}");
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("lan0", "192.0.2.90/24"));
    assert!(lab.host.has_address("lan0", "2001:db8::90/64"));
    let listed: serde_json::Value = serde_json::from_str(&lab.ok(&["list", "--json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "192.0.2.90")
        .unwrap()
        .clone();
    assert_eq!(row["interface"], "lan0", "{row}");
    assert_eq!(row["config_interface"], mac.as_str(), "{row}");
    assert_eq!(row["declared"], true, "{row}");
    lab.peer
        .sh(&["ping", "-c", "2", "-i", "0.01", "192.0.2.90"]);
    assert!(lab.counters("192.0.2.90").0 >= 2);
    // An altname works as a name too.
    lab.host.sh(&[
        "ip", "link", "property", "add", "dev", "lan0", "altname", "uplink",
    ]);
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"uplink\"\naddress = \"192.0.2.90/24\"\nlabel = \"uplink:9\"\n",
    );
    let out = lab.ok(&["apply"]);
    assert!(out.contains("- address 2001:db8::90/64"), "{out}");
    assert!(!out.contains("192.0.2.90"), "kept as it is: {out}");
    assert!(lab.host.has_address("lan0", "192.0.2.90/24"));
}

#[test]
fn a_deleted_and_re_created_interface_is_fully_restored_by_the_daemon() {
    let lab = Lab::new();
    lab.address_peer();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.95/24\"\nroutes = [\"10.95.0.0/16@192.0.2.254\"]\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"2001:db8::95/64\"\n",
    );
    let daemon = Daemon::start(&lab, &[]);
    lab.peer
        .sh(&["ping", "-c", "3", "-i", "0.01", "192.0.2.95"]);
    let before = lab.counters("192.0.2.95");
    // The NIC goes away and comes back (a driver reload, a veth re-made).
    lab.host.sh(&["ip", "link", "del", "eth1"]);
    let recreate = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            "eth1",
            "netns",
            &lab.host.name,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lab.peer.name,
        ])
        .status()
        .unwrap();
    assert!(recreate.success());
    lab.address_peer();
    let stale = "02:00:00:00:00:99";
    lab.peer.sh(&[
        "ip",
        "neigh",
        "replace",
        "192.0.2.95",
        "lladdr",
        stale,
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    // A packet socket on a down link fails with ENETDOWN: up first.
    lab.peer.sh(&["ip", "link", "set", "eth0", "up"]);
    let capture = Capture::start(&lab, 3.0);
    let started = Instant::now();
    lab.host.sh(&["ip", "link", "set", "eth1", "up"]);
    let restored = |lab: &Lab| {
        lab.host.has_address("eth1", "192.0.2.95/24")
            && lab.host.has_address("eth1", "2001:db8::95/64")
            && lab.host.has_route("-4", "10.95.0.0/16")
    };
    while !restored(&lab) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not restored:\n{}",
            daemon.stop().1
        );
        thread::sleep(Duration::from_millis(20));
    }
    println!(
        "addresses and routes back {:?} after the link came up",
        started.elapsed()
    );
    let host_mac = mac_of(&lab);
    peer_learns(&lab, "192.0.2.95", &host_mac, Duration::from_secs(2));
    // Counting goes on from where it was: the classifier is re-attached.
    daemon.wait_for("the classifier re-attached", |m| {
        m.text.contains("alias_mgr_receive_packets_total")
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        lab.peer
            .sh(&["ping", "-c", "2", "-i", "0.01", "192.0.2.95"]);
        let after = lab.counters("192.0.2.95");
        if after.0 >= before.0 + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{before:?} -> {after:?}");
    }
    let lines = capture.lines();
    assert!(
        lines
            .iter()
            .any(|l| *l == format!("arp 1 {host_mac} 192.0.2.95 192.0.2.95")),
        "{}",
        lines.join("\n")
    );
    daemon.stop();
}

#[test]
fn announce_by_hand_and_the_daemons_periodic_refresh_reach_the_wire() {
    let lab = Lab::new();
    lab.address_peer();
    write(
        &lab.config_path(),
        "[settings]\nannounce_count = 1\nannounce_refresh_s = 1\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.97/24\"\n",
    );
    lab.ok(&["apply"]);
    let host_mac = mac_of(&lab);
    let announcement = format!("arp 1 {host_mac} 192.0.2.97 192.0.2.97");
    // By hand: exactly the rounds asked for.
    let capture = Capture::start(&lab, 1.0);
    let out = lab.ok(&["announce", "eth1", "--count", "2", "--interval", "100"]);
    assert!(
        out.contains("round 2 of 2: announced 192.0.2.97 on eth1"),
        "{out}"
    );
    let lines = capture.lines();
    assert_eq!(
        positions(&lines, &announcement).len(),
        2,
        "{}",
        lines.join("\n")
    );
    let err = lab.fails(&["announce", "lo"]);
    assert!(
        err.contains("lo has no address of alias-mgr's to announce"),
        "{err}"
    );
    let err = lab.fails(&["announce", "--interval", "0"]);
    assert!(
        err.contains("--interval 0 is out of range: give 10 to 60000 ms"),
        "{err}"
    );
    let err = lab.fails(&["announce", "eth9"]);
    assert!(
        err.contains("\"eth9\" is neither an interface, a label nor an address of alias-mgr's"),
        "{err}"
    );
    // The daemon's refresh, once a second (the train after apply is one).
    let daemon = Daemon::start(&lab, &[]);
    let capture = Capture::start(&lab, 3.5);
    let lines = capture.lines();
    let refreshed = positions(&lines, &announcement).len();
    assert!(
        (2..=5).contains(&refreshed),
        "{refreshed}:\n{}",
        lines.join("\n")
    );
    daemon.stop();
}

#[test]
fn an_alias_another_host_took_while_the_link_was_down_is_not_announced() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "192.0.2.2/24");
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.61/24\"\n",
    );
    let daemon = Daemon::start(&lab, &[]);
    assert!(lab.host.has_address("eth1", "192.0.2.61/24"));
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    thread::sleep(Duration::from_millis(600)); // one reconcile sees it down
    lab.peer.add_address("eth0", "192.0.2.61/24");
    let capture = Capture::start(&lab, 2.5);
    lab.host.sh(&["ip", "link", "set", "eth1", "up"]);
    daemon.wait_for("the taken alias reported", |m| {
        m.value("alias_mgr_conflicts", &[]) == 1.0
            && m.text.lines().any(|l| {
                l.starts_with("alias_mgr_address_info")
                    && l.contains("address=\"192.0.2.61\"")
                    && l.contains("state=\"conflict\"")
            })
    });
    let host_mac = mac_of(&lab);
    let lines = capture.lines();
    assert!(
        !positions(&lines, &format!("arp 1 {host_mac} 0.0.0.0 192.0.2.61")).is_empty(),
        "probed first:\n{}",
        lines.join("\n")
    );
    assert!(
        positions(&lines, &format!("arp 1 {host_mac} 192.0.2.61 192.0.2.61")).is_empty(),
        "not announced over the other host:\n{}",
        lines.join("\n")
    );
    // Once the other host lets it go, the next reconcile clears it.
    lab.peer
        .sh(&["ip", "addr", "del", "192.0.2.61/24", "dev", "eth0"]);
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("the conflict cleared", |m| {
        m.value("alias_mgr_conflicts", &[]) == 0.0
    });
    let (_, log) = daemon.stop();
    assert!(log.contains("link back: 192.0.2.61 is in use"), "{log}");
}
