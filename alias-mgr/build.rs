//! Builds the TC classifier (`alias-ebpf`) for the BPF target with aya-build;
//! `src/bpf.rs` embeds the object. The eBPF side needs Debian's rustc 1.96 with
//! its prebuilt BPF `core` and bpf-linker: `cargo xtask setup` installs them.

use std::{env, path::Path, process::Command};

const SETUP_HINT: &str = "run `cargo xtask setup` (see README.md) to install the eBPF toolchain";
/// The rustup name `cargo xtask setup` links Debian's /usr toolchain under.
const EBPF_TOOLCHAIN: &str = "deb196";

fn main() {
    if let Err(problem) = check_toolchain() {
        // One line, naming what is missing and the command that fixes it.
        eprintln!("alias-mgr: cannot build the eBPF classifier: {problem}; {SETUP_HINT}");
        std::process::exit(1);
    }
    // aya-ebpf needs one unstable feature; allow it for that crate only (a
    // plain RUSTC_BOOTSTRAP=1 would make aya-build ask for -Z build-std).
    env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf");
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let ebpf_dir = Path::new(&manifest_dir).join("../alias-ebpf");
    let ebpf_dir = ebpf_dir.to_str().expect("workspace path is UTF-8");
    let package = aya_build::Package {
        name: "alias-ebpf",
        root_dir: ebpf_dir,
        ..Default::default()
    };
    let toolchain = env::var("ALIAS_MGR_EBPF_TOOLCHAIN").unwrap_or_else(|_| EBPF_TOOLCHAIN.into());
    println!("cargo:rerun-if-env-changed=ALIAS_MGR_EBPF_TOOLCHAIN");
    println!("cargo:rerun-if-env-changed=PATH");
    if let Err(err) = aya_build::build_ebpf([package], aya_build::Toolchain::Custom(&toolchain)) {
        eprintln!("alias-mgr: building the eBPF classifier failed: {err:#}");
        std::process::exit(1);
    }
}

fn check_toolchain() -> Result<(), String> {
    if !Path::new("/usr/lib/rustlib/bpfel-unknown-none").is_dir() {
        return Err("Debian's prebuilt BPF core (libstd-rust-web-dev-bpf) is not installed".into());
    }
    let on_path = |tool: &str| {
        env::var_os("PATH")
            .map(|paths| env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false)
    };
    if !on_path("bpf-linker") {
        return Err("bpf-linker is not on PATH".into());
    }
    if on_path("rustup") {
        let listed = Command::new("rustup")
            .args(["toolchain", "list"])
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).contains(EBPF_TOOLCHAIN))
            .unwrap_or(false);
        if !listed && env::var_os("ALIAS_MGR_EBPF_TOOLCHAIN").is_none() {
            return Err(format!(
                "rustup has no `{EBPF_TOOLCHAIN}` toolchain (Debian's rustc linked)"
            ));
        }
    }
    Ok(())
}
