//! One step of a plan, its inverse (for rollback), its execution order and
//! the line `plan` prints for it.

use std::{fmt, net::IpAddr};

use ipnet::IpNet;
use serde::Serialize;

use crate::core::model::{RouteSpec, OWNER_PROTO, RUNTIME_PROTO};

const ADD_ADDRESS_RANK: u8 = 3;
/// Rank of [`Action::Attach`]: after every netlink step, before the keys.
pub(crate) const ATTACH_RANK: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    SetPromoteSecondaries {
        interface: String,
        enabled: bool,
    },
    /// `protocol` (here and below) is the owner mark: OWNER_PROTO, or
    /// RUNTIME_PROTO for `--runtime` aliases.
    RemoveRoute {
        interface: String,
        ifindex: u32,
        route: RouteSpec,
        source: IpAddr,
        protocol: u8,
    },
    RemoveAddress {
        interface: String,
        ifindex: u32,
        address: IpNet,
        label: Option<String>,
        protocol: u8,
    },
    AddAddress {
        interface: String,
        ifindex: u32,
        address: IpNet,
        label: Option<String>,
        protocol: u8,
    },
    AddRoute {
        interface: String,
        ifindex: u32,
        route: RouteSpec,
        source: IpAddr,
        protocol: u8,
    },
    /// Re-marks a live address in place (NLM_F_REPLACE): `from` is its
    /// mark now, `protocol` the new one. Taking one over, or (inverse)
    /// handing it back.
    AdoptAddress {
        interface: String,
        ifindex: u32,
        address: IpNet,
        label: Option<String>,
        from: u8,
        protocol: u8,
    },
    /// Re-marks a live route in place, setting its preferred source.
    AdoptRoute {
        interface: String,
        ifindex: u32,
        route: RouteSpec,
        source: Option<IpAddr>,
        from_source: Option<IpAddr>,
        from: u8,
        protocol: u8,
    },
    Track {
        address: IpAddr,
    },
    Attach {
        interface: String,
        ethernet: bool,
    },
    Untrack {
        address: IpAddr,
    },
    Detach {
        interface: String,
        ethernet: bool,
    },
    /// Removes a link pin whose interface is gone, before anything is
    /// attached, so a renamed interface is never counted twice.
    ForgetLink {
        interface: String,
    },
    /// Renames the link pins of a renamed interface, so they follow it
    /// while its links go on counting.
    MoveLink {
        from: String,
        to: String,
    },
}

impl Action {
    /// The action that undoes this one (for rollback).
    pub fn inverse(&self) -> Action {
        match self.clone() {
            Action::SetPromoteSecondaries { interface, enabled } => Action::SetPromoteSecondaries {
                interface,
                enabled: !enabled,
            },
            Action::RemoveRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            } => Action::AddRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            },
            Action::AddRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            } => Action::RemoveRoute {
                interface,
                ifindex,
                route,
                source,
                protocol,
            },
            Action::RemoveAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            } => Action::AddAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            },
            Action::AddAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            } => Action::RemoveAddress {
                interface,
                ifindex,
                address,
                label,
                protocol,
            },
            Action::AdoptAddress {
                interface,
                ifindex,
                address,
                label,
                from,
                protocol,
            } => Action::AdoptAddress {
                interface,
                ifindex,
                address,
                label,
                from: protocol,
                protocol: from,
            },
            Action::AdoptRoute {
                interface,
                ifindex,
                route,
                source,
                from_source,
                from,
                protocol,
            } => Action::AdoptRoute {
                interface,
                ifindex,
                route,
                source: from_source,
                from_source: source,
                from: protocol,
                protocol: from,
            },
            Action::Track { address } => Action::Untrack { address },
            Action::Untrack { address } => Action::Track { address },
            Action::Attach {
                interface,
                ethernet,
            } => Action::Detach {
                interface,
                ethernet,
            },
            Action::Detach {
                interface,
                ethernet,
            } => Action::Attach {
                interface,
                ethernet,
            },
            // Nothing to restore: the pin pointed at no interface of that name.
            Action::ForgetLink { interface } => Action::ForgetLink { interface },
            Action::MoveLink { from, to } => Action::MoveLink { from: to, to: from },
        }
    }

    /// The interface this step changes, if it is about one.
    pub fn interface(&self) -> Option<&str> {
        match self {
            Action::SetPromoteSecondaries { interface, .. }
            | Action::RemoveRoute { interface, .. }
            | Action::RemoveAddress { interface, .. }
            | Action::AddAddress { interface, .. }
            | Action::AddRoute { interface, .. }
            | Action::AdoptAddress { interface, .. }
            | Action::AdoptRoute { interface, .. }
            | Action::Attach { interface, .. }
            | Action::Detach { interface, .. }
            | Action::ForgetLink { interface } => Some(interface),
            Action::MoveLink { to, .. } => Some(to),
            Action::Track { .. } | Action::Untrack { .. } => None,
        }
    }

    /// Whether this step is about per-address counters (the classifier and
    /// its map), which are optional: their failure undoes nothing else.
    pub fn is_counters(&self) -> bool {
        matches!(
            self,
            Action::Track { .. }
                | Action::Untrack { .. }
                | Action::Attach { .. }
                | Action::Detach { .. }
                | Action::ForgetLink { .. }
                | Action::MoveLink { .. }
        )
    }

    /// Whether this step runs before (or is) the adding of addresses, in
    /// execution order: what may go before waiting for IPv6 DAD.
    pub fn up_to_addresses(&self) -> bool {
        self.rank() <= ADD_ADDRESS_RANK
    }

    /// Execution order: see the module docs.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Action::ForgetLink { .. } | Action::MoveLink { .. } => 0,
            Action::SetPromoteSecondaries { .. } => 0,
            Action::RemoveRoute { .. } => 1,
            Action::RemoveAddress { .. } => 2,
            Action::AdoptAddress { .. } | Action::AddAddress { .. } => ADD_ADDRESS_RANK,
            Action::AdoptRoute { .. } => 4,
            Action::AddRoute { .. } => 4,
            // Attach first: its load of the classifier creates the counters
            // map, so the keys then go in through one handle on it (a track
            // first would load the classifier once more, just for the map).
            Action::Attach { .. } => ATTACH_RANK,
            Action::Track { .. } => 6,
            Action::Untrack { .. } => 7,
            Action::Detach { .. } => 8,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetPromoteSecondaries { interface, enabled } => write!(
                f,
                "~ sysctl net.ipv4.conf.{interface}.promote_secondaries = {}",
                u8::from(*enabled)
            ),
            Action::RemoveRoute {
                interface, route, ..
            } => write!(f, "- route {route} dev {interface}"),
            Action::AddRoute {
                interface,
                route,
                source,
                ..
            } => {
                write!(f, "+ route {route} dev {interface} src {source}")
            }
            Action::RemoveAddress {
                interface,
                address,
                label,
                ..
            } => {
                write!(f, "- address {address} dev {interface}")?;
                label.iter().try_for_each(|l| write!(f, " label {l}"))
            }
            Action::AddAddress {
                interface,
                address,
                label,
                protocol,
                ..
            } => {
                write!(f, "+ address {address} dev {interface}")?;
                label.iter().try_for_each(|l| write!(f, " label {l}"))?;
                if *protocol == RUNTIME_PROTO {
                    write!(f, " (runtime)")?;
                }
                Ok(())
            }
            Action::AdoptAddress {
                interface,
                address,
                from,
                protocol,
                ..
            } => write!(
                f,
                "~ address {address} dev {interface}: {}",
                remark(*from, *protocol)
            ),
            Action::AdoptRoute {
                interface,
                route,
                from,
                protocol,
                ..
            } => write!(
                f,
                "~ route {route} dev {interface}: {}",
                remark(*from, *protocol)
            ),
            Action::Track { address } => write!(f, "+ counters for {address}"),
            Action::Untrack { address } => write!(f, "- counters for {address}"),
            Action::Attach { interface, .. } => {
                write!(f, "+ classifier on {interface} (TCX ingress+egress)")
            }
            Action::Detach { interface, .. } => write!(f, "- classifier on {interface}"),
            Action::MoveLink { from, to } => write!(
                f,
                "~ classifier links pinned for {from} follow the interface, renamed {to}"
            ),
            Action::ForgetLink { interface } => {
                write!(
                    f,
                    "- classifier link pinned for {interface} (no such interface now)"
                )
            }
        }
    }
}

/// What re-marking from `from` to `to` means, in words.
fn remark(from: u8, to: u8) -> String {
    let owned = |mark: u8| mark == OWNER_PROTO || mark == RUNTIME_PROTO;
    if owned(to) && !owned(from) {
        format!("adopted in place (protocol {from} -> alias-mgr)")
    } else {
        format!("handed back in place (protocol {from} -> {to})")
    }
}
