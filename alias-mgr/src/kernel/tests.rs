//! The runner against the fake kernel: all or nothing, DAD, verification.

use super::KernelOps;
use super::{
    fake::{FakeKernel, Faults, State},
    DadFailure, Kernel,
};
use crate::core::{
    fixtures::*,
    model::{AliasSpec, DadState, LiveRoute, OWNER_PROTO, RUNTIME_PROTO},
    plan::{Desired, Scope},
    zones::{Verdict, ZoneSpec},
};

/// eth1 (index 2) with its foreign primary 192.168.1.1/24.
/// eth1 (ifindex 2) with a foreign primary, promote_secondaries on.
pub(super) fn eth1() -> State {
    State {
        interfaces: vec![interface("eth1", 2)],
        addresses: vec![live("eth1", 2, "192.168.1.1/24", FOREIGN)],
        promote_secondaries: [("eth1".to_string(), true)].into(),
        ..Default::default()
    }
}

fn desired<'a>(aliases: &'a [AliasSpec], zones: &'a [ZoneSpec]) -> Desired<'a> {
    Desired {
        aliases,
        manage_promote_secondaries: true,
        zones,
        runtime: &[],
        keep_runtime: false,
        keep_counting: &[],
        counters: true,
        count_everywhere: false,
        arp_probe_ms: 200,
        adopt: false,
        announce: true,
        seen: &crate::core::plan::NOTHING_SEEN,
    }
}

fn two_aliases() -> [AliasSpec; 2] {
    [
        alias("eth1", "192.168.0.1/24").routes(&["10.1.0.0/16@192.168.0.254"]),
        alias("eth1", "192.168.5.1/24").routes(&["10.5.0.0/16@192.168.5.254"]),
    ]
}

/// Plans against the fake and applies the plan, as `apply` does.
async fn apply(kernel: &Kernel<FakeKernel>, desired: &Desired<'_>) -> anyhow::Result<()> {
    let (_, plan) = kernel.plan(desired, Scope::All).await?;
    kernel.apply(desired, Scope::All, &plan).await.map(|_| ())
}

fn kernel(state: State, faults: Faults) -> Kernel<FakeKernel> {
    Kernel::with(FakeKernel::new(state, faults))
}

#[tokio::test]
async fn a_converged_apply_verifies_and_a_second_plan_is_empty() {
    let kernel = kernel(eth1(), Faults::default());
    let aliases = two_aliases();
    apply(&kernel, &desired(&aliases, &[])).await.unwrap();
    let state = kernel.system().snapshot();
    assert_eq!(state.addresses.len(), 3);
    assert_eq!(state.routes.len(), 2);
    assert_eq!(state.tracked.len(), 2);
    assert!(state.attached.contains("eth1"));
    let (_, again) = kernel
        .plan(&desired(&aliases, &[]), Scope::All)
        .await
        .unwrap();
    assert!(again.is_empty(), "{:?}", again.actions);
}

#[tokio::test]
async fn a_failed_step_undoes_every_earlier_step_in_reverse() {
    let faults = Faults {
        failing: vec!["+ route 10.5.0.0/16@192.168.5.254 dev eth1 src 192.168.5.1".into()],
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = two_aliases();
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("rolled back 4 earlier step(s); nothing changed"),
        "{message}"
    );
    assert!(message.contains("injected failure"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
    let log = kernel.system().log.borrow();
    // The classifier's attach runs alongside the netlink steps, so it went
    // in too and is undone with them.
    assert_eq!(
        log[3..],
        [
            "+ route 10.5.0.0/16@192.168.5.254 dev eth1 src 192.168.5.1",
            "+ classifier on eth1 (TCX ingress+egress)",
            "- classifier on eth1",
            "- route 10.1.0.0/16@192.168.0.254 dev eth1",
            "- address 192.168.5.1/24 dev eth1",
            "- address 192.168.0.1/24 dev eth1",
        ]
    );
}

#[tokio::test]
async fn a_rollback_that_fails_too_says_the_state_needs_a_look() {
    let faults = Faults {
        failing: vec![
            "+ route 10.5.0.0/16@192.168.5.254 dev eth1 src 192.168.5.1".into(),
            "- address 192.168.0.1/24 dev eth1".into(),
        ],
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let aliases = two_aliases();
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("rollback was incomplete, run `alias-mgr plan` to see the state"),
        "{message}"
    );
    assert!(
        message.contains("undoing `+ address 192.168.0.1/24 dev eth1`"),
        "{message}"
    );
    // The undo that could run did.
    let state = kernel.system().snapshot();
    assert!(state
        .addresses
        .iter()
        .all(|a| a.address.addr() != ip("192.168.5.1")));
}

#[tokio::test]
async fn conflicts_change_nothing_and_load_no_zones() {
    let mut state = eth1();
    state
        .addresses
        .push(live("eth1", 2, "192.168.0.1/24", FOREIGN));
    let kernel = kernel(state, Faults::default());
    let before = kernel.system().snapshot();
    let aliases = two_aliases();
    let zones = [zone("lab", Verdict::Drop)];
    let err = apply(&kernel, &desired(&aliases, &zones))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("nothing was changed because of 1 conflict(s)"),
        "{err:#}"
    );
    assert!(kernel.system().log.borrow().is_empty());
    assert!(kernel.system().zone_loads.borrow().is_empty());
    assert_eq!(kernel.system().snapshot(), before);
}

#[tokio::test]
async fn a_refused_zone_load_rolls_the_address_changes_back() {
    let faults = Faults {
        refuse_zone_load: true,
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = [alias("eth1", "192.168.0.1/24").zone("lab")];
    let zones = [zone("lab", Verdict::Drop)];
    let err = apply(&kernel, &desired(&aliases, &zones))
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("the zone table was not loaded") && message.contains("nothing changed"),
        "{message}"
    );
    // Checked first, then loaded after the addresses went in.
    assert_eq!(*kernel.system().zone_loads.borrow(), [true, false]);
    assert_eq!(kernel.system().snapshot(), before);

    // With counting turned off part-way, the rollback undoes only the
    // steps that ran (an undo of a skipped Track would fail).
    let faults = Faults {
        refuse_zone_load: true,
        failing: vec!["+ counters for 192.168.0.1".into()],
        ..Default::default()
    };
    let kernel = self::kernel(eth1(), faults);
    let err = apply(&kernel, &desired(&aliases, &zones))
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("nothing changed"), "{message}");
    assert!(!message.contains("incomplete"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
}

#[tokio::test]
async fn a_run_that_loads_no_zones_lists_the_table_once() {
    let kernel = kernel(eth1(), Faults::default());
    let zones = [zone("lab", Verdict::Drop)];
    let lab = [alias("eth1", "192.168.0.1/24").zone("lab")];
    apply(&kernel, &desired(&lab, &zones)).await.unwrap();
    // Listed to plan; the check after the load takes the loaded table.
    assert_eq!(kernel.system().zone_lists.get(), 1);
    // An address of the same subnet: the zone table stays as it is, so it
    // is listed to plan and the check takes that listing.
    let more = [
        alias("eth1", "192.168.0.1/24").zone("lab"),
        alias("eth1", "192.168.0.2/24").zone("lab"),
    ];
    apply(&kernel, &desired(&more, &zones)).await.unwrap();
    assert_eq!(*kernel.system().zone_loads.borrow(), [true, false]);
    assert_eq!(kernel.system().zone_lists.get(), 2);
}

#[tokio::test]
async fn a_zone_only_change_is_loaded_without_a_separate_check() {
    let kernel = kernel(eth1(), Faults::default());
    let aliases = [alias("eth1", "192.168.0.1/24").zone("lab")];
    apply(&kernel, &desired(&aliases, &[zone("lab", Verdict::Drop)]))
        .await
        .unwrap();
    assert_eq!(*kernel.system().zone_loads.borrow(), [true, false]);
    // Only the zone's policy changes: one load, which is all or nothing.
    apply(&kernel, &desired(&aliases, &[zone("lab", Verdict::Accept)]))
        .await
        .unwrap();
    assert_eq!(*kernel.system().zone_loads.borrow(), [true, false, false]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_zone_load_in_drift_healing_undoes_no_route_that_never_went_in() {
    // The duplicate's route is skipped; undoing it would fail (ESRCH).
    let faults = Faults {
        refuse_zone_load: true,
        duplicates: [ip("2001:db8:1::1")].into(),
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = [
        alias("eth1", "2001:db8:1::1/64")
            .zone("lab")
            .routes(&["2001:db8:99::/48@2001:db8:1::fe"]),
        alias("eth1", "192.168.0.1/24"),
    ];
    let zones = [zone("lab", Verdict::Drop)];
    let healing = Desired {
        keep_runtime: true,
        ..desired(&aliases, &zones)
    };
    let (_, plan) = kernel.plan(&healing, Scope::All).await.unwrap();
    let err = kernel.apply(&healing, Scope::All, &plan).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("nothing changed"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
}

#[tokio::test]
async fn verification_names_what_the_kernel_did_not_take() {
    let faults = Faults {
        ignored: vec!["+ counters for 192.168.0.1".into()],
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let aliases = [alias("eth1", "192.168.0.1/24")];
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("applied, but the kernel still differs from the config"),
        "{message}"
    );
    assert!(message.contains("+ counters for 192.168.0.1"), "{message}");
}

fn v6_aliases() -> [AliasSpec; 2] {
    [
        alias("eth1", "2001:db8:1::1/64").routes(&["2001:db8:99::/48@2001:db8:1::fe"]),
        alias("eth1", "192.168.0.1/24"),
    ]
}

#[tokio::test(start_paused = true)]
async fn ipv6_routes_wait_for_duplicate_address_detection() {
    let faults = Faults {
        tentative_polls: 5,
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let aliases = v6_aliases();
    let started = tokio::time::Instant::now();
    apply(&kernel, &desired(&aliases, &[])).await.unwrap();
    // Five polls 100 ms apart before the address left tentative.
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    let state = kernel.system().snapshot();
    let v6 = state
        .addresses
        .iter()
        .find(|a| a.address.addr().is_ipv6())
        .unwrap();
    assert_eq!(v6.dad, DadState::Done);
    assert_eq!(state.routes.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_address_that_stays_tentative_fails_the_run_after_the_timeout() {
    let faults = Faults {
        tentative_polls: usize::MAX,
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = v6_aliases();
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("is still tentative"), "{message}");
    assert!(message.contains("nothing changed"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_rolls_the_cli_run_back() {
    let faults = Faults {
        duplicates: [ip("2001:db8:1::1")].into(),
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = v6_aliases();
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("failed duplicate address detection"),
        "{message}"
    );
    assert!(message.contains("nothing changed"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
}

#[tokio::test(start_paused = true)]
async fn drift_healing_leaves_a_duplicate_in_place_and_applies_the_rest() {
    let faults = Faults {
        duplicates: [ip("2001:db8:1::1")].into(),
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let aliases = v6_aliases();
    let healing = Desired {
        keep_runtime: true,
        ..desired(&aliases, &[])
    };
    let (_, plan) = kernel.plan(&healing, Scope::All).await.unwrap();
    let err = kernel.apply(&healing, Scope::All, &plan).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("everything else applied; left in place with their routes held back"),
        "{message}"
    );
    let state = kernel.system().snapshot();
    let v6 = state
        .addresses
        .iter()
        .find(|a| a.address.addr().is_ipv6())
        .unwrap();
    assert_eq!(v6.dad, DadState::Failed);
    assert!(state.routes.is_empty(), "{:?}", state.routes);
    assert!(state
        .addresses
        .iter()
        .any(|a| a.address.addr() == ip("192.168.0.1") && a.protocol == OWNER_PROTO));
    // The next reconcile sees the failed DAD and holds the route back
    // instead of retrying (no loop).
    let (_, next) = kernel.plan(&healing, Scope::All).await.unwrap();
    assert!(next.actions.is_empty(), "{:?}", next.actions);
    assert!(next
        .pending
        .iter()
        .any(|p| p.contains("failed duplicate address detection")));
}

#[tokio::test]
async fn execute_with_leave_in_place_reports_without_undoing() {
    let kernel = kernel(eth1(), Faults::default());
    let aliases = [alias("eth1", "192.168.0.1/24")];
    let (_, plan) = kernel
        .plan(&desired(&aliases, &[]), Scope::All)
        .await
        .unwrap();
    let left = kernel
        .execute_awaiting_dad(&plan.actions, &plan.await_dad, DadFailure::LeaveInPlace)
        .await
        .unwrap();
    assert!(left.duplicates.is_empty() && left.counters_off.is_none());
    assert_eq!(kernel.system().log.borrow().len(), plan.actions.len());
}

/// A counters step before the netlink steps (a stale link pin) that fails
/// turns counting off: the classifier, which otherwise attaches alongside
/// the netlink steps, is not attached either; the addresses still go in.
#[tokio::test]
async fn a_failing_setup_counters_step_keeps_the_classifier_from_attaching() {
    let mut state = eth1();
    state.attached.insert("gone0".into());
    let faults = Faults {
        failing: vec!["- classifier link pinned for gone0 (no such interface now)".into()],
        ..Default::default()
    };
    let kernel = kernel(state, faults);
    let aliases = two_aliases();
    let desired = desired(&aliases, &[]);
    let (_, plan) = kernel.plan(&desired, Scope::All).await.unwrap();
    assert!(
        plan.actions[0].to_string().contains("gone0"),
        "{:?}",
        plan.actions
    );
    let left = kernel
        .execute_awaiting_dad(&plan.actions, &plan.await_dad, DadFailure::RollBack)
        .await
        .unwrap();
    let why = format!("{:#}", left.counters_off.expect("counters reported off"));
    assert!(why.contains("gone0"), "{why}");
    let state = kernel.system().snapshot();
    assert_eq!(state.addresses.len(), 3);
    assert!(!state.attached.contains("eth1"), "{:?}", state.attached);
    assert!(state.tracked.is_empty());
    // Skipped steps count as passed: the progress line reaches the end.
    let steps = plan.actions.len();
    assert_eq!(kernel.progress().now(), (steps, steps));
}

#[tokio::test]
async fn a_failing_counters_step_turns_counting_off_and_undoes_nothing_else() {
    let faults = Faults {
        failing: vec!["+ counters for 192.168.0.1".into()],
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let aliases = two_aliases();
    let zones = [zone("lab", Verdict::Drop)];
    let desired = desired(&aliases, &zones);
    let (_, plan) = kernel.plan(&desired, Scope::All).await.unwrap();
    let left = kernel
        .execute_awaiting_dad(&plan.actions, &plan.await_dad, DadFailure::RollBack)
        .await
        .unwrap();
    let why = format!("{:#}", left.counters_off.expect("counters reported off"));
    assert!(why.contains("`+ counters for 192.168.0.1` failed"), "{why}");
    // The addresses, routes and the classifier (attached before the keys)
    // stay; no later counters step ran.
    let state = kernel.system().snapshot();
    assert_eq!(state.addresses.len(), 3);
    assert_eq!(state.routes.len(), 2);
    assert_eq!(state.attached.len(), 1);
    assert!(state.tracked.is_empty());
    let last = kernel.system().log.borrow().last().cloned();
    assert_eq!(last.as_deref(), Some("+ counters for 192.168.0.1"));

    // The whole apply succeeds: verification leaves the counters out.
    let kernel = self::kernel(
        eth1(),
        Faults {
            failing: vec!["+ classifier on eth1 (TCX ingress+egress)".into()],
            ..Default::default()
        },
    );
    // (No zones here: the fake keeps no nftables table to verify against.)
    apply(&kernel, &self::desired(&aliases, &[])).await.unwrap();
    let state = kernel.system().snapshot();
    assert_eq!(state.addresses.len(), 3);
    assert_eq!(state.routes.len(), 2);
    assert!(state.attached.is_empty());
}

#[tokio::test]
async fn reset_removes_what_alias_mgr_owns_and_nothing_else() {
    let mut state = eth1();
    state
        .addresses
        .push(live("eth1", 2, "10.1.0.1/24", FOREIGN));
    state.routes.push(LiveRoute {
        protocol: FOREIGN,
        ..owned_route("203.0.113.0/24", "192.168.1.254", 2, "192.168.1.1")
    });
    let kernel = kernel(state, Faults::default());
    let aliases = two_aliases();
    apply(&kernel, &desired(&aliases, &[])).await.unwrap();
    kernel
        .system()
        .run(&crate::core::plan::Action::AddAddress {
            interface: "eth1".into(),
            ifindex: 2,
            address: net("192.168.7.1/24"),
            label: None,
            protocol: RUNTIME_PROTO,
        })
        .await
        .unwrap();
    let dry = kernel.reset(true).await.unwrap();
    assert_eq!(
        kernel.system().snapshot().addresses.len(),
        5,
        "dry run removes nothing"
    );
    assert!(dry
        .actions
        .iter()
        .any(|a| a.to_string() == "- address 192.168.7.1/24 dev eth1"));
    kernel.reset(false).await.unwrap();
    let state = kernel.system().snapshot();
    let left: Vec<String> = state
        .addresses
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(left, ["192.168.1.1/24", "10.1.0.1/24"]);
    assert_eq!(state.routes.len(), 1, "{:?}", state.routes);
    assert_eq!(state.routes[0].protocol, FOREIGN);
    assert!(state.tracked.is_empty() && state.attached.is_empty());
    assert_eq!(
        kernel.system().log.borrow().last().map(String::as_str),
        Some("- pins")
    );
}

/// Steps of one kind go to the kernel together: one failing in the middle
/// of the group does not stop the later ones, so those are undone as well.
#[tokio::test]
async fn a_failure_inside_a_group_undoes_the_later_steps_of_the_group_too() {
    let faults = Faults {
        failing: vec!["+ route 10.1.0.0/16@192.168.0.254 dev eth1 src 192.168.0.1".into()],
        ..Default::default()
    };
    let kernel = kernel(eth1(), faults);
    let before = kernel.system().snapshot();
    let aliases = two_aliases();
    let err = apply(&kernel, &desired(&aliases, &[])).await.unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("10.1.0.0/16"), "{message}");
    assert_eq!(kernel.system().snapshot(), before);
    let log = kernel.system().log.borrow();
    assert_eq!(
        log[2..],
        [
            "+ route 10.1.0.0/16@192.168.0.254 dev eth1 src 192.168.0.1",
            "+ route 10.5.0.0/16@192.168.5.254 dev eth1 src 192.168.5.1",
            "+ classifier on eth1 (TCX ingress+egress)",
            "- classifier on eth1",
            "- route 10.5.0.0/16@192.168.5.254 dev eth1",
            "- address 192.168.5.1/24 dev eth1",
            "- address 192.168.0.1/24 dev eth1",
        ]
    );
}
