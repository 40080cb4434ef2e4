//! `alias-mgr top`, its plain modes: traffic per alias address as rates,
//! from two reads of the pinned counters map `--interval` apart, busiest
//! first. `--once` prints one table, `--json` the same as JSON; without
//! either a table is printed every interval until interrupted (as
//! `vmstat 1` does). It reads the map directly: no daemon needed, nothing
//! on the packet path. (The full-screen view is not built yet.)

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    path::Path,
    time::Duration,
};

use alias_ebpf::TrafficCounters;
use anyhow::{bail, Result};
use serde::Serialize;

use super::output::say;
use crate::{
    config::ConfigFile,
    core::model::{AliasSpec, LiveAddress},
    kernel::Kernel,
    sys::bpf::PinDir,
};

pub(super) struct TopRequest {
    pub interface: Option<String>,
    pub once: bool,
    pub json: bool,
    pub interval: Duration,
}

/// One address's traffic over the interval, per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(super) struct Rates {
    pub rx_bits_per_s: f64,
    pub rx_packets_per_s: f64,
    pub tx_bits_per_s: f64,
    pub tx_packets_per_s: f64,
}

impl Rates {
    fn bits(&self) -> f64 {
        self.rx_bits_per_s + self.tx_bits_per_s
    }
}

/// The rates of every address counted in both reads, `seconds` apart,
/// busiest first. A counter that went down (the address untracked and
/// tracked again) counts from zero.
pub(super) fn rates(
    before: &BTreeMap<IpAddr, TrafficCounters>,
    after: &BTreeMap<IpAddr, TrafficCounters>,
    seconds: f64,
) -> Vec<(IpAddr, Rates)> {
    let per_second = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now) as f64 / seconds;
    let mut all: Vec<(IpAddr, Rates)> = after
        .iter()
        .map(|(ip, now)| {
            let then = before.get(ip).copied().unwrap_or_default();
            let rates = Rates {
                rx_bits_per_s: 8.0 * per_second(now.rx_bytes, then.rx_bytes),
                rx_packets_per_s: per_second(now.rx_packets, then.rx_packets),
                tx_bits_per_s: 8.0 * per_second(now.tx_bytes, then.tx_bytes),
                tx_packets_per_s: per_second(now.tx_packets, then.tx_packets),
            };
            (*ip, rates)
        })
        .collect();
    all.sort_by(|a, b| b.1.bits().total_cmp(&a.1.bits()).then(a.0.cmp(&b.0)));
    all
}

/// A bit rate as iftop shows it: b/s, Kb/s, Mb/s, Gb/s (powers of 1000).
pub(super) fn human_bits(bits: f64) -> String {
    let units = ["b/s", "Kb/s", "Mb/s", "Gb/s", "Tb/s"];
    let mut value = bits;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", units[0])
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

#[derive(Debug, Serialize)]
struct Row {
    interface: Option<String>,
    label: Option<String>,
    address: IpAddr,
    zone: Option<String>,
    #[serde(flatten)]
    rates: Rates,
}

/// `--interval`: `2s`, `500ms` or plain seconds (`0.5`); 100 ms to 1 h.
pub(super) fn parse_interval(text: &str) -> Result<Duration, String> {
    let (number, scale) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 0.001),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .map(|n| n * scale)
        .map_err(|_| format!("{text:?} is not an interval; write 1s, 500ms or 2"))?;
    if !(0.1..=3600.0).contains(&seconds) {
        return Err(format!("{text:?} is out of range: 100ms to 1h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub(super) async fn top_command(config: &Path, pins: PinDir, request: TopRequest) -> Result<()> {
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let pins = kernel.system().pins();
    if let Some(reason) = pins.unavailable_reason() {
        bail!("per-address counters are off here: {reason}");
    }
    let Some(counters) = pins.existing_counters()? else {
        bail!(
            "no counters map under {}: nothing is counted yet; `alias-mgr apply` (with counters on) starts counting",
            pins.path().display()
        );
    };
    // Each measurement's end is the next one's start.
    let mut started = std::time::Instant::now();
    let mut before = counters.read_all()?;
    loop {
        tokio::time::sleep(request.interval).await;
        let after = counters.read_all()?;
        let seconds = started.elapsed().as_secs_f64();
        started = std::time::Instant::now();
        let (_, addresses) = kernel.addresses().await?;
        let rows = rows(&file, &addresses, rates(&before, &after, seconds));
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|r| {
                request
                    .interface
                    .as_deref()
                    .is_none_or(|only| r.interface.as_deref() == Some(only))
            })
            .collect();
        if request.json {
            say!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            say!("{}", table(&rows, seconds));
        }
        if request.once || request.json {
            return Ok(());
        }
        before = after;
    }
}

/// Labels each address from the kernel (interface, label) and the config
/// (zone, and the label of an IPv6 alias, which the kernel does not keep).
fn rows(file: &ConfigFile, addresses: &[LiveAddress], rates: Vec<(IpAddr, Rates)>) -> Vec<Row> {
    // Looked up by address: thousands of rows, every interval.
    let live: HashMap<IpAddr, &LiveAddress> =
        addresses.iter().map(|a| (a.address.addr(), a)).collect();
    let declared: HashMap<IpAddr, &AliasSpec> =
        file.config().aliases.iter().map(|a| (a.ip(), a)).collect();
    rates
        .into_iter()
        .map(|(address, rates)| {
            let live = live.get(&address).copied();
            let declared = declared.get(&address).copied();
            let interface = live
                .map(|l| l.interface.clone())
                .or_else(|| declared.map(|d| d.interface.clone()));
            Row {
                interface,
                label: live
                    .and_then(|l| l.label.clone())
                    .or_else(|| declared.and_then(|d| d.label.clone())),
                address,
                zone: declared.and_then(|d| d.zone.clone()),
                rates,
            }
        })
        .collect()
}

/// How wide the full table is (an IPv6 address takes up to 39
/// characters); a terminal narrower than this gets the address and the
/// two bit rates only.
const FULL_WIDTH: usize = 117;

/// The width of the terminal stdout is, if it is one.
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    // SAFETY: an all-zero winsize is valid; TIOCGWINSZ only fills it.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: fd 1 is stdout, and `size` outlives the call.
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// The three columns a narrow terminal (under [`FULL_WIDTH`]) gets.
fn narrow_table(rows: &[Row], seconds: f64) -> String {
    let mut out = format!("{:<39} {:>12} {:>12}\n", "ADDRESS", "RX", "TX");
    for row in rows {
        out.push_str(&format!(
            "{:<39} {:>12} {:>12}\n",
            row.address.to_string(),
            human_bits(row.rates.rx_bits_per_s),
            human_bits(row.rates.tx_bits_per_s),
        ));
    }
    let (rx, tx) = rows.iter().fold((0.0, 0.0), |(rx, tx), r| {
        (rx + r.rates.rx_bits_per_s, tx + r.rates.tx_bits_per_s)
    });
    out.push_str(&format!(
        "{:<39} {:>12} {:>12}\n({} address(es), {seconds:.1} s)",
        "TOTAL",
        human_bits(rx),
        human_bits(tx),
        rows.len()
    ));
    out
}

fn table(rows: &[Row], seconds: f64) -> String {
    if terminal_width().is_some_and(|width| width < FULL_WIDTH) {
        return narrow_table(rows, seconds);
    }
    let mut out = format!(
        "{:<10} {:<12} {:<39} {:<8} {:>12} {:>9} {:>12} {:>9}\n",
        "IFACE", "LABEL", "ADDRESS", "ZONE", "RX", "RX pkt/s", "TX", "TX pkt/s"
    );
    let mut total = Rates::default();
    for row in rows {
        out.push_str(&format!(
            "{:<10} {:<12} {:<39} {:<8} {:>12} {:>9.1} {:>12} {:>9.1}\n",
            row.interface.as_deref().unwrap_or("-"),
            row.label.as_deref().unwrap_or("-"),
            row.address.to_string(),
            row.zone.as_deref().unwrap_or("-"),
            human_bits(row.rates.rx_bits_per_s),
            row.rates.rx_packets_per_s,
            human_bits(row.rates.tx_bits_per_s),
            row.rates.tx_packets_per_s,
        ));
        total.rx_bits_per_s += row.rates.rx_bits_per_s;
        total.rx_packets_per_s += row.rates.rx_packets_per_s;
        total.tx_bits_per_s += row.rates.tx_bits_per_s;
        total.tx_packets_per_s += row.rates.tx_packets_per_s;
    }
    out.push_str(&format!(
        "{:<72} {:>12} {:>9.1} {:>12} {:>9.1}\n({} address(es), rates over {seconds:.1} s)",
        "TOTAL",
        human_bits(total.rx_bits_per_s),
        total.rx_packets_per_s,
        human_bits(total.tx_bits_per_s),
        total.tx_packets_per_s,
        rows.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rx_packets: u64, rx_bytes: u64) -> TrafficCounters {
        TrafficCounters {
            rx_packets,
            rx_bytes,
            tx_packets: rx_packets / 2,
            tx_bytes: rx_bytes / 2,
        }
    }

    #[test]
    fn rates_are_deltas_per_second_busiest_first_and_a_reset_counts_from_zero() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let before = BTreeMap::from([
            (a, counts(100, 10_000)),
            (b, counts(0, 0)),
            (c, counts(50, 5_000)),
        ]);
        let after = BTreeMap::from([
            (a, counts(120, 12_000)),
            (b, counts(200, 300_000)),
            (c, counts(10, 1_000)),
        ]);
        let got = rates(&before, &after, 2.0);
        assert_eq!(got[0].0, b, "the busiest first");
        assert_eq!(got[0].1.rx_packets_per_s, 100.0);
        assert_eq!(got[0].1.rx_bits_per_s, 1_200_000.0);
        let of = |ip| got.iter().find(|(i, _)| *i == ip).unwrap().1;
        assert_eq!(of(a).rx_packets_per_s, 10.0);
        assert_eq!(of(a).tx_bits_per_s, 8.0 * 1_000.0 / 2.0);
        // Went down: counted again from zero.
        assert_eq!(of(c).rx_packets_per_s, 5.0);
    }

    #[test]
    fn the_tables_fit_their_widths() {
        let rows = vec![Row {
            interface: Some("eth1".into()),
            label: Some("eth1:0".into()),
            address: "2001:db8:1234:5678:9abc:def0:1234:5678".parse().unwrap(),
            zone: Some("lab".into()),
            rates: Rates {
                rx_bits_per_s: 123.4e9,
                rx_packets_per_s: 99_999.9,
                tx_bits_per_s: 1.0,
                tx_packets_per_s: 0.5,
            },
        }];
        let widest = |text: &str| text.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest(&narrow_table(&rows, 1.0)) <= 80);
        let full = table(&rows, 1.0);
        assert!(widest(&full) <= FULL_WIDTH + 1, "{full}");
        assert!(
            full.contains("123.4 Gb/s") && full.contains("eth1:0"),
            "{full}"
        );
    }

    #[test]
    fn bit_rates_read_as_iftop_shows_them() {
        assert_eq!(human_bits(0.0), "0 b/s");
        assert_eq!(human_bits(999.0), "999 b/s");
        assert_eq!(human_bits(1_500.0), "1.5 Kb/s");
        assert_eq!(human_bits(20_570_000.0), "20.6 Mb/s");
        assert_eq!(human_bits(31e9), "31.0 Gb/s");
    }

    #[test]
    fn intervals_take_seconds_or_milliseconds_within_bounds() {
        assert_eq!(parse_interval("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("10ms").unwrap_err().contains("out of range"));
        assert!(parse_interval("soon")
            .unwrap_err()
            .contains("not an interval"));
    }
}
