//! Guards shared by the root integration tests and xtask (demo, bench):
//! network namespaces deleted on drop, background processes stopped on
//! drop, and commands whose failure carries their stderr. Everything a test
//! or the demo creates is removed also when it fails part-way.
//!
//! Namespaces are entered with `nsenter --net` (not `ip netns exec`, which
//! remounts /sys and would hide the bpffs alias-mgr pins its counters on).

use std::{
    fmt,
    process::{Child, Command},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

/// How long a stopped process may take to exit on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A command that could not run or exited non-zero, with what it printed.
#[derive(Debug)]
pub struct Failed {
    command: String,
    detail: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.command, self.detail)
    }
}

impl std::error::Error for Failed {}

/// Runs `command` to its end; its stdout, or why it failed.
pub fn run(command: &mut Command) -> Result<String, Failed> {
    let shown = format!("{command:?}");
    let failed = |detail: String| Failed {
        command: shown.clone(),
        detail,
    };
    let out = command
        .output()
        .map_err(|err| failed(format!("cannot run it: {err}")))?;
    if !out.status.success() {
        let printed = [&out.stdout, &out.stderr]
            .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string())
            .join("\n");
        return Err(failed(format!("{}: {}", out.status, printed.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `args` (program first) in the current namespace.
pub fn sh(args: &[&str]) -> Result<String, Failed> {
    run(Command::new(args[0]).args(&args[1..]))
}

/// A named network namespace (`ip netns`), deleted on drop, with its
/// loopback up.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates namespace `name`, first deleting one of that name left by
    /// an earlier run that was killed.
    pub fn create(name: &str) -> Result<Self, Failed> {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        sh(&["ip", "netns", "add", name])?;
        let ns = Netns { name: name.into() };
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A namespace with a name no other test of this or another run uses:
    /// `am<pid>-<n>-<tag>`.
    pub fn unique(tag: &str) -> Result<Self, Failed> {
        static NEXT_ID: AtomicU32 = AtomicU32::new(0);
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Self::create(&format!("am{}-{n}-{tag}", std::process::id()))
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg(program);
        command
    }

    /// Runs `args` (program first) inside the namespace.
    pub fn run(&self, args: &[&str]) -> Result<String, Failed> {
        run(self.command(args[0]).args(&args[1..]))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A background process (a daemon, a server, a traffic generator): on drop
/// it gets SIGTERM, then SIGKILL if it has not exited after a grace period,
/// and is reaped.
pub struct Process(pub Child);

impl Process {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            match self.0.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(20)),
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
