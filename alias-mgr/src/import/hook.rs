//! The hook commands of ifupdown stanzas (`up ip addr add ...`): which
//! addresses and routes they add, for the stanza they are in.

use ipnet::IpNet;

use super::{
    collected::{alias, check_address, classful_guess, default_prefix},
    commands::{
        parse_ifconfig_command, parse_ip_command, parse_nettools_command, Hook, ParsedAddress,
    },
};
use crate::core::{
    model::{validate_label_for, AliasSpec, RouteSpec},
    names::{split_label, validate_interface},
    parse::max_prefix,
};

/// One `KEY VALUE` line of a stanza.
#[derive(Clone)]
pub(super) struct StanzaOption {
    pub(super) line: usize,
    pub(super) key: String,
    pub(super) value: String,
}

/// The option keys whose value is a shell command run by ifup/ifdown.
pub(super) fn is_hook(key: &str) -> bool {
    matches!(
        key,
        "pre-up" | "up" | "post-up" | "down" | "pre-down" | "post-down"
    )
}

/// Where a hook command is: its stanza and, in an alias stanza, the alias
/// its routes go with.
pub(super) struct HookContext<'a> {
    /// The stanza's name, for warnings.
    pub(super) who: &'a str,
    /// What `$IFACE` stands for: the stanza's interface without `:N`.
    pub(super) base: &'a str,
    /// The alias stanza's interface and label; None in any other stanza.
    pub(super) alias: Option<(&'a str, Option<&'a str>)>,
}

impl HookContext<'_> {
    /// Routes of the stanza's alias go to `routes`, aliases the command adds
    /// to `added`; everything else becomes a warning, except the removals
    /// in `down` hooks, which are the inverse of an `up` line.
    pub(super) fn handle(
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
        let (interface, dev_label) = split_label(&dev);
        check_interface_name(interface)?;
        let label = match (label, dev_label) {
            (Some(label), Some(dev)) if label != dev => {
                return Err(format!("label {label} does not match dev {dev}"))
            }
            (label, dev_label) => label.or(dev_label.map(str::to_string)),
        };
        if let Some(label) = &label {
            validate_label_for(label, interface).map_err(|e| e.to_string())?;
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
        Ok((alias(interface, address, label, Vec::new()), notes))
    }
}

/// An interface name taken from a hook command: the config file's rules,
/// and no quote, which is a shell word's leftover rather than a name.
fn check_interface_name(name: &str) -> Result<(), String> {
    if name.contains(['"', '\'']) {
        return Err(format!(
            "interface {name:?} holds a quote; write the device name alone, such as eth1"
        ));
    }
    validate_interface(name).map_err(|e| e.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, AliasBuilder};
    use crate::import::{collected::PRIMARY_NOT_IMPORTED, test_util::*};

    // --- addresses added by hook commands ------------------------------------

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
                alias("eth1", "192.168.5.1/24").label("eth1:5"),
                alias("eth1", "192.168.7.1/24"),
                alias("eth1", "10.20.0.1/16").label("eth1:7"),
                alias("eth1", "192.168.8.1/24"),
                alias("eth1", "2001:db8::1/64"),
            ]
        );
        // Only the primary's own warning: the removals are silent.
        assert_eq!(
            imported.warnings,
            vec![format!(
                "interfaces:3: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"
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
                alias("eth1", "192.168.6.1/24").label("eth1:6"),
                alias("eth1", "192.168.9.1/24").label("eth1:7"),
                alias("eth1", "2001:db8::6/64"),
                alias("eth1", "172.16.0.1/16").label("eth1:8"),
            ]
        );
        assert_eq!(
            imported.warnings,
            vec![
                "interfaces:5: eth1: 172.16.0.1 has no netmask; using /16 (classful default): `up ifconfig $IFACE:8 172.16.0.1`"
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
                alias("eth1", "192.168.0.1/24")
                    .label("eth1:0")
                    .routes(&["10.9.0.0/16@192.168.0.254"]),
                alias("eth1", "192.168.0.2/24").label("eth1:1"),
                alias("eth2", "10.50.0.1/16"),
                alias("eth3", "10.60.0.1/16").label("eth3:1"),
            ]
        );
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(imported.warnings[0].starts_with("interfaces:7: eth3:0 inet dhcp skipped"));
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
                "interfaces:2: eth1: 192.168.5.1 has no prefix length; using /32, as ip does"
            ),
            "{w:?}"
        );
        assert!(
            w[2].starts_with(
                "interfaces:4: eth1: 10.1.2.3 has no netmask; using /8 (classful default)"
            ),
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
            "interfaces:2: eth1: address not imported (\"192.168.5.300\" is not an IP address): `up ip addr add 192.168.5.300/24 dev eth1`",
            "interfaces:3: eth1: address not imported (no `dev`",
            "interfaces:4: eth1: address not imported (label \"eth2:0\" is for interface eth2",
            "interfaces:5: eth1: address not imported (`peer` has no equivalent in an alias)",
            "interfaces:6: eth1: address not imported (224.0.0.1 has no netmask and no classful default",
            "interfaces:7: eth1: address not imported (192.168.1.255/24 is the broadcast address",
            "interfaces:8: eth1: metric 5 dropped: `up ip addr add 10.0.0.5/8",
            "interfaces:8: eth1: nodad dropped: ",
            "interfaces:9: eth1: mtu 1400 dropped; it is an interface setting",
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
            format!("interfaces:2: eth1 192.168.1.1/24 {PRIMARY_NOT_IMPORTED}"),
            "interfaces:3: eth1: `up echo primary` not imported; only route and address additions are imported".to_string(),
            "interfaces:4: eth1: route not imported (only the routes of alias stanzas become alias routes): `up ip route add 10.9.0.0/16 via 192.168.1.254`".to_string(),
            "interfaces:6: eth2: `post-up ip link set eth2 mtu 9000` not imported; only route and address additions are imported".to_string(),
            "interfaces:7: eth2: `down /usr/local/sbin/cleanup` not imported".to_string(),
            "interfaces:9: eth3: `up ip addr del 10.0.0.1/8 dev eth3` not imported; only route and address additions are imported".to_string(),
            "interfaces:10: eth4:0 inet dhcp skipped; only `inet static` and `inet6 static` aliases are imported".to_string(),
            "interfaces:11: eth4:0: `pre-up /usr/local/sbin/prepare` not imported; only route and address additions are imported".to_string(),
            "interfaces:14: eth1:0: `up echo alias` not imported; only route and address additions are imported".to_string(),
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
}
