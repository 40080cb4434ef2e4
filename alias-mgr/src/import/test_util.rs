//! What the importers' tests share: the entry points with a fixed source
//! name, and short ways to write the expected specs.

use ipnet::IpNet;

use super::{
    collected::alias, parse_ifaliases, parse_iftab, parse_ifupdown, ImportError, Imported,
};
use crate::core::model::{AliasSpec, RouteSpec};

pub(super) fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

pub(super) fn route(text: &str) -> RouteSpec {
    text.parse().unwrap()
}

pub(super) fn ifupdown(text: &str) -> Imported {
    parse_ifupdown("interfaces", text).unwrap()
}

pub(super) fn ifupdown_err(text: &str) -> ImportError {
    parse_ifupdown("interfaces", text).unwrap_err()
}

pub(super) fn iftab(text: &str) -> Imported {
    parse_iftab("iftab", text).unwrap()
}

pub(super) fn iftab_err(text: &str) -> ImportError {
    parse_iftab("iftab", text).unwrap_err()
}

pub(super) fn ifaliases(text: &str) -> Imported {
    parse_ifaliases("ifaliases", text).unwrap()
}

pub(super) fn ifaliases_err(text: &str) -> ImportError {
    parse_ifaliases("ifaliases", text).unwrap_err()
}

pub(super) fn has_warning(imported: &Imported, needle: &str) -> bool {
    imported.warnings.iter().any(|w| w.contains(needle))
}

pub(super) fn spec(interface: &str, address: &str, label: Option<&str>) -> AliasSpec {
    alias(
        interface,
        net(address),
        label.map(str::to_string),
        Vec::new(),
    )
}
