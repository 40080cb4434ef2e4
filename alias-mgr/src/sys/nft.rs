//! nftables: alias-mgr's own table (`inet alias_mgr`) through the `nftables`
//! crate and the real `nft`. The only module that runs nft.
//!
//! Two of the crate's known limits are worked around here: its `Counter`
//! holds u32 packets/bytes and fails to parse a ruleset once a counter passes
//! 4.29e9 (nftables-rs #235), so listings are read raw and parsed with u64;
//! and its apply helpers leave nft's stderr uncaptured, so batches (typed and
//! serialized with the crate's schema) are piped to nft here to report nft's
//! own reason when it refuses one.

use std::{
    io::{self, Write},
    process::{Child, Command, Stdio},
};

use serde::Deserialize;
use serde_json::Value;

use crate::core::zones::{self, LiveTable};

/// What can go wrong between alias-mgr and nft.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("`{program}` was not found; install nftables (apt install nftables)")]
    Missing { program: String },
    /// nft (or unshare, or a pipe to either) could not be run or talked to.
    /// The OS error is part of the message, not a source, so it shows once.
    #[error("{what}: {error}")]
    Io { what: String, error: io::Error },
    /// nft said no; the previous ruleset is untouched.
    #[error("nft refused the zone ruleset ({reason}); the previous ruleset stays in force")]
    Refused { reason: String },
    #[error("listing nftables table {} {}: {message}", zones::FAMILY, zones::TABLE)]
    Listing { message: String },
    #[error("parsing nft's JSON listing: {0}")]
    Parse(serde_json::Error),
    /// A batch alias-mgr built does not fit nft's JSON schema (a bug).
    #[error("the zone ruleset does not fit the nftables JSON schema: {0}")]
    Schema(serde_json::Error),
    #[error("rendering the ruleset as text failed: {stderr}")]
    Render { stderr: String },
}

type Result<T, E = NftError> = std::result::Result<T, E>;

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> NftError {
    move |error| NftError::Io {
        what: what.into(),
        error,
    }
}

/// The nft binary: `ALIAS_MGR_NFT` if set (tests use it to inject failures), else `nft`.
fn program() -> String {
    std::env::var("ALIAS_MGR_NFT").unwrap_or_else(|_| "nft".into())
}

fn nft_missing(err: io::Error) -> NftError {
    let program = program();
    if err.kind() == io::ErrorKind::NotFound {
        NftError::Missing { program }
    } else {
        io_error(format!("running {program}"))(err)
    }
}

/// alias-mgr's table as nft lists it now (empty when there is none).
pub fn live_table() -> Result<LiveTable> {
    start_listing()?.finish()
}

/// A listing of alias-mgr's table under way: nft runs while the caller
/// goes on (reading its config, dumping addresses), and `finish` collects
/// what it printed. Dropped unfinished, the listing is stopped.
pub struct PendingListing {
    child: Option<Child>,
}

/// Starts `nft -j list table inet alias_mgr`. Read raw, not with the
/// crate's types: its counters are u32 (see the module comment).
pub fn start_listing() -> Result<PendingListing> {
    let child = Command::new(program())
        .args(["-j", "list", "table", zones::FAMILY, zones::TABLE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(nft_missing)?;
    Ok(PendingListing { child: Some(child) })
}

impl PendingListing {
    /// The table as nft listed it, or an empty one when there is none.
    pub fn finish(mut self) -> Result<LiveTable> {
        // Only Drop leaves None, and `finish` takes self: always there.
        let child = self.child.take().expect("a listing is finished once");
        let output = child
            .wait_with_output()
            .map_err(io_error(format!("waiting for {}", program())))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("No such file or directory") {
                return Ok(LiveTable::default());
            }
            let reason = stderr.trim();
            return Err(NftError::Listing {
                message: if reason.is_empty() {
                    format!("{} exited with {}", program(), output.status)
                } else {
                    reason.to_string()
                },
            });
        }
        let json: Value = serde_json::from_slice(&output.stdout).map_err(NftError::Parse)?;
        Ok(zones::parse_live(&json))
    }
}

impl Drop for PendingListing {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Already gone is fine: only its exit status is left to reap.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Loads a batch in one nft transaction (`check_only`: nft -c, changes
/// nothing). A refused batch leaves the previous ruleset in force.
pub fn load(batch: &Value, check_only: bool) -> Result<()> {
    if typed_objects(batch)? == 0 {
        return Ok(());
    }
    let payload = serde_json::to_string(batch).map_err(NftError::Schema)?;
    let program = program();
    let mut command = Command::new(&program);
    if check_only {
        command.arg("-c");
    }
    let mut child = command
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(nft_missing)?;
    feed(&mut child, &payload).map_err(io_error(format!("writing the ruleset to {program}")))?;
    let output = child
        .wait_with_output()
        .map_err(io_error(format!("waiting for {program}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reason = stderr
            .lines()
            .find(|l| l.contains("Error"))
            .unwrap_or(stderr.trim())
            .trim()
            .to_string();
        return Err(NftError::Refused {
            reason: if reason.is_empty() {
                format!("exit status {}", output.status)
            } else {
                reason
            },
        });
    }
    Ok(())
}

/// Types the batch with the crate's schema, which catches malformed objects
/// before nft sees them; the number of commands. Counter values are left
/// out of the check: the crate types them u32 (nftables-rs #235) and a
/// restored counter may be past 4.29e9; what goes to nft is the batch as
/// it is.
fn typed_objects(batch: &Value) -> Result<usize> {
    let commands = batch["nftables"].as_array().ok_or_else(|| {
        NftError::Schema(serde::de::Error::custom(
            "the batch has no \"nftables\" array",
        ))
    })?;
    for command in commands {
        // Typed one by one from the batch itself: a copy of the whole
        // batch cost more than the typing at 1,000 aliases.
        let counter = command.get("add").and_then(|add| add.get("counter"));
        if counter.is_some_and(|c| c.get("packets").is_some() || c.get("bytes").is_some()) {
            let mut unvalued = command.clone();
            if let Some(counter) = unvalued["add"]["counter"].as_object_mut() {
                counter.remove("packets");
                counter.remove("bytes");
            }
            type_object(&unvalued)?;
        } else {
            type_object(command)?;
        }
    }
    Ok(commands.len())
}

fn type_object(object: &Value) -> Result<()> {
    nftables::schema::NfObject::deserialize(object)
        .map(drop)
        .map_err(NftError::Schema)
}

/// Writes `payload` to the child's stdin and closes it. A child that exits
/// without reading (nft refusing its arguments, unshare not permitted) is
/// not an error here: its status and stderr, read next, say why.
fn feed(child: &mut std::process::Child, payload: &str) -> io::Result<()> {
    let Some(mut stdin) = child.stdin.take() else {
        return Ok(()); // not piped: nothing to feed
    };
    match stdin.write_all(payload.as_bytes()) {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// The nft text of a whole-table `batch` (one built against an empty live
/// table): loaded into a throwaway network namespace, where only nft itself
/// can say how it reads, and listed back. Nothing on this host changes.
pub fn render_text(batch: &Value) -> Result<String> {
    let payload = serde_json::to_string(batch).map_err(NftError::Schema)?;
    let program = program();
    let script = format!(
        "\"$0\" -j -f - && \"$0\" list table {} {}",
        zones::FAMILY,
        zones::TABLE
    );
    let mut child = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script, &program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_error(
            "starting unshare (util-linux) for a throwaway network namespace",
        ))?;
    feed(&mut child, &payload).map_err(io_error("writing the ruleset to nft"))?;
    let output = child
        .wait_with_output()
        .map_err(io_error("waiting for nft"))?;
    if !output.status.success() {
        return Err(NftError::Render {
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Follows changes to alias-mgr's table as `nft monitor` reports them for
/// this network namespace, so a hand edit (`nft delete table inet alias_mgr`)
/// is repaired at once. Nftables changes come over NETLINK_NETFILTER, which
/// the rtnetlink subscription does not see.
pub struct TableMonitor {
    // Killed on drop.
    _child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl TableMonitor {
    pub fn start() -> Result<Self> {
        use tokio::io::AsyncBufReadExt;
        let program = program();
        let mut command = tokio::process::Command::new(&program);
        command
            .args(["monitor", "ruleset"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        // kill_on_drop needs an orderly exit; a daemon killed outright must
        // not leave the monitor behind either. The daemon's runtime has one
        // thread, so "the parent thread died" means the daemon did.
        // SAFETY: prctl is async-signal-safe; nothing else runs in the child
        // between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(nft_missing)?;
        let stdout = child.stdout.take().ok_or_else(|| NftError::Io {
            what: "nft monitor's stdout".into(),
            error: io::ErrorKind::BrokenPipe.into(),
        })?;
        Ok(Self {
            _child: child,
            lines: tokio::io::BufReader::new(stdout).lines(),
        })
    }

    /// Waits for the next change to alias-mgr's table; None when the monitor
    /// ended.
    pub async fn changed(&mut self) -> Option<()> {
        let ours = format!(" {} {}", zones::FAMILY, zones::TABLE);
        let ours_then_more = format!("{ours} ");
        loop {
            let line = self.lines.next_line().await.ok()??;
            // e.g. "delete rule inet alias_mgr in_lab handle 7"; nft also
            // says "# ERROR: We lost some netlink events!" when its socket
            // overflowed, and one of them may have been ours.
            if line.contains(&ours_then_more)
                || line.ends_with(&ours)
                || line.starts_with("# ERROR")
            {
                return Some(());
            }
        }
    }
}

/// One named counter of a zone, read with u64 precision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZoneCounter {
    pub zone: String,
    /// "input" (zone -> this host) or "forward" (zone -> another zone).
    pub direction: &'static str,
    /// "accept" or "drop" (rejects count as drops).
    pub verdict: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// Every zone counter of alias-mgr's table; empty when the table does not exist.
pub fn zone_counters() -> Result<Vec<ZoneCounter>> {
    Ok(counters_of(&live_table()?))
}

/// The zone counters in a listing, by their names (`in_ZONE_accept`...).
pub fn counters_of(live: &LiveTable) -> Vec<ZoneCounter> {
    live.counters
        .iter()
        .filter_map(|(name, (packets, bytes))| {
            let (direction, rest) = if let Some(rest) = name.strip_prefix("in_") {
                ("input", rest)
            } else {
                ("forward", name.strip_prefix("fwd_")?)
            };
            let (zone, verdict) = if let Some(zone) = rest.strip_suffix("_accept") {
                (zone, "accept")
            } else {
                (rest.strip_suffix("_drop")?, "drop")
            };
            Some(ZoneCounter {
                zone: zone.to_string(),
                direction,
                verdict,
                packets: *packets,
                bytes: *bytes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        core::fixtures::{alias, zone, AliasBuilder, ZoneBuilder},
        core::zones::LiveTable,
        core::zones::Verdict,
    };

    /// Every command of a rendered batch must fit the crate's schema, or
    /// `load` would refuse it before nft is even asked.
    #[test]
    fn rendered_batches_fit_the_nftables_schema() {
        let zones = [
            zone("lab", Verdict::Drop)
                .subnets(&["10.50.0.0/16"])
                .allow(&["tcp/22", "udp/5000-5010", "icmp", "icmpv6", "tcp"])
                .forward(&[("dmz", Verdict::Accept)]),
            zone("dmz", Verdict::Reject).subnets(&["2001:db8:9::/48"]),
        ];
        let aliases = [alias("eth1", "192.168.0.1/24").zone("lab")];
        let ruleset = crate::core::zones::render(&zones, &aliases).unwrap();
        let live = LiveTable {
            exists: true,
            chains: ["in_old".to_string()].into(),
            sets: [("z_old_v4".to_string(), vec![])].into(),
            counters: [("in_old_drop".to_string(), (1, 1))].into(),
            fingerprint: None,
            rules: Default::default(),
        };
        // A restored counter past u32, as after `nft flush ruleset`.
        let seen = [(
            "in_lab_accept".to_string(),
            (5_000_000_000, 9_000_000_000_000),
        )]
        .into();
        let batch = crate::core::zones::batch(Some(&ruleset), &live, &seen);
        assert!(batch.to_string().contains("\"packets\":5000000000"));
        for command in batch["nftables"].as_array().unwrap() {
            let one = serde_json::json!({"nftables": [command]});
            let parsed = typed_objects(&one);
            assert!(parsed.is_ok(), "{command}: {:?}", parsed.err());
        }
        let removal = crate::core::zones::batch(None, &live, &Default::default());
        assert!(serde_json::from_value::<nftables::schema::Nftables>(removal).is_ok());
    }

    /// A malformed command anywhere in a batch stops it before nft runs.
    #[test]
    fn a_batch_with_a_malformed_command_is_refused() {
        let table = serde_json::json!({"add": {"table": {"family": "inet", "name": "t"}}});
        let broken = serde_json::json!({"add": {"rule": {"family": "inet", "expr": 5}}});
        assert_eq!(
            typed_objects(&serde_json::json!({"nftables": [table.clone()]})).unwrap(),
            1
        );
        let batch = serde_json::json!({"nftables": [table, broken]});
        assert!(matches!(typed_objects(&batch), Err(NftError::Schema(_))));
        let no_array = serde_json::json!({"commands": []});
        assert!(matches!(typed_objects(&no_array), Err(NftError::Schema(_))));
    }
}
