//! Per-address accounting as it is done without alias-mgr, the modern form
//! of the seed's "accounting rules": an nftables set of the same addresses
//! with a counter per element, matched on the destination at the netdev
//! ingress hook of eth1, against alias-mgr's classifier on the TCX ingress
//! hook. Either costs a few ns a packet, below the noise of a veth flood,
//! so each is amplified K times (K classifier copies chained with TCX,
//! sharing the counters map; K rules matching the set): cost per packet =
//! (1/pps - 1/pps bare) / K, from iperf3 UDP runs of 64-byte datagrams,
//! bare, classifier and nftables interleaved round by round.

use std::path::Path;

use anyhow::Result;

use super::{
    alias_ip, alias_mgr_run,
    data_plane::iperf3_to,
    in_ns, iperf3_server, peer_reaches_aliases, programs,
    report::Report,
    stats::{bootstrap_median_95, Summary},
    Lab, QUIET_SETTINGS,
};

const K: usize = 8;
const TARGET: &str = "10.100.0.1";

/// The set, loaded once (a set alone costs packets nothing).
fn nft_set(lab: &Lab, aliases: usize) -> Result<()> {
    let elements: Vec<String> = (0..aliases).map(alias_ip).collect();
    let text = format!(
        "table netdev ambench {{\n set accounting {{ type ipv4_addr; counter; elements = {{ {} }} }}\n}}\n",
        elements.join(", ")
    );
    nft_file(lab, "set.nft", &text)
}

fn nft_file(lab: &Lab, name: &str, text: &str) -> Result<()> {
    let path = lab.dir.join(name);
    std::fs::write(&path, text)?;
    in_ns(&["nft", "-f", &path.to_string_lossy()]).map(drop)
}

fn nft_rules(lab: &Lab, on: bool) -> Result<()> {
    if !on {
        return in_ns(&[
            "nft",
            "delete",
            "chain",
            "netdev",
            "ambench",
            "accounting_in",
        ])
        .map(drop);
    }
    let rules = "  ip daddr @accounting\n".repeat(K);
    nft_file(
        lab,
        "rules.nft",
        &format!("table netdev ambench {{\n chain accounting_in {{\n  type filter hook ingress device \"eth1\" priority 0;\n{rules} }}\n}}\n"),
    )
}

/// Received pps with the given side amplified in place.
fn measure(lab: &Lab, object: &Path, side: usize) -> Result<f64> {
    match side {
        1 => {
            let _copies = programs::start(lab, object, "ingress_eth", K, None)?;
            iperf3_to(TARGET, true)
        }
        2 => {
            nft_rules(lab, true)?;
            let pps = iperf3_to(TARGET, true);
            nft_rules(lab, false)?;
            pps
        }
        _ => iperf3_to(TARGET, true),
    }
}

pub(super) fn run(
    alias_mgr: &Path,
    lab: &Lab,
    object: &Path,
    report: &mut Report,
    aliases: usize,
    rounds: usize,
) -> Result<()> {
    let config = lab.dir.join("nft-baseline.toml");
    std::fs::write(
        &config,
        format!("{QUIET_SETTINGS}{}", super::many_aliases(aliases)),
    )?;
    alias_mgr_run(alias_mgr, lab, &config, &["apply"])?;
    // The copies alone: alias-mgr's own attachment would be in every side.
    alias_mgr_run(alias_mgr, lab, &config, &["counters", "detach", "eth1"])?;
    peer_reaches_aliases()?;
    nft_set(lab, aliases)?;
    let _server = iperf3_server(TARGET)?;
    let (mut bpf, mut nft, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(10) {
        let mut pps = [0.0; 3];
        for step in 0..3 {
            let side = (round + step) % 3;
            pps[side] = measure(lab, object, side)?;
        }
        let cost = |side: usize| (1.0 / pps[side] - 1.0 / pps[0]) * 1e9 / K as f64;
        bpf.push(cost(1));
        nft.push(cost(2));
        ratios.push(cost(1) / cost(2));
    }
    in_ns(&["nft", "delete", "table", "netdev", "ambench"])?;
    std::fs::write(&config, "# empty\n")?;
    alias_mgr_run(alias_mgr, lab, &config, &["apply"])?;
    let ratio = Summary::of(&ratios);
    let (lo, hi) = bootstrap_median_95(&ratios);
    report.line("");
    report.line(format!(
        "### Against nftables accounting: {aliases} addresses, each side x{K}, iperf3 UDP 64-byte, {} rounds",
        ratios.len()
    ));
    report.table(
        &[
            "alias-mgr classifier (ns/packet)",
            "nftables set match (ns/packet)",
            "ratio",
            "95% interval",
        ],
        &[vec![
            Summary::of(&bpf).show(1),
            Summary::of(&nft).show(1),
            ratio.show(2),
            format!("{lo:.2}-{hi:.2}"),
        ]],
    );
    report.line("");
    report.line(format!(
        "Goal: alias-mgr cheaper than nftables (ratio under 1): {:.2}, {}.",
        ratio.median,
        if hi < 1.0 {
            "met"
        } else if lo > 1.0 {
            "NOT met"
        } else {
            "not shown: the interval spans 1"
        }
    ));
    Ok(())
}
