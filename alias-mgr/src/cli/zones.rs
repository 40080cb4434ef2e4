//! `alias-mgr zones`: the firewall zones with their members, policies and
//! the accept/drop counters of the loaded nft table.

use std::{collections::BTreeMap, path::Path};

use anyhow::Result;
use ipnet::IpNet;
use serde::Serialize;

use super::{
    common::require_config,
    output::{say, say_warning},
};
use crate::{
    config::ConfigFile,
    core::desired::Config,
    core::zones,
    sys::nft::{self, ZoneCounter},
};

#[derive(Debug, Serialize)]
struct ZoneRow<'a> {
    name: &'a str,
    subnets: Vec<IpNet>,
    aliases: Vec<String>,
    input: String,
    allow: Vec<String>,
    forward: BTreeMap<&'a str, String>,
    counters: Vec<ZoneCounter>,
}

pub(super) fn zones_command(config: &Path, json: bool) -> Result<()> {
    require_config(config)?;
    let file = ConfigFile::load(config)?;
    let cfg = file.config();
    let counters = if cfg.zones.is_empty() {
        Vec::new()
    } else {
        nft::zone_counters()?
    };
    if !cfg.zones.is_empty() && counters.is_empty() {
        say_warning!(
            "the nftables table {} {} is not loaded, so no zone is enforced (deleted by hand?); run `alias-mgr apply` (the daemon restores it on its own)",
            zones::FAMILY,
            zones::TABLE
        );
    }
    let rows = zone_rows(cfg, &counters);
    if json {
        say!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        say!("no zones are configured in {}", config.display());
    }
    for row in &rows {
        print_zone(row);
    }
    Ok(())
}

/// One row per configured zone: its members as the ruleset renders them,
/// its aliases, policies and the counters of the loaded table.
fn zone_rows<'a>(cfg: &'a Config, counters: &[ZoneCounter]) -> Vec<ZoneRow<'a>> {
    let ruleset = zones::render(&cfg.zones, &cfg.aliases);
    cfg.zones
        .iter()
        .map(|zone| ZoneRow {
            name: &zone.name,
            subnets: ruleset
                .as_ref()
                .and_then(|r| r.members.get(&zone.name).cloned())
                .unwrap_or_default(),
            aliases: cfg
                .aliases
                .iter()
                .filter(|a| a.zone.as_deref() == Some(&zone.name))
                .map(|a| format!("{} on {}", a.address, a.interface))
                .collect(),
            input: zone.input.to_string(),
            allow: zone.allow.iter().map(ToString::to_string).collect(),
            forward: zone
                .forward
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string()))
                .collect(),
            counters: counters
                .iter()
                .filter(|c| c.zone == zone.name)
                .cloned()
                .collect(),
        })
        .collect()
}

fn print_zone(row: &ZoneRow) {
    say!("zone {}", row.name);
    let subnets: Vec<String> = row.subnets.iter().map(ToString::to_string).collect();
    say!(
        "  subnets: {}",
        if subnets.is_empty() {
            "(none)".into()
        } else {
            subnets.join(", ")
        }
    );
    if !row.aliases.is_empty() {
        say!("  aliases: {}", row.aliases.join(", "));
    }
    say!(
        "  to this host: {} (allowed: {})",
        row.input,
        if row.allow.is_empty() {
            "nothing".into()
        } else {
            row.allow.join(", ")
        }
    );
    let forward: Vec<String> = row
        .forward
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    say!(
        "  forward: {} (other zones drop, same zone accept; to addresses in no zone alias-mgr does not filter)",
        if forward.is_empty() {
            "-".into()
        } else {
            forward.join(", ")
        }
    );
    for c in &row.counters {
        say!(
            "  {:<7} {:<6} packets {} bytes {}",
            c.direction,
            c.verdict,
            c.packets,
            c.bytes
        );
    }
}
