//! The planner's LAN side: which new addresses are probed (RFC 5227) and
//! announced, and taking over foreign addresses and routes (`--adopt`).

use super::*;
use crate::core::{
    fixtures::*,
    model::{AliasSpec, OWNER_PROTO},
};

fn observed() -> Observed {
    Observed {
        interfaces: vec![interface("eth1", 2), interface("eth2", 3).down()],
        addresses: vec![live("eth1", 2, "192.168.1.1/24", FOREIGN)],
        promote_secondaries: [("eth1".to_string(), true)].into(),
        ..Default::default()
    }
}

fn desired(aliases: &[AliasSpec], adopt: bool) -> Desired<'_> {
    Desired {
        aliases,
        manage_promote_secondaries: true,
        zones: &[],
        runtime: &[],
        keep_runtime: false,
        keep_counting: &[],
        counters: false,
        count_everywhere: false,
        arp_probe_ms: 200,
        adopt,
        announce: true,
        seen: &crate::core::plan::NOTHING_SEEN,
    }
}

fn texts(plan: &Plan) -> Vec<String> {
    plan.actions.iter().map(ToString::to_string).collect()
}

#[test]
fn an_address_held_here_until_a_moment_ago_is_put_back_unprobed_but_announced() {
    let aliases = [
        alias("eth1", "192.168.0.1/24"),
        alias("eth1", "192.168.0.2/24"),
    ];
    // Held on eth1 (index 2): put back at once. The same address held on
    // another link index (an interface re-created since) is probed.
    let seen = Seen {
        held_here: [(2, ip("192.168.0.1")), (9, ip("192.168.0.2"))].into(),
        ..Default::default()
    };
    let healing = Desired {
        seen: &seen,
        ..desired(&aliases, false)
    };
    let plan = plan(&healing, &observed(), Scope::All);
    let probed: Vec<IpAddr> = plan.arp_probes.iter().map(|p| p.on.ip).collect();
    assert_eq!(probed, [ip("192.168.0.2")]);
    let announced: Vec<IpAddr> = plan.announce.iter().map(|on| on.ip).collect();
    assert_eq!(announced, [ip("192.168.0.1"), ip("192.168.0.2")]);
}

#[test]
fn new_ipv4_aliases_on_a_live_link_are_probed_and_all_new_ones_announced() {
    let aliases = [
        alias("eth1", "192.168.0.1/24"),
        AliasSpec {
            arp_probe_ms: Some(0),
            ..alias("eth1", "192.168.0.2/24")
        },
        AliasSpec {
            arp_probe_ms: Some(900),
            ..alias("eth1", "192.168.0.3/24")
        },
        alias("eth1", "2001:db8::1/64"),
        alias("eth2", "192.168.7.1/24"),
    ];
    let plan = plan(&desired(&aliases, false), &observed(), Scope::All);
    let probed: Vec<(IpAddr, u32)> = plan
        .arp_probes
        .iter()
        .map(|p| (p.on.ip, p.wait_ms))
        .collect();
    // Per-alias 0 is off; IPv6 has DAD; a link without carrier reaches nobody.
    assert_eq!(probed, [(ip("192.168.0.1"), 200), (ip("192.168.0.3"), 900)]);
    assert_eq!(plan.arp_probes[0].on.mac.to_string(), "02:00:00:00:00:01");
    let announced: Vec<IpAddr> = plan.announce.iter().map(|on| on.ip).collect();
    assert_eq!(
        announced,
        [
            ip("192.168.0.1"),
            ip("192.168.0.2"),
            ip("192.168.0.3"),
            ip("2001:db8::1")
        ]
    );
}

#[test]
fn settings_turn_probes_and_announcements_off() {
    let aliases = [alias("eth1", "192.168.0.1/24")];
    let quiet = Desired {
        arp_probe_ms: 0,
        announce: false,
        ..desired(&aliases, false)
    };
    let plan = plan(&quiet, &observed(), Scope::All);
    assert!(plan.arp_probes.is_empty() && plan.announce.is_empty());
    assert_eq!(texts(&plan), ["+ address 192.168.0.1/24 dev eth1"]);
}

#[test]
fn an_owned_address_re_added_with_another_prefix_is_not_probed() {
    let aliases = [alias("eth1", "192.168.0.1/25")];
    let mut observed = observed();
    observed
        .addresses
        .push(live("eth1", 2, "192.168.0.1/24", OWNER_PROTO));
    let plan = plan(&desired(&aliases, false), &observed, Scope::All);
    assert!(plan.arp_probes.is_empty());
    assert_eq!(plan.announce.len(), 1, "re-added, so announced again");
}

fn ifupdown_box() -> Observed {
    let mut observed = observed();
    observed
        .addresses
        .push(live("eth1", 2, "192.168.0.5/24", FOREIGN).label("eth1:0"));
    observed.routes.push(LiveRoute {
        destination: net("10.9.0.0/16"),
        gateway: Some(ip("192.168.0.254")),
        ifindex: Some(2),
        protocol: 3, // boot
        preferred_source: None,
    });
    observed
}

#[test]
fn adopt_takes_over_an_exact_match_and_its_route_in_place() {
    let aliases = [alias("eth1", "192.168.0.5/24")
        .label("eth1:0")
        .routes(&["10.9.0.0/16@192.168.0.254"])];
    let plan = plan(&desired(&aliases, true), &ifupdown_box(), Scope::All);
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert_eq!(
        texts(&plan),
        [
            "~ address 192.168.0.5/24 dev eth1: adopted in place (protocol 0 -> alias-mgr)",
            "~ route 10.9.0.0/16@192.168.0.254 dev eth1: adopted in place (protocol 3 -> alias-mgr)",
        ]
    );
    assert!(plan.arp_probes.is_empty() && plan.announce.is_empty());
    let Action::AdoptRoute {
        source,
        from_source,
        ..
    } = &plan.actions[1]
    else {
        panic!("{:?}", plan.actions[1]);
    };
    assert_eq!((*source, *from_source), (Some(ip("192.168.0.5")), None));
    // Its inverse hands both back exactly as they were.
    let back = plan.actions[1].inverse();
    assert!(back
        .to_string()
        .contains("handed back in place (protocol 161 -> 3)"));
}

#[test]
fn without_adopt_an_exact_match_is_a_conflict_that_names_adopt() {
    let aliases = [alias("eth1", "192.168.0.5/24")
        .label("eth1:0")
        .routes(&["10.9.0.0/16@192.168.0.254"])];
    let plan = plan(&desired(&aliases, false), &ifupdown_box(), Scope::All);
    assert!(plan.actions.is_empty(), "{:?}", texts(&plan));
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    assert!(
        plan.conflicts[0].contains("exactly the declared entry: `alias-mgr apply --adopt`"),
        "{}",
        plan.conflicts[0]
    );
}

#[test]
fn near_misses_stay_conflicts_with_the_difference_spelled_out() {
    let other_prefix = [alias("eth1", "192.168.0.5/16").label("eth1:0")];
    let plan = plan(&desired(&other_prefix, true), &ifupdown_box(), Scope::All);
    assert!(plan
        .actions
        .iter()
        .all(|a| !matches!(a, Action::AdoptAddress { .. })));
    assert!(
        plan.conflicts[0].contains("prefix /24 here, /16 in the config"),
        "{}",
        plan.conflicts[0]
    );
    let other_label = [alias("eth1", "192.168.0.5/24").label("eth1:web")];
    let plan = super::plan(&desired(&other_label, true), &ifupdown_box(), Scope::All);
    assert!(
        plan.conflicts[0].contains("label eth1:0 here, eth1:web in the config"),
        "{}",
        plan.conflicts[0]
    );
    let other_interface = [alias("eth2", "192.168.0.5/24")];
    let plan = super::plan(
        &desired(&other_interface, true),
        &ifupdown_box(),
        Scope::All,
    );
    assert!(
        plan.conflicts[0].contains("the config puts it on eth2"),
        "{}",
        plan.conflicts[0]
    );
}

#[test]
fn a_foreign_route_on_another_path_is_not_adopted() {
    let aliases = [alias("eth1", "192.168.0.5/24")
        .label("eth1:0")
        .routes(&["10.9.0.0/16@192.168.0.253"])];
    let plan = plan(&desired(&aliases, true), &ifupdown_box(), Scope::All);
    assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
    assert!(plan.conflicts[0].starts_with("route 10.9.0.0/16 already exists (protocol 3)"));
    assert!(
        !plan.conflicts[0].contains("--adopt"),
        "{}",
        plan.conflicts[0]
    );
}

#[test]
fn the_links_of_a_renamed_interface_follow_it_and_keep_counting_its_aliases() {
    // eth1 was renamed lan0: the config still says eth1.
    let aliases = [alias("eth1", "192.168.0.1/24")];
    let observed = Observed {
        interfaces: vec![interface("lan0", 2)],
        addresses: vec![live("lan0", 2, "192.168.0.1/24", OWNER_PROTO)],
        tracked: [ip("192.168.0.1")].into(),
        attached: ["lan0".to_string()].into(),
        moved_links: [("eth1".to_string(), "lan0".to_string())].into(),
        ..Default::default()
    };
    let counting = Desired {
        counters: true,
        count_everywhere: false,
        ..desired(&aliases, false)
    };
    let plan = plan(&counting, &observed, Scope::All);
    assert_eq!(
        texts(&plan),
        ["~ classifier links pinned for eth1 follow the interface, renamed lan0"]
    );
    assert_eq!(plan.pending.len(), 1, "{:?}", plan.pending);
}

#[test]
fn a_label_the_kernel_rewrote_in_a_rename_does_not_re_add_the_alias() {
    // Named by MAC, written with eth1's label; eth1 is lan0 now, and the
    // kernel relabelled the address "lan0".
    let renamed = Observed {
        interfaces: vec![interface("lan0", 2)],
        addresses: vec![live("lan0", 2, "192.168.0.1/24", OWNER_PROTO).label("lan0")],
        promote_secondaries: [("lan0".to_string(), true)].into(),
        ..Default::default()
    };
    let written_for_eth1 = [alias("lan0", "192.168.0.1/24").label("eth1:9")];
    let plan = plan(&desired(&written_for_eth1, false), &renamed, Scope::All);
    assert!(plan.actions.is_empty(), "{:?}", texts(&plan));
    // The kernel's `NEW:SUFFIX` keeps the old suffix; another one is an edit.
    let second = Observed {
        addresses: vec![live("lan0", 2, "192.168.0.1/24", OWNER_PROTO).label("lan0:9")],
        ..renamed.clone()
    };
    let plan = super::plan(&desired(&written_for_eth1, false), &second, Scope::All);
    assert!(plan.actions.is_empty(), "{:?}", texts(&plan));
    let edited = [alias("lan0", "192.168.0.1/24").label("eth1:zzz")];
    let plan = super::plan(&desired(&edited, false), &second, Scope::All);
    assert_eq!(plan.actions.len(), 2, "{:?}", texts(&plan));
    // A label without a suffix became `NEW:K`.
    let numbered = Observed {
        addresses: vec![live("lan0", 2, "192.168.0.1/24", OWNER_PROTO).label("lan0:2")],
        ..renamed.clone()
    };
    let web = [alias("lan0", "192.168.0.1/24").label("web")];
    let plan = super::plan(&desired(&web, false), &numbered, Scope::All);
    assert!(plan.actions.is_empty(), "{:?}", texts(&plan));
    let yyy = Observed {
        addresses: vec![live("lan0", 2, "192.168.0.1/24", OWNER_PROTO).label("lan0:yyy")],
        ..renamed.clone()
    };
    let plan = super::plan(&desired(&web, false), &yyy, Scope::All);
    assert_eq!(plan.actions.len(), 2, "{:?}", texts(&plan));
    // A label written for the live name is applied as written.
    let written_for_lan0 = [alias("lan0", "192.168.0.1/24").label("lan0:5")];
    let plan = super::plan(&desired(&written_for_lan0, false), &renamed, Scope::All);
    assert_eq!(
        texts(&plan),
        [
            "- address 192.168.0.1/24 dev lan0 label lan0",
            "+ address 192.168.0.1/24 dev lan0 label lan0:5"
        ]
    );
}

#[test]
fn a_pending_alias_keeps_its_routes_as_well_as_its_address() {
    // Named by a MAC two interfaces share, or renamed away: pending.
    let aliases =
        [alias("02:00:00:00:00:01", "192.168.0.1/24").routes(&["10.9.0.0/16@192.168.0.254"])];
    let observed = Observed {
        interfaces: vec![interface("eth1", 2), interface("eth1.5", 3)],
        addresses: vec![live("eth1", 2, "192.168.0.1/24", OWNER_PROTO)],
        routes: vec![LiveRoute {
            destination: net("10.9.0.0/16"),
            gateway: Some(ip("192.168.0.254")),
            ifindex: Some(2),
            protocol: OWNER_PROTO,
            preferred_source: Some(ip("192.168.0.1")),
        }],
        promote_secondaries: [("eth1".to_string(), true)].into(),
        ..Default::default()
    };
    let plan = plan(&desired(&aliases, false), &observed, Scope::All);
    assert!(plan.actions.is_empty(), "{:?}", texts(&plan));
    assert_eq!(plan.pending.len(), 1, "{:?}", plan.pending);
}
