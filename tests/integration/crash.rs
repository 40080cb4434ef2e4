//! Crash convergence: `apply` of 500 aliases with labels, routes, zones and
//! counters is SIGKILLed at seeded random moments, going both ways between
//! two configs; after each kill one `apply` must bring the kernel to exactly
//! what a clean apply of that config gives, as the kernel lists it.

use std::{
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use crate::util::{tracked_in_kernel, write, Lab};

const ALIASES: usize = 500;
const TRIALS: usize = 20;

/// Seeded, so a failing trial can be replayed (`ALIAS_MGR_CRASH_SEED`).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// 500 aliases, each on a /24 of its own with a label; every 10th with a
/// route; two zones. `shift` moves half of them, so going from one config
/// to the other adds, removes and keeps.
fn config(shift: usize) -> String {
    let mut text = String::from(
        "[zone.red]\ninput = \"drop\"\nallow = [\"icmp\"]\n\n[zone.blue]\ninput = \"accept\"\n\n",
    );
    for n in 0..ALIASES {
        let n = if n % 2 == 0 { n } else { n + shift * ALIASES };
        let (a, b) = (40 + n / 250, n % 250);
        text.push_str(&format!(
            "[[alias]]\ninterface = \"eth1\"\naddress = \"10.{a}.{b}.1/24\"\nlabel = \"eth1:{n}\"\nzone = \"{}\"\n",
            if n % 3 == 0 { "red" } else { "blue" }
        ));
        if n % 10 == 0 {
            text.push_str(&format!(
                "routes = [\"172.{}.{}.0/24@10.{a}.{b}.254\"]\n",
                16 + n / 250,
                n % 250
            ));
        }
        text.push('\n');
    }
    text
}

/// The state the kernel holds, in the observers' own words.
#[derive(Debug, PartialEq)]
struct Snapshot {
    addresses: Vec<(String, u64, String)>,
    routes: Vec<String>,
    counter_keys: Vec<String>,
    table: String,
}

fn snapshot(lab: &Lab) -> Snapshot {
    let json = lab.host.json(&["ip", "-j", "addr", "show", "dev", "eth1"]);
    let mut addresses: Vec<(String, u64, String)> = json[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["scope"] != "link")
        .map(|i| {
            (
                i["local"].as_str().unwrap().to_string(),
                i["prefixlen"].as_u64().unwrap(),
                i["label"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    addresses.sort();
    let mut routes: Vec<String> = ["-4", "-6"]
        .iter()
        .flat_map(|family| {
            let json = lab
                .host
                .json(&["ip", family, "-j", "route", "show", "proto", "161"]);
            json.as_array().unwrap().clone()
        })
        .map(|r| format!("{} via {} src {}", r["dst"], r["gateway"], r["prefsrc"]))
        .collect();
    routes.sort();
    let counter_keys: Vec<String> = tracked_in_kernel(lab)
        .iter()
        .map(ToString::to_string)
        .collect();
    Snapshot {
        addresses,
        routes,
        counter_keys,
        table: lab.host.sh(&["nft", "list", "table", "inet", "alias_mgr"]),
    }
}

/// The converged state, and how long the apply alone took (the snapshot's
/// bpftool dumps are not part of the window kills land in).
fn apply_clean(lab: &Lab, text: &str) -> (Snapshot, Duration) {
    write(&lab.config_path(), text);
    let started = Instant::now();
    lab.ok(&["apply"]);
    let took = started.elapsed();
    (snapshot(lab), took)
}

#[test]
fn apply_killed_at_seeded_random_moments_converges_exactly() {
    let seed = std::env::var("ALIAS_MGR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_a11a5);
    let mut random = XorShift(seed);
    let lab = Lab::new();
    let configs = [config(0), config(1)];
    let (first, _) = apply_clean(&lab, &configs[0]);
    assert_eq!(first.addresses.len(), ALIASES);
    assert_eq!(first.counter_keys.len(), ALIASES);
    assert_eq!(first.routes.len(), ALIASES / 10);
    let (second, took_back) = apply_clean(&lab, &configs[1]);
    assert_ne!(first, second);
    let expected = [first, second];
    // Each trial goes the whole way from one converged config to the
    // other, as the second clean apply did: kill within that time.
    let window = took_back.as_millis() as u64;
    let mut killed_mid_way = 0;
    for trial in 0..TRIALS {
        let target = trial % 2;
        write(&lab.config_path(), &configs[target]);
        let mut child = lab
            .alias_mgr_command(&["apply"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        thread::sleep(Duration::from_millis(random.below(window)));
        child.kill().unwrap();
        if !child.wait().unwrap().success() {
            killed_mid_way += 1;
        }
        lab.ok(&["apply"]);
        assert_eq!(
            snapshot(&lab),
            expected[target],
            "trial {trial} (seed {seed:#x}): one apply after the kill did not converge"
        );
    }
    eprintln!("crash: seed {seed:#x}, {killed_mid_way} of {TRIALS} kills hit a running apply");
    // The kills must have hit runs in progress, or this proves nothing.
    assert!(
        killed_mid_way >= TRIALS / 2,
        "only {killed_mid_way} of {TRIALS} kills hit a running apply"
    );
}
