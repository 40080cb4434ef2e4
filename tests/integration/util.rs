//! Shared helpers: network namespaces and labs that clean up on drop, and a
//! runner for the alias-mgr binary inside a namespace.
//!
//! Namespaces are entered with `nsenter --net` (not `ip netns exec`, which
//! remounts /sys and would hide the bpffs the pins live on).

use std::{
    ops::Deref,
    path::{Path, PathBuf},
    process::{Command, Output},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
pub use testkit::Process;

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("integration tests need root (they create network namespaces and BPF pins): run `cargo xtask test` as root");
    }
}

fn check(command: &mut Command) -> String {
    testkit::run(command).unwrap_or_else(|failed| panic!("{failed}"))
}

/// A network namespace of this test (testkit's guard: deleted on drop),
/// with the observers the tests assert against.
pub struct Netns(testkit::Netns);

impl Deref for Netns {
    type Target = testkit::Netns;

    fn deref(&self) -> &testkit::Netns {
        &self.0
    }
}

impl Netns {
    pub fn new(tag: &str) -> Self {
        Netns(testkit::Netns::unique(tag).unwrap_or_else(|failed| panic!("{failed}")))
    }

    /// Runs a command in the namespace; panics on failure.
    pub fn sh(&self, args: &[&str]) -> String {
        check(self.command(args[0]).args(&args[1..]))
    }

    /// `ip addr add CIDR dev IFACE`, IPv6 without the DAD wait: the
    /// address is usable (and defends itself) at once.
    pub fn add_address(&self, iface: &str, cidr: &str) {
        let mut args = vec!["ip", "addr", "add", cidr, "dev", iface];
        if cidr.contains(':') {
            args.push("nodad");
        }
        self.sh(&args);
    }

    /// Runs a command in the namespace; returns whether it succeeded.
    pub fn try_sh(&self, args: &[&str]) -> bool {
        self.command(args[0])
            .args(&args[1..])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.sh(args)).expect("valid JSON")
    }

    /// `ip -j addr show dev IFACE` as (address/prefix, label) pairs.
    pub fn addresses(&self, iface: &str) -> Vec<(String, Option<String>)> {
        let json = self.json(&["ip", "-j", "addr", "show", "dev", iface]);
        json[0]["addr_info"]
            .as_array()
            .map(|infos| {
                infos
                    .iter()
                    .filter(|i| i["scope"] != "link")
                    .map(|i| {
                        (
                            format!("{}/{}", i["local"].as_str().unwrap(), i["prefixlen"]),
                            i["label"].as_str().map(String::from),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn has_address(&self, iface: &str, cidr: &str) -> bool {
        self.addresses(iface).iter().any(|(a, _)| a == cidr)
    }

    /// `ip -j route` destinations (with their JSON).
    pub fn routes(&self, family: &str) -> Vec<Value> {
        self.json(&["ip", "-j", family, "route", "show", "table", "main"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn has_route(&self, family: &str, dst: &str) -> bool {
        self.routes(family).iter().any(|r| r["dst"] == dst)
    }

    /// `ip -s link` counters of an interface: (rx_packets, rx_bytes, tx_packets, tx_bytes).
    pub fn link_stats(&self, iface: &str) -> (u64, u64, u64, u64) {
        let json = self.json(&["ip", "-j", "-s", "link", "show", "dev", iface]);
        let stats = &json[0]["stats64"];
        let n = |dir: &str, what: &str| stats[dir][what].as_u64().unwrap();
        (
            n("rx", "packets"),
            n("rx", "bytes"),
            n("tx", "packets"),
            n("tx", "bytes"),
        )
    }

    /// Waits until the interface's counters stop moving (IPv6 MLD reports,
    /// ARP) so a measurement window sees only the test's own traffic.
    pub fn settle(&self, iface: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = self.link_stats(iface);
        let mut quiet_since = Instant::now();
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(250));
            let now = self.link_stats(iface);
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= Duration::from_millis(1500) {
                return;
            }
        }
        panic!("{iface} in {} never went quiet", self.name);
    }

    /// A counter from /proc/net/snmp (e.g. "Tcp", "InSegs") of this namespace.
    pub fn snmp(&self, group: &str, field: &str) -> u64 {
        let text = self.sh(&["cat", "/proc/net/snmp"]);
        let mut lines = text.lines().filter(|l| l.starts_with(&format!("{group}:")));
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let values: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let at = header
            .iter()
            .position(|h| *h == field)
            .unwrap_or_else(|| panic!("no {group} {field}"));
        values[at].parse().unwrap()
    }
}

/// Two namespaces joined by a veth pair: `host` (where alias-mgr runs, its end
/// is `eth1`) and `peer` (its end is `eth0`), plus a private config directory
/// and bpffs pin directory, all removed on drop, also when a test fails.
pub struct Lab {
    pub host: Netns,
    pub peer: Netns,
    pub dir: PathBuf,
    pub pin_dir: PathBuf,
}

impl Lab {
    pub fn new() -> Self {
        require_root();
        let host = Netns::new("h");
        let peer = Netns::new("p");
        check(Command::new("ip").args([
            "link", "add", "eth1", "netns", &host.name, "type", "veth", "peer", "name", "eth0",
            "netns", &peer.name,
        ]));
        let id = format!("{}-lab", host.name);
        let dir = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Lab {
            host,
            peer,
            dir,
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/{id}")),
        };
        lab.host.sh(&["ip", "link", "set", "eth1", "up"]);
        lab.peer.sh(&["ip", "link", "set", "eth0", "up"]);
        lab
    }

    /// Removes the interfaces' IPv6 link-local addresses and offloads, and
    /// pins the neighbours, so the link carries only the test's own packets
    /// and `ip -s link` counts the same packets as the classifier.
    pub fn quiet_link(&self, pairs: &[(&str, &str)]) {
        for (ns, iface) in [(&self.host, "eth1"), (&self.peer, "eth0")] {
            ns.sh(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{iface}.addr_gen_mode=1"),
            ]);
            ns.sh(&["ip", "link", "set", iface, "down"]);
            ns.sh(&["ip", "link", "set", iface, "up"]);
            ns.sh(&[
                "ethtool", "-K", iface, "tso", "off", "gso", "off", "gro", "off",
            ]);
        }
        let mac = |ns: &Netns, iface: &str| {
            ns.json(&["ip", "-j", "link", "show", "dev", iface])[0]["address"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (host_mac, peer_mac) = (mac(&self.host, "eth1"), mac(&self.peer, "eth0"));
        for (host_ip, peer_ip) in pairs {
            self.host.sh(&[
                "ip",
                "neigh",
                "replace",
                peer_ip,
                "lladdr",
                &peer_mac,
                "dev",
                "eth1",
                "nud",
                "permanent",
            ]);
            self.peer.sh(&[
                "ip",
                "neigh",
                "replace",
                host_ip,
                "lladdr",
                &host_mac,
                "dev",
                "eth0",
                "nud",
                "permanent",
            ]);
        }
    }

    /// The peer's end gets 192.0.2.2/24 and 2001:db8::2/64 (no DAD wait).
    pub fn address_peer(&self) {
        self.peer.add_address("eth0", "192.0.2.2/24");
        self.peer.add_address("eth0", "2001:db8::2/64");
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("alias-mgr.toml")
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap_or_default()
    }

    /// Runs alias-mgr in the host namespace with this lab's config and pins.
    pub fn alias_mgr(&self, args: &[&str]) -> Output {
        self.alias_mgr_command(args)
            .output()
            .expect("alias-mgr runs")
    }

    /// The alias-mgr command `alias_mgr` runs, to adjust (e.g. its environment).
    pub fn alias_mgr_command(&self, args: &[&str]) -> Command {
        self.alias_mgr_with(&self.config_path(), args)
    }

    /// alias-mgr in the host namespace with this lab's pins and `config`.
    pub fn alias_mgr_with(&self, config: &Path, args: &[&str]) -> Command {
        let mut command = self.host.command(env!("CARGO_BIN_EXE_alias-mgr"));
        command
            .arg("--config")
            .arg(config)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(args);
        command
    }

    /// Runs alias-mgr and panics (with its output) unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.alias_mgr(args);
        assert!(
            out.status.success(),
            "alias-mgr {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs alias-mgr expecting failure; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.alias_mgr(args);
        assert!(
            !out.status.success(),
            "alias-mgr {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "alias-mgr panicked: {stderr}");
        stderr
    }

    /// Per-address counters from `alias-mgr counters show --json`.
    pub fn counters(&self, address: &str) -> (u64, u64, u64, u64) {
        let json: Value = serde_json::from_str(&self.ok(&["counters", "show", "--json"])).unwrap();
        let row = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["address"] == address)
            .unwrap_or_else(|| panic!("{address} is not tracked: {json}"));
        let n = |k: &str| row[k].as_u64().unwrap();
        (
            n("rx_packets"),
            n("rx_bytes"),
            n("tx_packets"),
            n("tx_bytes"),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Removing the pins detaches the links; deleting the namespaces
        // removes the interfaces.
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The addresses the counters table tracks, as the kernel holds them:
/// bpftool's dump of the pinned index (used slots name a counter number)
/// and of the keys array, decoded here from their raw bytes.
pub fn tracked_in_kernel(lab: &Lab) -> Vec<std::net::IpAddr> {
    let dump = |name: &str| -> Vec<Vec<u8>> {
        let pin = lab.pin_dir.join(name);
        let json = lab.host.json(&[
            "bpftool",
            "-j",
            "map",
            "dump",
            "pinned",
            pin.to_str().unwrap(),
        ]);
        json.as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                entry["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|byte| u8::from_str_radix(&byte.as_str().unwrap()[2..], 16).unwrap())
                    .collect()
            })
            .collect()
    };
    let keys = dump(alias_ebpf::KEYS_MAP);
    let mut tracked: Vec<std::net::IpAddr> = dump(alias_ebpf::INDEX_MAP)
        .iter()
        .filter_map(|slot| {
            let slot = u64::from_ne_bytes(slot[..8].try_into().unwrap());
            alias_ebpf::IndexSlot::counter(slot)
        })
        .map(|counter| {
            let key: [u8; 16] = keys[counter as usize][..16].try_into().unwrap();
            alias_ebpf::AddrKey::from_ipv6_octets(key).ip()
        })
        .collect();
    tracked.sort();
    tracked
}

pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Per-address counters or link statistics: (rx packets, rx bytes, tx packets, tx bytes).
pub type Counts = (u64, u64, u64, u64);

/// Checks that no counter of a series of readings ever went down, and
/// that they went up at least `moves` times (so they were read while the
/// traffic flowed).
pub fn assert_never_backwards(seen: &[Counts], moves: usize) {
    for pair in seen.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            b.0 >= a.0 && b.1 >= a.1 && b.2 >= a.2 && b.3 >= a.3,
            "a counter went backwards: {a:?} -> {b:?}\nall: {seen:?}"
        );
    }
    assert!(
        seen.windows(2).filter(|p| p[1].0 > p[0].0).count() >= moves,
        "counters moved while read only rarely: {seen:?}"
    );
}

pub fn delta(after: Counts, before: Counts) -> Counts {
    (
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
        after.3 - before.3,
    )
}
