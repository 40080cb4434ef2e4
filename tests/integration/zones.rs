//! Firewall zones end to end: real TCP/UDP/ICMP through the real nft
//! ruleset, observed with `nft -j` and traffic outcomes.

use std::{thread, time::Duration};

use serde_json::Value;

use crate::util::{write, Lab, Netns, Process};

fn iperf_server(ns: &Netns, port: u16) -> Process {
    let child = ns
        .command("iperf3")
        .args(["-s", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    Process(child)
}

/// Whether a TCP connection from `ns` (source `from`) to `to:port` opens within 2 s.
fn connects(ns: &Netns, from: &str, to: &str, port: u16) -> bool {
    ns.command("python3")
        .args([
            "-c",
            "import socket,sys; s=socket.socket(); s.settimeout(2); s.bind((sys.argv[1],0)); s.connect((sys.argv[2],int(sys.argv[3])))",
            from,
            to,
            &port.to_string(),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Sends `count` UDP datagrams of `payload` bytes from `from` to `to:port`.
fn udp_send(ns: &Netns, from: &str, to: &str, port: u16, count: u32, payload: usize) {
    ns.sh(&[
        "python3",
        "-c",
        "import socket,sys\nfor i in range(int(sys.argv[4])):\n s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind((sys.argv[1],0)); s.sendto(b'x'*int(sys.argv[5]),(sys.argv[2],int(sys.argv[3]))); s.close()",
        from,
        to,
        &port.to_string(),
        &count.to_string(),
        &payload.to_string(),
    ]);
}

fn table(ns: &Netns, family: &str, name: &str) -> String {
    ns.sh(&["nft", "list", "table", family, name])
}

/// An nft listing without its counter values, to compare rule sets.
fn without_counts(listing: &str) -> String {
    listing
        .lines()
        .filter(|l| !l.trim_start().starts_with("packets "))
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

fn zone_counter(lab: &Lab, zone: &str, direction: &str, verdict: &str) -> (u64, u64) {
    let json: Value = serde_json::from_str(&lab.ok(&["zones", "--json"])).unwrap();
    let zone = json
        .as_array()
        .unwrap()
        .iter()
        .find(|z| z["name"] == zone)
        .unwrap();
    let counter = zone["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["direction"] == direction && c["verdict"] == verdict)
        .unwrap();
    (
        counter["packets"].as_u64().unwrap(),
        counter["bytes"].as_u64().unwrap(),
    )
}

/// The host has 192.168.1.1/24 (no zone) and gets the alias 192.168.0.1/24
/// in zone `lab`; the peer has an address on each subnet.
fn zone_lab(zone_policy: &str) -> Lab {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.0.50/24", "dev", "eth0"]);
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.1.50/24", "dev", "eth0"]);
    write(
        &lab.config_path(),
        &format!("# zones test\n[zone.lab]\n{zone_policy}\n"),
    );
    lab.ok(&["add", "eth1", "192.168.0.1/24", "--zone", "lab"]);
    lab
}

#[test]
fn zone_policy_allows_its_services_and_drops_the_rest_with_exact_counters() {
    let lab = zone_lab("input = \"drop\"\nallow = [\"tcp/5201\", \"udp/5201\", \"icmp\"]");
    let _allowed = iperf_server(&lab.host, 5201);
    let _denied = iperf_server(&lab.host, 5202);

    assert!(
        connects(&lab.peer, "192.168.0.50", "192.168.0.1", 5201),
        "allowed service refused"
    );
    // An allowed UDP service: iperf3 in UDP mode (its control channel is the
    // allowed TCP port) gets its datagrams through.
    let udp: Value = serde_json::from_str(&lab.peer.sh(&[
        "iperf3",
        "-c",
        "192.168.0.1",
        "-B",
        "192.168.0.50",
        "-p",
        "5201",
        "-u",
        "-b",
        "1M",
        "-t",
        "1",
        "-J",
    ]))
    .unwrap();
    let datagrams = udp["end"]["sum"]["packets"].as_u64().unwrap_or(0);
    let lost = udp["end"]["sum"]["lost_packets"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(
        datagrams > 0 && lost == 0,
        "UDP to an allowed port: {}",
        udp["end"]["sum"]
    );
    assert!(
        !connects(&lab.peer, "192.168.0.50", "192.168.0.1", 5202),
        "denied service reachable"
    );
    assert!(
        lab.peer.try_sh(&[
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-I",
            "192.168.0.50",
            "192.168.0.1"
        ]),
        "icmp allowed"
    );
    // The primary subnet is in no zone: alias-mgr does not police it.
    assert!(connects(&lab.peer, "192.168.1.50", "192.168.1.1", 5202));

    // Exact counters: every datagram to a closed-off port is a new flow, dropped.
    let (drops_before, drop_bytes_before) = zone_counter(&lab, "lab", "input", "drop");
    let (accepts_before, _) = zone_counter(&lab, "lab", "input", "accept");
    udp_send(&lab.peer, "192.168.0.50", "192.168.0.1", 9999, 7, 100);
    let (drops, drop_bytes) = zone_counter(&lab, "lab", "input", "drop");
    assert_eq!(drops - drops_before, 7);
    assert_eq!(
        drop_bytes - drop_bytes_before,
        7 * (20 + 8 + 100),
        "IPv4 + UDP headers + payload"
    );
    // A new ping session: its first echo request is a new flow, accepted; the
    // rest of the session is established and accepted before zone rules.
    lab.peer.sh(&[
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        "-I",
        "192.168.0.50",
        "192.168.0.1",
    ]);
    assert_eq!(
        zone_counter(&lab, "lab", "input", "accept").0 - accepts_before,
        1
    );

    // The ruleset the kernel holds is alias-mgr's own table, with the set.
    let listed = lab
        .host
        .json(&["nft", "-j", "list", "set", "inet", "alias_mgr", "z_lab_v4"]);
    let text = listed.to_string();
    assert!(text.contains("192.168.0.0"), "{text}");
}

#[test]
fn reject_policy_refuses_at_once_and_forward_matrix_is_shown() {
    let lab = zone_lab("input = \"reject\"\nforward = { dmz = \"accept\" }\n\n[zone.dmz]\nsubnets = [\"198.51.100.0/24\"]");
    let _server = iperf_server(&lab.host, 5202);
    let started = std::time::Instant::now();
    assert!(!connects(&lab.peer, "192.168.0.50", "192.168.0.1", 5202));
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "reject answers, it does not time out"
    );
    let zones = lab.ok(&["zones"]);
    assert!(
        zones.contains("zone dmz") && zones.contains("dmz accept"),
        "{zones}"
    );
    let forward = table(&lab.host, "inet", "alias_mgr");
    assert!(
        forward.contains("chain fwd_lab") && forward.contains("@z_dmz_v4"),
        "{forward}"
    );
}

#[test]
fn other_tables_are_untouched_by_apply_reload_and_removal() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"]);
    let user_rules = "table inet userfw {\n set blocked { type ipv4_addr; elements = { 203.0.113.9 } }\n chain c {\n  type filter hook input priority 10; policy accept;\n  ip saddr @blocked drop\n }\n}\n";
    let rules_file = lab.dir.join("user.nft");
    write(&rules_file, user_rules);
    lab.host.sh(&["nft", "-f", rules_file.to_str().unwrap()]);
    let before = table(&lab.host, "inet", "userfw");

    write(&lab.config_path(), "[zone.lab]\ninput = \"drop\"\n");
    lab.ok(&["add", "eth1", "192.168.0.1/24", "--zone", "lab"]);
    assert_eq!(table(&lab.host, "inet", "userfw"), before);
    lab.ok(&["add", "eth1", "192.168.5.1/24", "--zone", "lab"]);
    assert_eq!(table(&lab.host, "inet", "userfw"), before);
    lab.ok(&["del", "eth1", "192.168.5.1"]);
    lab.ok(&["del", "eth1", "192.168.0.1"]);
    // No zone left in the file: the table goes, and only it.
    write(&lab.config_path(), "# no zones\n");
    lab.ok(&["apply"]);
    assert!(!lab
        .host
        .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]));
    assert_eq!(table(&lab.host, "inet", "userfw"), before);
}

#[test]
fn an_established_connection_survives_100_reloads() {
    let lab = zone_lab("input = \"drop\"\nallow = [\"tcp/5201\"]");
    let _server = iperf_server(&lab.host, 5201);
    let client = lab
        .peer
        .command("iperf3")
        .args([
            "-c",
            "192.168.0.1",
            "-B",
            "192.168.0.50",
            "-p",
            "5201",
            "-t",
            "25",
            "-b",
            "20M",
            "-J",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(1500));
    // From now on new connections to 5201 are dropped; and every apply
    // reloads the table because the zone's extra subnets alternate.
    let base = lab
        .config_text()
        .replace("allow = [\"tcp/5201\"]", "allow = []");
    for round in 0..100 {
        let extra = if round % 2 == 0 {
            "subnets = [\"10.50.0.0/16\"]\n"
        } else {
            "subnets = []\n"
        };
        write(
            &lab.config_path(),
            &base.replace("[zone.lab]\n", &format!("[zone.lab]\n{extra}")),
        );
        let out = lab.ok(&["apply"]);
        assert!(out.contains("reload"), "round {round}: {out}");
    }
    assert!(
        !connects(&lab.peer, "192.168.0.50", "192.168.0.1", 5201),
        "new connections are dropped now"
    );
    let output = client.wait_with_output().unwrap();
    assert!(output.status.success(), "the iperf3 stream broke");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    assert!(received > 10_000_000, "{received} bytes");
    assert!(report["error"].is_null(), "{}", report["error"]);
}

#[test]
fn a_refused_batch_leaves_the_previous_ruleset_and_addresses_in_force() {
    let lab = zone_lab("input = \"drop\"");
    let before = lab
        .host
        .sh(&["nft", "-j", "list", "table", "inet", "alias_mgr"]);
    let addresses = lab.host.addresses("eth1");
    // An nft that breaks the real load (not the -c check) with a rule that
    // jumps to a missing chain: the kernel refuses the whole transaction.
    let fake = lab.dir.join("fake-nft");
    write(
        &fake,
        "#!/usr/bin/env python3\nimport json, subprocess, sys\nargs = sys.argv[1:]\nif '-f' in args and '-c' not in args:\n    batch = json.load(sys.stdin)\n    batch['nftables'].append({'add': {'rule': {'family': 'inet', 'table': 'alias_mgr', 'chain': 'input', 'expr': [{'jump': {'target': 'missing'}}]}}})\n    sys.exit(subprocess.run(['nft'] + args, input=json.dumps(batch).encode()).returncode)\nsys.exit(subprocess.run(['nft'] + args).returncode)\n",
    );
    lab.host.sh(&["chmod", "+x", fake.to_str().unwrap()]);
    let out = lab
        .alias_mgr_command(&["add", "eth1", "192.168.7.1/24", "--zone", "lab"])
        .env("ALIAS_MGR_NFT", &fake)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("nft refused") && err.contains("previous ruleset stays"),
        "{err}"
    );
    assert_eq!(
        lab.host
            .sh(&["nft", "-j", "list", "table", "inet", "alias_mgr"]),
        before
    );
    assert_eq!(
        lab.host.addresses("eth1"),
        addresses,
        "the address change was rolled back"
    );
    assert!(!lab.config_text().contains("192.168.7.1"));
}

#[test]
fn bad_zone_input_is_refused_and_the_ruleset_is_unchanged() {
    let lab = zone_lab("input = \"drop\"");
    let before = lab.host.sh(&["nft", "-j", "list", "ruleset"]);
    let config = lab.config_text();
    for (broken, expected) in [
        (
            config.replace(
                "input = \"drop\"",
                "input = \"drop\"\nallow = [\"tcp/99999\"]",
            ),
            "99999",
        ),
        (
            config.replace("input = \"drop\"", "input = \"drop\"\nallow = [\"sctp/1\"]"),
            "sctp",
        ),
        (
            format!("{config}\n[zone.other]\nsubnets = [\"192.168.0.128/25\"]\n"),
            "overlap",
        ),
        (
            config.replace("zone = \"lab\"", "zone = \"nosuch\""),
            "nosuch",
        ),
    ] {
        write(&lab.config_path(), &broken);
        let err = lab.fails(&["apply"]);
        assert!(
            err.to_lowercase().contains(expected),
            "expected {expected:?} in {err}"
        );
        assert_eq!(lab.host.sh(&["nft", "-j", "list", "ruleset"]), before);
    }
    write(&lab.config_path(), &config);
    let out = lab
        .alias_mgr_command(&["add", "eth1", "192.168.9.1/24", "--zone", "lab"])
        .env("ALIAS_MGR_NFT", "/nonexistent/nft")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("install nftables"), "{err}");
    assert!(!lab.host.has_address("eth1", "192.168.9.1/24"));
}

#[test]
fn dry_run_prints_the_table_nft_lists_after_apply() {
    let lab = Lab::new();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzone = \"lab\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"2001:db8::1/64\"\nzone = \"lab\"\n\n[zone.lab]\ninput = \"drop\"\nallow = [\"tcp/22\", \"icmp\"]\nforward = { dmz = \"accept\" }\n\n[zone.dmz]\nsubnets = [\"198.51.100.0/24\"]\n",
    );
    let dry = lab.ok(&["apply", "--dry-run"]);
    let (_, text) = dry
        .split_once("nft table apply would load (one transaction):\n")
        .unwrap_or_else(|| panic!("{dry}"));
    let (text, rest) = text
        .split_once("dry run: nothing was changed")
        .unwrap_or_else(|| panic!("{dry}"));
    assert_eq!(rest.trim(), "", "{dry}");
    assert!(
        !lab.host
            .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]),
        "dry run loaded nothing"
    );
    lab.ok(&["apply"]);
    let listed = table(&lab.host, "inet", "alias_mgr");
    assert_eq!(without_counts(text.trim()), without_counts(listed.trim()));
}

#[test]
fn hand_edits_of_the_zone_table_are_seen_and_undone() {
    let lab = zone_lab("input = \"drop\"\nallow = [\"icmp\"]");
    let original = table(&lab.host, "inet", "alias_mgr");
    // The zone's drop rule deleted by handle: the zone is open.
    let listing = lab
        .host
        .sh(&["nft", "-a", "list", "chain", "inet", "alias_mgr", "in_lab"]);
    let handle = listing
        .lines()
        .find(|l| l.contains("\"in_lab_drop\" drop"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{listing}"))
        .to_string();
    lab.host.sh(&[
        "nft",
        "delete",
        "rule",
        "inet",
        "alias_mgr",
        "in_lab",
        "handle",
        &handle,
    ]);
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("changed outside alias-mgr"), "{plan}");
    lab.ok(&["apply"]);
    assert_eq!(
        without_counts(&table(&lab.host, "inet", "alias_mgr")),
        without_counts(&original)
    );

    // A subnet taken out of the zone's set.
    lab.host.sh(&[
        "nft",
        "delete",
        "element",
        "inet",
        "alias_mgr",
        "z_lab_v4",
        "{ 192.168.0.0/24 }",
    ]);
    assert!(lab.ok(&["plan"]).contains("changed outside alias-mgr"));
    lab.ok(&["apply"]);
    assert_eq!(
        without_counts(&table(&lab.host, "inet", "alias_mgr")),
        without_counts(&original)
    );
    assert!(lab.ok(&["plan"]).contains("nothing to do"));
}
