//! A netlink socket that lets the reader keep up with a dump.
//!
//! netlink-proto's connection reads datagrams until the socket has none,
//! and a dump refills the socket at every read: the whole dump of 10,000
//! addresses is parsed and queued (several MB) before the code asking for
//! it sees the first one. Yielding after a few datagrams lets the consumer
//! take what was parsed, so a dump costs a few datagrams' worth at a time.

use std::{
    cell::Cell,
    io,
    task::{Context, Poll},
};

use netlink_sys::{AsyncSocket, Socket, SocketAddr, TokioSocket};

/// Datagrams (each up to 32 KiB, a few hundred messages) read before the
/// connection task gives way.
const DATAGRAMS_PER_TURN: u8 = 4;

pub struct PacedSocket {
    inner: TokioSocket,
    read_this_turn: Cell<u8>,
}

impl PacedSocket {
    /// Pending (woken at once) when this turn has read its share.
    fn give_way(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.read_this_turn.get() < DATAGRAMS_PER_TURN {
            return Poll::Ready(());
        }
        self.read_this_turn.set(0);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn count<T>(&self, read: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &read {
            Poll::Ready(Ok(_)) => self.read_this_turn.set(self.read_this_turn.get() + 1),
            _ => self.read_this_turn.set(0),
        }
        read
    }
}

impl AsyncSocket for PacedSocket {
    fn socket_ref(&self) -> &Socket {
        self.inner.socket_ref()
    }

    fn socket_mut(&mut self) -> &mut Socket {
        self.inner.socket_mut()
    }

    fn new(protocol: isize) -> io::Result<Self> {
        Ok(Self {
            inner: TokioSocket::new(protocol)?,
            read_this_turn: Cell::new(0),
        })
    }

    fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: &SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_send_to(cx, buf, addr)
    }

    fn poll_recv<B: bytes::BufMut>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<io::Result<()>> {
        std::task::ready!(self.give_way(cx));
        self.count(self.inner.poll_recv(cx, buf))
    }

    fn poll_recv_from<B: bytes::BufMut>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<io::Result<SocketAddr>> {
        std::task::ready!(self.give_way(cx));
        self.count(self.inner.poll_recv_from(cx, buf))
    }

    fn poll_recv_from_full(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Vec<u8>, SocketAddr)>> {
        std::task::ready!(self.give_way(cx));
        self.count(self.inner.poll_recv_from_full(cx))
    }
}
