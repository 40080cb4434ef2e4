//! What the counters count, decided and shown against the kernel: frames
//! for another host's MAC are not received, packets the firewall drops are,
//! NAT shows at each hook as the kernel has it there, and traffic for an
//! alias that comes in by another interface is counted only on request.

use std::process::Output;

use crate::{
    counters::{counting_lab, HOST4, PEER4},
    daemon::Daemon,
    util::{delta, write, Counts, Lab},
};

/// A second tracked address of the host, the NAT tests' other side.
const OTHER4: &str = "192.0.2.50";

fn ping(from: &crate::util::Netns, args: &[&str]) -> Output {
    from.command("ping")
        .args(["-c", "5", "-i", "0.05", "-W", "1"])
        .args(args)
        .output()
        .unwrap()
}

/// (RX packets, TX packets).
fn packets(c: Counts) -> (u64, u64) {
    (c.0, c.2)
}

/// Loads an nft ruleset into the host's namespace (the test's own table).
fn host_nft(lab: &Lab, ruleset: &str) {
    let path = lab.dir.join("test.nft");
    std::fs::write(&path, ruleset).unwrap();
    lab.host.sh(&["nft", "-f", path.to_str().unwrap()]);
}

#[test]
fn frames_for_another_hosts_mac_are_not_counted_as_received() {
    let lab = counting_lab(true);
    // A stale ARP entry on the peer: its frames for HOST4 carry a MAC that
    // is not the host's. veth delivers them all the same (as a bridged or
    // promiscuous port would), as PACKET_OTHERHOST, and IP drops them.
    lab.peer.sh(&[
        "ip",
        "neigh",
        "replace",
        HOST4,
        "lladdr",
        "02:00:00:00:99:99",
        "dev",
        "eth0",
        "nud",
        "permanent",
    ]);
    lab.host.settle("eth1");
    let (before, link_before) = (lab.counters(HOST4), lab.host.link_stats("eth1"));
    let out = ping(&lab.peer, &[HOST4]);
    assert!(
        !out.status.success(),
        "the host answered a frame for another MAC"
    );
    let link = delta(lab.host.link_stats("eth1"), link_before);
    assert!(
        link.0 >= 5,
        "the frames did not reach the interface: {link:?}"
    );
    assert_eq!(delta(lab.counters(HOST4), before), (0, 0, 0, 0));

    // The right MAC again: the same pings are counted.
    lab.quiet_link(&[(HOST4, PEER4)]);
    let before = lab.counters(HOST4);
    assert!(ping(&lab.peer, &[HOST4]).status.success());
    assert_eq!(packets(delta(lab.counters(HOST4), before)), (5, 5));
}

#[test]
fn packets_the_firewall_drops_are_counted_as_received() {
    let lab = counting_lab(true);
    host_nft(
        &lab,
        "table inet semantics_test {\n chain input {\n  type filter hook input priority 0;\n  ip saddr 192.0.2.2 icmp type echo-request drop\n }\n}\n",
    );
    let before = lab.counters(HOST4);
    assert!(!ping(&lab.peer, &[HOST4]).status.success());
    // TC ingress runs before netfilter: received (as `ip -s link` says),
    // never answered.
    assert_eq!(packets(delta(lab.counters(HOST4), before)), (5, 0));
}

#[test]
fn egress_counts_the_source_after_snat_and_ingress_the_destination_before_dnat() {
    let lab = counting_lab(false);
    lab.host.add_address("eth1", &format!("{OTHER4}/24"));
    lab.ok(&["counters", "track", OTHER4]);

    // SNAT of the host's own pings from HOST4 to OTHER4: egress sees the
    // rewritten source, and the replies come back to OTHER4.
    host_nft(
        &lab,
        "table ip semantics_test {\n chain post {\n  type nat hook postrouting priority srcnat;\n  ip daddr 192.0.2.2 icmp type echo-request snat to 192.0.2.50\n }\n}\n",
    );
    let (host_before, other_before) = (lab.counters(HOST4), lab.counters(OTHER4));
    assert!(ping(&lab.host, &["-I", HOST4, PEER4]).status.success());
    assert_eq!(packets(delta(lab.counters(HOST4), host_before)), (0, 0));
    assert_eq!(packets(delta(lab.counters(OTHER4), other_before)), (5, 5));

    // DNAT of the peer's pings for HOST4 to OTHER4: ingress sees the
    // destination before the rewrite, and the replies leave as HOST4 again.
    lab.host
        .sh(&["nft", "delete", "table", "ip", "semantics_test"]);
    host_nft(
        &lab,
        "table ip semantics_test {\n chain pre {\n  type nat hook prerouting priority dstnat;\n  ip daddr 192.0.2.1 icmp type echo-request dnat to 192.0.2.50\n }\n}\n",
    );
    let (host_before, other_before) = (lab.counters(HOST4), lab.counters(OTHER4));
    assert!(ping(&lab.peer, &[HOST4]).status.success());
    assert_eq!(packets(delta(lab.counters(HOST4), host_before)), (5, 5));
    assert_eq!(packets(delta(lab.counters(OTHER4), other_before)), (0, 0));
}

/// The host's second link: eth2, to the peer's eth9 on 198.51.100.0/24; the
/// peer reaches HOST4 through it.
fn second_link(lab: &Lab) {
    lab.host.sh(&[
        "ip",
        "link",
        "add",
        "eth2",
        "type",
        "veth",
        "peer",
        "name",
        "eth9",
        "netns",
        &lab.peer.name,
    ]);
    lab.host.sh(&["ip", "link", "set", "eth2", "up"]);
    lab.peer.sh(&["ip", "link", "set", "eth9", "up"]);
    lab.host.add_address("eth2", "198.51.100.1/24");
    lab.peer.add_address("eth9", "198.51.100.2/24");
    lab.peer.sh(&[
        "ip",
        "route",
        "add",
        "192.0.2.1/32",
        "via",
        "198.51.100.1",
        "dev",
        "eth9",
    ]);
}

fn config(everywhere: bool) -> String {
    format!(
        "[settings]\narp_probe_ms = 0\nannounce_count = 0\ncount_on_every_interface = {everywhere}\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n"
    )
}

/// Interfaces with both hooks' links pinned (ingress is pinned first, so
/// one with only that is not counting both ways yet).
fn attached(lab: &Lab) -> Vec<String> {
    let pinned = |hook: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(lab.pin_dir.join("links").join(hook))
            .map(|dir| {
                dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let egress = pinned("egress");
    pinned("ingress")
        .into_iter()
        .filter(|name| egress.contains(name))
        .collect()
}

#[test]
fn an_alias_reached_by_another_interface_is_counted_only_with_count_on_every_interface() {
    let lab = Lab::new();
    lab.address_peer();
    second_link(&lab);
    write(&lab.config_path(), &config(false));
    lab.ok(&["apply"]);
    assert_eq!(attached(&lab), ["eth1"]);
    let before = lab.counters(HOST4);
    assert!(ping(&lab.peer, &["-I", "198.51.100.2", HOST4])
        .status
        .success());
    assert_eq!(packets(delta(lab.counters(HOST4), before)), (0, 0));

    write(&lab.config_path(), &config(true));
    lab.ok(&["apply"]);
    // Every interface but loopback: its traffic is the host talking to itself.
    assert_eq!(attached(&lab), ["eth1", "eth2"]);
    let before = lab.counters(HOST4);
    assert!(ping(&lab.peer, &["-I", "198.51.100.2", HOST4])
        .status
        .success());
    assert_eq!(packets(delta(lab.counters(HOST4), before)), (5, 5));

    write(&lab.config_path(), &config(false));
    lab.ok(&["apply"]);
    assert_eq!(attached(&lab), ["eth1"]);
}

#[test]
fn counting_everywhere_follows_an_interface_that_appears_and_is_no_drift() {
    let lab = Lab::new();
    lab.address_peer();
    write(&lab.config_path(), &config(true));
    let daemon = Daemon::start(&lab, &[]);
    assert_eq!(attached(&lab), ["eth1"]);
    second_link(&lab);
    let metrics = daemon.wait_for("the classifier on the new eth2", |_| {
        attached(&lab) == ["eth1", "eth2"]
    });
    assert_eq!(metrics.value("alias_mgr_drift_events_total", &[]), 0.0);
    let before = lab.counters(HOST4);
    assert!(ping(&lab.peer, &["-I", "198.51.100.2", HOST4])
        .status
        .success());
    assert_eq!(packets(delta(lab.counters(HOST4), before)), (5, 5));
}
