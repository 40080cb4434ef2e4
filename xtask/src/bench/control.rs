//! The control plane against the kernel's own tool: `alias-mgr apply` of N
//! aliases from nothing (counters on; ARP probes and announcements off, as
//! `ip -batch` does neither) and back, paired with `ip -batch` of the same
//! adds and deletes; no-op `plan` and `apply`; a zone reload at 1,000
//! aliases in 50 zones.

use std::path::Path;

use anyhow::Result;

use super::{
    alias_ip, alias_mgr_command, report::Report, stats::Summary, timed, Lab, NS, QUIET_SETTINGS,
};

/// IPv4 /32 aliases as config entries, in `zones` zones (none: 0).
fn aliases_text(count: usize, zones: usize) -> String {
    let mut text = String::from(QUIET_SETTINGS);
    for i in 0..count {
        let ip = alias_ip(i);
        text.push_str(&format!(
            "[[alias]]\ninterface = \"eth1\"\naddress = \"{ip}/32\"\n"
        ));
        if zones > 0 {
            text.push_str(&format!("zone = \"z{}\"\n", i % zones));
        }
        text.push('\n');
    }
    text
}

fn ip_batch(lab: &Lab, count: usize, verb: &str) -> Result<std::path::PathBuf> {
    let path = lab.dir.join(format!("ip-{verb}-{count}.batch"));
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&format!("addr {verb} {}/32 dev eth1\n", alias_ip(i)));
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The timed form of alias-mgr in the bench namespace: its argv.
fn alias_mgr_argv(alias_mgr: &Path, lab: &Lab, config: &Path, args: &[&str]) -> Vec<String> {
    let command = alias_mgr_command(alias_mgr, lab, config, args);
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn time(argv: &[String]) -> Result<f64> {
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    timed(&args)
}

struct Pairs {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
}

impl Pairs {
    fn new() -> Self {
        Pairs {
            ours: Vec::new(),
            theirs: Vec::new(),
            ratios: Vec::new(),
        }
    }

    fn push(&mut self, ours: f64, theirs: f64) {
        self.ours.push(ours * 1000.0);
        self.theirs.push(theirs * 1000.0);
        self.ratios.push(ours / theirs);
    }

    fn row(&self, name: String) -> Vec<String> {
        vec![
            name,
            Summary::of(&self.ours).show(1),
            Summary::of(&self.theirs).show(1),
            Summary::of(&self.ratios).show(2),
        ]
    }
}

/// One size: `rounds` pairs of add and of delete, the order alternating.
fn against_ip(
    alias_mgr: &Path,
    lab: &Lab,
    count: usize,
    rounds: usize,
) -> Result<(Pairs, Pairs, Vec<f64>, Vec<f64>)> {
    let config = lab.dir.join(format!("control-{count}.toml"));
    let empty = lab.dir.join("control-empty.toml");
    std::fs::write(&config, aliases_text(count, 0))?;
    std::fs::write(&empty, "[settings]\narp_probe_ms = 0\nannounce_count = 0\n")?;
    let apply = alias_mgr_argv(alias_mgr, lab, &config, &["apply"]);
    let plan = alias_mgr_argv(alias_mgr, lab, &config, &["plan"]);
    let remove = alias_mgr_argv(alias_mgr, lab, &empty, &["apply"]);
    let netns = format!("--net=/run/netns/{NS}");
    let batch = |verb: &str| -> Result<Vec<String>> {
        let file = ip_batch(lab, count, verb)?;
        Ok(["nsenter", &netns, "ip", "-batch", &file.to_string_lossy()]
            .map(String::from)
            .to_vec())
    };
    let (ip_add, ip_del) = (batch("add")?, batch("del")?);
    let (mut adds, mut dels) = (Pairs::new(), Pairs::new());
    let (mut noop_plan, mut noop_apply) = (Vec::new(), Vec::new());
    // alias-mgr's turn: add from nothing, no-op plan and apply, remove.
    let ours =
        || -> Result<[f64; 4]> { Ok([time(&apply)?, time(&plan)?, time(&apply)?, time(&remove)?]) };
    let theirs = || -> Result<[f64; 2]> { Ok([time(&ip_add)?, time(&ip_del)?]) };
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = ours()?;
            (a, theirs()?)
        } else {
            let b = theirs()?;
            (ours()?, b)
        };
        adds.push(a[0], b[0]);
        dels.push(a[3], b[1]);
        noop_plan.push(a[1] * 1000.0);
        noop_apply.push(a[2] * 1000.0);
    }
    Ok((adds, dels, noop_plan, noop_apply))
}

/// A zone-only change (one zone's input policy) at 1,000 aliases in 50
/// zones: the time of the `apply` that reloads the table.
fn zone_reload(alias_mgr: &Path, lab: &Lab, rounds: usize) -> Result<Vec<f64>> {
    let config = lab.dir.join("zones.toml");
    let with_policy = |policy: &str| {
        let mut text = aliases_text(1000, 50);
        for zone in 0..50 {
            let input = if zone == 0 { policy } else { "accept" };
            text.push_str(&format!("[zone.z{zone}]\ninput = \"{input}\"\n\n"));
        }
        text
    };
    let apply = alias_mgr_argv(alias_mgr, lab, &config, &["apply"]);
    std::fs::write(&config, with_policy("accept"))?;
    time(&apply)?;
    let mut times = Vec::new();
    for round in 0..rounds {
        std::fs::write(
            &config,
            with_policy(if round % 2 == 0 { "drop" } else { "accept" }),
        )?;
        times.push(time(&apply)? * 1000.0);
    }
    std::fs::write(&config, "[settings]\narp_probe_ms = 0\n")?;
    time(&apply)?;
    Ok(times)
}

pub(super) fn run(
    alias_mgr: &Path,
    lab: &Lab,
    report: &mut Report,
    aliases: usize,
    rounds: usize,
) -> Result<()> {
    let mut rows = Vec::new();
    let mut noops = Vec::new();
    let mut sizes = vec![1000, aliases];
    sizes.dedup();
    for count in sizes {
        let (adds, dels, plan, apply) = against_ip(alias_mgr, lab, count, rounds)?;
        rows.push(adds.row(format!(
            "add {count} (apply from nothing vs ip -batch addr add)"
        )));
        rows.push(dels.row(format!(
            "remove {count} (apply of an empty config vs ip -batch addr del)"
        )));
        noops.push((count, Summary::of(&plan), Summary::of(&apply)));
        println!("xtask: bench: control plane at {count} done");
    }
    report.line("");
    report.line("### Control plane against `ip -batch` (wall time of each command, ms)");
    report.line("");
    report.line(
        "alias-mgr with counters on (map keys, classifier attached), ARP probes and announcements off, \
         as `ip -batch` does neither; ratio = alias-mgr / ip of each pair.",
    );
    report.table(&["run", "alias-mgr (ms)", "ip -batch (ms)", "ratio"], &rows);
    let zones = Summary::of(&zone_reload(alias_mgr, lab, rounds)?);
    let mut other = Vec::new();
    for (count, plan, apply) in &noops {
        other.push(vec![format!("no-op `plan` at {count}"), plan.show(1)]);
        other.push(vec![format!("no-op `apply` at {count}"), apply.show(1)]);
    }
    other.push(vec![
        "zone reload, 1,000 aliases in 50 zones (`apply`)".into(),
        zones.show(1),
    ]);
    report.table(&["run", "ms"], &other);
    Ok(())
}
