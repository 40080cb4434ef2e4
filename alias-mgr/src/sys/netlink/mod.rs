//! Links, addresses and routes over rtnetlink: the only module that speaks
//! netlink. Everything it returns is plain [`crate::core::model`] data.
//!
//! The socket belongs to the network namespace of the thread that opened it,
//! so open it (with [`Netlink::connect`]) after any setns. The requests are
//! here; `messages` converts between rtnetlink messages and the model, and
//! `watch` follows changes for the daemon.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::{
    address::{AddressAttribute, AddressMessage, AddressProtocol},
    link::LinkMessage,
    route::{RouteProtocol, RouteScope, RouteType},
};
use netlink_sys::AsyncSocket;
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::core::model::{DadState, Interface, LiveAddress, LiveRoute, RouteSpec};

mod messages;
mod paced;
mod watch;

use messages::{address_from, dad_state_of, family, interface_from, route_from, route_message};
pub use watch::{watch, Change};

pub(super) const RT_TABLE_MAIN: u32 = 254;

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

pub(super) fn kernel_error(
    what: impl Into<String>,
) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
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

pub(super) type Result<T, E = NetlinkError> = std::result::Result<T, E>;

/// A connection to the kernel's routing netlink in the caller's namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the socket and spawns its driver on the current tokio runtime.
    pub fn connect() -> Result<Self> {
        let (mut connection, handle, _) =
            rtnetlink::new_connection_with_socket::<paced::PacedSocket>()
                .map_err(NetlinkError::Connect)?;
        // Strict checking: a dump request's header is a filter.
        connection
            .socket_mut()
            .socket_mut()
            .set_netlink_get_strict_chk(true)
            .map_err(NetlinkError::Connect)?;
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
    /// Converted as they arrive: a dump's messages, held all at once, cost
    /// several times what they say (about 400 bytes an address).
    pub async fn addresses(&self, interfaces: &[Interface]) -> Result<Vec<LiveAddress>> {
        self.handle
            .address()
            .get()
            .execute()
            .try_filter_map(|msg| {
                let live = interfaces
                    .iter()
                    .find(|i| i.index == msg.header.index)
                    .and_then(|interface| address_from(&msg, interface.name.clone()));
                std::future::ready(Ok(live))
            })
            .try_collect()
            .await
            .map_err(kernel_error("listing addresses"))
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
            let mut messages = self.handle.route().get(request).execute();
            while let Some(message) = messages
                .try_next()
                .await
                .map_err(kernel_error("listing routes"))?
            {
                routes.extend(route_from(&message));
            }
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

    /// Re-marks a live route in place (NLM_F_REPLACE matches it by table,
    /// destination and metric): it is never absent.
    pub async fn replace_route(
        &self,
        ifindex: u32,
        route: &RouteSpec,
        source: Option<IpAddr>,
        protocol: u8,
    ) -> Result<()> {
        let message = route_message(ifindex, route, source, protocol);
        self.handle
            .route()
            .add(message)
            .replace()
            .execute()
            .await
            .map_err(kernel_error(format!("marking route {route}")))
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
