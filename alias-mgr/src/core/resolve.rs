//! Which live interface an alias's `interface` names: its name, one of
//! its Linux altnames, or its MAC address (the permanent one where the
//! NIC has one), so a NIC that udev or a human renames is followed.
//! Pure: the runner resolves the file's aliases before planning.

use std::borrow::Cow;

use super::{
    model::{AliasSpec, Interface},
    wire::Mac,
};

/// The interface `named` means among `interfaces`, if exactly one.
pub fn find_interface<'i>(named: &str, interfaces: &'i [Interface]) -> Option<&'i Interface> {
    if let Some(by_name) = interfaces.iter().find(|i| i.name == named) {
        return Some(by_name);
    }
    if let Some(by_altname) = interfaces
        .iter()
        .find(|i| i.altnames.iter().any(|a| a == named))
    {
        return Some(by_altname);
    }
    let mac: Mac = named.parse().ok()?;
    let is =
        |text: &Option<String>| text.as_deref().and_then(|t| t.parse::<Mac>().ok()) == Some(mac);
    // VLANs, bridges and bonds take their NIC's MAC: the permanent one
    // tells the NIC apart; without it the MAC must be unique.
    let permanent: Vec<&Interface> = interfaces.iter().filter(|i| is(&i.permanent_mac)).collect();
    if let [one] = permanent.as_slice() {
        return Some(one);
    }
    let current: Vec<&Interface> = interfaces.iter().filter(|i| is(&i.mac)).collect();
    match current.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// `aliases` with each interface written as an altname or a MAC replaced
/// by the live name it resolves to (borrowed when there is none).
pub fn with_live_names<'a>(
    aliases: &'a [AliasSpec],
    interfaces: &[Interface],
) -> Cow<'a, [AliasSpec]> {
    let renamed = |alias: &AliasSpec| {
        find_interface(&alias.interface, interfaces)
            .filter(|live| live.name != alias.interface)
            .map(|live| live.name.clone())
    };
    if !aliases.iter().any(|a| renamed(a).is_some()) {
        return Cow::Borrowed(aliases);
    }
    Cow::Owned(
        aliases
            .iter()
            .map(|alias| match renamed(alias) {
                Some(name) => AliasSpec {
                    interface: name,
                    ..alias.clone()
                },
                None => alias.clone(),
            })
            .collect(),
    )
}

/// One line per interface the file names by altname or MAC: the live name
/// it is now, or why none (for `plan`).
pub fn resolution_notes(aliases: &[AliasSpec], interfaces: &[Interface]) -> Vec<String> {
    let mut named: Vec<&str> = aliases.iter().map(|a| a.interface.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    named
        .into_iter()
        .filter_map(|name| match find_interface(name, interfaces) {
            Some(live) if live.name != name => Some(format!("interface {name} is {} here", live.name)),
            None if name.parse::<Mac>().is_ok() => {
                let sharing = interfaces
                    .iter()
                    .filter(|i| i.mac.as_deref().and_then(|m| m.parse::<Mac>().ok()) == name.parse().ok())
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>();
                Some(match sharing.as_slice() {
                    [] => format!("no interface has MAC {name} (yet); its aliases are pending"),
                    several => format!("interfaces {} all carry MAC {name} and none has it as its permanent address; name one of them instead", several.join(", ")),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::fixtures::{alias, interface, InterfaceBuilder};

    fn nic(name: &str, index: u32, mac: &str, permanent: Option<&str>) -> Interface {
        Interface {
            permanent_mac: permanent.map(String::from),
            ..interface(name, index).mac(mac)
        }
    }

    #[test]
    fn names_altnames_and_macs_find_the_interface() {
        let mut lan = nic("lan0", 2, "52:54:00:12:34:56", None);
        lan.altnames = vec!["enp1s0".into()];
        let interfaces = [interface("lo", 1).mac("00:00:00:00:00:00"), lan];
        let found = |named: &str| find_interface(named, &interfaces).map(|i| i.name.as_str());
        assert_eq!(found("lan0"), Some("lan0"));
        assert_eq!(found("enp1s0"), Some("lan0"));
        assert_eq!(found("52:54:00:12:34:56"), Some("lan0"));
        assert_eq!(found("52-54-00-12-34-56"), Some("lan0"));
        assert_eq!(found("52:54:00:12:34:57"), None);
        assert_eq!(found("eth1"), None);
    }

    #[test]
    fn a_shared_mac_resolves_only_through_the_permanent_one() {
        let mac = "52:54:00:12:34:56";
        let vlan = nic("eth1.100", 3, mac, None);
        let interfaces = [nic("eth1", 2, mac, Some(mac)), vlan.clone()];
        assert_eq!(find_interface(mac, &interfaces).unwrap().name, "eth1");
        // Without a permanent MAC (veth, bridges): ambiguous, so none.
        let ambiguous = [nic("br0", 2, mac, None), vlan];
        assert!(find_interface(mac, &ambiguous).is_none());
        let notes = resolution_notes(&[alias(mac, "192.0.2.1/24")], &ambiguous);
        assert!(
            notes[0].contains("br0, eth1.100 all carry MAC"),
            "{notes:?}"
        );
    }

    #[test]
    fn aliases_get_live_names_and_a_note_says_which() {
        let interfaces = [nic(
            "lan0",
            2,
            "52:54:00:12:34:56",
            Some("52:54:00:12:34:56"),
        )];
        let by_name = [alias("lan0", "192.0.2.1/24")];
        assert!(matches!(
            with_live_names(&by_name, &interfaces),
            Cow::Borrowed(_)
        ));
        let by_mac = [
            alias("52:54:00:12:34:56", "192.0.2.1/24"),
            alias("eth9", "192.0.2.2/24"),
        ];
        let live = with_live_names(&by_mac, &interfaces);
        assert_eq!(live[0].interface, "lan0");
        assert_eq!(live[1].interface, "eth9");
        assert_eq!(
            resolution_notes(&by_mac, &interfaces),
            ["interface 52:54:00:12:34:56 is lan0 here"]
        );
    }
}
