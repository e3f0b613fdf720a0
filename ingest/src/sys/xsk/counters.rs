//! What an AF_XDP socket counts: the receive loop's side of the rings, the kernel's own
//! counters, and what the kernel said to the busy-poll options.

/// What the receive loop counted on this socket (user-space side of the rings).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct XskCounters {
    /// Frames taken from the RX ring.
    pub frames_received: u64,
    /// Batches with at least one frame.
    pub batches: u64,
    /// Polls of the RX ring that found it empty.
    pub empty_polls: u64,
    /// Times the kernel was woken because the fill ring asked for it.
    pub fill_wakeups: u64,
    /// Times a batch could not go back to the fill ring at once and waited in the stash.
    pub fill_deferred: u64,
    /// Frames without the XDP program's arrival stamp in front (never, with this program).
    pub no_arrival_time: u64,
    /// Busy-poll kicks and fill-ring wakeups the kernel answered with an error other than a
    /// transient one (`EAGAIN`, `EBUSY`, `ENOBUFS`, `ENETDOWN`, as libxdp's xdpsock allows, and
    /// `EINTR`): the driver was not driven, and frames may wait until the next one. A poll-mode
    /// wait that times out probes the socket the same way, so a socket the kernel has unbound
    /// (its interface left the namespace) shows here in either mode.
    pub kick_errors: u64,
}

impl XskCounters {
    /// Both sets of counts together: those of a queue's earlier sockets and its current one.
    pub fn plus(self, o: Self) -> Self {
        Self {
            frames_received: self.frames_received + o.frames_received,
            batches: self.batches + o.batches,
            empty_polls: self.empty_polls + o.empty_polls,
            fill_wakeups: self.fill_wakeups + o.fill_wakeups,
            fill_deferred: self.fill_deferred + o.fill_deferred,
            no_arrival_time: self.no_arrival_time + o.no_arrival_time,
            kick_errors: self.kick_errors + o.kick_errors,
        }
    }
}

/// What the kernel said to each busy-poll option: `Ok` or the error (older kernels lack
/// SO_PREFER_BUSY_POLL and SO_BUSY_POLL_BUDGET; SO_BUSY_POLL above the sysctl limit needs
/// CAP_NET_ADMIN).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BusyPollStatus {
    /// SO_PREFER_BUSY_POLL = 1.
    #[serde(serialize_with = "crate::sys::serialize_outcome")]
    pub prefer_busy_poll: crate::sys::Outcome,
    /// SO_BUSY_POLL (microseconds).
    #[serde(serialize_with = "crate::sys::serialize_outcome")]
    pub busy_poll_usecs: crate::sys::Outcome,
    /// SO_BUSY_POLL_BUDGET (packets per poll).
    #[serde(serialize_with = "crate::sys::serialize_outcome")]
    pub busy_poll_budget: crate::sys::Outcome,
}

impl BusyPollStatus {
    /// Whether every option took.
    pub fn complete(&self) -> bool {
        self.prefer_busy_poll.is_none()
            && self.busy_poll_usecs.is_none()
            && self.busy_poll_budget.is_none()
    }
}

/// The kernel's own counters for the socket (`getsockopt(SOL_XDP, XDP_STATISTICS)`).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct KernelXskStats {
    /// Dropped for other reasons (e.g. the frame did not fit).
    pub rx_dropped: u64,
    /// Dropped because the RX ring was full: user space was too slow.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty_descs: u64,
    /// Invalid descriptors on RX.
    pub rx_invalid_descs: u64,
}

impl KernelXskStats {
    /// Both sets of counts together: those of a queue's earlier sockets and its current one.
    pub fn plus(self, o: Self) -> Self {
        Self {
            rx_dropped: self.rx_dropped + o.rx_dropped,
            rx_ring_full: self.rx_ring_full + o.rx_ring_full,
            rx_fill_ring_empty_descs: self.rx_fill_ring_empty_descs + o.rx_fill_ring_empty_descs,
            rx_invalid_descs: self.rx_invalid_descs + o.rx_invalid_descs,
        }
    }
}
