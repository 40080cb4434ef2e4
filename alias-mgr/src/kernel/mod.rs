//! The kernel runner: observes the kernel and carries out plans, the bridge
//! between the pure planner (`core`) and the outside systems (`sys`). A
//! failed step rolls back every step this run made, in reverse order, so a
//! run changes all or nothing; every apply ends by re-planning to verify.
//!
//! It reaches the kernel only through [`KernelOps`] (`ops.rs`): [`System`]
//! is the real one, `fake.rs` an in-memory one for the unit tests. It may use
//! `core`, `config` (the file it converges to) and, in `system.rs`, `sys`.

use std::{net::IpAddr, time::Duration};

use anyhow::{Context, Result};

use crate::{
    config::ConfigFile,
    core::{
        model::{AliasSpec, DadState, Interface, LiveAddress},
        plan::{self, Action, Desired, Observed, Plan, Scope, Seen},
        resolve,
        zones::{self, LiveTable},
    },
    logging::warning,
    sys::bpf::PinDir,
};

#[cfg(test)]
mod fake;
#[cfg(test)]
mod lan_tests;
mod observe;
mod ops;
mod system;
#[cfg(test)]
mod tests;
mod wire;

pub use ops::KernelOps;
pub use system::System;
pub use wire::Applied;

/// Linux probes 1 time, 1 s apart, by default (dad_transmits, retrans_time);
/// generous for links that probe more.
const DAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs plans against a kernel: the real one ([`System`]) unless a test
/// hands it a fake.
pub struct Kernel<K = System> {
    ops: K,
}

impl Kernel<System> {
    pub fn new(pins: PinDir) -> Result<Self> {
        Ok(Self {
            ops: System::new(pins)?,
        })
    }
}

impl<K: KernelOps> Kernel<K> {
    #[cfg(test)]
    pub fn with(ops: K) -> Self {
        Self { ops }
    }

    /// The kernel itself, for what is no plan step (listing, `counters`).
    pub fn system(&self) -> &K {
        &self.ops
    }

    /// The interfaces and every address on them (`list`, metrics labels).
    pub async fn addresses(&self) -> Result<(Vec<Interface>, Vec<LiveAddress>)> {
        let interfaces = self.ops.interfaces().await?;
        let addresses = self.ops.addresses(&interfaces).await?;
        Ok((interfaces, addresses))
    }

    /// Whether alias-mgr's nftables table is loaded (no nft to ask: no).
    pub fn zone_table_loaded(&self) -> bool {
        self.ops.zone_table().is_ok_and(|table| table.exists)
    }

    /// Changes the owner mark of a live address in place (adopting a
    /// `--runtime` alias into the file).
    pub async fn remark_address(&self, address: &LiveAddress, protocol: u8) -> Result<()> {
        self.ops.remark_address(address, protocol).await
    }

    /// Plans addresses, routes and counters (for `scope`) and the zone table
    /// (always whole: one alias's zone membership changes the table).
    pub async fn plan(&self, desired: &Desired<'_>, scope: Scope) -> Result<(Observed, Plan)> {
        let observed = self
            .observe(desired.aliases.iter().map(|a| a.interface.as_str()))
            .await?;
        let plan = self.plan_observed(desired, &observed, scope)?;
        Ok((observed, plan))
    }

    /// [`Kernel::plan`] against state the caller already observed.
    pub fn plan_observed(
        &self,
        desired: &Desired<'_>,
        observed: &Observed,
        scope: Scope,
    ) -> Result<Plan> {
        let desired_file_aliases = desired.aliases;
        // Aliases whose interface is written as an altname or a MAC, under
        // the live name: the planner, the zones and the notes see that.
        let aliases = resolve::with_live_names(desired.aliases, &observed.interfaces);
        let keep_counting = resolve::with_live_names(desired.keep_counting, &observed.interfaces);
        let desired = &Desired {
            aliases: &aliases,
            keep_counting: &keep_counting,
            ..*desired
        };
        let mut plan = plan::plan(desired, observed, scope);
        let (notes, conflicts) =
            resolve::resolution_notes(desired_file_aliases, &observed.interfaces);
        plan.notes.extend(notes);
        plan.conflicts.extend(conflicts);
        let ruleset = zones::render(desired.zones, desired.aliases);
        if let Some(ruleset) = &ruleset {
            plan.notes.extend(zones::foreign_addresses_in_zones(
                ruleset,
                &observed.addresses,
            ));
        }
        // One alias's run (add, del) with a file that declares no zones has
        // nothing to say about the table: it may be another file's, and
        // removing it is `apply`'s part.
        if ruleset.is_none() && scope != Scope::All {
            return Ok(plan);
        }
        let live = match self.ops.zone_table() {
            Ok(live) => live,
            // No zones wanted and no nft to ask: there is no table to remove.
            Err(_) if ruleset.is_none() && desired.zones.is_empty() => LiveTable::default(),
            Err(err) => return Err(err.context("reading alias-mgr's nftables table")),
        };
        plan.zone_changes = zones::diff(ruleset.as_ref(), &live);
        if !plan.zone_changes.is_empty() {
            plan.zone_batch = Some(zones::batch(
                ruleset.as_ref(),
                &live,
                &desired.seen.zone_counts,
            ));
        }
        Ok(plan)
    }

    /// Runs `actions` in order; on the first failure undoes the ones done and
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
        await_dad: &[(u32, IpAddr)],
        on_failure: DadFailure,
    ) -> Result<Leftovers<'p>> {
        let mut done: Vec<&Action> = Vec::new();
        let mut awaiting = await_dad;
        let mut duplicates: Vec<(IpAddr, anyhow::Error)> = Vec::new();
        let mut counters_off = None;
        let mut rest = actions;
        loop {
            let past_addresses = rest.first().is_none_or(|action| !action.up_to_addresses());
            if past_addresses && !awaiting.is_empty() {
                for (ifindex, ip) in std::mem::take(&mut awaiting) {
                    // Each wait returns at once when DAD is over; the first
                    // covers the time they all need, as they started together.
                    if let Err(err) = self.wait_for_dad(*ifindex, *ip).await {
                        if on_failure == DadFailure::RollBack {
                            return Err(self.roll_back(&done, err).await);
                        }
                        duplicates.push((*ip, err));
                    }
                }
            }
            if rest.is_empty() {
                break;
            }
            // Steps of one kind go to the kernel together (pipelined
            // netlink requests, one map handle); what ran is known per step.
            let (group, tail) = rest.split_at(together(rest));
            rest = tail;
            let group: Vec<&Action> = group
                .iter()
                .filter(|action| {
                    let from_duplicate = matches!(action, Action::AddRoute { source, .. }
                        if duplicates.iter().any(|(ip, _)| ip == source));
                    let counters_stopped = counters_off.is_some() && action.is_counters();
                    !from_duplicate && !counters_stopped
                })
                .collect();
            let mut failed = None;
            for (action, result) in group.iter().zip(self.ops.run_together(&group).await) {
                match result {
                    Ok(()) => done.push(action),
                    Err(err) if action.is_counters() => {
                        counters_off.get_or_insert(err.context(format!("`{action}` failed")));
                    }
                    Err(err) => {
                        failed.get_or_insert(err.context(format!("`{action}` failed")));
                    }
                }
            }
            if let Some(err) = failed {
                return Err(self.roll_back(&done, err).await);
            }
        }
        Ok(Leftovers {
            done,
            duplicates,
            counters_off,
        })
    }

    /// Undoes `done` in reverse and returns `err` with what happened.
    async fn roll_back(&self, done: &[&Action], err: anyhow::Error) -> anyhow::Error {
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

    /// The whole `apply`: plans against the config and carries the plan out,
    /// removing `--runtime` aliases too (the file is the desired state).
    /// Returns the plan that was applied (empty when nothing had to change).
    /// With `adopt`, live foreign addresses (and routes) exactly as the
    /// file declares them are taken over in place.
    pub async fn reconcile(&self, file: &ConfigFile, adopt: bool) -> Result<(Plan, Applied)> {
        let desired = Desired {
            adopt,
            ..Desired::of(file.config())
        };
        self.converge(&desired).await
    }

    /// Drift healing: like [`Kernel::reconcile`], but `--runtime` aliases
    /// someone added on purpose stay (they are not drift), and a conflict
    /// does not stop the rest: one foreign address in the way of one alias
    /// must not leave every other alias unhealed. The plan's conflicts are
    /// for the caller to report.
    /// `seen`: what the daemon saw before (addresses held here, the zone
    /// counters' values); `removed_for_now`: declared aliases taken out by
    /// `del --runtime`, left out (their counters kept) as that command did.
    pub async fn heal(
        &self,
        file: &ConfigFile,
        seen: &Seen,
        removed_for_now: &[AliasSpec],
    ) -> Result<(Plan, Applied)> {
        let left_in: Vec<AliasSpec>;
        let aliases = if removed_for_now.is_empty() {
            &file.config().aliases[..]
        } else {
            left_in = file
                .config()
                .aliases
                .iter()
                .filter(|alias| !removed_for_now.contains(alias))
                .cloned()
                .collect();
            &left_in[..]
        };
        let desired = Desired {
            aliases,
            keep_counting: removed_for_now,
            keep_runtime: true,
            seen,
            ..Desired::of(file.config())
        };
        self.converge(&desired).await
    }

    /// `alias-mgr reset`: removes everything alias-mgr owns here (owned and
    /// `--runtime` addresses with their routes, its nftables table, the
    /// classifier's links and pins) and nothing else. The config stays, so
    /// `apply` brings it all back. `promote_secondaries` is turned on
    /// where removing an owned primary would take foreign secondaries with
    /// it. Returns what was removed (`dry_run`: what would be).
    pub async fn reset(&self, dry_run: bool) -> Result<Plan> {
        let nothing = Desired {
            aliases: &[],
            manage_promote_secondaries: true,
            zones: &[],
            runtime: &[],
            keep_runtime: false,
            keep_counting: &[],
            counters: false,
            count_everywhere: false,
            arp_probe_ms: 0,
            adopt: false,
            announce: false,
            seen: &crate::core::plan::NOTHING_SEEN,
        };
        let (_, plan) = self.plan(&nothing, Scope::All).await?;
        if !dry_run {
            if !plan.is_empty() || !plan.conflicts.is_empty() {
                self.apply(&nothing, Scope::All, &plan).await?;
            }
            self.ops.remove_pins()?;
        }
        Ok(plan)
    }

    async fn converge(&self, desired: &Desired<'_>) -> Result<(Plan, Applied)> {
        let (_, mut plan) = self.plan(desired, Scope::All).await?;
        let mut applied = Applied::default();
        if desired.keep_runtime && !plan.conflicts.is_empty() {
            // Conflicting items have no actions; everything else goes ahead.
            let around = Plan {
                conflicts: Vec::new(),
                ..plan.clone()
            };
            if !around.is_empty() {
                applied = self.apply(desired, Scope::All, &around).await?;
            }
        } else if !plan.is_empty() || !plan.conflicts.is_empty() {
            applied = self.apply(desired, Scope::All, &plan).await?;
        }
        if !applied.held_back.is_empty() {
            let held: std::collections::HashSet<IpAddr> =
                applied.held_back.iter().map(|c| c.on.ip).collect();
            plan.actions
                .retain(|action| !wire::is_held_back(action, &held));
            plan.conflicts
                .extend(applied.held_back.iter().map(ToString::to_string));
        }
        Ok((plan, applied))
    }

    /// Applies `plan` after refusing one with conflicts, then checks the
    /// kernel now matches (an empty re-plan).
    pub async fn apply(&self, desired: &Desired<'_>, scope: Scope, plan: &Plan) -> Result<Applied> {
        if !plan.conflicts.is_empty() {
            anyhow::bail!(
                "nothing was changed because of {} conflict(s):\n  {}",
                plan.conflicts.len(),
                plan.conflicts.join("\n  ")
            );
        }
        // nft checks the batch against the live ruleset before anything changes.
        if let Some(batch) = &plan.zone_batch {
            self.ops.load_zones(batch, true)?;
        }
        // Drift healing (keep_runtime) goes around a duplicate address.
        let on_failure = if desired.keep_runtime {
            DadFailure::LeaveInPlace
        } else {
            DadFailure::RollBack
        };
        let (plan, held_back) = self.probe_first(plan, on_failure).await?;
        let held: std::collections::HashSet<IpAddr> = held_back.iter().map(|c| c.on.ip).collect();
        let leftovers = self
            .execute_awaiting_dad(&plan.actions, &plan.await_dad, on_failure)
            .await?;
        if let Some(batch) = &plan.zone_batch {
            if let Err(err) = self.ops.load_zones(batch, false) {
                // Only what ran: skipped steps (counters off, routes of a
                // duplicate) have nothing to undo.
                let err = err.context("the zone table was not loaded");
                return Err(self.roll_back(&leftovers.done, err).await);
            }
        }
        let (_, mut after) = self
            .plan(desired, scope)
            .await
            .context("verifying the result")?;
        // Held back on purpose: the re-plan wants them again.
        after
            .actions
            .retain(|action| !wire::is_held_back(action, &held));
        if let Some(err) = &leftovers.counters_off {
            // Reported below; what else the config wants went in.
            after.actions.retain(|action| !action.is_counters());
            warning!(
                "per-address counters are off: {err:#}; addresses, routes and zones were applied"
            );
        }
        if !after.is_empty() {
            let left: Vec<String> = after
                .actions
                .iter()
                .map(ToString::to_string)
                .chain(after.zone_changes.iter().cloned())
                .collect();
            anyhow::bail!(
                "applied, but the kernel still differs from the config:\n  {}",
                left.join("\n  ")
            );
        }
        let announced = self.announce_added(&plan, &leftovers.duplicates).await;
        if !leftovers.duplicates.is_empty() {
            let reasons: Vec<String> = leftovers
                .duplicates
                .iter()
                .map(|(_, e)| format!("{e:#}"))
                .collect();
            anyhow::bail!(
                "everything else applied; left in place with their routes held back:\n  {}",
                reasons.join("\n  ")
            );
        }
        Ok(Applied {
            held_back,
            announced,
        })
    }
}

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
