//! Between rtnetlink messages and the core's model: the requests alias-mgr
//! sends and the replies it reads back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::{
    address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage},
    link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage, Prop},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType},
    AddressFamily,
};
use rtnetlink::RouteMessageBuilder;

use crate::core::model::{DadState, Interface, LiveAddress, LiveRoute, RouteSpec};

use super::RT_TABLE_MAIN;

pub(super) fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

pub(super) fn route_message(
    ifindex: u32,
    route: &RouteSpec,
    source: Option<IpAddr>,
    protocol: u8,
) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.destination.addr(), route.destination.prefix_len())
        .expect("destination family is set by the address")
        .output_interface(ifindex)
        .table_id(RT_TABLE_MAIN)
        .protocol(RouteProtocol::Other(protocol))
        .kind(RouteType::Unicast);
    builder = match route.gateway {
        Some(gateway) => builder
            .gateway(gateway)
            .expect("gateway family checked by RouteSpec"),
        None => builder.scope(RouteScope::Link),
    };
    if let Some(source) = source {
        builder = builder
            .pref_source(source)
            .expect("source family matches the alias");
    }
    builder.build()
}

pub(super) fn interface_from(link: &LinkMessage) -> Interface {
    let mut name = String::new();
    let (mut mac, mut permanent_mac, mut altnames) = (None, None, Vec::new());
    let text = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(bytes) if !bytes.is_empty() => mac = Some(text(bytes)),
            // All zero where the device has none (veth, bridges).
            LinkAttribute::PermAddress(bytes) if bytes.iter().any(|b| *b != 0) => {
                permanent_mac = Some(text(bytes))
            }
            LinkAttribute::PropList(props) => {
                altnames.extend(props.iter().filter_map(|p| match p {
                    Prop::AltIfName(altname) => Some(altname.clone()),
                    _ => None,
                }))
            }
            _ => {}
        }
    }
    Interface {
        index: link.header.index,
        name,
        mac,
        permanent_mac,
        altnames,
        // Loopback frames carry an (all-zero) Ethernet header too.
        ethernet: matches!(
            link.header.link_layer_type,
            LinkLayerType::Ether | LinkLayerType::Loopback
        ),
        up: link.header.flags.contains(LinkFlags::Up),
        carrier: link.header.flags.contains(LinkFlags::LowerUp),
    }
}

/// The header's 8 flag bits and IFA_FLAGS' 32, together.
pub(super) fn dad_state_of(msg: &AddressMessage) -> DadState {
    let mut flags = u32::from(msg.header.flags.bits());
    for attribute in &msg.attributes {
        if let AddressAttribute::Flags(all) = attribute {
            flags |= all.bits();
        }
    }
    let flags = AddressFlags::from_bits_retain(flags);
    if flags.contains(AddressFlags::Dadfailed) {
        DadState::Failed
    } else if flags.contains(AddressFlags::Tentative) {
        DadState::Tentative
    } else {
        DadState::Done
    }
}

pub(super) fn address_from(msg: &AddressMessage, interface: String) -> Option<LiveAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut broadcast = None;
    let mut protocol = 0;
    let mut secondary = msg.header.flags.contains(AddressHeaderFlags::Secondary);
    for attribute in &msg.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Broadcast(b) => broadcast = Some(IpAddr::V4(*b)),
            AddressAttribute::Protocol(p) => protocol = u8::from(*p),
            AddressAttribute::Flags(flags) => {
                secondary |= flags.contains(AddressFlags::Secondary);
            }
            _ => {}
        }
    }
    // IPv4 reports the interface's own address in IFA_LOCAL (IFA_ADDRESS is
    // the peer on point-to-point links); IPv6 only has IFA_ADDRESS.
    let ip = local.or(address)?;
    Some(LiveAddress {
        interface,
        ifindex: msg.header.index,
        address: IpNet::new(ip, msg.header.prefix_len).ok()?,
        label,
        broadcast,
        secondary,
        protocol,
        dad: dad_state_of(msg),
    })
}

pub(super) fn route_address(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

pub(super) fn route_from(msg: &RouteMessage) -> Option<LiveRoute> {
    let mut table = msg.header.table as u32;
    let mut destination = None;
    let mut gateway = None;
    let mut ifindex = None;
    let mut preferred_source = None;
    for attribute in &msg.attributes {
        match attribute {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => destination = route_address(d),
            RouteAttribute::Gateway(g) => gateway = route_address(g),
            RouteAttribute::Oif(i) => ifindex = Some(*i),
            RouteAttribute::PrefSource(s) => preferred_source = route_address(s),
            _ => {}
        }
    }
    if table != RT_TABLE_MAIN || msg.header.kind != RouteType::Unicast {
        return None;
    }
    let destination = match (destination, msg.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, _) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Some(LiveRoute {
        destination: IpNet::new(destination, msg.header.destination_prefix_length).ok()?,
        gateway,
        ifindex,
        protocol: u8::from(msg.header.protocol),
        preferred_source,
    })
}
