//! Project automation: `cargo xtask setup|build|test|demo|bench|deb|install`.
//!
//! Every command first runs `setup`, which installs what a fresh machine of
//! this image lacks (Debian packages, bpf-linker, the rustup link to Debian's
//! rustc 1.96 that builds the eBPF side) and skips what is already there.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

mod bench;
mod bench_service;
mod deb;
mod demo;
mod netns;
mod setup;

use setup::setup;

#[derive(Parser)]
#[command(about = "alias-mgr build, test and demo automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install everything missing (idempotent).
    Setup,
    /// Set up, then build the workspace (release).
    Build,
    /// Set up, then run the whole test suite (needs root: tests use network namespaces).
    Test {
        /// Extra arguments for `cargo test` after `--` (e.g. a test name filter).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run the demo in throwaway network namespaces.
    Demo,
    /// Benchmarks: daemon memory and scrape time, apply time, at N aliases vs 0.
    Bench {
        #[arg(long, default_value_t = 10_000)]
        aliases: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Only the daemon's service edges: scrapes against idle and slow
        /// clients, gzip, healing latency.
        #[arg(long)]
        service: bool,
        /// One part of the main benchmark only (control, memory,
        /// classifier, throughput, nft); printed, BENCHMARKS.md left as it is.
        #[arg(long)]
        only: Option<String>,
    },
    /// (For `bench` itself.) Loads benchmark programs in this namespace and
    /// holds them: copies of a program attached, or one pinned.
    #[command(hide = true)]
    BenchPrograms {
        #[arg(long)]
        object: PathBuf,
        #[arg(long)]
        pins: PathBuf,
        #[arg(long)]
        iface: String,
        #[arg(long)]
        program: String,
        #[arg(long, default_value_t = 1)]
        copies: usize,
        #[arg(long)]
        pin: Option<PathBuf>,
    },
    /// Build (release) the Debian package into DIR, check its contents and
    /// unpack it into a scratch root, and run lintian on it.
    Deb {
        /// Where the .deb goes.
        #[arg(long, default_value = "target/debian")]
        out: PathBuf,
    },
    /// Build (release) and install the binary, systemd units and config directory.
    Install {
        /// Stage under this directory instead of / (for packaging).
        #[arg(long)]
        destdir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Setup => setup(),
        Task::Build => setup().and_then(|()| cargo(&["build", "--release", "--workspace"])),
        Task::Test { args } => setup().and_then(|()| test(&args)),
        Task::Demo => setup()
            .and_then(|()| cargo(&["build", "--release", "-p", "alias-mgr"]))
            .and_then(|()| demo::run(&workspace_root().join("target/release/alias-mgr"))),
        Task::Bench {
            aliases,
            rounds,
            service,
            only,
        } => setup()
            .and_then(|()| cargo(&["build", "--release", "-p", "alias-mgr"]))
            .and_then(|()| {
                let binary = workspace_root().join("target/release/alias-mgr");
                match service {
                    true => bench_service::run(&binary, aliases, rounds),
                    false => bench::run(&binary, aliases, rounds, only.as_deref()),
                }
            }),
        Task::BenchPrograms {
            object,
            pins,
            iface,
            program,
            copies,
            pin,
        } => bench::programs::serve(&object, &pins, &iface, &program, copies, pin.as_deref()),
        Task::Deb { out } => setup()
            .and_then(|()| cargo(&["build", "--release", "-p", "alias-mgr"]))
            .and_then(|()| package(&workspace_root().join(out))),
        Task::Install { destdir } => setup()
            .and_then(|()| cargo(&["build", "--release", "-p", "alias-mgr"]))
            .and_then(|()| install(destdir.as_deref())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn step(message: &str) {
    println!("xtask: {message}");
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Where `cargo install` puts bpf-linker: cargo's own bin directory.
fn cargo_bin_dir() -> PathBuf {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cargo")
        });
    home.join("bin")
}

/// PATH with cargo's bin directory first, for bpf-linker.
fn path_with_cargo_bin() -> OsString {
    let mut paths = vec![cargo_bin_dir()];
    if let Some(path) = env::var_os("PATH") {
        paths.extend(env::split_paths(&path));
    }
    env::join_paths(paths).expect("PATH entries have no separator")
}

fn cargo(args: &[&str]) -> Result<()> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .env("PATH", path_with_cargo_bin()))
}

/// Installs what a server needs. With `destdir`, only stages the files.
fn install(destdir: Option<&Path>) -> Result<()> {
    let root = destdir.unwrap_or(Path::new("/"));
    let place = |from: &Path, to: &str, mode: u32| -> Result<()> {
        let target = root.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().expect("absolute target"))?;
        std::fs::copy(from, &target).with_context(|| format!("installing {}", target.display()))?;
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        step(&format!("installed {}", target.display()));
        Ok(())
    };
    let repo = workspace_root();
    place(
        &repo.join("target/release/alias-mgr"),
        "/usr/local/sbin/alias-mgr",
        0o755,
    )?;
    let mut units = Vec::new();
    for entry in std::fs::read_dir(repo.join("deploy"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "service") {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            place(&path, &format!("/etc/systemd/system/{name}"), 0o644)?;
            units.push(name);
        }
    }
    place(
        &repo.join("README.md"),
        "/usr/local/share/doc/alias-mgr/README.md",
        0o644,
    )?;
    let config_dir = root.join("etc/alias-mgr");
    std::fs::create_dir_all(&config_dir)?;
    let config = config_dir.join("alias-mgr.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            "# alias-mgr desired state: see `alias-mgr --help` and the README.\n",
        )?;
        step(&format!("created {}", config.display()));
    }
    if destdir.is_none() && Path::new("/run/systemd/system").is_dir() {
        run(Command::new("systemctl").arg("daemon-reload"))?;
        run(Command::new("systemctl").args(["enable", "alias-mgr-apply.service"]))?;
        step("enabled alias-mgr-apply.service (applies the config at boot)");
    } else if destdir.is_none() {
        step(&format!(
            "systemd is not running: enable {} yourself",
            units.join(", ")
        ));
    }
    Ok(())
}

fn test(extra: &[String]) -> Result<()> {
    step("checking formatting");
    cargo(&["fmt", "--all", "--", "--check"])
        .context("code is not formatted: run `cargo fmt --all`")?;
    step("clippy");
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    step("unit and integration tests (integration tests run as root in their own network namespaces)");
    let mut args = vec!["test", "--workspace"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    let (passed, failed) = cargo_test(&args)?;
    if !extra.is_empty() {
        println!("tests: {passed} passed, {failed} failed");
        return Ok(());
    }
    step("install step, staged into a temporary directory");
    cargo(&["build", "--release", "-p", "alias-mgr"])?;
    let stage = env::temp_dir().join(format!("alias-mgr-install-{}", std::process::id()));
    let staged = install(Some(&stage)).and_then(|()| {
        let binary = stage.join("usr/local/sbin/alias-mgr");
        run(Command::new(&binary).arg("--version"))?;
        for file in [
            "etc/systemd/system/alias-mgr-apply.service",
            "etc/systemd/system/alias-mgr.service",
            "etc/alias-mgr/alias-mgr.toml",
        ] {
            if !stage.join(file).is_file() {
                bail!("install did not stage {file}");
            }
        }
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&stage);
    staged?;
    step("the Debian package: built, checked, unpacked into a scratch root, lintian");
    let out = env::temp_dir().join(format!("alias-mgr-deb-out-{}", std::process::id()));
    let packaged = package(&out);
    let _ = std::fs::remove_dir_all(&out);
    packaged?;
    // One closing line for the whole suite (cargo prints one per test binary).
    println!("tests: {passed} passed, {failed} failed");
    Ok(())
}

/// Builds the package into `out`, checks it and runs lintian (errors fail;
/// warnings are printed).
fn package(out: &Path) -> Result<()> {
    let deb = deb::build(out)?;
    deb::inspect(&deb)?;
    run(Command::new("lintian")
        .args(["--fail-on", "error", "--suppress-tags"])
        .arg(deb::ACCEPTED_LINTIAN_TAGS.join(","))
        .arg(&deb))?;
    step("lintian: no errors");
    Ok(())
}

/// Runs `cargo test`, passing its output through, and adds up the
/// `test result:` lines of every test binary.
fn cargo_test(args: &[&str]) -> Result<(u64, u64)> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(args)
        .current_dir(workspace_root())
        .env("PATH", path_with_cargo_bin())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test's stdout")?;
    let (mut passed, mut failed) = (0, 0);
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
        let line = line.context("reading cargo test's output")?;
        println!("{line}");
        if let Some(result) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                result
                    .split(&[';', '.'][..])
                    .find_map(|part| part.trim().strip_suffix(word)?.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count("passed");
            failed += count("failed");
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() {
        println!("tests: {passed} passed, {failed} failed");
        bail!("cargo test failed with {status}");
    }
    Ok((passed, failed))
}
