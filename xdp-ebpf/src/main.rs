//! The appliance's XDP program.
//!
//! For every frame on the interface it takes exactly one decision and counts it in a per-CPU
//! counter (see [`XdpCounter`]):
//! - UDP to a log port, not a fragment, from an allowed source: redirected into the AF_XDP socket
//!   bound to the frame's receive queue (`XSKS[rx_queue_index]`). When no socket is bound there,
//!   the redirect helper falls back to `XDP_PASS`, so the kernel socket path gets the packet.
//! - UDP to a log port from a source the filter denies: `XDP_DROP`.
//! - a fragment of a UDP datagram from a source the filter denies: `XDP_DROP` (the source address
//!   is in every fragment; the port only in the first).
//! - anything else (ARP, ICMP, other ports, other fragments): `XDP_PASS` to the kernel, whose
//!   socket path applies the same source filter to whatever reaches a log port.
//! - headers that claim more bytes than the frame has: `XDP_DROP`, counted as malformed.
//!
//! Steered packets carry their arrival time in a stamp ([`XdpMeta`]) put in front of the frame
//! with `bpf_xdp_adjust_head`, so every frame on an AF_XDP ring starts with it. A log packet
//! that cannot take the stamp (no headroom) goes to the kernel socket path, counted.
//!
//! Why not the metadata area (`bpf_xdp_adjust_meta`), made for this: some kernels refuse that
//! helper to XDP programs at verification (seen on 6.18.44 in a Firecracker guest: "program of
//! this type cannot use helper bpf_xdp_adjust_meta#54"), and some drivers refuse it at run
//! time. Moving the head is accepted by every kernel and driver with XDP, and the AF_XDP
//! descriptor then points at the stamp, in copy and in zero-copy mode alike.
//!
//! The header walk itself is `xdp_common::walk`, shared with user space.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_ktime_get_ns, bpf_xdp_adjust_head},
    macros::{map, xdp},
    maps::{Array, HashMap, LpmTrie, PerCpuArray, XskMap, lpm_trie::Key},
    programs::XdpContext,
};
use xdp_common::{
    MAX_LOG_PORTS, MAX_QUEUES, MAX_SOURCE_PREFIXES, Verdict, XDP_COUNTER_COUNT, XDP_META_LEN,
    XDP_META_MAGIC, XdpCounter, XdpMeta,
    walk::{IpFragment, Malformed, Packet, SourceAddr, Walk, walk},
};

#[map(name = "XSKS")]
static XSKS: XskMap = XskMap::with_max_entries(MAX_QUEUES, 0);

#[map(name = "LOG_PORTS")]
static LOG_PORTS: HashMap<u16, u8> = HashMap::with_max_entries(MAX_LOG_PORTS, 0);

#[map(name = "SOURCES_V4")]
static SOURCES_V4: LpmTrie<[u8; 4], u8> = LpmTrie::with_max_entries(MAX_SOURCE_PREFIXES, 0);

#[map(name = "SOURCES_V6")]
static SOURCES_V6: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(MAX_SOURCE_PREFIXES, 0);

#[map(name = "SOURCE_DEFAULT")]
static SOURCE_DEFAULT: Array<u32> = Array::with_max_entries(1, 0);

#[map(name = "COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XDP_COUNTER_COUNT, 0);

#[xdp]
pub fn ingest_xdp(ctx: XdpContext) -> u32 {
    let (counter, action) = match try_ingest_xdp(&ctx) {
        Ok(decision) => decision,
        Err(Malformed) => (XdpCounter::DroppedMalformed, xdp_action::XDP_DROP),
    };
    count(counter);
    action
}

fn try_ingest_xdp(ctx: &XdpContext) -> Result<(XdpCounter, u32), Malformed> {
    let udp = match walk(&Frame(ctx))? {
        Walk::NotIp => return Ok((XdpCounter::PassedNotIp, xdp_action::XDP_PASS)),
        Walk::NotUdp => return Ok((XdpCounter::PassedNotUdp, xdp_action::XDP_PASS)),
        Walk::Fragment(f) if fragment_denied(f) => {
            let counter = if f.first {
                XdpCounter::DroppedDeniedFragment
            } else {
                XdpCounter::DroppedDeniedFragmentTail
            };
            return Ok((counter, xdp_action::XDP_DROP));
        }
        Walk::Fragment(_) => return Ok((XdpCounter::PassedFragment, xdp_action::XDP_PASS)),
        Walk::Udp(udp) => udp,
    };
    // SAFETY: a read-only lookup of a plain u16 key; the value is not dereferenced.
    if unsafe { LOG_PORTS.get(udp.dst_port) }.is_none() {
        return Ok((XdpCounter::PassedNotLogPort, xdp_action::XDP_PASS));
    }
    if denied(udp.src) {
        return Ok((XdpCounter::DroppedDenied, xdp_action::XDP_DROP));
    }
    if !stamp_arrival(ctx) {
        return Ok((XdpCounter::PassedNoHeadroom, xdp_action::XDP_PASS));
    }
    // The low bits of the flags are the action returned when XSKS has no socket at this index.
    let queue = ctx.rx_queue_index();
    match XSKS.redirect(queue, u64::from(xdp_action::XDP_PASS)) {
        Ok(action) => Ok((XdpCounter::Steered, action)),
        Err(action) => {
            // The kernel stack gets the frame: take the stamp off again.
            unstamp(ctx);
            Ok((XdpCounter::PassedNoSocket, action))
        }
    }
}

/// Whether the source filter denies `src`: the longest matching prefix's verdict, else the
/// configured default (`Verdict::denies`, the rule user space applies too).
#[inline(always)]
fn denied(src: SourceAddr) -> bool {
    verdict_denies(match src {
        SourceAddr::V4(addr) => SOURCES_V4.get(Key::new(32, addr)).copied(),
        SourceAddr::V6(addr) => SOURCES_V6.get(Key::new(128, addr)).copied(),
    })
}

/// [`denied`] for a fragment's sender.
#[inline(always)]
fn fragment_denied(f: IpFragment) -> bool {
    verdict_denies(if f.v6 {
        SOURCES_V6.get(Key::new(128, f.src)).copied()
    } else {
        let a = f.src;
        SOURCES_V4
            .get(Key::new(32, [a[0], a[1], a[2], a[3]]))
            .copied()
    })
}

/// The verdict of the longest matching prefix, if any, else the default.
#[inline(always)]
fn verdict_denies(matched: Option<u8>) -> bool {
    Verdict::denies(matched, || {
        SOURCE_DEFAULT
            .get(0)
            .copied()
            .unwrap_or(Verdict::Unfiltered as u32)
    })
}

/// Puts [`XdpMeta`] in front of the frame. False, with the frame as it was, when the driver
/// leaves no headroom for it.
#[inline(always)]
fn stamp_arrival(ctx: &XdpContext) -> bool {
    // SAFETY: `ctx.ctx` is the program's own context pointer; the kernel checks that the
    // headroom holds XDP_META_LEN more bytes and returns an error, changing nothing, when not.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(XDP_META_LEN as i32)) } != 0 {
        return false;
    }
    let start = ctx.data();
    if start + XDP_META_LEN > ctx.data_end() {
        // Cannot happen (the frame grew by XDP_META_LEN), but the verifier needs the check.
        unstamp(ctx);
        return false;
    }
    let value = XdpMeta {
        // SAFETY: a helper without arguments or side effects.
        arrival_ns: unsafe { bpf_ktime_get_ns() },
        magic: XDP_META_MAGIC,
        reserved: 0,
    };
    // SAFETY: [start, start + XDP_META_LEN) lies inside [data, data_end), checked just above (and
    // by the verifier); packet data has no alignment guarantee, hence unaligned.
    unsafe { core::ptr::write_unaligned(start as *mut XdpMeta, value) };
    true
}

/// Takes the stamp of [`stamp_arrival`] off again.
#[inline(always)]
fn unstamp(ctx: &XdpContext) {
    // SAFETY: `ctx.ctx` is the program's own context pointer; shrinking the head by the bytes
    // `stamp_arrival` added gives back the frame as it arrived. It cannot fail: the frame is
    // longer than the stamp.
    unsafe { bpf_xdp_adjust_head(ctx.ctx, XDP_META_LEN as i32) };
}

/// The frame, read through bounds checks the verifier can follow.
struct Frame<'a>(&'a XdpContext);

impl Packet for Frame<'_> {
    #[inline(always)]
    fn bytes<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let start = self.0.data() + offset;
        if start + N > self.0.data_end() {
            return None;
        }
        // SAFETY: [start, start + N) lies inside [data, data_end), checked just above, which the
        // verifier also proves; packet data has no alignment guarantee, hence unaligned.
        Some(unsafe { core::ptr::read_unaligned(start as *const [u8; N]) })
    }
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
