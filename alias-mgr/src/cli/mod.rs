//! The command line: the clap definitions, `main` and the dispatch; one
//! file per command (`add`, `del`, `list`, `check`, `plan`, `apply`, `import`,
//! `zones`, `counters`, `top`; `daemon` runs [`crate::daemon`]), and `common` for
//! what several share. Each command is a short reconcile: read the config,
//! observe, plan, apply. Commands use the kernel, config, import, daemon,
//! core and sys layers, the run lock; nothing below uses the CLI.

mod add;
mod announce;
mod apply;
mod check;
mod common;
mod counters;
mod del;
mod docs;
mod import;
mod list;
mod new_file;
mod output;
mod plan;
mod progress;
mod reset;
mod top;
mod usage;
mod zones;

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use anyhow::{anyhow, bail, Result};
use clap::{Parser, Subcommand};

use self::output::say_warning;
use crate::{
    core::{
        model::RouteSpec,
        parse::{self, AddressError},
    },
    sys::bpf::PinDir,
};

pub const DEFAULT_CONFIG: &str = "/etc/alias-mgr/alias-mgr.toml";
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/alias-mgr";

#[derive(Debug, Parser)]
#[command(
    name = "alias-mgr",
    version,
    about = "Alias addresses, their routes, firewall zones and per-address counters, from one declarative file"
)]
pub struct Cli {
    /// The declarative config file (desired state).
    #[arg(long, global = true, env = "ALIAS_MGR_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// bpffs directory for the counters map and TCX links.
    #[arg(long, global = true, env = "ALIAS_MGR_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add an alias address live and record it in the config.
    Add {
        /// The interface that carries the alias, e.g. eth1; ifconfig's eth1:0
        /// form also names the label.
        interface: String,
        /// ADDR[/PREFIX] (or ADDR/NETMASK for IPv4); without a prefix: the prefix
        /// of the interface's subnet containing ADDR, else the classful default
        /// (as ifconfig).
        address: String,
        /// Label, IFACE or IFACE:SUFFIX (default: the next free IFACE:N); the
        /// kernel keeps IPv4 labels, IPv6 ones live in the config only.
        #[arg(long)]
        label: Option<String>,
        /// Firewall zone the alias's subnet belongs to (a [zone.NAME] table
        /// in the config).
        #[arg(long)]
        zone: Option<String>,
        /// Extra route that comes and goes with the alias: CIDR[@GATEWAY];
        /// repeat for more.
        #[arg(long = "route", value_name = "CIDR[@GATEWAY]")]
        routes: Vec<RouteSpec>,
        /// ifconfig's `netmask MASK`, accepted after the address.
        #[arg(hide = true, num_args = 0..)]
        ifconfig_words: Vec<String>,
        /// Record the entry in this drop-in (a NAME.toml in conf.d next to
        /// the config, created if new) instead of the main file.
        #[arg(long, value_name = "DROP_IN")]
        file: Option<PathBuf>,
        /// Change the live system only; the config file is left as it is.
        #[arg(long)]
        runtime: bool,
    },
    /// Remove an alias, its routes and counters, and its config entry.
    Del {
        /// The interface the alias is on, or the alias's label alone (eth1:0).
        interface: String,
        /// The alias's address (a prefix may be given; it is ignored); may be
        /// left out when the first argument is a label.
        address: Option<String>,
        /// Change the live system only (the next `apply` restores the alias).
        #[arg(long)]
        runtime: bool,
    },
    /// Every address on the interface(s), with per-address counters.
    List {
        /// Only this interface (eth1), or only this label (eth1:0).
        interface: Option<String>,
        /// An array of objects, one per address, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Validate a config file; changes nothing.
    ///
    /// Every rule the loader applies and, where the host can be read,
    /// conflicts with it (what `apply` would refuse), as FILE:LINE:COLUMN
    /// diagnostics. For config management's validate hooks: Ansible's
    /// `validate: 'alias-mgr check --config %s'`, Puppet's `validate_cmd`.
    /// Exit status: 0 valid, 1 invalid, 2 usage error.
    Check {
        /// The findings as JSON: {file, valid, host_checked, drop_ins,
        /// diagnostics}.
        #[arg(long)]
        json: bool,
        /// Merge the drop-ins of this directory instead of the conf.d next
        /// to the file: a candidate checked in a temporary place against
        /// the real ones (`--drop-ins /etc/alias-mgr/conf.d`).
        #[arg(long, value_name = "DIR")]
        drop_ins: Option<PathBuf>,
    },
    /// Print a shell completion script: `alias-mgr completions bash >
    /// /etc/bash_completion.d/alias-mgr` (zsh: a `_alias-mgr` file on
    /// $fpath; fish: ~/.config/fish/completions/alias-mgr.fish).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (alias-mgr(8), one per command, and
    /// alias-mgr.toml(5)) into DIR; for packaging.
    #[command(hide = true)]
    Man {
        /// Where the pages go (created if missing).
        dir: PathBuf,
    },
    /// Show what `apply` would change; changes nothing.
    Plan {
        /// The actions, conflicts, pending items and notes as JSON.
        #[arg(long)]
        json: bool,
        /// Show what `apply --adopt` would take over.
        #[arg(long)]
        adopt: bool,
    },
    /// Make the kernel match the config, then verify it does.
    Apply {
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// Take over live addresses and routes that someone else added
        /// (ifupdown, a script, by hand) and that are exactly as the
        /// config declares them, in place: they are never down.
        #[arg(long)]
        adopt: bool,
    },
    /// Announce alias-mgr's addresses on the LAN: gratuitous ARP (IPv4)
    /// and unsolicited neighbour advertisements (IPv6), so peers and
    /// switches update stale entries (after a NIC swap, a failover).
    Announce {
        /// Interfaces or addresses to announce (default: all of alias-mgr's).
        targets: Vec<String>,
        /// How many rounds (default: `[settings] announce_count`).
        #[arg(long)]
        count: Option<u32>,
        /// Milliseconds between rounds (default: `[settings] announce_interval_ms`).
        #[arg(long)]
        interval: Option<u32>,
        /// Milliseconds to wait before the first round.
        #[arg(long, default_value_t = 0, hide = true)]
        after: u32,
    },
    /// Remove everything alias-mgr owns on this host (its addresses and
    /// routes, its nftables table, the classifier and its pins) and
    /// nothing else; the config file stays, so `apply` brings it back.
    Reset {
        /// Remove it; without this, only show what would be removed.
        #[arg(long)]
        yes: bool,
    },
    /// Convert legacy alias configuration into alias-mgr config.
    Import {
        /// ifupdown (/etc/network/interfaces), iftab (Darwin's /etc/iftab) or
        /// ifaliases (NetBSD's /etc/ifaliases).
        #[arg(value_parser = ["ifupdown", "iftab", "ifaliases"])]
        format: String,
        /// The file to read.
        file: PathBuf,
        /// Merge the result into the config file instead of printing it
        /// (all or nothing: an entry that clashes with the file changes nothing).
        #[arg(long)]
        write: bool,
    },
    /// Traffic per alias address as bit and packet rates, busiest first,
    /// read from the counters map (no daemon needed).
    ///
    /// On a terminal: a full-screen view refreshed every interval, with the
    /// last minute of each address, the zones' accept/drop rates and what is
    /// wrong (keys: q quit, s/S sort, r reverse, i interface, z zone, c clear
    /// filters, p pause, arrows scroll). --once prints one table of two reads
    /// `--interval` apart, --json the same as JSON; --plain, a pipe or
    /// TERM=dumb get a table every interval. NO_COLOR turns colour off.
    Top {
        /// Only this interface's addresses.
        interface: Option<String>,
        /// One table, then exit.
        #[arg(long)]
        once: bool,
        /// One measurement as JSON (an array, busiest first), then exit.
        #[arg(long)]
        json: bool,
        /// A plain table every interval instead of the full-screen view.
        #[arg(long, conflicts_with_all = ["once", "json"])]
        plain: bool,
        /// How long each measurement lasts: 1s, 500ms, 2.
        #[arg(long, default_value = "1s", value_parser = top::parse_interval)]
        interval: std::time::Duration,
    },
    /// Firewall zones: members, policies and accept/drop counters.
    Zones {
        /// The zones, members, policies and counters as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Low-level access to the classifier and its counters.
    #[command(subcommand)]
    Counters(CountersCommand),
    /// Serve Prometheus metrics and keep the kernel matching the config:
    /// re-applies within a second when an owned alias is changed by hand.
    Daemon {
        /// Where /metrics is served.
        #[arg(long, value_name = "ADDR:PORT", default_value = crate::daemon::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// TLS, client certificates and basic auth for /metrics: the YAML
        /// web config of node_exporter and Prometheus (exporter-toolkit),
        /// re-read when it or its certificates change.
        #[arg(long = "web.config.file", value_name = "FILE")]
        web_config: Option<std::path::PathBuf>,
        /// Seconds between safety-net reconciles (0: none; netlink events
        /// and SIGHUP still trigger them).
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        reconcile_interval: u64,
    },
}

impl Command {
    /// Commands that change nothing on the system: their output is their
    /// result, so output that cannot be written fails them.
    fn only_reads(&self) -> bool {
        match self {
            Command::List { .. }
            | Command::Check { .. }
            | Command::Top { .. }
            | Command::Completions { .. }
            | Command::Plan { .. }
            | Command::Zones { .. } => true,
            Command::Apply { dry_run, .. } => *dry_run,
            Command::Import { write, .. } => !write,
            Command::Counters(CountersCommand::Show { .. }) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CountersCommand {
    /// Attach the classifier to an interface (TCX ingress and egress).
    Attach {
        /// The interface, e.g. eth1.
        interface: String,
    },
    /// Detach the classifier from an interface.
    Detach {
        /// The interface, e.g. eth1.
        interface: String,
    },
    /// Start counting an address.
    Track {
        /// The address (no prefix), e.g. 192.168.0.1.
        address: IpAddr,
    },
    /// Stop counting an address and forget its counts.
    Untrack {
        /// The address (no prefix), e.g. 192.168.0.1.
        address: IpAddr,
    },
    /// Print every tracked address's counters.
    Show {
        /// An array of objects, one per address.
        #[arg(long)]
        json: bool,
    },
}

/// Parses the arguments, runs the command, prints any error on one line
/// (`alias-mgr: error: what: why: fix`) and returns the exit status.
pub fn main() -> ExitCode {
    crate::logging::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage::refuse(err),
    };
    // SIGPIPE stays ignored (Rust's default): a reader that goes away ends
    // the printing (see `output`), never a command half-way.
    let only_reads = cli.command.only_reads();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            output::error_line(format_args!(
                "alias-mgr: error: starting the async runtime: {err}"
            ));
            return ExitCode::FAILURE;
        }
    };
    let mut status = match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            output::error_line(format_args!("alias-mgr: error: {err:#}"));
            ExitCode::FAILURE
        }
    };
    if let Some(why) = output::lost() {
        if only_reads {
            // What it printed was all it did.
            output::error_line(format_args!(
                "alias-mgr: error: writing to stdout failed: {why}"
            ));
            status = ExitCode::FAILURE;
        } else {
            say_warning!(
                "writing to stdout failed ({why}); printing stopped there, the command ran on"
            );
        }
    }
    status
}

pub async fn run(cli: Cli) -> Result<()> {
    let pins = PinDir::new(&cli.pin_dir);
    match cli.command {
        Command::Add {
            interface,
            address,
            label,
            zone,
            routes,
            ifconfig_words,
            file,
            runtime,
        } => {
            let address = with_ifconfig_netmask(address, &ifconfig_words)?;
            let request = add::AddRequest {
                interface,
                address,
                label,
                zone,
                routes,
                file,
                runtime,
            };
            add::add(&cli.config, pins, request).await
        }
        Command::Del {
            interface,
            address,
            runtime,
        } => del::del(&cli.config, pins, &interface, address.as_deref(), runtime).await,
        Command::List { interface, json } => {
            list::list(&cli.config, pins, interface.as_deref(), json).await
        }
        Command::Check { json, drop_ins } => {
            check::check_command(&cli.config, drop_ins.as_deref(), pins, json).await
        }
        Command::Completions { shell } => docs::print_completions(shell),
        Command::Man { dir } => docs::write_man_pages(&dir),
        Command::Plan { json, adopt } => plan::plan_command(&cli.config, pins, json, adopt).await,
        Command::Apply { dry_run, adopt } => {
            apply::apply_command(&cli.config, pins, dry_run, adopt).await
        }
        Command::Announce {
            targets,
            count,
            interval,
            after,
        } => {
            let train = announce::Train {
                count,
                interval_ms: interval,
                after_ms: after,
            };
            announce::announce_command(&cli.config, pins, &targets, train).await
        }
        Command::Reset { yes } => reset::reset_command(&cli.config, pins, yes).await,
        Command::Import {
            format,
            file,
            write,
        } => import::import_command(&cli.config, pins, &format, &file, write).await,
        Command::Zones { json } => zones::zones_command(&cli.config, json),
        Command::Top {
            interface,
            once,
            json,
            plain,
            interval,
        } => {
            let request = top::TopRequest {
                interface,
                once,
                json,
                plain,
                interval,
            };
            top::top_command(&cli.config, pins, request).await
        }
        Command::Counters(command) => counters::counters_command(pins, command).await,
        Command::Daemon {
            listen,
            web_config,
            reconcile_interval,
        } => {
            crate::daemon::run(crate::daemon::Options {
                config: cli.config,
                pins,
                listen,
                web_config,
                reconcile_interval: (reconcile_interval > 0)
                    .then(|| std::time::Duration::from_secs(reconcile_interval)),
            })
            .await
        }
    }
}

/// An address with an optional `/PREFIX` or dotted `/NETMASK`, as `add`
/// takes it, through the one parser the file and importers share.
fn parse_address(text: &str) -> Result<(IpAddr, Option<u8>)> {
    parse::parse_address(text).map_err(|err| match err {
        AddressError::NotAnAddress(message) => {
            anyhow!("{message}; write it as 192.168.0.1, 192.168.0.1/24 or 2001:db8::1/64")
        }
        AddressError::Prefix(message) => anyhow!("address {text:?}: {message}"),
    })
}

/// `ADDR netmask MASK [up]`, as ifconfig takes it, into `ADDR/MASK`.
fn with_ifconfig_netmask(address: String, words: &[String]) -> Result<String> {
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "up")
        .collect();
    match words.as_slice() {
        [] => Ok(address),
        ["netmask", mask] if !address.contains('/') => Ok(format!("{address}/{mask}")),
        _ => bail!(
            "unexpected {:?} after the address; give the prefix as {address}/24 or {address}/255.255.255.0",
            words.join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_prefix() {
        assert_eq!(
            parse_address("192.168.0.1").unwrap(),
            ("192.168.0.1".parse().unwrap(), None)
        );
        assert_eq!(
            parse_address("192.168.0.1/24").unwrap(),
            ("192.168.0.1".parse().unwrap(), Some(24))
        );
        let err = parse_address("192.168.0.1/33").unwrap_err().to_string();
        assert!(err.contains("/33"), "{err}");
        assert!(parse_address("eth1").is_err());
    }

    #[test]
    fn dotted_netmasks_are_prefixes_when_contiguous() {
        assert_eq!(
            parse_address("192.168.0.1/255.255.255.0").unwrap(),
            ("192.168.0.1".parse().unwrap(), Some(24))
        );
        assert_eq!(
            parse_address("10.1.2.3/255.255.255.255").unwrap().1,
            Some(32)
        );
        assert_eq!(parse_address("10.1.2.3/0.0.0.0").unwrap().1, Some(0));
        assert_eq!(parse_address("10.1.2.3/255.255.240.0").unwrap().1, Some(20));
        let err = parse_address("10.1.2.3/255.0.255.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not contiguous"), "{err}");
        // A dotted mask is IPv4 only.
        assert!(parse_address("2001:db8::1/255.255.255.0").is_err());
    }

    #[test]
    fn ifconfigs_netmask_words_become_a_prefix() {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_ifconfig_netmask(
                "192.168.0.1".into(),
                &words(&["netmask", "255.255.255.0", "up"])
            )
            .unwrap(),
            "192.168.0.1/255.255.255.0"
        );
        assert_eq!(
            with_ifconfig_netmask("192.168.0.1/24".into(), &[]).unwrap(),
            "192.168.0.1/24"
        );
        assert!(
            with_ifconfig_netmask("192.168.0.1/24".into(), &words(&["netmask", "255.0.0.0"]))
                .is_err()
        );
        assert!(with_ifconfig_netmask("192.168.0.1".into(), &words(&["broadcast", "x"])).is_err());
    }
}
