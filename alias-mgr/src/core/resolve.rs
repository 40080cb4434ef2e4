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
    let mac = Mac::parse(named)?;
    let is = |text: &Option<String>| text.as_deref().and_then(Mac::parse) == Some(mac);
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

/// The interfaces carrying MAC `named` when it resolves to none of them
/// because several do (a NIC and its VLANs, a bridge): empty otherwise.
pub fn sharing_mac<'i>(named: &str, interfaces: &'i [Interface]) -> Vec<&'i str> {
    let Some(mac) = Mac::parse(named) else {
        return Vec::new();
    };
    if find_interface(named, interfaces).is_some() {
        return Vec::new();
    }
    let sharing: Vec<&str> = interfaces
        .iter()
        .filter(|i| i.mac.as_deref().and_then(Mac::parse) == Some(mac))
        .map(|i| i.name.as_str())
        .collect();
    if sharing.len() > 1 {
        sharing
    } else {
        Vec::new()
    }
}

/// For `plan`, per interface the file names by altname or MAC: notes (the
/// live name it is now, or that none has it yet) and conflicts (a MAC
/// several interfaces share: its aliases are left alone until one is named).
pub fn resolution_notes(
    aliases: &[AliasSpec],
    interfaces: &[Interface],
) -> (Vec<String>, Vec<String>) {
    let mut named: Vec<&str> = aliases.iter().map(|a| a.interface.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    let (mut notes, mut conflicts) = (Vec::new(), Vec::new());
    for name in named {
        let sharing = sharing_mac(name, interfaces);
        match find_interface(name, interfaces) {
            Some(live) if live.name != name => {
                notes.push(format!("interface {name} is {} here", live.name))
            }
            None if !sharing.is_empty() => conflicts.push(format!(
                "interfaces {} all carry MAC {name} and none has it as its permanent address: its aliases are left alone; name one of those interfaces instead",
                sharing.join(", ")
            )),
            None if Mac::parse(name).is_some() => notes.push(format!(
                "no interface has MAC {name} (yet); its aliases are pending"
            )),
            _ => {}
        }
    }
    (notes, conflicts)
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
        let (notes, conflicts) = resolution_notes(&[alias(mac, "192.0.2.1/24")], &ambiguous);
        assert!(notes.is_empty(), "{notes:?}");
        assert!(
            conflicts[0].contains("br0, eth1.100 all carry MAC"),
            "{conflicts:?}"
        );
        assert_eq!(sharing_mac(mac, &ambiguous), ["br0", "eth1.100"]);
        assert!(sharing_mac(mac, &interfaces).is_empty());
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
        let (notes, conflicts) = resolution_notes(&by_mac, &interfaces);
        assert_eq!(notes, ["interface 52:54:00:12:34:56 is lan0 here"]);
        assert!(conflicts.is_empty());
    }
}
