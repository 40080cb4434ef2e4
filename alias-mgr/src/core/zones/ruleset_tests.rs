//! Unit tests of `ruleset`: rendering, batches and diffs, without nft.

use super::*;
use crate::core::fixtures::{alias, live, zone, AliasBuilder, ZoneBuilder, FOREIGN};
use crate::core::model::OWNER_PROTO;
use crate::core::zones::{diff, parse_live};

#[test]
fn no_zones_means_no_table() {
    assert!(render(&[], &[]).is_none());
    let live = LiveTable {
        exists: true,
        ..Default::default()
    };
    let removal = batch(None, &live, &BTreeMap::new());
    assert_eq!(removal["nftables"][0]["delete"]["table"]["name"], TABLE);
    assert_eq!(
        batch(None, &LiveTable::default(), &BTreeMap::new())["nftables"],
        json!([])
    );
}

#[test]
fn zone_members_come_from_aliases_and_extra_subnets_merged() {
    let lab = zone("lab", Verdict::Drop)
        .allow(&["tcp/22", "icmp"])
        .subnets(&["10.50.0.0/16", "192.168.0.0/16"]);
    let aliases = [
        alias("eth1", "192.168.0.1/24").zone("lab"),
        alias("eth1", "2001:db8:1::1/64").zone("lab"),
    ];
    let ruleset = render(&[lab], &aliases).unwrap();
    assert_eq!(
        ruleset.sets["z_lab_v4"],
        (
            true,
            vec![
                "10.50.0.0/16".parse().unwrap(),
                "192.168.0.0/16".parse().unwrap()
            ]
        )
    );
    assert_eq!(
        ruleset.sets["z_lab_v6"].1,
        vec!["2001:db8:1::/64".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn input_chain_accepts_established_first_then_jumps_by_source() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop).allow(&["tcp/22"])],
        &[alias("eth1", "192.168.0.1/24").zone("lab")],
    )
    .unwrap();
    let input = &ruleset.chains["input"];
    assert_eq!(input[0][0]["match"]["left"]["ct"]["key"], "state");
    assert_eq!(input[3][1]["jump"]["target"], "in_lab");
    let zone_chain = &ruleset.chains["in_lab"];
    assert_eq!(zone_chain[0][0]["match"]["right"], 22);
    assert_eq!(zone_chain[0][2], json!({"accept": null}));
    assert_eq!(zone_chain.last().unwrap()[1], json!({"drop": null}));
    assert_eq!(
        zone_chain.last().unwrap()[0],
        json!({"counter": "in_lab_drop"})
    );
}

#[test]
fn forward_matrix_defaults_to_drop_and_accepts_within_a_zone() {
    let zones = [
        zone("lab", Verdict::Drop).forward(&[("dmz", Verdict::Accept)]),
        zone("dmz", Verdict::Reject),
    ];
    let aliases = [
        alias("eth1", "192.168.0.1/24").zone("lab"),
        alias("eth1", "198.51.100.1/24").zone("dmz"),
    ];
    let ruleset = render(&zones, &aliases).unwrap();
    let lab = &ruleset.chains["fwd_lab"];
    let to = |rules: &Vec<Vec<Value>>, set: &str| {
        rules
            .iter()
            .find(|r| r[0]["match"]["right"] == format!("@{set}"))
            .cloned()
            .unwrap()
    };
    // Within the zone: accepted, and counted like any forward accept.
    assert_eq!(to(lab, "z_lab_v4")[1], json!({"counter": "fwd_lab_accept"}));
    assert_eq!(to(lab, "z_lab_v4")[2], json!({"accept": null}));
    assert_eq!(to(lab, "z_dmz_v4")[2], json!({"accept": null}));
    // The rest, in one rule over every zone's addresses: dmz has no
    // rule naming lab, and its last rule drops to any zone, counted.
    let dmz = &ruleset.chains["fwd_dmz"];
    assert!(!dmz.iter().any(|r| r[0]["match"]["right"] == "@z_lab_v4"));
    assert_eq!(
        to(dmz, "all_zones_v4")[1],
        json!({"counter": "fwd_dmz_drop"})
    );
    assert_eq!(to(dmz, "all_zones_v4")[2], json!({"drop": null}));
    assert_eq!(
        ruleset.sets["all_zones_v4"].1,
        ["192.168.0.0/24", "198.51.100.0/24"].map(|n| n.parse::<IpNet>().unwrap())
    );
    assert_eq!(dmz.len(), 2, "own zone, then the catch-all: {dmz:?}");
    assert_eq!(
        ruleset.chains["in_dmz"].last().unwrap()[1],
        json!({"reject": null})
    );
}

#[test]
fn forward_rules_stay_two_a_zone_however_many_zones_drop_and_reject_is_kept() {
    let mut zones: Vec<ZoneSpec> = (0..50)
        .map(|i| zone(&format!("z{i}"), Verdict::Accept))
        .collect();
    zones[0] = zone("z0", Verdict::Accept).forward(&[("z1", Verdict::Reject)]);
    let aliases: Vec<AliasSpec> = (0..50)
        .map(|i| alias("eth1", &format!("10.{i}.0.1/24")).zone(&format!("z{i}")))
        .collect();
    let ruleset = render(&zones, &aliases).unwrap();
    assert_eq!(ruleset.chains["fwd_z5"].len(), 2);
    let z0 = &ruleset.chains["fwd_z0"];
    assert_eq!(z0.len(), 3, "{z0:?}");
    // The reject comes before the catch-all drop, so it decides.
    assert_eq!(z0[1][0]["match"]["right"], "@z_z1_v4");
    assert_eq!(z0[1][2], json!({"reject": null}));
    assert_eq!(z0[2][0]["match"]["right"], "@all_zones_v4");
    assert!(!ruleset.sets.contains_key("all_zones_v6"));
}

#[test]
fn a_table_flushed_by_someone_else_gets_its_counters_back_with_their_values() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop)],
        &[alias("eth1", "192.168.0.1/24").zone("lab")],
    )
    .unwrap();
    let seen: BTreeMap<String, (u64, u64)> = [
        (
            "in_lab_accept".to_string(),
            (5_000_000_000, 9_000_000_000_000),
        ),
        ("in_lab_drop".to_string(), (7, 700)),
    ]
    .into();
    let adds = |live: &LiveTable| -> Vec<Value> {
        batch(Some(&ruleset), live, &seen)["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|cmd| cmd["add"].get("counter").cloned())
            .filter(|c| c["name"].as_str().unwrap().starts_with("in_lab"))
            .collect()
    };
    let gone = adds(&LiveTable::default());
    assert_eq!(gone[0]["packets"], json!(5_000_000_000u64));
    assert_eq!(gone[0]["bytes"], json!(9_000_000_000_000u64));
    assert_eq!(gone[1]["packets"], json!(7));
    // A counter still there keeps its own count: no value is given.
    let live = LiveTable {
        exists: true,
        counters: [("in_lab_accept".to_string(), (9, 900))].into(),
        ..Default::default()
    };
    let kept = adds(&live);
    assert!(kept[0].get("packets").is_none(), "{kept:?}");
    assert_eq!(kept[1]["packets"], json!(7));
}

#[test]
fn batch_keeps_counters_and_deletes_what_is_gone() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop)],
        &[alias("eth1", "192.168.0.1/24").zone("lab")],
    )
    .unwrap();
    let live = LiveTable {
        exists: true,
        chains: ["input".to_string(), "in_old".to_string()].into(),
        sets: [("z_old_v4".to_string(), vec![])].into(),
        counters: [
            ("in_lab_accept".to_string(), (5, 500)),
            ("in_old_drop".to_string(), (1, 1)),
        ]
        .into(),
        fingerprint: None,
        rules: Default::default(),
    };
    let text = batch(Some(&ruleset), &live, &BTreeMap::new()).to_string();
    assert!(text.contains(r#"{"flush":{"table""#));
    assert!(
        text.contains(r#""delete":{"chain":{"family":"inet","name":"in_old""#),
        "{text}"
    );
    assert!(text.contains(r#""delete":{"counter":{"family":"inet","name":"in_old_drop""#));
    assert!(!text.contains(r#""delete":{"counter":{"family":"inet","name":"in_lab_accept""#));
    assert!(text.contains(&ruleset.fingerprint()));
}

#[test]
fn parse_live_reads_u64_counters_sets_and_fingerprint() {
    let json = json!({"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"table": {"family": "inet", "name": "alias_mgr", "handle": 1}},
        {"counter": {"family": "inet", "name": "in_lab_accept", "table": "alias_mgr", "handle": 2, "packets": 5_000_000_000u64, "bytes": 9_000_000_000_000u64}},
        {"set": {"family": "inet", "name": "z_lab_v4", "table": "alias_mgr", "type": "ipv4_addr", "flags": ["interval"],
                 "elem": [{"prefix": {"addr": "192.168.0.0", "len": 24}}, "10.0.0.1"]}},
        {"chain": {"family": "inet", "table": "alias_mgr", "name": "input", "handle": 3}},
        {"rule": {"family": "inet", "table": "alias_mgr", "chain": "input", "handle": 4, "comment": "alias-mgr ruleset 00ff", "expr": []}}
    ]});
    let live = parse_live(&json);
    assert!(live.exists);
    assert_eq!(
        live.counters["in_lab_accept"],
        (5_000_000_000, 9_000_000_000_000)
    );
    assert_eq!(
        live.sets["z_lab_v4"],
        vec![
            "192.168.0.0/24".parse::<IpNet>().unwrap(),
            "10.0.0.1/32".parse().unwrap()
        ]
    );
    assert_eq!(live.fingerprint.as_deref(), Some("00ff"));
}

#[test]
fn diff_names_membership_changes_and_is_empty_when_in_sync() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop)],
        &[alias("eth1", "192.168.0.1/24").zone("lab")],
    )
    .unwrap();
    let lines = diff(Some(&ruleset), &LiveTable::default());
    assert!(
        lines.contains(&"+ zone lab: 192.168.0.0/24".to_string()),
        "{lines:?}"
    );
    assert!(diff(Some(&ruleset), &loaded(&ruleset)).is_empty());
}

/// The live table right after `ruleset` was loaded.
fn loaded(ruleset: &Ruleset) -> LiveTable {
    LiveTable {
        exists: true,
        sets: ruleset
            .sets
            .iter()
            .map(|(name, (_, elements))| (name.clone(), elements.clone()))
            .collect(),
        chains: ruleset.chains.keys().cloned().collect(),
        counters: ruleset
            .counters
            .iter()
            .map(|c| (c.clone(), (0, 0)))
            .collect(),
        fingerprint: Some(ruleset.fingerprint()),
        rules: ruleset
            .chains
            .iter()
            .map(|(name, rules)| (name.clone(), rules.len()))
            .collect(),
    }
}

#[test]
fn our_table_edited_by_hand_is_reloaded() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop).allow(&["icmp"])],
        &[alias("eth1", "192.168.0.1/24").zone("lab")],
    )
    .unwrap();
    let loaded = loaded(&ruleset);
    assert!(diff(Some(&ruleset), &loaded).is_empty());

    let mut rule_deleted = loaded.clone();
    *rule_deleted.rules.get_mut("in_lab").unwrap() -= 1;
    let mut element_deleted = loaded.clone();
    element_deleted.sets.get_mut("z_lab_v4").unwrap().clear();
    let mut counter_deleted = loaded.clone();
    counter_deleted.counters.remove("in_lab_drop");
    for edited in [rule_deleted, element_deleted, counter_deleted] {
        let lines = diff(Some(&ruleset), &edited);
        assert!(
            lines.len() == 1 && lines[0].contains("changed outside alias-mgr"),
            "{lines:?}"
        );
    }
}

#[test]
fn a_zone_over_the_primarys_subnet_is_pointed_out() {
    let ruleset = render(
        &[zone("lab", Verdict::Drop)],
        &[alias("eth1", "192.168.1.50/24").zone("lab")],
    )
    .unwrap();
    let addresses = [
        live("eth1", 2, "192.168.1.1/24", FOREIGN),
        live("eth1", 2, "192.168.1.50/24", OWNER_PROTO),
        live("eth1", 2, "10.0.0.1/8", FOREIGN),
    ];
    let notes = foreign_addresses_in_zones(&ruleset, &addresses);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("192.168.1.1 on eth1"), "{notes:?}");
}

#[test]
fn the_table_a_batch_loads_is_what_its_ruleset_holds() {
    let ruleset = render(
        &[
            zone("lab", Verdict::Drop).allow(&["tcp/22"]),
            zone("dmz", Verdict::Accept).subnets(&["10.50.0.0/16"]),
        ],
        &[
            alias("eth1", "192.168.0.1/24").zone("lab"),
            alias("eth1", "2001:db8:1::1/64").zone("lab"),
            alias("eth1", "172.16.0.1/24").zone("dmz"),
        ],
    )
    .unwrap();
    // From nothing, and over a table holding a stale set and chain.
    let stale = LiveTable {
        exists: true,
        sets: BTreeMap::from([("z_old_v4".to_string(), Vec::new())]),
        chains: BTreeSet::from(["in_old".to_string()]),
        ..Default::default()
    };
    for live in [LiveTable::default(), stale] {
        let loaded_by =
            crate::core::zones::table_loaded_by(&batch(Some(&ruleset), &live, &BTreeMap::new()));
        assert_eq!(loaded_by, loaded(&ruleset));
    }
    let removal = batch(None, &loaded(&ruleset), &BTreeMap::new());
    assert_eq!(
        crate::core::zones::table_loaded_by(&removal),
        LiveTable::default()
    );
}
