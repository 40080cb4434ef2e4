//! Rates from two reads of cumulative counters, and how they read: per
//! alias address (the classifier's map) and per zone (nft's counters).

use std::{collections::BTreeMap, net::IpAddr, time::Duration};

use alias_ebpf::TrafficCounters;
use serde::Serialize;

use crate::sys::nft::ZoneCounter;

/// One address's traffic over the interval, per second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct Rates {
    pub rx_bits_per_s: f64,
    pub rx_packets_per_s: f64,
    pub tx_bits_per_s: f64,
    pub tx_packets_per_s: f64,
}

impl Rates {
    pub fn bits(&self) -> f64 {
        self.rx_bits_per_s + self.tx_bits_per_s
    }

    pub fn add(&mut self, other: &Rates) {
        self.rx_bits_per_s += other.rx_bits_per_s;
        self.rx_packets_per_s += other.rx_packets_per_s;
        self.tx_bits_per_s += other.tx_bits_per_s;
        self.tx_packets_per_s += other.tx_packets_per_s;
    }
}

/// `now - then` per second; a counter that went down (reset: the address
/// untracked and tracked again, the zone table replaced) counts from zero.
fn per_second(now: u64, then: u64, seconds: f64) -> f64 {
    now.checked_sub(then).unwrap_or(now) as f64 / seconds
}

/// The rates of every address counted in both reads, `seconds` apart,
/// busiest first.
pub(crate) fn rates(
    before: &BTreeMap<IpAddr, TrafficCounters>,
    after: &BTreeMap<IpAddr, TrafficCounters>,
    seconds: f64,
) -> Vec<(IpAddr, Rates)> {
    let mut all: Vec<(IpAddr, Rates)> = after
        .iter()
        .map(|(ip, now)| {
            let then = before.get(ip).copied().unwrap_or_default();
            let rates = Rates {
                rx_bits_per_s: 8.0 * per_second(now.rx_bytes, then.rx_bytes, seconds),
                rx_packets_per_s: per_second(now.rx_packets, then.rx_packets, seconds),
                tx_bits_per_s: 8.0 * per_second(now.tx_bytes, then.tx_bytes, seconds),
                tx_packets_per_s: per_second(now.tx_packets, then.tx_packets, seconds),
            };
            (*ip, rates)
        })
        .collect();
    all.sort_by(|a, b| b.1.bits().total_cmp(&a.1.bits()).then(a.0.cmp(&b.0)));
    all
}

/// One zone's firewall verdicts per second: the new flows it accepted and
/// dropped for this host (input) and on the way to other zones (forward).
/// (Established flows are accepted before any zone's rule, uncounted.)
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ZoneRates {
    pub zone: String,
    pub input_accept_packets_per_s: f64,
    pub input_drop_packets_per_s: f64,
    pub forward_accept_packets_per_s: f64,
    pub forward_drop_packets_per_s: f64,
    /// Every packet the zone dropped (input and forward) since its table
    /// was loaded: a drop once a minute shows here, not in a rate.
    pub dropped: u64,
}

/// The zones' rates from two reads of their counters, by zone name.
pub(crate) fn zone_rates(
    before: &[ZoneCounter],
    after: &[ZoneCounter],
    seconds: f64,
) -> Vec<ZoneRates> {
    let mut zones: BTreeMap<&str, ZoneRates> = BTreeMap::new();
    for now in after {
        let then = before.iter().find(|c| {
            c.zone == now.zone && c.direction == now.direction && c.verdict == now.verdict
        });
        let packets = match then {
            Some(then) => per_second(now.packets, then.packets, seconds),
            None => now.packets as f64 / seconds,
        };
        let zone = zones.entry(&now.zone).or_insert_with(|| ZoneRates {
            zone: now.zone.clone(),
            ..ZoneRates::default()
        });
        match (now.direction, now.verdict) {
            ("input", "accept") => zone.input_accept_packets_per_s += packets,
            ("input", _) => zone.input_drop_packets_per_s += packets,
            (_, "accept") => zone.forward_accept_packets_per_s += packets,
            _ => zone.forward_drop_packets_per_s += packets,
        }
        if now.verdict == "drop" {
            zone.dropped += now.packets;
        }
    }
    zones.into_values().collect()
}

/// A bit rate as iftop shows it: b/s, Kb/s, Mb/s, Gb/s (powers of 1000).
pub(crate) fn human_bits(bits: f64) -> String {
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

/// A packet rate in at most 7 characters: 12.5, 9999.9, 123.4k, 12.3M.
pub(crate) fn human_packets(packets: f64) -> String {
    if packets < 10_000.0 {
        format!("{packets:.1}")
    } else if packets < 10_000_000.0 {
        format!("{:.1}k", packets / 1e3)
    } else {
        format!("{:.1}M", packets / 1e6)
    }
}

/// `--interval`: `2s`, `500ms` or plain seconds (`0.5`); 100 ms to 1 h.
pub(crate) fn parse_interval(text: &str) -> Result<Duration, String> {
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

    fn counter(
        zone: &str,
        direction: &'static str,
        verdict: &'static str,
        packets: u64,
    ) -> ZoneCounter {
        ZoneCounter {
            zone: zone.into(),
            direction,
            verdict,
            packets,
            bytes: packets * 100,
        }
    }

    #[test]
    fn zone_rates_sum_each_direction_and_verdict_per_zone() {
        let before = [
            counter("lab", "input", "accept", 10),
            counter("lab", "input", "drop", 0),
            counter("lab", "forward", "drop", 4),
        ];
        let after = [
            counter("lab", "input", "accept", 30),
            counter("lab", "input", "drop", 6),
            counter("lab", "forward", "drop", 8),
            counter("dmz", "input", "accept", 2),
        ];
        let got = zone_rates(&before, &after, 2.0);
        assert_eq!(got.len(), 2);
        let lab = got.iter().find(|z| z.zone == "lab").unwrap();
        assert_eq!(lab.input_accept_packets_per_s, 10.0);
        assert_eq!(lab.input_drop_packets_per_s, 3.0);
        assert_eq!(lab.forward_drop_packets_per_s, 2.0);
        assert_eq!(lab.dropped, 14);
        // A zone new since the first read counts from zero.
        assert_eq!(got[0].zone, "dmz");
        assert_eq!(got[0].input_accept_packets_per_s, 1.0);
    }

    #[test]
    fn rates_read_as_iftop_shows_them() {
        assert_eq!(human_bits(0.0), "0 b/s");
        assert_eq!(human_bits(999.0), "999 b/s");
        assert_eq!(human_bits(1_500.0), "1.5 Kb/s");
        assert_eq!(human_bits(20_570_000.0), "20.6 Mb/s");
        assert_eq!(human_bits(31e9), "31.0 Gb/s");
        assert_eq!(human_packets(9_999.94), "9999.9");
        assert_eq!(human_packets(123_456.0), "123.5k");
        assert_eq!(human_packets(14_880_000.0), "14.9M");
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
