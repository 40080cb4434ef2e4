//! The kernel runner: observes the kernel and carries out plans, the bridge
//! between the pure planner (`core`) and the outside systems (`sys`). A
//! failed step rolls back every step this run made, in reverse order, so a
//! run changes all or nothing (`execute.rs`); every apply ends by
//! re-planning to verify.
//!
//! It reaches the kernel only through [`KernelOps`] (`ops.rs`): [`System`]
//! is the real one, `fake.rs` an in-memory one for the unit tests. It may use
//! `core`, `config` (the file it converges to) and, in `system.rs`, `sys`.

use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{Context, Result};

use crate::{
    config::ConfigFile,
    core::{
        model::{AliasSpec, Interface, LiveAddress},
        plan::{self, Desired, Observed, Plan, Scope, Seen},
        resolve,
        zones::{self, LiveTable},
    },
    logging::warning,
    sys::bpf::PinDir,
};

mod execute;
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

pub use execute::DadFailure;
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
    progress: Arc<Progress>,
}

/// How far the steps of the run under way are: for a progress line.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    /// (steps done, steps in the run); (0, 0) before any run.
    pub fn now(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    fn start(&self, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    fn advance(&self, steps: usize) {
        self.done.fetch_add(steps, Ordering::Relaxed);
    }
}

impl Kernel<System> {
    pub fn new(pins: PinDir) -> Result<Self> {
        Ok(Self {
            ops: System::new(pins)?,
            progress: Arc::default(),
        })
    }
}

impl<K: KernelOps> Kernel<K> {
    #[cfg(test)]
    pub fn with(ops: K) -> Self {
        Self {
            ops,
            progress: Arc::default(),
        }
    }

    /// How far the run under way is, for a caller that shows it.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
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

    /// See [`KernelOps::prefetch_zone_table`]: for a command that plans
    /// all of a config, started before it loads the config.
    pub fn prefetch_zone_table(&self) {
        self.ops.prefetch_zone_table();
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
        self.plan_against_table(desired, observed, scope, None)
    }

    /// [`Kernel::plan_observed`], with the zone table as `known` says it
    /// is (None: as nft lists it).
    fn plan_against_table(
        &self,
        desired: &Desired<'_>,
        observed: &Observed,
        scope: Scope,
        known: Option<LiveTable>,
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
        let live = match known.map_or_else(|| self.ops.zone_table(), Ok) {
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
        plan.zone_table_seen = Some(live);
        Ok(plan)
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
        // nft checks the batch against the live ruleset before anything
        // changes. Alone in the plan it needs no check: the load is one
        // transaction, refused whole or taken whole.
        if let Some(batch) = plan
            .zone_batch
            .as_ref()
            .filter(|_| !plan.actions.is_empty())
        {
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
        // nft took the batch in one transaction, whole: the table is what
        // it says, so the check lists it no second time. Without a batch
        // the run did not touch it: it is as the plan listed it.
        let loaded = match &plan.zone_batch {
            Some(batch) => Some(zones::table_loaded_by(batch)),
            None => plan.zone_table_seen.clone(),
        };
        let observed = self
            .observe(desired.aliases.iter().map(|a| a.interface.as_str()))
            .await
            .context("verifying the result")?;
        let mut after = self
            .plan_against_table(desired, &observed, scope, loaded)
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
