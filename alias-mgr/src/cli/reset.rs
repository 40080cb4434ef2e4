//! `alias-mgr reset`: take alias-mgr off this host, leaving everything it
//! does not own as it was. Shows what would go unless `--yes`.

use std::path::Path;

use anyhow::{bail, Result};

use super::{common::print_plan, output::say};
use crate::{kernel::Kernel, lock::lock, sys::bpf::PinDir};

pub(super) async fn reset_command(config: &Path, pins: PinDir, yes: bool) -> Result<()> {
    // Under the config's lock: a running `apply` or daemon reconcile
    // finishes first (a daemon left running re-applies the config after).
    let _lock = lock(config)?;
    let pin_dir = pins.path().to_path_buf();
    let kernel = Kernel::new(pins)?;
    let plan = kernel.reset(!yes).await?;
    print_plan(&plan);
    for conflict in &plan.conflicts {
        say!("conflict: {conflict}");
    }
    if !yes {
        if plan.is_empty() && !pin_dir.exists() {
            say!("nothing of alias-mgr's is on this host");
            return Ok(());
        }
        say!("- pins under {}", pin_dir.display());
        bail!("nothing was removed: re-run as `alias-mgr reset --yes` to remove the above (stop the daemon first, `systemctl stop alias-mgr`, or it applies the config again)");
    }
    say!(
        "removed {} item(s) alias-mgr owned; the config file is untouched: `alias-mgr apply` restores it",
        plan.actions.len() + plan.zone_changes.len()
    );
    Ok(())
}
