//! Darwin `/etc/iftab`: one ifconfig argument list per line.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{
    collected::{
        alias, check_address, classful_guess, default_prefix, parse_address, set_prefix,
        sort_by_line, Collected, PRIMARY_NOT_IMPORTED,
    },
    commands::next_value,
    lines::{logical_lines, Ctx},
    ImportError, Imported,
};
use crate::core::{
    model::classful_prefix,
    names::validate_interface,
    parse::{max_prefix, parse_netmask, prefix_length, MaskForms},
};

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
                let length = prefix_length(value, max_prefix(ip)).ok_or_else(|| {
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

/// Earlier address lines of the file: interface, subnet and line.
type Earlier = Vec<(String, IpNet, usize)>;

/// Parses Darwin's `/etc/iftab` (one `ifconfig` argument list per line).
///
/// Only lines with `alias` become aliases. Every address line, primary or
/// not, is remembered so a later `netmask 255.255.255.255` alias (the Mac's
/// way to add an address to a subnet it already has) gets that subnet's
/// prefix: on Linux such an address is a secondary of the subnet, and a /32
/// would lose the on-link route the Mac got from the first address.
pub fn parse_iftab(source_name: &str, text: &str) -> Result<Imported, ImportError> {
    let ctx = Ctx::Single(source_name);
    let mut out = Imported::default();
    let mut collected = Collected::default();
    let mut earlier: Earlier = Vec::new();
    for (line, content) in logical_lines(text) {
        let tokens: Vec<&str> = content.split_whitespace().collect();
        let Some((&interface, args)) = tokens.split_first() else {
            continue;
        };
        validate_interface(interface)
            .map_err(|refused| ctx.err(line, format!("{refused}; expected {IFTAB_FORM}")))?;
        let Some(entry) = read_address_line(&ctx, line, interface, args, &mut out.warnings)? else {
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
            note_primary(interface, &entry, line, &mut earlier, &mut out.warnings);
            continue;
        }
        let address = alias_address(&ctx, interface, &entry, line, &earlier, &mut out.warnings)?;
        earlier.push((interface.to_string(), address, line));
        let spec = alias(interface, address, None, Vec::new());
        collected.add(&ctx, spec, (line, line), "line", &mut out.warnings)?;
    }
    out.aliases = collected.aliases;
    sort_by_line(&mut out.warnings);
    Ok(out)
}

/// The address a line sets, if any: None for lines that set none (`en0 up`)
/// and for dynamic ones, which warn when they were meant as an alias.
fn read_address_line(
    ctx: &Ctx<'_>,
    line: usize,
    interface: &str,
    args: &[&str],
    warnings: &mut Vec<String>,
) -> Result<Option<IftabAddress>, ImportError> {
    if args.is_empty() {
        return Err(ctx.err(
            line,
            format!("`{interface}` alone configures nothing; expected {IFTAB_FORM}"),
        ));
    }
    if let Some(dynamic) = args.iter().find(|arg| is_dynamic(arg)) {
        if args.contains(&"alias") {
            warnings.push(format!(
                "line {line}: {interface} {dynamic} alias skipped; only static addresses can be imported"
            ));
        }
        return Ok(None);
    }
    parse_iftab_args(args)
        .map_err(|message| ctx.err(line, format!("{message}; expected {IFTAB_FORM}")))
}

/// A line without `alias`: the primary (or its replacement), not imported
/// but remembered for the same-subnet rule.
fn note_primary(
    interface: &str,
    entry: &IftabAddress,
    line: usize,
    earlier: &mut Earlier,
    warnings: &mut Vec<String>,
) {
    let ip = entry.ip;
    let same_family = earlier
        .iter()
        .find(|(name, net, _)| name == interface && net.addr().is_ipv4() == ip.is_ipv4());
    if let Some((_, _, first)) = same_family {
        warnings.push(format!(
            "line {line}: {interface} {ip} has no `alias` keyword, so ifconfig replaces the address from line {first} rather than adding one; not imported (add `alias` if it was meant as one)"
        ));
    } else {
        let shown = match entry.prefix {
            Some(prefix) => format!("{ip}/{prefix}"),
            None => ip.to_string(),
        };
        warnings.push(format!(
            "line {line}: {interface} {shown} {PRIMARY_NOT_IMPORTED}"
        ));
    }
    let prefix = entry.prefix.or_else(|| classful_prefix(ip));
    if let Some(net) = prefix.and_then(|prefix| IpNet::new(ip, prefix).ok()) {
        earlier.push((interface.to_string(), net, line));
    }
}

/// The address of an `alias` line with its prefix: as written, by the Mac
/// same-subnet rule for 255.255.255.255, else the classful default.
fn alias_address(
    ctx: &Ctx<'_>,
    interface: &str,
    entry: &IftabAddress,
    line: usize,
    earlier: &[(String, IpNet, usize)],
    warnings: &mut Vec<String>,
) -> Result<IpNet, ImportError> {
    let ip = entry.ip;
    for ignored in &entry.ignored {
        warnings.push(format!(
            "line {line}: {interface} {ip}: `{ignored}` ignored; it is an interface setting, not the alias's"
        ));
    }
    if let Some(broadcast) = &entry.broadcast {
        warnings.push(format!(
            "line {line}: {interface} {ip}: `broadcast {broadcast}` not imported; alias-mgr sets no broadcast address"
        ));
    }
    let (prefix, guess) = match entry.prefix {
        Some(32) if ip.is_ipv4() => {
            let prefix = same_subnet_prefix(interface, ip, line, earlier, warnings);
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
            warnings.push(format!(
                "line {line}: {interface} {ip} {why}; using /{prefix} (classful default)"
            ));
            (prefix, Some(classful_guess(prefix)))
        }
    };
    let address = IpNet::new(ip, prefix)
        .map_err(|_| ctx.err(line, format!("/{prefix} is not valid for {ip}")))?;
    check_address(&address, guess).map_err(|message| ctx.err(line, message))?;
    Ok(address)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::alias;
    use crate::import::test_util::*;

    // --- iftab ----------------------------------------------------------------

    #[test]
    fn iftab_darwin_seed_line() {
        let imported = iftab("en0 inet 192.168.32.27 netmask 255.255.255.0 alias\n");
        assert_eq!(imported.aliases, vec![alias("en0", "192.168.32.27/24")]);
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
}
