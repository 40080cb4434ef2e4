//! IPv6 unsolicited neighbour advertisements (RFC 4861 section 7.2.6)
//! over a raw ICMPv6 socket: the kernel's `ndisc_notify` announces only
//! an interface's first address on link up, never an added secondary, so
//! peers holding a stale entry would keep sending to the old MAC.
//!
//! Blocking calls: the runner runs them on a blocking thread.

use std::{
    io,
    net::{Ipv6Addr, SocketAddrV6},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use crate::core::wire::{neighbour_advertisement, Mac};

/// ff02::1, all nodes on the link.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// RFC 4861: receivers drop neighbour discovery with another hop limit.
const HOP_LIMIT: libc::c_int = 255;

/// Sends one advertisement of `ip` (which must have passed DAD: it is the
/// source) at `mac`, out of interface `ifindex`.
pub fn advertise(ifindex: u32, mac: Mac, ip: Ipv6Addr) -> io::Result<()> {
    // SAFETY: plain socket(2); the result is checked before use.
    let raw = unsafe {
        libc::socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMPV6,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let index = ifindex as libc::c_int;
    set_option(&fd, libc::IPV6_MULTICAST_IF, index)?;
    set_option(&fd, libc::IPV6_MULTICAST_HOPS, HOP_LIMIT)?;
    // A link-local source needs its scope; a global one must not have
    // another interface's.
    let scope = if is_link_local(ip) { ifindex } else { 0 };
    let source = sockaddr(SocketAddrV6::new(ip, 0, 0, scope));
    // SAFETY: source is a valid sockaddr_in6.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(source).cast(),
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if bound < 0 {
        return Err(io::Error::last_os_error());
    }
    let message = neighbour_advertisement(ip, mac);
    let destination = sockaddr(SocketAddrV6::new(ALL_NODES, 0, 0, ifindex));
    // SAFETY: message and destination are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            message.as_ptr().cast(),
            message.len(),
            0,
            std::ptr::addr_of!(destination).cast(),
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

fn set_option(fd: &OwnedFd, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: value is a c_int of the length given.
    let done = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            option,
            std::ptr::addr_of!(value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn sockaddr(address: SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut raw: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    raw.sin6_port = 0;
    raw.sin6_addr.s6_addr = address.ip().octets();
    raw.sin6_scope_id = address.scope_id();
    raw
}
