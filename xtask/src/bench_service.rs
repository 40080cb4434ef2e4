//! `cargo xtask bench --service`: the daemon's service edges at N aliases.
//! - scrape time with 500 idle connections and a slow-loris client open,
//!   against plain scrapes of the same daemon (paired, per round);
//! - the body's size plain and gzipped;
//! - healing: an owned alias deleted with `ip addr del` until it is back,
//!   both moments timestamped by `ip -ts monitor address` (an observer
//!   outside alias-mgr).
//!
//! Scrapes are made from a thread that entered the bench namespace, over a
//! raw TCP socket, so no client start-up is in the figures.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::fd::AsRawFd,
    path::Path,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    bench::{alias_mgr_command, alias_mgr_run, in_ns, lab, many_aliases, median, Lab, LISTEN, NS},
    netns::Process,
};

/// Runs `f` on a thread inside the bench namespace; sockets it makes stay
/// there.
fn in_bench_ns<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T> {
    thread::scope(|scope| {
        scope
            .spawn(|| -> Result<T> {
                let target = File::open(format!("/run/netns/{NS}"))?;
                // SAFETY: setns on a namespace fd we hold; this thread only,
                // and the thread ends with the scope.
                if unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    bail!("setns: {}", std::io::Error::last_os_error());
                }
                Ok(f())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the bench thread panicked"))?
    })
}

/// One HTTP/1.0 GET /metrics: (milliseconds, body bytes on the wire).
fn scrape(address: SocketAddr, gzip: bool) -> Result<(f64, usize)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let encoding = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nHost: bench\r\n{encoding}\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    if !raw.starts_with(b"HTTP/1.") || !raw.windows(6).any(|w| w == b" 200 O") {
        bail!(
            "scrape: {}",
            String::from_utf8_lossy(&raw[..raw.len().min(80)])
        );
    }
    let body = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| raw.len() - i - 4);
    Ok((took, body))
}

fn scrapes(address: SocketAddr, count: usize) -> Result<f64> {
    let mut times = Vec::new();
    for _ in 0..count {
        times.push(scrape(address, false)?.0);
    }
    Ok(median(&mut times))
}

/// Median scrape time with 500 idle connections and a slow loris open.
fn scrapes_under_siege(address: SocketAddr, count: usize) -> Result<f64> {
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect_timeout(&address, Duration::from_secs(5)))
        .collect::<Result<_, _>>()?;
    let mut loris = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    loris.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")?;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let result = thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if loris.write_all(b"X-Slow: 1\r\n").is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
            }
        });
        thread::sleep(Duration::from_millis(200));
        let result = scrapes(address, count);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    drop(idle);
    result
}

/// `[2026-12-02T02:50:01.123456]` at the start of an `ip -ts monitor` line.
fn monitor_seconds(line: &str) -> Option<f64> {
    let stamp = line.strip_prefix('[')?.split(']').next()?;
    let time = stamp.split('T').nth(1)?;
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// Deletes an owned alias `runs` times; the median time until it is back.
fn healing(runs: usize) -> Result<(f64, f64, f64)> {
    let mut monitor = Process(
        std::process::Command::new("nsenter")
            .arg(format!("--net=/run/netns/{NS}"))
            .args(["ip", "-ts", "monitor", "address"])
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut lines = BufReader::new(monitor.0.stdout.take().context("monitor stdout")?).lines();
    thread::sleep(Duration::from_millis(300));
    let mut times = Vec::new();
    for _ in 0..runs {
        in_ns(&["ip", "addr", "del", "10.100.0.1/32", "dev", "eth1"])?;
        let mut deleted = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let line = lines.next().context("ip monitor ended")??;
            if !line.contains("10.100.0.1/32") {
                continue;
            }
            let at = monitor_seconds(&line).context("no timestamp")?;
            match deleted {
                None if line.contains("Deleted") => deleted = Some(at),
                Some(gone) if !line.contains("Deleted") => {
                    times.push((at - gone) * 1000.0);
                    break;
                }
                _ => {}
            }
        }
        // A quiet spell, so each deletion is a fresh one.
        thread::sleep(Duration::from_secs(1));
    }
    if times.len() < runs {
        bail!(
            "only {} of {runs} deletions were healed within 10 s",
            times.len()
        );
    }
    let (min, max) = (
        times.iter().cloned().fold(f64::MAX, f64::min),
        times.iter().cloned().fold(0.0, f64::max),
    );
    Ok((median(&mut times), min, max))
}

pub fn run(alias_mgr: &Path, aliases: usize, rounds: usize) -> Result<()> {
    let lab: Lab = lab()?;
    let config = lab.dir.join("alias-mgr.toml");
    std::fs::write(&config, many_aliases(aliases.max(1)))?;
    alias_mgr_run(alias_mgr, &lab, &config, &["apply"])?;
    let _daemon = Process(
        alias_mgr_command(alias_mgr, &lab, &config, &["daemon", "--listen", LISTEN])
            .stderr(Stdio::null())
            .spawn()?,
    );
    let address: SocketAddr = LISTEN.parse()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while in_bench_ns(|| scrape(address, false))?.is_err() {
        if Instant::now() > deadline {
            bail!("the daemon did not serve /metrics within 120 s");
        }
        thread::sleep(Duration::from_millis(200));
    }
    println!("xtask: bench --service: {aliases} aliases, {rounds} rounds of 9 scrapes each");
    let (mut plain, mut siege) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(in_bench_ns(|| scrapes(address, 9))??);
        siege.push(in_bench_ns(|| scrapes_under_siege(address, 9))??);
    }
    let (_, identity) = in_bench_ns(|| scrape(address, false))??;
    let (_, zipped) = in_bench_ns(|| scrape(address, true))??;
    let (heal, heal_min, heal_max) = healing(9)?;
    let (plain, siege) = (median(&mut plain), median(&mut siege));
    println!();
    println!("| measure | value | baseline | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| scrape with 500 idle connections + a slow loris open (ms) | {siege:.2} | {plain:.2} (none open) | {:.2}x |",
        siege / plain
    );
    println!(
        "| /metrics body, gzip (KiB) | {:.1} | {:.1} (identity) | {:.3}x |",
        zipped as f64 / 1024.0,
        identity as f64 / 1024.0,
        zipped as f64 / identity as f64
    );
    println!(
        "| `ip addr del` of an owned alias until it is back (ms, median of 9) | {heal:.1} | min {heal_min:.1}, max {heal_max:.1} | |"
    );
    println!();
    println!(
        "targets: scrape under siege under 100 ms: {siege:.1} ms -> {}; healing under 50 ms: {heal:.1} ms -> {}",
        if siege < 100.0 { "met" } else { "NOT met" },
        if heal < 50.0 { "met" } else { "NOT met" }
    );
    Ok(())
}
