//! Debian ifupdown: `/etc/network/interfaces` stanzas.

use std::{collections::HashSet, net::IpAddr, path::Path};

use ipnet::IpNet;

use super::{
    collected::{
        alias, check_address, classful_guess, default_prefix, parse_address, sort_by_line,
        Collected, PRIMARY_NOT_IMPORTED,
    },
    hook::{is_hook, HookContext, StanzaOption},
    lines::Ctx,
    sources::{read_all, Files},
    stanzas::{collect_stanzas, Stanza},
    ImportError, Imported,
};
use crate::core::{
    model::{validate_label_for, AliasSpec, RouteSpec},
    parse::{parse_netmask, MaskForms},
};

/// Parses `/etc/network/interfaces`: `text` is the file at `path`; the
/// files its `source` lines name are read through `files`.
///
/// Aliases are `iface eth1:0 inet static` stanzas, the extra `static`
/// stanzas Debian allows for a plain name (`iface eth1 inet static` twice),
/// and addresses that hook commands of any stanza add (`up ip addr add ...`,
/// `up ifconfig eth1:6 ...`). The first stanza of a name and family, unless
/// `manual`, configures the interface itself and is left alone: alias-mgr
/// must not own the primary.
pub fn parse_ifupdown(path: &Path, text: &str, files: &dyn Files) -> Result<Imported, ImportError> {
    let read = read_all(path, text, files)?;
    let ctx = Ctx::Files(&read.files);
    let mut warnings = read.warnings;
    let stanzas = collect_stanzas(&ctx, &read.items, &mut warnings)?;
    let mut primaries: HashSet<(String, String)> = HashSet::new();
    let mut collected = Collected::default();
    for (index, stanza) in stanzas.list.iter().enumerate() {
        if let Some(user) = stanzas.template_user(index) {
            warnings.push(format!(
                "line {}: {} is a template ({} inherits it at {}) that no auto or allow- line brings up; not imported itself",
                stanza.line,
                stanza.name,
                user.name,
                ctx.at(user.line)
            ));
            continue;
        }
        let mut added: Vec<(AliasSpec, usize)> = Vec::new();
        let role = classify_stanza(&ctx, stanza, &mut primaries, &mut warnings)?;
        import_stanza(
            &ctx,
            stanza,
            role,
            &mut collected,
            &mut added,
            &mut warnings,
        )?;
        for (spec, line) in added {
            collected.add(&ctx, spec, (line, line), "line", &mut warnings)?;
        }
    }
    sort_by_line(&mut warnings);
    Ok(Imported {
        aliases: collected.aliases,
        warnings: warnings.into_iter().map(|w| ctx.place(w)).collect(),
    })
}

/// One stanza's alias, or its primary's warning; aliases its hook commands
/// add go to `added`.
fn import_stanza(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    role: Role,
    collected: &mut Collected,
    added: &mut Vec<(AliasSpec, usize)>,
    warnings: &mut Vec<String>,
) -> Result<(), ImportError> {
    let base = stanza
        .name
        .split_once(':')
        .map_or(stanza.name.as_str(), |(interface, _)| interface);
    if let Role::Alias { interface, label } = role {
        let (mut spec, address_line) =
            build_ifupdown_alias(ctx, stanza, base, interface, label, added, warnings)?;
        // ifupdown gives each stanza's address its label, even one that an
        // earlier stanza's address has; alias-mgr's labels are unique.
        if let Some(label) = spec.label.clone() {
            match collected.label_user(&spec.interface, &label) {
                Some((ip, line)) if ip != spec.ip() => {
                    warnings.push(format!(
                        "line {address_line}: {}: label {label} is already used by {ip} ({}); imported without a label, as labels are unique per interface in alias-mgr",
                        stanza.name,
                        ctx.at(line)
                    ));
                    spec.label = None;
                }
                _ => {}
            }
        }
        return collected.add(ctx, spec, (address_line, stanza.line), "stanza", warnings);
    }
    for option in &stanza.options {
        if role == Role::Primary && option.key == "address" {
            warnings.push(format!(
                "line {}: {} {} {PRIMARY_NOT_IMPORTED}",
                option.line,
                stanza.name,
                primary_address(ctx, stanza, option)?
            ));
        } else if is_hook(&option.key) {
            let hook = HookContext {
                who: &stanza.name,
                base,
                alias: None,
            };
            hook.handle(option, &mut Vec::new(), added, warnings);
        }
    }
    Ok(())
}

/// A primary stanza's address as the warning shows it: with the prefix
/// the stanza gives, or as written when it doesn't parse. A netmask that
/// contradicts the address's `/LEN` is refused as in an alias stanza.
fn primary_address(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    address: &StanzaOption,
) -> Result<String, ImportError> {
    let Ok((ip, prefix)) = parse_address(&address.value) else {
        return Ok(address.value.clone());
    };
    let forms = MaskForms {
        hex: false,
        v4_length: true,
    };
    let netmask = stanza
        .options
        .iter()
        .find(|option| option.key == "netmask")
        .and_then(|option| {
            let prefix = parse_netmask(&option.value, ip.is_ipv6(), forms).ok()?;
            Some((prefix, option.line))
        });
    Ok(
        match agreeing_prefix(ctx, (prefix, address.line), netmask)? {
            Some(prefix) => format!("{ip}/{prefix}"),
            None => ip.to_string(),
        },
    )
}

/// The prefix length from an address's `/LEN` and a `netmask` line. ifupdown
/// uses the netmask when both are given; alias-mgr takes them when they
/// agree and refuses a contradiction, naming both lines.
fn agreeing_prefix(
    ctx: &Ctx<'_>,
    (cidr, address_line): (Option<u8>, usize),
    netmask: Option<(u8, usize)>,
) -> Result<Option<u8>, ImportError> {
    match (cidr, netmask) {
        (Some(from_address), Some((from_netmask, netmask_line))) if from_address != from_netmask => {
            Err(ctx.err(
                netmask_line,
                format!(
                    "netmask gives /{from_netmask} but the address on {} gives /{from_address}; make them agree (ifupdown would use the netmask)",
                    ctx.at(address_line)
                ),
            ))
        }
        (Some(prefix), _) | (None, Some((prefix, _))) => Ok(Some(prefix)),
        (None, None) => Ok(None),
    }
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
            .map_err(|refused| ctx.err(stanza.line, refused.to_string()))?;
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

/// What an alias stanza's option lines say, each with its line.
#[derive(Default)]
struct AliasOptions {
    address: Option<(IpAddr, Option<u8>, usize)>,
    netmask: Option<(u8, usize)>,
    routes: Vec<(RouteSpec, usize)>,
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
    let hook = HookContext {
        who,
        base,
        alias: Some((&interface, label.as_deref())),
    };
    let options = read_alias_options(ctx, stanza, &hook, added, warnings)?;
    let Some((ip, cidr, address_line)) = options.address else {
        let family = stanza.family.as_deref().unwrap_or("inet");
        return Err(ctx.err(
            stanza.line,
            format!(
                "{who} {family} static has no address; expected an `{}` line after it",
                address_example(family == "inet6")
            ),
        ));
    };
    let (prefix, guess) = stanza_prefix(
        ctx,
        stanza,
        (ip, cidr, address_line),
        options.netmask,
        warnings,
    )?;
    let address = IpNet::new(ip, prefix)
        .map_err(|_| ctx.err(address_line, format!("/{prefix} is not valid for {ip}")))?;
    check_address(&address, guess).map_err(|message| ctx.err(address_line, message))?;
    let routes = routes_of_its_version(who, ip, options.routes, warnings);
    Ok((alias(&interface, address, label, routes), address_line))
}

fn address_example(v6: bool) -> &'static str {
    if v6 {
        "address 2001:db8::1/64"
    } else {
        "address 192.168.0.1/24"
    }
}

/// Reads the `address`, `netmask`, `gateway` and hook lines of an alias
/// stanza; the rest becomes a warning.
fn read_alias_options(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    hook: &HookContext<'_>,
    added: &mut Vec<(AliasSpec, usize)>,
    warnings: &mut Vec<String>,
) -> Result<AliasOptions, ImportError> {
    let who = &stanza.name;
    let family = stanza.family.as_deref().unwrap_or("inet");
    let v6 = family == "inet6";
    let mut options = AliasOptions::default();
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
                if let Some((_, _, first)) = options.address {
                    return Err(ctx.err(
                        line,
                        format!("{who} has a second address (the first is on {}); give each address its own `iface {who} {family} static` stanza", ctx.at(first)),
                    ));
                }
                let example = address_example(v6);
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
                options.address = Some((ip, prefix, line));
            }
            "netmask" => {
                if let Some((_, first)) = options.netmask {
                    return Err(ctx.err(
                        line,
                        format!("{who} has a second netmask (the first is on {}); expected one", ctx.at(first)),
                    ));
                }
                needs_value(if v6 { "netmask 64" } else { "netmask 255.255.255.0" })?;
                let forms = MaskForms {
                    hex: false,
                    v4_length: true,
                };
                let prefix = parse_netmask(value, v6, forms).map_err(|message| ctx.err(line, message))?;
                options.netmask = Some((prefix, line));
            }
            "gateway" => warnings.push(format!(
                "line {line}: {who}: gateway {value} ignored; an alias doesn't set the default gateway (add a route instead)"
            )),
            _ if is_hook(key) => hook.handle(option, &mut options.routes, added, warnings),
            _ => warnings.push(format!("line {line}: {who}: `{key} {value}` not imported")),
        }
    }
    Ok(options)
}

/// The prefix length from the address's `/LEN` or the `netmask` line, which
/// must agree, else the classful default with a warning; with the note for
/// a refusal that a guessed prefix causes.
fn stanza_prefix(
    ctx: &Ctx<'_>,
    stanza: &Stanza,
    (ip, cidr, address_line): (IpAddr, Option<u8>, usize),
    netmask: Option<(u8, usize)>,
    warnings: &mut Vec<String>,
) -> Result<(u8, Option<String>), ImportError> {
    if let Some(prefix) = agreeing_prefix(ctx, (cidr, address_line), netmask)? {
        return Ok((prefix, None));
    }
    let prefix = default_prefix(ip).map_err(|message| ctx.err(stanza.line, message))?;
    warnings.push(format!(
        "line {}: {} has no netmask; using /{prefix} (classful default)",
        stanza.line, stanza.name
    ));
    Ok((prefix, Some(classful_guess(prefix))))
}

/// The stanza's routes that can go with an alias of `ip`'s IP version,
/// each once; the others become warnings.
fn routes_of_its_version(
    who: &str,
    ip: IpAddr,
    routes: Vec<(RouteSpec, usize)>,
    warnings: &mut Vec<String>,
) -> Vec<RouteSpec> {
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
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, AliasBuilder};
    use crate::import::test_util::*;

    // --- ifupdown -------------------------------------------------------------

    #[test]
    fn ifupdown_linux_seed_yields_one_alias() {
        let imported = ifupdown(
            "iface eth1 inet static\naddress 192.168.1.1\nnetmask 255.255.255.0\nauto eth1\n\n\
             iface eth1:0 inet static\naddress 192.168.0.1\nnetmask 255.255.255.0\nauto eth1:0\n",
        );
        assert_eq!(
            imported.aliases,
            vec![alias("eth1", "192.168.0.1/24").label("eth1:0")]
        );
        assert_eq!(
            imported.warnings,
            vec![format!(
                "interfaces:2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"
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
                format!("interfaces:2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"),
                format!("interfaces:6: eth1 2001:db8::1/64 {PRIMARY_NOT_IMPORTED}"),
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
            vec!["interfaces:2: eth1:0 has no netmask; using /24 (classful default)".to_string()]
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
            has_warning(
                &imported,
                "interfaces:3: eth1:0: gateway 192.168.0.254 ignored"
            ),
            "{:?}",
            imported.warnings
        );
        assert!(has_warning(
            &imported,
            "interfaces:4: eth1:0: `broadcast 192.168.0.255` not imported"
        ));
    }

    #[test]
    fn ifupdown_dynamic_alias_stanzas_are_skipped_with_warning() {
        let imported =
            ifupdown("iface eth1:0 inet dhcp\niface eth1 inet dhcp\niface eth3 inet6 auto\n");
        assert!(imported.aliases.is_empty());
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("interfaces:1: eth1:0 inet dhcp skipped"));
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
            has_warning(
                &imported,
                "interfaces:3: eth1:0: route not imported (`table`"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:4: eth1:0: route not imported (a default route"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:5: eth1:0: route not imported (route \"10.9.0.1/16@"
            ),
            "{w:?}"
        );
        assert!(has_warning(&imported, "did you mean 10.9.0.0/16?"), "{w:?}");
        assert!(
            has_warning(
                &imported,
                "interfaces:6: eth1:0: route not imported (it is on eth7, not eth1)"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:7: eth1:0: route not imported (-net 10.3.0.0 has no netmask)"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:8: eth1:0: `up echo hello` not imported"
            ),
            "{w:?}"
        );
        assert!(
            has_warning(&imported, "interfaces:9: eth1:0: metric 5 dropped"),
            "{w:?}"
        );
        assert!(
            has_warning(
                &imported,
                "interfaces:10: eth1:0: `post-down /etc/network/cleanup.sh` not imported"
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
        assert!(err.message.contains("interfaces:2"), "{err}");
    }

    #[test]
    fn ifupdown_error_label_too_long() {
        let err =
            ifupdown_err("auto x\niface enx00e04c680001:0 inet static\n address 10.0.0.1/8\n");
        assert_eq!(err.line, 2);
        assert_eq!(
            err.message,
            validate_label_for("enx00e04c680001:0", "enx00e04c680001")
                .unwrap_err()
                .to_string()
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
        assert!(err.message.contains("interfaces:2"), "{err}");
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
        assert!(
            err.message.contains("interfaces:2 and interfaces:4"),
            "{err}"
        );
    }

    #[test]
    fn ifupdown_error_classless_address_without_netmask() {
        let err = ifupdown_err("iface eth1:0 inet static\n address 224.0.0.5\n");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("class D/E"), "{err}");
    }
}
