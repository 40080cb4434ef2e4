//! Documentation generated from the definitions themselves: man pages from
//! the clap commands (clap_mangen) and from the config key reference, shell
//! completions (clap_complete). `cargo xtask deb` puts them in the package.

use std::{fs, io::Write, path::Path};

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::{roff::Roff, Man};

use super::Cli;
use crate::config::reference::{Key, Section, KEYS};

/// The exit status of a command, as its man page says it.
fn exit_status(command: &str) -> &'static [(&'static str, &'static str)] {
    const USAGE: (&str, &str) = (
        "2",
        "a usage error: an unknown option or a missing argument.",
    );
    match command {
        "check" => &[
            ("0", "the file is valid (and, where the host could be read, does not conflict with it)."),
            ("1", "the file is not valid, or apply would refuse it on this host; the diagnostics say where and why."),
            USAGE,
        ],
        "plan" => &[
            ("0", "the plan was shown; apply would run."),
            ("1", "apply would refuse to run (conflicts, listed), or the config or the host could not be read."),
            USAGE,
        ],
        "daemon" => &[
            ("0", "stopped by SIGTERM or SIGINT after a clean shutdown."),
            ("1", "it could not start (the config, the listen address, another daemon holding the lock) or failed."),
            USAGE,
        ],
        _ => &[
            ("0", "success: everything asked for was done (and, for changes, verified)."),
            ("1", "failure, on one line on standard error (alias-mgr: error: what: why: the fix); a change that fails part-way is rolled back, so nothing was changed."),
            USAGE,
        ],
    }
}

/// Writes alias-mgr(8), alias-mgr-COMMAND(8) for every command and
/// alias-mgr.toml(5) into `dir`.
pub(super) fn write_man_pages(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut top = Cli::command();
    // Builds the commands, so each subcommand gets the global options
    // (--config, --pin-dir) on its page.
    top.build();
    write_page(dir, "alias-mgr.8", &top, "")?;
    // clap's own `help` command needs no page.
    for sub in top
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("alias-mgr-{}", sub.get_name());
        let command = sub
            .clone()
            .name(name.clone())
            .display_name(name.clone())
            .bin_name(format!("alias-mgr {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        write_page(dir, &format!("{name}.8"), &command, sub.get_name())?;
    }
    let path = dir.join("alias-mgr.toml.5");
    fs::write(&path, config_page()).with_context(|| format!("writing {}", path.display()))
}

fn write_page(dir: &Path, file: &str, command: &clap::Command, name: &str) -> Result<()> {
    let man = Man::new(command.clone())
        .section("8")
        .manual("System Administration");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if command.has_subcommands() {
        man.render_subcommands_section(&mut out)?;
    }
    let mut status = Roff::new();
    status.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in exit_status(name) {
        status.control("TP", []);
        status.text([clap_mangen::roff::bold(*code)]);
        status.text([clap_mangen::roff::roman(*meaning)]);
    }
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    see_also.text([clap_mangen::roff::roman(
        "alias-mgr.toml(5), alias-mgr(8), ip-address(8), nft(8), bpftool(8)",
    )]);
    status.to_writer(&mut out)?;
    see_also.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    let path = dir.join(file);
    fs::write(&path, out).with_context(|| format!("writing {}", path.display()))
}

/// alias-mgr.toml(5): every key of [`KEYS`], by section.
fn config_page() -> String {
    let mut page = Roff::new();
    page.control(
        "TH",
        [
            "ALIAS-MGR.TOML",
            "5",
            "",
            env!("CARGO_PKG_VERSION"),
            "File Formats",
        ],
    );
    page.control("SH", ["NAME"]);
    page.text([clap_mangen::roff::roman(
        "alias-mgr.toml - alias-mgr's declarative configuration",
    )]);
    page.control("SH", ["DESCRIPTION"]);
    page.text([clap_mangen::roff::roman(
        "One TOML file (default /etc/alias-mgr/alias-mgr.toml) declares the alias addresses, their routes and firewall zones; alias-mgr apply and the daemon make the kernel match it. Drop-in files, conf.d/*.toml next to it, are merged after it in lexical order: each uses table headers only, [settings] and each zone may be in one file only, and a clash across files names both files and lines; add --file records an entry in a drop-in, del edits the file that declares the entry. Every error names the file, line and column; alias-mgr check validates a file without changing anything. Keys not listed here are refused.",
    )]);
    for section in [
        Section::Top,
        Section::Settings,
        Section::Alias,
        Section::Zone,
    ] {
        page.control("SH", [section.heading().to_uppercase().as_str()]);
        for key in KEYS.iter().filter(|k| k.section == section) {
            describe(&mut page, key);
        }
    }
    page.control("SH", ["EXAMPLE"]);
    page.control("nf", []);
    page.text([clap_mangen::roff::roman(EXAMPLE)]);
    page.control("fi", []);
    page.control("SH", ["SEE ALSO"]);
    page.text([clap_mangen::roff::roman("alias-mgr(8), alias-mgr-check(8)")]);
    page.render()
}

fn describe(page: &mut Roff, key: &Key) {
    page.control("TP", []);
    page.text([
        clap_mangen::roff::bold(key.name),
        clap_mangen::roff::roman(format!(" ({}; default: {})", key.kind, key.default)),
    ]);
    page.text([clap_mangen::roff::roman(key.doc)]);
}

const EXAMPLE: &str = r#"[settings]
arp_probe_ms = 200

[[alias]]
interface = "eth1"
address = "192.168.0.1/24"
label = "eth1:0"
zone = "lab"
routes = ["10.9.0.0/16@192.168.0.254"]

[zone.lab]
input = "drop"
allow = ["tcp/22", "icmp"]
forward = { dmz = "accept" }

[zone.dmz]
subnets = ["198.51.100.0/24"]
input = "reject""#;

/// Prints the completion script for `shell`.
pub(super) fn print_completions(shell: Shell) -> Result<()> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "alias-mgr", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing the completions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigFile;

    #[test]
    fn the_example_in_the_config_page_is_a_valid_config() {
        let file = ConfigFile::parse(Path::new("alias-mgr.toml.5"), EXAMPLE).unwrap();
        assert_eq!(file.config().aliases.len(), 1);
        assert_eq!(file.config().zones.len(), 2);
    }

    #[test]
    fn the_config_page_describes_every_key_and_each_command_has_a_page() {
        let page = config_page();
        for key in KEYS {
            assert!(
                page.contains(key.name),
                "{} is not in alias-mgr.toml(5)",
                key.name
            );
        }
        let dir = std::env::temp_dir().join(format!("alias-mgr-man-{}", std::process::id()));
        write_man_pages(&dir).unwrap();
        for page in [
            "alias-mgr.8",
            "alias-mgr-check.8",
            "alias-mgr-apply.8",
            "alias-mgr.toml.5",
        ] {
            let text = fs::read_to_string(dir.join(page)).unwrap();
            assert!(
                text.contains("EXIT STATUS") || page.ends_with(".5"),
                "{page}"
            );
        }
        assert!(
            !dir.join("alias-mgr-man.8").exists(),
            "the hidden command has no page"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
