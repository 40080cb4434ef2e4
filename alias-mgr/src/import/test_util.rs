//! What the importers' tests share: the entry points with a fixed source
//! name, and the shared builders the expected specs are written with.

use super::{parse_ifaliases, parse_iftab, parse_ifupdown, ImportError, Imported};
pub(super) use crate::core::fixtures::{net, route};

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
