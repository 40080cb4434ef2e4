//! `alias-mgr plan`: what `apply` would change, as text or JSON; changes
//! nothing, and fails when `apply` would refuse to run.

use std::path::Path;

use anyhow::{bail, Result};

use super::{
    common::{declarations, desired, in_sync_message, print_plan, require_config},
    output::say,
};
use crate::{
    config::ConfigFile,
    core::plan::{Desired, Scope},
    kernel::Kernel,
    sys::bpf::PinDir,
};

pub(super) async fn plan_command(
    config: &Path,
    pins: PinDir,
    json: bool,
    adopt: bool,
) -> Result<()> {
    require_config(config)?;
    let kernel = Kernel::new(pins)?;
    // nft lists the zone table while the config is read and checked.
    kernel.prefetch_zone_table();
    let file = ConfigFile::load(config)?;
    let desired = Desired {
        adopt,
        ..desired(&file, &file.config().aliases)
    };
    let (_, plan) = kernel.plan(&desired, Scope::All).await?;
    if json {
        let mut shown = serde_json::to_value(&plan)?;
        shown["declared_in"] = declarations(&file);
        say!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        print_plan(&plan);
        for conflict in &plan.conflicts {
            say!("conflict: {conflict}");
        }
        if plan.is_empty() && plan.conflicts.is_empty() {
            say!("{}", in_sync_message(config, &plan));
        }
        if !plan.arp_probes.is_empty() {
            say!(
                "note: apply first probes {} new IPv4 address(es) on the LAN (RFC 5227) and refuses one another host answers for; plan sends nothing",
                plan.arp_probes.len()
            );
        }
    }
    if !plan.conflicts.is_empty() {
        bail!(
            "apply would refuse to run: {} conflict(s) listed above; resolve them first",
            plan.conflicts.len()
        );
    }
    Ok(())
}
