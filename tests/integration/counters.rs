//! The classifier end to end: counts checked against ping, `ip -s link` and
//! the kernel's own TCP counters.

use std::{net::IpAddr, process::Command, thread, time::Duration};

use crate::util::{delta, Counts, Lab};

pub(crate) const HOST4: &str = "192.0.2.1";
pub(crate) const PEER4: &str = "192.0.2.2";
const HOST6: &str = "2001:db8::1";
const PEER6: &str = "2001:db8::2";

/// Addresses on both ends, classifier attached, host addresses tracked.
pub(crate) fn counting_lab(quiet: bool) -> Lab {
    let lab = Lab::new();
    if quiet {
        lab.quiet_link(&[(HOST4, PEER4), (HOST6, PEER6)]);
    }
    lab.host
        .sh(&["ip", "addr", "add", "192.0.2.1/24", "dev", "eth1"]);
    lab.host.sh(&[
        "ip",
        "addr",
        "add",
        "2001:db8::1/64",
        "dev",
        "eth1",
        "nodad",
    ]);
    lab.address_peer();
    lab.ok(&["counters", "track", HOST4]);
    lab.ok(&["counters", "track", HOST6]);
    lab.ok(&["counters", "attach", "eth1"]);
    lab
}

fn sum(a: Counts, b: Counts) -> Counts {
    (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
}

#[test]
fn ping_counts_match_ping_and_link_counters_ipv4_and_ipv6() {
    let lab = counting_lab(true);
    lab.host.settle("eth1");
    let link_before = lab.host.link_stats("eth1");
    let (v4_before, v6_before) = (lab.counters(HOST4), lab.counters(HOST6));

    lab.peer
        .sh(&["ping", "-c", "10", "-i", "0.01", "-s", "100", HOST4]);
    lab.peer
        .sh(&["ping", "-6", "-c", "7", "-i", "0.01", "-s", "200", HOST6]);

    let v4 = delta(lab.counters(HOST4), v4_before);
    let v6 = delta(lab.counters(HOST6), v6_before);
    // ICMP echo of -s N: Ethernet 14 + IPv4 20 + ICMP 8 + N; IPv6 header 40.
    assert_eq!(
        v4,
        (10, 10 * (14 + 20 + 8 + 100), 10, 10 * (14 + 20 + 8 + 100))
    );
    assert_eq!(v6, (7, 7 * (14 + 40 + 8 + 200), 7, 7 * (14 + 40 + 8 + 200)));
    let link = delta(lab.host.link_stats("eth1"), link_before);
    assert_eq!(
        link,
        sum(v4, v6),
        "ip -s link saw other traffic than the classifier"
    );
}

#[test]
fn udp_and_tcp_counts_match_link_counters_without_offloads() {
    let lab = counting_lab(true);
    let mut server = lab
        .host
        .command("iperf3")
        .args(["-s", "-1", "-B", HOST4])
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    lab.host.settle("eth1");
    let link_before = lab.host.link_stats("eth1");
    let before = lab.counters(HOST4);
    lab.peer.sh(&[
        "iperf3", "-c", HOST4, "-u", "-b", "20M", "-l", "400", "-k", "500",
    ]);
    server.wait().unwrap();
    let mut server = lab
        .host
        .command("iperf3")
        .args(["-s", "-1", "-B", HOST6])
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    let before6 = lab.counters(HOST6);
    let report: serde_json::Value = serde_json::from_str(
        &lab.peer
            .sh(&["iperf3", "-6", "-c", HOST6, "-n", "2M", "-J"]),
    )
    .unwrap();
    // What the server read (data still in flight at the end is never read).
    let received = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    server.wait().unwrap();
    thread::sleep(Duration::from_millis(200));

    let v4 = delta(lab.counters(HOST4), before);
    let v6 = delta(lab.counters(HOST6), before6);
    assert!(
        v4.0 >= 500,
        "500 UDP datagrams and the control connection: {v4:?}"
    );
    assert!(
        v6.1 >= received + v6.0 * (14 + 40 + 20),
        "{received} bytes of TCP payload: {v6:?}"
    );
    let link = delta(lab.host.link_stats("eth1"), link_before);
    assert_eq!(link, sum(v4, v6), "ip -s link and the classifier disagree");
}

#[test]
fn tcp_with_gso_counts_wire_segments_like_the_tcp_stack() {
    // Offloads stay on: the veth carries GSO super-packets, the classifier
    // must count the segments they stand for, as the TCP MIB does.
    let lab = counting_lab(false);
    let mut server = lab
        .host
        .command("iperf3")
        .args(["-s", "-1", "-B", HOST4])
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    // The kernel's InSegs counts GRO'd skbs; OutSegs + RetransSegs count
    // wire segments: what the peer sent is what the host received.
    let wire_segments =
        |ns: &crate::util::Netns| ns.snmp("Tcp", "OutSegs") + ns.snmp("Tcp", "RetransSegs");
    let peer_out = wire_segments(&lab.peer);
    let host_out = wire_segments(&lab.host);
    let link_before = lab.host.link_stats("eth1");
    let before = lab.counters(HOST4);
    let report: serde_json::Value =
        serde_json::from_str(&lab.peer.sh(&["iperf3", "-c", HOST4, "-n", "20M", "-J"])).unwrap();
    // What the server read; data still in flight when the test ends may be
    // counted on the wire but never read.
    let payload = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    server.wait().unwrap();
    thread::sleep(Duration::from_millis(200));
    let counted = delta(lab.counters(HOST4), before);
    let sent_to_host = wire_segments(&lab.peer) - peer_out;
    let sent_by_host = wire_segments(&lab.host) - host_out;
    assert_eq!(
        counted.0, sent_to_host,
        "RX packets vs the peer's TcpOutSegs"
    );
    assert_eq!(
        counted.2, sent_by_host,
        "TX packets vs the host's TcpOutSegs"
    );
    let link = delta(lab.host.link_stats("eth1"), link_before);
    assert!(
        link.0 < counted.0,
        "the veth carried GSO super-packets ({} skbs for {} segments)",
        link.0,
        counted.0
    );
    // Every wire segment carries at least Ethernet + IPv4 + TCP headers.
    assert!(
        counted.1 >= payload + counted.0 * (14 + 20 + 20),
        "{counted:?} for {payload} bytes of payload"
    );
}

#[test]
fn counts_survive_reattach_detach_and_new_processes() {
    let lab = counting_lab(true);
    lab.peer.sh(&["ping", "-c", "5", "-i", "0.01", HOST4]);
    let first = lab.counters(HOST4);
    assert_eq!(first.0, 5);

    // Attaching again is a no-op; tracking again keeps the counts.
    assert!(lab
        .ok(&["counters", "attach", "eth1"])
        .contains("unchanged"));
    assert!(lab
        .ok(&["counters", "track", HOST4])
        .contains("already tracked"));
    assert_eq!(lab.counters(HOST4), first);

    // Detach (links gone, map pinned) and attach anew: counting resumes from
    // where it was, not from 0.
    lab.ok(&["counters", "detach", "eth1"]);
    lab.peer.sh(&["ping", "-c", "3", "-i", "0.01", HOST4]);
    assert_eq!(
        lab.counters(HOST4),
        first,
        "nothing is counted while detached"
    );
    assert!(lab.ok(&["counters", "attach", "eth1"]).contains("attached"));
    lab.peer.sh(&["ping", "-c", "5", "-i", "0.01", HOST4]);
    let second = lab.counters(HOST4);
    assert_eq!(second.0, 10);
    assert_eq!(second.1, 2 * first.1);
}

#[test]
fn attachment_outlives_the_process_and_packets_pass_unchanged() {
    let lab = counting_lab(true);
    // No alias-mgr process is running now; the pinned links keep counting.
    let out = lab.peer.sh(&[
        "ping", "-c", "4", "-i", "0.01", "-p", "a5", "-s", "64", HOST4,
    ]);
    assert!(out.contains("4 received"), "{out}");
    assert_eq!(lab.counters(HOST4).0, 4);
    // Untracked addresses are not counted.
    lab.host
        .sh(&["ip", "addr", "add", "192.0.2.3/24", "dev", "eth1"]);
    lab.peer.sh(&[
        "ip",
        "neigh",
        "replace",
        "192.0.2.3",
        "lladdr",
        lab.host.json(&["ip", "-j", "link", "show", "dev", "eth1"])[0]["address"]
            .as_str()
            .unwrap(),
        "dev",
        "eth0",
    ]);
    lab.peer.sh(&["ping", "-c", "2", "-i", "0.01", "192.0.2.3"]);
    let shown = lab.ok(&["counters", "show", "--json"]);
    assert!(!shown.contains("192.0.2.3"), "{shown}");
}

#[test]
fn bad_environment_gives_one_clear_line() {
    let lab = Lab::new();
    let err = lab.fails(&["counters", "attach", "eth9"]);
    assert!(err.contains("interface \"eth9\" does not exist"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A pin directory that is not on bpffs.
    let out = lab
        .host
        .command(env!("CARGO_BIN_EXE_alias-mgr"))
        .args(["--pin-dir"])
        .arg(lab.dir.join("pins"))
        .args(["counters", "track", HOST4])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not on a BPF filesystem") && err.contains("mount -t bpf"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // Not root.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_alias-mgr"))
        .arg("--pin-dir")
        .arg(&lab.pin_dir)
        .args(["counters", "track", HOST4])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("run alias-mgr as root"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_renamed_interface_is_counted_once() {
    let lab = Lab::new();
    lab.quiet_link(&[("192.168.0.1", "192.168.0.50")]);
    lab.peer
        .sh(&["ip", "addr", "add", "192.168.0.50/24", "dev", "eth0"]);
    lab.ok(&["add", "eth1", "192.168.0.1/24"]);
    // The interface is renamed under alias-mgr; its pinned links still count
    // there, under the old name.
    lab.host.sh(&["ip", "link", "set", "eth1", "down"]);
    lab.host.sh(&["ip", "link", "set", "eth1", "name", "lan0"]);
    lab.host.sh(&["ip", "link", "set", "lan0", "up"]);
    crate::util::write(
        &lab.config_path(),
        &lab.config_text().replace("eth1", "lan0"),
    );
    let plan = lab.ok(&["plan"]);
    assert!(plan.contains("pinned for eth1"), "{plan}");
    lab.ok(&["apply"]);
    let before = lab.counters("192.168.0.1");
    lab.peer
        .sh(&["ping", "-c", "6", "-i", "0.01", "192.168.0.1"]);
    let after = lab.counters("192.168.0.1");
    assert_eq!(after.0 - before.0, 6, "counted once, not once per link");
    assert_eq!(after.2 - before.2, 6);
}

#[test]
fn counters_can_be_turned_off_and_on_in_the_config() {
    let lab = Lab::new();
    let alias = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\n";
    crate::util::write(
        &lab.config_path(),
        &format!("[settings]\ncounters = false\n\n{alias}"),
    );
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert_eq!(lab.ok(&["counters", "show", "--json"]).trim(), "[]");
    let tcx_links = || {
        std::fs::read_dir(lab.pin_dir.join("links/ingress"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(tcx_links(), 0, "nothing attached while counters are off");

    crate::util::write(&lab.config_path(), alias);
    lab.ok(&["apply"]);
    assert_eq!(lab.counters("192.168.0.1").0, 0);
    assert_eq!(tcx_links(), 1);

    crate::util::write(
        &lab.config_path(),
        &format!("[settings]\ncounters = false\n\n{alias}"),
    );
    let out = lab.ok(&["apply"]);
    assert!(
        out.contains("- counters for 192.168.0.1") && out.contains("- classifier on eth1"),
        "{out}"
    );
    assert_eq!(tcx_links(), 0);
    assert!(
        lab.host.has_address("eth1", "192.168.0.1/24"),
        "the alias stays"
    );
}

#[test]
fn an_alias_on_loopback_is_counted_like_on_ethernet() {
    // Anycast and service addresses often live on lo as /32s.
    let lab = Lab::new();
    lab.ok(&["add", "lo", "198.51.100.7/32"]);
    let before = lab.counters("198.51.100.7");
    lab.host
        .sh(&["ping", "-c", "3", "-i", "0.01", "-s", "100", "198.51.100.7"]);
    let after = lab.counters("198.51.100.7");
    // On lo each echo leaves (TX) and arrives (RX) from and to the alias,
    // and so does each reply: 6 packets each way.
    let frame = 14 + 20 + 8 + 100;
    assert_eq!(after.0 - before.0, 6);
    assert_eq!(after.1 - before.1, 6 * frame);
    assert_eq!(after.2 - before.2, 6);
}

/// A frame from `src` to `dst` (UDP, `payload` bytes) behind the given VLAN
/// tag protocol ids (0x8100 802.1Q, 0x88a8 802.1ad).
pub(crate) fn tagged_frame(tpids: &[u16], src: IpAddr, dst: IpAddr, payload: usize) -> Vec<u8> {
    let udp_len = 8 + payload as u16;
    let mut udp = vec![0x30, 0x39, 0x30, 0x39];
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    ip_frame(tpids, src, dst, 17, &udp, payload)
}

/// A frame carrying IP protocol `protocol` with `l4` as its header and
/// `payload` more bytes.
pub(crate) fn ip_frame(
    tpids: &[u16],
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    l4: &[u8],
    payload: usize,
) -> Vec<u8> {
    // To the all-zero MAC: BPF_PROG_TEST_RUN takes the frame in on
    // loopback, whose MAC that is, so it is this host's (PACKET_HOST); any
    // other would be PACKET_OTHERHOST, which RX leaves out.
    let mut frame = vec![0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 2];
    for (n, tpid) in tpids.iter().enumerate() {
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&(100 + n as u16).to_be_bytes());
    }
    let l4_len = (l4.len() + payload) as u16;
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            frame.extend_from_slice(&0x0800u16.to_be_bytes());
            frame.extend_from_slice(&[0x45, 0]);
            frame.extend_from_slice(&(20 + l4_len).to_be_bytes());
            frame.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            frame.extend_from_slice(&0x86ddu16.to_be_bytes());
            frame.extend_from_slice(&[0x60, 0, 0, 0]);
            frame.extend_from_slice(&l4_len.to_be_bytes());
            frame.extend_from_slice(&[protocol, 64]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        _ => panic!("mixed families"),
    }
    frame.extend_from_slice(l4);
    frame.resize(frame.len() + payload, 0xab);
    frame
}

/// A 20-byte TCP header (data offset 5).
pub(crate) const TCP_HEADER: [u8; 20] = [
    0x30, 0x39, 0x00, 0x16, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0,
];

/// Runs the program behind a pinned TCX link once on `frame`, in the kernel
/// (BPF_PROG_TEST_RUN through bpftool, on CPU 0), as a GSO super-packet of
/// `gso_segs` segments when given, and checks it let the frame pass. The
/// kernel takes at most a page of data: keep frames under 3 KB.
pub(crate) fn run_classifier(
    lab: &Lab,
    hook: &str,
    frame: &[u8],
    name: &str,
    gso_segs: Option<u32>,
) {
    let link = lab.pin_dir.join("links").join(hook).join("eth1");
    let out = Command::new("bpftool")
        .args(["-j", "link", "show", "pinned"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let prog_id = info["prog_id"].as_u64().expect("link names its program");
    let data = lab.dir.join(name);
    std::fs::write(&data, frame).unwrap();
    let mut command = Command::new("taskset");
    command.args([
        "-c",
        "0",
        "bpftool",
        "prog",
        "run",
        "id",
        &prog_id.to_string(),
        "data_in",
    ]);
    command.arg(&data);
    if let Some(segs) = gso_segs {
        // struct __sk_buff (192 bytes): gso_segs at 164, gso_size at 176.
        let mut ctx = vec![0u8; 192];
        ctx[164..168].copy_from_slice(&segs.to_ne_bytes());
        ctx[176..180].copy_from_slice(&500u32.to_ne_bytes());
        let ctx_path = lab.dir.join(format!("{name}.ctx"));
        std::fs::write(&ctx_path, ctx).unwrap();
        command.arg("ctx_in").arg(ctx_path);
    }
    let out = command.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    // TCX_NEXT (-1) as the kernel reports the u32 return value.
    assert!(text.contains("Return value: 4294967295"), "{text}");
}

#[test]
fn gso_super_packets_count_as_their_segments_with_repeated_headers() {
    let lab = counting_lab(false);
    let (host4, peer4): (IpAddr, IpAddr) = (HOST4.parse().unwrap(), PEER4.parse().unwrap());
    let (host6, peer6): (IpAddr, IpAddr) = (HOST6.parse().unwrap(), PEER6.parse().unwrap());
    for (src, dst, host, ip_header) in [(peer4, host4, HOST4, 20), (peer6, host6, HOST6, 40)] {
        // TCP: each of the 4 segments carries Ethernet + IP + TCP headers.
        let frame = ip_frame(&[], src, dst, 6, &TCP_HEADER, 4 * 500);
        let before = lab.counters(host);
        run_classifier(&lab, "ingress", &frame, "gso-tcp", Some(4));
        let headers = 14 + ip_header + 20;
        assert_eq!(
            delta(lab.counters(host), before),
            (4, frame.len() as u64 + 3 * headers, 0, 0),
            "TCP {src} -> {dst}"
        );
        // UDP (GSO for QUIC and tunnels): an 8-byte header per segment.
        let frame = tagged_frame(&[], src, dst, 3 * 500);
        let before = lab.counters(host);
        run_classifier(&lab, "ingress", &frame, "gso-udp", Some(3));
        assert_eq!(
            delta(lab.counters(host), before),
            (3, frame.len() as u64 + 2 * (14 + ip_header + 8), 0, 0),
            "UDP {src} -> {dst}"
        );
    }
}

#[test]
fn vlan_tagged_frames_are_counted_through_two_tags_in_the_kernel() {
    // The 8021q module is missing on some kernels (this one), and hardware
    // strips the outer tag anyway: tagged frames are fed to the attached
    // program directly, so the parser runs exactly as on a trunk port.
    let lab = counting_lab(false);
    let (host4, peer4): (IpAddr, IpAddr) = (HOST4.parse().unwrap(), PEER4.parse().unwrap());
    let (host6, peer6): (IpAddr, IpAddr) = (HOST6.parse().unwrap(), PEER6.parse().unwrap());
    let cases: [(&str, &[u16]); 4] = [
        ("untagged", &[]),
        ("dot1q", &[0x8100]),
        ("qinq", &[0x88a8, 0x8100]),
        ("double-dot1q", &[0x8100, 0x8100]),
    ];
    for (name, tpids) in cases {
        for (hook, src, dst, host) in [
            ("ingress", peer4, host4, HOST4),
            ("egress", host4, peer4, HOST4),
            ("ingress", peer6, host6, HOST6),
            ("egress", host6, peer6, HOST6),
        ] {
            let frame = tagged_frame(tpids, src, dst, 300);
            let before = lab.counters(host);
            run_classifier(&lab, hook, &frame, name, None);
            let counted = delta(lab.counters(host), before);
            let len = frame.len() as u64;
            let expected = if hook == "ingress" {
                (1, len, 0, 0)
            } else {
                (0, 0, 1, len)
            };
            assert_eq!(counted, expected, "{name} {hook} {src} -> {dst}");
        }
    }

    // Three tags are past what the parser follows, and a frame cut short
    // inside the IP header is not read past its end: neither is counted.
    for (name, frame) in [
        (
            "three-tags",
            tagged_frame(&[0x88a8, 0x8100, 0x8100], peer4, host4, 300),
        ),
        (
            "truncated",
            tagged_frame(&[0x8100], peer4, host4, 0)[..14 + 4 + 18].to_vec(),
        ),
    ] {
        let before = lab.counters(HOST4);
        run_classifier(&lab, "ingress", &frame, name, None);
        assert_eq!(lab.counters(HOST4), before, "{name}");
    }
}

#[test]
fn under_ip_netns_exec_counters_are_off_with_the_fix_named_and_the_alias_still_added() {
    // `ip netns exec` remounts /sys in a mount namespace of its own, so
    // /sys/fs/bpf is no bpffs there and a bpffs mounted there dies with the
    // command. Pinning into it would report counters that are gone a moment
    // later; alias-mgr says so and manages the address all the same.
    let lab = Lab::new();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.host.name,
            env!("CARGO_BIN_EXE_alias-mgr"),
        ])
        .arg("--config")
        .arg(lab.config_path())
        .arg("--pin-dir")
        .arg(&lab.pin_dir)
        .args(["add", "eth1", "192.0.2.1/24"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("counters are off") && stdout.contains("nsenter --net="),
        "{stdout}"
    );
    assert!(
        !stdout.contains("+ classifier") && !stdout.contains("+ counters"),
        "{stdout}"
    );
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));
    assert!(
        !lab.pin_dir.exists(),
        "nothing pinned where it would vanish"
    );

    // From the namespace the host shares (nsenter --net), counting works.
    let out = lab.ok(&["apply"]);
    assert!(out.contains("+ classifier on eth1"), "{out}");
    lab.peer
        .sh(&["ip", "addr", "add", "192.0.2.2/24", "dev", "eth0"]);
    let before = lab.counters(HOST4);
    lab.peer
        .sh(&["ping", "-c", "3", "-i", "0.01", "-s", "100", HOST4]);
    let counted = delta(lab.counters(HOST4), before);
    assert_eq!((counted.0, counted.2), (3, 3), "{counted:?}");
}
