//! Following link, address and route changes (what `ip monitor` shows) for
//! the daemon's drift healing.

use futures::{Stream, StreamExt};
use rtnetlink::{
    packet_core::NetlinkPayload, packet_route::RouteNetlinkMessage, sys::AsyncSocket,
    MulticastGroup,
};

use super::{NetlinkError, Result};

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
pub(super) fn grow_receive_buffer(socket: &mut rtnetlink::sys::Socket) {
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

pub(super) fn change_of(message: &RouteNetlinkMessage) -> Option<Change> {
    match message {
        RouteNetlinkMessage::NewLink(_) | RouteNetlinkMessage::DelLink(_) => Some(Change::Link),
        RouteNetlinkMessage::NewAddress(_) | RouteNetlinkMessage::DelAddress(_) => {
            Some(Change::Address)
        }
        RouteNetlinkMessage::NewRoute(_) | RouteNetlinkMessage::DelRoute(_) => Some(Change::Route),
        _ => None,
    }
}
