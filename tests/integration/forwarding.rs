//! Forwarding between zones through the host as a router: real pings from
//! one side to the other, the verdicts and nft's own counters observed.

use std::process::Command;

use crate::util::{write, Lab, Netns};

/// A packet count of one of alias-mgr's named counters, as nft lists it.
fn nft_packets(ns: &Netns, counter: &str) -> u64 {
    let listed = ns.json(&["nft", "-j", "list", "counter", "inet", "alias_mgr", counter]);
    listed["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| o["counter"]["packets"].as_u64())
        .unwrap_or_else(|| panic!("no counter {counter} in {listed}"))
}

fn pings(ns: &Netns, from: &str, to: &str, count: &str) -> (bool, String) {
    let out = ns
        .command("ping")
        .args(["-c", count, "-i", "0.2", "-W", "1", "-I", from, to])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The host routes between the peer (zone lab, on eth1) and `far` (zones
/// dmz and quarantine and an unzoned subnet, on eth2).
fn router() -> (Lab, Netns) {
    let lab = Lab::new();
    let far = Netns::new("f");
    let ok = Command::new("ip")
        .args([
            "link",
            "add",
            "eth2",
            "netns",
            &lab.host.name,
            "type",
            "veth",
        ])
        .args(["peer", "name", "eth0", "netns", &far.name])
        .status()
        .unwrap();
    assert!(ok.success());
    lab.host.sh(&["ip", "link", "set", "eth2", "up"]);
    lab.host.sh(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.host
        .sh(&["ip", "route", "add", "10.77.0.0/24", "dev", "eth2"]);
    lab.peer.add_address("eth0", "192.168.0.50/24");
    lab.peer
        .sh(&["ip", "route", "add", "default", "via", "192.168.0.1"]);
    far.sh(&["ip", "link", "set", "eth0", "up"]);
    for cidr in ["198.51.100.9/24", "203.0.113.9/24", "10.77.0.9/24"] {
        far.add_address("eth0", cidr);
    }
    far.sh(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzone = \"lab\"\n\n\
         [[alias]]\ninterface = \"eth2\"\naddress = \"198.51.100.1/24\"\nzone = \"dmz\"\n\n\
         [[alias]]\ninterface = \"eth2\"\naddress = \"203.0.113.1/24\"\nzone = \"quarantine\"\n\n\
         [zone.lab]\ninput = \"accept\"\nforward = { dmz = \"accept\" }\n\n\
         [zone.dmz]\ninput = \"accept\"\n\n\
         [zone.quarantine]\ninput = \"accept\"\nforward = { lab = \"reject\" }\n",
    );
    lab.ok(&["apply"]);
    (lab, far)
}

#[test]
fn forwarding_follows_each_zones_policy_and_counts_every_verdict() {
    let (lab, far) = router();
    let host = &lab.host;

    // lab -> dmz is accepted: one new flow, the rest of it established.
    let accepted = nft_packets(host, "fwd_lab_accept");
    let (ok, out) = pings(&lab.peer, "192.168.0.50", "198.51.100.9", "3");
    assert!(ok, "lab -> dmz should pass:\n{out}");
    assert_eq!(nft_packets(host, "fwd_lab_accept") - accepted, 1);

    // lab -> quarantine: no forward entry, dropped (the catch-all rule).
    let dropped = nft_packets(host, "fwd_lab_drop");
    let (ok, out) = pings(&lab.peer, "192.168.0.50", "203.0.113.9", "2");
    assert!(!ok, "lab -> quarantine should be dropped:\n{out}");
    assert_eq!(nft_packets(host, "fwd_lab_drop") - dropped, 2);

    // dmz -> lab: the default, drop, though lab may reach dmz.
    let dropped = nft_packets(host, "fwd_dmz_drop");
    let (ok, out) = pings(&far, "198.51.100.9", "192.168.0.50", "2");
    assert!(!ok, "dmz -> lab should be dropped:\n{out}");
    assert_eq!(nft_packets(host, "fwd_dmz_drop") - dropped, 2);

    // quarantine -> lab is rejected: an ICMP error comes back at once, and
    // the reject counts with the drops.
    let refused = nft_packets(host, "fwd_quarantine_drop");
    let (ok, out) = pings(&far, "203.0.113.9", "192.168.0.50", "1");
    assert!(
        !ok && out.contains("Unreachable"),
        "should be rejected:\n{out}"
    );
    assert_eq!(nft_packets(host, "fwd_quarantine_drop") - refused, 1);

    // To an address in no zone alias-mgr has no say: it passes, and no
    // zone counter of lab moves.
    let before = (
        nft_packets(host, "fwd_lab_accept"),
        nft_packets(host, "fwd_lab_drop"),
    );
    let (ok, out) = pings(&lab.peer, "192.168.0.50", "10.77.0.9", "2");
    assert!(ok, "lab -> an unzoned subnet should pass:\n{out}");
    let after = (
        nft_packets(host, "fwd_lab_accept"),
        nft_packets(host, "fwd_lab_drop"),
    );
    assert_eq!(after, before);
}
