//! NetBSD `/etc/ifaliases`: `ADDRESS INTERFACE [NETMASK]` per line.

use ipnet::IpNet;

use super::{
    collected::{
        alias, check_address, classful_guess, default_prefix, parse_address, set_prefix,
        sort_by_line, Collected,
    },
    lines::{logical_lines, Ctx},
    ImportError, Imported,
};
use crate::core::{
    names::validate_interface,
    parse::{parse_netmask, MaskForms},
};

const IFALIASES_FORM: &str =
    "`ADDRESS INTERFACE [NETMASK]` such as `192.168.0.1 wm0 255.255.255.0` or `2001:db8::5 wm0 64`";

/// Parses NetBSD's `/etc/ifaliases`: `ADDRESS INTERFACE [NETMASK]` per line.
pub fn parse_ifaliases(source_name: &str, text: &str) -> Result<Imported, ImportError> {
    let ctx = Ctx::Single(source_name);
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
        validate_interface(interface)
            .map_err(|refused| ctx.err(line, format!("{refused}; expected {IFALIASES_FORM}")))?;
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
    use crate::import::test_util::*;

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
}
