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

/// The hash map of counters an earlier release pinned, made with bpftool:
/// `HOST4` with 7 packets and 700 bytes in, 3 and 300 out, on every CPU.
fn pin_legacy_counters(lab: &crate::util::Lab) {
    std::fs::create_dir_all(&lab.pin_dir).unwrap();
    let pin = lab.pin_dir.join(alias_ebpf::LEGACY_COUNTERS_MAP);
    let pin = pin.to_str().unwrap();
    lab.host.sh(&[
        "bpftool",
        "map",
        "create",
        pin,
        "type",
        "percpu_hash",
        "key",
        "16",
        "value",
        "32",
        "entries",
        "16384",
        "name",
        "COUNTERS",
    ]);
    let mut args = vec!["bpftool", "map", "update", "pinned", pin, "key", "hex"];
    let key: Vec<String> = alias_ebpf::AddrKey::from(HOST4.parse::<std::net::IpAddr>().unwrap())
        .addr
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let value: Vec<String> = [7u64, 700, 3, 300]
        .iter()
        .flat_map(|n| n.to_ne_bytes())
        .map(|b| format!("{b:02x}"))
        .collect();
    args.extend(key.iter().map(String::as_str));
    args.extend(["value", "hex"]);
    args.extend(value.iter().map(String::as_str));
    lab.host.sh(&args);
}

fn possible_cpus() -> u64 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    text.trim()
        .split(',')
        .map(|range| match range.split_once('-') {
            Some((a, b)) => b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

/// The kernel's id of the index map pinned in the lab, and the maps of the
/// program attached to eth1's ingress.
fn table_and_attached_maps(lab: &crate::util::Lab) -> (u64, Vec<u64>) {
    let pin = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    let index = lab.host.json(&[
        "bpftool",
        "-j",
        "map",
        "show",
        "pinned",
        &pin(lab.pin_dir.join(alias_ebpf::INDEX_MAP)),
    ]);
    let link = lab.host.json(&[
        "bpftool",
        "-j",
        "link",
        "show",
        "pinned",
        &pin(lab.pin_dir.join("links/ingress/eth1")),
    ]);
    let prog = lab.host.json(&[
        "bpftool",
        "-j",
        "prog",
        "show",
        "id",
        &link["prog_id"].to_string(),
    ]);
    let maps = prog["map_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap())
        .collect();
    (index["id"].as_u64().unwrap(), maps)
}

#[test]
fn an_upgrade_carries_the_old_hash_maps_counts_over_and_a_program_counting_elsewhere_is_replaced() {
    let lab = crate::util::Lab::new();
    lab.address_peer();
    pin_legacy_counters(&lab);
    let cpus = possible_cpus();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    lab.ok(&["apply"]);
    assert!(
        !lab.pin_dir.join(alias_ebpf::LEGACY_COUNTERS_MAP).exists(),
        "the old map's pin is removed once carried over"
    );
    assert_eq!(
        lab.counters(HOST4),
        (7 * cpus, 700 * cpus, 3 * cpus, 300 * cpus)
    );
    let (index, maps) = table_and_attached_maps(&lab);
    assert!(maps.contains(&index), "{index} not in {maps:?}");
    lab.peer.sh(&["ping", "-c", "3", "-i", "0.01", HOST4]);
    assert_eq!(lab.counters(HOST4).0, 7 * cpus + 3);

    // The table's pins removed behind alias-mgr's back: the attached
    // program counts into maps nobody reads any more. `apply` sees it is
    // not the table pinned now, and swaps the program in the same links.
    for name in [
        alias_ebpf::INDEX_MAP,
        alias_ebpf::KEYS_MAP,
        alias_ebpf::COUNTERS_MAP,
    ] {
        std::fs::remove_file(lab.pin_dir.join(name)).unwrap();
    }
    let out = lab.ok(&["apply"]);
    assert!(out.contains("classifier on eth1"), "{out}");
    let (new_index, maps) = table_and_attached_maps(&lab);
    assert_ne!(new_index, index);
    assert!(maps.contains(&new_index), "{new_index} not in {maps:?}");
    lab.peer.sh(&["ping", "-c", "2", "-i", "0.01", HOST4]);
    assert_eq!(lab.counters(HOST4).0, 2);
}
