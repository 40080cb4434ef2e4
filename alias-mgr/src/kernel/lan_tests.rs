//! The runner on the LAN, against the fake: an ARP conflict refuses the
//! CLI's run before any change and holds back only its entry when
//! healing; added addresses are announced once; adoption re-marks in
//! place and verifies.

use super::{
    fake::{FakeKernel, Faults},
    tests::eth1,
    Kernel,
};
use crate::core::{
    fixtures::*,
    model::{AliasSpec, LiveRoute, OWNER_PROTO},
    plan::{Desired, Scope},
    wire::Mac,
};

fn desired(aliases: &[AliasSpec], keep_runtime: bool, adopt: bool) -> Desired<'_> {
    Desired {
        aliases,
        manage_promote_secondaries: true,
        zones: &[],
        runtime: &[],
        keep_runtime,
        keep_counting: &[],
        counters: true,
        count_everywhere: false,
        arp_probe_ms: 200,
        adopt,
        announce: true,
        seen: &crate::core::plan::NOTHING_SEEN,
    }
}

const OTHER: Mac = Mac([0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]);

fn taken(ip_text: &str) -> Faults {
    Faults {
        arp_owners: [(ip(ip_text), OTHER)].into(),
        ..Default::default()
    }
}

fn two() -> [AliasSpec; 2] {
    [
        alias("eth1", "192.168.0.1/24").routes(&["10.1.0.0/16@192.168.0.254"]),
        alias("eth1", "192.168.0.2/24"),
    ]
}

#[tokio::test]
async fn an_address_another_host_answers_for_refuses_the_run_and_changes_nothing() {
    let kernel = Kernel::with(FakeKernel::new(eth1(), taken("192.168.0.2")));
    let aliases = two();
    let wanted = desired(&aliases, false, false);
    let (_, plan) = kernel.plan(&wanted, Scope::All).await.unwrap();
    let err = kernel.apply(&wanted, Scope::All, &plan).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.starts_with("nothing was changed: 1 address(es) already in use"),
        "{text}"
    );
    assert!(text.contains("192.168.0.2 is in use on the link of eth1: the host with MAC 52:54:00:aa:bb:cc answered"), "{text}");
    assert_eq!(kernel.system().snapshot(), eth1());
    assert!(kernel.system().log.borrow().is_empty());
    // Both new addresses were probed, in one run.
    assert_eq!(
        *kernel.system().probes.borrow(),
        [vec![ip("192.168.0.1"), ip("192.168.0.2")]]
    );
}

#[tokio::test]
async fn healing_holds_back_only_the_conflicting_alias() {
    let kernel = Kernel::with(FakeKernel::new(eth1(), taken("192.168.0.1")));
    let file_aliases = two();
    let healing = desired(&file_aliases, true, false);
    let (_, plan) = kernel.plan(&healing, Scope::All).await.unwrap();
    let applied = kernel.apply(&healing, Scope::All, &plan).await.unwrap();
    let state = kernel.system().snapshot();
    let live: Vec<String> = state
        .addresses
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(live, ["192.168.1.1/24", "192.168.0.2/24"]);
    // Its route and its counter wait with it.
    assert!(state.routes.is_empty());
    assert_eq!(state.tracked, [ip("192.168.0.2")].into());
    assert_eq!(applied.held_back.len(), 1);
    assert_eq!(applied.held_back[0].other, OTHER);
    let announced: Vec<_> = applied.announced.iter().map(|on| on.ip).collect();
    assert_eq!(announced, [ip("192.168.0.2")]);
    assert_eq!(
        *kernel.system().announced.borrow(),
        [vec![ip("192.168.0.2")]]
    );
}

#[tokio::test]
async fn an_applied_run_announces_each_new_address_once() {
    let kernel = Kernel::with(FakeKernel::new(eth1(), Faults::default()));
    let aliases = two();
    let wanted = desired(&aliases, false, false);
    let (_, plan) = kernel.plan(&wanted, Scope::All).await.unwrap();
    let applied = kernel.apply(&wanted, Scope::All, &plan).await.unwrap();
    assert!(applied.held_back.is_empty());
    assert_eq!(
        *kernel.system().announced.borrow(),
        [vec![ip("192.168.0.1"), ip("192.168.0.2")]]
    );
    // Nothing new next time: nothing probed or announced.
    let (_, again) = kernel.plan(&wanted, Scope::All).await.unwrap();
    assert!(again.is_empty() && again.arp_probes.is_empty() && again.announce.is_empty());
}

#[tokio::test]
async fn adoption_re_marks_the_address_and_route_in_place_and_verifies() {
    let mut state = eth1();
    state
        .addresses
        .push(live("eth1", 2, "192.168.0.5/24", FOREIGN).label("eth1:0"));
    state.routes.push(LiveRoute {
        destination: net("10.9.0.0/16"),
        gateway: Some(ip("192.168.0.254")),
        ifindex: Some(2),
        protocol: 3,
        preferred_source: None,
    });
    let kernel = Kernel::with(FakeKernel::new(state, Faults::default()));
    let aliases = [alias("eth1", "192.168.0.5/24")
        .label("eth1:0")
        .routes(&["10.9.0.0/16@192.168.0.254"])];
    let adopting = desired(&aliases, false, true);
    let (_, plan) = kernel.plan(&adopting, Scope::All).await.unwrap();
    kernel.apply(&adopting, Scope::All, &plan).await.unwrap();
    let after = kernel.system().snapshot();
    let adopted = after
        .addresses
        .iter()
        .find(|a| a.address == net("192.168.0.5/24"))
        .unwrap();
    assert_eq!(adopted.protocol, OWNER_PROTO);
    assert_eq!(adopted.label.as_deref(), Some("eth1:0"));
    assert_eq!(after.routes[0].protocol, OWNER_PROTO);
    assert_eq!(after.routes[0].preferred_source, Some(ip("192.168.0.5")));
    // Never removed and re-added, never probed or announced.
    let log = kernel.system().log.borrow().clone();
    assert!(
        log.iter()
            .all(|step| !step.starts_with("- address") && !step.starts_with("+ address")),
        "{log:?}"
    );
    assert!(kernel.system().probes.borrow().is_empty());
    // Without --adopt, the next plan finds it owned and in sync.
    let (_, again) = kernel
        .plan(&desired(&aliases, false, false), Scope::All)
        .await
        .unwrap();
    assert!(
        again.is_empty() && again.conflicts.is_empty(),
        "{:?}",
        again
    );
}
