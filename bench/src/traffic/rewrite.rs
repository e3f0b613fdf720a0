//! Rewriting a capture for the interfaces it is replayed on, and what its frames hold.

use super::hosts::{MTU, push};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use testbed::craft::UdpFrame;
use xdp_common::walk::{IpFragment, SourceAddr, Walk, walk};

/// Where replayed frames go: every datagram is rebuilt for this receiver (checksums included),
/// keeping its sender, VLAN tag and payload.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite {
    /// Source MAC of the frames (the sending interface's).
    pub src_mac: [u8; 6],
    /// Destination MAC (the receiving interface's).
    pub dst_mac: [u8; 6],
    /// Receiver for IPv4 senders.
    pub dst_v4: Ipv4Addr,
    /// Receiver for IPv6 senders.
    pub dst_v6: Ipv6Addr,
    /// Destination port.
    pub dst_port: u16,
    /// Remove VLAN tags (for a receiver whose kernel has no VLAN device for them).
    pub strip_vlan: bool,
}

/// VLAN-tagged fragments in `frames`, and the datagrams they carry: a receiver's kernel without a
/// VLAN device for the tag drops them, one by one.
pub fn tagged_fragments<F: AsRef<[u8]>>(frames: &[F]) -> (u64, u64) {
    let mut counts = (0, 0);
    for f in frames.iter().map(AsRef::as_ref) {
        if let Some(frag) = fragment(f).filter(|frag| frag.tagged) {
            counts.0 += 1;
            counts.1 += u64::from(frag.first);
        }
    }
    counts
}

/// Whether `f` starts a datagram: a whole one, or the first fragment of one.
pub fn first_of_datagram(f: &[u8]) -> bool {
    match walk(f) {
        Ok(Walk::Udp(_)) => true,
        Ok(Walk::Fragment(frag)) => frag.first,
        _ => false,
    }
}

/// The fragment in `f`, if it is one, read by the header walk the XDP program runs.
fn fragment(f: &[u8]) -> Option<IpFragment> {
    match walk(f) {
        Ok(Walk::Fragment(frag)) => Some(frag),
        _ => None,
    }
}

fn ip(a: SourceAddr) -> IpAddr {
    match a {
        SourceAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(a)),
        SourceAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(a)),
    }
}

/// `frames` rebuilt for `to` (a datagram larger than [`MTU`] goes as fragments). An IP fragment
/// cannot be rebuilt alone (its UDP checksum is in the first one): fragments addressed to `to`
/// already get their MACs set, others are left out; so are frames that are not UDP at all.
/// Returns the frames and how many were left out.
pub fn rewrite(frames: &[(u64, Vec<u8>)], to: &Rewrite) -> (Vec<(u64, Vec<u8>)>, usize) {
    let mut skipped = 0;
    let mut out = Vec::with_capacity(frames.len());
    let ours = |a: IpAddr| a == IpAddr::V4(to.dst_v4) || a == IpAddr::V6(to.dst_v6);
    for (t, f) in frames {
        let d = match ingest::datapath::frame::decode_udp(f) {
            Ok(d) => d,
            Err(ingest::datapath::frame::FrameError::Fragment)
                if fragment(f).is_some_and(|frag| ours(ip(frag.dst_addr()))) =>
            {
                let frag = fragment(f).expect("a fragment");
                let l3 = usize::from(frag.l3);
                let mut f = if to.strip_vlan && frag.tagged {
                    // The IP packet after the MACs and its own ethertype, tags left out.
                    let mut bare = f[..12].to_vec();
                    bare.extend_from_slice(&f[l3 - 2..]);
                    bare
                } else {
                    f.clone()
                };
                f[..6].copy_from_slice(&to.dst_mac);
                f[6..12].copy_from_slice(&to.src_mac);
                out.push((*t, f));
                continue;
            }
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let dst = match d.src {
            SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(to.dst_v4), to.dst_port),
            SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(to.dst_v6), to.dst_port),
        };
        let vlans: Vec<u16> = d.vlan.into_iter().filter(|_| !to.strip_vlan).collect();
        let frames = UdpFrame {
            src_mac: to.src_mac,
            dst_mac: to.dst_mac,
            vlans: &vlans,
            src: d.src,
            dst,
            payload: d.payload,
        }
        .packets(MTU);
        push(&mut out, *t, frames);
    }
    (out, skipped)
}
