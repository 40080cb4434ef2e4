//! `alias-mgr daemon` end to end, in the lab's namespaces: /metrics checked
//! against ping counts, `ip -s link` and nft; `promtool check metrics`; a real
//! Prometheus running every query of the Grafana dashboard; drift healing seen
//! with `ip -j addr`; reloads; a restart under traffic; bad input.

use std::{
    fs::File,
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    os::{fd::AsRawFd, unix::net::UnixDatagram},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::util::{assert_never_backwards, delta, write, Lab, Netns, Process};

const HOST4: &str = "192.0.2.1";
const PEER4: &str = "192.0.2.2";
const HOST6: &str = "2001:db8::1";
const PEER6: &str = "2001:db8::2";
/// The daemon's default port; each lab's namespace has its own.
const LISTEN: &str = "127.0.0.1:16100";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Opens a TCP connection from inside `ns`: the thread enters the namespace
/// only for the connect; the socket stays in the namespace it was made in.
pub(crate) fn connect_in(ns: &Netns, address: SocketAddr) -> io::Result<TcpStream> {
    let own = File::open("/proc/thread-self/ns/net")?;
    let target = File::open(format!("/run/netns/{}", ns.name))?;
    // SAFETY: setns with namespace fds we hold; it changes this thread only.
    if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5));
    // SAFETY: as above, back to the thread's own namespace.
    let back = unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(back, 0, "returning to the test's network namespace");
    stream
}

/// An HTTP/1.0 GET (so no chunked answers): (status, headers, body).
fn http_get(ns: &Netns, address: SocketAddr, path: &str) -> io::Result<(u16, String, String)> {
    let mut stream = connect_in(ns, address)?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One sample of the text format: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses `name{a="x",b="y"} value` lines (with the format's escapes).
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => {
                let mut labels = Vec::new();
                let mut chars = rest.trim_end_matches('}').chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next() {
                                Some('n') => value.push('\n'),
                                Some(other) => value.push(other),
                                None => {}
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.push((key.trim_start_matches(',').to_string(), value));
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_string(), labels)
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

pub(crate) struct Metrics {
    pub(crate) text: String,
    samples: Vec<Sample>,
}

impl Metrics {
    /// Samples of `name` having every one of `labels`.
    fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .collect()
    }

    /// The value of the one sample of `name` with `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.find(name, labels).as_slice() {
            [one] => one.value,
            other => panic!(
                "{} samples of {name} {labels:?}: {other:?}\n{}",
                other.len(),
                self.text
            ),
        }
    }

    fn label<'a>(sample: &'a Sample, key: &str) -> &'a str {
        sample
            .labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// (rx_packets, rx_bytes, tx_packets, tx_bytes) of an address.
    pub(crate) fn traffic(&self, address: &str) -> (u64, u64, u64, u64) {
        let v = |name: &str| self.value(name, &[("address", address)]) as u64;
        (
            v("alias_mgr_receive_packets_total"),
            v("alias_mgr_receive_bytes_total"),
            v("alias_mgr_transmit_packets_total"),
            v("alias_mgr_transmit_bytes_total"),
        )
    }
}

/// A running `alias-mgr daemon` in the lab's host namespace; killed on drop.
pub(crate) struct Daemon<'a> {
    lab: &'a Lab,
    pub(crate) child: Child,
    log: PathBuf,
    notify: UnixDatagram,
    pub(crate) address: SocketAddr,
}

impl<'a> Daemon<'a> {
    /// Starts the daemon and waits for its READY=1 (sd_notify).
    pub(crate) fn start(lab: &'a Lab, args: &[&str]) -> Daemon<'a> {
        Self::start_with(lab, &lab.pin_dir, args)
    }

    pub(crate) fn start_with(lab: &'a Lab, pin_dir: &Path, args: &[&str]) -> Daemon<'a> {
        Self::spawn(lab, pin_dir, args).wait_ready()
    }

    fn wait_ready(self) -> Daemon<'a> {
        let mut daemon = self;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 512];
        loop {
            if let Ok(n) = daemon.notify.recv(&mut buf) {
                if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                    break;
                }
            }
            if let Some(status) = daemon.child.try_wait().unwrap() {
                panic!(
                    "the daemon exited ({status}) before READY=1:\n{}",
                    daemon.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no READY=1 within 20 s:\n{}",
                daemon.log()
            );
        }
        daemon
    }

    /// Starts the daemon without waiting for anything.
    pub(crate) fn spawn(lab: &'a Lab, pin_dir: &Path, args: &[&str]) -> Daemon<'a> {
        Self::spawn_with_env(lab, pin_dir, args, &[])
    }

    /// Starts the daemon with extra environment and waits for READY=1.
    pub(crate) fn start_with_env(lab: &'a Lab, args: &[&str], env: &[(&str, &str)]) -> Daemon<'a> {
        let daemon = Self::spawn_with_env(lab, &lab.pin_dir, args, env);
        daemon.wait_ready()
    }

    fn spawn_with_env(
        lab: &'a Lab,
        pin_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon<'a> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let log = lab.dir.join(format!("daemon-{n}.log"));
        let socket_path = lab.dir.join(format!("notify-{n}.sock"));
        let notify = UnixDatagram::bind(&socket_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let out = File::create(&log).unwrap();
        let child = lab
            .host
            .command(env!("CARGO_BIN_EXE_alias-mgr"))
            .arg("--config")
            .arg(lab.config_path())
            .arg("--pin-dir")
            .arg(pin_dir)
            .arg("daemon")
            .args(args)
            .env("NOTIFY_SOCKET", &socket_path)
            .envs(env.iter().copied())
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let listen = args
            .iter()
            .position(|a| *a == "--listen")
            .map(|i| args[i + 1])
            .unwrap_or(LISTEN);
        Daemon {
            lab,
            child,
            log,
            notify,
            address: listen.parse().unwrap(),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        http_get(&self.lab.host, self.address, path)
            .unwrap_or_else(|err| panic!("GET {path}: {err}\n{}", self.log()))
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let (status, _, body) = self.get("/metrics");
        assert_eq!(status, 200, "{body}");
        Metrics {
            samples: parse_metrics(&body),
            text: body,
        }
    }

    /// Polls /metrics until `check` holds (bounded wait).
    pub(crate) fn wait_for(&self, what: &str, check: impl Fn(&Metrics) -> bool) -> Metrics {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let metrics = self.metrics();
            if check(&metrics) {
                return metrics;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within 10 s\n{}\nlog:\n{}",
                metrics.text,
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill on the pid of our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no exit 10 s after SIGTERM:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Notifications sent so far (READY=1 is consumed by `start`).
    pub(crate) fn notifications(&self) -> String {
        let mut all = String::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = self.notify.recv(&mut buf) {
            all.push_str(&String::from_utf8_lossy(&buf[..n]));
            all.push('\n');
        }
        all
    }
}

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A lab whose link carries only test traffic, with addresses on the peer.
pub(crate) fn counting_lab() -> Lab {
    let lab = Lab::new();
    lab.quiet_link(&[(HOST4, PEER4), (HOST6, PEER6)]);
    // The daemon adds the IPv6 alias: no duplicate detection delay.
    lab.host
        .sh(&["sysctl", "-qw", "net.ipv6.conf.eth1.accept_dad=0"]);
    lab.address_peer();
    lab
}

const ZONED_CONFIG: &str = r#"
[[alias]]
interface = "eth1"
address = "192.0.2.1/24"
label = "eth1:0"
zone = "lab"

[[alias]]
interface = "eth1"
address = "2001:db8::1/64"
label = "eth1:v6"
zone = "lab"

[zone.lab]
input = "accept"
"#;

/// nft's own view of alias-mgr's named counters: (name, packets, bytes).
pub(crate) fn nft_counters(ns: &Netns) -> Vec<(String, u64, u64)> {
    let out = ns
        .command("nft")
        .args(["-j", "list", "counters", "table", "inet", "alias_mgr"])
        .output()
        .unwrap();
    if !out.status.success() {
        return Vec::new();
    }
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let c = o.get("counter")?;
            Some((
                c["name"].as_str()?.to_string(),
                c["packets"].as_u64()?,
                c["bytes"].as_u64()?,
            ))
        })
        .collect()
}

#[test]
fn metrics_equal_the_traffic_ping_sent_and_pass_promtool() {
    let lab = counting_lab();
    write(&lab.config_path(), ZONED_CONFIG);
    let daemon = Daemon::start(&lab, &[]);
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));

    lab.host.settle("eth1");
    let link_before = lab.host.link_stats("eth1");
    let before = daemon.metrics();
    let (v4_before, v6_before) = (before.traffic(HOST4), before.traffic(HOST6));
    lab.peer
        .sh(&["ping", "-c", "10", "-i", "0.01", "-s", "100", HOST4]);
    lab.peer
        .sh(&["ping", "-6", "-c", "7", "-i", "0.01", "-s", "200", HOST6]);
    let after = daemon.metrics();

    // ICMP echo of -s N: Ethernet 14 + IPv4 20 + ICMP 8 + N; IPv6 header 40.
    let v4 = delta(after.traffic(HOST4), v4_before);
    let v6 = delta(after.traffic(HOST6), v6_before);
    assert_eq!(v4, (10, 10 * 142, 10, 10 * 142), "IPv4 pings");
    assert_eq!(v6, (7, 7 * 262, 7, 7 * 262), "IPv6 pings");
    let link = delta(lab.host.link_stats("eth1"), link_before);
    assert_eq!(
        link,
        (v4.0 + v6.0, v4.1 + v6.1, v4.2 + v6.2, v4.3 + v6.3),
        "ip -s link saw other traffic than /metrics"
    );

    // Labels: the device, the kernel's IPv4 label or the config's IPv6 one, the zone.
    for (address, label) in [(HOST4, "eth1:0"), (HOST6, "eth1:v6")] {
        let sample = after.find("alias_mgr_receive_bytes_total", &[("address", address)])[0];
        assert_eq!(Metrics::label(sample, "device"), "eth1");
        assert_eq!(Metrics::label(sample, "label"), label);
        assert_eq!(Metrics::label(sample, "zone"), "lab");
        let info = after.value(
            "alias_mgr_address_info",
            &[("address", address), ("state", "applied"), ("zone", "lab")],
        );
        assert_eq!(info, 1.0);
    }
    assert_eq!(after.value("alias_mgr_tracked_addresses", &[]), 2.0);
    assert_eq!(
        after.value("alias_mgr_reconciles_total", &[("trigger", "startup")]),
        1.0
    );
    assert_eq!(after.value("alias_mgr_drift_events_total", &[]), 0.0);
    assert_eq!(
        after.value("alias_mgr_config_last_reload_success", &[]),
        1.0
    );
    assert_eq!(after.value("alias_mgr_last_reconcile_success", &[]), 1.0);
    assert_eq!(
        after.value(
            "alias_mgr_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    for collector in ["counters", "zones", "process"] {
        assert_eq!(
            after.value(
                "alias_mgr_scrape_collector_success",
                &[("collector", collector)]
            ),
            1.0,
            "{collector}"
        );
    }

    // Zone counters: what nft itself reports for alias-mgr's table.
    let nft = nft_counters(&lab.host);
    assert!(!nft.is_empty(), "the zone table has counters");
    for (name, packets, bytes) in &nft {
        let (direction, rest) = match name.split_once('_') {
            Some(("in", rest)) => ("input", rest),
            Some(("fwd", rest)) => ("forward", rest),
            _ => continue,
        };
        let Some((zone, verdict @ ("accept" | "drop"))) = rest.rsplit_once('_') else {
            continue;
        };
        let labels = [
            ("zone", zone),
            ("direction", direction),
            ("verdict", verdict),
        ];
        assert_eq!(
            after.value("alias_mgr_zone_packets_total", &labels),
            *packets as f64,
            "{name}"
        );
        assert_eq!(
            after.value("alias_mgr_zone_bytes_total", &labels),
            *bytes as f64,
            "{name}"
        );
    }
    let accepted = after.value(
        "alias_mgr_zone_packets_total",
        &[
            ("zone", "lab"),
            ("direction", "input"),
            ("verdict", "accept"),
        ],
    );
    assert!(accepted >= 1.0, "the pings entered zone lab: {accepted}");

    // Every family has help text, and promtool finds nothing to lint.
    for sample in &after.samples {
        assert!(
            after.text.contains(&format!("# HELP {} ", sample.name)),
            "{} has no HELP",
            sample.name
        );
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus, installed by cargo xtask setup)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(after.text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The HTTP side.
    let (status, head, _) = daemon.get("/metrics");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let (status, _, body) = daemon.get("/");
    assert!(
        status == 200 && body.contains("href=\"/metrics\""),
        "{body}"
    );
    assert_eq!(daemon.get("/favicon.ico").0, 404);
}

#[test]
fn drift_is_healed_within_a_second_and_counted_but_foreign_addresses_are_left_alone() {
    let lab = Lab::new();
    write(
        &lab.config_path(),
        r#"
[[alias]]
interface = "eth1"
address = "192.0.2.1/24"
label = "eth1:0"
routes = ["10.9.0.0/16@192.0.2.254"]

[[alias]]
interface = "eth2"
address = "198.51.100.1/24"
"#,
    );
    // No periodic safety net: only netlink notifications can trigger a heal.
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "0"]);
    assert!(lab.host.has_route("-4", "10.9.0.0/16"));
    let metrics = daemon.metrics();
    assert_eq!(
        metrics.value(
            "alias_mgr_address_info",
            &[("address", "198.51.100.1"), ("device", "eth2")]
        ),
        1.0
    );
    assert_eq!(
        metrics
            .find(
                "alias_mgr_address_info",
                &[("address", "198.51.100.1"), ("state", "pending")]
            )
            .len(),
        1
    );

    // Somebody else's address: a notification, a reconcile, no change.
    lab.host
        .sh(&["ip", "addr", "add", "192.0.2.99/24", "dev", "eth1"]);
    daemon.wait_for("a reconcile after the foreign address", |m| {
        m.value("alias_mgr_reconciles_total", &[("trigger", "netlink")]) >= 1.0
    });
    thread::sleep(Duration::from_millis(500));
    assert!(lab.host.has_address("eth1", "192.0.2.99/24"));
    assert_eq!(
        daemon.metrics().value("alias_mgr_drift_events_total", &[]),
        0.0
    );

    // `ip addr del` of an owned alias (the kernel takes its route with it):
    // back within a second. (Not checked gone first: the heal now often
    // beats the `ip route` that would look.)
    lab.host
        .sh(&["ip", "addr", "del", "192.0.2.1/24", "dev", "eth1"]);
    let deleted = Instant::now();
    while !lab.host.has_address("eth1", "192.0.2.1/24") {
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "not healed:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let healed_in = deleted.elapsed();
    // One reconcile (the first notification starts it); generous for a loaded CI machine.
    assert!(
        healed_in < Duration::from_millis(1500),
        "healed in {healed_in:?}"
    );
    assert!(lab
        .host
        .addresses("eth1")
        .contains(&("192.0.2.1/24".into(), Some("eth1:0".into()))));
    // Owned again: iproute2 6.1 does not show IFA_PROTO, so ask the route
    // (its protocol is the owner mark too) and the CLI.
    daemon.wait_for("the route back", |_| {
        lab.host.has_route("-4", "10.9.0.0/16")
    });
    let route = lab
        .host
        .routes("-4")
        .into_iter()
        .find(|r| r["dst"] == "10.9.0.0/16")
        .unwrap();
    assert_eq!(route["protocol"], "161", "0xa1: {route}");
    assert_eq!(route["prefsrc"], "192.0.2.1", "{route}");
    let listed: Value = serde_json::from_str(&lab.ok(&["list", "eth1", "--json"])).unwrap();
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "192.0.2.1")
        .cloned()
        .unwrap();
    assert_eq!(row["owned"], true, "{row}");
    let metrics = daemon.wait_for("the drift counted", |m| {
        m.value("alias_mgr_drift_events_total", &[]) == 1.0
    });
    assert!(metrics.value("alias_mgr_netlink_events_total", &[("kind", "address")]) >= 2.0);
    assert!(daemon.log().contains("drift repaired"), "{}", daemon.log());
    assert!(
        lab.host.has_address("eth1", "192.0.2.99/24"),
        "foreign kept"
    );

    // An interface appearing lets its pending alias be applied: what the
    // config asked for, not drift.
    let drift_before = daemon.metrics().value("alias_mgr_drift_events_total", &[]);
    lab.host.sh(&[
        "ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth2p",
    ]);
    let appeared = Instant::now();
    while !lab.host.has_address("eth2", "198.51.100.1/24") {
        assert!(
            appeared.elapsed() < Duration::from_secs(5),
            "pending alias not applied:\n{}",
            daemon.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let metrics = daemon.wait_for("the new interface's alias applied", |m| {
        m.find(
            "alias_mgr_address_info",
            &[("address", "198.51.100.1"), ("state", "applied")],
        )
        .len()
            == 1
    });
    assert_eq!(
        metrics.value("alias_mgr_drift_events_total", &[]),
        drift_before
    );
    assert_eq!(
        metrics.value(
            "alias_mgr_reconcile_errors_total",
            &[("trigger", "netlink")]
        ),
        0.0,
        "{}",
        daemon.log()
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn sighup_keeps_the_old_config_on_error_and_cli_edits_are_never_fought() {
    let lab = Lab::new();
    let one = "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n";
    write(&lab.config_path(), one);
    let daemon = Daemon::start(&lab, &[]);
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));

    // The CLI edits the file and the kernel under the same lock: the daemon
    // picks the file up instead of undoing the change.
    lab.ok(&["add", "eth1", "192.0.2.2/24"]);
    lab.ok(&["add", "eth1", "192.0.2.3/24", "--runtime"]);
    let metrics = daemon.wait_for("the CLI's edit read", |m| {
        m.value("alias_mgr_config_reloads_total", &[]) >= 2.0
            && m.find(
                "alias_mgr_address_info",
                &[("address", "192.0.2.3"), ("state", "runtime")],
            )
            .len()
                == 1
    });
    assert_eq!(metrics.value("alias_mgr_drift_events_total", &[]), 0.0);
    lab.ok(&["del", "eth1", "192.0.2.2"]);
    thread::sleep(Duration::from_millis(800));
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));
    assert!(!lab.host.has_address("eth1", "192.0.2.2/24"), "re-added");
    assert!(
        lab.host.has_address("eth1", "192.0.2.3/24"),
        "runtime alias kept"
    );

    // A broken config on SIGHUP: logged with its line, counted, old one kept.
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.9/33\"\n",
    );
    daemon.signal(libc::SIGHUP);
    let metrics = daemon.wait_for(
        "the failed reload reported, the old config reconciled",
        |m| {
            m.value("alias_mgr_config_reload_errors_total", &[]) >= 1.0
                && m.value("alias_mgr_reconciles_total", &[("trigger", "reload")]) == 1.0
        },
    );
    let reload_errors = metrics.value("alias_mgr_config_reload_errors_total", &[]);
    assert_eq!(
        metrics.value("alias_mgr_config_last_reload_success", &[]),
        0.0
    );
    let log = daemon.log();
    let line = log
        .lines()
        .find(|l| l.contains("config not reloaded"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("alias-mgr.toml:3:") && line.starts_with("alias-mgr: error:"),
        "{line}"
    );
    // The old config still heals drift.
    lab.host
        .sh(&["ip", "addr", "del", "192.0.2.1/24", "dev", "eth1"]);
    daemon.wait_for("healed with the old config", |m| {
        m.value("alias_mgr_drift_events_total", &[]) == 1.0
    });
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));

    // Fixed: the next SIGHUP loads it.
    write(
        &lab.config_path(),
        &format!("{one}\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.4/24\"\n"),
    );
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("the fixed config loaded and reconciled", |m| {
        m.value("alias_mgr_config_last_reload_success", &[]) == 1.0
            && m.value("alias_mgr_reconciles_total", &[("trigger", "reload")]) == 2.0
    });
    assert!(lab.host.has_address("eth1", "192.0.2.4/24"));
    assert_eq!(
        daemon
            .metrics()
            .value("alias_mgr_config_reload_errors_total", &[]),
        reload_errors
    );

    // SIGTERM: a clean exit that leaves everything in place.
    let counters_before = lab.counters(HOST4);
    let (status, log) = {
        let notifications = daemon.notifications();
        let stopped = daemon.stop();
        assert!(notifications.contains("STATUS="), "{notifications}");
        stopped
    };
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("stay in place"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    for address in ["192.0.2.1/24", "192.0.2.3/24", "192.0.2.4/24"] {
        assert!(lab.host.has_address("eth1", address), "{address}");
    }
    assert_eq!(lab.counters(HOST4), counters_before);
}

#[test]
fn counters_never_go_backwards_across_a_restart_under_traffic() {
    let lab = counting_lab();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let first = Daemon::start(&lab, &[]);
    lab.host.settle("eth1");
    let start = first.metrics().traffic(HOST4);
    let started_at = first.metrics().value("process_start_time_seconds", &[]);

    // 300 pings over about 4.5 s, while the daemon is stopped and restarted.
    let ping = Process(
        lab.peer
            .command("ping")
            .args(["-c", "300", "-i", "0.015", "-q", HOST4])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut seen = vec![start];
    let mut scrape_for = |daemon: &Daemon, how_long: Duration| {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            seen.push(daemon.metrics().traffic(HOST4));
            thread::sleep(Duration::from_millis(50));
        }
    };
    scrape_for(&first, Duration::from_millis(1200));
    let (status, log) = first.stop();
    assert!(status.success(), "{status}\n{log}");
    // Counting goes on without the daemon (pinned links and map).
    thread::sleep(Duration::from_millis(300));
    let second = Daemon::start(&lab, &[]);
    assert!(second.metrics().value("process_start_time_seconds", &[]) >= started_at);
    scrape_for(&second, Duration::from_millis(800));
    let mut ping = ping;
    let mut out = String::new();
    ping.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    ping.0.wait().unwrap();
    assert!(out.contains("300 received"), "{out}");
    let last = second.metrics().traffic(HOST4);
    seen.push(last);

    assert_never_backwards(&seen, 5);
    let counted = delta(last, start);
    assert_eq!(
        (counted.0, counted.2),
        (300, 300),
        "every echo request and reply, also those while no daemon ran"
    );
    assert_eq!(counted.1, 300 * (14 + 20 + 8 + 56));
}

/// Every PromQL expression of the dashboard (panels, nested rows, variable
/// queries), with Grafana's variables replaced as the "All" option does.
fn dashboard_queries() -> Vec<String> {
    dashboard_queries_for(".*")
}

/// The dashboard's queries with `$instance` set to `instance` (a regex, as
/// Grafana's multi-value variable makes it) and the other variables to all.
pub(crate) fn dashboard_queries_for(instance: &str) -> Vec<String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards/alias-mgr.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    fn panels(list: &Value, out: &mut Vec<String>) {
        for panel in list.as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push(expr.to_string());
                }
            }
            panels(&panel["panels"], out);
        }
    }
    let mut queries = Vec::new();
    panels(&dashboard["panels"], &mut queries);
    assert!(queries.len() >= 8, "{queries:?}");
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .or(variable["definition"].as_str())
            .unwrap();
        // label_values(SELECTOR, LABEL) -> the series that feed the list.
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("unexpected variable query {query}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        queries.push(format!("count by ({}) ({selector})", label.trim()));
    }
    queries
        .into_iter()
        .map(|q| {
            q.replace("$__rate_interval", "5s")
                .replace("$__interval", "5s")
                .replace("$__range", "1m")
                .replace("${instance}", instance)
                .replace("$instance", instance)
                .replace("${device}", ".*")
                .replace("$device", ".*")
                .replace("${zone}", ".*")
                .replace("$zone", ".*")
        })
        .collect()
}

/// A real Prometheus inside `ns` with `config`, its data and log
/// (`prometheus.log`) in `dir`; its API address.
pub(crate) fn start_prometheus(ns: &Netns, dir: &Path, config: &Path) -> (Process, SocketAddr) {
    let web: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let log = File::create(dir.join("prometheus.log")).unwrap();
    let prometheus = Process(
        ns.command("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .arg("--log.level=warn")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("prometheus (Debian package prometheus, installed by cargo xtask setup)"),
    );
    (prometheus, web)
}

#[test]
fn prometheus_scrapes_the_daemon_and_every_dashboard_query_returns_data() {
    let queries = dashboard_queries();
    for query in &queries {
        assert!(!query.contains('$'), "unreplaced variable in {query}");
    }
    let lab = counting_lab();
    write(&lab.config_path(), ZONED_CONFIG);
    let daemon = Daemon::start(&lab, &[]);
    // Traffic for the rates (bounded: 20 s at most).
    let _ping4 = Process(
        lab.peer
            .command("ping")
            .args(["-q", "-c", "400", "-i", "0.05", HOST4])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _ping6 = Process(
        lab.peer
            .command("ping")
            .args(["-6", "-q", "-c", "200", "-i", "0.1", HOST6])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Prometheus runs inside the lab's host namespace, where the daemon
    // listens: all its traffic stays in the namespace (its lo is up).
    let prometheus_dir = lab.dir.join("prometheus");
    std::fs::create_dir_all(&prometheus_dir).unwrap();
    let config = prometheus_dir.join("prometheus.yml");
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/alias-mgr-rules.yml");
    write(
        &config,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: alias-mgr\n    static_configs:\n      - targets: ['{LISTEN}']\n",
            rules.display()
        ),
    );
    let (_prometheus, web) = start_prometheus(&lab.host, &prometheus_dir, &config);
    let prometheus_log =
        || std::fs::read_to_string(prometheus_dir.join("prometheus.log")).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(&lab.host, web, "/-/ready"), Ok((200, _, _))) {
        assert!(
            Instant::now() < deadline,
            "Prometheus not ready:\n{}",
            prometheus_log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let query = |promql: &str| -> Value {
        let (status, _, body) = http_get(
            &lab.host,
            web,
            &format!("/api/v1/query?query={}", encode(promql)),
        )
        .unwrap();
        assert_eq!(status, 200, "{promql}: {body}");
        serde_json::from_str(&body).unwrap()
    };

    let mut empty: Vec<&String> = queries.iter().collect();
    while !empty.is_empty() {
        empty.retain(|q| {
            query(q)["data"]["result"]
                .as_array()
                .is_none_or(|r| r.is_empty())
        });
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dashboard queries without data after 30 s: {empty:#?}\ndaemon log:\n{}\nprometheus log:\n{}",
            daemon.log(),
            prometheus_log()
        );
        thread::sleep(Duration::from_millis(500));
    }

    // The shipped alert rules load and evaluate against the daemon's series.
    let (_, _, body) = http_get(&lab.host, web, "/api/v1/rules").unwrap();
    let rules: Value = serde_json::from_str(&body).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/prometheus/alias-mgr-rules.yml"
    ))
    .unwrap()
    .matches("- alert:")
    .count();
    assert!(shipped >= 6);
    assert_eq!(loaded.len(), shipped, "{body}");
    assert!(loaded.iter().all(|r| r["health"] != "err"), "{body}");

    // The scrape target is healthy and the rates are the ping's.
    let up = query("up{job=\"alias-mgr\"}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let rate = query(&format!(
        "rate(alias_mgr_receive_packets_total{{address=\"{HOST4}\"}}[5s])"
    ));
    let rate: f64 = rate["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (5.0..=25.0).contains(&rate),
        "about 20 pings a second: {rate}"
    );
}

#[test]
fn bad_input_never_crashes_the_daemon() {
    let lab = Lab::new();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let mut daemon = Daemon::start(&lab, &[]);

    // The same pins and config: one clear line naming the first, no panic.
    let mut second = Daemon::spawn(&lab, &lab.pin_dir, &[]);
    let status = second.child.wait().unwrap();
    let err = second.log();
    assert!(!status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("another alias-mgr daemon (pid"), "{err}");
    // Its own pins and config, but the port is taken: the same.
    let other = lab.dir.join("other.toml");
    write(&other, "");
    let other_pins = lab.pin_dir.with_extension("other");
    let taken = lab
        .host
        .command(env!("CARGO_BIN_EXE_alias-mgr"))
        .arg("--config")
        .arg(&other)
        .arg("--pin-dir")
        .arg(&other_pins)
        .arg("daemon")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&other_pins);
    let err = String::from_utf8_lossy(&taken.stderr);
    assert!(!taken.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("alias-mgr: error: cannot listen on 127.0.0.1:16100")
            && err.contains("--listen"),
        "{err}"
    );

    // Garbage, half requests and idle connections leave it serving.
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00"[..],
        b"GET\r\n\r\n",
        b"GET /metrics",
    ] {
        let mut stream = connect_in(&lab.host, daemon.address).unwrap();
        let _ = stream.write_all(junk);
    }
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| connect_in(&lab.host, daemon.address).unwrap())
        .collect();
    assert_eq!(
        daemon
            .metrics()
            .value("alias_mgr_last_reconcile_success", &[]),
        1.0
    );
    drop(idle);
    assert!(daemon.running());
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");

    // A pin directory that is not bpffs and holds no map where the counters
    // should be: counters are off (scrapes say so), everything else is
    // healed as always, and the daemon serves on. The notifications are
    // never read here: the daemon must not block on them either.
    let bad_pins = lab.dir.join("pins");
    std::fs::create_dir_all(&bad_pins).unwrap();
    std::fs::write(bad_pins.join(alias_ebpf::INDEX_MAP), "not a map").unwrap();
    lab.host
        .sh(&["ip", "addr", "del", "192.0.2.1/24", "dev", "eth1"]);
    let mut daemon = Daemon::start_with(&lab, &bad_pins, &["--reconcile-interval", "1"]);
    // More status notifications than a datagram queue holds (10).
    for reconciles in [6.0, 12.0] {
        daemon.wait_for("periodic reconciles", |m| {
            m.value("alias_mgr_reconciles_total", &[("trigger", "periodic")]) >= reconciles
        });
    }
    let metrics = daemon.metrics();
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"), "healed");
    assert_eq!(metrics.value("alias_mgr_last_reconcile_success", &[]), 1.0);
    assert_eq!(
        metrics.value(
            "alias_mgr_scrape_collector_success",
            &[("collector", "counters")]
        ),
        0.0
    );
    assert!(metrics
        .find("alias_mgr_receive_bytes_total", &[])
        .is_empty());
    let log = daemon.log();
    assert!(log.contains("scrape: reading counters failed"), "{log}");
    assert!(daemon.running());
    let (status, log) = daemon.stop();
    assert!(status.success() && !log.contains("panicked"), "{log}");

    // A config that does not load at startup: one line naming file and line.
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\nbogus = 1\n",
    );
    let mut broken = Daemon::spawn(&lab, &lab.pin_dir, &[]);
    let status = broken.child.wait().unwrap();
    let err = broken.log();
    assert!(!status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("alias-mgr.toml:3:"), "{err}");
}

#[test]
fn the_systemd_unit_verifies_and_its_sandbox_is_tight() {
    // systemd-analyze checks the binary exists: point the unit at the test build.
    let lab_dir = std::env::temp_dir().join(format!("alias-mgr-unit-{}", std::process::id()));
    std::fs::create_dir_all(&lab_dir).unwrap();
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/alias-mgr.service");
    let text = std::fs::read_to_string(&unit)
        .unwrap()
        .replace("/usr/local/sbin/alias-mgr", env!("CARGO_BIN_EXE_alias-mgr"));
    assert!(text.contains("Type=notify") && text.contains("ExecReload=/bin/kill -HUP $MAINPID"));
    let copy = lab_dir.join("alias-mgr.service");
    write(&copy, &text);
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (package systemd)");
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&lab_dir);
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for alias-mgr.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(exposure <= 3.0, "exposure {exposure}:\n{report}");
}

#[test]
fn a_config_being_written_in_place_is_read_only_once_it_is_still() {
    // `cat > alias-mgr.toml` or an editor writing in place: a reconcile that
    // read the half-written file would remove the aliases not written yet.
    let lab = Lab::new();
    let alias =
        |n: u8| format!("[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.{n}/24\"\n\n");
    write(&lab.config_path(), &(alias(1) + &alias(2)));
    let daemon = Daemon::start(&lab, &[]);
    assert!(lab.host.has_address("eth1", "192.0.2.2/24"));

    // Half-way: truncated in place, only the first alias written so far.
    {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(lab.config_path())
            .unwrap();
        file.write_all(alias(1).as_bytes()).unwrap();
    }
    // The write (inotify) and a netlink event make the daemon reconcile
    // (after its 200 ms debounce): it puts the reload off instead.
    lab.host
        .sh(&["ip", "addr", "add", "198.51.100.9/32", "dev", "eth1"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.log().contains("is being written in place") {
        assert!(Instant::now() < deadline, "not put off:\n{}", daemon.log());
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        lab.host.has_address("eth1", "192.0.2.2/24"),
        "removed on a half-written file\n{}",
        daemon.log()
    );

    // Finished (still in place): read once it has been still, and applied.
    {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(lab.config_path())
            .unwrap();
        file.write_all((alias(2) + &alias(3)).as_bytes()).unwrap();
    }
    daemon.wait_for("the finished file applied", |_| {
        lab.host.has_address("eth1", "192.0.2.3/24")
    });
    assert!(lab.host.has_address("eth1", "192.0.2.2/24"));
    let metrics = daemon.metrics();
    assert_eq!(
        metrics.value("alias_mgr_config_reload_errors_total", &[]),
        0.0
    );
    assert!(
        lab.host.has_address("eth1", "198.51.100.9/32"),
        "foreign kept"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn classifier_warnings_reach_the_daemon_log_and_metric_at_most_once_a_second() {
    use crate::counters::{ip_frame, run_classifier};
    let lab = counting_lab();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let daemon = Daemon::start(&lab, &[]);
    // A GSO super-packet of GRE: counted as its 3 segments, but the GRE and
    // inner headers each segment repeats cannot be sized, so the classifier
    // warns (aya-log) and the daemon passes the warning on.
    let (host, peer) = (HOST4.parse().unwrap(), PEER4.parse().unwrap());
    let frame = ip_frame(&[], peer, host, 47, &[0, 0, 0x08, 0x00], 3 * 500);
    let before = lab.counters(HOST4);
    run_classifier(&lab, "ingress", &frame, "gre-1", Some(3));
    // Again at once on the same CPU: counted, not logged (one per second).
    run_classifier(&lab, "ingress", &frame, "gre-2", Some(3));
    assert_eq!(
        delta(lab.counters(HOST4), before),
        (6, 2 * (frame.len() as u64 + 2 * (14 + 20)), 0, 0)
    );
    daemon.wait_for("the warning read from the ring", |m| {
        m.value("alias_mgr_classifier_warnings_total", &[]) >= 1.0
    });
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        daemon
            .metrics()
            .value("alias_mgr_classifier_warnings_total", &[]),
        1.0,
        "{}",
        daemon.log()
    );
    let log = daemon.log();
    assert!(
        log.contains("classifier on eth1: GSO packet of 3 segments over IP protocol 47"),
        "{log}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn a_config_moved_away_keeps_the_previous_one_in_force() {
    let lab = Lab::new();
    let mut missing = Daemon::spawn(&lab, &lab.pin_dir, &[]);
    let status = missing.child.wait().unwrap();
    let err = missing.log();
    assert!(
        !status.success() && err.contains("does not exist"),
        "a daemon without its config refuses to start: {err}"
    );
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let daemon = Daemon::start(&lab, &[]);
    std::fs::rename(lab.config_path(), lab.dir.join("moved.toml")).unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("the failed reload reported", |m| {
        m.value("alias_mgr_config_reload_errors_total", &[]) >= 1.0
    });
    assert!(lab.host.has_address("eth1", "192.0.2.1/24"));
    // Drift is still healed with the config in force.
    lab.host
        .sh(&["ip", "addr", "del", "192.0.2.1/24", "dev", "eth1"]);
    daemon.wait_for("healed", |_| lab.host.has_address("eth1", "192.0.2.1/24"));
    let log = daemon.log();
    assert!(
        log.contains("does not exist") && log.contains("previous one stays in force"),
        "{log}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn config_edits_and_zone_table_edits_are_acted_on_without_waiting() {
    let lab = Lab::new();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\nzone = \"lab\"\n\n[zone.lab]\ninput = \"drop\"\nallow = [\"icmp\"]\n",
    );
    // No periodic safety net: only the watches can make these happen.
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "0"]);

    // An editor saving by rename: read and applied without SIGHUP.
    let edited = lab.dir.join("edited.toml");
    write(
        &edited,
        &(lab.config_text() + "\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.7/24\"\n"),
    );
    std::fs::rename(&edited, lab.config_path()).unwrap();
    daemon.wait_for("the edit applied", |_| {
        lab.host.has_address("eth1", "192.0.2.7/24")
    });

    // The zone table deleted by hand: restored, and counted as drift.
    let drift_before = daemon.metrics().value("alias_mgr_drift_events_total", &[]);
    lab.host
        .sh(&["nft", "delete", "table", "inet", "alias_mgr"]);
    daemon.wait_for("the zone table restored", |m| {
        m.value("alias_mgr_drift_events_total", &[]) > drift_before
    });
    let listed = lab.host.sh(&["nft", "list", "table", "inet", "alias_mgr"]);
    assert!(listed.contains("chain in_lab"), "{listed}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn a_conflict_leaves_one_alias_alone_and_the_rest_is_still_healed() {
    let lab = Lab::new();
    lab.host
        .sh(&["ip", "addr", "add", "192.0.2.9/24", "dev", "eth1"]);
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.9/24\"\n",
    );
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "0"]);
    let metrics = daemon.wait_for("the conflict reported", |m| {
        m.value("alias_mgr_conflicts", &[]) == 1.0
    });
    assert!(
        lab.host.has_address("eth1", "192.0.2.1/24"),
        "applied around it"
    );
    assert_eq!(metrics.value("alias_mgr_last_reconcile_success", &[]), 1.0);
    lab.host
        .sh(&["ip", "addr", "del", "192.0.2.1/24", "dev", "eth1"]);
    daemon.wait_for("healed despite the conflict", |_| {
        lab.host.has_address("eth1", "192.0.2.1/24")
    });
    let log = daemon.log();
    assert!(
        log.contains("left alone") && log.contains("192.0.2.9/24 is already on eth1"),
        "{log}"
    );
    // The foreign address itself is untouched.
    let info = lab.host.json(&["ip", "-j", "addr", "show", "dev", "eth1"]);
    assert!(info.to_string().contains("192.0.2.9"), "{info}");
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn the_daemons_nft_monitor_goes_with_it_even_when_killed() {
    let lab = Lab::new();
    write(&lab.config_path(), "");
    let children = |pid: u32| -> Vec<u32> {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let mut daemon = Daemon::start(&lab, &[]);
        let monitors: Vec<u32> = children(daemon.child.id())
            .into_iter()
            .filter(|pid| comm(*pid).trim() == "nft")
            .collect();
        assert_eq!(monitors.len(), 1, "one nft monitor per daemon");
        daemon.signal(signal);
        daemon.child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while comm(monitors[0]).trim() == "nft" {
            assert!(Instant::now() < deadline, "nft monitor outlived the daemon");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_duplicate_ipv6_alias_is_left_failed_and_the_rest_applied_without_a_retry_loop() {
    let lab = Lab::new();
    lab.peer.add_address("eth0", "2001:db8::2/64");
    lab.host.settle("eth1");
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"2001:db8::2/64\"\nroutes = [\"2001:db8:9::/48@2001:db8::fe\"]\n\n[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let daemon = Daemon::start(&lab, &["--reconcile-interval", "0"]);
    assert!(
        lab.host.has_address("eth1", "192.0.2.1/24"),
        "the rest applied"
    );
    let json = lab
        .host
        .json(&["ip", "-j", "-6", "addr", "show", "dev", "eth1"]);
    let duplicate = json[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["local"] == "2001:db8::2")
        .cloned()
        .unwrap_or_else(|| panic!("left in place: {json}"));
    assert_eq!(duplicate["dadfailed"], true, "{duplicate}");
    assert!(
        !lab.host.has_route("-6", "2001:db8:9::/48"),
        "route held back"
    );
    let log = daemon.log();
    assert!(
        log.contains("failed duplicate address detection") && log.contains("left in place"),
        "{log}"
    );
    // Settled: no reconcile after reconcile re-adding and failing again.
    let before = daemon.metrics();
    thread::sleep(Duration::from_secs(3));
    let after = daemon.metrics();
    for trigger in ["netlink", "startup"] {
        let count = |m: &Metrics| {
            m.value("alias_mgr_reconciles_total", &[("trigger", trigger)])
                + m.value("alias_mgr_reconcile_errors_total", &[("trigger", trigger)])
        };
        assert!(
            count(&after) - count(&before) <= 1.0,
            "{trigger}: {}",
            daemon.log()
        );
    }
    let plan = lab.ok(&["plan"]);
    assert!(
        plan.contains("failed duplicate address detection"),
        "{plan}"
    );
    let (status, log) = daemon.stop();
    assert!(status.success(), "{status}\n{log}");
}

#[test]
fn a_second_daemon_on_the_same_pins_or_config_refuses_naming_the_first() {
    let lab = Lab::new();
    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.0.2.1/24\"\n",
    );
    let first = Daemon::start(&lab, &[]);
    let pid = first.child.id().to_string();
    let second = lab.alias_mgr(&["daemon", "--listen", "127.0.0.1:16191"]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "another alias-mgr daemon (pid {pid}) already serves the pin directory"
        )),
        "{err}"
    );
    // Another config on the same pins is refused too; the first goes on.
    let other = lab.dir.join("other.toml");
    write(&other, "");
    let third = lab
        .alias_mgr_with(&other, &["daemon", "--listen", "127.0.0.1:16192"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "{err}");
    assert!(err.contains(&format!("(pid {pid})")), "{err}");
    // The first still serves (metrics() asserts a 200).
    assert!(first.metrics().text.contains("alias_mgr_build_info"));
    let (status, _) = first.stop();
    assert!(status.success());
    // Once it is gone, a new one starts.
    let again = Daemon::start(&lab, &[]);
    again.stop();
}
