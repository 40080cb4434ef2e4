//! Counts RX traffic to, and TX traffic from, every address userspace put in
//! `COUNTERS`. Packets always pass unchanged: the programs return TCX_NEXT, so
//! they never decide a packet's fate and other TC programs still run.
//!
//! RX counts what reaches this host: frames for its MAC, broadcast and
//! multicast (the IP stack takes a unicast packet from those too), not
//! frames for another host's MAC that a promiscuous or bridged port sees
//! (PACKET_OTHERHOST), which the IP stack drops. TC ingress runs before
//! netfilter, so a packet the firewall drops later is counted, as in
//! `ip -s link`; egress runs after it, so TX is what left.

use core::{ffi::c_void, mem::size_of};

use alias_ebpf::{
    slot_hash, AddrKey, IndexSlot, TrafficCounters, INDEX_SLOTS, MAP_MMAPABLE, MAX_PROBES,
    MAX_TRACKED_ADDRESSES,
};
use aya_ebpf::{
    helpers::{bpf_ktime_get_ns, generated::bpf_loop},
    macros::{classifier, map},
    maps::{Array, PerCpuArray},
    programs::TcContext,
};
use aya_log_ebpf::warn;

/// TCX_NEXT (also TC_ACT_UNSPEC for classic tc): no verdict.
const TC_NEXT: i32 = -1;

/// skb->pkt_type of a frame addressed to another host's MAC.
const PACKET_OTHERHOST: u32 = 3;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const IPV6_HLEN: usize = 40;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const UDP_HLEN: usize = 8;

// The counters table (see alias_ebpf::INDEX_MAP). Userspace alone writes
// the index and the keys, so what a packet can cost is bounded: at most
// MAX_PROBES slots read, and nothing is ever inserted from the packet path.
#[map]
static ADDR_INDEX: Array<u64> = Array::pinned(INDEX_SLOTS, MAP_MMAPABLE);
#[map]
static ADDR_KEYS: Array<[u64; 2]> = Array::pinned(MAX_TRACKED_ADDRESSES, MAP_MMAPABLE);
#[map]
static ADDR_COUNTERS: PerCpuArray<TrafficCounters> = PerCpuArray::pinned(MAX_TRACKED_ADDRESSES, 0);

/// Not a counter number: what `counter_of` returns for an untracked address.
const UNTRACKED: u32 = u32::MAX;

/// One lookup's state, on the caller's stack, for `probe_one`.
#[repr(C)]
struct Search {
    words: [u64; 2],
    home: u32,
    tag: u32,
    counter: u32,
}

/// The counter number of a tracked address (as two words in memory
/// order), or UNTRACKED. Probes from the address's home slot to the first
/// empty one. The home slot is read here: it settles almost every lookup,
/// hit or miss, at four slots per address. The rest go through bpf_loop,
/// which the verifier checks once: a plain loop of MAX_PROBES rounds made
/// it check the rest of the program once per round (each load took five
/// times as long), and bpf_loop's calls cost about 10 ns a packet, too
/// much for the first slot.
#[inline(always)]
fn counter_of(words: [u64; 2]) -> u32 {
    let (home, tag) = slot_hash(words);
    // The home slot in registers: no Search on the stack for most packets.
    match read_slot(home, tag, words) {
        Probed::Found(counter) => return counter,
        Probed::Stop => return UNTRACKED,
        Probed::Next => {}
    }
    let mut search = Search {
        words,
        home,
        tag,
        counter: UNTRACKED,
    };
    // SAFETY: the callback has the signature bpf_loop calls, and `search`
    // outlives the call.
    unsafe {
        bpf_loop(
            MAX_PROBES - 1,
            probe_next as *mut c_void,
            &mut search as *mut Search as *mut c_void,
            0,
        );
    }
    search.counter
}

/// bpf_loop's round `round`: probe 1 + round. 1 stops the loop.
extern "C" fn probe_next(round: u64, search: *mut c_void) -> i64 {
    // SAFETY: bpf_loop passes back the Search counter_of gave it.
    let search = unsafe { &mut *(search as *mut Search) };
    probe_slot(search, round as u32 + 1) as i64
}

/// What one slot says about a lookup.
enum Probed {
    Found(u32),
    /// Empty (or unreadable): the address is not tracked.
    Stop,
    /// Another address's, or freed: go on.
    Next,
}

/// Reads slot `number` for the address `words` with `tag`.
#[inline(always)]
fn read_slot(number: u32, tag: u32, words: [u64; 2]) -> Probed {
    let Some(&slot) = ADDR_INDEX.get(number & (INDEX_SLOTS - 1)) else {
        return Probed::Stop;
    };
    if slot == IndexSlot::EMPTY {
        return Probed::Stop;
    }
    if let Some(counter) = IndexSlot::counter_if_tagged(slot, tag) {
        // Word by word: a whole-array compare may become a bcmp call,
        // which BPF has not.
        if let Some(key) = ADDR_KEYS.get(counter) {
            if key[0] == words[0] && key[1] == words[1] {
                return Probed::Found(counter);
            }
        }
    }
    Probed::Next
}

/// Reads slot `probe` of a lookup: true when that settles it (found, or
/// an empty slot), false to go on to the next one.
#[inline(always)]
fn probe_slot(search: &mut Search, probe: u32) -> bool {
    match read_slot(search.home.wrapping_add(probe), search.tag, search.words) {
        Probed::Found(counter) => {
            search.counter = counter;
            true
        }
        Probed::Stop => true,
        Probed::Next => false,
    }
}

/// When this CPU last logged, in ns since boot: warnings are for a person
/// reading the log, so at most one per second per CPU reaches the ring buffer.
#[map]
static LAST_WARNING: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
const WARNING_INTERVAL_NS: u64 = 1_000_000_000;

/// Whether a warning may be logged now (and, if so, notes that it was).
#[inline(always)]
fn warning_allowed() -> bool {
    let Some(last) = LAST_WARNING.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: bpf_ktime_get_ns has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // SAFETY: a per-CPU slot, written only by programs on this CPU.
    unsafe {
        if *last != 0 && now.wrapping_sub(*last) < WARNING_INTERVAL_NS {
            return false;
        }
        *last = now;
    }
    true
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Ingress: count the packet for its destination address.
    Rx,
    /// Egress: count the packet for its source address.
    Tx,
}

#[classifier]
pub fn ingress_eth(ctx: TcContext) -> i32 {
    count(&ctx, true, Direction::Rx);
    TC_NEXT
}

#[classifier]
pub fn egress_eth(ctx: TcContext) -> i32 {
    count(&ctx, true, Direction::Tx);
    TC_NEXT
}

/// Does nothing: the benchmark's baseline (`cargo xtask bench`), so the
/// classifier's own cost per packet can be told from the hook's.
#[classifier]
pub fn bench_nothing(_ctx: TcContext) -> i32 {
    TC_NEXT
}

#[classifier]
pub fn ingress_raw(ctx: TcContext) -> i32 {
    count(&ctx, false, Direction::Rx);
    TC_NEXT
}

#[classifier]
pub fn egress_raw(ctx: TcContext) -> i32 {
    count(&ctx, false, Direction::Tx);
    TC_NEXT
}

/// Reads a `T` at `offset` from the packet start: directly when it lies in the
/// linear area (the common case, cheapest), else through bpf_skb_load_bytes.
#[inline(always)]
fn read<T: Copy>(ctx: &TcContext, offset: usize) -> Option<T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() <= end {
        // SAFETY: the range was checked against data_end just above.
        return Some(unsafe { core::ptr::read_unaligned((start + offset) as *const T) });
    }
    ctx.load::<T>(offset).ok()
}

/// Reads one byte. It reads two: for a one-byte read LLVM turns the bounds
/// check into `data + off < data_end`, which the verifier does not accept
/// for a variable offset. Every byte read here has a header byte after it.
/// Reads are of whole words (never byte arrays): the copy on the stack the
/// fallback makes must be aligned, which the verifier insists on.
#[inline(always)]
fn read_byte(ctx: &TcContext, offset: usize) -> Option<u8> {
    read::<u16>(ctx, offset).map(|pair| pair.to_ne_bytes()[0])
}

/// Offset of the network header and its ethertype, past up to two VLAN tags.
#[inline(always)]
fn ethernet(ctx: &TcContext) -> Option<(usize, u16)> {
    let mut ethertype = u16::from_be(read::<u16>(ctx, ETH_HLEN - 2)?);
    let mut offset = ETH_HLEN;
    for _ in 0..2 {
        if ethertype == ETH_P_8021Q || ethertype == ETH_P_8021AD {
            ethertype = u16::from_be(read::<u16>(ctx, offset + 2)?);
            offset += VLAN_HLEN;
        }
    }
    Some((offset, ethertype))
}

/// Where the network header starts and which IP version it is.
#[inline(always)]
fn network_header(ctx: &TcContext, has_eth: bool) -> Option<(usize, u16)> {
    if has_eth {
        return ethernet(ctx);
    }
    let version = read_byte(ctx, 0)? >> 4;
    match version {
        4 => Some((0, ETH_P_IP)),
        6 => Some((0, ETH_P_IPV6)),
        _ => None,
    }
}

#[inline(always)]
fn count(ctx: &TcContext, has_eth: bool, direction: Direction) -> Option<()> {
    // SAFETY: ctx.skb.skb is the program's own __sk_buff context.
    if direction == Direction::Rx && unsafe { (*ctx.skb.skb).pkt_type } == PACKET_OTHERHOST {
        return None;
    }
    let (l3, ethertype) = network_header(ctx, has_eth)?;
    // Only what the lookup needs is read before it: most packets miss.
    let words = match ethertype {
        ETH_P_IP => {
            let at = if direction == Direction::Rx { 16 } else { 12 };
            AddrKey::from_ipv4_octets(read::<u32>(ctx, l3 + at)?.to_ne_bytes()).words()
        }
        ETH_P_IPV6 => {
            let at = if direction == Direction::Rx { 24 } else { 8 };
            read::<[u64; 2]>(ctx, l3 + at)?
        }
        _ => return None,
    };
    let counter = counter_of(words);
    if counter == UNTRACKED {
        return None;
    }
    let counters = ADDR_COUNTERS.get_ptr_mut(counter)?;

    // SAFETY: ctx.skb.skb is the program's own __sk_buff context.
    let gso_segs = unsafe { (*ctx.skb.skb).gso_segs };
    let (segments, bytes) = if gso_segs > 1 {
        let segments = gso_segs as u64;
        let repeated = repeated_header_bytes(ctx, l3, ethertype == ETH_P_IPV6, segments);
        (
            segments,
            ctx.len() as u64 + (segments - 1) * repeated as u64,
        )
    } else {
        (1, ctx.len() as u64)
    };

    // SAFETY: a per-CPU value; this program is the only writer on this CPU
    // and BPF programs are not migrated mid-run.
    unsafe {
        match direction {
            Direction::Rx => {
                (*counters).rx_packets += segments;
                (*counters).rx_bytes += bytes;
            }
            Direction::Tx => {
                (*counters).tx_packets += segments;
                (*counters).tx_bytes += bytes;
            }
        }
    }
    Some(())
}

/// For a GSO/GRO super-packet: the header bytes every segment repeats on
/// the wire (link layer to L4). Where the L4 header cannot be sized, its
/// bytes are left out, with a warning; the packets still count.
#[inline(always)]
fn repeated_header_bytes(ctx: &TcContext, l3: usize, ipv6: bool, segments: u64) -> usize {
    let (l3_len, l4_proto) = if ipv6 {
        (IPV6_HLEN, read_byte(ctx, l3 + 6))
    } else {
        let ihl = read_byte(ctx, l3).map_or(0, |b| (b & 0x0f) as usize * 4);
        (ihl, read_byte(ctx, l3 + 9))
    };
    // Unreadable only in a packet cut short within its IP header.
    let Some(l4_proto) = l4_proto else {
        return l3 + l3_len;
    };
    let l4 = l3 + l3_len;
    let l4_len = match l4_proto {
        IPPROTO_TCP => match read_byte(ctx, l4 + 12) {
            Some(data_offset) => ((data_offset >> 4) as usize) * 4,
            None => {
                if warning_allowed() {
                    warn!(
                        ctx,
                        "GSO packet of {} segments: TCP header unreadable, the per-segment copies of the TCP header are not counted in bytes",
                        segments
                    );
                }
                0
            }
        },
        IPPROTO_UDP => UDP_HLEN,
        other => {
            if warning_allowed() {
                warn!(
                    ctx,
                    "GSO packet of {} segments over IP protocol {} (a tunnel or IPv6 extension header): per-segment headers past the IP header are not counted in bytes",
                    segments,
                    other
                );
            }
            0
        }
    };
    l4 + l4_len
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
