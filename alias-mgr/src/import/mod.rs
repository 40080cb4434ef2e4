//! Converts legacy alias configuration into [`AliasSpec`]s for `alias-mgr
//! import`: Debian ifupdown (`/etc/network/interfaces`), Darwin `/etc/iftab`
//! and NetBSD `/etc/ifaliases`.
//!
//! Pure text in, specs out: the caller reads the file and prints or merges the
//! result, so all of this is testable without a machine to configure. What
//! cannot be carried over (gateways, dynamic methods, unknown hook commands)
//! becomes a warning, because someone migrating wants the rest imported; what
//! is wrong in the file itself is an error naming its line, because guessing
//! there would silently change which addresses the machine answers on.

use std::{
    collections::{hash_map::Entry, HashMap, HashSet},
    fmt,
    net::IpAddr,
    str::FromStr,
};

use ipnet::IpNet;

use crate::core::model::{
    check_alias_address, classful_prefix, validate_label_for, AliasSpec, RouteSpec, MAX_LABEL_LEN,
};

/// The legacy formats `alias-mgr import` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportFormat {
    /// Debian `/etc/network/interfaces`.
    Ifupdown,
    /// Darwin (NeXT heritage) `/etc/iftab`.
    Iftab,
    /// NetBSD `/etc/ifaliases`.
    Ifaliases,
}

impl ImportFormat {
    pub const ALL: [ImportFormat; 3] = [
        ImportFormat::Ifupdown,
        ImportFormat::Iftab,
        ImportFormat::Ifaliases,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImportFormat::Ifupdown => "ifupdown",
            ImportFormat::Iftab => "iftab",
            ImportFormat::Ifaliases => "ifaliases",
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ImportFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| {
                format!("unknown import format {text:?}; expected ifupdown, iftab or ifaliases")
            })
    }
}

/// What a file yielded: the aliases, in file order, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    pub aliases: Vec<AliasSpec>,
    /// One entry per thing skipped or guessed, each starting "line N: ".
    pub warnings: Vec<String>,
}

/// A line the importer refuses, with where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct ImportError {
    pub source_name: String,
    /// 1-based; for a continued line, its first physical line.
    pub line: usize,
    pub message: String,
}

/// Parses `text` as `format`; `source_name` only labels errors.
pub fn parse(format: ImportFormat, source_name: &str, text: &str) -> Result<Imported, ImportError> {
    match format {
        ImportFormat::Ifupdown => parse_ifupdown(source_name, text),
        ImportFormat::Iftab => parse_iftab(source_name, text),
        ImportFormat::Ifaliases => parse_ifaliases(source_name, text),
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Carries the source name so every error can say `FILE:LINE`.
struct Ctx<'a> {
    source_name: &'a str,
}

impl Ctx<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ImportError {
        ImportError {
            source_name: self.source_name.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// Lines after joining `\` continuations and dropping comments, numbered by
/// their first physical line so errors point where the user will look.
///
/// Continuations are joined before comments are removed, as ifupdown and the
/// shell `read` of the BSD rc scripts do.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let raw = raw.trim_end();
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        if let Some(head) = raw.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(raw);
        push_logical(&mut out, start, &joined);
    }
    if let Some((start, joined)) = pending {
        push_logical(&mut out, start, &joined);
    }
    out
}

fn push_logical(out: &mut Vec<(usize, String)>, start: usize, joined: &str) {
    let content = strip_comment(joined).trim();
    if !content.is_empty() {
        out.push((start, content.to_string()));
    }
}

/// A `#` starting a word begins a comment; one inside a word does not.
fn strip_comment(line: &str) -> &str {
    let mut after_space = true;
    for (index, c) in line.char_indices() {
        if c == '#' && after_space {
            return &line[..index];
        }
        after_space = c.is_whitespace();
    }
    line
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// A decimal prefix length up to `max`; no sign, no spaces.
fn parse_length(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|len| *len <= max)
}

/// `ADDRESS` or `ADDRESS/LEN`, keeping the host bits the user wrote.
fn parse_address(text: &str) -> Result<(IpAddr, Option<u8>), String> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len)),
        None => (text, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IP address"))?;
    let prefix = match len {
        None => None,
        Some(len) => Some(parse_length(len, max_prefix(ip)).ok_or_else(|| {
            format!(
                "{text:?} has an invalid prefix length (expected 0 to {})",
                max_prefix(ip)
            )
        })?),
    };
    Ok((ip, prefix))
}

/// Which netmask spellings a format accepts for IPv4; IPv6 is always a length.
#[derive(Clone, Copy)]
struct MaskForms {
    /// `0xffffff00`, as BSD ifconfig takes it.
    hex: bool,
    /// `24`, as ifupdown takes it.
    v4_length: bool,
}

impl MaskForms {
    fn expected(self) -> String {
        let mut forms = vec!["dotted such as 255.255.255.0"];
        if self.hex {
            forms.push("hex such as 0xffffff00");
        }
        if self.v4_length {
            forms.push("a prefix length such as 24");
        }
        forms.join(" or ")
    }
}

/// The prefix length a netmask stands for. Non-contiguous masks are refused:
/// Linux addresses carry a prefix length, not a mask, so they cannot be kept.
fn parse_netmask(text: &str, v6: bool, forms: MaskForms) -> Result<u8, String> {
    if v6 {
        return parse_length(text, 128).ok_or_else(|| {
            format!("netmask {text:?} is not an IPv6 prefix length; expected a number from 0 to 128 such as 64")
        });
    }
    let invalid = || format!("{text:?} is not a netmask; expected {}", forms.expected());
    let bits = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        let well_formed = forms.hex
            && !hex.is_empty()
            && hex.len() <= 8
            && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(invalid());
        }
        u32::from_str_radix(hex, 16).map_err(|_| invalid())?
    } else if text.contains('.') {
        text.parse::<std::net::Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| invalid())?
    } else if forms.v4_length {
        return parse_length(text, 32).ok_or_else(invalid);
    } else {
        return Err(invalid());
    };
    let ones = bits.leading_ones();
    if ones + bits.trailing_zeros() < 32 {
        return Err(format!(
            "netmask {text} is not contiguous; its one bits must come first, as in 255.255.255.0"
        ));
    }
    Ok(ones as u8)
}

/// What ifconfig would have used for an address without a netmask.
fn default_prefix(ip: IpAddr) -> Result<u8, String> {
    classful_prefix(ip).ok_or_else(|| {
        format!("{ip} has no netmask and no classful default (class D/E); add a netmask")
    })
}

/// Records a prefix length from one more source on the line, refusing a
/// contradiction rather than picking one silently.
fn set_prefix(slot: &mut Option<u8>, value: u8, source: &str) -> Result<(), String> {
    match *slot {
        Some(old) if old != value => Err(format!(
            "{source} gives /{value} but the line already gives /{old}; make them agree"
        )),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

fn duplicate_address(ip: IpAddr, first: usize, line: usize) -> String {
    format!(
        "address {ip} is duplicated: it appears on line {first} and line {line}; each address may appear once"
    )
}

/// The aliases of one import as they come, checked against each other the
/// way the config file will check them, so a clash is reported at the input
/// file's lines rather than at a line of the generated config.
#[derive(Default)]
struct Collected {
    aliases: Vec<AliasSpec>,
    /// First line of each address, and which alias it became (None for an
    /// address that is not imported, such as an iftab primary).
    ips: HashMap<IpAddr, (usize, Option<usize>)>,
    /// Interface and label -> the alias using it and the line giving it.
    labels: HashMap<(String, String), (usize, usize)>,
}

impl Collected {
    /// Notes an address that is not imported but that no alias may repeat.
    fn claim(&mut self, ctx: &Ctx<'_>, ip: IpAddr, line: usize) -> Result<(), ImportError> {
        match self.ips.entry(ip) {
            Entry::Occupied(first) => {
                Err(ctx.err(line, duplicate_address(ip, first.get().0, line)))
            }
            Entry::Vacant(slot) => {
                slot.insert((line, None));
                Ok(())
            }
        }
    }

    /// Adds `spec`, found at `address_line` with its label given at
    /// `label_line`; `what` names what gave the label ("stanza", "line").
    ///
    /// The same alias again (address, interface and label) is skipped with a
    /// warning, any routes it adds going to the first; any other reuse of
    /// the address, or of the label on the interface, is an error.
    fn add(
        &mut self,
        ctx: &Ctx<'_>,
        spec: AliasSpec,
        (address_line, label_line): (usize, usize),
        what: &str,
        warnings: &mut Vec<String>,
    ) -> Result<(), ImportError> {
        let ip = spec.ip();
        if let Some(&(first_line, index)) = self.ips.get(&ip) {
            let first = index.map(|index| &mut self.aliases[index]);
            let Some(first) = first.filter(|first| {
                first.interface == spec.interface
                    && first.address == spec.address
                    && first.label == spec.label
            }) else {
                return Err(ctx.err(
                    address_line,
                    duplicate_address(ip, first_line, address_line),
                ));
            };
            let before = first.routes.len();
            for route in spec.routes {
                if !first.routes.contains(&route) {
                    first.routes.push(route);
                }
            }
            let label = spec
                .label
                .as_deref()
                .map(|label| format!(" label {label}"))
                .unwrap_or_default();
            let routes = if first.routes.len() > before {
                " (with the routes of both)"
            } else {
                ""
            };
            warnings.push(format!(
                "line {address_line}: {} on {}{label} repeats line {first_line}; imported once{routes}",
                spec.address, spec.interface
            ));
            return Ok(());
        }
        if let Some(label) = &spec.label {
            match self.labels.entry((spec.interface.clone(), label.clone())) {
                Entry::Occupied(first) => {
                    let (index, first_line) = *first.get();
                    return Err(ctx.err(
                        label_line,
                        format!(
                            "label {label} is already used by {} (line {first_line}); give this {what} another label",
                            self.aliases[index].ip()
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert((self.aliases.len(), label_line));
                }
            }
        }
        self.ips
            .insert(ip, (address_line, Some(self.aliases.len())));
        self.aliases.push(spec);
        Ok(())
    }
}

/// Puts warnings in input line order (stable: one line's warnings keep
/// their order), whatever order the parser found them in.
fn sort_by_line(warnings: &mut [String]) {
    warnings.sort_by_key(|warning| {
        warning
            .strip_prefix("line ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|number| number.parse::<usize>().ok())
            .unwrap_or(0)
    });
}

const PRIMARY_NOT_IMPORTED: &str = "is the interface's primary address, not an alias: not imported (alias-mgr manages aliases; the primary stays with the system's network config)";

/// The shared alias-address rules. `guess` says where a prefix length the
/// file did not state came from; it is added to a refusal that the prefix
/// causes (e.g. a classful /24 making .255 the broadcast address).
fn check_address(address: &IpNet, guess: Option<String>) -> Result<(), String> {
    check_alias_address(address).map_err(|message| match guess {
        Some(guess) if check_alias_address(&IpNet::from(address.addr())).is_ok() => {
            format!("{message} ({guess})")
        }
        _ => message,
    })
}

fn classful_guess(prefix: u8) -> String {
    format!("/{prefix} is the classful default for an address without a netmask; if the subnet is another one, add its netmask")
}

fn alias(
    interface: &str,
    address: IpNet,
    label: Option<String>,
    routes: Vec<RouteSpec>,
) -> AliasSpec {
    AliasSpec {
        interface: interface.to_string(),
        address,
        label,
        zone: None,
        routes,
    }
}

// ---------------------------------------------------------------------------
// Debian ifupdown
// ---------------------------------------------------------------------------

const STANZA_KEYWORDS: [&str; 8] = [
    "iface",
    "auto",
    "mapping",
    "source",
    "source-directory",
    "no-auto-down",
    "no-scripts",
    "rename",
];

fn is_stanza_keyword(word: &str) -> bool {
    STANZA_KEYWORDS.contains(&word) || word.starts_with("allow-")
}

/// One `iface` stanza with its option lines, still unparsed.
struct Stanza {
    line: usize,
    name: String,
    family: Option<String>,
    method: Option<String>,
    options: Vec<StanzaOption>,
}

struct StanzaOption {
    line: usize,
    key: String,
    value: String,
}

/// Parses `/etc/network/interfaces`.
///
/// Aliases are `iface eth1:0 inet static` stanzas, the extra `static`
/// stanzas Debian allows for a plain name (`iface eth1 inet static` twice),
/// and addresses that hook commands of any stanza add (`up ip addr add ...`,
/// `up ifconfig eth1:6 ...`). The first stanza of a name and family, unless
/// `manual`, configures the interface itself and is left alone: alias-mgr
/// must not own the primary.
pub fn parse_ifupdown(source_name: &str, text: &str) -> Result<Imported, ImportError> {
    let ctx = Ctx { source_name };
    let mut warnings = Vec::new();
    let stanzas = collect_stanzas(&ctx, text, &mut warnings)?;
    let mut primaries: HashSet<(String, String)> = HashSet::new();
    let mut collected = Collected::default();
    for stanza in &stanzas {
        let base = stanza
            .name
            .split_once(':')
            .map_or(stanza.name.as_str(), |(interface, _)| interface);
        let mut added: Vec<(AliasSpec, usize)> = Vec::new();
        match classify_stanza(&ctx, stanza, &mut primaries, &mut warnings)? {
            Role::Alias { interface, label } => {
                let (spec, address_line) = build_ifupdown_alias(
                    &ctx,
                    stanza,
                    base,
                    interface,
                    label,
                    &mut added,
                    &mut warnings,
                )?;
                let lines = (address_line, stanza.line);
                collected.add(&ctx, spec, lines, "stanza", &mut warnings)?;
            }
            role => {
                for option in &stanza.options {
                    if role == Role::Primary && option.key == "address" {
                        warnings.push(format!(
                            "line {}: {} {} {PRIMARY_NOT_IMPORTED}",
                            option.line,
                            stanza.name,
                            primary_address(stanza, &option.value)
                        ));
                    } else if is_hook(&option.key) {
                        let hook = HookContext {
                            who: &stanza.name,
                            base,
                            alias: None,
                        };
                        hook.handle(option, &mut Vec::new(), &mut added, &mut warnings);
                    }
                }
            }
        }
        for (spec, line) in added {
            collected.add(&ctx, spec, (line, line), "line", &mut warnings)?;
        }
    }
    sort_by_line(&mut warnings);
    Ok(Imported {
        aliases: collected.aliases,
        warnings,
    })
}

/// A primary stanza's address as the warning shows it: with the prefix
/// the stanza gives, or as written when it doesn't parse.
fn primary_address(stanza: &Stanza, value: &str) -> String {
    let Ok((ip, prefix)) = parse_address(value) else {
        return value.to_string();
    };
    let forms = MaskForms {
        hex: false,
        v4_length: true,
    };
    let netmask = stanza
        .options
        .iter()
        .find(|option| option.key == "netmask")
        .and_then(|option| parse_netmask(&option.value, ip.is_ipv6(), forms).ok());
    match prefix.or(netmask) {
        Some(prefix) => format!("{ip}/{prefix}"),
        None => ip.to_string(),
    }
}

/// Groups option lines under their stanza; options outside an `iface` or
/// `mapping` stanza are what ifupdown itself rejects as misplaced.
fn collect_stanzas(
    ctx: &Ctx<'_>,
    text: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Stanza>, ImportError> {
    enum Current {
        Nothing,
        Iface,
        Mapping,
    }
    let mut stanzas: Vec<Stanza> = Vec::new();
    let mut current = Current::Nothing;
    for (line, content) in logical_lines(text) {
        let (word, rest) = match content.split_once(char::is_whitespace) {
            Some((word, rest)) => (word, rest.trim()),
            None => (content.as_str(), ""),
        };
        if is_stanza_keyword(word) {
            current = Current::Nothing;
            match word {
                "iface" => {
                    let tokens: Vec<&str> = rest.split_whitespace().collect();
                    let (name, family, method) = match tokens.as_slice() {
                        [name] => (*name, None, None),
                        [name, family, method] => (*name, Some(family.to_string()), Some(method.to_string())),
                        _ => {
                            return Err(ctx.err(
                                line,
                                format!("malformed stanza `{content}`; expected `iface NAME FAMILY METHOD` such as `iface eth1:0 inet static`"),
                            ))
                        }
                    };
                    stanzas.push(Stanza {
                        line,
                        name: name.to_string(),
                        family,
                        method,
                        options: Vec::new(),
                    });
                    current = Current::Iface;
                }
                "mapping" => current = Current::Mapping,
                "source" | "source-directory" => warnings.push(format!(
                    "line {line}: `{content}` not followed; import the files it names separately"
                )),
                _ => {}
            }
            continue;
        }
        match current {
            Current::Iface => {
                if let Some(stanza) = stanzas.last_mut() {
                    stanza.options.push(StanzaOption {
                        line,
                        key: word.to_string(),
                        value: rest.to_string(),
                    });
                }
            }
            // `script` and `map` lines of a mapping say nothing about addresses.
            Current::Mapping => {}
            Current::Nothing => {
                return Err(ctx.err(
                    line,
                    format!("option `{word}` outside a stanza; options belong after an `iface NAME inet static` line"),
                ))
            }
        }
    }
    Ok(stanzas)
}

/// What a stanza is to the importer.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    /// Its address is an alias on `interface`.
    Alias {
        interface: String,
        label: Option<String>,
    },
    /// The static stanza that configures the interface's own address.
    Primary,
    /// Dynamic, manual, loopback, or an alias stanza that is skipped; only
    /// its hook commands can add aliases.
    Other,
}

/// The role of a stanza: an alias (with its interface and label), the
/// interface's primary, or neither (a dynamic method, another family).
fn classify_stanza(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    primaries: &mut HashSet<(String, String)>,
    warnings: &mut Vec<String>,
) -> Result<Role, ImportError> {
    let family = stanza.family.as_deref();
    let method = stanza.method.as_deref();
    let static_ip = matches!(family, Some("inet" | "inet6")) && method == Some("static");
    if let Some((interface, _)) = stanza.name.split_once(':') {
        if !static_ip {
            let how = match (family, method) {
                (Some(family), Some(method)) => format!("{family} {method}"),
                _ => "without family and method".to_string(),
            };
            warnings.push(format!(
                "line {}: {} {how} skipped; only `inet static` and `inet6 static` aliases are imported",
                stanza.line, stanza.name
            ));
            return Ok(Role::Other);
        }
        if interface.is_empty() {
            return Err(ctx.err(
                stanza.line,
                format!(
                    "{:?} has nothing before ':'; expected an alias name such as eth1:0",
                    stanza.name
                ),
            ));
        }
        validate_label_for(&stanza.name, interface)
            .map_err(|message| ctx.err(stanza.line, message))?;
        return Ok(Role::Alias {
            interface: interface.to_string(),
            label: Some(stanza.name.clone()),
        });
    }
    let (Some(family @ ("inet" | "inet6")), Some(method)) = (family, method) else {
        return Ok(Role::Other);
    };
    // `manual` configures no address, so the next stanza is still the primary.
    if method == "manual" {
        return Ok(Role::Other);
    }
    let first = primaries.insert((stanza.name.clone(), family.to_string()));
    Ok(match (first, static_ip) {
        (_, false) => Role::Other,
        (true, true) => Role::Primary,
        (false, true) => Role::Alias {
            interface: stanza.name.clone(),
            label: None,
        },
    })
}

/// Turns an alias stanza's options into a spec; returns the `address` line
/// too, which is where a duplicate is reported. Aliases that its hook
/// commands add go to `added`, with their lines.
fn build_ifupdown_alias(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    base: &str,
    interface: String,
    label: Option<String>,
    added: &mut Vec<(AliasSpec, usize)>,
    warnings: &mut Vec<String>,
) -> Result<(AliasSpec, usize), ImportError> {
    let who = &stanza.name;
    let family = stanza.family.as_deref().unwrap_or("inet");
    let v6 = family == "inet6";
    let mut address: Option<(IpAddr, Option<u8>, usize)> = None;
    let mut netmask: Option<(u8, usize)> = None;
    let mut routes: Vec<(RouteSpec, usize)> = Vec::new();
    for option in &stanza.options {
        let line = option.line;
        let key = option.key.as_str();
        let value = option.value.as_str();
        let needs_value = |example: &str| {
            if value.is_empty() {
                Err(ctx.err(line, format!("`{key}` needs a value; expected `{example}`")))
            } else {
                Ok(())
            }
        };
        match key {
            "address" => {
                if let Some((_, _, first)) = address {
                    return Err(ctx.err(
                        line,
                        format!("{who} has a second address (the first is on line {first}); give each address its own `iface {who} {family} static` stanza"),
                    ));
                }
                let example = if v6 { "address 2001:db8::1/64" } else { "address 192.168.0.1/24" };
                needs_value(example)?;
                let (ip, prefix) = parse_address(value).map_err(|message| {
                    ctx.err(line, format!("{message}; expected `{example}` or the address alone"))
                })?;
                if ip.is_ipv6() != v6 {
                    return Err(ctx.err(
                        line,
                        format!("{ip} does not belong in an `{family}` stanza; expected `{example}`"),
                    ));
                }
                address = Some((ip, prefix, line));
            }
            "netmask" => {
                if let Some((_, first)) = netmask {
                    return Err(ctx.err(
                        line,
                        format!("{who} has a second netmask (the first is on line {first}); expected one"),
                    ));
                }
                needs_value(if v6 { "netmask 64" } else { "netmask 255.255.255.0" })?;
                let forms = MaskForms {
                    hex: false,
                    v4_length: true,
                };
                let prefix = parse_netmask(value, v6, forms).map_err(|message| ctx.err(line, message))?;
                netmask = Some((prefix, line));
            }
            "gateway" => warnings.push(format!(
                "line {line}: {who}: gateway {value} ignored; an alias doesn't set the default gateway (add a route instead)"
            )),
            _ if is_hook(key) => {
                let hook = HookContext {
                    who,
                    base,
                    alias: Some((&interface, label.as_deref())),
                };
                hook.handle(option, &mut routes, added, warnings);
            }
            _ => warnings.push(format!("line {line}: {who}: `{key} {value}` not imported")),
        }
    }

    let Some((ip, cidr, address_line)) = address else {
        let example = if v6 {
            "address 2001:db8::1/64"
        } else {
            "address 192.168.0.1/24"
        };
        return Err(ctx.err(
            stanza.line,
            format!("{who} {family} static has no address; expected an `{example}` line after it"),
        ));
    };
    let (prefix, guess) = match (cidr, netmask) {
        (Some(from_address), Some((from_netmask, netmask_line))) if from_address != from_netmask => {
            return Err(ctx.err(
                netmask_line,
                format!("netmask gives /{from_netmask} but the address on line {address_line} gives /{from_address}; make them agree"),
            ))
        }
        (Some(prefix), _) | (None, Some((prefix, _))) => (prefix, None),
        (None, None) => {
            let prefix = default_prefix(ip).map_err(|message| ctx.err(stanza.line, message))?;
            warnings.push(format!(
                "line {}: {who} has no netmask; using /{prefix} (classful default)",
                stanza.line
            ));
            (prefix, Some(classful_guess(prefix)))
        }
    };
    let address = IpNet::new(ip, prefix)
        .map_err(|_| ctx.err(address_line, format!("/{prefix} is not valid for {ip}")))?;
    check_address(&address, guess).map_err(|message| ctx.err(address_line, message))?;

    let mut kept: Vec<RouteSpec> = Vec::new();
    for (route, line) in routes {
        if route.destination.addr().is_ipv4() != ip.is_ipv4() {
            warnings.push(format!(
                "line {line}: {who}: route {route} not imported; it is not of the alias's IP version"
            ));
        } else if kept.contains(&route) {
            warnings.push(format!(
                "line {line}: {who}: route {route} repeated; imported once"
            ));
        } else {
            kept.push(route);
        }
    }
    Ok((alias(&interface, address, label, kept), address_line))
}

// ---------------------------------------------------------------------------
// Hook commands in ifupdown stanzas: routes and addresses
// ---------------------------------------------------------------------------

/// The option keys whose value is a shell command run by ifup/ifdown.
fn is_hook(key: &str) -> bool {
    matches!(
        key,
        "pre-up" | "up" | "post-up" | "down" | "pre-down" | "post-down"
    )
}

/// Where a hook command is: its stanza and, in an alias stanza, the alias
/// its routes go with.
struct HookContext<'a> {
    /// The stanza's name, for warnings.
    who: &'a str,
    /// What `$IFACE` stands for: the stanza's interface without `:N`.
    base: &'a str,
    /// The alias stanza's interface and label; None in any other stanza.
    alias: Option<(&'a str, Option<&'a str>)>,
}

impl HookContext<'_> {
    /// Routes of the stanza's alias go to `routes`, aliases the command adds
    /// to `added`; everything else becomes a warning, except the removals
    /// in `down` hooks, which are the inverse of an `up` line.
    fn handle(
        &self,
        option: &StanzaOption,
        routes: &mut Vec<(RouteSpec, usize)>,
        added: &mut Vec<(AliasSpec, usize)>,
        warnings: &mut Vec<String>,
    ) {
        let (line, key, value, who) = (
            option.line,
            option.key.as_str(),
            option.value.as_str(),
            self.who,
        );
        let adds = matches!(key, "pre-up" | "up" | "post-up");
        match parse_hook(value, self.base) {
            Hook::Address(parsed) if adds => match parsed.and_then(ParsedAddress::into_alias) {
                Ok((spec, notes)) => {
                    for note in notes {
                        warnings.push(format!("line {line}: {who}: {note}: `{key} {value}`"));
                    }
                    added.push((spec, line));
                }
                Err(reason) => warnings.push(format!(
                    "line {line}: {who}: address not imported ({reason}): `{key} {value}`"
                )),
            },
            Hook::Route(parsed) if matches!(key, "up" | "post-up") => {
                let Some((interface, label)) = self.alias else {
                    warnings.push(format!(
                        "line {line}: {who}: route not imported (only the routes of alias stanzas become alias routes): `{key} {value}`"
                    ));
                    return;
                };
                let parsed = match parsed {
                    Ok(parsed) => parsed,
                    Err(reason) => {
                        warnings.push(format!(
                            "line {line}: {who}: route not imported ({reason}): `{key} {value}`"
                        ));
                        return;
                    }
                };
                if let Some(dev) = parsed.dev.as_deref() {
                    if dev != interface && Some(dev) != label {
                        warnings.push(format!(
                            "line {line}: {who}: route not imported (it is on {dev}, not {interface}): `{key} {value}`"
                        ));
                        return;
                    }
                }
                for note in parsed.notes {
                    warnings.push(format!("line {line}: {who}: {note}: `{key} {value}`"));
                }
                routes.push((parsed.spec, line));
            }
            // Removing the address or route again is implied: alias-mgr
            // removes an alias with its routes.
            Hook::Remove if !adds => {}
            Hook::Other | Hook::Remove if adds => warnings.push(format!(
                "line {line}: {who}: `{key} {value}` not imported; only route and address additions are imported"
            )),
            _ => warnings.push(format!("line {line}: {who}: `{key} {value}` not imported")),
        }
    }
}

/// What a hook command means for the import.
enum Hook {
    /// `ip route add`, `route add`.
    Route(Result<ParsedRoute, String>),
    /// `ip addr add`, `ifconfig eth1:6 ADDRESS`, `ifconfig eth1 inet6 add`.
    Address(Result<ParsedAddress, String>),
    /// Deletes a route or an address (`ip addr del`, `route del`,
    /// `ifconfig eth1:6 down`).
    Remove,
    Other,
}

struct ParsedRoute {
    spec: RouteSpec,
    /// The device the command names, checked against the stanza's.
    dev: Option<String>,
    /// Parts dropped on the way (metric, ...), for warnings.
    notes: Vec<String>,
}

/// An address a hook command adds, before the alias rules are applied.
struct ParsedAddress {
    ip: IpAddr,
    prefix: Option<u8>,
    /// The device the command names; `eth1:6` stands for eth1 with that label.
    dev: Option<String>,
    label: Option<String>,
    /// `ip` or `ifconfig`: what a missing prefix length defaults to.
    tool: &'static str,
    /// Parts dropped on the way (broadcast, flags, ...), for warnings.
    notes: Vec<String>,
}

impl ParsedAddress {
    /// The alias, with notes for what was dropped or guessed, or why the
    /// address cannot be one (the reason for a warning).
    fn into_alias(self) -> Result<(AliasSpec, Vec<String>), String> {
        let ParsedAddress {
            ip,
            prefix,
            dev,
            label,
            tool,
            notes: dropped,
        } = self;
        let dev = dev.ok_or("no `dev`; `ip addr add` needs one")?;
        let (interface, dev_label) = match dev.split_once(':') {
            Some((interface, _)) => (interface.to_string(), Some(dev.clone())),
            None => (dev.clone(), None),
        };
        check_interface_name(&interface)?;
        let label = match (label, dev_label) {
            (Some(label), Some(dev)) if label != dev => {
                return Err(format!("label {label} does not match dev {dev}"))
            }
            (label, dev_label) => label.or(dev_label),
        };
        if let Some(label) = &label {
            validate_label_for(label, &interface)?;
        }
        let mut notes = Vec::new();
        let (prefix, guess) = match prefix {
            Some(prefix) => (prefix, None),
            // net-tools ifconfig takes the classful mask, like BSD's.
            None if tool == "ifconfig" && ip.is_ipv4() => {
                let prefix = default_prefix(ip)?;
                notes.push(format!(
                    "{ip} has no netmask; using /{prefix} (classful default)"
                ));
                (prefix, Some(classful_guess(prefix)))
            }
            // `ip addr add` and `ifconfig inet6 add` add a host address.
            None => {
                let prefix = max_prefix(ip);
                notes.push(format!(
                    "{ip} has no prefix length; using /{prefix}, as {tool} does (write ADDRESS/LEN in the config if the alias is meant to have a subnet)"
                ));
                (prefix, None)
            }
        };
        let address =
            IpNet::new(ip, prefix).map_err(|_| format!("/{prefix} is not valid for {ip}"))?;
        check_address(&address, guess)?;
        notes.extend(dropped);
        Ok((alias(&interface, address, label, Vec::new()), notes))
    }
}

/// The interface names the config file accepts, for names taken from hook
/// commands (a stanza's name went through ifupdown already).
fn check_interface_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_LABEL_LEN || name == "." || name == ".." {
        return Err(format!("{name:?} is not a Linux interface name"));
    }
    if name.contains(['/', '"', '\'']) {
        return Err(format!("{name:?} is not a Linux interface name"));
    }
    Ok(())
}

/// Recognises `ip route|addr add|del`, net-tools `route add|del` and
/// `ifconfig`; anything with shell control beyond a trailing `|| true` is
/// left to the user. `$IFACE` stands for `iface`, as ifupdown sets it.
fn parse_hook(command: &str, iface: &str) -> Hook {
    let command = substitute_iface(command, iface);
    let command = strip_shell_noise(&command);
    if command.contains([';', '&', '|', '`', '$', '<', '>', '(']) {
        return Hook::Other;
    }
    let tokens: Vec<&str> = command.split_whitespace().map(unquote).collect();
    let Some((program, args)) = tokens.split_first() else {
        return Hook::Other;
    };
    match program.rsplit('/').next().unwrap_or(program) {
        "ip" => parse_ip_command(args),
        "route" => parse_nettools_command(args),
        "ifconfig" => parse_ifconfig_command(args),
        _ => Hook::Other,
    }
}

/// Replaces `${IFACE}` and `$IFACE` (but not `$IFACE_X`) with `iface`.
fn substitute_iface(command: &str, iface: &str) -> String {
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let tail = after.strip_prefix("{IFACE}").or_else(|| {
            after
                .strip_prefix("IFACE")
                .filter(|tail| !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
        });
        match tail {
            Some(tail) => {
                out.push_str(iface);
                rest = tail;
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A word in matching quotes, as `"$IFACE"` is often written, without them.
fn unquote(word: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = word
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    word
}

/// Drops the error-silencing suffixes hooks often carry; they don't change
/// which route is meant.
fn strip_shell_noise(command: &str) -> &str {
    const SUFFIXES: [&str; 7] = [
        "|| true",
        "||true",
        "|| :",
        "|| /bin/true",
        ">/dev/null 2>&1",
        "2>/dev/null",
        ">/dev/null",
    ];
    let mut command = command.trim();
    loop {
        let before = command;
        for suffix in SUFFIXES {
            if let Some(head) = command.strip_suffix(suffix) {
                command = head.trim_end();
            }
        }
        if command == before {
            return command;
        }
    }
}

fn next_value<'a>(
    args: &mut impl Iterator<Item = &'a str>,
    keyword: &str,
) -> Result<&'a str, String> {
    args.next()
        .ok_or_else(|| format!("`{keyword}` without a value"))
}

fn default_route_error() -> String {
    "a default route; an alias doesn't set the default gateway".to_string()
}

/// `ip [-4|-6] route add|replace|append PREFIX [via GW] [dev DEV] [metric N]`,
/// `ip [-4|-6] addr add|replace ADDRESS[/LEN] dev DEV [label LABEL] ...` and
/// their `del`s. Objects and `add` may be abbreviated as `ip` allows.
fn parse_ip_command(args: &[&str]) -> Hook {
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match *arg {
            "-4" | "-6" => index += 1,
            "-f" | "-family" => index += 2,
            other if other.starts_with('-') => return Hook::Other,
            _ => break,
        }
    }
    let Some(object) = args.get(index).filter(|object| !object.is_empty()) else {
        return Hook::Other;
    };
    let verb = args.get(index + 1).copied();
    let rest = args.get(index + 2..).unwrap_or_default();
    if "route".starts_with(object) {
        match verb {
            Some("add" | "replace" | "append") => Hook::Route(parse_ip_route_args(rest)),
            Some("del" | "delete") => Hook::Remove,
            _ => Hook::Other,
        }
    } else if "address".starts_with(object) {
        match verb {
            Some(verb) if (!verb.is_empty() && "add".starts_with(verb)) || verb == "replace" => {
                Hook::Address(parse_ip_address_args(rest))
            }
            Some("del" | "delete" | "flush") => Hook::Remove,
            _ => Hook::Other,
        }
    } else {
        Hook::Other
    }
}

/// The arguments of `ip addr add`.
fn parse_ip_address_args(args: &[&str]) -> Result<ParsedAddress, String> {
    let mut address = None;
    let mut dev = None;
    let mut label = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "dev" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "label" => label = Some(next_value(&mut args, arg)?.to_string()),
            "local" if address.is_none() => address = Some(next_value(&mut args, arg)?),
            "broadcast" | "brd" => {
                let value = next_value(&mut args, arg)?;
                if !matches!(value, "+" | "-") {
                    notes.push(format!(
                        "{arg} {value} dropped; alias-mgr sets no broadcast address"
                    ));
                }
            }
            "scope" => {
                let value = next_value(&mut args, arg)?;
                if !matches!(value, "global" | "universe" | "0") {
                    notes.push(format!("scope {value} dropped"));
                }
            }
            "valid_lft" | "preferred_lft" => {
                let value = next_value(&mut args, arg)?;
                if value != "forever" {
                    notes.push(format!("{arg} {value} dropped; aliases do not expire"));
                }
            }
            "metric" | "priority" | "proto" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!("{arg} {value} dropped"));
            }
            "nodad" | "noprefixroute" | "home" | "mngtmpaddr" | "optimistic" | "autojoin" => {
                notes.push(format!("{arg} dropped"));
            }
            _ if address.is_none() && looks_like_address(arg) => address = Some(arg),
            other => return Err(format!("`{other}` has no equivalent in an alias")),
        }
    }
    let address = address.ok_or("no address")?;
    let (ip, prefix) = parse_address(address)?;
    Ok(ParsedAddress {
        ip,
        prefix,
        dev,
        label,
        tool: "ip",
        notes,
    })
}

/// net-tools `ifconfig IFACE[:N] [inet|inet6] [add] ADDRESS[/LEN] [netmask M]
/// [broadcast B] [up]`; `ifconfig IFACE [inet6] del ADDRESS` and
/// `ifconfig IFACE[:N] down` remove one.
fn parse_ifconfig_command(args: &[&str]) -> Hook {
    let Some((&dev, rest)) = args.split_first() else {
        return Hook::Other;
    };
    if dev.starts_with('-') {
        return Hook::Other;
    }
    let rest = match rest.split_first() {
        Some((&("inet" | "inet6"), tail)) => tail,
        _ => rest,
    };
    let rest = match rest {
        ["add", tail @ ..] => tail,
        ["del", ..] | ["down"] => return Hook::Remove,
        _ => rest,
    };
    match rest.split_first() {
        Some((&address, options)) if looks_like_address(address) => {
            Hook::Address(parse_ifconfig_args(dev, address, options))
        }
        _ => Hook::Other,
    }
}

fn parse_ifconfig_args(dev: &str, address: &str, args: &[&str]) -> Result<ParsedAddress, String> {
    let (ip, mut prefix) = parse_address(address)?;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "netmask" => {
                let value = next_value(&mut args, arg)?;
                if ip.is_ipv6() {
                    return Err("`netmask` is for IPv4; IPv6 takes ADDRESS/LEN".to_string());
                }
                let forms = MaskForms {
                    hex: true,
                    v4_length: false,
                };
                set_prefix(&mut prefix, parse_netmask(value, false, forms)?, "netmask")?;
            }
            "broadcast" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "broadcast {value} dropped; alias-mgr sets no broadcast address"
                ));
            }
            "up" => {}
            "mtu" | "metric" | "txqueuelen" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "{arg} {value} dropped; it is an interface setting, not the alias's"
                ));
            }
            "arp" | "-arp" | "promisc" | "-promisc" | "allmulti" | "-allmulti" | "multicast" => {
                notes.push(format!(
                    "{arg} dropped; it is an interface setting, not the alias's"
                ));
            }
            other => return Err(format!("`{other}` has no equivalent in an alias")),
        }
    }
    Ok(ParsedAddress {
        ip,
        prefix,
        dev: Some(dev.to_string()),
        label: None,
        tool: "ifconfig",
        notes,
    })
}

fn looks_like_address(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/'))
}

fn parse_ip_route_args(args: &[&str]) -> Result<ParsedRoute, String> {
    let mut destination = None;
    let mut gateway = None;
    let mut dev = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "via" => {
                let mut value = next_value(&mut args, arg)?;
                if matches!(value, "inet" | "inet6") {
                    value = next_value(&mut args, arg)?;
                }
                gateway = Some(value);
            }
            "dev" | "oif" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "metric" | "preference" | "priority" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "{arg} {value} dropped; alias routes have no metric"
                ));
            }
            "proto" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!(
                    "proto {value} dropped; alias-mgr marks its routes as its own"
                ));
            }
            "unicast" if destination.is_none() => {}
            "default" => return Err(default_route_error()),
            _ if destination.is_none() && looks_like_address(arg) => destination = Some(arg),
            other => {
                return Err(format!(
                    "`{other}` has no equivalent in an alias route (CIDR[@GATEWAY])"
                ))
            }
        }
    }
    let destination = destination.ok_or("no destination")?;
    let spec = route_spec(destination, None, gateway)?;
    Ok(ParsedRoute { spec, dev, notes })
}

/// net-tools `route [-A inet6] add [-net|-host] TARGET [netmask M] [gw GW] [dev] DEV`.
fn parse_nettools_command(args: &[&str]) -> Hook {
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match *arg {
            "-A" => index += 2,
            "-4" | "-6" | "-n" | "-v" | "-e" | "-F" | "--inet" | "--inet6" => index += 1,
            _ => break,
        }
    }
    match args.get(index).copied() {
        Some("add") => Hook::Route(parse_nettools_args(&args[index + 1..])),
        Some("del" | "delete") => Hook::Remove,
        _ => Hook::Other,
    }
}

fn parse_nettools_args(args: &[&str]) -> Result<ParsedRoute, String> {
    let mut target = None;
    let mut net = false;
    let mut host = false;
    let mut mask = None;
    let mut gateway = None;
    let mut dev: Option<String> = None;
    let mut notes = Vec::new();
    let mut args = args.iter().copied();
    while let Some(arg) = args.next() {
        match arg {
            "-net" => {
                net = true;
                target = Some(next_value(&mut args, arg)?);
            }
            "-host" => {
                host = true;
                target = Some(next_value(&mut args, arg)?);
            }
            // The addresses already say which family it is.
            "-A" => {
                next_value(&mut args, arg)?;
            }
            "default" => return Err(default_route_error()),
            "netmask" => {
                let value = next_value(&mut args, arg)?;
                let forms = MaskForms {
                    hex: false,
                    v4_length: false,
                };
                mask = Some(parse_netmask(value, false, forms)?);
            }
            "gw" | "gateway" => gateway = Some(next_value(&mut args, arg)?),
            "dev" => dev = Some(next_value(&mut args, arg)?.to_string()),
            "metric" | "mss" | "window" | "irtt" => {
                let value = next_value(&mut args, arg)?;
                notes.push(format!("{arg} {value} dropped; alias routes have none"));
            }
            _ if target.is_none() && looks_like_address(arg) => target = Some(arg),
            // net-tools takes a trailing bare word as the device.
            _ if target.is_some() && dev.is_none() && !arg.starts_with('-') => {
                dev = Some(arg.to_string())
            }
            other => {
                return Err(format!(
                    "`{other}` has no equivalent in an alias route (CIDR[@GATEWAY])"
                ))
            }
        }
    }
    let target = target.ok_or("no destination")?;
    if mask.is_some() && (host || target.contains(':')) {
        return Err(format!("netmask does not apply to {target}"));
    }
    if net && mask.is_none() && !target.contains('/') {
        return Err(format!("-net {target} has no netmask"));
    }
    let spec = route_spec(target, mask, gateway)?;
    Ok(ParsedRoute { spec, dev, notes })
}

/// Builds the spec through [`RouteSpec`]'s own parser so imported routes
/// obey the same rules (no host bits, one IP version) as configured ones.
/// A destination without a length is a host route, as `ip` and `route` take it.
fn route_spec(
    destination: &str,
    mask: Option<u8>,
    gateway: Option<&str>,
) -> Result<RouteSpec, String> {
    let cidr = if destination.contains('/') {
        if mask.is_some() {
            return Err(format!("{destination} has both a /length and a netmask"));
        }
        destination.to_string()
    } else {
        let ip: IpAddr = destination
            .parse()
            .map_err(|_| format!("{destination:?} is not an address or CIDR"))?;
        format!("{ip}/{}", mask.unwrap_or(max_prefix(ip)))
    };
    let text = match gateway {
        Some(gateway) => format!("{cidr}@{gateway}"),
        None => cidr,
    };
    text.parse()
}

// ---------------------------------------------------------------------------
// Darwin iftab
// ---------------------------------------------------------------------------

const IFTAB_FORM: &str =
    "`en0 inet 192.168.32.27 netmask 255.255.255.0 alias` or `en0 inet6 2001:db8::1 prefixlen 64 alias`";

/// One address line of iftab, as ifconfig arguments.
struct IftabAddress {
    ip: IpAddr,
    prefix: Option<u8>,
    alias: bool,
    /// `-alias`/`delete`: the line removes the address.
    delete: bool,
    /// `netmask +`: the NeXT netmasks-database lookup.
    mask_lookup: bool,
    /// Interface settings (`mtu 1500`) that are not the alias's business.
    ignored: Vec<String>,
    /// `broadcast ADDRESS`, which alias-mgr does not set.
    broadcast: Option<String>,
}

/// `-AUTOMATIC-`, `-BOOTP-`, `-DHCP-`: the address comes from the network.
fn is_dynamic(token: &str) -> bool {
    token.len() > 2 && token.starts_with('-') && token.ends_with('-')
}

/// The ifconfig arguments after the interface name; None for a line that
/// sets no address (`en0 up`).
fn parse_iftab_args(args: &[&str]) -> Result<Option<IftabAddress>, String> {
    let (v6, rest) = match args.split_first() {
        Some((&"inet", rest)) => (Some(false), rest),
        Some((&"inet6", rest)) => (Some(true), rest),
        _ => (None, args),
    };
    let Some((&address_text, rest)) = rest.split_first() else {
        return Err("address family without an address".to_string());
    };
    if v6.is_none() && args.iter().all(|arg| matches!(*arg, "up" | "down")) {
        return Ok(None);
    }
    let (ip, mut prefix) = parse_address(address_text)?;
    if let Some(v6) = v6 {
        if ip.is_ipv6() != v6 {
            let family = if v6 { "inet6" } else { "inet" };
            return Err(format!("{ip} does not belong after `{family}`"));
        }
    }
    let mut entry = IftabAddress {
        ip,
        prefix: None,
        alias: false,
        delete: false,
        mask_lookup: false,
        ignored: Vec::new(),
        broadcast: None,
    };
    let mut rest = rest.iter().copied();
    while let Some(arg) = rest.next() {
        match arg {
            "netmask" => {
                let value = next_value(&mut rest, arg)?;
                if ip.is_ipv6() {
                    return Err("`netmask` is for inet; IPv6 takes `prefixlen 64`".to_string());
                }
                if value == "+" {
                    entry.mask_lookup = true;
                } else {
                    let forms = MaskForms {
                        hex: true,
                        v4_length: false,
                    };
                    set_prefix(&mut prefix, parse_netmask(value, false, forms)?, "netmask")?;
                }
            }
            "prefixlen" => {
                let value = next_value(&mut rest, arg)?;
                let length = parse_length(value, max_prefix(ip)).ok_or_else(|| {
                    format!(
                        "prefixlen {value:?} is not a number from 0 to {}",
                        max_prefix(ip)
                    )
                })?;
                set_prefix(&mut prefix, length, "prefixlen")?;
            }
            "broadcast" => {
                entry.broadcast = Some(next_value(&mut rest, arg)?.to_string());
            }
            "mtu" | "metric" | "media" | "mediaopt" => {
                let value = next_value(&mut rest, arg)?;
                entry.ignored.push(format!("{arg} {value}"));
            }
            "alias" | "add" => entry.alias = true,
            "-alias" | "delete" | "remove" => entry.delete = true,
            "up" | "down" => {}
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    entry.prefix = prefix;
    Ok(Some(entry))
}

/// Parses Darwin's `/etc/iftab` (one `ifconfig` argument list per line).
///
/// Only lines with `alias` become aliases. Every address line, primary or
/// not, is remembered so a later `netmask 255.255.255.255` alias (the Mac's
/// way to add an address to a subnet it already has) gets that subnet's
/// prefix: on Linux such an address is a secondary of the subnet, and a /32
/// would lose the on-link route the Mac got from the first address.
pub fn parse_iftab(source_name: &str, text: &str) -> Result<Imported, ImportError> {
    let ctx = Ctx { source_name };
    let mut out = Imported::default();
    let mut collected = Collected::default();
    let mut earlier: Vec<(String, IpNet, usize)> = Vec::new();
    for (line, content) in logical_lines(text) {
        let tokens: Vec<&str> = content.split_whitespace().collect();
        let Some((&interface, args)) = tokens.split_first() else {
            continue;
        };
        if args.is_empty() {
            return Err(ctx.err(
                line,
                format!("`{interface}` alone configures nothing; expected {IFTAB_FORM}"),
            ));
        }
        if let Some(dynamic) = args.iter().find(|arg| is_dynamic(arg)) {
            if args.contains(&"alias") {
                out.warnings.push(format!(
                    "line {line}: {interface} {dynamic} alias skipped; only static addresses can be imported"
                ));
            }
            continue;
        }
        let entry = parse_iftab_args(args)
            .map_err(|message| ctx.err(line, format!("{message}; expected {IFTAB_FORM}")))?;
        let Some(entry) = entry else {
            continue;
        };
        let ip = entry.ip;
        if entry.delete {
            out.warnings.push(format!(
                "line {line}: {interface} {ip} skipped; the line removes the address"
            ));
            continue;
        }
        if !entry.alias {
            collected.claim(&ctx, ip, line)?;
            let same_family = earlier
                .iter()
                .find(|(name, net, _)| name == interface && net.addr().is_ipv4() == ip.is_ipv4());
            if let Some((_, _, first)) = same_family {
                out.warnings.push(format!(
                    "line {line}: {interface} {ip} has no `alias` keyword, so ifconfig replaces the address from line {first} rather than adding one; not imported (add `alias` if it was meant as one)"
                ));
            } else {
                let shown = match entry.prefix {
                    Some(prefix) => format!("{ip}/{prefix}"),
                    None => ip.to_string(),
                };
                out.warnings.push(format!(
                    "line {line}: {interface} {shown} {PRIMARY_NOT_IMPORTED}"
                ));
            }
            let prefix = entry.prefix.or_else(|| classful_prefix(ip));
            if let Some(net) = prefix.and_then(|prefix| IpNet::new(ip, prefix).ok()) {
                earlier.push((interface.to_string(), net, line));
            }
            continue;
        }
        for ignored in &entry.ignored {
            out.warnings.push(format!(
                "line {line}: {interface} {ip}: `{ignored}` ignored; it is an interface setting, not the alias's"
            ));
        }
        if let Some(broadcast) = &entry.broadcast {
            out.warnings.push(format!(
                "line {line}: {interface} {ip}: `broadcast {broadcast}` not imported; alias-mgr sets no broadcast address"
            ));
        }
        let (prefix, guess) = match entry.prefix {
            Some(32) if ip.is_ipv4() => {
                let prefix = same_subnet_prefix(interface, ip, line, &earlier, &mut out.warnings);
                let guess = (prefix != 32).then(|| {
                    format!("netmask 255.255.255.255 took the /{prefix} of {interface}'s subnet by the Mac same-subnet rule")
                });
                (prefix, guess)
            }
            Some(prefix) => (prefix, None),
            None => {
                let prefix = default_prefix(ip).map_err(|message| ctx.err(line, message))?;
                let why = if entry.mask_lookup {
                    "netmask + (netmasks database lookup) cannot be resolved here"
                } else {
                    "has no netmask"
                };
                out.warnings.push(format!(
                    "line {line}: {interface} {ip} {why}; using /{prefix} (classful default)"
                ));
                (prefix, Some(classful_guess(prefix)))
            }
        };
        let address = IpNet::new(ip, prefix)
            .map_err(|_| ctx.err(line, format!("/{prefix} is not valid for {ip}")))?;
        check_address(&address, guess).map_err(|message| ctx.err(line, message))?;
        earlier.push((interface.to_string(), address, line));
        let spec = alias(interface, address, None, Vec::new());
        collected.add(&ctx, spec, (line, line), "line", &mut out.warnings)?;
    }
    out.aliases = collected.aliases;
    sort_by_line(&mut out.warnings);
    Ok(out)
}

/// The Mac "Case 2" rule: a 255.255.255.255 alias inside a subnet the
/// interface already has takes that subnet's prefix (the most specific one
/// if several match); otherwise it stays /32.
fn same_subnet_prefix(
    interface: &str,
    ip: IpAddr,
    line: usize,
    earlier: &[(String, IpNet, usize)],
    warnings: &mut Vec<String>,
) -> u8 {
    let mut best: Option<&(String, IpNet, usize)> = None;
    for candidate in earlier {
        let (name, net, _) = candidate;
        if name == interface
            && net.prefix_len() < 32
            && net.contains(&ip)
            && best.is_none_or(|(_, b, _)| net.prefix_len() > b.prefix_len())
        {
            best = Some(candidate);
        }
    }
    let Some((_, net, base_line)) = best else {
        return 32;
    };
    let prefix = net.prefix_len();
    warnings.push(format!(
        "line {line}: {interface} {ip}: netmask 255.255.255.255 is the Mac same-subnet rule; on Linux alias-mgr adds it as a secondary of {} (from line {base_line}), so it is imported as {ip}/{prefix}",
        net.trunc()
    ));
    prefix
}

// ---------------------------------------------------------------------------
// NetBSD ifaliases
// ---------------------------------------------------------------------------

const IFALIASES_FORM: &str =
    "`ADDRESS INTERFACE [NETMASK]` such as `192.168.0.1 wm0 255.255.255.0` or `2001:db8::5 wm0 64`";

/// Parses NetBSD's `/etc/ifaliases`: `ADDRESS INTERFACE [NETMASK]` per line.
pub fn parse_ifaliases(source_name: &str, text: &str) -> Result<Imported, ImportError> {
    let ctx = Ctx { source_name };
    let mut out = Imported::default();
    let mut collected = Collected::default();
    for (line, content) in logical_lines(text) {
        let tokens: Vec<&str> = content.split_whitespace().collect();
        let (address_text, interface, mask) = match tokens.as_slice() {
            [address, interface] => (*address, *interface, None),
            [address, interface, mask] => (*address, *interface, Some(*mask)),
            _ => {
                return Err(ctx.err(
                    line,
                    format!("{} fields; expected {IFALIASES_FORM}", tokens.len()),
                ))
            }
        };
        let (ip, mut prefix) = parse_address(address_text)
            .map_err(|message| ctx.err(line, format!("{message}; expected {IFALIASES_FORM}")))?;
        if parse_address(interface).is_ok() {
            return Err(ctx.err(
                line,
                format!(
                    "{interface:?} is an address, not an interface name; expected {IFALIASES_FORM}"
                ),
            ));
        }
        if let Some(mask) = mask {
            let forms = MaskForms {
                hex: true,
                v4_length: false,
            };
            parse_netmask(mask, ip.is_ipv6(), forms)
                .and_then(|length| set_prefix(&mut prefix, length, "netmask"))
                .map_err(|message| {
                    ctx.err(line, format!("{message}; expected {IFALIASES_FORM}"))
                })?;
        }
        let (prefix, guess) = match prefix {
            Some(prefix) => (prefix, None),
            None => {
                let prefix = default_prefix(ip).map_err(|message| ctx.err(line, message))?;
                out.warnings.push(format!(
                    "line {line}: {interface} {ip} has no netmask; using /{prefix} (classful default)"
                ));
                (prefix, Some(classful_guess(prefix)))
            }
        };
        let address = IpNet::new(ip, prefix)
            .map_err(|_| ctx.err(line, format!("/{prefix} is not valid for {ip}")))?;
        check_address(&address, guess).map_err(|message| ctx.err(line, message))?;
        let spec = alias(interface, address, None, Vec::new());
        collected.add(&ctx, spec, (line, line), "line", &mut out.warnings)?;
    }
    out.aliases = collected.aliases;
    sort_by_line(&mut out.warnings);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    fn route(text: &str) -> RouteSpec {
        text.parse().unwrap()
    }

    fn ifupdown(text: &str) -> Imported {
        parse_ifupdown("interfaces", text).unwrap()
    }

    fn ifupdown_err(text: &str) -> ImportError {
        parse_ifupdown("interfaces", text).unwrap_err()
    }

    fn iftab(text: &str) -> Imported {
        parse_iftab("iftab", text).unwrap()
    }

    fn iftab_err(text: &str) -> ImportError {
        parse_iftab("iftab", text).unwrap_err()
    }

    fn ifaliases(text: &str) -> Imported {
        parse_ifaliases("ifaliases", text).unwrap()
    }

    fn ifaliases_err(text: &str) -> ImportError {
        parse_ifaliases("ifaliases", text).unwrap_err()
    }

    fn has_warning(imported: &Imported, needle: &str) -> bool {
        imported.warnings.iter().any(|w| w.contains(needle))
    }

    // --- format names -------------------------------------------------------

    #[test]
    fn format_names_round_trip() {
        for format in ImportFormat::ALL {
            assert_eq!(format.to_string().parse::<ImportFormat>(), Ok(format));
        }
        assert_eq!("iftab".parse::<ImportFormat>(), Ok(ImportFormat::Iftab));
        let err = "netplan".parse::<ImportFormat>().unwrap_err();
        assert!(err.contains("ifupdown, iftab or ifaliases"), "{err}");
    }

    #[test]
    fn parse_dispatches_on_format() {
        let imported = parse(ImportFormat::Ifaliases, "f", "10.0.0.1 wm0 255.0.0.0").unwrap();
        assert_eq!(imported.aliases[0].address, net("10.0.0.1/8"));
        let imported = parse(
            ImportFormat::Iftab,
            "f",
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias",
        )
        .unwrap();
        assert_eq!(imported.aliases[0].interface, "en0");
        let imported = parse(
            ImportFormat::Ifupdown,
            "f",
            "iface a:1 inet static\naddress 10.0.0.1/8",
        )
        .unwrap();
        assert_eq!(imported.aliases[0].label.as_deref(), Some("a:1"));
    }

    #[test]
    fn error_displays_file_and_line() {
        let err = ifaliases_err("\n\nbogus wm0");
        assert_eq!(err.line, 3);
        assert!(err.to_string().starts_with("ifaliases:3: "), "{err}");
    }

    // --- ifupdown -------------------------------------------------------------

    #[test]
    fn ifupdown_linux_seed_yields_one_alias() {
        let imported = ifupdown(
            "iface eth1 inet static\naddress 192.168.1.1\nnetmask 255.255.255.0\nauto eth1\n\n\
             iface eth1:0 inet static\naddress 192.168.0.1\nnetmask 255.255.255.0\nauto eth1:0\n",
        );
        assert_eq!(
            imported.aliases,
            vec![AliasSpec {
                interface: "eth1".into(),
                address: net("192.168.0.1/24"),
                label: Some("eth1:0".into()),
                zone: None,
                routes: vec![],
            }]
        );
        assert_eq!(
            imported.warnings,
            vec![format!(
                "line 2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"
            )]
        );
    }

    #[test]
    fn ifupdown_indented_options_cidr_and_length_netmask() {
        let imported = ifupdown(
            "auto lo\niface lo inet loopback\n\n\
             iface eth0:1 inet static\n    address 10.1.2.3/16\n\n\
             iface eth0:2 inet static\n\taddress 172.16.5.5\n\tnetmask 20\n",
        );
        assert_eq!(imported.aliases.len(), 2);
        assert_eq!(imported.aliases[0].interface, "eth0");
        assert_eq!(imported.aliases[0].address, net("10.1.2.3/16"));
        assert_eq!(imported.aliases[1].address, net("172.16.5.5/20"));
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }

    #[test]
    fn ifupdown_second_plain_static_block_is_an_alias() {
        let imported = ifupdown(
            "iface eth1 inet static\n address 192.168.1.1/24\n\
             iface eth1 inet static\n address 192.168.5.1/24\n\
             iface eth1 inet6 static\n address 2001:db8::1/64\n\
             iface eth1 inet6 static\n address 2001:db8:1::1/64\n",
        );
        assert_eq!(imported.aliases.len(), 2);
        assert_eq!(imported.aliases[0].interface, "eth1");
        assert_eq!(imported.aliases[0].address, net("192.168.5.1/24"));
        assert_eq!(imported.aliases[0].label, None);
        assert_eq!(imported.aliases[1].address, net("2001:db8:1::1/64"));
        assert_eq!(
            imported.warnings,
            vec![
                format!("line 2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"),
                format!("line 6: eth1 2001:db8::1/64 {PRIMARY_NOT_IMPORTED}"),
            ]
        );
    }

    #[test]
    fn ifupdown_manual_does_not_claim_the_primary_but_dhcp_does() {
        let imported = ifupdown(
            "iface eth0 inet manual\niface eth0 inet static\n address 10.0.0.1/8\n\
             iface eth2 inet dhcp\niface eth2 inet static\n address 10.9.0.1/16\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(imported.aliases[0].interface, "eth2");
        assert_eq!(imported.aliases[0].address, net("10.9.0.1/16"));
    }

    #[test]
    fn ifupdown_inet6_alias_keeps_label() {
        let imported = ifupdown("iface eth1:6 inet6 static\n address 2001:db8::5\n netmask 64\n");
        assert_eq!(imported.aliases[0].address, net("2001:db8::5/64"));
        assert_eq!(imported.aliases[0].label.as_deref(), Some("eth1:6"));
    }

    #[test]
    fn ifupdown_missing_netmask_uses_classful_default_with_warning() {
        let imported = ifupdown("\niface eth1:0 inet static\n address 192.168.0.1\n");
        assert_eq!(imported.aliases[0].address, net("192.168.0.1/24"));
        assert_eq!(
            imported.warnings,
            vec!["line 2: eth1:0 has no netmask; using /24 (classful default)".to_string()]
        );
        let imported = ifupdown("iface eth1:0 inet static\n address 10.0.0.9\n");
        assert_eq!(imported.aliases[0].address, net("10.0.0.9/8"));
    }

    #[test]
    fn ifupdown_gateway_is_ignored_with_warning() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n gateway 192.168.0.254\n broadcast 192.168.0.255\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert!(
            has_warning(&imported, "line 3: eth1:0: gateway 192.168.0.254 ignored"),
            "{:?}",
            imported.warnings
        );
        assert!(has_warning(
            &imported,
            "line 4: eth1:0: `broadcast 192.168.0.255` not imported"
        ));
    }

    #[test]
    fn ifupdown_dynamic_alias_stanzas_are_skipped_with_warning() {
        let imported =
            ifupdown("iface eth1:0 inet dhcp\niface eth1 inet dhcp\niface eth3 inet6 auto\n");
        assert!(imported.aliases.is_empty());
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("line 1: eth1:0 inet dhcp skipped"));
    }

    #[test]
    fn ifupdown_up_route_lines_become_routes() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n\
             address 192.168.0.1\n\
             netmask 255.255.255.0\n\
             up route add -net 10.9.0.0 netmask 255.255.0.0 gw 192.168.0.254\n\
             up ip route add 10.8.0.0/16 via 192.168.0.254\n\
             post-up /sbin/ip route add 10.7.0.0/16 via 192.168.0.253 dev eth1\n\
             post-up route add -host 10.6.0.1 gw 192.168.0.254 eth1:0 || true\n\
             up ip -4 route replace 10.5.0.0/16 dev eth1\n\
             down route del -net 10.9.0.0 netmask 255.255.0.0 gw 192.168.0.254\n\
             pre-down ip route del 10.8.0.0/16\n",
        );
        assert_eq!(
            imported.aliases[0].routes,
            vec![
                route("10.9.0.0/16@192.168.0.254"),
                route("10.8.0.0/16@192.168.0.254"),
                route("10.7.0.0/16@192.168.0.253"),
                route("10.6.0.1/32@192.168.0.254"),
                route("10.5.0.0/16"),
            ]
        );
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }

    #[test]
    fn ifupdown_inet6_route_lines() {
        let imported = ifupdown(
            "iface eth1:6 inet6 static\n address 2001:db8::5/64\n\
             up ip -6 route add 2001:db8:1::/48 via 2001:db8::1\n\
             up route -A inet6 add 2001:db8:2::/48 gw 2001:db8::1\n",
        );
        assert_eq!(
            imported.aliases[0].routes,
            vec![
                route("2001:db8:1::/48@2001:db8::1"),
                route("2001:db8:2::/48@2001:db8::1")
            ]
        );
    }

    #[test]
    fn ifupdown_unparseable_route_lines_are_warnings() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             up ip route add 10.9.0.0/16 via 192.168.0.254 table 100\n\
             up route add default gw 192.168.0.254\n\
             up ip route add 10.9.0.1/16 via 192.168.0.254\n\
             up ip route add 10.4.0.0/16 via 192.168.0.254 dev eth7\n\
             up route add -net 10.3.0.0 gw 192.168.0.254\n\
             up echo hello\n\
             up ip route add 10.2.0.0/16 via 192.168.0.254 metric 5\n\
             post-down /etc/network/cleanup.sh\n",
        );
        assert_eq!(
            imported.aliases[0].routes,
            vec![route("10.2.0.0/16@192.168.0.254")]
        );
        let w = &imported.warnings;
        assert!(
            has_warning(&imported, "line 3: eth1:0: route not imported (`table`"),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "line 4: eth1:0: route not imported (a default route"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "line 5: eth1:0: route not imported (route \"10.9.0.1/16@"
            ),
            "{w:?}"
        );
        assert!(has_warning(&imported, "did you mean 10.9.0.0/16?"), "{w:?}");
        assert!(
            has_warning(
                &imported,
                "line 6: eth1:0: route not imported (it is on eth7, not eth1)"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "line 7: eth1:0: route not imported (-net 10.3.0.0 has no netmask)"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "line 8: eth1:0: `up echo hello` not imported"),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "line 9: eth1:0: metric 5 dropped"),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "line 10: eth1:0: `post-down /etc/network/cleanup.sh` not imported"
            ),
            "{w:?}"
        );
        assert_eq!(w.len(), 8, "{w:?}");
    }

    #[test]
    fn ifupdown_continuation_lines_and_comments() {
        let imported = ifupdown(
            "# alias for the web site\n\
             iface eth1:0 inet static # trailing comment\n\
             \taddress 192.168.0.1\n\
             \tnetmask 255.255.255.0\n\
             \tup route add -net 10.9.0.0 \\\n\
             \t   netmask 255.255.0.0 gw 192.168.0.254\n\
             # iface eth1:9 inet static \\\n\
             \taddress 192.168.0.99\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(imported.aliases[0].address, net("192.168.0.1/24"));
        assert_eq!(
            imported.aliases[0].routes,
            vec![route("10.9.0.0/16@192.168.0.254")]
        );
        // The continued line is reported at its first physical line.
        let err = ifupdown_err("iface eth1:0 inet static\n address \\\n 192.168.0.300\n");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn ifupdown_source_and_mapping_are_not_errors() {
        let imported = ifupdown(
            "source /etc/network/interfaces.d/*\n\
             mapping eth0\n  script /usr/local/sbin/map-scheme\n  map HOME eth0-home\n\
             allow-hotplug eth1\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(imported.warnings.len(), 1);
        assert!(imported.warnings[0]
            .starts_with("line 1: `source /etc/network/interfaces.d/*` not followed"));
    }

    #[test]
    fn ifupdown_error_bad_address() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 192.168.0.300\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message
                .contains("\"192.168.0.300\" is not an IP address"),
            "{err}"
        );
        assert!(err.message.contains("address 192.168.0.1/24"), "{err}");
    }

    #[test]
    fn ifupdown_error_empty_address() {
        let err = ifupdown_err("iface eth1:0 inet static\n address\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("needs a value"), "{err}");
    }

    #[test]
    fn ifupdown_error_noncontiguous_netmask() {
        let err =
            ifupdown_err("iface eth1:0 inet static\n address 10.0.0.1\n\n netmask 255.0.255.0\n");
        assert_eq!(err.line, 4);
        assert!(err.message.contains("not contiguous"), "{err}");
    }

    #[test]
    fn ifupdown_error_bad_netmask() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 10.0.0.1\n netmask 33\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("255.255.255.0"), "{err}");
        let err =
            ifupdown_err("iface eth1:6 inet6 static\n address 2001:db8::1\n netmask ffff::\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("such as 64"), "{err}");
    }

    #[test]
    fn ifupdown_error_netmask_contradicts_address() {
        let err =
            ifupdown_err("iface eth1:0 inet static\n address 10.0.0.1/8\n netmask 255.255.0.0\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("line 2"), "{err}");
    }

    #[test]
    fn ifupdown_error_label_too_long() {
        let err =
            ifupdown_err("auto x\niface enx00e04c680001:0 inet static\n address 10.0.0.1/8\n");
        assert_eq!(err.line, 2);
        assert_eq!(
            err.message,
            validate_label_for("enx00e04c680001:0", "enx00e04c680001").unwrap_err()
        );
    }

    #[test]
    fn ifupdown_error_nothing_before_colon() {
        let err = ifupdown_err("iface :0 inet static\n address 10.0.0.1/8\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("eth1:0"), "{err}");
    }

    #[test]
    fn ifupdown_error_missing_address() {
        let err = ifupdown_err("iface eth1 inet static\n address 10.0.0.1/8\n\niface eth1:0 inet static\n netmask 24\nauto eth1:0\n");
        assert_eq!(err.line, 4);
        assert!(err.message.contains("has no address"), "{err}");
    }

    #[test]
    fn ifupdown_error_second_address_in_alias() {
        let err =
            ifupdown_err("iface eth1:0 inet static\n address 10.0.0.1/8\n address 10.0.0.2/8\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("line 2"), "{err}");
    }

    #[test]
    fn ifupdown_error_second_netmask() {
        let err =
            ifupdown_err("iface eth1:0 inet static\n address 10.0.0.1\n netmask 8\n netmask 16\n");
        assert_eq!(err.line, 4);
    }

    #[test]
    fn ifupdown_error_family_mismatch() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 2001:db8::1/64\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("`inet` stanza"), "{err}");
    }

    #[test]
    fn ifupdown_error_option_outside_stanza() {
        let err = ifupdown_err("auto eth1\naddress 10.0.0.1\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("outside a stanza"), "{err}");
    }

    #[test]
    fn ifupdown_error_malformed_iface_line() {
        let err = ifupdown_err("\n\niface eth1:0 inet\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("iface NAME FAMILY METHOD"), "{err}");
    }

    #[test]
    fn ifupdown_error_duplicate_address_names_both_lines() {
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:1 inet static\n address 192.168.0.1/24\n",
        );
        assert_eq!(err.line, 4);
        assert!(err.message.contains("line 2 and line 4"), "{err}");
    }

    #[test]
    fn ifupdown_error_classless_address_without_netmask() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 224.0.0.5\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("class D/E"), "{err}");
    }

    // --- iftab ----------------------------------------------------------------

    #[test]
    fn iftab_darwin_seed_line() {
        let imported = iftab("en0 inet 192.168.32.27 netmask 255.255.255.0 alias\n");
        assert_eq!(
            imported.aliases,
            vec![AliasSpec {
                interface: "en0".into(),
                address: net("192.168.32.27/24"),
                label: None,
                zone: None,
                routes: vec![],
            }]
        );
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }

    #[test]
    fn iftab_skips_primary_and_dynamic_lines() {
        let imported = iftab(
            "# Interface configuration\n\
             lo0 inet 127.0.0.1 netmask 255.0.0.0 up\n\
             en0 -AUTOMATIC-\n\
             en1 -DHCP-\n\
             en2 inet 10.0.0.2 netmask 0xff000000 broadcast 10.255.255.255 up\n\
             en2 up\n\
             en2 inet 10.0.0.3 netmask 0xff000000 broadcast 10.255.255.255 alias\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(imported.aliases[0].address, net("10.0.0.3/8"));
        assert_eq!(
            imported.warnings,
            vec![
                format!("line 2: lo0 127.0.0.1/8 {PRIMARY_NOT_IMPORTED}"),
                format!("line 5: en2 10.0.0.2/8 {PRIMARY_NOT_IMPORTED}"),
                "line 7: en2 10.0.0.3: `broadcast 10.255.255.255` not imported; alias-mgr sets no broadcast address".to_string(),
            ]
        );
    }

    #[test]
    fn iftab_hex_netmask() {
        let imported = iftab("en0 inet 192.168.32.27 netmask 0xffffff00 alias");
        assert_eq!(imported.aliases[0].address, net("192.168.32.27/24"));
        let err = iftab_err("en0 inet 192.168.32.27 netmask 0xffff00ff alias");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("not contiguous"), "{err}");
        let err = iftab_err("en0 inet 192.168.32.27 netmask 0xfffffff00 alias");
        assert!(err.message.contains("hex such as 0xffffff00"), "{err}");
    }

    #[test]
    fn iftab_mac_case_2_takes_the_subnet_prefix() {
        let imported = iftab(
            "en0 inet 192.168.32.27 netmask 255.255.255.0 alias\n\
             en0 inet 192.168.32.28 netmask 255.255.255.255 alias\n",
        );
        assert_eq!(imported.aliases[1].address, net("192.168.32.28/24"));
        assert_eq!(imported.warnings.len(), 1);
        let warning = &imported.warnings[0];
        assert!(warning.starts_with("line 2: "), "{warning}");
        assert!(
            warning.contains("255.255.255.255 is the Mac same-subnet rule; on Linux alias-mgr adds it as a secondary of 192.168.32.0/24"),
            "{warning}"
        );
    }

    #[test]
    fn iftab_mac_case_2_uses_primary_lines_and_most_specific_subnet() {
        let imported = iftab(
            "en0 inet 10.0.0.1 netmask 255.0.0.0\n\
             en0 inet 10.1.0.1 netmask 0xffff0000 alias\n\
             en0 inet 10.1.2.3 netmask 0xffffffff alias\n",
        );
        assert_eq!(imported.aliases[1].address, net("10.1.2.3/16"));
        assert!(
            has_warning(&imported, "secondary of 10.1.0.0/16 (from line 2)"),
            "{:?}",
            imported.warnings
        );
    }

    #[test]
    fn iftab_mac_case_2_without_match_keeps_32() {
        let imported = iftab(
            "en0 inet 192.168.32.27 netmask 255.255.255.0 alias\n\
             en1 inet 192.168.32.29 netmask 255.255.255.255 alias\n\
             en0 inet 192.168.33.1 netmask 255.255.255.255 alias\n\
             en0 inet 192.168.32.40 netmask 255.255.255.0 alias\n\
             en0 inet 192.168.32.30/32 alias\n",
        );
        assert_eq!(imported.aliases[1].address, net("192.168.32.29/32"));
        assert_eq!(imported.aliases[2].address, net("192.168.33.1/32"));
        // A later /32 still finds the earlier subnet; /32 aliases never serve as one.
        assert_eq!(imported.aliases[4].address, net("192.168.32.30/24"));
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
    }

    #[test]
    fn iftab_inet6_prefixlen() {
        let imported =
            iftab("en0 inet6 2001:db8::1 prefixlen 64 alias\nen0 inet6 2001:db8::2 alias\n");
        assert_eq!(imported.aliases[0].address, net("2001:db8::1/64"));
        assert_eq!(imported.aliases[1].address, net("2001:db8::2/64"));
        assert!(has_warning(
            &imported,
            "line 2: en0 2001:db8::2 has no netmask; using /64 (classful default)"
        ));
    }

    #[test]
    fn iftab_missing_netmask_uses_classful_default() {
        let imported = iftab("en0 inet 172.16.1.1 alias\nen0 inet 10.2.2.2 netmask + alias\n");
        assert_eq!(imported.aliases[0].address, net("172.16.1.1/16"));
        assert_eq!(imported.aliases[1].address, net("10.2.2.2/8"));
        assert!(has_warning(
            &imported,
            "line 1: en0 172.16.1.1 has no netmask; using /16 (classful default)"
        ));
        assert!(has_warning(&imported, "line 2: en0 10.2.2.2 netmask +"));
    }

    #[test]
    fn iftab_ambiguous_and_skipped_lines_warn() {
        let imported = iftab(
            "en0 inet 10.0.0.1 netmask 255.0.0.0 up\n\
             en0 inet 10.0.0.2 netmask 255.0.0.0\n\
             en1 -DHCP- alias\n\
             en0 inet 10.0.0.3 -alias\n\
             en0 inet 10.0.0.4 netmask 255.0.0.0 mtu 1400 alias\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        let w = &imported.warnings;
        assert!(
            has_warning(&imported, "line 2: en0 10.0.0.2 has no `alias` keyword"),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "line 3: en1 -DHCP- alias skipped"),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "line 4: en0 10.0.0.3 skipped"),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "line 5: en0 10.0.0.4: `mtu 1400` ignored"),
            "{w:?}"
        );
    }

    #[test]
    fn iftab_error_unknown_token() {
        let err = iftab_err("# c\nen0 inet 10.0.0.1 netmask 255.0.0.0 frobnicate alias\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("unexpected `frobnicate`"), "{err}");
        assert!(
            err.message
                .contains("en0 inet 192.168.32.27 netmask 255.255.255.0 alias"),
            "{err}"
        );
    }

    #[test]
    fn iftab_error_bad_address_and_family() {
        let err = iftab_err("en0 inet 10.0.0.256 netmask 255.0.0.0 alias");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("not an IP address"), "{err}");
        let err = iftab_err("\nen0 inet 2001:db8::1 alias");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("after `inet`"), "{err}");
        let err = iftab_err("en0 inet");
        assert!(err.message.contains("without an address"), "{err}");
    }

    #[test]
    fn iftab_error_netmask_problems() {
        let err = iftab_err("en0 inet6 2001:db8::1 netmask 64 alias");
        assert!(err.message.contains("prefixlen 64"), "{err}");
        let err = iftab_err("\n\nen0 inet 10.0.0.1 netmask");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("`netmask` without a value"), "{err}");
        let err = iftab_err("en0 inet 10.0.0.1/16 netmask 255.0.0.0 alias");
        assert!(err.message.contains("make them agree"), "{err}");
        let err = iftab_err("en0 inet 10.0.0.1 netmask 24 alias");
        assert!(err.message.contains("not a netmask"), "{err}");
    }

    #[test]
    fn iftab_error_interface_alone() {
        let err = iftab_err("\nen0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("configures nothing"), "{err}");
    }

    #[test]
    fn iftab_error_duplicate_address() {
        let err = iftab_err(
            "en0 inet 10.0.0.1 netmask 255.0.0.0\n\
             en1 inet 10.0.0.1 netmask 255.0.0.0 alias\n",
        );
        assert_eq!(err.line, 2);
        assert!(err.message.contains("line 1 and line 2"), "{err}");
    }

    // --- ifaliases --------------------------------------------------------------

    #[test]
    fn ifaliases_lines() {
        let imported = ifaliases(
            "# NetBSD aliases\n\
             192.168.0.1 wm0 255.255.255.0\n\
             2001:db8::5 wm0 64\n\
             10.1.1.1 wm1 0xffff0000   # hex like ifconfig\n\
             172.20.0.1/12 wm1\n",
        );
        let addresses: Vec<_> = imported.aliases.iter().map(|a| a.address).collect();
        assert_eq!(
            addresses,
            vec![
                net("192.168.0.1/24"),
                net("2001:db8::5/64"),
                net("10.1.1.1/16"),
                net("172.20.0.1/12")
            ]
        );
        assert!(imported
            .aliases
            .iter()
            .all(|a| a.label.is_none() && a.routes.is_empty()));
        assert_eq!(imported.aliases[0].interface, "wm0");
        assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    }

    #[test]
    fn ifaliases_missing_netmask_uses_classful_default() {
        let imported = ifaliases("\n192.168.7.7 wm0\n");
        assert_eq!(imported.aliases[0].address, net("192.168.7.7/24"));
        assert_eq!(
            imported.warnings,
            vec![
                "line 2: wm0 192.168.7.7 has no netmask; using /24 (classful default)".to_string()
            ]
        );
    }

    #[test]
    fn ifaliases_error_field_count() {
        let err = ifaliases_err("192.168.0.1 wm0 255.255.255.0 extra");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("4 fields"), "{err}");
        assert!(err.message.contains("ADDRESS INTERFACE [NETMASK]"), "{err}");
        let err = ifaliases_err("\n192.168.0.1\n");
        assert_eq!(err.line, 2);
    }

    #[test]
    fn ifaliases_error_swapped_columns() {
        let err = ifaliases_err("wm0 192.168.0.1");
        assert!(
            err.message.contains("\"wm0\" is not an IP address"),
            "{err}"
        );
        let err = ifaliases_err("192.168.0.1 192.168.0.2");
        assert!(err.message.contains("not an interface name"), "{err}");
    }

    #[test]
    fn ifaliases_error_bad_netmask() {
        let err = ifaliases_err("192.168.0.1 wm0 255.255.0.255");
        assert!(err.message.contains("not contiguous"), "{err}");
        let err = ifaliases_err("2001:db8::5 wm0 255.255.255.0");
        assert!(err.message.contains("IPv6 prefix length"), "{err}");
        let err = ifaliases_err("10.0.0.1/8 wm0 255.255.0.0");
        assert!(err.message.contains("make them agree"), "{err}");
        let err = ifaliases_err("10.0.0.1/40 wm0");
        assert!(err.message.contains("invalid prefix length"), "{err}");
    }

    #[test]
    fn ifaliases_error_duplicate_address() {
        let err = ifaliases_err("10.0.0.1 wm0 255.0.0.0\n\n10.0.0.1 wm1 255.255.0.0\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("line 1 and line 3"), "{err}");
    }

    // --- helpers ----------------------------------------------------------------

    #[test]
    fn netmask_forms() {
        let all = MaskForms {
            hex: true,
            v4_length: true,
        };
        assert_eq!(parse_netmask("255.255.255.0", false, all), Ok(24));
        assert_eq!(parse_netmask("0xFFFF0000", false, all), Ok(16));
        assert_eq!(parse_netmask("0.0.0.0", false, all), Ok(0));
        assert_eq!(parse_netmask("255.255.255.255", false, all), Ok(32));
        assert_eq!(parse_netmask("24", false, all), Ok(24));
        assert_eq!(parse_netmask("128", true, all), Ok(128));
        assert!(parse_netmask("+24", false, all).is_err());
        assert!(parse_netmask("0x", false, all).is_err());
    }

    #[test]
    fn comments_need_a_word_start() {
        assert_eq!(strip_comment("a b#c # d"), "a b#c ");
        assert_eq!(strip_comment("#x"), "");
    }

    // --- the shared alias rules ------------------------------------------------

    #[test]
    fn ifupdown_long_label_suggests_one_from_the_interface() {
        let err = ifupdown_err("\niface enp0s31f6:webserver inet static\n address 10.0.0.1/8\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("is 19 bytes"), "{err}");
        assert!(err.message.ends_with("such as enp0s31f6:webse"), "{err}");
        assert!(!err.message.contains("eth1"), "{err}");
    }

    #[test]
    fn ifupdown_refused_addresses_point_at_the_address_line() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 192.168.0.255/24\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("broadcast address of 192.168.0.0/24"),
            "{err}"
        );
        assert!(!err.message.contains("classful"), "{err}");

        let err = ifupdown_err(
            "iface eth1:0 inet static\n netmask 255.255.255.0\n address 192.168.0.0\n",
        );
        assert_eq!(err.line, 3);
        assert!(err.message.contains("network address"), "{err}");

        let err = ifupdown_err("iface lo:1 inet static\n address 127.0.0.2/8\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message
                .contains("loopback addresses already answer on lo"),
            "{err}"
        );

        let err = ifupdown_err("iface eth1:6 inet6 static\n address ::ffff:10.1.1.3/120\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message
                .ends_with("add the IPv4 address 10.1.1.3/24 instead"),
            "{err}"
        );

        let err = ifupdown_err("iface eth1:0 inet static\n address 10.1.1.3/0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("/0 would make"), "{err}");

        // Link-local is fine.
        let imported = ifupdown("iface eth1:0 inet static\n address 169.254.3.4/16\n");
        assert_eq!(imported.aliases[0].address, net("169.254.3.4/16"));
    }

    #[test]
    fn ifupdown_classful_default_is_named_when_it_causes_the_refusal() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 192.168.0.0\n");
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("network address of 192.168.0.0/24"),
            "{err}"
        );
        assert!(err.message.contains("/24 is the classful default"), "{err}");
    }

    #[test]
    fn iftab_refused_addresses_name_their_line() {
        let err = iftab_err("en0 inet 192.168.1.1 netmask 255.255.255.0\nen0 inet 224.0.0.9 netmask 255.255.255.0 alias\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("multicast"), "{err}");

        // The Mac same-subnet rule turns .255/32 into the subnet's broadcast.
        let err = iftab_err(
            "en0 inet 10.0.0.1 netmask 255.255.255.0\nen0 inet 10.0.0.255 netmask 255.255.255.255 alias\n",
        );
        assert_eq!(err.line, 2);
        assert!(err.message.contains("broadcast address"), "{err}");
        assert!(err.message.contains("same-subnet rule"), "{err}");

        let err = iftab_err("en0 inet 172.16.255.255 alias\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("/16 is the classful default"), "{err}");
    }

    #[test]
    fn ifaliases_refused_addresses_name_their_line() {
        let err = ifaliases_err("10.0.0.1 wm0\n192.168.1.255 wm0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("broadcast address"), "{err}");
        assert!(err.message.contains("/24 is the classful default"), "{err}");

        let err = ifaliases_err("127.0.0.2 wm0 255.0.0.0\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("loopback"), "{err}");
        assert!(!err.message.contains("classful"), "{err}");

        let err = ifaliases_err("0.0.0.0 wm0 255.255.255.0\n");
        assert!(err.message.contains("unspecified"), "{err}");

        let imported = ifaliases("192.168.1.255 wm0 255.255.255.255\n");
        assert_eq!(imported.aliases[0].address, net("192.168.1.255/32"));
    }

    // --- addresses added by hook commands ------------------------------------

    fn spec(interface: &str, address: &str, label: Option<&str>) -> AliasSpec {
        alias(
            interface,
            net(address),
            label.map(str::to_string),
            Vec::new(),
        )
    }

    #[test]
    fn ifupdown_ip_addr_add_in_the_primary_stanza_become_aliases() {
        let imported = ifupdown(
            "auto eth1\n\
             iface eth1 inet static\n\
             \taddress 192.168.1.1/24\n\
             \tup ip addr add 192.168.5.1/24 dev eth1 label eth1:5\n\
             \tup ip address add 192.168.7.1/24 dev $IFACE\n\
             \tpre-up /sbin/ip -4 addr add 10.20.0.1/16 dev ${IFACE} label ${IFACE}:7\n\
             \tpost-up ip a add 192.168.8.1/24 brd + dev \"$IFACE\" || true\n\
             \tup ip -6 addr add 2001:db8::1/64 dev eth1\n\
             \tdown ip addr del 192.168.5.1/24 dev eth1 label eth1:5\n\
             \tpre-down ip -6 addr del 2001:db8::1/64 dev eth1\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                spec("eth1", "192.168.5.1/24", Some("eth1:5")),
                spec("eth1", "192.168.7.1/24", None),
                spec("eth1", "10.20.0.1/16", Some("eth1:7")),
                spec("eth1", "192.168.8.1/24", None),
                spec("eth1", "2001:db8::1/64", None),
            ]
        );
        // Only the primary's own warning: the removals are silent.
        assert_eq!(
            imported.warnings,
            vec![format!(
                "line 3: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"
            )]
        );
    }

    #[test]
    fn ifupdown_ifconfig_commands_become_aliases() {
        let imported = ifupdown(
            "iface eth1 inet manual\n\
             \tup ifconfig eth1:6 192.168.6.1 netmask 255.255.255.0 up\n\
             \tup /sbin/ifconfig eth1:7 192.168.9.1/24\n\
             \tpost-up ifconfig eth1 inet6 add 2001:db8::6/64\n\
             \tup ifconfig $IFACE:8 172.16.0.1\n\
             \tdown ifconfig eth1:6 down\n\
             \tdown ifconfig eth1 inet6 del 2001:db8::6/64\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                spec("eth1", "192.168.6.1/24", Some("eth1:6")),
                spec("eth1", "192.168.9.1/24", Some("eth1:7")),
                spec("eth1", "2001:db8::6/64", None),
                spec("eth1", "172.16.0.1/16", Some("eth1:8")),
            ]
        );
        assert_eq!(
            imported.warnings,
            vec![
                "line 5: eth1: 172.16.0.1 has no netmask; using /16 (classful default): `up ifconfig $IFACE:8 172.16.0.1`"
                    .to_string()
            ]
        );
    }

    #[test]
    fn ifupdown_hook_addresses_in_alias_and_other_stanzas() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n\
             \taddress 192.168.0.1/24\n\
             \tup ip addr add 192.168.0.2/24 dev eth1 label eth1:1\n\
             \tup ip route add 10.9.0.0/16 via 192.168.0.254 dev $IFACE\n\
             iface eth2 inet dhcp\n\
             \tup ip addr add 10.50.0.1/16 dev eth2\n\
             iface eth3:0 inet dhcp\n\
             \tup ifconfig eth3:1 10.60.0.1 netmask 255.255.0.0\n",
        );
        assert_eq!(
            imported.aliases,
            vec![
                AliasSpec {
                    routes: vec![route("10.9.0.0/16@192.168.0.254")],
                    ..spec("eth1", "192.168.0.1/24", Some("eth1:0"))
                },
                spec("eth1", "192.168.0.2/24", Some("eth1:1")),
                spec("eth2", "10.50.0.1/16", None),
                spec("eth3", "10.60.0.1/16", Some("eth3:1")),
            ]
        );
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("line 7: eth3:0 inet dhcp skipped"));
    }

    #[test]
    fn ifupdown_hook_address_without_prefix() {
        // `ip addr add` without a length adds a host address; net-tools
        // ifconfig takes the classful mask for IPv4, /128 for inet6 add.
        let imported = ifupdown(
            "iface eth1 inet manual\n\
             up ip addr add 192.168.5.1 dev eth1\n\
             up ip -6 addr add 2001:db8::9 dev eth1\n\
             up ifconfig eth1:1 10.1.2.3\n\
             up ifconfig eth1 inet6 add 2001:db8::10\n",
        );
        let addresses: Vec<_> = imported.aliases.iter().map(|a| a.address).collect();
        assert_eq!(
            addresses,
            vec![
                net("192.168.5.1/32"),
                net("2001:db8::9/128"),
                net("10.1.2.3/8"),
                net("2001:db8::10/128")
            ]
        );
        let w = &imported.warnings;
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(
            w[0].starts_with(
                "line 2: eth1: 192.168.5.1 has no prefix length; using /32, as ip does"
            ),
            "{w:?}"
        );
        assert!(
            w[2].starts_with("line 4: eth1: 10.1.2.3 has no netmask; using /8 (classful default)"),
            "{w:?}"
        );
        assert!(w[3].contains("using /128, as ifconfig does"), "{w:?}");
    }

    #[test]
    fn ifupdown_hook_addresses_that_cannot_be_aliases_are_warnings() {
        let imported = ifupdown(
            "iface eth1 inet manual\n\
             up ip addr add 192.168.5.300/24 dev eth1\n\
             up ip addr add 10.0.0.1/8\n\
             up ip addr add 10.0.0.2/8 dev eth1 label eth2:0\n\
             up ip addr add 10.0.0.3/8 dev eth1 peer 10.0.0.4\n\
             up ifconfig eth1:9 224.0.0.1\n\
             up ip addr add 192.168.1.255/24 dev eth1\n\
             up ip addr add 10.0.0.5/8 dev eth1 metric 5 nodad\n\
             up ifconfig eth1:2 10.0.0.6 netmask 255.0.0.0 mtu 1400\n",
        );
        let addresses: Vec<_> = imported.aliases.iter().map(|a| a.address).collect();
        assert_eq!(addresses, vec![net("10.0.0.5/8"), net("10.0.0.6/8")]);
        let w = &imported.warnings;
        for needle in [
            "line 2: eth1: address not imported (\"192.168.5.300\" is not an IP address): `up ip addr add 192.168.5.300/24 dev eth1`",
            "line 3: eth1: address not imported (no `dev`",
            "line 4: eth1: address not imported (label \"eth2:0\" is for interface eth2",
            "line 5: eth1: address not imported (`peer` has no equivalent in an alias)",
            "line 6: eth1: address not imported (224.0.0.1 has no netmask and no classful default",
            "line 7: eth1: address not imported (192.168.1.255/24 is the broadcast address",
            "line 8: eth1: metric 5 dropped: `up ip addr add 10.0.0.5/8",
            "line 8: eth1: nodad dropped: ",
            "line 9: eth1: mtu 1400 dropped; it is an interface setting",
        ] {
            assert!(has_warning(&imported, needle), "{needle}\n{w:?}");
        }
        assert_eq!(w.len(), 9, "{w:?}");
    }

    #[test]
    fn ifupdown_other_hook_commands_warn_in_every_stanza() {
        let imported = ifupdown(
            "iface eth1 inet static\n\
             \taddress 192.168.1.1/24\n\
             \tup echo primary\n\
             \tup ip route add 10.9.0.0/16 via 192.168.1.254\n\
             iface eth2 inet manual\n\
             \tpost-up ip link set eth2 mtu 9000\n\
             \tdown /usr/local/sbin/cleanup\n\
             iface eth3 inet dhcp\n\
             \tup ip addr del 10.0.0.1/8 dev eth3\n\
             iface eth4:0 inet dhcp\n\
             \tpre-up /usr/local/sbin/prepare\n\
             iface eth1:0 inet static\n\
             \taddress 192.168.0.1/24\n\
             \tup echo alias\n\
             \tdown ip addr del 192.168.0.1/24 dev eth1\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        let expected = [
            format!("line 2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"),
            "line 3: eth1: `up echo primary` not imported; only route and address additions are imported".to_string(),
            "line 4: eth1: route not imported (only the routes of alias stanzas become alias routes): `up ip route add 10.9.0.0/16 via 192.168.1.254`".to_string(),
            "line 6: eth2: `post-up ip link set eth2 mtu 9000` not imported; only route and address additions are imported".to_string(),
            "line 7: eth2: `down /usr/local/sbin/cleanup` not imported".to_string(),
            "line 9: eth3: `up ip addr del 10.0.0.1/8 dev eth3` not imported; only route and address additions are imported".to_string(),
            "line 10: eth4:0 inet dhcp skipped; only `inet static` and `inet6 static` aliases are imported".to_string(),
            "line 11: eth4:0: `pre-up /usr/local/sbin/prepare` not imported; only route and address additions are imported".to_string(),
            "line 14: eth1:0: `up echo alias` not imported; only route and address additions are imported".to_string(),
        ];
        assert_eq!(imported.warnings, expected);
    }

    #[test]
    fn iface_substitution_leaves_other_variables() {
        assert_eq!(substitute_iface("dev $IFACE", "eth1"), "dev eth1");
        assert_eq!(substitute_iface("dev ${IFACE}:1", "eth1"), "dev eth1:1");
        assert_eq!(
            substitute_iface("$IFACE_X $LOGICAL", "eth1"),
            "$IFACE_X $LOGICAL"
        );
        assert!(matches!(
            parse_hook("ip addr add 10.0.0.1/8 dev $LOGICAL", "eth1"),
            Hook::Other
        ));
    }

    // --- duplicates within one import ------------------------------------------

    #[test]
    fn ifupdown_duplicate_label_names_both_stanzas() {
        let err = parse_ifupdown(
            "f.if",
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.2/24\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.if:3: label eth1:0 is already used by 192.168.0.1 (line 1); give this stanza another label"
        );

        // A command giving a label a stanza already has.
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1 inet manual\n up ip addr add 192.168.0.2/24 dev eth1 label eth1:0\n",
        );
        assert_eq!(err.line, 4);
        assert!(
            err.message
                .ends_with("already used by 192.168.0.1 (line 1); give this line another label"),
            "{err}"
        );
    }

    #[test]
    fn ifupdown_duplicate_address_from_a_command_names_both_lines() {
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1 inet manual\n up ip addr add 192.168.0.1/24 dev eth1 label eth1:5\n",
        );
        assert_eq!(err.line, 4);
        assert!(err.message.contains("line 2 and line 4"), "{err}");
        // Another prefix is another alias, not a repeat.
        let err = ifupdown_err(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.1/16\n",
        );
        assert_eq!(err.line, 4);
        assert!(err.message.contains("line 2 and line 4"), "{err}");
    }

    #[test]
    fn ifupdown_exact_duplicate_is_skipped_with_a_warning() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n address 192.168.0.1/24\n\
             \tup ip route add 10.1.0.0/16 via 192.168.0.254\n\
             iface eth1:0 inet static\n address 192.168.0.1\n netmask 255.255.255.0\n\
             \tup ip route add 10.2.0.0/16 via 192.168.0.254\n\
             iface eth1 inet manual\n up ifconfig eth1:0 192.168.0.1 netmask 255.255.255.0\n",
        );
        assert_eq!(
            imported.aliases,
            vec![AliasSpec {
                routes: vec![
                    route("10.1.0.0/16@192.168.0.254"),
                    route("10.2.0.0/16@192.168.0.254")
                ],
                ..spec("eth1", "192.168.0.1/24", Some("eth1:0"))
            }]
        );
        assert_eq!(
            imported.warnings,
            vec![
                "line 5: 192.168.0.1/24 on eth1 label eth1:0 repeats line 2; imported once (with the routes of both)".to_string(),
                "line 9: 192.168.0.1/24 on eth1 label eth1:0 repeats line 2; imported once".to_string(),
            ]
        );
    }

    #[test]
    fn imported_aliases_merge_into_a_config() {
        let imported = ifupdown(
            "iface eth1 inet static\n address 192.168.1.1/24\n\
             up ip addr add 192.168.5.1/24 dev eth1 label eth1:5\n\
             up ifconfig eth1:6 192.168.6.1 netmask 255.255.255.0\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n\
             iface eth1:0 inet static\n address 192.168.0.1/24\n",
        );
        let mut file =
            crate::config::ConfigFile::parse(std::path::Path::new("<imported>"), "").unwrap();
        assert_eq!(file.merge_aliases(&imported.aliases).unwrap(), 3);
    }

    #[test]
    fn iftab_and_ifaliases_exact_duplicates_are_skipped_with_a_warning() {
        let imported = iftab(
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias\n\
             en0 inet 10.0.0.1 netmask 0xff000000 alias\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec!["line 2: 10.0.0.1/8 on en0 repeats line 1; imported once".to_string()]
        );
        let err = iftab_err(
            "en0 inet 10.0.0.1 netmask 255.0.0.0 alias\n\
             en0 inet 10.0.0.1 netmask 255.255.0.0 alias\n",
        );
        assert_eq!(err.line, 2);
        assert!(err.message.contains("line 1 and line 2"), "{err}");

        let imported = ifaliases("10.0.0.1 wm0 255.0.0.0\n10.0.0.1/8 wm0\n");
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec!["line 2: 10.0.0.1/8 on wm0 repeats line 1; imported once".to_string()]
        );
        let err = ifaliases_err("10.0.0.1 wm0 255.0.0.0\n10.0.0.1 wm0 255.255.0.0\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("line 1 and line 2"), "{err}");
    }

    // --- primaries, broadcast, warning order ----------------------------------

    #[test]
    fn iftab_primary_and_broadcast_warn() {
        let imported = iftab(
            "en0 inet 192.168.32.27 netmask 255.255.255.0 broadcast 192.168.32.255\n\
             en0 inet 192.168.32.28 netmask 255.255.255.0 broadcast 192.168.32.255 alias\n\
             en1 inet 10.1.1.1\n",
        );
        assert_eq!(imported.aliases.len(), 1);
        assert_eq!(
            imported.warnings,
            vec![
                format!("line 1: en0 192.168.32.27/24 {PRIMARY_NOT_IMPORTED}"),
                "line 2: en0 192.168.32.28: `broadcast 192.168.32.255` not imported; alias-mgr sets no broadcast address".to_string(),
                format!("line 3: en1 10.1.1.1 {PRIMARY_NOT_IMPORTED}"),
            ]
        );
    }

    #[test]
    fn ifupdown_primary_warning_shows_the_netmask_or_the_text() {
        let imported = ifupdown(
            "iface eth1 inet static\n address 192.168.1.1\n netmask 255.255.0.0\n\
             iface eth2 inet static\n address 10.0.0.1\n\
             iface eth3 inet static\n address bogus\n",
        );
        assert_eq!(
            imported.warnings,
            vec![
                format!("line 2: eth1 192.168.1.1/16 {PRIMARY_NOT_IMPORTED}"),
                format!("line 5: eth2 10.0.0.1 {PRIMARY_NOT_IMPORTED}"),
                format!("line 7: eth3 bogus {PRIMARY_NOT_IMPORTED}"),
            ]
        );
    }

    #[test]
    fn warnings_come_in_line_order() {
        let imported = ifupdown(
            "iface eth1:0 inet static\n\
             \taddress 192.168.0.1\n\
             \tgateway 192.168.0.254\n\
             \tup echo hello\n\
             source /etc/network/interfaces.d/*\n",
        );
        let lines: Vec<&str> = imported
            .warnings
            .iter()
            .map(|w| w.split(':').next().unwrap())
            .collect();
        assert_eq!(lines, ["line 1", "line 3", "line 4", "line 5"]);

        let mut warnings = vec![
            "line 10: b".to_string(),
            "line 2: a".to_string(),
            "line 10: a".to_string(),
            "line 1: c".to_string(),
        ];
        sort_by_line(&mut warnings);
        assert_eq!(
            warnings,
            ["line 1: c", "line 2: a", "line 10: b", "line 10: a"]
        );
    }
}
