//! ARP on the wire, over AF_PACKET: RFC 5227 address conflict detection
//! (probes from 0.0.0.0 before an IPv4 alias goes up) and gratuitous ARP
//! announcements after (so peers with a stale neighbour entry, or one
//! pointing at a replaced NIC's MAC, follow at once). No `arping` process.
//!
//! Blocking calls: the runner runs them on a blocking thread.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

use crate::core::wire::{ArpPacket, Mac};

const ETH_P_ARP: u16 = 0x0806;
/// Frames this host sent, looped back to packet sockets.
const PACKET_OUTGOING: u8 = 4;
/// RFC 5227's PROBE_NUM: probes per address, spread over the wait.
const PROBES: u32 = 3;

/// One address to probe (or announce) on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub ifindex: u32,
    pub mac: Mac,
    pub ip: Ipv4Addr,
}

/// Another host answered for, or probed for, an address we probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub ifindex: u32,
    pub ip: Ipv4Addr,
    /// The other host's hardware address.
    pub mac: Mac,
    /// True for a competing probe (it is choosing the address right now),
    /// false when it already uses it.
    pub probing: bool,
}

/// An AF_PACKET socket for ARP bound to one interface.
struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    fn open(ifindex: u32) -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from(ETH_P_ARP.to_be()),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let address = link_address(ifindex, None);
        // SAFETY: address is a valid sockaddr_ll of the given length.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::addr_of!(address).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { fd, ifindex })
    }

    /// Sends `packet` to the link's broadcast address.
    fn broadcast(&self, packet: &ArpPacket) -> io::Result<()> {
        let bytes = packet.encode();
        let address = link_address(self.ifindex, Some(Mac::BROADCAST));
        // SAFETY: bytes and address are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                std::ptr::addr_of!(address).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next ARP packet another host sent, if one is waiting.
    fn receive(&self) -> io::Result<Option<ArpPacket>> {
        let mut buffer = [0u8; 128];
        loop {
            // SAFETY: zeroed sockaddr_ll is a valid out-parameter.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buffer and from are valid for the lengths given.
            let got = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                    std::ptr::addr_of_mut!(from).cast(),
                    &mut from_len,
                )
            };
            if got < 0 {
                let err = io::Error::last_os_error();
                return match err.kind() {
                    io::ErrorKind::WouldBlock => Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => Err(err),
                };
            }
            if from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            if let Some(packet) = ArpPacket::decode(&buffer[..got as usize]) {
                return Ok(Some(packet));
            }
        }
    }
}

fn link_address(ifindex: u32, destination: Option<Mac>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut address: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = ETH_P_ARP.to_be();
    address.sll_ifindex = ifindex as i32;
    if let Some(mac) = destination {
        address.sll_halen = 6;
        address.sll_addr[..6].copy_from_slice(&mac.0);
    }
    address
}

/// Probes every target at once (one socket per interface) for `wait` in
/// all: 1,000 addresses cost one wait, not 1,000. Returns the conflicts
/// seen, at most one per address.
pub fn probe(targets: &[Target], wait: Duration) -> io::Result<Vec<Conflict>> {
    if targets.is_empty() || wait.is_zero() {
        return Ok(Vec::new());
    }
    let sockets = open_sockets(targets)?;
    let started = Instant::now();
    let mut conflicts: BTreeMap<(u32, Ipv4Addr), Conflict> = BTreeMap::new();
    for round in 0..PROBES {
        let send_at = started + wait * round / PROBES;
        listen_until(&sockets, targets, send_at, &mut conflicts)?;
        for target in targets {
            if conflicts.contains_key(&(target.ifindex, target.ip)) {
                continue;
            }
            let probe = ArpPacket::probe(target.mac, target.ip);
            sockets[&target.ifindex].broadcast(&probe)?;
        }
    }
    listen_until(&sockets, targets, started + wait, &mut conflicts)?;
    Ok(conflicts.into_values().collect())
}

/// Reads every socket until `deadline`, noting conflicts for `targets`.
fn listen_until(
    sockets: &BTreeMap<u32, ArpSocket>,
    targets: &[Target],
    deadline: Instant,
    conflicts: &mut BTreeMap<(u32, Ipv4Addr), Conflict>,
) -> io::Result<()> {
    let wanted: BTreeSet<(u32, Ipv4Addr)> = targets.iter().map(|t| (t.ifindex, t.ip)).collect();
    let own: BTreeMap<u32, Mac> = targets.iter().map(|t| (t.ifindex, t.mac)).collect();
    let mut polled: Vec<libc::pollfd> = sockets
        .values()
        .map(|s| libc::pollfd {
            fd: s.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        for socket in sockets.values() {
            while let Some(packet) = socket.receive()? {
                let ifindex = socket.ifindex;
                if packet.sender_mac == own[&ifindex] {
                    continue;
                }
                if let Some((ip, probing)) = packet.claims() {
                    if wanted.contains(&(ifindex, ip)) {
                        conflicts.entry((ifindex, ip)).or_insert(Conflict {
                            ifindex,
                            ip,
                            mac: packet.sender_mac,
                            probing,
                        });
                    }
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        let timeout = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: polled is a valid array of pollfd of the given length.
        let ready = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as _, timeout) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// One gratuitous ARP announcement per target (RFC 5227 section 2.3: a
/// request with sender and target address both the alias's).
pub fn announce(targets: &[Target]) -> io::Result<()> {
    let sockets = open_sockets(targets)?;
    for target in targets {
        sockets[&target.ifindex].broadcast(&ArpPacket::announcement(target.mac, target.ip))?;
    }
    Ok(())
}

/// One socket per interface of `targets`.
fn open_sockets(targets: &[Target]) -> io::Result<BTreeMap<u32, ArpSocket>> {
    let mut sockets = BTreeMap::new();
    for target in targets {
        if let std::collections::btree_map::Entry::Vacant(slot) = sockets.entry(target.ifindex) {
            let socket = ArpSocket::open(target.ifindex).map_err(|err| {
                io::Error::new(err.kind(), format!("opening an ARP socket: {err}"))
            })?;
            slot.insert(socket);
        }
    }
    Ok(sockets)
}
