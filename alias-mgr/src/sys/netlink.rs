//! Links, addresses and routes over rtnetlink: the only module that speaks
//! netlink. Everything it returns is plain [`crate::core::model`] data.
//!
//! The socket belongs to the network namespace of the thread that opened it,
//! so open it (with [`Netlink::connect`]) after any setns.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::{Stream, StreamExt, TryStreamExt};
use ipnet::IpNet;
use netlink_packet_route::{
    address::{
        AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol,
    },
    link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType},
    AddressFamily,
};
use rtnetlink::{
    packet_core::NetlinkPayload, packet_route::RouteNetlinkMessage, sys::AsyncSocket, Handle,
    MulticastGroup, RouteMessageBuilder,
};

use crate::core::model::{DadState, Interface, LiveAddress, LiveRoute, RouteSpec};

const RT_TABLE_MAIN: u32 = 254;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket: {0}")]
    Connect(std::io::Error),
    /// The kernel refused a request; `errno` is the positive error number.
    #[error("{what}: {}{}", std::io::Error::from_raw_os_error(*errno), hint(*errno))]
    Kernel { what: String, errno: i32 },
    /// The kernel refused a route: EINVAL there means the gateway.
    #[error("{what}: {} (the kernel refused the gateway {gateway}: it must be a unicast host address on a subnet the interface has, not the alias's own, network or broadcast address)", std::io::Error::from_raw_os_error(libc::EINVAL))]
    Gateway { what: String, gateway: IpAddr },
    #[error("{what}: {detail}")]
    Other { what: String, detail: String },
}

/// What to do about the usual errno values, so the user sees the fix.
fn hint(errno: i32) -> &'static str {
    match errno {
        libc::EPERM | libc::EACCES => " (run alias-mgr as root: it needs CAP_NET_ADMIN)",
        libc::EEXIST => " (it already exists)",
        libc::ENODEV => " (no such interface)",
        libc::ENETUNREACH => {
            " (the gateway is not on a subnet of the interface; add an alias on its subnet first)"
        }
        libc::ERANGE => " (a label is longer than 15 bytes)",
        libc::EADDRNOTAVAIL => " (the address is not on that interface)",
        _ => "",
    }
}

fn kernel_error(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let what = what.into();
    move |err| match err {
        rtnetlink::Error::NetlinkError(msg) => NetlinkError::Kernel {
            what,
            errno: msg.raw_code().abs(),
        },
        other => NetlinkError::Other {
            what,
            detail: other.to_string(),
        },
    }
}

type Result<T, E = NetlinkError> = std::result::Result<T, E>;

/// A connection to the kernel's routing netlink in the caller's namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the socket and spawns its driver on the current tokio runtime.
    pub fn connect() -> Result<Self> {
        let (connection, handle, _) =
            rtnetlink::new_connection_with_strict_check().map_err(NetlinkError::Connect)?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    pub async fn interfaces(&self) -> Result<Vec<Interface>> {
        let links: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(kernel_error("listing interfaces"))?;
        Ok(links.iter().map(interface_from).collect())
    }

    pub async fn interface(&self, name: &str) -> Result<Option<Interface>> {
        let result: Result<Vec<LinkMessage>, _> = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_collect()
            .await;
        match result {
            Ok(links) => Ok(links.first().map(interface_from)),
            Err(rtnetlink::Error::NetlinkError(msg)) if msg.raw_code().abs() == libc::ENODEV => {
                Ok(None)
            }
            Err(err) => Err(kernel_error(format!("looking up interface {name}"))(err)),
        }
    }

    /// Every IPv4 and IPv6 address on every interface.
    pub async fn addresses(&self, interfaces: &[Interface]) -> Result<Vec<LiveAddress>> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(kernel_error("listing addresses"))?;
        Ok(messages
            .iter()
            .filter_map(|msg| {
                let name = interfaces
                    .iter()
                    .find(|i| i.index == msg.header.index)?
                    .name
                    .clone();
                address_from(msg, name)
            })
            .collect())
    }

    /// Adds `address` on the interface, marked with `protocol` (IFA_PROTO):
    /// [`crate::core::model::OWNER_PROTO`] or [`crate::core::model::RUNTIME_PROTO`].
    pub async fn add_address(
        &self,
        ifindex: u32,
        address: IpNet,
        label: Option<&str>,
        protocol: u8,
    ) -> Result<()> {
        self.new_address(ifindex, address, label, protocol, false)
            .await
            .map_err(kernel_error(format!("adding {address}")))
    }

    /// Changes the owner mark (IFA_PROTO) of an address in place, without
    /// taking it down (RTM_NEWADDR with NLM_F_REPLACE).
    pub async fn remark_address(
        &self,
        ifindex: u32,
        address: IpNet,
        label: Option<&str>,
        protocol: u8,
    ) -> Result<()> {
        self.new_address(ifindex, address, label, protocol, true)
            .await
            .map_err(kernel_error(format!("marking {address}")))
    }

    /// RTM_NEWADDR: exclusive (a new address), or replacing one in place.
    async fn new_address(
        &self,
        ifindex: u32,
        address: IpNet,
        label: Option<&str>,
        protocol: u8,
        replace: bool,
    ) -> Result<(), rtnetlink::Error> {
        let mut request = self
            .handle
            .address()
            .add(ifindex, address.addr(), address.prefix_len());
        if replace {
            request = request.replace();
        }
        let attributes = &mut request.message_mut().attributes;
        if let (Some(label), IpAddr::V4(_)) = (label, address.addr()) {
            attributes.push(AddressAttribute::Label(label.to_string()));
        }
        attributes.push(AddressAttribute::Protocol(AddressProtocol::Other(protocol)));
        request.execute().await
    }

    pub async fn del_address(&self, ifindex: u32, address: IpNet) -> Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = family(address.addr());
        message.header.prefix_len = address.prefix_len();
        message.header.index = ifindex;
        // The kernel matches IPv4 addresses on IFA_LOCAL, IPv6 on IFA_ADDRESS.
        message.attributes.push(match address.addr() {
            IpAddr::V4(_) => AddressAttribute::Local(address.addr()),
            IpAddr::V6(_) => AddressAttribute::Address(address.addr()),
        });
        self.handle
            .address()
            .del(message)
            .execute()
            .await
            .map_err(kernel_error(format!("removing {address}")))
    }

    /// Where IPv6 duplicate address detection stands for `ip` on the
    /// interface; None when the address is not there.
    pub async fn dad_state(&self, ifindex: u32, ip: IpAddr) -> Result<Option<DadState>> {
        let messages: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .set_address_filter(ip)
            .execute()
            .try_collect()
            .await
            .map_err(kernel_error(format!("reading the state of {ip}")))?;
        Ok(messages.first().map(dad_state_of))
    }

    /// Routes of the main table, both families.
    pub async fn routes(&self) -> Result<Vec<LiveRoute>> {
        let mut routes = Vec::new();
        for mut request in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            // With strict checking the header is a filter: keep the main
            // table, but any protocol, type and scope.
            request.header.protocol = RouteProtocol::Unspec;
            request.header.kind = RouteType::Unspec;
            request.header.scope = RouteScope::Universe;
            let messages: Vec<RouteMessage> = self
                .handle
                .route()
                .get(request)
                .execute()
                .try_collect()
                .await
                .map_err(kernel_error("listing routes"))?;
            routes.extend(messages.iter().filter_map(route_from));
        }
        Ok(routes)
    }

    /// Adds an alias's extra route, marked with `protocol` like its alias,
    /// with the alias as preferred source so traffic to that network leaves
    /// from the alias.
    pub async fn add_route(
        &self,
        ifindex: u32,
        route: &RouteSpec,
        source: IpAddr,
        protocol: u8,
    ) -> Result<()> {
        let message = route_message(ifindex, route, Some(source), protocol);
        self.handle
            .route()
            .add(message)
            .execute()
            .await
            .map_err(|err| {
                match (
                    kernel_error(format!("adding route {route}"))(err),
                    route.gateway,
                ) {
                    (NetlinkError::Kernel { what, errno }, Some(gateway))
                        if errno == libc::EINVAL =>
                    {
                        NetlinkError::Gateway { what, gateway }
                    }
                    (other, _) => other,
                }
            })
    }

    /// Removes the route marked with `protocol` (the kernel matches on it,
    /// so a foreign route to the same place is never hit).
    pub async fn del_route(&self, ifindex: u32, route: &RouteSpec, protocol: u8) -> Result<()> {
        let message = route_message(ifindex, route, None, protocol);
        self.handle
            .route()
            .del(message)
            .execute()
            .await
            .map_err(kernel_error(format!("removing route {route}")))
    }
}

/// What a kernel notification was about. Watchers only learn that something
/// changed: they re-read the whole state anyway, so no detail is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Link,
    Address,
    Route,
    /// The socket's receive buffer overflowed and notifications were lost:
    /// anything may have changed.
    Lost,
}

impl Change {
    pub const ALL: [Change; 4] = [Change::Link, Change::Address, Change::Route, Change::Lost];

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Link => "link",
            Change::Address => "address",
            Change::Route => "route",
            Change::Lost => "lost",
        }
    }
}

/// Receive buffer for notifications: deleting thousands of addresses at once
/// (or an interface carrying them) sends one message each, more than the
/// default buffer holds. An overflow is not fatal (it yields [`Change::Lost`]).
const WATCH_BUFFER_BYTES: usize = 4 << 20;
/// Changes queued for a watcher busy reconciling. Beyond that they are
/// dropped: the queued ones already make it re-read everything, and parsed
/// messages piling up would cost memory (10,000 aliases applied at once are
/// 30,000 notifications).
const WATCH_QUEUE: usize = 256;

/// Follows link, address and route changes in the caller's network namespace
/// (what `ip monitor link address route` shows), as a stream of [`Change`]s.
/// The stream ends only if the socket fails; the caller can subscribe again.
pub fn watch() -> Result<impl Stream<Item = Change> + Send + Unpin + 'static> {
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ];
    let (mut connection, _handle, mut messages) =
        rtnetlink::new_multicast_connection(&groups).map_err(NetlinkError::Connect)?;
    grow_receive_buffer(connection.socket_mut().socket_mut());
    // The connection runs as long as the forwarder below holds its receiver.
    tokio::spawn(connection);
    let (sender, receiver) = tokio::sync::mpsc::channel(WATCH_QUEUE);
    tokio::spawn(async move {
        while let Some((message, _)) = messages.next().await {
            let change = match message.payload {
                NetlinkPayload::Overrun(_) => Change::Lost,
                NetlinkPayload::InnerMessage(inner) => match change_of(&inner) {
                    Some(change) => change,
                    None => continue,
                },
                _ => continue,
            };
            if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) = sender.try_send(change)
            {
                break;
            }
        }
    });
    Ok(Box::pin(futures::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|change| (change, receiver)) },
    )))
}

/// SO_RCVBUFFORCE (root may exceed net.core.rmem_max), else SO_RCVBUF;
/// best effort: a smaller buffer only makes bursts come out as Lost.
fn grow_receive_buffer(socket: &mut rtnetlink::sys::Socket) {
    use std::os::fd::AsRawFd;
    let size = WATCH_BUFFER_BYTES as libc::c_int;
    // SAFETY: setsockopt on the socket's own fd with a c_int option value.
    let forced = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = socket.set_rx_buf_sz(WATCH_BUFFER_BYTES);
    }
}

fn change_of(message: &RouteNetlinkMessage) -> Option<Change> {
    match message {
        RouteNetlinkMessage::NewLink(_) | RouteNetlinkMessage::DelLink(_) => Some(Change::Link),
        RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_) => {
            Some(Change::Address)
        }
        RouteNetlinkMessage::NewRoute(_) | RouteNetlinkMessage::DelRoute(_) => Some(Change::Route),
        _ => None,
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn route_message(
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

fn interface_from(link: &LinkMessage) -> Interface {
    let mut name = String::new();
    let mut mac = None;
    for attribute in &link.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(bytes) if !bytes.is_empty() => {
                mac = Some(
                    bytes
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                )
            }
            _ => {}
        }
    }
    Interface {
        index: link.header.index,
        name,
        mac,
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
fn dad_state_of(msg: &AddressMessage) -> DadState {
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

fn address_from(msg: &AddressMessage, interface: String) -> Option<LiveAddress> {
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

fn route_address(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn route_from(msg: &RouteMessage) -> Option<LiveRoute> {
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
