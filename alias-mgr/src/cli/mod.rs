//! The command line: parsing (clap) and one function per command. Each
//! command is a short reconcile: read the config, observe, plan, apply.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write as _},
    net::IpAddr,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use ipnet::IpNet;
use serde::Serialize;

use crate::{
    config::ConfigFile,
    core::model::{
        check_alias_address, classful_prefix, validate_label, validate_label_for, AliasSpec,
        DadState, RouteSpec,
    },
    core::names::split_label,
    core::parse::{self, AddressError},
    core::plan::{Desired, Plan, Scope},
    core::zones,
    import::{self, ImportFormat},
    kernel::Kernel,
    lock::lock,
    sys::bpf::{LinkLayer, PinDir},
    sys::nft,
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
        /// Only this interface.
        interface: Option<String>,
        /// An array of objects, one per address, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show what `apply` would change; changes nothing.
    Plan {
        /// The actions, conflicts, pending items and notes as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make the kernel match the config, then verify it does.
    Apply {
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
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
        /// Seconds between safety-net reconciles (0: none; netlink events
        /// and SIGHUP still trigger them).
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        reconcile_interval: u64,
    },
}

impl Command {
    /// Commands that change nothing on the system.
    fn only_reads(&self) -> bool {
        match self {
            Command::List { .. } | Command::Plan { .. } | Command::Zones { .. } => true,
            // Not `apply --dry-run`: it feeds nft through a pipe, where a
            // SIGPIPE must not end it silently.
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
    let cli = Cli::parse();
    if cli.command.only_reads() {
        // `alias-mgr list | head` ends quietly, as other tools do; commands
        // that change the system keep going when their output goes away.
        // SAFETY: restoring the default disposition of a signal.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("alias-mgr: error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("alias-mgr: error: {err:#}");
            ExitCode::FAILURE
        }
    }
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
            runtime,
        } => {
            let address = with_ifconfig_netmask(address, &ifconfig_words)?;
            let request = AddRequest {
                interface,
                address,
                label,
                zone,
                routes,
                runtime,
            };
            add(&cli.config, pins, request).await
        }
        Command::Del {
            interface,
            address,
            runtime,
        } => del(&cli.config, pins, &interface, address.as_deref(), runtime).await,
        Command::List { interface, json } => {
            list(&cli.config, pins, interface.as_deref(), json).await
        }
        Command::Plan { json } => plan_command(&cli.config, pins, json).await,
        Command::Apply { dry_run } => apply_command(&cli.config, pins, dry_run).await,
        Command::Import {
            format,
            file,
            write,
        } => import_command(&cli.config, &format, &file, write),
        Command::Zones { json } => zones_command(&cli.config, json),
        Command::Counters(command) => counters_command(pins, command).await,
        Command::Daemon {
            listen,
            reconcile_interval,
        } => {
            crate::daemon::run(crate::daemon::Options {
                config: cli.config,
                pins,
                listen,
                reconcile_interval: (reconcile_interval > 0)
                    .then(|| std::time::Duration::from_secs(reconcile_interval)),
            })
            .await
        }
    }
}

fn desired<'a>(file: &'a ConfigFile, aliases: &'a [AliasSpec]) -> Desired<'a> {
    Desired {
        aliases,
        manage_promote_secondaries: file.config().settings.promote_secondaries,
        zones: &file.config().zones,
        runtime: &[],
        keep_runtime: false,
        keep_counting: &[],
        counters: file.config().settings.counters,
    }
}

fn print_plan(plan: &Plan) {
    for note in &plan.notes {
        println!("note: {note}");
    }
    for pending in &plan.pending {
        println!("pending: {pending}");
    }
    for action in &plan.actions {
        println!("{action}");
    }
    for change in &plan.zone_changes {
        println!("{change}");
    }
}

struct AddRequest {
    interface: String,
    address: String,
    label: Option<String>,
    zone: Option<String>,
    routes: Vec<RouteSpec>,
    runtime: bool,
}

/// ADDR, ADDR/PREFIX or (IPv4) ADDR/NETMASK; the prefix is None when omitted.
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

async fn add(config: &Path, pins: PinDir, mut request: AddRequest) -> Result<()> {
    if let (interface, Some(label)) = split_label(&request.interface) {
        if request.label.as_deref().is_some_and(|given| given != label) {
            bail!(
                "{} names label {label} but --label says {}; give one of them",
                request.interface,
                request.label.as_deref().unwrap_or_default()
            );
        }
        request.label = Some(label.to_string());
        request.interface = interface.to_string();
    }
    let _lock = lock(config)?;
    let mut file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    // One observation serves the checks below and the plan.
    let observed = kernel.observe([request.interface.as_str()]).await?;
    let Some(iface) = observed
        .interfaces
        .iter()
        .find(|i| i.name == request.interface)
    else {
        bail!(
            "interface {} does not exist; check the name with `ip link`",
            request.interface
        );
    };
    let live = &observed.addresses;

    let (ip, prefix) = parse_address(&request.address)?;
    // What no prefix can make an alias (multicast, loopback...), before one
    // is guessed for it.
    let host_prefix = if ip.is_ipv4() { 32 } else { 128 };
    let checked_prefix = prefix.filter(|p| *p <= host_prefix).unwrap_or(host_prefix);
    check_alias_address(&IpNet::new(ip, checked_prefix).expect("prefix in range"))
        .map_err(|e| anyhow!(e))?;
    let prefix = match prefix {
        Some(prefix) => prefix,
        None => {
            let covering = live
                .iter()
                .filter(|a| a.ifindex == iface.index && a.address.contains(&ip))
                .max_by_key(|a| a.address.prefix_len());
            match (covering, classful_prefix(ip)) {
                // A service address on lo: a classful /8 there would make
                // the whole network local to this host.
                (None, _) if iface.name == "lo" => {
                    println!("note: no prefix given; using /{host_prefix} (a host address: on lo a wider prefix makes the whole subnet local)");
                    host_prefix
                }
                (Some(subnet), _) => {
                    println!(
                        "note: no prefix given; using /{} of {}'s subnet {}",
                        subnet.address.prefix_len(),
                        iface.name,
                        subnet.address.trunc()
                    );
                    subnet.address.prefix_len()
                }
                (None, Some(classful)) => {
                    let why = if ip.is_ipv4() {
                        "the classful default, as ifconfig"
                    } else {
                        "the standard IPv6 subnet size"
                    };
                    println!("note: no prefix given; using /{classful} ({why})");
                    classful
                }
                (None, None) => {
                    bail!("{ip} has no classful default prefix; give one, e.g. {ip}/24")
                }
            }
        }
    };
    let address =
        IpNet::new(ip, prefix).map_err(|_| anyhow!("invalid prefix length /{prefix} for {ip}"))?;
    check_alias_address(&address).map_err(|e| anyhow!(e))?;

    // A --runtime alias made permanent: recorded as it is, not re-added.
    let mut adopted: Option<&crate::core::model::LiveAddress> = None;
    if let Some(existing) = live.iter().find(|a| a.address.addr() == ip) {
        let runtime_here =
            existing.runtime() && existing.ifindex == iface.index && !request.runtime;
        if runtime_here && existing.address.prefix_len() == address.prefix_len() {
            adopted = Some(existing);
        } else if runtime_here {
            bail!(
                "{} is on {} for now (--runtime) with another prefix; to keep it as {address}, `alias-mgr del {} {ip} --runtime` first",
                existing.address, existing.interface, existing.interface
            );
        } else if existing.owned() {
            bail!(
                "{} is already on {} (added by alias-mgr); see `alias-mgr list`, or `alias-mgr del {} {}` first",
                existing.address, existing.interface, existing.interface, ip
            );
        } else {
            bail!(
                "{} is already on {} and is not managed by alias-mgr; remove it with `ip addr del {} dev {}` first",
                existing.address, existing.interface, existing.address, existing.interface
            );
        }
    }
    if let Some(entry) = file.config().aliases.iter().find(|a| a.ip() == ip) {
        bail!(
            "{ip} is already declared in {} (on {}); run `alias-mgr apply` to create it, or `alias-mgr del {} {ip}`",
            file.path().display(),
            entry.interface,
            entry.interface
        );
    }

    let label = match (adopted, request.label) {
        // IPv4: the kernel's label is the alias's; IPv6 labels live in the file only.
        (Some(existing), Some(label)) if ip.is_ipv4() && existing.label.as_deref() != Some(&label) => bail!(
            "{ip} is on {} for now (--runtime) labelled {}; keep that label (omit --label) or `alias-mgr del {} {ip} --runtime` first",
            iface.name,
            existing.label.as_deref().unwrap_or(&iface.name),
            iface.name
        ),
        (Some(existing), _) if ip.is_ipv4() => existing.label.clone(),
        (_, request_label) => match request_label {
            Some(label) => {
                validate_label_for(&label, &iface.name).map_err(|e| anyhow!(e))?;
                let taken =
                    live.iter()
                        .any(|a| a.ifindex == iface.index && a.label.as_deref() == Some(&label))
                        || file.config().aliases.iter().any(|a| {
                            a.interface == iface.name && a.label.as_deref() == Some(&label)
                        });
                if taken {
                    bail!(
                        "label {label} is already used on {}; pick another or omit --label",
                        iface.name
                    );
                }
                Some(label)
            }
            None => next_free_label(&iface.name, live, file.config().aliases.as_slice()),
        },
    };
    for route in &request.routes {
        if route.gateway.is_some_and(|gw| gw.is_ipv4() != ip.is_ipv4())
            || route.destination.addr().is_ipv4() != ip.is_ipv4()
        {
            bail!("route {route} is not of the same IP version as {address}");
        }
        if route.gateway == Some(ip) {
            bail!("route {route} goes via {ip}, the alias itself; give the gateway of that network (a router on {}), or omit @GATEWAY for a route straight onto the link", address.trunc());
        }
    }
    let alias = AliasSpec {
        interface: iface.name.clone(),
        address,
        label,
        zone: request.zone,
        routes: request.routes,
    };
    // Validates zone names, duplicates and the rest before any change.
    let before = file.config().aliases.clone();
    file.add_alias(&alias)?;
    let mut aliases = before;
    aliases.push(alias.clone());
    let runtime = [ip];
    let desired = Desired {
        runtime: if request.runtime { &runtime } else { &[] },
        ..desired(&file, &aliases)
    };
    let plan = kernel.plan_observed(&desired, &observed, Scope::Alias(ip))?;
    print_plan(&plan);
    kernel.apply(&desired, Scope::Alias(ip), &plan).await?;
    if !request.runtime {
        if let Err(err) = file.save() {
            let undo: Vec<_> = plan.actions.iter().rev().map(|a| a.inverse()).collect();
            let rollback = kernel.execute(&undo).await;
            return Err(anyhow::Error::new(err).context(match rollback {
                Ok(()) => "saving the config failed; the live change was rolled back".to_string(),
                Err(e) => format!("saving the config failed and rolling back also failed ({e:#})"),
            }));
        }
    }
    // The kernel's mark follows: a later removal from the file must read as
    // "no longer wanted", not as a deliberate --runtime alias.
    if let Some(existing) = adopted {
        if let Err(err) = kernel
            .remark_address(existing, crate::core::model::OWNER_PROTO)
            .await
        {
            eprintln!("alias-mgr: warning: {err:#}; the kernel still marks {ip} as --runtime");
        }
    }
    let where_ = if request.runtime {
        "live only, --runtime".to_string()
    } else {
        format!("saved in {}", config.display())
    };
    println!(
        "{} {} on {}{} ({where_})",
        if adopted.is_some() {
            "kept (no longer --runtime)"
        } else {
            "added"
        },
        alias.address,
        alias.interface,
        alias
            .label
            .as_deref()
            .map(|l| format!(" as {l}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The first `IFACE:N` not used live or in the config; None when even
/// `IFACE:0` would not fit the kernel's 15 bytes (the kernel then shows the
/// interface name as the label).
fn next_free_label(
    interface: &str,
    live: &[crate::core::model::LiveAddress],
    aliases: &[AliasSpec],
) -> Option<String> {
    (0..)
        .map(|n| format!("{interface}:{n}"))
        .take(10_000)
        .find(|candidate| {
            !live
                .iter()
                .any(|a| a.interface == interface && a.label.as_deref() == Some(candidate))
                && !aliases
                    .iter()
                    .any(|a| a.interface == interface && a.label.as_deref() == Some(candidate))
        })
        .filter(|label| validate_label(label).is_ok())
}

async fn del(
    config: &Path,
    pins: PinDir,
    target: &str,
    address: Option<&str>,
    runtime: bool,
) -> Result<()> {
    let (interface, label) = split_label(target);
    let parsed = address.map(parse_address).transpose()?;
    let _lock = lock(config)?;
    let mut file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let observed = kernel.observe([interface]).await?;
    let (interfaces, live) = (&observed.interfaces, &observed.addresses);
    // The live label (IPv4) or the config's (both families).
    let labelled = |label: &str| {
        live.iter()
            .find(|a| a.interface == interface && a.label.as_deref() == Some(label))
            .map(|a| a.address.addr())
            .or_else(|| {
                file.config()
                    .aliases
                    .iter()
                    .find(|a| a.interface == interface && a.label.as_deref() == Some(label))
                    .map(|a| a.ip())
            })
    };
    let ip = match (parsed, label) {
        (Some((ip, _)), Some(label)) => match labelled(label) {
            Some(named) if named == ip => ip,
            Some(named) => bail!(
                "{label} is {named}, not {ip}; give the label or the address alone"
            ),
            None => bail!(
                "no alias labelled {label} on {interface}; give the address alone (`alias-mgr del {interface} {ip}`), see `alias-mgr list {interface}`"
            ),
        },
        (Some((ip, _)), None) => ip,
        (None, Some(label)) => match labelled(label) {
            Some(ip) => ip,
            None => bail!(
                "no alias labelled {label} on {interface}; see `alias-mgr list {interface}`"
            ),
        },
        (None, None) => bail!("which address? use `alias-mgr del {interface} ADDR`, or the alias's label alone, e.g. `alias-mgr del {interface}:0`"),
    };
    let live_here = live
        .iter()
        .find(|a| a.interface == interface && a.address.addr() == ip);
    let declared = file
        .config()
        .aliases
        .iter()
        .any(|a| a.interface == interface && a.ip() == ip);
    if let Some(found) = live_here.filter(|a| !a.owned()) {
        bail!(
            "{} on {interface} was not added by alias-mgr, which leaves it alone; remove it with `ip addr del {} dev {interface}`",
            found.address, found.address
        );
    }
    if live_here.is_none() && !declared {
        if !interfaces.iter().any(|i| i.name == interface) && !declared {
            bail!("interface {interface} does not exist and no alias {ip} is declared for it");
        }
        bail!(
            "{ip} is neither on {interface} nor declared for it in {}; see `alias-mgr list`",
            config.display()
        );
    }
    let (removed, aliases): (Vec<AliasSpec>, Vec<AliasSpec>) = file
        .config()
        .aliases
        .iter()
        .cloned()
        .partition(|a| a.interface == interface && a.ip() == ip);
    // Out for now only: the next apply brings it back, with its count.
    let keep_counting = if runtime { removed.as_slice() } else { &[] };
    let desired = Desired {
        keep_counting,
        ..desired(&file, &aliases)
    };
    let plan = kernel.plan_observed(&desired, &observed, Scope::Alias(ip))?;
    print_plan(&plan);
    kernel.apply(&desired, Scope::Alias(ip), &plan).await?;
    if !runtime && declared {
        file.remove_alias(interface, ip);
        if let Err(err) = file.save() {
            let undo: Vec<_> = plan.actions.iter().rev().map(|a| a.inverse()).collect();
            let _ = kernel.execute(&undo).await;
            return Err(anyhow::Error::new(err)
                .context("saving the config failed; the live change was rolled back"));
        }
    }
    println!(
        "removed {ip} from {interface}{}",
        if runtime {
            " (live only, --runtime)"
        } else {
            ""
        }
    );
    Ok(())
}

#[derive(Debug, Serialize)]
struct ListRow {
    interface: String,
    ifindex: u32,
    /// "inet" or "inet6", as `ip -j addr` says.
    family: &'static str,
    address: IpAddr,
    prefix_len: u8,
    label: Option<String>,
    zone: Option<String>,
    owned: bool,
    declared: bool,
    /// Added with --runtime (live only).
    runtime: bool,
    secondary: bool,
    /// IPv6 duplicate address detection: done, tentative or failed.
    dad: DadState,
    /// IFA_PROTO: 161 (0xa1) added by alias-mgr, 162 (0xa2) with --runtime.
    protocol: u8,
    broadcast: Option<IpAddr>,
    mac: Option<String>,
    rx_bytes: Option<u64>,
    rx_packets: Option<u64>,
    tx_bytes: Option<u64>,
    tx_packets: Option<u64>,
}

async fn list(config: &Path, pins: PinDir, interface: Option<&str>, json: bool) -> Result<()> {
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let (interfaces, addresses) = kernel.addresses().await?;
    if let Some(name) = interface {
        if !interfaces.iter().any(|i| i.name == name) {
            bail!("interface {name} does not exist; check the name with `ip link`");
        }
    }
    let counters = match kernel.system().pins().existing_counters() {
        Ok(Some(counters)) => counters.read_all()?,
        Ok(None) => BTreeMap::new(),
        Err(err) => {
            eprintln!("alias-mgr: warning: counters unavailable: {err}");
            BTreeMap::new()
        }
    };
    let mut rows = Vec::new();
    for live in addresses
        .iter()
        .filter(|a| interface.is_none_or(|n| n == a.interface))
    {
        let ip = live.address.addr();
        let entry = file
            .config()
            .aliases
            .iter()
            .find(|a| a.interface == live.interface && a.ip() == ip);
        let count = counters.get(&ip);
        let mac = interfaces
            .iter()
            .find(|i| i.index == live.ifindex)
            .and_then(|i| i.mac.clone());
        rows.push(ListRow {
            interface: live.interface.clone(),
            ifindex: live.ifindex,
            family: if ip.is_ipv4() { "inet" } else { "inet6" },
            address: ip,
            prefix_len: live.address.prefix_len(),
            label: if ip.is_ipv4() {
                live.label.clone()
            } else {
                entry.and_then(|e| e.label.clone())
            },
            zone: entry.and_then(|e| e.zone.clone()),
            owned: live.owned(),
            declared: entry.is_some(),
            runtime: live.runtime(),
            secondary: live.secondary,
            dad: live.dad,
            protocol: live.protocol,
            broadcast: live.broadcast,
            mac,
            rx_bytes: count.map(|c| c.rx_bytes),
            rx_packets: count.map(|c| c.rx_packets),
            tx_bytes: count.map(|c| c.tx_bytes),
            tx_packets: count.map(|c| c.tx_packets),
        });
    }
    // The dump lists IPv4 before IPv6: group each interface's rows together,
    // in interface order, keeping the kernel's order within one.
    rows.sort_by_key(|row| {
        interfaces
            .iter()
            .position(|i| i.name == row.interface)
            .unwrap_or(usize::MAX)
    });
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut out = io::stdout().lock();
    let mut current = None;
    for row in &rows {
        if current != Some(&row.interface) {
            let iface = interfaces.iter().find(|i| i.name == row.interface);
            let state = if iface.is_some_and(|i| i.up) {
                "UP"
            } else {
                "DOWN"
            };
            writeln!(
                out,
                "{}  HWaddr {}  {state}",
                row.interface,
                row.mac.as_deref().unwrap_or("-")
            )?;
            current = Some(&row.interface);
        }
        let family = if row.address.is_ipv4() {
            "inet "
        } else {
            "inet6"
        };
        let owner = match (row.owned, row.declared, row.runtime) {
            (false, ..) => "foreign",
            (true, true, _) => "alias-mgr",
            (true, false, true) => "alias-mgr (runtime)",
            (true, false, false) => "alias-mgr, not in the config",
        };
        let dad = match row.dad {
            DadState::Done => "",
            DadState::Tentative => ", tentative",
            DadState::Failed => ", DAD FAILED: another host has it",
        };
        write!(
            out,
            "  {:<15} {family} {:<28}",
            row.label.as_deref().unwrap_or(&row.interface),
            format!("{}/{}", row.address, row.prefix_len)
        )?;
        if let Some(brd) = row.broadcast {
            write!(out, " brd {brd:<15}")?;
        }
        if let Some(zone) = &row.zone {
            write!(out, " zone {zone}")?;
        }
        write!(
            out,
            " [{owner}{}{dad}]",
            if row.secondary { ", secondary" } else { "" }
        )?;
        match (row.rx_packets, row.rx_bytes, row.tx_packets, row.tx_bytes) {
            (Some(rp), Some(rb), Some(tp), Some(tb)) => writeln!(
                out,
                "\n      RX packets {rp} bytes {rb}  TX packets {tp} bytes {tb}"
            )?,
            _ => writeln!(out)?,
        }
    }
    Ok(())
}

/// What an empty plan means: all done, or all done that can be done now.
fn in_sync_message(config: &Path, plan: &Plan) -> String {
    match plan.pending.len() {
        0 => format!("nothing to do: the kernel matches {}", config.display()),
        waiting => format!(
            "nothing to do now: the kernel matches {} but for the {waiting} pending item(s) above",
            config.display()
        ),
    }
}

/// `plan`, `apply` and the daemon make the kernel match the file, removing
/// what it does not list: a mistyped --config or a deleted file must not
/// read as "manage nothing".
pub(crate) fn require_config(config: &Path) -> Result<()> {
    match fs::metadata(config) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => bail!(
            "config {} does not exist; check --config (or ALIAS_MGR_CONFIG), or create it: `alias-mgr add` writes it, and an empty file means no aliases (apply then removes every alias alias-mgr added)",
            config.display()
        ),
        Err(err) => Err(err).with_context(|| format!("reading config {}", config.display())),
    }
}

async fn plan_command(config: &Path, pins: PinDir, json: bool) -> Result<()> {
    require_config(config)?;
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    let desired = desired(&file, &file.config().aliases);
    let (_, plan) = kernel.plan(&desired, Scope::All).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print_plan(&plan);
        for conflict in &plan.conflicts {
            println!("conflict: {conflict}");
        }
        if plan.is_empty() && plan.conflicts.is_empty() {
            println!("{}", in_sync_message(config, &plan));
        }
    }
    if !plan.conflicts.is_empty() {
        bail!(
            "apply would refuse to run: {} conflict(s) listed above; resolve them first",
            plan.conflicts.len()
        );
    }
    Ok(())
}

/// The table `apply` would load, as nft text; the JSON batch when nft
/// cannot render it (e.g. no permission to make a network namespace).
fn print_zone_ruleset(file: &ConfigFile, batch: &serde_json::Value) {
    let config = file.config();
    let text = zones::render(&config.zones, &config.aliases).map(|ruleset| {
        nft::render_text(&zones::batch(Some(&ruleset), &zones::LiveTable::default()))
    });
    match text {
        Some(Ok(text)) => println!("nft table apply would load (one transaction):\n{text}"),
        None => println!(
            "nft: table {} {} would be deleted",
            zones::FAMILY,
            zones::TABLE
        ),
        Some(Err(err)) => {
            eprintln!("alias-mgr: warning: {err:#}; showing the JSON batch");
            println!(
                "nft batch (one transaction):\n{}",
                serde_json::to_string_pretty(batch).unwrap_or_default()
            );
        }
    }
}

async fn apply_command(config: &Path, pins: PinDir, dry_run: bool) -> Result<()> {
    require_config(config)?;
    let _lock = lock(config)?;
    let file = ConfigFile::load(config)?;
    let kernel = Kernel::new(pins)?;
    if dry_run {
        let desired = desired(&file, &file.config().aliases);
        let (_, plan) = kernel.plan(&desired, Scope::All).await?;
        print_plan(&plan);
        for conflict in &plan.conflicts {
            println!("conflict: {conflict}");
        }
        if let Some(batch) = &plan.zone_batch {
            print_zone_ruleset(&file, batch);
        }
        if plan.is_empty() && plan.conflicts.is_empty() {
            println!("{}", in_sync_message(config, &plan));
        } else {
            println!("dry run: nothing was changed");
        }
        return Ok(());
    }
    let applied = kernel.reconcile(&file).await?;
    print_plan(&applied);
    if applied.is_empty() {
        println!("{}", in_sync_message(config, &applied));
    } else {
        println!(
            "applied {} change(s)",
            applied.actions.len() + applied.zone_changes.len()
        );
    }
    Ok(())
}

/// Whether this network namespace has an interface called `name`.
fn interface_exists(name: &str) -> bool {
    std::ffi::CString::new(name).is_ok_and(|name| {
        // SAFETY: a valid NUL-terminated string; the call only reads it.
        unsafe { libc::if_nametoindex(name.as_ptr()) != 0 }
    })
}

fn import_command(config: &Path, format: &str, path: &Path, write: bool) -> Result<()> {
    let format: ImportFormat = format.parse().map_err(|e| anyhow!("{e}"))?;
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let imported = import::parse(format, &path.display().to_string(), &text)?;
    for warning in &imported.warnings {
        eprintln!("alias-mgr: warning: {warning}");
    }
    // iftab and ifaliases come from Darwin and NetBSD (en0, wm0), and an old
    // /etc/network/interfaces may predate predictable names (eth0 -> enp3s0).
    let unknown: std::collections::BTreeSet<&str> = imported
        .aliases
        .iter()
        .map(|a| a.interface.as_str())
        .filter(|name| !interface_exists(name))
        .collect();
    for name in unknown {
        eprintln!(
            "alias-mgr: warning: there is no interface {name} on this host (see `ip link`); change interface = \"{name}\" to the Linux interface that should carry its aliases before `alias-mgr apply` (until then they are pending)"
        );
    }
    if write {
        let _lock = lock(config)?;
        let created = !config.exists();
        let mut file = ConfigFile::load(config)?;
        let added = file.merge_aliases(&imported.aliases)?;
        file.save()?;
        if created {
            println!(
                "note: created {}; `alias-mgr apply` makes the kernel match it, which removes aliases alias-mgr added that it does not list (`alias-mgr plan` shows what would change)",
                config.display()
            );
        }
        println!(
            "merged {added} alias(es) into {} ({} already there); run `alias-mgr apply` to create them",
            config.display(),
            imported.aliases.len() - added
        );
    } else {
        let mut file = ConfigFile::parse(Path::new("<imported>"), "")?;
        file.merge_aliases(&imported.aliases)?;
        print!("{}", file.render());
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct ZoneRow<'a> {
    name: &'a str,
    subnets: Vec<IpNet>,
    aliases: Vec<String>,
    input: String,
    allow: Vec<String>,
    forward: BTreeMap<&'a str, String>,
    counters: Vec<crate::sys::nft::ZoneCounter>,
}

fn zones_command(config: &Path, json: bool) -> Result<()> {
    require_config(config)?;
    let file = ConfigFile::load(config)?;
    let cfg = file.config();
    let counters = if cfg.zones.is_empty() {
        Vec::new()
    } else {
        crate::sys::nft::zone_counters()?
    };
    if !cfg.zones.is_empty() && counters.is_empty() {
        eprintln!(
            "alias-mgr: warning: the nftables table {} {} is not loaded, so no zone is enforced (deleted by hand?); run `alias-mgr apply` (the daemon restores it on its own)",
            zones::FAMILY,
            zones::TABLE
        );
    }
    let ruleset = crate::core::zones::render(&cfg.zones, &cfg.aliases);
    let rows: Vec<ZoneRow> = cfg
        .zones
        .iter()
        .map(|zone| ZoneRow {
            name: &zone.name,
            subnets: ruleset
                .as_ref()
                .and_then(|r| r.members.get(&zone.name).cloned())
                .unwrap_or_default(),
            aliases: cfg
                .aliases
                .iter()
                .filter(|a| a.zone.as_deref() == Some(&zone.name))
                .map(|a| format!("{} on {}", a.address, a.interface))
                .collect(),
            input: zone.input.to_string(),
            allow: zone.allow.iter().map(ToString::to_string).collect(),
            forward: zone
                .forward
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_string()))
                .collect(),
            counters: counters
                .iter()
                .filter(|c| c.zone == zone.name)
                .cloned()
                .collect(),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no zones are configured in {}", config.display());
    }
    for row in &rows {
        println!("zone {}", row.name);
        let subnets: Vec<String> = row.subnets.iter().map(ToString::to_string).collect();
        println!(
            "  subnets: {}",
            if subnets.is_empty() {
                "(none)".into()
            } else {
                subnets.join(", ")
            }
        );
        if !row.aliases.is_empty() {
            println!("  aliases: {}", row.aliases.join(", "));
        }
        println!(
            "  to this host: {} (allowed: {})",
            row.input,
            if row.allow.is_empty() {
                "nothing".into()
            } else {
                row.allow.join(", ")
            }
        );
        let forward: Vec<String> = row
            .forward
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  forward: {} (other zones drop, same zone accept; to addresses in no zone alias-mgr does not filter)",
            if forward.is_empty() {
                "-".into()
            } else {
                forward.join(", ")
            }
        );
        for c in &row.counters {
            println!(
                "  {:<7} {:<6} packets {} bytes {}",
                c.direction, c.verdict, c.packets, c.bytes
            );
        }
    }
    Ok(())
}

async fn counters_command(pins: PinDir, command: CountersCommand) -> Result<()> {
    match command {
        CountersCommand::Attach { interface } => {
            let kernel = Kernel::new(pins)?;
            let Some(iface) = kernel.system().interface(&interface).await? else {
                bail!("interface {interface} does not exist; check the name with `ip link`");
            };
            let layer = if iface.ethernet {
                LinkLayer::Ethernet
            } else {
                LinkLayer::RawIp
            };
            let outcome = kernel.system().pins().attach(&interface, layer)?;
            println!("{interface}: {}", format!("{outcome:?}").to_lowercase());
        }
        CountersCommand::Detach { interface } => {
            let detached = pins.detach(&interface)?;
            println!(
                "{interface}: {}",
                if detached {
                    "detached"
                } else {
                    "was not attached"
                }
            );
        }
        CountersCommand::Track { address } => {
            let added = pins.counters()?.track(address)?;
            println!(
                "{address}: {}",
                if added { "tracked" } else { "already tracked" }
            );
        }
        CountersCommand::Untrack { address } => {
            let removed = match pins.existing_counters()? {
                Some(mut counters) => counters.untrack(address)?,
                None => false,
            };
            println!(
                "{address}: {}",
                if removed {
                    "untracked"
                } else {
                    "was not tracked"
                }
            );
        }
        CountersCommand::Show { json } => {
            let all = match pins.existing_counters()? {
                Some(counters) => counters.read_all()?,
                None => BTreeMap::new(),
            };
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|(ip, c)| {
                        serde_json::json!({
                            "address": ip, "rx_packets": c.rx_packets, "rx_bytes": c.rx_bytes,
                            "tx_packets": c.tx_packets, "tx_bytes": c.tx_bytes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for (ip, c) in &all {
                    println!(
                        "{ip:<40} RX packets {} bytes {}  TX packets {} bytes {}",
                        c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes
                    );
                }
            }
        }
    }
    Ok(())
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

    #[test]
    fn next_label_skips_used_ones_and_gives_up_past_15_bytes() {
        let aliases = [AliasSpec {
            interface: "eth1".into(),
            address: "192.168.0.1/24".parse().unwrap(),
            label: Some("eth1:0".into()),
            zone: None,
            routes: vec![],
        }];
        assert_eq!(
            next_free_label("eth1", &[], &aliases).as_deref(),
            Some("eth1:1")
        );
        assert_eq!(next_free_label("enx00e04c680001", &[], &[]), None);
    }
}
