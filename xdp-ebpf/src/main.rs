//! The appliance's XDP program.
//!
//! For every frame on the interface it takes exactly one decision and counts it in a per-CPU
//! counter (see [`XdpCounter`]):
//! - UDP over IPv4 to a log port, not a fragment: redirected into the AF_XDP socket bound to the
//!   frame's receive queue (`XSKS[rx_queue_index]`). When no socket is bound there, the redirect
//!   helper falls back to `XDP_PASS`, so the kernel socket path gets the packet instead.
//! - anything else (ARP, ICMP, other ports, fragments): `XDP_PASS` to the kernel.
//! - headers that claim more bytes than the frame has: `XDP_DROP`, counted as malformed.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{HashMap, PerCpuArray, XskMap},
    programs::XdpContext,
};
use xdp_common::{MAX_LOG_PORTS, MAX_QUEUES, XDP_COUNTER_COUNT, XdpCounter, wire};

#[map(name = "XSKS")]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[map(name = "LOG_PORTS")]
static LOG_PORTS: HashMap<u16, u8> = HashMap::with_max_entries(MAX_LOG_PORTS, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XDP_COUNTER_COUNT, 0);

/// Why a frame could not be read: its headers run past the end of the frame.
struct Truncated;

#[xdp]
pub fn ingest_xdp(ctx: XdpContext) -> u32 {
    let (counter, action) = match try_ingest_xdp(&ctx) {
        Ok(decision) => decision,
        Err(Truncated) => (XdpCounter::DroppedMalformed, xdp_action::XDP_DROP),
    };
    count(counter);
    action
}

fn try_ingest_xdp(ctx: &XdpContext) -> Result<(XdpCounter, u32), Truncated> {
    let ether_type = u16::from_be(read::<u16>(ctx, 12)?);
    if ether_type != wire::ETH_P_IP {
        return Ok((XdpCounter::PassedNotIp, xdp_action::XDP_PASS));
    }

    // One bounds check for the fixed 20-byte IPv4 header, then fields at constant offsets: the
    // verifier tracks constant offsets from one checked pointer, while LLVM would otherwise fold
    // per-field checks into an earlier variable-length check the verifier cannot follow.
    let ip = wire::ETH_HLEN;
    let iph = read::<[u8; wire::IPV4_MIN_HLEN]>(ctx, ip)?;
    let ihl = usize::from(iph[0] & 0x0f) * 4;
    if iph[0] >> 4 != 4 || ihl < wire::IPV4_MIN_HLEN {
        return Err(Truncated);
    }
    if iph[9] != wire::IPPROTO_UDP {
        return Ok((XdpCounter::PassedNotUdp, xdp_action::XDP_PASS));
    }
    if u16::from_be_bytes([iph[6], iph[7]]) & (wire::IP_MF | wire::IP_OFFSET_MASK) != 0 {
        // Only the first fragment carries the UDP header, and only the kernel can reassemble.
        return Ok((XdpCounter::PassedFragment, xdp_action::XDP_PASS));
    }

    // The UDP header follows the options; reading it whole also proves the options are there.
    let udph = read::<[u8; wire::UDP_HLEN]>(ctx, ip + ihl)?;
    let dst_port = u16::from_be_bytes([udph[2], udph[3]]);
    // SAFETY: a read-only lookup of a plain u16 key; the value is not dereferenced.
    if unsafe { LOG_PORTS.get(dst_port) }.is_none() {
        return Ok((XdpCounter::PassedNotLogPort, xdp_action::XDP_PASS));
    }

    // The low bits of the flags are the action returned when XSKS has no socket at this index.
    let queue = ctx.rx_queue_index();
    match XSKS.redirect(queue, u64::from(xdp_action::XDP_PASS)) {
        Ok(action) => Ok((XdpCounter::Steered, action)),
        Err(action) => Ok((XdpCounter::PassedNoSocket, action)),
    }
}

/// Reads a `T` at `offset` bytes into the frame, bounds-checked against the frame's end: the one
/// place where packet memory is read.
#[inline(always)]
fn read<T: Copy>(ctx: &XdpContext, offset: usize) -> Result<T, Truncated> {
    let start = ctx.data() + offset;
    if start + core::mem::size_of::<T>() > ctx.data_end() {
        return Err(Truncated);
    }
    // SAFETY: [start, start + size_of::<T>()) lies inside [data, data_end), checked just above,
    // which the verifier also proves; packet data has no alignment guarantee, hence unaligned.
    Ok(unsafe { core::ptr::read_unaligned(start as *const T) })
}

#[inline(always)]
fn count(counter: XdpCounter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // SAFETY: the pointer comes from a successful per-CPU array lookup, so it points to this
        // CPU's u64 slot, which no other CPU touches; XDP programs do not nest on one CPU.
        unsafe { *slot += 1 };
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
