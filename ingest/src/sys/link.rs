//! An interface's own counters, read over rtnetlink (RTM_GETLINK, IFLA_STATS64): the frames the
//! NIC or its driver lost before any program saw them, and what the kernel dropped of what XDP
//! passed on. One request per read, no process spawned.

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::{
    RouteNetlinkMessage,
    link::{LinkAttribute, LinkMessage},
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// Why an interface's counters could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No interface of that name.
    #[error("no interface {0:?}")]
    NoInterface(String),
    /// The netlink socket or request failed.
    #[error("rtnetlink")]
    Netlink(#[source] std::io::Error),
    /// The kernel's answer did not read as a link message.
    #[error("rtnetlink answer: {0}")]
    Answer(String),
}

/// An interface's receive counters (IFLA_STATS64), since it came up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames the NIC missed: no buffer on the host side (a hardware drop).
    pub rx_missed: u64,
    /// Receive FIFO overruns (a hardware drop).
    pub rx_fifo: u64,
    /// Receive ring overflows (a hardware drop).
    pub rx_over: u64,
    /// Frames with a bad CRC, bad alignment or a bad length (dropped by the NIC).
    pub rx_crc_frame_length: u64,
    /// Frames the driver or the stack dropped for lack of buffers. Drivers count different
    /// things here, some even what XDP dropped: reported, not added to the accounting.
    pub rx_dropped: u64,
    /// Frames with no protocol handler (reported, not added).
    pub rx_nohandler: u64,
    /// Frames the kernel dropped as not for this host (a destination MAC of another): XDP
    /// passed them on, the stack refused them.
    pub rx_otherhost_dropped: u64,
}

impl LinkStats {
    /// What was added since `earlier` (each counter on its own; a counter reset reads as 0).
    pub fn since(self, earlier: Self) -> Self {
        Self {
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_missed: self.rx_missed.saturating_sub(earlier.rx_missed),
            rx_fifo: self.rx_fifo.saturating_sub(earlier.rx_fifo),
            rx_over: self.rx_over.saturating_sub(earlier.rx_over),
            rx_crc_frame_length: self
                .rx_crc_frame_length
                .saturating_sub(earlier.rx_crc_frame_length),
            rx_dropped: self.rx_dropped.saturating_sub(earlier.rx_dropped),
            rx_nohandler: self.rx_nohandler.saturating_sub(earlier.rx_nohandler),
            rx_otherhost_dropped: self
                .rx_otherhost_dropped
                .saturating_sub(earlier.rx_otherhost_dropped),
        }
    }

    /// Frames the NIC lost before the XDP program could see them: what a log sender's
    /// datagram may have been, on an interface that takes log traffic.
    pub fn lost_before_xdp(&self) -> u64 {
        self.rx_missed + self.rx_fifo + self.rx_over + self.rx_crc_frame_length
    }
}

/// The counters of `iface` now.
pub fn link_stats(iface: &str) -> Result<LinkStats, LinkError> {
    let index = nix::net::if_::if_nametoindex(iface)
        .map_err(|_| LinkError::NoInterface(iface.to_string()))?;
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(LinkError::Netlink)?;
    socket.bind_auto().map_err(LinkError::Netlink)?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(LinkError::Netlink)?;
    let mut request = LinkMessage::default();
    request.header.index = index;
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(request)),
    );
    packet.header.flags = NLM_F_REQUEST;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(LinkError::Netlink)?;
    let mut answer = vec![0u8; 64 << 10];
    let n = socket
        .recv(&mut &mut answer[..], 0)
        .map_err(LinkError::Netlink)?;
    let message: NetlinkMessage<RouteNetlinkMessage> =
        NetlinkMessage::deserialize(&answer[..n]).map_err(|e| LinkError::Answer(e.to_string()))?;
    match message.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => Ok(stats_of(&link)),
        NetlinkPayload::Error(e) => Err(LinkError::Netlink(e.to_io())),
        other => Err(LinkError::Answer(format!("unexpected {other:?}"))),
    }
}

/// The receive counters of a link message (zeros when it carries no IFLA_STATS64).
fn stats_of(link: &LinkMessage) -> LinkStats {
    let Some(s) = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Stats64(s) => Some(s),
        _ => None,
    }) else {
        return LinkStats::default();
    };
    LinkStats {
        rx_packets: s.rx_packets,
        rx_bytes: s.rx_bytes,
        rx_missed: s.rx_missed_errors,
        rx_fifo: s.rx_fifo_errors,
        rx_over: s.rx_over_errors,
        rx_crc_frame_length: s.rx_crc_errors + s.rx_frame_errors + s.rx_length_errors,
        rx_dropped: s.rx_dropped,
        rx_nohandler: s.rx_nohandler,
        rx_otherhost_dropped: s.rx_otherhost_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_answers_and_a_missing_interface_is_named() {
        // `lo` exists in every namespace; its counters only grow.
        let a = link_stats("lo").expect("lo over rtnetlink");
        let b = link_stats("lo").unwrap();
        assert!(b.rx_packets >= a.rx_packets);
        assert_eq!(b.since(b), LinkStats::default());
        assert!(matches!(
            link_stats("no-such-if0"),
            Err(LinkError::NoInterface(_))
        ));
    }
}
