//! `cargo xtask setup`: installs what a fresh machine of this image lacks,
//! one step each, and skips what is already there.

use std::process::Command;

use anyhow::{bail, Result};

use crate::{cargo_bin_dir, is_root, run, step};

/// Debian packages the build, the tests and the demo need.
const APT_PACKAGES: &[&str] = &[
    // Debian's rustc 1.96 with a prebuilt `core` for the BPF target.
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev",
    "libstd-rust-web-dev-bpf",
    // LLVM 22 for bpf-linker.
    "llvm-22-dev",
    "libpolly-22-dev",
    "zlib1g-dev",
    "libzstd-dev",
    "libxml2-dev",
    // Runtime and test tools.
    "iproute2",
    "nftables",
    "iputils-ping",
    "ethtool",
    "iperf3",
    "bpftool",
    "prometheus",
    "util-linux",
    // The web config tests: bcrypt hashes made by Apache's htpasswd, TLS
    // material by openssl, requests by curl.
    "apache2-utils",
    "openssl",
    "curl",
    // The Debian package's check (`cargo xtask deb`).
    "lintian",
    // `top`'s full-screen view, driven in a real terminal by its test.
    "tmux",
];
const BPF_LINKER_VERSION: &str = "0.13.0";
/// The rustup name alias-mgr's build.rs uses for Debian's /usr toolchain.
const EBPF_TOOLCHAIN: &str = "deb196";

/// Every step, in order; each says what it found or did.
pub fn setup() -> Result<()> {
    if !is_root() {
        bail!(
            "setup installs Debian packages and the tests create network namespaces: run as root"
        );
    }
    apt_packages()?;
    bpf_linker()?;
    ebpf_toolchain()?;
    bpffs()
}

fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|package| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", package])
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        step("apt packages: all present");
        return Ok(());
    }
    step(&format!("apt packages: installing {}", missing.join(" ")));
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn bpf_linker() -> Result<()> {
    let linker = cargo_bin_dir().join("bpf-linker");
    let installed = Command::new(&linker)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains(BPF_LINKER_VERSION))
        .unwrap_or(false);
    if installed {
        step(&format!("bpf-linker {BPF_LINKER_VERSION}: present"));
        return Ok(());
    }
    step(&format!("bpf-linker {BPF_LINKER_VERSION}: building with Debian's cargo and LLVM 22 (about 2 minutes)"));
    let root = cargo_bin_dir()
        .parent()
        .expect("bin has a parent")
        .to_path_buf();
    run(Command::new("/usr/bin/cargo")
        .args([
            "install",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
            "--locked",
        ])
        .args(["--no-default-features", "--features", "llvm-22", "--root"])
        .arg(&root)
        .env("LLVM_PREFIX", "/usr/lib/llvm-22")
        .env_remove("RUSTC")
        .env_remove("CARGO"))
}

fn ebpf_toolchain() -> Result<()> {
    if Command::new("rustup").arg("--version").output().is_err() {
        return Ok(());
    }
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with(EBPF_TOOLCHAIN))
        })
        .unwrap_or(false);
    if listed {
        step(&format!(
            "rustup toolchain {EBPF_TOOLCHAIN} (Debian rustc 1.96): present"
        ));
        return Ok(());
    }
    step(&format!(
        "rustup toolchain {EBPF_TOOLCHAIN}: linking Debian's /usr toolchain"
    ));
    run(Command::new("rustup").args(["toolchain", "link", EBPF_TOOLCHAIN, "/usr"]))
}

/// alias-mgr mounts bpffs itself, but only where the mount outlives it; a
/// job started in a mount namespace of its own (a CI sandbox) would get
/// counters switched off instead. Mounted here, the whole run shares it.
fn bpffs() -> Result<()> {
    let fs_type = Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/bpf"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    if fs_type == "bpf_fs" {
        step("bpffs on /sys/fs/bpf: present");
        return Ok(());
    }
    step("bpffs on /sys/fs/bpf: mounting");
    run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}
