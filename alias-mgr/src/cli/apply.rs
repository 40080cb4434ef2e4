//! `alias-mgr apply`: make the kernel match the config and verify it does;
//! `--dry-run` prints the plan and the nft table it would load.

use std::path::Path;

use crate::runtime_state::RuntimeState;
use anyhow::Result;

use super::{
    announce,
    common::{desired, in_sync_message, print_plan, require_config},
    output::{say, say_warning},
    progress::ProgressLine,
};
use crate::{
    config::ConfigFile,
    core::plan::{Desired, Scope},
    core::zones,
    kernel::Kernel,
    lock::lock,
    sys::bpf::PinDir,
    sys::nft,
};

/// The table `apply` would load, as nft text; the JSON batch when nft
/// cannot render it (e.g. no permission to make a network namespace).
fn print_zone_ruleset(file: &ConfigFile, batch: &serde_json::Value) {
    let config = file.config();
    let text = zones::render(&config.zones, &config.aliases).map(|ruleset| {
        nft::render_text(&zones::batch(
            Some(&ruleset),
            &zones::LiveTable::default(),
            &Default::default(),
        ))
    });
    match text {
        Some(Ok(text)) => say!("nft table apply would load (one transaction):\n{text}"),
        None => say!(
            "nft: table {} {} would be deleted",
            zones::FAMILY,
            zones::TABLE
        ),
        Some(Err(err)) => {
            say_warning!("{err:#}; showing the JSON batch");
            say!(
                "nft batch (one transaction):\n{}",
                serde_json::to_string_pretty(batch).unwrap_or_default()
            );
        }
    }
}

pub(super) async fn apply_command(
    config: &Path,
    pins: PinDir,
    dry_run: bool,
    adopt: bool,
) -> Result<()> {
    require_config(config)?;
    let _lock = lock(config)?;
    let kernel = Kernel::new(pins)?;
    // nft lists the zone table while the config is read and checked.
    kernel.prefetch_zone_table();
    let file = ConfigFile::load(config)?;
    if dry_run {
        let desired = Desired {
            adopt,
            ..desired(&file, &file.config().aliases)
        };
        let (_, plan) = kernel.plan(&desired, Scope::All).await?;
        print_plan(&plan);
        for conflict in &plan.conflicts {
            say!("conflict: {conflict}");
        }
        if let Some(batch) = &plan.zone_batch {
            print_zone_ruleset(&file, batch);
        }
        if plan.is_empty() && plan.conflicts.is_empty() {
            say!("{}", in_sync_message(config, &plan));
        } else {
            say!("dry run: nothing was changed");
        }
        return Ok(());
    }
    let progress = ProgressLine::start(kernel.progress());
    let reconciled = kernel.reconcile(&file, adopt).await;
    progress.finish();
    let (plan, applied) = reconciled?;
    // The file is in force again: `del --runtime` removals are over.
    if let Err(err) = RuntimeState::default().save(config) {
        say!("warning: {err:#}");
    }
    print_plan(&plan);
    if plan.is_empty() {
        say!("{}", in_sync_message(config, &plan));
    } else {
        say!(
            "applied {} change(s)",
            plan.actions.len() + plan.zone_changes.len()
        );
    }
    announce::follow_up(&file, &applied);
    Ok(())
}
