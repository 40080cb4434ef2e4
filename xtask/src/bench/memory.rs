//! The daemon's memory (steady, at start, while applying everything itself,
//! while serving scrapes) and its scrapes (curl, plain and gzip), at N
//! aliases against 0.

use std::{
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    alias_mgr_command, alias_mgr_run, in_ns, many_aliases, median, report::Report, stats::Summary,
    Lab, LISTEN,
};
use crate::netns::Process;

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory(pid: u32) -> Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name}"))?;
        let kib: f64 = line.split_whitespace().nth(1).context("value")?.parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// One scrape with curl, as its own clock has it (the request to the last
/// byte, no process start): seconds and bytes received (compressed ones
/// with `gzip`).
fn scrape(gzip: bool) -> Result<(f64, usize)> {
    let url = format!("http://{LISTEN}/metrics");
    let mut args = vec![
        "curl",
        "-sf",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{size_download}",
    ];
    if gzip {
        args.push("--compressed");
    }
    args.push(&url);
    let out = in_ns(&args)?;
    let mut fields = out.split_whitespace();
    let seconds: f64 = fields.next().context("time_total")?.parse()?;
    let bytes: usize = fields.next().context("size_download")?.parse()?;
    Ok((seconds, bytes))
}

/// One column of the results table, read from a sample.
type Measure = fn(&Sample) -> f64;

struct Sample {
    apply: f64,
    rss: f64,
    hwm: f64,
    /// Peak while serving the scrapes only (VmHWM reset once it is up).
    hwm_scraping: f64,
    /// Peak of a daemon that starts with nothing applied (the boot case).
    hwm_applying: f64,
    scrape_ms: f64,
    scrape_bytes: usize,
    gzip_ms: f64,
    gzip_bytes: usize,
}

/// One round at `aliases` aliases: apply from scratch, then the daemon.
fn round(alias_mgr: &Path, lab: &Lab, aliases: usize, rounds: usize) -> Result<Sample> {
    let config = lab.dir.join("alias-mgr.toml");
    std::fs::write(&config, many_aliases(aliases))?;
    let run = |args: &[&str]| alias_mgr_run(alias_mgr, lab, &config, args);
    let apply = run(&["apply"])?.as_secs_f64();
    let serving = daemon_memory(alias_mgr, lab, &config, rounds)?;
    // The boot case: the daemon itself applies all of them.
    let full = std::fs::read(&config)?;
    std::fs::write(&config, "# empty\n")?;
    run(&["apply"])?;
    std::fs::write(&config, full)?;
    let hwm_applying = daemon_memory(alias_mgr, lab, &config, 1)?.hwm;
    // Back to nothing for the next round.
    std::fs::write(&config, "# empty\n")?;
    run(&["apply"])?;
    Ok(Sample {
        apply,
        rss: serving.rss,
        hwm: serving.hwm,
        hwm_scraping: serving.hwm_scraping,
        hwm_applying,
        scrape_ms: serving.scrape_ms,
        scrape_bytes: serving.scrape_bytes,
        gzip_ms: serving.gzip_ms,
        gzip_bytes: serving.gzip_bytes,
    })
}

/// A daemon's memory (MiB) and scrapes, as [`daemon_memory`] reads them.
struct Serving {
    rss: f64,
    hwm: f64,
    hwm_scraping: f64,
    scrape_ms: f64,
    scrape_bytes: usize,
    gzip_ms: f64,
    gzip_bytes: usize,
}

/// Starts the daemon, scrapes it `rounds` times, and returns its memory
/// (current, peak since start, peak while scraping), the median scrape
/// time (ms) and the body size.
fn daemon_memory(alias_mgr: &Path, lab: &Lab, config: &Path, rounds: usize) -> Result<Serving> {
    // READY=1 comes once the first reconcile is done: waiting for it
    // (rather than polling /metrics) keeps scrapes out of the start's peak.
    let socket_path = lab.dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let notify = std::os::unix::net::UnixDatagram::bind(&socket_path)?;
    notify.set_read_timeout(Some(Duration::from_millis(200)))?;
    let daemon = Process(
        alias_mgr_command(alias_mgr, lab, config, &["daemon", "--listen", LISTEN])
            .env("NOTIFY_SOCKET", &socket_path)
            .stderr(Stdio::null())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut buf = [0u8; 512];
    loop {
        if let Ok(n) = notify.recv(&mut buf) {
            if String::from_utf8_lossy(&buf[..n]).contains("READY=1") {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("the daemon was not ready within 120 s");
        }
    }
    // nsenter execs the daemon: the child's pid is the daemon's.
    let pid = daemon.id();
    let (_, hwm) = memory(pid)?;
    // proc(5) clear_refs: 5 resets the peak, so what follows is the scrapes'.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    let (mut times, mut gzip_times) = (Vec::new(), Vec::new());
    let (mut bytes, mut gzip_bytes) = (0, 0);
    for _ in 0..rounds {
        let (took, size) = scrape(false)?;
        times.push(took * 1000.0);
        bytes = size;
        let (took, size) = scrape(true)?;
        gzip_times.push(took * 1000.0);
        gzip_bytes = size;
    }
    let (rss, hwm_scraping) = memory(pid)?;
    drop(daemon);
    Ok(Serving {
        rss,
        hwm: hwm.max(hwm_scraping),
        hwm_scraping,
        scrape_ms: median(&mut times),
        scrape_bytes: bytes,
        gzip_ms: median(&mut gzip_times),
        gzip_bytes,
    })
}

pub(super) fn run(
    alias_mgr: &Path,
    lab: &Lab,
    report: &mut Report,
    aliases: usize,
    rounds: usize,
) -> Result<()> {
    let (mut baseline, mut loaded) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        baseline.push(round(alias_mgr, lab, 0, 5)?);
        loaded.push(round(alias_mgr, lab, aliases, 5)?);
        println!("xtask: bench: memory round {} of {rounds} done", r + 1);
        // Mass deletes leave the kernel busy for a moment.
        thread::sleep(Duration::from_secs(2));
    }
    let column =
        |samples: &[Sample], f: Measure| Summary::of(&samples.iter().map(f).collect::<Vec<_>>());
    let rows: [(&str, Measure); 9] = [
        (
            "`alias-mgr apply` from scratch, default settings (s)",
            |s| s.apply,
        ),
        ("daemon resident memory after 5 scrapes (MiB)", |s| s.rss),
        (
            "daemon peak resident memory since start, VmHWM (MiB)",
            |s| s.hwm,
        ),
        (
            "peak while serving the scrapes, VmHWM reset after start (MiB)",
            |s| s.hwm_scraping,
        ),
        (
            "peak when the daemon applies them all itself, as at boot (MiB)",
            |s| s.hwm_applying,
        ),
        ("scrape of /metrics, curl time_total (ms)", |s| s.scrape_ms),
        ("/metrics size (KiB)", |s| s.scrape_bytes as f64 / 1024.0),
        ("scrape with gzip (ms)", |s| s.gzip_ms),
        ("/metrics gzip size (KiB)", |s| s.gzip_bytes as f64 / 1024.0),
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, f)| {
            let (base, load) = (column(&baseline, *f), column(&loaded, *f));
            vec![name.to_string(), base.show(2), load.show(2)]
        })
        .collect();
    report.line("");
    report.line(format!("### The daemon at {aliases} aliases"));
    report.table(
        &["measure", "0 aliases", &format!("{aliases} aliases")],
        &table,
    );
    let at = |f: Measure| column(&loaded, f).median;
    let (hwm, applying, scraping) = (
        at(|s| s.hwm.max(s.hwm_applying)),
        at(|s| s.hwm_applying),
        at(|s| s.hwm_scraping),
    );
    let scrape_ms = at(|s| s.scrape_ms);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    report.line("");
    report.line(format!(
        "Targets at {aliases} aliases (MB = 10^6 bytes): RSS under 40 MB: peak {hwm:.1} MiB, {}; \
         applying them itself under 25 MB: {applying:.1} MiB, {}; serving scrapes under 20 MB: \
         {scraping:.1} MiB, {}; a scrape under 50 ms: {scrape_ms:.1} ms, {}.",
        verdict(hwm * 1.048_576 < 40.0),
        verdict(applying * 1.048_576 < 25.0),
        verdict(scraping * 1.048_576 < 20.0),
        verdict(scrape_ms < 50.0),
    ));
    Ok(())
}
