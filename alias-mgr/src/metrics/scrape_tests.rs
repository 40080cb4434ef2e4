//! Unit tests of `scrape`: the families built from fake sources.

use super::*;
use crate::core::fixtures::ip;
use crate::metrics::fixtures::{counters, exporter, text};

#[test]
fn traffic_families_carry_device_label_and_zone() {
    let exporter = exporter(Some(vec![
        (ip("192.0.2.1"), counters(10)),
        (ip("2001:db8::1"), counters(3)),
        (ip("203.0.113.9"), counters(1)),
        (ip("198.18.0.1"), counters(0)),
    ]));
    let text = text(&exporter);
    for line in [
        r#"alias_mgr_receive_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 10"#,
        r#"alias_mgr_receive_bytes_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 1000"#,
        r#"alias_mgr_transmit_packets_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 11"#,
        r#"alias_mgr_transmit_bytes_total{device="eth1",address="192.0.2.1",label="eth1:0",zone="lab"} 1100"#,
        // IPv6: the label comes from the config.
        r#"alias_mgr_receive_packets_total{device="eth1",address="2001:db8::1",label="eth1:v6",zone="lab"} 3"#,
        // A tracked foreign address: device and kernel label, no zone.
        r#"alias_mgr_receive_packets_total{device="eth1",address="203.0.113.9",label="eth1",zone=""} 1"#,
        // Tracked but on no interface.
        r#"alias_mgr_receive_packets_total{device="",address="198.18.0.1",label="",zone=""} 0"#,
        r#"alias_mgr_address_info{device="eth9",address="198.51.100.1",prefix="24",label="",zone="",state="pending"} 1"#,
        r#"alias_mgr_address_info{device="eth1",address="192.0.2.1",prefix="24",label="eth1:0",zone="lab",state="applied"} 1"#,
        r#"alias_mgr_address_info{device="eth1",address="192.0.2.50",prefix="24",label="eth1:5",zone="",state="runtime"} 1"#,
        r#"alias_mgr_zone_packets_total{zone="lab",direction="input",verdict="accept"} 7"#,
        r#"alias_mgr_zone_bytes_total{zone="lab",direction="input",verdict="drop"} 120"#,
        "alias_mgr_tracked_addresses 4",
        "alias_mgr_tracked_addresses_limit 16384",
        r#"alias_mgr_scrape_collector_success{collector="counters"} 1"#,
        r#"alias_mgr_reconciles_total{trigger="netlink"} 0"#,
        "alias_mgr_drift_events_total 0",
        &format!(
            r#"alias_mgr_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line} in:\n{text}"
        );
    }
    assert!(
        !text.contains("address=\"203.0.113.9\",prefix"),
        "foreign in info: {text}"
    );
    // Every family has HELP and TYPE lines.
    for family in Family::ALL {
        let name = family.def().name;
        let sampled = text.lines().any(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        });
        if sampled {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }
}

#[test]
fn a_failing_source_is_reported_not_fatal() {
    let exporter = exporter(None);
    let text = text(&exporter);
    assert!(text.contains(r#"alias_mgr_scrape_collector_success{collector="counters"} 0"#));
    assert!(!text.contains("alias_mgr_receive_bytes_total{"), "{text}");
    assert!(!text.contains("alias_mgr_tracked_addresses "), "{text}");
    // Everything else is still there.
    assert!(text.contains("alias_mgr_zone_packets_total{"));
    assert!(text.contains("alias_mgr_address_info{"));
}

#[test]
fn counters_that_cannot_work_say_why() {
    struct NoTcx;
    impl crate::metrics::collector::Sources for NoTcx {
        fn traffic(&self) -> anyhow::Result<Vec<(std::net::IpAddr, TrafficCounters)>> {
            Ok(Vec::new())
        }
        fn zones(&self) -> anyhow::Result<Vec<crate::sys::nft::ZoneCounter>> {
            Ok(Vec::new())
        }
        fn counters_unavailable(&self) -> Option<String> {
            Some("kernel 6.1 has no TCX".into())
        }
    }
    let off = text(&crate::metrics::Exporter::new(Box::new(NoTcx)));
    assert!(
        off.contains(r#"alias_mgr_counters_available{reason="kernel 6.1 has no TCX"} 0"#),
        "{off}"
    );
    let on = text(&exporter(Some(vec![(ip("192.0.2.1"), counters(1))])));
    assert!(
        on.contains(r#"alias_mgr_counters_available{reason=""} 1"#),
        "{on}"
    );
}
