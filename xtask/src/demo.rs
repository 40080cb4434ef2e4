//! The demo: the Linux seed's story, played in throwaway network namespaces.
//!
//! A box `router` has eth1 on 192.168.1.0/24. A device that ships with
//! 192.168.0.50 sits on the same wire; the box cannot reach it until it gets
//! an alias on 192.168.0.0/24. Then: counters per alias, a same-subnet alias
//! (the Mac's "Case 2"), a reboot (the namespace is destroyed and rebuilt)
//! survived through the config file, and removal.

use std::{
    cell::RefCell,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Result};

use crate::netns::{in_ns, sh, Netns, Process};

const NS_ROUTER: &str = "amdemo-router";
const NS_SWITCH: &str = "amdemo-switch";
const NS_DEVICE: &str = "amdemo-device";
const NS_LAN: &str = "amdemo-lan";

struct Demo {
    alias_mgr: PathBuf,
    dir: PathBuf,
    pin_dir: PathBuf,
    /// The switch, the LAN host and the device; the router comes and goes.
    _namespaces: Vec<Netns>,
    router: RefCell<Option<Netns>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new(&self.alias_mgr)
            .args(["--pin-dir"])
            .arg(&self.pin_dir)
            .args(["counters", "detach", "eth1"])
            .output();
        let _ = std::fs::remove_dir_all(&self.pin_dir);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn say(text: &str) {
    println!("\n=== {text}");
}

impl Demo {
    fn config(&self) -> PathBuf {
        self.dir.join("alias-mgr.toml")
    }

    fn alias_mgr(&self, args: &[&str]) -> Result<()> {
        if !self.alias_mgr_status(args)?.success() {
            bail!("alias-mgr {args:?} failed");
        }
        Ok(())
    }

    /// Runs a command the story expects to be refused.
    fn alias_mgr_refused(&self, args: &[&str]) -> Result<()> {
        if self.alias_mgr_status(args)?.success() {
            bail!("alias-mgr {args:?} should have been refused");
        }
        Ok(())
    }

    fn alias_mgr_status(&self, args: &[&str]) -> Result<std::process::ExitStatus> {
        println!("# alias-mgr {}", args.join(" "));
        let status = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{NS_ROUTER}"))
            .arg(&self.alias_mgr)
            .arg("--config")
            .arg(self.config())
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(args)
            .status()?;
        Ok(status)
    }

    fn ping(&self, target: &str) -> bool {
        in_ns(
            NS_ROUTER,
            &["ping", "-c", "2", "-i", "0.2", "-W", "1", target],
        )
        .is_ok()
    }

    /// The router namespace with eth1 (its primary address) plugged into the switch.
    fn build_router(&self) -> Result<()> {
        // The old guard goes first: dropped after, it would delete the new one.
        drop(self.router.borrow_mut().take());
        *self.router.borrow_mut() = Some(Netns::create(NS_ROUTER)?);
        sh(&[
            "ip", "link", "add", "eth1", "netns", NS_ROUTER, "type", "veth", "peer", "name",
            "p-router", "netns", NS_SWITCH,
        ])?;
        in_ns(
            NS_SWITCH,
            &["ip", "link", "set", "p-router", "master", "br0", "up"],
        )?;
        in_ns(
            NS_ROUTER,
            &["ip", "addr", "add", "192.168.1.1/24", "dev", "eth1"],
        )?;
        in_ns(NS_ROUTER, &["ip", "link", "set", "eth1", "up"])?;
        Ok(())
    }
}

fn host(ns: &str, cidr: &str) -> Result<Netns> {
    let guard = Netns::create(ns)?;
    let port = format!("p-{}", &ns[7..]);
    sh(&[
        "ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &port, "netns",
        NS_SWITCH,
    ])?;
    in_ns(
        NS_SWITCH,
        &["ip", "link", "set", &port, "master", "br0", "up"],
    )?;
    in_ns(ns, &["ip", "addr", "add", cidr, "dev", "eth0"])?;
    in_ns(ns, &["ip", "link", "set", "eth0", "up"])?;
    Ok(guard)
}

/// Prints whether `target` answers ping from the router.
fn reach(demo: &Demo, what: &str, target: &str) {
    let answer = if demo.ping(target) {
        "reachable"
    } else {
        "unreachable"
    };
    println!("router -> {target} ({what}): {answer}");
}

/// GETs a URL from inside the router namespace (python3's urllib).
fn http_get(url: &str) -> Result<String> {
    in_ns(
        NS_ROUTER,
        &["python3", "-c", "import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())", url],
    )
}

pub fn run(alias_mgr: &Path) -> Result<()> {
    let demo = build_lab(alias_mgr)?;
    reach(&demo, "LAN host", "192.168.1.50");
    reach(&demo, "device", "192.168.0.50");

    say(
        "Add an alias on the device's subnet (no netmask given: the classful default, as ifconfig)",
    );
    demo.alias_mgr(&["add", "eth1", "192.168.0.1"])?;
    reach(&demo, "device", "192.168.0.50");
    print!("{}", in_ns(NS_ROUTER, &["ip", "-4", "route"])?);

    say("The device already uses 192.168.0.50: the ARP probe (RFC 5227) finds it, nothing changes");
    demo.alias_mgr_refused(&["add", "eth1", "192.168.0.50"])?;

    say("A same-subnet alias (the Mac's Case 2): added as a secondary, promote_secondaries turned on");
    demo.alias_mgr(&["add", "eth1", "192.168.1.27"])?;
    in_ns(NS_LAN, &["ping", "-c", "3", "-i", "0.2", "192.168.1.27"])?;

    say("Per-alias statistics the kernel does not keep (ifconfig shows none for eth1:0)");
    demo.alias_mgr(&["list", "eth1"])?;

    zone_for_the_new_subnet(&demo)?;
    daemon_metrics_and_healing(&demo)?;

    say("The declarative file alias-mgr keeps");
    print!("{}", std::fs::read_to_string(demo.config())?);

    say("Reboot: the router namespace is destroyed and rebuilt with only its primary address");
    demo.alias_mgr(&["counters", "detach", "eth1"])?;
    demo.build_router()?;
    reach(&demo, "device", "192.168.0.50");
    demo.alias_mgr(&["plan"])?;
    demo.alias_mgr(&["apply"])?;
    reach(&demo, "device", "192.168.0.50");
    demo.alias_mgr(&["apply"])?;

    say("Removing the primary-subnet alias leaves the primary and its route alone");
    demo.alias_mgr(&["del", "eth1", "192.168.1.27"])?;
    demo.alias_mgr(&["list", "eth1"])?;
    reach(&demo, "LAN host", "192.168.1.50");

    say("Demo done; the namespaces and pins are removed");
    Ok(())
}

/// The switch, the LAN host, the device and the router, with their guards.
fn build_lab(alias_mgr: &Path) -> Result<Demo> {
    let dir = std::env::temp_dir().join(format!("alias-mgr-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    say("Building the lab: a switch, a router (eth1 192.168.1.1/24), a LAN host 192.168.1.50 and a device preset to 192.168.0.50");
    let switch = Netns::create(NS_SWITCH)?;
    in_ns(NS_SWITCH, &["ip", "link", "add", "br0", "type", "bridge"])?;
    in_ns(NS_SWITCH, &["ip", "link", "set", "br0", "up"])?;
    let lan = host(NS_LAN, "192.168.1.50/24")?;
    let device = host(NS_DEVICE, "192.168.0.50/24")?;
    let demo = Demo {
        alias_mgr: alias_mgr.to_path_buf(),
        dir,
        pin_dir: PathBuf::from(format!("/sys/fs/bpf/alias-mgr-demo-{}", std::process::id())),
        _namespaces: vec![switch, lan, device],
        router: RefCell::new(None),
    };
    demo.build_router()?;
    Ok(demo)
}

/// The seed's shorewall step: a policy of its own for the new subnet.
fn zone_for_the_new_subnet(demo: &Demo) -> Result<()> {
    say("A separate policy for the new subnet (the seed's shorewall step): edit the file, plan, apply");
    let config = demo.config();
    let text = std::fs::read_to_string(&config)?;
    let text = text.replacen(
        "label = \"eth1:0\"",
        "label = \"eth1:0\"\nzone = \"devices\"",
        1,
    );
    std::fs::write(
        &config,
        format!("{text}\n# The devices' subnet may ping this box and nothing else.\n[zone.devices]\ninput = \"drop\"\nallow = [\"icmp\"]\n"),
    )?;
    demo.alias_mgr(&["plan"])?;
    demo.alias_mgr(&["apply"])?;
    let pinged = in_ns(NS_DEVICE, &["ping", "-c", "2", "-i", "0.2", "192.168.0.1"]).is_ok();
    println!(
        "device -> router ping: {}",
        if pinged { "answered" } else { "blocked" }
    );
    let udp = "import socket\nfor p in range(5000, 5005):\n socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'hello', ('192.168.0.1', p))";
    in_ns(NS_DEVICE, &["python3", "-c", udp])?;
    println!("device -> router: 5 UDP datagrams to closed-off ports sent");
    demo.alias_mgr(&["zones"])
}

/// The daemon serves the pinned counters and puts back a deleted alias.
fn daemon_metrics_and_healing(demo: &Demo) -> Result<()> {
    say("The daemon: Prometheus metrics read from the pinned counters, and drift healing");
    let daemon = Process(
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{NS_ROUTER}"))
            .arg(&demo.alias_mgr)
            .arg("--config")
            .arg(demo.config())
            .arg("--pin-dir")
            .arg(&demo.pin_dir)
            .args(["daemon", "--listen", "127.0.0.1:16100"])
            .spawn()?,
    );
    let mut metrics = String::new();
    for _ in 0..50 {
        if let Ok(text) = http_get("http://127.0.0.1:16100/metrics") {
            metrics = text;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    for line in metrics.lines().filter(|l| {
        l.starts_with("alias_mgr_receive_packets_total")
            || l.starts_with("alias_mgr_zone_packets_total{zone=\"devices\",direction=\"input\"")
    }) {
        println!("{line}");
    }
    println!("# someone runs: ip addr del 192.168.0.1/24 dev eth1");
    in_ns(
        NS_ROUTER,
        &["ip", "addr", "del", "192.168.0.1/24", "dev", "eth1"],
    )?;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let back =
        in_ns(NS_ROUTER, &["ip", "-4", "addr", "show", "dev", "eth1"])?.contains("192.168.0.1/24");
    println!(
        "one second later 192.168.0.1/24 is {}",
        if back { "back" } else { "still missing" }
    );
    let metrics = http_get("http://127.0.0.1:16100/metrics")?;
    if let Some(line) = metrics
        .lines()
        .find(|l| l.starts_with("alias_mgr_drift_events_total"))
    {
        println!("{line}");
    }
    drop(daemon);
    Ok(())
}
