//! Counting at scale: more tracked addresses than one batch read of the
//! counters map returns (1,024), read whole and right.

use serde_json::Value;

use crate::util::{tracked_in_kernel, write, Lab};

const ALIASES: usize = 2600;

fn alias_ip(i: usize) -> String {
    format!("10.100.{}.{}", i / 250, i % 250 + 1)
}

/// Applies `addresses` as /32 aliases on eth1 (no ARP probes or
/// announcements), and routes the peer's 10.99.0.2 to them through `via`.
fn apply_reachable(lab: &Lab, addresses: impl Iterator<Item = String>, via: &str) {
    let mut config = String::from("[settings]\narp_probe_ms = 0\nannounce_count = 0\n\n");
    for ip in addresses {
        config.push_str(&format!(
            "[[alias]]\ninterface = \"eth1\"\naddress = \"{ip}/32\"\n\n"
        ));
    }
    write(&lab.config_path(), &config);
    lab.ok(&["apply"]);
    lab.peer.add_address("eth0", "10.99.0.2/16");
    lab.peer.sh(&["ip", "route", "add", via, "dev", "eth0"]);
    lab.host
        .sh(&["ip", "route", "add", "10.99.0.0/16", "dev", "eth1"]);
}

#[test]
fn thousands_of_tracked_addresses_are_all_read_with_their_counts() {
    let lab = Lab::new();
    apply_reachable(&lab, (0..ALIASES).map(alias_ip), "10.100.0.0/16");
    let last = alias_ip(ALIASES - 1);
    lab.peer
        .sh(&["ping", "-c", "3", "-i", "0.2", "-I", "10.99.0.2", &last]);

    let shown: Value = serde_json::from_str(&lab.ok(&["counters", "show", "--json"])).unwrap();
    let rows = shown.as_array().unwrap();
    assert_eq!(rows.len(), ALIASES);
    let row = rows.iter().find(|r| r["address"] == last.as_str()).unwrap();
    assert_eq!(row["rx_packets"], 3, "{row}");
    assert_eq!(row["tx_packets"], 3, "{row}");
    // The kernel's own view: bpftool lists as many keys.
    assert_eq!(tracked_in_kernel(&lab).len(), ALIASES);
}

#[test]
fn a_long_apply_shows_its_progress_on_a_terminal_and_never_on_a_pipe() {
    let lab = Lab::new();
    let mut config = String::from("[settings]\narp_probe_ms = 0\nannounce_count = 0\n\n");
    for i in 0..10_000 {
        let ip = format!(
            "10.{}.{}.{}",
            100 + i / 62_500,
            (i / 250) % 250,
            i % 250 + 1
        );
        config.push_str(&format!(
            "[[alias]]\ninterface = \"eth1\"\naddress = \"{ip}/32\"\n\n"
        ));
    }
    write(&lab.config_path(), &config);
    // A pipe: only the result, no progress line.
    let piped = lab.alias_mgr(&["apply"]);
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("applying:"));
    // A terminal (script(1) runs it on a pty): the same 10,000 put back
    // after a hand flush take over a second, and the progress shows.
    lab.host.sh(&["ip", "-4", "addr", "flush", "dev", "eth1"]);
    let command = format!(
        "{} --config {} --pin-dir {} apply",
        env!("CARGO_BIN_EXE_alias-mgr"),
        lab.config_path().display(),
        lab.pin_dir.display()
    );
    let out = lab
        .host
        .command("script")
        .args(["-qefc", &command, "/dev/null"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("alias-mgr: applying: ") && screen.contains(" of 10000 steps"),
        "{screen}"
    );
    assert!(screen.contains("\x1b[2K"), "the line is wiped at the end");
    assert!(screen.contains("applied "), "{screen}");
}

/// Addresses whose hash puts them in one home slot: all but the first sit
/// past it (the classifier finds them through its bpf_loop), and each is
/// counted as its own, as ping sees it.
#[test]
fn addresses_sharing_a_home_slot_are_each_counted() {
    let lab = Lab::new();
    let home = |ip: &str| {
        let key = alias_ebpf::AddrKey::from(ip.parse::<std::net::IpAddr>().unwrap());
        alias_ebpf::slot_hash(key.words()).0
    };
    // In 10.100.0.0/14, clear of the peer's 10.99.0.0/16: with 65,536
    // slots, about four of its addresses share any one home.
    let candidates = (0x0a64_0001u32..0x0a68_0000)
        .map(|n| std::net::Ipv4Addr::from(n).to_string())
        .filter(|ip| !ip.ends_with(".0") && !ip.ends_with(".255"));
    let first = alias_ip(0);
    let sharing: Vec<String> = std::iter::once(first.clone())
        .chain(
            candidates
                .filter(|ip| *ip != first && home(ip) == home(&first))
                .take(3),
        )
        .collect();
    assert_eq!(sharing.len(), 4, "{sharing:?}");
    apply_reachable(&lab, sharing.iter().cloned(), "10.100.0.0/14");
    for (n, ip) in sharing.iter().enumerate() {
        let pings = (n + 1).to_string();
        lab.peer
            .sh(&["ping", "-c", &pings, "-i", "0.2", "-I", "10.99.0.2", ip]);
    }
    for (n, ip) in sharing.iter().enumerate() {
        let (rx, _, tx, _) = lab.counters(ip);
        assert_eq!((rx, tx), (n as u64 + 1, n as u64 + 1), "{ip}");
    }
}
