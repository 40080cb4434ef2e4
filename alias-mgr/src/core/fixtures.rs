//! Test builders shared by the unit tests of every layer: model values
//! from short text, with the defaults most tests want.

use std::net::IpAddr;

use ipnet::IpNet;

use super::model::{AliasSpec, Interface, LiveAddress, LiveRoute, OWNER_PROTO};

/// The protocol of an address or route alias-mgr did not add.
pub const FOREIGN: u8 = 0;

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

/// An Ethernet interface, up, with carrier.
pub fn interface(name: &str, index: u32) -> Interface {
    Interface {
        index,
        name: name.into(),
        mac: Some("02:00:00:00:00:01".into()),
        ethernet: true,
        up: true,
        carrier: true,
    }
}

/// An alias without label, zone or routes; see [`AliasBuilder`].
pub fn alias(interface: &str, cidr: &str) -> AliasSpec {
    AliasSpec {
        interface: interface.into(),
        address: net(cidr),
        label: None,
        zone: None,
        routes: vec![],
    }
}

pub trait AliasBuilder {
    fn label(self, label: &str) -> Self;
    fn zone(self, zone: &str) -> Self;
    /// Routes as the file writes them: `DEST@GATEWAY`.
    fn routes(self, routes: &[&str]) -> Self;
}

impl AliasBuilder for AliasSpec {
    fn label(self, label: &str) -> Self {
        AliasSpec {
            label: Some(label.into()),
            ..self
        }
    }

    fn zone(self, zone: &str) -> Self {
        AliasSpec {
            zone: Some(zone.into()),
            ..self
        }
    }

    fn routes(self, routes: &[&str]) -> Self {
        AliasSpec {
            routes: routes.iter().map(|r| r.parse().unwrap()).collect(),
            ..self
        }
    }
}

/// A live address, primary, DAD done; see [`LiveBuilder`].
pub fn live(interface: &str, ifindex: u32, cidr: &str, protocol: u8) -> LiveAddress {
    LiveAddress {
        interface: interface.into(),
        ifindex,
        address: net(cidr),
        label: None,
        broadcast: None,
        secondary: false,
        protocol,
        dad: Default::default(),
    }
}

pub trait LiveBuilder {
    fn label(self, label: &str) -> Self;
    fn secondary(self) -> Self;
}

impl LiveBuilder for LiveAddress {
    fn label(self, label: &str) -> Self {
        LiveAddress {
            label: Some(label.into()),
            ..self
        }
    }

    fn secondary(self) -> Self {
        LiveAddress {
            secondary: true,
            ..self
        }
    }
}

/// A route alias-mgr added, from `source` via `gateway`.
pub fn owned_route(destination: &str, gateway: &str, ifindex: u32, source: &str) -> LiveRoute {
    LiveRoute {
        destination: net(destination),
        gateway: Some(ip(gateway)),
        ifindex: Some(ifindex),
        protocol: OWNER_PROTO,
        preferred_source: Some(ip(source)),
    }
}
