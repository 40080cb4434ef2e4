//! `alias-mgr top --once/--json`: rates from counter deltas against traffic
//! of a known rate (ping at a set interval, iperf3 at a set bit rate).

use std::process::Stdio;

use serde_json::Value;

use crate::{
    counters::{counting_lab, HOST4},
    util::{write, Lab, Process},
};

fn measure(lab: &Lab, interval: &str) -> Vec<Value> {
    let out = lab.ok(&["top", "--json", "--interval", interval]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], address: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("{address} not in {rows:?}"))
}

#[test]
fn rates_follow_pings_at_a_set_interval_and_iperf3_at_a_set_bit_rate() {
    let lab = counting_lab(true);
    write(&lab.config_path(), "[settings]\narp_probe_ms = 0\n");
    // 10 pings a second for 4 s; measured over 2 s in the middle.
    let _ping = Process(
        lab.peer
            .command("ping")
            .args(["-q", "-c", "40", "-i", "0.1", HOST4])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(700));
    let rows = measure(&lab, "2s");
    let pinged = row(&rows, HOST4);
    let rx = pinged["rx_packets_per_s"].as_f64().unwrap();
    let tx = pinged["tx_packets_per_s"].as_f64().unwrap();
    assert!(
        (8.5..=11.5).contains(&rx) && (8.5..=11.5).contains(&tx),
        "{pinged}"
    );
    // 98-byte echo frames (84 IP + 14 Ethernet) at 10 a second.
    let bits = pinged["rx_bits_per_s"].as_f64().unwrap();
    assert!((bits - 7840.0).abs() < 1200.0, "{pinged}");
    assert_eq!(pinged["interface"], "eth1");

    // UDP at 20 Mbit/s of payload: 1470-byte datagrams are 1512-byte frames.
    let _server = Process(
        lab.host
            .command("iperf3")
            .args(["-s", "-1", "-B", HOST4, "-p", "5299"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _client = Process(
        lab.peer
            .command("iperf3")
            .args([
                "-c", HOST4, "-p", "5299", "-u", "-b", "20M", "-l", "1470", "-t", "5",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let rows = measure(&lab, "2s");
    let flooded = row(&rows, HOST4);
    let rx = flooded["rx_bits_per_s"].as_f64().unwrap();
    let expected = 20e6 * 1512.0 / 1470.0;
    assert!(
        (rx / expected - 1.0).abs() < 0.1,
        "{rx} vs {expected}: {flooded}"
    );
    // The busiest first, and the plain table says the same.
    assert_eq!(rows[0]["address"], HOST4);
    let table = lab.ok(&["top", "--once", "--interval", "500ms", "eth1"]);
    assert!(table.starts_with("IFACE"), "{table}");
    assert!(table.lines().nth(1).unwrap().contains(HOST4), "{table}");
    assert!(table.contains("TOTAL"), "{table}");
}
