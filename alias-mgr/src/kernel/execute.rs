//! Carrying out a plan's steps: in order, netlink runs of one rank and
//! counters updates together, waiting for duplicate address detection once
//! the addresses are in, and undoing what ran when a step fails. The
//! classifier's attach (a load in a child) runs alongside the netlink
//! steps, as it needs nothing they do.

use std::{net::IpAddr, time::Duration};

use anyhow::Result;

use super::{Kernel, KernelOps, DAD_TIMEOUT};
use crate::core::{
    model::DadState,
    plan::{Action, ATTACH_RANK},
};

impl<K: KernelOps> Kernel<K> {
    /// Runs `actions` in order (the attaches alongside the netlink steps
    /// before them); on the first failure undoes the ones done and
    /// returns the failure (with the rollback's own failures, if any). Once
    /// the addresses are in, waits for the duplicate address detection of
    /// `await_dad`. A duplicate either fails
    /// the run and rolls it back (the CLI: nothing half-done), or (drift
    /// healing) is left in place, DAD-failed, with its routes held back,
    /// while the rest goes ahead: rolled back, it would be re-added and
    /// fail again at every reconcile, holding every other change back too.
    /// Counters are optional: a counters step that fails (no bpffs, the
    /// map full) turns counting off for the rest of the run instead of
    /// undoing the addresses, routes and zones. Returns what was left
    /// undone that way, with why.
    pub async fn execute_awaiting_dad<'p>(
        &self,
        actions: &'p [Action],
        await_dad: &'p [(u32, IpAddr)],
        on_failure: DadFailure,
    ) -> Result<Leftovers<'p>> {
        self.progress.start(actions.len());
        let mut run = Run::new(on_failure);
        let Some([setup, netlink, attaches, rest]) = segments(actions) else {
            run.awaiting = await_dad;
            return self
                .finish(self.run_steps(actions, &mut run).await, run)
                .await;
        };
        if let Err(err) = self.run_steps(setup, &mut run).await {
            return self.finish(Err(err), run).await;
        }
        // Loading the classifier (in a child) and attaching it wait on
        // nothing the netlink steps do: run alongside them, the load is
        // hidden behind the address work instead of added to it.
        run.awaiting = await_dad;
        // Counting turned off by the setup goes with the attaches (the
        // netlink steps are no counters steps), so run_steps skips them.
        let mut attached = Run::new(on_failure);
        attached.counters_off = run.counters_off.take();
        let (netlink_result, ()) = futures::join!(self.run_steps(netlink, &mut run), async {
            // Counters steps never fail a run: a failure turns them off.
            let _ = self.run_steps(attaches, &mut attached).await;
        });
        run.done.append(&mut attached.done);
        run.counters_off = attached.counters_off;
        if let Err(err) = netlink_result {
            return self.finish(Err(err), run).await;
        }
        let result = self.run_steps(rest, &mut run).await;
        self.finish(result, run).await
    }

    /// What a run comes to: its leftovers, or on a failure the rollback of
    /// everything it did.
    async fn finish<'p>(
        &self,
        result: Result<(), anyhow::Error>,
        run: Run<'p>,
    ) -> Result<Leftovers<'p>> {
        match result {
            Ok(()) => Ok(Leftovers {
                done: run.done,
                duplicates: run.duplicates,
                counters_off: run.counters_off,
            }),
            Err(err) => Err(self.roll_back(&run.done, err).await),
        }
    }

    /// Runs `steps` in order, recording in `run` what ran; the first
    /// failure (not of a counters step) stops them and is returned, for the
    /// caller to roll back. A DAD failure is one where `run`'s DAD waits
    /// roll back ([`DadFailure::RollBack`]).
    async fn run_steps<'p>(
        &self,
        steps: &'p [Action],
        run: &mut Run<'p>,
    ) -> Result<(), anyhow::Error> {
        let mut rest = steps;
        loop {
            let past_addresses = rest.first().is_none_or(|action| !action.up_to_addresses());
            if past_addresses && !run.awaiting.is_empty() {
                for (ifindex, ip) in std::mem::take(&mut run.awaiting) {
                    // Each wait returns at once when DAD is over; the first
                    // covers the time they all need, as they started together.
                    if let Err(err) = self.wait_for_dad(*ifindex, *ip).await {
                        if run.on_failure == DadFailure::RollBack {
                            return Err(err);
                        }
                        run.duplicates.push((*ip, err));
                    }
                }
            }
            if rest.is_empty() {
                return Ok(());
            }
            // Steps of one kind go to the kernel together (pipelined
            // netlink requests, one map handle); what ran is known per step.
            let (chunk, tail) = rest.split_at(together(rest).min(STEPS_BETWEEN_PROGRESS));
            rest = tail;
            let group: Vec<&Action> = chunk
                .iter()
                .filter(|action| {
                    let from_duplicate = matches!(action, Action::AddRoute { source, .. }
                        if run.duplicates.iter().any(|(ip, _)| ip == source));
                    let counters_stopped = run.counters_off.is_some() && action.is_counters();
                    !from_duplicate && !counters_stopped
                })
                .collect();
            let mut failed = None;
            for (action, result) in group.iter().zip(self.ops.run_together(&group).await) {
                match result {
                    Ok(()) => run.done.push(action),
                    Err(err) if action.is_counters() => {
                        let err = err.context(format!("`{action}` failed"));
                        run.counters_off.get_or_insert(err);
                    }
                    Err(err) => {
                        failed.get_or_insert(err.context(format!("`{action}` failed")));
                    }
                }
            }
            if let Some(err) = failed {
                return Err(err);
            }
            self.progress.advance(chunk.len());
        }
    }

    /// Undoes `done` in reverse and returns `err` with what happened.
    pub(super) async fn roll_back(&self, done: &[&Action], err: anyhow::Error) -> anyhow::Error {
        let mut rollback_failures = Vec::new();
        for earlier in done.iter().rev() {
            if let Err(undo) = self.run(&earlier.inverse()).await {
                rollback_failures.push(format!("undoing `{earlier}`: {undo:#}"));
            }
        }
        if rollback_failures.is_empty() {
            return err.context(format!(
                "rolled back {} earlier step(s); nothing changed",
                done.len()
            ));
        }
        err.context(format!(
            "rollback was incomplete, run `alias-mgr plan` to see the state: {}",
            rollback_failures.join("; ")
        ))
    }

    /// One step; a route from an IPv6 alias waits for its DAD first (the
    /// kernel refuses a tentative address as a route's source).
    async fn run(&self, action: &Action) -> Result<()> {
        if let Action::AddRoute {
            ifindex, source, ..
        } = action
        {
            if source.is_ipv6() {
                self.wait_for_dad(*ifindex, *source).await?;
            }
        }
        self.ops.run(action).await
    }

    /// Waits until IPv6 duplicate address detection for `ip` is over: the
    /// kernel refuses a tentative address as a route's preferred source.
    /// A failed detection means another host uses the address.
    async fn wait_for_dad(&self, ifindex: u32, ip: IpAddr) -> Result<()> {
        let deadline = tokio::time::Instant::now() + DAD_TIMEOUT;
        loop {
            match self.ops.dad_state(ifindex, ip).await? {
                Some(DadState::Done) | None => return Ok(()),
                Some(DadState::Failed) => anyhow::bail!(
                    "{ip} failed duplicate address detection: another host on the link uses it; pick another address"
                ),
                Some(DadState::Tentative) if tokio::time::Instant::now() >= deadline => anyhow::bail!(
                    "{ip} is still tentative (duplicate address detection) after {} s; is the link up, with carrier?",
                    DAD_TIMEOUT.as_secs()
                ),
                Some(DadState::Tentative) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// The most steps sent together before the progress moves on (the
/// pipeline refills within a round trip, so this costs next to nothing).
const STEPS_BETWEEN_PROGRESS: usize = 1000;

/// How many of `actions` (at least one) may go to the kernel together: a
/// run of netlink requests of one rank, or of counters map updates. They
/// still go in order: a subnet's first address is its primary.
fn together(actions: &[Action]) -> usize {
    let kind = |action: &Action| match action {
        Action::AddAddress { .. }
        | Action::RemoveAddress { .. }
        | Action::AdoptAddress { .. }
        | Action::AddRoute { .. }
        | Action::RemoveRoute { .. }
        | Action::AdoptRoute { .. } => Some((true, action.rank())),
        Action::Track { .. } | Action::Untrack { .. } => Some((false, action.rank())),
        _ => None,
    };
    match kind(&actions[0]) {
        None => 1,
        first => actions.iter().take_while(|a| kind(a) == first).count(),
    }
}

/// A run's plan cut where the classifier's attach may run alongside: the
/// pin and sysctl steps first, the netlink steps, the attaches, the rest
/// (keys, detaches). None for steps not in rank order (one segment then).
fn segments(actions: &[Action]) -> Option<[&[Action]; 4]> {
    if !actions.is_sorted_by_key(Action::rank) {
        return None;
    }
    let first_netlink = actions.partition_point(|a| a.rank() == 0);
    let first_attach = actions.partition_point(|a| a.rank() < ATTACH_RANK);
    let after_attach = actions.partition_point(|a| a.rank() <= ATTACH_RANK);
    let (setup, rest) = actions.split_at(first_netlink);
    let (netlink, rest) = rest.split_at(first_attach - first_netlink);
    let (attaches, rest) = rest.split_at(after_attach - first_attach);
    Some([setup, netlink, attaches, rest])
}

/// What a run has done so far.
struct Run<'p> {
    done: Vec<&'p Action>,
    /// The DAD waits still to do, once the addresses are in.
    awaiting: &'p [(u32, IpAddr)],
    on_failure: DadFailure,
    duplicates: Vec<(IpAddr, anyhow::Error)>,
    counters_off: Option<anyhow::Error>,
}

impl Run<'_> {
    fn new(on_failure: DadFailure) -> Self {
        Run {
            done: Vec::new(),
            awaiting: &[],
            on_failure,
            duplicates: Vec::new(),
            counters_off: None,
        }
    }
}

/// What a run did, and what it left undone without failing it.
#[derive(Debug, Default)]
pub struct Leftovers<'p> {
    /// The steps that ran, in order (what a later rollback undoes); the
    /// plan's own, not copies: at 10,000 aliases a copy is megabytes.
    pub done: Vec<&'p Action>,
    /// Addresses left in place DAD-failed, their routes held back (drift
    /// healing only), with why.
    pub duplicates: Vec<(IpAddr, anyhow::Error)>,
    /// Why counting stopped part-way, when a counters step failed.
    pub counters_off: Option<anyhow::Error>,
}

/// What a failed duplicate address detection does to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DadFailure {
    /// Undo the whole run (the CLI: all or nothing).
    RollBack,
    /// Keep the address (DAD-failed) and go on without its routes.
    LeaveInPlace,
}
