//! The classifier's cost per packet: in the kernel with BPF_PROG_TEST_RUN
//! against a do-nothing program of the same object (same run, same CPU),
//! with N keys in the map; under real traffic spread over 250 keys against
//! 1 (bpf_stats); and end to end, iperf3 with against without it.

use std::{net::IpAddr, path::Path, thread, time::Duration};

use anyhow::{bail, Context, Result};

use super::{
    alias_mgr_run, in_ns, iperf3_server, many_aliases, peer_reaches_aliases, programs,
    report::Report,
    stats::{bootstrap_median_95, Summary},
    Lab, PEER, QUIET_SETTINGS,
};
use crate::netns::{self, sh};

/// Test runs per measurement: about 0.1 s each.
const REPEAT: &str = "2000000";

/// Restores `kernel.bpf_stats_enabled` on drop.
pub(super) struct BpfStats(String);

impl BpfStats {
    pub(super) fn enable() -> Result<Self> {
        let path = "/proc/sys/kernel/bpf_stats_enabled";
        let before = std::fs::read_to_string(path)?.trim().to_string();
        std::fs::write(path, "1")?;
        Ok(Self(before))
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", &self.0);
    }
}

/// Summed (run_time_ns, run_cnt) of the loaded programs called `name`.
pub(super) fn program_runs(name: &str) -> Result<(u64, u64)> {
    let json: serde_json::Value = serde_json::from_str(&sh(&["bpftool", "-j", "prog", "show"])?)?;
    let mut total = (0, 0);
    for prog in json.as_array().into_iter().flatten() {
        if prog["name"].as_str() == Some(name) {
            total.0 += prog["run_time_ns"].as_u64().unwrap_or(0);
            total.1 += prog["run_cnt"].as_u64().unwrap_or(0);
        }
    }
    Ok(total)
}

/// A 64-byte UDP frame from `src` to `dst`, for the all-zero MAC: a test
/// run takes the frame in on loopback, whose MAC that is (PACKET_HOST).
fn udp_frame(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut frame = vec![0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 2];
    let udp = [0x30, 0x39, 0x00, 0x09, 0, 8, 0, 0];
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            frame.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            frame.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64]);
            frame.extend_from_slice(&src.octets());
            frame.extend_from_slice(&dst.octets());
        }
        _ => unreachable!("one family"),
    }
    frame.extend_from_slice(&udp);
    frame.resize(frame.len().max(64), 0);
    frame
}

/// Mean ns per run of a program (`id N` or `pinned PATH`) on `frame`, on
/// CPU 0, as BPF_PROG_TEST_RUN reports it.
fn test_run(program: &[&str], frame: &Path) -> Result<f64> {
    let mut args = vec!["taskset", "-c", "0", "bpftool", "prog", "run"];
    args.extend_from_slice(program);
    let frame = frame.to_str().context("frame path")?;
    args.extend(["data_in", frame, "repeat", REPEAT]);
    let out = sh(&args)?;
    let after = out
        .split("duration (average): ")
        .nth(1)
        .with_context(|| format!("no duration in {out:?}"))?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    Ok(digits.parse()?)
}

/// The program behind the pinned ingress link of eth1.
fn ingress_program(lab: &Lab) -> Result<String> {
    let link = lab.pins.join("links/ingress/eth1");
    let info: serde_json::Value = serde_json::from_str(&sh(&[
        "bpftool",
        "-j",
        "link",
        "show",
        "pinned",
        link.to_str().context("pin path")?,
    ])?)?;
    Ok(info["prog_id"].as_u64().context("prog_id")?.to_string())
}

/// `aliases` IPv4 aliases and one IPv6, counted, probes and announcements
/// off (they are not what is measured here).
fn tracked_config(lab: &Lab, aliases: usize) -> Result<std::path::PathBuf> {
    let config = lab.dir.join("data-plane.toml");
    let text = format!(
        "{QUIET_SETTINGS}[[alias]]\ninterface = \"eth1\"\naddress = \"2001:db8::1/128\"\n\n{}",
        many_aliases(aliases)
    );
    std::fs::write(&config, text)?;
    Ok(config)
}

/// BPF_PROG_TEST_RUN: the classifier's ingress program against
/// `bench_nothing`, round by round, for hits, a miss and a non-IP frame.
fn in_kernel(
    lab: &Lab,
    object: &Path,
    report: &mut Report,
    aliases: usize,
    rounds: usize,
) -> Result<()> {
    let program = ingress_program(lab)?;
    let nothing = lab.pins.join("bench_nothing");
    programs::start(lab, object, "bench_nothing", 1, Some(&nothing))?;
    let peer4: IpAddr = "10.99.0.2".parse()?;
    let peer6: IpAddr = "2001:db8::2".parse()?;
    let cases = [
        ("IPv4 hit", udp_frame(peer4, "10.100.0.1".parse()?)),
        ("IPv6 hit", udp_frame(peer6, "2001:db8::1".parse()?)),
        ("IPv4 miss", udp_frame(peer4, "10.99.99.99".parse()?)),
        ("not IP (ARP)", {
            let mut frame = udp_frame(peer4, peer4);
            frame[12..14].copy_from_slice(&[0x08, 0x06]);
            frame
        }),
    ];
    let mut paths = Vec::new();
    for (n, (_, frame)) in cases.iter().enumerate() {
        let path = lab.dir.join(format!("frame{n}"));
        std::fs::write(&path, frame)?;
        paths.push(path);
    }
    let nothing_arg = nothing.to_str().context("pin path")?.to_string();
    let (mut base, mut costs) = (Vec::new(), vec![Vec::new(); cases.len()]);
    let mut extra = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        let zero = test_run(&["pinned", &nothing_arg], &paths[0])?;
        base.push(zero);
        for (n, path) in paths.iter().enumerate() {
            let ns = test_run(&["id", &program], path)?;
            costs[n].push(ns);
            extra[n].push(ns - zero);
        }
    }
    std::fs::remove_file(&nothing)?;
    let mut rows = vec![vec![
        "do-nothing program (baseline)".to_string(),
        Summary::of(&base).show(0),
        String::new(),
    ]];
    for (n, (name, _)) in cases.iter().enumerate() {
        rows.push(vec![
            format!("classifier, {name}"),
            Summary::of(&costs[n]).show(0),
            Summary::of(&extra[n]).show(0),
        ]);
    }
    report.line("");
    report.line(format!(
        "### The classifier in the kernel: BPF_PROG_TEST_RUN, 64-byte frames, {} keys, {REPEAT} runs a figure",
        aliases + 1
    ));
    report.table(
        &["program, frame", "ns per run", "over do-nothing (ns)"],
        &rows,
    );
    let worst = Summary::of(&extra[0])
        .median
        .max(Summary::of(&extra[1]).median);
    report.line("");
    report.line(format!(
        "Target: at most 20 ns over the do-nothing program for IPv4 and IPv6 hits: {worst:.0} ns, {}.",
        if worst <= 20.0 { "met" } else { "NOT met" }
    ));
    Ok(())
}

/// UDP from the peer, 64-byte frames, round-robin over `keys` tracked
/// addresses (10.100.0.1 on): the ingress program's ns per run.
fn spread_cost(keys: usize) -> Result<f64> {
    let sender = "import socket,sys\nn,count=int(sys.argv[1]),int(sys.argv[2])\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nd=[('10.100.%d.%d'%(i//250,i%250+1),9) for i in range(n)]\np=b'x'*22\nfor i in range(count): s.sendto(p,d[i%n])\n";
    let keys = keys.to_string();
    let send = |count: &str| netns::in_ns(PEER, &["python3", "-c", sender, &keys, count]).map(drop);
    // The peer's neighbour entries first, so every measured frame is UDP.
    send(&keys)?;
    thread::sleep(Duration::from_millis(300));
    let (time0, runs0) = program_runs("ingress_eth")?;
    send("300000")?;
    let (time1, runs1) = program_runs("ingress_eth")?;
    if runs1 <= runs0 {
        bail!("the classifier did not run");
    }
    Ok((time1 - time0) as f64 / (runs1 - runs0) as f64)
}

fn spread(report: &mut Report, rounds: usize) -> Result<()> {
    peer_reaches_aliases()?;
    let _stats = BpfStats::enable()?;
    let (mut one, mut many, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = spread_cost(1)?;
            (a, spread_cost(250)?)
        } else {
            let b = spread_cost(250)?;
            (spread_cost(1)?, b)
        };
        one.push(a);
        many.push(b);
        ratios.push(b / a);
    }
    let ratio = Summary::of(&ratios);
    let (lo, hi) = bootstrap_median_95(&ratios);
    report.line("");
    report.line(
        "### Traffic spread over keys (bpf_stats, UDP from the peer, 300,000 frames a figure)",
    );
    report.table(
        &[
            "1 key (ns/run)",
            "250 keys (ns/run)",
            "ratio 250/1",
            "95% interval",
        ],
        &[vec![
            Summary::of(&one).show(0),
            Summary::of(&many).show(0),
            ratio.show(2),
            format!("{lo:.2}-{hi:.2}"),
        ]],
    );
    report.line("");
    report.line(format!(
        "Target: 250 keys within 1.2x of 1 key: {:.2}x, {}.",
        ratio.median,
        if ratio.median <= 1.2 {
            "met"
        } else {
            "NOT met"
        }
    ));
    Ok(())
}

/// The classifier's own cost: BPF_PROG_TEST_RUN against the do-nothing
/// program, and real frames spread over 250 keys against 1.
pub(super) fn classifier(
    alias_mgr: &Path,
    lab: &Lab,
    object: &Path,
    report: &mut Report,
    aliases: usize,
    rounds: usize,
) -> Result<()> {
    let config = tracked_config(lab, aliases.max(250))?;
    alias_mgr_run(alias_mgr, lab, &config, &["apply"])?;
    in_kernel(lab, object, report, aliases.max(250), rounds)?;
    spread(report, rounds)?;
    std::fs::write(&config, "# empty\n")?;
    alias_mgr_run(alias_mgr, lab, &config, &["apply"])?;
    println!("xtask: bench: classifier done");
    Ok(())
}

/// End to end: iperf3 with and without the classifier, 30 pairs.
pub(super) fn end_to_end(alias_mgr: &Path, lab: &Lab, report: &mut Report) -> Result<()> {
    throughput(alias_mgr, lab, report, 30)?;
    println!("xtask: bench: throughput done");
    Ok(())
}

/// One iperf3 run from the peer to 192.0.2.1: TCP bit/s, or for `udp`
/// 64-byte datagrams received per second.
fn iperf3(udp: bool) -> Result<f64> {
    iperf3_to("192.0.2.1", udp)
}

/// One iperf3 run from the peer to `target` (see [`iperf3`]).
pub(super) fn iperf3_to(target: &str, udp: bool) -> Result<f64> {
    let mut args = vec![
        "nsenter".to_string(),
        format!("--net=/run/netns/{PEER}"),
        "iperf3".into(),
        "-c".into(),
        target.into(),
        "-t".into(),
        "2".into(),
        "-J".into(),
    ];
    if udp {
        args.extend(["-u", "-b", "0", "-l", "64"].map(String::from));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut report: serde_json::Value = serde_json::from_str(&sh(&args)?)?;
    if report["error"].is_string() {
        // Once more: the server may still be closing the previous test.
        thread::sleep(Duration::from_millis(500));
        report = serde_json::from_str(&sh(&args)?)?;
        if let Some(error) = report["error"].as_str() {
            bail!("iperf3 to {target}: {error}");
        }
    }
    let end = &report["end"];
    let value = if udp {
        let sum = &end["sum"];
        let received = sum["packets"].as_f64().context("packets")?
            - sum["lost_packets"].as_f64().unwrap_or(0.0);
        received / sum["seconds"].as_f64().context("seconds")?
    } else {
        end["sum_received"]["bits_per_second"]
            .as_f64()
            .context("bits_per_second")?
    };
    Ok(value)
}

/// End-to-end cost of the classifier: iperf3 through the host's eth1 with
/// the classifier detached and attached, in `pairs` back-to-back pairs whose
/// order alternates (iperf3 here swings 20-36% run to run and the machine
/// drifts, so only the median of per-pair ratios means anything).
fn throughput(alias_mgr: &Path, lab: &Lab, report: &mut Report, pairs: usize) -> Result<()> {
    let config = lab.dir.join("throughput.toml");
    std::fs::write(&config, "# tracked: 192.0.2.1 only\n")?;
    let manage = |args: &[&str]| alias_mgr_run(alias_mgr, lab, &config, args).map(drop);
    in_ns(&["ip", "addr", "replace", "192.0.2.1/24", "dev", "eth1"])?;
    netns::in_ns(
        PEER,
        &["ip", "addr", "replace", "192.0.2.2/24", "dev", "eth0"],
    )?;
    manage(&["counters", "track", "192.0.2.1"])?;
    let _server = iperf3_server("192.0.2.1")?;
    let mut rows = Vec::new();
    for (name, udp, scale, pairs) in [
        ("TCP, one stream (Gbit/s)", false, 1e9, pairs),
        ("UDP, 64-byte datagrams received (kpps)", true, 1e3, 9),
    ] {
        let (mut off, mut on, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for pair in 0..pairs {
            let measure = |attached: bool| -> Result<f64> {
                manage(&[
                    "counters",
                    if attached { "attach" } else { "detach" },
                    "eth1",
                ])?;
                iperf3(udp)
            };
            let (without, with) = if pair % 2 == 0 {
                let without = measure(false)?;
                (without, measure(true)?)
            } else {
                let with = measure(true)?;
                (measure(false)?, with)
            };
            off.push(without / scale);
            on.push(with / scale);
            ratios.push(with / without);
        }
        let (lo, hi) = bootstrap_median_95(&ratios);
        rows.push(vec![
            format!("{name}, {pairs} pairs"),
            Summary::of(&off).show(2),
            Summary::of(&on).show(2),
            Summary::of(&ratios).show(3),
            format!("{lo:.3}-{hi:.3}"),
        ]);
    }
    report.line("");
    report.line(
        "### End to end: iperf3 from the peer to a tracked alias, 2 s runs, interleaved pairs",
    );
    report.table(
        &[
            "traffic",
            "without classifier",
            "with",
            "ratio with/without",
            "95% interval (bootstrap)",
        ],
        &rows,
    );
    manage(&["counters", "detach", "eth1"])?;
    Ok(())
}
