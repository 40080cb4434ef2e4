//! The benchmark's own BPF programs, loaded from alias-mgr's classifier
//! object: copies of a program chained on one TCX hook, or the do-nothing
//! program pinned for BPF_PROG_TEST_RUN. The loader runs as the hidden
//! `xtask bench-programs` inside the bench namespace (attaching looks the
//! interface up there) and holds its links until it is stopped.

use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};
use aya::{
    programs::{SchedClassifier, TcAttachType},
    EbpfLoader,
};

use super::{Lab, NS};
use crate::netns::Process;

/// The classifier object alias-mgr's release build embedded (its build
/// script leaves it in OUT_DIR): the newest one.
pub(crate) fn object(root: &Path) -> Result<PathBuf> {
    let build = root.join("target/release/build");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&build)
        .with_context(|| format!("reading {}", build.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path().join("out/alias-ebpf");
            Some((path.metadata().ok()?.modified().ok()?, path))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, path)) => Ok(path),
        None => bail!(
            "no alias-ebpf object under {}: build alias-mgr in release first",
            build.display()
        ),
    }
}

/// The loader's side: `copies` of `program` attached to `iface` ingress
/// (sharing the pinned counters map of `pins`), or with `pin` the program
/// pinned there; then "ready" on stdout, and the links held until killed.
pub(crate) fn serve(
    object: &Path,
    pins: &Path,
    iface: &str,
    program: &str,
    copies: usize,
    pin: Option<&Path>,
) -> Result<()> {
    let bytes = std::fs::read(object).with_context(|| format!("reading {}", object.display()))?;
    let mut held = Vec::new();
    for _ in 0..copies.max(1) {
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(pins)
            .load(&bytes)
            .context("loading the classifier object")?;
        let classifier: &mut SchedClassifier = ebpf
            .program_mut(program)
            .with_context(|| format!("no program {program}"))?
            .try_into()?;
        classifier.load()?;
        match pin {
            Some(path) => classifier.pin(path)?,
            // The link belongs to the program, held in `held`.
            None => {
                classifier.attach(iface, TcAttachType::Ingress)?;
            }
        }
        held.push(ebpf);
    }
    println!("ready");
    std::io::stdout().flush()?;
    if pin.is_none() {
        // Until killed: the links go with this process.
        std::io::stdin().read_to_end(&mut Vec::new())?;
        std::thread::park();
    }
    Ok(())
}

/// Starts the loader in the bench namespace; it is stopped on drop.
pub(crate) fn start(
    lab: &Lab,
    object: &Path,
    program: &str,
    copies: usize,
    pin: Option<&Path>,
) -> Result<Process> {
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net=/run/netns/{NS}"))
        .arg(std::env::current_exe()?)
        .arg("bench-programs")
        .arg("--object")
        .arg(object)
        .arg("--pins")
        .arg(&lab.pins)
        .args(["--iface", "eth1", "--program", program, "--copies"])
        .arg(copies.to_string());
    if let Some(path) = pin {
        command.arg("--pin").arg(path);
    }
    let mut child = Process(
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().context("loader stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.trim() != "ready" {
        bail!("loading {copies} x {program} failed");
    }
    Ok(child)
}
