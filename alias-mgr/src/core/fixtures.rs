//! Test builders shared by the unit tests of every layer: model values
//! from short text, with the defaults most tests want.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{
    model::{AliasSpec, DadState, Interface, LiveAddress, LiveRoute, RouteSpec, OWNER_PROTO},
    zones::{Verdict, ZoneSpec},
};

/// The protocol of an address or route alias-mgr did not add.
pub const FOREIGN: u8 = 0;

pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

/// A route as the file writes it: `DEST[@GATEWAY]`.
pub fn route(text: &str) -> RouteSpec {
    text.parse().unwrap()
}

/// An Ethernet interface, up, with carrier; see [`InterfaceBuilder`].
pub fn interface(name: &str, index: u32) -> Interface {
    Interface {
        index,
        name: name.into(),
        mac: Some("02:00:00:00:00:01".into()),
        permanent_mac: None,
        altnames: Vec::new(),
        ethernet: true,
        up: true,
        carrier: true,
    }
}

pub trait InterfaceBuilder {
    fn mac(self, mac: &str) -> Self;
    /// Administratively down, so without carrier too.
    fn down(self) -> Self;
}

impl InterfaceBuilder for Interface {
    fn mac(self, mac: &str) -> Self {
        Interface {
            mac: Some(mac.into()),
            ..self
        }
    }

    fn down(self) -> Self {
        Interface {
            up: false,
            carrier: false,
            ..self
        }
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
        arp_probe_ms: None,
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
            routes: routes.iter().map(|r| route(r)).collect(),
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

/// A live address on `interface`, by its name and index; see [`live`].
pub fn live_on(interface: &Interface, cidr: &str, protocol: u8) -> LiveAddress {
    live(&interface.name, interface.index, cidr, protocol)
}

pub trait LiveBuilder {
    fn label(self, label: &str) -> Self;
    fn secondary(self) -> Self;
    fn dad(self, dad: DadState) -> Self;
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

    fn dad(self, dad: DadState) -> Self {
        LiveAddress { dad, ..self }
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

/// A zone without extra subnets, services or forward rules; see
/// [`ZoneBuilder`].
pub fn zone(name: &str, input: Verdict) -> ZoneSpec {
    ZoneSpec {
        name: name.into(),
        subnets: vec![],
        input,
        allow: vec![],
        forward: Default::default(),
    }
}

pub trait ZoneBuilder {
    fn subnets(self, subnets: &[&str]) -> Self;
    /// Services as the file writes them: `tcp/22`, `udp/5000-5010`, `icmp`.
    fn allow(self, services: &[&str]) -> Self;
    fn forward(self, forward: &[(&str, Verdict)]) -> Self;
}

impl ZoneBuilder for ZoneSpec {
    fn subnets(self, subnets: &[&str]) -> Self {
        ZoneSpec {
            subnets: subnets.iter().map(|s| net(s)).collect(),
            ..self
        }
    }

    fn allow(self, services: &[&str]) -> Self {
        ZoneSpec {
            allow: services.iter().map(|s| s.parse().unwrap()).collect(),
            ..self
        }
    }

    fn forward(self, forward: &[(&str, Verdict)]) -> Self {
        ZoneSpec {
            forward: forward.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ..self
        }
    }
}
