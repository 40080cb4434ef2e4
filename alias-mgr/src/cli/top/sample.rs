//! What `top` shows, read from the system: the counters map (every
//! interval), the zones' nft counters, and, every few seconds, the
//! labels, the plan against the config and the classifier's warnings.
//! Reads only: nothing here changes the host or takes from what the
//! daemon reads.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::IpAddr,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alias_ebpf::TrafficCounters;
use anyhow::{bail, Result};
use serde::Serialize;

use super::rates::{rates, zone_rates, Rates, ZoneRates};
use crate::{
    config::ConfigFile,
    core::{
        model::{AliasSpec, LiveAddress},
        plan::{Desired, Observed, Plan, Scope},
    },
    kernel::Kernel,
    runtime_state::RuntimeState,
    sys::{
        bpf::{last_warning_ns, Counters, PinDir},
        nft::{self, ZoneCounter},
    },
};

/// How often the slow parts (config, plan, labels, warnings) are looked
/// at again: they change by hand, rates change every second.
const LOOK_EVERY: Duration = Duration::from_secs(5);

/// A classifier warning this recent is shown.
const RECENT_WARNING: Duration = Duration::from_secs(60);

/// One alias address over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Row {
    pub interface: Option<String>,
    pub label: Option<String>,
    pub address: IpAddr,
    pub zone: Option<String>,
    #[serde(flatten)]
    pub rates: Rates,
}

/// Something wrong worth a line on the screen.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// A conflict or a failure, against a note (pending, drift).
    pub serious: bool,
    pub text: String,
}

impl Problem {
    fn serious(text: String) -> Self {
        Self {
            serious: true,
            text,
        }
    }

    fn note(text: String) -> Self {
        Self {
            serious: false,
            text,
        }
    }
}

/// One interval's measurement.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sample {
    pub seconds: f64,
    /// Busiest first.
    pub rows: Vec<Row>,
    pub zones: Vec<ZoneRates>,
    pub problems: Vec<Problem>,
}

/// What the full-screen view needs beyond the rates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Rates and labels only (`--once`, `--json`, the plain table).
    Rates,
    /// Zones and problems too.
    Everything,
}

pub(crate) struct Sampler {
    config_path: PathBuf,
    file: ConfigFile,
    kernel: Kernel,
    counters: Counters,
    detail: Detail,
    started: Instant,
    before: BTreeMap<IpAddr, TrafficCounters>,
    zones_before: Vec<ZoneCounter>,
    looked: Option<Instant>,
    addresses: Vec<LiveAddress>,
    problems: Vec<Problem>,
}

impl Sampler {
    /// Opens the counters map and takes the first read; fails when
    /// nothing is counted here (with what to do about it).
    pub async fn start(config: &Path, pins: PinDir, detail: Detail) -> Result<Self> {
        let file = ConfigFile::load(config)?;
        let kernel = Kernel::new(pins)?;
        let pins = kernel.system().pins();
        if let Some(reason) = pins.unavailable_reason() {
            bail!("per-address counters are off here: {reason}");
        }
        let Some(counters) = pins.existing_counters()? else {
            bail!(
                "no counters map under {}: nothing is counted yet; `alias-mgr apply` (with counters on) starts counting",
                pins.path().display()
            );
        };
        let before = counters.read_all()?;
        let zones_before = zone_counters(detail, &file).unwrap_or_default();
        Ok(Self {
            config_path: config.to_path_buf(),
            file,
            kernel,
            counters,
            detail,
            started: Instant::now(),
            before,
            zones_before,
            looked: None,
            addresses: Vec::new(),
            problems: Vec::new(),
        })
    }

    /// The rates since the previous call (or the start): each
    /// measurement's end is the next one's start.
    pub async fn next(&mut self) -> Result<Sample> {
        let after = self.counters.read_all()?;
        let seconds = self.started.elapsed().as_secs_f64();
        self.started = Instant::now();
        let zones_after = zone_counters(self.detail, &self.file);
        if self.looked.is_none_or(|at| at.elapsed() >= LOOK_EVERY) {
            self.look().await?;
        }
        let mut problems = self.problems.clone();
        let zones = match zones_after {
            Ok(after) => {
                let zones = zone_rates(&self.zones_before, &after, seconds);
                self.zones_before = after;
                zones
            }
            Err(err) => {
                problems.push(Problem::serious(format!(
                    "reading the zones' counters failed: {err:#}"
                )));
                Vec::new()
            }
        };
        let rows = label(
            &self.file,
            &self.addresses,
            rates(&self.before, &after, seconds),
        );
        self.before = after;
        Ok(Sample {
            seconds,
            rows,
            zones,
            problems,
        })
    }

    /// The slow parts: the config again (it may have been edited), the
    /// addresses' labels and, for the full view, what is wrong.
    async fn look(&mut self) -> Result<()> {
        self.looked = Some(Instant::now());
        let mut problems = Vec::new();
        match ConfigFile::load(&self.config_path) {
            Ok(file) => self.file = file,
            Err(err) => problems.push(Problem::serious(format!(
                "{}: {err} (showing the config as it was)",
                self.config_path.display()
            ))),
        }
        if self.detail == Detail::Rates {
            self.addresses = self.kernel.addresses().await?.1;
            return Ok(());
        }
        let state = RuntimeState::load(&self.config_path);
        let (removed_for_now, left_in) = state.split(&self.file.config().aliases);
        let desired = Desired {
            aliases: &left_in,
            keep_counting: &removed_for_now,
            keep_runtime: true,
            ..Desired::of(self.file.config())
        };
        match self.kernel.plan(&desired, Scope::All).await {
            Ok((observed, plan)) => {
                problems.extend(plan_problems(&plan));
                problems.extend(counting_problems(&self.file, &observed));
                problems.extend(self.classifier_warnings(&observed.attached));
                self.addresses = observed.addresses;
            }
            Err(err) => {
                problems.push(Problem::serious(format!(
                    "comparing the config with the kernel failed: {err:#}"
                )));
                self.addresses = self.kernel.addresses().await?.1;
            }
        }
        self.problems = problems;
        Ok(())
    }

    /// A line for each interface whose classifier warned in the last minute.
    fn classifier_warnings(&self, attached: &BTreeSet<String>) -> Vec<Problem> {
        let now = monotonic_ns();
        let pins = self.kernel.system().pins();
        attached
            .iter()
            .filter_map(|iface| {
                let ids = pins.program_ids(iface).ok()?;
                let latest = ids.into_iter().filter_map(last_warning_ns).max()?;
                let ago = Duration::from_nanos(now.saturating_sub(latest));
                (ago <= RECENT_WARNING).then(|| {
                    Problem::note(format!(
                        "the classifier on {iface} warned {} s ago (its text is in the daemon's log)",
                        ago.as_secs()
                    ))
                })
            })
            .collect()
    }
}

/// The zones' counters, when the view shows zones and the config has any.
fn zone_counters(detail: Detail, file: &ConfigFile) -> Result<Vec<ZoneCounter>> {
    if detail == Detail::Rates || file.config().zones.is_empty() {
        return Ok(Vec::new());
    }
    Ok(nft::zone_counters()?)
}

/// The plan's conflicts, pending aliases and unapplied changes.
fn plan_problems(plan: &Plan) -> Vec<Problem> {
    let mut problems: Vec<Problem> = plan
        .conflicts
        .iter()
        .map(|c| Problem::serious(format!("conflict: {c}")))
        .collect();
    problems.extend(
        plan.pending
            .iter()
            .map(|p| Problem::note(format!("pending: {p}"))),
    );
    let changes = plan.actions.len() + plan.zone_changes.len();
    if changes > 0 {
        let first = plan
            .actions
            .first()
            .map(ToString::to_string)
            .or_else(|| plan.zone_changes.first().cloned())
            .unwrap_or_default();
        problems.push(Problem::note(format!(
            "the kernel differs from the config: {changes} change(s) to apply, first: {first}"
        )));
    }
    problems
}

/// Declared aliases whose traffic is not being counted, and why.
fn counting_problems(file: &ConfigFile, observed: &Observed) -> Vec<Problem> {
    let config = file.config();
    if !config.settings.counters {
        return vec![Problem::note(
            "counters are off in the config ([settings] counters = false): no rates but the ones already counting"
                .into(),
        )];
    }
    let live: BTreeSet<&str> = observed
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let mut problems = Vec::new();
    let detached: BTreeSet<&str> = config
        .aliases
        .iter()
        .map(|a| a.interface.as_str())
        .filter(|i| live.contains(i) && !observed.attached.contains(*i))
        .collect();
    for iface in detached {
        problems.push(Problem::serious(format!(
            "counters off on {iface}: the classifier is not attached (`alias-mgr apply` or the daemon attaches it)"
        )));
    }
    // An alias waiting for its interface is pending, said elsewhere.
    let untracked = config
        .aliases
        .iter()
        .filter(|a| live.contains(a.interface.as_str()) && !observed.tracked.contains(&a.ip()))
        .count();
    if untracked > 0 {
        problems.push(Problem::serious(format!(
            "{untracked} declared address(es) not counted: not in the counters map (`alias-mgr apply` tracks them)"
        )));
    }
    problems
}

/// CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns.
fn monotonic_ns() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime only fills it.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` outlives the call; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Labels each address from the kernel (interface, label) and the config
/// (zone, and the label of an IPv6 alias, which the kernel does not keep).
pub(crate) fn label(
    file: &ConfigFile,
    addresses: &[LiveAddress],
    rates: Vec<(IpAddr, Rates)>,
) -> Vec<Row> {
    // Looked up by address: thousands of rows, every interval.
    let live: HashMap<IpAddr, &LiveAddress> =
        addresses.iter().map(|a| (a.address.addr(), a)).collect();
    let declared: HashMap<IpAddr, &AliasSpec> =
        file.config().aliases.iter().map(|a| (a.ip(), a)).collect();
    rates
        .into_iter()
        .map(|(address, rates)| {
            let live = live.get(&address).copied();
            let declared = declared.get(&address).copied();
            let interface = live
                .map(|l| l.interface.clone())
                .or_else(|| declared.map(|d| d.interface.clone()));
            Row {
                interface,
                label: live
                    .and_then(|l| l.label.clone())
                    .or_else(|| declared.and_then(|d| d.label.clone())),
                address,
                zone: declared.and_then(|d| d.zone.clone()),
                rates,
            }
        })
        .collect()
}
