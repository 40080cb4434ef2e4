//! What alias-mgr does not own stays as it was: an address, a route, an
//! nftables table and another tool's TCX programs that were there first
//! are unchanged through add, apply, a daemon's reload and restart, del and
//! `reset`, which then leaves nothing of alias-mgr's behind.

use std::{net::IpAddr, path::Path};

use ipnet::IpNet;

use serde_json::Value;

use crate::{
    daemon::Daemon,
    tcx::{programs, ForeignProgram, BPF_TCX_EGRESS, BPF_TCX_INGRESS},
    util::{write, Lab},
};

const USER_TABLE: &str = "table inet userfw {\n set blocked { type ipv4_addr; elements = { 203.0.113.9 } }\n chain c {\n  type filter hook input priority 10; policy accept;\n  ip saddr @blocked drop\n }\n}\n";

/// Everything on the host that is not alias-mgr's, as the kernel lists it.
#[derive(Debug, PartialEq)]
struct Foreign {
    addresses: Vec<Value>,
    routes: Vec<Value>,
    table: String,
    ingress: Vec<u32>,
    egress: Vec<u32>,
}

/// The addresses alias-mgr is given in this test, and their subnets: what
/// the kernel derives from them (connected and local routes) is theirs too.
/// (`ip -j addr` here does not print IFA_PROTO, so ownership of addresses
/// is told by address.)
const OURS: [&str; 2] = ["192.168.0.1/24", "2001:db8:5::1/64"];

fn ours(address: &str) -> bool {
    let Ok(ip) = address.split('/').next().unwrap().parse::<IpAddr>() else {
        return false;
    };
    OURS.iter().any(|ours| {
        let net: IpNet = ours.parse().unwrap();
        net.trunc().contains(&ip)
    })
}

fn foreign(lab: &Lab, our_programs: &[u32]) -> Foreign {
    let addresses = lab.host.json(&["ip", "-j", "addr", "show", "dev", "eth1"]);
    let infos: Vec<Value> = addresses[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|info| !ours(info["local"].as_str().unwrap()))
        .map(|info| {
            let mut info = info.clone();
            // Lifetimes count down and DAD finishes: neither is a change.
            for transient in ["valid_life_time", "preferred_life_time", "tentative"] {
                info.as_object_mut().unwrap().remove(transient);
            }
            info
        })
        .collect();
    let routes: Vec<Value> = ["-4", "-6"]
        .iter()
        .flat_map(|family| {
            let all = lab
                .host
                .json(&["ip", family, "-j", "route", "show", "table", "all"]);
            all.as_array().unwrap().clone()
        })
        .filter(|route| {
            let proto = route["protocol"].as_str().unwrap_or("");
            let derived = ours(route["dst"].as_str().unwrap_or(""));
            !(proto == "161" || proto == "162" || proto == "0xa1" || proto == "0xa2" || derived)
        })
        .collect();
    let hook = |hook| -> Vec<u32> {
        programs(&lab.host, "eth1", hook)
            .into_iter()
            .filter(|id| !our_programs.contains(id))
            .collect()
    };
    Foreign {
        addresses: infos,
        routes,
        table: lab.host.sh(&["nft", "list", "table", "inet", "userfw"]),
        ingress: hook(BPF_TCX_INGRESS),
        egress: hook(BPF_TCX_EGRESS),
    }
}

/// The TCX programs alias-mgr attached to eth1 (by its pinned links).
fn our_programs(lab: &Lab) -> Vec<u32> {
    let links = lab.pin_dir.join("links");
    let mut ids = Vec::new();
    for hook in ["ingress", "egress"] {
        let pin = links.join(hook).join("eth1");
        if !pin.exists() {
            continue;
        }
        let shown = lab.host.json(&[
            "bpftool",
            "-j",
            "link",
            "show",
            "pinned",
            pin.to_str().unwrap(),
        ]);
        ids.push(shown["prog_id"].as_u64().unwrap() as u32);
    }
    ids
}

/// Until the link-local address is past DAD: the kernel adds its local
/// route only then, which would read as a change.
fn wait_for_dad(lab: &Lab) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lab
        .host
        .sh(&["ip", "-6", "addr", "show", "dev", "eth1"])
        .contains("tentative")
    {
        assert!(std::time::Instant::now() < deadline, "eth1 stays tentative");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn assert_unchanged(lab: &Lab, before: &Foreign, step: &str) {
    wait_for_dad(lab);
    let ours = our_programs(lab);
    assert_eq!(&foreign(lab, &ours), before, "after {step}");
}

#[test]
fn foreign_state_survives_every_command_and_reset_removes_only_ours() {
    let lab = Lab::new();
    lab.address_peer();
    lab.host.add_address("eth1", "10.20.0.1/24");
    lab.host.sh(&[
        "ip",
        "route",
        "add",
        "203.0.113.0/24",
        "via",
        "10.20.0.254",
        "dev",
        "eth1",
        "proto",
        "static",
    ]);
    lab.host.sh(&[
        "ip",
        "-6",
        "route",
        "add",
        "2001:db8:77::/48",
        "dev",
        "eth1",
    ]);
    let user_table = lab.dir.join("userfw.nft");
    write(&user_table, USER_TABLE);
    lab.host.sh(&["nft", "-f", user_table.to_str().unwrap()]);
    let _ingress = ForeignProgram::attach(&lab.host, "eth1", BPF_TCX_INGRESS).unwrap();
    let _egress = ForeignProgram::attach(&lab.host, "eth1", BPF_TCX_EGRESS).unwrap();
    wait_for_dad(&lab);
    let before = foreign(&lab, &[]);
    assert_eq!(before.ingress.len(), 1);

    write(
        &lab.config_path(),
        "[[alias]]\ninterface = \"eth1\"\naddress = \"192.168.0.1/24\"\nzone = \"lab\"\n\
         routes = [\"198.51.100.0/24@192.168.0.254\"]\n\n[zone.lab]\ninput = \"drop\"\nallow = [\"icmp\"]\n",
    );
    lab.ok(&["apply"]);
    assert_unchanged(&lab, &before, "apply");
    // alias-mgr's classifier runs after the program that was there first.
    let ingress = programs(&lab.host, "eth1", BPF_TCX_INGRESS);
    assert_eq!(ingress.len(), 2, "{ingress:?}");
    assert_eq!(ingress[0], before.ingress[0]);

    lab.ok(&["add", "eth1", "2001:db8:5::1/64"]);
    assert_unchanged(&lab, &before, "add");

    let daemon = Daemon::start(&lab, &[]);
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("a reload", |m| {
        m.value("alias_mgr_reconciles_total", &[("trigger", "reload")]) >= 1.0
    });
    daemon.stop();
    assert_unchanged(&lab, &before, "daemon reload and stop");
    Daemon::start(&lab, &[]).stop();
    assert_unchanged(&lab, &before, "daemon restart");

    lab.ok(&["del", "eth1", "2001:db8:5::1"]);
    assert_unchanged(&lab, &before, "del");

    // Without --yes it only shows what would go.
    let shown = lab.fails(&["reset"]);
    assert!(
        shown.contains("re-run as `alias-mgr reset --yes`"),
        "{shown}"
    );
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    let out = lab.ok(&["reset", "--yes"]);
    assert!(out.contains("- address 192.168.0.1/24 dev eth1"), "{out}");
    assert_unchanged(&lab, &before, "reset");
    // Nothing of alias-mgr's is left; the config file is.
    assert!(!lab.host.has_address("eth1", "192.168.0.1/24"));
    assert!(!lab.host.has_route("-4", "198.51.100.0/24"));
    assert!(!lab
        .host
        .try_sh(&["nft", "list", "table", "inet", "alias_mgr"]));
    assert!(!Path::new(&lab.pin_dir).exists(), "pins left behind");
    assert_eq!(programs(&lab.host, "eth1", BPF_TCX_INGRESS), before.ingress);
    assert_eq!(programs(&lab.host, "eth1", BPF_TCX_EGRESS), before.egress);
    assert!(lab.config_text().contains("192.168.0.1/24"));
    // And apply brings it back.
    lab.ok(&["apply"]);
    assert!(lab.host.has_address("eth1", "192.168.0.1/24"));
    assert_unchanged(&lab, &before, "apply after reset");
}
